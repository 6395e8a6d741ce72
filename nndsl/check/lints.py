"""Lints: warnings about specs that check but probably do not say what their author meant."""

from __future__ import annotations

from nndsl import dims, ir
from nndsl.catalog import api
from nndsl.catalog.core import TensorT
from nndsl.check.frame import Frame
from nndsl.check.graph import (
    BlockInstance,
    TensorV,
)
from nndsl.check.messages import ir_text, origin_note
from nndsl.check.values import LayerRef, first_tensor, fmt_value, is_within
from nndsl.errors import Note


def channels_last(inst: BlockInstance, v: TensorV) -> bool:
    """Whether a value went through a permute/transpose (a channels-last layout, as in ConvNeXt,
    where a Linear over the last dimension is intended)."""
    for _ in range(64):
        if v.op < 0 or v.op >= len(inst.ops):
            return False
        op = inst.ops[v.op]
        if op.kind == "module" and getattr(op.target, "function_op", None) is not None:
            op = op.target.function_op  # a function inside a group (`Permute`)
        if op.kind == "function" and op.entry is not None:
            if op.entry.name in ("permute", "transpose", "movedim", "swapaxes", "swapdims"):
                return True
            args = [a for _, a in op.kwargs]
        else:
            args = list(op.args)
        nxt = first_tensor(args)
        if nxt is None:
            return False
        v = nxt
    return False


class Lints:
    """Lints (a part of `Evaluator`)."""

    def unused(self, frame: Frame) -> None:
        for name, kind in frame.kinds.items():
            if kind == "value" and name not in frame.used and frame.vars.get(name) is not frame.cur:
                v = frame.vars.get(name)
                if isinstance(v, TensorV) and not is_within(v, frame.cur):
                    self.warn(
                        f"value `{name}` is computed but never used",
                        frame.bound_at.get(name),
                        hint="use it, or remove the statement",
                    )

    def torch_order_lint(self, ref: LayerRef, sig, inferred, values: dict) -> None:
        """`Conv2d(4, 8, 3)` on a 4-channel input is torch's spelling with in_channels first, but
        here it means out_channels=4, kernel_size=8, stride=3: legal, and almost surely not meant."""
        required = [n for n, k, d in sig if k == "pos_or_kw" and d == api.REQUIRED]
        first = inferred[0]
        if len(ref.args) < len(required) or required[:1] != [first]:
            return
        value = values.get(first)
        groups = dict(ref.kwargs).get("groups", 1)  # depthwise: torch's reading would not divide
        out = ref.args[1] if len(ref.args) > 1 else None
        if isinstance(groups, int) and groups > 1 and isinstance(out, int) and out % groups:
            return
        if isinstance(value, int) and not isinstance(value, bool) and ref.args[0] == value:
            rest = [n for n, k, d in sig if k == "pos_or_kw" and n not in inferred][: len(ref.args)]
            reading = ", ".join(f"{n}={fmt_value(v)}" for n, v in zip(rest, ref.args))
            self.warn(
                f"{ref.name}({', '.join(fmt_value(a) for a in ref.args)}) means {reading}",
                ref.span,
                notes=[
                    Note(
                        f"`{first}` is inferred from the input ({value}), so positional "
                        f"arguments start after it"
                    )
                ],
                hint=f"leave the input size out: `{ref.name}("
                + ", ".join(fmt_value(a) for a in ref.args[1:])
                + ")`",
            )

    def feature_map_lint(
        self, ref: LayerRef, types: tuple[TensorT, ...], ins: tuple[TensorV, ...], frame: Frame
    ) -> None:
        """`Linear` on a feature map [B, C, H, W] mixes only its last dimension."""
        if ref.name == "Linear" and types[0].rank >= 4 and not channels_last(frame.inst, ins[0]):
            note = origin_note(ins[0], None)
            written = ir_text(ref.node) if isinstance(ref.node, ir.Call) else "Linear(...)"
            self.warn(
                f"Linear is applied to a feature map {types[0]}: it mixes only the last "
                f"dimension ({dims.format_dim(types[0].shape[-1])} values), not the whole map",
                ref.span,
                notes=[note] if note else [],
                hint=f"flatten first: `flatten -> {written}`, or pool: "
                f"`adaptive_avg_pool2d(1) -> flatten -> {written}`",
            )
