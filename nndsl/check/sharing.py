"""Sharing and state, for the evaluator (infer.py): a label applied again, `tie`, `init`
(buffers: buffers.py).

- `fb = b -> tower` where `tower: Tower()` labelled a module before: the same module applied
  again (one attribute, its parameters counted once); the input must be one the module was made
  for.
- `tie lm_head.weight = wte.weight`: the target parameter becomes the source parameter
  (`BlockInstance.ties`; counted once).
- `init Conv2d.weight = kaiming_normal(mode="fan_out")`, `init fc.bias = zeros()`: torch.nn.init
  functions applied after construction (`BlockInstance.inits`).

`tie` and `init` are checked when the whole body has run (they may name layers made after them);
every mistake is a diagnostic at the statement that makes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nndsl import dims, ir
from nndsl.catalog import api
from nndsl.catalog.core import LAYERS, ShapeError, TensorT, bind
from nndsl.catalog.param_shapes import parameter_shapes
from nndsl.check.frame import Frame
from nndsl.check.graph import (
    BlockInstance,
    InitSlot,
    ModuleSlot,
    Op,
    OpKind,
    Origin,
    TensorV,
    TieSlot,
    iter_modules,
)
from nndsl.check.messages import did_you_mean as _did_you_mean
from nndsl.check.values import POISON
from nndsl.check.values import Abort as _Abort
from nndsl.check.values import fmt_value as _fmt_value
from nndsl.check.values import tensor_values as _tensor_values
from nndsl.errors import Note, Span
from nndsl.records import dataclass

if TYPE_CHECKING:
    from nndsl.check.infer import Evaluator


@dataclass(frozen=True, eq=False)
class ReuseV:
    """A label written again (`b -> tower`): the module it named, to apply once more."""

    slot: ModuleSlot
    node: ir.Expr
    span: Span

    is_layer_value = True


# ---------------------------------------------------------------------------------------------
# A label applied again
# ---------------------------------------------------------------------------------------------


def label_value(ev: Evaluator, frame: Frame, node: ir.Name) -> Any:
    """The module a label of this body names, if `node` is such a label; None otherwise."""
    if not is_label(ev, frame, node.id):
        return None
    nm = ev.naming(frame.decl)
    slot = next((s for s in frame.inst.modules if s.name == node.id), None)
    if slot is None:
        if any(
            isinstance(s, (ir.ParamDecl, ir.BufferDecl)) and s.name == node.id
            for s in frame.decl.body
        ):
            return None  # a parameter or buffer, not a module
        if _names_a_layer(ev, node.id):  # `LayerNorm: LayerNorm` (Hugging Face's names)
            return None
        return ev.error(
            f"label `{node.id}` names no module yet at this point",
            node.span,
            notes=[Note(f"`{node.id}` labels a layer at {{at}}", nm.labels[node.id])],
            hint="a label's first use makes the module and later uses apply the same one: "
            "apply the labelled layer first",
        )
    return ReuseV(slot, node, node.span)


def _names_a_layer(ev: Evaluator, name: str) -> bool:
    """Whether `name` is also a layer, block or function, which it means until its label has
    made a module."""
    from nndsl.check.resolve import is_function_name, is_layer_name

    symbols = ev.symbols
    return (
        name in symbols.blocks
        or name in symbols.pymodules
        or is_layer_name(name)
        or is_function_name(name)
    )


def is_label(ev: Evaluator, frame: Frame, name: str) -> bool:
    """Whether `name` labels a submodule in the body being evaluated (constants and defaults
    are evaluated outside any body)."""
    return bool(frame.decl.body) and name in ev.naming(frame.decl).labels


def apply_reuse(ev: Evaluator, reuse: ReuseV, value: Any, frame: Frame, into: list | None) -> Any:
    slot = reuse.slot
    if into is not None:
        ev.error(
            f"`{slot.name}` is already a submodule of `{frame.decl.name}`, so it cannot also be a "
            "child of a labelled group",
            reuse.span,
            notes=[Note(f"`{slot.name}` is made at {{at}}", slot.span)],
            hint=f"apply it outside the group: `... -> {slot.name} -> ...`",
        )
        raise _Abort
    ins = ev.inputs_of(value, reuse.span, f"`{slot.name}`")
    out = _reuse_output(ev, slot, ins, reuse, frame)
    op = ev.emit(frame, Op(OpKind.MODULE, slot, ins, (), out, reuse.span))
    return _tensor_values(out, op, Origin(f"`{slot.name}`", reuse.span, ins[0].type))


def _fmt_types(types: Any) -> str:
    if isinstance(types, tuple):
        return ", ".join(str(t) for t in types) if len(types) != 1 else str(types[0])
    return str(types)


def _reuse_output(
    ev: Evaluator, slot: ModuleSlot, ins: tuple[TensorV, ...], reuse: ReuseV, frame: Frame
) -> Any:
    """The output of `slot` applied to `ins`, after checking that `ins` fit the module its first
    use made."""
    first = slot.in_type if isinstance(slot.in_type, tuple) else (slot.in_type,)
    types = tuple(v.type for v in ins)

    def mismatch(detail: str | None = None) -> None:
        ev.error(
            f"label `{slot.name}` is applied again to {_fmt_types(types)}, but its module was "
            f"made for {_fmt_types(first)}",
            reuse.span,
            notes=[Note(f"first applied at {{at}}, to {_fmt_types(first)}", slot.span)],
            hint=(f"{detail}; " if detail else "")
            + "a label used again is the same module with the same weights: give it inputs "
            "like its first one, or label a new layer",
        )
        raise _Abort

    if len(types) != len(first):
        mismatch(f"it takes {len(first)} input{'s' if len(first) != 1 else ''} here")
    entry = slot.entry if slot.kind == "torch" else None
    if entry is not None and entry.infer is not None and slot.args is not None:
        # a torch layer takes any input its constructor fits: compare what the input decides
        if entry.ranks is not None and types[0].rank not in entry.ranks:
            mismatch()
        if any(a.dtype != b.dtype for a, b in zip(types, first) if isinstance(b, TensorT)):
            mismatch()
        for key, want in entry.infer(types).items():
            have = slot.args.get(key)
            if key == "normalized_shape" and isinstance(have, (tuple, list)):
                want = tuple(types[0].shape[-len(have) :])
                have = tuple(have)
            same = (
                have == want
                if isinstance(have, tuple) or isinstance(want, tuple)
                else dims.equal(have, want) is not False
            )
            if not same:
                mismatch(f"`{key}` is {_fmt_value(have)} there and {_fmt_value(want)} here")
        try:
            return entry.shape(slot.args, types)
        except (ShapeError, dims.DimError):
            mismatch()
    for a, b in zip(types, first):
        if not isinstance(b, TensorT):
            continue
        if a.rank != b.rank or a.dtype != b.dtype:
            mismatch()
        if any(dims.equal(x, y) is False for x, y in zip(a.shape, b.shape)):
            mismatch()
    if slot.kind == "block" and slot.instance is not None:
        inst = ev.instance(slot.instance.decl, slot.instance.params, list(ins), reuse.span)
        if inst is None:
            raise _Abort
        outs = inst.output_types()
        return outs[0] if len(outs) == 1 else tuple(outs)
    return slot.out_type


def call_label(ev: Evaluator, e: ir.Call, frame: Frame) -> Any:
    """`tower(b)`: a label applied to a value, as `b -> tower`."""
    assert isinstance(e.func, ir.Name)
    reuse = label_value(ev, frame, e.func)
    if reuse is None or reuse is POISON:
        return reuse
    if e.kwargs or not e.args:
        return ev.error(
            f"`{e.func.id}` applies a module: it takes the input value(s) only, as in "
            f"`{e.func.id}(x)`",
            e.span,
        )
    args = tuple(ev.expr(a, frame) for a in e.args)
    if any(a is POISON for a in args):
        return POISON
    value = args[0] if len(args) == 1 else args
    return apply_reuse(ev, reuse, value, frame, None)


# ---------------------------------------------------------------------------------------------
# Paths to parameters: `lm_head.weight`, `block1.conv.weight`, `pos`
# ---------------------------------------------------------------------------------------------


def _path(e: ir.Expr) -> list[tuple[str, Span]] | None:
    if isinstance(e, ir.Name):
        return [(e.id, e.span)]
    if isinstance(e, ir.Attribute):
        head = _path(e.value)
        return None if head is None else head + [(e.attr, e.attr_span)]
    return None


def _find(slots: list[ModuleSlot], name: str) -> ModuleSlot | None:
    return next((s for s in slots if s.name == name), None)


def _shape_of(ev: Evaluator, slot: ModuleSlot, param: str, span: Span, qual: str) -> TensorT:
    """The shape of parameter `param` of the torch layer `slot` (named `qual`)."""
    shapes = parameter_shapes(slot.type_name, slot.args or {}, slot.params)
    if shapes is None:
        ev.error(f"nndsl does not know the parameters of {slot.type_name} (`{qual}`)", span)
        raise _Abort
    if param not in shapes:
        known = ", ".join(f"`{n}`" for n in shapes) or "none"
        ev.error(
            f"`{qual}` is a {slot.type_name}, which has no parameter `{param}`",
            span,
            hint=_did_you_mean(param, list(shapes)) or f"its parameters: {known}",
        )
        raise _Abort
    shape = shapes[param]
    if shape is None:
        ev.error(
            f"`{qual}` has no `{param}`: this {slot.type_name} is made without one",
            span,
            notes=[Note(f"`{qual}` is made at {{at}}", slot.span)],
            hint="`bias=false` (or `affine=false`) leaves the parameter out",
        )
        raise _Abort
    return TensorT(tuple(shape))


def parameter_at(
    ev: Evaluator, frame: Frame, e: ir.Expr, statement: str
) -> tuple[str, TensorT, tuple[ModuleSlot, ...]]:
    """(qualified name, shape, the modules on the path) of the parameter `e` names."""
    parts = _path(e)
    if parts is None:
        ev.error(
            f"`{statement}` names a parameter as `label.name`, such as `lm_head.weight`", e.span
        )
        raise _Abort
    if len(parts) == 1:
        p = _find_param(frame.inst, parts[0][0])
        if p is None:
            ev.error(
                f"`{parts[0][0]}` is not a parameter of `{frame.decl.name}`",
                e.span,
                hint=f"`{statement}` names a layer's parameter as `label.name`, such as "
                "`lm_head.weight`, or a `param` of the block",
            )
            raise _Abort
        return p.name, p.type, ()
    slots = frame.inst.modules
    inst: BlockInstance | None = frame.inst
    owner = f"`{frame.decl.name}`"
    chain: list[ModuleSlot] = []
    qual = ""
    for k, (name, span) in enumerate(parts[:-1]):
        slot = _find(slots, name)
        if slot is None:
            names = [s.name for s in slots]
            ev.error(
                f"{owner} has no submodule `{name}`",
                span,
                hint=_did_you_mean(name, names)
                or (
                    "its submodules: " + ", ".join(f"`{n}`" for n in names[:12]) if names else None
                ),
            )
            raise _Abort
        chain.append(slot)
        qual = f"{qual}.{name}" if qual else name
        owner = f"`{qual}`"
        if slot.kind == "block" and slot.instance is not None:
            inst, slots = slot.instance, slot.instance.modules
        elif slot.kind == "sequential":
            inst, slots = None, slot.children
        elif k < len(parts) - 2:
            ev.error(
                f"`{qual}` is a {slot.type_name}: name one of its parameters, as in `{qual}.weight`",
                parts[k + 1][1],
            )
            raise _Abort
    last, span = parts[-1]
    slot = chain[-1]
    if slot.kind == "torch":
        return f"{qual}.{last}", _shape_of(ev, slot, last, span, qual), tuple(chain)
    p = _find_param(inst, last) if inst is not None else None
    if p is not None:
        return f"{qual}.{last}", p.type, tuple(chain)
    what = "a group" if slot.kind == "sequential" else f"a {slot.type_name}"
    ev.error(
        f"`{qual}` is {what}, which has no parameter `{last}` of its own",
        span,
        hint=f"name a parameter of one of its layers, as in `{qual}.<layer>.weight`",
    )
    raise _Abort


@dataclass(frozen=True, eq=False)
class LayerParameter:
    """The target of a step that reads a labelled layer's parameter in forward (`qkv.weight`,
    written `self.qkv.weight`); the parameter belongs to the layer, so it counts nothing here."""

    name: str  # the path: `qkv.weight`, `tower.fc.bias`
    type: TensorT
    count: None = None


def parameter_value(ev: Evaluator, frame: Frame, e: ir.Attribute) -> TensorV | None:
    """`qkv.weight` as a value: the parameter of a layer this body labelled and made before (as
    torchvision's Swin V2 reads `self.qkv.bias`); None when `e` does not start with a label."""
    parts = _path(e)
    if parts is None or len(parts) < 2:
        return None
    root = parts[0][0]
    if root in frame.vars or not is_label(ev, frame, root):
        return None
    if _find(frame.inst.modules, root) is None:
        return None  # not made yet: reported where the label is read
    name, t, _ = parameter_at(ev, frame, e, "reading a parameter")
    op = ev.emit(frame, Op(OpKind.PARAM, LayerParameter(name, t), (), (), t, e.span))
    return TensorV(t, op, Origin(f"parameter `{name}`", e.span))


def _find_param(inst: BlockInstance | None, name: str):
    if inst is None:
        return None
    return next((p for p in inst.param_tensors if p.name == name), None)


# ---------------------------------------------------------------------------------------------
# `tie` and `init`: checked once the body has made every module
# ---------------------------------------------------------------------------------------------


def finish(ev: Evaluator, frame: Frame, model: bool) -> bool:
    """Check the body's `tie` and `init` statements; False if one of them is wrong."""
    ok = True
    for stmt in frame.decl.body:
        try:
            if isinstance(stmt, ir.Tie):
                tie(ev, stmt, frame)
            elif isinstance(stmt, ir.InitStmt):
                init(ev, stmt, frame)
        except _Abort:
            ok = False
    return ok


def tie(ev: Evaluator, stmt: ir.Tie, frame: Frame) -> None:
    target, t_type, t_chain = parameter_at(ev, frame, stmt.target, "tie")
    source, s_type, s_chain = parameter_at(ev, frame, stmt.source, "tie")
    if target == source:
        ev.error(f"`tie` ties `{target}` to itself", stmt.span)
        raise _Abort
    for earlier in frame.inst.ties:
        if target in (earlier.target, earlier.source) and earlier.target == target:
            ev.error(
                f"`{target}` is tied twice",
                stmt.span,
                notes=[Note("first tied at {at}", earlier.span)] if earlier.span else [],
            )
            raise _Abort
    same = t_type.rank == s_type.rank and not any(
        dims.equal(a, b) is False for a, b in zip(t_type.shape, s_type.shape)
    )
    if not same:
        notes = (
            [Note(f"`{target.rsplit('.', 1)[0]}` is made at {{at}}", t_chain[-1].span)]
            if (t_chain)
            else []
        )
        if s_chain:
            notes.append(Note(f"`{source.rsplit('.', 1)[0]}` is made at {{at}}", s_chain[-1].span))
        ev.error(
            f"cannot tie `{target}` {t_type} to `{source}` {s_type}: tied parameters are one "
            "tensor, so they need one shape",
            stmt.span,
            notes=notes,
            hint="an Embedding(vocab, d) weight is [vocab, d], as is the weight of a "
            "Linear(vocab, bias=false) applied to d features",
        )
        raise _Abort
    frame.inst.ties.append(TieSlot(target, source, s_type, stmt.span, t_chain + s_chain))


def init(ev: Evaluator, stmt: ir.InitStmt, frame: Frame) -> None:
    call = stmt.init if isinstance(stmt.init, ir.Call) else None
    func = call.func if call is not None else stmt.init
    if not isinstance(func, ir.Name) or api.init_function(func.id) is None:
        ev.error(
            '`init` takes an initialiser such as `kaiming_normal(mode="fan_out")`',
            stmt.init.span,
            hint=_did_you_mean(func.id, api.init_names()) if isinstance(func, ir.Name) else None,
        )
        raise _Abort
    torch_name = api.init_function(func.id)
    assert torch_name is not None
    args = tuple(ev.expr(a, frame) for a in call.args) if call else ()
    kwargs = tuple((k.name, ev.expr(k.value, frame)) for k in call.kwargs) if call else ()
    if any(a is POISON for a in args) or any(v is POISON for _, v in kwargs):
        raise _Abort
    sig = api.init_signature(func.id) or ()
    bound, problems = bind(
        sig, (), args, dict(kwargs), what=f"`{func.id}`", skip=("tensor", "generator")
    )
    for p in problems:
        ev.error(p.message, stmt.init.span, hint=p.hint)
    if problems:
        raise _Abort
    spans = dict((k.name, k.value.span) for k in call.kwargs) if call else {}
    positional = [n for n, k, _ in sig if n not in ("tensor", "generator")]
    for i, a in enumerate(call.args if call else ()):
        if i < len(positional):
            spans[positional[i]] = a.span
    from nndsl.check.initcheck import argument_problems, rank_problem

    found = argument_problems(func.id, torch_name, bound, set(spans))
    for message, key, hint in found:
        ev.error(message, spans[key], hint=hint)
    if found:
        raise _Abort
    parts = _path(stmt.target)
    if parts is None or len(parts) < 2:
        ev.error(
            "`init` names the parameters to initialise as `Type.name` (every layer of a type, "
            "such as `Conv2d.weight`) or `label.name` (one layer)",
            stmt.target.span,
        )
        raise _Abort
    head, head_span = parts[0]
    param, param_span = parts[-1]
    nm = ev.naming(frame.decl)
    by_type = len(parts) == 2 and head not in nm.labels and head[:1].isupper()
    if by_type and api.module_signature(head) is None:
        ev.error(
            f"unknown layer type `{head}`",
            head_span,
            hint=_did_you_mean(head, list(LAYERS)) or "`init Type.name` takes a torch layer type",
        )
        raise _Abort
    slot_shapes: list[tuple[str, TensorT | None]] = []
    if by_type:
        layers = [
            (q, s)
            for q, s, _ in iter_modules(frame.inst)
            if s.kind == "torch" and s.type_name == head
        ]
        if not layers:
            ev.warn(
                f"`init {head}.{param}` does nothing: `{frame.decl.name}` has no {head} layer",
                stmt.target.span,
                hint="remove the statement, or name a layer type the model uses",
            )
            return
        for q, s in layers:
            shapes = parameter_shapes(s.type_name, s.args or {}, s.params)
            if shapes is None:
                continue  # a layer nndsl knows no parameters of: torch decides
            if param not in shapes:
                known = ", ".join(f"`{n}`" for n in shapes) or "none"
                ev.error(
                    f"{head} has no parameter `{param}`",
                    param_span,
                    hint=_did_you_mean(param, list(shapes)) or f"its parameters: {known}",
                )
                raise _Abort
            shape = shapes[param]
            slot_shapes.append((q, TensorT(tuple(shape)) if shape is not None else None))
        if slot_shapes and all(t is None for _, t in slot_shapes):
            ev.warn(
                f"`init {head}.{param}` does nothing: no {head} of `{frame.decl.name}` has a "
                f"`{param}`",
                stmt.target.span,
                hint="its layers are made without one (`bias=false`)",
            )
            return
        chain: tuple[ModuleSlot, ...] = ()
        path = None
        layers_of = [s for _, s in layers]
    else:
        qual, t, chain = parameter_at(ev, frame, stmt.target, "init")
        layers_of = []
        slot_shapes.append((qual, t))
        path = qual.rsplit(".", 1)[0]
    for q, t in slot_shapes:
        if t is None:
            continue
        problem = rank_problem(
            func.id, torch_name, t, f"`{q if not by_type else head}.{param}`", bound
        )
        if problem is not None:
            ev.error(problem[0], stmt.init.span, hint=problem[1] or None)
            raise _Abort
    frame.inst.inits.append(
        InitSlot(
            param=param,
            function=torch_name,
            args=args,
            kwargs=tuple(kwargs),
            layer_type=head if by_type else None,
            path=path,
            guard=any(t is None for _, t in slot_shapes) or not all(map(_fixed, layers_of)),
            span=stmt.span,
            modules=chain,
        )
    )


_FLAGS = ("bias", "affine", "elementwise_affine")


def _fixed(slot: ModuleSlot) -> bool:
    """Whether the flags that leave a layer's parameters out are known (not a block's parameter,
    decided per instance): otherwise the generated code tests the parameter for None."""
    args = slot.args or {}
    return all(args.get(k) is None or isinstance(args.get(k), bool) for k in _FLAGS)
