"""The train section is read once, by the checker, into a frozen TrainPlan; train.py is rendered
from the plan alone and holds the code of the keys the section uses, and nothing else."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from test_train_keys_golden import BASE  # the plan every key is added to

import nndsl
from nndsl.check.plan import (
    BoolOp,
    CallSpec,
    Checkpoint,
    Compare,
    EarlyStopping,
    TrainPlan,
    Word,
)
from nndsl.codegen.train import train_source

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _plan(**changes) -> TrainPlan:
    return dataclasses.replace(BASE, **changes)


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


def _config(text: str) -> dict:
    """The CONFIG literal of a generated train.py, as a value."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["CONFIG"]:
            return ast.literal_eval(node.value)
    raise AssertionError("no CONFIG")


# a plan with a value of its own for every key, built by hand: no spec file, no IR, no checker
EVERY_KEY = dict(
    name="Long",
    model="Tower",
    model_args=CallSpec("Tower", (5,), (("width", 11),)),
    data=CallSpec("digits", (), (("val_split", 0.3), ("normalize", True))),
    loss=CallSpec("CrossEntropyLoss", (), (("label_smoothing", 0.07),)),
    optimizer=CallSpec("AdamW", (), (("lr", 0.0031), ("weight_decay", 0.013))),
    scheduler=CallSpec("StepLR", (), (("step_size", 6), ("gamma", 0.55))),
    epochs=23,
    batch_size=17,
    metrics=("accuracy", "top2"),
    early_stopping=EarlyStopping("val_accuracy", 4, "max", 0.002),
    stop_when=BoolOp("or", Compare(Word("val_loss"), "<", 0.031), Compare(0.97, "<=", Word("val_top2"))),
    checkpoint=Checkpoint(3, "val_top2"),
    clip_grad_norm=0.75,
    accumulate=3,
    precision="bf16",
    seed=41,
    device="cpu",
    freeze=("features.0",),
    lr_for=(("head", 0.0007),),
)  # fmt: skip


def test_every_key_of_a_hand_built_plan_reaches_train_py(tmp_path: Path) -> None:
    plan = _plan(**EVERY_KEY)
    # the spec is not there: rendering reads the plan alone (before black: one call a line)
    text = train_source(plan, str(tmp_path / "missing.nn"), formatted=False)
    assert _config(text) == {
        "model": "Tower",
        "epochs": 23,
        "batch_size": 17,
        "seed": 41,
        "device": "cpu",
        "precision": "bf16",
        "clip_grad_norm": 0.75,
        "accumulate": 3,
        "metrics": ["accuracy", "top2"],
        "early_stopping": {"monitor": "val_accuracy", "patience": 4, "mode": "max",
                           "min_delta": 0.002},
        "checkpoint": {"every": 3, "keep_best": "val_top2"},
        "task": None,
        "data": {"source": "digits", "options": {"val_split": 0.3, "normalize": True}},
        "loss": "CrossEntropyLoss(label_smoothing=0.07)",
        "optimizer": "AdamW(lr=0.0031, weight_decay=0.013)",
        "scheduler": "StepLR(step_size=6, gamma=0.55)",
        "freeze": ["features.0"],
        "lr_for": {"head": 0.0007},
    }  # fmt: skip
    code = _functions(text)
    assert "return Tower(5, width=11)" in code["build_model"]
    assert "nn.CrossEntropyLoss(label_smoothing=0.07)" in code["build_loss"]
    assert (
        "AdamW(params, lr=0.0031 if lr is None else lr, weight_decay=0.013)"
        in code["build_optimizer"]
    )
    assert "StepLR(optimizer, step_size=6, gamma=0.55)" in code["build_scheduler"]
    scope: dict = {}
    exec(code["stop_when"], scope)  # the plan's condition, as the script tests it
    stop = scope["stop_when"]
    assert stop({"val_loss": 0.03}) and stop({"val_loss": 0.5, "val_top2": 0.97})
    assert not stop({"val_loss": 0.031, "val_top2": 0.969}) and not stop({})
    step = code["train_one_epoch"]
    assert "clip_grad_norm_(net.parameters(), 0.75)" in step
    assert "(loss / 3).backward()" in step and "step_boundary(step, 3)" in step
    assert "dtype=torch.bfloat16" in step
    assert 'keep_frozen_norms(net, CONFIG["freeze"])' in step
    assert "train_long.py: training script" in text and "data_long.npz" in text


def test_a_changed_plan_changes_the_script_and_the_spec_does_not() -> None:
    """The checker's plan of a sample with other values: the script says the plan's values,
    none of the spec's (code generation does not look at the train section again)."""
    program = nndsl.load(SAMPLES / "digits_cnn.nn")
    plan = program.checked.plans[None]
    changed = dataclasses.replace(
        plan,
        epochs=plan.epochs + 1000,
        batch_size=plan.batch_size + 1000,
        seed=plan.seed + 1000,
        clip_grad_norm=123.5,
        scheduler=CallSpec("ExponentialLR", (), (("gamma", 0.123),)),
        early_stopping=None,
        optimizer=CallSpec("SGD", (), (("lr", 0.321),)),
    )
    before = _config(train_source(plan, str(SAMPLES / "digits_cnn.nn")))
    text = train_source(changed, str(SAMPLES / "digits_cnn.nn"))
    after = _config(text)
    assert after["epochs"] == before["epochs"] + 1000
    assert after["batch_size"] == before["batch_size"] + 1000
    assert after["seed"] == before["seed"] + 1000
    assert after["clip_grad_norm"] == 123.5 and "clip_grad_norm_(net.parameters(), 123.5)" in text
    assert after["early_stopping"] is None and "EarlyStopping" not in text
    assert after["optimizer"] == "SGD(lr=0.321)" and "AdamW" not in text
    assert "ExponentialLR(optimizer, gamma=0.123)" in text and "OneCycleLR" not in text


# values `check` accepts, each written in a way a second reader of the section could get wrong:
# every one must generate (one reading of the train section, by the checker)
ACCEPTED = [
    ({"epochs": "E // 2"}, "epochs", 4),
    ({"clip_grad_norm": "-(-E) // 3"}, "clip_grad_norm", 2),
    ({"optimizer": "SGD(lr=LR % 1)"}, "optimizer", "SGD(lr=0.25)"),
    ({"optimizer": "Adam(lr=LR / 2 ** 3)"}, "optimizer", "Adam(lr=0.03125)"),
    ({"seed": "(E + 1) * 2"}, "seed", 18),
    (
        {"scheduler": "SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=E), "
                      "CosineAnnealingLR(T_max=95)], milestones=[E])"},
        "scheduler",
        "SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=8), "
        "CosineAnnealingLR(T_max=95)], milestones=[8])",
    ),
    (
        {"scheduler": "ChainedScheduler([ExponentialLR(gamma=0.9), StepLR(step_size=E)])"},
        "scheduler",
        "ChainedScheduler([ExponentialLR(gamma=0.9), StepLR(step_size=8)])",
    ),
    ({"loss": "CrossEntropyLoss(weight=[1.0, LR, 1.0])"}, "loss",
     "CrossEntropyLoss(weight=[1.0, 0.25, 1.0])"),
    ({"early_stopping": "EarlyStopping(val_loss, E - 5, min)"}, "early_stopping",
     {"monitor": "val_loss", "patience": 3, "mode": "min", "min_delta": 0.0}),
    ({"checkpoint": "Checkpoint(E - 6, val_loss)"}, "checkpoint", {"every": 2, "keep_best": "val_loss"}),
    ({"metrics": "[accuracy]", "stop_when": "val_accuracy >= 1 - LR / 5"}, "metrics", ["accuracy"]),
]  # fmt: skip


def script_scheduler(entries: dict) -> str:
    return entries["scheduler"].split("(")[0]


@pytest.mark.parametrize("entries,key,expected", ACCEPTED, ids=[str(e[0]) for e in ACCEPTED])
def test_what_check_accepts_generates(entries: dict, key: str, expected) -> None:
    from nndsl.check import check_file
    from nndsl.codegen import generate_files

    body = "".join(
        f"    {k} = {v}\n"
        for k, v in {
            "data": "iris(val_split=0.2)",
            "loss": "CrossEntropyLoss()",
            "optimizer": "Adam(lr=0.01)",
            "epochs": "10",
            **entries,
        }.items()
    )
    text = (
        "const E = 8\nconst LR = 0.25\n"
        "model Net {\n    input x: [B, 4]\n    Linear(3)\n}\n"
        f"train {{\n{body}}}\n"
    )
    checked = check_file("spec.nn", text)
    assert checked.ok, [d.message for d in checked.diagnostics]
    script = generate_files(checked, ["Net"], with_data=False)["train.py"]
    assert _config(script)[key] == expected
    if "stop_when" in entries:
        assert 'm.get("val_accuracy", float("nan")) >= 0.95' in script
    if "scheduler" in entries:  # torch takes the calls as written
        import torch

        scope: dict = {"torch": torch}
        code = _functions(script)
        exec(code["build_optimizer"] + "\n" + code["build_scheduler"], scope)
        optimizer = scope["build_optimizer"]([torch.nn.Parameter(torch.zeros(2))], None)
        scheduler = scope["build_scheduler"](optimizer, 10, 5)
        assert isinstance(scheduler, getattr(torch.optim.lr_scheduler, script_scheduler(entries)))


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


def test_every_key_of_a_hand_built_plan_reaches_the_lightning_target(tmp_path: Path) -> None:
    from nndsl.codegen.lightning import lit_module_source, lit_train_source

    # the Lightning target does not fine-tune: the same plan without freeze and lr_for
    plan = _plan(**{**EVERY_KEY, "freeze": (), "lr_for": ()})
    spec = str(tmp_path / "missing.nn")
    train = lit_train_source(plan, spec, "lit_model_long", "data_long.npz")
    assert _config(train) == {
        "model": "Tower",
        "epochs": 23,
        "batch_size": 17,
        "seed": 41,
        "accelerator": "cpu",
        "precision": "bf16-mixed",
    }
    callbacks = "".join(_functions(train)["build_callbacks"].split())  # without whitespace
    assert (
        'EarlyStopping(monitor="val_accuracy",patience=4,mode="max",min_delta=0.002)' in callbacks
    )
    assert 'monitor="val_top2"' in callbacks and "every_n_epochs=3" in callbacks
    assert "StopWhen()" in callbacks  # the `or` of two comparisons: a condition of its own
    lit = "".join(lit_module_source(plan, spec, frozenset()).split())
    for text in (
        "LOSS=nn.CrossEntropyLoss(label_smoothing=0.07)",
        'METRICS=["accuracy","top2"]',
        "torch.optim.AdamW(self.parameters(),lr=0.0031iflrisNoneelselr,weight_decay=0.013",
        "torch.optim.lr_scheduler.StepLR(optimizer,step_size=6,gamma=0.55)",
        "super().__init__(5,width=11)",
        "fromtraining_utilsimportMetricSums",
        "CLIP_GRAD_NORM=0.75",
        "ACCUMULATE=3",
        "self.manual_backward(loss/ACCUMULATE)",
    ):
        assert text in lit, text
