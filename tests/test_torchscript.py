"""Generated models compile with `torch.jit.script` and `torch.export.export`, and the compiled
programs compute what the eager modules compute (eval mode, a random input of the spec's input
shape with its symbolic sizes bound to small values)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pytest

from nndsl import dims
from nndsl.check import check_file
from nndsl.codegen import model_source

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted(p for p in (ROOT / "samples").glob("*.nn") if p.stem != "blocks")
ZOO = sorted((ROOT / "samples" / "zoo").glob("*.nn"))
# shared modules, tied parameters, buffers and initialisers (tests/test_sharing.py)
SHARING = sorted((ROOT / "tests" / "fixtures" / "sharing").glob("*.nn"))

# small values for the symbolic sizes of the inputs
STANDINS = {"B": 2, "T": 7, "H": 16, "W": 16}


def _build(spec: Path, monkeypatch, tmp_path: Path):
    monkeypatch.chdir(spec.parent)
    monkeypatch.syspath_prepend(str(spec.parent))  # mypkg for the mixer sample
    checked = check_file(spec.name)
    assert checked.ok, [d.message for d in checked.diagnostics if d.is_error]
    models = [m for m, inst in checked.models.items() if inst is not None]
    (tmp_path / "model.py").write_text(model_source(checked, models))
    module_spec = importlib.util.spec_from_file_location(f"jit_{spec.stem}", tmp_path / "model.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module, [(name, checked.models[name]) for name in models]


def _input(t):
    import torch

    from nndsl.catalog.core import DTYPE_ALIASES

    shape = [dims.evaluate(d, STANDINS) for d in t.shape]
    if t.dtype.startswith("int"):
        dtype = getattr(torch, DTYPE_ALIASES.get(t.dtype, t.dtype))
        return torch.randint(0, 50, shape, dtype=dtype)
    return torch.randn(shape)


def _same(a, b) -> bool:
    import torch

    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5)


def _check_compiles(spec: Path, monkeypatch, tmp_path: Path) -> None:
    import torch

    module, models = _build(spec, monkeypatch, tmp_path)
    for name, inst in models:
        torch.manual_seed(0)
        model = getattr(module, name)().eval()
        inputs = tuple(_input(v.type) for _, v in inst.inputs)
        with torch.no_grad():
            expected = model(*inputs)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # nn.TransformerEncoder's nested-tensor note
                scripted = torch.jit.script(model)
            assert _same(scripted(*inputs), expected), f"{name}: TorchScript differs"
        exported = torch.export.export(model, inputs)
        with torch.no_grad():
            assert _same(exported.module()(*inputs), expected), f"{name}: torch.export differs"


@pytest.mark.parametrize("spec", SAMPLES, ids=lambda p: p.stem)
def test_sample_scripts_and_exports(spec: Path, monkeypatch, tmp_path: Path) -> None:
    _check_compiles(spec, monkeypatch, tmp_path)


@pytest.mark.parametrize("spec", SHARING, ids=lambda p: p.stem)
def test_sharing_specs_script_and_export(spec: Path, monkeypatch, tmp_path: Path) -> None:
    _check_compiles(spec, monkeypatch, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("spec", ZOO, ids=lambda p: p.stem)
def test_zoo_scripts_and_exports(spec: Path, monkeypatch, tmp_path: Path) -> None:
    _check_compiles(spec, monkeypatch, tmp_path)
