"""torchvision.transforms.v2 transforms in `augment=[...]`: checked against torchvision's own
signatures and checks, run by `nndsl run` and written in train.py as `v2.Name(...)`, random ones
on training data only and seeded per sample; without torchvision, a located error.

torchvision is not installed here (no CPU wheel for the pinned torch): the tests put a stand-in
with torchvision's signatures and behaviour on the path (tests/fake_torchvision).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FAKE = Path(__file__).parent / "fake_torchvision"


def _streaming():
    path = Path(__file__).parent / "test_streaming.py"
    if "nndsl_test_streaming_helpers" not in sys.modules:
        spec = importlib.util.spec_from_file_location("nndsl_test_streaming_helpers", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["nndsl_test_streaming_helpers"] = module
        spec.loader.exec_module(module)
    return sys.modules["nndsl_test_streaming_helpers"]


st = _streaming()
runlib = st.runlib
REAL_TORCHVISION = importlib.util.find_spec("torchvision") is not None

TV = (
    "RandomResizedCrop(8, scale=(0.5, 1.0), antialias=true), RandomHorizontalFlip(), "
    "RandomApply([ColorJitter(0.4, 0.4, 0.4)], p=0.8), Normalize([0.5, 0.4, 0.3], [0.2, 0.25, "
    "0.3])"
)
AUGMENT = f"augment=[{TV}]"
WITH_HFLIP = f"augment=[{TV}, hflip()]"


def env(with_fake: bool) -> dict[str, str]:
    out = dict(runlib.ENV)
    if with_fake:
        out["PYTHONPATH"] = os.pathsep.join([str(FAKE), out["PYTHONPATH"]])
    return out


def nndsl(*args: str, cwd: Path, fake: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*st.NNDSL, *args], cwd=cwd, env=env(fake), capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def fake_torchvision():
    """The stand-in torchvision importable in this process (and forgotten afterwards)."""
    sys.path.insert(0, str(FAKE))
    yield
    sys.path.remove(str(FAKE))
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]


def located(err: str, line: int, col: int, message: str) -> bool:
    """Whether `err` has the error `message` at spec.nn:line:col."""
    pattern = re.escape(message) + r"[^\n]*\n\s*--> spec\.nn:" + f"{line}:{col}\n"
    return re.search(pattern, err) is not None


def data_col(spec: Path, text: str) -> int:
    """The column of `text` on the data line (line 8) of the spec."""
    return spec.read_text().splitlines()[7].index(text) + 1


# ---- the checker ---------------------------------------------------------------------------------


@pytest.mark.skipif(REAL_TORCHVISION, reason="torchvision is installed")
def test_without_torchvision_a_v2_name_is_a_located_error(tmp_path: Path) -> None:
    spec = st.write_spec(
        tmp_path, "augment=[hflip(), RandomResizedCrop(8), RandomHorizontalFlip(), Flipp]", 1
    )
    result = nndsl("check", "spec.nn", cwd=tmp_path, fake=False)
    assert result.returncode == 1
    err = result.stderr + result.stdout
    assert "Traceback" not in err
    assert located(
        err,
        8,
        data_col(spec, "RandomResizedCrop"),
        "`RandomResizedCrop` is a torchvision.transforms.v2 transform, which needs torchvision "
        "(not installed)",
    )
    # the hint: install it, or the built-in transforms (the one that does the same, if any)
    assert "`random_crop(size, padding)`, `hflip(p)`, `color_jitter(" in err
    assert "nndsl's own `hflip(p)`, which does this and needs no torchvision" in err
    assert located(err, 8, data_col(spec, "Flipp"), "unknown transform `Flipp`")
    assert "spec.nn: 3 errors" in err


def test_bad_arguments_are_located_errors(tmp_path: Path) -> None:
    spec = st.write_spec(
        tmp_path,
        "augment=[RandomResizedCrop(8, scal=(0.5, 1.0)), RandomHorizontalFlip(p=2), "
        "RandomResizedCrop(), RandomFlip(), RandomApply([ColorJiter(0.4)]), "
        "ColorJitter(brightness=-1), Normalize([0.5], [0.5], false, 3), RandomHorizontalFlip(x)]",
        1,
    )
    result = nndsl("check", "spec.nn", cwd=tmp_path)
    assert result.returncode == 1
    err = result.stderr + result.stdout
    assert "Traceback" not in err
    assert located(err, 8, data_col(spec, "scal="), "`RandomResizedCrop` has no argument `scal`")
    assert "`RandomResizedCrop` takes: size, scale, ratio, interpolation, antialias" in err
    assert located(
        err,
        8,
        data_col(spec, "RandomHorizontalFlip(p=2)"),
        "torchvision refuses `RandomHorizontalFlip(...)`: ValueError: `p` should be a floating "
        "point value in the interval [0.0, 1.0].",
    )
    assert located(
        err, 8, data_col(spec, "RandomResizedCrop()"), "`RandomResizedCrop` needs `size`"
    )
    assert located(
        err,
        8,
        data_col(spec, "RandomFlip"),
        "unknown transform `RandomFlip`: torchvision.transforms.v2 has no `RandomFlip`",
    )
    assert located(err, 8, data_col(spec, "ColorJiter"), "unknown transform `ColorJiter`")
    assert "did you mean `ColorJitter`?" in err
    assert "If brightness is a single number, it must be non negative." in err
    assert located(
        err, 8, data_col(spec, "3)"), "`Normalize` takes at most 3 positional argument(s), got 4"
    )
    assert located(
        err,
        8,
        data_col(spec, "x)]"),
        "the arguments of `RandomHorizontalFlip` are numbers, strings, booleans",
    )
    assert "spec.nn: 8 errors" in err


def test_check_imports_torchvision_only_for_a_v2_name(tmp_path: Path) -> None:
    st.write_spec(tmp_path / "builtin", "augment=[random_crop(8, padding=1), hflip()]", 1)
    st.write_spec(tmp_path / "tv", "augment=[RandomHorizontalFlip()]", 1)
    code = (
        "import contextlib, io, sys\n"
        "from nndsl.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    assert main(['check', sys.argv[1]]) == 0\n"
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))\n"
    )
    out = {}
    for name in ("builtin", "tv"):
        result = subprocess.run(
            [runlib.PYTHON, "-c", code, str(tmp_path / name / "spec.nn")],
            env=env(True),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        out[name] = result.stdout.strip()
    assert out == {"builtin": "[]", "tv": "['torch', 'torchvision']"}


# ---- the generated script -----------------------------------------------------------------------


def test_generated_script_writes_v2_calls(tmp_path: Path, fake_torchvision) -> None:
    spec = st.write_spec(tmp_path, WITH_HFLIP + ", val_split=0.25")
    out = runlib.generate(spec, tmp_path / "out")
    source = (out / "train.py").read_text()
    assert "from torchvision.transforms import v2\n" in source
    flat = " ".join(source.split())
    assert (
        "TRAIN_TRANSFORMS = v2.Compose( [ v2.RandomResizedCrop(8, scale=(0.5, 1.0), "
        "antialias=True), v2.RandomHorizontalFlip(), v2.RandomApply([v2.ColorJitter(0.4, 0.4, "
        "0.4)], p=0.8), ] )" in flat
    )
    assert "TRANSFORMS = v2.Normalize([0.5, 0.4, 0.3], [0.2, 0.25, 0.3])" in flat
    assert "x = with_generator(TRAIN_TRANSFORMS, x, generator)" in source
    assert "x = TRANSFORMS(x)" in source
    meta = json.loads((out / "data.json").read_text())
    assert [(t["name"], t["random"], t.get("torchvision")) for t in meta["transforms"]] == [
        ("RandomResizedCrop", True, True),
        ("RandomHorizontalFlip", True, True),
        ("RandomApply", True, True),
        ("Normalize", False, True),
        ("hflip", True, None),
    ]
    assert meta["transforms"][2]["args"] == [
        [{"name": "ColorJitter", "args": [0.4, 0.4, 0.4], "kwargs": {}}]
    ]
    ruff = str(Path(sys.executable).parent / "ruff")
    lint = subprocess.run(
        [ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W", str(out / "train.py")],
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout


def test_random_v2_transforms_on_training_data_only_seeded(
    tmp_path: Path, fake_torchvision
) -> None:
    import torch
    from torchvision.transforms import v2

    spec = st.write_spec(tmp_path, AUGMENT + ", val_split=0.25")
    data = st.stream_data(spec, tmp_path / "out")
    train, val = data["train"], data["val"]
    mean = torch.tensor([0.5, 0.4, 0.3]).reshape(3, 1, 1)
    std = torch.tensor([0.2, 0.25, 0.3]).reshape(3, 1, 1)

    def plain(dataset, i: int) -> torch.Tensor:
        from PIL import Image

        pixels = np.asarray(Image.open(st.image_path(dataset, i)).convert("RGB"), np.float32)
        return torch.from_numpy(pixels.transpose(2, 0, 1) / 255.0)

    # validation: only the deterministic Normalize, every epoch
    for epoch in (0, 1):
        x, _ = val[(2, epoch)]
        torch.testing.assert_close(x, (plain(val, 2) - mean) / std)
    # training: torchvision's transforms, drawing from this sample's generator
    state = torch.get_rng_state()
    x, _ = train[(5, 1)]
    assert torch.equal(torch.get_rng_state(), state)  # the global random state is the model's
    generator = torch.Generator().manual_seed((0 * 1_000_003 + 1) * 1_000_000_007 + 5)
    torch.manual_seed(123)
    torch.set_rng_state(generator.get_state())
    expected = v2.Compose(
        [
            v2.RandomResizedCrop(8, scale=(0.5, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4)], p=0.8),
        ]
    )(plain(train, 5))
    torch.testing.assert_close(x, (expected - mean) / std)
    # the same (seed, epoch, sample): the same image; another epoch or seed: other draws
    assert torch.equal(x, train[(5, 1)][0])
    assert not torch.equal(x, train[(5, 2)][0])
    train.seed = 3
    assert not torch.equal(x, train[(5, 1)][0])


def test_same_seed_same_batches_with_any_number_of_workers(
    tmp_path: Path, fake_torchvision
) -> None:
    import torch

    spec = st.write_spec(tmp_path, WITH_HFLIP + ", workers=0")
    data = st.stream_data(spec, tmp_path / "out")

    def batches(workers: int, seed: int) -> list[torch.Tensor]:
        return st.seeded_batches(data, workers, seed)

    first, again, workers = batches(0, 3), batches(0, 3), batches(2, 3)
    assert len(first) == 12
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert all(torch.equal(a, b) for a, b in zip(first, workers))
    assert not all(torch.equal(a, b) for a, b in zip(first, batches(0, 4)))


def test_python_api_without_torchvision_is_a_data_error() -> None:
    from nndsl.data.errors import DataError
    from nndsl.data.streaming import transforms

    if REAL_TORCHVISION:
        pytest.skip("torchvision is installed")
    with pytest.raises(DataError, match="'RandomHorizontalFlip' is a torchvision.transforms.v2"):
        transforms([{"name": "RandomHorizontalFlip", "args": [], "kwargs": {}}])


# ---- training: nndsl run and train.py, resume ------------------------------------------------------


@runlib.slow("three training runs")
def test_run_and_script_agree_and_resume_is_exact(tmp_path: Path) -> None:
    st.write_spec(tmp_path, WITH_HFLIP + ", workers=2, val_split=0.25", epochs=3)
    result = nndsl("run", "spec.nn", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    result = nndsl("generate", "spec.nn", "-o", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    def script(*args: str) -> None:
        done = subprocess.run(
            [runlib.PYTHON, "train.py", "--quiet", *args],
            cwd=out,
            env=env(True),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr

    script("--out", "full")
    full = runlib.losses(out / "full" / "metrics.csv")
    assert len(full) == 3
    assert runlib.losses(tmp_path / "run" / "metrics.csv") == full
    script("--out", "part", "--epochs", "1")
    script("--out", "part", "--resume", "part/last.pt")
    assert runlib.losses(out / "part" / "metrics.csv") == full


# ---- tables: the built-in transforms of csv rows ---------------------------------------------------

TABLE_SPEC = """model M {{
    input x: [B, 4]
    Linear(16) -> relu -> Linear(2)
}}

train {{
    model = M
    data = csv("t.csv", target="label", {options})
    loss = CrossEntropyLoss()
    optimizer = Adam(lr=1e-2)
    epochs = 2
    batch_size = 16
    metrics = [accuracy]
}}
"""


def write_table(folder: Path, options: str) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    lines = ["a,b,c,d,label"] + [
        ",".join(f"{v:.4f}" for v in row) + f",{label}" for row, label in zip(x, y)
    ]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "t.csv").write_text("\n".join(lines) + "\n")
    spec = folder / "spec.nn"
    spec.write_text(TABLE_SPEC.format(options=options))
    return spec


def test_table_transforms_errors_are_located(tmp_path: Path) -> None:
    spec = write_table(
        tmp_path,
        "augment=[hflip(), gaussian_noise(-1), RandomHorizontalFlip(), noise(1), "
        "feature_dropout(p=1.5)]",
    )
    result = nndsl("check", "spec.nn", cwd=tmp_path)
    assert result.returncode == 1
    err = result.stderr + result.stdout
    assert "Traceback" not in err
    assert located(
        err, 8, data_col(spec, "hflip"), "`hflip` transforms images, not the samples of `csv`"
    )
    assert "the transforms of `csv`: `gaussian_noise`, `feature_dropout`" in err
    assert located(
        err,
        8,
        data_col(spec, "gaussian_noise"),
        "`std` of `gaussian_noise` must be a number, 0 or more",
    )
    assert located(
        err,
        8,
        data_col(spec, "RandomHorizontalFlip"),
        "`RandomHorizontalFlip` transforms images, not the samples of `csv`",
    )
    assert located(err, 8, data_col(spec, "noise(1)"), "unknown transform `noise`")
    assert located(
        err, 8, data_col(spec, "feature_dropout"), "`p` of `feature_dropout` is a probability"
    )
    # an image folder does not take the table transforms
    st.write_spec(tmp_path / "img", "augment=[gaussian_noise(0.1)]", 1)
    result = nndsl("check", "spec.nn", cwd=tmp_path / "img")
    assert "`gaussian_noise` transforms tables, not the samples of `image_folder`" in result.stderr


def test_table_transforms_on_training_rows_only_seeded(tmp_path: Path) -> None:
    import torch

    spec = write_table(
        tmp_path,
        "augment=[gaussian_noise(0.5), feature_dropout(p=0.25)], normalize=true, "
        "val_split=0.25, workers=0",
    )
    out = runlib.generate(spec, tmp_path / "out")
    script = st.generated(out)
    data = script.utils.load_stream(str(out / "data.json"), script.CsvRows)
    train, val = data["train"], data["val"]
    mean = torch.tensor(data["normalization"]["mean"])
    std = torch.tensor(data["normalization"]["std"])
    rows = np.loadtxt(tmp_path / "t.csv", delimiter=",", skiprows=1, dtype=np.float32)

    def row_of(dataset, i: int) -> torch.Tensor:
        """The standardised features of the dataset's i-th row, found in the file."""
        dataset.handle = None
        dataset.pid = -1
        offset = int(dataset.offsets[i])
        line = (tmp_path / "t.csv").read_bytes()[offset:].split(b"\n")[0].decode()
        values = [float(v) for v in line.split(",")[:4]]
        assert any(np.allclose(values, r[:4]) for r in rows)
        return (torch.tensor(values) - mean) / std

    for epoch in (0, 1):  # validation rows: only standardised
        torch.testing.assert_close(val[(3, epoch)][0], row_of(val, 3))
    x = train[(7, 1)][0]
    generator = torch.Generator().manual_seed((0 * 1_000_003 + 1) * 1_000_000_007 + 7)
    expected = row_of(train, 7) + torch.randn(4, generator=generator) * 0.5
    expected = expected * (torch.rand(4, generator=generator) >= 0.25)
    torch.testing.assert_close(x, expected)
    assert torch.equal(x, train[(7, 1)][0])
    assert not torch.equal(x, train[(7, 0)][0])


@runlib.slow("two training runs")
def test_table_transforms_run_and_script_agree(tmp_path: Path) -> None:
    spec = write_table(
        tmp_path, "augment=[gaussian_noise(0.1), feature_dropout(p=0.1)], val_split=0.2, workers=1"
    )
    result = nndsl("run", "spec.nn", "--out", "run", "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = runlib.generate(spec, tmp_path / "out")
    script = runlib.run_script(out, "--out", "run", "--quiet")
    assert script.returncode == 0, script.stderr
    assert runlib.losses(tmp_path / "run" / "metrics.csv") == runlib.losses(
        out / "run" / "metrics.csv"
    )
    meta = json.loads((out / "data.json").read_text())
    assert meta["transforms"] == [
        {"name": "gaussian_noise", "random": True, "std": 0.1},
        {"name": "feature_dropout", "random": True, "p": 0.1},
    ]


def test_a_transform_that_does_not_fit_the_images_is_a_clear_error(tmp_path: Path) -> None:
    st.write_spec(tmp_path / "tv", "augment=[Normalize([0.5, 0.5], [0.2, 0.2])]", 2)
    st.write_spec(tmp_path / "own", "augment=[normalize([0.5, 0.5], [0.2, 0.2])]", 2)
    for name, error in (
        ("tv", "ValueError: Expected 3 values for mean, got 2"),
        ("own", "RuntimeError: The size of tensor a (3) must match the size of tensor b (2)"),
    ):
        result = nndsl("run", "spec.nn", "--out", "run", "--quiet", cwd=tmp_path / name)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "the first samples cannot be prepared as training prepares them" in result.stderr
        assert error in result.stderr
        # at the `augment` option of the spec's `data`
        column = (tmp_path / name / "spec.nn").read_text().splitlines()[7].index("[") + 1
        assert f"--> spec.nn:8:{column}\n" in result.stderr, result.stderr
        assert not (tmp_path / name / "run" / "last.pt").exists()


def test_augment_with_stream_false_is_a_located_error(tmp_path: Path) -> None:
    spec = write_table(tmp_path, "augment=[gaussian_noise(0.1)], stream=false")
    result = nndsl("check", "spec.nn", cwd=tmp_path)
    assert result.returncode == 1
    assert located(
        result.stderr,
        8,
        data_col(spec, "false"),
        "`augment` needs `csv` to stream from its files, which `stream=false` forbids",
    )
