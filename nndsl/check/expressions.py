"""Expressions: the evaluation of each kind of expression node (`e_<Node>`), names, calls,
methods, attributes, labels, and the bounds on the values they make.
"""

from __future__ import annotations

import re
from typing import Any

from nndsl import ir, limits
from nndsl.catalog import api, torch_names
from nndsl.catalog.core import (
    FUNCTIONS,
    describe,
)
from nndsl.catalog.functions import CASTS
from nndsl.check import ctmath, sharing
from nndsl.check.frame import MAX_REPEAT, Frame
from nndsl.check.graph import (
    TensorV,
)
from nndsl.check.messages import clip, did_you_mean, ir_text, magnitude
from nndsl.check.resolve import BUILTIN_FUNCTIONS
from nndsl.check.values import (
    POISON,
    Abort,
    GroupV,
    LabeledV,
    LayerRef,
    Poison,
    RepeatV,
    contains_tensor,
    creates,
    has_poison,
    is_layer,
    leaves,
)
from nndsl.dims import Sym
from nndsl.errors import Note
from nndsl.lazy import lazy_module

torchfn = lazy_module("nndsl.check.torchfn")  # torch's own functions: only some specs call them


class Expressions:
    """Expressions (a part of `Evaluator`): `expr` dispatches on the node to `e_<Node>`."""

    def expr(self, e: ir.Expr, frame: Frame, *, stage: bool = False) -> Any:
        method = getattr(self, "e_" + type(e).__name__)
        return self.bounded(method(e, frame, stage), e)

    def bounded(self, value: Any, e: ir.Expr) -> Any:
        """`value`, or an error where a compile-time value passes a limit of nndsl/limits.py."""
        kind = type(value)
        if kind is int and limits.int_too_large(value):
            return self.error(
                f"`{clip(ir_text(e))}` is too large: {magnitude(value)}",
                e.span,
                hint=f"integers known at compile time must fit a signed 64-bit integer "
                f"(at most {limits.MAX_INT:,})",
            )
        if kind is list or kind is tuple:
            n, depth = self._walk_items(value, 0)
            if depth > limits.MAX_VALUE_DEPTH:
                return self.error(
                    f"`{clip(ir_text(e))}` nests lists more than {limits.MAX_VALUE_DEPTH} "
                    "levels deep",
                    e.span,
                )
            if n > limits.MAX_ITEMS:
                return self.too_many_items(n, e)
        if kind is str and len(value) > limits.MAX_STRING:
            return self.error(
                f"`{clip(ir_text(e))}` makes a string of {len(value):,} characters",
                e.span,
                hint=f"strings built at compile time hold at most {limits.MAX_STRING:,} characters",
            )
        return value

    def _walk_items(self, value: list | tuple, level: int) -> tuple[int, int]:
        """(items, nesting depth) of `value`.  Values that hold others are remembered, so one
        held twice (`[l, l]`) costs no second walk, and so are those `*` and `+` make (see
        `made_by`), so a loop that makes `[0] * 100000` at each step never walks it."""
        known = self._items.get(id(value))
        if known is not None and known[0] is value:
            return known[1], known[2]
        if level > limits.MAX_VALUE_DEPTH:
            return 0, level  # deep enough to refuse: no need to walk further
        n, depth = len(value), 1
        for item in value:
            if type(item) is list or type(item) is tuple:
                m, d = self._walk_items(item, level + 1)
                n, depth = n + m, max(depth, d + 1)
                if n > limits.MAX_ITEMS or depth > limits.MAX_VALUE_DEPTH:
                    break
        if n > len(value) and n <= limits.MAX_ITEMS and depth <= limits.MAX_VALUE_DEPTH:
            self._remember(value, n, depth, None)
        return n, depth

    def _remember(self, value: list | tuple, n: int, depth: int, tensor: bool | None) -> None:
        """Keeps `value`'s facts (and `value` itself, so its id is not reused); the memo is
        dropped when it keeps more than 10 * MAX_ITEMS items alive."""
        if self._items_kept > 10 * limits.MAX_ITEMS:
            self._items.clear()
            self._items_kept = 0
        self._items[id(value)] = (value, n, depth, tensor)
        self._items_kept += n

    def made_by(self, result: list | tuple, parts: tuple[list | tuple, ...], times: int) -> None:
        """Remembers the facts of `result`, the list or tuple that `+` (the `parts` joined) or
        `*` (one part repeated `times`) made, from those of its parts: no walk of `result`."""
        n, depth, tensor = 0, 1, False
        for part in parts:
            m, d = self._walk_items(part, 0)
            n, depth, tensor = n + m, max(depth, d), tensor or self.holds_tensor(part)
        n *= max(times, 0)
        if n <= limits.MAX_ITEMS and depth <= limits.MAX_VALUE_DEPTH:
            self._remember(result, n, depth, tensor)

    def holds_tensor(self, value: Any) -> bool:
        """`contains_tensor(value)`, answered from the memo for a list that `*` or `+` made."""
        known = self._items.get(id(value))
        if known is not None and known[0] is value and known[3] is not None:
            return known[3]
        return contains_tensor(value)

    def too_many_items(self, n: int, e: ir.Expr) -> Poison:
        return self.error(
            f"`{clip(ir_text(e))}` makes a list of {n:,} items",
            e.span,
            hint=f"lists and tuples built at compile time hold at most {limits.MAX_ITEMS:,} items",
        )

    def e_Num(self, e: ir.Num, frame: Frame, stage: bool) -> Any:
        return e.value

    def e_Str(self, e: ir.Str, frame: Frame, stage: bool) -> Any:
        return e.value

    def e_Const(self, e: ir.Const, frame: Frame, stage: bool) -> Any:
        return e.value

    def e_Ellipsis_(self, e: ir.Ellipsis_, frame: Frame, stage: bool) -> Any:
        return Ellipsis

    def e_TupleExpr(self, e: ir.TupleExpr, frame: Frame, stage: bool) -> Any:
        return tuple(self.expr(i, frame) for i in e.items)

    def e_ListExpr(self, e: ir.ListExpr, frame: Frame, stage: bool) -> Any:
        return [self.expr(i, frame) for i in e.items]

    def e_Paren(self, e: ir.Paren, frame: Frame, stage: bool) -> Any:
        inner = e.expr
        if isinstance(inner, ir.Chain):
            head = self.expr(inner.stages[0], frame, stage=stage)
            if is_layer(head):
                items = [head] + [
                    self.expr(self.mark_stage(s), frame, stage=True) for s in inner.stages[1:]
                ]
                for s, v in zip(inner.stages, items):
                    if v is POISON:
                        return POISON
                    if not is_layer(v):
                        return self.error(
                            f"a chain stage must be a layer, block or function, but this is {describe(v)}",
                            s.span,
                        )
                return GroupV(tuple(items), e, e.span)
            value = head
            for s in inner.stages[1:]:
                value = self.chain_step(value, s, frame)
            return value
        value = self.expr(inner, frame, stage=stage)
        if isinstance(value, RepeatV):
            return GroupV((value,), e, e.span)  # `(Block() * n)`: a group (nested in a group)
        return value

    def e_Chain(self, e: ir.Chain, frame: Frame, stage: bool) -> Any:
        head = self.expr(e.stages[0], frame, stage=stage)
        if head is POISON:
            return POISON
        if is_layer(head):
            items = [head] + [
                self.expr(self.mark_stage(s), frame, stage=True) for s in e.stages[1:]
            ]
            if any(v is POISON for v in items):
                return POISON
            return GroupV(tuple(items), e, e.span)
        value = head
        for s in e.stages[1:]:
            value = self.chain_step(value, s, frame)
        return value

    def e_Labeled(self, e: ir.Labeled, frame: Frame, stage: bool) -> Any:
        inner = self.expr(e.expr, frame, stage=True)
        if inner is POISON:
            return POISON
        if not is_layer(inner):
            return self.error(
                f"a label names a layer, block or group, but `{ir_text(e.expr)}` is {describe(inner)}",
                e.label_span,
                hint="labels go before layers: `conv1: Conv2d(64, 3)`",
            )
        if isinstance(e.expr, ir.Paren) and not isinstance(inner, GroupV):
            inner = GroupV((inner,), e.expr, e.expr.span)  # `label: (X)` is an nn.Sequential too
        label = self.fill_label(e, frame) if e.holes else e.label
        return LabeledV(label, inner, e, e.span)

    def fill_label(self, e: ir.Labeled, frame: Frame) -> str:
        """`denselayer{i + 1}` with its holes filled by compile-time values: `denselayer2`."""
        made = self.domain.check_label(self, e, frame)
        if made is not None:  # the code generator's: a label made in a loop over a parameter
            return made
        out = [e.pieces[0]]
        for hole, piece in zip(e.holes, e.pieces[1:]):
            v = self.expr(hole, frame)
            if v is POISON:
                raise Abort
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                self.error(
                    f"`{{{ir_text(hole)}}}` in a label must be an integer or a string known at "
                    f"compile time, but it is {describe(v)}",
                    hole.span,
                    hint="use loop variables, parameters or constants, as in `layer{i + 1}`",
                )
                raise Abort
            out.append(str(v) + piece)
        name = "".join(out)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_-]*)+", name):
            return name  # `block1-0`: only a group's child (checked where it is applied)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.error(
                f"label `{e.label}` gives `{name}`, which cannot name a submodule",
                e.label_span,
                hint="a label must be a Python identifier: letters, digits and `_`, not starting "
                "with a digit (in torch: a module attribute)",
            )
            raise Abort
        before = len(self.diags)
        self.check_identifier(name, e.label_span, f"label (made by `{e.label}`)", attribute=True)
        if len(self.diags) > before:
            raise Abort
        return name

    def made_label(self, frame: Frame, name: str, node: ir.Labeled) -> None:
        """A label made from loop values: it must name no other submodule of the body."""
        if not name.isidentifier():
            self.error(
                f"label `{node.label}` makes `{name}`, which can only name a child of a group",
                node.label_span,
                hint="`-` can stand in the names of a group's children (an nn.Sequential's "
                "entries), not in attribute names: put the label inside `name: ( ... )` or use `_`",
            )
            raise Abort
        nm = self.naming(frame.decl)
        other = frame.label_at.get(name) or nm.labels.get(name)
        if other is None and name in frame.taken:
            other = next(
                (m.span for m in frame.inst.modules if m.name == name), frame.decl.name_span
            )
        if other is None:
            other = nm.named_at.get(name)  # an unlabelled module named from its type
        if other is not None and not node.holes and other == node.label_span:
            self.error(
                f"label `{name}` inside a `for` loop would name a module at every iteration",
                node.label_span,
                hint=f"make the name differ at every iteration, as in `{name}{{i}}`, or move "
                "the label out of the loop",
            )
            raise Abort
        if other is not None:
            self.error(
                f"label `{node.label}` makes `{name}`, which already names another submodule of "
                f"`{frame.decl.name}`",
                node.label_span,
                notes=[Note("`" + name + "` also named at {at}", other)],
                hint="labels made in a loop must differ at every iteration and from the other "
                "labels, as in `layer{i + 1}`",
            )
            raise Abort
        frame.label_at[name] = node.label_span

    def e_Name(self, e: ir.Name, frame: Frame, stage: bool) -> Any:
        if e.id in frame.vars:
            frame.used.add(e.id)
            return frame.vars[e.id]
        if e.id in self.symbols.consts:
            return self.const(e.id, e.span)
        reused = sharing.label_value(self, frame, e)
        if reused is not None:
            return reused
        return self.layer_ref(e, e.id, (), (), frame)

    def layer_ref(
        self,
        node: ir.Expr,
        name: str,
        args: tuple,
        kwargs: tuple,
        frame: Frame,
        arg_spans: tuple = (),
        kwarg_spans: tuple = (),
    ) -> Any:
        span = node.span
        if name in self.symbols.blocks:
            return LayerRef("block", name, node, span, args, kwargs, arg_spans, kwarg_spans)
        if name in self.symbols.pymodules:
            return LayerRef("py", name, node, span, args, kwargs, arg_spans, kwarg_spans)
        if name[:1].isupper() and api.module_signature(name) is not None:
            if api.module_kind(name) == "loss":
                return self.error(
                    f"`{name}` is a loss; losses belong in the train section (`loss = {name}()`)",
                    span,
                )
            if api.module_kind(name) == "container" and name != "Sequential":
                return self.error(
                    f"`{name}` is a container of torch.nn, not a layer that can be applied",
                    span,
                    hint="write the layers as a chain (`A -> B`), a group (`label: (A -> B)`), "
                    "`Sequential(A, B)`, a repetition (`A * n`) or a `for` loop",
                )
            if name == "AdaptiveLogSoftmaxWithLoss":
                return self.error(
                    "`AdaptiveLogSoftmaxWithLoss` takes the targets in its forward and computes "
                    "the loss itself: it is not a layer of a model",
                    span,
                    hint="end the model with `Linear(classes)` and set "
                    "`loss = CrossEntropyLoss()` in the train section",
                )
            return LayerRef("torch", name, node, span, args, kwargs, arg_spans, kwarg_spans)
        if (
            name in FUNCTIONS
            or api.functional_signature(name) is not None
            or api.torch_function_signature(name) is not None
            or torchfn.is_known(name)
        ):
            return LayerRef("function", name, node, span, args, kwargs, arg_spans, kwarg_spans)
        if name in BUILTIN_FUNCTIONS:
            return self.error(f"`{name}` must be called", span)
        return self.error(f"undefined name `{name}`", span)

    def e_Call(self, e: ir.Call, frame: Frame, stage: bool) -> Any:
        if isinstance(e.func, ir.Attribute):
            return self.method_call(e, frame)
        if not isinstance(e.func, ir.Name):
            hint = None
            if isinstance(e.func, ir.Call):  # `ReLU(inplace=true)(y)`: torch's way of applying
                hint = "apply a layer to a value with `->`: `value -> Layer(...)`"
                if e.kwargs:  # `MultiheadAttention(...)(q, k, v, key_padding_mask=m)`
                    hint += (
                        "; a layer's forward takes no keyword arguments here: write a masked "
                        "attention with `scaled_dot_product_attention(q, k, v, attn_mask=...)`"
                    )
            return self.error(
                "only layers, blocks and functions can be called", e.func.span, hint=hint
            )
        name = e.func.id
        if name not in frame.vars and sharing.is_label(self, frame, name):
            applied = sharing.call_label(self, e, frame)  # `tower(b)`: a label applied again
            if applied is not None:
                return applied
        if name in frame.vars:
            return self.error(
                f"`{name}` is {describe(frame.vars[name])}, not a layer or function, and cannot be called",
                e.func.span,
            )
        args = tuple(self.expr(a, frame) for a in e.args)
        kwargs = tuple((k.name, self.expr(k.value, frame)) for k in e.kwargs)
        if any(has_poison(a) for a in args) or any(has_poison(v) for _, v in kwargs):
            return POISON
        arg_spans = tuple(a.span for a in e.args)
        kwarg_spans = tuple((k.name, k.span) for k in e.kwargs)
        if (
            ctmath.applies(name, args, kwargs)
            and name not in self.symbols.blocks
            and id(e) not in self._pipe_stages
        ):
            return self.math_call(name, args, kwargs, e)
        if name in BUILTIN_FUNCTIONS and name not in self.symbols.blocks:
            torch_fn = name in ("max", "min", "sum", "abs", "round") and (
                id(e) in self._pipe_stages
                or any(contains_tensor(a) for a in args)
                or any(contains_tensor(v) for _, v in kwargs)
            )
            if not torch_fn:
                return self.builtin(name, args, kwargs, e)
        if name == "Sequential" and name not in self.symbols.blocks:
            return self.sequential_call(e, args, kwargs)
        ref = self.layer_ref(e, name, args, kwargs, frame, arg_spans, kwarg_spans)
        if ref is POISON:
            return POISON
        if ref.kind == "function" and (
            any(contains_tensor(a) for a in args)
            or any(contains_tensor(v) for _, v in kwargs)
            or creates(name)
        ):
            return self.call_function(ref, None, frame, e.span)
        if ref.kind != "function":
            given = list(zip(args, arg_spans)) + [
                (v, k.value.span) for (_, v), k in zip(kwargs, e.kwargs)
            ]
            for a, s in given:
                if contains_tensor(a):
                    return self.error(
                        f"`{name}` is a layer: write `x -> {name}(...)` to apply it, not a call with a tensor",
                        s,
                        hint="layer arguments are compile-time values such as sizes and flags",
                    )
        return ref

    def sequential_call(self, e: ir.Call, args: tuple, kwargs: tuple) -> Any:
        """`Sequential(A, B)` is the group `(A -> B)`."""
        if kwargs:
            return self.error("Sequential takes layers as positional arguments", e.span)
        for a, node in zip(args, e.args):
            if not is_layer(a):
                return self.error(
                    f"Sequential takes layers, but this is {describe(a)}",
                    node.span,
                    hint="write the group as a chain: `(Conv2d(8, 3) -> relu)`",
                )
        if not args:
            return self.error("Sequential needs at least one layer", e.span)
        return GroupV(tuple(args), e, e.span)

    def method_call(self, e: ir.Call, frame: Frame) -> Any:
        attr = e.func
        assert isinstance(attr, ir.Attribute)
        target = self.expr(attr.value, frame)
        if target is POISON:
            return POISON
        if isinstance(target, TensorV) and attr.attr in ("size", "dim") and not e.kwargs:
            return self.size_query(target, attr.attr, [self.expr(a, frame) for a in e.args], e)
        if not isinstance(target, TensorV):
            return self.error(
                f"`.{attr.attr}(...)` needs a tensor, but this is {describe(target)}",
                attr.value.span,
            )
        if attr.attr == "to":
            return self.cast_to(e, target, frame)
        if attr.attr not in FUNCTIONS and not torchfn.is_method(attr.attr):
            return self.error(
                f"unknown tensor method `{attr.attr}`",
                attr.attr_span,
                hint=did_you_mean(attr.attr, [*FUNCTIONS, *torch_names.TENSOR]),
            )
        args = tuple(self.expr(a, frame) for a in e.args)
        kwargs = tuple((k.name, self.expr(k.value, frame)) for k in e.kwargs)
        if any(a is POISON for a in args) or any(v is POISON for _, v in kwargs):
            return POISON
        if attr.attr == "flatten" and not args and "start_dim" not in dict(kwargs):
            kwargs += (("start_dim", 0),)  # Tensor.flatten() flattens all, unlike `-> flatten`
        ref = LayerRef(
            "function",
            attr.attr,
            e,
            e.span,
            args,
            kwargs,
            tuple(a.span for a in e.args),
            tuple((k.name, k.span) for k in e.kwargs),
        )
        return self.call_function(ref, target, frame, e.span)

    def cast_to(self, e: ir.Call, target: TensorV, frame: Frame) -> Any:
        """`x.to(long)`: the cast method of that dtype (`x.long()`); a device is not a spec's
        business (the model's device decides)."""
        dtype = self.expr(e.args[0], frame) if len(e.args) == 1 and not e.kwargs else None
        if dtype is POISON:
            return POISON
        if not (isinstance(dtype, LayerRef) and dtype.is_function and dtype.name in CASTS):
            return self.error(
                "`.to(...)` takes one dtype here: " + ", ".join(f"`{c}`" for c in CASTS),
                e.args[0].span if e.args else e.span,
                hint="tensors follow the model's device; `.to(long)` is `.long()`",
            )
        ref = LayerRef("function", dtype.name, e, e.span)
        return self.call_function(ref, target, frame, e.span)

    def size_query(self, t: TensorV, what: str, args: list, e: ir.Call) -> Any:
        """`x.size()`, `x.size(1)`, `x.dim()`: compile-time sizes, like `x.shape`."""
        shape = tuple(t.type.shape)
        if what == "dim":
            return len(shape) if not args else self.error("`dim()` takes no arguments", e.span)
        if not args:
            return shape
        i = args[0]
        if len(args) > 1 or isinstance(i, bool) or not isinstance(i, int):
            return self.error("`size` takes one integer dimension", e.span)
        if not -len(shape) <= i < len(shape):
            return self.error(f"dimension {i} is out of range for {t.type}", e.args[0].span)
        return shape[i]

    def math_call(self, name: str, args: tuple, kwargs: tuple, e: ir.Call) -> Any:
        """`log(100.0)`: a compile-time number (see `ctmath`)."""
        value = self.domain.builtin(self, name, args, kwargs, e)
        if value is not NotImplemented:
            return value
        if isinstance(args[0], Sym):
            return self.error(
                f"`{name}` of the size `{args[0]}` cannot be computed at compile time",
                e.span,
                hint="sizes known only when the model runs cannot make a constant",
            )
        try:
            return ctmath.compute(name, args[0])
        except ValueError as exc:
            return self.error(str(exc), e.span)

    def builtin(self, name: str, args: tuple, kwargs: tuple, e: ir.Call) -> Any:
        value = self.domain.builtin(self, name, args, kwargs, e)
        if value is not NotImplemented:
            return value
        if kwargs:
            return self.error(f"`{name}` takes no keyword arguments", e.span)
        odd = next((v for v in leaves(args) if not isinstance(v, (int, float, str, Sym))), None)
        if odd is not None:  # a layer, a tensor: said in the spec's words, not Python's
            return self.error(
                f"`{name}` takes compile-time values (numbers, sizes), not {describe(odd)}",
                e.span,
            )
        try:
            for a in args:
                if isinstance(a, Sym) and name not in ("min", "max", "abs"):
                    raise TypeError(
                        f"`{name}` of a symbolic dimension cannot be computed at compile time"
                    )
            if name == "range":
                if not 1 <= len(args) <= 3 or not all(
                    isinstance(a, int) and not isinstance(a, bool) for a in args
                ):
                    raise TypeError("`range` takes 1 to 3 integers")
                r = range(*args)
                if len(r) > MAX_REPEAT:
                    raise TypeError(f"range of {len(r)} items is too long")
                return tuple(r)
            if name == "zip":  # `for w, d in zip(WIDTHS, DEPTHS)`
                if not args or not all(isinstance(a, (tuple, list)) for a in args):
                    raise TypeError("`zip` takes lists or tuples")
                return tuple(zip(*args))
            if name == "enumerate":  # `for i, w in enumerate(WIDTHS)`, `enumerate(WIDTHS, 1)`
                if not 1 <= len(args) <= 2 or not isinstance(args[0], (tuple, list)):
                    raise TypeError("`enumerate` takes a list or tuple, and an integer start")
                return tuple(enumerate(*args))
            if name == "len":
                if len(args) != 1 or not isinstance(args[0], (tuple, list, str)):
                    raise TypeError("`len` takes one tuple, list or string")
                return len(args[0])
            if name in ("min", "max"):
                items = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
                if not items:
                    raise TypeError(f"`{name}` of nothing")
                if any(isinstance(i, Sym) for i in items):
                    raise TypeError(
                        f"`{name}` of symbolic dimensions cannot be computed at compile time"
                    )
                return (min if name == "min" else max)(items)
            if name == "abs":
                return abs(args[0])
            if name == "int":
                return int(args[0])
            if name == "float":
                return float(args[0])
            if name == "round":
                return round(*args)
            if name == "sum":
                return sum(args[0])
        except (TypeError, ValueError, IndexError, OverflowError) as exc:
            return self.error(
                str(exc) if str(exc).startswith("`") or "range" in str(exc) else f"`{name}`: {exc}",
                e.span,
            )
        return POISON

    def e_Attribute(self, e: ir.Attribute, frame: Frame, stage: bool) -> Any:
        if isinstance(e.value, (ir.Name, ir.Attribute)):
            parameter = sharing.parameter_value(self, frame, e)  # `qkv.weight`
            if parameter is not None:
                return parameter
        value = self.expr(e.value, frame)
        if value is POISON:
            return POISON
        if isinstance(value, TensorV):
            if e.attr == "shape":
                return tuple(value.type.shape)
            if e.attr == "ndim":
                return value.type.rank
            if e.attr in FUNCTIONS:
                ref = LayerRef("function", e.attr, e, e.span)
                return self.call_function(ref, value, frame, e.span)
            return self.error(
                f"unknown tensor attribute `{e.attr}`",
                e.attr_span,
                hint="tensors have `.shape` and `.ndim`",
            )
        return self.error(f"{describe(value)} has no attribute `{e.attr}`", e.attr_span)
