"""Applying layers: an unapplied layer value (a layer, a group, a repetition, a label) fed
the current value, the modules and forward steps it records, blocks and user modules.
"""

from __future__ import annotations

from typing import Any

from nndsl import dims, ir, limits
from nndsl.catalog.core import (
    TensorT,
    describe,
)
from nndsl.check import sharing
from nndsl.check.frame import MAX_REPEAT, Frame
from nndsl.check.graph import (
    ModuleSlot,
    Op,
    OpKind,
    Origin,
    SlotKind,
    TensorV,
    numbered,
    renew_slots,
    walk_slots,
)
from nndsl.check.messages import did_you_mean, origin_note, rank_hint, variant_hint
from nndsl.check.values import (
    POISON,
    Abort,
    GroupV,
    LabeledV,
    LayerRef,
    RepeatV,
    contains_tensor,
    first_tensor,
    fmt_value,
    has_poison,
    is_group,
    is_layer,
    tensor_values,
    type_complaint,
)
from nndsl.errors import Note, Span, warning
from nndsl.records import replace


class Applying:
    """Applying layers, groups, repetitions, blocks and user modules (a part of `Evaluator`)."""

    def apply(
        self,
        layer_v: Any,
        value: Any,
        frame: Frame,
        span: Span,
        *,
        into: list[ModuleSlot] | None = None,
        label: str | None = None,
    ) -> Any:
        """Feed `value` through an unapplied layer.  `into`: collect created modules there (the
        children of an nn.Sequential being built) instead of as attributes."""
        applied = self.domain.apply(self, layer_v, value, frame, span, into, label)
        if applied is not NotImplemented:
            return applied
        if value is POISON:
            raise Abort
        if isinstance(layer_v, LabeledV) and into is not None:
            if layer_v.node.holes or self.loop_label(frame, layer_v.node):
                self.sibling_label(into, layer_v)
            sub: list[ModuleSlot] = []
            start = len(frame.inst.ops)
            value = self.apply(layer_v.item, value, frame, span, into=sub)
            if len(sub) == 1 and not isinstance(layer_v.item, (GroupV, RepeatV)):
                renew_slots(sub, {0: {"name": layer_v.label}}, frame.inst.ops, start)
                into.append(sub[0])
            elif sub:
                numbered(sub, frame.inst.ops, start)
                group = ModuleSlot(
                    name=layer_v.label,
                    kind=SlotKind.SEQUENTIAL,
                    type_name="Sequential",
                    span=layer_v.span,
                    children=sub,
                    in_type=sub[0].in_type,
                    out_type=sub[-1].out_type,
                )
                into.append(group)
            return value
        if isinstance(layer_v, LabeledV):
            if into is not None:
                self.error(
                    f"label `{layer_v.label}` inside a labelled group: the children of an nn.Sequential are numbered",
                    layer_v.node.label_span,
                    hint="remove the inner label, or move the layer out of the group",
                )
                raise Abort
            if layer_v.node.holes or self.loop_label(frame, layer_v.node):
                self.made_label(frame, layer_v.label, layer_v.node)
            return self.apply(layer_v.item, value, frame, span, into=into, label=layer_v.label)
        if isinstance(layer_v, GroupV):
            if label is not None or into is not None:
                children: list[ModuleSlot] = [] if into is None else into
                for item in layer_v.items:
                    item_span = item.span if hasattr(item, "span") else span
                    if isinstance(item, GroupV) and is_group(item):
                        value = self.nested_group(item, value, frame, item_span, children)
                        continue
                    value = self.apply(item, value, frame, item_span, into=children)
                if label is not None and into is None:
                    value = self.add_sequential(frame, label, children, layer_v.span, value)
                return value
            for item in layer_v.items:
                value = self.apply(item, value, frame, item.span)
            return value
        if isinstance(layer_v, RepeatV):
            children = [] if into is None else into
            for _ in range(layer_v.count):
                value = self.apply(layer_v.item, value, frame, layer_v.span, into=children)
            if into is None and layer_v.count:
                name = label or self.module_name(frame, layer_v.node)
                value = self.add_sequential(frame, name, children, layer_v.span, value)
            return value
        if isinstance(layer_v, sharing.ReuseV):
            return sharing.apply_reuse(self, layer_v, value, frame, into)
        assert isinstance(layer_v, LayerRef)
        if layer_v.kind == "function":
            if into is not None or label is not None:
                return self.function_as_module(layer_v, value, frame, into, label)
            return self.call_function(layer_v, value, frame, layer_v.span)
        name = label or (None if into is not None else self.module_name(frame, layer_v.node))
        if layer_v.kind == "torch":
            return self.apply_torch(layer_v, value, frame, name, into)
        if layer_v.kind == "block":
            return self.apply_block(layer_v, value, frame, name, into)
        return self.apply_py(layer_v, value, frame, name, into)

    def nested_group(
        self, group: GroupV, value: Any, frame: Frame, span: Span, into: list[ModuleSlot]
    ) -> Any:
        """A group inside a group: one child nn.Sequential (torchvision's `features.1.conv.0.0`)."""
        sub: list[ModuleSlot] = []
        start = len(frame.inst.ops)
        value = self.apply(group, value, frame, span, into=sub)
        if sub:
            numbered(sub, frame.inst.ops, start)
            slot = ModuleSlot(
                name="",
                kind=SlotKind.SEQUENTIAL,
                type_name="Sequential",
                span=group.span,
                children=sub,
                in_type=sub[0].in_type,
                out_type=sub[-1].out_type,
            )
            into.append(slot)
        return value

    def sibling_label(self, into: list[ModuleSlot], layer_v: LabeledV) -> None:
        """A label made in a loop inside a group must differ from its siblings' names."""
        for c in into:
            if c.name == layer_v.label:
                self.error(
                    f"label `{layer_v.node.label}` makes `{layer_v.label}`, which already names "
                    "another child of this group",
                    layer_v.node.label_span,
                    notes=[Note("`" + c.name + "` also named at {at}", c.span)],
                    hint="labels made in a loop must differ at every iteration, as in `layer{i + 1}`",
                )
                raise Abort

    def e_ForLayers(self, e: ir.ForLayers, frame: Frame, stage: bool) -> Any:
        """`for t in items { Layer(t) }` as a stage: the layers of every iteration, in order (a
        group whose items join the enclosing group's children)."""
        items: list[Any] = []
        self.for_layers(e.target, e.iter, e.body, e.span, frame, items)
        return GroupV(tuple(items), e, e.span)

    def for_layers(
        self,
        target: ir.Target,
        iter_: ir.Expr,
        body: tuple[ir.Stmt, ...],
        span: Span,
        frame: Frame,
        items: list[Any],
    ) -> None:
        if (
            self.domain.stage_loop(self, target, iter_, body, span, frame, items)
            is not NotImplemented
        ):
            return
        seq = self.loop_sequence(iter_, frame)
        self.for_layers_over(target, seq, iter_, body, span, frame, items)

    def for_layers_over(
        self,
        target: ir.Target,
        seq: tuple | list,
        iter_: ir.Expr,
        body: tuple[ir.Stmt, ...],
        span: Span,
        frame: Frame,
        items: list[Any],
    ) -> None:
        """The layers of a `for` stage over `seq`, the items of its iterable `iter_`."""
        frame.in_loop += 1
        try:
            for item in seq:
                self.steps += 1 + len(body)
                if self.steps > limits.MAX_STEPS:
                    self.error(
                        f"the loops of this spec run more than {limits.MAX_STEPS:,} statements",
                        iter_.span,
                        hint="loops are unrolled at compile time: make them shorter",
                    )
                    raise Abort
                self.assign(target, item, frame, span, kind="loop")
                for s in body:
                    if isinstance(s, ir.For):
                        self.for_layers(s.target, s.iter, s.body, s.span, frame, items)
                        continue
                    if isinstance(s, ir.Assign):
                        self.stage_loop_binding(s, frame)
                        continue
                    if not isinstance(s, ir.ExprStmt):
                        self.error(
                            "only layers can stand inside a `for` that is a chain stage",
                            s.span,
                            hint="write layers, blocks or groups (`Conv2d(c, 3) -> relu`), one "
                            "per line; compute values outside the loop",
                        )
                        raise Abort
                    v = self.expr(s.value, frame, stage=True)
                    if v is POISON:
                        raise Abort
                    if not is_layer(v):
                        self.error(
                            f"a `for` stage holds layers, but this is {describe(v)}",
                            s.value.span,
                            hint="write layers, blocks or groups, as in `Conv2d(c, 3) -> relu`",
                        )
                        raise Abort
                    if isinstance(v, GroupV) and isinstance(v.node, (ir.Chain, ir.ForLayers)):
                        items.extend(v.items)  # `A -> B` in the body: two stages
                    else:
                        items.append(v)
        finally:
            frame.in_loop -= 1

    def stage_loop_binding(self, s: ir.Assign, frame: Frame) -> None:
        """`g = min(group_width, w)` in a `for` stage: a compile-time value for the layers
        after it (a tensor or a layer cannot be bound there: the stage holds layers only)."""
        v = self.expr(s.value, frame)
        if v is POISON:
            raise Abort
        if contains_tensor(v) or is_layer(v):
            self.error(
                f"a `for` stage can bind compile-time values, but this is {describe(v)}",
                s.value.span,
                hint="write layers, blocks or groups (`Conv2d(c, 3) -> relu`), one per line, "
                "and sizes or settings as `name = value`",
            )
            raise Abort
        self.assign(s.target, v, frame, s.span)

    def loop_sequence(self, iter_: ir.Expr, frame: Frame) -> tuple | list:
        """The items a `for` stage runs over (the generic evaluator refuses symbolic ones)."""
        self.domain.check_stage_loop(self, iter_, frame)
        seq = self.expr(iter_, frame)
        if seq is POISON:
            raise Abort
        if isinstance(seq, range):
            seq = tuple(seq)
        if not isinstance(seq, (tuple, list)):
            self.error(
                f"`for` needs a list, tuple or range known at compile time, not {describe(seq)}",
                iter_.span,
            )
            raise Abort
        if len(seq) > MAX_REPEAT:
            self.error(f"`for` over {len(seq)} items is too long to unroll", iter_.span)
            raise Abort
        return seq

    def add_sequential(
        self, frame: Frame, name: str, children: list[ModuleSlot], span: Span, value: Any
    ) -> Any:
        # the children's steps are replaced below by one call of the Sequential: found by the
        # slots they call, before the unnamed children are numbered
        members = {id(m) for m in walk_slots(children)}
        numbered(children, [])
        slot = ModuleSlot(
            name=name,
            kind=SlotKind.SEQUENTIAL,
            type_name="Sequential",
            span=span,
            children=children,
            in_type=children[0].in_type if children else None,
            out_type=children[-1].out_type if children else None,
        )
        frame.inst.modules.append(slot)
        frame.taken.add(name)
        # the forward step: one call of the whole Sequential replaces the children's calls
        # the children's steps are the last ones emitted: find where they start, from the end
        first = None
        for i in range(len(frame.inst.ops) - 1, -1, -1):
            op = frame.inst.ops[i]
            if op.kind == "module" and id(op.target) in members:
                first = i
            elif first is not None:
                break
        if first is not None:
            kept = [
                op
                for op in frame.inst.ops[first:]
                if not (op.kind == "module" and id(op.target) in members)
            ]
            assert not kept, "a Sequential's steps must be contiguous"
            last = frame.inst.ops[-1]
            inputs = frame.inst.ops[first].args
            del frame.inst.ops[first:]
            self.emit(frame, Op(OpKind.MODULE, slot, inputs, (), last.out, span))
            origin = Origin(
                f"`{name}`", span, slot.in_type if isinstance(slot.in_type, TensorT) else None
            )
            return tensor_values(last.out, len(frame.inst.ops) - 1, origin)
        return value

    def emit(self, frame: Frame, op: Op) -> int:
        op = self.domain.step(op)
        self.check_sizes(op)
        if op.name_hint is None and frame.hint is not None:
            op = replace(op, name_hint=frame.hint)
        frame.inst.ops.append(op)
        return len(frame.inst.ops) - 1

    def inputs_of(self, value: Any, span: Span, name: str | None = None) -> tuple[TensorV, ...]:
        if has_poison(value):
            raise Abort
        if isinstance(value, TensorV):
            return (value,)
        if isinstance(value, tuple) and all(isinstance(v, TensorV) for v in value):
            return value
        who = name or "this layer"
        if isinstance(value, tuple):
            first = first_tensor(value)
            notes = (
                [
                    Note(
                        f"{first.origin.what} at {{at}} returns {fmt_value(value)}",
                        first.origin.span,
                    )
                ]
                if first is not None and first.origin.span is not None
                else []
            )
            self.error(
                f"{who} needs a tensor, but gets the tuple {fmt_value(value)}",
                span,
                notes=notes,
                hint="destructure the tuple first and continue from one of its values, as in "
                "`out, (h, c) = x -> LSTM(256)` then `out -> ...`; or take one element with `[0]`",
            )
            raise Abort
        self.error(f"{who} gets {describe(value)}, not a tensor", span)
        raise Abort

    def check_input(
        self,
        entry_name: str,
        expects: str,
        ranks,
        dtype: str,
        t: TensorT,
        value: TensorV,
        span: Span,
    ) -> None:
        if ranks is not None and t.rank not in ranks:
            notes = [n for n in (origin_note(value, None),) if n]
            flattened = value.origin.what in ("`flatten`", "`Flatten`")
            self.error(
                f"{entry_name} needs a {expects or f'rank {ranks[0]}'} input, but gets {t}",
                span,
                notes=notes,
                # the note already says that `flatten` made it
                hint=variant_hint(entry_name, t)
                or (None if flattened else rank_hint(entry_name, t, ranks)),
            )
            raise Abort
        if dtype == "float" and not t.is_float:
            self.error(
                f"{entry_name} needs a floating-point input, but gets {t}",
                span,
                hint="integer tensors (token ids) go through an Embedding first"
                if t.dtype == "int64"
                else None,
            )
            raise Abort
        if dtype == "long" and t.dtype not in ("int64", "int32"):
            from_input = value.origin.what.startswith("input ")
            note = origin_note(value, None)
            self.error(
                f"{entry_name} needs integer token ids (long), but gets {t}",
                span,
                notes=[note] if note and not from_input else [],
                hint=f"declare the input as `long{dims.format_shape(t.shape)}`"
                if from_input
                else f"{entry_name} looks up token ids; real-valued features go through "
                "Linear instead",
            )
            raise Abort

    def attach(
        self,
        frame: Frame,
        slot: ModuleSlot,
        ins: tuple[TensorV, ...],
        out: Any,
        into: list | None,
        ref: LayerRef,
    ) -> Any:
        slot = self.domain.module(slot)
        if into is not None:
            into.append(slot)
        else:
            frame.inst.modules.append(slot)
            frame.taken.add(slot.name)
        op = self.emit(frame, Op(OpKind.MODULE, slot, ins, (), out, ref.span))
        return tensor_values(out, op, Origin(f"`{ref.name}`", ref.span, ins[0].type))

    def apply_block(
        self, ref: LayerRef, value: Any, frame: Frame, name: str | None, into: list | None
    ) -> Any:
        decl = self.symbols.blocks[ref.name]
        if decl.kind == "loss":
            self.error(
                f"`{decl.name}` is a loss block: a train section trains with it, a model cannot "
                "call it",
                ref.span,
                notes=[Note(f"`{decl.name}` is declared at {{at}}", decl.name_span)],
                hint=f"use it in the train section: `loss = {decl.name}(...)`; for a part of a "
                "model, declare a `block`",
            )
            raise Abort
        ins = self.inputs_of(value, ref.span, ref.name)
        params = self.block_args(decl, ref)
        inst = self.instance(decl, params, list(ins), ref.span)
        if inst is None:
            raise Abort
        outs = inst.output_types()
        out = outs[0] if len(outs) == 1 else tuple(outs)
        slot = ModuleSlot(
            name=name or "",
            kind=SlotKind.BLOCK,
            type_name=decl.name,
            span=ref.span,
            instance=inst,
            out_type=out,
            in_type=ins[0].type if len(ins) == 1 else tuple(i.type for i in ins),
            user_args=tuple(p.name for p in decl.params[: len(ref.args)]),
            user_kwargs=tuple(k for k, _ in ref.kwargs),
        )
        return self.attach(frame, slot, ins, out, into, ref)

    def block_args(self, decl: ir.BlockDecl, ref: LayerRef) -> dict[str, Any]:
        if decl.kind == "model":
            pass  # a model may be used as a block inside another model
        params: dict[str, Any] = {}
        names = [p.name for p in decl.params]
        if len(ref.args) > len(names):
            self.error(
                f"`{decl.name}` takes {len(names)} argument{'s' if len(names) != 1 else ''} "
                f"({', '.join(names) or 'none'}), but {len(ref.args)} were given",
                ref.arg_spans[len(names)] if len(ref.arg_spans) > len(names) else ref.span,
                notes=[Note(f"`{decl.name}` is declared at {{at}}", decl.name_span)],
            )
            raise Abort
        for p, v, s in zip(decl.params, ref.args, ref.arg_spans):
            params[p.name] = v
        for k, v in ref.kwargs:
            if k not in names:
                self.error(
                    f"`{decl.name}` has no parameter `{k}`",
                    self.arg_span(ref, k),
                    hint=did_you_mean(k, names) or f"its parameters: {', '.join(names) or 'none'}",
                )
                raise Abort
            if k in params:
                self.error(
                    f"`{decl.name}` got `{k}` twice: by position and by keyword",
                    self.arg_span(ref, k),
                )
                raise Abort
            params[k] = v
        for p in decl.params:
            if p.name not in params:
                if p.default is None:
                    self.error(
                        f"`{decl.name}` needs its parameter `{p.name}`",
                        ref.span,
                        notes=[
                            Note(
                                f"`{p.name}` is declared at {{at}}"
                                + (f" as `{p.type}`" if p.type else "")
                                + ", without a default",
                                p.span,
                            )
                        ],
                        hint=f"pass it by position or as `{p.name}=...`",
                    )
                    raise Abort
                params[p.name] = self.const_expr(p.default)
            if p.type is not None:
                complaint = type_complaint(params[p.name], p.type)
                if complaint:
                    where = (
                        self.arg_span(ref, p.name)
                        if p.name in dict(ref.kwargs)
                        else (
                            ref.arg_spans[names.index(p.name)]
                            if names.index(p.name) < len(ref.arg_spans)
                            else ref.span
                        )
                    )
                    self.error(
                        f"`{decl.name}`'s parameter `{p.name}` must be {complaint[0]}, not {complaint[1]}",
                        where,
                        notes=[Note(f"`{p.name}` is declared at {{at}} as `{p.type}`", p.span)],
                    )
                    raise Abort
                if (
                    p.type.name == "float"
                    and isinstance(params[p.name], int)
                    and not isinstance(params[p.name], bool)
                ):
                    params[p.name] = float(params[p.name])
        return params

    def apply_py(
        self, ref: LayerRef, value: Any, frame: Frame, name: str | None, into: list | None
    ) -> Any:
        from nndsl.check import fallback

        decl, imported = self.symbols.pymodules[ref.name]
        ins = self.inputs_of(value, ref.span, ref.name)
        if not self.program.run_python:
            # --no-imports: the module is not run, so nothing after it can be checked
            self.diags.append(
                warning(
                    f"`{imported.name}` is not imported (--no-imports): what it outputs, and "
                    "everything computed from it, is not checked",
                    imported.span,
                    hint="check the spec without --no-imports to import the module and check it fully",
                )
            )
            return POISON
        self.runtime_arguments(ref)
        self.foreign_arguments(ref, "a module of your own code")
        self.used_fallback = True
        try:
            import os

            result = fallback.run_user_module(
                decl.module,
                imported.name,
                ref.args,
                dict(ref.kwargs),
                tuple(v.type for v in ins),
                search=(os.path.dirname(os.path.abspath(decl.span.file)),),
            )
        except fallback.FallbackError as exc:
            self.error(
                f"{ref.name}: {exc.message}",
                imported.span if exc.at_import else ref.span,
                hint=exc.hint
                or (_run_hint(decl.module, imported.name, ref.name) if _ran(exc) else None),
            )
            raise Abort from None
        slot = ModuleSlot(
            name=name or "",
            kind=SlotKind.PY,
            type_name=imported.name,
            span=ref.span,
            py_module=decl.module,
            py_args=ref.args,
            py_kwargs=ref.kwargs,
            params=result.params,
            buffers=result.buffers,
            out_type=result.out,
            in_type=ins[0].type,
        )
        return self.attach(frame, slot, ins, result.out, into, ref)


def _ran(exc) -> bool:
    """Whether a FallbackError is what the module raised when built or run."""
    return not exc.at_import and exc.message.startswith("running it on")


def _run_hint(module: str, name: str, written: str) -> str:
    """What to do when an imported module (`name`, written `written`) failed to build or run
    on its input."""
    if module == "torch" or module.startswith("torch."):
        return (
            f"torch.nn's layers need no import: without `from {module} import {name}`, "
            f"`{name}` is read from nndsl's catalog, its input sizes inferred"
        )
    return (
        f"`{written}` is built with the arguments written here (none are inferred for a module "
        "of your own code) and run once on meta tensors shaped like its input"
    )
