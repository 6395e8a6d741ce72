"""Generated PyTorch: golden files, ruff, no nndsl import, and executed against the checker.

The golden copies live in tests/golden/<sample>/; after a deliberate change to the generator,
regenerate them with

    python -m pytest tests/test_codegen.py --update-golden

and review the diff.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl import dims
from nndsl.check import check_file
from nndsl.codegen import generate_files

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SPECS = sorted(p for p in SAMPLES.glob("*.nn") if p.stem != "blocks")

# concrete values for the symbolic sizes of the samples' inputs
STANDINS = {"B": 3, "T": 7, "H": 16, "W": 16}


def _generate(spec: Path, monkeypatch) -> dict[str, str]:
    monkeypatch.chdir(SAMPLES)  # paths in headers are relative to the samples folder
    monkeypatch.syspath_prepend(str(SAMPLES))  # mypkg for the mixer sample
    checked = check_file(spec.name)
    assert checked.ok, checked.diagnostics
    models = [m for m, inst in checked.models.items() if inst is not None]
    return generate_files(checked, models, with_data=False), checked


#: written verbatim beside every training script: compared with the package's module, not
#: kept as one golden copy per sample
UTILS_FILE = "training_utils.py"


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_golden(spec: Path, monkeypatch, update_golden: bool) -> None:
    files, _ = _generate(spec, monkeypatch)
    if UTILS_FILE in files:
        from nndsl.codegen.output import seal

        package = Path(__file__).resolve().parents[1] / "nndsl" / "runtime" / UTILS_FILE
        assert files.pop(UTILS_FILE) == seal(package.read_text(encoding="utf-8"))
    folder = GOLDEN / spec.stem
    if update_golden:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text)
        return
    assert sorted(p.name for p in folder.iterdir()) == sorted(files), "run with --update-golden"
    for name, text in files.items():
        assert (folder / name).read_text() == text, (
            f"{spec.stem}/{name} differs from its golden copy"
        )


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_deterministic(spec: Path, monkeypatch) -> None:
    first, _ = _generate(spec, monkeypatch)
    second, _ = _generate(spec, monkeypatch)
    assert first == second


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_ruff_clean_and_standalone(spec: Path, monkeypatch, tmp_path: Path) -> None:
    files, _ = _generate(spec, monkeypatch)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        assert "nndsl" not in [
            line.split()[1].split(".")[0]
            for line in text.splitlines()
            if line.startswith(("import ", "from "))
        ]
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _concrete(t):
    import torch

    from nndsl.catalog.core import DTYPE_ALIASES

    shape = [dims.evaluate(d, STANDINS) for d in t.shape]
    if t.dtype.startswith("int"):
        return torch.randint(
            0, 50, shape, dtype=getattr(torch, DTYPE_ALIASES.get(t.dtype, t.dtype))
        )
    return torch.randn(shape)


def _shape_of(t) -> tuple:
    return tuple(dims.evaluate(d, STANDINS) for d in t.shape)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_generated_models_run(spec: Path, monkeypatch, tmp_path: Path) -> None:
    """Build every generated model, run a batch: output shapes and parameter counts equal the
    checker's (what `summary` prints)."""
    import torch

    files, checked = _generate(spec, monkeypatch)
    (tmp_path / "model.py").write_text(files["model.py"])
    module = _load(tmp_path / "model.py", f"gen_{spec.stem}")
    torch.manual_seed(0)
    for name, inst in checked.models.items():
        model = getattr(module, name)()
        model.eval()
        assert sum(p.numel() for p in model.parameters()) == inst.total_params()
        inputs = [_concrete(v.type) for _, v in inst.inputs]
        with torch.no_grad():
            out = model(*inputs)
        outs = out if isinstance(out, tuple) else (out,)
        expected = inst.output_types()
        assert [tuple(o.shape) for o in outs] == [_shape_of(t) for t in expected]


def test_data_snapshot_is_deterministic(monkeypatch) -> None:
    import io

    import numpy as np

    monkeypatch.chdir(SAMPLES)
    checked = check_file("digits_cnn.nn")
    a = generate_files(checked, ["DigitsCNN"])["data.npz"]
    b = generate_files(checked, ["DigitsCNN"])["data.npz"]
    assert a == b
    arrays = np.load(io.BytesIO(a))
    assert arrays["train_x"].shape == (1438, 1, 8, 8) and arrays["val_x"].shape == (359, 1, 8, 8)
    assert arrays["train_y"].dtype == np.int64


def test_resnet18_state_dict_keys_match_torchvision(monkeypatch, tmp_path: Path) -> None:
    files, _ = _generate(SAMPLES / "resnet.nn", monkeypatch)
    (tmp_path / "model.py").write_text(files["model.py"])
    module = _load(tmp_path / "model.py", "gen_resnet_keys")
    keys = list(module.ResNet18().state_dict())
    expected = (
        (Path(__file__).parent / "data" / "torchvision_resnet18_keys.txt").read_text().split()
    )
    assert keys == expected


USER_SPEC = """\
from mylayers import Scale

model M {
    input x: [B, 4]
    Linear(8) -> Scale(2.0) -> relu -> Linear(3)
}

train {
    data      = random(shape=[4], classes=3, n=32)
    loss      = CrossEntropyLoss()
    optimizer = SGD(lr=0.1)
    epochs    = 1
}
"""

USER_MODULE = """\
import torch.nn as nn


class Scale(nn.Module):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor
"""


@pytest.mark.slow
@pytest.mark.parametrize("target", ["pytorch", "lightning"])
def test_scripts_find_the_users_modules_without_pythonpath(tmp_path: Path, target) -> None:
    """The user's Python modules live beside the spec; the generated script, written elsewhere,
    puts that folder on sys.path itself (relative to its own file, so the pair can move)."""
    if target == "lightning" and importlib.util.find_spec("lightning") is None:
        pytest.skip("lightning is not installed")
    project = tmp_path / "project"
    project.mkdir()
    (project / "spec.nn").write_text(USER_SPEC)
    (project / "mylayers.py").write_text(USER_MODULE)
    cmd = [sys.executable, "-m", "nndsl", "generate", "project/spec.nn", "-o", "gen/out"]
    done = subprocess.run(cmd + ["--target", target], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "gen" / "out"
    assert (
        'sys.path.insert(0, str(Path(__file__).resolve().parent / "../../project"))'
        in (out / "train.py").read_text()
    )
    moved = tmp_path / "elsewhere"
    shutil.copytree(tmp_path, moved, ignore=shutil.ignore_patterns("elsewhere"))
    env = {k: v for k, v in __import__("os").environ.items() if k != "PYTHONPATH"}
    for args in (["--help"], ["--epochs", "1", "--out", "run"]):
        run = subprocess.run(
            [sys.executable, "train.py", *args],
            cwd=moved / "gen" / "out",
            capture_output=True,
            text=True,
            env=env,
        )
        assert run.returncode == 0, run.stderr[-2000:]


@pytest.mark.parametrize(
    "spec",
    SPECS + sorted((SAMPLES / "zoo").glob("*.nn")) + sorted((FIXTURES / "sharing").glob("*.nn")),
    ids=lambda p: p.stem,
)
def test_class_attributes_come_from_the_checker(spec: Path, monkeypatch) -> None:
    """What the Lightning target must not shadow is known from the checker's instances, not
    read back from the text: it equals every name the generated `__init__`s set on `self`."""
    import ast

    from nndsl.codegen import model_code

    monkeypatch.chdir(spec.parent)
    monkeypatch.syspath_prepend(str(SAMPLES))
    checked = check_file(spec.name)
    models = [m for m, inst in checked.models.items() if inst is not None]
    code = model_code(checked, models)
    for node in ast.parse(code.source).body:
        if not isinstance(node, ast.ClassDef):
            continue
        init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
        written = {
            t.attr
            for n in ast.walk(init)
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Attribute)
            and isinstance(t.value, ast.Name)
            and t.value.id == "self"
        } | {
            n.args[0].value
            for n in ast.walk(init)
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and n.func.attr == "register_buffer"
        }
        assert code.attributes[node.name] == written, node.name


def test_a_layer_named_like_a_lightning_attribute_is_refused(tmp_path: Path) -> None:
    spec = tmp_path / "spec.nn"
    spec.write_text(
        "model M {\n    input x: [B, 4]\n    x -> trainer: Linear(3)\n}\n\n"
        "train {\n    data = random(shape=[4], classes=3, n=8)\n    loss = CrossEntropyLoss()\n"
        "    optimizer = SGD(lr=0.1)\n    epochs = 1\n}\n"
    )
    checked = check_file(str(spec))
    assert checked.ok
    with pytest.raises(Exception, match="attribute `trainer` is a name that LightningModule uses"):
        generate_files(checked, ["M"], target="lightning", with_data=False)
