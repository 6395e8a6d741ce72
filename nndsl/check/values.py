"""The checker's values: what expressions evaluate to at compile time.

Besides Python's numbers, strings, tuples and `None`, and sizes (`int` or `dims.Sym`): tensors
(`TensorV`, nndsl/check/graph.py), unapplied layers (`LayerRef`, `GroupV`, `RepeatV`,
`LabeledV`), and `POISON`, the value of an expression that already produced an error, which
every later operation passes on silently so that one mistake is reported once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nndsl import dims, ir
from nndsl.catalog.core import (
    FUNCTIONS,
    DType,
    LayerValue,
    ScalarT,
    TensorT,
    describe,
)
from nndsl.catalog.functions import CAST_DTYPES
from nndsl.check.graph import (
    Origin,
    SliceV,
    TensorV,
)
from nndsl.dims import Dim, Sym
from nndsl.errors import Span
from nndsl.records import dataclass


class Poison:
    """The value of an expression that already produced an error."""

    def __repr__(self) -> str:
        return "POISON"


POISON = Poison()


class Abort(Exception):
    """Stop evaluating the current statement (its error is already reported)."""


# ---------------------------------------------------------------------------------------------
# Unapplied layers: what `Conv2d(16, 3)`, `relu`, `(A -> B)`, `A * 3`, `name: A` evaluate to
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LayerRef:
    kind: str  # "torch" | "block" | "py" | "function"
    name: str
    node: ir.Expr  # the Name or Call that wrote it (keys its module name)
    span: Span
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    arg_spans: tuple[Span, ...] = ()
    kwarg_spans: tuple[tuple[str, Span], ...] = ()

    @property
    def is_function(self) -> bool:
        return self.kind == "function"


@dataclass(frozen=True, eq=False)
class GroupV:
    items: tuple[Any, ...]
    node: ir.Expr
    span: Span


@dataclass(frozen=True, eq=False)
class RepeatV:
    item: Any
    count: int
    node: ir.Expr
    span: Span


@dataclass(frozen=True, eq=False)
class LabeledV:
    label: str
    item: Any
    node: ir.Labeled
    span: Span


LAYER_TYPES = (LayerRef, GroupV, RepeatV, LabeledV)


def is_layer(v: Any) -> bool:
    return isinstance(v, LAYER_TYPES) or getattr(v, "is_layer_value", False)


def contains_tensor(v: Any) -> bool:
    if isinstance(v, TensorV):
        return True
    if isinstance(v, (tuple, list)):
        return any(contains_tensor(x) for x in v)
    return False


def fmt_value(v: Any) -> str:
    if isinstance(v, TensorV):
        return str(v.type)
    if isinstance(v, (int, Sym)) and not isinstance(v, bool):
        return dims.format_dim(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(fmt_value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return describe(v)


def is_group(v: GroupV) -> bool:
    """A group written in brackets or as `Sequential(...)` (not a chain or a `for` stage)."""
    return isinstance(v.node, (ir.Paren, ir.Call))


def leaves(v: Any) -> Iterator[Any]:
    """The non-container values of a compile-time value (items of tuples and lists)."""
    if isinstance(v, (tuple, list)):
        for x in v:
            yield from leaves(x)
    else:
        yield v


def runtime_symbols(v: Any) -> frozenset[str]:
    """The size symbols in a constructor argument (layers given as arguments included)."""
    if isinstance(v, Sym):
        return dims.free_symbols(v)
    if isinstance(v, (tuple, list)):
        return frozenset().union(*(runtime_symbols(x) for x in v))
    if isinstance(v, LayerValue):
        return frozenset().union(*(runtime_symbols(x) for x in v.args.values()))
    return frozenset()


def creates(name: str) -> bool:
    entry = FUNCTIONS.get(name)
    return entry is not None and entry.creates


def dtype_value(v: Any) -> Any:
    """A dtype written as an argument (`dtype=long`) is a `DType`."""
    if isinstance(v, LayerRef) and v.is_function and not v.args and v.name in CAST_DTYPES:
        return DType(CAST_DTYPES[v.name])
    return v


def operand_type(v: Any) -> TensorT:
    """The type of an operand of a tensor operator: a Python number is a `ScalarT`."""
    if isinstance(v, TensorV):
        return v.type
    return ScalarT((), "float32" if isinstance(v, float) else "int64")


def tensor_values(out: Any, op: int, origin: Origin, path: tuple[int, ...] = ()) -> Any:
    if isinstance(out, TensorT):
        return TensorV(out, op, origin, path)
    if isinstance(out, tuple):
        return tuple(tensor_values(o, op, origin, path + (i,)) for i, o in enumerate(out))
    return out


def tensor_types(out: Any) -> Iterator[TensorT]:
    if isinstance(out, TensorT):
        yield out
    elif isinstance(out, (tuple, list)):
        for o in out:
            yield from tensor_types(o)


def static_numel(t: TensorT) -> int:
    """The product of the dimensions of `t` that are known ints (at most its element count)."""
    n = 1
    for d in t.shape:
        if isinstance(d, int) and d > 0:
            n *= d
    return n


def slice_parts(node: ir.Expr) -> tuple[ir.Expr, ir.Expr, ir.Expr]:
    """The start, stop and step nodes of a slice (the slice itself for a missing part)."""
    if isinstance(node, ir.Slice):
        return tuple(p if p is not None else node for p in (node.start, node.stop, node.step))
    return (node, node, node)


def slice_len(size: Dim, s: SliceV, bounds_are_sizes: bool = True) -> Dim:
    """The length of `size[start:stop:step]`.  With a symbolic size, bounds are taken to fall
    inside it (`x[:, 1:-1]` on [B, T] is T - 2).  A symbolic bound is a size of the input in
    the checker (`x[:, :t]`, never negative); in the code generator's evaluation it is a block
    parameter that may be negative at a use (`bounds_are_sizes=False`): the length is then an
    unknown size (which makes that block one class per use)."""
    step = 1 if s.step is None else s.step
    if isinstance(size, int) and all(
        isinstance(v, int) or v is None for v in (s.start, s.stop, step)
    ):
        return len(range(size)[slice(s.start, s.stop, step)])

    def bound(v: Dim | None, default: Dim) -> Dim | None:
        if v is None:
            return default
        if isinstance(v, int):
            return v if v >= 0 else size + v
        return v if bounds_are_sizes else None

    start, stop = bound(s.start, 0), bound(s.stop, size)
    if isinstance(step, int) and step > 0 and start is not None and stop is not None:
        try:
            if step == 1:
                return stop - start
            return dims.floordiv(stop - start + step - 1, step)
        except dims.DimError:
            pass
    parts = ":".join("" if v is None else dims._raw_text(v) for v in (s.start, s.stop, s.step))
    return dims.opaque_symbol(f"slice {parts}", size, 0)


def first_tensor(v: Any) -> TensorV | None:
    if isinstance(v, TensorV):
        return v
    if isinstance(v, (tuple, list)):
        for x in v:
            found = first_tensor(x)
            if found is not None:
                return found
    return None


def free(v: Any) -> frozenset[str]:
    return dims.free_symbols(v) if isinstance(v, Sym) else frozenset()


def type_complaint(value: Any, t: ir.TypeRef) -> tuple[str, str] | None:
    """(expected, got) if `value` does not have the declared parameter type."""
    if value is POISON or getattr(value, "is_opaque", False):
        return None
    ok = _has_type(value, t)
    if ok:
        return None
    return (type_words(t), describe(value))


def _has_type(v: Any, t: ir.TypeRef) -> bool:
    if t.name == "int":
        return isinstance(v, (int, Sym)) and not isinstance(v, bool)
    if t.name == "float":
        return isinstance(v, (int, float, Sym)) and not isinstance(v, bool)
    if t.name == "bool":
        return isinstance(v, bool)
    if t.name == "str":
        return isinstance(v, str)
    if t.name in ("list", "tuple"):
        if not isinstance(v, (list, tuple)):
            return False
        if not t.args:
            return True
        if t.name == "list" or t.variadic:
            return all(_has_type(x, t.args[0]) for x in v)
        return len(v) == len(t.args) and all(_has_type(x, a) for x, a in zip(v, t.args))
    return True


def has_poison(v: Any) -> bool:
    if v is POISON:
        return True
    if isinstance(v, (tuple, list)):
        return any(has_poison(x) for x in v)
    return False


def is_within(v: Any, container: Any) -> bool:
    if v is container:
        return True
    if isinstance(container, (tuple, list)):
        return any(is_within(v, c) for c in container)
    return False


def freeze(v: Any) -> Any:
    if isinstance(v, list):
        return ("list", tuple(freeze(x) for x in v))
    if isinstance(v, tuple):
        return tuple(freeze(x) for x in v)
    if isinstance(v, TensorT):
        return ("T", v.shape, v.dtype)
    if isinstance(v, dict):
        return tuple(sorted((k, freeze(x)) for k, x in v.items()))
    if isinstance(v, float):
        return ("f", v)
    if isinstance(v, bool):
        return ("b", v)
    return v


def type_words(t: ir.TypeRef) -> str:
    return {"int": "an int", "float": "a float", "bool": "a bool", "str": "a string"}.get(
        t.name, f"a `{t}`"
    )
