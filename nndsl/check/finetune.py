"""Fine-tuning keys of a train section: `init = weights(...)`, `freeze = [...]` and the
optimizer's `lr_for=[layer: lr, ...]`.

Checked here without torch and without reading the weights file (`nndsl run` compares the file's
tensors with the model before training, with errors at the `init` line).  Layers are named by
their `state_dict` prefix, as `nndsl summary` shows them: a label (`fc`, `layer1`), a dotted path
(`layer4.conv1`) or a string (`"layer1.0"`); a prefix names everything under it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nndsl import dims, ir
from nndsl.catalog import api
from nndsl.catalog.training import INIT_ARGS, LR_FOR
from nndsl.check.plan import dotted
from nndsl.errors import Note

if TYPE_CHECKING:
    from nndsl.check.graph import BlockInstance


def layer_params(inst: BlockInstance) -> dict[str, Any]:
    """Every named layer of a model (its state_dict prefix) → its parameter count (a Dim;
    nested layers are counted in their parents too)."""
    from nndsl.check.summary import summarize

    out: dict[str, Any] = {}
    for row in summarize(inst, "").rows:
        if row.name and row.type not in ("input", "output"):
            out[row.name] = row.params if row.params is not None else 0
    return out


def covers(prefix: str, name: str) -> bool:
    """Whether the state_dict prefix `prefix` names `name` (itself or something under it)."""
    return name == prefix or name.startswith(prefix + ".")


def frozen_params(inst: BlockInstance, frozen: tuple[str, ...]) -> Any:
    """How many parameters `freeze` leaves untrained (each layer counted once)."""
    total: Any = 0
    counted: list[str] = []
    for name, n in layer_params(inst).items():
        if any(covers(p, name) for p in frozen) and not any(covers(c, name) for c in counted):
            counted.append(name)
            total = total + n
    return total


class FinetuneChecks:
    """The checks of the fine-tuning keys, mixed into the TrainChecker (which provides
    `error`, `warn`, `value`)."""

    def init(self, e: ir.TrainEntry) -> None:
        node = e.value
        example = 'init = weights("resnet18.pth", strict=false)'
        if not (isinstance(node, ir.Call) and isinstance(node.func, ir.Name)):
            self.error(
                "`init` names the weights to start from",
                node.span,
                hint=f"write `{example}` (a state_dict file or an nndsl checkpoint)",
            )
            return
        if node.func.id != "weights":
            self.error(
                f"`init` is `weights(...)`, not `{node.func.id}(...)`",
                node.func.span,
                hint=f"write `{example}`",
            )
            return
        path_node = node.args[0] if node.args else None
        for extra in node.args[1:]:
            self.error("`weights` takes one path; its options are keywords", extra.span)
        for kw in node.kwargs:
            if kw.name == "path" and path_node is None:
                path_node = kw.value
            elif kw.name not in INIT_ARGS:
                close = api.suggest(kw.name, ["path", *INIT_ARGS])
                hint = f"did you mean `{close[0]}`?" if close else "options: path, strict"
                self.error(f"`weights` has no option `{kw.name}`", kw.name_span, hint=hint)
            elif not isinstance(self.value(kw.value), bool):
                self.error("`strict` is true or false", kw.value.span)
        if path_node is None:
            self.error("`weights` needs the path of a file", node.span, hint=f"write `{example}`")
            return
        path = self.value(path_node)
        if not isinstance(path, str) or not path.strip():
            self.error(
                'the weights file is a path in quotes, such as `"resnet18.pth"`', path_node.span
            )

    def layer(self, e: ir.Expr, inst: BlockInstance | None, known: dict[str, Any], what: str):
        """The state_dict prefix an item of `freeze` / `lr_for` names, or None after an error."""
        name = dotted(e)
        if name is None:
            self.error(
                f"{what} names layers by their label or state_dict prefix, such as `layer1`",
                e.span,
            )
            return None
        if inst is None or any(covers(name, k) for k in known):
            return name
        tops = sorted({k.split(".")[0] for k in known})
        close = api.suggest(name, list(known))
        hint = (
            f"did you mean `{close[0]}`?"
            if close
            else ("its layers: " + ", ".join(f"`{t}`" for t in tops[:12]))
            + (", ..." if len(tops) > 12 else "")
        )
        self.error(
            f"model `{inst.name}` has no layer `{name}`",
            e.span,
            notes=[Note("`nndsl summary` lists every layer's state_dict name", None)],
            hint=hint,
        )
        return None

    def freeze(self, e: ir.TrainEntry, inst: BlockInstance | None) -> tuple[str, ...]:
        node = e.value
        if not isinstance(node, ir.ListExpr):
            self.error(
                "`freeze` is a list of layers",
                node.span,
                hint="write `freeze = [conv1, bn1, layer1]` (labels or state_dict prefixes)",
            )
            return ()
        known = layer_params(inst) if inst is not None else {}
        names: list[str] = []
        for item in node.items:
            name = self.layer(item, inst, known, "`freeze`")
            if name is not None:
                names.append(name)
        if inst is not None and names and len(names) == len(node.items):
            total = inst.total_params()
            frozen = frozen_params(inst, tuple(names))
            if isinstance(total, int) and isinstance(frozen, int) and frozen >= total > 0:
                self.error(
                    f"`freeze` leaves nothing of model `{inst.name}` to train",
                    node.span,
                    hint="freeze fewer layers (the classifier, say, stays trainable)",
                )
        return tuple(names)

    def lr_for(self, kw: ir.Keyword, inst: BlockInstance | None, frozen: tuple[str, ...]) -> None:
        example = f"{LR_FOR}=[fc: 0.1, layer4: 0.01]"
        node = kw.value
        if not isinstance(node, ir.ListExpr):
            self.error(
                f"`{LR_FOR}` is a list of `layer: learning rate`",
                node.span,
                hint=f"write `{example}`",
            )
            return
        known = layer_params(inst) if inst is not None else {}
        seen: dict[str, ir.Expr] = {}
        for item in node.items:
            if not isinstance(item, ir.Labeled):
                self.error(
                    f"an item of `{LR_FOR}` is `layer: learning rate`",
                    item.span,
                    hint=f"write `{example}`",
                )
                continue
            label = ir.Name(id=item.label, span=item.label_span)
            name = self.layer(label, inst, known, f"`{LR_FOR}`")
            lr = self.value(item.expr)
            if not isinstance(lr, (int, float)) or isinstance(lr, bool) or lr <= 0:
                self.error(
                    f"the learning rate of `{item.label}` must be a positive number",
                    item.expr.span,
                )
            if name is None:
                continue
            if name in seen:
                self.error(
                    f"`{name}` is given twice in `{LR_FOR}`",
                    item.span,
                    notes=[Note("first given at {at}", seen[name].span)],
                )
            seen[name] = item
            if any(covers(f, name) for f in frozen):
                self.error(
                    f"`{name}` is frozen (`freeze`), so a learning rate for it has no effect",
                    item.label_span,
                )


def describe_dim(d: Any) -> str:
    return f"{d:,}" if isinstance(d, int) else dims.format_dim(d)
