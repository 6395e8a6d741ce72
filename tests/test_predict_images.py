"""`predict` on image files and folders, and string class names, against the model by hand.

An image_folder of digits (PNG, 16x16 RGB, three classes named by folder) is trained with
`size=8, grayscale=true, normalize=true`; new PNGs of another size are predicted through the
checkpoint alone, and compared with the images prepared by hand (PIL: grayscale, bilinear resize
to 8x8, /255, the training's statistics) and run through the model.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

import nndsl  # noqa: E402
from nndsl.cli import main  # noqa: E402

CLASSES = ("one", "three", "zero")  # folder names (sorted: the class order)
DIGIT = {"one": 1, "three": 3, "zero": 0}

SPEC = """\
model Small {
    input x: [B, 1, 8, 8]
    flatten -> Linear(32) -> relu -> Linear(3)
}

train {
    data      = image_folder("images", size=8, grayscale=true, normalize=true, val_split=0.2)
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=0.01)
    epochs    = 3
    batch_size = 16
    metrics   = [accuracy]
}
"""


def digits_png(folder: Path, side: int, per_class: int, offset: int = 0) -> list[Path]:
    from nndsl.data import sources

    data = sources.digits()
    written = []
    for name in CLASSES:
        (folder / name).mkdir(parents=True, exist_ok=True)
        picks = np.flatnonzero(data.y == DIGIT[name])[offset : offset + per_class]
        for i in picks:
            gray = (data.x[i, 0] * 255).astype(np.uint8)
            rgb = np.stack([gray, gray, gray // 2], axis=-1)
            path = folder / name / f"{i:04d}.png"
            Image.fromarray(rgb).resize((side, side), Image.Resampling.NEAREST).save(path)
            written.append(path)
    return written


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    digits_png(folder / "images", 16, 30)
    spec = folder / "small.nn"
    spec.write_text(SPEC)
    program = nndsl.load(str(spec))
    program.train(out=folder / "run", quiet=True)
    return program, spec, folder


def by_hand(program, run: Path, files: list[Path]) -> tuple[list[str], np.ndarray]:
    data = np.load(run / "data.npz")
    x = np.stack(
        [
            np.asarray(
                Image.open(f).convert("L").resize((8, 8), Image.Resampling.BILINEAR),
                dtype=np.float32,
            )[None]
            / 255.0
            for f in files
        ]
    )
    x = (x - data["norm_mean"]) / data["norm_std"]
    model = program.build("Small")
    model.load_state_dict(torch.load(run / "last.pt", weights_only=True)["model"])
    with torch.no_grad():
        probs = model.eval()(torch.from_numpy(x.astype(np.float32))).softmax(1)
    names = [str(c) for c in data["class_names"]]
    return [names[i] for i in probs.argmax(1).tolist()], probs.max(1).values.numpy()


def test_predict_png_folder_equals_the_model_by_hand(trained, tmp_path):
    program, _, folder = trained
    new = tmp_path / "new"
    files = sorted(digits_png(new, 24, 4, offset=40))  # another size: resized as in training
    moved = tmp_path / "model.pt"
    shutil.copy(folder / "run" / "last.pt", moved)  # away from its run folder
    rows = program.predict(moved, new, top=2)
    classes, probs = by_hand(program, folder / "run", files)
    assert [r["file"] for r in rows] == [str(f) for f in files]
    assert [r["class"] for r in rows] == classes
    assert np.allclose([r["probability"] for r in rows], probs, rtol=1e-5, atol=1e-6)
    assert set(rows[0]) == {"file", "class", "probability", "class_2", "probability_2"}
    assert sum(c == f.parent.name for c, f in zip(classes, files)) >= 8  # it learnt something
    # single files, several inputs
    two = program.predict(moved, [files[0], files[5]])
    assert [r["class"] for r in two] == [classes[0], classes[5]]


def test_predict_npz_of_images_equals_the_image_files(trained, tmp_path, capsys):
    """An .npz of decoded images (the training's size and channels) as 8-bit pixels or floats
    in [0, 1]: standardised with the training's statistics, as the image files are."""
    program, spec, folder = trained
    files = sorted(digits_png(tmp_path / "new", 8, 3, offset=40))
    gray = np.stack([np.asarray(Image.open(f).convert("L"))[None] for f in files])
    np.savez(tmp_path / "u8.npz", x=gray)
    np.savez(tmp_path / "f.npz", x=gray.astype(np.float32) / np.float32(255.0))
    ckpt = folder / "run" / "last.pt"
    by_files = [{k: v for k, v in r.items() if k != "file"} for r in program.predict(ckpt, files)]
    assert program.predict(ckpt, tmp_path / "u8.npz") == by_files
    assert program.predict(ckpt, tmp_path / "f.npz") == by_files
    np.savez(tmp_path / "big.npz", x=np.zeros((2, 1, 16, 16), np.uint8))
    code = main(["predict", str(spec), str(tmp_path / "big.npz"), "--checkpoint", str(ckpt)])
    err = capsys.readouterr().err
    assert code == 1 and f"{tmp_path / 'big.npz'} holds images of 16x16; a model" in err
    assert "arrays of images [n, 1, H, W] of 8x8 (width x height)" in err


def test_predict_images_cli(trained, tmp_path, capsys):
    program, spec, folder = trained
    files = digits_png(tmp_path / "new", 16, 2, offset=50)
    out = tmp_path / "p.csv"
    argv = ["predict", str(spec), str(files[0]), str(files[1])]
    assert main([*argv, "--checkpoint", str(folder / "run" / "last.pt"), "-o", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "file,class,probability" and len(lines) == 3
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    ckpt = ["--checkpoint", str(folder / "run" / "last.pt")]
    assert main(["predict", str(spec), str(empty), *ckpt]) == 1
    assert "holds no images" in capsys.readouterr().err
    (tmp_path / "bad.png").write_bytes(b"not a png")
    assert main(["predict", str(spec), str(tmp_path / "bad.png"), *ckpt]) == 1
    err = capsys.readouterr().err
    assert "cannot read the image" in err and "Traceback" not in err


def test_evaluate_image_data_prints_confusion(trained, capsys):
    _, spec, folder = trained
    assert main(["evaluate", str(spec), "--checkpoint", str(folder / "run" / "last.pt")]) == 0
    out = capsys.readouterr().out
    assert "confusion matrix" in out and "three" in out


STRINGS = """\
model M {
    input x: [B, 2]
    Linear(16) -> relu -> Linear(3)
}

train {
    data      = csv("animals.csv", target="kind", normalize=true, val_split=0.25)
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=0.05)
    epochs    = 20
    batch_size = 16
    metrics   = [accuracy]
}
"""


def animals(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = {"cat": (0.0, 10.0), "dog": (5.0, 10.0), "mouse": (2.5, 0.0)}
    lines = ["weight,height,kind"]
    for i in range(n):
        kind = list(centres)[i % 3]
        a, b = rng.normal(centres[kind], 0.8)
        lines.append(f"{a:.4f},{b:.4f},{kind}")
    path.write_text("\n".join(lines) + "\n")


def test_string_class_names_round_trip(tmp_path, capsys):
    animals(tmp_path / "animals.csv", 120, 0)
    spec = tmp_path / "animals.nn"
    spec.write_text(STRINGS)
    program = nndsl.load(str(spec))
    program.train(out=tmp_path / "run", quiet=True)
    ckpt = tmp_path / "run" / "last.pt"
    about = torch.load(ckpt, weights_only=True)["about"]
    assert about["class_names"] == ["cat", "dog", "mouse"]
    animals(tmp_path / "new.csv", 9, 1)  # with the `kind` column: left out of the inputs
    rows = program.predict(ckpt, tmp_path / "new.csv")
    truth = [line.split(",")[2] for line in (tmp_path / "new.csv").read_text().splitlines()[1:]]
    assert [r["class"] for r in rows] == truth
    # evaluate on these rows: the labels are read as the training's classes
    argv = ["evaluate", str(spec), "--checkpoint", str(ckpt), "--data"]
    assert main([*argv, 'csv("new.csv", target="kind")']) == 0
    out = capsys.readouterr().out
    assert "all split: 9 samples" in out and "all_accuracy" in out
    assert "confusion matrix" in out and "mouse" in out


def test_evaluate_data_equals_a_hand_computation(tmp_path, capsys):
    """`evaluate --data` on new rows with only two of the three classes (so the new file's
    own class indices would be wrong): loss and accuracy by hand, with the training's
    statistics and classes."""
    animals(tmp_path / "animals.csv", 120, 0)
    spec = tmp_path / "animals.nn"
    spec.write_text(STRINGS)
    program = nndsl.load(str(spec))
    program.train(out=tmp_path / "run", quiet=True)
    ckpt = tmp_path / "run" / "last.pt"
    animals(tmp_path / "new.csv", 12, 2)
    lines = (tmp_path / "new.csv").read_text().splitlines()
    kept = [lines[0]] + [line for line in lines[1:] if not line.endswith(",cat")]
    (tmp_path / "new.csv").write_text("\n".join(kept) + "\n")
    got = program.evaluate(ckpt, data='csv("new.csv", target="kind")')
    rows = [line.split(",") for line in kept[1:]]
    x = np.array([[float(a), float(b)] for a, b, _ in rows], dtype=np.float32)
    names = ["cat", "dog", "mouse"]
    y = torch.tensor([names.index(k) for _, _, k in rows])
    data = np.load(tmp_path / "run" / "data.npz")
    z = torch.from_numpy(((x - data["norm_mean"]) / data["norm_std"]).astype(np.float32))
    model = program.build("M")
    model.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    with torch.no_grad():
        out = model.eval()(z)
    loss = float(torch.nn.functional.cross_entropy(out, y))
    accuracy = float((out.argmax(1) == y).float().mean())
    assert got["split"] == "all" and got["samples"] == len(rows) == 8
    assert got["metrics"]["all_loss"] == pytest.approx(loss, rel=1e-5)
    assert got["metrics"]["all_accuracy"] == pytest.approx(accuracy)
    assert got["class_names"] == names and len(got["confusion"]) == 3
    assert sum(got["confusion"][0]) == 0  # no cat in the new rows
    # bad --data: located errors and messages, no traceback
    argv = ["evaluate", str(spec), "--checkpoint", str(ckpt), "--data"]
    assert main([*argv, 'csv("new.csv", target="kind", val_splt=0.2)']) == 1
    err = capsys.readouterr().err
    assert "val_splt" in err and "^" in err and "Traceback" not in err
    (tmp_path / "birds.csv").write_text("weight,height,kind\n1.0,2.0,bird\n")
    assert main([*argv, 'csv("birds.csv", target="kind")']) == 1
    err = capsys.readouterr().err
    assert "class 'bird', which the model was not trained on" in err
    assert main([*argv, 'csv("missing.csv", target="kind")']) == 1
    assert "missing.csv" in capsys.readouterr().err


def test_predict_csv_of_wrong_columns_is_a_message(tmp_path, capsys):
    animals(tmp_path / "animals.csv", 30, 0)
    spec = tmp_path / "animals.nn"
    spec.write_text(STRINGS.replace("epochs    = 20", "epochs    = 1"))
    nndsl.load(str(spec)).train(out=tmp_path / "run", quiet=True)
    ckpt = ["--checkpoint", str(tmp_path / "run" / "last.pt")]
    capsys.readouterr()
    (tmp_path / "short.csv").write_text("weight,kind\n1.0,cat\n")
    assert main(["predict", str(spec), str(tmp_path / "short.csv"), *ckpt]) == 1
    err = capsys.readouterr().err
    assert "takes [B, 2]" in err and "shape [1]" in err and "Traceback" not in err
    (tmp_path / "text.csv").write_text("weight,height\nheavy,2.0\n")
    assert main(["predict", str(spec), str(tmp_path / "text.csv"), *ckpt]) == 1
    err = capsys.readouterr().err
    assert "heavy" in err and "Traceback" not in err
