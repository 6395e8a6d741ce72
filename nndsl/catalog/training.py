"""The vocabulary of the `train { ... }` section: keys, metrics, devices, precisions, data sources.

Pure data, no torch: the checker validates a train section with it, the code generator and the
interpreter read the same entries.
"""

from __future__ import annotations

import re

from nndsl.records import dataclass


@dataclass(frozen=True, slots=True)
class TrainKey:
    name: str
    kind: (
        str  # what the value is: model, data, loss, optimizer, scheduler, int, float, metrics, ...
    )
    required: bool = False
    description: str = ""


TRAIN_KEYS: dict[str, TrainKey] = {
    k.name: k
    for k in (
        TrainKey(
            "model", "model", description="the model to train (default: the file's only model)"
        ),
        TrainKey("data", "data", description="a data source such as digits(val_split=0.2)"),
        TrainKey(
            "loss", "loss", required=True, description="a torch.nn loss such as CrossEntropyLoss()"
        ),
        TrainKey(
            "optimizer",
            "optimizer",
            required=True,
            description="a torch.optim optimizer such as Adam(lr=1e-3)",
        ),
        TrainKey("scheduler", "scheduler", description="a torch.optim.lr_scheduler scheduler"),
        TrainKey(
            "epochs", "int", required=True, description="how many passes over the training data"
        ),
        TrainKey("batch_size", "int", description="examples per step (default 32)"),
        TrainKey("metrics", "metrics", description="metrics computed on train and validation data"),
        TrainKey(
            "early_stopping",
            "early_stopping",
            description="EarlyStopping(monitor=, patience=, mode=, min_delta=)",
        ),
        TrainKey(
            "stop_when",
            "condition",
            description="a condition on a metric that ends training, e.g. val_loss < 0.05",
        ),
        TrainKey("checkpoint", "checkpoint", description="Checkpoint(every=, keep_best=)"),
        TrainKey("clip_grad_norm", "float", description="clip the gradient norm to this value"),
        TrainKey("accumulate", "int", description="accumulate gradients over this many batches"),
        TrainKey("precision", "precision", description="32, bf16 or fp16"),
        TrainKey("seed", "int", description="random seed (default 0)"),
        TrainKey("device", "device", description="auto, cpu, cuda or mps"),
        TrainKey(
            "init",
            "init",
            description='start from saved weights: weights("resnet18.pth", strict=false)',
        ),
        TrainKey(
            "freeze",
            "freeze",
            description="layers not trained (labels or state_dict prefixes): [conv1, layer1]",
        ),
    )
}

#: `init = weights(path, strict=true)`: the options of `weights` and their defaults
INIT_ARGS = {"strict": True}

#: the optimizer option that gives layers learning rates of their own (torch parameter groups):
#: `SGD(lr=0.01, lr_for=[fc: 0.1])`
LR_FOR = "lr_for"

DEFAULTS = {"batch_size": 32, "seed": 0, "device": "auto", "precision": "32", "metrics": ()}

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("32", "bf16", "fp16")

# ---------------------------------------------------------------------------------------------
# Tasks: what a train section learns, decided once from the loss, the model's output and the data
# ---------------------------------------------------------------------------------------------

#: The kinds of task.  multiclass: one class per sample (or per pixel) out of C scores; binary:
#: yes/no per sample (one logit or probability, or two class scores); multilabel: k independent
#: yes/no labels per sample; regression: real-valued targets; reconstruction: the input itself.
TASK_KINDS = ("multiclass", "binary", "multilabel", "regression", "reconstruction")

#: What `task=` of a data source accepts; "classification" is multiclass, or binary for 2 classes.
TASK_OPTIONS = ("classification", "multiclass", "binary", "multilabel", "regression")


@dataclass(frozen=True, slots=True)
class Task:
    """A train section's task.  `decision` is how a prediction is read from the model's output:
    "argmax" (the class with the highest score), "logit" (positive when the logit is above 0),
    "probability" (positive above 0.5), or None for real-valued outputs."""

    kind: str
    decision: str | None = None

    @property
    def classifies(self) -> bool:
        return self.kind in ("multiclass", "binary", "multilabel")

    @property
    def float_targets(self) -> bool:
        """Whether the loss takes float targets (0/1 values or real numbers) rather than class
        indices."""
        return self.decision != "argmax"

    def describe(self) -> str:
        return {
            "multiclass": "multi-class classification",
            "binary": "binary classification",
            "multilabel": "multi-label classification",
            "regression": "regression",
            "reconstruction": "reconstruction (the target is the input)",
        }[self.kind]


@dataclass(frozen=True, slots=True)
class LossFacts:
    """What a loss needs: `targets` "class" (class indices), "binary" (0/1 floats shaped like the
    output), "regression" (real values shaped like the output) or "distribution" (probabilities
    shaped like the output); `output` what the
    model must give it: "scores" (logits), "log_probabilities", "logits", "probabilities" or
    "values"."""

    name: str
    targets: str
    output: str


LOSSES: dict[str, LossFacts] = {
    f.name: f
    for f in (
        LossFacts("CrossEntropyLoss", "class", "scores"),
        LossFacts("NLLLoss", "class", "log_probabilities"),
        LossFacts("MultiMarginLoss", "class", "scores"),
        LossFacts("BCEWithLogitsLoss", "binary", "logits"),
        LossFacts("BCELoss", "binary", "probabilities"),
        LossFacts("MultiLabelSoftMarginLoss", "binary", "logits"),
        LossFacts("MSELoss", "regression", "values"),
        LossFacts("L1Loss", "regression", "values"),
        LossFacts("SmoothL1Loss", "regression", "values"),
        LossFacts("HuberLoss", "regression", "values"),
        LossFacts("KLDivLoss", "distribution", "log_probabilities"),
    )
}


def loss_facts(name: str | None) -> LossFacts | None:
    return LOSSES.get(name) if name else None


def decide_task(
    loss: str | None,
    output: tuple | None,
    *,
    data_task: str | None = None,
    reconstruct: bool = False,
    override: str | None = None,
) -> Task | None:
    """The task of a train section, or None when nothing tells it.

    `output`: the shape of one sample of the model's output (ints or symbols), None if unknown;
    `data_task`: "classification" or "regression" when the data source is known statically;
    `override`: the data source's `task=` (validated by the caller against the loss).
    """
    facts = loss_facts(loss)
    if facts is not None and facts.targets not in ("class", "binary", "regression"):
        facts = None  # a distribution: the loss does not tell the task
    decision = {"class": "argmax", "binary": None}.get(facts.targets) if facts else None
    if facts is not None and facts.targets == "binary":
        decision = "logit" if facts.output == "logits" else "probability"
    if reconstruct:
        return Task("reconstruction")
    if override is not None:
        if override == "regression":
            return Task("regression")
        if override == "multiclass":
            return Task("multiclass", "argmax")
        if override in ("binary", "multilabel"):
            return Task(override, decision or "logit")
        # "classification": as the loss and output say
    if facts is None:
        if override is not None:
            return Task("multiclass", "argmax")
        return Task("regression") if data_task == "regression" else None
    if facts.targets == "regression":
        return Task("regression")
    if facts.targets == "class":
        classes = output[0] if output else None
        return Task("binary" if classes == 2 else "multiclass", "argmax")
    # a yes/no loss: one output per sample is binary, several independent ones multi-label
    if output is not None and len(output) == 1 and isinstance(output[0], int) and output[0] > 1:
        return Task("multilabel", decision)
    return Task("binary", decision)


# ---------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    tasks: tuple[str, ...]  # the task kinds it is defined for
    lower_is_better: bool
    description: str


_CLASSIFYING = ("multiclass", "binary", "multilabel")
_REAL = ("regression", "reconstruction")

METRIC_FACTS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "accuracy",
            _CLASSIFYING,
            False,
            "share of correct predictions (per pixel for segmentation, per label for multi-label)",
        ),
        Metric(
            "precision",
            _CLASSIFYING,
            False,
            "binary: of the positive class; multi-class and multi-label: the mean over classes",
        ),
        Metric("recall", _CLASSIFYING, False, "as precision, of recall"),
        Metric("f1", _CLASSIFYING, False, "as precision, of the F1 score"),
        Metric("mae", _REAL, True, "mean absolute error"),
        Metric("mse", _REAL, True, "mean squared error"),
        Metric("rmse", _REAL, True, "root mean squared error"),
        Metric("r2", _REAL, False, "coefficient of determination, averaged over outputs"),
    )
}
#: Metric name → "classification" or "regression" (the family it belongs to).
METRICS = {
    name: "classification" if m.tasks == _CLASSIFYING else "regression"
    for name, m in METRIC_FACTS.items()
}
_TOPK = re.compile(r"top([1-9]\d*)$")


def metric(name: str) -> Metric | None:
    """The facts of a metric; `topK` for any K >= 1 is top-k accuracy of multi-class tasks."""
    if name in METRIC_FACTS:
        return METRIC_FACTS[name]
    k = topk(name)
    if k is not None:
        return Metric(
            name,
            ("multiclass",),
            False,
            f"share of samples whose class is among the {k} highest scores",
        )
    return None


def metric_kind(name: str) -> str | None:
    if name in METRICS:
        return METRICS[name]
    if _TOPK.match(name):
        return "classification"
    return None


def topk(name: str) -> int | None:
    m = _TOPK.match(name)
    return int(m.group(1)) if m else None


def lower_is_better(quantity: str) -> bool:
    """For a watched quantity such as `val_loss` or `train_accuracy`."""
    base = quantity.removeprefix("val_").removeprefix("train_").removeprefix("test_")
    m = metric(base)
    return base == "loss" or (m is not None and m.lower_is_better)


def monitor_names(metrics: tuple[str, ...]) -> list[str]:
    """The quantities early stopping, stop_when and checkpoints may watch."""
    base = ["loss", *metrics]
    return [f"{prefix}{m}" for m in base for prefix in ("train_", "val_")] + ["loss"]


EARLY_STOPPING_ARGS = {"monitor": "val_loss", "patience": 5, "mode": "auto", "min_delta": 0.0}
CHECKPOINT_ARGS = {"every": 1, "keep_best": None}


# ---------------------------------------------------------------------------------------------
# Data sources: the ONE list of sources and their options, read by the checker and the loader
# (nndsl/data/sources.py registers a function for each entry and fails if they disagree)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataSource:
    name: str
    options: tuple[str, ...]  # keyword options of the source itself
    positional: tuple[str, ...] = ()  # options that may be given positionally, in order
    paths: tuple[str, ...] = ()  # options that are paths, relative to the spec's folder


#: Options every source accepts; the loader applies them after the source has read the data.
COMMON_DATA_OPTIONS = ("val_split", "test_split", "normalize", "target", "task")

DATA_SOURCES: dict[str, DataSource] = {
    s.name: s
    for s in (
        DataSource("digits", ()),
        DataSource("iris", ()),
        DataSource("moons", ("n", "noise")),
        DataSource("spirals", ("n", "classes", "noise", "turns")),
        DataSource("sine", ("n", "length", "noise")),
        DataSource("random", ("shape", "classes", "n")),
        DataSource(
            "csv", ("path", "target", "features", "delimiter", "header"), ("path",), ("path",)
        ),
        DataSource("npz", ("path", "x", "y"), ("path",), ("path",)),
        DataSource("image_folder", ("path", "size", "grayscale"), ("path",), ("path",)),
        DataSource("torchvision", ("name", "root", "download", "train"), ("name",), ("root",)),
    )
}

#: The type of every data option: "int", "number", "bool", "str", "names", "shape", "size", "strs",
#: "target", "task", "header".
DATA_OPTION_TYPES = {
    "val_split": "number",
    "test_split": "number",
    "normalize": "bool",
    "target": "target",
    "task": "task",
    "n": "int",
    "noise": "number",
    "classes": "int",
    "turns": "number",
    "length": "int",
    "shape": "shape",
    "path": "str",
    "features": "strs",
    "delimiter": "str",
    "header": "bool",
    "x": "names",
    "y": "names",
    "size": "size",
    "grayscale": "bool",
    "name": "str",
    "root": "str",
    "download": "bool",
    "train": "bool",
    "stream": "bool",
    "workers": "int",
    "augment": "transforms",
    "skip_bad": "bool",
}

# ---------------------------------------------------------------------------------------------
# Streaming: file sources read by DataLoader workers instead of being loaded whole
# (nndsl/data/streaming.py; the training scripts' side is in nndsl/runtime/training_utils.py)
# ---------------------------------------------------------------------------------------------

#: The options of the sources that can stream, by source (checked like the other data options).
STREAM_DATA_OPTIONS: dict[str, tuple[str, ...]] = {
    "image_folder": ("stream", "workers", "augment", "skip_bad"),
    "csv": ("stream", "workers", "augment"),
}
#: Without `stream=`, an image folder streams from this many images on, or when it has `augment`;
#: a CSV file from this many bytes on.
STREAM_IMAGES_FROM = 10_000
STREAM_CSV_BYTES_FROM = 256 * 1024 * 1024
#: DataLoader worker processes when `workers=` is not given.
DEFAULT_WORKERS = 2


@dataclass(frozen=True, slots=True)
class Transform:
    """An image transform of `augment=[...]`: its parameters in order (`required` ones first),
    the defaults of the others, whether it is random (random transforms apply to training data
    only; the others to every split) and what it does."""

    name: str
    params: tuple[str, ...]
    required: int
    defaults: tuple[object, ...]
    random: bool
    description: str
    inputs: str = "image"  # what it transforms: "image" (image_folder) or "table" (csv rows)


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform(
            "random_crop",
            ("size", "padding"),
            1,
            (0,),
            True,
            "pad each side with `padding` zeros, then crop a random size x size (or (h, w)) window",
        ),
        Transform("hflip", ("p",), 0, (0.5,), True, "flip left-right with probability p"),
        Transform(
            "color_jitter",
            ("brightness", "contrast", "saturation"),
            0,
            (0.0, 0.0, 0.0),
            True,
            "scale brightness, contrast and saturation by random factors in [1 - v, 1 + v]",
        ),
        Transform("resize", ("size",), 1, (), False, "resize to size x size (or (h, w)), bilinear"),
        Transform(
            "normalize",
            ("mean", "std"),
            2,
            (),
            False,
            "(x - mean) / std per channel, with given lists (one value per channel)",
        ),
        Transform(
            "gaussian_noise",
            ("std",),
            1,
            (),
            True,
            "add Gaussian noise of standard deviation `std` to every feature",
            "table",
        ),
        Transform(
            "feature_dropout",
            ("p",),
            1,
            (),
            True,
            "set each feature to 0 with probability p",
            "table",
        ),
    )
}
#: The data source whose samples each kind of transform takes.
TRANSFORM_SOURCES = {"image": "image_folder", "table": "csv"}


def transforms_for(source: str) -> list[str]:
    """The built-in transforms of `augment` for the data source `source`."""
    return [t.name for t in TRANSFORMS.values() if TRANSFORM_SOURCES[t.inputs] == source]


#: torchvision.transforms.v2 names a user may write in `augment`: the built-in transform that
#: does the same, or None.  With torchvision installed, any v2 transform runs (see
#: nndsl/catalog/tv_transforms.py); without it, the error names the built-in one.
TORCHVISION_TRANSFORMS: dict[str, str | None] = {
    "RandomCrop": "random_crop",
    "RandomHorizontalFlip": "hflip",
    "ColorJitter": "color_jitter",
    "Resize": "resize",
    "Normalize": "normalize",
}


def transform_problem(name: str, args: list, kwargs: dict) -> str | None:
    """Why `name(*args, **kwargs)` is not a valid transform of `augment` (None when it is).
    The values are the spec's literals (numbers, lists, tuples)."""
    t = TRANSFORMS.get(name)
    if t is None:
        return f"unknown transform `{name}`"
    if len(args) > len(t.params):
        return f"`{name}` takes at most {len(t.params)} argument(s), got {len(args)}"
    bound = dict(zip(t.params, args))
    for key, value in kwargs.items():
        if key not in t.params:
            return f"`{name}` has no argument `{key}` (it takes: {', '.join(t.params)})"
        if key in bound:
            return f"`{name}` got `{key}` twice"
        bound[key] = value
    for key in t.params[: t.required]:
        if key not in bound:
            return f"`{name}` needs `{key}`"

    def number(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    def side(v: object) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 65536

    for key, v in bound.items():
        if key == "size" and not (
            side(v) or (isinstance(v, (list, tuple)) and len(v) == 2 and all(map(side, v)))
        ):
            return f"`size` of `{name}` must be a positive integer or (height, width)"
        if key == "padding" and not (isinstance(v, int) and not isinstance(v, bool) and 0 <= v):
            return f"`padding` of `{name}` must be an integer, 0 or more"
        if key == "p" and not (number(v) and 0 <= v <= 1):
            return f"`p` of `{name}` is a probability, from 0 to 1"
        if key in ("brightness", "contrast", "saturation") and not (number(v) and 0 <= v < 1):
            return f"`{key}` of `{name}` must be a number from 0 to below 1"
        if (
            key in ("mean", "std")
            and name == "normalize"
            and not (isinstance(v, (list, tuple)) and v and all(map(number, v)))
        ):
            return f"`{key}` of `{name}` must be a list of numbers, one per channel"
        if key == "std" and name == "normalize" and any(s <= 0 for s in v):
            return f"`std` of `{name}` must be positive"
        if key == "std" and name == "gaussian_noise" and not (number(v) and v >= 0):
            return f"`std` of `{name}` must be a number, 0 or more"
    return None


#: Loss arguments given as lists of numbers that become tensors (one weight per class or label).
TENSOR_ARGS = frozenset({"weight", "pos_weight"})

# Per-batch schedulers step after every optimizer step; the others once per epoch.
PER_BATCH_SCHEDULERS = ("OneCycleLR", "CyclicLR")

#: torch.nn losses whose forward takes other tensors than (output, target), with their names
#: and the functional form: a train section gives a torch loss the model's output and the
#: target, so these are written in a loss block (whose inputs are the outputs, then the targets).
LOSS_FORWARD_INPUTS: dict[str, tuple[tuple[str, ...], str]] = {
    "CTCLoss": (("log_probs", "targets", "input_lengths", "target_lengths"), "ctc_loss"),
    "TripletMarginLoss": (("anchor", "positive", "negative"), "triplet_margin_loss"),
    "TripletMarginWithDistanceLoss": (
        ("anchor", "positive", "negative"),
        "triplet_margin_with_distance_loss",
    ),
    "CosineEmbeddingLoss": (("input1", "input2", "target"), "cosine_embedding_loss"),
    "MarginRankingLoss": (("input1", "input2", "target"), "margin_ranking_loss"),
    "GaussianNLLLoss": (("input", "target", "var"), "gaussian_nll_loss"),
}

#: Scheduler arguments that take one of a few strings (torch raises for another), and those that
#: take a list of whole numbers (epoch or step counts).
SCHEDULER_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("ReduceLROnPlateau", "mode"): ("min", "max"),
    ("ReduceLROnPlateau", "threshold_mode"): ("rel", "abs"),
    ("CyclicLR", "mode"): ("triangular", "triangular2", "exp_range"),
    ("CyclicLR", "scale_mode"): ("cycle", "iterations"),
    ("OneCycleLR", "anneal_strategy"): ("cos", "linear"),
}
SCHEDULER_INT_LISTS = frozenset({("MultiStepLR", "milestones"), ("SequentialLR", "milestones")})
