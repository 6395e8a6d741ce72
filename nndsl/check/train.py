"""Static checks of `train { ... }` sections: every key's value, and whether model, loss and data fit.

Runs after shape inference (name resolution has already checked the keys themselves, the model's
name and the data source's name).  Each value is checked against its vocabulary: losses,
optimizers and schedulers against torch's real signatures (from the API snapshot, never torch
itself), metrics, monitors, devices and precisions against `catalog.training`.  Then the pieces
are checked against each other: the data's sample shape against the model's input, the model's
output against the loss and the data's targets (warnings: legal but almost surely wrong), and the
classic double activations (a softmax before `CrossEntropyLoss`, a sigmoid before
`BCEWithLogitsLoss`).

Every mistake becomes a diagnostic at the node that holds it, with a did-you-mean where one fits.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nndsl import dims, ir
from nndsl.catalog import api, ranges
from nndsl.catalog.core import TensorT, bind, describe
from nndsl.catalog.training import (
    CHECKPOINT_ARGS,
    COMMON_DATA_OPTIONS,
    DATA_OPTION_TYPES,
    DATA_SOURCES,
    DEVICES,
    EARLY_STOPPING_ARGS,
    LOSSES,
    METRICS,
    PRECISIONS,
    STREAM_DATA_OPTIONS,
    TASK_OPTIONS,
    TENSOR_ARGS,
    TRANSFORMS,
    Task,
    decide_task,
    loss_facts,
    lower_is_better,
    metric,
    metric_kind,
    monitor_names,
    topk,
    transform_problem,
    transforms_for,
)
from nndsl.catalog.tv_transforms import looks_like as looks_like_tv
from nndsl.check.finetune import FinetuneChecks
from nndsl.check.graph import BlockInstance, ModuleSlot, TensorV
from nndsl.check.plan import CallSpec, ListValue, PlanError, TrainPlan, Word, split_lr_for
from nndsl.check.plan import build as build_plan
from nndsl.check.resolve import Symbols
from nndsl.errors import Diagnostic, Note, Span, error, warning
from nndsl.limits import MAX_IMAGE_SIDE
from nndsl.syntax.loader import Program

# ---------------------------------------------------------------------------------------------
# Static facts about data sources: what one sample looks like and what the targets are
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataFacts:
    """What a data source gives, known without loading it.

    `x`: the shape of one input sample (no batch dimension); `task`: "classification" (targets
    are class labels, one integer per sample) or "regression" (float targets of shape `target`).
    """

    source: str
    x: tuple[int, ...]
    task: str
    classes: int | None = None
    target: tuple[int, ...] = ()
    reconstruct: bool = False  # target=input: the target is the input itself

    @property
    def what(self) -> str:
        return f"`{self.source}(target=input)`" if self.reconstruct else f"`{self.source}`"


# Bundled and generated sources: (sample shape, task, number of classes), from the data layer's
# documentation (nndsl/data/sources.py).  Sources that read the user's files are not known here.
BUNDLED_DATA = {
    "digits": ((1, 8, 8), "classification", 10),
    "iris": ((4,), "classification", 3),
    "moons": ((2,), "classification", 2),
}
DATA_DESCRIPTIONS = {
    "digits": "8x8 grayscale images of digits, [B, 1, 8, 8]",
    "iris": "4 measurements per flower, [B, 4]",
    "moons": "2-D points, [B, 2]",
    "spirals": "2-D points, [B, 2]",
}


def data_facts(source: str, options: dict[str, Any]) -> DataFacts | None:
    """The static facts of `source(**options)`, or None when they depend on the user's files."""
    facts: DataFacts | None = None
    if source in BUNDLED_DATA:
        x, task, classes = BUNDLED_DATA[source]
        facts = DataFacts(source, x, task, classes)
    elif source == "spirals":
        k = options.get("classes", 2)
        facts = DataFacts(source, (2,), "classification", k if _is_int(k) else None)
    elif source == "sine":
        length = options.get("length", 32)
        if not _is_int(length):
            return None
        facts = DataFacts(source, (length, 1), "regression", target=(1,))
    elif source == "random":
        shape = options.get("shape")
        shape = (shape,) if _is_int(shape) else shape
        if not isinstance(shape, (tuple, list)) or not shape or not all(map(_is_int, shape)):
            return None
        k = options.get("classes")
        if k is None:
            facts = DataFacts(source, tuple(shape), "regression", target=(1,))
        elif _is_int(k):
            facts = DataFacts(source, tuple(shape), "classification", k)
    if facts is not None and _is_input(options.get("target")):
        facts = DataFacts(source, facts.x, "regression", target=facts.x, reconstruct=True)
    return facts


DATA_EXAMPLES = {
    "csv": 'csv("data.csv", target="label")',
    "npz": 'npz("data.npz", x="x", y="y")',
    "image_folder": 'image_folder("images/", size=64)',
    "torchvision": 'torchvision("MNIST", root="data", download=true)',
    "random": "random(shape=[3, 32, 32], classes=10)",
}

# ---------------------------------------------------------------------------------------------
# Losses, optimizers, schedulers
# ---------------------------------------------------------------------------------------------

CLASS_LABEL_LOSSES = tuple(n for n, f in LOSSES.items() if f.targets == "class")
BINARY_LOSSES = tuple(n for n, f in LOSSES.items() if f.targets == "binary")
REGRESSION_LOSSES = tuple(n for n, f in LOSSES.items() if f.targets == "regression")
# Losses whose target is a distribution of the output's shape (never class labels)
DISTRIBUTION_LOSSES = tuple(n for n, f in LOSSES.items() if f.targets == "distribution")

# What users write for a loss, from torch.nn.functional or other libraries
LOSS_ALIASES = {
    "cross_entropy": "CrossEntropyLoss",
    "crossentropy": "CrossEntropyLoss",
    "categorical_crossentropy": "CrossEntropyLoss",
    "CategoricalCrossentropy": "CrossEntropyLoss",
    "nll_loss": "NLLLoss",
    "mse_loss": "MSELoss",
    "mse": "MSELoss",
    "MSE": "MSELoss",
    "mean_squared_error": "MSELoss",
    "l1_loss": "L1Loss",
    "mae": "L1Loss",
    "smooth_l1_loss": "SmoothL1Loss",
    "huber_loss": "HuberLoss",
    "binary_cross_entropy": "BCELoss",
    "binary_crossentropy": "BCELoss",
    "binary_cross_entropy_with_logits": "BCEWithLogitsLoss",
    "BCEWithLogits": "BCEWithLogitsLoss",
    "kl_div": "KLDivLoss",
}
LOSS_REDUCTIONS = ("mean", "sum", "none")

# Scheduler arguments that are Python functions: a spec cannot write them
FUNCTION_ARGS = {"LambdaLR": "lr_lambda", "MultiplicativeLR": "lr_lambda"}
# Optimizers a train section's loop cannot drive (torch raises at the first step): why.
UNTRAINABLE_OPTIMIZERS = {
    "SparseAdam": "it takes only sparse gradients, and a model's layers have dense ones",
    "LBFGS": "its step() re-evaluates the loss through a closure, and the training loop takes "
    "one plain step per batch",
    "Muon": "it takes only matrices (2-D parameters), and a model's biases and norms are not",
}
# Flags of torch's optimizers that the training loop cannot honour: why
UNTRAINABLE_FLAGS = {
    "capturable": "it is for CUDA graphs, which the training loop does not capture",
    "differentiable": "it is for differentiating through the optimizer's step",
}
# Arguments that hold other schedulers
SCHEDULER_LIST_ARGS = {"SequentialLR": "schedulers", "ChainedScheduler": "schedulers"}
# Parameters whose default is a number but that must be integers
INT_ARGS = frozenset(
    "T_max T_0 T_mult step_size total_iters last_epoch patience cooldown total_steps epochs "
    "steps_per_epoch step_size_up step_size_down ignore_index".split()
)
SCHEDULER_HINTS = {
    "T_max": "the number of epochs of one cosine half-period, usually the number of epochs",
    "step_size": "the number of epochs between two learning-rate decays",
    "T_0": "the number of epochs until the first restart",
    "max_lr": "the highest learning rate of the cycle, e.g. `max_lr=0.01`",
}

# ---------------------------------------------------------------------------------------------
# Metrics, monitors, devices, precisions
# ---------------------------------------------------------------------------------------------

METRIC_ALIASES = {
    "acc": "accuracy",
    "accuracy_score": "accuracy",
    "f1_score": "f1",
    "f1score": "f1",
    "mean_absolute_error": "mae",
    "mean_squared_error": "mse",
    "root_mean_squared_error": "rmse",
    "top_5": "top5",
    "top_1": "top1",
}
# Argument names from other libraries (Keras, JAX) → torch's
ARGUMENT_ALIASES = {
    "learning_rate": "lr",
    "lr_rate": "lr",
    "wd": "weight_decay",
    "l2": "weight_decay",
    "decay": "weight_decay",
    "beta": "betas",
    "epsilon": "eps",
    "nesterov_momentum": "nesterov",
    "smoothing": "label_smoothing",
    "ignore_label": "ignore_index",
    "step": "step_size",
    "T": "T_max",
    "warmup_steps": "total_iters",
}
BOUNDED_METRICS = ("accuracy", "f1", "precision", "recall")  # fractions between 0 and 1
DEVICE_ALIASES = {"gpu": "cuda", "cuda0": "cuda", "metal": "mps", "apple": "mps", "cpu0": "cpu"}
PRECISION_ALIASES = {
    "fp32": "32",
    "float32": "32",
    "float": "32",
    "full": "32",
    "16": "fp16",
    "float16": "fp16",
    "half": "fp16",
    "amp": "fp16",
    "mixed": "fp16",
    "bfloat16": "bf16",
    "bf": "bf16",
}
MODES = ("min", "max", "auto")
COMPARISONS = ("<", "<=", ">", ">=")

# ---------------------------------------------------------------------------------------------
# Values of a train section
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Opaque:
    """A value that is not a literal (a call, a comparison): checked where it is expected."""

    node: ir.Expr


class _Bad:
    """A value whose error is already reported."""


BAD = _Bad()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _names_list(v: Any) -> bool:
    """A non-empty list of names (`["left", "right"]`)."""
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(s, str) for s in v)


def _is_input(v: Any) -> bool:
    return (isinstance(v, Word) and v.name == "input") or v == "input"


def _word(v: Any) -> str | None:
    """The text of a name or string value (`val_loss`, "val_loss"), else None."""
    if isinstance(v, Word):
        return v.name
    if isinstance(v, str):
        return v
    return None


def _describe(v: Any) -> str:
    if isinstance(v, Word):
        return f"the name `{v.name}`"
    if isinstance(v, Opaque):
        if isinstance(v.node, ir.Call):
            return "a call"
        if isinstance(v.node, (ir.Compare, ir.BoolOp)):
            return "a condition"
        text = ir_text(v.node)
        return f"`{text}`" if len(text) <= 40 else "an expression"
    if isinstance(v, list):
        return "a list"
    return describe(v)


def _did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = api.suggest(name, list(candidates))
    return f"did you mean `{close[0]}`?" if close else None


def _shape(x: Sequence[Any]) -> str:
    """A batched sample shape for messages: (1, 8, 8) → [B, 1, 8, 8]."""
    return "[" + ", ".join(["B", *(dims.format_dim(d) for d in x)]) + "]"


# ---------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------


def check_trains(
    program: Program,
    symbols: Symbols,
    models: dict[str, BlockInstance | None] | None,
) -> tuple[list[Diagnostic], dict[str | None, TrainPlan]]:
    """Check every train section of the root file.  `models`: the inferred instance of each model
    of the root file (None where inference failed), or None when inference did not run.
    Returns the diagnostics and the plan (nndsl/check/plan.py) of each section without errors,
    by name (None for an unnamed one): what code generation and `run` read."""
    checker = TrainChecker(program, symbols, models)
    plans: dict[str | None, TrainPlan] = {}
    for t in symbols.root_trains:
        errors = checker.error_count()
        sec = checker.check(t)
        if models is not None and checker.error_count() == errors:
            p = checker.plan(sec, [m for m in models if models[m] is not None])
            if p is not None:
                plans[t.name] = p
    return checker.diags + checker.evaluator_diags(), plans


@dataclass
class _Section:
    """What the checker learnt about one train section so far."""

    decl: ir.TrainDecl
    metrics: tuple[str, ...] = ()
    metric_spans: tuple[Span, ...] = ()
    has_val: bool | None = None  # None: unknown (no data, or a source that decides itself)
    data: DataFacts | None = None
    data_entry: ir.TrainEntry | None = None
    loss: str | None = None
    loss_entry: ir.TrainEntry | None = None
    model_args: dict[str, Any] | None = None  # the arguments `model = Net(...)` gives
    task_option: str | None = None  # the data source's `task=`
    task_node: ir.Expr | None = None
    task: Task | None = None
    loss_call: ir.Call | None = None
    loss_bound: dict[str, Any] | None = None
    out_classes: int | None = None  # the model's output size along dim 1 (scores, labels)
    instance: BlockInstance | None = None  # the trained model, with the section's arguments
    loss_block: ir.BlockDecl | None = None  # `loss = VAELoss(...)`: a loss block of the file
    loss_args: dict[str, Any] | None = None  # ... and the arguments the section gives it
    loss_instance: BlockInstance | None = None  # ... checked on the model's outputs and targets
    loss_py: tuple | None = (
        None  # `loss = FocalLoss(2.0)` of the user's Python: (name, node, args, kwargs)
    )
    # several arrays and metrics of named outputs (nndsl/check/multidata.py)
    data_arrays: Any = None  # the input and target arrays the data names
    output_metric_items: list = field(default_factory=list)  # `accuracy(digit)` as written
    output_metrics: tuple = ()  # ... resolved against the model (OutputMetric)


class TrainChecker(FinetuneChecks):
    def __init__(
        self, program: Program, symbols: Symbols, models: dict[str, BlockInstance | None] | None
    ):
        self.program = program
        self.symbols = symbols
        self.models = models
        self.diags: list[Diagnostic] = []
        self._evaluator = None

    # ---- diagnostics and values ---------------------------------------------------------------

    def error(self, message: str, span: Span | None, *, notes=(), hint: str | None = None) -> _Bad:
        self.diags.append(error(message, span, notes=notes, hint=hint))
        return BAD

    def warn(self, message: str, span: Span | None, *, notes=(), hint: str | None = None) -> None:
        self.diags.append(warning(message, span, notes=notes, hint=hint))

    @property
    def evaluator(self):
        if self._evaluator is None:
            from nndsl.check.infer import Evaluator

            self._evaluator = Evaluator(self.program, self.symbols)
        return self._evaluator

    def evaluator_diags(self) -> list[Diagnostic]:
        return list(self._evaluator.diags) if self._evaluator is not None else []

    def value(self, e: ir.Expr) -> Any:
        """A compile-time value: numbers, strings, bools, `none`, tuples and lists, constants of
        the file and arithmetic on them; other bare names are `Word`s, calls are `Opaque`."""
        if isinstance(e, (ir.Num, ir.Str, ir.Const)):
            return e.value
        if isinstance(e, ir.Paren):
            return self.value(e.expr)
        if isinstance(e, ir.Name):
            if e.id in self.symbols.consts:
                return self.const(e)
            return Word(e.id)
        if isinstance(e, (ir.TupleExpr, ir.ListExpr)):
            items = [self.value(i) for i in e.items]
            if any(i is BAD for i in items):
                return BAD
            return tuple(items) if isinstance(e, ir.TupleExpr) else items
        if isinstance(e, (ir.Call, ir.Compare, ir.BoolOp, ir.Chain, ir.Labeled, ir.IfExp)):
            return Opaque(e)
        names = [n for n in ir.walk(e) if isinstance(n, ir.Name)]
        if any(n.id not in self.symbols.consts for n in names):
            return Opaque(e)
        from nndsl.check.values import POISON

        v = self.evaluator.const_expr(e)
        return BAD if v is POISON else v

    def const(self, e: ir.Name) -> Any:
        from nndsl.check.values import POISON

        v = self.evaluator.const(e.id, e.span)
        return BAD if v is POISON else v

    def plan_value(self, e: ir.Expr) -> Any:
        """A value as the TrainPlan holds it (nndsl/check/plan.py): what `value` reads, with
        lists as ListValue and calls as CallSpec (their arguments read the same way)."""
        v = self.value(e)
        if isinstance(v, Opaque) and isinstance(v.node, ir.Call):
            call = v.node
            if not isinstance(call.func, ir.Name):
                raise PlanError(f"`{ir_text(call.func)}` is not a name")
            return CallSpec(
                call.func.id,
                tuple(self.plan_value(a) for a in call.args),
                tuple((k.name, self.plan_value(k.value)) for k in call.kwargs),
                call.span,
            )
        if isinstance(v, Opaque) and isinstance(v.node, ir.Paren):
            return self.plan_value(v.node.expr)
        if v is BAD or isinstance(v, Opaque):
            raise PlanError(f"cannot use `{ir_text(e)}` here")
        if isinstance(v, (list, tuple)):  # the items again, for the calls among them
            items = e.items if isinstance(e, (ir.ListExpr, ir.TupleExpr)) else None
            if items is None or len(items) != len(v):
                return ListValue(v) if isinstance(v, list) else v
            read = tuple(self.plan_value(i) for i in items)
            return ListValue(read) if isinstance(v, list) else read
        return v

    def not_a_name(self, v: Word, span: Span, what: str) -> _Bad:
        hint = _did_you_mean(v.name, self.symbols.consts)
        if hint is None:
            consts = ", ".join(f"`{c}`" for c in self.symbols.consts)
            hint = f"{what}" + (f"; constants of this file: {consts}" if consts else "")
        return self.error(f"undefined name `{v.name}`", span, hint=hint)

    # ---- a section ------------------------------------------------------------------------------

    def error_count(self) -> int:
        return sum(d.is_error for d in (*self.diags, *self.evaluator_diags()))

    def plan(self, sec: _Section, models: list[str]) -> TrainPlan | None:
        """The section's TrainPlan (after `check` found no error in it), of the values as the
        checker reads them (`plan_value`)."""
        custom = None
        if sec.loss_block is not None or sec.loss_py is not None:
            from nndsl.check.lossblock import custom_loss

            custom = custom_loss(sec, self.symbols)
            if custom is None:
                return None  # (reported)
        try:
            return build_plan(
                sec.decl,
                models,
                self.plan_value,
                task=sec.task,
                instance=sec.instance,
                custom_loss=custom,
                base_dir=os.path.dirname(os.path.abspath(self.program.root)),
                output_metrics=sec.output_metrics,
                data_arrays=(len(sec.data_arrays.inputs), len(sec.data_arrays.targets))
                if sec.data_arrays is not None
                else (1, 1),
            )
        except PlanError as exc:
            self.error(f"train section: {exc}", _head(sec.decl))
            return None

    def check(self, t: ir.TrainDecl) -> _Section:
        sec = _Section(t)
        entries = {}
        for e in t.entries:
            entries.setdefault(e.key, e)  # resolve reports keys given twice
        # metrics and data first: monitors and metrics depend on them
        if "metrics" in entries:
            self.metrics(entries["metrics"], sec)
        if "data" in entries:
            self.data(entries["data"], sec)
        if "loss" in entries:
            sec.loss_entry = entries["loss"]
            sec.loss = self.loss(entries["loss"], sec)
        lr_for = None
        if "optimizer" in entries:
            opt = entries["optimizer"]
            node, lr_for = split_lr_for(opt.value)  # `lr_for=` is nndsl's, not torch's
            if lr_for is not None:
                opt = ir.TrainEntry(key=opt.key, value=node, key_span=opt.key_span, span=opt.span)
            self.optimizer(opt)
        if "scheduler" in entries:
            self.scheduler(entries["scheduler"].value)
        for key, minimum in (("epochs", 1), ("batch_size", 1), ("accumulate", 1), ("seed", 0)):
            if key in entries:
                self.integer(entries[key], minimum, ranges.SEED_MAX if key == "seed" else None)
        if "clip_grad_norm" in entries:
            self.positive_number(entries["clip_grad_norm"])
        if "precision" in entries:
            self.precision(entries["precision"])
        if "device" in entries:
            self.device(entries["device"])
        if "early_stopping" in entries:
            self.early_stopping(entries["early_stopping"], sec)
        if "checkpoint" in entries:
            self.checkpoint(entries["checkpoint"], sec)
        if "stop_when" in entries:
            self.stop_when(entries["stop_when"].value, sec)
        inst = self.model(t, entries.get("model"), sec)
        sec.instance = inst
        if "init" in entries:
            self.init(entries["init"])
        frozen = self.freeze(entries["freeze"], inst) if "freeze" in entries else ()
        if lr_for is not None:
            self.lr_for(lr_for, inst, frozen)
        out = None
        if inst is not None:
            from nndsl.check.multidata import check_data_fit

            out = self.model_fit(inst, sec)
            check_data_fit(self, inst, sec)
        self.decide_task(sec, out)
        self.metrics_fit(sec)
        if inst is not None:
            from nndsl.check.multidata import resolve_output_metrics

            sec.output_metrics = resolve_output_metrics(self, inst, sec)
        self.tensor_args(sec)
        return sec

    # ---- numbers ------------------------------------------------------------------------------

    def integer(self, e: ir.TrainEntry, minimum: int, maximum: int | None = None) -> None:
        v = self.value(e.value)
        if v is BAD:
            return
        what = "a positive integer" if minimum == 1 else "a non-negative integer"
        if isinstance(v, Word):
            self.not_a_name(v, e.value.span, f"`{e.key}` is {what}, such as `{e.key} = 10`")
            return
        if not _is_int(v):
            hint = None
            if isinstance(v, float) and v.is_integer():
                hint = f"write `{e.key} = {int(v)}`"
            elif isinstance(v, str) and v.strip().isdigit():
                hint = f"write the number without quotes: `{e.key} = {v.strip()}`"
            self.error(f"`{e.key}` must be {what}, not {_describe(v)}", e.value.span, hint=hint)
        elif v < minimum or maximum is not None and v > maximum:
            self.error(
                f"`{e.key}` must be {what}"
                + ("" if maximum is None else f" up to {maximum:,}")
                + f", not {v}",
                e.value.span,
                hint=ranges.hint_for("train", e.key),
            )

    def positive_number(self, e: ir.TrainEntry) -> None:
        v = self.value(e.value)
        if v is BAD:
            return
        if isinstance(v, Word):
            self.not_a_name(v, e.value.span, f"`{e.key}` is a positive number, such as `1.0`")
        elif not _is_number(v):
            self.error(f"`{e.key}` must be a positive number, not {_describe(v)}", e.value.span)
        elif v <= 0:
            self.error(
                f"`{e.key}` must be a positive number, not {v}",
                e.value.span,
                hint="it is the largest gradient norm allowed; remove the key to not clip",
            )

    # ---- precision and device -----------------------------------------------------------------

    def precision(self, e: ir.TrainEntry) -> None:
        v = self.value(e.value)
        if v is BAD:
            return
        text = str(v) if _is_int(v) else _word(v)
        if text in PRECISIONS:
            return
        known = ", ".join(f"`{p}`" for p in PRECISIONS)
        if text is None:
            self.error(
                f"`precision` is one of {known}, not {_describe(v)}",
                e.value.span,
                hint="`32` trains in float32; `bf16` and `fp16` use mixed precision",
            )
            return
        alias = PRECISION_ALIASES.get(text.lower())
        hint = f"did you mean `{alias}`?" if alias else _did_you_mean(text, PRECISIONS)
        self.error(
            f"unknown precision `{text}`",
            e.value.span,
            hint=(hint + " " if hint else "") + f"(precisions: {known})",
        )

    def device(self, e: ir.TrainEntry) -> None:
        v = self.value(e.value)
        if v is BAD:
            return
        text = _word(v)
        if text in DEVICES:
            return
        known = ", ".join(f"`{d}`" for d in DEVICES)
        if text is None:
            self.error(f"`device` is one of {known}, not {_describe(v)}", e.value.span)
            return
        if text.startswith("cuda:"):
            hint = "write `cuda`; choose the GPU with the CUDA_VISIBLE_DEVICES environment variable"
        else:
            alias = DEVICE_ALIASES.get(text.lower())
            hint = f"did you mean `{alias}`?" if alias else _did_you_mean(text, DEVICES)
            hint = (hint + " " if hint else "") + f"(devices: {known})"
        self.error(f"unknown device `{text}`", e.value.span, hint=hint)

    # ---- metrics and monitors -----------------------------------------------------------------

    def metrics(self, e: ir.TrainEntry, sec: _Section) -> None:
        node = e.value
        if not isinstance(node, ir.ListExpr):
            v = self.value(node)
            if v is BAD:
                return
            name = _word(v)
            if name is not None and metric_kind(name):
                self.error(
                    "`metrics` is a list",
                    node.span,
                    hint=f"write `metrics = [{name}]`",
                )
            else:
                self.error(
                    f"`metrics` is a list of metrics such as `[accuracy]`, not {_describe(v)}",
                    node.span,
                )
            return
        names: list[str] = []
        spans: list[Span] = []
        seen: dict[str, Span] = {}
        for item in node.items:
            if isinstance(item, ir.Call) and isinstance(item.func, ir.Name):
                from nndsl.check.multidata import metric_item

                named = metric_item(self, item)  # `accuracy(digit)`: of a named output
                column = None if named is None else f"{named.metric}_{named.output}"
                if column is not None and column in seen:
                    self.error(
                        f"metric `{named.metric}({named.output})` is listed twice",
                        item.span,
                        notes=[Note("first listed at {at}", seen[column])],
                    )
                elif named is not None and column is not None:
                    seen[column] = item.span
                    sec.output_metric_items.append(named)
                continue
            v = self.value(item)
            if v is BAD:
                continue
            name = _word(v)
            if name is None:
                self.error(f"a metric is a name such as `accuracy`, not {_describe(v)}", item.span)
                continue
            if metric_kind(name) is None:
                self.unknown_metric(name, item.span)
                continue
            if name in seen:
                self.error(
                    f"metric `{name}` is listed twice",
                    item.span,
                    notes=[Note("first listed at {at}", seen[name])],
                )
                continue
            seen[name] = item.span
            names.append(name)
            spans.append(item.span)
        sec.metrics = tuple(names)
        sec.metric_spans = tuple(spans)

    def unknown_metric(self, name: str, span: Span) -> None:
        if name == "loss" or name.endswith("_loss"):
            self.error(
                f"`{name}` is not a metric",
                span,
                hint="the loss is always computed; watch it as `train_loss` or `val_loss`",
            )
            return
        if name.startswith("top"):
            self.error(
                f"unknown metric `{name}`",
                span,
                hint="top-k accuracy is written `topK` with K at least 1, such as `top5`",
            )
            return
        alias = METRIC_ALIASES.get(name) or METRIC_ALIASES.get(name.lower())
        if alias:
            hint = f"did you mean `{alias}`?"
        else:
            hint = _did_you_mean(name, [*METRICS, "top1", "top5"]) or (
                "metrics: " + ", ".join(f"`{m}`" for m in [*METRICS, "top5"])
            )
        self.error(f"unknown metric `{name}`", span, hint=hint)

    def monitor(self, v: Any, span: Span, sec: _Section, what: str) -> str | None:
        """Check a watched quantity (`val_loss`, `val_accuracy`); returns its name if valid."""
        name = _word(v)
        if name is None:
            self.error(
                f"{what} is a quantity such as `val_loss` or `val_accuracy`, not {_describe(v)}",
                span,
            )
            return None
        known = monitor_names(
            (*sec.metrics, *(f"{m.metric}_{m.output}" for m in sec.output_metric_items))
        )
        if name not in known:
            base = name.removeprefix("val_").removeprefix("train_")
            if base != name and metric_kind(base):
                listed = ", ".join((*sec.metrics, base))
                self.error(
                    f"`{name}` is not computed: `{base}` is not in `metrics`",
                    span,
                    hint=f"add it: `metrics = [{listed}]`",
                )
                return None
            alias = METRIC_ALIASES.get(base)
            guess = (
                name.replace(base, alias)
                if alias and name.replace(base, alias) in known
                else (api.suggest(name, known) or [None])[0]
            )
            shown = ", ".join(f"`{k}`" for k in known if k != "loss")
            self.error(
                f"unknown quantity `{name}`",
                span,
                hint=f"did you mean `{guess}`?"
                if guess
                else f"known here: {shown} (list more in `metrics`)",
            )
            return None
        if name.startswith("val_") and sec.has_val is False:
            self.needs_validation(name, span, sec)
            return None
        return name

    def needs_validation(self, name: str, span: Span, sec: _Section, message: str = "") -> None:
        entry = sec.data_entry
        assert entry is not None
        src = _callee(entry.value) or "data"
        notes = [Note(f"the data is `{ir_text(entry.value)}` (at {{at}})", entry.value.span)]
        self.error(
            message or f"`{name}` needs a validation set, but the data has none",
            span,
            notes=notes,
            hint=f"hold out part of the data: `data = {_with_option(entry.value, src)}`"
            + (", or watch `train_loss`" if name == "val_loss" else ""),
        )

    def decide_task(self, sec: _Section, out: TensorV | None) -> None:
        """The section's task, from the loss, the model's output, the data and `task=`; a
        `task=` that the loss cannot train is an error at the option."""
        if sec.loss_block is not None or sec.loss_py is not None:
            return  # decided with the loss block (nndsl/check/lossblock.py)
        output = tuple(out.type.shape[1:]) if out is not None else None
        facts = loss_facts(sec.loss)
        option, node = sec.task_option, sec.task_node
        if option is not None and facts is not None and node is not None:
            clash = None
            if facts.targets == "class" and option in ("multilabel", "regression"):
                clash = f"`{sec.loss}` picks one class per sample"
            elif facts.targets == "binary" and option in ("multiclass", "regression"):
                clash = f"`{sec.loss}` trains independent yes/no outputs"
            elif facts.targets == "regression" and option != "regression":
                clash = f"`{sec.loss}` trains real-valued outputs"
            if clash:
                fix = {
                    "multilabel": "BCEWithLogitsLoss()",
                    "binary": "BCEWithLogitsLoss()",
                    "regression": "MSELoss()",
                    "multiclass": "CrossEntropyLoss()",
                    "classification": "CrossEntropyLoss()",
                }[option]
                self.error(
                    f'`task="{option}"` does not fit the loss: {clash}',
                    node.span,
                    notes=[
                        Note(
                            f"the loss is `{sec.loss}` (at {{at}})",
                            _callee_span(sec.loss_entry.value),
                        )
                    ]
                    if sec.loss_entry
                    else (),
                    hint=f"use `loss = {fix}` for this task, or remove `task=`",
                )
                return
        data = sec.data
        sec.task = decide_task(
            sec.loss,
            output,
            data_task=data.task if data else None,
            reconstruct=bool(data and data.reconstruct),
            override=option,
        )

    def metrics_fit(self, sec: _Section) -> None:
        """Metrics that make no sense for the task (accuracy of a regression) or the data."""
        task = sec.task
        for name, span in zip(sec.metrics, sec.metric_spans):
            m = metric(name)
            assert m is not None  # unknown metrics were reported by `metrics`
            if task is None:
                if sec.loss is None:
                    continue
                self.error(
                    f"`{name}` needs to know the task, but nothing tells whether `{sec.loss}` "
                    "trains a classifier or a regression",
                    span,
                    hint='say it on the data source, e.g. `task="classification"` or '
                    '`task="regression"`',
                )
                continue
            if task.kind not in m.tasks:
                fitting = [n for n, f in METRICS_FOR_TASK.items() if task.kind in f]
                if topk(name) is not None and task.kind in ("binary", "multilabel"):
                    message = f"`{name}` ranks the classes of a multi-class task, but this is {task.describe()}"
                else:
                    message = (
                        f"`{name}` is a {metric_kind(name)} metric, but this is {task.describe()}"
                    )
                self.error(
                    message + self.task_reason(sec),
                    span,
                    notes=self.task_notes(sec),
                    hint="metrics for this task: " + ", ".join(f"`{n}`" for n in fitting),
                )
                continue
            k = topk(name)
            classes = self.classes(sec)
            if k is not None and classes is not None and k > classes:
                source = (
                    f"{sec.data.what} has {classes}"
                    if sec.data is not None and sec.data.classes is not None
                    else f"the model outputs {classes} class scores"
                )
                self.error(
                    f"`{name}` needs at least {k} classes, but {source}",
                    span,
                    hint=f"use `top{classes - 1}` or less" if classes > 2 else "use `accuracy`",
                )

    def task_reason(self, sec: _Section) -> str:
        """`: iris gives class labels` when the data alone tells the task, else ''."""
        task, data = sec.task, sec.data
        if task is None or data is None or sec.task_node is not None:
            return ""
        if data.task == "classification" and task.classifies:
            return f": {data.what} gives class labels"
        if data.task == "regression" and not task.classifies:
            return f": {data.what} gives real-valued targets"
        return ""

    def task_notes(self, sec: _Section) -> list[Note]:
        notes = []
        if sec.task is not None and sec.task_node is not None:
            notes.append(
                Note(
                    f"the task is {sec.task.describe()}, as `task=` says at {{at}}",
                    sec.task_node.span,
                )
            )
        elif sec.task is not None and sec.loss_entry is not None:
            notes.append(
                Note(
                    f"the task is {sec.task.describe()}, from the loss `{sec.loss}` (at {{at}})"
                    + (
                        " and the model's output"
                        if sec.task.kind in ("binary", "multilabel", "multiclass")
                        else ""
                    ),
                    _callee_span(sec.loss_entry.value),
                )
            )
        return notes

    def classes(self, sec: _Section) -> int | None:
        """The number of classes (or labels) of a classifying task, when known statically."""
        if sec.data is not None and sec.data.classes is not None:
            return sec.data.classes
        return sec.out_classes

    def tensor_args(self, sec: _Section) -> None:
        """`weight=[...]` has one entry per class, `pos_weight=[...]` one per output label."""
        call, bound = sec.loss_call, sec.loss_bound
        if call is None or bound is None:
            return
        for key in TENSOR_ARGS:
            v = bound.get(key)
            if v is None:
                continue
            node = self.kw_node(call, key)
            if isinstance(v, Opaque) and _is_tensor_call(v.node):
                v = self.value(v.node.args[0]) if len(v.node.args) == 1 else v  # type: ignore[attr-defined]
            if not isinstance(v, (list, tuple)) or not v or not all(map(_is_number, v)):
                self.error(
                    f"`{key}` must be a list of numbers, "
                    + ("one per class" if key == "weight" else "one per output")
                    + f", not {_describe(v)}",
                    node.span,
                    hint=f"e.g. `{key}=[1.0, 2.0]`",
                )
                continue
            if any(x < 0 for x in v):
                self.error(f"`{key}` cannot hold negative numbers", node.span)
                continue
            want = sec.out_classes if key == "pos_weight" else self.classes(sec)
            if key == "pos_weight":
                what = f"the model outputs {want} label score{'s' if want != 1 else ''}"
            elif sec.data is not None and sec.data.classes is not None:
                what = f"{sec.data.what} has {want} classes"
            else:
                what = f"the model outputs {want} class scores"
            if want is not None and len(v) not in ((want, 1) if key == "pos_weight" else (want,)):
                self.error(
                    f"`{key}` has {len(v)} entr{'y' if len(v) == 1 else 'ies'}, but {what}",
                    node.span,
                    hint=f"give one weight per {'class' if key == 'weight' else 'output'}",
                )

    # ---- early stopping, checkpoints, stop_when -----------------------------------------------

    def early_stopping(self, e: ir.TrainEntry, sec: _Section) -> None:
        sig = tuple((k, "pos_or_kw", d) for k, d in EARLY_STOPPING_ARGS.items())
        got = self.structured(
            e, "EarlyStopping", sig, "EarlyStopping(monitor=val_loss, patience=5)"
        )
        if got is None:
            return
        call, args = got
        monitor = args.get("monitor")
        if "monitor" in args:
            name = self.monitor(monitor, self.arg_node(call, sig, "monitor").span, sec, "`monitor`")
        else:
            name = EARLY_STOPPING_ARGS["monitor"]
            if sec.has_val is False:
                self.needs_validation(
                    name,
                    call.span,
                    sec,
                    "EarlyStopping watches `val_loss` by default, but the data has no "
                    "validation set",
                )
        if "patience" in args:
            self.arg_int(call, sig, "patience", args["patience"], 0)
        if "min_delta" in args:
            v = args["min_delta"]
            node = self.arg_node(call, sig, "min_delta")
            if not _is_number(v):
                self.error(f"`min_delta` must be a number, not {_describe(v)}", node.span)
            elif v < 0:
                self.error(
                    f"`min_delta` must be at least 0, not {v}",
                    node.span,
                    hint="it is the smallest change that counts as an improvement",
                )
        if "mode" in args:
            node = self.arg_node(call, sig, "mode")
            mode = _word(args["mode"])
            if mode not in MODES:
                hint = _did_you_mean(mode, MODES) if mode else None
                self.error(
                    f"`mode` is `min`, `max` or `auto`, not {_describe(args['mode'])}",
                    node.span,
                    hint=hint or "`auto` picks `min` for losses and errors, `max` for accuracy",
                )
            elif name and mode != "auto":
                natural = "min" if _lower_is_better(name) else "max"
                if mode != natural:
                    self.warn(
                        f"`mode={mode}` waits for `{name}` to {'rise' if mode == 'max' else 'fall'}, "
                        f"but {'lower' if natural == 'min' else 'higher'} is better for it",
                        node.span,
                        hint=f"use `mode={natural}`, or leave `mode` out (`auto`)",
                    )

    def checkpoint(self, e: ir.TrainEntry, sec: _Section) -> None:
        sig = tuple((k, "pos_or_kw", d) for k, d in CHECKPOINT_ARGS.items())
        got = self.structured(e, "Checkpoint", sig, "Checkpoint(every=1, keep_best=val_loss)")
        if got is None:
            return
        call, args = got
        if "every" in args:
            self.arg_int(call, sig, "every", args["every"], 1)
        if "keep_best" in args and args["keep_best"] is not None:
            node = self.arg_node(call, sig, "keep_best")
            self.monitor(args["keep_best"], node.span, sec, "`keep_best`")

    def structured(
        self, e: ir.TrainEntry, name: str, sig: tuple, example: str
    ) -> tuple[ir.Call, dict[str, Any]] | None:
        """`EarlyStopping(...)` / `Checkpoint(...)`: the call and its arguments by name."""
        node = e.value
        callee = _callee(node)
        if callee is None or not isinstance(node, ir.Call):
            v = self.value(node)
            if v is BAD:
                return None
            if isinstance(v, Word) and v.name == name:
                self.error(
                    f"`{name}` must be called: `{name}()`", node.span, hint=f"e.g. `{example}`"
                )
            else:
                self.error(f"`{e.key}` is written `{example}`, not {_describe(v)}", node.span)
            return None
        if callee != name:
            self.error(
                f"`{e.key}` is `{name}(...)`, not `{callee}`",
                node.func.span,
                hint=(_did_you_mean(callee, [name]) or f"write `{example}`"),
            )
            return None
        args = self.args(node)
        if args is None:
            return None
        bound, problems = bind(sig, (), args[0], args[1], what=f"`{name}`")
        for p in problems:
            self.error(p.message, self.problem_span(node, p.arg), hint=p.hint)
        if problems:
            return None
        given = set(_positional_names(sig, len(node.args))) | {k.name for k in node.kwargs}
        return node, {k: v for k, v in bound.items() if k in given}

    def arg_int(self, call: ir.Call, sig: tuple, key: str, v: Any, minimum: int) -> None:
        node = self.arg_node(call, sig, key)
        if not _is_int(v) or v < minimum:
            what = "a positive integer" if minimum == 1 else "a non-negative integer"
            self.error(
                f"`{key}` must be {what}, not {v if _is_int(v) else _describe(v)}",
                node.span,
                hint=ranges.hint_for("train", key),
            )

    def arg_node(self, call: ir.Call, sig: tuple, key: str) -> ir.Expr:
        for k in call.kwargs:
            if k.name == key:
                return k.value
        names = _positional_names(sig, len(call.args))
        if key in names:
            return call.args[names.index(key)]
        return call

    def stop_when(self, e: ir.Expr, sec: _Section) -> None:
        if isinstance(e, ir.Paren):
            self.stop_when(e.expr, sec)
            return
        if isinstance(e, ir.BoolOp):
            self.stop_when(e.left, sec)
            self.stop_when(e.right, sec)
            return
        if not isinstance(e, ir.Compare):
            v = self.value(e)
            if v is BAD:
                return
            name = _word(v)
            self.error(
                f"`stop_when` is a condition such as `val_loss < 0.05`, not {_describe(v)}",
                e.span,
                hint=(
                    f"compare it with a number: `{name} < 0.05`"
                    if _lower_is_better(name)
                    else f"compare it with a number: `{name} >= 0.95`"
                )
                if name
                else None,
            )
            return
        if e.op not in COMPARISONS:
            self.error(
                f"`{e.op}` cannot end training: a metric is never exactly equal to a number",
                e.span,
                hint="use `<`, `<=`, `>` or `>=`",
            )
            return
        left, right = self.value(e.left), self.value(e.right)
        if left is BAD or right is BAD:
            return
        if _is_number(left) and not _is_number(right):
            quantity, qnode, number = right, e.right, left
            rising = e.op in ("<", "<=")
        else:
            quantity, qnode, number = left, e.left, right
            rising = e.op in (">", ">=")
        if not _is_number(number):
            node = e.right if qnode is e.left else e.left
            self.error(
                f"`stop_when` compares a quantity with a number, not with {_describe(number)}",
                node.span,
            )
            return
        name = self.monitor(quantity, qnode.span, sec, "`stop_when`")
        if name is None:
            return
        base = name.removeprefix("val_").removeprefix("train_")
        if base in BOUNDED_METRICS and number > 1:
            hint = (
                f"did you mean `{number / 100:g}`?"
                if number <= 100
                else "use a fraction such as 0.95"
            )
            self.warn(
                f"`{name}` is a fraction between 0 and 1, so `{ir_text(e)}` is never true",
                e.span,
                hint=hint,
            )
        elif rising and _lower_is_better(name) and number <= 0:
            self.warn(f"`{ir_text(e)}` is true at once: a loss is never negative", e.span)

    # ---- loss, optimizer, scheduler -----------------------------------------------------------

    def callee_of(self, e: ir.TrainEntry, what: str, example: str) -> tuple[str, ir.Expr] | None:
        """The called name of a `loss = CrossEntropyLoss(...)`-like value (or a bare name)."""
        node = e.value
        name = _callee(node)
        if name is not None:
            return name, node
        v = self.value(node)
        if v is BAD:
            return None
        hint = None
        if isinstance(v, str):
            pool = {"loss": [n for n in api.module_names() if api.is_loss(n)]}.get(
                e.key, _optimizer_names() if e.key == "optimizer" else []
            )
            alias = LOSS_ALIASES.get(v) if e.key == "loss" else None
            close = [alias] if alias else api.suggest(v, pool)
            if close:
                hint = f"write it as a call, not a string: `{e.key} = {close[0]}()`"
        self.error(
            f"`{e.key}` is {what} such as `{example}`, not {_describe(v)}", node.span, hint=hint
        )
        return None

    def loss(self, e: ir.TrainEntry, sec: _Section) -> str | None:
        got = self.callee_of(e, "a torch.nn loss", "CrossEntropyLoss()")
        if got is None:
            return None
        name, node = got
        func = node.func if isinstance(node, ir.Call) else node
        block = self.symbols.blocks.get(name)
        if block is not None and block.kind == "loss":
            self.loss_block_args(block, node, sec)
            return None
        if name in self.symbols.pymodules:  # `from mylosses import FocalLoss`
            got_args = self.args(node) if isinstance(node, ir.Call) else ([], {})
            if got_args is not None:
                values = [*got_args[0], *got_args[1].values()]
                bad = next((v for v in values if isinstance(v, (Word, Opaque))), None)
                if bad is not None:
                    self.error(
                        f"the arguments of `{name}` must be values, not {_describe(bad)}", node.span
                    )
                    got_args = None
            sec.loss_py = (name, node) + (
                (tuple(got_args[0]), dict(got_args[1])) if got_args is not None else (None, None)
            )
            return None
        if not api.is_loss(name):
            losses = [n for n in api.module_names() if api.is_loss(n)]
            alias = LOSS_ALIASES.get(name) or LOSS_ALIASES.get(name.lower())
            if alias:
                hint = f"did you mean `{alias}()`?"
            else:
                close = api.suggest(name, losses) or api.suggest(name + "Loss", losses)
                hint = (
                    f"did you mean `{close[0]}`?"
                    if close
                    else "losses: CrossEntropyLoss, MSELoss, BCEWithLogitsLoss, L1Loss, NLLLoss, ..."
                )
            if api.module_signature(name) is not None:
                if name in ("Softmax", "LogSoftmax", "Sigmoid"):
                    hint = (
                        f"`{name}` is an activation; `CrossEntropyLoss()` applies log-softmax "
                        "itself, `BCEWithLogitsLoss()` a sigmoid"
                    )
                else:
                    hint = (
                        f"`{name}` is a layer; the losses of torch.nn include "
                        "CrossEntropyLoss(), MSELoss(), BCEWithLogitsLoss(), L1Loss()"
                    )
                self.error(f"`{name}` is not a loss", func.span, hint=hint)
            else:
                self.error(f"unknown loss `{name}`", func.span, hint=hint)
            return None
        if not isinstance(node, ir.Call):
            self.must_call(name, node)
            return None
        sig = api.module_signature(name) or ()
        bound = self.call_args(node, name, sig)
        if bound is None or not self.in_range(node, "module", name, sig, bound):
            return name
        from nndsl.catalog.training import LOSS_FORWARD_INPUTS

        if name in LOSS_FORWARD_INPUTS:
            inputs, functional = LOSS_FORWARD_INPUTS[name]
            self.error(
                f"`{name}` takes {len(inputs)} tensors ({', '.join(inputs)}), but a train "
                "section gives a loss two: the model's output and the target",
                func.span,
                hint=f"write a loss block that calls `{functional}(...)` with what it needs: "
                "`loss L { input out, target ... }` (its inputs are the model's outputs, "
                "then the targets), and set `loss = L()`",
            )
            return None
        red = bound.get("reduction")
        if isinstance(red, str) and red not in LOSS_REDUCTIONS:
            self.error(
                f'`reduction` is "mean", "sum" or "none", not "{red}"',
                self.kw_node(node, "reduction").span,
                hint=_did_you_mean(red, LOSS_REDUCTIONS),
            )
        elif red == "none":
            self.error(
                'training needs a single number as the loss, but `reduction="none"` gives one per sample',
                self.kw_node(node, "reduction").span,
                hint='use "mean" (the default) or "sum"',
            )
        sec.loss_call, sec.loss_bound = node, bound
        return name

    def loss_block_args(self, decl: ir.BlockDecl, node: ir.Expr, sec: _Section) -> None:
        """`loss = VAELoss(beta=0.5)`: the arguments of a loss block of the file."""
        sec.loss_block = decl  # (its arguments below; None when they are wrong)
        args: dict[str, Any] | None = {}
        if isinstance(node, ir.Call):
            args = self.model_args(decl, node)
        if args is None:
            return
        for p in decl.params:
            if p.default is None and p.name not in args:
                self.error(
                    f"loss block `{decl.name}` needs its parameter `{p.name}`",
                    node.span,
                    notes=[Note(f"`{p.name}` is declared at {{at}} without a default", p.span)],
                    hint=f"give it in the train section: `loss = {decl.name}({p.name}=...)`",
                )
                return
        sec.loss_args = args

    def optimizer(self, e: ir.TrainEntry) -> None:
        got = self.callee_of(e, "a torch.optim optimizer", "Adam(lr=1e-3)")
        if got is None:
            return
        name, node = got
        func = node.func if isinstance(node, ir.Call) else node
        sig = api.optimizer_signature(name)
        if sig is None:
            optimizers = list(_optimizer_names())
            hint = _did_you_mean(name, optimizers) or "optimizers: " + ", ".join(optimizers)
            if api.scheduler_signature(name) is not None:
                hint = f"`{name}` is a learning-rate scheduler: write `scheduler = {name}(...)`"
            self.error(f"unknown optimizer `{name}`", func.span, hint=hint)
            return
        if not isinstance(node, ir.Call):
            self.must_call(name, node)
            return
        if name in UNTRAINABLE_OPTIMIZERS:
            self.error(
                f"`{name}` cannot train a model here: {UNTRAINABLE_OPTIMIZERS[name]}",
                func.span,
                hint="use Adam, AdamW or SGD",
            )
            return
        bound = self.call_args(node, name, sig)
        if bound is None:
            return
        self.in_range(node, "optimizer", name, sig, bound)
        for flag, why in UNTRAINABLE_FLAGS.items():
            if bound.get(flag) is True:
                self.error(
                    f"`{flag}=true` cannot be used here: {why}",
                    self.arg_of(node, sig, flag).span,
                    hint=f"leave `{flag}` out",
                )

    def scheduler(self, node: ir.Expr) -> None:
        name = _callee(node)
        if name is None:
            v = self.value(node)
            if v is not BAD:
                self.error(
                    "`scheduler` is a torch.optim.lr_scheduler scheduler such as "
                    f"`CosineAnnealingLR(T_max=30)`, not {_describe(v)}",
                    node.span,
                )
            return
        func = node.func if isinstance(node, ir.Call) else node
        sig = api.scheduler_signature(name)
        if sig is None:
            names = list(_scheduler_names())
            hint = _did_you_mean(name, names) or "schedulers: " + ", ".join(names)
            if api.optimizer_signature(name) is not None:
                hint = f"`{name}` is an optimizer: write `optimizer = {name}(...)`"
            self.error(f"unknown scheduler `{name}`", func.span, hint=hint)
            return
        if name in FUNCTION_ARGS:
            self.error(
                f"`{name}` needs a Python function (`{FUNCTION_ARGS[name]}`), which a spec cannot write",
                func.span,
                hint="use StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LinearLR or "
                "OneCycleLR, or chain them with SequentialLR",
            )
            return
        if not isinstance(node, ir.Call):
            self.must_call(name, node)
            return
        list_arg = SCHEDULER_LIST_ARGS.get(name)
        bound = self.call_args(
            node, name, sig, skip=("optimizer",), opaque=(list_arg,) if list_arg else ()
        )
        if bound is None:
            return
        self.in_range(node, "scheduler", name, tuple(p for p in sig if p[0] != "optimizer"), bound)
        self.scheduler_words(node, name, sig, bound)
        if list_arg is None:
            return
        inner = self.arg_of(node, sig, list_arg)
        if isinstance(inner, ir.ListExpr) and inner.items:
            for item in inner.items:
                self.scheduler(item)
        elif inner is not node:
            self.error(
                f"`{list_arg}` is a list of schedulers, such as "
                "`[LinearLR(start_factor=0.1, total_iters=5), CosineAnnealingLR(T_max=25)]`",
                inner.span,
            )

    def in_range(
        self, call: ir.Call, family: str, name: str, sig: api.Signature, bound: dict[str, Any]
    ) -> bool:
        """The arguments written in `call` are within their ranges (catalog.ranges)."""
        problems = ranges.check(family, name, bound, only=_given(call, sig))
        for p in problems:
            self.error(p.message, self.arg_of(call, sig, p.arg).span, hint=p.hint)
        return not problems

    def must_call(self, name: str, node: ir.Expr) -> None:
        self.error(
            f"`{name}` must be called: `{name}()`",
            node.span,
            hint="write its arguments in the parentheses, even when there are none",
        )

    def args(self, call: ir.Call) -> tuple[list, dict] | None:
        args = [self.value(a) for a in call.args]
        kwargs = {k.name: self.value(k.value) for k in call.kwargs}
        if any(a is BAD for a in args) or any(v is BAD for v in kwargs.values()):
            return None
        return args, kwargs

    def call_args(
        self,
        call: ir.Call,
        name: str,
        sig: api.Signature,
        *,
        skip: Sequence[str] = (),
        opaque: Sequence[str] = (),
    ) -> dict[str, Any] | None:
        """Bind a torch call's arguments to its signature and check their types; returns the
        bound arguments, or None after an error."""
        got = self.args(call)
        if got is None:
            return None
        sig = tuple(p for p in sig if p[0] not in skip)
        bound, problems = bind(sig, (), got[0], got[1], what=name)
        for p in problems:
            self.error(p.message, self.problem_span(call, p.arg), hint=self.hint_for(name, p))
        if problems:
            return None
        ok = True
        for key in _given(call, sig):
            if key in opaque:
                continue
            v = bound[key]
            node = self.arg_of(call, sig, key)
            if isinstance(v, Word):
                self.not_a_name(v, node.span, f"`{key}` is a value such as a number or a string")
                ok = False
                continue
            if isinstance(v, Opaque) and key in TENSOR_ARGS and _is_tensor_call(v.node):
                continue  # `weight=tensor([...])`: its list is checked with the task
            if isinstance(v, Opaque):
                self.error(f"`{key}` must be a value, not {_describe(v)}", node.span)
                ok = False
                continue
            default = next(d for n, _, d in sig if n == key)
            complaint = _type_complaint(key, v, default)
            if complaint:
                self.error(f"{name}: {complaint}", node.span, hint=_literal_hint(key, v))
                ok = False
        return bound if ok else None

    def hint_for(self, name: str, p) -> str | None:
        if p.arg is None and p.message.startswith(f"{name} needs `"):
            key = p.message.split("`")[1]
            if key in SCHEDULER_HINTS:
                return f"`{key}` is {SCHEDULER_HINTS[key]}: `{name}({key}=...)`"
        if isinstance(p.arg, str) and p.message.endswith(f"has no argument `{p.arg}`"):
            if p.hint and p.hint.startswith("did you mean"):
                return p.hint
            alias = ARGUMENT_ALIASES.get(p.arg)
            sig = _family_signature(name)
            if alias and alias in api.param_names(sig):
                return f"did you mean `{alias}`?"
            if p.arg == "momentum" and "betas" in api.param_names(sig):
                return f"{name}'s momentum is set with `betas=(0.9, 0.999)`; `momentum` is for SGD"
            others = [n for n, other in _family(name).items() if p.arg in api.param_names(other)]
            if others:
                shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
                takes = ", ".join(f"`{k}`" for k in api.param_names(sig)[:6])
                return f"`{p.arg}` is an argument of {shown}; {name} takes {takes}, ..."
        return p.hint

    def problem_span(self, call: ir.Call, arg: int | str | None) -> Span:
        if isinstance(arg, int) and arg < len(call.args):
            return call.args[arg].span
        if isinstance(arg, str):
            for k in call.kwargs:
                if k.name == arg:
                    return k.span
        return call.span

    def kw_node(self, call: ir.Call, key: str) -> ir.Expr:
        for k in call.kwargs:
            if k.name == key:
                return k.value
        return call

    def scheduler_words(self, node: ir.Call, name: str, sig: api.Signature, bound: dict) -> None:
        """The scheduler arguments that take one of a few strings, or a list of whole numbers,
        where they are written (torch raises for anything else when the run starts)."""
        from nndsl.catalog.training import SCHEDULER_CHOICES, SCHEDULER_INT_LISTS

        for key in bound:
            written = self.arg_of(node, sig, key)
            if written is node:
                continue  # a default
            v = bound[key]
            choices = SCHEDULER_CHOICES.get((name, key))
            if choices is not None and v not in choices:
                self.error(
                    f"{name}: `{key}` is one of "
                    + ", ".join(f'"{c}"' for c in choices)
                    + f", not {_describe(v)}",
                    written.span,
                    hint=_did_you_mean(v, list(choices)) if isinstance(v, str) else None,
                )
            elif (name, key) in SCHEDULER_INT_LISTS and not (
                isinstance(v, (list, tuple))
                and all(isinstance(i, int) and not isinstance(i, bool) for i in v)
            ):
                self.error(
                    f"{name}: `{key}` is a list of whole numbers, not {_describe(v)}",
                    written.span,
                    hint=f"e.g. `{key}=[30, 60]`",
                )

    def arg_of(self, call: ir.Call, sig: api.Signature, key: str) -> ir.Expr:
        for k in call.kwargs:
            if k.name == key:
                return k.value
        names = _positional_names(sig, len(call.args))
        return call.args[names.index(key)] if key in names else call

    # ---- data -----------------------------------------------------------------------------------

    def data(self, e: ir.TrainEntry, sec: _Section) -> None:
        sec.data_entry = e
        node = e.value
        name = _callee(node)
        if name is None or name not in DATA_SOURCES:
            return  # reported by name resolution
        source = DATA_SOURCES[name]
        options: dict[str, Any] = {}
        ok = True
        if isinstance(node, ir.Call):
            got = self.args(node)
            if got is None:
                return
            args, kwargs = got
            allowed = tuple(
                dict.fromkeys(
                    (*source.options, *COMMON_DATA_OPTIONS, *STREAM_DATA_OPTIONS.get(name, ()))
                )
            )
            for i, (a, v) in enumerate(zip(node.args, args)):
                if i >= len(source.positional):
                    takes = (
                        f"takes only `{'`, `'.join(source.positional)}` by position"
                        if source.positional
                        else "takes its options by keyword"
                    )
                    self.error(
                        f"`{name}` {takes}",
                        a.span,
                        hint=f"name the option: `{name}(val_split=0.2)`"
                        if not source.positional
                        else f"e.g. `{DATA_EXAMPLES.get(name, name + '(...)')}`",
                    )
                    ok = False
                    break
                options[source.positional[i]] = (v, a)
            for k, v in zip(node.kwargs, kwargs.values()):
                if k.name not in allowed:
                    hint = _did_you_mean(k.name, allowed) or (
                        f"`{name}` takes: " + ", ".join(f"`{o}`" for o in allowed)
                    )
                    self.error(f"`{name}` has no option `{k.name}`", k.span, hint=hint)
                    ok = False
                    continue
                if k.name in options:
                    self.error(f"`{name}` got `{k.name}` twice: by position and by keyword", k.span)
                    ok = False
                    continue
                options[k.name] = (v, k.value)
            for key in source.positional:
                if key not in options:
                    self.error(
                        f"`{name}` needs `{key}`",
                        node.span,
                        hint=f"e.g. `{DATA_EXAMPLES.get(name, name + '(...)')}`",
                    )
                    ok = False
        elif source.positional or name == "random":
            self.error(
                f"`{name}` needs options",
                node.span,
                hint=f"e.g. `{DATA_EXAMPLES.get(name, name + '(...)')}`",
            )
            return
        augment = options.get("augment", ([], None))[0]
        if isinstance(augment, list) and augment and options.get("stream", (None,))[0] is False:
            self.error(
                f"`augment` needs `{name}` to stream from its files, which `stream=false` forbids",
                options["stream"][1].span,
                hint="leave out `stream=false` (data with `augment` streams)",
            )
            ok = False
        if name == "random" and isinstance(node, ir.Call) and "shape" not in options:
            self.error(
                "`random` needs `shape`, the shape of one sample",
                node.span,
                hint=f"e.g. `{DATA_EXAMPLES['random']}`",
            )
            ok = False
        for key, (v, vnode) in options.items():
            if not self.data_option(name, key, v, vnode, own="target" in source.options):
                ok = False
        values = {k: v for k, (v, _) in options.items()}
        if "task" in options and values["task"] in TASK_OPTIONS:
            sec.task_option, sec.task_node = values["task"], options["task"][1]
        for key in ("val_split", "test_split"):
            if key in values and not _is_number(values[key]):
                return
        fractions = [values.get(k, 0) for k in ("val_split", "test_split")]
        if all(_is_number(f) and 0 <= f < 1 for f in fractions) and ok:
            if sum(fractions) >= 1:
                self.error(
                    "`val_split` and `test_split` together leave no training data",
                    node.span,
                    hint="they are fractions of the samples; together they must stay below 1",
                )
                ok = False
        split = values.get("val_split", 0)
        if _is_number(split):
            sec.has_val = split > 0 if name != "torchvision" else (True if split > 0 else None)
        if ok:
            from nndsl.check.multidata import data_arrays

            sec.data = data_facts(name, values)
            sec.data_arrays = data_arrays(name, values)

    def data_option(self, source: str, key: str, v: Any, node: ir.Expr, *, own: bool) -> bool:
        kind = DATA_OPTION_TYPES.get(key)
        if key == "target":
            if _is_input(v) or (own and isinstance(v, str)) or (source == "csv" and _is_int(v)):
                return True
            if source == "csv" and _names_list(v):
                return True  # several target columns
            self.error(
                f"`target` of `{source}` can only be `input` (to reconstruct the input), "
                f"not {_describe(v)}"
                if not own
                else f"`target` names a column, as a string, or is `input`; not {_describe(v)}",
                node.span,
                hint=f"`{source}` comes with its own labels; `target=input` replaces them by "
                "the input itself, to train an autoencoder"
                if not own
                else 'e.g. `target="label"`',
            )
            return False
        if kind == "transforms":
            return self.transforms(source, v, node)
        if isinstance(v, Word):
            self.not_a_name(v, node.span, f"`{key}` is a value")
            return False
        want = None
        if kind == "int" and not _is_int(v):
            want = "an integer"
        elif kind == "number" and not _is_number(v):
            want = "a number"
        elif kind == "bool" and not isinstance(v, bool):
            want = "`true` or `false`"
        elif kind == "str" and not isinstance(v, str):
            want = "a string"
        elif kind == "shape" and not (
            (_is_int(v) and v > 0)
            or (isinstance(v, (list, tuple)) and v and all(_is_int(d) and d > 0 for d in v))
        ):
            want = "a shape such as `[3, 32, 32]`"
        elif kind == "size" and not (
            _is_int(v) or (isinstance(v, (list, tuple)) and len(v) == 2 and all(map(_is_int, v)))
        ):
            want = "an integer or two integers `(height, width)`"
        elif kind == "task" and not (isinstance(v, str) and v in TASK_OPTIONS):
            hint = _did_you_mean(v, TASK_OPTIONS) if isinstance(v, str) else None
            self.error(
                f"`task` is one of {', '.join(repr(t) for t in TASK_OPTIONS)}, not {_describe(v)}",
                node.span,
                hint=hint
                or "the task is usually found from the loss and the model's output; "
                "`task=` decides it when it cannot be",
            )
            return False
        elif kind == "strs" and not (
            isinstance(v, (list, tuple))
            and (all(isinstance(s, str) for s in v) or (v and all(map(_names_list, v))))
        ):
            want = 'a list of column names such as `["a", "b"]` (or of groups of them)'
        elif kind == "names" and not (isinstance(v, str) or _names_list(v)):
            want = 'an array name or a list of them such as `["left", "right"]`'
        if want:
            self.error(f"`{key}` of `{source}` must be {want}, not {_describe(v)}", node.span)
            return False
        if kind == "size" and not all(
            1 <= side <= MAX_IMAGE_SIDE for side in (v if isinstance(v, (list, tuple)) else (v,))
        ):
            self.error(
                f"`size` of `{source}` must be from 1 to {MAX_IMAGE_SIDE:,} pixels per side, "
                f"not {_describe(v)}",
                node.span,
                hint="images are resized to `size` and held in memory as float32",
            )
            return False
        if key in ("val_split", "test_split") and not 0 <= v < 1:
            what = "validation" if key == "val_split" else "the final test"
            self.error(
                f"`{key}` is the fraction of samples held out for {what}, between 0 and 1, not {v}",
                node.span,
                hint=f"did you mean `{key}={v / 100:g}`?" if 1 < v < 100 else None,
            )
            return False
        if key in ("n", "length") and v < 1 or key == "classes" and v < 2:
            least = 2 if key == "classes" else 1
            self.error(
                f"`{key}` of `{source}` must be at least {least}, not {v}",
                node.span,
                hint=ranges.hint_for("train", key),
            )
            return False
        if key in ("noise",) and v < 0:
            self.error(
                f"`noise` of `{source}` cannot be negative ({v})",
                node.span,
                hint=ranges.hint_for("train", key),
            )
            return False
        if key == "workers" and v < 0:
            self.error(
                f"`workers` of `{source}` cannot be negative ({v})",
                node.span,
                hint=ranges.hint_for("train", key),
            )
            return False
        return True

    def transforms(self, source: str, v: Any, node: ir.Expr) -> bool:
        """`augment=[random_crop(32, padding=4), hflip(), ...]`: each a known transform with
        valid arguments (nndsl/catalog/training.py TRANSFORMS), or a torchvision.transforms.v2
        one (nndsl/check/tvcheck.py)."""
        example = "e.g. `augment=[random_crop(32, padding=4), hflip()]`"
        if not isinstance(v, list) or not isinstance(node, ir.ListExpr):
            self.error(
                f"`augment` of `{source}` is a list of transforms, not {_describe(v)}",
                node.span,
                hint=example,
            )
            return False
        ok = True
        for item in node.items:
            name = _callee(item)
            if name is None:
                self.error("a transform is a name or a call such as `hflip()`", item.span)
                ok = False
                continue
            own = transforms_for(source)
            torchvision = name not in TRANSFORMS and looks_like_tv(name)  # for images only
            if (name in TRANSFORMS and name not in own) or (
                torchvision and source != "image_folder"
            ):
                what = "images" if name not in TRANSFORMS else TRANSFORMS[name].inputs + "s"
                self.error(
                    f"`{name}` transforms {what}, not the samples of `{source}`",
                    _callee_span(item),
                    hint=f"the transforms of `{source}`: " + ", ".join(f"`{t}`" for t in own),
                )
                ok = False
                continue
            if name not in TRANSFORMS and looks_like_tv(name):  # torchvision.transforms.v2's
                from nndsl.check.tvcheck import check_tv_transform

                ok = check_tv_transform(self, item, name, _did_you_mean) and ok
                continue
            if name not in TRANSFORMS:
                self.error(
                    f"unknown transform `{name}`",
                    _callee_span(item),
                    hint=_did_you_mean(name, own)
                    or "transforms: " + ", ".join(f"`{t}`" for t in own),
                )
                ok = False
                continue
            got = self.args(item) if isinstance(item, ir.Call) else ([], {})
            if got is None:
                ok = False
                continue
            if any(isinstance(a, (Word, Opaque)) for a in (*got[0], *got[1].values())):
                self.error(f"the arguments of `{name}` are numbers or lists", item.span)
                ok = False
                continue
            problem = transform_problem(name, got[0], got[1])
            if problem is not None:
                self.error(problem, item.span, hint=TRANSFORMS[name].description)
                ok = False
        return ok

    # ---- the model ----------------------------------------------------------------------------

    def model(
        self, t: ir.TrainDecl, e: ir.TrainEntry | None, sec: _Section
    ) -> BlockInstance | None:
        """The trained model's instance (with the section's arguments), after checking them."""
        if e is None:
            if len(self.symbols.models) != 1:
                return None  # reported by name resolution
            decl = self.symbols.models[0]
            node: ir.Expr | None = None
        else:
            node = e.value
            name = _callee(node)
            decl = self.symbols.blocks.get(name) if name else None
            if decl is None or decl.kind != "model":
                return None  # reported by name resolution
        overrides: dict[str, Any] = {}
        ok = True
        if isinstance(node, ir.Call):
            got = self.model_args(decl, node)
            if got is None:
                ok = False
            else:
                overrides = got
        for p in decl.params:
            if p.default is None and p.name not in overrides and ok:
                where = node.span if node is not None else _head(t)
                self.error(
                    f"model `{decl.name}` needs its parameter `{p.name}` to be trained",
                    where,
                    notes=[Note(f"`{p.name}` is declared at {{at}} without a default", p.span)],
                    hint=f"give it in the train section: `model = {decl.name}({p.name}=...)`",
                )
                ok = False
        if not ok or self.models is None:
            return None
        sec.model_args = overrides
        if not overrides:
            return self.models.get(decl.name)
        from nndsl.check.values import POISON

        if self.models.get(decl.name) is None:
            return None  # the model has errors of its own
        ev = self.evaluator
        before = len(ev.diags)
        inst = ev.instantiate_model(decl, {**overrides})
        if len(ev.diags) > before:
            # errors that only these arguments cause: say where the arguments come from
            assert node is not None
            added = ev.diags[before:]
            del ev.diags[before:]
            for d in added:
                note = Note(
                    f"with the arguments of the train section: `{ir_text(node)}` ({{at}})",
                    node.span,
                )
                self.diags.append(
                    Diagnostic(d.severity, d.message, d.span, (*d.notes, note), d.hint)
                )
        return inst if inst is not None and inst is not POISON else None

    def model_args(self, decl: ir.BlockDecl, call: ir.Call) -> dict[str, Any] | None:
        from nndsl.check.values import type_complaint

        names = [p.name for p in decl.params]
        got = self.args(call)
        if got is None:
            return None
        args, kwargs = got
        out: dict[str, Any] = {}
        ok = True
        if len(args) > len(names):
            self.error(
                f"{_kind(decl)} `{decl.name}` takes {len(names)} argument{'s' if len(names) != 1 else ''}"
                f" ({', '.join(names) or 'none'}), but {len(args)} were given",
                call.args[len(names)].span,
            )
            return None
        nodes: dict[str, ir.Expr] = {}
        for p, v, a in zip(decl.params, args, call.args):
            out[p.name] = v
            nodes[p.name] = a
        for k, (key, v) in zip(call.kwargs, kwargs.items()):
            if key not in names:
                self.error(
                    f"{_kind(decl)} `{decl.name}` has no parameter `{key}`",
                    k.span,
                    hint=_did_you_mean(key, names)
                    or f"its parameters: {', '.join(names) or 'none'}",
                )
                ok = False
                continue
            if key in out:
                self.error(f"`{decl.name}` got `{key}` twice: by position and by keyword", k.span)
                ok = False
                continue
            out[key] = v
            nodes[key] = k.value
        for p in decl.params:
            if p.name not in out:
                continue
            v = out[p.name]
            if isinstance(v, (Word, Opaque)):
                if isinstance(v, Word):
                    self.not_a_name(v, nodes[p.name].span, f"`{p.name}` is a value")
                else:
                    self.error(
                        f"`{p.name}` must be a value, not {_describe(v)}", nodes[p.name].span
                    )
                ok = False
                continue
            if p.type is not None:
                complaint = type_complaint(v, p.type)
                if complaint:
                    self.error(
                        f"`{decl.name}`'s parameter `{p.name}` must be {complaint[0]}, not {complaint[1]}",
                        nodes[p.name].span,
                        notes=[Note(f"`{p.name}` is declared at {{at}} as `{p.type}`", p.span)],
                    )
                    ok = False
                elif p.type.name == "float" and _is_int(v):
                    out[p.name] = float(v)
        return out if ok else None

    def model_fit(self, inst: BlockInstance, sec: _Section) -> TensorV | None:
        """The data against the model's input, the model's output against the loss and targets;
        returns the model's output."""
        name = inst.decl.name
        if sec.loss_block is not None or sec.loss_py is not None:
            return self.loss_block_fit(inst, sec)
        if len(inst.outputs) != 1 or not isinstance(inst.outputs[0], TensorV):
            where = sec.loss_entry.value.span if sec.loss_entry else inst.decl.name_span
            types = ", ".join(str(t) for t in _flat_types(inst.outputs))
            self.error(
                f"model `{name}` returns several values ({types}); training needs one output",
                where,
                notes=[Note(f"`{name}` is defined at {{at}}", inst.decl.name_span)],
                hint="a torch loss takes one output: return one tensor, or train with a "
                "`loss` block that takes every output and the targets (see docs/training.md)",
            )
            return None
        out: TensorV = inst.outputs[0]
        t = out.type
        if t.rank >= 2 and _is_int(t.shape[1]):
            sec.out_classes = t.shape[1]
        elif t.rank == 1:
            sec.out_classes = 1
        if sec.data is not None and sec.data_entry is not None:
            if not self.input_fit(inst, sec):
                return out
        if sec.loss is not None and sec.loss_entry is not None:
            self.activation_lint(inst, out, sec)
            self.output_fit(inst, out, sec)
        return out

    def loss_block_fit(self, inst: BlockInstance, sec: _Section) -> TensorV | None:
        """The data against the model's input, then the loss block on the model's outputs and
        the targets; returns the model's first output."""
        from nndsl.check.lossblock import check_loss_block, custom_task

        assert sec.loss_entry is not None
        if sec.data is not None and sec.data_entry is not None:
            if not self.input_fit(inst, sec):
                return None
        first = inst.outputs[0] if inst.outputs else None
        sec.task = custom_task(inst, sec)
        if sec.loss_py is not None:
            from nndsl.check.lossblock import check_python_loss

            check_python_loss(self, inst, sec)
            return first if isinstance(first, TensorV) else None
        assert sec.loss_block is not None
        if sec.loss_args is None:
            return first if isinstance(first, TensorV) else None  # (reported)
        sec.loss_instance = check_loss_block(
            self, sec.loss_block, sec.loss_args or {}, sec.loss_entry.value, inst, sec
        )
        loss = sec.loss_instance
        if sec.task is None and loss is not None and len(loss.inputs) > len(inst.outputs):
            # targets only the loss block declares (data read when training)
            sec.task = custom_task(inst, sec, loss.inputs[len(inst.outputs)][1].type)
        return first if isinstance(first, TensorV) else None

    def input_fit(self, inst: BlockInstance, sec: _Section) -> bool:
        facts = sec.data
        entry = sec.data_entry
        assert facts is not None and entry is not None
        name = inst.decl.name
        data_shape = _shape(facts.x)
        if len(inst.inputs) != 1:
            names = ", ".join(n for n, _ in inst.inputs)
            self.error(
                f"model `{name}` takes {len(inst.inputs)} inputs ({names}), "
                f"but {facts.what} gives one: {data_shape}",
                entry.value.span,
                notes=[Note(f"`{name}` is defined at {{at}}", inst.decl.name_span)],
            )
            return False
        in_name, v = inst.inputs[0]
        t = v.type
        decl_note = Note(f"`{name}` declares `input {in_name}: {t}` at {{at}}", v.origin.span)
        fits = t.rank == len(facts.x) + 1 and all(
            not (isinstance(d, int) and d != x) for d, x in zip(t.shape[1:], facts.x)
        )
        if not fits:
            desc = DATA_DESCRIPTIONS.get(facts.source)
            hint = f"to train on it, declare `input {in_name}: {data_shape}`"
            self.error(
                f"model `{name}` takes {t}, but {facts.what} gives {data_shape}"
                + (f" ({desc.split(',')[0]})" if desc else ""),
                entry.value.span,
                notes=[decl_note],
                hint=hint + ", or train another model on this data",
            )
            return False
        if not t.is_float:
            self.error(
                f"model `{name}` takes {t} (integer ids), but {facts.what} gives floating-point values",
                entry.value.span,
                notes=[decl_note],
                hint=f"declare the input as `{data_shape}`",
            )
            return False
        return True

    def activation_lint(self, inst: BlockInstance, out: TensorV, sec: _Section) -> None:
        loss = sec.loss
        entry = sec.loss_entry
        assert loss is not None and entry is not None
        last = _final_op(inst, out)
        if last is None:
            return
        op_name, op_span = last
        loss_note = Note(f"the loss is `{loss}` (at {{at}})", _callee_span(entry.value))
        model = inst.decl.name
        if loss == "CrossEntropyLoss" and op_name in (
            "softmax",
            "Softmax",
            "log_softmax",
            "LogSoftmax",
        ):
            log = "log" in op_name.lower()
            self.warn(
                f"`{model}` ends with `{op_name}`, but CrossEntropyLoss applies log-softmax itself",
                op_span,
                notes=[loss_note],
                hint=(
                    "remove it: the model should output raw scores (logits)"
                    if not log
                    else "remove it, or keep it and use `loss = NLLLoss()`"
                )
                + "; apply softmax only when predicting",
            )
        elif loss == "BCEWithLogitsLoss" and op_name in ("sigmoid", "Sigmoid"):
            self.warn(
                f"`{model}` ends with `{op_name}`, but BCEWithLogitsLoss applies a sigmoid itself",
                op_span,
                notes=[loss_note],
                hint="remove the sigmoid (the model should output logits), or use `loss = BCELoss()`",
            )
        elif loss == "NLLLoss" and op_name in ("softmax", "Softmax"):
            self.warn(
                f"`{model}` ends with `{op_name}`, but NLLLoss needs log-probabilities",
                op_span,
                notes=[loss_note],
                hint="use `log_softmax` instead, or drop it and use `loss = CrossEntropyLoss()`",
            )
        elif loss == "NLLLoss" and op_name not in ("log_softmax", "LogSoftmax"):
            self.warn(
                f"NLLLoss needs log-probabilities, but `{model}` ends with `{op_name}`",
                _callee_span(entry.value),
                notes=[Note(f"`{op_name}` at {{at}} gives the model's output", op_span)],
                hint="end the model with `log_softmax(dim=1)`, or use `loss = CrossEntropyLoss()`, "
                "which applies it itself",
            )
        elif loss == "BCELoss" and op_name not in ("sigmoid", "Sigmoid", "softmax", "Softmax"):
            self.warn(
                f"BCELoss needs probabilities between 0 and 1, but `{model}` ends with `{op_name}`",
                _callee_span(entry.value),
                notes=[Note(f"`{op_name}` at {{at}} gives the model's output", op_span)],
                hint="use `loss = BCEWithLogitsLoss()`, which takes raw scores and is more stable",
            )

    def output_fit(self, inst: BlockInstance, out: TensorV, sec: _Section) -> None:
        loss = sec.loss
        entry = sec.loss_entry
        assert loss is not None and entry is not None
        t = out.type
        model = inst.decl.name
        facts = sec.data
        span = _callee_span(entry.value)
        out_note = _output_note(inst, out)
        notes = [out_note] if out_note else []

        def warn(message: str, hint: str | None = None) -> None:
            self.warn(message, span, notes=notes, hint=hint)

        if loss in CLASS_LABEL_LOSSES:
            if t.rank < 2:
                classes = facts.classes if facts and facts.classes else "<number of classes>"
                warn(
                    f"{loss} needs one score per class, [B, C], but `{model}` outputs {t}",
                    hint=f"end the model with `Linear({classes})`",
                )
                return
            if facts is None:
                return
            if facts.task != "classification":
                warn(
                    f"{loss} needs class labels as targets, but {facts.what} gives "
                    f"real-valued targets {_shape(facts.target)}",
                    hint="use `loss = MSELoss()` for real-valued targets",
                )
                return
            if t.rank > 2:
                warn(
                    f"`{model}` outputs {t}, but {facts.what} has one class label per sample: "
                    f"{loss} needs [B, {facts.classes}]",
                    hint="flatten or pool the output before the last Linear",
                )
                return
            c = t.shape[1]
            if _is_int(c) and facts.classes is not None and c != facts.classes:
                warn(
                    f"`{model}` outputs {c} class score{'s' if c != 1 else ''}, "
                    f"but {facts.what} has {facts.classes} classes",
                    hint=self.classes_hint(inst, sec, c, facts.classes),
                )
        elif loss in BINARY_LOSSES:
            if facts is None:
                return
            if facts.task == "classification":
                if facts.classes is not None and facts.classes > 2:
                    warn(
                        f"{loss} is for yes/no targets, but {facts.what} has "
                        f"{facts.classes} classes",
                        hint="use `loss = CrossEntropyLoss()` with one output per class",
                    )
                elif not (t.rank == 1 or (t.rank == 2 and t.shape[1] == 1)):
                    warn(
                        f"{loss} compares one score per sample with {facts.what}'s labels, "
                        f"but `{model}` outputs {t}",
                        hint="end the model with `Linear(1)`",
                    )
                return
            self.shape_fit(t, facts, loss, model, warn)
        elif loss in REGRESSION_LOSSES:
            if facts is None:
                return
            if facts.task == "classification":
                warn(
                    f"{loss} compares `{model}`'s output with {facts.what}'s class labels "
                    f"(integers 0 to {facts.classes - 1 if facts.classes else 'C - 1'})",
                    hint="for classification use `loss = CrossEntropyLoss()`",
                )
                return
            self.shape_fit(t, facts, loss, model, warn)
        elif loss in DISTRIBUTION_LOSSES:
            if facts is None:
                return
            if facts.task == "classification":
                self.error(
                    f"{loss} needs a target distribution shaped like the output ({t}), but "
                    f"{facts.what} gives class labels (one integer per sample)",
                    span,
                    notes=notes,
                    hint="for class labels use `loss = CrossEntropyLoss()`",
                )
                return
            self.shape_fit(t, facts, loss, model, warn)

    def classes_hint(self, inst: BlockInstance, sec: _Section, got: int, want: int) -> str:
        """How to make the model output `want` scores: through its parameters if one gives `got`."""
        given = sec.model_args or {}
        name = inst.decl.name
        for key, value in given.items():
            if value == got and _is_int(value):
                return f"the train section builds it with `{key}={got}`: write `{key}={want}`"
        for p in inst.decl.params:
            if inst.params.get(p.name) == got and p.type is not None and p.type.name == "int":
                return f"train it with `model = {name}({p.name}={want})`"
        return f"the last layer should give {want} scores, e.g. `Linear({want})`"

    def shape_fit(self, t: TensorT, facts: DataFacts, loss: str, model: str, warn) -> None:
        target = facts.target
        fits = t.rank == len(target) + 1 and all(
            not (_is_int(d) and d != x) for d, x in zip(t.shape[1:], target)
        )
        if fits:
            return
        what = "the input (`target=input`)" if facts.reconstruct else f"{facts.what}'s target"
        size = 1
        for d in target:
            size *= d
        numel = 1
        for d in t.shape[1:]:
            numel = numel * d if _is_int(d) and _is_int(numel) else None
        if numel == size and len(target) > 1:
            hint = f"reshape the output: `reshape(-1, {', '.join(map(str, target))})`"
        else:
            hint = f"the model's output should be {_shape(target)}"
        warn(
            f"`{model}` outputs {t}, but {what} is {_shape(target)}; {loss} needs equal shapes",
            hint,
        )


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _kind(decl: ir.BlockDecl) -> str:
    return "loss block" if decl.kind == "loss" else decl.kind


def _callee(e: ir.Expr) -> str | None:
    if isinstance(e, ir.Call) and isinstance(e.func, ir.Name):
        return e.func.id
    if isinstance(e, ir.Name):
        return e.id
    return None


def _callee_span(e: ir.Expr) -> Span:
    return e.func.span if isinstance(e, ir.Call) else e.span


def _head(t: ir.TrainDecl) -> Span:
    return Span(t.span.file, t.span.line, t.span.col, t.span.line, t.span.col + len("train"))


def _positional_names(sig: Sequence[tuple], n: int) -> list[str]:
    return [p for p, k, _ in sig if k == "pos_or_kw"][:n]


def _given(call: ir.Call, sig: Sequence[tuple]) -> list[str]:
    return _positional_names(sig, len(call.args)) + [k.name for k in call.kwargs]


def _family(name: str) -> dict[str, api.Signature]:
    """The torch classes of the same kind as `name`: optimizers, schedulers or losses."""
    from nndsl.catalog import torch_api

    if name in torch_api.OPTIMIZERS:
        return dict(torch_api.OPTIMIZERS)
    if name in torch_api.SCHEDULERS:
        return dict(torch_api.SCHEDULERS)
    return {n: sig for n, sig in torch_api.MODULES.items() if api.is_loss(n)}


def _family_signature(name: str) -> api.Signature:
    return _family(name).get(name, ())


def _optimizer_names() -> list[str]:
    from nndsl.catalog import torch_api

    return list(torch_api.OPTIMIZERS)


def _scheduler_names() -> list[str]:
    from nndsl.catalog import torch_api

    return list(torch_api.SCHEDULERS)


def _type_complaint(key: str, v: Any, default: Any) -> str | None:
    """A complaint when `v` does not fit a parameter whose torch default is `default`."""
    if key in INT_ARGS:
        if v is None and default is None:
            return None
        return None if _is_int(v) else f"`{key}` must be an integer, not {_describe(v)}"
    if default in (api.REQUIRED, api.OBJECT) or default is None:
        if key in TENSOR_ARGS or isinstance(v, (list, tuple)) or v is None:
            return None
        return None
    if isinstance(default, bool):
        ok = isinstance(v, bool)
        want = "`true` or `false`"
    elif isinstance(default, (int, float)):
        ok = _is_number(v)
        want = "a number"
    elif isinstance(default, str):
        ok = isinstance(v, str)
        want = f'a string such as "{default}"'
    elif isinstance(default, tuple):
        ok = (
            isinstance(v, (tuple, list))
            and len(v) == len(default)
            and all(_is_number(x) or x is None for x in v)
        )
        want = f"a tuple of {len(default)} numbers such as `{_fmt_tuple(default)}`"
    else:
        return None
    return None if ok else f"`{key}` must be {want}, not {_describe(v)}"


def _literal_hint(key: str, v: Any) -> str | None:
    """`T_max=30.0` → write `T_max=30`; `lr="0.1"` → write it without quotes."""
    if isinstance(v, float) and v.is_integer():
        return f"write `{key}={int(v)}`"
    if isinstance(v, str):
        try:
            float(v)
        except ValueError:
            return None
        return f"write the number without quotes: `{key}={v}`"
    return None


def _fmt_tuple(t: tuple) -> str:
    return "(" + ", ".join("none" if x is None else repr(x) for x in t) + ")"


def _loss_task(loss: str | None) -> str | None:
    if loss in CLASS_LABEL_LOSSES:
        return "classification"
    if loss in REGRESSION_LOSSES:
        return "regression"
    return None


_lower_is_better = lower_is_better

#: Metric → the task kinds it applies to (top-k shown as `top5`), for hints.
METRICS_FOR_TASK = {
    **{name: m.tasks for name, m in ((n, metric(n)) for n in METRICS) if m is not None},
    "top5": ("multiclass",),
}


def _task_list(kinds: Sequence[str]) -> str:
    words = {
        "multiclass": "multi-class",
        "binary": "binary",
        "multilabel": "multi-label",
        "regression": "regression",
        "reconstruction": "reconstruction",
    }
    names = [words[k] for k in kinds]
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1] + " tasks"


def _is_tensor_call(e: ir.Expr) -> bool:
    return isinstance(e, ir.Call) and isinstance(e.func, ir.Name) and e.func.id == "tensor"


def _with_option(e: ir.Expr, source: str) -> str:
    """`data`'s text with `val_split=0.2` added."""
    if isinstance(e, ir.Call):
        parts = [ir_text(a) for a in e.args] + [
            f"{k.name}={ir_text(k.value)}" for k in e.kwargs if k.name != "val_split"
        ]
        return f"{source}({', '.join([*parts, 'val_split=0.2'])})"
    return f"{source}(val_split=0.2)"


def _flat_types(outputs: Sequence[Any]) -> list[TensorT]:
    out: list[TensorT] = []
    for o in outputs:
        if isinstance(o, TensorV):
            out.append(o.type)
        elif isinstance(o, (tuple, list)):
            out.extend(_flat_types(o))
    return out


_SHAPE_ONLY = frozenset(
    "reshape view flatten squeeze unsqueeze permute transpose contiguous Flatten Unflatten".split()
)


def _final_op(inst: BlockInstance, v: TensorV, depth: int = 0) -> tuple[str, Span] | None:
    """The operation that makes a model's output (looking into blocks, nn.Sequentials and
    through reshapes): its name as written and its span."""
    if v.op < 0 or v.op >= len(inst.ops) or depth > 50:
        return None
    op = inst.ops[v.op]
    if op.kind == "function":
        name = op.entry.name if op.entry is not None else str(op.target)
        if name in _SHAPE_ONLY:
            inner = next((a for _, a in op.kwargs if isinstance(a, TensorV)), None)
            if inner is not None:
                return _final_op(inst, inner, depth + 1) or (name, op.span)
        return name, op.span
    if op.kind == "module" and isinstance(op.target, ModuleSlot):
        found = _final_slot(op.target, depth)
        if found and found[0] in _SHAPE_ONLY and op.args and isinstance(op.args[0], TensorV):
            return _final_op(inst, op.args[0], depth + 1) or found
        return found
    return None


def _final_slot(slot: ModuleSlot, depth: int) -> tuple[str, Span] | None:
    if slot.kind == "sequential":
        return _final_slot(slot.children[-1], depth + 1) if slot.children else None
    if slot.kind == "block" and slot.instance is not None:
        outs = slot.instance.outputs
        if len(outs) == 1 and isinstance(outs[0], TensorV):
            return _final_op(slot.instance, outs[0], depth + 1)
        return None
    return (slot.from_function or slot.type_name), slot.span


def _output_note(inst: BlockInstance, out: TensorV) -> Note | None:
    o = out.origin
    if o.span is None:
        return None
    return Note(f"`{inst.decl.name}` outputs {out.type}: {o.what} at {{at}}", o.span)


def ir_text(e: ir.Expr) -> str:
    from nndsl.syntax.fmt import expr

    try:
        return expr(e)
    except TypeError:
        return "..."
