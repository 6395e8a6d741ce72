"""The IR of a spec: frozen dataclasses, tuples instead of lists, a Span on every node.

The syntax layer builds it; every later pass reads it and never mutates it (results of passes live
in side tables keyed by node identity).  Equality of nodes ignores spans (`compare=False`), so two
parses of differently formatted but equivalent text compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from nndsl.errors import Span

_NO_SPAN = Span("<none>", 0, 0, 0, 0)


def _span() -> Span:
    return field(default=_NO_SPAN, compare=False, repr=False)


_node = dataclass(frozen=True, slots=True, kw_only=True, eq=True)


# --------------------------------------------------------------------------------------------
# Expressions
# --------------------------------------------------------------------------------------------


@_node
class Name:
    id: str
    span: Span = _span()


@_node
class Num:
    """A number literal; `text` keeps the spelling (`3e-3`) for formatting."""

    value: int | float
    text: str
    span: Span = _span()


@_node
class Str:
    value: str
    span: Span = _span()


@_node
class Const:
    """`true`, `false`, `none`."""

    value: bool | None
    span: Span = _span()


@_node
class Ellipsis_:
    span: Span = _span()


@_node
class TupleExpr:
    items: tuple[Expr, ...]
    span: Span = _span()


@_node
class ListExpr:
    items: tuple[Expr, ...]
    span: Span = _span()


@_node
class Paren:
    """Explicit parentheses: `label: (A -> B)` groups a chain into a named nn.Sequential."""

    expr: Expr
    span: Span = _span()


@_node
class BinOp:
    op: str  # + - * / // % @ **
    left: Expr
    right: Expr
    span: Span = _span()


@_node
class UnaryOp:
    op: str  # - + not
    operand: Expr
    span: Span = _span()


@_node
class Compare:
    op: str  # == != < <= > >=
    left: Expr
    right: Expr
    span: Span = _span()


@_node
class BoolOp:
    op: str  # and or
    left: Expr
    right: Expr
    span: Span = _span()


@_node
class IfExp:
    cond: Expr
    then: Expr
    orelse: Expr
    span: Span = _span()


@_node
class Chain:
    """`a -> b -> c`: each stage after the first receives the value of the one before."""

    stages: tuple[Expr, ...]
    span: Span = _span()


@_node
class Labeled:
    """`label: expr`: names the submodule(s) that `expr` creates."""

    label: str
    expr: Expr
    label_span: Span = _span()
    span: Span = _span()


@_node
class Keyword:
    name: str
    value: Expr
    name_span: Span = _span()
    span: Span = _span()


@_node
class Call:
    func: Expr  # Name or Attribute
    args: tuple[Expr, ...]
    kwargs: tuple[Keyword, ...]
    span: Span = _span()


@_node
class Attribute:
    value: Expr
    attr: str
    attr_span: Span = _span()
    span: Span = _span()


@_node
class Slice:
    start: Expr | None
    stop: Expr | None
    step: Expr | None
    span: Span = _span()


@_node
class Index:
    value: Expr
    index: tuple[Expr, ...]  # items may be Slice or Ellipsis_
    span: Span = _span()


Expr = Union[
    Name,
    Num,
    Str,
    Const,
    Ellipsis_,
    TupleExpr,
    ListExpr,
    Paren,
    BinOp,
    UnaryOp,
    Compare,
    BoolOp,
    IfExp,
    Chain,
    Labeled,
    Call,
    Attribute,
    Slice,
    Index,
]


# --------------------------------------------------------------------------------------------
# Statements of a block or model body
# --------------------------------------------------------------------------------------------


@_node
class NameTarget:
    id: str
    span: Span = _span()


@_node
class TupleTarget:
    items: tuple[Target, ...]
    span: Span = _span()


Target = Union[NameTarget, TupleTarget]


@_node
class TensorType:
    """`long[B, T]`: a dtype (None when not written) and symbolic dimensions."""

    dtype: str | None
    dims: tuple[Expr, ...]
    dtype_span: Span | None = field(default=None, compare=False, repr=False)
    span: Span = _span()


@_node
class InputItem:
    name: str
    type: TensorType | None
    span: Span = _span()


@_node
class InputDecl:
    items: tuple[InputItem, ...]
    span: Span = _span()


@_node
class ParamDecl:
    """`param pos: [1, 128, d] = normal(std=0.02)`: an nn.Parameter and its initialiser."""

    name: str
    type: TensorType
    init: Expr | None
    span: Span = _span()


@_node
class Assign:
    target: Target
    value: Expr
    span: Span = _span()


@_node
class ExprStmt:
    value: Expr
    span: Span = _span()


@_node
class For:
    target: Target
    iter: Expr
    body: tuple[Stmt, ...]
    span: Span = _span()


@_node
class Return:
    values: tuple[Expr, ...]
    span: Span = _span()


Stmt = Union[InputDecl, ParamDecl, Assign, ExprStmt, For, Return]


# --------------------------------------------------------------------------------------------
# Top-level declarations
# --------------------------------------------------------------------------------------------


@_node
class TypeRef:
    """A parameter type: `int`, `list[int]`, `tuple[int, int]`, `tuple[int, ...]`."""

    name: str
    args: tuple[TypeRef, ...] = ()
    variadic: bool = False
    span: Span = _span()

    def __str__(self) -> str:
        if not self.args:
            return self.name
        inner = ", ".join(str(a) for a in self.args) + (", ..." if self.variadic else "")
        return f"{self.name}[{inner}]"


@_node
class Param:
    name: str
    type: TypeRef | None
    default: Expr | None
    span: Span = _span()


@_node
class Import:
    """`import "blocks.nn"`."""

    path: str
    span: Span = _span()


@_node
class ImportedName:
    name: str
    alias: str | None
    span: Span = _span()

    @property
    def local(self) -> str:
        return self.alias or self.name


@_node
class PyImport:
    """`from mypkg.layers import SwiGLU`: a Python nn.Module of the user's own code."""

    module: str
    names: tuple[ImportedName, ...]
    span: Span = _span()


@_node
class ConstDecl:
    name: str
    value: Expr
    span: Span = _span()


@_node
class BlockDecl:
    """`block Name(params) { ... }` or `model Name(params) { ... }`."""

    kind: str  # "block" | "model"
    name: str
    params: tuple[Param, ...]
    body: tuple[Stmt, ...]
    name_span: Span = _span()
    span: Span = _span()


@_node
class TrainEntry:
    key: str
    value: Expr
    key_span: Span = _span()
    span: Span = _span()


@_node
class TrainDecl:
    name: str | None
    entries: tuple[TrainEntry, ...]
    span: Span = _span()

    def get(self, key: str) -> TrainEntry | None:
        for e in self.entries:
            if e.key == key:
                return e
        return None


Decl = Union[Import, PyImport, ConstDecl, BlockDecl, TrainDecl]


@_node
class Comment:
    text: str  # including the leading '#'
    span: Span = _span()


@_node
class SourceFile:
    path: str
    decls: tuple[Decl, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    span: Span = _span()


# --------------------------------------------------------------------------------------------
# Generic traversal
# --------------------------------------------------------------------------------------------


def children(node: object) -> list[object]:
    """The direct child nodes of `node`, in source order (tuples flattened)."""
    out: list[object] = []
    for name in node.__dataclass_fields__:  # type: ignore[attr-defined]
        if name.endswith("span"):
            continue
        value = getattr(node, name)
        if isinstance(value, tuple):
            out.extend(v for v in value if hasattr(v, "__dataclass_fields__"))
        elif hasattr(value, "__dataclass_fields__"):
            out.append(value)
    return out


def walk(node: object):
    """Every node below and including `node`, depth first, in source order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))
