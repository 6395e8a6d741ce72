"""The vocabulary of the `train { ... }` section: keys, metrics, devices, precisions, data sources.

Pure data, no torch: the checker validates a train section with it, the code generator and the
interpreter read the same entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


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
    )
}

DEFAULTS = {"batch_size": 32, "seed": 0, "device": "auto", "precision": "32", "metrics": ()}

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("32", "bf16", "fp16")

# Metrics: name → what it needs of the task.  `topK` for any K >= 1 is accepted as well.
METRICS = {
    "accuracy": "classification",
    "f1": "classification",
    "precision": "classification",
    "recall": "classification",
    "mae": "regression",
    "mse": "regression",
    "rmse": "regression",
}
_TOPK = re.compile(r"top([1-9]\d*)$")


def metric_kind(name: str) -> str | None:
    if name in METRICS:
        return METRICS[name]
    if _TOPK.match(name):
        return "classification"
    return None


def topk(name: str) -> int | None:
    m = _TOPK.match(name)
    return int(m.group(1)) if m else None


def monitor_names(metrics: tuple[str, ...]) -> list[str]:
    """The quantities early stopping, stop_when and checkpoints may watch."""
    base = ["loss", *metrics]
    return [f"{prefix}{m}" for m in base for prefix in ("train_", "val_")] + ["loss"]


EARLY_STOPPING_ARGS = {"monitor": "val_loss", "patience": 5, "mode": "auto", "min_delta": 0.0}
CHECKPOINT_ARGS = {"every": 1, "keep_best": None}


@dataclass(frozen=True, slots=True)
class DataSource:
    name: str
    options: tuple[str, ...]  # keyword options of the source itself
    positional: tuple[str, ...] = ()  # options that may be given positionally, in order


COMMON_DATA_OPTIONS = ("val_split", "normalize", "target")

DATA_SOURCES: dict[str, DataSource] = {
    s.name: s
    for s in (
        DataSource("digits", ()),
        DataSource("iris", ()),
        DataSource("moons", ("n", "noise")),
        DataSource("spirals", ("n", "classes", "noise", "turns")),
        DataSource("sine", ("n", "length", "noise")),
        DataSource("random", ("shape", "classes", "n")),
        DataSource("csv", ("path", "target", "features", "delimiter"), ("path",)),
        DataSource("npz", ("path", "x", "y"), ("path",)),
        DataSource("image_folder", ("path", "size", "grayscale"), ("path",)),
        DataSource("torchvision", ("name", "root", "download", "train"), ("name",)),
    )
}

# Per-batch schedulers step after every optimizer step; the others once per epoch.
PER_BATCH_SCHEDULERS = ("OneCycleLR", "CyclicLR")
