"""Generic evaluation: a block declaration evaluated once with symbolic parameters and inputs.

The checker evaluates every call site with concrete values.  To generate ONE class per block,
the code generator evaluates each declaration again with its parameters as symbols (`out`,
`stride`) and its inputs' sizes as symbols (`in_channels`, `H`, `W`): constructor arguments come
out as expressions over them (`nn.Conv2d(in_channels, out, 3, stride=stride)`), a condition that
depends on them becomes an `if` in `__init__` and `forward`, and a repetition by a symbolic
count becomes a comprehension.  What cannot be expressed generically (a loop over a list
parameter, branches giving different shapes) raises `Unsupported`, and that block is emitted as
one class per distinct instance instead.

It is the checker's own `Evaluator`, given `SymbolicDomain` as its value domain
(nndsl/check/domain.py): the same rules, with values that are only known when the class is
instantiated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from nndsl import dims, ir
from nndsl.catalog.core import TensorT
from nndsl.check.frame import Frame
from nndsl.check.graph import (
    BlockInstance,
    ModuleSlot,
    Op,
    OpKind,
    Origin,
    SliceV,
    TensorV,
    renew_slots,
)
from nndsl.check.infer import Evaluator
from nndsl.check.resolve import Symbols
from nndsl.check.values import POISON, Abort, GroupV, LabeledV, LayerRef, RepeatV, is_layer
from nndsl.codegen.pyexpr import Expr, Prec
from nndsl.dims import Sym
from nndsl.syntax.loader import Program


class Unsupported(Exception):
    """This block cannot become one generic class (the reason says why)."""


@dataclass(frozen=True, slots=True)
class Opaque:
    """A compile-time value only known when the class is instantiated: its Python expression
    with the parameters and sizes it reads as holes, which the code generator binds to their
    names in `__init__` (`out`) and in `forward` (`self.out`)."""

    expr: Expr
    kind: str = "any"  # "bool" | "any"
    params: frozenset[str] = frozenset()
    # its declared type where known (a parameter's `list[int]`): what indexing it gives
    type: ir.TypeRef | None = None

    is_opaque = True  # lets the catalog's type checks accept it without importing this module

    @property
    def init(self) -> str:
        """Its source with each parameter and size by its symbol's name (messages, keys)."""
        return self.expr.raw()


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


_PREC = {"or": Prec.OR, "and": Prec.AND}


def _operation(parts: list[str | Opaque], kind: str, prec: Prec) -> Opaque:
    """An operation on values (`a // b`, `not c`), the operands given as `Opaque`s already
    bracketed as the operator needs."""
    exprs = [p.expr if isinstance(p, Opaque) else p for p in parts]
    params = frozenset().union(*(p.params for p in parts if isinstance(p, Opaque)))
    return Opaque(Expr.join(exprs, prec), kind, params)


def _arg(v: Opaque, min_prec: Prec) -> Opaque:
    return replace(v, expr=v.expr.operand(min_prec))


class Quotients:
    """The symbolic evaluation's arithmetic mode (`ValueDomain.opaque_quotients`): a quotient
    by a symbol is an opaque size (`dims.floordiv(..., opaque=this)`), and this notes what each
    stands for, so that the code generator can write it (`(H - 1) // stride + 1`)."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: dict[str, tuple[str, Any, Any]] = {}

    def record(self, name: str, op: str, a: Any, b: Any) -> None:
        self.parts.setdefault(name, (op, a, b))

    def writable(self, d: Any) -> bool:
        """`d` can be written in Python: each opaque size in it is a quotient or remainder
        (`//`, exact `/`, `%`) of sizes that can be, not one of two sizes a condition picks."""
        if not isinstance(d, Sym):
            return True
        for n in dims.free_symbols(d):
            if dims.is_opaque_symbol(n):
                parts = self.parts.get(n)
                if parts is None or parts[0] not in ("//", "/", "%"):
                    return False
                if not (self.writable(parts[1]) and self.writable(parts[2])):
                    return False
        return True


class SymbolicDomain:
    """The code generator's value domain (`nndsl.check.domain.ValueDomain`): one declaration
    evaluated with symbolic parameters; see the module docstring."""

    checks_runtime_sizes = False  # its symbols are parameters; the checker has judged the uses
    opaque_quotients: Quotients | bool = True  # each evaluation has its own, set in __init__

    def __init__(
        self,
        top: ir.BlockDecl | None = None,
        computed: dict[str, Opaque] | None = None,
        quotients: Quotients | None = None,
    ):
        # a stride that is a parameter: a quotient by it is an opaque size, which the code
        # generator may still write (shared with the blocks it calls, as `computed` is)
        self.opaque_quotients = Quotients() if quotients is None else quotients
        self.stored: set[str] = set()  # symbols forward reads as attributes
        self.when: tuple[tuple[Opaque, bool], ...] = ()
        self.top = top  # the declaration evaluated (blocks it calls are evaluated for shapes)
        # compile-time values computed from parameters (`width = int(out * (base_width / 64))`):
        # symbol → its expression; they become locals of __init__
        self.computed: dict[str, Opaque] = {} if computed is None else computed
        self.computed_names: dict[str, str] = {}
        # a size bound to a name in the spec (`bn, n, c = x.shape`): symbol → that name, which
        # forward gives the local it reads the size into
        self.dim_names: dict[str, str] = {}
        # a size that is one of two under a condition: (its condition, its symbol) → both sides
        self.joined: dict[tuple[Expr, str], tuple[Any, Any]] = {}

    def undecided(self, v: Any) -> bool:
        return isinstance(v, (Opaque, Sym))

    def opaque(self, v: Any) -> bool:
        return isinstance(v, Opaque)

    def refuse(self, what: str) -> NoReturn:
        raise Unsupported(what)

    def computed_sym(self, value: Opaque) -> Sym:
        for name, known in self.computed.items():
            if known.expr == value.expr:
                return dims.sym(name)
        name = f"c__{len(self.computed) + 1}"
        self.computed[name] = value
        return dims.sym(name)

    def bound(self, ev: Evaluator, frame: Frame, name: str, value: Any, kind: str) -> Any:
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
        return value

    # ---- rendering ----------------------------------------------------------------------------

    def render(self, v: Any) -> Opaque:
        if isinstance(v, Opaque):
            self.stored |= v.params
            return v
        if isinstance(v, Sym):
            names = dims.free_symbols(v)
            self.stored |= set(names)
            return Opaque(Expr.dim(v), params=frozenset(names))
        text = (
            repr(v)
            if not isinstance(v, str)
            else '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        )
        return Opaque(Expr.code(text))

    # ---- decisions ----------------------------------------------------------------------------

    def compare(self, ev: Evaluator, e: ir.Compare, left: Any, right: Any, frame: Frame) -> Any:
        if left is POISON or right is POISON:
            return POISON
        if isinstance(left, TensorV) or isinstance(right, TensorV):  # a bool tensor
            return ev.compare_values(e, left, right, frame)
        if (
            isinstance(left, Opaque)
            or isinstance(right, Opaque)
            or isinstance(left, Sym)
            or isinstance(right, Sym)
        ):
            sizes = all(isinstance(v, (int, Sym)) for v in (left, right))  # not `c == 0.5`
            if sizes and e.op in ("==", "!="):
                eq = dims.equal(left, right)
                if eq is not None:
                    return eq if e.op == "==" else not eq
            a, b = self.render(left), self.render(right)
            return _operation(
                [_arg(a, Prec.ARITH), f" {e.op} ", _arg(b, Prec.ARITH)], "bool", Prec.CMP
            )
        return ev.compare_values(e, left, right, frame)

    def bool_op(self, op: str, left: Any, right: Any) -> Any:
        a = self.render(left)
        if not isinstance(right, (Opaque, Sym)):
            if (op == "and" and right) or (op == "or" and not right):
                return a
            return bool(right)
        b = self.render(right)
        p = _PREC[op]
        return _operation([_arg(a, p), f" {op} ", _arg(b, Prec(p + 1))], "bool", p)

    def unary(self, ev: Evaluator, e: ir.UnaryOp, v: Any, frame: Frame) -> Any:
        if e.op == "not":
            v = ev.truth(v, e.operand)
            if isinstance(v, (Opaque, Sym)):
                a = self.render(v)
                return _operation(["not ", _arg(a, Prec.NOT)], "bool", Prec.NOT)
            return POISON if v is POISON else (not v)
        if isinstance(v, Opaque):
            return _operation([e.op, _arg(v, Prec.ATOM)], "any", Prec.ATOM)
        return ev.unary_value(e, v, frame)

    def scalar_binop(self, ev: Evaluator, e: ir.BinOp, left: Any, right: Any) -> Any:
        if isinstance(left, Opaque) or isinstance(right, Opaque):
            a, b = self.render(left), self.render(right)
            return _operation(
                [_arg(a, Prec.ATOM), f" {e.op} ", _arg(b, Prec.ATOM)], "any", Prec.ARITH
            )
        floats = any(isinstance(v, float) for v in (left, right))
        if (floats or e.op in ("//", "%", "/", "**")) and (
            isinstance(right, Sym) or isinstance(left, Sym)
        ):
            result = _quiet_arithmetic(ev, e, left, right)
            if result is POISON or e.op == "/" or floats or _opaque_in(result):
                a, b = self.render(left), self.render(right)
                value = _operation(
                    [_arg(a, Prec.ATOM), f" {e.op} ", _arg(b, Prec.ATOM)], "any", Prec.ARITH
                )
                if result is POISON and (floats or e.op == "/"):
                    # not a size (`base_width / 64.0`): a number written as the spec does, in
                    # the order it does (`int(planes * (base_width / 64.0))`)
                    return value
                return self.computed_sym(value)
            return result
        result = ev.arithmetic(e, left, right)
        if result is POISON:
            raise Unsupported("compile-time arithmetic that is only defined for concrete values")
        return result

    def if_exp(self, ev: Evaluator, e: ir.IfExp, cond: Any, frame: Frame, stage: bool) -> Any:
        c = self.render(cond)
        then = self.branch(ev, e.then, frame, stage, (c, True))
        orelse = self.branch(ev, e.orelse, frame, stage, (c, False))
        if then is POISON or orelse is POISON:
            return POISON
        if isinstance(then, TensorV) and isinstance(orelse, TensorV):
            return self.merge(ev, frame, c, then, orelse, e.span)
        if _tensor_pairs(then, orelse):
            # `x1, x2 = x.chunk(2, dim=1) if stride == 1 else (x, x)`: item by item
            return tuple(self.merge(ev, frame, c, a, b, e.span) for a, b in zip(then, orelse))
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
        result = _operation(
            [_arg(a, Prec.AND), " if ", c, " else ", _arg(b, Prec.AND)], "any", Prec.OR
        )
        numbers = all(
            isinstance(v, (int, float, Sym)) and not isinstance(v, bool) for v in (then, orelse)
        )
        return self.computed_sym(result) if numbers else result

    def merge(
        self, ev: Evaluator, frame: Frame, c: Opaque, then: TensorV, orelse: TensorV, span
    ) -> TensorV:
        """The tensor that is `then` if `c` holds and `orelse` otherwise."""
        joined = self.join(c, then.type, orelse.type)
        op = ev.emit(frame, Op(OpKind.MERGE, c, (then, orelse), (), joined, span, when=self.when))
        return TensorV(joined, op, then.origin)

    def join(self, c: Opaque, a: TensorT, b: TensorT) -> TensorT:
        """The type of a value that is `a` if `c` holds and `b` otherwise: equal dimensions
        stay; one that differs is the size `a if c else b`, known when the class is built (as
        torchvision's ShuffleNet writes `inp if stride > 1 else branch_features`), or an unknown
        size where a side is itself unknown."""
        if a.rank != b.rank or a.dtype != b.dtype:
            raise Unsupported(f"the branches of `if` give {a} and {b}")
        out = []
        for x, y in zip(a.shape, b.shape):
            if x == y:
                out.append(x)
            elif not (self.opaque_quotients.writable(x) and self.opaque_quotients.writable(y)):
                out.append(dims.opaque_symbol("join", x, y))
            else:
                # `left = x1 if stride == 1 else left`, left being `x if stride == 1 else ...`
                # already: the side the condition decides, not a nested `if`
                x = self.joined.get((c.expr, str(x)), (x, y))[0]
                y = self.joined.get((c.expr, str(y)), (x, y))[1]
                then, orelse = self.render(x), self.render(y)
                size = _operation(
                    [_arg(then, Prec.AND), " if ", c, " else ", _arg(orelse, Prec.AND)],
                    "any",
                    Prec.OR,
                )
                joined = self.computed_sym(size)
                self.joined[(c.expr, str(joined))] = (x, y)
                out.append(joined)
        return TensorT(tuple(out), a.dtype)

    def branch(
        self, ev: Evaluator, e: ir.Expr, frame: Frame, stage: bool, when: tuple[Opaque, bool]
    ) -> Any:
        return self.under(when, frame, lambda: ev.expr(e, frame, stage=stage))

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

    def step(self, op: Op) -> Op:
        if op.when is None and self.when:
            op = replace(op, when=self.when)
        return op

    def module(self, slot: ModuleSlot) -> ModuleSlot:
        if self.when and slot.when is None:
            slot = replace(slot, when=self.when)
        return slot

    # ---- repetition, loops, instances ---------------------------------------------------------

    def tensor_binop(self, ev: Evaluator, e: ir.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        """A tensor with a parameter (`beta * kl`): the parameter is a number the concrete
        check has seen; the result has the tensor's type."""
        if isinstance(left, Opaque) != isinstance(right, Opaque) and e.op != "@":
            t = left if isinstance(left, TensorV) else right
            if isinstance(t, TensorV):
                for o in (left, right):
                    if isinstance(o, Opaque):
                        self.stored |= o.params
                op = ev.emit(frame, Op(OpKind.BINOP, e.op, (left, right), (), t.type, e.span))
                return TensorV(t.type, op, Origin(f"`{e.op}`", e.span, t.type))
        return NotImplemented

    def apply(
        self,
        ev: Evaluator,
        layer_v: Any,
        value: Any,
        frame: Frame,
        span,
        into: list | None,
        label: str | None,
    ) -> Any:
        if isinstance(layer_v, CondLayerV):
            if into is not None or label is not None:
                raise Unsupported("a conditional layer inside a labelled group")
            outs = [
                self.under(
                    (layer_v.cond, polarity),
                    frame,
                    lambda layer=layer: ev.apply(layer, value, frame, span),
                )
                for layer, polarity in ((layer_v.then, True), (layer_v.orelse, False))
            ]
            then, orelse = outs
            if not (isinstance(then, TensorV) and isinstance(orelse, TensorV)):
                raise Unsupported("a conditional layer with several outputs")
            return self.merge(ev, frame, layer_v.cond, then, orelse, span)
        if isinstance(layer_v, RepeatV) and not isinstance(layer_v.count, int):
            return self.symbolic_repeat(ev, layer_v, value, frame, into, label)
        return NotImplemented

    def symbolic_repeat(
        self, ev: Evaluator, rep: RepeatV, value: Any, frame: Frame, into, label
    ) -> Any:
        children: list[ModuleSlot] = []
        start = len(frame.inst.ops)
        out = ev.apply(rep.item, value, frame, rep.span, into=children)
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
        name = label or ev.module_name(frame, rep.node)
        return ev.add_sequential(frame, name, children, rep.span, out)

    def check_label(self, ev: Evaluator, e: ir.Labeled, frame: Frame) -> None:
        for hole in e.holes:
            if isinstance(ev.expr(hole, frame), (Opaque, Sym)):
                raise Unsupported("a label made from its parameters")

    def check_stage_loop(self, ev: Evaluator, iter_: ir.Expr, frame: Frame) -> None:
        seq = ev.expr(iter_, frame)
        if isinstance(seq, (Opaque, Sym)) or _opaque_items(seq):
            raise Unsupported("a `for` stage over values that depend on its parameters")

    def index(self, ev: Evaluator, e: ir.Index, value: Opaque, frame: Frame) -> Any:
        """`widths[i]` on a list parameter: its item, known when the class is instantiated (as
        torchvision writes `layers[0]`).  An item of a `list[int]` is a size."""
        if len(e.index) != 1:
            raise Unsupported("a parameter indexed by several indices")
        i = ev.index_item(e.index[0], frame)
        if i is POISON:
            return POISON
        item_type = _item_type(value.type, i)
        if isinstance(i, SliceV):
            parts: list[str | Opaque] = []
            for k, part in enumerate((i.start, i.stop, i.step)):
                if k == 2 and part is None:
                    break
                parts += [":"] * (k > 0)
                if part is not None:
                    parts.append(_arg(self.render(part), Prec.ARITH))
            return _operation([_arg(value, Prec.ATOM), "[", *parts, "]"], "any", Prec.ATOM)
        if isinstance(i, bool) or not isinstance(i, (int, Sym, Opaque)):
            raise Unsupported("a parameter indexed by something other than an integer")
        item = _operation(
            [_arg(value, Prec.ATOM), "[", self.render(i), "]"],
            "bool" if item_type is not None and item_type.name == "bool" else "any",
            Prec.ATOM,
        )
        if item_type is not None and item_type.name == "int" and not item_type.args:
            return self.computed_sym(item)
        return replace(item, type=item_type)

    def builtin(self, ev: Evaluator, name: str, args: tuple, kwargs: tuple, e: ir.Call) -> Any:
        if name == "len" and len(args) == 1 and not kwargs and isinstance(args[0], Opaque):
            # `len(depths)` of a list parameter: a count known when the class is instantiated
            return self.computed_sym(_operation(["len(", args[0], ")"], "any", Prec.ATOM))
        if any(isinstance(a, (Sym, Opaque)) for a in args):
            if name in ("int", "round", "max", "min", "abs", "float") and not kwargs:
                parts: list[str | Opaque] = [f"{name}("]
                for k, a in enumerate(args):
                    parts += [", "] * (k > 0) + [self.render(a)]
                return self.computed_sym(_operation([*parts, ")"], "any", Prec.ATOM))
            raise Unsupported(f"`{name}` of a parameter")
        return NotImplemented

    def instance(
        self,
        ev: Evaluator,
        decl: ir.BlockDecl,
        params: dict[str, Any],
        inputs: list[TensorV],
        call_span,
    ) -> Any:
        if decl is self.top:
            return NotImplemented
        # a nested block: evaluated (generically) for its output shape only; its own class
        # comes from its own generic evaluation.  The parent's computed values may flow into
        # the child: the table is shared.
        nested = Evaluator(
            ev.program, ev.symbols, SymbolicDomain(decl, self.computed, self.opaque_quotients)
        )
        nested.share_naming(ev)
        try:
            inst = nested.instance(decl, params, inputs, call_span)
        except Abort:
            inst = None
        if inst is None or any(d.is_error for d in nested.diags):
            reasons = [d.message for d in nested.diags if d.is_error]
            raise Unsupported(
                _checking_fails(reasons[0])
                if reasons
                else f"`{decl.name}` cannot be evaluated with symbolic arguments"
            )
        return inst


def _quiet_arithmetic(ev: Evaluator, e: ir.BinOp, left: Any, right: Any) -> Any:
    """The checker's arithmetic on a parameter, or POISON where it is not a size (`base_width
    / 64.0`, `2 ** depth`): such a value is computed when the class is instantiated, so the
    checker's complaint about it (a float size, a symbolic exponent) is withdrawn."""
    before, reported = len(ev.diags), set(ev._reported)
    try:
        result = ev.arithmetic(e, left, right)
    except (TypeError, dims.DimError):
        result = POISON
    if len(ev.diags) > before:
        del ev.diags[before:]
        ev._reported = reported
        return POISON
    return result


_NEUTRAL = re.compile(r"\b([A-Za-z_]\w*?)__(\d+)\b")
_OPAQUE_NAME = re.compile(r"\b_[0-9a-f]{10}\b")
_COMPUTED = re.compile(r"\bc__\d+\b")


def readable(text: str) -> str:
    """A reason this evaluation gives (a checker message about its symbols) in the spec's
    words: an input's size symbol (`x__1`) as `x.shape[1]`, a value computed from parameters
    as such, an unknown size as `?`."""
    text = _NEUTRAL.sub(lambda m: f"{m.group(1)}.shape[{m.group(2)}]", text)
    text = _COMPUTED.sub("a value computed from the parameters", text)
    return _OPAQUE_NAME.sub("?", text)


def _item_type(t: ir.TypeRef | None, i: Any) -> ir.TypeRef | None:
    """The type of `value[i]` for a value of type `t`: a slice keeps it, an item of
    `list[T]` or `tuple[T, ...]` is a `T`, item `i` of `tuple[A, B]` is its type."""
    if t is None:
        return None
    if isinstance(i, SliceV):
        return t if t.name in ("list", "tuple") else None
    if t.name == "list" or (t.name == "tuple" and t.variadic):
        return t.args[0] if len(t.args) == 1 else None
    if t.name == "tuple" and isinstance(i, int) and not isinstance(i, bool):
        return t.args[i] if -len(t.args) <= i < len(t.args) else None
    if t.name == "tuple" and len(set(map(str, t.args))) == 1:
        return t.args[0]
    return None


def _tensor_pairs(a: Any, b: Any) -> bool:
    """`a` and `b` are tuples of as many tensors."""
    return (
        isinstance(a, (tuple, list))
        and isinstance(b, (tuple, list))
        and len(a) == len(b) > 0
        and all(isinstance(v, TensorV) for v in (*a, *b))
    )


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
) -> tuple[BlockInstance, SymbolicDomain, list]:
    """Evaluate `decl` with symbolic parameters (int parameters as dimension symbols, others as
    opaque values) and the given symbolic input types.  Raises Unsupported."""
    domain = SymbolicDomain(decl)
    ev = Evaluator(program, symbols, domain)
    params: dict[str, Any] = {}
    for p in decl.params:
        if p.type is None or p.type.name == "int":
            params[p.name] = dims.sym(p.name)
        else:
            params[p.name] = Opaque(
                Expr.dim(dims.sym(p.name)),
                "bool" if p.type.name == "bool" else "any",
                frozenset({p.name}),
                p.type,
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
    except Abort:
        inst = None
    if inst is None or any(d.is_error for d in ev.diags):
        reasons = [d.message for d in ev.diags if d.is_error]
        raise Unsupported(
            _checking_fails(reasons[0])
            if reasons
            else "it could not be evaluated with symbolic parameters"
        )
    return inst, domain, ev.diags


def _checking_fails(message: str) -> str:
    """A checker's error met with symbolic parameters, as a reason ("... because <reason>.")."""
    return f"checking it with symbolic parameters fails ({message})"


def _origin(decl: ir.BlockDecl, i: int):
    from nndsl.check.graph import Origin

    return Origin(f"input {i + 1} of `{decl.name}`", decl.name_span)


__all__ = [
    "Cond",
    "Quotients",
    "SymbolicDomain",
    "Opaque",
    "Unsupported",
    "generic_instance",
    "readable",
    "GroupV",
    "LabeledV",
    "LayerRef",
]
