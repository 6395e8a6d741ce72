"""Indexing: `x[...]` on tuples, lists and tensors (slices, `None`, `...`, integer tensors and
boolean masks).
"""

from __future__ import annotations

from typing import Any

from nndsl import dims, ir
from nndsl.catalog.core import (
    ShapeError,
    TensorT,
    broadcast,
    describe,
    prod,
)
from nndsl.check.frame import Frame
from nndsl.check.graph import (
    Op,
    OpKind,
    Origin,
    SliceV,
    TensorV,
)
from nndsl.check.messages import ir_text
from nndsl.check.values import POISON, fmt_value, slice_len, slice_parts
from nndsl.dims import Dim, Sym


class Indexing:
    """Indexing (a part of `Evaluator`)."""

    def e_Index(self, e: ir.Index, frame: Frame, stage: bool) -> Any:
        value = self.expr(e.value, frame)
        if self.domain.opaque(value):
            return self.domain.index(self, e, value, frame)
        return self.index_value(e, value, frame)

    def index_value(self, e: ir.Index, value: Any, frame: Frame) -> Any:
        """`e` with its base already evaluated to `value`."""
        idx = [self.index_item(i, frame) for i in e.index]
        if value is POISON or any(i is POISON for i in idx):
            return POISON
        if isinstance(value, TensorV):
            return self.tensor_index(value, idx, frame, e)
        if isinstance(value, (tuple, list, str)):
            if len(idx) != 1:
                return self.error("a tuple takes one index", e.span)
            i = idx[0]
            try:
                if isinstance(i, SliceV):
                    return value[slice(i.start, i.stop, i.step)]
                if isinstance(i, bool) or not isinstance(i, int):
                    return self.error(
                        f"a tuple index must be an integer known at compile time, not {describe(i)}",
                        e.index[0].span,
                    )
                return value[i]
            except IndexError:
                return self.error(
                    f"index {i} is out of range for {fmt_value(tuple(value))} ({len(value)} items)",
                    e.index[0].span,
                )
            except (TypeError, ValueError) as exc:
                return self.error(f"bad index: {exc}", e.span)
        return self.error(f"{describe(value)} cannot be indexed", e.value.span)

    def index_item(self, i: ir.Expr, frame: Frame) -> Any:
        if isinstance(i, ir.Slice):
            parts = [None if p is None else self.expr(p, frame) for p in (i.start, i.stop, i.step)]
            if any(p is POISON for p in parts):
                return POISON
            return SliceV(*parts)
        return self.expr(i, frame)

    def tensor_index(self, value: TensorV, idx: list, frame: Frame, e: ir.Index) -> Any:
        if any(isinstance(i, TensorV) for i in idx):
            return self.advanced_index(value, idx, frame, e)
        t = value.type
        shape = list(t.shape)
        out: list[Dim] = []
        pos = 0
        consumed = sum(1 for i in idx if i is not None and i is not Ellipsis)
        if consumed > t.rank:
            return self.error(f"too many indices ({consumed}) for {t}", e.span)
        for k, i in enumerate(idx):
            if i is Ellipsis:
                rest = sum(1 for j in idx[k + 1 :] if j is not None and j is not Ellipsis)
                while pos < t.rank - rest:
                    out.append(shape[pos])
                    pos += 1
            elif i is None:
                out.append(1)
            elif isinstance(i, SliceV):
                for part, node in zip((i.start, i.stop, i.step), slice_parts(e.index[k])):
                    if part is not None and (
                        isinstance(part, bool) or not isinstance(part, (int, Sym))
                    ):
                        return self.error(
                            f"a slice bound must be an integer known at compile time, "
                            f"not {describe(part)}",
                            node.span,
                        )
                if i.step == 0:
                    return self.error(
                        "a slice step cannot be zero",
                        e.index[k].span,
                        hint="a step of 1 takes every element, 2 every other one",
                    )
                out.append(slice_len(shape[pos], i, self.domain.checks_runtime_sizes))
                pos += 1
            elif isinstance(i, int) and not isinstance(i, bool):
                size = shape[pos]
                if isinstance(size, int) and not -size <= i < size:
                    return self.error(
                        f"index {i} is out of range for dimension {pos} of {t} (size {size})",
                        e.index[k].span,
                        hint=_index_hint(size),
                    )
                pos += 1
            elif isinstance(i, Sym):
                pos += 1
            else:
                return self.error(
                    f"a tensor index must be an integer, a slice, `none` or `...`, not {describe(i)}",
                    e.index[k].span,
                )
        out.extend(shape[pos:])
        out_t = t.with_shape(tuple(out))
        op = self.emit(frame, Op(OpKind.INDEX, None, (value, tuple(idx)), (), out_t, e.span))
        return TensorV(out_t, op, Origin(f"`{ir_text(e)}`", e.span, t))

    def advanced_index(self, value: TensorV, idx: list, frame: Frame, e: ir.Index) -> Any:
        """`x[ids]`, `x[:, ids]`, `x[mask]`: indexing with tensors, by torch's rules.  An
        integer tensor takes one dimension and gives its own shape; a bool mask takes as many
        dimensions as it has and gives one of unknown length.  Integers select first; the
        tensors' (broadcast) shapes stand where the tensors are when they are next to each
        other, else in front."""
        t = value.type
        shape = list(t.shape)
        takes = [
            (i.type.rank if i.type.dtype in ("bool", "uint8") else 1)
            if isinstance(i, TensorV)
            else 0
            if i is None or i is Ellipsis
            else 1
            for i in idx
        ]
        if sum(takes) > t.rank:
            return self.error(f"too many indices ({sum(takes)}) for {t}", e.span)
        if sum(1 for i in idx if i is Ellipsis) > 1:
            return self.error("an index can only have a single `...`", e.span)
        parts: list[Any] = []  # sizes kept or added, and ("tensor", shape) for tensor indices
        pos = 0
        for k, i in enumerate(idx):
            node = e.index[k]
            if i is Ellipsis:
                rest = sum(takes[k + 1 :])
                while pos < t.rank - rest:
                    parts.append(shape[pos])
                    pos += 1
            elif i is None:
                parts.append(1)
            elif isinstance(i, SliceV):
                if (
                    any(
                        p is not None and (isinstance(p, bool) or not isinstance(p, (int, Sym)))
                        for p in (i.start, i.stop, i.step)
                    )
                    or i.step == 0
                ):
                    return self.error("a slice takes integers known at compile time", node.span)
                parts.append(slice_len(shape[pos], i))
                pos += 1
            elif isinstance(i, TensorV):
                it = i.type
                if it.dtype in ("bool", "uint8"):
                    covered = shape[pos : pos + it.rank]
                    if any(dims.equal(m, s) is False for m, s in zip(it.shape, covered)):
                        return self.error(
                            f"the mask {it} does not fit dimensions {pos} to "
                            f"{pos + it.rank - 1} of {t} ({dims.format_shape(covered)})",
                            node.span,
                            hint="a bool mask has the shape of the dimensions it selects from",
                        )
                    where_ = node.span.line * 10000 + node.span.col  # one unknown per place
                    count = dims.opaque_symbol("mask", prod(it.shape), where_)
                    parts.append(("tensor", (count,)))
                    pos += it.rank
                elif it.dtype in ("int64", "int32", "int16", "int8"):
                    parts.append(("tensor", tuple(it.shape)))
                    pos += 1
                else:
                    return self.error(
                        f"a tensor used as an index must hold integers or bools, but this is {it}",
                        node.span,
                        hint="convert it with `.long()`",
                    )
            elif isinstance(i, (int, Sym)) and not isinstance(i, bool):
                size = shape[pos]
                if isinstance(i, int) and isinstance(size, int) and not -size <= i < size:
                    return self.error(
                        f"index {i} is out of range for dimension {pos} of {t} (size {size})",
                        node.span,
                        hint=_index_hint(size),
                    )
                pos += 1
            else:
                return self.error(
                    f"a tensor index must be an integer, a slice, `none`, `...` or a tensor, "
                    f"not {describe(i)}",
                    node.span,
                )
        parts.extend(shape[pos:])
        where = [k for k, p in enumerate(parts) if isinstance(p, tuple)]
        try:
            joined = TensorT(())
            for k in where:
                joined = broadcast(joined, TensorT(parts[k][1]), "[]")
        except ShapeError:
            return self.error(
                "the index tensors' shapes cannot be broadcast together: "
                + ", ".join(dims.format_shape(parts[k][1]) for k in where),
                e.span,
            )
        basic = [p for p in parts if not isinstance(p, tuple)]
        if where == list(range(where[0], where[-1] + 1)):
            out = basic[: where[0]] + list(joined.shape) + basic[where[0] :]
        else:
            out = list(joined.shape) + basic
        out_t = t.with_shape(tuple(out))
        op = self.emit(frame, Op(OpKind.INDEX, None, (value, tuple(idx)), (), out_t, e.span))
        return TensorV(out_t, op, Origin(f"`{ir_text(e)}`", e.span, t))

    def e_Slice(self, e: ir.Slice, frame: Frame, stage: bool) -> Any:
        return self.error("a slice can only appear inside `[...]`", e.span)


def _index_hint(size: int) -> str:
    if size == 0:
        return "the dimension is empty: it has no index"
    return f"valid indices are 0 to {size - 1}, or -{size} to -1 from the end"
