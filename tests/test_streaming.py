"""The streaming data path: image folders read from their files while training (data.json,
ImageFiles, DataLoader workers, DistributedSampler) and `augment=[...]` transforms."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest


def _runlib():
    path = Path(__file__).parent / "fixtures" / "train" / "runlib.py"
    if "nndsl_test_runlib" not in sys.modules:
        spec = importlib.util.spec_from_file_location("nndsl_test_runlib", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["nndsl_test_runlib"] = module
        spec.loader.exec_module(module)
    return sys.modules["nndsl_test_runlib"]


runlib = _runlib()
NNDSL = [runlib.PYTHON, "-m", "nndsl"]


def make_images(root: Path, per_class: int, size: int = 8, classes=("cat", "dog")) -> Path:
    """An image folder with one subfolder per class of PNGs: class k's pixels are darker."""
    from PIL import Image

    rng = np.random.default_rng(len(classes) * 1000 + per_class)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            scale = 255 if k else 110
            pixels = (rng.random((size, size, 3)) * scale).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:05d}.png")
    return root


def spec_text(options: str, epochs: int = 2, batch: int = 8) -> str:
    return f"""model Tiny {{
    input x: [B, 3, 8, 8]
    Conv2d(4, 3, padding=1) -> relu -> flatten -> Dropout(0.1) -> Linear(2)
}}

train {{
    model = Tiny
    data = image_folder("images", {options})
    loss = CrossEntropyLoss()
    optimizer = Adam(lr=1e-2)
    epochs = {epochs}
    batch_size = {batch}
    metrics = [accuracy]
}}
"""


def write_spec(folder: Path, options: str, per_class: int = 24, **kw) -> Path:
    make_images(folder / "images", per_class)
    spec = folder / "spec.nn"
    spec.write_text(spec_text(options, **kw))
    return spec


def nndsl(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*NNDSL, *args], cwd=cwd, env=runlib.ENV, capture_output=True, text=True, timeout=300
    )


def generated(out: Path, name: str = "train"):
    """The generated script `out/name.py` imported (with its model.py and training_utils.py,
    under names of their own)."""
    saved = {k: sys.modules.pop(k) for k in ("model", "training_utils") if k in sys.modules}
    sys.path.insert(0, str(out))
    try:
        spec = importlib.util.spec_from_file_location(
            f"nndsl_test_{name}_{id(out)}", out / f"{name}.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(out))
        utils = sys.modules.get("training_utils")
        for k in ("model", "training_utils"):
            sys.modules.pop(k, None)
        sys.modules.update(saved)
    module.utils = utils  # its training_utils.py
    return module


def stream_data(spec: Path, out: Path):
    """`generate`, then the splits of its data.json as the generated script reads them (its
    own Dataset class)."""
    runlib.generate(spec, out)
    script = generated(out)
    data = script.utils.load_stream(str(out / "data.json"), script.ImageFiles)
    data["script"] = script
    return data


def image_path(dataset, i: int) -> str:
    return str(dataset.folder / dataset.files[i].decode())


# ---- the checker: augment and the streaming options, torch-free ------------------------------


def test_bad_transforms_are_located_errors(tmp_path: Path) -> None:
    write_spec(
        tmp_path,
        "augment=[random_crop(8, padding=-1), hflip(p=2), flip(), color_jitter(1.5), "
        "RandomResizedCrop(8), RandomHorizontalFlip()], workers=-2",
        per_class=1,
    )
    result = nndsl("check", "spec.nn", cwd=tmp_path)
    assert result.returncode == 1
    err = result.stderr + result.stdout
    assert "Traceback" not in err
    assert "`padding` of `random_crop` must be an integer, 0 or more" in err
    assert "`p` of `hflip` is a probability" in err
    assert "unknown transform `flip`" in err and "did you mean `hflip`?" in err
    assert "`brightness` of `color_jitter`" in err
    # torchvision's names without torchvision: what nndsl has instead (tests/test_tv_transforms.py)
    assert "`RandomResizedCrop` is a torchvision.transforms.v2 transform, which needs" in err
    assert "nndsl's own `hflip(p)`, which does this" in err
    assert "`workers` of `image_folder` cannot be negative" in err
    assert "spec.nn:8:" in err  # located on the data line


def test_an_image_transform_of_a_csv_is_refused(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n3,4,1\n")
    (tmp_path / "spec.nn").write_text(
        spec_text("").replace('image_folder("images", )', 'csv("t.csv", augment=[hflip])')
    )
    result = nndsl("check", "spec.nn", cwd=tmp_path)
    assert result.returncode == 1
    assert "`hflip` transforms images, not the samples of `csv`" in result.stderr + result.stdout


# ---- generate: a small data.json, never a copy of the images ----------------------------------


def test_generate_writes_no_copy_of_the_images(tmp_path: Path) -> None:
    sizes = {}
    for per_class in (20, 400):
        folder = tmp_path / f"n{per_class}"
        spec = write_spec(folder, "stream=true, val_split=0.25", per_class=per_class)
        out = runlib.generate(spec, folder / "out")
        names = sorted(p.name for p in out.iterdir())
        assert names == ["data.json", "model.py", "train.py", "training_utils.py"]
        sizes[per_class] = sum(p.stat().st_size for p in out.iterdir())
        meta = json.loads((out / "data.json").read_text())
        assert meta["root"] == "../images"  # relative to the data.json
        assert meta["samples"] == {
            "train": 2 * per_class - round(0.5 * per_class),
            "val": round(0.5 * per_class),
            "test": 0,
        }
    # 20x more images: the same files, the same size but for the digits of the counts
    assert abs(sizes[400] - sizes[20]) < 64, sizes


def test_a_folder_that_changed_since_generate_is_a_clear_error(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "stream=true", per_class=4)
    out = runlib.generate(spec, tmp_path / "out")
    (tmp_path / "images" / "cat" / "00000.png").unlink()
    result = runlib.run_script(out, "--out", "run", "--quiet")
    assert result.returncode == 1
    assert "changed since nndsl prepared the data" in result.stderr
    assert "Traceback" not in result.stderr


# ---- augmentation: training data only, reproducible --------------------------------------------


def test_augment_applies_to_training_data_only_and_is_seeded(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        "augment=[random_crop(8, padding=2), hflip(), color_jitter(0.3, 0.3, 0.3)], "
        "val_split=0.25, normalize=true",
    )
    data = stream_data(spec, tmp_path / "out")
    train, val = data["train"], data["val"]
    assert train.train and not val.train  # random transforms: training data only
    source = "".join((tmp_path / "out" / "train.py").read_text().split())
    for call in (
        "random_crop(x, size=(8, 8), padding=2, generator=generator)",
        "hflip(x, p=0.5, generator=generator)",
        "color_jitter(x, brightness=0.3, contrast=0.3, saturation=0.3, generator=generator)",
    ):
        assert call.replace(" ", "") in source
    assert "defresize(" not in source and "defnormalize(" not in source  # only what it uses
    mean = np.array(data["normalization"]["mean"], dtype=np.float32).reshape(3, 1, 1)
    std = np.array(data["normalization"]["std"], dtype=np.float32).reshape(3, 1, 1)

    def plain(dataset, i: int) -> np.ndarray:
        from PIL import Image

        pixels = np.asarray(Image.open(image_path(dataset, i)).convert("RGB"), dtype=np.float32)
        return (pixels.transpose(2, 0, 1) / 255.0 - mean) / std

    # a validation image is the file, standardised, every epoch
    for epoch in (0, 1):
        x, _ = val[(3, epoch)]
        np.testing.assert_allclose(x.numpy(), plain(val, 3), rtol=1e-5, atol=1e-5)
    # a training image is transformed: the same for the same (seed, epoch, sample), other
    # draws for another epoch or another seed
    a, b, c = train[(5, 0)][0], train[(5, 0)][0], train[(5, 1)][0]
    assert np.array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    assert not np.allclose(a.numpy(), plain(train, 5), atol=1e-3)
    train.seed = 7
    assert not np.array_equal(a.numpy(), train[(5, 0)][0].numpy())
    # the largest seed a run takes draws too (the sample's seed once overflowed torch's
    # manual_seed for seeds from about 18,000 up)
    train.seed = 2**32 - 1
    assert train[(5, 3)][0].shape == a.shape
    # statistics: one pass over the training images, as numpy computes them
    pixels = np.stack([plain(train, i) * std + mean for i in range(len(train))])
    np.testing.assert_allclose(mean.ravel(), pixels.mean(axis=(0, 2, 3)), rtol=1e-5)


def seeded_batches(data: dict, workers: int, seed: int) -> list:
    """The training inputs of epochs 0 and 1 (tensors), in batches of 8, read with
    `workers` processes and the run's `seed`, as the generated script's DataLoader reads
    them."""
    import torch

    from nndsl.runtime import training_utils as tu

    dataset = data["train"]
    dataset.seed = seed
    sampler = tu.EpochSampler(dataset, 1, 0, seed * 1_000_003)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_sampler=torch.utils.data.BatchSampler(sampler, 8, False),
        num_workers=workers,
        collate_fn=tu.collate_readable,
    )
    out = []
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        out += [x for x, _ in loader]
    return out


def test_same_seed_same_batches_with_any_number_of_workers(tmp_path: Path) -> None:
    import torch

    spec = write_spec(tmp_path, "augment=[random_crop(8, padding=2), hflip()], workers=0")
    data = stream_data(spec, tmp_path / "out")

    def batches(workers: int, seed: int) -> list[torch.Tensor]:
        return seeded_batches(data, workers, seed)

    first, again, workers = batches(0, 3), batches(0, 3), batches(2, 3)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert all(torch.equal(a, b) for a, b in zip(first, workers))
    other = batches(0, 4)
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


# ---- unreadable images -----------------------------------------------------------------------


def test_a_corrupt_image_is_an_error_naming_the_file(tmp_path: Path) -> None:
    write_spec(tmp_path, "stream=true, workers=1", per_class=8)
    bad = tmp_path / "images" / "dog" / "00003.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really an image")
    result = nndsl("run", "spec.nn", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"cannot read the image {bad}" in result.stderr
    assert "skip_bad=true" in result.stderr
    assert not (tmp_path / "run").exists()  # it failed before any result: nothing kept


def files_below(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) below `folder`."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


@runlib.slow("six runs stopped in their first epoch")
def test_a_run_stopped_by_a_corrupt_image_leaves_every_folder_as_it_was(tmp_path: Path) -> None:
    """An unreadable image stops the first epoch, before any result: `nndsl run` and the
    generated train.py leave no run folder (nor `runs/`) and no file behind, and a folder of
    an earlier run trained into with --force keeps its files, config.json included."""
    spec = write_spec(tmp_path, "stream=true, workers=0", per_class=8)
    out = runlib.generate(spec, tmp_path / "out")
    (tmp_path / "images" / "dog" / "00003.png").write_bytes(b"\x89PNG\r\n\x1a\n no image")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for name, text in (("config.json", "{}"), ("metrics.csv", "epoch\n1\n"), ("last.pt", "x")):
        (earlier / name).write_text(text)
    before = files_below(tmp_path)
    runs = [
        nndsl("run", "spec.nn", "--quiet", cwd=tmp_path),
        nndsl("run", "spec.nn", "--out", "a/b/run", "--quiet", cwd=tmp_path),
        nndsl("run", "spec.nn", "--out", "earlier", "--force", "--quiet", cwd=tmp_path),
        runlib.run_script(out, "--out", str(tmp_path / "c" / "run"), "--quiet"),
        runlib.run_script(out, "--out", str(earlier), "--force", "--quiet"),
    ]
    for result in runs:
        assert result.returncode == 1 and "cannot read the image" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert files_below(tmp_path) == before
    assert not (out / "runs").exists()
    result = runlib.run_script(out, "--quiet")  # the default run folder, runs/Tiny-<time>
    assert result.returncode == 1 and not (out / "runs").exists()


def odd_images(root: Path) -> np.ndarray:
    """An image folder of odd files: 16-bit grayscale, RGBA, gray with alpha, palette, CMYK
    JPEG, another size, names that are not ASCII (or not UTF-8), a text file, a subfolder.
    Returns the 16-bit image's pixels."""
    import os

    from PIL import Image

    rng = np.random.default_rng(5)
    for name in ("cat", "dog"):
        (root / name / "sub").mkdir(parents=True)
        (root / name / "notes.txt").write_text("not an image")
    pixels = (rng.random((9, 7, 4)) * 255).astype(np.uint8)
    sixteen = (rng.random((8, 8)) * 65535).astype(np.uint16)
    Image.fromarray(sixteen).save(root / "cat" / "a16.png")
    Image.fromarray(pixels).save(root / "cat" / "rgba.png")
    Image.fromarray(pixels[..., :2], "LA").save(root / "cat" / "la.png")
    Image.fromarray(pixels[..., :3]).convert("P").save(root / "cat" / "café.gif")
    Image.fromarray(pixels, "CMYK").save(root / "dog" / "cmyk.jpg")
    Image.fromarray(pixels[..., 0]).save(root / "dog" / os.fsdecode(b"\xff.png"))
    Image.fromarray(pixels[..., :3]).save(root / "dog" / "sub" / "nested.png")  # not read
    return sixteen


@pytest.mark.parametrize("grayscale", [False, True])
def test_odd_images_stream_as_they_load_whole(tmp_path: Path, grayscale: bool) -> None:
    """Every odd image decodes to the same pixels streamed (the script's ImageFiles) as loaded
    whole (sources.image_folder); a 16-bit image keeps its contrast (not clipped to white)."""
    from nndsl.data import sources
    from nndsl.data.streaming import list_images

    sixteen = odd_images(tmp_path / "images")
    spec = tmp_path / "spec.nn"
    spec.write_text(spec_text(f"size=8, grayscale={str(grayscale).lower()}, stream=true"))
    if grayscale:
        spec.write_text(spec.read_text().replace("[B, 3, 8, 8]", "[B, 1, 8, 8]"))
    whole = sources.image_folder(str(tmp_path / "images"), size=8, grayscale=grayscale)
    _, names, _ = list_images(tmp_path / "images")
    assert len(names) == len(whole.x) == 6
    train = stream_data(spec, tmp_path / "out")["train"]
    streamed = {
        train.files[i].decode("utf-8", "surrogateescape"): train[(i, 0)][0].numpy()
        for i in range(len(train))
    }
    for name, x in zip(names, whole.x):
        np.testing.assert_array_equal(streamed[name], x, err_msg=name)
    expected = (sixteen >> 8).astype(np.float32) / np.float32(255.0)  # its high byte
    for channel in whole.x[names.index("cat/a16.png")]:
        np.testing.assert_array_equal(channel, expected)


def wide_images(root: Path, wrong: bool = False) -> dict[str, np.ndarray]:
    """An image folder of 32-bit TIFFs: integer pixels (Pillow's mode "I") of 16-bit values
    and float pixels (mode "F") in [0, 1], or, `wrong`, outside those ranges.  Returns the
    8-bit pixels each should be read as."""
    from PIL import Image

    rng = np.random.default_rng(9)
    ints = (rng.random((8, 8)) * 65535).astype(np.int32)
    floats = rng.random((8, 8)).astype(np.float32)
    if wrong:
        ints[0, 0], floats[0, 0] = 70000, 1.5
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
    Image.fromarray(ints, "I").save(root / "cat" / "i32.tif")
    Image.fromarray(floats, "F").save(root / "dog" / "f32.tif")
    for name, mode, array in (("cat/i32.tif", "I", ints), ("dog/f32.tif", "F", floats)):
        with Image.open(root / name) as picture:  # (as written: not clipped by the file)
            assert picture.mode == mode and np.array_equal(np.asarray(picture), array)
    return {
        "cat/i32.tif": (ints >> 8).astype(np.uint8),
        "dog/f32.tif": np.rint(floats * 255).astype(np.uint8),
    }


def test_32_bit_images_are_read_as_their_values_mean_whole_and_streamed(tmp_path: Path) -> None:
    """Pillow's mode "I" (16-bit values in 32-bit integers) and "F" (floats in [0, 1]) images
    are read by one function (eight_bit) whether the folder is loaded whole or streamed, not
    clipped at 255 by Pillow's convert (a white image)."""
    from nndsl.data import sources

    expected = wide_images(tmp_path / "images")
    spec = tmp_path / "spec.nn"
    spec.write_text(spec_text("stream=true").replace("[B, 3, 8, 8]", "[B, 1, 8, 8]"))
    spec.write_text(spec.read_text().replace('"images", ', '"images", grayscale=true, '))
    whole = sources.image_folder(str(tmp_path / "images"), grayscale=True)
    train = stream_data(spec, tmp_path / "out")["train"]
    for i in range(len(train)):
        name = train.files[i].decode()
        pixels = expected[name].astype(np.float32) / np.float32(255.0)
        np.testing.assert_array_equal(train[(i, 0)][0].numpy()[0], pixels, err_msg=name)
        np.testing.assert_array_equal(whole.x[sorted(expected).index(name)][0], pixels)
    assert len(train) == 2 and 0.3 < float(whole.x.mean()) < 0.7  # (not white)


def test_32_bit_images_of_unknown_range_are_refused_whole_and_streamed(tmp_path: Path) -> None:
    from nndsl.data import sources
    from nndsl.data.errors import DataError

    wide_images(tmp_path / "images", wrong=True)
    spec = tmp_path / "spec.nn"
    spec.write_text(spec_text("stream=true, grayscale=true").replace("[B, 3,", "[B, 1,"))
    with pytest.raises(DataError) as whole:
        sources.image_folder(str(tmp_path / "images"), grayscale=True)
    assert "i32.tif" in whole.value.message
    assert "32-bit integer pixels go from" in whole.value.message
    assert "to 70000; they are read as 16-bit values" in whole.value.message
    train = stream_data(spec, tmp_path / "out")["train"]
    for i in range(len(train)):
        with pytest.raises(RuntimeError) as streamed:
            train[(i, 0)]
        name = train.files[i].decode()
        assert f"cannot read the image {tmp_path / 'images' / name}" in str(streamed.value)
        wanted = "integer pixels go from" if name.startswith("cat") else "float pixels go from"
        top = "to 70000;" if name.startswith("cat") else "to 1.5;"
        assert wanted in str(streamed.value) and top in str(streamed.value), streamed.value


def test_one_eight_bit_function_for_nndsl_and_the_training_scripts() -> None:
    """The generated scripts cannot import nndsl: training_utils.py holds the same code."""
    import inspect

    from nndsl.data import sources
    from nndsl.runtime import training_utils

    assert inspect.getsource(training_utils.eight_bit) == inspect.getsource(sources.eight_bit)


@pytest.mark.parametrize("val", ["no class folders", "class folders without images"])
def test_an_empty_given_split_is_refused_as_loading_whole_does(tmp_path: Path, val: str) -> None:
    import shutil

    from nndsl.data import sources
    from nndsl.data.errors import DataError

    write_spec(tmp_path, "stream=true", per_class=2)
    images = tmp_path / "images"
    for name in ("cat", "dog"):
        shutil.move(images / name, images / "train" / name)
        if val != "no class folders":
            (images / "val" / name).mkdir(parents=True)
    (images / "val").mkdir(exist_ok=True)
    with pytest.raises(DataError) as whole:
        sources.image_folder(str(images))
    result = nndsl("run", "spec.nn", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(f"error: {whole.value.message}\n"), result.stderr
    assert "--> spec.nn:8:" in result.stderr and not (tmp_path / "run").exists()


@pytest.mark.parametrize("source", ["images", "csv"])
def test_an_edited_data_json_is_a_clear_error(tmp_path: Path, source: str) -> None:
    """A data.json with an entry removed, of another type or out of range: refused when it is
    loaded, with the script's TrainingError naming the file and the entry (a message, no
    traceback), whichever entry it is; an edit that loads (a value of the right kind) trains:
    every split's samples read, one batch at a time too, by a DataLoader of its workers."""
    import torch

    if source == "images":
        spec = write_spec(tmp_path, "stream=true, normalize=true, val_split=0.25", per_class=4)
    else:
        (tmp_path / "t.csv").write_text("a,b\n1,0\n2,1\n3,0\n4,1\n")
        spec = tmp_path / "spec.nn"
        spec.write_text(
            spec_text("")
            .replace(
                'image_folder("images", )',
                'csv("t.csv", target="b", stream=true, normalize=true, val_split=0.25)',
            )
            .replace("[B, 3, 8, 8]", "[B, 1]")
            .replace("Conv2d(4, 3, padding=1) -> relu -> flatten -> ", "")
        )
    runlib.generate(spec, tmp_path / "out")
    script = generated(tmp_path / "out")
    path = tmp_path / "out" / "data.json"
    meta = json.loads(path.read_text())
    dataset = script.ImageFiles if source == "images" else script.CsvRows
    utils = script.utils

    def trains(data: dict) -> None:
        for split in ("train", "val", "test"):
            if split in data:
                collate = getattr(dataset, "collate", torch.utils.data.default_collate)
                loader = torch.utils.data.DataLoader(
                    data[split],
                    batch_sampler=utils.EvalBatches(len(data[split]), 2, 1, 0),
                    num_workers=min(data["workers"], 0),  # (its value checked, no process)
                    collate_fn=collate,
                )
                assert [len(x) for x, _ in loader] and data[split][(0, 0)] is not None
                torch.save({"about": data["about"]}, tmp_path / "about.pt")  # (a checkpoint's)

    trains(utils.load_stream(str(path), dataset))  # as written: it loads and trains
    loaded, refused = set(), 0
    for key in sorted(k for k in meta if k != "format"):
        edits = [{**meta, key: value} for value in (None, "x", [1], {"a": 1}, -1, 2.5, True)]
        edits.append({k: v for k, v in meta.items() if k != key})
        for edited in edits:
            path.write_text(json.dumps(edited))
            try:
                data = utils.load_stream(str(path), dataset)
            except utils.TrainingError as exc:
                if key in ("root", "path", "bytes", "rows", "delimiter", "columns") and any(
                    words in str(exc) for words in ("changed since", "cannot read")
                ):
                    refused += 1  # (another folder or file: "the images of x changed ...")
                    continue
                assert str(exc).startswith(f"{path} is not the data file nndsl wrote"), exc
                assert f'"{key}"' in str(exc), exc
                refused += 1
            else:
                trains(data)  # (every entry read later was checked: it works)
                loaded.add(key)
    # the edits that load are right: a bool for a bool, `about` null or any object, no
    # `size` (the images keep theirs), the stamp (only `generate` reads it)
    assert loaded <= {"about", "float_targets", "skip_bad", "header", "size", "nndsl_sha256"}
    assert refused > 100


def test_a_first_sample_that_cannot_be_read_is_located_at_the_data(tmp_path: Path) -> None:
    """`nndsl run` reads the first samples before training (stream_sample): a problem is
    shown at the spec's `data` value, at the folder it reads, and nothing is written."""
    write_spec(tmp_path, "stream=true, workers=0", per_class=2)
    for image in (tmp_path / "images").rglob("*.png"):
        image.write_bytes(b"")  # every image: the first sample cannot be read
    result = nndsl("run", "spec.nn", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot read the image" in result.stderr and "images" in result.stderr
    column = spec_text("").splitlines()[7].index('"images"') + 1
    assert f"--> spec.nn:8:{column}\n" in result.stderr, result.stderr
    assert not (tmp_path / "run").exists()


@runlib.slow("two training runs")
def test_skip_bad_skips_a_corrupt_image_with_a_warning(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "stream=true, workers=1, skip_bad=true", per_class=8)
    bad = tmp_path / "images" / "dog" / "00003.png"
    bad.write_bytes(b"garbage")
    out = runlib.generate(spec, tmp_path / "out")
    result = runlib.run_script(out, "--out", "run", "--quiet")
    assert result.returncode == 0, result.stderr
    assert f"warning: skipped the unreadable image {bad}" in result.stderr
    # one image fewer per epoch: 15 samples of 16
    rows = runlib.metrics(out / "run" / "metrics.csv")
    assert len(rows) == 2


# ---- nndsl run and the generated script: the same numbers --------------------------------------


@runlib.slow("two training runs")
def test_nndsl_run_and_generated_script_agree(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        "augment=[random_crop(8, padding=1), hflip()], workers=2, val_split=0.25, normalize=true",
    )
    result = nndsl("run", "spec.nn", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = runlib.generate(spec, tmp_path / "out")
    script = runlib.run_script(out, "--out", "run", "--quiet")
    assert script.returncode == 0, script.stderr
    assert runlib.losses(tmp_path / "run" / "metrics.csv") == runlib.losses(
        out / "run" / "metrics.csv"
    )
    config = json.loads((out / "run" / "config.json").read_text())
    assert config["samples"] == {"train": 36, "val": 12}
    assert config["normalization"] is not None


# ---- exact resume after SIGKILL and Ctrl-C, on the streaming path --------------------------------


@runlib.slow("five training processes")
def test_resume_after_sigkill_and_ctrl_c_is_exact(tmp_path: Path) -> None:
    spec = write_spec(
        tmp_path,
        "augment=[random_crop(8, padding=1), hflip()], workers=1, val_split=0.2",
        per_class=150,
        epochs=5,  # (two epochs more than the signals need: a busy machine cannot end the run first)
        batch=2,
    )
    folder = runlib.generate(spec, tmp_path / "out")
    import torch  # noqa: F401  (imported now, not on the first poll while the runs go on)

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [runlib.PYTHON, "train.py", "--quiet", *args],
            cwd=folder,
            env=runlib.ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    procs = {name: start("--out", name) for name in ("reference", "killed", "interrupted")}
    try:
        # Once a run's epoch-2 checkpoint is on disk, epoch 3 is under way: SIGKILL at once,
        # Ctrl-C when epoch 3 is about a third done (judged from epoch 2's duration, so that a
        # busy machine does not let epoch 3 end first).
        watched = {"killed", "interrupted"}
        sigint_at = None
        deadline = time.monotonic() + 300
        while watched:
            assert time.monotonic() < deadline, f"no epoch 2 from {sorted(watched)}"
            for name in sorted(watched):
                assert procs[name].poll() is None, procs[name].communicate()
                if name == "interrupted" and sigint_at is not None:
                    if time.monotonic() >= sigint_at:
                        procs[name].send_signal(signal.SIGINT)
                        watched.discard(name)
                elif runlib.checkpoint_epoch(folder / name / "last.pt") == 2:
                    if name == "killed":
                        procs[name].send_signal(signal.SIGKILL)
                        watched.discard(name)
                    else:
                        epoch_time = runlib.metrics(folder / name / "metrics.csv")[-1]["time"]
                        sigint_at = time.monotonic() + min(epoch_time / 3, 2.0)
            time.sleep(0.01)
        outcome = {name: (p.wait(timeout=300), *p.communicate()) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.communicate()
    assert outcome["reference"][0] == 0, outcome["reference"][2]
    assert outcome["killed"][0] == -signal.SIGKILL
    code, out, err = outcome["interrupted"]
    assert code == 130, err
    state = runlib.checkpoint(folder / "interrupted" / "interrupted.pt")["state"]
    assert state["epoch"] >= 2 and state["partial"]["step"] > 0  # mid-epoch, epoch 3 or later
    resumes_at = {
        "killed": runlib.checkpoint_epoch(folder / "killed" / "last.pt") + 1,
        "interrupted": state["epoch"] + 1,
    }
    for name, ckpt in (("killed", "last.pt"), ("interrupted", "interrupted.pt")):
        p = start("--out", name, "--resume", f"{name}/{ckpt}")
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        assert out.startswith(f"epoch {resumes_at[name]}/5"), out
        ref = runlib.checkpoint(folder / "reference" / "last.pt")
        got = runlib.checkpoint(folder / name / "last.pt")
        assert runlib.same_weights(ref["model"], got["model"]) == []
        assert runlib.losses(folder / name / "metrics.csv") == runlib.losses(
            folder / "reference" / "metrics.csv"
        )


# ---- two processes: each sample once per epoch ---------------------------------------------------

COVERAGE = r"""
import json, sys
import torch
import torch.distributed as dist
sys.path.insert(0, sys.argv[1])
import training_utils as tu
import train

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
data = tu.load_stream(sys.argv[1] + "/data.json", train.ImageFiles)
dataset = data["train"]
sampler = tu.EpochSampler(dataset, world, rank, 5 * 1_000_003)
loader = torch.utils.data.DataLoader(
    dataset,
    batch_sampler=torch.utils.data.BatchSampler(sampler, 4, False),
    num_workers=1,
    collate_fn=tu.collate_readable,
)
seen = []
for epoch in range(2):
    sampler.set_epoch(epoch)
    names = []
    for batch in loader.batch_sampler:
        names += [dataset.files[i].decode() for i, _ in batch]
    assert sum(len(x) for x, _ in loader) == len(names)
    seen.append(names)
everything = [None] * world
dist.all_gather_object(everything, seen)
if rank == 0:
    with open(sys.argv[2], "w") as fh:
        json.dump({"ranks": everything, "files": [f.decode() for f in dataset.files]}, fh)
dist.destroy_process_group()
"""


@runlib.slow("two torch processes and a rendezvous")
@pytest.mark.skipif(
    not __import__("torch").distributed.is_available(), reason="no torch.distributed"
)
def test_two_processes_see_each_sample_once_per_epoch(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "stream=true", per_class=20)
    out = runlib.generate(spec, tmp_path / "out")
    script = tmp_path / "coverage.py"
    script.write_text(COVERAGE)
    result = subprocess.run(
        [
            runlib.PYTHON,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--standalone",
            str(script),
            str(out),
            str(tmp_path / "seen.json"),
        ],
        env={**runlib.ENV, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    seen = json.loads((tmp_path / "seen.json").read_text())
    files = seen["files"]
    assert len(files) == 40
    for epoch in (0, 1):
        a, b = (seen["ranks"][r][epoch] for r in (0, 1))
        assert len(a) == len(b) == 20
        assert sorted(a + b) == sorted(files)  # every sample once, across the two ranks
    assert seen["ranks"][0][0] != seen["ranks"][0][1]  # another order each epoch (set_epoch)


@runlib.slow("two torch processes and a rendezvous")
@pytest.mark.skipif(
    not __import__("torch").distributed.is_available(), reason="no torch.distributed"
)
def test_generated_streaming_script_under_torchrun(tmp_path: Path) -> None:
    # 12 validation images: two batches, one per process (a process without a validation
    # batch is a known problem of the in-memory path too)
    spec = write_spec(tmp_path, "augment=[hflip], workers=1, val_split=0.25", per_class=24)
    out = runlib.generate(spec, tmp_path / "out")
    result = subprocess.run(
        [
            runlib.PYTHON,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--standalone",
            "train.py",
            "--out",
            "run",
            "--quiet",
        ],
        cwd=out,
        env={**runlib.ENV, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    config = json.loads((out / "run" / "config.json").read_text())
    assert config["samples"] == {"train": 36, "val": 12}
    assert len(runlib.metrics(out / "run" / "metrics.csv")) == 2


# ---- CSV files: rows read by their byte offsets -------------------------------------------------


def write_csv(path: Path, rows: int, crlf: bool = False) -> Path:
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(rows, 3))
    end = "\r\n" if crlf else "\n"
    lines = ["a,b,c,label"] + [
        f"{a:.5f},{b:.5f},{c:.5f},{'yes' if a + b > 0 else 'no'}" for a, b, c in x
    ]
    lines.insert(40, "")  # a blank line: no row
    path.write_text(end.join(lines) + end, newline="")
    return path


CSV_SPEC = """model T {{
    input x: [B, 3]
    Linear(8) -> relu -> Linear(2)
}}

train {{
    model = T
    data = csv("t.csv", target="label", {options}val_split=0.2, normalize=true)
    loss = CrossEntropyLoss()
    optimizer = Adam(lr=1e-2)
    epochs = 2
    batch_size = 32
    metrics = [accuracy]
}}
"""


@runlib.slow("two training runs")
@pytest.mark.parametrize("crlf", [False, True])
def test_streamed_csv_trains_as_the_file_loaded_whole(tmp_path: Path, crlf: bool) -> None:
    write_csv(tmp_path / "t.csv", 300, crlf)
    (tmp_path / "stream.nn").write_text(CSV_SPEC.format(options="stream=true, workers=1, "))
    (tmp_path / "whole.nn").write_text(CSV_SPEC.format(options=""))
    for name in ("stream", "whole"):
        result = nndsl("run", f"{name}.nn", "--out", name, "--quiet", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "stream" / "data.json").exists()
    assert (tmp_path / "whole" / "data.npz").exists()
    # the same rows, split, order and model; the statistics summed in another order
    stream = runlib.losses(tmp_path / "stream" / "metrics.csv")
    whole = runlib.losses(tmp_path / "whole" / "metrics.csv")
    assert [r.keys() for r in stream] == [r.keys() for r in whole]
    for a, b in zip(stream, whole):
        assert all(a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6) for k in a), (a, b)


def test_streamed_csv_writes_no_copy(tmp_path: Path) -> None:
    sizes = []
    for rows in (100, 5000):
        folder = tmp_path / str(rows)
        folder.mkdir()
        write_csv(folder / "t.csv", rows)
        (folder / "s.nn").write_text(CSV_SPEC.format(options="stream=true, "))
        out = runlib.generate(folder / "s.nn", folder / "out")
        meta = json.loads((out / "data.json").read_text())
        assert meta["rows"] == rows and meta["class_names"] == ["no", "yes"]
        sizes.append((out / "data.json").stat().st_size)
    assert abs(sizes[1] - sizes[0]) < 64


def test_without_stream_a_small_folder_is_loaded_whole(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, "val_split=0.25", per_class=4)
    out = runlib.generate(spec, tmp_path / "out")
    assert (out / "data.npz").exists() and not (out / "data.json").exists()
    assert 'DATA_FILE = HERE / "data.npz"' in (out / "train.py").read_text()
    assert "DataLoader" not in (out / "train.py").read_text()


# ---- after training: evaluate and predict read the files batch by batch ------------------------


@runlib.slow("a training run")
def test_evaluate_and_predict_on_streaming_data(tmp_path: Path) -> None:
    from nndsl import load
    from nndsl.data.sources import read_images

    spec = write_spec(tmp_path, "stream=true, workers=0, val_split=0.25, normalize=true", epochs=1)
    result = nndsl("run", "spec.nn", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    program = load(spec)
    # the numbers training reported for the validation split, from the files read in batches
    got = program.evaluate(tmp_path / "run" / "last.pt", split="val")
    reported = runlib.losses(tmp_path / "run" / "metrics.csv")[-1]
    assert got["samples"] == 12
    assert got["metrics"]["val_loss"] == pytest.approx(reported["val_loss"], rel=1e-6)
    assert got["metrics"]["val_accuracy"] == pytest.approx(reported["val_accuracy"])
    assert sum(map(sum, got["confusion"])) == 12
    # predict decodes a folder a chunk of 256 images at a time: the same as all at once
    make_images(tmp_path / "many", 150)
    files = sorted((tmp_path / "many").rglob("*.png"))
    rows = program.predict(tmp_path / "run" / "last.pt", tmp_path / "many")
    assert [r["file"] for r in rows] == [str(f) for f in files]
    import torch

    ckpt = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    about = ckpt["about"]
    x = read_images(files)
    mean = np.array(about["normalization"]["mean"], np.float32).reshape(1, 3, 1, 1)
    std = np.array(about["normalization"]["std"], np.float32).reshape(1, 3, 1, 1)
    model = program.build("Tiny")
    model.load_state_dict(ckpt["model"])
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(torch.from_numpy((x - mean) / std)), 1)
    names = about["class_names"]
    assert [r["class"] for r in rows] == [names[i] for i in probs.argmax(1).tolist()]
    assert np.allclose([r["probability"] for r in rows], probs.max(1).values.numpy(), rtol=1e-5)
