"""Training a user's own job gives the right numbers: the task (multi-class, binary, multi-label,
regression, reconstruction) is decided once, every metric is defined for it or refused by the
checker, and the reported numbers equal a reference computed by hand (numpy) from the saved
checkpoint's predictions.

Each job trains a few epochs on small data the test makes, in this process, with one torch thread.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import nndsl
from nndsl.catalog.training import METRIC_FACTS, TASK_KINDS
from nndsl.check import check_file
from nndsl.cli import main


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def train(spec: Path, out: Path, **flags):
    """Train through the API; returns (program, history, run folder)."""
    program = nndsl.load(spec)
    history = program.train(out=out, quiet=True, **flags)
    return program, history, out


def predictions(program, run: Path, split: str = "val") -> tuple[np.ndarray, np.ndarray]:
    """The model of run/last.pt on the run's `split` data, in eval mode: (outputs, targets)."""
    import torch

    model = program.build()
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    model.eval()
    data = np.load(run / "data.npz")
    with torch.no_grad():
        out = model(torch.from_numpy(data[f"{split}_x"])).numpy().astype(np.float64)
    return out, data[f"{split}_y"]


def scores(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, float]:
    """Precision, recall, F1 per class (0 where undefined), averaged."""

    def ratio(a, b):
        return np.where(b > 0, a / np.maximum(b, 1), 0.0)

    return {
        "precision": float(ratio(tp, tp + fp).mean()),
        "recall": float(ratio(tp, tp + fn).mean()),
        "f1": float(ratio(2 * tp, 2 * tp + fp + fn).mean()),
    }


def binary_reference(pred: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred, y = pred.reshape(-1).astype(int), y.reshape(-1).astype(int)
    tp = np.array([(pred & y).sum()])
    fp = np.array([(pred & (1 - y)).sum()])
    fn = np.array([((1 - pred) & y).sum()])
    return {"accuracy": float((pred == y).mean()), **scores(tp, fp, fn)}


def multiclass_reference(out: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred = out.argmax(1)
    c = out.shape[1]
    cm = np.zeros((c, c))
    np.add.at(cm, (y.reshape(-1), pred.reshape(-1)), 1)
    tp, predicted, actual = np.diag(cm), cm.sum(0), cm.sum(1)
    present = (predicted + actual) > 0
    return {
        "accuracy": float((pred == y).mean()),
        **scores(tp[present], (predicted - tp)[present], (actual - tp)[present]),
    }


def assert_close(got: dict, want: dict, prefix: str = "val_") -> None:
    for name, value in want.items():
        # the run's forward passes were batched, this one is not: float32 rounding differs
        assert got[prefix + name] == pytest.approx(value, rel=1e-5, abs=1e-6), name


MOONS = """
model Net {{
    input x: [B, 2]
    Linear(16) -> relu -> Linear({out})
}}

train {{
    data      = moons(n=200, noise=0.2, val_split=0.25)
    loss      = {loss}
    optimizer = Adam(lr=0.02)
    epochs    = 3
    batch_size = 16
    metrics   = [accuracy, f1, precision, recall]
}}
"""


# ---- binary classification ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "out,loss,decide",
    [
        (1, "BCEWithLogitsLoss()", lambda o: o > 0),
        (2, "CrossEntropyLoss()", lambda o: o.argmax(1)),
        (1, "BCELoss()", None),
    ],
    ids=["bce-logits", "cross-entropy-2", "bce-probabilities"],
)
def test_binary_metrics_equal_a_hand_computation(tmp_path: Path, out, loss, decide) -> None:
    text = MOONS.format(out=out, loss=loss)
    if loss == "BCELoss()":
        text = text.replace("Linear(1)\n", "Linear(1) -> sigmoid\n")
        decide = lambda o: o > 0.5  # noqa: E731
    spec = write(tmp_path, "binary.nn", text)
    program, history, run = train(spec, tmp_path / "run")
    assert program.checked.tasks[None].kind == "binary"
    outputs, y = predictions(program, run)
    want = binary_reference(np.asarray(decide(outputs)), y)
    assert_close(history[-1], want)
    # the model learnt something: accuracy is not the share of one class
    assert history[-1]["val_accuracy"] > 0.7
    config = json.loads((run / "config.json").read_text())
    assert config["task"]["kind"] == "binary"


def test_binary_targets_are_floats_for_bce_and_labels_for_cross_entropy(tmp_path: Path) -> None:
    for out, loss, dtype in (
        (1, "BCEWithLogitsLoss()", np.float32),
        (2, "CrossEntropyLoss()", np.int64),
    ):
        spec = write(tmp_path, "b.nn", MOONS.format(out=out, loss=loss))
        files = nndsl.load(spec).checked
        from nndsl.codegen import generate_files

        data = generate_files(files, ["Net"])["data.npz"]
        import io

        assert np.load(io.BytesIO(data))["train_y"].dtype == dtype


# ---- multi-label -----------------------------------------------------------------------------------


def test_multilabel_metrics_per_label(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 6)).astype(np.float32)
    y = (x[:, :3] + 0.3 * rng.normal(size=(240, 3)) > 0).astype(np.int64)  # 3 labels
    np.savez(tmp_path / "labels.npz", x=x, y=y)
    spec = write(
        tmp_path,
        "multi.nn",
        """
model Tagger {
    input x: [B, 6]
    Linear(16) -> relu -> Linear(3)
}

train {
    data      = npz("labels.npz", val_split=0.25)
    loss      = BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 1.0])
    optimizer = Adam(lr=0.02)
    epochs    = 4
    metrics   = [accuracy, f1, precision, recall]
}
""",
    )
    program, history, run = train(spec, tmp_path / "run")
    assert program.checked.tasks[None].kind == "multilabel"
    outputs, targets = predictions(program, run)
    pred = (outputs > 0).astype(int)
    t = targets.astype(int)
    tp, fp, fn = (pred & t).sum(0), (pred & (1 - t)).sum(0), ((1 - pred) & t).sum(0)
    assert_close(history[-1], {"accuracy": float((pred == t).mean()), **scores(tp, fp, fn)})
    assert history[-1]["val_accuracy"] > 0.7


# ---- regression with whole-number targets -----------------------------------------------------


def test_integer_valued_regression_target_stays_a_value(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rows = ["area,rooms,price"]
    for _ in range(120):
        area, rooms = rng.uniform(30, 120), int(rng.integers(1, 5))
        rows.append(f"{area:.1f},{rooms},{int(area * 3 + rooms * 10 + rng.integers(0, 5))}")
    write(tmp_path, "houses.csv", "\n".join(rows) + "\n")
    spec = write(
        tmp_path,
        "houses.nn",
        """
model Price {
    input x: [B, 2]
    Linear(16) -> relu -> Linear(1)
}

train {
    data      = csv("houses.csv", target="price", normalize=true, val_split=0.25)
    loss      = MSELoss()
    optimizer = Adam(lr=0.05)
    epochs    = 3
    metrics   = [mae, rmse, r2]
}
""",
    )
    program, history, run = train(spec, tmp_path / "run")
    assert program.checked.tasks[None].kind == "regression"
    data = np.load(run / "data.npz")
    assert data["train_y"].dtype == np.float32 and data["train_y"].shape[1:] == (1,)
    prices = sorted(int(r.split(",")[2]) for r in rows[1:])
    got = sorted(np.concatenate([data["train_y"], data["val_y"]]).reshape(-1).astype(int).tolist())
    assert got == prices  # the values themselves, not class indices
    out, y = predictions(program, run)
    diff = out - y
    r2 = 1 - (diff**2).sum() / ((y - y.mean()) ** 2).sum()
    assert_close(
        history[-1],
        {
            "mae": float(np.abs(diff).mean()),
            "rmse": math.sqrt(float((diff**2).mean())),
            "r2": float(r2),
        },
    )


def test_task_option_is_one_registry_for_checker_and_loader(tmp_path: Path) -> None:
    write(tmp_path, "t.csv", "a,b\n1,3\n2,5\n3,7\n4,9\n")
    spec = write(
        tmp_path,
        "t.nn",
        """
model M {
    input x: [B, 1]
    Linear(1)
}

train {
    data      = csv("t.csv", target="b", task="regression")
    loss      = L1Loss()
    optimizer = SGD(lr=0.01)
    epochs    = 1
}
""",
    )
    assert check_file(str(spec)).ok
    bad = spec.read_text().replace('task="regression"', 'task="regresion"')
    checked = check_file(str(spec), bad)
    messages = [d.message for d in checked.diagnostics if d.is_error]
    assert any("`task` is one of" in m for m in messages), messages
    hints = [d.hint for d in checked.diagnostics if d.is_error]
    assert any("regression" in (h or "") for h in hints)


# ---- class weights ------------------------------------------------------------------------------


def test_class_weights_change_the_loss_as_torchs_do(tmp_path: Path) -> None:
    import torch
    import torch.nn.functional as F

    text = MOONS.format(out=2, loss="CrossEntropyLoss(weight=[1.0, 3.0])").replace(
        "batch_size = 16", "batch_size = 64"
    )
    spec = write(tmp_path, "w.nn", text)
    program, history, run = train(spec, tmp_path / "run")
    out, y = predictions(program, run)  # 50 validation samples: one batch
    scores_, labels = torch.from_numpy(out).float(), torch.from_numpy(y)
    want = F.cross_entropy(scores_, labels, weight=torch.tensor([1.0, 3.0]))
    assert history[-1]["val_loss"] == pytest.approx(float(want), rel=1e-6)
    plain = F.cross_entropy(scores_, labels)
    assert float(want) != pytest.approx(float(plain), rel=1e-3)


def test_pos_weight_changes_the_loss_as_torchs_does(tmp_path: Path) -> None:
    import torch
    import torch.nn.functional as F

    text = MOONS.format(out=1, loss="BCEWithLogitsLoss(pos_weight=[2.5])").replace(
        "batch_size = 16", "batch_size = 64"
    )
    spec = write(tmp_path, "p.nn", text)
    program, history, run = train(spec, tmp_path / "run")
    out, y = predictions(program, run)
    want = F.binary_cross_entropy_with_logits(
        torch.from_numpy(out).float(),
        torch.from_numpy(y).reshape(out.shape).float(),
        pos_weight=torch.tensor([2.5]),
    )
    assert history[-1]["val_loss"] == pytest.approx(float(want), rel=1e-6)


@pytest.mark.parametrize(
    "loss,message",
    [
        (
            "CrossEntropyLoss(weight=[1.0, 2.0, 3.0])",
            "`weight` has 3 entries, but `moons` has 2 classes",
        ),
        (
            "BCEWithLogitsLoss(pos_weight=[1.0, 2.0])",
            "`pos_weight` has 2 entries, but the model outputs 1 label score",
        ),
        ("CrossEntropyLoss(weight=[1.0, -2.0])", "`weight` cannot hold negative numbers"),
    ],
)
def test_tensor_argument_lengths_are_checked(tmp_path: Path, loss: str, message: str) -> None:
    out = 1 if "BCE" in loss else 2
    checked = check_file("w.nn", MOONS.format(out=out, loss=loss))
    assert [d.message for d in checked.diagnostics if d.is_error] == [message]


def test_weight_written_as_a_tensor_call(tmp_path: Path) -> None:
    text = MOONS.format(out=2, loss="CrossEntropyLoss(weight=tensor([1.0, 2.0]))")
    spec = write(tmp_path, "w.nn", text)
    from nndsl.codegen import generate_files

    files = generate_files(nndsl.load(spec).checked, ["Net"], with_data=False)
    assert "nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0]))" in files["train.py"]


# ---- token ids ---------------------------------------------------------------------------------


def test_token_classifier_trains_from_an_npz_of_integers(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    tokens = rng.integers(1, 10, size=(160, 8))
    labels = (tokens[:, 0] >= 5).astype(np.int64)  # the class is in the first token
    np.savez(tmp_path / "tokens.npz", x=tokens, y=labels)
    spec = write(
        tmp_path,
        "tok.nn",
        """
model Tokens {
    input tokens: long[B, 8]
    tokens -> Embedding(50, 16) -> flatten -> Linear(2)
}

train {
    data      = npz("tokens.npz", val_split=0.25)
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=0.05)
    epochs    = 20
    metrics   = [accuracy]
}
""",
    )
    program, history, run = train(spec, tmp_path / "run")
    data = np.load(run / "data.npz")
    assert data["train_x"].dtype == np.int64
    assert history[-1]["val_accuracy"] > 0.8


def test_float_inputs_with_fractions_refused_for_a_token_model(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", x=np.full((20, 8), 0.5), y=np.zeros(20, dtype=np.int64))
    spec = write(
        tmp_path,
        "tok.nn",
        """
model Tokens {
    input tokens: long[B, 8]
    tokens -> Embedding(50, 16) -> flatten -> Linear(2)
}

train {
    data      = npz("f.npz")
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=0.05)
    epochs    = 1
}
""",
    )
    with pytest.raises(nndsl.NndslError, match="integer ids"):
        nndsl.load(spec).train(out=tmp_path / "run", quiet=True)


# ---- csv without a header, test split, image folders with given splits -----------------------------


def test_csv_without_header_keeps_its_first_row(tmp_path: Path) -> None:
    from nndsl.data.sources import load

    write(tmp_path, "n.csv", "5.1,3.5,0\n4.9,3.0,0\n6.2,2.9,1\n5.9,3.0,1\n")
    split = load("csv", {"path": "n.csv", "target": -1}, seed=0, base_dir=tmp_path)
    assert len(split.train_x) == 4
    assert split.train_x.tolist().count([5.099999904632568, 3.5]) == 1
    named = load("csv", {"path": "n.csv", "target": "2"}, seed=0, base_dir=tmp_path)
    assert len(named.train_x) == 4
    header = load(
        "csv", {"path": "n.csv", "target": "0", "header": True}, seed=0, base_dir=tmp_path
    )
    assert len(header.train_x) == 3  # told: the first row names the columns (5.1, 3.5, 0)


def test_test_split_is_held_out_and_reported(tmp_path: Path) -> None:
    text = MOONS.format(out=2, loss="CrossEntropyLoss()").replace(
        "val_split=0.25)", "val_split=0.2, test_split=0.1)"
    )
    spec = write(tmp_path, "t.nn", text)
    program, history, run = train(spec, tmp_path / "run")
    data = np.load(run / "data.npz")
    assert (len(data["train_x"]), len(data["val_x"]), len(data["test_x"])) == (140, 40, 20)
    everything = np.concatenate([data["train_x"], data["val_x"], data["test_x"]])
    assert len(np.unique(everything, axis=0)) == 200  # disjoint
    test = json.loads((run / "test_metrics.json").read_text())
    out, y = predictions(program, run, "test")
    assert_close(test, multiclass_reference(out, y) | binary_reference(out.argmax(1), y), "test_")
    assert all("test_" not in key for row in history for key in row)  # never in the epochs


def test_image_folder_with_train_and_val_subfolders(tmp_path: Path) -> None:
    from PIL import Image

    from nndsl.data.sources import load

    rng = np.random.default_rng(3)
    counts = {"train": 6, "val": 3, "test": 2}
    for split, n in counts.items():
        for cls, level in (("dark", 40), ("light", 200)):
            folder = tmp_path / "imgs" / split / cls
            folder.mkdir(parents=True)
            for i in range(n):
                pixels = np.clip(level + rng.normal(0, 10, (8, 8)), 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    data = load("image_folder", {"path": "imgs", "grayscale": True}, seed=0, base_dir=tmp_path)
    assert (len(data.train_x), len(data.val_x), len(data.test_x)) == (12, 6, 4)
    assert data.class_names == ("dark", "light")
    assert sorted(data.val_y.tolist()) == [0, 0, 0, 1, 1, 1]
    assert (data.val_x.mean(axis=(1, 2, 3)) > 0.5).tolist() == (data.val_y == 1).tolist()
    from nndsl.data import DataError

    with pytest.raises(DataError, match="already has a val split"):
        load("image_folder", {"path": "imgs", "val_split": 0.2}, seed=0, base_dir=tmp_path)


# ---- segmentation --------------------------------------------------------------------------------


UNET = (Path(__file__).resolve().parents[1] / "samples" / "unet.nn").read_text()


def test_unet_segmentation_trains_on_per_pixel_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n, size = 24, 16
    x = rng.normal(0, 0.3, (n, 1, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), dtype=np.int64)
    for i in range(n):  # a bright square per image; its pixels are class 1
        r, c = rng.integers(0, size - 6, 2)
        masks[i, r : r + 6, c : c + 6] = 1
        x[i, 0, r : r + 6, c : c + 6] += 1.0
    np.savez(tmp_path / "masks.npz", x=x, y=masks)
    spec = write(
        tmp_path,
        "seg.nn",
        UNET.replace("[B, 1, 64, 64]", f"[B, 1, {size}, {size}]")
        + """
train {
    model     = UNet
    data      = npz("masks.npz", val_split=0.25)
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=0.01)
    epochs    = 2
    batch_size = 6
    metrics   = [accuracy, f1]
}
""",
    )
    program, history, run = train(spec, tmp_path / "run")
    assert program.checked.tasks[None].kind == "binary"  # two classes per pixel
    out, y = predictions(program, run)
    assert out.shape == (6, 2, size, size) and y.shape == (6, size, size)
    pred = out.argmax(1)
    assert history[-1]["val_accuracy"] == pytest.approx(float((pred == y).mean()), abs=1e-9)
    want = binary_reference(pred, y)
    assert_close(history[-1], {k: want[k] for k in ("accuracy", "f1")})


# ---- every (task x metric) pair: refused by check, or reported equal to a reference ------------------


TASK_SPECS = {
    "multiclass": ("Linear(3)", "CrossEntropyLoss()", "iris(val_split=0.3)", "[B, 4]"),
    "binary": ("Linear(1)", "BCEWithLogitsLoss()", "moons(n=120, val_split=0.3)", "[B, 2]"),
    "multilabel": ("Linear(3)", "BCEWithLogitsLoss()", 'npz("ml.npz", val_split=0.3)', "[B, 4]"),
    "regression": ("Linear(1)", "MSELoss()", "sine(n=120, length=4, val_split=0.3)", "[B, 4, 1]"),
    "reconstruction": (
        "Linear(4) -> reshape(-1, 4, 1)",
        "L1Loss()",
        "sine(n=120, length=4, target=input, val_split=0.3)",
        "[B, 4, 1]",
    ),
}
METRICS = [*METRIC_FACTS, "top2"]


def task_spec(kind: str, metrics: list[str]) -> str:
    head, loss, data, shape = TASK_SPECS[kind]
    flat = "flatten -> " if shape == "[B, 4, 1]" else ""
    return f"""
model M {{
    input x: {shape}
    {flat}Linear(8) -> relu -> {head}
}}

train {{
    data       = {data}
    loss       = {loss}
    optimizer  = Adam(lr=0.01)
    epochs     = 2
    batch_size = 512
    metrics    = [{", ".join(metrics)}]
}}
"""


def reference(kind: str, out: np.ndarray, y: np.ndarray) -> dict[str, float]:
    if kind == "multiclass":
        ranked = np.argsort(-out, axis=1)[:, :2]
        return multiclass_reference(out, y) | {"top2": float((ranked == y[:, None]).any(1).mean())}
    if kind == "binary":
        return binary_reference(out > 0, y)
    if kind == "multilabel":
        pred, t = (out > 0).astype(int), y.astype(int)
        tp, fp, fn = (pred & t).sum(0), (pred & (1 - t)).sum(0), ((1 - pred) & t).sum(0)
        return {"accuracy": float((pred == t).mean()), **scores(tp, fp, fn)}
    diff = out.reshape(len(out), -1) - y.reshape(len(y), -1)
    t = y.reshape(len(y), -1)
    total = ((t - t.mean(0)) ** 2).sum(0)
    r2 = np.where(
        total > 0, 1 - (diff**2).sum(0) / np.maximum(total, 1e-300), (diff**2).sum(0) == 0
    )
    return {
        "mae": float(np.abs(diff).mean()),
        "mse": float((diff**2).mean()),
        "rmse": math.sqrt(float((diff**2).mean())),
        "r2": float(r2.mean()),
    }


def _applies(kind: str, name: str) -> bool:
    return kind in (METRIC_FACTS[name].tasks if name in METRIC_FACTS else ("multiclass",))


@pytest.mark.parametrize("kind", TASK_KINDS)
def test_every_task_metric_pair(kind: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 4)).astype(np.float32)
    np.savez(tmp_path / "ml.npz", x=x, y=(x[:, :3] > 0).astype(np.int64))
    fitting = [m for m in METRICS if _applies(kind, m)]
    for name in METRICS:
        if name in fitting:
            continue
        checked = check_file(str(tmp_path / "s.nn"), task_spec(kind, [name]))
        errors = [d for d in checked.diagnostics if d.is_error]
        assert len(errors) == 1 and errors[0].span is not None, (kind, name, errors)
        assert f"`{name}`" in errors[0].message and errors[0].hint, errors[0]
    spec = write(tmp_path, "s.nn", task_spec(kind, fitting))
    program, history, run = train(spec, tmp_path / "run")
    assert program.checked.tasks[None].kind == kind
    out, y = predictions(program, run)
    assert_close(history[-1], reference(kind, out, y))
    assert sorted(k[4:] for k in history[-1] if k.startswith("val_") and k != "val_loss") == sorted(
        fitting
    )


# ---- what the checker says -------------------------------------------------------------------------


def test_nll_loss_without_log_softmax_warns() -> None:
    checked = check_file("n.nn", MOONS.format(out=2, loss="NLLLoss()"))
    assert checked.ok
    warnings = [d.message for d in checked.diagnostics if not d.is_error]
    assert warnings == ["NLLLoss needs log-probabilities, but `Net` ends with `Linear`"]
    good = MOONS.format(out=2, loss="NLLLoss()").replace(
        "Linear(2)\n", "Linear(2) -> log_softmax(dim=1)\n"
    )
    assert not check_file("n.nn", good).diagnostics


@pytest.mark.parametrize(
    "task,loss,message",
    [
        ("multilabel", "CrossEntropyLoss()", '`task="multilabel"` does not fit the loss'),
        ("regression", "CrossEntropyLoss()", '`task="regression"` does not fit the loss'),
        ("multiclass", "BCEWithLogitsLoss()", '`task="multiclass"` does not fit the loss'),
        ("binary", "MSELoss()", '`task="binary"` does not fit the loss'),
    ],
)
def test_task_option_must_fit_the_loss(task: str, loss: str, message: str) -> None:
    text = MOONS.format(out=2, loss=loss).replace("moons(n=200,", f'moons(task="{task}", n=200,')
    errors = [d for d in check_file("t.nn", text).diagnostics if d.is_error]
    assert errors and errors[0].message.startswith(message) and errors[0].span.line == 8


def test_metrics_without_a_known_task_are_refused() -> None:
    text = MOONS.format(out=2, loss="KLDivLoss()").replace(
        "moons(n=200, noise=0.2, val_split=0.25)", 'npz("d.npz", val_split=0.25)'
    )
    errors = [d for d in check_file("k.nn", text).diagnostics if d.is_error]
    assert len(errors) == 4 and all("needs to know the task" in d.message for d in errors)
    assert (
        errors[0].hint
        == 'say it on the data source, e.g. `task="classification"` or `task="regression"`'
    )
    fixed = text.replace('npz("d.npz",', 'npz("d.npz", task="regression",').replace(
        "[accuracy, f1, precision, recall]", "[mae]"
    )
    assert check_file("k.nn", fixed).ok


# ---- run-time failures: a message, exit 1, no traceback ---------------------------------------------


def cli_run(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


def test_one_cycle_total_steps_checked_before_training(tmp_path: Path, capsys) -> None:
    text = MOONS.format(out=2, loss="CrossEntropyLoss()").replace(
        "epochs    = 3", "epochs    = 3\n    scheduler = OneCycleLR(max_lr=0.1, total_steps=10)"
    )
    spec = write(tmp_path, "o.nn", text)
    code, err = cli_run(capsys, str(spec), "--out", str(tmp_path / "run"), "--quiet")
    assert code == 1
    assert "the scheduler is set for 10 steps, but 3 epochs of 10 steps make 30" in err
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_unknown_device_is_a_message(tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, "d.nn", MOONS.format(out=2, loss="CrossEntropyLoss()"))
    code, err = cli_run(capsys, str(spec), "--out", str(tmp_path / "run"), "--device", "tpu")
    assert code == 1 and "unknown device 'tpu'" in err


def test_resume_with_another_optimizer_or_model(tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, "a.nn", MOONS.format(out=2, loss="CrossEntropyLoss()"))
    code, _ = cli_run(capsys, str(spec), "--out", str(tmp_path / "a"), "--epochs", "1", "--quiet")
    assert code == 0
    sgd = write(
        tmp_path,
        "b.nn",
        MOONS.format(out=2, loss="CrossEntropyLoss()").replace(
            "Adam(lr=0.02)", "SGD(lr=0.1, momentum=0.9)"
        ),
    )
    ckpt = str(tmp_path / "a" / "last.pt")
    code, err = cli_run(capsys, str(sgd), "--out", str(tmp_path / "b"), "--resume", ckpt)
    assert code == 1
    assert "was trained with Adam(lr=0.02), not SGD(lr=0.1, momentum=0.9)" in err
    assert f"--init-from {ckpt}" in err
    code, err = cli_run(
        capsys,
        str(sgd),
        "--out",
        str(tmp_path / "c"),
        "--resume-weights",
        ckpt,
        "--epochs",
        "1",
        "--quiet",
    )
    assert code == 0, err
    other = write(
        tmp_path,
        "c.nn",
        MOONS.format(out=2, loss="CrossEntropyLoss()").replace(
            "Linear(16)", "Linear(8) -> relu -> Linear(16)"
        ),
    )
    code, err = cli_run(capsys, str(other), "--out", str(tmp_path / "d"), "--resume", ckpt)
    assert code == 1
    assert "does not fit this model" in err and "missing keys fc3.weight, fc3.bias" in err
    assert "fc1.weight is [16, 2] there, [8, 2] here" in err


def test_out_on_an_existing_run_refuses(tmp_path: Path, capsys) -> None:
    spec = write(tmp_path, "r.nn", MOONS.format(out=2, loss="CrossEntropyLoss()"))
    run = tmp_path / "run"
    code, _ = cli_run(capsys, str(spec), "--out", str(run), "--epochs", "1", "--quiet")
    assert code == 0
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    code, err = cli_run(capsys, str(spec), "--out", str(run), "--epochs", "1", "--quiet")
    assert code == 1 and "holds another run" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing written
    code, _ = cli_run(capsys, str(spec), "--out", str(run), "--epochs", "1", "--quiet", "--force")
    assert code == 0


def test_config_json_is_the_resolved_run(tmp_path: Path, capsys) -> None:
    spec = write(
        tmp_path,
        "c.nn",
        MOONS.format(out=1, loss="BCEWithLogitsLoss()").replace(
            "noise=0.2,", "noise=0.2, normalize=true,"
        ),
    )
    code, _ = cli_run(
        capsys,
        str(spec),
        "--out",
        str(tmp_path / "run"),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--quiet",
    )
    assert code == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["epochs"] == 2 and config["batch_size"] == 8
    assert config["loss"] == "BCEWithLogitsLoss()" and config["optimizer"] == "Adam(lr=0.02)"
    assert config["data"] == {
        "source": "moons",
        "options": {"n": 200, "noise": 0.2, "normalize": True, "val_split": 0.25},
    }
    assert config["task"] == {"kind": "binary", "decision": "logit"}
    assert "class_names" in config
    assert len(config["normalization"]["mean"]) == 2
    assert config["samples"] == {"train": 150, "val": 50}


# ---- the same numbers from `nndsl run`, the generated train.py and the Lightning target ------------


def _moons_job(folder: Path, out: int, loss: str, metrics: str) -> str:
    return MOONS.format(out=out, loss=loss).replace(
        "metrics   = [accuracy, f1, precision, recall]", f"metrics   = [{metrics}]"
    )


def _multilabel_job(folder: Path) -> str:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    np.savez(folder / "labels.npz", x=x, y=(x[:, :3] > 0).astype(np.int64))
    return """
model Tagger {
    input x: [B, 6]
    Linear(8) -> relu -> Linear(3)
}

train {
    data      = npz("labels.npz", val_split=0.25)
    loss      = BCEWithLogitsLoss(pos_weight=[1.0, 2.0, 1.0])
    optimizer = Adam(lr=0.02)
    epochs    = 2
    metrics   = [accuracy, f1]
}
"""


def _regression_job(folder: Path) -> str:
    rows = ["a,b,price"] + [f"{i % 7},{i % 5},{3 * (i % 7) + i % 5}" for i in range(80)]
    (folder / "p.csv").write_text("\n".join(rows) + "\n")
    return """
model Price {
    input x: [B, 2]
    Linear(8) -> relu -> Linear(1)
}

train {
    data      = csv("p.csv", target="price", val_split=0.25)
    loss      = MSELoss()
    optimizer = Adam(lr=0.02)
    epochs    = 2
    metrics   = [mae, r2]
}
"""


def _token_job(folder: Path) -> str:
    rng = np.random.default_rng(2)
    tokens = rng.integers(1, 10, size=(80, 6))
    np.savez(folder / "tokens.npz", x=tokens, y=(tokens[:, 0] >= 5).astype(np.int64))
    return """
model Tokens {
    input tokens: long[B, 6]
    tokens -> Embedding(10, 8) -> flatten -> Linear(2)
}

train {
    data      = npz("tokens.npz", val_split=0.25, test_split=0.25)
    loss      = CrossEntropyLoss(weight=[1.0, 2.0])
    optimizer = Adam(lr=0.05)
    epochs    = 2
    metrics   = [accuracy, precision]
}
"""


def _segmentation_job(folder: Path) -> str:
    rng = np.random.default_rng(4)
    x = rng.normal(0, 0.3, (12, 1, 16, 16)).astype(np.float32)
    masks = (x[:, 0] > 0.2).astype(np.int64)
    np.savez(folder / "masks.npz", x=x, y=masks)
    return (
        UNET.replace("[B, 1, 64, 64]", "[B, 1, 16, 16]").replace(
            "DoubleConv(128)", "DoubleConv(16)"
        )
        + """
train {
    model     = UNet
    data      = npz("masks.npz", val_split=0.25)
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=0.01)
    epochs    = 2
    batch_size = 4
    metrics   = [accuracy, recall]
}
"""
    )


JOBS = {
    "binary": lambda f: _moons_job(f, 1, "BCEWithLogitsLoss()", "accuracy, f1"),
    "binary-probabilities": lambda f: _moons_job(f, 1, "BCELoss()", "precision, recall").replace(
        "Linear(1)\n", "Linear(1) -> sigmoid\n"
    ),
    "class-weights": lambda f: _moons_job(f, 2, "CrossEntropyLoss(weight=[1.0, 3.0])", "f1"),
    "multilabel": _multilabel_job,
    "integer-regression": _regression_job,
    "tokens": _token_job,
    "segmentation": _segmentation_job,
}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    import csv

    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
@pytest.mark.parametrize("job", sorted(JOBS))
def test_run_generated_and_lightning_give_the_same_numbers(
    job: str, tmp_path: Path, capsys
) -> None:
    import subprocess
    import sys

    from nndsl.codegen import generate_files

    spec = write(tmp_path, "job.nn", JOBS[job](tmp_path))
    code, err = cli_run(capsys, str(spec), "--out", str(tmp_path / "run"), "--quiet")
    assert code == 0, err
    expected = _csv_rows(tmp_path / "run" / "metrics.csv")
    keys = [k for k in expected[0] if k.startswith(("train_", "val_"))]
    assert len(keys) >= 4
    checked = nndsl.load(spec).checked
    models = [m for m, inst in checked.models.items() if inst is not None]
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    targets = ["pytorch"]
    try:
        import lightning  # noqa: F401

        targets.append("lightning")
    except ImportError:
        pass
    for target in targets:
        folder = tmp_path / target
        folder.mkdir()
        for name, content in generate_files(checked, models, target=target).items():
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        proc = subprocess.run(
            [
                sys.executable,
                "train.py",
                "--out",
                "run",
                *(["--quiet"] if target == "pytorch" else []),
            ],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = _csv_rows(folder / "run" / "metrics.csv")
        for key in keys:
            got = [float(r[key]) for r in rows if r.get(key)]
            want = [float(r[key]) for r in expected]
            assert got == pytest.approx(want, rel=1e-5, abs=1e-6), (target, key)
    if (tmp_path / "run" / "test_metrics.json").exists():
        want = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
        got = json.loads((tmp_path / "pytorch" / "run" / "test_metrics.json").read_text())
        assert got == pytest.approx(want, rel=1e-6)
