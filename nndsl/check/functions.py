"""Functions: catalog functions and tensor methods called on the current value, their
signatures, their module form inside an nn.Sequential, and the fallback to torch.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from nndsl import dims, ir
from nndsl.catalog import api, ranges
from nndsl.catalog.core import (
    FUNCTIONS,
    FunctionEntry,
    ShapeError,
    TensorT,
    bind,
    check_type,
    describe,
)
from nndsl.catalog.functions import CASTS
from nndsl.catalog.modules import module_form
from nndsl.check.domain import CONCRETE
from nndsl.check.frame import Frame
from nndsl.check.graph import (
    ModuleSlot,
    Op,
    OpKind,
    Origin,
    SlotKind,
    TensorV,
    renew_slots,
)
from nndsl.check.layers import _NoKey, _value_key
from nndsl.check.messages import cat_hint, function_message, list_items, operand_note, origin_note
from nndsl.check.naming import function_module_name
from nndsl.check.values import (
    Abort,
    LayerRef,
    dtype_value,
    has_poison,
    operand_type,
    tensor_types,
    tensor_values,
)
from nndsl.dims import Sym
from nndsl.errors import Span
from nndsl.lazy import lazy_module

torchfn = lazy_module("nndsl.check.torchfn")  # torch's own functions: only some specs call them


def function_signature(entry: FunctionEntry):
    return (
        _signature_of(entry.name)
        if FUNCTIONS.get(entry.name) is entry
        else _compute_signature(entry)
    )


@lru_cache(maxsize=None)
def _signature_of(name: str):
    return _compute_signature(FUNCTIONS[name])


def _compute_signature(entry: FunctionEntry):
    """The signature of a function as a spec calls it: tensor params first, then `params` or
    torch's own signature order."""
    if entry.signature:
        return tuple(entry.signature)
    sig = (
        api.functional_signature(entry.name)
        if entry.torch.startswith("F.")
        else api.torch_function_signature(entry.name)
    )
    sig = tuple(sig or ())
    overloads = {}
    if entry.torch.startswith("torch.") or entry.torch.startswith("."):
        from nndsl.catalog import torch_api

        for o in torch_api.TORCH_FUNCTION_OVERLOADS.get(entry.name, ()):
            for p in o:
                overloads.setdefault(p[0], p)
    names = [p[0] for p in sig]
    tensor = [(tp, "pos_or_kw", api.REQUIRED) for tp in entry.tensor_params]
    rest: list = []
    if entry.params:
        for pn in entry.params:
            found = next((p for p in sig if p[0] == pn), None) or overloads.get(pn)
            default = entry.defaults.get(pn, found[2] if found else None)
            rest.append((pn, "pos_or_kw", default))
    elif entry.variadic:
        rest.append((entry.variadic, "var_pos", api.REQUIRED))
    else:
        for p in sig:
            if p[0] in entry.tensor_params or p[0] in ("input", "self", "out"):
                continue
            if p[1] == "var_pos":
                continue
            rest.append(p)
    for key, default in entry.defaults.items():
        if key not in [r[0] for r in rest]:
            rest.append((key, "kw_only", default))
    for k in entry.keywords:
        if k not in [r[0] for r in rest]:
            rest.append((k, "kw_only", None))
    # other keyword-only parameters torch accepts (for example `inplace`)
    for p in sig:
        if (
            p[0] not in names[:0]
            and p[0] not in [r[0] for r in rest]
            and p[0] not in entry.tensor_params
            and p[0] not in ("input", "out", "self")
            and p[1] != "var_pos"
        ):
            rest.append((p[0], "kw_only", p[2]))
    if entry.tensor_list:
        tensor = [(entry.tensor_params[0], "pos_or_kw", api.REQUIRED)]
    return tuple(tensor + rest)


def _sig_default(sig, key):
    for n, k, d in sig:
        if n == key:
            return d
    return None


def function_default(entry: FunctionEntry, key: str) -> Any:
    if key in entry.defaults:
        return entry.defaults[key]
    return _sig_default(function_signature(entry), key)


def bind_function(
    entry: FunctionEntry, args: list, kwargs: dict, *, opaque_quotients: bool = False
):
    """A function's call arguments bound to its signature, with the catalog's defaults
    (`opaque_quotients`: see `Args`)."""
    sig = function_signature(entry)
    out, problems = bind(
        sig, (), args, kwargs, what=f"`{entry.name}`", extra_keywords=entry.keywords
    )
    for k, v in entry.defaults.items():
        if k not in kwargs and (k not in out or out[k] == _sig_default(sig, k)):
            if not any(n == k for n in list(out)[: len(args)]):
                out[k] = v
    if opaque_quotients:
        out.opaque_quotients = opaque_quotients
    return out, problems


def _function_value_key(v: Any, tensors: list[TensorV]) -> Any:
    """`_value_key` of a function's argument, a tensor keyed by its type and by the first
    argument that is the same tensor (collected in `tensors`, in order)."""
    if type(v) is TensorV:
        index = next((i for i, t in enumerate(tensors) if t is v), len(tensors))
        tensors.append(v)
        return (TensorV, index, _value_key(v.type))
    if type(v) is list or type(v) is tuple:
        return (type(v), tuple(_function_value_key(x, tensors) for x in v))
    return _value_key(v)


def _only_tensors_of(v: Any, first: dict[int, int]) -> bool:
    """Whether every tensor in `v` (nested in lists and tuples) is one of the call's arguments
    (`first`: id → index), so that `_with_tensors` can put another call's in their place."""
    if type(v) is TensorV:
        return id(v) in first
    if type(v) is list or type(v) is tuple:
        return all(_only_tensors_of(x, first) for x in v)
    return not isinstance(v, (TensorV, list, tuple, dict, set))


def _with_tensors(v: Any, first: dict[int, int], now: list[TensorV]) -> Any:
    """`v` with each of an earlier call's tensors replaced by this call's at the same place
    (new lists and tuples, as binding made them)."""
    if type(v) is TensorV:
        return now[first[id(v)]]
    if type(v) is list or type(v) is tuple:
        return type(v)(_with_tensors(x, first, now) for x in v)
    return v


class Functions:
    """Functions and tensor methods (a part of `Evaluator`)."""

    def function_as_module(
        self, ref: LayerRef, value: Any, frame: Frame, into: list | None, label: str | None
    ) -> Any:
        form = module_form(ref.name)
        if form is None and self.has_function_module(ref):
            return self.function_module(ref, value, frame, into, label)
        if form is None:
            where = f"`{label}`" if label else "a labelled group"
            self.error(
                f"`{ref.name}` has no module form, so it cannot be part of the nn.Sequential {where}",
                ref.span,
                hint="move it out of the group, or write the layer's module (e.g. `ReLU`)",
            )
            raise Abort
        module_name, arg_map = form
        args = tuple(ref.args)
        kwargs = tuple((arg_map.get(k, k), v) for k, v in ref.kwargs)
        mref = LayerRef(
            "torch", module_name, ref.node, ref.span, args, kwargs, ref.arg_spans, ref.kwarg_spans
        )
        name = label or ""
        start = len(frame.inst.ops)
        result = self.apply_torch(mref, value, frame, name, into)
        slots = into if into is not None else frame.inst.modules
        renew_slots(slots, {len(slots) - 1: {"from_function": ref.name}}, frame.inst.ops, start)
        return result

    def has_function_module(self, ref: LayerRef) -> bool:
        """A catalog function of one tensor (`permute`, `mean`) becomes a small generated module
        inside a group (torchvision's `Permute`)."""
        entry = FUNCTIONS.get(ref.name)
        return (
            entry is not None
            and len(entry.tensor_params) == 1
            and not entry.tensor_list
            and entry.name not in CASTS
        )

    def function_module(
        self, ref: LayerRef, value: Any, frame: Frame, into: list | None, label: str | None
    ) -> Any:
        n = len(frame.inst.ops)
        self.call_function(ref, value, frame, ref.span)
        op = frame.inst.ops[-1]
        if len(frame.inst.ops) != n + 1 or op.kind != "function" or op.entry is None:
            self.error(
                f"`{ref.name}` cannot be part of an nn.Sequential here",
                ref.span,
                hint="move it out of the group",
            )
            raise Abort
        x = dict(op.kwargs).get(op.entry.tensor_params[0])
        if not isinstance(x, TensorV) or not isinstance(op.out, TensorT):
            self.error(f"`{ref.name}` inside a group needs the group's tensor", ref.span)
            raise Abort
        frame.inst.ops.pop()
        slot = ModuleSlot(
            name=label or "",
            kind=SlotKind.FUNCTION,
            type_name=function_module_name(ref.name),
            span=ref.span,
            from_function=ref.name,
            function_op=op,
            in_type=x.type,
            out_type=op.out,
        )
        if into is not None:
            into.append(slot)
        else:
            frame.inst.modules.append(slot)
            frame.taken.add(slot.name)
        i = self.emit(frame, Op(OpKind.MODULE, slot, (x,), (), op.out, ref.span))
        return tensor_values(op.out, i, Origin(f"`{ref.name}`", ref.span, x.type))

    def call_function(self, ref: LayerRef, value: Any, frame: Frame, span: Span) -> Any:
        entry = FUNCTIONS.get(ref.name)
        if entry is None:
            return self.function_fallback(ref, value, frame, span)
        args: list[Any] = [dtype_value(a) for a in ref.args]
        arg_spans = list(ref.arg_spans)
        if value is not None:
            if isinstance(value, tuple) and entry.tensor_list:
                args.insert(0, list(value))
            elif isinstance(value, TensorV):
                args.insert(0, [value] if entry.tensor_list else value)
            else:
                self.inputs_of(value, span)
            arg_spans.insert(0, span)
        kwargs = {k: dtype_value(v) for k, v in ref.kwargs}
        memo_key, now = self._function_key(ref, args, kwargs)
        made = self._layers_made.get(memo_key) if memo_key is not None else None
        if made is not None:
            # the same function, with the same arguments, on tensors of the same types: what
            # binding, the checks and the shape rule gave before (they reported nothing then)
            return self._function_made(made, now, ref, frame)
        reports = self.reports
        if entry.overload is not None:
            entry = entry.overload(args, kwargs) or entry
        bound, problems = self.bind_function(entry, args, kwargs)
        ref = LayerRef(
            ref.kind,
            ref.name,
            ref.node,
            ref.span,
            tuple(args),
            ref.kwargs,
            tuple(arg_spans),
            ref.kwarg_spans,
        )
        for p in problems:
            self.error(
                p.message, self.arg_span(ref, p.arg) if p.arg is not None else ref.span, hint=p.hint
            )
        if problems:
            raise Abort
        tensors: list[TensorV] = []
        operand_types: list[TensorT] = []  # the tensors and numbers, in parameter order
        if entry.tensor_list and entry.variadic == entry.tensor_params[0]:
            given = bound.get(entry.variadic)  # `meshgrid(a, b)` or `meshgrid([a, b])`
            if isinstance(given, tuple) and len(given) == 1 and isinstance(given[0], (list, tuple)):
                bound[entry.variadic] = list(given[0])
        for tp in entry.tensor_params:
            v = bound.get(tp)
            if v is None:
                continue
            if tp in entry.scalars and not isinstance(v, bool) and isinstance(v, (int, float, Sym)):
                operand_types.append(operand_type(v))
                continue
            if entry.tensor_list and tp == entry.tensor_params[0]:
                if not isinstance(v, (list, tuple)) or not all(isinstance(x, TensorV) for x in v):
                    self.error(
                        f"`{entry.name}` takes a list of tensors, such as `{entry.name}([a, b], dim=1)`",
                        ref.span,
                    )
                    raise Abort
                tensors.extend(v)
                operand_types.extend(x.type for x in v)
            elif isinstance(v, TensorV):
                tensors.append(v)
                operand_types.append(v.type)
            else:
                self.error(
                    f"`{entry.name}`: `{tp}` must be a tensor"
                    + (" or a number" if tp in entry.scalars else "")
                    + f", not {describe(v)}",
                    ref.span,
                    hint=f"apply it to a value: `x -> {entry.name}(...)`"
                    if tp == "input"
                    else None,
                )
                raise Abort
        if not tensors and not entry.creates:
            self.error(f"`{entry.name}` has no tensor to work on", ref.span)
            raise Abort
        for key, v in bound.items():
            if key in entry.tensor_params or key == entry.variadic:
                continue
            complaint = check_type(key, v, function_default(entry, key), entry.types.get(key))
            if complaint:
                self.error(
                    f"`{entry.name}`: {complaint}", self.arg_span(ref, key), hint=complaint.hint
                )
                raise Abort
        positional = list(bound)[: len(args)]
        out_of_range = ranges.check(
            "module",
            entry.name,
            bound,
            only=[k for k in bound if k not in entry.tensor_params and k != entry.variadic],
        )
        for p in out_of_range:
            at = positional.index(p.arg) if p.arg in positional else p.arg
            self.error(f"`{entry.name}`: {p.message}", self.arg_span(ref, at), hint=p.hint)
        if out_of_range:
            raise Abort
        if entry.dtype == "float" and tensors and not tensors[0].type.is_float:
            self.error(
                f"`{entry.name}` needs a floating-point tensor, but gets {tensors[0].type}",
                ref.span,
            )
            raise Abort
        types = tuple(operand_types)
        try:
            out = entry.shape(bound, types)
        except ShapeError as exc:
            notes = []
            if len(tensors) > 1:
                items = list_items(ref.node, len(tensors)) if entry.tensor_list else None
                notes = [
                    operand_note(t, item)
                    for t, item in zip(tensors, items or [None] * len(tensors))
                    if t.origin.span
                ]
            elif tensors:
                n = origin_note(tensors[0], None)
                notes = [n] if n else []
            notes = [n for k, n in enumerate(notes) if n not in notes[:k]]  # `where(m, m, 0)`
            span_ = (
                self.arg_span(ref, exc.arg)
                if exc.arg and exc.arg not in entry.tensor_params
                else ref.span
            )
            hint = exc.hint
            if entry.name == "cat":
                hint = cat_hint(tensors, bound.get("dim"), hint)
            self.error(function_message(entry.name, exc.message), span_, notes=notes, hint=hint)
            raise Abort from None
        except dims.DimError as exc:
            self.error(f"`{entry.name}`: cannot compute its shape at compile time: {exc}", ref.span)
            raise Abort from None
        call_args = tuple((k, bound[k]) for k in bound)
        sig = function_signature(entry)
        pos_names = [n for n, k, _ in sig if k == "pos_or_kw"]
        var_pos = [n for n, k, _ in sig if k == "var_pos"][: int(len(args) > len(pos_names))]
        written_pos = tuple(pos_names[: len(args)] + var_pos)
        written = written_pos + tuple(k for k, _ in ref.kwargs)
        if memo_key is not None and self.reports == reports:
            first: dict[int, int] = {}
            for i, t in enumerate(now):
                first.setdefault(id(t), i)
            if _only_tensors_of(call_args, first):
                kept = tuple((k, _with_tensors(v, first, now)) for k, v in call_args)  # (a copy)
                n_positional = len(written_pos)
                self._layers_made[memo_key] = (
                    entry,
                    kept,
                    first,
                    out,
                    written,
                    n_positional,
                    types,
                )
        op = self.emit(
            frame,
            Op(
                OpKind.FUNCTION,
                entry,
                (),
                call_args,
                out,
                ref.span,
                entry=entry,
                written=written,
                n_positional=len(written_pos),
            ),
        )
        before = types[0] if types and not entry.creates else None
        return tensor_values(out, op, Origin(f"`{entry.name}`", ref.span, before))

    def _function_key(self, ref: LayerRef, args: list, kwargs: dict) -> tuple[Any, list]:
        """What a catalog function's binding, checks and shape rule depend on (the function, the
        arguments with their Python types, each tensor's type and which arguments are the same
        tensor, the model inputs' sizes), and the tensors in the order the key meets them; None
        when that cannot be told safely (a value of another kind) or the evaluation is not the
        checker's.  As `TorchLayers._layer_key`, and kept with the layers' (apply_torch)."""
        tensors: list[TensorV] = []
        if self.domain is not CONCRETE:
            return None, tensors
        try:
            return (
                None,  # (not a layer's key: those begin with its name)
                ref.name,
                _function_value_key(args, tensors),
                tuple((k, _function_value_key(v, tensors)) for k, v in kwargs.items()),
                tuple(k for k, _ in ref.kwargs),
                frozenset(self.input_syms),
            ), tensors
        except _NoKey:
            return None, tensors

    def _function_made(self, made: tuple, now: list, ref: LayerRef, frame: Frame) -> Any:
        """`call_function`'s step from what an earlier call with the same key gave (see
        `_function_key`), on this call's tensors."""
        entry, call_args, first, out, written, n_positional, types = made
        call_args = tuple((k, _with_tensors(v, first, now)) for k, v in call_args)
        op = self.emit(
            frame,
            Op(
                OpKind.FUNCTION,
                entry,
                (),
                call_args,
                out,
                ref.span,
                entry=entry,
                written=written,
                n_positional=n_positional,
            ),
        )
        before = types[0] if types and not entry.creates else None
        return tensor_values(out, op, Origin(f"`{entry.name}`", ref.span, before))

    def bind_function(self, entry: FunctionEntry, args: list, kwargs: dict):
        return bind_function(entry, args, kwargs, opaque_quotients=self.domain.opaque_quotients)

    def function_fallback(self, ref: LayerRef, value: Any, frame: Frame, span: Span) -> Any:
        """A torch function or Tensor method outside the catalog: torch itself is run on meta
        tensors to find its output (nndsl/check/torchfn.py); the call becomes an ordinary
        function step, so generated code calls it like a catalog function."""
        from nndsl.check.fallback import FallbackError

        method = isinstance(ref.node, ir.Call) and isinstance(ref.node.func, ir.Attribute)
        name_span = ref.node.func.attr_span if method else ref.span
        args: list[Any] = list(ref.args)
        arg_spans = list(ref.arg_spans)
        if value is not None:
            args.insert(0, list(value) if isinstance(value, tuple) else value)
            arg_spans.insert(0, span)
        if any(has_poison(v) for v in (*args, *(v for _, v in ref.kwargs))):
            raise Abort
        try:
            tgt = torchfn.target(ref.name, method=method)
            call = torchfn.prepare_call(tgt, args, ref.kwargs)
        except FallbackError as exc:
            at = getattr(exc, "arg", None)
            spans = dict(ref.kwarg_spans) if isinstance(at, str) else dict(enumerate(arg_spans))
            self.error(exc.message, spans.get(at, name_span), hint=exc.hint)
            raise Abort from None
        tensors = call.tensors
        self.used_fallback = True
        try:
            out = torchfn.infer(tgt, call.arg_types, call.kwarg_types)
        except FallbackError as exc:
            notes = [n for n in (origin_note(t, None) for t in tensors[:1]) if n]
            hint = exc.hint
            if value is not None and not method and "raised TypeError" in (hint or ""):
                hint = (
                    f"as a chain stage, `{ref.name}` gets the current value as its first "
                    f"argument; {hint}"
                )
            self.error(exc.message, ref.span, notes=notes, hint=hint)
            raise Abort from None
        if not any(True for _ in tensor_types(out)):
            return out  # a size, a flag or a number, known at compile time (`x.numel()`)
        for t in tensor_types(out):
            if self.too_many_elements(t, ref.span, "this step makes"):
                raise Abort
        op = self.emit(
            frame,
            Op(
                OpKind.FUNCTION,
                call.entry,
                (),
                call.bound,
                out,
                ref.span,
                entry=call.entry,
                written=call.written,
                n_positional=call.n_positional,
            ),
        )
        return tensor_values(out, op, Origin(f"`{ref.name}`", ref.span, tensors[0].type))
