"""Shape inference: evaluate block bodies at compile time, symbolically.

Every model is instantiated with its parameters' defaults (a parameter without one stays a
symbol); every block call instantiates the block with the call's arguments and the shapes that
reach it.  Evaluation follows the language's rules: a statement that starts with a layer
continues from the current value; `a if c else b` decides at compile time and evaluates only the
chosen branch; `for` loops unroll; `Layer * n` repeats.  Each instance records its modules (named
as they will appear in `state_dict`), its forward steps with their shapes, and parameter counts.

Mistakes become diagnostics at the node that caused them; the offending value becomes POISON,
which every later operation passes on silently, so one mistake is reported once.
"""

from __future__ import annotations

from typing import Any

from nndsl import dims, ir
from nndsl.check.apply import Applying
from nndsl.check.domain import CONCRETE, ValueDomain
from nndsl.check.expressions import Expressions
from nndsl.check.frame import (  # noqa: F401  (re-exported)
    MAX_INSTANCES,
    MAX_REPEAT,
    Frame,
    Inference,
)
from nndsl.check.functions import (  # noqa: F401  (re-exported)
    Functions,
    function_default,
    function_signature,
)
from nndsl.check.graph import (  # noqa: F401  (re-exported)
    BlockInstance,
    TensorV,
    iter_modules,
    value_type,
)
from nndsl.check.indexing import Indexing
from nndsl.check.layers import (  # noqa: F401  (re-exported)
    TorchLayers,
)
from nndsl.check.lints import (  # noqa: F401  (re-exported)
    Lints,
    channels_last,
)
from nndsl.check.messages import (  # noqa: F401  (re-exported)
    cat_hint,
    clip,
    did_you_mean,
    fmt_tensor_type,
    function_message,
    ir_text,
    list_items,
    magnitude,
    operand_note,
    origin_note,
    rank_hint,
    runtime_message,
    target_hint,
    variant_hint,
)
from nndsl.check.naming import (  # noqa: F401  (re-exported)
    GENERATED_CODE_NAMES,
    NN_MODULE_ATTRS,
    PY_RESERVED,
    DeclNames,
    SubmoduleNames,
    base_name,
    function_module_name,
    plural,
    snake,
)
from nndsl.check.operators import (  # noqa: F401  (re-exported)
    Operators,
)
from nndsl.check.resolve import Symbols
from nndsl.check.sizes import SizeLimits
from nndsl.check.statements import Statements
from nndsl.check.values import (  # noqa: F401  (re-exported)
    LAYER_TYPES,
    POISON,
    Abort,
    GroupV,
    LabeledV,
    LayerRef,
    Poison,
    RepeatV,
    contains_tensor,
    creates,
    dtype_value,
    first_tensor,
    fmt_value,
    free,
    freeze,
    has_poison,
    is_group,
    is_layer,
    is_within,
    leaves,
    operand_type,
    runtime_symbols,
    slice_len,
    slice_parts,
    static_numel,
    tensor_types,
    tensor_values,
    type_complaint,
    type_words,
)
from nndsl.errors import Diagnostic, Note, Span, error, source_lines, warning
from nndsl.syntax.loader import Program


class Evaluator(
    Statements,
    Expressions,
    Indexing,
    Operators,
    Applying,
    SizeLimits,
    TorchLayers,
    Functions,
    Lints,
    SubmoduleNames,
):
    """Evaluates block bodies by the language's rules; `domain` says what its values are (the
    checker's concrete ones by default; the code generator passes its symbolic domain).

    Its rules are grouped by job in the mixins it is made of (nndsl/check/<job>.py)."""

    def __init__(self, program: Program, symbols: Symbols, domain: ValueDomain = CONCRETE):
        self.program = program
        self.symbols = symbols
        self.domain = domain
        self.diags: list[Diagnostic] = []
        self.consts: dict[str, Any] = {}
        self._const_busy: set[str] = set()
        self._naming: dict[int, DeclNames] = {}
        # the ids of the expressions written after `->` (where `max(2)` is torch's, not Python's)
        self._pipe_stages: set[int] = set()
        self._cache: dict[tuple, BlockInstance | None] = {}
        self._stack: list[str] = []
        self._calls: list[Span] = []  # where each block of `_stack` was called
        self.instances = 0
        # id(instance) → (instance, the block instances its module tree holds, itself included)
        self.expanded: dict[int, tuple[BlockInstance, int]] = {}
        self.steps = 0  # statements run by loops, against limits.MAX_STEPS
        self.used_fallback = False
        self._reported: set[tuple] = set()
        self.input_syms: set[str] = set()  # sizes named by models' inputs (`B`, `T`)
        # id → (value, items, depth, holds a tensor or None: not known)
        self._items: dict[int, tuple[list | tuple, int, int, bool | None]] = {}
        self._items_kept = 0
        self.building_buffer = 0  # > 0 while a `buffer` expression is evaluated (see buffers.py)
        self.reports = 0  # errors and warnings reported (repeats included)
        # torch layers bound without a report: what binding them gave (see layers.apply_torch)
        self._layers_made: dict[tuple, Any] = {}
        # torch-order warnings (lints.py): the one of each place, and the places never meant so
        self.torch_order_warned: dict[Span, Diagnostic] = {}
        self.torch_order_unmeant: set[Span] = set()

    def share_naming(self, other: Evaluator) -> None:
        """Name submodules as `other` does (one table of names per declaration): an evaluator
        started for a block that `other` calls."""
        self._naming = other._naming

    def error(
        self, message: str, span: Span | None, *, notes=(), hint: str | None = None
    ) -> Poison:
        self.reports += 1
        key = (message, span)
        if key not in self._reported:
            self._reported.add(key)
            notes = (*notes, *self.call_note(span))
            self.diags.append(error(message, span, notes=notes, hint=hint))
        return POISON

    def warn(self, message: str, span: Span | None, *, notes=(), hint: str | None = None) -> None:
        self.reports += 1
        key = ("w", message, span)
        if key not in self._reported:
            self._reported.add(key)
            notes = (*notes, *self.call_note(span))
            self.diags.append(warning(message, span, notes=notes, hint=hint))

    def call_note(self, span: Span | None) -> tuple[Note, ...]:
        """Inside a block, which call of it is being checked: "in `Up(64)` at 14:10"."""
        if len(self._stack) < 2 or span is None:
            return ()
        call = self._calls[-1]
        if call == span:
            return ()
        text = source_lines(self.program.sources.get(call.file, ""))
        written = (
            text[call.line - 1][call.col - 1 : call.end_col - 1]
            if call.line == call.end_line and 0 < call.line <= len(text)
            else ""
        )
        what = f"`{written}`" if written and len(written) <= 60 else f"`{self._stack[-1]}`"
        return (Note(f"in {what}, called at {{at}}", call),)

    def run(self) -> Inference:
        result = Inference()
        for name in self.symbols.consts:
            self.const(name, None)
        for decl in self.symbols.blocks.values():
            self.naming(decl)  # label checks for every block, used or not
            self.generated_name(decl.name, decl.name_span, f"{decl.kind} name")
            for p in decl.params:
                self.generated_name(p.name, p.span, "parameter name")
        for model in self.symbols.models + _trained_imports(self.symbols):
            result.models[model.name] = self.instantiate_model(model)
        self.drop_unmeant_torch_order()
        result.diagnostics = self.diags
        result.used_fallback = self.used_fallback
        return result

    def instantiate_model(
        self, decl: ir.BlockDecl, overrides: dict[str, Any] | None = None
    ) -> BlockInstance | None:
        params: dict[str, Any] = {}
        for p in decl.params:
            if overrides and p.name in overrides:
                params[p.name] = overrides[p.name]
            elif p.default is not None:
                params[p.name] = self.const_expr(p.default)
            else:
                params[p.name] = (
                    dims.sym(p.name) if p.type is None or p.type.name == "int" else POISON
                )
        inputs = []
        for stmt in decl.body:
            if isinstance(stmt, ir.InputDecl):
                for item in stmt.items:
                    if item.type is None:
                        self.error(
                            f"input `{item.name}` of model `{decl.name}` needs a shape",
                            item.span,
                            hint=f"write e.g. `input {item.name}: [B, 3, 224, 224]`; only blocks take inputs without shapes",
                        )
                        return None
        frame_params = params
        try:
            return self.instance(decl, frame_params, inputs, decl.name_span, model=True)
        except Abort:
            return None

    def const(self, name: str, span: Span | None) -> Any:
        if name in self.consts:
            return self.consts[name]
        decl = self.symbols.consts[name]
        if name in self._const_busy:
            return self.error(f"constant `{name}` is defined in terms of itself", decl.span)
        self._const_busy.add(name)
        value = self.const_expr(decl.value)
        self._const_busy.discard(name)
        self.consts[name] = value
        return value

    def const_expr(self, e: ir.Expr) -> Any:
        """A compile-time expression outside any body (defaults, constants)."""
        dummy = ir.BlockDecl(kind="block", name="<const>", params=(), body=())
        frame = Frame(decl=dummy, inst=BlockInstance(decl=dummy, params={}))
        try:
            value = self.expr(e, frame)
        except Abort:
            return POISON
        if isinstance(value, TensorV) or is_layer(value):
            return self.error(
                "a constant or default must be a compile-time value (a number, string, bool or tuple)",
                e.span,
            )
        return value


def infer(program: Program, symbols: Symbols) -> Inference:
    return Evaluator(program, symbols).run()


__all__ = ["Evaluator", "Inference", "infer", "iter_modules", "value_type", "POISON"]


# sharing.py builds on this module (labels applied again, tie, buffer, init)


def _trained_imports(symbols: Symbols) -> list[ir.BlockDecl]:
    """Models of imported files that a train section of the root file trains (`import
    "zoo.nn"` then `model = ResNet18`): made like the root file's own, so that the section can
    be run and generated."""
    own = {m.name for m in symbols.models}
    out: list[ir.BlockDecl] = []
    for t in symbols.root_trains:
        for entry in t.entries:
            if entry.key != "model":
                continue
            value = entry.value
            name = (
                value.func.id
                if isinstance(value, ir.Call) and isinstance(value.func, ir.Name)
                else None
            )
            name = value.id if isinstance(value, ir.Name) else name
            decl = symbols.blocks.get(name) if name else None
            if decl is not None and decl.kind == "model" and decl.name not in own:
                own.add(decl.name)
                out.append(decl)
    return out
