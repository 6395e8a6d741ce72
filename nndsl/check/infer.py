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

import keyword
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from nndsl import dims, ir, limits
from nndsl.catalog import api, ranges, torch_names
from nndsl.catalog.core import (
    DTYPE_ALIASES,
    FUNCTIONS,
    LAYERS,
    Args,
    DType,
    FunctionEntry,
    LayerEntry,
    LayerValue,
    ScalarT,
    ShapeError,
    TensorT,
    arithmetic_type,
    bind,
    broadcast,
    check_type,
    describe,
    prod,
)
from nndsl.catalog.functions import CAST_DTYPES, CASTS, matmul_shape
from nndsl.catalog.modules import module_form
from nndsl.check import torchfn
from nndsl.check.domain import CONCRETE, ValueDomain
from nndsl.check.graph import (
    BlockInstance,
    ModuleSlot,
    Op,
    OpKind,
    Origin,
    ParamSlot,
    SliceV,
    SlotKind,
    TensorV,
    numbered,
    renew_slots,
    value_type,
    walk_slots,
)
from nndsl.check.resolve import Symbols
from nndsl.check.values import (
    LAYER_TYPES,  # noqa: F401  (re-exported)
    POISON,
    Abort,
    GroupV,
    LabeledV,
    LayerRef,
    Poison,
    RepeatV,
    contains_tensor,
    fmt_value,
    is_layer,
)
from nndsl.dims import Dim, Sym
from nndsl.errors import Diagnostic, Note, Span, error, source_lines, warning
from nndsl.syntax.loader import Program

_Abort = Abort  # the old private names, for code written against them
_Poison = Poison
_fmt_value = fmt_value

MAX_INSTANCES = 20000
MAX_REPEAT = 10000


# ---------------------------------------------------------------------------------------------
# Module names
# ---------------------------------------------------------------------------------------------

_BASE_NAMES = {
    "Linear": "fc", "Bilinear": "bilinear", "LayerNorm": "norm", "GroupNorm": "norm", "RMSNorm": "norm",
    "LocalResponseNorm": "lrn", "MultiheadAttention": "attn", "Embedding": "embedding",
    "EmbeddingBag": "embedding", "TransformerEncoder": "encoder", "TransformerDecoder": "decoder",
    "TransformerEncoderLayer": "encoder_layer", "TransformerDecoderLayer": "decoder_layer",
}  # fmt: skip

NN_MODULE_ATTRS = frozenset(
    "T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double "
    "dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule "
    "half ipu load_state_dict modules mtia named_buffers named_children named_modules named_parameters "
    "parameters register_backward_hook register_buffer register_forward_hook register_forward_pre_hook "
    "register_full_backward_hook register_full_backward_pre_hook register_load_state_dict_post_hook "
    "register_module register_parameter register_state_dict_pre_hook requires_grad_ set_extra_state "
    "share_memory state_dict to to_empty train training type xpu zero_grad".split()
)
PY_RESERVED = frozenset(keyword.kwlist) | {"self", "super", "None", "True", "False"}
# what generated model.py / train.py refer to by name
GENERATED_CODE_NAMES = frozenset({"nn", "F", "torch", "Tensor", "OrderedDict"})


_ACRONYMS = (("PReLU", "Prelu"), ("ReLU", "Relu"), ("GELU", "Gelu"), ("SiLU", "Silu"),
             ("SELU", "Selu"), ("CELU", "Celu"), ("GLU", "Glu"), ("ELU", "Elu"), ("LSTM", "Lstm"),
             ("GRU", "Gru"), ("RNN", "Rnn"), ("MLP", "Mlp"))  # fmt: skip


def _numbered(base: str, k: int) -> str:
    """`conv1`; `conv_bn_relu6_2` when the base already ends in a digit."""
    return f"{base}_{k}" if base[-1:].isdigit() else f"{base}{k}"


def snake(name: str) -> str:
    for acronym, word in _ACRONYMS:
        name = name.replace(acronym, word)
    s = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    s = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", s)
    return s.lower()


def base_name(kind: str, name: str) -> str:
    if kind == "torch":
        if name in _BASE_NAMES:
            return _BASE_NAMES[name]
        m = re.match(r"(Conv|ConvTranspose|BatchNorm|InstanceNorm)(\d)d$", name)
        if m:
            return {
                "Conv": "conv",
                "ConvTranspose": "deconv",
                "BatchNorm": "bn",
                "InstanceNorm": "norm",
            }[m.group(1)]
        if re.match(r"(Max|Avg|LP|AdaptiveMax|AdaptiveAvg)Pool\dd$", name):
            return "pool"
        if name.startswith("Dropout") or name.endswith("Dropout"):
            return "dropout"
    return snake(name)


def plural(base: str) -> str:
    return (
        base[:-1] + "ies"
        if base.endswith("y") and base[-2:-1] not in "aeiou"
        else base + ("es" if base.endswith("s") else "s")
    )


@dataclass
class _Naming:
    """Static attribute names of one block declaration: module-creating nodes by source order."""

    names: dict[int, str] = field(default_factory=dict)  # id(node) → name (not in loops)
    loop_bases: dict[int, str] = field(
        default_factory=dict
    )  # id(node) → base (in loops: numbered when run)
    loop_start: dict[str, int] = field(default_factory=dict)  # base → first number for loop nodes
    labels: dict[str, Span] = field(default_factory=dict)
    named_at: dict[str, Span] = field(default_factory=dict)  # generated name → its node's span


# ---------------------------------------------------------------------------------------------
# The evaluator
# ---------------------------------------------------------------------------------------------


@dataclass
class Frame:
    """The state of one block instance being evaluated."""

    decl: ir.BlockDecl
    inst: BlockInstance
    vars: dict[str, Any] = field(default_factory=dict)
    kinds: dict[str, str] = field(
        default_factory=dict
    )  # name → "value" | "param" | "input" | "loop"
    bound_at: dict[str, Span] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    cur: Any = None
    cur_set: bool = False
    loop_counts: dict[str, int] = field(default_factory=dict)
    in_loop: int = 0
    taken: set[str] = field(default_factory=set)
    label_at: dict[str, Span] = field(default_factory=dict)  # labels made from loop values
    hint: str | None = None  # the name the current statement assigns, for the ops it emits


@dataclass
class Inference:
    """The result: an instance per model of the root file (None where it could not be built)."""

    models: dict[str, BlockInstance | None] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    used_fallback: bool = False


class Evaluator:
    """Evaluates block bodies by the language's rules; `domain` says what its values are (the
    checker's concrete ones by default; the code generator passes its symbolic domain)."""

    def __init__(self, program: Program, symbols: Symbols, domain: ValueDomain = CONCRETE):
        self.program = program
        self.symbols = symbols
        self.domain = domain
        self.diags: list[Diagnostic] = []
        self.consts: dict[str, Any] = {}
        self._const_busy: set[str] = set()
        self._naming: dict[int, _Naming] = {}
        # the ids of the expressions written after `->` (where `max(2)` is torch's, not Python's)
        self._pipe_stages: set[int] = set()
        self._cache: dict[tuple, BlockInstance | None] = {}
        self._stack: list[str] = []
        self._calls: list[Span] = []  # where each block of `_stack` was called
        self.instances = 0
        self.steps = 0  # statements run by loops, against limits.MAX_STEPS
        self.used_fallback = False
        self._reported: set[tuple] = set()
        self.input_syms: set[str] = set()  # sizes named by models' inputs (`B`, `T`)
        self._items: dict[int, tuple[list | tuple, int, int]] = {}  # id → (value, items, depth)
        self._items_kept = 0
        self.building_buffer = 0  # > 0 while a `buffer` expression is evaluated (see sharing.py)

    def share_naming(self, other: Evaluator) -> None:
        """Name submodules as `other` does (one table of names per declaration): an evaluator
        started for a block that `other` calls."""
        self._naming = other._naming

    # ---- diagnostics --------------------------------------------------------------------------

    def error(
        self, message: str, span: Span | None, *, notes=(), hint: str | None = None
    ) -> Poison:
        key = (message, span)
        if key not in self._reported:
            self._reported.add(key)
            notes = (*notes, *self.call_note(span))
            self.diags.append(error(message, span, notes=notes, hint=hint))
        return POISON

    def warn(self, message: str, span: Span | None, *, notes=(), hint: str | None = None) -> None:
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

    # ---- entry points -------------------------------------------------------------------------

    def run(self) -> Inference:
        result = Inference()
        for name in self.symbols.consts:
            self.const(name, None)
        for decl in self.symbols.blocks.values():
            self.naming(decl)  # label checks for every block, used or not
            self.generated_name(decl.name, decl.name_span, f"{decl.kind} name")
            for p in decl.params:
                self.generated_name(p.name, p.span, "parameter name")
        for model in self.symbols.models:
            result.models[model.name] = self.instantiate_model(model)
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

    # ---- constants ----------------------------------------------------------------------------

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

    # ---- static naming ------------------------------------------------------------------------

    def naming(self, decl: ir.BlockDecl) -> _Naming:
        cached = self._naming.get(id(decl))
        if cached is not None:
            return cached
        nm = _Naming()
        static: list[tuple[ir.Expr, str, bool]] = []  # node, base, in a loop

        def visit(e: ir.Expr | None, stage: bool, loop: bool, grouped: bool) -> None:
            if e is None:
                return
            if isinstance(e, ir.Labeled) and e.holes:
                # `denselayer{i + 1}`: named when evaluated (see `made_label`)
                for h in e.holes:
                    visit(h, False, loop, grouped)
                visit(e.expr, True, loop, True)
                return
            if isinstance(e, ir.ForLayers):
                visit(e.iter, False, loop, grouped)
                visit_body(e.body, True, grouped)
                return
            if isinstance(e, ir.Labeled):
                state = (
                    next(
                        (
                            n
                            for stmt in decl.body
                            for n in ir.walk(stmt)
                            if isinstance(n, (ir.ParamDecl, ir.BufferDecl)) and n.name == e.label
                        ),
                        None,
                    )
                    if e.label in nm.labels
                    else None
                )
                if state is not None:
                    kind = "parameter" if isinstance(state, ir.ParamDecl) else "buffer"
                    self.error(
                        f"`{e.label}` names both a {kind} and a submodule",
                        e.label_span,
                        notes=[Note(f"the {kind} is declared at {{at}}", state.span)],
                        hint="rename one of them",
                    )
                elif e.label in nm.labels:
                    self.error(
                        f"label `{e.label}` is used twice in `{decl.name}`",
                        e.label_span,
                        notes=[Note("first used at {at}", nm.labels[e.label])],
                        hint="labels name submodules and must be unique; to apply the same "
                        f"module again, write its label alone: `x -> {e.label}`",
                    )
                elif loop:
                    self.error(
                        f"label `{e.label}` inside a `for` loop would name several modules",
                        e.label_span,
                        hint="label the loop's modules through a block, or move the label out of the loop",
                    )
                self.check_identifier(e.label, e.label_span, "label", attribute=True)
                nm.labels[e.label] = e.label_span
                visit(e.expr, True, loop, True)
                return
            if isinstance(e, ir.Chain):
                for i, s in enumerate(e.stages):
                    visit(s, stage or i > 0, loop, grouped)
                return
            if isinstance(e, ir.Paren):
                visit(e.expr, stage, loop, grouped)
                return
            if isinstance(e, ir.IfExp):
                visit(e.cond, False, loop, grouped)
                visit(e.then, stage, loop, grouped)
                visit(e.orelse, stage, loop, grouped)
                return
            if isinstance(e, ir.BinOp) and e.op == "*" and stage and self._creates_module(e.left):
                if not grouped:
                    inner = self._module_base(e.left)
                    static.append((e, plural(inner or "layer"), loop))
                visit(e.left, True, loop, True)
                visit(e.right, False, loop, grouped)
                return
            if (
                isinstance(e, ir.Call)
                and isinstance(e.func, ir.Name)
                and e.func.id == "Sequential"
                and stage
            ):
                for a in e.args:  # `Sequential(A, B)` is the group `(A -> B)`
                    visit(a, True, loop, grouped)
                return
            if isinstance(e, (ir.Call, ir.Name)) and stage and self._creates_module(e):
                if not grouped:
                    static.append((e, self._module_base(e) or "layer", loop))
                if isinstance(e, ir.Call):
                    for a in e.args:
                        visit(a, False, loop, grouped)
                    for k in e.kwargs:
                        visit(k.value, False, loop, grouped)
                return
            if isinstance(e, ir.Call):
                visit(e.func, False, loop, grouped) if not isinstance(e.func, ir.Name) else None
                for a in e.args:
                    visit(a, False, loop, grouped)
                for k in e.kwargs:
                    visit(k.value, False, loop, grouped)
                return
            for c in ir.children(e):
                visit(c, False, loop, grouped)  # type: ignore[arg-type]

        def visit_body(body: tuple[ir.Stmt, ...], loop: bool, grouped: bool = False) -> None:
            for s in body:
                if isinstance(s, (ir.Assign, ir.ExprStmt)):
                    visit(s.value, True, loop, grouped)
                elif isinstance(s, ir.For):
                    visit(s.iter, False, loop, grouped)
                    visit_body(s.body, True, grouped)
                elif isinstance(s, ir.Return):
                    for v in s.values:
                        visit(v, False, loop, False)
                elif isinstance(s, ir.ParamDecl):
                    self.check_identifier(s.name, s.span, "parameter", attribute=True)
                    if s.name in nm.labels:
                        self.error(f"`{s.name}` names both a parameter and a submodule", s.span)
                    nm.labels[s.name] = s.span
                elif isinstance(s, ir.BufferDecl):  # an attribute too: generated names avoid it
                    if s.name in nm.labels:
                        self.error(
                            f"`{s.name}` names both a buffer and a submodule or parameter", s.span
                        )
                    nm.labels[s.name] = s.span

        visit_body(decl.body, False)
        taken = set(nm.labels)
        fixed_bases: dict[str, int] = {}
        loop_bases: set[str] = set()
        for node, base, loop in static:
            if loop:
                loop_bases.add(base)
            else:
                fixed_bases[base] = fixed_bases.get(base, 0) + 1
        counters: dict[str, int] = {}
        for node, base, loop in static:
            if loop:
                nm.loop_bases[id(node)] = base
                continue
            numbered = fixed_bases[base] > 1 or base in loop_bases or base in taken
            if not numbered:
                name = base
            else:
                counters[base] = counters.get(base, 0) + 1
                name = _numbered(base, counters[base])
                while name in taken:
                    counters[base] += 1
                    name = _numbered(base, counters[base])
            if name in NN_MODULE_ATTRS or name in PY_RESERVED:
                name += "_"
            taken.add(name)
            nm.names[id(node)] = name
            nm.named_at[name] = node.span
        for base in loop_bases:
            nm.loop_start[base] = counters.get(base, 0)
        self._naming[id(decl)] = nm
        return nm

    def _callee_name(self, e: ir.Expr) -> str | None:
        if isinstance(e, ir.Call) and isinstance(e.func, ir.Name):
            return e.func.id
        if isinstance(e, ir.Name):
            return e.id
        return None

    def _creates_module(self, e: ir.Expr) -> bool:
        if isinstance(e, ir.Paren):
            return self._creates_module(e.expr)
        if isinstance(e, ir.Labeled):
            return True
        if isinstance(e, ir.Chain):
            return any(self._creates_module(s) for s in e.stages[1:]) or self._creates_module(
                e.stages[0]
            )
        if isinstance(e, ir.BinOp) and e.op == "*":
            return self._creates_module(e.left)
        name = self._callee_name(e)
        if name is None:
            return False
        if name == "Sequential" and isinstance(e, ir.Call) and name not in self.symbols.blocks:
            return any(self._creates_module(a) for a in e.args)
        if name in self.symbols.blocks or name in self.symbols.pymodules:
            return True
        return name[:1].isupper() and (api.module_signature(name) is not None)

    def _module_base(self, e: ir.Expr) -> str | None:
        if isinstance(e, ir.Paren):
            return self._module_base(e.expr)
        if isinstance(e, ir.Chain):
            for s in e.stages:
                b = self._module_base(s)
                if b:
                    return b
            return None
        if isinstance(e, ir.BinOp):
            return self._module_base(e.left)
        if isinstance(e, ir.Labeled):
            return e.label
        name = self._callee_name(e)
        if name is None:
            return None
        if name in self.symbols.blocks:
            return snake(name)
        if name in self.symbols.pymodules:
            return snake(name)
        return base_name("torch", name)

    def generated_name(self, name: str, span: Span, what: str) -> None:
        """Names that become Python names in generated code (classes, __init__ parameters) must
        not shadow what that code uses."""
        if (
            name in PY_RESERVED
            or name in GENERATED_CODE_NAMES
            or (name.startswith("__") and name.endswith("__"))
        ):
            self.error(
                f"`{name}` cannot be a {what}: the generated PyTorch code uses that name",
                span,
                hint="choose another name",
            )

    def check_identifier(
        self, name: str, span: Span, what: str, *, attribute: bool = False
    ) -> None:
        # an attribute (`self.self`, `self.super`) may be any name but a keyword of Python
        reserved = keyword.iskeyword(name) if attribute else name in PY_RESERVED
        if reserved:
            self.error(
                f"`{name}` cannot be a {what}: it is a reserved word in Python",
                span,
                hint=f"choose another name, such as `{name}_`",
            )
        elif attribute and name in NN_MODULE_ATTRS:
            self.error(
                f"`{name}` cannot be a {what}: it would replace nn.Module.{name}",
                span,
                hint="choose another name",
            )
        elif attribute and name.startswith("_"):
            self.error(f"`{name}` cannot be a {what}: submodule names may not start with `_`", span)

    def module_name(self, frame: Frame, node: ir.Expr) -> str:
        nm = self.naming(frame.decl)
        if id(node) in nm.names:
            return nm.names[id(node)]
        base = nm.loop_bases.get(id(node))
        if base is None:  # a node the static pass did not see as creating a module
            base = self._module_base(node) or "layer"
        k = frame.loop_counts.get(base, nm.loop_start.get(base, 0)) + 1
        name = _numbered(base, k)
        while name in frame.taken or name in nm.labels:
            k += 1
            name = _numbered(base, k)
        frame.loop_counts[base] = k
        return name

    # ---- instances ----------------------------------------------------------------------------

    def instance(
        self,
        decl: ir.BlockDecl,
        params: dict[str, Any],
        inputs: list[TensorV],
        call_span: Span,
        *,
        model: bool = False,
    ) -> BlockInstance | None:
        nested = self.domain.instance(self, decl, params, inputs, call_span)
        if nested is not NotImplemented:
            return nested
        key = (id(decl), _freeze(params), tuple(_freeze(t.type) for t in inputs))
        if key in self._cache:
            return self._cache[key]
        if decl.name in self._stack:
            chain = " → ".join(self._stack[self._stack.index(decl.name) :] + [decl.name])
            self.error(
                f"`{decl.name}` contains itself: {chain}",
                call_span,
                hint="a block cannot use itself, directly or through others",
            )
            raise Abort
        self.instances += 1
        if self.instances > MAX_INSTANCES:
            self.error("the spec instantiates too many blocks (more than 20,000)", call_span)
            raise Abort
        inst = BlockInstance(decl=decl, params=dict(params))
        frame = Frame(decl=decl, inst=inst)
        for name, value in params.items():
            frame.vars[name] = value
            frame.kinds[name] = "param"
        self._stack.append(decl.name)
        self._calls.append(call_span)
        try:
            ok = self.body(decl, frame, inputs, call_span, model=model)
        finally:
            self._stack.pop()
            self._calls.pop()
        result = inst if ok else None
        self._cache[key] = result
        return result

    def body(
        self,
        decl: ir.BlockDecl,
        frame: Frame,
        inputs: list[TensorV],
        call_span: Span,
        *,
        model: bool,
    ) -> bool:
        declared = [item for s in decl.body if isinstance(s, ir.InputDecl) for item in s.items]
        inst = frame.inst
        if not model:
            if declared and len(declared) != len(inputs):
                self.error(
                    f"block `{decl.name}` takes {len(declared)} input{'s' if len(declared) != 1 else ''} "
                    f"({', '.join(i.name for i in declared)}), but gets {len(inputs)}",
                    call_span,
                    hint="feed several values as a tuple: `(a, b) -> Block(...)`",
                )
                raise Abort
            if not declared and len(inputs) != 1:
                self.error(
                    f"block `{decl.name}` has no `input` line, so it takes one input, but gets {len(inputs)}",
                    call_span,
                    hint=f"declare them: `input {', '.join(f'x{i + 1}' for i in range(len(inputs)))}`",
                )
                raise Abort
            if not declared:
                # a block without `input` is sequential on its one input, called `x` in its class
                value = TensorV(inputs[0].type, -1, inputs[0].origin, input_index=0)
                inst.inputs.append(("x", value))
                frame.cur, frame.cur_set = value, True
        bad = False
        input_index = 0
        for stmt in decl.body:
            try:
                if isinstance(stmt, ir.InputDecl):
                    for item in stmt.items:
                        self.check_identifier(item.name, item.span, "input name")
                        if model:
                            t = self.tensor_type(item.type, frame, bind_new=True)
                            if t is POISON or self.too_many_elements(
                                t, item.span, f"input `{item.name}` is"
                            ):
                                bad = True
                                continue
                            value = TensorV(
                                t,
                                -1,
                                Origin(f"input `{item.name}`", item.span),
                                input_index=input_index,
                            )
                        else:
                            value = inputs[input_index]
                            if item.type is not None:
                                try:
                                    self.match_input(item, value, frame)
                                except Abort:  # reported; its uses are not errors again
                                    frame.vars[item.name], frame.kinds[item.name] = POISON, "poison"
                                    input_index += 1
                                    bad = True
                                    continue
                            value = TensorV(value.type, -1, value.origin, input_index=input_index)
                        inst.inputs.append((item.name, value))
                        input_index += 1
                        self.bind(frame, item.name, value, item.span, "input")
                        frame.cur, frame.cur_set = value, True
                elif isinstance(stmt, ir.ParamDecl):
                    self.param_decl(stmt, frame)
                elif isinstance(stmt, ir.BufferDecl):
                    sharing.buffer_decl(self, stmt, frame)
                elif isinstance(stmt, (ir.Tie, ir.InitStmt)):
                    pass  # checked when every module is made (sharing.finish)
                elif isinstance(stmt, ir.Assign):
                    try:
                        value = self.statement_value(
                            stmt.value, frame, name_hint=_target_hint(stmt.target)
                        )
                    except Abort:
                        self.poison_target(stmt.target, frame)
                        frame.cur, frame.cur_set = POISON, True
                        raise
                    try:
                        self.assign(stmt.target, value, frame, stmt.span)
                    except Abort:
                        self.poison_target(stmt.target, frame)  # no "undefined" errors later
                        frame.cur, frame.cur_set = POISON, True
                        raise
                    frame.cur, frame.cur_set = value, True
                elif isinstance(stmt, ir.ExprStmt):
                    try:
                        value = self.statement_value(stmt.value, frame)
                    except Abort:
                        frame.cur, frame.cur_set = POISON, True
                        raise
                    frame.cur, frame.cur_set = value, True
                elif isinstance(stmt, ir.For):
                    self.for_stmt(stmt, frame)
                elif isinstance(stmt, ir.Return):
                    values = [self.expr(v, frame) for v in stmt.values]
                    frame.cur = values[0] if len(values) == 1 else tuple(values)
                    frame.cur_set = True
                    break
                elif isinstance(stmt, ir.Log):
                    self.log_stmt(stmt, frame)
            except Abort:
                bad = True
        if not bad and not sharing.finish(self, frame, model):
            bad = True
        if bad:
            return False
        if not frame.cur_set:
            self.error(
                f"`{decl.name}` computes nothing: its body has no statements", decl.name_span
            )
            return False
        if frame.cur is POISON or _has_poison(frame.cur):
            return False
        if not contains_tensor(frame.cur) or is_layer(frame.cur):
            self.error(
                f"the result of `{decl.name}` is {describe(frame.cur)}, not a tensor",
                decl.name_span,
                hint="the last statement (or `return`) gives the output",
            )
            return False
        outs = (
            frame.cur
            if isinstance(frame.cur, tuple)
            and all(isinstance(v, (TensorV, tuple)) for v in frame.cur)
            else (frame.cur,)
        )
        inst.outputs[:] = outs
        self.unused(frame)
        return True

    def log_stmt(self, stmt: ir.Log, frame: Frame) -> None:
        """`log rec, kl` in a loss block: each a scalar value, logged as a metric."""
        if frame.decl.kind != "loss":
            self.error(
                "`log` names values of a loss block to log as metrics",
                stmt.span,
                hint=f"`{frame.decl.name}` is a {frame.decl.kind}; declare a `loss` block for the "
                "training loss and log its parts there",
            )
            raise Abort
        for name, span in zip(stmt.names, stmt.name_spans or (stmt.span,) * len(stmt.names)):
            v = frame.vars.get(name)
            frame.used.add(name)
            if v is None or v is POISON:
                if v is None:
                    self.error(f"undefined name `{name}`", span)
                continue
            if any(n == name for n, _ in frame.inst.logged):
                self.error(f"`{name}` is logged twice", span)
                continue
            if not isinstance(v, TensorV) or v.type.rank != 0:
                self.error(
                    f"`log` takes scalars (one number per batch), but `{name}` is {describe(v)}",
                    span,
                    hint="log a reduced value, e.g. its mean: `m = mean(...)`",
                )
                continue
            frame.inst.logged.append((name, v))

    def unused(self, frame: Frame) -> None:
        for name, kind in frame.kinds.items():
            if kind == "value" and name not in frame.used and frame.vars.get(name) is not frame.cur:
                v = frame.vars.get(name)
                if isinstance(v, TensorV) and not _within(v, frame.cur):
                    self.warn(
                        f"value `{name}` is computed but never used",
                        frame.bound_at.get(name),
                        hint="use it, or remove the statement",
                    )

    def match_input(self, item: ir.InputItem, value: TensorV, frame: Frame) -> None:
        t = item.type
        assert t is not None
        actual = value.type
        if len(t.dims) != actual.rank:
            self.error(
                f"input `{item.name}` of `{frame.decl.name}` expects rank {len(t.dims)} ({_fmt_tensor_type(t)}), "
                f"but gets {actual}",
                item.span,
            )
            raise Abort
        for d, a in zip(t.dims, actual.shape):
            if (
                isinstance(d, ir.Name)
                and d.id not in frame.vars
                and d.id not in self.symbols.consts
            ):
                self.bind(frame, d.id, a, d.span, "dim")
                frame.used.add(d.id)
                continue
            want = self.expr(d, frame)
            if want is POISON:
                continue
            if dims.equal(want, a) is False:
                self.error(
                    f"input `{item.name}` of `{frame.decl.name}` expects {_fmt_tensor_type(t)}, but gets {actual}",
                    d.span,
                    hint=f"dimension `{ir_text(d)}` is {fmt_value(want)} here but the input has {dims.format_dim(a)}",
                )
                raise Abort

    def tensor_type(
        self, t: ir.TensorType | None, frame: Frame, *, bind_new: bool
    ) -> TensorT | Poison:
        if t is None:
            return POISON
        shape: list[Dim] = []
        for d in t.dims:
            if (
                isinstance(d, ir.Name)
                and d.id not in frame.vars
                and d.id not in self.symbols.consts
                and bind_new
            ):
                value: Any = dims.sym(d.id)
                self.input_syms.add(d.id)
                self.bind(frame, d.id, value, d.span, "dim")
                frame.used.add(d.id)
            else:
                value = self.expr(d, frame)
            if value is POISON:
                return POISON
            if isinstance(value, bool) or not isinstance(value, (int, Sym)):
                return self.error(f"a dimension must be an integer, not {describe(value)}", d.span)
            if isinstance(value, int) and value < 0:
                return self.error(f"a dimension cannot be negative ({value})", d.span)
            shape.append(value)
        dtype = "float32"
        if t.dtype is not None:
            if t.dtype not in DTYPE_ALIASES:
                return self.error(f"unknown dtype `{t.dtype}`", t.dtype_span or t.span)
            dtype = DTYPE_ALIASES[t.dtype]
        return TensorT(tuple(shape), dtype)

    def param_decl(self, stmt: ir.ParamDecl, frame: Frame) -> None:
        t = self.tensor_type(stmt.type, frame, bind_new=False)
        if t is POISON:
            raise Abort
        assert stmt.type is not None
        for d, node in zip(t.shape, stmt.type.dims):
            uses = sorted(dims.free_symbols(d) & self.input_syms) if isinstance(d, Sym) else []
            if uses:
                written = ir_text(node)
                value = dims.format_dim(d)
                frame.vars[stmt.name] = POISON  # reported here, not again at each use
                frame.kinds[stmt.name] = "poison"
                self.error(
                    f"parameter `{stmt.name}` cannot have a size that depends on the input: "
                    + (f"`{written}` is {value} here, and " if written != value else "")
                    + f"`{uses[0]}` is only known when the model runs",
                    node.span,
                    hint="a parameter is created with the model, before any input: give it a "
                    "fixed size (a number, a constant or a block parameter), and let a size 1 "
                    "broadcast over the batch",
                )
                raise Abort
        init, init_args, init_kwargs = None, (), ()
        if isinstance(stmt.init, ir.Call) and isinstance(stmt.init.func, ir.Name):
            init = api.init_function(stmt.init.func.id)
            init_args = tuple(self.expr(a, frame) for a in stmt.init.args)
            init_kwargs = tuple((k.name, self.expr(k.value, frame)) for k in stmt.init.kwargs)
            sig = api.init_signature(stmt.init.func.id)
            if sig is not None:
                _, problems = bind(
                    sig,
                    (),
                    init_args,
                    dict(init_kwargs),
                    what=f"`{stmt.init.func.id}`",
                    skip=("tensor", "generator"),
                )
                for p in problems:
                    self.error(p.message, stmt.init.span, hint=p.hint)
        elif isinstance(stmt.init, ir.Name):
            init = api.init_function(stmt.init.id)
        slot = ParamSlot(stmt.name, t, init, init_args, init_kwargs, stmt.span)
        frame.inst.param_tensors.append(slot)
        frame.taken.add(stmt.name)
        op = self.emit(frame, Op(OpKind.PARAM, slot, (), (), t, stmt.span, name_hint=stmt.name))
        value = TensorV(t, op, Origin(f"parameter `{stmt.name}`", stmt.span))
        self.bind(frame, stmt.name, value, stmt.span, "param_tensor")

    def for_stmt(self, stmt: ir.For, frame: Frame) -> None:
        seq = self.expr(stmt.iter, frame)
        if self.domain.undecided(seq):
            self.domain.refuse("a `for` loop over a parameter")
        self.for_over(stmt, seq, frame)

    def for_over(self, stmt: ir.For, seq: Any, frame: Frame) -> None:
        """Unroll `stmt` over `seq`, its evaluated iterable (subclasses evaluate it once)."""
        if seq is POISON:
            raise Abort
        if isinstance(seq, range):
            seq = tuple(seq)
        if not isinstance(seq, (tuple, list)):
            self.error(
                f"`for` needs a list, tuple or range known at compile time, not {describe(seq)}",
                stmt.iter.span,
            )
            raise Abort
        if len(seq) > MAX_REPEAT:
            self.error(f"`for` over {len(seq)} items is too long to unroll", stmt.iter.span)
            raise Abort
        frame.in_loop += 1
        try:
            for item in seq:
                self.steps += 1 + len(stmt.body)
                if self.steps > limits.MAX_STEPS:
                    self.error(
                        f"the loops of this spec run more than {limits.MAX_STEPS:,} statements",
                        stmt.iter.span,
                        hint="loops are unrolled at compile time: make them shorter",
                    )
                    raise Abort
                self.assign(stmt.target, item, frame, stmt.span, kind="loop")
                for s in stmt.body:
                    if isinstance(s, ir.Assign):
                        value = self.statement_value(
                            s.value, frame, name_hint=_target_hint(s.target)
                        )
                        self.assign(s.target, value, frame, s.span)
                        frame.cur, frame.cur_set = value, True
                    elif isinstance(s, ir.ExprStmt):
                        frame.cur, frame.cur_set = self.statement_value(s.value, frame), True
                    elif isinstance(s, ir.For):
                        self.for_stmt(s, frame)
                    elif isinstance(s, ir.ParamDecl):
                        self.error("`param` cannot be declared inside a `for` loop", s.span)
                        raise Abort
                    elif isinstance(s, (ir.BufferDecl, ir.Tie, ir.InitStmt)):
                        word = {ir.BufferDecl: "buffer", ir.Tie: "tie", ir.InitStmt: "init"}
                        self.error(f"`{word[type(s)]}` cannot be inside a `for` loop", s.span)
                        raise Abort
                    elif isinstance(s, ir.InputDecl):
                        self.error("`input` cannot be declared inside a `for` loop", s.span)
                        raise Abort
                    elif isinstance(s, ir.Return):
                        self.error("`return` cannot appear inside a `for` loop", s.span)
                        raise Abort
                    elif isinstance(s, ir.Log):
                        self.error("`log` cannot appear inside a `for` loop", s.span)
                        raise Abort
        finally:
            frame.in_loop -= 1

    def poison_target(self, target: ir.Target, frame: Frame) -> None:
        if isinstance(target, ir.NameTarget):
            frame.vars[target.id] = POISON
            frame.kinds[target.id] = "poison"
        else:
            for t in target.items:
                self.poison_target(t, frame)

    def bind(self, frame: Frame, name: str, value: Any, span: Span, kind: str) -> None:
        value = self.domain.bound(self, frame, name, value, kind)
        self.check_identifier(name, span, "name")
        if isinstance(value, TensorV) and value.op >= 0:
            frame.inst.names.setdefault((value.op, value.path), name)
        frame.vars[name] = value
        frame.kinds[name] = kind
        frame.bound_at[name] = span

    def assign(
        self, target: ir.Target, value: Any, frame: Frame, span: Span, kind: str = "value"
    ) -> None:
        if isinstance(target, ir.NameTarget):
            self.bind(frame, target.id, value, target.span, kind)
            return
        items = target.items
        if value is POISON:
            for t in items:
                self.assign(t, POISON, frame, span, kind)
            return
        if not isinstance(value, (tuple, list)):
            note = _origin_note(value, None)
            self.error(
                f"cannot unpack {fmt_value(value)} into {len(items)} names",
                target.span,
                notes=[note] if note else [],
                hint="only tuples (such as an LSTM's `out, (h, c)`) can be destructured; "
                "a single tensor is assigned to one name",
            )
            raise Abort
        if len(value) != len(items):
            self.error(
                f"cannot unpack {len(value)} values into {len(items)} names",
                target.span,
                hint=f"the value is {fmt_value(value)}",
            )
            raise Abort
        for t, v in zip(items, value):
            self.assign(t, v, frame, span, "destructured" if kind == "value" else kind)

    # ---- statements and chains ----------------------------------------------------------------

    def statement_value(self, e: ir.Expr, frame: Frame, name_hint: str | None = None) -> Any:
        """A statement's value: an expression that starts with a layer continues from the current
        value; one that starts with a value is complete."""
        frame.hint = name_hint
        try:
            return self._statement_value(e, frame, name_hint)
        finally:
            frame.hint = None

    def _statement_value(self, e: ir.Expr, frame: Frame, name_hint: str | None) -> Any:
        if isinstance(e, ir.Chain):
            head = self.expr(e.stages[0], frame, stage=True)
            if head is POISON:
                raise Abort
            if is_layer(head):
                value = self.apply(
                    head, self.current(frame, e.stages[0].span), frame, e.stages[0].span
                )
            else:
                value = head
            for stage in e.stages[1:]:
                value = self.chain_step(value, stage, frame)
            return self.named(value, name_hint)
        value = self.expr(e, frame, stage=True)
        if value is POISON:
            raise Abort
        if is_layer(value):
            value = self.apply(value, self.current(frame, e.span), frame, e.span)
        return self.named(value, name_hint)

    def named(self, value: Any, hint: str | None) -> Any:
        if hint and isinstance(value, TensorV) and value.op >= 0 and not value.path:
            return value  # the op keeps its own hint; codegen names variables
        return value

    def current(self, frame: Frame, span: Span) -> Any:
        if not frame.cur_set:
            self.error(
                f"this layer has no input: `{frame.decl.name}` declares no `input` before it",
                span,
                hint="declare the model's input first: `input x: [B, ...]`",
            )
            raise Abort
        if frame.cur is POISON:
            raise Abort
        for name, v in frame.vars.items():
            if v is frame.cur:
                frame.used.add(name)
        return frame.cur

    def mark_stage(self, stage: ir.Expr) -> ir.Expr:
        node = stage
        while isinstance(node, (ir.Labeled, ir.Paren)):
            node = node.expr
            if isinstance(node, ir.Chain):  # a group's first stage receives the value too
                node = node.stages[0]
        self._pipe_stages.add(id(node))
        return stage

    def chain_step(self, value: Any, stage: ir.Expr, frame: Frame) -> Any:
        layer_v = self.expr(self.mark_stage(stage), frame, stage=True)
        if layer_v is POISON or value is POISON:
            raise Abort
        if not is_layer(layer_v):
            self.error(
                f"a chain stage must be a layer, block or function, but this is {describe(layer_v)}",
                stage.span,
                hint="to combine values write an expression such as `relu(a + b)` or `cat([a, b], dim=1)`",
            )
            raise Abort
        return self.apply(layer_v, value, frame, stage.span)

    # ---- expressions --------------------------------------------------------------------------

    def expr(self, e: ir.Expr, frame: Frame, *, stage: bool = False) -> Any:
        method = getattr(self, "e_" + type(e).__name__)
        return self.bounded(method(e, frame, stage), e)

    def bounded(self, value: Any, e: ir.Expr) -> Any:
        """`value`, or an error where a compile-time value passes a limit of nndsl/limits.py."""
        kind = type(value)
        if kind is int and limits.int_too_large(value):
            return self.error(
                f"`{_clip(ir_text(e))}` is too large: {_magnitude(value)}",
                e.span,
                hint=f"integers known at compile time must fit a signed 64-bit integer "
                f"(at most {limits.MAX_INT:,})",
            )
        if kind is list or kind is tuple:
            n, depth = self._walk_items(value, 0)
            if depth > limits.MAX_VALUE_DEPTH:
                return self.error(
                    f"`{_clip(ir_text(e))}` nests lists more than {limits.MAX_VALUE_DEPTH} "
                    "levels deep",
                    e.span,
                )
            if n > limits.MAX_ITEMS:
                return self.too_many_items(n, e)
        if kind is str and len(value) > limits.MAX_STRING:
            return self.error(
                f"`{_clip(ir_text(e))}` makes a string of {len(value):,} characters",
                e.span,
                hint=f"strings built at compile time hold at most {limits.MAX_STRING:,} characters",
            )
        return value

    def _walk_items(self, value: list | tuple, level: int) -> tuple[int, int]:
        """(items, nesting depth) of `value`.  Values that hold others are remembered, so one
        held twice (`[l, l]`) costs no second walk; the memo is dropped when it keeps more than
        10 * MAX_ITEMS items alive."""
        known = self._items.get(id(value))
        if known is not None and known[0] is value:
            return known[1], known[2]
        if level > limits.MAX_VALUE_DEPTH:
            return 0, level  # deep enough to refuse: no need to walk further
        n, depth = len(value), 1
        for item in value:
            if type(item) is list or type(item) is tuple:
                m, d = self._walk_items(item, level + 1)
                n, depth = n + m, max(depth, d + 1)
                if n > limits.MAX_ITEMS or depth > limits.MAX_VALUE_DEPTH:
                    break
        if n > len(value) and n <= limits.MAX_ITEMS and depth <= limits.MAX_VALUE_DEPTH:
            if self._items_kept > 10 * limits.MAX_ITEMS:
                self._items.clear()
                self._items_kept = 0
            self._items[id(value)] = (value, n, depth)  # kept alive, so its id is not reused
            self._items_kept += n
        return n, depth

    def too_many_items(self, n: int, e: ir.Expr) -> Poison:
        return self.error(
            f"`{_clip(ir_text(e))}` makes a list of {n:,} items",
            e.span,
            hint=f"lists and tuples built at compile time hold at most {limits.MAX_ITEMS:,} items",
        )

    def e_Num(self, e: ir.Num, frame: Frame, stage: bool) -> Any:
        return e.value

    def e_Str(self, e: ir.Str, frame: Frame, stage: bool) -> Any:
        return e.value

    def e_Const(self, e: ir.Const, frame: Frame, stage: bool) -> Any:
        return e.value

    def e_Ellipsis_(self, e: ir.Ellipsis_, frame: Frame, stage: bool) -> Any:
        return Ellipsis

    def e_TupleExpr(self, e: ir.TupleExpr, frame: Frame, stage: bool) -> Any:
        return tuple(self.expr(i, frame) for i in e.items)

    def e_ListExpr(self, e: ir.ListExpr, frame: Frame, stage: bool) -> Any:
        return [self.expr(i, frame) for i in e.items]

    def e_Paren(self, e: ir.Paren, frame: Frame, stage: bool) -> Any:
        inner = e.expr
        if isinstance(inner, ir.Chain):
            head = self.expr(inner.stages[0], frame, stage=stage)
            if is_layer(head):
                items = [head] + [
                    self.expr(self.mark_stage(s), frame, stage=True) for s in inner.stages[1:]
                ]
                for s, v in zip(inner.stages, items):
                    if v is POISON:
                        return POISON
                    if not is_layer(v):
                        return self.error(
                            f"a chain stage must be a layer, block or function, but this is {describe(v)}",
                            s.span,
                        )
                return GroupV(tuple(items), e, e.span)
            value = head
            for s in inner.stages[1:]:
                value = self.chain_step(value, s, frame)
            return value
        value = self.expr(inner, frame, stage=stage)
        if isinstance(value, RepeatV):
            return GroupV((value,), e, e.span)  # `(Block() * n)`: a group (nested in a group)
        return value

    def e_Chain(self, e: ir.Chain, frame: Frame, stage: bool) -> Any:
        head = self.expr(e.stages[0], frame, stage=stage)
        if head is POISON:
            return POISON
        if is_layer(head):
            items = [head] + [
                self.expr(self.mark_stage(s), frame, stage=True) for s in e.stages[1:]
            ]
            if any(v is POISON for v in items):
                return POISON
            return GroupV(tuple(items), e, e.span)
        value = head
        for s in e.stages[1:]:
            value = self.chain_step(value, s, frame)
        return value

    def e_Labeled(self, e: ir.Labeled, frame: Frame, stage: bool) -> Any:
        inner = self.expr(e.expr, frame, stage=True)
        if inner is POISON:
            return POISON
        if not is_layer(inner):
            return self.error(
                f"a label names a layer, block or group, but `{ir_text(e.expr)}` is {describe(inner)}",
                e.label_span,
                hint="labels go before layers: `conv1: Conv2d(64, 3)`",
            )
        if isinstance(e.expr, ir.Paren) and not isinstance(inner, GroupV):
            inner = GroupV((inner,), e.expr, e.expr.span)  # `label: (X)` is an nn.Sequential too
        label = self.fill_label(e, frame) if e.holes else e.label
        return LabeledV(label, inner, e, e.span)

    def fill_label(self, e: ir.Labeled, frame: Frame) -> str:
        """`denselayer{i + 1}` with its holes filled by compile-time values: `denselayer2`."""
        self.domain.check_label(self, e, frame)
        out = [e.pieces[0]]
        for hole, piece in zip(e.holes, e.pieces[1:]):
            v = self.expr(hole, frame)
            if v is POISON:
                raise Abort
            if isinstance(v, bool) or not isinstance(v, (int, str)):
                self.error(
                    f"`{{{ir_text(hole)}}}` in a label must be an integer or a string known at "
                    f"compile time, but it is {describe(v)}",
                    hole.span,
                    hint="use loop variables, parameters or constants, as in `layer{i + 1}`",
                )
                raise Abort
            out.append(str(v) + piece)
        name = "".join(out)
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(-[A-Za-z0-9_-]*)+", name):
            return name  # `block1-0`: only a group's child (checked where it is applied)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            self.error(
                f"label `{e.label}` gives `{name}`, which cannot name a submodule",
                e.label_span,
                hint="a label must be a Python identifier: letters, digits and `_`, not starting "
                "with a digit (in torch: a module attribute)",
            )
            raise Abort
        before = len(self.diags)
        self.check_identifier(name, e.label_span, f"label (made by `{e.label}`)", attribute=True)
        if len(self.diags) > before:
            raise Abort
        return name

    def made_label(self, frame: Frame, name: str, node: ir.Labeled) -> None:
        """A label made from loop values: it must name no other submodule of the body."""
        if not name.isidentifier():
            self.error(
                f"label `{node.label}` makes `{name}`, which can only name a child of a group",
                node.label_span,
                hint="`-` can stand in the names of a group's children (an nn.Sequential's "
                "entries), not in attribute names: put the label inside `name: ( ... )` or use `_`",
            )
            raise Abort
        nm = self.naming(frame.decl)
        other = frame.label_at.get(name) or nm.labels.get(name)
        if other is None and name in frame.taken:
            other = next(
                (m.span for m in frame.inst.modules if m.name == name), frame.decl.name_span
            )
        if other is None:
            other = nm.named_at.get(name)  # an unlabelled module named from its type
        if other is not None:
            self.error(
                f"label `{node.label}` makes `{name}`, which already names another submodule of "
                f"`{frame.decl.name}`",
                node.label_span,
                notes=[Note("`" + name + "` also named at {at}", other)],
                hint="labels made in a loop must differ at every iteration and from the other "
                "labels, as in `layer{i + 1}`",
            )
            raise Abort
        frame.label_at[name] = node.label_span

    def e_Name(self, e: ir.Name, frame: Frame, stage: bool) -> Any:
        if e.id in frame.vars:
            frame.used.add(e.id)
            return frame.vars[e.id]
        if e.id in self.symbols.consts:
            return self.const(e.id, e.span)
        reused = sharing.label_value(self, frame, e)
        if reused is not None:
            return reused
        return self.layer_ref(e, e.id, (), (), frame)

    def layer_ref(
        self,
        node: ir.Expr,
        name: str,
        args: tuple,
        kwargs: tuple,
        frame: Frame,
        arg_spans: tuple = (),
        kwarg_spans: tuple = (),
    ) -> Any:
        span = node.span
        if name in self.symbols.blocks:
            return LayerRef("block", name, node, span, args, kwargs, arg_spans, kwarg_spans)
        if name in self.symbols.pymodules:
            return LayerRef("py", name, node, span, args, kwargs, arg_spans, kwarg_spans)
        if name[:1].isupper() and api.module_signature(name) is not None:
            if api.module_kind(name) == "loss":
                return self.error(
                    f"`{name}` is a loss; losses belong in the train section (`loss = {name}()`)",
                    span,
                )
            return LayerRef("torch", name, node, span, args, kwargs, arg_spans, kwarg_spans)
        if (
            name in FUNCTIONS
            or api.functional_signature(name) is not None
            or api.torch_function_signature(name) is not None
            or torchfn.is_known(name)
        ):
            return LayerRef("function", name, node, span, args, kwargs, arg_spans, kwarg_spans)
        if name in ("range", "len", "min", "max", "abs", "int", "float", "round", "sum"):
            return self.error(f"`{name}` must be called", span)
        return self.error(f"undefined name `{name}`", span)

    def e_Call(self, e: ir.Call, frame: Frame, stage: bool) -> Any:
        if isinstance(e.func, ir.Attribute):
            return self.method_call(e, frame)
        if not isinstance(e.func, ir.Name):
            return self.error("only layers, blocks and functions can be called", e.func.span)
        name = e.func.id
        if name not in frame.vars and sharing.is_label(self, frame, name):
            applied = sharing.call_label(self, e, frame)  # `tower(b)`: a label applied again
            if applied is not None:
                return applied
        if name in frame.vars:
            return self.error(
                f"`{name}` is {describe(frame.vars[name])}, not a layer or function, and cannot be called",
                e.func.span,
            )
        args = tuple(self.expr(a, frame) for a in e.args)
        kwargs = tuple((k.name, self.expr(k.value, frame)) for k in e.kwargs)
        if any(_has_poison(a) for a in args) or any(_has_poison(v) for _, v in kwargs):
            return POISON
        arg_spans = tuple(a.span for a in e.args)
        kwarg_spans = tuple((k.name, k.span) for k in e.kwargs)
        if (
            name in ("range", "len", "min", "max", "abs", "int", "float", "round", "sum")
            and name not in self.symbols.blocks
        ):
            torch_fn = name in ("max", "min", "sum", "abs", "round") and (
                id(e) in self._pipe_stages
                or any(contains_tensor(a) for a in args)
                or any(contains_tensor(v) for _, v in kwargs)
            )
            if not torch_fn:
                return self.builtin(name, args, kwargs, e)
        if name == "Sequential" and name not in self.symbols.blocks:
            return self.sequential_call(e, args, kwargs)
        ref = self.layer_ref(e, name, args, kwargs, frame, arg_spans, kwarg_spans)
        if ref is POISON:
            return POISON
        if ref.kind == "function" and (
            any(contains_tensor(a) for a in args)
            or any(contains_tensor(v) for _, v in kwargs)
            or _creates(name)
        ):
            return self.call_function(ref, None, frame, e.span)
        if ref.kind != "function":
            given = list(zip(args, arg_spans)) + [
                (v, k.value.span) for (_, v), k in zip(kwargs, e.kwargs)
            ]
            for a, s in given:
                if contains_tensor(a):
                    return self.error(
                        f"`{name}` is a layer: write `x -> {name}(...)` to apply it, not a call with a tensor",
                        s,
                        hint="layer arguments are compile-time values such as sizes and flags",
                    )
        return ref

    def sequential_call(self, e: ir.Call, args: tuple, kwargs: tuple) -> Any:
        """`Sequential(A, B)` is the group `(A -> B)`."""
        if kwargs:
            return self.error("Sequential takes layers as positional arguments", e.span)
        for a, node in zip(args, e.args):
            if not is_layer(a):
                return self.error(
                    f"Sequential takes layers, but this is {describe(a)}",
                    node.span,
                    hint="write the group as a chain: `(Conv2d(8, 3) -> relu)`",
                )
        if not args:
            return self.error("Sequential needs at least one layer", e.span)
        return GroupV(tuple(args), e, e.span)

    def method_call(self, e: ir.Call, frame: Frame) -> Any:
        attr = e.func
        assert isinstance(attr, ir.Attribute)
        target = self.expr(attr.value, frame)
        if target is POISON:
            return POISON
        if isinstance(target, TensorV) and attr.attr in ("size", "dim") and not e.kwargs:
            return self.size_query(target, attr.attr, [self.expr(a, frame) for a in e.args], e)
        if not isinstance(target, TensorV):
            return self.error(
                f"`.{attr.attr}(...)` needs a tensor, but this is {describe(target)}",
                attr.value.span,
            )
        if attr.attr == "to":
            return self.cast_to(e, target, frame)
        if attr.attr not in FUNCTIONS and not torchfn.is_method(attr.attr):
            return self.error(
                f"unknown tensor method `{attr.attr}`",
                attr.attr_span,
                hint=_did_you_mean(attr.attr, [*FUNCTIONS, *torch_names.TENSOR]),
            )
        args = tuple(self.expr(a, frame) for a in e.args)
        kwargs = tuple((k.name, self.expr(k.value, frame)) for k in e.kwargs)
        if any(a is POISON for a in args) or any(v is POISON for _, v in kwargs):
            return POISON
        ref = LayerRef(
            "function",
            attr.attr,
            e,
            e.span,
            args,
            kwargs,
            tuple(a.span for a in e.args),
            tuple((k.name, k.span) for k in e.kwargs),
        )
        return self.call_function(ref, target, frame, e.span)

    def cast_to(self, e: ir.Call, target: TensorV, frame: Frame) -> Any:
        """`x.to(long)`: the cast method of that dtype (`x.long()`); a device is not a spec's
        business (the model's device decides)."""
        dtype = self.expr(e.args[0], frame) if len(e.args) == 1 and not e.kwargs else None
        if dtype is POISON:
            return POISON
        if not (isinstance(dtype, LayerRef) and dtype.is_function and dtype.name in CASTS):
            return self.error(
                "`.to(...)` takes one dtype here: " + ", ".join(f"`{c}`" for c in CASTS),
                e.args[0].span if e.args else e.span,
                hint="tensors follow the model's device; `.to(long)` is `.long()`",
            )
        ref = LayerRef("function", dtype.name, e, e.span)
        return self.call_function(ref, target, frame, e.span)

    def size_query(self, t: TensorV, what: str, args: list, e: ir.Call) -> Any:
        """`x.size()`, `x.size(1)`, `x.dim()`: compile-time sizes, like `x.shape`."""
        shape = tuple(t.type.shape)
        if what == "dim":
            return len(shape) if not args else self.error("`dim()` takes no arguments", e.span)
        if not args:
            return shape
        i = args[0]
        if len(args) > 1 or isinstance(i, bool) or not isinstance(i, int):
            return self.error("`size` takes one integer dimension", e.span)
        if not -len(shape) <= i < len(shape):
            return self.error(f"dimension {i} is out of range for {t.type}", e.args[0].span)
        return shape[i]

    def builtin(self, name: str, args: tuple, kwargs: tuple, e: ir.Call) -> Any:
        value = self.domain.builtin(self, name, args, kwargs, e)
        if value is not NotImplemented:
            return value
        if kwargs:
            return self.error(f"`{name}` takes no keyword arguments", e.span)
        odd = next((v for v in _leaves(args) if not isinstance(v, (int, float, str, Sym))), None)
        if odd is not None:  # a layer, a tensor: said in the spec's words, not Python's
            return self.error(
                f"`{name}` takes compile-time values (numbers, sizes), not {describe(odd)}",
                e.span,
            )
        try:
            for a in args:
                if isinstance(a, Sym) and name not in ("min", "max", "abs"):
                    raise TypeError(
                        f"`{name}` of a symbolic dimension cannot be computed at compile time"
                    )
            if name == "range":
                if not 1 <= len(args) <= 3 or not all(
                    isinstance(a, int) and not isinstance(a, bool) for a in args
                ):
                    raise TypeError("`range` takes 1 to 3 integers")
                r = range(*args)
                if len(r) > MAX_REPEAT:
                    raise TypeError(f"range of {len(r)} items is too long")
                return tuple(r)
            if name == "len":
                if len(args) != 1 or not isinstance(args[0], (tuple, list, str)):
                    raise TypeError("`len` takes one tuple, list or string")
                return len(args[0])
            if name in ("min", "max"):
                items = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
                if not items:
                    raise TypeError(f"`{name}` of nothing")
                if any(isinstance(i, Sym) for i in items):
                    raise TypeError(
                        f"`{name}` of symbolic dimensions cannot be computed at compile time"
                    )
                return (min if name == "min" else max)(items)
            if name == "abs":
                return abs(args[0])
            if name == "int":
                return int(args[0])
            if name == "float":
                return float(args[0])
            if name == "round":
                return round(*args)
            if name == "sum":
                return sum(args[0])
        except (TypeError, ValueError, IndexError, OverflowError) as exc:
            return self.error(
                str(exc) if str(exc).startswith("`") or "range" in str(exc) else f"`{name}`: {exc}",
                e.span,
            )
        return POISON

    def e_Attribute(self, e: ir.Attribute, frame: Frame, stage: bool) -> Any:
        value = self.expr(e.value, frame)
        if value is POISON:
            return POISON
        if isinstance(value, TensorV):
            if e.attr == "shape":
                return tuple(value.type.shape)
            if e.attr == "ndim":
                return value.type.rank
            if e.attr in FUNCTIONS:
                ref = LayerRef("function", e.attr, e, e.span)
                return self.call_function(ref, value, frame, e.span)
            return self.error(
                f"unknown tensor attribute `{e.attr}`",
                e.attr_span,
                hint="tensors have `.shape` and `.ndim`",
            )
        return self.error(f"{describe(value)} has no attribute `{e.attr}`", e.attr_span)

    def e_Index(self, e: ir.Index, frame: Frame, stage: bool) -> Any:
        value = self.expr(e.value, frame)
        if self.domain.opaque(value):
            self.domain.refuse("indexing a parameter")
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
                for part, node in zip((i.start, i.stop, i.step), _slice_parts(e.index[k])):
                    if part is not None and (
                        isinstance(part, bool) or not isinstance(part, (int, Sym))
                    ):
                        return self.error(
                            f"a slice bound must be an integer known at compile time, "
                            f"not {describe(part)}",
                            node.span,
                        )
                if i.step == 0:
                    return self.error("a slice step cannot be zero", e.index[k].span)
                out.append(_slice_len(shape[pos], i, self.domain.checks_runtime_sizes))
                pos += 1
            elif isinstance(i, int) and not isinstance(i, bool):
                size = shape[pos]
                if isinstance(size, int) and not -size <= i < size:
                    return self.error(
                        f"index {i} is out of range for dimension {pos} of {t} (size {size})",
                        e.index[k].span,
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
                parts.append(_slice_len(shape[pos], i))
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

    def e_UnaryOp(self, e: ir.UnaryOp, frame: Frame, stage: bool) -> Any:
        return self.domain.unary(self, e, self.expr(e.operand, frame), frame)

    def unary_value(self, e: ir.UnaryOp, v: Any, frame: Frame) -> Any:
        """`e` with its operand already evaluated to `v`."""
        if v is POISON:
            return POISON
        if e.op == "not":
            b = self.truth(v, e.operand)
            return POISON if b is POISON else (not b)
        if isinstance(v, TensorV):
            if e.op == "+":
                return v
            if v.type.dtype == "bool":
                return self.error(
                    f"`-` cannot negate a bool tensor ({v.type})",
                    e.span,
                    hint="`mask == false` inverts a mask; `mask.float()` converts it first",
                )
            op = self.emit(frame, Op(OpKind.UNARY, e.op, (v,), (), v.type, e.span))
            return TensorV(v.type, op, Origin(f"`{e.op}`", e.span, v.type))
        if isinstance(v, bool) or not isinstance(v, (int, float, Sym)):
            return self.error(f"`{e.op}` needs a number, not {describe(v)}", e.span)
        return -v if e.op == "-" else v

    def e_BinOp(self, e: ir.BinOp, frame: Frame, stage: bool) -> Any:
        left = self.expr(e.left, frame, stage=stage and e.op == "*")
        right = self.expr(e.right, frame)
        if e.op == "*" and is_layer(left) and self.domain.undecided(right):
            return RepeatV(left, right, e, e.span)  # repeated by a count known at instantiation
        return self.binop_value(e, left, right, frame)

    def binop_value(self, e: ir.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        """`e` with its operands already evaluated (each once: a chain of operators stays
        linear)."""
        if left is POISON or right is POISON:
            return POISON
        if is_layer(left) or is_layer(right):
            if e.op == "*" and is_layer(left):
                n = right
                if isinstance(n, bool) or not isinstance(n, int):
                    declared = (
                        next((p for p in frame.decl.params if p.name == e.right.id), None)
                        if isinstance(e.right, ir.Name)
                        else None
                    )
                    return self.error(
                        f"a layer is repeated by an integer known at compile time, not {describe(n)}",
                        e.right.span,
                        notes=[Note(f"`{declared.name}` is declared at {{at}}", declared.span)]
                        if declared is not None
                        else [],
                        hint=f"declare it as `{declared.name}: int`"
                        if declared is not None and isinstance(n, float)
                        else None,
                    )
                if n < 0:
                    return self.error(
                        f"a layer cannot be repeated {n} times",
                        e.right.span,
                        hint="`Layer * 0` is no layer at all; the count must not be negative",
                    )
                if n > MAX_REPEAT:
                    return self.error(f"{n} repetitions are too many", e.right.span)
                return RepeatV(left, n, e, e.span)
            side = e.left if is_layer(left) else e.right
            return self.error(
                f"`{e.op}` cannot combine a layer with a value",
                side.span,
                hint="`Layer * n` repeats a layer; to add the outputs of layers apply them first: `(x -> A) + (x -> B)`",
            )
        if isinstance(left, TensorV) or isinstance(right, TensorV):
            return self.tensor_binop(e, left, right, frame)
        return self.scalar_binop(e, left, right)

    def tensor_binop(self, e: ir.BinOp, left: Any, right: Any, frame: Frame) -> Any:
        value = self.domain.tensor_binop(self, e, left, right, frame)
        if value is not NotImplemented:
            return value
        for side, v in ((e.left, left), (e.right, right)):
            if not isinstance(v, (TensorV, int, float, Sym)) or isinstance(v, bool):
                return self.error(f"`{e.op}` cannot combine a tensor with {describe(v)}", side.span)
        lt, rt = _operand_type(left), _operand_type(right)
        try:
            if e.op == "@":
                if not (isinstance(left, TensorV) and isinstance(right, TensorV)):
                    return self.error("`@` multiplies two tensors", e.span)
                out = matmul_shape(lt, rt)
            elif e.op in ("+", "-", "*", "/", "//", "%", "**"):
                out = arithmetic_type(e.op, lt, rt)
            elif e.op in _COMPARISONS:
                out = TensorT(broadcast(lt, rt, e.op).shape, "bool")
            else:
                return self.error(f"`{e.op}` is not defined for tensors", e.span)
        except ShapeError as exc:
            notes = [
                _operand_note(v, side, which)
                for v, side, which in ((left, e.left, "left"), (right, e.right, "right"))
                if isinstance(v, TensorV) and v.origin.span is not None
            ]
            if e.op == "@" and "inner dimensions" in exc.message:
                inner_l = lt.shape[-1]
                inner_r = rt.shape[-2] if rt.rank > 1 else rt.shape[0]
                return self.error(
                    f"`@` cannot multiply {lt} by {rt}: the left's last dimension "
                    f"({dims.format_dim(inner_l)}) differs from the right's "
                    f"{'second-to-last' if rt.rank > 1 else 'only'} one ({dims.format_dim(inner_r)})",
                    e.span,
                    notes=notes,
                    hint="`a @ b` multiplies [..., n, k] by [..., k, m]; transpose an operand "
                    "if needed, as in `q @ k.transpose(-2, -1)`",
                )
            if not exc.message.startswith("shapes "):  # not a broadcasting problem
                return self.error(exc.message, e.span, notes=notes, hint=exc.hint)
            return self.error(
                f"`{e.op}` cannot combine {lt} and {rt}",
                e.span,
                notes=notes,
                hint=exc.hint
                or "the shapes must be equal or broadcastable (each dimension equal, or 1)"
                + (
                    "; a shortcut around layers that change the shape needs a projection, "
                    "such as a 1x1 Conv2d with the same stride"
                    if e.op == "+" and lt.rank == rt.rank == 4
                    else ""
                ),
            )
        op = self.emit(frame, Op(OpKind.BINOP, e.op, (left, right), (), out, e.span))
        return TensorV(out, op, Origin(f"`{e.op}`", e.span, lt))

    def scalar_binop(self, e: ir.BinOp, left: Any, right: Any) -> Any:
        return self.domain.scalar_binop(self, e, left, right)

    def arithmetic(self, e: ir.BinOp, left: Any, right: Any) -> Any:
        """The checker's rule for operators on values that are not tensors."""
        num = (int, float, Sym)
        if e.op == "+" and isinstance(left, (tuple, list)) and isinstance(right, type(left)):
            if len(left) + len(right) > limits.MAX_ITEMS:
                return self.too_many_items(len(left) + len(right), e)
            return left + right
        if e.op == "+" and isinstance(left, str) and isinstance(right, str):
            return left + right  # both at most MAX_STRING: `bounded` checks the sum
        if (
            e.op == "*"
            and isinstance(left, (tuple, list))
            and isinstance(right, int)
            and not isinstance(right, bool)
        ):
            if len(left) * right > limits.MAX_ITEMS:  # checked before the list is made
                return self.too_many_items(len(left) * right, e)
            return left * right
        for side, v in ((e.left, left), (e.right, right)):
            if isinstance(v, bool) or not isinstance(v, num):
                return self.error(f"`{e.op}` needs numbers, but this is {describe(v)}", side.span)
        try:
            if e.op == "+":
                return left + right
            if e.op == "-":
                return left - right
            if e.op == "*":
                return left * right
            if e.op == "//":
                if isinstance(left, Sym) or isinstance(right, Sym):
                    return dims.floordiv(left, right, opaque=self.domain.opaque_quotients)
                return left // right
            if e.op == "%":
                if isinstance(left, Sym) or isinstance(right, Sym):
                    return dims.mod(left, right, opaque=self.domain.opaque_quotients)
                return left % right
            if e.op == "/":
                if isinstance(left, Sym) or isinstance(right, Sym):
                    return dims.exact_div(left, right, opaque=self.domain.opaque_quotients)
                return left / right
            if e.op == "**":
                if (
                    isinstance(right, Sym)
                    or (isinstance(right, int) and abs(right) > 64)
                    or (isinstance(left, Sym) and not isinstance(right, int))
                ):
                    return self.error(
                        "exponent too large or not a compile-time integer", e.right.span
                    )
                return left**right
            return self.error(f"`{e.op}` is not defined for numbers", e.span)
        except ZeroDivisionError:
            return self.error("division by zero", e.right.span)
        except dims.DimError as exc:
            return self.error(f"cannot compute `{ir_text(e)}` at compile time: {exc}", e.span)
        except OverflowError:
            return self.error("number too large", e.span)

    def truth(self, v: Any, node: ir.Expr) -> Any:
        if v is POISON:
            return POISON
        if self.domain.undecided(v):
            return v  # decided at instantiation: callers handle it
        if isinstance(v, bool):
            return v
        if v is None:
            return False
        if isinstance(v, (int, float, str, tuple, list)):
            return bool(v)
        if isinstance(v, Sym):
            return self.undecidable(node, dims.free_symbols(v))
        return self.error(
            f"a condition must be known at compile time, not {describe(v)}", node.span
        )

    def undecidable(self, node: ir.Expr, symbols: set[str] | frozenset[str]) -> Poison:
        names = sorted(symbols)
        which = " and ".join(f"`{n}`" for n in names) or "a symbolic dimension"
        plural_ = len(names) > 1
        return self.error(
            f"`{ir_text(node)}` cannot be decided at compile time: it depends on {which}, "
            f"which {'are' if plural_ else 'is'} only known when the model runs",
            node.span,
            hint="a condition may use parameters, constants and the sizes that an input's "
            "declared shape fixes, such as `x.shape[1]`",
        )

    def e_Compare(self, e: ir.Compare, frame: Frame, stage: bool) -> Any:
        left, right = self.expr(e.left, frame), self.expr(e.right, frame)
        return self.domain.compare(self, e, left, right, frame)

    def compare_values(
        self, e: ir.Compare, left: Any, right: Any, frame: Frame | None = None
    ) -> Any:
        """`e` with its operands already evaluated; a comparison with a tensor is a bool tensor
        (`ids == 0`), computed when the model runs."""
        if left is POISON or right is POISON:
            return POISON
        if (
            frame is not None
            and (isinstance(left, TensorV) or isinstance(right, TensorV))
            and not (is_layer(left) or is_layer(right))
        ):
            return self.tensor_binop(e, left, right, frame)  # type: ignore[arg-type]
        if (
            isinstance(left, TensorV)
            or isinstance(right, TensorV)
            or is_layer(left)
            or is_layer(right)
        ):
            return self.error(
                "comparisons are between compile-time values (numbers, strings, shape sizes)",
                e.span,
                hint="compare shapes with `x.shape[1] == 64`",
            )
        if isinstance(left, Sym) or isinstance(right, Sym):
            if e.op in ("==", "!="):
                eq = dims.equal(left, right) if not isinstance(left, (str, tuple, list)) else False
                if eq is None:
                    return self.undecidable(e, _free(left) | _free(right))
                return eq if e.op == "==" else not eq
            diff = left - right
            if isinstance(diff, int):
                left, right = diff, 0
            else:
                return self.undecidable(e, _free(left) | _free(right))
        try:
            return {
                "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
                "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
            }[e.op](left, right)  # fmt: skip
        except TypeError:
            return self.error(f"cannot compare {describe(left)} with {describe(right)}", e.span)

    def e_BoolOp(self, e: ir.BoolOp, frame: Frame, stage: bool) -> Any:
        left = self.truth(self.expr(e.left, frame), e.left)
        if left is POISON:
            return POISON
        if not self.domain.undecided(left):
            if e.op == "and" and not left:
                return False
            if e.op == "or" and left:
                return True
            return self.truth(self.expr(e.right, frame), e.right)
        right = self.truth(self.expr(e.right, frame), e.right)
        if right is POISON:
            return POISON
        return self.domain.bool_op(e.op, left, right)

    def e_IfExp(self, e: ir.IfExp, frame: Frame, stage: bool) -> Any:
        cond = self.truth(self.expr(e.cond, frame), e.cond)
        if cond is POISON:
            return POISON
        if self.domain.undecided(cond):
            return self.domain.if_exp(self, e, cond, frame, stage)
        return self.expr(e.then if cond else e.orelse, frame, stage=stage)

    # ---- applying layers ----------------------------------------------------------------------

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
            if layer_v.node.holes:
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
            if layer_v.node.holes:
                self.made_label(frame, layer_v.label, layer_v.node)
            return self.apply(layer_v.item, value, frame, span, into=into, label=layer_v.label)
        if isinstance(layer_v, GroupV):
            if label is not None or into is not None:
                children: list[ModuleSlot] = [] if into is None else into
                for item in layer_v.items:
                    item_span = item.span if hasattr(item, "span") else span
                    if isinstance(item, GroupV) and _is_group(item):
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
        seq = self.loop_sequence(iter_, frame)
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
            return _tensor_values(last.out, len(frame.inst.ops) - 1, origin)
        return value

    def emit(self, frame: Frame, op: Op) -> int:
        op = self.domain.step(op)
        self.check_sizes(op)
        if op.name_hint is None and frame.hint is not None:
            op = replace(op, name_hint=frame.hint)
        frame.inst.ops.append(op)
        return len(frame.inst.ops) - 1

    def check_sizes(self, op: Op) -> None:
        """A step whose tensor, or whose module's parameters, would hold more elements than an
        int64 counts (limits.MAX_NUMEL) is an error where it is written."""
        for t in _tensor_types(op.out):
            if self.too_many_elements(t, op.span, "this step makes"):
                raise Abort
        if op.kind == "module" and isinstance(op.target, ModuleSlot):
            n = op.target.total_params()
            if isinstance(n, int) and n > limits.MAX_NUMEL:
                self.error(
                    f"`{op.target.type_name}` would have {_magnitude(n)} parameters",
                    op.span,
                    hint=f"a model holds at most {limits.MAX_NUMEL:,} parameters (int64): "
                    "check the sizes",
                )
                raise Abort

    def too_many_elements(self, t: TensorT, span: Span, what: str) -> bool:
        """Whether `t` holds more elements than a tensor can (reported at `span`); symbolic
        dimensions count as at least 1."""
        n = _static_numel(t)
        if n <= limits.MAX_NUMEL:
            return False
        self.error(
            f"{what} a tensor {t} of {_magnitude(n)} elements, more than a tensor can hold",
            span,
            hint=f"a tensor holds at most {limits.MAX_NUMEL:,} elements (int64)",
        )
        return True

    def inputs_of(self, value: Any, span: Span, name: str | None = None) -> tuple[TensorV, ...]:
        if _has_poison(value):
            raise Abort
        if isinstance(value, TensorV):
            return (value,)
        if isinstance(value, tuple) and all(isinstance(v, TensorV) for v in value):
            return value
        who = name or "this layer"
        if isinstance(value, tuple):
            first = _first_tensor(value)
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
            notes = [n for n in (_origin_note(value, None),) if n]
            flattened = value.origin.what in ("`flatten`", "`Flatten`")
            self.error(
                f"{entry_name} needs a {expects or f'rank {ranks[0]}'} input, but gets {t}",
                span,
                notes=notes,
                # the note already says that `flatten` made it
                hint=_variant_hint(entry_name, t)
                or (None if flattened else _rank_hint(entry_name, t, ranks)),
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
            note = _origin_note(value, None)
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
            for key, value in list(args.items()):
                declared = entry.types.get(key)
                default = next((d for n, k, d in sig if n == key), None)
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
                        else None,
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
                                hint=f"`{key}` is inferred from the input; leave it out",
                            )
                            raise Abort
                        args[key] = given if key != "normalized_shape" else args[key]
                    else:
                        args[key] = value
        self.check_ranges(
            ref, ref.name, args, lambda key: _positional_index(sig, inferred, args, ref, key)
        )
        if self.domain.opaque_quotients:
            args.opaque_quotients = True
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

    def torch_order_lint(self, ref: LayerRef, sig, inferred, values: dict) -> None:
        """`Conv2d(4, 8, 3)` on a 4-channel input is torch's spelling with in_channels first, but
        here it means out_channels=4, kernel_size=8, stride=3: legal, and almost surely not meant."""
        required = [n for n, k, d in sig if k == "pos_or_kw" and d == api.REQUIRED]
        first = inferred[0]
        if len(ref.args) < len(required) or required[:1] != [first]:
            return
        value = values.get(first)
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
        if ref.name == "Linear" and types[0].rank >= 4 and not _channels_last(frame.inst, ins[0]):
            note = _origin_note(ins[0], None)
            written = ir_text(ref.node) if isinstance(ref.node, ir.Call) else "Linear(...)"
            self.warn(
                f"Linear is applied to a feature map {types[0]}: it mixes only the last "
                f"dimension ({dims.format_dim(types[0].shape[-1])} values), not the whole map",
                ref.span,
                notes=[note] if note else [],
                hint=f"flatten first: `flatten -> {written}`, or pool: "
                f"`adaptive_avg_pool2d(1) -> flatten -> {written}`",
            )
        args = self.bind_layer(ref, entry, types)
        for key in entry.layer_args:
            if key in args and is_layer(args[key]):
                args[key] = self.layer_value(args[key], self.arg_span(ref, key), types)
            declared = entry.types.get(key)
            if key in args and declared:
                complaint = check_type(key, args[key], None, declared)
                if complaint:
                    self.error(f"{ref.name}: {complaint}", self.arg_span(ref, key))
                    raise Abort
        self.runtime_sizes(ref, entry, args, ins[0])
        try:
            out = entry.shape(args, types)
            params = entry.params(args)
            buffers = entry.buffers(args)
        except ShapeError as exc:
            span = self.arg_span(ref, exc.arg) if exc.arg else ref.span
            notes = [n for n in (_origin_note(ins[0], None),) if n]
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
        slot = ModuleSlot(
            name=name or "",
            kind=SlotKind.TORCH,
            type_name=ref.name,
            span=ref.span,
            entry=entry,
            args=args,
            user_args=tuple(_written_positional(entry, args, len(ref.args))),
            user_kwargs=tuple(k for k, _ in ref.kwargs),
            params=params,
            buffers=buffers,
            out_type=out,
            in_type=types[0] if len(types) == 1 else types,
        )
        return self.attach(frame, slot, ins, out, into, ref)

    def runtime_sizes(self, ref: LayerRef, entry: LayerEntry, args: Args, given: TensorV) -> None:
        """A module is built with the model, before any input: a constructor argument that
        depends on a size only known when the model runs (`B`, a symbolic `T`) is an error,
        at the argument the user wrote (or at the layer, for an inferred one)."""
        if not self.domain.checks_runtime_sizes:
            return
        positional = _written_positional(entry, args, len(ref.args))
        keywords = [k for k, _ in ref.kwargs]
        for key, value in args.items():
            uses = sorted(_runtime_symbols(value) & self.input_syms)
            if not uses:
                continue
            if key in keywords:
                span = self.arg_span(ref, key)
            elif key in positional:
                span = self.arg_span(ref, positional.index(key))
            else:
                span = ref.span
            inferred = key in entry.inferred and span is ref.span
            note = _origin_note(given, None) if inferred else None
            self.error(
                _runtime_message(f"{ref.name}'s `{key}`", value, uses[0]),
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
            uses = sorted(_runtime_symbols(value) & self.input_syms)
            if uses:
                what = f"argument {key + 1}" if isinstance(key, int) else f"`{key}`"
                self.error(
                    _runtime_message(f"{ref.name}'s {what}", value, uses[0]),
                    self.arg_span(ref, key),
                    hint="a module is built with the model, before any input, so its arguments "
                    "must be fixed: numbers, constants, block parameters or fixed sizes of the input",
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
        return _tensor_values(out, op, Origin(f"`{ref.name}`", ref.span, ins[0].type))

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
        return _tensor_values(op.out, i, Origin(f"`{ref.name}`", ref.span, x.type))

    def call_function(self, ref: LayerRef, value: Any, frame: Frame, span: Span) -> Any:
        entry = FUNCTIONS.get(ref.name)
        if entry is None:
            return self.function_fallback(ref, value, frame, span)
        args: list[Any] = [_dtype_value(a) for a in ref.args]
        arg_spans = list(ref.arg_spans)
        if value is not None:
            if isinstance(value, tuple) and entry.tensor_list:
                args.insert(0, list(value))
            elif isinstance(value, TensorV):
                args.insert(0, [value] if entry.tensor_list else value)
            else:
                self.inputs_of(value, span)
            arg_spans.insert(0, span)
        kwargs = {k: _dtype_value(v) for k, v in ref.kwargs}
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
                operand_types.append(_operand_type(v))
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
            complaint = check_type(key, v, _function_default(entry, key), entry.types.get(key))
            if complaint:
                self.error(f"`{entry.name}`: {complaint}", self.arg_span(ref, key))
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
                items = _list_items(ref.node, len(tensors)) if entry.tensor_list else None
                notes = [
                    _operand_note(t, item)
                    for t, item in zip(tensors, items or [None] * len(tensors))
                    if t.origin.span
                ]
            elif tensors:
                n = _origin_note(tensors[0], None)
                notes = [n] if n else []
            notes = [n for k, n in enumerate(notes) if n not in notes[:k]]  # `where(m, m, 0)`
            span_ = (
                self.arg_span(ref, exc.arg)
                if exc.arg and exc.arg not in entry.tensor_params
                else ref.span
            )
            hint = exc.hint
            if entry.name == "cat":
                hint = _cat_hint(tensors, bound.get("dim"), hint)
            self.error(_function_message(entry.name, exc.message), span_, notes=notes, hint=hint)
            raise Abort from None
        except dims.DimError as exc:
            self.error(f"`{entry.name}`: cannot compute its shape at compile time: {exc}", ref.span)
            raise Abort from None
        call_args = tuple((k, bound[k]) for k in bound)
        sig = _function_signature(entry)
        pos_names = [n for n, k, _ in sig if k == "pos_or_kw"]
        var_pos = [n for n, k, _ in sig if k == "var_pos"][: int(len(args) > len(pos_names))]
        written_pos = tuple(pos_names[: len(args)] + var_pos)
        written = written_pos + tuple(k for k, _ in ref.kwargs)
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
        return _tensor_values(out, op, Origin(f"`{entry.name}`", ref.span, before))

    def bind_function(self, entry: FunctionEntry, args: list, kwargs: dict):
        sig = _function_signature(entry)
        out, problems = bind(
            sig, (), args, kwargs, what=f"`{entry.name}`", extra_keywords=entry.keywords
        )
        for k, v in entry.defaults.items():
            if k not in kwargs and (k not in out or out[k] == _sig_default(sig, k)):
                if not any(n == k for n in list(out)[: len(args)]):
                    out[k] = v
        if self.domain.opaque_quotients:
            out.opaque_quotients = True
        return out, problems

    # ---- blocks and user modules --------------------------------------------------------------

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
                    hint=_did_you_mean(k, names) or f"its parameters: {', '.join(names) or 'none'}",
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
                hint=exc.hint,
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
        try:
            result = fallback.run_torch_module(
                ref.name, ref.args, dict(ref.kwargs), tuple(v.type for v in ins)
            )
        except fallback.FallbackError as exc:
            self.error(f"{ref.name}: {exc.message}", ref.span, hint=exc.hint)
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
        if any(_has_poison(v) for v in (*args, *(v for _, v in ref.kwargs))):
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
            notes = [n for n in (_origin_note(t, None) for t in tensors[:1]) if n]
            hint = exc.hint
            if value is not None and not method and "raised TypeError" in (hint or ""):
                hint = (
                    f"as a chain stage, `{ref.name}` gets the current value as its first "
                    f"argument; {hint}"
                )
            self.error(exc.message, ref.span, notes=notes, hint=hint)
            raise Abort from None
        if not any(True for _ in _tensor_types(out)):
            return out  # a size, a flag or a number, known at compile time (`x.numel()`)
        for t in _tensor_types(out):
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
        return _tensor_values(out, op, Origin(f"`{ref.name}`", ref.span, tensors[0].type))


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def function_module_name(function: str) -> str:
    """The class of a function used as a module: `permute` → `Permute`, `log_sigmoid` →
    `LogSigmoid` (as torchvision names its `Permute`)."""
    return "".join(part[:1].upper() + part[1:] for part in function.split("_") if part)


def _is_group(v: GroupV) -> bool:
    """A group written in brackets or as `Sequential(...)` (not a chain or a `for` stage)."""
    return isinstance(v.node, (ir.Paren, ir.Call))


def _runtime_message(what: str, value: Any, symbol: str) -> str:
    shown = fmt_value(value)
    if shown == symbol:
        return f"{what} is `{shown}`, which is only known when the model runs"
    return f"{what} would be {shown}, but `{symbol}` is only known when the model runs"


def _leaves(v: Any) -> Iterator[Any]:
    """The non-container values of a compile-time value (items of tuples and lists)."""
    if isinstance(v, (tuple, list)):
        for x in v:
            yield from _leaves(x)
    else:
        yield v


def _runtime_symbols(v: Any) -> frozenset[str]:
    """The size symbols in a constructor argument (layers given as arguments included)."""
    if isinstance(v, Sym):
        return dims.free_symbols(v)
    if isinstance(v, (tuple, list)):
        return frozenset().union(*(_runtime_symbols(x) for x in v))
    if isinstance(v, LayerValue):
        return frozenset().union(*(_runtime_symbols(x) for x in v.args.values()))
    return frozenset()


_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")


def _creates(name: str) -> bool:
    entry = FUNCTIONS.get(name)
    return entry is not None and entry.creates


def _dtype_value(v: Any) -> Any:
    """A dtype written as an argument (`dtype=long`) is a `DType`."""
    if isinstance(v, LayerRef) and v.is_function and not v.args and v.name in CAST_DTYPES:
        return DType(CAST_DTYPES[v.name])
    return v


def _operand_type(v: Any) -> TensorT:
    """The type of an operand of a tensor operator: a Python number is a `ScalarT`."""
    if isinstance(v, TensorV):
        return v.type
    return ScalarT((), "float32" if isinstance(v, float) else "int64")


def _tensor_values(out: Any, op: int, origin: Origin, path: tuple[int, ...] = ()) -> Any:
    if isinstance(out, TensorT):
        return TensorV(out, op, origin, path)
    if isinstance(out, tuple):
        return tuple(_tensor_values(o, op, origin, path + (i,)) for i, o in enumerate(out))
    return out


def _tensor_types(out: Any) -> Iterator[TensorT]:
    if isinstance(out, TensorT):
        yield out
    elif isinstance(out, (tuple, list)):
        for o in out:
            yield from _tensor_types(o)


def _static_numel(t: TensorT) -> int:
    """The product of the dimensions of `t` that are known ints (at most its element count)."""
    n = 1
    for d in t.shape:
        if isinstance(d, int) and d > 0:
            n *= d
    return n


def _clip(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _magnitude(value: int) -> str:
    """`value`, or its size in digits when printing it would take long (or fail)."""
    bits = abs(value).bit_length()
    if bits <= 200:
        return f"{value:,}"
    return f"about {int(bits * 0.30103) + 1:,} digits"


def _slice_parts(node: ir.Expr) -> tuple[ir.Expr, ir.Expr, ir.Expr]:
    """The start, stop and step nodes of a slice (the slice itself for a missing part)."""
    if isinstance(node, ir.Slice):
        return tuple(p if p is not None else node for p in (node.start, node.stop, node.step))
    return (node, node, node)


def _slice_len(size: Dim, s: SliceV, bounds_are_sizes: bool = True) -> Dim:
    """The length of `size[start:stop:step]`.  With a symbolic size, bounds are taken to fall
    inside it (`x[:, 1:-1]` on [B, T] is T - 2).  A symbolic bound is a size of the input in
    the checker (`x[:, :t]`, never negative); in the code generator's evaluation it is a block
    parameter that may be negative at a use (`bounds_are_sizes=False`): the length is then an
    unknown size (which makes that block one class per use)."""
    step = 1 if s.step is None else s.step
    if isinstance(size, int) and all(
        isinstance(v, int) or v is None for v in (s.start, s.stop, step)
    ):
        return len(range(size)[slice(s.start, s.stop, step)])

    def bound(v: Dim | None, default: Dim) -> Dim | None:
        if v is None:
            return default
        if isinstance(v, int):
            return v if v >= 0 else size + v
        return v if bounds_are_sizes else None

    start, stop = bound(s.start, 0), bound(s.stop, size)
    if isinstance(step, int) and step > 0 and start is not None and stop is not None:
        try:
            if step == 1:
                return stop - start
            return dims.floordiv(stop - start + step - 1, step)
        except dims.DimError:
            pass
    parts = ":".join("" if v is None else dims._raw_text(v) for v in (s.start, s.stop, s.step))
    return dims.opaque_symbol(f"slice {parts}", size, 0)


def _origin_note(v: Any, side: str | None) -> Note | None:
    if not isinstance(v, TensorV):
        return None
    o = v.origin
    if o.span is None:
        return None
    if o.before is not None and o.before != v.type:
        return Note(f"{o.what} at {{at}} turned {o.before} into {v.type}", o.span)
    prefix = f"the {side} operand, " if side else ""
    return Note(f"{prefix}{o.what} at {{at}} is {v.type}", o.span)


def _function_message(name: str, message: str) -> str:
    """A catalog function's complaint, prefixed with the function once: "`cat` along dim 1: ..."."""
    if message.startswith(f"{name}: "):
        message = message[len(name) + 2 :]
    elif message.startswith(f"{name} "):
        return f"`{name}` {message[len(name) + 1 :]}"
    return f"`{name}`: {message}"


def _list_items(node: ir.Expr, n: int) -> tuple[ir.Expr, ...] | None:
    """The items of the list literal a tensor-list function (cat, stack) was called with."""
    if isinstance(node, ir.Call) and node.args and isinstance(node.args[0], ir.ListExpr):
        items = node.args[0].items
        return items if len(items) == n else None
    return None


def _operand_note(v: TensorV, node: ir.Expr | None, which: str | None = None) -> Note:
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


def _cat_hint(tensors: list[TensorV], dim: Any, hint: str | None) -> str | None:
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


def _channels_last(inst: BlockInstance, v: TensorV) -> bool:
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
        nxt = _first_tensor(args)
        if nxt is None:
            return False
        v = nxt
    return False


def _first_tensor(v: Any) -> TensorV | None:
    if isinstance(v, TensorV):
        return v
    if isinstance(v, (tuple, list)):
        for x in v:
            found = _first_tensor(x)
            if found is not None:
                return found
    return None


def _free(v: Any) -> frozenset[str]:
    return dims.free_symbols(v) if isinstance(v, Sym) else frozenset()


def _describe_origin(v: TensorV) -> str:
    return v.origin.what


def _positional_index(sig, inferred, args: Args, ref: LayerRef, key: str) -> int | str:
    """The index of the positional argument bound to `key` (for its span), else `key`."""
    if any(k == key for k, _ in ref.kwargs):
        return key
    skip = () if getattr(args, "explicit_inferred", False) else tuple(inferred)
    names = [
        n for n, k, _ in sig if k == "pos_or_kw" and n not in skip and n not in ("device", "dtype")
    ]
    return names.index(key) if key in names[: len(ref.args)] else key


def _variant_hint(name: str, t: TensorT) -> str | None:
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


def _rank_hint(name: str, t: TensorT, ranks) -> str | None:
    if t.rank == 2 and ranks and min(ranks) > 2:
        return (
            f"{name} works on feature maps: put it before `flatten` and `Linear`, "
            "or reshape the value first"
        )
    if t.rank > 2 and ranks == (2,):
        return "flatten the feature map first: `-> flatten ->`"
    return None


def _absurd_positional(sig, inferred, first: Any) -> bool:
    """Whether reading the first positional argument as the first non-inferred parameter would
    be absurd: an integer for a float parameter such as `eps` (`BatchNorm2d(64)`)."""
    rest = [(n, d) for n, k, d in sig if k == "pos_or_kw" and n not in inferred]
    if not rest or isinstance(first, bool) or not isinstance(first, (int, Sym)):
        return False
    default = rest[0][1]
    return isinstance(default, float) or isinstance(default, bool)


def _positional_names(entry: LayerEntry, n: int) -> list[str]:
    sig = entry.signature
    names = [p for p, k, d in sig if k == "pos_or_kw" and p not in entry.inferred]
    return names[:n]


def _written_positional(entry: LayerEntry, args: Args, n: int) -> list[str]:
    """The parameters the user's n positional arguments went to (inferred ones included when the
    user wrote them explicitly)."""
    names = _positional_names(entry, n)
    if all(k in args for k in names) and not getattr(args, "explicit_inferred", False):
        return names
    return [p for p, k, d in entry.signature if k == "pos_or_kw"][:n]


def _sig_positional(sig) -> list[str]:
    return [p for p, k, d in sig if k == "pos_or_kw"]


def _function_signature(entry: FunctionEntry):
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


def _function_default(entry: FunctionEntry, key: str) -> Any:
    if key in entry.defaults:
        return entry.defaults[key]
    return _sig_default(_function_signature(entry), key)


def type_complaint(value: Any, t: ir.TypeRef) -> tuple[str, str] | None:
    """(expected, got) if `value` does not have the declared parameter type."""
    if value is POISON or getattr(value, "is_opaque", False):
        return None
    ok = _has_type(value, t)
    if ok:
        return None
    return (_type_words(t), describe(value))


def _has_type(v: Any, t: ir.TypeRef) -> bool:
    if t.name == "int":
        return isinstance(v, (int, Sym)) and not isinstance(v, bool)
    if t.name == "float":
        return isinstance(v, (int, float, Sym)) and not isinstance(v, bool)
    if t.name == "bool":
        return isinstance(v, bool)
    if t.name == "str":
        return isinstance(v, str)
    if t.name in ("list", "tuple"):
        if not isinstance(v, (list, tuple)):
            return False
        if not t.args:
            return True
        if t.name == "list" or t.variadic:
            return all(_has_type(x, t.args[0]) for x in v)
        return len(v) == len(t.args) and all(_has_type(x, a) for x, a in zip(v, t.args))
    return True


def _type_words(t: ir.TypeRef) -> str:
    return {"int": "an int", "float": "a float", "bool": "a bool", "str": "a string"}.get(
        t.name, f"a `{t}`"
    )


def _target_hint(t: ir.Target) -> str | None:
    return t.id if isinstance(t, ir.NameTarget) else None


def _has_poison(v: Any) -> bool:
    if v is POISON:
        return True
    if isinstance(v, (tuple, list)):
        return any(_has_poison(x) for x in v)
    return False


def _within(v: Any, container: Any) -> bool:
    if v is container:
        return True
    if isinstance(container, (tuple, list)):
        return any(_within(v, c) for c in container)
    return False


def _freeze(v: Any) -> Any:
    if isinstance(v, list):
        return ("list", tuple(_freeze(x) for x in v))
    if isinstance(v, tuple):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, TensorT):
        return ("T", v.shape, v.dtype)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, float):
        return ("f", v)
    if isinstance(v, bool):
        return ("b", v)
    return v


def _fmt_tensor_type(t: ir.TensorType) -> str:
    from nndsl.syntax.fmt import tensor_type

    return tensor_type(t)


def ir_text(e: ir.Expr) -> str:
    from nndsl.syntax.fmt import expr

    try:
        return expr(e)
    except TypeError:
        return "..."


def _did_you_mean(name: str, candidates) -> str | None:
    close = api.suggest(name, list(candidates))
    return f"did you mean `{close[0]}`?" if close else None


def infer(program: Program, symbols: Symbols) -> Inference:
    return Evaluator(program, symbols).run()


def iter_modules(inst: BlockInstance, prefix: str = "") -> Iterator[tuple[str, ModuleSlot, int]]:
    """Every module slot below an instance with its qualified name and depth."""

    def walk(slots, pre, depth):
        for s in slots:
            q = f"{pre}{s.name}"
            yield q, s, depth
            if s.kind == "sequential":
                yield from walk(s.children, q + ".", depth + 1)
            elif s.kind == "block" and s.instance is not None:
                yield from walk(s.instance.modules, q + ".", depth + 1)

    yield from walk(inst.modules, prefix, 0)


__all__ = ["Evaluator", "Inference", "infer", "iter_modules", "value_type", "POISON"]

# sharing.py builds on this module (labels applied again, tie, buffer, init)
from nndsl.check import sharing  # noqa: E402
