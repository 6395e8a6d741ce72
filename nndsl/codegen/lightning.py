"""The Lightning target: `nndsl generate spec.nn --target lightning`.

It writes the plain target's model.py unchanged, and for each train section of the root file a
LightningModule (`lit_model.py`: `class Lit<Model>(<Model>, L.LightningModule)`), a Trainer script
(`train.py`) and the same data snapshot (`data.npz`), and the plain target's helper module
(`training_utils.py`), whose metric sums lit_model.py imports.  The semantics are those of the plain
train.py (templates/train.py.j2): the same target shaping for the loss, the same metric
definitions, the same shuffling (a permutation per epoch from `seed * 1_000_003 + epoch`).

Data that streams from the user's files (nndsl/data/streaming.py) gets the plain target's
`data.json` instead of `data.npz`, and its train.py the plain target's Dataset class and transforms
(templates/stream_data.py.j2, included) read by a LightningDataModule (`StreamData`) whose
DataLoaders have the spec's workers and the plain train.py's samplers (EpochSampler, a
DistributedSampler: under DDP each process reads its share of every epoch).

Like the rest of the code generator this module never imports torch or lightning; only the
generated files do.  The spec-specific parts are computed here, the fixed text lives in
templates/lightning_module.py.j2 and templates/lightning_train.py.j2.
"""

from __future__ import annotations

import os
import textwrap
from typing import Any

from nndsl.catalog.training import LOSSES
from nndsl.check import Checked
from nndsl.codegen.output import PLACEHOLDER, seal
from nndsl.codegen.pysrc import RESERVED, identifier, literal
from nndsl.codegen.render import black_format, docstring, render
from nndsl.codegen.trainplan import BoolOp, CallSpec, Compare, Condition, TrainPlan, Word
from nndsl.errors import display_path

# precision of the train section → the Trainer's `precision`
PRECISIONS = {"32": "32-true", "bf16": "bf16-mixed", "fp16": "16-mixed"}

# losses that take class indices as targets (the plain compute_loss passes them through)
INDEX_TARGET_LOSSES = tuple(n for n, f in LOSSES.items() if f.targets == "class")

# What LightningModule itself defines (lightning 2.x): a submodule or parameter of the trained
# model with one of these names would shadow Lightning's machinery in `Lit<Model>`.
LIGHTNING_NAMES = frozenset(
    """
    CHECKPOINT_HYPER_PARAMS_KEY CHECKPOINT_HYPER_PARAMS_NAME CHECKPOINT_HYPER_PARAMS_TYPE
    all_gather allow_zero_length_dataloader_with_multiple_devices automatic_optimization backward
    clip_gradients configure_callbacks configure_gradient_clipping configure_model
    configure_optimizers configure_sharded_model current_epoch device device_mesh dtype
    example_input_array fabric freeze global_rank global_step hparams hparams_initial
    load_from_checkpoint local_rank log log_dict logger loggers lr_scheduler_step lr_schedulers
    manual_backward on_after_backward on_after_batch_transfer on_before_backward
    on_before_batch_transfer on_before_optimizer_step on_before_zero_grad on_fit_end on_fit_start
    on_gpu on_load_checkpoint on_predict_batch_end on_predict_batch_start on_predict_end
    on_predict_epoch_end on_predict_epoch_start on_predict_model_eval on_predict_start
    on_save_checkpoint on_test_batch_end on_test_batch_start on_test_end on_test_epoch_end
    on_test_epoch_start on_test_model_eval on_test_model_train on_test_start on_train_batch_end
    on_train_batch_start on_train_end on_train_epoch_end on_train_epoch_start on_train_start
    on_validation_batch_end on_validation_batch_start on_validation_end on_validation_epoch_end
    on_validation_epoch_start on_validation_model_eval on_validation_model_train
    on_validation_model_zero_grad on_validation_start optimizer_step optimizer_zero_grad
    optimizers precision predict_dataloader predict_step prepare_data prepare_data_per_node print
    remove_ignored_hparams save_hyperparameters setup strict_loading teardown test_dataloader
    test_step to_onnx to_tensorrt to_torchscript toggle_optimizer toggled_optimizer
    train_dataloader trainer training_step transfer_batch_to_device unfreeze untoggle_optimizer
    val_dataloader validation_step
    log_batch log_sums add_sum sums batch_losses drop_sums about
    """.split()
)

# module-level names of the generated lit_model.py that a model class must not take
LIT_GLOBALS = frozenset(
    {"L", "LOSS", "METRICS", "TASK", "MetricSums"}
    | {"OUTPUT_METRICS", "output_sums", "pick"}
    | {"Tensor", "nn", "torch", "compute_loss", "exc"}
    | {"FROZEN", "LR_FOR", "covers", "parameter_groups"}
    | {"CLIP_GRAD_NORM", "ACCUMULATE"}
    | {"random", "np", "random_state", "restore_random_state"}
)


def lightning_files(
    checked: Checked,
    models: list[str],
    *,
    with_data: bool = True,
    out_dir: str | os.PathLike | None = None,
) -> dict[str, str | bytes]:
    """File name → content for `nndsl generate --target lightning`: model.py (the plain target's)
    and, for each train section of the root file that trains one of these models,
    lit_model.py, train.py and data.npz (`lit_model_long.py`, `train_long.py`, `data_long.npz`
    for a section named `Long`; `data.json` for data that streams from its files), and the plain
    target's training_utils.py, whose metric sums lit_model.py imports (one copy of the metric
    code).  `out_dir` as in `generate_files` (a data.json's paths are relative to it)."""
    from nndsl.codegen import data_bytes, model_code, train_plans
    from nndsl.codegen.trainplan import data_file, spec_folder_from

    code = model_code(checked, models)
    files: dict[str, str | bytes] = {"model.py": code.source}
    user_path = spec_folder_from(out_dir, checked.program.root) if code.py_modules else None
    from nndsl.data.streaming import plan_streams

    for script, plan in train_plans(checked, models).items():
        # data that streams from the user's files: a data.json, read by a LightningDataModule
        streaming = plan_streams(plan, checked.program.root)
        lit = "lit_model" + script[len("train") :]
        data = data_file(script, streaming)
        attributes = code.attributes.get(plan.model, frozenset())
        files[f"{lit}.py"] = lit_module_source(plan, checked.program.root, attributes)
        files[f"{script}.py"] = lit_train_source(
            plan, checked.program.root, lit, data, user_path=user_path, streaming=streaming
        )
        if with_data:
            files[data] = data_bytes(checked, plan, data_dir=out_dir, streaming=streaming)
    if len(files) > 1:  # the metric sums lit_model.py imports: the plain target's module
        from nndsl.codegen.train import UTILS, utils_source

        files[f"{UTILS}.py"] = utils_source()
    return files


# ---- lit_model.py -----------------------------------------------------------------------------


def _has_val(plan: TrainPlan) -> bool:
    return plan.has_val


def lit_module_source(plan: TrainPlan, spec_path: str, attributes: frozenset[str]) -> str:
    from nndsl.codegen import GenerateError
    from nndsl.codegen.train import (
        UTILS,
        TrainCodeError,
        _call,
        _optimizer,
        _py,
        output_metrics_config,
        scheduler_code,
        task_config,
    )
    from nndsl.codegen.train import loss_call as train_loss_call

    model = plan.model
    # the name lit_model.py gives the model class: its own unless that hides one of its names
    taken = set(LIT_GLOBALS) | set(RESERVED) | {"annotations", f"Lit{model}"}
    alias = model if model not in taken else identifier(f"{model}_model", taken)
    clash = sorted(attributes & LIGHTNING_NAMES)
    if clash:
        raise GenerateError(
            f"the Lightning target cannot train `{model}`: its attribute `{clash[0]}` is a name "
            f"that LightningModule uses; label that layer differently (e.g. `{clash[0]}_: ...`)"
        )
    custom = plan.custom_loss
    model_import = model if alias == model else f"{model} as {alias}"
    loss_import = None
    if custom is not None:
        loss_name = plan.loss.name
        loss_alias = (
            loss_name
            if loss_name not in taken and loss_name != alias
            else identifier(f"{loss_name}_loss", taken | {alias})
        )
        if custom.py_import is not None:  # the user's class, from the user's module
            module, cls, _ = custom.py_import
            loss_import = f"from {module} import {cls}" + (
                f" as {loss_alias}" if loss_alias != cls else ""
            )
        else:
            model_import += ", " + (
                loss_name if loss_alias == loss_name else f"{loss_name} as {loss_alias}"
            )
    try:
        loss_call = (
            train_loss_call(plan.loss)
            if custom is None
            else _call("", CallSpec(loss_alias, plan.loss.args, plan.loss.kwargs))
        )
        params = "self.parameters()"
        if plan.freeze or plan.lr_for:  # the parameters not frozen, in groups by `lr_for`
            params = "parameter_groups(self, LR_FOR)" if plan.lr_for else "parameter_groups(self)"
        optimizer_call = _optimizer(plan.optimizer, params)
        scheduler_call, scheduler_reads = (
            scheduler_code(plan.scheduler) if plan.scheduler is not None else (None, frozenset())
        )
    except TrainCodeError as exc:
        raise GenerateError(str(exc)) from None
    init_args = "()"
    if plan.model_args is not None:
        args = plan.model_args
        init_args = _call("", CallSpec("", args.args, args.kwargs))  # `(64, dropout=0.5)`
    interval = None  # where the scheduler steps: per optimizer step or per epoch
    if plan.scheduler is not None:
        interval = "step" if plan.per_batch_scheduler else "epoch"
    measured = bool(plan.metrics or plan.output_metrics)
    # what lit_model.py imports from training_utils.py (the plain target's helper module)
    utils_names = ["MetricSums"] if measured else []
    if plan.output_metrics:
        utils_names += ["output_sums", "pick"]
    if plan.freeze or plan.lr_for:
        utils_names += ["covers", "parameter_groups"]
    plateau = plan.scheduler is not None and plan.scheduler.name == "ReduceLROnPlateau"
    spec = display_path(spec_path)
    header = docstring(
        [
            f"PyTorch Lightning module generated by nndsl from {spec}.",
            *([f"Train section `{plan.name}`."] if plan.name else []),
            f"`Lit{model}` is model.py's `{model}` with the train section's loss, metrics,",
            "optimizer and scheduler; its modules and state_dict keys are the model's.",
            f"Regenerate it with `nndsl generate {spec} --target lightning`",
            "rather than editing it by hand.",
            PLACEHOLDER,
        ],
        "",
    )
    source = render(
        "lightning_module.py.j2",
        header=header,
        model=model,
        model_import=model_import,
        loss_import=loss_import,
        loss_block=custom is not None,
        several_outputs=custom is not None and custom.several_outputs,
        logged=bool(custom is not None and custom.logged),
        loss_args=("*out" if custom is not None and custom.several_outputs else "out")
        + (", *y" if plan.data_targets > 1 else ", y"),
        x_arg="*x" if plan.data_inputs > 1 else "x",
        first_y="y[0]" if plan.data_targets > 1 else "y",
        output_metrics=_py(output_metrics_config(plan)) if plan.output_metrics else None,
        loss_lhs="loss, logged" if custom is not None and custom.logged else "loss",
        logged_arg=", logged" if custom is not None and custom.logged else "",
        model_class=alias,
        lit=f"Lit{model}",
        init_args=init_args,
        loss_call=loss_call,
        index_targets=plan.loss.name in INDEX_TARGET_LOSSES,
        optimizer_call=optimizer_call,
        scheduler_call=scheduler_call,
        uses_epochs="epochs" in scheduler_reads,
        uses_steps="steps_per_epoch" in scheduler_reads,
        interval=interval,
        plateau_monitor=("val_loss" if _has_val(plan) else "train_loss") if plateau else None,
        metrics=literal(list(plan.metrics)) if measured else None,
        task=_py(task_config(plan.task)) if measured else None,
        utils=UTILS,
        utils_names=", ".join(utils_names),
        frozen=literal(list(plan.freeze)) if plan.freeze else None,
        lr_for=_py(dict(plan.lr_for)) if plan.lr_for else None,
        clip=None if plan.clip_grad_norm is None else literal(plan.clip_grad_norm),
        accumulate=plan.accumulate,
    )
    return seal(black_format(source))


# ---- train.py ---------------------------------------------------------------------------------


def _mode(monitor: str, mode: str = "auto") -> str:
    from nndsl.catalog.training import lower_is_better

    if mode != "auto":
        return mode
    return "min" if lower_is_better(monitor) else "max"


FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


def single_comparison(c: Condition | None) -> tuple[str, str, float | int] | None:
    """`val_accuracy >= 0.95` (or `0.95 <= val_accuracy`) → ("val_accuracy", ">=", 0.95)."""
    if not isinstance(c, Compare) or c.op not in FLIP:
        return None
    if isinstance(c.left, Word) and not isinstance(c.right, Word):
        return c.left.name, c.op, c.right
    if isinstance(c.right, Word) and not isinstance(c.left, Word):
        return c.right.name, FLIP[c.op], c.left
    return None


def _kwargs(**kw: Any) -> str:
    from nndsl.codegen.pysrc import literal

    return ", ".join(f"{k}={v if isinstance(v, _Code) else literal(v)}" for k, v in kw.items())


class _Code(str):
    """Source text to be written as is (not as a literal)."""


def _resolve(monitor: str, has_val: bool) -> str:
    """A bare `loss` in a monitor is the validation loss when there is validation data."""
    if monitor == "loss":
        return "val_loss" if has_val else "train_loss"
    return monitor


def callbacks(plan) -> tuple[list[tuple[list[str], str]], str | None, list[str]]:
    """([(comment lines, constructor call)], the StopWhen condition or None, the Lightning
    callback classes these use) of the train section."""
    from nndsl.codegen.train import condition

    has_val = _has_val(plan)
    out: list[tuple[str, str]] = []
    used: set[str] = set()

    def callback(cls: str, **kw: Any) -> str:
        used.add(cls)
        return f"{cls}({_kwargs(**kw)})"

    early = None
    if plan.early_stopping is not None:
        es = plan.early_stopping
        monitor = _resolve(es.monitor, has_val)
        early = {
            "monitor": monitor,
            "patience": es.patience,
            "mode": _mode(monitor, es.mode),
            "min_delta": es.min_delta,
        }
    stop_when = None
    comparison = single_comparison(plan.stop_when)
    if comparison is not None:
        monitor, op, number = comparison
        monitor = _resolve(monitor, has_val)
        mode = "min" if op in ("<", "<=") else "max"
        if early is not None and early["monitor"] == monitor and early["mode"] == mode:
            early["stopping_threshold"] = number  # one callback per monitor and mode
            comparison = None
        else:
            note = f" (Lightning's threshold is strict: {op[0]})" if op in ("<=", ">=") else ""
            comparison = (
                f"stop_when: {monitor} {op} {number!r}{note}",
                callback(
                    "EarlyStopping",
                    monitor=monitor,
                    mode=mode,
                    stopping_threshold=number,
                    patience=_Code("sys.maxsize"),
                    check_finite=False,
                ),
            )
    elif plan.stop_when is not None:
        stop_when = condition(plan.stop_when)
        stop_text = f"stop_when: {_condition_text(plan.stop_when)}"
    if early is not None:
        what = "early_stopping" + (" and stop_when" if "stopping_threshold" in early else "")
        out.append((what, callback("EarlyStopping", **early)))
    if comparison is not None:
        out.append(comparison)
    if stop_when is not None:
        used.add("EarlyStopping")  # StopWhen is an EarlyStopping
        out.append((stop_text, "StopWhen()"))
    every = plan.checkpoint.every
    keep = plan.checkpoint.keep_best
    keep = _resolve(keep, has_val) if keep else None
    if keep and every == 1:
        out.append(
            (
                f"checkpoint: best.ckpt (best {keep}) and last.ckpt, every epoch",
                callback(
                    "ModelCheckpoint",
                    dirpath=_Code("out_dir"),
                    filename="best",
                    monitor=keep,
                    mode=_mode(keep),
                    save_top_k=1,
                    save_last=True,
                    enable_version_counter=False,
                ),
            )
        )
    else:
        if keep:
            out.append(
                (
                    f"checkpoint: best.ckpt, the best {keep}",
                    callback(
                        "ModelCheckpoint",
                        dirpath=_Code("out_dir"),
                        filename="best",
                        monitor=keep,
                        mode=_mode(keep),
                        save_top_k=1,
                        enable_version_counter=False,
                    ),
                )
            )
        every_text = "every epoch" if every == 1 else f"every {every} epochs and at the end"
        out.append(
            (
                f"checkpoint: last.ckpt, {every_text}",
                callback(
                    "ModelCheckpoint",
                    dirpath=_Code("out_dir"),
                    filename="last",
                    every_n_epochs=every,
                    enable_version_counter=False,
                ),
            )
        )
    order = ("EarlyStopping", "ModelCheckpoint")  # as the import line lists them
    return (
        [(textwrap.wrap(comment, 76), call) for comment, call in out],
        stop_when,
        [c for c in order if c in used],
    )


def lit_train_source(
    plan,
    spec_path: str,
    lit_module: str,
    data_name: str,
    user_path: str | None = None,
    streaming: bool = False,
) -> str:
    """train.py of the Lightning target; `user_path`: the spec's folder relative to the script's,
    put on `sys.path` for the user's Python modules that model.py imports.  `streaming`: the
    data is read from the user's files (data.json) by a LightningDataModule."""
    from nndsl.codegen.pysrc import literal
    from nndsl.codegen.train import UTILS, _py

    spec = display_path(spec_path)
    script = "train" + lit_module[len("lit_model") :]
    header = docstring(
        [
            f"PyTorch Lightning training script generated by nndsl from {spec}.",
            *([f"Train section `{plan.name}`."] if plan.name else []),
            f"Run `python {script}.py --help` for its flags; `--devices 2` trains with DDP.",
            f"Regenerate it with `nndsl generate {spec} --target lightning`",
            "rather than editing it by hand.",
            PLACEHOLDER,
        ],
        "",
    )
    cbs, stop_when, used = callbacks(plan)
    every = plan.checkpoint.every
    config = {
        "model": plan.model,
        "epochs": plan.epochs,
        "batch_size": plan.batch_size,
        "seed": plan.seed,
        "accelerator": plan.device,
        "precision": PRECISIONS.get(str(plan.precision), "32-true"),
    }
    if plan.init is not None:  # the weights file's absolute path, as in the plain CONFIG
        config["init"] = {"path": plan.init.resolved, "strict": plan.init.strict}
    # the plain train.py's flag parser and checks (a wrong flag: exit code 1, a hint)
    # and its run folder as found after a failure before the first result
    utils_imports = {"FlagParser", "FolderAsFound", "check_flags", "weights_problem"}
    if plan.init is not None:
        utils_imports |= {"TrainingError", "load_init_weights"}
    stream = stream_data_context(plan) if streaming else None
    if stream is not None:
        utils_imports |= set(stream["imports"])
    source = render(
        "lightning_train.py.j2",
        header=header,
        lit=f"Lit{plan.model}",
        lit_module=lit_module,
        user_path=literal(user_path) if user_path is not None else None,
        data_file=literal(data_name),
        config=_py(config),
        callbacks=cbs,
        callback_imports=", ".join(used),
        stop_when=stop_when,
        save_at_end=every > 1,
        several=plan.data_inputs > 1 or plan.data_targets > 1,
        several_inputs=plan.data_inputs > 1,
        several_targets=plan.data_targets > 1,
        init=plan.init is not None,
        utils=UTILS,
        utils_imports=sorted(utils_imports),
        streaming=streaming,
        stream=stream,
    )
    return seal(black_format(source))


# the transforms of templates/stream_data.py.j2 that call `nn.functional`
NN_TRANSFORMS = frozenset({"random_crop", "resize"})


def stream_data_context(plan: TrainPlan) -> dict[str, Any]:
    """What the Lightning train.py needs of streaming data: the plain target's context of
    templates/stream_data.py.j2 (the same transforms and Dataset class, included from that
    template), without its `data_loader` function (a LightningDataModule makes the DataLoaders
    here), and what the script imports from training_utils.py for it."""
    from nndsl.codegen.train import stream_context

    stream = dict(stream_context(plan))
    stream["lightning"] = True  # stream_data.py.j2: no `data_loader` (it takes the plain Run)
    stream["uses_nn"] = bool(NN_TRANSFORMS & set(stream["functions"]))
    # load_stream lists the files; EpochSampler and EvalBatches are the plain script's
    # samplers; stream_error turns a DataLoader worker's error into its message
    stream["imports"] = sorted(
        {*stream["imports"], "EpochSampler", "EvalBatches", "TrainingError"}
        | {"load_stream", "stream_error"}
    )
    return stream


def _condition_text(c: Condition) -> str:
    """The spec's text of a stop_when condition, for a comment."""
    if isinstance(c, Compare):
        return f"{_quantity_text(c.left)} {c.op} {_quantity_text(c.right)}"
    if isinstance(c, BoolOp):
        sides = [_condition_text(x) for x in (c.left, c.right)]
        sides = [f"({t})" if isinstance(x, BoolOp) else t for t, x in zip(sides, (c.left, c.right))]
        return f"{sides[0]} {c.op} {sides[1]}"
    inner = _condition_text(c.operand)
    return f"not ({inner})" if not isinstance(c.operand, Compare) else f"not {inner}"


def _quantity_text(v: Word | int | float) -> str:
    return v.name if isinstance(v, Word) else repr(v)
