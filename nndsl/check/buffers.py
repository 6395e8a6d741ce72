"""`buffer name = expr`, for the evaluator (infer.py): a tensor made with the model from
compile-time values (`BlockInstance.buffer_tensors`), read in forward as `self.name`.

The expression is evaluated as a body of its own, whose steps `__init__` runs. It may use
numbers, constants, parameters of the block, other buffers and tensors of the body made from
those alone (`coords = arange(-3, 4).float()` then `buffer table = stack(meshgrid(coords,
coords))`): the steps that made such a tensor are copied into the buffer's own; a tensor that
depends on an input, a layer or an `nn.Parameter` is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nndsl import dims, ir
from nndsl.catalog.core import describe
from nndsl.check.frame import Frame
from nndsl.check.graph import BlockInstance, BufferSlot, Op, OpKind, Origin, TensorV
from nndsl.check.messages import did_you_mean as _did_you_mean
from nndsl.check.values import POISON
from nndsl.check.values import Abort as _Abort
from nndsl.dims import Sym
from nndsl.records import replace

if TYPE_CHECKING:
    from nndsl.check.infer import Evaluator

# steps that compute from their arguments alone (not from an input, a module or a parameter)
_PORTABLE = (OpKind.FUNCTION, OpKind.BINOP, OpKind.UNARY, OpKind.INDEX)


class _Copier:
    """Copies the steps that made tensors of forward into a buffer's construction steps."""

    def __init__(self, ops: list[Op], into: list[Op]):
        self.ops = ops
        self.into = into
        # (id of an op list, index) -> (index in `into`, path in its output)
        self.done: dict[tuple[int, int], tuple[int, tuple[int, ...]]] = {}

    def tensor(self, v: TensorV, ops: list[Op] | None = None) -> TensorV | None:
        """`v` (a value of `ops`) as a value of the buffer's steps; None where it cannot be."""
        ops = self.ops if ops is None else ops
        if v.op < 0:
            return None  # an input of the block
        key = (id(ops), v.op)
        if key not in self.done:
            op = ops[v.op]
            if op.kind is OpKind.BUFFER:  # another buffer: made again from its own steps
                slot: BufferSlot = op.target
                made = self.tensor(slot.value, slot.ops)
                if made is None:
                    return None
                self.done[key] = (made.op, made.path)
            elif op.kind not in _PORTABLE or op.when is not None:
                return None
            else:
                try:
                    args = tuple(self.value(a, ops) for a in op.args)
                    kwargs = tuple((k, self.value(a, ops)) for k, a in op.kwargs)
                except _NotPortable:
                    return None
                self.into.append(replace(op, args=args, kwargs=kwargs))
                self.done[key] = (len(self.into) - 1, ())
        index, path = self.done[key]
        return replace(v, op=index, path=path + v.path)

    def value(self, a: Any, ops: list[Op]) -> Any:
        if isinstance(a, TensorV):
            made = self.tensor(a, ops)
            if made is None:
                raise _NotPortable
            return made
        if isinstance(a, (tuple, list)):
            return type(a)(self.value(x, ops) for x in a)
        return a


class _NotPortable(Exception):
    pass


def _local_values(ev: Evaluator, stmt: ir.BufferDecl, frame: Frame, into: list[Op]) -> dict:
    """The values the buffer's expression may use: compile-time values, and the tensors it names
    that are made from those alone (copied into `into`). Any other tensor is an error.
    """
    values = {k: v for k, v in frame.vars.items() if not isinstance(v, TensorV)}
    copier = _Copier(frame.inst.ops, into)
    for node in ir.walk(stmt.value):
        if not isinstance(node, ir.Name) or node.id in values:
            continue
        v = frame.vars.get(node.id)
        if not isinstance(v, TensorV):
            continue
        made = copier.tensor(v)
        if made is None:
            kind = "an input" if v.op < 0 else "a tensor of forward"
            ev.error(
                f"a buffer is made with the model, before any input, so it cannot use "
                f"`{node.id}`, {kind}",
                node.span,
                hint="make it from compile-time values, other buffers and tensors computed from "
                "those (`tensor([...])`, `arange(n)`, `tril(ones(n, n))`), not from an input, a "
                "layer's output or a `param`",
            )
            raise _Abort
        values[node.id] = made
    return values


def buffer_decl(ev: Evaluator, stmt: ir.BufferDecl, frame: Frame) -> None:
    try:
        _buffer(ev, stmt, frame)
    except _Abort:
        # the name stays bound, so later uses are not "undefined" as well
        frame.vars[stmt.name] = POISON
        frame.kinds[stmt.name] = "poison"
        raise


def _buffer(ev: Evaluator, stmt: ir.BufferDecl, frame: Frame) -> None:
    ev.check_identifier(stmt.name, stmt.span, "buffer name", attribute=True)
    if stmt.name in frame.taken:  # (labels and parameters: see Evaluator.naming)
        ev.error(f"`{stmt.name}` names both a buffer and a submodule or parameter", stmt.span)
        raise _Abort
    persistent = True
    for o in stmt.options:
        if o.name != "persistent":
            ev.error(
                f"unknown buffer option `{o.name}`",
                o.name_span,
                hint=_did_you_mean(o.name, ["persistent"]) or "a buffer takes `persistent=false`",
            )
            raise _Abort
        value = ev.expr(o.value, frame)
        if value is POISON:
            raise _Abort
        if not isinstance(value, bool):
            ev.error(f"`persistent` is true or false, not {describe(value)}", o.value.span)
            raise _Abort
        persistent = value
    # the construction steps are a body of their own: __init__ runs them, forward reads the result
    inst = BlockInstance(decl=frame.decl, params=frame.inst.params)
    local = Frame(decl=frame.decl, inst=inst)
    local.vars = _local_values(ev, stmt, frame, inst.ops)
    local.kinds = dict(frame.kinds)
    ev.building_buffer += 1
    try:
        value = ev.expr(stmt.value, local)
    finally:
        ev.building_buffer -= 1
    frame.used |= local.used
    if value is POISON:
        raise _Abort
    if not isinstance(value, TensorV):
        ev.error(
            f"a buffer holds a tensor, but this is {describe(value)}",
            stmt.value.span,
            hint="make a tensor: `tensor([0.5])`, `ones(64, 64)`",
        )
        raise _Abort
    t = value.type
    uses = sorted(
        n for d in t.shape if isinstance(d, Sym) for n in dims.free_symbols(d) & ev.input_syms
    )
    if uses:
        ev.error(
            f"buffer `{stmt.name}` cannot have a size that depends on the input: {t} uses "
            f"`{uses[0]}`, only known when the model runs",
            stmt.value.span,
            hint="a buffer is made with the model, before any input: give it fixed sizes",
        )
        raise _Abort
    if ev.too_many_elements(t, stmt.span, f"buffer `{stmt.name}` is"):
        raise _Abort
    slot = BufferSlot(stmt.name, t, inst.ops, value, persistent, stmt.span)
    frame.inst.buffer_tensors.append(slot)
    frame.taken.add(stmt.name)
    op = ev.emit(frame, Op(OpKind.BUFFER, slot, (), (), t, stmt.span, name_hint=stmt.name))
    ev.bind(
        frame,
        stmt.name,
        TensorV(t, op, Origin(f"buffer `{stmt.name}`", stmt.span)),
        stmt.span,
        "buffer",
    )
