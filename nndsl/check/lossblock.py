"""Loss blocks and models with several outputs in train sections.

`loss VAELoss(beta: float = 1.0) { input recon, mu, logvar, target ... }` is checked like a block
whose inputs are the trained model's outputs followed by the data's targets: the train checker
(nndsl/check/train.py) calls `check_loss_block` once it knows the model and the data, and the
result must be a scalar.  The values a `log` line names are logged as metrics (`train_rec`,
`val_kl`).  A loss class of the user's own Python code (`from mylosses import FocalLoss`) is run
once on meta tensors shaped like the outputs and targets, and must return a scalar too.

Everything here reads the checker's instances; nothing runs a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nndsl import dims, ir
from nndsl.catalog.core import TensorT
from nndsl.catalog.training import Task
from nndsl.check.graph import BlockInstance, Origin, TensorV
from nndsl.errors import Note, Span

if TYPE_CHECKING:
    from nndsl.check.train import DataFacts, TrainChecker, _Section


@dataclass(frozen=True, slots=True)
class Targets:
    """The data's targets as the loss sees them: one type and name per target."""

    types: tuple[TensorT, ...]
    names: tuple[str, ...]
    where: str  # "the targets of `digits(target=input)`", for notes


def output_names(decl: ir.BlockDecl, n: int) -> tuple[str, ...]:
    """The names of a model's outputs: the names in its `return` (`return recon, mu, logvar`),
    a label (`return head: Linear(10)`), else `output1`, `output2`, ... (`output` for one)."""
    ret = next((s for s in reversed(decl.body) if isinstance(s, ir.Return)), None)
    values: tuple[ir.Expr, ...] = ret.values if ret is not None else ()
    names: list[str] = []
    for i in range(n):
        v = values[i] if len(values) == n else None
        name = None
        if isinstance(v, ir.Name):
            name = v.id
        elif isinstance(v, ir.Labeled):
            name = v.label
        elif isinstance(v, ir.Chain) and isinstance(v.stages[-1], ir.Labeled):
            name = v.stages[-1].label
        if name is None or name in names:
            name = "output" if n == 1 else f"output{i + 1}"
        names.append(name)
    return tuple(names)


def flat_outputs(inst: BlockInstance) -> list[TensorV] | None:
    """The model's outputs as a list of tensors, None when one is a nested tuple."""
    outs = list(inst.outputs)
    if all(isinstance(o, TensorV) for o in outs):
        return outs
    return None


def custom_task(inst: BlockInstance, sec: _Section, target: TensorT | None = None) -> Task | None:
    """The task metrics read the first output with, against the first target, when a loss
    block trains the model: from the data and that output's shape (a loss block does not
    say it).  Class labels with C > 1 scores: multi-class (binary for 2), argmax; with one
    score per sample: yes/no, its logit above 0 (a probability above 0.5 after a sigmoid)."""
    from nndsl.check.train import _final_op

    facts: DataFacts | None = sec.data
    first = inst.outputs[0] if inst.outputs else None
    if not isinstance(first, TensorV):
        return None
    out = first.type
    if facts is not None and facts.reconstruct:
        return Task("reconstruction")
    option = sec.task_option
    if option == "regression" or (facts is not None and facts.task == "regression"):
        return Task("regression")
    labels = option is not None or (facts is not None and facts.task == "classification")
    if target is not None and facts is None and option is None:
        labels = not target.is_float
    if not labels:
        return None if target is None else Task("regression")
    if option == "multilabel":
        return Task("multilabel", "logit")
    classes = out.shape[1] if out.rank == 2 else None
    if isinstance(classes, int) and classes > 1 and option != "binary":
        return Task("binary" if classes == 2 else "multiclass", "argmax")
    if out.rank == 1 or (out.rank == 2 and out.shape[1] == 1):
        last = _final_op(inst, first)
        sigmoid = last is not None and last[0] in ("sigmoid", "Sigmoid")
        return Task("binary", "probability" if sigmoid else "logit")
    return None


def data_targets(checker: TrainChecker, inst: BlockInstance, sec: _Section) -> Targets | None:
    """The target types the data gives, with the model's batch size; None when unknown."""
    facts: DataFacts | None = sec.data
    if facts is None or not inst.inputs:
        return None
    x = inst.inputs[0][1].type
    batch = x.shape[0] if x.rank else 1
    what = f"the targets of {facts.what}"
    if facts.reconstruct:
        return Targets((x,), ("target",), what)
    if facts.task == "classification":  # class labels, as integers (`.float()` for 0/1 values)
        return Targets((TensorT((batch,), "int64"),), ("target",), what)
    return Targets((TensorT((batch, *facts.target)),), ("target",), what)


def check_loss_block(
    checker: TrainChecker,
    decl: ir.BlockDecl,
    params: dict[str, Any],
    call: ir.Expr,
    inst: BlockInstance,
    sec: _Section,
) -> BlockInstance | None:
    """The loss block's instance for the model `inst` and the section's data, or None after
    reporting why it does not fit (a located error)."""
    outs = flat_outputs(inst)
    model = inst.decl.name
    model_note = Note(f"`{model}` is defined at {{at}}", inst.decl.name_span)
    if outs is None:
        checker.error(
            f"model `{model}` returns a nested tuple; a loss block takes tensors",
            call.span,
            notes=[model_note],
            hint="return the tensors one by one: `return a, b, c`",
        )
        return None
    declared = [item for s in decl.body if isinstance(s, ir.InputDecl) for item in s.items]
    targets = data_targets(checker, inst, sec)
    names = output_names(inst.decl, len(outs))
    if targets is None:
        # the data is only known when read: the loss block's own declarations say the targets
        extra = declared[len(outs) :]
        from nndsl.check.multidata import targets_count_problem

        if targets_count_problem(checker, decl, len(outs), len(declared), sec):
            return None
        if len(declared) > len(outs) and all(i.type is not None for i in extra):
            types = []
            for item in extra:
                ev = checker.evaluator
                from nndsl.check.frame import Frame
                from nndsl.check.values import POISON

                frame = Frame(decl=decl, inst=BlockInstance(decl=decl, params=dict(params)))
                frame.vars.update(params)
                b = outs[0].type.shape[0] if outs[0].type.rank else None
                first = item.type.dims[0] if item.type and item.type.dims else None
                if isinstance(first, ir.Name) and b is not None:
                    frame.vars[first.id] = b
                t = ev.tensor_type(item.type, frame, bind_new=True)
                if t is POISON:
                    return None
                types.append(t)
            targets = Targets(tuple(types), tuple(i.name for i in extra), "the data's targets")
        else:
            if sec.data_entry is None:
                checker.error(
                    f"the train section has no `data`, so loss block `{decl.name}` must declare "
                    "the targets' types",
                    (declared[len(outs)].span if len(declared) > len(outs) else decl.name_span),
                    hint="add `data = ...`, or write the types on the input, e.g. `input "
                    + ", ".join([*names, "target: long[B]"])
                    + "`",
                )
                return None
            source = ir_text(sec.data_entry.value)
            where = declared[len(outs)] if len(declared) > len(outs) else None
            checker.error(
                f"the targets of `{source}` are only known when the data is read, so loss block "
                f"`{decl.name}` must declare their type",
                where.span if where is not None else decl.name_span,
                notes=[Note("the data is given at {at}", sec.data_entry.value.span)]
                if sec.data_entry
                else [],
                hint="write it on the input, e.g. `input "
                + ", ".join([*names, "target: long[B]"])
                + "` (class labels) or `target: [B, 1]` (values)",
            )
            return None
    want = len(outs) + len(targets.types)
    call_note = Note("used by the train section at {at}", call.span)
    if not declared or len(declared) != want:
        outs_text = ", ".join(f"{n} {o.type}" for n, o in zip(names, outs))
        tgt_text = ", ".join(str(t) for t in targets.types)
        got = ", ".join(i.name for i in declared) or "none"
        span = _input_line(decl) or decl.name_span
        checker.error(
            f"loss block `{decl.name}` takes {len(declared)} input"
            f"{'s' if len(declared) != 1 else ''} ({got}), but gets {want}: the "
            f"{len(outs)} output{'s' if len(outs) != 1 else ''} of `{model}` ({outs_text}) "
            f"and {len(targets.types)} target{'s' if len(targets.types) != 1 else ''} ({tgt_text})",
            span,
            notes=[call_note, model_note],
            hint="declare one input per output, then one per target: `input "
            + ", ".join([*names, *targets.names])
            + "`",
        )
        return None
    batch_origin = Origin(targets.where, sec.data_entry.value.span if sec.data_entry else None)
    inputs = [TensorV(o.type, -1, o.origin) for o in outs]
    inputs += [TensorV(t, -1, batch_origin) for t in targets.types]
    ev = checker.evaluator
    from nndsl.check.values import POISON, Abort

    before = len(ev.diags)
    try:
        loss_inst = ev.instance(decl, dict(params), inputs, call.span)
    except Abort:
        loss_inst = None
    reported = len(ev.diags) > before
    if reported:  # say what the loss block was checked with
        from nndsl.errors import Diagnostic

        added = ev.diags[before:]
        del ev.diags[before:]
        note = Note(
            f"checked with the outputs of `{model}` and {targets.where}, for the train "
            "section at {at}",
            call.span,
        )
        for d in added:
            notes = (*d.notes, note) if d.is_error else d.notes
            checker.diags.append(Diagnostic(d.severity, d.message, d.span, notes, d.hint))
    if loss_inst is None or loss_inst is POISON:
        if not reported:
            checker.error(f"loss block `{decl.name}` cannot be checked", call.span)
        return None
    learned = loss_inst.total_params()
    if learned != 0:
        where = next((m.span for m in loss_inst.modules), None)
        where = where or next((p.span for p in loss_inst.param_tensors), None)
        checker.error(
            f"loss block `{decl.name}` has learnable parameters "
            f"({dims.format_dim(learned)}), which training would never update",
            where or decl.name_span,
            notes=[call_note],
            hint="the optimizer trains the model's parameters only: move the layer into the "
            "model and return its output",
        )
        return None
    for name, _ in loss_inst.logged:
        clash = name in RESERVED_COLUMNS or name in sec.metrics
        if clash:
            span = _log_span(decl, name)
            checker.error(
                f"`log {name}` would be the column `train_{name}`, which "
                + (
                    f"the metric `{name}` already writes"
                    if name in sec.metrics
                    else "training writes itself"
                ),
                span or decl.name_span,
                notes=[call_note],
                hint="give the logged value another name",
            )
            return None
    result = loss_inst.outputs
    if len(result) != 1 or not isinstance(result[0], TensorV) or result[0].type.rank != 0:
        shown = ", ".join(str(t) for t in _types(result))
        if len(result) > 1:
            shown = f"{len(result)} values ({shown}); log the others with `log`"
        last = _last_statement(decl)
        checker.error(
            f"loss block `{decl.name}` must give a scalar, one number per batch, but gives {shown}",
            last.span if last is not None else decl.name_span,
            notes=[call_note],
            hint="reduce it, e.g. `mean(...)`, or a functional loss with its default "
            '`reduction="mean"`',
        )
        return None
    return loss_inst


def _types(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if isinstance(v, TensorV):
            out.append(v.type)
        elif isinstance(v, tuple):
            out.extend(_types(list(v)))
        else:
            out.append(v)
    return out


# columns of metrics.csv that training writes itself (`train_loss`, `lr`, ...)
RESERVED_COLUMNS = frozenset({"loss", "lr", "time", "epoch"})


def _log_span(decl: ir.BlockDecl, name: str) -> Span | None:
    for s in decl.body:
        if isinstance(s, ir.Log):
            for n, span in zip(s.names, s.name_spans):
                if n == name:
                    return span
    return None


def _input_line(decl: ir.BlockDecl) -> Span | None:
    for s in decl.body:
        if isinstance(s, ir.InputDecl):
            return s.span
    return None


def _last_statement(decl: ir.BlockDecl) -> ir.Stmt | None:
    for s in reversed(decl.body):
        if isinstance(s, (ir.Return, ir.ExprStmt, ir.Assign)):
            return s
    return None


def ir_text(e: ir.Expr) -> str:
    from nndsl.syntax.fmt import expr

    return expr(e)


def check_python_loss(checker: TrainChecker, inst: BlockInstance, sec: _Section) -> None:
    """A loss class of the user's Python (`from mylosses import FocalLoss`): built with the
    section's arguments and run once on meta tensors shaped like the model's outputs and the
    targets; it must return a scalar.  Targets only known when the data is read, and
    --no-imports, leave it unchecked."""
    from nndsl.check import fallback

    assert sec.loss_py is not None and sec.loss_entry is not None
    name, node, args, kwargs = sec.loss_py
    if args is None or kwargs is None:
        return  # (its arguments were reported)
    outs = flat_outputs(inst)
    model_note = Note(f"`{inst.decl.name}` is defined at {{at}}", inst.decl.name_span)
    if outs is None:
        checker.error(
            f"model `{inst.decl.name}` returns a nested tuple; a loss takes tensors",
            node.span,
            notes=[model_note],
        )
        return
    targets = data_targets(checker, inst, sec)
    decl, imported = checker.symbols.pymodules[name]
    if targets is None or not checker.program.run_python:
        return
    import os

    types = (*(o.type for o in outs), *targets.types)
    try:
        result = fallback.run_user_module(
            decl.module,
            imported.name,
            args,
            kwargs,
            types,
            search=(os.path.dirname(os.path.abspath(decl.span.file)),),
        )
    except fallback.FallbackError as exc:
        checker.error(
            f"{name}: {exc.message}",
            imported.span if exc.at_import else node.span,
            hint=exc.hint,
        )
        return
    out = result.out
    if not isinstance(out, TensorT) or out.rank != 0:
        shown = out if isinstance(out, TensorT) else ", ".join(str(t) for t in out)
        checker.error(
            f"the loss `{name}` must return a scalar, one number per batch, but returns {shown} "
            f"for the outputs of `{inst.decl.name}` and the targets "
            f"({', '.join(str(t) for t in types)})",
            node.span,
            notes=[Note(f"`{name}` is imported at {{at}}", imported.span), model_note],
            hint='reduce it in its forward, e.g. `.mean()`, or pass `reduction="mean"`',
        )


def custom_loss(sec: _Section, symbols: Any) -> Any:
    """The plan's facts of a section's loss block (None when it was not checked)."""
    from nndsl.check.plan import CustomLoss

    inst, loss = sec.instance, sec.loss_instance
    if inst is not None and sec.loss_py is not None:
        outs = flat_outputs(inst)
        if outs is None:
            return None
        name = sec.loss_py[0]
        decl, imported = symbols.pymodules[name]
        return CustomLoss(
            kind="python",
            outputs=output_names(inst.decl, len(outs)),
            targets=("target",),
            py_import=(decl.module, imported.name, name),
        )
    if inst is None or loss is None:
        return None
    n = len(inst.outputs)
    names = [name for name, _ in loss.inputs]
    return CustomLoss(
        kind="block",
        outputs=output_names(inst.decl, n),
        targets=tuple(names[n:]),
        logged=tuple(name for name, _ in loss.logged),
        instance=loss,
    )
