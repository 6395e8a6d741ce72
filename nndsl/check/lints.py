"""Lints: warnings about specs that check but probably do not say what their author meant."""

from __future__ import annotations

import re

from nndsl import dims, ir
from nndsl.catalog import api, ranges
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


_CHANNELS_FIRST_LAYER = re.compile(
    r"(Lazy)?(Conv|ConvTranspose)[123]d|\w*Pool[123]d|(Lazy)?(BatchNorm|InstanceNorm)[123]d"
    r"|GroupNorm|Upsample|UpsamplingNearest2d|UpsamplingBilinear2d|PixelShuffle|PixelUnshuffle"
)
_CHANNELS_FIRST_FUNCTION = re.compile(
    r"conv[123]d|conv_transpose[123]d|(max|avg|lp|adaptive_max|adaptive_avg)_pool[123]d"
    r"|interpolate|upsample\w*|pixel_shuffle|pixel_unshuffle|batch_norm|instance_norm|group_norm"
)
_LAYOUT_CHANGES = ("permute", "transpose", "movedim", "swapaxes", "swapdims")


def channels_first(inst: BlockInstance, v: TensorV) -> bool:
    """Whether a value is known to be a channels-first feature map [B, C, H, W]: made by a
    convolution, a pooling, a channel norm or a resize (through steps that keep the layout), or a
    model's image input, and not permuted since.  A block's input, a buffer or a parameter is
    not known to be one (Swin and ConvNeXt blocks get a channels-last [B, H, W, C] from their
    caller; a Linear on it is their MLP)."""
    return _layout(inst, v, 0) is True


def _layout(inst: BlockInstance, v: TensorV, depth: int) -> bool | None:
    """True: channels first; False: channels last (permuted); None: not known."""
    for _ in range(64):
        if v.op < 0:
            return True if inst.decl.kind == "model" else None
        if v.op >= len(inst.ops) or depth > 16:
            return None
        op = inst.ops[v.op]
        if op.kind == "module":
            found = _slot_layout(op.target, depth)
            if found is not None:
                return found
            args = list(op.args)
        elif op.kind == "function" and op.entry is not None:
            if op.entry.name in _LAYOUT_CHANGES:
                return False
            if _CHANNELS_FIRST_FUNCTION.fullmatch(op.entry.name):
                return True
            args = [a for _, a in op.kwargs]
        elif op.kind in ("param", "buffer"):
            return None
        else:
            args = list(op.args)
        nxt = first_tensor(args)
        if nxt is None:
            return None
        v = nxt
    return None


def _slot_layout(slot, depth: int) -> bool | None:
    """The layout a module's output is known to have, or None when it keeps its input's."""
    if slot.function_op is not None:
        name = slot.function_op.entry.name if slot.function_op.entry is not None else ""
        if name in _LAYOUT_CHANGES:
            return False
        return True if _CHANNELS_FIRST_FUNCTION.fullmatch(name) else None
    if slot.children:  # a group: its last child that decides
        for child in reversed(slot.children):
            found = _slot_layout(child, depth)
            if found is not None:
                return found
        return None
    if slot.instance is not None:
        out = slot.instance.outputs[0] if len(slot.instance.outputs) == 1 else None
        return _layout(slot.instance, out, depth + 1) if isinstance(out, TensorV) else None
    return True if _CHANNELS_FIRST_LAYER.fullmatch(slot.type_name) else None


def _torch_reading_fits(ref: LayerRef, sig) -> bool:
    """Whether torch's positional reading of the arguments (input size first) gives values in
    range: `Conv2d(out, k, stride, padding)` as `Conv2d(16, 1, 1, 0)` would have stride 0 in
    torch's reading, so it was not written torch's way."""
    names = [n for n, k, d in sig if k == "pos_or_kw"][: len(ref.args)]
    return not ranges.check("module", ref.name, dict(zip(names, ref.args)))


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
        if isinstance(value, int) and ref.args[0] != value:
            # at another use of a block the same text is no input size: it was never meant as one
            self.torch_order_unmeant.add(ref.span)
            return
        if ref.span in self.torch_order_warned:
            return  # one warning per place, not one per use of its block
        groups = dict(ref.kwargs).get("groups", 1)  # depthwise: torch's reading would not divide
        out = ref.args[1] if len(ref.args) > 1 else None
        if isinstance(groups, int) and groups > 1 and isinstance(out, int) and out % groups:
            return
        if (
            isinstance(value, int)
            and not isinstance(value, bool)
            and ref.args[0] == value
            and _torch_reading_fits(ref, sig)
        ):
            rest = [n for n, k, d in sig if k == "pos_or_kw" and n not in inferred][: len(ref.args)]
            reading = ", ".join(f"{n}={fmt_value(v)}" for n, v in zip(rest, ref.args))
            before = len(self.diags)
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
            if len(self.diags) > before:
                self.torch_order_warned[ref.span] = self.diags[-1]

    def drop_unmeant_torch_order(self) -> None:
        """Withdraws the torch-order warning of a place whose first argument is not the input
        size at some use of its block (`Conv2d(out, 3, stride, 1)` in a block used with
        `out` = 64 on 64 channels, and with 128 on 64): the spec does not write torch's order."""
        drop = {
            id(d) for span, d in self.torch_order_warned.items() if span in self.torch_order_unmeant
        }
        if drop:
            self.diags[:] = [d for d in self.diags if id(d) not in drop]

    def feature_map_lint(
        self, ref: LayerRef, types: tuple[TensorT, ...], ins: tuple[TensorV, ...], frame: Frame
    ) -> None:
        """`Linear` on a feature map [B, C, H, W] mixes only its last dimension."""
        if ref.name == "Linear" and types[0].rank >= 4 and channels_first(frame.inst, ins[0]):
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
