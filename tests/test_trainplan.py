"""The train section is read once, by the checker, into a frozen TrainPlan; train.py is rendered
from the plan alone and holds the code of the keys the section uses, and nothing else."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import nndsl
from nndsl.check.plan import CallSpec, Checkpoint, Compare, EarlyStopping, TrainPlan, Word
from nndsl.codegen.train import train_source

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _plan(**changes) -> TrainPlan:
    base = TrainPlan(
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
    return dataclasses.replace(base, **changes)


def _functions(source: str) -> dict[str, str]:
    tree = ast.parse(source)
    lines = source.splitlines()
    return {
        n.name: "\n".join(lines[n.lineno - 1 : n.end_lineno])
        for n in tree.body
        if isinstance(n, ast.FunctionDef)
    }


def test_plan_is_frozen_and_built_by_the_checker() -> None:
    program = nndsl.load(SAMPLES / "digits_cnn.nn")
    plan = program.checked.plans[None]
    assert isinstance(plan, TrainPlan)
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.epochs = 1  # type: ignore[misc]
    assert plan.early_stopping == EarlyStopping("val_loss", 5, "auto", 0.0)
    assert plan.checkpoint == Checkpoint(1, "val_accuracy")
    assert plan.task is not None and plan.task.kind == "multiclass"
    assert plan.span("epochs") is not None
    iris = nndsl.load(SAMPLES / "iris.nn").checked.plans[None]
    assert iris.stop_when == Compare(Word("val_accuracy"), ">=", 0.95)


def test_a_hand_built_plan_renders_every_value_from_the_plan() -> None:
    text = train_source(_plan(), "spec.nn")
    ast.parse(text)
    for literal in ("torch.optim.SGD(params, lr=0.125 if lr is None else lr)",
                    '"epochs": 7', '"batch_size": 9', '"seed": 3', '"device": "cpu"',
                    "nn.CrossEntropyLoss()", "from model import Net"):  # fmt: skip
        assert literal in text, literal


# each train key and the code it alone adds to train.py
KEYS = {
    "scheduler": (
        {"scheduler": CallSpec("StepLR", (), (("step_size", 2),))},
        ["build_scheduler", "scheduler.step()"],
    ),
    "per-batch scheduler": (
        {"scheduler": CallSpec("OneCycleLR", (), (("max_lr", 0.1),))},
        ["per_batch=True", "scheduler.step()"],
    ),
    "clip_grad_norm": ({"clip_grad_norm": 0.5}, ["clip_grad_norm_(net.parameters(), 0.5)"]),
    "accumulate": ({"accumulate": 4}, ["(loss / 4).backward()", "step_boundary(step, 4)"]),
    "fp16": ({"precision": "fp16"}, ["GradScaler", "scaler.scale(loss).backward()", "autocast"]),
    "bf16": ({"precision": "bf16"}, ["torch.bfloat16", "autocast"]),
    "early_stopping": (
        {"early_stopping": EarlyStopping("val_loss", 2, "auto", 0.0)},
        ["EarlyStopping(run.state", "early_stopping(row)"],
    ),
    "stop_when": (
        {"stop_when": Compare(Word("val_loss"), "<", 0.25)},
        ["def stop_when", 'm.get("val_loss", float("nan")) < 0.25'],
    ),
}


@pytest.mark.parametrize("key", sorted(KEYS))
def test_a_keys_code_appears_only_with_the_key(key: str) -> None:
    changes, snippets = KEYS[key]
    without = train_source(_plan(), "spec.nn")
    with_key = train_source(_plan(**changes), "spec.nn")
    for snippet in snippets:
        assert snippet in with_key, snippet
        assert snippet not in without, snippet


def test_sample_scripts_are_short() -> None:
    from nndsl.codegen import generate_files

    for sample, limit in (("digits_cnn", 200), ("iris", 150)):
        program = nndsl.load(SAMPLES / f"{sample}.nn")
        files = generate_files(program.checked, program.models, with_data=False)
        text = files["train.py"]
        assert len(text.splitlines()) <= limit, sample
        backward = [f for f in _functions(text).values() if ".backward()" in f]
        assert len(backward) == 1 and len(backward[0].splitlines()) <= 40
        assert "from training_utils import" in text
        assert "train.py: training script" in text.splitlines()[0]
