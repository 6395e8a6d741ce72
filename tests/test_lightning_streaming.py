"""The Lightning target on streaming data (`nndsl generate --target lightning` of an image folder
or a CSV file read from its files): a LightningDataModule over the plain target's Dataset
classes (templates/stream_data.py.j2, included, not copied), the data.json rather than a copy of
the data, the same per-epoch numbers as `nndsl run` and the plain train.py, and under DDP each
training sample once per epoch across the processes."""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import black
import pytest

from nndsl.check import check_file
from nndsl.codegen import generate_files

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_loss_blocks import ENV, _train_three_ways  # noqa: E402
from test_streaming import CSV_SPEC, make_images, spec_text, write_csv  # noqa: E402

HAS_LIGHTNING = importlib.util.find_spec("lightning") is not None
needs_lightning = pytest.mark.skipif(
    not HAS_LIGHTNING,
    reason="PyTorch Lightning is not installed (pip install -e '.[lightning]')",
)
FILES = ["data.json", "lit_model.py", "model.py", "train.py", "training_utils.py"]
EVERY_TRANSFORM = (
    "augment=[resize(8), random_crop(8, padding=1), hflip(), color_jitter(0.2, 0.2, 0.2), "
    "normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])]"
)


def _images_spec(folder: Path, options: str, per_class: int = 24, **kw) -> Path:
    make_images(folder / "images", per_class)
    spec = folder / "spec.nn"
    spec.write_text(spec_text(options, **kw))
    return spec


def _csv_spec(folder: Path, options: str, rows: int = 300) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "t.csv", rows)
    spec = folder / "s.nn"
    spec.write_text(CSV_SPEC.format(options=options))
    return spec


def _files(spec: Path, out: Path, target: str = "lightning") -> dict:
    checked = check_file(str(spec))
    assert checked.ok, [d.message for d in checked.diagnostics]
    models = [m for m, inst in checked.models.items() if inst is not None]
    return generate_files(checked, models, target=target, out_dir=out)


def _write(files: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    return folder


def _definition(source: str, name: str) -> str:
    """The source text of a module-level class or function."""
    for node in ast.parse(source).body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and node.name == name:
            return ast.get_source_segment(source, node)
    raise AssertionError(f"no {name} in the script")


# ---- generation: torch-free, no copy of the data, the plain target's Dataset ------------------


@pytest.mark.parametrize(
    "kind, options",
    [
        ("images", f"{EVERY_TRANSFORM}, val_split=0.25, normalize=true, skip_bad=true"),
        ("images", "augment=[hflip], grayscale=false, size=(8, 8), test_split=0.25"),
        ("images", "stream=true, workers=0"),
        ("csv", "stream=true, workers=1, "),
    ],
)
def test_generated_files_are_clean_and_share_the_plain_dataset(
    tmp_path: Path, monkeypatch, kind: str, options: str
) -> None:
    monkeypatch.chdir(tmp_path)  # the spec's path in the docstrings: short, relative
    spec = (
        _images_spec(tmp_path, options, per_class=3)
        if kind == "images"
        else _csv_spec(tmp_path, options)
    )
    spec, out = Path(spec.name), Path("out")
    lit = _files(spec, out)
    plain = _files(spec, out, target="pytorch")
    assert sorted(lit) == FILES  # data.json: no data.npz, no copy of the data
    assert lit["data.json"] == plain["data.json"]
    assert lit["model.py"] == plain["model.py"]
    meta = json.loads(lit["data.json"])
    assert meta["format"] == "nndsl-stream-1"
    # the Dataset class and the transforms are the plain train.py's, text for text
    dataset = "ImageFiles" if kind == "images" else "CsvRows"
    functions = meta.get("transforms", [])
    for name in [dataset, *{t["name"] for t in functions}]:
        assert _definition(lit["train.py"], name) == _definition(plain["train.py"], name), name
    source = lit["train.py"]
    assert "class StreamData(L.LightningDataModule):" in source
    assert "def data_loader(" not in source  # the plain Run's loader: not in this script
    assert "use_distributed_sampler=False" in source
    _write(lit, out)
    for name in ("train.py", "lit_model.py"):
        text = (out / name).read_text()
        assert black.format_str(text, mode=black.Mode(line_length=88)) == text, name
        imported = [
            line.split()[1].split(".")[0]
            for line in text.splitlines()
            if line.lstrip().startswith(("import ", "from "))
        ]
        assert "nndsl" not in imported, name
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_copy_of_the_images_whatever_their_number(tmp_path: Path) -> None:
    sizes = {}
    for per_class in (10, 300):
        folder = tmp_path / f"n{per_class}"
        _images_spec(folder, "augment=[hflip], val_split=0.25", per_class=per_class)
        result = subprocess.run(
            [sys.executable, "-m", "nndsl", "generate", "spec.nn", "-o", "out", "--target"]
            + ["lightning"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        out = folder / "out"
        assert sorted(p.name for p in out.iterdir()) == FILES
        assert json.loads((out / "data.json").read_text())["root"] == "../images"
        sizes[per_class] = sum(p.stat().st_size for p in out.iterdir())
    # 30x more images: the same files, the same size but for the digits of the counts
    assert abs(sizes[300] - sizes[10]) < 64, sizes


# ---- the same numbers three ways: nndsl run, the plain train.py, the Lightning train.py --------


@pytest.mark.slow
def test_image_folder_with_augmentation_three_ways(tmp_path: Path) -> None:
    spec = _images_spec(
        tmp_path,
        "augment=[random_crop(8, padding=1), hflip(), color_jitter(0.2, 0.2, 0.2)], workers=2, "
        "val_split=0.25, normalize=true",
    )
    columns = ["train_loss", "train_accuracy", "val_loss", "val_accuracy"]
    history = _train_three_ways(spec, tmp_path, 2, columns)
    assert len(history) == 2
    assert (tmp_path / "lit" / "run" / "last.ckpt").is_file() or not HAS_LIGHTNING


@pytest.mark.slow
def test_streamed_csv_three_ways_with_a_test_split(tmp_path: Path) -> None:
    spec = _csv_spec(tmp_path, "stream=true, workers=1, test_split=0.1, ")
    history = _train_three_ways(spec, tmp_path, 2, ["train_loss", "train_accuracy", "val_loss"])
    assert history[-1]["val_loss"] < history[0]["val_loss"]
    if HAS_LIGHTNING:  # the test split, seen once by the final model: the same numbers
        want = json.loads((tmp_path / "run" / "test_metrics.json").read_text())
        got = json.loads((tmp_path / "lit" / "run" / "test_metrics.json").read_text())
        assert sorted(got) == sorted(want) == ["test_accuracy", "test_loss"]
        for key in want:
            assert got[key] == pytest.approx(want[key], rel=1e-5, abs=1e-6), key


# ---- errors: a clear message, no traceback ---------------------------------------------------


@needs_lightning
@pytest.mark.slow
def test_a_corrupt_image_is_an_error_naming_the_file(tmp_path: Path) -> None:
    spec = _images_spec(tmp_path, "augment=[hflip], workers=1", per_class=4)
    out = _write(_files(spec, tmp_path / "out"), tmp_path / "out")
    bad = tmp_path / "images" / "dog" / "00002.png"
    bad.write_bytes(b"not a png")  # the same name: the listing still matches data.json
    result = subprocess.run(
        [sys.executable, "train.py", "--out", "run", "--quiet"],
        cwd=out,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert f"error: cannot read the image {bad}" in result.stderr
    assert "skip_bad=true" in result.stderr


def _files_below(folder: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) below `folder`."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


@needs_lightning
@pytest.mark.slow
def test_a_run_stopped_by_a_corrupt_image_leaves_every_folder_as_it_was(
    tmp_path: Path,
) -> None:
    """An unreadable image stops the first epoch, before any result: the Lightning train.py,
    as the plain one, leaves no run folder (nor `runs/`) behind, and the folder of an earlier
    run keeps its files, metrics.csv (which Lightning's CSVLogger removes when a fit starts)
    and hparams.yaml included."""
    spec = _images_spec(tmp_path, "stream=true, workers=0", per_class=4)
    out = _write(_files(spec, tmp_path / "out"), tmp_path / "out")
    (tmp_path / "images" / "dog" / "00002.png").write_bytes(b"\x89PNG\r\n\x1a\n no image")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    for name, text in (
        ("hparams.yaml", "lr: null\n"),
        ("metrics.csv", "epoch,step,val_loss\n0,3,0.5\n"),
        ("last.ckpt", "x"),
        ("best.ckpt", "y"),
    ):
        (earlier / name).write_text(text)
    before = _files_below(tmp_path)
    # the three runs in one process (one import of Lightning): main() returns the exit code
    driver = (
        "import sys, train\n"
        "for argv in ([], ['--out', sys.argv[1]], ['--out', sys.argv[2]]):\n"
        "    print('exit', train.main([*argv, '--quiet']), flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", driver, str(tmp_path / "c" / "run"), str(earlier)],
        cwd=out,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.stdout.count("exit 1") == 3, result.stdout + result.stderr
    assert result.stderr.count("error: cannot read the image") == 3, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert _files_below(tmp_path) == before


@needs_lightning
def test_a_folder_that_changed_since_generate_is_a_clear_error(tmp_path: Path) -> None:
    spec = _images_spec(tmp_path, "stream=true", per_class=4)
    out = _write(_files(spec, tmp_path / "out"), tmp_path / "out")
    (tmp_path / "images" / "cat" / "00000.png").unlink()
    result = subprocess.run(
        [sys.executable, "train.py", "--out", "run", "--quiet"],
        cwd=out,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "changed since nndsl prepared the data" in result.stderr
    assert "Traceback" not in result.stderr


# ---- DDP: each training sample once per epoch across the processes ----------------------------

# Runs the generated Lightning train.py with 2 CPU processes (Lightning starts the second one by
# running this script again), recording the samples its training sampler gives each process.
RECORD = r"""
import json, os, sys

folder, record = sys.argv[1], sys.argv[2]
sys.path.insert(0, folder)
import train

seen = []


class Recording(train.EpochSampler):
    def __iter__(self):
        for index, epoch in super().__iter__():
            seen.append((epoch, self.dataset.files[index].decode()))
            yield index, epoch


train.EpochSampler = Recording
code = train.main(
    ["--devices", "2", "--accelerator", "cpu", "--epochs", "2", "--quiet"]
    + ["--out", os.path.join(folder, "run")]
)
rank = int(os.environ.get("LOCAL_RANK", "0"))
with open(f"{record}-{rank}.json", "w") as fh:
    json.dump(seen, fh)
sys.exit(code)
"""


@needs_lightning
@pytest.mark.slow
@pytest.mark.skipif(
    not __import__("torch").distributed.is_available(), reason="no torch.distributed"
)
def test_ddp_sees_each_sample_once_per_epoch(tmp_path: Path) -> None:
    # 40 training images, 10 validation images (two batches: one per process)
    spec = _images_spec(tmp_path, "augment=[hflip], workers=1, val_split=0.2", per_class=25)
    out = _write(_files(spec, tmp_path / "out"), tmp_path / "out")
    script = tmp_path / "record.py"
    script.write_text(RECORD)
    result = subprocess.run(
        [sys.executable, str(script), str(out), str(tmp_path / "seen")],
        env={**ENV, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    ranks = [json.loads((tmp_path / f"seen-{r}.json").read_text()) for r in (0, 1)]
    sys.path.insert(0, str(out))
    try:
        import training_utils as utils

        train_files = utils.load_stream(str(out / "data.json"), lambda *a, **k: a[1])["train"]
    finally:
        sys.path.remove(str(out))
        sys.modules.pop("training_utils", None)
    everything = sorted(f.decode() for f in train_files)
    assert len(everything) == 40
    orders = []
    for epoch in (0, 1):
        a, b = ([name for e, name in seen if e == epoch] for seen in ranks)
        assert len(a) == len(b) == 20
        assert sorted(a + b) == everything  # each sample once, across the two processes
        orders.append(a)
    assert orders[0] != orders[1]  # another order each epoch: Lightning called set_epoch
    rows = [r for r in (out / "run" / "metrics.csv").read_text().splitlines()[1:] if r]
    assert len(rows) == 4  # per epoch: a train row and a validation row


@needs_lightning
@pytest.mark.slow
@pytest.mark.skipif(
    not __import__("torch").distributed.is_available(), reason="no torch.distributed"
)
def test_ddp_with_fewer_validation_batches_than_processes(tmp_path: Path) -> None:
    # 60 validation rows, batches of 64: one batch for two processes.  Lightning refuses a
    # process without batches, and log_sums reduces over every process: each evaluates a
    # smaller batch, and the epoch's numbers are those of the whole split
    spec = _csv_spec(tmp_path, "stream=true, workers=0, ")
    spec.write_text(spec.read_text().replace("batch_size = 32", "batch_size = 64"))
    out = _write(_files(spec, tmp_path / "out"), tmp_path / "out")
    args = ["--devices", "2", "--accelerator", "cpu", "--epochs", "2", "--quiet", "--out", "run"]
    result = subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=out,
        env={**ENV, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    rows = [r for r in csv.DictReader((out / "run" / "metrics.csv").open()) if r["val_loss"]]
    assert len(rows) == 2
    import nndsl

    whole = nndsl.load(str(spec)).evaluate(out / "run" / "last.ckpt", split="val")["metrics"]
    for key in ("val_loss", "val_accuracy"):
        assert float(rows[-1][key]) == pytest.approx(whole[key], rel=1e-5, abs=1e-6), key


@needs_lightning
@pytest.mark.slow
@pytest.mark.skipif(
    not __import__("torch").distributed.is_available(), reason="no torch.distributed"
)
def test_ddp_with_fewer_validation_samples_than_processes_is_an_error(tmp_path: Path) -> None:
    spec = _csv_spec(tmp_path, "stream=true, workers=0, ")
    spec.write_text(spec.read_text().replace("val_split=0.2", "val_split=0.004"))  # 1 row
    out = _write(_files(spec, tmp_path / "out"), tmp_path / "out")
    args = ["--devices", "2", "--accelerator", "cpu", "--epochs", "1", "--quiet", "--out", "run"]
    result = subprocess.run(
        [sys.executable, "train.py", *args],
        cwd=out,
        env={**ENV, "TMPDIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1
    assert "error: the val split has 1 samples, fewer than the 2 processes" in result.stderr
    assert "Traceback" not in result.stderr


# ---- --resume: the epochs of a run that was not interrupted -----------------------------------


@needs_lightning
@pytest.mark.slow
def test_resume_continues_with_the_epochs_order_and_transforms(tmp_path: Path) -> None:
    # Lightning starts the workers reading a fit's first epoch before it calls set_epoch:
    # the resumed epoch must still be epoch 3's order and augmentation, not epoch 1's
    spec = _images_spec(
        tmp_path, "augment=[random_crop(8, padding=1), hflip()], workers=1", per_class=12
    )
    out = _write(_files(spec, tmp_path / "out"), tmp_path / "out")

    def train(*args: str) -> None:
        result = subprocess.run(
            [sys.executable, "train.py", "--quiet", *args],
            cwd=out,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    train("--epochs", "3", "--out", "whole")
    train("--epochs", "2", "--out", "parts")
    train("--epochs", "3", "--out", "parts", "--resume", "parts/last.ckpt")
    whole = (out / "whole" / "metrics.csv").read_text().splitlines()
    parts = (out / "parts" / "metrics.csv").read_text().splitlines()
    assert len(whole) == 4  # the header and a row per epoch
    assert parts[-1] == whole[-1]  # the third epoch: the same loss and accuracy
