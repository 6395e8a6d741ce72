"""The words of diagnostics: notes on where a value came from, hints, and how values and
expressions are written in messages (in the spec's words, never Python's).
"""

from __future__ import annotations

import re
from typing import Any

from nndsl import ir
from nndsl.catalog import api
from nndsl.catalog.core import (
    TensorT,
)
from nndsl.check.graph import (
    TensorV,
)
from nndsl.check.values import fmt_value
from nndsl.errors import Note


def runtime_message(what: str, value: Any, symbol: str) -> str:
    shown = fmt_value(value)
    if shown == symbol:
        return f"{what} is `{shown}`, which is only known when the model runs"
    return f"{what} would be {shown}, but `{symbol}` is only known when the model runs"


def clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def magnitude(value: int) -> str:
    """`value`, or its size in digits when printing it would take long (or fail)."""
    bits = abs(value).bit_length()
    if bits <= 200:
        return f"{value:,}"
    return f"about {int(bits * 0.30103) + 1:,} digits"


def origin_note(v: Any, side: str | None) -> Note | None:
    if not isinstance(v, TensorV):
        return None
    o = v.origin
    if o.span is None:
        return None
    if o.before is not None and o.before != v.type:
        return Note(f"{o.what} at {{at}} turned {o.before} into {v.type}", o.span)
    prefix = f"the {side} operand, " if side else ""
    return Note(f"{prefix}{o.what} at {{at}} is {v.type}", o.span)


def function_message(name: str, message: str) -> str:
    """A catalog function's complaint, prefixed with the function once: "`cat` along dim 1: ..."."""
    if message.startswith(f"{name}: "):
        message = message[len(name) + 2 :]
    elif message.startswith(f"{name} "):
        return f"`{name}` {message[len(name) + 1 :]}"
    return f"`{name}`: {message}"


def list_items(node: ir.Expr, n: int) -> tuple[ir.Expr, ...] | None:
    """The items of the list literal a tensor-list function (cat, stack) was called with."""
    if isinstance(node, ir.Call) and node.args and isinstance(node.args[0], ir.ListExpr):
        items = node.args[0].items
        return items if len(items) == n else None
    return None


def operand_note(v: TensorV, node: ir.Expr | None, which: str | None = None) -> Note:
    """Where an operand came from: "the left operand `y` is [B, 32, 16, 16], from `relu` at 3:73"."""
    name = f"`{node.id}`" if isinstance(node, ir.Name) else None
    subject = f"the {which} operand" if which else None
    if subject and name:
        subject = f"{subject} {name}"
    subject = subject or name
    o = v.origin
    if subject is None:
        return Note(f"{o.what} at {{at}} gives {v.type}", o.span)
    return Note(f"{subject} is {v.type}, from {o.what} at {{at}}", o.span)


def cat_hint(tensors: list[TensorV], dim: Any, hint: str | None) -> str | None:
    """For the classic U-Net mistake, say why the sizes differ by one."""
    if len(tensors) < 2 or not isinstance(dim, int) or isinstance(dim, bool):
        return hint
    a, b = tensors[0].type, tensors[1].type
    if a.rank != b.rank:
        return hint
    d = dim % a.rank
    for j, (p, q) in enumerate(zip(a.shape, b.shape)):
        if j != d and isinstance(p, int) and isinstance(q, int) and abs(p - q) == 1 and j >= 2:
            odd = max(p, q)
            return (
                f"pooling halves an odd size ({odd}) rounding down, so upsampling gives back "
                f"{odd - 1}: use input sizes divisible by 2 at every level, or pad the smaller one"
            )
    return hint


def _describe_origin(v: TensorV) -> str:
    return v.origin.what


def variant_hint(name: str, t: TensorT) -> str | None:
    """`BatchNorm2d` on [B, C]: the 1-d variant is meant."""
    m = re.match(r"(BatchNorm|InstanceNorm|Dropout|LazyBatchNorm)([123])d$", name)
    if m is None:
        return None
    n = max(t.rank - 2, 1)  # [B, C] and [B, C, L] are 1-d
    if n > 3 or str(n) == m.group(2):
        return None
    other = f"{m.group(1)}{n}d"
    if api.module_signature(other) is None:
        return None
    return f"for {t} use `{other}`"


def rank_hint(name: str, t: TensorT, ranks) -> str | None:
    if t.rank == 2 and ranks and min(ranks) > 2:
        return (
            f"{name} works on feature maps: put it before `flatten` and `Linear`, "
            "or reshape the value first"
        )
    if t.rank > 2 and ranks == (2,):
        return "flatten the feature map first: `-> flatten ->`"
    return None


def target_hint(t: ir.Target) -> str | None:
    return t.id if isinstance(t, ir.NameTarget) else None


def fmt_tensor_type(t: ir.TensorType) -> str:
    from nndsl.syntax.fmt import tensor_type

    return tensor_type(t)


def ir_text(e: ir.Expr) -> str:
    from nndsl.syntax.fmt import expr

    try:
        return expr(e)
    except TypeError:
        return "..."


def did_you_mean(name: str, candidates) -> str | None:
    close = api.suggest(name, list(candidates))
    return f"did you mean `{close[0]}`?" if close else None
