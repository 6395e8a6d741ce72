"""Generic evaluation: a block declaration evaluated once with symbolic parameters and inputs.

The checker evaluates every call site with concrete values.  To generate ONE class per block,
the code generator evaluates each declaration again with its parameters as symbols (`out`,
`stride`) and its inputs' sizes as symbols (`in_channels`, `H`, `W`): constructor arguments come
out as expressions over them (`nn.Conv2d(in_channels, out, 3, stride=stride)`), a condition that
depends on them becomes an `if` in `__init__` and `forward`, and a repetition by a symbolic
count becomes a comprehension.  What cannot be expressed generically (a loop over a list
parameter, branches giving different shapes) raises `Unsupported`, and that block is emitted as
one class per distinct instance instead.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from nndsl import dims, ir
from nndsl.catalog.core import TensorT
from nndsl.check.graph import BlockInstance, ModuleSlot, Op, OpKind, Origin, TensorV, renew_slots
from nndsl.check.infer import (
    POISON,
    Evaluator,
    Frame,
    GroupV,
    LabeledV,
    LayerRef,
    RepeatV,
    _Abort,
    is_layer,
)
from nndsl.check.resolve import Symbols
from nndsl.dims import Sym
from nndsl.syntax.loader import Program


class Unsupported(Exception):
    """This block cannot become one generic class (the reason says why)."""


@dataclass(frozen=True, slots=True)
class Opaque:
    """A compile-time value only known when the class is instantiated: its Python source in
    `__init__` (parameters by name) and in `forward` (parameters as `self.<name>`)."""

    init: str
    fwd: str
    kind: str = "any"  # "bool" | "any"
    params: frozenset[str] = frozenset()
    kind_prec: str = "atom"  # how loosely the text binds: or, and, not, cmp, arith, atom

    is_opaque = True  # lets the catalog's type checks accept it without importing this module


@dataclass(frozen=True, eq=False)
class CondLayerV:
    """`(ReLU if use_relu else GELU)` with an undecided condition: both become modules, each
    used under its side of an `if`."""

    cond: Opaque
    then: Any
    orelse: Any
    span: Any

    is_layer_value = True


@dataclass(frozen=True, slots=True)
class Cond:
    """The condition of a generic `if`, with its polarity at the use."""

    value: Opaque


def _paren(text: str) -> str:
    simple = text.replace("_", "").replace(".", "").isalnum()
    return text if simple else f"({text})"


_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "arith": 5, "atom": 6}


def _wrap(v: Opaque, min_prec: int, fwd: bool) -> str:
    text = v.fwd if fwd else v.init
    return f"({text})" if _PREC[v.kind_prec] < min_prec else text


class GenericEvaluator(Evaluator):
    """Evaluates one declaration with symbolic parameters; see the module docstring."""

    checks_runtime_sizes = False  # its symbols are parameters; the checker has judged the uses
    opaque_quotients = True  # a stride that is a parameter: only the channel sizes matter

    def __init__(self, program: Program, symbols: Symbols, fwd_names: dict[str, str]):
        super().__init__(program, symbols)
        self.fwd_names = fwd_names  # symbol → its text in forward (`self.out`)
        self.stored: set[str] = set()  # symbols forward reads as attributes
        self.when: tuple[tuple[Opaque, bool], ...] = ()
        self.top: ir.BlockDecl | None = None
        # compile-time values computed from parameters (`width = int(out * (base_width / 64))`):
        # symbol → its Python text; they become locals of __init__
        self.computed: dict[str, Opaque] = {}
        self.computed_names: dict[str, str] = {}
        # a size bound to a name in the spec (`bn, n, c = x.shape`): symbol → that name, which
        # forward gives the local it reads the size into
        self.dim_names: dict[str, str] = {}

    def computed_sym(self, value: Opaque) -> Sym:
        for name, known in self.computed.items():
            if known.init == value.init:
                return dims.sym(name)
        name = f"c__{len(self.computed) + 1}"
        self.computed[name] = value
        return dims.sym(name)

    def bind(self, frame: Frame, name: str, value: Any, span, kind: str) -> None:
        if (
            isinstance(value, Sym)
            and str(value) not in self.computed
            and any(n.startswith("c__") for n in dims.free_symbols(value))
        ):
            value = self.computed_sym(
                self.render(value)
            )  # `width = ...` becomes a local of __init__
        if (
            isinstance(value, Sym)
            and str(value) in self.computed
            and str(value) not in self.computed_names
        ):
            if name not in self.computed_names.values() and name not in frame.vars:
                self.computed_names[str(value)] = name
        if isinstance(value, Sym) and kind != "dim":
            names = dims.free_symbols(value)
            if len(names) == 1 and dims.sym(next(iter(names))) == value:
                self.dim_names.setdefault(next(iter(names)), name)
        super().bind(frame, name, value, span, kind)

    # ---- rendering ----------------------------------------------------------------------------

    def render(self, v: Any) -> Opaque:
        if isinstance(v, Opaque):
            self.stored |= v.params
            return v
        if isinstance(v, Sym):
            names = dims.free_symbols(v)
            self.stored |= set(names)
            init = dims.to_python(v)
            return Opaque(
                init,
                dims.to_python(v, {n: self.fwd_names.get(n, f"self.{n}") for n in names}),
                params=frozenset(names),
                kind_prec="atom" if init.isidentifier() else "arith",
            )
        text = (
            repr(v)
            if not isinstance(v, str)
            else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        )
        return Opaque(text, text)

    # ---- decisions ----------------------------------------------------------------------------

    def truth(self, v: Any, node: ir.Expr) -> Any:
        if isinstance(v, (Opaque, Sym)):
            return v  # undecided: callers handle it
        return super().truth(v, node)

    def e_Compare(self, e: ir.Compare, frame: Frame, stage: bool) -> Any:
        left, right = self.expr(e.left, frame), self.expr(e.right, frame)
        if left is POISON or right is POISON:
            return POISON
        if isinstance(left, TensorV) or isinstance(right, TensorV):  # a bool tensor
            return self.compare_values(e, left, right, frame)
        if (
            isinstance(left, Opaque)
            or isinstance(right, Opaque)
            or isinstance(left, Sym)
            or isinstance(right, Sym)
        ):
            if not (isinstance(left, Opaque) or isinstance(right, Opaque)) and e.op in ("==", "!="):
                eq = dims.equal(left, right)
                if eq is not None:
                    return eq if e.op == "==" else not eq
            a, b = self.render(left), self.render(right)
            return Opaque(
                f"{_wrap(a, 5, False)} {e.op} {_wrap(b, 5, False)}",
                f"{_wrap(a, 5, True)} {e.op} {_wrap(b, 5, True)}",
                "bool",
                a.params | b.params,
                "cmp",
            )
        return self.compare_values(e, left, right, frame)

    def e_BoolOp(self, e: ir.BoolOp, frame: Frame, stage: bool) -> Any:
        left = self.truth(self.expr(e.left, frame), e.left)
        if left is POISON:
            return POISON
        if not isinstance(left, (Opaque, Sym)):
            if e.op == "and" and not left:
                return False
            if e.op == "or" and left:
                return True
            return self.truth(self.expr(e.right, frame), e.right)
        right = self.truth(self.expr(e.right, frame), e.right)
        if right is POISON:
            return POISON
        a = self.render(left)
        if not isinstance(right, (Opaque, Sym)):
            if (e.op == "and" and right) or (e.op == "or" and not right):
                return a
            return bool(right)
        b = self.render(right)
        p = _PREC[e.op]
        return Opaque(
            f"{_wrap(a, p, False)} {e.op} {_wrap(b, p + 1, False)}",
            f"{_wrap(a, p, True)} {e.op} {_wrap(b, p + 1, True)}",
            "bool",
            a.params | b.params,
            e.op,
        )

    def e_UnaryOp(self, e: ir.UnaryOp, frame: Frame, stage: bool) -> Any:
        if e.op == "not":
            v = self.truth(self.expr(e.operand, frame), e.operand)
            if isinstance(v, (Opaque, Sym)):
                a = self.render(v)
                return Opaque(
                    f"not {_wrap(a, 3, False)}", f"not {_wrap(a, 3, True)}", "bool", a.params, "not"
                )
            return POISON if v is POISON else (not v)
        v = self.expr(e.operand, frame)
        if isinstance(v, Opaque):
            return Opaque(f"{e.op}{_paren(v.init)}", f"{e.op}{_paren(v.fwd)}", "any", v.params)
        return self.unary_value(e, v, frame)

    def scalar_binop(self, e: ir.BinOp, left: Any, right: Any) -> Any:
        if isinstance(left, Opaque) or isinstance(right, Opaque):
            a, b = self.render(left), self.render(right)
            return Opaque(
                f"{_wrap(a, 6, False)} {e.op} {_wrap(b, 6, False)}",
                f"{_wrap(a, 6, True)} {e.op} {_wrap(b, 6, True)}",
                "any",
                a.params | b.params,
                "arith",
            )
        floats = any(isinstance(v, float) for v in (left, right))
        if (floats or e.op in ("//", "%", "/", "**")) and (
            isinstance(right, Sym) or isinstance(left, Sym)
        ):
            try:
                result = super().scalar_binop(e, left, right)
            except (TypeError, dims.DimError):
                result = POISON
            if result is POISON or e.op == "/" or floats or _opaque_in(result):
                a, b = self.render(left), self.render(right)
                return self.computed_sym(
                    Opaque(
                        f"{_wrap(a, 6, False)} {e.op} {_wrap(b, 6, False)}",
                        f"{_wrap(a, 6, True)} {e.op} {_wrap(b, 6, True)}",
                        "any",
                        a.params | b.params,
                        "arith",
                    )
                )
            return result
        result = super().scalar_binop(e, left, right)
        if result is POISON:
            raise Unsupported("compile-time arithmetic that is only defined for concrete values")
        return result

    def e_IfExp(self, e: ir.IfExp, frame: Frame, stage: bool) -> Any:
        cond = self.truth(self.expr(e.cond, frame), e.cond)
        if cond is POISON:
            return POISON
        if not isinstance(cond, (Opaque, Sym)):
            return self.expr(e.then if cond else e.orelse, frame, stage=stage)
        c = self.render(cond)
        then = self.branch(e.then, frame, stage, (c, True))
        orelse = self.branch(e.orelse, frame, stage, (c, False))
        if then is POISON or orelse is POISON:
            return POISON
        if isinstance(then, TensorV) and isinstance(orelse, TensorV):
            joined = join_types(then.type, orelse.type)
            op = self.emit(
                frame, Op(OpKind.MERGE, c, (then, orelse), (), joined, e.span, when=self.when)
            )
            return TensorV(joined, op, then.origin)
        if is_layer(then) and is_layer(orelse):
            return CondLayerV(c, then, orelse, e.span)
        if (
            is_layer(then)
            or is_layer(orelse)
            or isinstance(then, TensorV)
            or isinstance(orelse, TensorV)
        ):
            raise Unsupported("a condition that chooses between a layer and a value")
        a, b = self.render(then), self.render(orelse)
        result = Opaque(
            f"{_wrap(a, 2, False)} if {c.init} else {_wrap(b, 2, False)}",
            f"{_wrap(a, 2, True)} if {c.fwd} else {_wrap(b, 2, True)}",
            "any",
            a.params | b.params | c.params,
            "or",
        )
        numbers = all(
            isinstance(v, (int, float, Sym)) and not isinstance(v, bool) for v in (then, orelse)
        )
        return self.computed_sym(result) if numbers else result

    def branch(self, e: ir.Expr, frame: Frame, stage: bool, when: tuple[Opaque, bool]) -> Any:
        return self.under(when, frame, lambda: self.expr(e, frame, stage=stage))

    def under(self, when: tuple[Opaque, bool], frame: Frame, evaluate) -> Any:
        """Evaluate under one side of a condition: the steps and modules it makes get `when`."""
        saved = self.when
        self.when = saved + (when,)
        n_ops, n_mods = len(frame.inst.ops), len(frame.inst.modules)
        try:
            value = evaluate()
        finally:
            self.when = saved
        ops = frame.inst.ops
        for i in range(n_ops, len(ops)):
            if ops[i].when is None or len(ops[i].when) < len(saved) + 1:
                ops[i] = replace(ops[i], when=saved + (when,))
        mods = frame.inst.modules
        renew_slots(
            mods,
            {
                i: {"when": saved + (when,)}
                for i in range(n_mods, len(mods))
                if mods[i].when is None
            },
            ops,
            n_ops,
        )
        return value

    def emit(self, frame: Frame, op: Op) -> int:
        if op.when is None and self.when:
            op = replace(op, when=self.when)
        return super().emit(frame, op)

    def attach(self, frame, slot: ModuleSlot, ins, out, into, ref):
        if self.when and slot.when is None:
            slot = replace(slot, when=self.when)
        return super().attach(frame, slot, ins, out, into, ref)

    # ---- repetition, loops, instances ---------------------------------------------------------

    def e_BinOp(self, e: ir.BinOp, frame: Frame, stage: bool) -> Any:
        if e.op == "*":
            left = self.expr(e.left, frame, stage=stage)
            right = self.expr(e.right, frame)
            if is_layer(left) and isinstance(right, (Sym, Opaque)):
                return RepeatV(left, right, e, e.span)  # type: ignore[arg-type]
            return self.binop_value(e, left, right, frame)  # operands evaluated once
        return super().e_BinOp(e, frame, stage)

    def tensor_binop(self, e: ir.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        """A tensor with a parameter (`beta * kl`): the parameter is a number the concrete
        check has seen; the result has the tensor's type."""
        if isinstance(left, Opaque) != isinstance(right, Opaque) and e.op != "@":
            t = left if isinstance(left, TensorV) else right
            if isinstance(t, TensorV):
                for o in (left, right):
                    if isinstance(o, Opaque):
                        self.stored |= o.params
                op = self.emit(frame, Op(OpKind.BINOP, e.op, (left, right), (), t.type, e.span))
                return TensorV(t.type, op, Origin(f"`{e.op}`", e.span, t.type))
        return super().tensor_binop(e, left, right, frame)

    def apply(self, layer_v: Any, value: Any, frame: Frame, span, *, into=None, label=None) -> Any:
        if isinstance(layer_v, CondLayerV):
            if into is not None or label is not None:
                raise Unsupported("a conditional layer inside a labelled group")
            outs = [
                self.under(
                    (layer_v.cond, polarity),
                    frame,
                    lambda layer=layer: self.apply(layer, value, frame, span),
                )
                for layer, polarity in ((layer_v.then, True), (layer_v.orelse, False))
            ]
            then, orelse = outs
            if not (isinstance(then, TensorV) and isinstance(orelse, TensorV)):
                raise Unsupported("a conditional layer with several outputs")
            joined = join_types(then.type, orelse.type)
            op = self.emit(
                frame,
                Op(OpKind.MERGE, layer_v.cond, (then, orelse), (), joined, span, when=self.when),
            )
            return TensorV(joined, op, then.origin)
        if isinstance(layer_v, RepeatV) and not isinstance(layer_v.count, int):
            return self.symbolic_repeat(layer_v, value, frame, into, label)
        return super().apply(layer_v, value, frame, span, into=into, label=label)

    def symbolic_repeat(self, rep: RepeatV, value: Any, frame: Frame, into, label) -> Any:
        children: list[ModuleSlot] = []
        start = len(frame.inst.ops)
        out = self.apply(rep.item, value, frame, rep.span, into=children)
        if len(children) != 1:
            raise Unsupported(
                "a repetition by a parameter of something other than one layer or block"
            )
        if not isinstance(value, TensorV) or not isinstance(out, TensorV) or out.type != value.type:
            raise Unsupported("a repetition by a parameter whose copies change the shape")
        renew_slots(children, {0: {"repeat": rep.count}}, frame.inst.ops, start)
        template = children[0]
        if into is not None:
            into.append(template)
            return out
        name = label or self.module_name(frame, rep.node)
        return self.add_sequential(frame, name, children, rep.span, out)

    def for_stmt(self, stmt: ir.For, frame: Frame) -> None:
        seq = self.expr(stmt.iter, frame)
        if isinstance(seq, (Opaque, Sym)):
            raise Unsupported("a `for` loop over a parameter")
        self.for_over(stmt, seq, frame)

    def fill_label(self, e: ir.Labeled, frame: Frame) -> str:
        for hole in e.holes:
            if isinstance(self.expr(hole, frame), (Opaque, Sym)):
                raise Unsupported("a label made from its parameters")
        return super().fill_label(e, frame)

    def loop_sequence(self, iter_: ir.Expr, frame: Frame) -> tuple | list:
        seq = self.expr(iter_, frame)
        if isinstance(seq, (Opaque, Sym)) or _opaque_items(seq):
            raise Unsupported("a `for` stage over values that depend on its parameters")
        return super().loop_sequence(iter_, frame)

    def e_Index(self, e: ir.Index, frame: Frame, stage: bool) -> Any:
        value = self.expr(e.value, frame)
        if isinstance(value, Opaque):
            raise Unsupported("indexing a parameter")
        return self.index_value(e, value, frame)

    def builtin(self, name: str, args: tuple, kwargs: tuple, e: ir.Call) -> Any:
        if any(isinstance(a, (Sym, Opaque)) for a in args):
            if name in ("int", "round", "max", "min", "abs", "float") and not kwargs:
                parts = [self.render(a) for a in args]
                return self.computed_sym(
                    Opaque(
                        f"{name}({', '.join(p.init for p in parts)})",
                        f"{name}({', '.join(p.fwd for p in parts)})",
                        "any",
                        frozenset().union(*(p.params for p in parts)),
                        "atom",
                    )
                )
            raise Unsupported(f"`{name}` of a parameter")
        return super().builtin(name, args, kwargs, e)

    def instance(self, decl, params, inputs, call_span, *, model=False):
        if decl is not self.top:
            # a nested block: evaluated (generically) for its output shape only; its own class
            # comes from its own generic evaluation
            nested = GenericEvaluator(self.program, self.symbols, self.fwd_names)
            nested.top = decl
            nested._naming = self._naming
            nested.computed = self.computed  # shared: the parent's values may flow into the child
            try:
                inst = nested.instance(decl, params, inputs, call_span)
            except _Abort:
                inst = None
            if inst is None or any(d.is_error for d in nested.diags):
                reasons = [d.message for d in nested.diags if d.is_error]
                raise Unsupported(
                    reasons[0]
                    if reasons
                    else f"`{decl.name}` cannot be evaluated with symbolic arguments"
                )
            return inst
        return super().instance(decl, params, inputs, call_span, model=model)


def _opaque_items(v: Any) -> bool:
    return isinstance(v, (tuple, list)) and any(isinstance(x, (Opaque, Sym)) for x in v)


def _opaque_in(d) -> bool:
    return any(dims.is_opaque_symbol(n) for n in dims.free_symbols(d))


def join_types(a: TensorT, b: TensorT) -> TensorT:
    """The type of a value that is `a` under some condition and `b` otherwise: equal dimensions
    stay, the others become unknown sizes."""
    if a.rank != b.rank or a.dtype != b.dtype:
        raise Unsupported(f"the branches of `if` give {a} and {b}")
    out = []
    for x, y in zip(a.shape, b.shape):
        out.append(x if x == y else dims.opaque_symbol("join", x, y))
    return TensorT(tuple(out), a.dtype)


def generic_instance(
    program: Program,
    symbols: Symbols,
    decl: ir.BlockDecl,
    input_types: list[TensorT] | None,
    fwd_names: dict[str, str],
) -> tuple[BlockInstance, GenericEvaluator, list]:
    """Evaluate `decl` with symbolic parameters (int parameters as dimension symbols, others as
    opaque values) and the given symbolic input types.  Raises Unsupported."""
    ev = GenericEvaluator(program, symbols, fwd_names)
    ev.top = decl
    params: dict[str, Any] = {}
    for p in decl.params:
        if p.type is None or p.type.name == "int":
            params[p.name] = dims.sym(p.name)
        else:
            params[p.name] = Opaque(
                p.name,
                f"self.{p.name}",
                "bool" if p.type.name == "bool" else "any",
                frozenset({p.name}),
            )
    inputs = [TensorV(t, -1, _origin(decl, i)) for i, t in enumerate(input_types or [])]
    try:
        inst = ev.instance(
            decl,
            params,
            inputs,
            decl.name_span,
            model=decl.kind == "model" and input_types is None,
        )
    except _Abort:
        inst = None
    if inst is None or any(d.is_error for d in ev.diags):
        reasons = [d.message for d in ev.diags if d.is_error]
        raise Unsupported(
            reasons[0] if reasons else "it could not be evaluated with symbolic parameters"
        )
    return inst, ev, ev.diags


def _origin(decl: ir.BlockDecl, i: int):
    from nndsl.check.graph import Origin

    return Origin(f"input {i + 1} of `{decl.name}`", decl.name_span)


__all__ = [
    "Cond",
    "GenericEvaluator",
    "Opaque",
    "Unsupported",
    "generic_instance",
    "GroupV",
    "LabeledV",
    "LayerRef",
]
