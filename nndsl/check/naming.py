"""Names of submodules: the attribute names a block's modules get (as in `state_dict`), the
checks of names the spec gives, labels.
"""

from __future__ import annotations

import keyword
import re

from nndsl import ir
from nndsl.catalog import api
from nndsl.check.frame import Frame
from nndsl.errors import Note, Span
from nndsl.records import dataclass, field

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
class DeclNames:
    """Static attribute names of one block declaration: module-creating nodes by source order."""

    names: dict[int, str] = field(default_factory=dict)  # id(node) → name (not in loops)
    loop_bases: dict[int, str] = field(
        default_factory=dict
    )  # id(node) → base (in loops: numbered when run)
    loop_start: dict[str, int] = field(default_factory=dict)  # base → first number for loop nodes
    labels: dict[str, Span] = field(default_factory=dict)
    named_at: dict[str, Span] = field(default_factory=dict)  # generated name → its node's span
    loop_labels: set[int] = field(default_factory=set)  # id(node): labels written in loops


def function_module_name(function: str) -> str:
    """The class of a function used as a module: `permute` → `Permute`, `log_sigmoid` →
    `LogSigmoid` (as torchvision names its `Permute`)."""
    return "".join(part[:1].upper() + part[1:] for part in function.split("_") if part)


class SubmoduleNames:
    """The names of submodules (a part of `Evaluator`)."""

    def loop_label(self, frame: Frame, node: ir.Labeled) -> bool:
        """Whether a label without holes is written in a `for` loop (named when made)."""
        return id(node) in self.naming(frame.decl).loop_labels

    def naming(self, decl: ir.BlockDecl) -> DeclNames:
        cached = self._naming.get(id(decl))
        if cached is not None:
            return cached
        nm = DeclNames()
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
                    # named when made (as `layer{i}`): an error if the loop makes it twice;
                    # `for _ in ([1] if use_se else []) { se: SE() }` makes it at most once
                    nm.loop_labels.add(id(e))
                    self.check_identifier(e.label, e.label_span, "label", attribute=True)
                    visit(e.expr, True, loop, True)
                    return
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
                visit_branches(e, stage, loop, grouped)
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

        def visit_branches(e: ir.IfExp, stage: bool, loop: bool, grouped: bool) -> None:
            # only one side of a compile-time choice is made, so both may hold the same label
            # (torchvision's `if ...: self.block = A` / `else: self.block = B`)
            before = dict(nm.labels)
            visit(e.then, stage, loop, grouped)
            then_labels = dict(nm.labels)
            nm.labels.clear()
            nm.labels.update(before)
            visit(e.orelse, stage, loop, grouped)
            for label, span in then_labels.items():
                nm.labels.setdefault(label, span)

        params: dict[str, Span] = {}  # the `param` declarations met

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
                    if s.name in params:
                        self.error(
                            f"parameter `{s.name}` is declared twice",
                            s.span,
                            notes=[Note("first declared at {at}", params[s.name])],
                        )
                    elif s.name in nm.labels:
                        self.error(f"`{s.name}` names both a parameter and a submodule", s.span)
                    params.setdefault(s.name, s.span)
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
