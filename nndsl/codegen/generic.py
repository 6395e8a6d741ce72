"""Generic evaluation: a block declaration evaluated once with symbolic parameters and inputs.

The checker evaluates every call site with concrete values.  To generate ONE class per block,
the code generator evaluates each declaration again with its parameters as symbols (`out`,
`stride`) and its inputs' sizes as symbols (`in_channels`, `H`, `W`): constructor arguments come
out as expressions over them (`nn.Conv2d(in_channels, out, 3, stride=stride)`), a condition that
depends on them becomes an `if` in `__init__` and `forward`, and a repetition by a symbolic
count becomes a comprehension, and a `for` over parameters a loop of `__init__` (a list it
builds, a size it carries from step to step).  What cannot be expressed generically (a `for`
statement over a list parameter, branches giving different ranks) raises `Unsupported`, and
that block is emitted as one class per distinct instance instead.

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
from nndsl.check.values import (
    POISON,
    Abort,
    GroupV,
    LabeledV,
    LayerRef,
    RepeatV,
    is_group,
    is_layer,
)
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


@dataclass(frozen=True, eq=False)
class PresentV:
    """A layer of a `for` stage over a condition (`for t in ([e] if e != 1 else [])`): it
    exists only on one side of `cond` (`polarity`); on the other the value passes through."""

    cond: Opaque
    polarity: bool
    item: Any
    span: Any

    is_layer_value = True


@dataclass(frozen=True, eq=False)
class RangeLoopV:
    """`for i in range(n) { Layer(i) }` as a stage, with `n` a parameter: the layers of one
    step, made with `i` a symbol; inside a group they become a comprehension."""

    var: str  # the loop variable as written
    sym: Sym  # the symbol standing for it
    bounds: tuple[Any, ...]  # the arguments of `range`
    items: tuple[Any, ...]
    span: Any

    is_layer_value = True


@dataclass(frozen=True, slots=True)
class LoopCount:
    """The `repeat` of a group's child made by a `for` stage over `range` of a parameter: the
    template child is made `for var in range(*bounds)` (the symbol `sym` stands for `var`)."""

    var: str
    sym: str
    bounds: tuple[Any, ...]
    # sizes carried from step to step in a local of `__init__` (torchvision's RegNet's
    # `current_width`): (symbol, size before the loop, size after a step, dimension, rank);
    # the child is then appended in a loop of `__init__`, not made by a comprehension
    carries: tuple[tuple[str, Any, Any, int, int], ...] = ()


@dataclass(frozen=True, eq=False)
class ListLoopV:
    """`for k, c in settings { Layer(c) }` as a stage, with `settings` a list parameter: the
    layers of one step, made with the loop's names as symbols."""

    target: ir.Target
    names: tuple[tuple[str, Any], ...]  # each name of the target: its symbol, or an Opaque
    iterable: Opaque
    items: tuple[Any, ...]
    span: Any

    is_layer_value = True


@dataclass(frozen=True, slots=True)
class ListLoop:
    """The `repeat` of a group's child made by a `for` stage over a list parameter: in
    `__init__`, `for <target> in <iterable>:` appends the child, then updates the sizes carried
    from step to step (`channels = out`, as hand-written code keeps `input_channel`)."""

    target: ir.Target
    names: tuple[tuple[str, str], ...]  # each name of the target, with its symbol's name
    iterable: Opaque
    # (symbol, size before the loop, size after a step, its dimension, the rank)
    carries: tuple[tuple[str, Any, Any, int, int], ...]


@dataclass(frozen=True, slots=True)
class StatementLoop:
    """A `for i in range(n)` statement of a block's body, with `n` a parameter, whose steps
    each make one module (torchvision's `_DenseBlock`): the class is a module container whose
    `__init__` adds the modules in a loop and whose forward loops over them.  The body was
    evaluated once, with `i` the symbol `sym`: its steps are `ops[start:end]`, its module
    `modules[slot]`; `carried` pairs the value a name holds before the loop (its key) with the
    step that gives its next value."""

    var: str
    sym: str
    bounds: tuple[Any, ...]
    start: int
    end: int
    slot: int
    carried: tuple[tuple[tuple, int], ...]


@dataclass(slots=True)
class _FrameState:
    """What a side of a condition may change in a frame: its names and its current value."""

    vars: dict[str, Any]
    kinds: dict[str, str]
    bound_at: dict[str, Any]
    cur: Any
    cur_set: bool

    @classmethod
    def take(cls, frame: Frame) -> _FrameState:
        return cls(
            dict(frame.vars), dict(frame.kinds), dict(frame.bound_at), frame.cur, frame.cur_set
        )

    def restore(self, frame: Frame) -> None:
        frame.vars, frame.kinds = dict(self.vars), dict(self.kinds)
        frame.bound_at = dict(self.bound_at)
        frame.cur, frame.cur_set = self.cur, self.cur_set


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
        # conditions that compare two sizes (`expanded != C`): their text → (left, right, is ==)
        self.size_tests: dict[str, tuple[Any, Any, bool]] = {}
        # sizes that are `a if cond else b` (joins after a condition): symbol → (cond's text, a, b)
        self.joins: dict[str, tuple[str, Any, Any]] = {}
        # the merges made after a loop over a condition: (cond, then, else) → the merged value
        self.merges: dict[tuple, TensorV] = {}
        # labels made from a loop variable: placeholder name → its pieces and holes
        self.loop_labels: dict[str, tuple[str | Opaque, ...]] = {}
        # the sizes carried from step to step of a loop over a list parameter (their symbols)
        self.carries: list[str] = []
        self.examples: dict[str, list[Any]] = {}  # parameter → the values its uses give it
        self.statement_loops: list[StatementLoop] = []
        # an unknown size a loop's steps carry (see `step_sizes`): its symbol → why a layer it
        # sizes cannot be written (shared with the blocks it calls, as `computed` is)
        self.loose: dict[str, str] = {}
        self.nested = False  # evaluated for the sizes it gives a caller (see `instance`)
        self.step_carries: tuple = ()  # what `accumulated_loop` carries in a local (LoopCount)
        # a computed value that a name was bound to as a size (`b, c, h, w = out.shape`'s `c`):
        # symbol → that size, over other symbols (what `expanded` compares by)
        self.definitions: dict[str, Sym] = {}
        # a computed value bound to a name by unpacking (`b, c, h, w = out.shape`'s `h`):
        # symbol → the size it was bound to (what forward may read from a tensor's shape)
        self.shape_sizes: dict[str, Sym] = {}
        # the repetitions made comprehensions over a step index (see `symbolic_repeat`)
        self.repeat_loops: list[LoopCount] = []
        # a parameter that is a tuple of sizes (`k: tuple[int, int, int]`): its items' symbols
        # → the parameter, which a tuple of all its items in order is written as (`k`)
        self.tuples: dict[tuple[str, ...], Opaque] = {}
        # the names the block's input declarations give its inputs' sizes: symbol → name
        self.declared: dict[str, str] = {}

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
        size = value
        if (
            isinstance(value, Sym)
            and str(value) not in self.computed
            and any(n.startswith("c__") for n in dims.free_symbols(value))
        ):
            value = self.computed_sym(
                self.render(value)
            )  # `width = ...` becomes a local of __init__
            if isinstance(value, Sym) and str(value) != str(size):
                self.definitions.setdefault(str(value), size)
        if isinstance(value, Sym) and str(value) in self.computed and kind == "destructured":
            self.shape_sizes.setdefault(str(value), size)
        if (
            isinstance(value, Sym)
            and str(value) in self.computed
            and str(value) not in self.computed_names
        ):
            if name not in self.computed_names.values() and name not in frame.vars:
                self.computed_names[str(value)] = name
        if isinstance(value, Sym) and kind == "dim" and not self.nested:
            # `input x: [B, H, W, C]`: the name the spec gives an input's size
            self.declared.setdefault(str(value), name)
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
        if isinstance(v, tuple) and tuple(map(str, v)) in self.tuples:
            return self.render(self.tuples[tuple(map(str, v))])
        if isinstance(v, (tuple, list)) and _opaque_items(v):
            parts: list[str | Opaque] = ["(" if isinstance(v, tuple) else "["]
            for k, x in enumerate(v):
                parts += [", "] * (k > 0) + [self.render(x)]
            parts.append(("," if len(v) == 1 else "") + (")" if isinstance(v, tuple) else "]"))
            return _operation(parts, "any", Prec.ATOM)
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
        if _opaque_items(left) or _opaque_items(right):
            # `k == (1, 1)` of a tuple parameter: decided where every item is, else an `if`
            return self.compare_tuples(e, left, right)
        if (
            isinstance(left, Opaque)
            or isinstance(right, Opaque)
            or isinstance(left, Sym)
            or isinstance(right, Sym)
        ):
            # not `c == 0.5`, nor `stride == true`
            sizes = all(
                isinstance(v, (int, Sym)) and not isinstance(v, bool) for v in (left, right)
            )
            if sizes and e.op in ("==", "!="):
                eq = dims.equal(left, right)
                if eq is not None:
                    return eq if e.op == "==" else not eq
            a, b = self.render(left), self.render(right)
            result = _operation(
                [_arg(a, Prec.ARITH), f" {e.op} ", _arg(b, Prec.ARITH)], "bool", Prec.CMP
            )
            if sizes and e.op in ("==", "!="):
                self.size_tests[result.init] = (left, right, e.op == "==")
            return result
        return ev.compare_values(e, left, right, frame)

    def compare_tuples(self, e: ir.Compare, left: Any, right: Any) -> Any:
        if e.op not in ("==", "!="):
            raise Unsupported(f"`{e.op}` between tuples of its parameters")
        same: bool | None = (
            isinstance(left, (tuple, list))
            and isinstance(right, (tuple, list))
            and type(left) is type(right)
        )
        if same:
            for a, b in zip(left, right, strict=False):
                if isinstance(a, (int, Sym)) and isinstance(b, (int, Sym)):
                    eq = dims.equal(a, b)
                elif isinstance(a, Opaque) or isinstance(b, Opaque):
                    eq = None
                else:
                    eq = _same(a, b)
                if eq is False:
                    same = False
                    break
                if eq is None:
                    same = None
            if len(left) != len(right):
                same = False
        if same is not None:
            return same if e.op == "==" else not same
        a, b = self.render(left), self.render(right)
        return _operation([_arg(a, Prec.ARITH), f" {e.op} ", _arg(b, Prec.ARITH)], "bool", Prec.CMP)

    def bool_op(self, op: str, left: Any, right: Any) -> Any:
        a = self.render(left)
        if not isinstance(right, (Opaque, Sym)):
            if (op == "and" and right) or (op == "or" and not right):
                return a
            return bool(right)
        b = self.render(right)
        p = _PREC[op]
        result = _operation([_arg(a, p), f" {op} ", _arg(b, Prec(p + 1))], "bool", p)
        if self.nested:
            self.implied_test(op, a, b, result)
        return result

    def implied_test(self, op: str, a: Opaque, b: Opaque, result: Opaque) -> None:
        """`x != y or ...` is false only where `x == y`, `x == y and ...` true only there: for
        `join_under`, such a condition is as good as the size test in it (RegNet's
        `width_in != width_out or stride != 1`: after its `if`, the width is `width_out`).
        Only for a block evaluated for the sizes it gives its caller (the code of its own
        class is unchanged)."""
        for side in (a, b):
            test = self.size_tests.get(side.init)
            if test is not None and test[2] == (op == "and"):
                self.size_tests.setdefault(result.init, test)
                return

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
        if _size_tuples(then, orelse):
            # `(1, s, s) if kind == "2d" else (s, s, s)`: a tuple of sizes, each chosen by the
            # condition where the sides differ (a layer's stride, the shapes it gives)
            return tuple(a if _same(a, b) else self.choose(c, a, b) for a, b in zip(then, orelse))
        return self.choose(c, then, orelse)

    def choose(self, c: Opaque, then: Any, orelse: Any) -> Any:
        """`then if c else orelse` of two compile-time values: a size if both are numbers."""
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
        """The tensor that is `then` if `c` holds and `orelse` otherwise (`a if c else b`)."""
        if then.type.rank != orelse.type.rank or then.type.dtype != orelse.type.dtype:
            raise Unsupported(f"the branches of `if` give {then.type} and {orelse.type}")
        joined = self.join_under(c, then.type, orelse.type)
        op = ev.emit(frame, Op(OpKind.MERGE, c, (then, orelse), (), joined, span, when=self.when))
        return TensorV(joined, op, then.origin)

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
        if isinstance(layer_v, CondLayerV) and into is not None and label is None:
            return self.choice_in_group(ev, layer_v, value, frame, into)
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
        if isinstance(layer_v, PresentV):
            return self.apply_present(ev, layer_v, value, frame, span, into, label)
        if isinstance(layer_v, RangeLoopV):
            return self.apply_range_loop(ev, layer_v, value, frame, into, label)
        if isinstance(layer_v, ListLoopV):
            return self.apply_list_loop(ev, layer_v, value, frame, into, label)
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
        if not isinstance(value, TensorV) or not isinstance(out, TensorV):
            raise Unsupported("a repetition by a parameter of a layer with several outputs")
        if out.type != value.type and self.expanded(out.type) == self.expanded(value.type):
            # the same sizes, once the values computed from them are written out (ShuffleNet's
            # `2 * (oup // 2)` channels into `(2 * (oup // 2) + 1) // 2 + oup // 2`)
            if out.op >= start:  # the step that gives it
                frame.inst.ops[out.op] = replace(frame.inst.ops[out.op], out=value.type)
            out = TensorV(value.type, out.op, out.origin)
        if out.type != value.type and self.settles(ev, rep, out, frame):
            # the first copy changes the sizes, the others keep them (`Bottleneck(64) *
            # layers[0]` from 64 channels to 256): a comprehension whose first step takes the
            # input (`64 if i == 0 else 256`), as a `for i in range(n)` stage is written
            del frame.inst.ops[start:]
            steps: list[ModuleSlot] = []
            sym = dims.sym(f"loop__i{len(self.repeat_loops) + 1}")
            loop = RangeLoopV("i", sym, (rep.count,), (rep.item,), rep.span)
            out = self.apply_range_loop(ev, loop, value, frame, steps, None)
            self.repeat_loops.append(steps[0].repeat)
            if into is not None:
                into.extend(steps)
                return out
            name = label or ev.module_name(frame, rep.node)
            return ev.add_sequential(frame, name, steps, rep.span, out)
        if out.type != value.type:
            out = self.loose_repeat(ev, rep, value, out, frame, children, start)
        renew_slots(children, {0: {"repeat": rep.count}}, frame.inst.ops, start)
        template = children[0]
        if into is not None:
            into.append(template)
            return out
        name = label or ev.module_name(frame, rep.node)
        return ev.add_sequential(frame, name, children, rep.span, out)

    def settles(self, ev: Evaluator, rep: RepeatV, out: TensorV, frame: Frame) -> bool:
        """Whether a copy of `rep` keeps the sizes the first copy gave (`out`): the steps after
        the first are then all the same module."""
        start, n_mods = len(frame.inst.ops), len(frame.inst.modules)
        scratch: list[ModuleSlot] = []
        try:
            again = ev.apply(rep.item, out, frame, rep.span, into=scratch)
        except Unsupported:
            return False
        finally:
            del frame.inst.ops[start:]
            del frame.inst.modules[n_mods:]
        return isinstance(again, TensorV) and again.type == out.type

    def expanded(self, t: TensorT) -> tuple[Any, ...]:
        """The sizes of `t` with each computed value that stands for a size replaced by it."""
        out = []
        for d in t.shape:
            for _ in range(32):
                names = dims.free_symbols(d) if isinstance(d, Sym) else frozenset()
                env = {n: self.definitions[n] for n in names if n in self.definitions}
                if not env:
                    break
                d = dims.substitute(d, env)
            out.append(d)
        return tuple(out)

    def loose_repeat(
        self,
        ev: Evaluator,
        rep: RepeatV,
        value: TensorV,
        out: TensorV,
        frame: Frame,
        children: list[ModuleSlot],
        start: int,
    ) -> TensorV:
        """A repetition whose copies change some sizes as written (`H` into
        `H + 2 * (k // 2) - k + 1`, which is `H` for an odd `k`): the copy is made again from
        an input whose changing sizes are unknown.  Every copy is then the same module as long
        as those sizes size no layer (the class cannot write an unknown size); the sizes that
        stay must stay through the copy."""
        if out.type.rank != value.type.rank or out.type.dtype != value.type.dtype:
            raise Unsupported(
                f"its repetition by a parameter turns {value.type} into {out.type}, so the copies "
                "cannot all be the same module"
            )
        shape = tuple(
            d if d == o else dims.opaque_symbol("repeat", d, o)
            for d, o in zip(value.type.shape, out.type.shape)
        )
        del frame.inst.ops[start:]
        children.clear()
        loose = replace(value, type=TensorT(shape, value.type.dtype))
        again = ev.apply(rep.item, loose, frame, rep.span, into=children)
        if not isinstance(again, TensorV) or any(
            d == o and a != d for d, o, a in zip(value.type.shape, out.type.shape, again.type.shape)
        ):
            raise Unsupported(
                f"its repetition by a parameter turns {value.type} into {out.type}, so the copies "
                "cannot all be the same module"
            )
        return TensorV(loose.type, again.op, again.origin)

    def check_label(self, ev: Evaluator, e: ir.Labeled, frame: Frame) -> str | None:
        values = [ev.expr(hole, frame) for hole in e.holes]
        if not any(isinstance(v, (Opaque, Sym)) for v in values):
            return None
        for v in values:
            if isinstance(v, Opaque) or (
                isinstance(v, Sym) and not all(n.startswith("loop__") for n in dims.free_symbols(v))
            ):
                raise Unsupported(
                    "a label is made from its parameters, so its name is only known when the "
                    "class is built"
                )
        # made from the variable of a `for` over `range` of a parameter: the name is an
        # f-string of the comprehension that makes the layers (see `LoopCount`)
        name = f"_loop_label_{len(self.loop_labels) + 1}"
        parts: list[str | Opaque] = [e.pieces[0]]
        for v, piece in zip(values, e.pieces[1:]):
            parts += [self.render(v), piece]
        self.loop_labels[name] = tuple(parts)
        return name

    def check_stage_loop(self, ev: Evaluator, iter_: ir.Expr, frame: Frame) -> None:
        # items that are parameters are fine (`for t in [expand_ratio]`: `t` is a symbol); a
        # sequence whose length is only known when the class is built is not
        seq = ev.expr(iter_, frame)
        if isinstance(seq, (Opaque, Sym)):
            raise Unsupported(
                "it has a `for` stage over a list that is only known when the class is built"
            )

    # ---- loops over a condition ----------------------------------------------------------------

    def loop_condition(self, ev: Evaluator, iter_: ir.Expr, frame: Frame) -> Any:
        """The iterable of a `for`, if it is `a if cond else b` with `cond` undecided: `cond`
        rendered, with the expressions of both sides; None for any other iterable (or a decided
        condition, whose side the evaluator's own rule picks)."""
        e = iter_
        while isinstance(e, ir.Paren):
            e = e.expr
        if not isinstance(e, ir.IfExp):
            return None
        cond = ev.truth(ev.expr(e.cond, frame), e.cond)
        if cond is POISON:
            raise Abort
        if not self.undecided(cond):
            return None
        return self.render(cond), e.then, e.orelse

    def stage_loop(
        self,
        ev: Evaluator,
        target: ir.Target,
        iter_: ir.Expr,
        body: tuple[ir.Stmt, ...],
        span,
        frame: Frame,
        items: list,
    ) -> Any:
        """`for t in ([e] if e != 1 else []) { Layer(t) }` as a stage: the layers of each side,
        each present only on its side (torchvision's `if expand_ratio != 1: layers.append(...)`).
        A side may itself be such a condition."""
        split = self.loop_condition(ev, iter_, frame)
        if split is None:
            made = self.range_stage(ev, target, iter_, body, span, frame, items)
            if made is NotImplemented:
                return self.list_stage(ev, target, iter_, body, span, frame, items)
            return made
        cond, then, orelse = split
        for side, polarity in ((then, True), (orelse, False)):
            made: list[Any] = []
            self.under(
                (cond, polarity),
                frame,
                lambda side=side, made=made: ev.for_layers(target, side, body, span, frame, made),
            )
            items.extend(PresentV(cond, polarity, item, span) for item in made)
        return True

    def range_stage(
        self,
        ev: Evaluator,
        target: ir.Target,
        iter_: ir.Expr,
        body: tuple[ir.Stmt, ...],
        span,
        frame: Frame,
        items: list,
    ) -> Any:
        """`for i in range(n) { ... }` as a stage with `n` a parameter: the body evaluated
        once, with `i` a symbol (see `RangeLoopV`)."""
        e = _range_call(iter_, frame)
        if e is None:
            return NotImplemented
        bounds = tuple(ev.expr(a, frame) for a in e.args)
        if not any(self.undecided(b) for b in bounds):
            return NotImplemented
        if not isinstance(target, ir.NameTarget):
            raise Unsupported("it unpacks the numbers of a `range` of its parameters")
        if any(isinstance(b, Opaque) or (isinstance(b, float)) for b in bounds):
            raise Unsupported("it has a `for` stage over a `range` of values that are not sizes")
        sym = dims.sym(f"loop__{target.id}")
        made: list[Any] = []
        ev.for_layers_over(target, (sym,), iter_, body, span, frame, made)
        items.append(RangeLoopV(target.id, sym, bounds, tuple(made), span))
        return True

    def list_stage(
        self,
        ev: Evaluator,
        target: ir.Target,
        iter_: ir.Expr,
        body: tuple[ir.Stmt, ...],
        span,
        frame: Frame,
        items: list,
    ) -> Any:
        """`for k, c in settings { ... }` as a stage with `settings` a list parameter: the body
        evaluated once, with the loop's names as symbols (see `ListLoopV`)."""
        seq = ev.expr(iter_, frame)
        if not isinstance(seq, Opaque):
            return NotImplemented
        # the items' types, from the lists the uses give: a name that is always an int is a
        # size (a symbol), another an opaque value
        (param,) = seq.params if len(seq.params) == 1 else (None,)
        if param is None or seq.init != param or param not in self.examples:
            raise Unsupported(
                "it has a `for` stage over a list that is only known when the class is built"
            )
        seen: dict[str, list[Any]] = {}

        def collect(t: ir.Target, v: Any) -> None:
            if isinstance(t, ir.NameTarget):
                seen.setdefault(t.id, []).append(v)
            elif isinstance(v, (tuple, list)) and len(v) == len(t.items):
                for x, y in zip(t.items, v):
                    collect(x, y)
            else:
                raise Unsupported(f"the items of its list parameter `{param}` do not unpack")

        for example in self.examples[param]:
            if not isinstance(example, (tuple, list)):
                raise Unsupported(f"a use gives its list parameter `{param}` a value not a list")
            for v in example:
                collect(target, v)
        names: list[tuple[str, Any]] = []

        def symbols(t: ir.Target) -> Any:
            if isinstance(t, ir.NameTarget):
                sym = dims.sym(f"loop__{t.id}")
                values = seen.get(t.id, [])
                if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                    names.append((t.id, sym))
                else:
                    kind = "bool" if values and all(isinstance(v, bool) for v in values) else "any"
                    names.append((t.id, Opaque(Expr.dim(sym), kind, frozenset({str(sym)}))))
                return names[-1][1]
            return tuple(symbols(x) for x in t.items)

        item = symbols(target)
        made: list[Any] = []
        ev.for_layers_over(target, (item,), iter_, body, span, frame, made)
        items.append(ListLoopV(target, tuple(names), seq, tuple(made), span))
        return True

    def apply_list_loop(
        self, ev: Evaluator, loop: ListLoopV, value: Any, frame: Frame, into, label
    ) -> Any:
        """One step of a `for` stage over a list parameter, applied inside a group: its one
        child is appended in a loop of `__init__`; a size the step changes is carried from step
        to step in a local (`channels`), which is the size after the loop."""
        if into is None or label is not None:
            raise Unsupported("it has a `for` stage over a list parameter outside a labelled group")
        if not isinstance(value, TensorV):
            raise Unsupported("its `for` stage over a list parameter takes several values")

        def step(v: TensorV, children: list[ModuleSlot]) -> Any:
            out: Any = v
            for item in loop.items:
                if isinstance(item, GroupV) and is_group(item):
                    out = ev.nested_group(item, out, frame, loop.span, children)
                else:
                    out = ev.apply(item, out, frame, loop.span, into=children)
            if not isinstance(out, TensorV):
                raise Unsupported("its `for` stage over a list parameter gives several values")
            if len(children) != 1:
                raise Unsupported(
                    "each step of its `for` stage over a list parameter makes "
                    f"{len(children)} layers, not one"
                )
            return out

        children: list[ModuleSlot] = []
        start = len(frame.inst.ops)
        out = step(value, children)
        carries: list[tuple[str, Any, Any, int, int]] = []
        if out.type != value.type:
            if out.type.rank != value.type.rank or out.type.dtype != value.type.dtype:
                raise Unsupported(
                    f"its `for` stage over a list parameter turns {value.type} into {out.type}"
                )
            shape = []
            for d, o in zip(value.type.shape, out.type.shape):
                if d == o:
                    shape.append(d)
                elif _opaque_in(d) or _opaque_in(o):
                    shape.append(dims.opaque_symbol("loop", d, o))
                else:
                    carry = dims.sym(f"carry__{len(self.carries) + 1}")
                    self.carries.append(str(carry))
                    carries.append((str(carry), d, None, len(shape), value.type.rank))
                    shape.append(carry)
            del frame.inst.ops[start:]
            children.clear()
            carried = replace(value, type=TensorT(tuple(shape), value.type.dtype))
            out = step(carried, children)
            after = []
            k = 0
            for d, o in zip(shape, out.type.shape):
                if isinstance(d, Sym) and str(d) in self.carries and k < len(carries):
                    carries[k] = (carries[k][0], carries[k][1], o, *carries[k][3:])
                    k += 1
                    after.append(d)
                elif d == o or _opaque_in(d):
                    after.append(d)
                else:
                    raise Unsupported(
                        "its `for` stage over a list parameter changes sizes that do not carry "
                        "from step to step"
                    )
            joined = TensorT(tuple(after), value.type.dtype)
            if out.op >= start:  # the group's output, if the loop ends it
                frame.inst.ops[out.op] = replace(frame.inst.ops[out.op], out=joined)
            out = TensorV(joined, out.op, out.origin)
        symbols = [
            (n, str(v) if isinstance(v, Sym) else next(iter(v.params))) for n, v in loop.names
        ]
        count = ListLoop(
            loop.target,
            tuple(symbols),
            loop.iterable,
            tuple(carries),
        )
        renew_slots(children, {0: {"repeat": count}}, frame.inst.ops, start)
        into.append(children[0])
        return out

    def apply_range_loop(
        self, ev: Evaluator, loop: RangeLoopV, value: Any, frame: Frame, into, label
    ) -> Any:
        """The layers of one step of a `for` stage over `range` of a parameter, applied inside
        a group: the one child they make is the template of the comprehension."""
        if into is None or label is not None:
            raise Unsupported(
                "it has a `for` stage over `range` of a parameter outside a labelled group"
            )
        if not isinstance(value, TensorV):
            raise Unsupported("its `for` stage over `range` of a parameter takes several values")
        children: list[ModuleSlot] = []
        start = len(frame.inst.ops)
        out: Any = value
        for item in loop.items:
            if isinstance(item, GroupV) and is_group(item):
                out = ev.nested_group(item, out, frame, loop.span, children)
            else:
                out = ev.apply(item, out, frame, loop.span, into=children)
        if len(children) != 1:
            raise Unsupported(
                "each step of its `for` stage over `range` of a parameter makes "
                f"{len(children)} layers, not one"
            )
        if not isinstance(out, TensorV):
            raise Unsupported("its `for` stage over `range` of a parameter gives several values")
        self.step_carries = ()
        if out.type != value.type:
            out = self.carried_loop(ev, loop, value, out, frame, children, start)
        count = LoopCount(loop.var, str(loop.sym), loop.bounds, self.step_carries)
        renew_slots(children, {0: {"repeat": count}}, frame.inst.ops, start)
        into.append(children[0])
        return out

    def carried_loop(
        self,
        ev: Evaluator,
        loop: RangeLoopV,
        value: TensorV,
        out: TensorV,
        frame: Frame,
        children: list[ModuleSlot],
        start: int,
    ) -> TensorV:
        """A step that changes sizes (`in_channels` into `out`): the first step takes the
        loop's input, the others the previous step's output, so the step is made again with
        the input `in_channels if i == 0 else out` (as hand-written loops carry
        `input_channel = output_channel`).  That holds when the step's output does not depend
        on the sizes it changes; after the loop the value is the steps' output if there is a
        step, the input otherwise."""
        first_i = loop.bounds[0] if len(loop.bounds) == 2 else 0
        stop = loop.bounds[-1]
        var = self.render(loop.sym)
        first = _operation(
            [_arg(var, Prec.ARITH), " == ", _arg(self.render(first_i), Prec.ARITH)],
            "bool",
            Prec.CMP,
        )
        # the step before: its output with `i - 1` for `i` (a size made from `i`)
        before = {str(loop.sym): loop.sym - 1}
        previous = TensorT(
            tuple(
                dims.substitute(d, before) if isinstance(d, Sym) and not _opaque_in(d) else d
                for d in out.type.shape
            ),
            out.type.dtype,
        )
        carried = self.join_under(first, value.type, previous)
        del frame.inst.ops[start:]
        children.clear()
        again: Any = replace(value, type=carried)
        for item in loop.items:
            if isinstance(item, GroupV) and is_group(item):
                again = ev.nested_group(item, again, frame, loop.span, children)
            else:
                again = ev.apply(item, again, frame, loop.span, into=children)
        if not isinstance(again, TensorV) or again.type != out.type:
            del frame.inst.ops[start:]
            children.clear()
            return self.accumulated_loop(ev, loop, value, out, frame, children, start)
        some = _operation(
            [_arg(self.render(stop), Prec.ARITH), " > ", _arg(self.render(first_i), Prec.ARITH)],
            "bool",
            Prec.CMP,
        )
        last = {str(loop.sym): stop - 1}  # the last step's output
        final = TensorT(
            tuple(
                dims.substitute(d, last) if isinstance(d, Sym) and not _opaque_in(d) else d
                for d in out.type.shape
            ),
            out.type.dtype,
        )
        joined = self.join_under(some, final, value.type)
        if again.op >= start:  # the group's output, if the loop ends it
            frame.inst.ops[again.op] = replace(frame.inst.ops[again.op], out=joined)
        return TensorV(joined, again.op, again.origin)

    def loop_step(
        self, ev: Evaluator, loop: RangeLoopV, value: TensorV, frame: Frame, children: list
    ) -> Any:
        """The layers of one step of `loop` applied to `value` inside a group."""
        out: Any = value
        for item in loop.items:
            if isinstance(item, GroupV) and is_group(item):
                out = ev.nested_group(item, out, frame, loop.span, children)
            else:
                out = ev.apply(item, out, frame, loop.span, into=children)
        return out

    def step_sizes(
        self, ev: Evaluator, value: TensorT, out: TensorT, step
    ) -> tuple[dict[int, tuple[str, Any]], Any]:
        """How a loop's step changes each size that `value` → `out` changes, learnt from the
        step made on an input whose changing sizes are fresh symbols (`carry__1`): by a fixed
        amount (`"add"`, as DenseNet's `num_features + i * growth_rate`), to a value that does
        not read it (`"set"`, RegNet's `width_in if i == 0 else width_out`), or otherwise
        (`"loose"`: the size is unknown, which is fine while no layer is sized by it, as
        torchvision's constructors never take the spatial sizes).  `step(t)` makes the step on
        an input of type `t` (its modules and steps are dropped afterwards); returns the kind
        of each changing size with its amount (or set value), and the probe's output."""
        if out.rank != value.rank or out.dtype != value.dtype:
            raise Unsupported(f"a step of its loop turns {value} into {out}")
        probe_shape = list(value.shape)
        carries: dict[int, str] = {}
        for k, (d, o) in enumerate(zip(value.shape, out.shape)):
            if d != o:
                name = f"carry__{len(self.carries) + 1}"
                self.carries.append(name)
                carries[k] = name
                probe_shape[k] = dims.sym(name)
        probed = step(TensorT(tuple(probe_shape), value.dtype))
        if not isinstance(probed, TensorV) or probed.type.rank != value.rank:
            raise Unsupported("a step of its loop gives several values")
        kinds: dict[int, tuple[str, Any]] = {}
        names = set(carries.values())
        for k, o in enumerate(probed.type.shape):
            if k not in carries:
                if o != value.shape[k]:
                    raise Unsupported(
                        f"a step of its loop turns {value} into {out}, changing a size only "
                        "when others change"
                    )
                continue
            delta = o - dims.sym(carries[k]) if isinstance(o, (int, Sym)) else None
            if not _opaque_in(o) and delta is not None and not self.reads(delta, names):
                kinds[k] = ("add", delta)
            elif not self.reads(o, names) and not _opaque_in(o):
                kinds[k] = ("set", o)
            elif (
                not self.nested
                and not _opaque_in(o)
                and not self.reads(o, names - {carries[k]})
                and self.opaque_quotients.writable(o)
            ):
                # read from the size before (`widths[i] if depths[i] > 0 else <it>`): carried
                # in a local of `__init__`, not written from `i`
                kinds[k] = ("carry", (dims.sym(carries[k]), o))
            else:
                loose = dims.opaque_symbol("loop", value.shape[k], out.shape[k])
                kinds[k] = ("loose", loose)
                self.loose.setdefault(
                    _symbols_of(loose)[0],
                    f"its `for` stage over `range` of a parameter carries size {k} of its "
                    "input from step to step, each step's depending on the one before other "
                    "than by a fixed amount, which a comprehension cannot write",
                )
        return kinds, probed

    def reads(self, d: Any, names: set[str]) -> bool:
        """`d` depends on one of the symbols `names`, also through the values computed from
        them, the joins and the quotients it reads."""
        seen: set[str] = set()
        todo = list(dims.free_symbols(d)) if isinstance(d, Sym) else []
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            if n in names:
                return True
            more: list[Any] = []
            if n in self.computed:
                todo.extend(self.computed[n].params)
            if n in self.joins:
                more += self.joins[n][1:]
            if n in self.opaque_quotients.parts:
                more += self.opaque_quotients.parts[n][1:]
            for m in more:
                if isinstance(m, Sym):
                    todo.extend(dims.free_symbols(m))
        return False

    def accumulated_loop(
        self,
        ev: Evaluator,
        loop: RangeLoopV,
        value: TensorV,
        out: TensorV,
        frame: Frame,
        children: list[ModuleSlot],
        start: int,
    ) -> TensorV:
        """A step whose output depends on the sizes it changes (DenseNet's block adds
        `growth_rate` channels to its input's; RegNet's halves the spatial sizes on its first
        step): the size step `i` takes is written from the loop's input and `i`
        (`in_channels + i * growth_rate`) where each step adds a fixed amount, is the previous
        step's output where that does not read it, and is unknown otherwise (see
        `step_sizes`)."""

        def step(t: TensorT) -> Any:
            made: list[ModuleSlot] = []
            n = len(frame.inst.ops)
            try:
                return self.loop_step(ev, loop, replace(value, type=t), frame, made)
            finally:
                del frame.inst.ops[n:]

        kinds, _ = self.step_sizes(ev, value.type, out.type, step)
        first_i = loop.bounds[0] if len(loop.bounds) == 2 else 0
        stop = loop.bounds[-1]
        i = loop.sym - first_i
        first = _operation(
            [
                _arg(self.render(loop.sym), Prec.ARITH),
                " == ",
                _arg(self.render(first_i), Prec.ARITH),
            ],
            "bool",
            Prec.CMP,
        )
        ins, previous, after = list(value.type.shape), list(value.type.shape), []
        for k, d in enumerate(value.type.shape):
            kind, v = kinds.get(k, ("same", d))
            if kind == "add":
                ins[k] = previous[k] = d + i * v
            elif kind == "set":
                previous[k] = dims.substitute(v, {str(loop.sym): loop.sym - 1})
            elif kind == "carry":
                ins[k] = previous[k] = v[0]
            elif kind == "loose":
                ins[k] = previous[k] = v
        carried = self.join_under(
            first, TensorT(tuple(ins), value.type.dtype), TensorT(tuple(previous), value.type.dtype)
        )
        again = self.loop_step(ev, loop, replace(value, type=carried), frame, children)
        if len(children) != 1 or not isinstance(again, TensorV):
            raise Unsupported("a step of its loop changes with the sizes it is given")
        some = None
        carried_sizes: list[tuple[str, Any, Any, int, int]] = []
        for k, (d, a) in enumerate(zip(value.type.shape, again.type.shape)):
            kind, v = kinds.get(k, ("same", d))
            if kind == "same":
                ok = a == d
                after.append(d)
            elif kind == "add":
                ok = a == carried.shape[k] + v
                after.append(d + (stop - first_i) * v)
            elif kind == "set":
                ok = a == v
                if some is None:
                    some = _operation(
                        [
                            _arg(self.render(stop), Prec.ARITH),
                            " > ",
                            _arg(self.render(first_i), Prec.ARITH),
                        ],
                        "bool",
                        Prec.CMP,
                    )
                last = dims.substitute(v, {str(loop.sym): stop - 1})
                after.append(self.join_under(some, _one(last), _one(d)).shape[0])
            elif kind == "carry":
                ok = a == v[1]
                after.append(v[0])  # the local after the loop
                carried_sizes.append((str(v[0]), d, v[1], k, value.type.rank))
            else:
                ok = True
                after.append(v)
            if not ok:
                raise Unsupported(
                    "its `for` stage over `range` of a parameter turns "
                    f"{value.type} into {out.type}, and a step's output depends on the sizes "
                    "it changes, so the steps cannot all be made alike"
                )
        joined = TensorT(tuple(after), value.type.dtype)
        if again.op >= start:  # the group's output, if the loop ends it
            frame.inst.ops[again.op] = replace(frame.inst.ops[again.op], out=joined)
        self.step_carries = tuple(carried_sizes)
        return TensorV(joined, again.op, again.origin)

    def conditional_loop(self, ev: Evaluator, stmt: ir.For, iter_: ir.Expr, frame: Frame) -> Any:
        """A `for` statement over `a if cond else b` with `cond` undecided: its body runs on
        each side of an `if`; afterwards a name (or the current value) that the sides leave
        different tensors is their merge, as after `a if cond else b`."""
        split = self.loop_condition(ev, iter_, frame)
        if split is None:
            return self.range_statement(ev, stmt, iter_, frame)
        cond, then, orelse = split
        before = _FrameState.take(frame)
        states: list[_FrameState] = []
        for side, polarity in ((then, True), (orelse, False)):
            before.restore(frame)
            self.under(
                (cond, polarity), frame, lambda side=side: self.loop_side(ev, stmt, side, frame)
            )
            states.append(_FrameState.take(frame))
        self.merge_states(ev, stmt, cond, before, states[0], states[1], frame)
        return True

    def range_statement(self, ev: Evaluator, stmt: ir.For, iter_: ir.Expr, frame: Frame) -> Any:
        """`for i in range(n) { x = cat([x, x -> layer{i + 1}: Layer(g)], dim=1) }` with `n` a
        parameter (see `StatementLoop`): the body evaluated with `i` a symbol; a tensor it
        rebinds is carried from step to step, its sizes as `accumulated_loop` writes them
        (`in_channels + i * growth_rate` where each step adds `growth_rate`)."""
        e = _range_call(iter_, frame)
        if e is None:
            return NotImplemented
        bounds = tuple(ev.expr(a, frame) for a in e.args)
        if not any(isinstance(b, Sym) for b in bounds) or not all(
            isinstance(b, (int, Sym)) and not isinstance(b, bool) for b in bounds
        ):
            return NotImplemented
        if not isinstance(stmt.target, ir.NameTarget):
            raise Unsupported("it unpacks the numbers of a `range` of its parameters")
        if frame.inst.decl is not self.top or self.when or frame.in_loop:
            raise Unsupported(
                "it has a `for` loop over `range` of a parameter inside a condition or a loop"
            )
        sym = dims.sym(f"loop__{stmt.target.id}")
        inst = frame.inst
        before = _FrameState.take(frame)
        n_ops, n_mods = len(inst.ops), len(inst.modules)
        names, taken = dict(inst.names), set(frame.taken)

        def run(types: dict[str, TensorT]) -> _FrameState:
            del inst.ops[n_ops:], inst.modules[n_mods:]
            inst.names.clear()
            inst.names.update(names)
            frame.taken = set(taken)
            before.restore(frame)
            for name, t in types.items():
                frame.vars[name] = replace(frame.vars[name], type=t)
            ev.for_over(stmt, (sym,), frame)
            return _FrameState.take(frame)

        first = run({})
        carried: list[str] = []
        for name, old in before.vars.items():
            new = first.vars.get(name)
            if name == stmt.target.id or _same(old, new):
                continue
            if not (isinstance(old, TensorV) and isinstance(new, TensorV)):
                raise Unsupported(
                    f"its `for` loop over `range` of a parameter changes `{name}`, not a tensor"
                )
            carried.append(name)
        changing = [n for n in carried if first.vars[n].type != before.vars[n].type]
        if len(changing) > 1:
            raise Unsupported(
                "its `for` loop over `range` of a parameter changes the sizes of several tensors"
            )
        loop = RangeLoopV(stmt.target.id, sym, bounds, (), stmt.span)
        types: dict[str, TensorT] = {}
        expected: dict[str, tuple[TensorT, TensorT]] = {}
        if changing:
            (name,) = changing
            value, out = before.vars[name], first.vars[name]

            def step(t: TensorT) -> Any:
                return run({name: t}).vars[name]

            kinds, _ = self.step_sizes(ev, value.type, out.type, step)
            carried_type, check, after = self.step_types(loop, value.type, kinds)
            types[name] = carried_type
            expected[name] = (check, after)
        final = run(types)
        for name, (check, _) in expected.items():
            got = final.vars[name]
            if not isinstance(got, TensorV) or not _fits(got.type, check):
                raise Unsupported(
                    "its `for` loop over `range` of a parameter turns "
                    f"{before.vars[name].type} into {first.vars[name].type}, and a step's output "
                    "depends on the sizes it changes, so the steps cannot all be made alike"
                )
        if len(inst.modules) != n_mods + 1:
            raise Unsupported(
                "each step of its `for` loop over `range` of a parameter makes "
                f"{len(inst.modules) - n_mods} modules, not one"
            )
        pairs = []
        for name in carried:
            old, new = before.vars[name], final.vars[name]
            pairs.append((_key_of(old), new.op))
            if name in expected:
                final.vars[name] = TensorV(expected[name][1], new.op, new.origin)
        # after the loop: the names bound before it, the carried ones with their last value
        frame.vars = {n: v for n, v in final.vars.items() if n in before.vars}
        frame.kinds = {n: k for n, k in final.kinds.items() if n in before.vars}
        frame.bound_at = {n: k for n, k in final.bound_at.items() if n in before.vars}
        if stmt.target.id in before.vars:
            frame.vars[stmt.target.id] = before.vars[stmt.target.id]
        frame.cur, frame.cur_set = final.cur, final.cur_set
        if final.cur_set and not _same(final.cur, before.cur):
            match = next((n for n in carried if _same(final.cur, final.vars[n])), None)
            if match is None:
                raise Unsupported(
                    "the value its `for` loop over `range` of a parameter leaves is not a name it "
                    "carries from step to step"
                )
            frame.cur = frame.vars[match]
        self.statement_loops.append(
            StatementLoop(
                stmt.target.id,
                str(sym),
                bounds,
                n_ops,
                len(inst.ops),
                n_mods,
                tuple(pairs),
            )
        )
        return True

    def step_types(
        self, loop: RangeLoopV, value: TensorT, kinds: dict[int, tuple[str, Any]]
    ) -> tuple[TensorT, TensorT, TensorT]:
        """For a loop whose steps change sizes as `kinds` says: the type step `i` takes, the
        type it gives, and the type after the loop."""
        first_i = loop.bounds[0] if len(loop.bounds) == 2 else 0
        stop = loop.bounds[-1]
        i = loop.sym - first_i
        ins, gives, after = [], [], []
        for k, d in enumerate(value.shape):
            kind, v = kinds.get(k, ("same", d))
            if kind == "add":
                ins.append(d + i * v)
                gives.append(d + i * v + v)
                after.append(d + (stop - first_i) * v)
            elif kind == "same":
                ins.append(d)
                gives.append(d)
                after.append(d)
            elif kind == "loose":
                ins.append(v)
                gives.append(None)
                after.append(v)
            else:
                raise Unsupported(
                    "its `for` loop over `range` of a parameter sets a size that it reads"
                )
        return (
            TensorT(tuple(ins), value.dtype),
            TensorT(tuple(gives), value.dtype),
            TensorT(tuple(after), value.dtype),
        )

    def loop_side(self, ev: Evaluator, stmt: ir.For, iter_: ir.Expr, frame: Frame) -> None:
        if self.conditional_loop(ev, stmt, iter_, frame) is not NotImplemented:
            return
        seq = ev.expr(iter_, frame)
        if self.undecided(seq):
            raise Unsupported(
                "it has a `for` loop over a list that is only known when the class is built"
            )
        ev.for_over(stmt, seq, frame)

    def merge_states(
        self,
        ev: Evaluator,
        stmt: ir.For,
        cond: Opaque,
        before: _FrameState,
        then: _FrameState,
        orelse: _FrameState,
        frame: Frame,
    ) -> None:
        """The frame after both sides of a loop over a condition (see `conditional_loop`)."""
        loop_names = _target_names(stmt.target)
        missing = object()
        then.restore(frame)
        for name in list(then.vars) + [n for n in orelse.vars if n not in then.vars]:
            a, b = then.vars.get(name, missing), orelse.vars.get(name, missing)
            if _same(a, b):
                continue
            if name in loop_names:  # the loop's own variable: as before the loop, if bound
                old = before.vars.get(name, missing)
                if old is missing:
                    frame.vars.pop(name, None)
                else:
                    frame.vars[name] = old
                    frame.kinds[name] = before.kinds.get(name, "value")
                continue
            if isinstance(a, TensorV) and isinstance(b, TensorV):
                merged = self.merge_values(ev, cond, a, b, stmt.span, frame)
                ev.bind(frame, name, merged, stmt.span, then.kinds.get(name, "value"))
                continue
            raise Unsupported(
                f"its `for` loop over a condition leaves `{name}` a different value on each "
                "side of the condition"
            )
        if _same(then.cur, orelse.cur):
            return
        if isinstance(then.cur, TensorV) and isinstance(orelse.cur, TensorV):
            frame.cur = self.merge_values(ev, cond, then.cur, orelse.cur, stmt.span, frame)
            frame.cur_set = True
            return
        raise Unsupported(
            "its `for` loop over a condition leaves a different value on each side of the condition"
        )

    def merge_values(
        self, ev: Evaluator, cond: Opaque, then: TensorV, orelse: TensorV, span, frame: Frame
    ) -> TensorV:
        key = (cond.init, then.op, then.path, orelse.op, orelse.path)
        if key in self.merges:  # a name and the current value, left the same by both sides
            return self.merges[key]
        self.merges[key] = self.make_merge(ev, cond, then, orelse, span, frame)
        return self.merges[key]

    def make_merge(
        self, ev: Evaluator, cond: Opaque, then: TensorV, orelse: TensorV, span, frame: Frame
    ) -> TensorV:
        joined = self.join_under(cond, then.type, orelse.type)
        op = ev.emit(
            frame, Op(OpKind.MERGE, cond, (then, orelse), (), joined, span, when=self.when)
        )
        return TensorV(joined, op, then.origin)

    def join_under(self, cond: Opaque, then: TensorT, orelse: TensorT) -> TensorT:
        """The type of a value that is `then` where `cond` holds and `orelse` elsewhere: a size
        that differs is the value `a if cond else b`, computed in `__init__` (the in-channels
        of the layer after an optional expansion; torchvision's ShuffleNet's `inp if stride > 1
        else branch_features`), or unknown where a side is not expressible.  A side that is
        itself a join on `cond` is the size that side decides, not a nested `if`."""
        if then.rank != orelse.rank or then.dtype != orelse.dtype:
            raise Unsupported(
                f"a layer that exists only under a condition changes its input {orelse} into "
                f"{then}, of another rank or type"
            )
        out = []
        test = self.size_tests.get(cond.init)
        for a, b in zip(then.shape, orelse.shape):
            if a == b:
                out.append(a)
            elif test is not None and _same_pair(test[0], test[1], a, b):
                # `a if a != b else b` is `a`, `a if a == b else b` is `b`
                out.append(b if test[2] else a)
            elif not (self.opaque_quotients.writable(a) and self.opaque_quotients.writable(b)):
                # an unknown size on a side (a quotient or remainder of known ones is written)
                joined = dims.opaque_symbol("join", a, b)
                why = [self.loose[n] for n in _symbols_of(a, b) if n in self.loose]
                if why:  # unknown because a loop carries it: why
                    self.loose.setdefault(_symbols_of(joined)[0], why[0])
                out.append(joined)
            else:
                a, b = self.side_of(a, cond, True), self.side_of(b, cond, False)
                if a == b:
                    out.append(a)
                    continue
                x, y = self.render(a), self.render(b)
                value = _operation(
                    [_arg(x, Prec.AND), " if ", cond, " else ", _arg(y, Prec.AND)], "any", Prec.OR
                )
                joined = self.computed_sym(value)
                self.joins[str(joined)] = (cond.init, a, b)
                out.append(joined)
        return TensorT(tuple(out), then.dtype)

    def side_of(self, d: Any, cond: Opaque, polarity: bool) -> Any:
        """A size where `cond` is known to be `polarity`: a join on `cond` is its side."""
        join = self.joins.get(str(d)) if isinstance(d, Sym) else None
        while join is not None and join[0] == cond.init:
            d = join[1] if polarity else join[2]
            join = self.joins.get(str(d)) if isinstance(d, Sym) else None
        return d

    def on_side(self, value: Any, cond: Opaque, polarity: bool) -> Any:
        """`value` as seen on one side of `cond`: its sizes that are joins on `cond` resolved."""
        if not isinstance(value, TensorV):
            return value
        shape = tuple(self.side_of(d, cond, polarity) for d in value.type.shape)
        if shape == value.type.shape:
            return value
        return replace(value, type=TensorT(shape, value.type.dtype))

    def apply_present(
        self, ev: Evaluator, present: PresentV, value: Any, frame: Frame, span, into, label
    ) -> Any:
        """A layer of a `for` stage over a condition, applied: its modules and steps exist on
        its side only; the value after it is the merge of its output and `value`."""
        if label is not None:
            raise Unsupported("a label names a layer that exists only under a condition")
        if not isinstance(value, TensorV):
            raise Unsupported("a layer that exists only under a condition takes several values")
        when = (present.cond, present.polarity)
        if into is not None:
            start = len(frame.inst.ops)
            out = self.side_in_group(ev, when, present.item, value, frame, present.span, into)
            then, orelse = (out, value) if present.polarity else (value, out)
            return self.joined_in_group(present.cond, then, orelse, out, frame, start)
        seen = self.on_side(value, *when)
        out = self.under(when, frame, lambda: ev.apply(present.item, seen, frame, present.span))
        if not isinstance(out, TensorV):
            raise Unsupported("a layer that exists only under a condition gives several values")
        then, orelse = (out, value) if present.polarity else (value, out)
        return self.merge_values(ev, present.cond, then, orelse, present.span, frame)

    def side_in_group(
        self,
        ev: Evaluator,
        when: tuple[Opaque, bool],
        item: Any,
        value: Any,
        frame: Frame,
        span,
        into,
    ) -> Any:
        """`item` applied inside a group on one side of a condition: the children it adds
        exist on that side only."""
        start, n_into = len(frame.inst.ops), len(into)
        value = self.on_side(value, *when)

        def run() -> Any:
            if isinstance(item, GroupV) and is_group(item):
                return ev.nested_group(item, value, frame, span, into)
            return ev.apply(item, value, frame, span, into=into)

        out = self.under(when, frame, run)
        full = self.when + (when,)
        renew_slots(
            into,
            {i: {"when": full} for i in range(n_into, len(into)) if into[i].when is None},
            frame.inst.ops,
            start,
        )
        if not isinstance(out, TensorV):
            raise Unsupported("a layer that exists only under a condition gives several values")
        return out

    def joined_in_group(
        self, cond: Opaque, then: TensorV, orelse: TensorV, last: TensorV, frame: Frame, start: int
    ) -> TensorV:
        """The value after a side of a condition inside a group, `last` its last output: the
        nn.Sequential is called as a whole, so there is no step to merge at; the last step
        gives the joined type."""
        joined = self.join_under(cond, then.type, orelse.type)
        if joined != last.type and last.op >= start:  # a step of the side
            frame.inst.ops[last.op] = replace(frame.inst.ops[last.op], out=joined)
        return TensorV(joined, last.op, last.origin)

    def choice_in_group(
        self, ev: Evaluator, choice: CondLayerV, value: Any, frame: Frame, into: list
    ) -> Any:
        """`(Hardswish() if act == "HS" else ReLU())` inside a group: both layers are children,
        each existing on its side (`nn.Hardswish() if act == "HS" else nn.ReLU()`)."""
        if not isinstance(value, TensorV):
            raise Unsupported("a layer chosen by a condition takes several values")
        start = len(frame.inst.ops)
        then = self.side_in_group(
            ev, (choice.cond, True), choice.then, value, frame, choice.span, into
        )
        orelse = self.side_in_group(
            ev, (choice.cond, False), choice.orelse, value, frame, choice.span, into
        )
        return self.joined_in_group(choice.cond, then, orelse, orelse, frame, start)

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
        if (
            name == "range"
            and not kwargs
            and 1 <= len(args) <= 2
            and any(isinstance(a, Sym) for a in args)
            and all(isinstance(a, (int, Sym)) and not isinstance(a, bool) for a in args)
        ):
            # `for i in range(num_layers)` as a statement: see `range_statement`
            parts: list[str | Opaque] = ["range("]
            for k, a in enumerate(args):
                parts += [", "] * (k > 0) + [self.render(a)]
            return _operation([*parts, ")"], "range", Prec.ATOM)
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
        domain = SymbolicDomain(decl, self.computed, self.opaque_quotients)
        domain.definitions = self.definitions  # shared, as `computed` is
        domain.loose = self.loose
        domain.nested = True
        nested = Evaluator(ev.program, ev.symbols, domain)
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
_LOOP_NAME = re.compile(r"\bloop__(\w+)\b")  # a loop's variable (`loop__i`: `i`)
_CARRIED = re.compile(r"\bcarry__\d+\b")


def readable(text: str) -> str:
    """A reason this evaluation gives (a checker message about its symbols) in the spec's
    words: an input's size symbol (`x__1`) as `x.shape[1]`, a value computed from parameters
    as such, an unknown size as `?`."""
    text = _LOOP_NAME.sub(lambda m: m.group(1), text)
    text = _CARRIED.sub("a size carried from step to step", text)
    text = _COMPUTED.sub("a value computed from the parameters", text)  # not `c.shape[6]`
    text = _NEUTRAL.sub(lambda m: f"{m.group(1)}.shape[{m.group(2)}]", text)
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


def _int_tuple(t: ir.TypeRef) -> bool:
    """`tuple[int, int, int]`: a tuple of a fixed number of sizes."""
    return (
        t.name == "tuple"
        and not t.variadic
        and bool(t.args)
        and all(a.name == "int" and not a.args for a in t.args)
    )


def _size_tuples(a: Any, b: Any) -> bool:
    """`a` and `b` are tuples of as many sizes (numbers or symbols)."""
    return (
        isinstance(a, tuple)
        and isinstance(b, tuple)
        and len(a) == len(b) > 0
        and all(isinstance(v, (int, Sym)) and not isinstance(v, bool) for v in (*a, *b))
    )


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


def _same_pair(left: Any, right: Any, a: Any, b: Any) -> bool:
    """`{left, right}` and `{a, b}` are the same two sizes."""
    return (dims.equal(left, a) is True and dims.equal(right, b) is True) or (
        dims.equal(left, b) is True and dims.equal(right, a) is True
    )


def _target_names(t: ir.Target) -> set[str]:
    if isinstance(t, ir.NameTarget):
        return {t.id}
    return set().union(*(_target_names(x) for x in t.items))


def _same(a: Any, b: Any) -> bool:
    """The same compile-time value (a tensor: the same step's output)."""
    if a is b:
        return True
    if isinstance(a, TensorV) or isinstance(b, TensorV):
        return (
            isinstance(a, TensorV) and isinstance(b, TensorV) and (a.op, a.path) == (b.op, b.path)
        )
    if type(a) is not type(b) or is_layer(a):
        return False
    try:
        return bool(a == b)
    except Exception:
        return False


def _symbols_of(*sizes: Any) -> list[str]:
    return sorted(set().union(*(dims.free_symbols(d) for d in sizes if isinstance(d, Sym))))


def _fits(t: TensorT, want: TensorT) -> bool:
    """`t` is `want`, a size of `want` that is None being any size."""
    return (
        t.rank == want.rank
        and t.dtype == want.dtype
        and all(w is None or a == w for a, w in zip(t.shape, want.shape))
    )


def _key_of(v: TensorV) -> tuple:
    return ("in", v.input_index) if v.op < 0 else (v.op, v.path)


def _one(d: Any) -> TensorT:
    """A rank-1 type of size `d` (to join one size with `join_under`)."""
    return TensorT((d,), "float32")


def _opaque_in(d) -> bool:
    return any(dims.is_opaque_symbol(n) for n in dims.free_symbols(d))


def generic_instance(
    program: Program,
    symbols: Symbols,
    decl: ir.BlockDecl,
    input_types: list[TensorT] | None,
    examples: dict[str, list[Any]] | None = None,
) -> tuple[BlockInstance, SymbolicDomain, list]:
    """Evaluate `decl` with symbolic parameters (int parameters as dimension symbols, others as
    opaque values) and the given symbolic input types.  `examples`: the values the uses give
    each parameter (what a loop over a list parameter learns its items' types from).  Raises
    Unsupported."""
    domain = SymbolicDomain(decl)
    domain.examples = examples or {}
    ev = Evaluator(program, symbols, domain)
    params: dict[str, Any] = {}
    for p in decl.params:
        if p.type is None or p.type.name == "int":
            params[p.name] = dims.sym(p.name)
        elif _int_tuple(p.type):
            # `k: tuple[int, int, int]`: a tuple of sizes `k[0]`, `k[1]`, `k[2]` (what a
            # layer's `kernel_size` and the shapes it gives read)
            whole = Opaque(Expr.dim(dims.sym(p.name)), "any", frozenset({p.name}), p.type)
            params[p.name] = tuple(
                domain.computed_sym(
                    _operation([_arg(whole, Prec.ATOM), f"[{i}]"], "any", Prec.ATOM)
                )
                for i in range(len(p.type.args))
            )
            domain.tuples[tuple(map(str, params[p.name]))] = whole
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


def _range_call(iter_: ir.Expr, frame: Frame) -> ir.Call | None:
    """`iter_` as a call of the built-in `range` with one or two positional bounds (brackets
    around it allowed), or None."""
    e = iter_
    while isinstance(e, ir.Paren):
        e = e.expr
    if (
        isinstance(e, ir.Call)
        and isinstance(e.func, ir.Name)
        and e.func.id == "range"
        and e.func.id not in frame.vars
        and not e.kwargs
        and 1 <= len(e.args) <= 2
    ):
        return e
    return None
