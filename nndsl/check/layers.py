"""Torch layers: binding a layer's arguments to torch's signature (inferring those the input
gives), their ranges, the catalog's shape rule, and the fallback to torch itself.
"""

from __future__ import annotations

from typing import Any

from nndsl import dims
from nndsl.catalog import api, ranges
from nndsl.catalog.core import (
    LAYERS,
    Args,
    LayerEntry,
    LayerValue,
    ShapeError,
    TensorT,
    bind,
    check_type,
    describe,
)
from nndsl.check.domain import CONCRETE
from nndsl.check.frame import Frame
from nndsl.check.graph import (
    ModuleSlot,
    SlotKind,
    TensorV,
)
from nndsl.check.messages import origin_note, runtime_message
from nndsl.check.values import Abort, LayerRef, fmt_value, is_layer, runtime_symbols
from nndsl.dims import Sym
from nndsl.errors import Span


def _positional_index(sig, inferred, args: Args, ref: LayerRef, key: str) -> int | str:
    """The index of the positional argument bound to `key` (for its span), else `key`."""
    if any(k == key for k, _ in ref.kwargs):
        return key
    skip = () if getattr(args, "explicit_inferred", False) else tuple(inferred)
    names = [
        n for n, k, _ in sig if k == "pos_or_kw" and n not in skip and n not in ("device", "dtype")
    ]
    return names.index(key) if key in names[: len(ref.args)] else key


def _absurd_positional(sig, inferred, first: Any) -> bool:
    """Whether reading the first positional argument as the first non-inferred parameter would
    be absurd: an integer, or a list of them, for a float parameter such as `eps`
    (`BatchNorm2d(64)`, `LayerNorm([16, 32, 32])`)."""
    rest = [(n, d) for n, k, d in sig if k == "pos_or_kw" and n not in inferred]
    sizes = first if isinstance(first, (tuple, list)) and first else (first,)
    if not rest or any(isinstance(v, bool) or not isinstance(v, (int, Sym)) for v in sizes):
        return False
    default = rest[0][1]
    return isinstance(default, float) or isinstance(default, bool)


def _positional_names(entry: LayerEntry, n: int) -> list[str]:
    names = _POSITIONAL.get(id(entry))
    if names is None or names[0] is not entry:
        sig = entry.signature
        names = (entry, [p for p, k, d in sig if k == "pos_or_kw" and p not in entry.inferred])
        _POSITIONAL[id(entry)] = names
    return names[1][:n]


# id of a catalog layer → (the layer, its positional parameters that are not inferred)
_POSITIONAL: dict[int, tuple[LayerEntry, list[str]]] = {}


def _written_positional(entry: LayerEntry, args: Args, n: int) -> list[str]:
    """The parameters the user's n positional arguments went to (inferred ones included when the
    user wrote them explicitly)."""
    names = _positional_names(entry, n)
    if all(k in args for k in names) and not getattr(args, "explicit_inferred", False):
        return names
    return [p for p, k, d in entry.signature if k == "pos_or_kw"][:n]


class _NoKey(Exception):
    pass


_PLAIN = (int, str, bool, type(None), Sym)


def _value_key(v: Any) -> Any:
    """A compile-time value as a dictionary key that tells apart what `==` does not (`1`,
    `1.0` and `true`; `0.0` and `-0.0`; a list and a tuple)."""
    t = type(v)
    if t in _PLAIN:
        return (t, v)
    if t is float:
        return (t, repr(v))
    if t is tuple or t is list:
        return (t, tuple(_value_key(x) for x in v))
    if t is TensorT:
        return (t, _value_key(v.shape), v.dtype)
    raise _NoKey


def _sig_positional(sig) -> list[str]:
    return [p for p, k, d in sig if k == "pos_or_kw"]


class TorchLayers:
    """Torch layers (a part of `Evaluator`)."""

    def bind_layer(
        self, ref: LayerRef, entry: LayerEntry | None, inputs: tuple[TensorT, ...]
    ) -> Args:
        """Bind a torch layer's arguments, inferring those taken from the input."""
        sig = api.module_signature(ref.name) or ()
        inferred = entry.inferred if entry else ()
        args, problems = bind(
            sig, inferred, ref.args, dict(ref.kwargs), what=ref.name, skip=("device", "dtype")
        )
        if inferred and ref.args and (problems or _absurd_positional(sig, inferred, ref.args[0])):
            # `BatchNorm2d(64)`, `LayerNorm(768, eps=1e-6)`: torch's own positional order, with the
            # inferred arguments written explicitly (checked against the input below)
            full, full_problems = bind(
                sig, (), ref.args, dict(ref.kwargs), what=ref.name, skip=("device", "dtype")
            )
            sig_defaults = {n: d for n, k, d in sig}
            well_typed = entry is None or not any(
                check_type(k, v, sig_defaults.get(k), entry.types.get(k))
                for k, v in full.items()
                if k not in entry.layer_args
            )
            if not full_problems and well_typed:
                args, problems = full, []
                args.explicit_inferred = True
        elif inferred and ref.args and entry is not None and entry.infer is not None and inputs:
            self.torch_order_lint(ref, sig, inferred, entry.infer(inputs))
        self.report_bind(ref, problems)
        if entry is not None:
            sig_defaults: dict[str, Any] = {}
            for n, k, d in sig:
                sig_defaults.setdefault(n, d)  # (the first of a name, as a search would find)
            for key, value in list(args.items()):
                declared = entry.types.get(key)
                default = sig_defaults.get(key)
                complaint = (
                    None if key in entry.layer_args else check_type(key, value, default, declared)
                )
                if complaint and key not in inferred:
                    full_order = getattr(args, "explicit_inferred", False)
                    self.error(
                        f"{ref.name}: {complaint}",
                        self.arg_span(ref, _positional_index(sig, inferred, args, ref, key)),
                        hint=f"the positional arguments were read in torch's own order, with "
                        f"`{inferred[0]}` first: "
                        + ", ".join(_sig_positional(sig)[: len(ref.args)])
                        if full_order and inferred
                        else complaint.hint,
                    )
                    raise Abort
            if entry.infer is not None and inputs:
                for key, value in entry.infer(inputs).items():
                    if key in args and args[key] is not None:
                        given = args[key]
                        expected = value
                        if key == "normalized_shape" and isinstance(given, (tuple, list)):
                            expected = (
                                tuple(inputs[0].shape[-len(given) :])
                                if len(given) <= inputs[0].rank
                                else None
                            )
                            given = tuple(given)
                        if (
                            dims.equal(given, expected) is False
                            if not isinstance(given, tuple)
                            else given != expected
                        ):
                            self.error(
                                f"{ref.name}: `{key}` is {fmt_value(given)}, but the input gives {fmt_value(expected)}",
                                self.arg_span(ref, key),
                                hint=f"`{key}` is inferred from the input; leave it out"
                                if not isinstance(given, tuple) or len(given) == 1
                                else f"the input's last {len(given)} sizes are "
                                f"{fmt_value(expected)}: write them, or leave `{key}` out to "
                                "normalise over the last one only",
                            )
                            raise Abort
                        args[key] = given if key != "normalized_shape" else args[key]
                    else:
                        args[key] = value
        self.check_ranges(
            ref, ref.name, args, lambda key: _positional_index(sig, inferred, args, ref, key)
        )
        if self.domain.opaque_quotients:
            args.opaque_quotients = self.domain.opaque_quotients
        return args

    def check_ranges(self, ref: LayerRef, name: str, args: Args, index_of) -> None:
        """Sizes, counts and rates within their ranges (catalog.ranges); every argument out of
        range is reported at the value that gives it.  `index_of(key)`: the index of the
        positional argument bound to `key`, else `key`."""
        problems = ranges.check("module", name, args)
        for p in problems:
            self.error(f"{name}: {p.message}", self.arg_span(ref, index_of(p.arg)), hint=p.hint)
        if problems:
            raise Abort

    def report_bind(self, ref: LayerRef, problems) -> None:
        for p in problems:
            span = self.arg_span(ref, p.arg) if p.arg is not None else ref.span
            self.error(p.message, span, hint=p.hint)
        if problems:
            raise Abort

    def arg_span(self, ref: LayerRef, arg: int | str | None) -> Span:
        if isinstance(arg, int) and arg < len(ref.arg_spans):
            return ref.arg_spans[arg]
        if isinstance(arg, str):
            for k, s in ref.kwarg_spans:
                if k == arg:
                    return s
        return ref.span

    def layer_value(self, v: Any, span: Span, inputs: tuple[TensorT, ...]) -> Any:
        """A layer given as an argument: bound (and inferred from the outer layer's input)."""
        if isinstance(v, LayerRef) and v.kind == "torch":
            entry = LAYERS.get(v.name)
            if entry is None:
                self.error(
                    f"`{v.name}` cannot be an argument here: nndsl does not know its shape rule",
                    span,
                )
                raise Abort
            args = self.bind_layer(v, entry, inputs)
            for k, val in list(args.items()):
                args[k] = self.layer_value(val, span, inputs) if is_layer(val) else val
            return LayerValue(
                v.name, args, tuple(range(len(v.args))), tuple(k for k, _ in v.kwargs)
            )
        if is_layer(v):
            self.error("only a torch layer can be passed as an argument", span)
            raise Abort
        return v

    def apply_torch(
        self, ref: LayerRef, value: Any, frame: Frame, name: str | None, into: list | None
    ) -> Any:
        entry = LAYERS.get(ref.name)
        ins = self.inputs_of(value, ref.span, ref.name)
        types = tuple(v.type for v in ins)
        if entry is None:
            return self.apply_fallback(ref, value, ins, frame, name, into)
        memo_key = self._layer_key(ref, types)
        made = self._layers_made.get(memo_key) if memo_key is not None else None
        if made is None:
            reports = self.reports
            made = self.bind_torch_layer(ref, entry, ins, types, frame)
            if memo_key is not None and self.reports == reports:
                self._layers_made[memo_key] = made
        else:
            # the same layer, written with the same arguments, on inputs of the same types:
            # what its binding and shape rule gave before (they reported nothing then)
            self.feature_map_lint(ref, types, ins, frame)  # (depends on where it is applied)
        kept, user_args, params, buffers, out = made
        args = Args(kept)  # (each module its own)
        args.__dict__.update(kept.__dict__)
        slot = ModuleSlot(
            name=name or "",
            kind=SlotKind.TORCH,
            type_name=ref.name,
            span=ref.span,
            entry=entry,
            args=args,
            user_args=user_args,
            user_kwargs=tuple(k for k, _ in ref.kwargs),
            params=params,
            buffers=buffers,
            out_type=out,
            in_type=types[0] if len(types) == 1 else types,
        )
        return self.attach(frame, slot, ins, out, into, ref)

    def bind_torch_layer(
        self,
        ref: LayerRef,
        entry: LayerEntry,
        ins: tuple[TensorV, ...],
        types: tuple[TensorT, ...],
        frame: Frame,
    ) -> tuple[Args, tuple[str, ...], Any, Any, Any]:
        """A catalog layer's arguments bound and checked, and its shape rule applied: (args,
        the parameters written positionally, parameter count, buffer count, output type)."""
        n_in = len(entry.inputs)
        if not entry.required_inputs <= len(ins) <= n_in:
            want = (
                entry.required_inputs
                if entry.required_inputs == n_in
                else f"{entry.required_inputs} to {n_in}"
            )
            self.error(
                f"{ref.name} takes {want} input{'s' if n_in != 1 else ''} ({', '.join(entry.inputs[: max(entry.required_inputs, 1)])}), "
                f"but gets {len(ins)}",
                ref.span,
                hint="feed several tensors as a tuple: `(q, k, v) -> MultiheadAttention(...)`"
                if n_in > 1
                else None,
            )
            raise Abort
        self.check_input(
            ref.name, entry.expects, entry.ranks, entry.dtype, types[0], ins[0], ref.span
        )
        self.feature_map_lint(ref, types, ins, frame)
        args = self.bind_layer(ref, entry, types)
        for key in entry.layer_args:
            if key in args and is_layer(args[key]):
                args[key] = self.layer_value(args[key], self.arg_span(ref, key), types)
            declared = entry.types.get(key)
            if key in args and declared:
                complaint = check_type(key, args[key], None, declared)
                if complaint:
                    self.error(
                        f"{ref.name}: {complaint}", self.arg_span(ref, key), hint=complaint.hint
                    )
                    raise Abort
        self.runtime_sizes(ref, entry, args, ins[0])
        try:
            out = entry.shape(args, types)
            params = entry.params(args)
            buffers = entry.buffers(args)
        except ShapeError as exc:
            span = self.arg_span(ref, exc.arg) if exc.arg else ref.span
            notes = [n for n in (origin_note(ins[0], None),) if n]
            self.error(f"{ref.name}: {exc.message}", span, notes=notes, hint=exc.hint)
            raise Abort from None
        except dims.DimError as exc:
            self.error(f"{ref.name}: cannot compute its shape at compile time: {exc}", ref.span)
            raise Abort from None
        if any(isinstance(n, int) and n < 0 for n in (params, buffers)):
            # the ranges of its sizes rule this out; never let a negative count reach a summary
            self.error(
                f"{ref.name}: its parameter count would be negative ({params})",
                ref.span,
                hint="its sizes must be positive",
            )
            raise Abort
        return args, tuple(_written_positional(entry, args, len(ref.args))), params, buffers, out

    def _layer_key(self, ref: LayerRef, types: tuple[TensorT, ...]) -> tuple | None:
        """What a torch layer's binding, checks and shape rule depend on (the layer, the
        arguments as written, with their Python types, the input types, the model inputs'
        sizes), or None when they cannot be told apart safely (a layer as an argument, a value
        of another kind) or the evaluation is not the checker's."""
        if self.domain is not CONCRETE:
            return None
        try:
            return (
                ref.name,
                _value_key(ref.args),
                tuple((k, _value_key(v)) for k, v in ref.kwargs),
                _value_key(types),
                frozenset(self.input_syms),
            )
        except _NoKey:
            return None

    def runtime_sizes(self, ref: LayerRef, entry: LayerEntry, args: Args, given: TensorV) -> None:
        """A module is built with the model, before any input: a constructor argument that
        depends on a size only known when the model runs (`B`, a symbolic `T`) is an error,
        at the argument the user wrote (or at the layer, for an inferred one)."""
        if not self.domain.checks_runtime_sizes:
            return
        positional = _written_positional(entry, args, len(ref.args))
        keywords = [k for k, _ in ref.kwargs]
        for key, value in args.items():
            uses = sorted(runtime_symbols(value) & self.input_syms)
            if not uses:
                continue
            if key in keywords:
                span = self.arg_span(ref, key)
            elif key in positional:
                span = self.arg_span(ref, positional.index(key))
            else:
                span = ref.span
            inferred = key in entry.inferred and span is ref.span
            note = origin_note(given, None) if inferred else None
            self.error(
                runtime_message(f"{ref.name}'s `{key}`", value, uses[0]),
                span,
                notes=[note] if note else [],
                hint="a layer is built with the model, before any input, so its sizes must be "
                "fixed: numbers, constants, block parameters or fixed sizes of the input"
                + (f" (`{key}` is taken from the input's shape here)" if inferred else ""),
            )
            raise Abort

    def runtime_arguments(self, ref: LayerRef) -> None:
        """`runtime_sizes` for a module outside the catalog: its arguments as written."""
        if not self.domain.checks_runtime_sizes:
            return
        written = [(k, v) for k, v in enumerate(ref.args)] + list(ref.kwargs)
        for key, value in written:
            uses = sorted(runtime_symbols(value) & self.input_syms)
            if uses:
                what = f"argument {key + 1}" if isinstance(key, int) else f"`{key}`"
                self.error(
                    runtime_message(f"{ref.name}'s {what}", value, uses[0]),
                    self.arg_span(ref, key),
                    hint="a module is built with the model, before any input, so its arguments "
                    "must be fixed: numbers, constants, block parameters or fixed sizes of the input",
                )
                raise Abort

    def foreign_arguments(self, ref: LayerRef, what: str) -> None:
        """A module outside the catalog is built from the values written: a layer given as one
        of its arguments has no Python value to build it with, an error at that argument."""
        written = [(k, v) for k, v in enumerate(ref.args)] + list(ref.kwargs)
        for key, value in written:
            found = _layer_inside(value)
            if found is None:
                continue
            self.error(
                f"{ref.name} is {what}, built with the values written: its arguments can be "
                f"numbers, strings, booleans, lists and tuples, not {describe(found)}",
                self.arg_span(ref, key),
                hint="layers as arguments are read for nndsl's catalog of torch.nn modules "
                "(`TransformerEncoder(TransformerEncoderLayer(...))`); for your own module, "
                "build the inner layer in its `__init__` from numbers passed to it",
            )
            raise Abort

    def apply_fallback(
        self,
        ref: LayerRef,
        value: Any,
        ins: tuple[TensorV, ...],
        frame: Frame,
        name: str | None,
        into: list | None,
    ) -> Any:
        from nndsl.check import fallback

        self.used_fallback = True
        sig = api.module_signature(ref.name) or ()
        args, problems = bind(
            sig, (), ref.args, dict(ref.kwargs), what=ref.name, skip=("device", "dtype")
        )
        self.report_bind(ref, problems)
        positional = [n for n in _sig_positional(sig) if n not in ("device", "dtype")]
        self.check_ranges(
            ref,
            ref.name,
            args,
            lambda key: positional.index(key) if key in positional[: len(ref.args)] else key,
        )
        self.runtime_arguments(ref)
        self.foreign_arguments(ref, "a torch.nn module outside nndsl's catalog")
        try:
            result = fallback.run_torch_module(
                ref.name, ref.args, dict(ref.kwargs), tuple(v.type for v in ins)
            )
        except fallback.FallbackError as exc:
            hint = exc.hint
            if hint is None and exc.message.startswith("running it on"):
                hint = (
                    f"`{ref.name}` is outside nndsl's catalog: it is built with the arguments "
                    "written here (none are inferred) and run once on meta tensors shaped like "
                    "its input"
                )
            self.error(f"{ref.name}: {exc.message}", ref.span, hint=hint)
            raise Abort from None
        slot = ModuleSlot(
            name=name or "",
            kind=SlotKind.TORCH,
            type_name=ref.name,
            span=ref.span,
            entry=None,
            args=args,
            user_args=tuple(_sig_positional(sig)[: len(ref.args)]),
            user_kwargs=tuple(k for k, _ in ref.kwargs),
            params=result.params,
            buffers=result.buffers,
            out_type=result.out,
            in_type=ins[0].type,
        )
        return self.attach(frame, slot, ins, result.out, into, ref)


def _layer_inside(v: Any) -> Any:
    """The first layer in an argument's value (nested in lists and tuples), else None."""
    if is_layer(v):
        return v
    if isinstance(v, (list, tuple)):
        for item in v:
            found = _layer_inside(item)
            if found is not None:
                return found
    return None
