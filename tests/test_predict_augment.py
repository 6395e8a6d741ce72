"""`predict` and `evaluate --data` on a model trained from a streaming image folder with
deterministic `augment` transforms (resize, normalize) and a random one (hflip): new images
are prepared by the training script's own `ImageFiles` as it prepares validation images (the
deterministic transforms, never the random ones), so predicting on the validation images gives
exactly the outputs of the model on the validation batches the training code reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")

import nndsl  # noqa: E402
from nndsl.cli import main  # noqa: E402

SPEC = """\
model Tiny {{
    input x: [B, 3, 8, 8]
    Conv2d(4, 3, padding=1) -> relu -> flatten -> Linear(2)
}}

train {{
    model = Tiny
    data = image_folder("images", {options}, val_split=0.25, workers=0)
    loss = CrossEntropyLoss()
    optimizer = Adam(lr=1e-2)
    epochs = 2
    batch_size = 8
    metrics = [accuracy]
}}
"""
AUGMENT = (
    "augment=[hflip(), resize(8), normalize([0.4, 0.5, 0.6], [0.2, 0.25, 0.3])], normalize=true"
)


def make_images(root: Path, per_class: int, side: int, seed: int = 0) -> list[Path]:
    """A folder of class folders of PNGs (`side` x `side`): class k's pixels are darker,
    and each image brighter on its left than its right (so a flip changes the outputs)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(1.0, 0.4, side)[None, :, None]
    written = []
    for k, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = (rng.random((side, side, 3)) * (255 if k else 110) * ramp).astype(np.uint8)
            path = root / name / f"{i:03d}.png"
            Image.fromarray(pixels).save(path)
            written.append(path)
    return written


def trained_run(folder: Path, options: str, side: int = 12):
    make_images(folder / "images", 12, side)
    spec = folder / "spec.nn"
    spec.write_text(SPEC.format(options=options))
    program = nndsl.load(str(spec))
    program.train(out=folder / "run", quiet=True)
    return program, spec, folder / "run" / "last.pt"


@pytest.fixture(scope="module")
def augmented(tmp_path_factory):
    return trained_run(tmp_path_factory.mktemp("augmented"), AUGMENT)


def validation_outputs(program, run: Path, ckpt: Path) -> tuple[list[str], torch.Tensor]:
    """(the validation images' files, the model's outputs on them), read by the training
    script's own data code (load_stream, ImageFiles, the DataLoader of its `evaluate`)."""
    module = program.modules()["train"]
    utils = program.modules()["training_utils"]
    data = utils.load_stream(str(run / "data.json"), module.ImageFiles)
    val = data["val"]
    files = [str(val.folder / name.decode()) for name in val.files]
    model = program.build("Tiny")
    model.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    model.eval()
    sampler = utils.EvalBatches(len(val), 8, 1, 0)
    loader = torch.utils.data.DataLoader(val, batch_sampler=sampler)
    with torch.no_grad():
        outputs = torch.cat([model(x) for x, _ in loader])
    return files, outputs


def test_predict_on_validation_images_gives_the_validation_outputs(augmented, tmp_path):
    program, _, ckpt = augmented
    run = ckpt.parent
    files, outputs = validation_outputs(program, run, ckpt)
    moved = tmp_path / "model.pt"
    shutil.copy(ckpt, moved)  # away from its run folder: the checkpoint says it all
    rows = program.predict(moved, files, top=2)
    assert [r["file"] for r in rows] == files
    probs = outputs.softmax(1)
    names = ["cat", "dog"]
    assert [r["class"] for r in rows] == [names[i] for i in probs.argmax(1).tolist()]
    got = np.array([[r["probability"], r["probability_2"]] for r in rows])
    expected = probs.sort(1, descending=True).values.numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_the_random_flip_is_not_applied_and_the_resize_is(augmented, tmp_path):
    """A flipped copy of an image gets other outputs (so a flip would show), and a larger
    copy of it (20x20) is resized by the spec's resize(8) like the training images."""
    program, _, ckpt = augmented
    source = sorted((ckpt.parent.parent / "images" / "dog").glob("*.png"))[0]
    picture = Image.open(source)
    picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(tmp_path / "flipped.png")
    picture.resize((20, 20), Image.Resampling.NEAREST).save(tmp_path / "large.png")
    rows = program.predict(ckpt, [source, tmp_path / "flipped.png", tmp_path / "large.png"])
    assert [r["file"] for r in rows][0] == str(source)
    assert abs(rows[0]["probability"] - rows[1]["probability"]) > 1e-6
    again = program.predict(ckpt, [source, source])
    assert again[0] == again[1] and again[0]["probability"] == rows[0]["probability"]
    # the larger image: decoded, then resize(8) and the rest, as a validation image
    module = program.modules()["train"]
    data = {
        "image_size": [20, 20],
        "normalization": torch.load(ckpt, weights_only=True)["about"]["normalization"],
        "float_targets": False,
    }
    by_script = module.ImageFiles(tmp_path, np.array([b"large.png"]), np.zeros(1), data, False)
    model = program.build("Tiny")
    model.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    with torch.no_grad():
        p = model.eval()(by_script[(0, 0)][0][None]).softmax(1).max().item()
    assert rows[2]["probability"] == pytest.approx(p, rel=1e-6)


def test_an_image_of_another_size_without_a_resize_is_a_located_error(tmp_path, capsys):
    """The spec decodes the training's 8x8 images as they are (its transforms keep the
    size): a 12x12 image does not fit the model, an error at the spec's data naming it."""
    program, spec, ckpt = trained_run(
        tmp_path, "augment=[hflip(), normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])]", side=8
    )
    make_images(tmp_path / "big", 1, 12)
    big = tmp_path / "big" / "cat" / "000.png"
    out = tmp_path / "p.csv"
    code = main(["predict", str(spec), str(big), "--checkpoint", str(ckpt), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists()
    assert "Traceback" not in err
    assert f"{big} is 12x12 (width x height)" in err
    assert "[3, 12, 12], but model `Tiny` takes" in err
    assert "spec.nn:" in err and "image_folder(" in err  # at the data, with its excerpt
    assert "give images of 8x8, or let the data resize them: size=(height, width)" in err
    # evaluate --data on a folder of such images: the same error, at --data
    argv = ["evaluate", str(spec), "--checkpoint", str(ckpt), "--data", 'image_folder("big")']
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "model `Tiny` takes [B, 3, 8, 8], but the images of the data" in err
    assert "[3, 12, 12]" in err and "--data" in err and "Traceback" not in err
    # a file that is not an image
    (tmp_path / "bad.png").write_bytes(b"not a png")
    argv = ["predict", str(spec), str(tmp_path / "bad.png"), "--checkpoint", str(ckpt)]
    assert main([*argv, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"cannot read the image {tmp_path / 'bad.png'}" in err
    assert "Traceback" not in err and not out.exists()
    # the images of the training's size: the numbers of validation (with its normalize(...),
    # which a preparation that only standardises would miss)
    files, outputs = validation_outputs(program, ckpt.parent, ckpt)
    rows = program.predict(ckpt, files)
    expected = outputs.softmax(1).max(1).values.numpy()
    np.testing.assert_allclose([r["probability"] for r in rows], expected, rtol=1e-6, atol=1e-7)


@pytest.fixture
def fake_torchvision():
    """The stand-in torchvision of tests/fake_torchvision importable in this process (see
    tests/test_tv_transforms.py), forgotten afterwards."""
    import sys

    fake = str(Path(__file__).parent / "fake_torchvision")
    sys.path.insert(0, fake)
    yield
    sys.path.remove(fake)
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def test_torchvision_transforms_predict_as_validation(tmp_path, fake_torchvision):
    """torchvision.transforms.v2 names: TRANSFORMS (Resize, Normalize) applied, the random
    TRAIN_TRANSFORMS (RandomHorizontalFlip) not."""
    program, _, ckpt = trained_run(
        tmp_path,
        "augment=[RandomHorizontalFlip(), Resize(8), Normalize([0.5, 0.4, 0.3], [0.2, 0.25, 0.3])]",
    )
    assert "v2.Resize" in program.generated_sources()["train.py"]
    files, outputs = validation_outputs(program, ckpt.parent, ckpt)
    rows = program.predict(ckpt, files)
    expected = outputs.softmax(1).max(1).values.numpy()
    np.testing.assert_allclose([r["probability"] for r in rows], expected, rtol=1e-6, atol=1e-7)


# ---- evaluate --data on an image folder: streamed, the numbers of the whole-load path ---------

PLAIN = "size=8, normalize=true"


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A model trained on a small folder loaded whole (no augment): both paths apply."""
    folder = tmp_path_factory.mktemp("plain")
    out = trained_run(folder, PLAIN, side=10)
    make_images(folder / "new", 7, 12, seed=5)  # another size: size=8 resizes
    make_images(folder / "both", 4, 8, seed=6)
    (folder / "dogs").mkdir()
    (folder / "both" / "dog").rename(folder / "dogs" / "dog")  # only the second class
    return out


def whole(monkeypatch, program, ckpt, **kw) -> dict:
    """evaluate with the images loaded whole (the path before streaming)."""
    from nndsl import after

    with monkeypatch.context() as m:
        m.setattr(after, "streamed_other_images", lambda *a, **k: None)
        return program.evaluate(ckpt, **kw)


@pytest.mark.parametrize(
    "data, split",
    [
        ('image_folder("new", size=8)', None),
        ('image_folder("new", size=8, val_split=0.3, test_split=0.2)', "val"),
        ('image_folder("new", size=8, val_split=0.3, test_split=0.2)', "test"),
        ('image_folder("dogs", size=8)', None),  # one class: read as the training's second
        # every image of a folder with its own splits, in the order of the permutation
        ('image_folder("new", size=8, val_split=0.3, test_split=0.2)', None),
    ],
)
def test_evaluate_data_images_streams_with_the_whole_load_numbers(plain, monkeypatch, data, split):
    from nndsl import after

    program, _, ckpt = plain
    expected = whole(monkeypatch, program, ckpt, data=data, split=split)
    with monkeypatch.context() as m:

        def loaded_whole(*a, **k):
            raise AssertionError("the images were loaded whole")

        m.setattr(after, "other_data", loaded_whole)
        got = program.evaluate(ckpt, data=data, split=split)
    assert got == expected
    assert got["samples"] > 0 and got["split"] == (split or "all")


def test_evaluate_data_images_takes_the_training_size(plain):
    """Without `size=`, the images of --data are resized to the training's size (the whole-load
    path refuses them)."""
    program, _, ckpt = plain
    got = program.evaluate(ckpt, data='image_folder("new")')
    assert got == program.evaluate(ckpt, data='image_folder("new", size=8)')


def test_evaluate_data_images_applies_the_training_transforms(augmented, capsys):
    """A model trained with augment=[hflip(), resize(8), normalize(...)] evaluated on other
    12x12 images: they are prepared as its validation images (the confusion matrix is
    predict's on the same files), which the whole-load path cannot do."""
    program, spec, ckpt = augmented
    folder = spec.parent
    make_images(folder / "other", 5, 12, seed=9)
    got = program.evaluate(ckpt, data='image_folder("other")')
    rows = program.predict(ckpt, folder / "other")
    names = ["cat", "dog"]
    confusion = [[0, 0], [0, 0]]
    for row in rows:
        confusion[names.index(Path(row["file"]).parent.name)][names.index(row["class"])] += 1
    assert got["confusion"] == confusion and got["samples"] == 10
    accuracy = (confusion[0][0] + confusion[1][1]) / 10
    assert got["metrics"]["all_accuracy"] == pytest.approx(accuracy)
    # a class the model was not trained on: an error at --data
    make_images(folder / "zoo", 1, 12, seed=1)
    (folder / "zoo" / "cat").rename(folder / "zoo" / "bird")
    argv = ["evaluate", str(spec), "--checkpoint", str(ckpt), "--data", 'image_folder("zoo")']
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "the data has the class 'bird', which the model was not trained on" in err
    assert "--data" in err and "Traceback" not in err


def test_a_spec_with_other_transforms_than_the_checkpoint_is_a_located_error(augmented, capsys):
    """The checkpoint of a streaming run records its transforms: a spec whose `augment` was
    changed since (here: without the normalize(...)) would prepare new images otherwise."""
    program, spec, ckpt = augmented
    about = torch.load(ckpt, weights_only=True)["about"]
    assert [t["name"] for t in about["preprocessing"]["transforms"]] == [
        "hflip",
        "resize",
        "normalize",
    ]
    assert about["preprocessing"]["decoded_size"] == [12, 12]
    changed = spec.parent / "changed.nn"
    changed.write_text(SPEC.format(options="augment=[hflip(), resize(8)], normalize=true"))
    image = sorted((spec.parent / "images" / "cat").glob("*.png"))[0]
    for argv in (
        ["predict", str(changed), str(image)],
        ["evaluate", str(changed), "--data", 'image_folder("images")'],
    ):
        assert main([*argv, "--checkpoint", str(ckpt)]) == 1
        err = capsys.readouterr().err
        assert "the spec's `augment` is not the one the checkpoint was trained with" in err
        assert "changed.nn:8:" in err and "hflip, resize, normalize" in err
        assert "Traceback" not in err
    # the spec that trained it: fine
    assert main(["predict", str(spec), str(image), "--checkpoint", str(ckpt)]) == 0


def test_evaluate_data_images_in_split_folders(augmented, capsys):
    """train/ and val/ folders: --split val streams val/ with the training's transforms;
    all of them at once (which would be loaded whole, without them) is an error at --data."""
    program, spec, ckpt = augmented
    folder = spec.parent / "splits"
    make_images(folder / "train", 3, 12, seed=11)
    make_images(folder / "val", 4, 12, seed=12)
    got = program.evaluate(ckpt, data='image_folder("splits")', split="val")
    rows = program.predict(ckpt, folder / "val")
    right = sum(Path(r["file"]).parent.name == r["class"] for r in rows)
    assert got["samples"] == 8 and got["metrics"]["val_accuracy"] == pytest.approx(right / 8)
    argv = ["evaluate", str(spec), "--checkpoint", str(ckpt), "--data", 'image_folder("splits")']
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "every image of train/, val/ and test/ folders with `augment`" in err
    assert "--split val" in err and "Traceback" not in err


def decoded(files: list[str]) -> np.ndarray:
    """The images of `files` as training decodes them: uint8 [n, 3, H, W]."""
    return np.stack([np.asarray(Image.open(f).convert("RGB")).transpose(2, 0, 1) for f in files])


def test_npz_of_images_is_prepared_as_the_image_files_are(augmented, tmp_path):
    """An .npz of the validation images, as 8-bit pixels or as floats in [0, 1], goes
    through the same preparation as the image files (ImageFiles.prepare: resize(8) and the
    other deterministic transforms, the standardisation; not the flip): the same outputs."""
    program, _, ckpt = augmented
    files, outputs = validation_outputs(program, ckpt.parent, ckpt)
    pixels = decoded(files)
    assert pixels.shape[2:] == (12, 12)  # (the transforms' resize(8) makes them 8x8)
    np.savez(tmp_path / "u8.npz", x=pixels)
    np.savez(tmp_path / "f32.npz", x=pixels.astype(np.float32) / np.float32(255.0))
    expected = outputs.softmax(1).max(1).values.numpy()
    by_files = program.predict(ckpt, files)
    for name in ("u8.npz", "f32.npz"):
        rows = program.predict(ckpt, tmp_path / name)
        assert [r["class"] for r in rows] == [r["class"] for r in by_files], name
        got = np.array([r["probability"] for r in rows])
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.parametrize(
    "case, message",
    [
        ("standardised", "holds float32 values from -"),
        ("one channel", "holds samples of shape [1, 12, 12]"),
        ("rows", "holds samples of shape [432]"),
    ],
)
def test_npz_that_is_not_images_is_refused_saying_what_is_expected(
    augmented, tmp_path, capsys, case, message
):
    program, spec, ckpt = augmented
    files, _ = validation_outputs(program, ckpt.parent, ckpt)
    x = decoded(files).astype(np.float32) / np.float32(255.0)
    x = {
        "standardised": (x - 0.5) / 0.25,
        "one channel": x[:, :1],
        "rows": x.reshape(len(x), -1),
    }[case]
    np.savez(tmp_path / "x.npz", x=x)
    out = tmp_path / "p.csv"
    code = main(["predict", str(spec), str(tmp_path / "x.npz"), "--checkpoint", str(ckpt)])
    err = capsys.readouterr().err
    assert code == 1 and not out.exists() and "Traceback" not in err
    assert f"{tmp_path / 'x.npz'} {message}" in err, err
    assert "takes .npz arrays of images [n, 3, H, W]: 8-bit pixels (uint8, 0..255)" in err
