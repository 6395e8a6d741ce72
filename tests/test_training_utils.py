"""Unit tests of nndsl/runtime/training_utils.py, the helper every generated train.py imports."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from nndsl.runtime import training_utils as tu  # noqa: E402


def test_lower_is_better_matches_the_catalog() -> None:
    from nndsl.codegen.train import LOWER_IS_BETTER

    assert tuple(sorted(tu.LOWER_IS_BETTER)) == tuple(sorted(LOWER_IS_BETTER))


def test_metric_sums_multiclass() -> None:
    torch.manual_seed(0)
    out, y = torch.randn(50, 4), torch.randint(0, 4, (50,))
    sums = tu.MetricSums(["accuracy", "top2", "f1"], {"kind": "multiclass", "decision": "argmax"})
    for i in range(0, 50, 16):  # batches add up to the whole
        sums.update(out[i : i + 16], y[i : i + 16])
    s = {**sums.sums, "count": torch.tensor(float(sums.counts["count"]))}
    values = sums.values(s, "val_")
    pred = out.argmax(1)
    assert values["val_accuracy"] == pytest.approx(float((pred == y).float().mean()))
    top2 = (out.topk(2, 1).indices == y[:, None]).any(1).float().mean()
    assert values["val_top2"] == pytest.approx(float(top2))
    f1s = []
    for c in range(4):
        tp = int(((pred == c) & (y == c)).sum())
        fp, fn = int(((pred == c) & (y != c)).sum()), int(((pred != c) & (y == c)).sum())
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    assert values["val_f1"] == pytest.approx(sum(f1s) / len(f1s))


def test_metric_sums_regression() -> None:
    torch.manual_seed(1)
    out, y = torch.randn(30, 2), torch.randn(30, 2)
    sums = tu.MetricSums(["mae", "rmse", "r2"], {"kind": "regression", "decision": None})
    sums.update(out[:10], y[:10])
    sums.update(out[10:], y[10:])
    s = {**sums.sums, "elems": torch.tensor(60.0), "n": torch.tensor(30.0)}
    v = sums.values(s, "")
    assert v["mae"] == pytest.approx(float((out - y).abs().mean()))
    assert v["rmse"] == pytest.approx(math.sqrt(float(((out - y) ** 2).mean())))
    r2 = 1 - ((out - y) ** 2).sum(0) / ((y - y.mean(0)) ** 2).sum(0)
    assert v["r2"] == pytest.approx(float(r2.mean()))


def _setup():
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    return model, optimizer


def test_checkpoint_round_trip_restores_weights_optimizer_and_random_state(tmp_path) -> None:
    config = {"optimizer": "Adam(lr=0.01)"}
    model, optimizer = _setup()
    state = {"epoch": 1, "step": 0, "history": [{"epoch": 1, "train_loss": 0.5}], "best": None,
             "stop_best": None, "bad_epochs": 0, "partial": None}  # fmt: skip
    path = tmp_path / "last.pt"
    tu.save_checkpoint(path, model, optimizer, None, None, state, config)
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    other, other_opt = _setup()
    loaded = tu.load_checkpoint(str(path), other, other_opt, None, None, config)
    # the random streams continue exactly where they were saved
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
    assert loaded["history"] == state["history"]
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert other_opt.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]


def test_damaged_checkpoint_state_is_refused(tmp_path) -> None:
    model, optimizer = _setup()
    bad = {"epoch": 3, "history": [], "partial": None}
    path = tmp_path / "bad.pt"
    tu.save_checkpoint(path, model, optimizer, None, None, bad, {})
    with pytest.raises(tu.TrainingError, match="damaged"):
        tu.load_checkpoint(str(path), model, optimizer, None, None, {})
    assert tu.checkpoint_state_problem({"epoch": 0, "history": []}) is None


def test_meter_state_resumes_exactly() -> None:
    task = {"kind": "multiclass", "decision": "argmax"}
    torch.manual_seed(2)
    batches = [(torch.randn(8, 3), torch.randint(0, 3, (8,))) for _ in range(4)]
    whole = tu.Meter(["accuracy"], task, torch.device("cpu"), 4)
    half = tu.Meter(["accuracy"], task, torch.device("cpu"), 4)
    for step, (out, y) in enumerate(batches):
        whole.update(step, torch.nn.functional.cross_entropy(out, y), out, y)
        if step < 2:
            half.update(step, torch.nn.functional.cross_entropy(out, y), out, y)
    resumed = tu.Meter(["accuracy"], task, torch.device("cpu"), 4)
    resumed.load(half.state())  # what interrupted.pt holds of a partial epoch
    for step, (out, y) in list(enumerate(batches))[2:]:
        resumed.update(step, torch.nn.functional.cross_entropy(out, y), out, y)
    assert resumed.values("train_") == whole.values("train_")
