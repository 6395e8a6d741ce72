"""The checker's values: what expressions evaluate to at compile time.

Besides Python's numbers, strings, tuples and `None`, and sizes (`int` or `dims.Sym`): tensors
(`TensorV`, nndsl/check/graph.py), unapplied layers (`LayerRef`, `GroupV`, `RepeatV`,
`LabeledV`), and `POISON`, the value of an expression that already produced an error, which
every later operation passes on silently so that one mistake is reported once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nndsl import dims, ir
from nndsl.catalog.core import describe
from nndsl.check.graph import TensorV
from nndsl.dims import Sym
from nndsl.errors import Span


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
