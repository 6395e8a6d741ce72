"""What each train-section key adds to train.py, as golden diffs.

For each key (and a few combinations whose code meets: fp16 with clipping, early stopping with
stop_when, ...), train.py is rendered from a hand-built plan without and with the key; the diff
between the two is kept in tests/golden/train_keys/<name>.diff.  A key's code appears only with
the key: the diff is all it adds, and the same code is absent from the script without it.
After a deliberate change to the template, regenerate them with

    python -m pytest tests/test_train_keys_golden.py --update-golden

and review the diffs.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from pathlib import Path

import pytest

from nndsl.catalog.training import Task
from nndsl.check.plan import (
    CallSpec,
    Checkpoint,
    Compare,
    EarlyStopping,
    InitWeights,
    TrainPlan,
    Word,
)
from nndsl.codegen.train import train_source

GOLDEN = Path(__file__).resolve().parent / "golden" / "train_keys"

BASE = TrainPlan(
    name=None,
    model="Net",
    model_args=None,
    data=CallSpec("iris", (), (("val_split", 0.2),)),
    loss=CallSpec("CrossEntropyLoss"),
    optimizer=CallSpec("SGD", (), (("lr", 0.125),)),
    scheduler=None,
    epochs=7,
    batch_size=9,
    metrics=(),
    early_stopping=None,
    stop_when=None,
    checkpoint=Checkpoint(1, None),
    clip_grad_norm=None,
    accumulate=1,
    precision="32",
    seed=3,
    device="cpu",
)

EARLY = EarlyStopping("val_loss", 2, "auto", 0.0)
STOP = Compare(Word("val_loss"), "<", 0.25)

#: golden name → the plan's changes
KEYS: dict[str, dict] = {
    "scheduler": {"scheduler": CallSpec("StepLR", (), (("step_size", 2),))},
    "scheduler_per_batch": {"scheduler": CallSpec("OneCycleLR", (), (("max_lr", 0.1),))},
    "scheduler_plateau": {"scheduler": CallSpec("ReduceLROnPlateau", (), (("patience", 2),))},
    "clip_grad_norm": {"clip_grad_norm": 0.5},
    "accumulate": {"accumulate": 4},
    "precision_fp16": {"precision": "fp16"},
    "precision_bf16": {"precision": "bf16"},
    "early_stopping": {"early_stopping": EARLY},
    "stop_when": {"stop_when": STOP},
    "checkpoint": {"checkpoint": Checkpoint(5, "val_loss")},
    "metrics": {
        "metrics": ("accuracy", "f1"),
        "task": Task("multiclass", "argmax"),
    },
    "seed": {"seed": 1234},
    "epochs_batch_size_device": {"epochs": 70, "batch_size": 90, "device": "cuda"},
    "model_arguments": {"model_args": CallSpec("Net", (64,), (("dropout", 0.5),))},
    "loss_arguments": {"loss": CallSpec("CrossEntropyLoss", (), (("label_smoothing", 0.1),))},
    "optimizer_without_lr": {"optimizer": CallSpec("Adam")},
    "data": {"data": CallSpec("digits", (), (("val_split", 0.1), ("normalize", True)))},
    "init": {"init": InitWeights("w.pth", "/weights/w.pth", True)},
    "freeze": {"freeze": ("features",)},
    "lr_for": {"lr_for": (("head", 0.01),)},
    "named_section": {"name": "Quick"},
    # combinations: code that exists only where two keys meet
    "fp16_and_clip_grad_norm": {"precision": "fp16", "clip_grad_norm": 0.5},
    "fp16_and_accumulate": {"precision": "fp16", "accumulate": 2},
    "fp16_and_scheduler": {
        "precision": "fp16",
        "scheduler": CallSpec("StepLR", (), (("step_size", 2),)),
    },
    "early_stopping_and_stop_when": {"early_stopping": EARLY, "stop_when": STOP},
    "freeze_and_lr_for": {"freeze": ("features",), "lr_for": (("head", 0.01),)},
    "per_batch_scheduler_and_accumulate": {
        "scheduler": CallSpec("OneCycleLR", (), (("max_lr", 0.1),)),
        "accumulate": 3,
    },
}

_STAMP = re.compile(r"nndsl-sha256: [0-9a-f]{64}")


def _script(plan: TrainPlan) -> list[str]:
    # the content stamp differs with every change; the diffs show the code
    return _STAMP.sub("nndsl-sha256: ...", train_source(plan, "spec.nn")).splitlines(True)


def _diff(name: str) -> str:
    without = _script(BASE)
    with_key = _script(dataclasses.replace(BASE, **KEYS[name]))
    return "".join(difflib.unified_diff(without, with_key, "train.py", f"train.py ({name})", n=1))


@pytest.mark.parametrize("name", sorted(KEYS))
def test_what_a_key_adds(name: str, update_golden: bool) -> None:
    diff = _diff(name)
    path = GOLDEN / f"{name}.diff"
    if update_golden:
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(diff)
        return
    assert diff, f"{name} changes nothing in train.py"
    assert path.read_text() == diff, f"{name}: train.py differs from {path.name}"


def test_no_stale_goldens() -> None:
    assert sorted(p.stem for p in GOLDEN.glob("*.diff")) == sorted(KEYS)
