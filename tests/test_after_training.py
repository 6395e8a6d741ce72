"""After training: `export` (TorchScript, ONNX, pt2; verified) and `evaluate` of a checkpoint.

A small iris MLP (with a val and a test split, normalised inputs) is trained for two epochs once; the exported
files are loaded back independently and compared with the PyTorch model on a fresh batch, and
`evaluate` is compared with a computation by hand on the run's own prepared data and with what
training itself reported.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nndsl  # noqa: E402
from nndsl.cli import main  # noqa: E402

SPEC = """\
model IrisMLP {
    input x: [B, 4]
    Linear(16) -> relu -> Linear(3)
}

train {
    model      = IrisMLP
    data       = iris(val_split=0.2, test_split=0.2, normalize=true)
    loss       = CrossEntropyLoss(label_smoothing=0.1)
    optimizer  = Adam(lr=0.01)
    epochs     = 2
    batch_size = 16
    metrics    = [accuracy, f1]
    seed       = 0
}
"""

HAS_ONNX = all(importlib.util.find_spec(p) for p in ("onnx", "onnxruntime"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("after")
    spec = folder / "iris_small.nn"
    spec.write_text(SPEC)
    program = nndsl.load(str(spec))
    run = folder / "run"
    history = program.train(out=run, quiet=True)
    assert len(history) == 2
    return program, spec, run


def by_hand(program, checkpoint):
    """The spec's model with the checkpoint's weights, loaded by hand."""
    model = program.build("IrisMLP")
    model.load_state_dict(torch.load(checkpoint, weights_only=True)["model"])
    return model.eval()


FORMATS = [
    "torchscript",
    "pt2",
    pytest.param(
        "onnx", marks=pytest.mark.skipif(not HAS_ONNX, reason="onnx/onnxruntime not installed")
    ),
]


def run_exported(fmt: str, path, x):
    if fmt == "torchscript":
        return torch.jit.load(str(path))(x)
    if fmt == "pt2":
        return torch.export.load(str(path)).module()(x)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return torch.from_numpy(session.run(None, {name: x.numpy()})[0])


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_equals_the_pytorch_model(trained, tmp_path, fmt):
    program, _, run = trained
    out = tmp_path / f"iris.{fmt}"
    done = program.export(run / "last.pt", out, fmt)
    assert out.is_file() and done["model"] == "IrisMLP" and done["batch"] == 3
    assert done["max_abs_diff"] <= done["atol"] + done["rtol"]
    model = by_hand(program, run / "last.pt")
    x = torch.randn(7, 4, generator=torch.Generator().manual_seed(5))  # another batch size
    with torch.no_grad():
        expected = model(x)
        got = run_exported(fmt, out, x)
    assert got.shape == expected.shape == (7, 3)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(expected, program.build("IrisMLP").eval()(x))  # weights loaded
    assert list(tmp_path.iterdir()) == [out]  # no temporary file left


def test_export_cli(trained, tmp_path, capsys):
    _, spec, run = trained
    out = tmp_path / "m.pt"
    rc = main(
        [
            "export",
            str(spec),
            "--checkpoint",
            str(run / "last.pt"),
            "--format",
            "torchscript",
            "-o",
            str(out),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert "verified on a random batch of 3" in capsys.readouterr().out
    model = by_hand(trained[0], run / "last.pt")
    x = torch.randn(4, 4)
    assert torch.allclose(torch.jit.load(str(out))(x), model(x).detach(), rtol=1e-4, atol=1e-5)


def test_evaluate_equals_a_hand_computation(trained):
    program, _, run = trained
    result = program.evaluate(run / "last.pt", split="test")
    # the run's own prepared data (same source, seed, splits as training)
    data = np.load(run / "data.npz")
    x, y = torch.from_numpy(data["test_x"]), torch.from_numpy(data["test_y"])
    model = by_hand(program, run / "last.pt")
    with torch.no_grad():
        out = model(x)
    loss = float(torch.nn.CrossEntropyLoss(label_smoothing=0.1)(out, y))
    pred = out.argmax(1)
    accuracy = float((pred == y).double().mean())
    confusion = np.zeros((3, 3), dtype=int)
    for t, p in zip(y.tolist(), pred.tolist()):
        confusion[t, p] += 1
    f1s = []
    for c in range(3):
        tp = confusion[c, c]
        fp, fn = confusion[:, c].sum() - tp, confusion[c, :].sum() - tp
        if tp + fp + fn:
            f1s.append(2 * tp / (2 * tp + fp + fn))
    assert result["split"] == "test" and result["samples"] == len(y) == 30
    m = result["metrics"]
    assert math.isclose(m["test_loss"], loss, rel_tol=1e-6)
    assert m["test_accuracy"] == accuracy
    assert math.isclose(m["test_f1"], float(np.mean(f1s)), rel_tol=1e-9)
    assert result["confusion"] == confusion.tolist()
    assert result["class_names"] == [str(c) for c in data["class_names"]]


def test_evaluate_equals_what_training_reported(trained):
    program, _, run = trained
    reported = json.loads((run / "test_metrics.json").read_text())
    test = program.evaluate(run / "last.pt")  # default: the test split
    for key, value in test["metrics"].items():
        assert reported[key] == value, key
    lines = (run / "metrics.csv").read_text().splitlines()
    header, last = lines[0].split(","), lines[-1].split(",")
    history = dict(zip(header, last))
    val = program.evaluate(run / "last.pt", split="val")
    assert val["split"] == "val" and val["samples"] == 30
    for key, value in val["metrics"].items():
        assert math.isclose(float(history[key]), value, rel_tol=1e-9), key


def test_evaluate_cli_prints_metrics_and_confusion(trained, capsys):
    _, spec, run = trained
    assert main(["evaluate", str(spec), "--checkpoint", str(run / "last.pt")]) == 0
    text = capsys.readouterr().out
    assert "test split: 30 samples" in text and "test_accuracy" in text
    assert "confusion matrix (rows: true class, columns: predicted class)" in text


def bad(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "Traceback" not in err and err.startswith("nndsl: error: ")
    assert len(err.strip().splitlines()) == 1, err
    return err


def test_bad_inputs_are_messages(trained, tmp_path, capsys, monkeypatch):
    program, spec, run = trained
    ckpt = str(run / "last.pt")
    export = ["export", str(spec), "--format", "torchscript", "-o", str(tmp_path / "m.pt")]
    assert "no checkpoint at" in bad(capsys, [*export, "--checkpoint", str(tmp_path / "no.pt")])
    assert "no checkpoint at" in bad(
        capsys, ["evaluate", str(spec), "--checkpoint", str(tmp_path / "no.pt")]
    )
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"not a checkpoint")
    assert "damaged" in bad(capsys, [*export, "--checkpoint", str(damaged)])
    other = tmp_path / "other.pt"
    torch.save({"model": torch.nn.Linear(4, 3).state_dict(), "config": {}}, other)
    err = bad(capsys, [*export, "--checkpoint", str(other)])
    assert "does not fit" in err and "missing keys" in err and "unexpected keys weight" in err
    err = bad(capsys, ["evaluate", str(spec), "--checkpoint", str(other)])
    assert "does not fit" in err
    err = bad(capsys, [*export[:-2], "-o", str(tmp_path / "none" / "m.pt"), "--checkpoint", ckpt])
    assert "cannot write" in err
    err = bad(capsys, ["evaluate", str(spec), "--checkpoint", ckpt, "--train", "Other"])
    assert "no train section `Other`" in err
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    err = bad(
        capsys,
        [
            "export",
            str(spec),
            "--checkpoint",
            ckpt,
            "--format",
            "onnx",
            "-o",
            str(tmp_path / "m.onnx"),
        ],
    )
    assert "pip install 'nndsl[onnx]'" in err
    assert not (tmp_path / "m.pt").exists() and not (tmp_path / "m.onnx").exists()


def test_an_output_never_overwrites_an_input(trained, tmp_path, capsys):
    """`-o` naming the spec, the checkpoint or an input file is refused (export used to
    replace the spec with the TorchScript archive)."""
    program, spec, run = trained
    ckpt = run / "last.pt"
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b,c,d\n5.1,3.5,1.4,0.2\n")
    before = {p: p.read_bytes() for p in (spec, ckpt, rows)}
    export = ["export", str(spec), "--checkpoint", str(ckpt), "--format", "torchscript"]
    predict = ["predict", str(spec), "--checkpoint", str(ckpt), str(rows)]
    for argv in (
        [*export, "-o", str(spec)],
        [*export, "-o", str(ckpt)],
        [*predict, "-o", str(spec)],
        [*predict, "-o", str(ckpt)],
        [*predict, "-o", str(rows)],
    ):
        err = bad(capsys, argv)
        assert "would overwrite the input" in err, argv
    assert {p: p.read_bytes() for p in before} == before


def test_evaluate_without_the_split(tmp_path, capsys):
    spec = tmp_path / "iris_val.nn"
    spec.write_text(SPEC.replace(", test_split=0.2", "").replace("epochs     = 2", "epochs = 1"))
    program = nndsl.load(str(spec))
    program.train(out=tmp_path / "run", quiet=True)
    assert program.evaluate(tmp_path / "run" / "last.pt")["split"] == "val"
    err = bad(
        capsys,
        [
            "evaluate",
            str(spec),
            "--checkpoint",
            str(tmp_path / "run" / "last.pt"),
            "--split",
            "test",
        ],
    )
    assert "no test split" in err


def raw_iris_rows(n: int) -> np.ndarray:
    from nndsl.data import sources

    return sources.iris().x[::30][:n].astype(np.float32)  # unnormalised, as a user has them


def predicted_by_hand(program, run, x: np.ndarray, k: int):
    data = np.load(run / "data.npz")
    names = [str(c) for c in data["class_names"]]
    z = (x - data["norm_mean"]) / data["norm_std"]
    with torch.no_grad():
        probs = by_hand(program, run / "last.pt")(torch.from_numpy(z.astype(np.float32)))
    values, indices = probs.softmax(1).topk(k, dim=1)
    return [[names[i] for i in row] for row in indices.tolist()], values.tolist()


def test_predict_npz_and_csv_equal_the_model_by_hand(trained, tmp_path):
    program, _, run = trained
    x = raw_iris_rows(5)
    np.savez(tmp_path / "new.npz", x=x)
    (tmp_path / "new.csv").write_text(
        "sepal_length,sepal_width,petal_length,petal_width\n"
        + "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x)
    )
    classes, probs = predicted_by_hand(program, run, x, 2)
    for name in ("new.npz", "new.csv"):
        rows = program.predict(run / "last.pt", tmp_path / name, top=2)
        assert [[r["class"], r["class_2"]] for r in rows] == classes
        got = [[r["probability"], r["probability_2"]] for r in rows]
        assert np.allclose(got, probs, rtol=1e-5, atol=1e-6)
        assert set(rows[0]) == {"class", "probability", "class_2", "probability_2"}
    assert {c[0] for c in classes} <= {"setosa", "versicolor", "virginica"}


def test_predict_with_a_moved_checkpoint(trained, tmp_path):
    """Without the run folder's config.json the statistics come from the spec's data."""
    program, _, run = trained
    moved = tmp_path / "moved.pt"
    moved.write_bytes((run / "last.pt").read_bytes())
    np.savez(tmp_path / "new.npz", x=raw_iris_rows(4))
    assert program.predict(moved, tmp_path / "new.npz") == program.predict(
        run / "last.pt", tmp_path / "new.npz"
    )


def test_predict_cli_writes_csv(trained, tmp_path, capsys):
    program, spec, run = trained
    np.savez(tmp_path / "new.npz", raw_iris_rows(3))  # the only array, unnamed
    out = tmp_path / "predictions.csv"
    argv = ["predict", str(spec), str(tmp_path / "new.npz"), "--checkpoint", str(run / "last.pt")]
    assert main([*argv, "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    classes, _ = predicted_by_hand(program, run, raw_iris_rows(3), 1)
    assert lines[0] == "class,probability" and len(lines) == 4
    assert [line.split(",")[0] for line in lines[1:]] == [c[0] for c in classes]
    capsys.readouterr()
    np.savez(tmp_path / "wrong.npz", x=np.zeros((2, 3), dtype=np.float32))
    wrong = [*argv[:2], str(tmp_path / "wrong.npz"), *argv[3:]]
    err = bad(capsys, wrong)
    assert "takes [B, 4]" in err and "shape [3]" in err
    (tmp_path / "x.txt").write_text("1,2,3,4\n")
    assert "reads .npz and .csv" in bad(capsys, [*argv[:2], str(tmp_path / "x.txt"), *argv[3:]])


TOKENS = """\
model Tagger {
    input tokens: long[B, T]
    emb = tokens -> Embedding(20, 8)
    out, h = emb -> GRU(8, batch_first=true)
    out -> Linear(3)
}
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_integer_inputs_without_a_train_section(tmp_path, fmt):
    """`long[B, T]`: integer example inputs, T bound to a small size; weights from a bare
    state_dict; the batch stays dynamic."""
    program = nndsl.load(TOKENS)
    model = program.build("Tagger").eval()
    torch.save(model.state_dict(), tmp_path / "weights.pt")
    out = tmp_path / f"tagger.{fmt}"
    done = program.export(tmp_path / "weights.pt", out, fmt)
    assert done["model"] == "Tagger" and done["batch"] == 3
    x = torch.randint(0, 20, (5, 8))
    with torch.no_grad():
        expected = model(x)
        got = run_exported(fmt, out, x)
    assert got.shape == expected.shape == (5, 8, 3)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-5)
