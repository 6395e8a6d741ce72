"""Several input arrays, several target arrays and metrics of named outputs.

Specs in tests/fixtures/multi/, trained on data the tests make from the bundled digits:
a Siamese pair model whose two images are two arrays (`npz(x=["left", "right"], y="same")`,
one shared tower), a two-head model with two target arrays (`npz(y=["digit", "parity"])`) and
two accuracies (`metrics = [accuracy(digit), accuracy(parity)]`), and a model fed by two groups
of CSV columns with two target columns.  The located errors (the number of arrays against the
model's inputs and the loss, a metric naming an unknown output) are golden fixtures in
tests/fixtures/errors/multi/ (tests/test_errors_golden.py); shapes and types, known only once
the data is read, are refused by `nndsl run` at the `data` line (tested here).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nndsl
from nndsl.check import check_file
from nndsl.cli import main
from nndsl.codegen import generate_files
from nndsl.data import DataError
from nndsl.data.sources import digits, load

FIXTURES = Path(__file__).parent / "fixtures" / "multi"


def _pairs(folder: Path, n: int = 1200, right_shape: tuple | None = None) -> None:
    """pairs.npz: the two images of n pairs of digits (left, right: [n, 1, 8, 8]) and whether
    they show the same digit (same: [n])."""
    d = digits()
    rng = np.random.default_rng(0)
    i = rng.integers(0, len(d.x), n)
    same = rng.random(n) < 0.5
    j = np.array([rng.choice(np.flatnonzero((d.y == d.y[a]) == s)) for a, s in zip(i, same)])
    left, right = d.x[i], d.x[j]
    if right_shape is not None:
        size = int(np.prod(right_shape))
        right = right.reshape(n, -1)[:, :size].reshape(n, *right_shape)
    np.savez(folder / "pairs.npz", left=left, right=right, same=(d.y[i] == d.y[j]).astype(np.int64))


def _digits2(folder: Path) -> None:
    """digits2.npz: the digits (x), their class (digit) and their parity (parity)."""
    d = digits()
    np.savez(folder / "digits2.npz", x=d.x, digit=d.y, parity=(d.y % 2).astype(np.int64))


def _groups_csv(folder: Path, n: int = 300) -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    t = (a[:, 0] + b[:, 0] > 0).astype(int)
    u = a[:, 1] * 2 + b[:, 1]
    with open(folder / "groups.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["a1", "a2", "a3", "b1", "b2", "t", "u"])
        for k in range(n):
            w.writerow([f"{v:.4f}" for v in (*a[k], *b[k])] + [int(t[k]), f"{u[k]:.4f}"])


MAKERS = {"siamese": _pairs, "heads": _digits2, "groups": _groups_csv}


def _spec(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "spec"
    folder.mkdir(exist_ok=True)
    shutil.copy(FIXTURES / f"{name}.nn", folder / f"{name}.nn")
    MAKERS[name](folder)
    return folder / f"{name}.nn"


def _checked(path: Path):
    checked = check_file(str(path))
    assert checked.ok, [d.message for d in checked.diagnostics]
    return checked


# ---- data sources ------------------------------------------------------------------------------


def test_npz_input_arrays_are_split_and_shuffled_together(tmp_path: Path) -> None:
    n = 40
    left = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
    right = left[:, :2] * 2 + 1
    np.savez(tmp_path / "d.npz", left=left, right=right, same=np.arange(n) % 3, v=left[:, 0])
    opts = {"path": "d.npz", "x": ["left", "right"], "y": ["same", "v"], "val_split": 0.25}
    split = load("npz", opts, seed=3, base_dir=tmp_path)
    more = split.more
    assert more is not None and set(more) == {"train_x1", "val_x1", "train_y1", "val_y1"}
    assert split.train_x.shape == (30, 3) and more["train_x1"].shape == (30, 2)
    for part in ("train", "val"):
        x, x1 = getattr(split, f"{part}_x"), more[f"{part}_x1"]
        np.testing.assert_array_equal(x1, x[:, :2] * 2 + 1)  # the same rows, in the same order
        y, y1 = getattr(split, f"{part}_y"), more[f"{part}_y1"]
        np.testing.assert_array_equal(y, (x[:, 0] / 3).astype(np.int64) % 3)
        np.testing.assert_array_equal(y1[:, 0], x[:, 0])  # a second target, as values
    assert split.task == "classification" and y.dtype == np.int64 and y1.dtype == np.float32
    assert split.x_names == ("left", "right") and split.y_names == ("same", "v")
    # the permutation is the one a single array gets
    single = load(
        "npz",
        {"path": "d.npz", "x": "left", "y": "same", "val_split": 0.25},
        seed=3,
        base_dir=tmp_path,
    )
    np.testing.assert_array_equal(single.train_x, split.train_x)


def test_each_input_array_is_normalised_with_its_own_statistics(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(5.0, 2.0, size=(50, 4)).astype(np.float32)
    b = rng.normal(-3.0, 0.5, size=(50, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", a=a, b=b, y=np.arange(50) % 2)
    opts = {"path": "d.npz", "x": ["a", "b"], "val_split": 0.2, "normalize": True}
    split = load("npz", opts, seed=0, base_dir=tmp_path)
    assert split.more is not None
    for train in (split.train_x, split.more["train_x1"]):
        np.testing.assert_allclose(train.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(train.std(0), 1, atol=1e-4)
    stats = split.more_norm[0]
    assert stats is not None and stats.mean.shape == (2,)
    assert float(stats.mean.mean()) == pytest.approx(-3.0, abs=0.3)  # b's, not a's
    # the validation rows of b, standardised with b's training statistics
    raw_val = (split.more["val_x1"] * stats.std) + stats.mean
    assert np.isin(np.round(raw_val[:, 0], 4), np.round(b[:, 0], 4)).all()


def test_csv_groups_of_columns_and_several_targets(tmp_path: Path) -> None:
    _groups_csv(tmp_path, n=20)
    opts = {
        "path": "groups.csv",
        "features": [["a1", "a2", "a3"], ["b1", "b2"]],
        "target": ["t", "u"],
    }
    split = load("csv", opts, seed=0, base_dir=tmp_path)
    rows = list(csv.DictReader(open(tmp_path / "groups.csv")))
    assert split.train_x.shape == (20, 3) and split.more["train_x1"].shape == (20, 2)
    assert split.task == "classification" and split.num_classes == 2
    assert split.more["train_y1"].shape == (20, 1) and split.more["train_y1"].dtype == np.float32
    # rows stay together: b1 and u of each sample come from the same CSV line as its a1
    by_a1 = {round(float(r["a1"]), 4): r for r in rows}
    for x, x1, y1 in zip(split.train_x, split.more["train_x1"], split.more["train_y1"]):
        row = by_a1[round(float(x[0]), 4)]
        assert float(x1[0]) == pytest.approx(float(row["b1"]), abs=1e-4)
        assert float(y1[0]) == pytest.approx(float(row["u"]), abs=1e-4)
    # without `features`, the inputs are every column that is not a target
    plain = load("csv", {"path": "groups.csv", "target": ["t", "u"]}, seed=0, base_dir=tmp_path)
    assert plain.train_x.shape == (20, 5) and plain.more is not None


@pytest.mark.parametrize(
    ("source", "opts", "words"),
    [
        ("npz", {"x": ["left", "rigth"]}, ["no array 'rigth'", "right"]),
        ("npz", {"x": ["left", "left"]}, ["names one twice"]),
        ("csv", {"features": [["a1"], ["t"]], "target": ["t", "u"]}, ["'t' is also listed"]),
        ("csv", {"target": ["t", "w"]}, ["no column 'w'"]),
    ],
)
def test_data_errors_name_the_array(tmp_path: Path, source: str, opts: dict, words) -> None:
    _pairs(tmp_path, n=20)
    _groups_csv(tmp_path, n=20)
    base = {"path": "pairs.npz", "y": "same"} if source == "npz" else {"path": "groups.csv"}
    with pytest.raises(DataError) as info:
        load(source, {**base, **opts}, seed=0, base_dir=tmp_path)
    text = info.value.message + " " + (info.value.hint or "")
    for word in words:
        assert word in text, text


# ---- the plan and the generated code -----------------------------------------------------------


def test_the_plan_matches_metrics_to_outputs_and_targets(tmp_path: Path) -> None:
    plan = _checked(FIXTURES / "heads.nn").plans[None]
    assert (plan.data_inputs, plan.data_targets) == (1, 2)
    assert plan.metrics == ()
    found = [(m.column, m.output_index, m.target, m.target_index) for m in plan.output_metrics]
    assert found == [("accuracy_digit", 0, "digit", 0), ("accuracy_parity", 1, "parity", 1)]
    assert plan.output_metrics[0].task.kind == "multiclass"
    # named targets (`accuracy(cls, t)`), and a regression metric of the second output
    groups = _checked(FIXTURES / "groups.nn").plans[None]
    assert (groups.data_inputs, groups.data_targets) == (2, 2)
    found = [(m.column, m.target_index, m.task.kind) for m in groups.output_metrics]
    assert found == [("accuracy_cls", 0, "binary"), ("mse_val", 1, "regression")]
    siamese = _checked(FIXTURES / "siamese.nn").plans[None]
    assert (siamese.data_inputs, siamese.data_targets) == (2, 1)


def test_named_metric_columns_can_be_monitored() -> None:
    spec = (
        (FIXTURES / "heads.nn")
        .read_text()
        .replace(
            "epochs    = 2",
            "epochs    = 2\n    early_stopping = EarlyStopping(monitor=val_accuracy_parity)",
        )
    )
    checked = check_file("heads.nn", spec)
    assert checked.ok, [d.message for d in checked.diagnostics]
    assert checked.plans[None].early_stopping.monitor == "val_accuracy_parity"


def test_generated_scripts_pass_every_array(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(FIXTURES)
    for name, wants in {
        "siamese": ["out = net(*x)", "out = model(*x)", "compute_loss(criterion, out, y)"],
        "heads": ["out = net(x)", "criterion(*out, *y)", '"output_metrics": ['],
        "groups": ["out = net(*x)", "criterion(*out, *y)"],
    }.items():
        checked = _checked(Path(f"{name}.nn"))
        models = [m for m, inst in checked.models.items() if inst is not None]
        files = generate_files(checked, models, with_data=False)
        for want in wants:
            assert want in files["train.py"], (name, want)
        lit = generate_files(checked, models, target="lightning", with_data=False)
        if name != "heads":
            assert "out = self(*x)" in lit["lit_model.py"]
            assert "arrays_of(arrays" in lit["train.py"]
        folder = tmp_path / name
        folder.mkdir()
        for key, text in {**files, **{f"lit_{k}": v for k, v in lit.items()}}.items():
            (folder / key).write_text(text)
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_metric_sums_of_named_outputs() -> None:
    """The runtime's sums: each named output against its target, in columns of its own."""
    torch = pytest.importorskip("torch")
    from nndsl.runtime.training_utils import Meter

    outputs = [
        {
            "metric": "accuracy",
            "name": "digit",
            "output": 0,
            "target": 0,
            "task": {"kind": "multiclass", "decision": "argmax"},
        },
        {
            "metric": "accuracy",
            "name": "parity",
            "output": 1,
            "target": 1,
            "task": {"kind": "binary", "decision": "argmax"},
        },
    ]
    meter = Meter([], None, torch.device("cpu"), 2, outputs)
    digit = torch.tensor([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])  # predicts 1, 0, 0
    parity = torch.tensor([[0.0, 1.0], [0.0, 1.0], [1.0, 0.0]])  # predicts 1, 1, 0
    y = (torch.tensor([1, 1, 0]), torch.tensor([1, 0, 0]))
    meter.update(0, torch.tensor(0.5), (digit, parity), y)
    meter.update(1, torch.tensor(0.25), (digit[:1], parity[:1]), (y[0][:1], y[1][:1]))
    values = meter.values("val_")
    assert values["val_accuracy_digit"] == pytest.approx(3 / 4)
    assert values["val_accuracy_parity"] == pytest.approx(3 / 4)
    assert values["val_loss"] == pytest.approx((0.5 * 3 + 0.25) / 4)
    # an interrupted epoch's sums are saved and restored with the others
    again = Meter([], None, torch.device("cpu"), 2, outputs)
    again.load(meter.state())
    assert again.values("val_") == values


# ---- data that does not fit: refused at the `data` line before training ------------------------


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--color", "never", "run", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            {"right_shape": (1, 7, 7)},
            [
                "input `right` of `PairNet` is [B, 1, 8, 8]",
                '"right"',
                "[B, 1, 7, 7]",
                "size 7 in dimension 2",
            ],
        ),
        ({"right_shape": (1, 8)}, ["input `right`", "[B, 1, 8]", "3 dimensions, not 4"]),
    ],
)
def test_arrays_that_do_not_fit_are_located_errors(tmp_path: Path, capsys, make, words) -> None:
    spec = tmp_path / "siamese.nn"
    shutil.copy(FIXTURES / "siamese.nn", spec)
    _pairs(tmp_path, n=60, **make)
    code, out, err = _run(capsys, str(spec), "--out", str(tmp_path / "run"))
    assert code == 1 and "Traceback" not in out + err
    assert "siamese.nn:16:5" in err and "data      = npz(" in err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_loss_targets_that_do_not_fit_the_data(tmp_path: Path, capsys) -> None:
    spec = _spec(tmp_path, "heads")
    text = spec.read_text().replace("parity_label: long[B]", "parity_label: long[B, 1]")
    spec.write_text(text.replace("(parity, parity_label)", "(parity, parity_label.squeeze(1))"))
    code, out, err = _run(capsys, str(spec), "--out", str(tmp_path / "run"))
    assert code == 1 and "Traceback" not in out + err
    assert "heads.nn:20:5" in err
    assert 'target `parity_label` of loss `MultiTask` is long[B, 1], but the array "parity"' in err
    assert "is long[B] (1 dimension, not 2)" in err


# ---- training: the same numbers from nndsl run, train.py and Lightning -------------------------


def _three_ways(spec: Path, tmp_path: Path, epochs: int, columns: list[str]) -> list[dict]:
    from test_loss_blocks import _train_three_ways

    return _train_three_ways(spec, tmp_path, epochs, columns)


@pytest.mark.slow
def test_siamese_pair_model_on_two_input_arrays(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "siamese")
    towers = [m for m in _checked(spec).models["PairNet"].modules if m.type_name == "Tower"]
    assert len(towers) == 1  # one tower, its weights used for both images
    history = _three_ways(
        spec, tmp_path, 3, ["train_loss", "train_accuracy", "val_loss", "val_accuracy"]
    )
    assert history[-1]["val_accuracy"] > 0.7
    assert history[-1]["val_loss"] < history[0]["train_loss"]


@pytest.mark.slow
def test_two_heads_on_two_target_arrays_with_two_accuracies(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "heads")
    columns = [
        "train_loss",
        "train_accuracy_digit",
        "val_accuracy_digit",
        "val_accuracy_parity",
        "train_digit_loss",
        "val_parity_loss",
    ]
    history = _three_ways(spec, tmp_path, 2, columns)
    last = history[-1]
    assert last["val_accuracy_digit"] > 0.8 and last["val_accuracy_parity"] > 0.75
    assert "val_accuracy" not in last  # no plain metric: only the named outputs'
    # evaluate gives the numbers training reported for the validation split
    result = nndsl.load(spec).evaluate(tmp_path / "run" / "last.pt", split="val")
    for key in ("val_loss", "val_accuracy_digit", "val_accuracy_parity"):
        assert result["metrics"][key] == pytest.approx(last[key], rel=1e-6)
    assert result["samples"] == 359


@pytest.mark.slow
def test_csv_groups_and_target_columns(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "groups")
    columns = ["train_loss", "val_loss", "val_accuracy_cls", "val_mse_val", "val_se"]
    history = _three_ways(spec, tmp_path, 3, columns)
    for row in history:  # mse(val, u) is the loss's own squared error
        assert row["val_mse_val"] == pytest.approx(row["val_se"], rel=1e-6)
    assert history[-1]["val_loss"] < history[0]["val_loss"]
