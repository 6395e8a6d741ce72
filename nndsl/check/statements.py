"""Statements and block instances: a block's body run statement by statement (inputs,
assignments, `param`, `for`, `return`), the chain of the current value.
"""

from __future__ import annotations

from typing import Any

from nndsl import dims, ir, limits
from nndsl.catalog import api
from nndsl.catalog.core import (
    DTYPE_ALIASES,
    TensorT,
    bind,
    describe,
)
from nndsl.check import buffers, sharing
from nndsl.check.frame import MAX_INSTANCES, MAX_REPEAT, Frame
from nndsl.check.graph import (
    BlockInstance,
    Op,
    OpKind,
    Origin,
    ParamSlot,
    TensorV,
)
from nndsl.check.messages import fmt_tensor_type, ir_text, origin_note, target_hint
from nndsl.check.values import (
    POISON,
    Abort,
    Poison,
    contains_tensor,
    fmt_value,
    freeze,
    has_poison,
    is_layer,
)
from nndsl.dims import Dim, Sym
from nndsl.errors import Span


class Statements:
    """Statements and block instances (a part of `Evaluator`)."""

    def instance(
        self,
        decl: ir.BlockDecl,
        params: dict[str, Any],
        inputs: list[TensorV],
        call_span: Span,
        *,
        model: bool = False,
    ) -> BlockInstance | None:
        nested = self.domain.instance(self, decl, params, inputs, call_span)
        if nested is not NotImplemented:
            return nested
        key = (id(decl), freeze(params), tuple(freeze(t.type) for t in inputs))
        if key in self._cache:
            return self._cache[key]
        if decl.name in self._stack:
            chain = " → ".join(self._stack[self._stack.index(decl.name) :] + [decl.name])
            self.error(
                f"`{decl.name}` contains itself: {chain}",
                call_span,
                hint="a block cannot use itself, directly or through others",
            )
            raise Abort
        self.instances += 1
        if self.instances > MAX_INSTANCES:
            self.error("the spec instantiates too many blocks (more than 20,000)", call_span)
            raise Abort
        inst = BlockInstance(decl=decl, params=dict(params))
        frame = Frame(decl=decl, inst=inst)
        for name, value in params.items():
            frame.vars[name] = value
            frame.kinds[name] = "param"
        self._stack.append(decl.name)
        self._calls.append(call_span)
        try:
            ok = self.body(decl, frame, inputs, call_span, model=model)
        finally:
            self._stack.pop()
            self._calls.pop()
        result = inst if ok else None
        self._cache[key] = result
        return result

    def body(
        self,
        decl: ir.BlockDecl,
        frame: Frame,
        inputs: list[TensorV],
        call_span: Span,
        *,
        model: bool,
    ) -> bool:
        declared = [item for s in decl.body if isinstance(s, ir.InputDecl) for item in s.items]
        inst = frame.inst
        if not model:
            if declared and len(declared) != len(inputs):
                self.error(
                    f"block `{decl.name}` takes {len(declared)} input{'s' if len(declared) != 1 else ''} "
                    f"({', '.join(i.name for i in declared)}), but gets {len(inputs)}",
                    call_span,
                    hint="feed several values as a tuple: `(a, b) -> Block(...)`",
                )
                raise Abort
            if not declared and len(inputs) != 1:
                self.error(
                    f"block `{decl.name}` has no `input` line, so it takes one input, but gets {len(inputs)}",
                    call_span,
                    hint=f"declare them: `input {', '.join(f'x{i + 1}' for i in range(len(inputs)))}`",
                )
                raise Abort
            if not declared:
                # a block without `input` is sequential on its one input, called `x` in its class
                value = TensorV(inputs[0].type, -1, inputs[0].origin, input_index=0)
                inst.inputs.append(("x", value))
                frame.cur, frame.cur_set = value, True
        bad = False
        input_index = 0
        for stmt in decl.body:
            try:
                if isinstance(stmt, ir.InputDecl):
                    for item in stmt.items:
                        self.check_identifier(item.name, item.span, "input name")
                        if model:
                            t = self.tensor_type(item.type, frame, bind_new=True)
                            if t is POISON or self.too_many_elements(
                                t, item.span, f"input `{item.name}` is"
                            ):
                                bad = True
                                continue
                            value = TensorV(
                                t,
                                -1,
                                Origin(f"input `{item.name}`", item.span),
                                input_index=input_index,
                            )
                        else:
                            value = inputs[input_index]
                            if item.type is not None:
                                try:
                                    self.match_input(item, value, frame)
                                except Abort:  # reported; its uses are not errors again
                                    frame.vars[item.name], frame.kinds[item.name] = POISON, "poison"
                                    input_index += 1
                                    bad = True
                                    continue
                            value = TensorV(value.type, -1, value.origin, input_index=input_index)
                        inst.inputs.append((item.name, value))
                        input_index += 1
                        self.bind(frame, item.name, value, item.span, "input")
                        frame.cur, frame.cur_set = value, True
                elif isinstance(stmt, ir.ParamDecl):
                    self.param_decl(stmt, frame)
                elif isinstance(stmt, ir.BufferDecl):
                    buffers.buffer_decl(self, stmt, frame)
                elif isinstance(stmt, (ir.Tie, ir.InitStmt)):
                    pass  # checked when every module is made (sharing.finish)
                elif isinstance(stmt, ir.Assign):
                    try:
                        value = self.statement_value(
                            stmt.value, frame, name_hint=target_hint(stmt.target)
                        )
                    except Abort:
                        self.poison_target(stmt.target, frame)
                        frame.cur, frame.cur_set = POISON, True
                        raise
                    try:
                        self.assign(stmt.target, value, frame, stmt.span)
                    except Abort:
                        self.poison_target(stmt.target, frame)  # no "undefined" errors later
                        frame.cur, frame.cur_set = POISON, True
                        raise
                    # a compile-time value (`b, t, c = x.shape`) keeps the current value
                    if self.holds_tensor(value) or not frame.cur_set:
                        frame.cur, frame.cur_set = value, True
                elif isinstance(stmt, ir.ExprStmt):
                    try:
                        value = self.statement_value(stmt.value, frame)
                    except Abort:
                        frame.cur, frame.cur_set = POISON, True
                        raise
                    frame.cur, frame.cur_set = value, True
                elif isinstance(stmt, ir.For):
                    self.for_stmt(stmt, frame)
                elif isinstance(stmt, ir.Return):
                    values = [self.expr(v, frame) for v in stmt.values]
                    frame.cur = values[0] if len(values) == 1 else tuple(values)
                    frame.cur_set = True
                    break
                elif isinstance(stmt, ir.Log):
                    self.log_stmt(stmt, frame)
            except Abort:
                bad = True
        if not bad and not sharing.finish(self, frame, model):
            bad = True
        if bad:
            return False
        if not frame.cur_set:
            self.error(
                f"`{decl.name}` computes nothing: its body has no statements", decl.name_span
            )
            return False
        if frame.cur is POISON or has_poison(frame.cur):
            return False
        if not contains_tensor(frame.cur) or is_layer(frame.cur):
            self.error(
                f"the result of `{decl.name}` is {describe(frame.cur)}, not a tensor",
                decl.name_span,
                hint="the last statement (or `return`) gives the output",
            )
            return False
        outs = (
            frame.cur
            if isinstance(frame.cur, tuple)
            and all(isinstance(v, (TensorV, tuple)) for v in frame.cur)
            else (frame.cur,)
        )
        inst.outputs[:] = outs
        self.unused(frame)
        return True

    def log_stmt(self, stmt: ir.Log, frame: Frame) -> None:
        """`log rec, kl` in a loss block: each a scalar value, logged as a metric."""
        if frame.decl.kind != "loss":
            self.error(
                "`log` names values of a loss block to log as metrics",
                stmt.span,
                hint=f"`{frame.decl.name}` is a {frame.decl.kind}; declare a `loss` block for the "
                "training loss and log its parts there",
            )
            raise Abort
        for name, span in zip(stmt.names, stmt.name_spans or (stmt.span,) * len(stmt.names)):
            v = frame.vars.get(name)
            frame.used.add(name)
            if v is None or v is POISON:
                if v is None:
                    self.error(f"undefined name `{name}`", span)
                continue
            if any(n == name for n, _ in frame.inst.logged):
                self.error(f"`{name}` is logged twice", span)
                continue
            if not isinstance(v, TensorV) or v.type.rank != 0:
                self.error(
                    f"`log` takes scalars (one number per batch), but `{name}` is {describe(v)}",
                    span,
                    hint="log a reduced value, e.g. its mean: `m = mean(...)`",
                )
                continue
            frame.inst.logged.append((name, v))

    def match_input(self, item: ir.InputItem, value: TensorV, frame: Frame) -> None:
        t = item.type
        assert t is not None
        actual = value.type
        if len(t.dims) != actual.rank:
            self.error(
                f"input `{item.name}` of `{frame.decl.name}` expects rank {len(t.dims)} ({fmt_tensor_type(t)}), "
                f"but gets {actual}",
                item.span,
            )
            raise Abort
        for d, a in zip(t.dims, actual.shape):
            if (
                isinstance(d, ir.Name)
                and d.id not in frame.vars
                and d.id not in self.symbols.consts
            ):
                self.bind(frame, d.id, a, d.span, "dim")
                frame.used.add(d.id)
                continue
            want = self.expr(d, frame)
            if want is POISON:
                continue
            if dims.equal(want, a) is False:
                self.error(
                    f"input `{item.name}` of `{frame.decl.name}` expects {fmt_tensor_type(t)}, but gets {actual}",
                    d.span,
                    hint=f"dimension `{ir_text(d)}` is {fmt_value(want)} here but the input has {dims.format_dim(a)}",
                )
                raise Abort

    def tensor_type(
        self, t: ir.TensorType | None, frame: Frame, *, bind_new: bool
    ) -> TensorT | Poison:
        if t is None:
            return POISON
        shape: list[Dim] = []
        for d in t.dims:
            if (
                isinstance(d, ir.Name)
                and d.id not in frame.vars
                and d.id not in self.symbols.consts
                and bind_new
            ):
                value: Any = dims.sym(d.id)
                self.input_syms.add(d.id)
                self.bind(frame, d.id, value, d.span, "dim")
                frame.used.add(d.id)
            else:
                value = self.expr(d, frame)
            if value is POISON:
                return POISON
            if isinstance(value, bool) or not isinstance(value, (int, Sym)):
                return self.error(f"a dimension must be an integer, not {describe(value)}", d.span)
            if isinstance(value, int) and value < 0:
                return self.error(f"a dimension cannot be negative ({value})", d.span)
            shape.append(value)
        dtype = "float32"
        if t.dtype is not None:
            if t.dtype not in DTYPE_ALIASES:
                return self.error(f"unknown dtype `{t.dtype}`", t.dtype_span or t.span)
            dtype = DTYPE_ALIASES[t.dtype]
        return TensorT(tuple(shape), dtype)

    def param_decl(self, stmt: ir.ParamDecl, frame: Frame) -> None:
        t = self.tensor_type(stmt.type, frame, bind_new=False)
        if t is POISON:
            raise Abort
        assert stmt.type is not None
        for d, node in zip(t.shape, stmt.type.dims):
            uses = sorted(dims.free_symbols(d) & self.input_syms) if isinstance(d, Sym) else []
            if uses:
                written = ir_text(node)
                value = dims.format_dim(d)
                frame.vars[stmt.name] = POISON  # reported here, not again at each use
                frame.kinds[stmt.name] = "poison"
                self.error(
                    f"parameter `{stmt.name}` cannot have a size that depends on the input: "
                    + (f"`{written}` is {value} here, and " if written != value else "")
                    + f"`{uses[0]}` is only known when the model runs",
                    node.span,
                    hint="a parameter is created with the model, before any input: give it a "
                    "fixed size (a number, a constant or a block parameter), and let a size 1 "
                    "broadcast over the batch",
                )
                raise Abort
        if not t.is_float:
            self.error(
                f"parameter `{stmt.name}` is {t}, but a parameter is learnt by gradients, "
                "which only floating-point tensors have",
                stmt.type.span,
                hint="declare it `float` (the default) or `double`; for a fixed integer "
                "tensor, use `buffer`",
            )
        try:
            init, init_args, init_kwargs = self.param_initialiser(stmt, t, frame)
        except Abort:  # (reported; the parameter is still defined, so its uses are checked)
            init, init_args, init_kwargs = None, (), ()
        slot = ParamSlot(stmt.name, t, init, init_args, init_kwargs, stmt.span)
        frame.inst.param_tensors.append(slot)
        frame.taken.add(stmt.name)
        op = self.emit(frame, Op(OpKind.PARAM, slot, (), (), t, stmt.span, name_hint=stmt.name))
        value = TensorV(t, op, Origin(f"parameter `{stmt.name}`", stmt.span))
        self.bind(frame, stmt.name, value, stmt.span, "param_tensor")

    def param_initialiser(self, stmt: ir.ParamDecl, t: TensorT, frame: Frame) -> tuple:
        """(torch.nn.init function, arguments, keyword arguments) of a `param`'s initialiser,
        its arguments checked."""
        init, init_args, init_kwargs = None, (), ()
        if isinstance(stmt.init, ir.Call) and isinstance(stmt.init.func, ir.Name):
            init = api.init_function(stmt.init.func.id)
            init_args = tuple(self.expr(a, frame) for a in stmt.init.args)
            init_kwargs = tuple((k.name, self.expr(k.value, frame)) for k in stmt.init.kwargs)
            if any(a is POISON for a in init_args) or any(v is POISON for _, v in init_kwargs):
                raise Abort
            sig = api.init_signature(stmt.init.func.id)
            if sig is not None:
                bound, problems = bind(
                    sig,
                    (),
                    init_args,
                    dict(init_kwargs),
                    what=f"`{stmt.init.func.id}`",
                    skip=("tensor", "generator"),
                )
                for p in problems:
                    self.error(p.message, stmt.init.span, hint=p.hint)
                if not problems:
                    self.param_init(stmt, t, bound)
        elif isinstance(stmt.init, ir.Name):
            init = api.init_function(stmt.init.id)
            sig = api.init_signature(stmt.init.id)
            if init is not None and sig is not None:
                bound, problems = bind(
                    sig, (), (), {}, what=f"`{stmt.init.id}`", skip=("tensor", "generator")
                )
                for p in problems:
                    self.error(
                        p.message,
                        stmt.init.span,
                        hint=p.hint or f"write it as a call: `{stmt.init.id}(...)`",
                    )
                if not problems:
                    self.param_init(stmt, t, bound)
        return init, init_args, init_kwargs

    def param_init(self, stmt: ir.ParamDecl, t: TensorT, bound: dict) -> None:
        """The initialiser of `param` against what torch.nn.init accepts (its arguments are
        bound: `bound`); an error at the argument, or at the initialiser for the tensor."""
        from nndsl.check.initcheck import argument_problems, rank_problem

        call = stmt.init
        func = call.func if isinstance(call, ir.Call) else call
        assert isinstance(func, ir.Name)
        torch_name = api.init_function(func.id) or ""
        spans: dict[str, Span] = {}
        if isinstance(call, ir.Call):
            sig = api.init_signature(func.id) or ()
            positional = [n for n, _, _ in sig if n not in ("tensor", "generator")]
            spans = {k.name: k.value.span for k in call.kwargs}
            spans.update({n: a.span for n, a in zip(positional, call.args)})
        found = argument_problems(func.id, torch_name, bound, set(spans))
        for message, key, hint in found:
            self.error(message, spans.get(key, stmt.init.span), hint=hint)
        problem = None if found else rank_problem(func.id, torch_name, t, f"`{stmt.name}`", bound)
        if problem is not None:  # (the parameter is still defined: its uses are checked)
            self.error(problem[0], stmt.init.span, hint=problem[1] or None)

    def for_stmt(self, stmt: ir.For, frame: Frame) -> None:
        seq = self.expr(stmt.iter, frame)
        if self.domain.undecided(seq):
            if self.domain.conditional_loop(self, stmt, stmt.iter, frame) is not NotImplemented:
                return
            self.domain.refuse(
                "it has a `for` loop over a list that is only known when the class is built"
            )
        self.for_over(stmt, seq, frame)

    def for_over(self, stmt: ir.For, seq: Any, frame: Frame) -> None:
        """Unroll `stmt` over `seq`, its evaluated iterable (subclasses evaluate it once)."""
        if seq is POISON:
            raise Abort
        if isinstance(seq, range):
            seq = tuple(seq)
        if not isinstance(seq, (tuple, list)):
            self.error(
                f"`for` needs a list, tuple or range known at compile time, not {describe(seq)}",
                stmt.iter.span,
            )
            raise Abort
        if len(seq) > MAX_REPEAT:
            self.error(f"`for` over {len(seq)} items is too long to unroll", stmt.iter.span)
            raise Abort
        frame.in_loop += 1
        try:
            for item in seq:
                self.steps += 1 + len(stmt.body)
                if self.steps > limits.MAX_STEPS:
                    self.error(
                        f"the loops of this spec run more than {limits.MAX_STEPS:,} statements",
                        stmt.iter.span,
                        hint="loops are unrolled at compile time: make them shorter",
                    )
                    raise Abort
                self.assign(stmt.target, item, frame, stmt.span, kind="loop")
                for s in stmt.body:
                    if isinstance(s, ir.Assign):
                        value = self.statement_value(
                            s.value, frame, name_hint=target_hint(s.target)
                        )
                        self.assign(s.target, value, frame, s.span)
                        if self.holds_tensor(value) or not frame.cur_set:
                            frame.cur, frame.cur_set = value, True
                    elif isinstance(s, ir.ExprStmt):
                        frame.cur, frame.cur_set = self.statement_value(s.value, frame), True
                    elif isinstance(s, ir.For):
                        self.for_stmt(s, frame)
                    elif isinstance(s, ir.ParamDecl):
                        self.error("`param` cannot be declared inside a `for` loop", s.span)
                        raise Abort
                    elif isinstance(s, (ir.BufferDecl, ir.Tie, ir.InitStmt)):
                        word = {ir.BufferDecl: "buffer", ir.Tie: "tie", ir.InitStmt: "init"}
                        self.error(f"`{word[type(s)]}` cannot be inside a `for` loop", s.span)
                        raise Abort
                    elif isinstance(s, ir.InputDecl):
                        self.error("`input` cannot be declared inside a `for` loop", s.span)
                        raise Abort
                    elif isinstance(s, ir.Return):
                        self.error("`return` cannot appear inside a `for` loop", s.span)
                        raise Abort
                    elif isinstance(s, ir.Log):
                        self.error("`log` cannot appear inside a `for` loop", s.span)
                        raise Abort
        finally:
            frame.in_loop -= 1

    def poison_target(self, target: ir.Target, frame: Frame) -> None:
        if isinstance(target, ir.NameTarget):
            frame.vars[target.id] = POISON
            frame.kinds[target.id] = "poison"
        else:
            for t in target.items:
                self.poison_target(t, frame)

    def bind(self, frame: Frame, name: str, value: Any, span: Span, kind: str) -> None:
        value = self.domain.bound(self, frame, name, value, kind)
        self.check_identifier(name, span, "name")
        if isinstance(value, TensorV) and value.op >= 0:
            frame.inst.names.setdefault((value.op, value.path), name)
        frame.vars[name] = value
        frame.kinds[name] = kind
        frame.bound_at[name] = span

    def assign(
        self, target: ir.Target, value: Any, frame: Frame, span: Span, kind: str = "value"
    ) -> None:
        if isinstance(target, ir.NameTarget):
            self.bind(frame, target.id, value, target.span, kind)
            return
        items = target.items
        if value is POISON:
            for t in items:
                self.assign(t, POISON, frame, span, kind)
            return
        if not isinstance(value, (tuple, list)):
            note = origin_note(value, None)
            self.error(
                f"cannot unpack {fmt_value(value)} into {len(items)} names",
                target.span,
                notes=[note] if note else [],
                hint="only tuples (such as an LSTM's `out, (h, c)`) can be destructured; "
                "a single tensor is assigned to one name",
            )
            raise Abort
        if len(value) != len(items):
            self.error(
                f"cannot unpack {len(value)} values into {len(items)} names",
                target.span,
                hint=f"the value is {fmt_value(value)}",
            )
            raise Abort
        for t, v in zip(items, value):
            self.assign(t, v, frame, span, "destructured" if kind == "value" else kind)

    def statement_value(self, e: ir.Expr, frame: Frame, name_hint: str | None = None) -> Any:
        """A statement's value: an expression that starts with a layer continues from the current
        value; one that starts with a value is complete."""
        frame.hint = name_hint
        try:
            return self._statement_value(e, frame, name_hint)
        finally:
            frame.hint = None

    def _statement_value(self, e: ir.Expr, frame: Frame, name_hint: str | None) -> Any:
        if isinstance(e, ir.Chain):
            head = self.expr(e.stages[0], frame, stage=True)
            if head is POISON:
                raise Abort
            if is_layer(head):
                value = self.apply(
                    head, self.current(frame, e.stages[0].span), frame, e.stages[0].span
                )
            else:
                value = head
            for stage in e.stages[1:]:
                value = self.chain_step(value, stage, frame)
            return self.named(value, name_hint)
        value = self.expr(e, frame, stage=True)
        if value is POISON:
            raise Abort
        if is_layer(value):
            value = self.apply(value, self.current(frame, e.span), frame, e.span)
        return self.named(value, name_hint)

    def named(self, value: Any, hint: str | None) -> Any:
        if hint and isinstance(value, TensorV) and value.op >= 0 and not value.path:
            return value  # the op keeps its own hint; codegen names variables
        return value

    def current(self, frame: Frame, span: Span) -> Any:
        if not frame.cur_set:
            self.error(
                f"this layer has no input: `{frame.decl.name}` declares no `input` before it",
                span,
                hint="declare the model's input first: `input x: [B, ...]`",
            )
            raise Abort
        if frame.cur is POISON:
            raise Abort
        for name, v in frame.vars.items():
            if v is frame.cur:
                frame.used.add(name)
        return frame.cur

    def mark_stage(self, stage: ir.Expr) -> ir.Expr:
        node = stage
        while isinstance(node, (ir.Labeled, ir.Paren)):
            node = node.expr
            if isinstance(node, ir.Chain):  # a group's first stage receives the value too
                node = node.stages[0]
        self._pipe_stages.add(id(node))
        return stage

    def chain_step(self, value: Any, stage: ir.Expr, frame: Frame) -> Any:
        layer_v = self.expr(self.mark_stage(stage), frame, stage=True)
        if layer_v is POISON or value is POISON:
            raise Abort
        if not is_layer(layer_v):
            self.error(
                f"a chain stage must be a layer, block or function, but this is {describe(layer_v)}",
                stage.span,
                hint="to combine values write an expression such as `relu(a + b)` or `cat([a, b], dim=1)`",
            )
            raise Abort
        return self.apply(layer_v, value, frame, stage.span)
