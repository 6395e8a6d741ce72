"""Generated code for the classic architectures of samples/zoo: every model builds, with the
checker's parameter count, its parameter names are the ones `summary` prints, and its
`state_dict` keys are exactly torchvision's.

torchvision's keys are stored in tests/data/zoo_keys/<Model>.txt, one key per line, in
torchvision's order.  torchvision cannot be installed here, so they were written out from
torchvision's source: each model's module hierarchy (torchvision/models/*.py with
torchvision/ops/misc.py's Conv2dNormActivation, SqueezeExcitation and Permute) was transcribed
into plain torch.nn modules, built on the meta device and its `state_dict()` keys listed; every
transcription has torchvision's published parameter count (the counts of tests/test_zoo.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nndsl.check import check_file
from nndsl.check.graph import iter_modules
from nndsl.codegen import model_source

ROOT = Path(__file__).resolve().parent.parent
ZOO = sorted((ROOT / "samples" / "zoo").glob("*.nn"))
KEYS = Path(__file__).resolve().parent / "data" / "zoo_keys"

# zoo models whose names are not torchvision's, and why
NOT_TORCHVISION_NAMES = {
    # torch's own nn.TransformerEncoder layout, on purpose (the same network as ViT_B_16)
    "ViT_B_16_TorchEncoder": "torch's TransformerEncoder names (`encoder.layers.0.linear1`)",
}


_BUILT: dict[Path, tuple] = {}


def _build(spec: Path, tmp_path_factory):
    """The spec checked, its models, and its generated model.py imported (once per session)."""
    if spec not in _BUILT:
        _BUILT[spec] = _built(spec, tmp_path_factory.mktemp(spec.stem))
    return _BUILT[spec]


def _built(spec: Path, out: Path):
    checked = check_file(str(spec))
    assert checked.ok, [d.message for d in checked.diagnostics if d.is_error]
    models = [m for m, inst in checked.models.items() if inst is not None]
    (out / "model.py").write_text(model_source(checked, models))
    module_spec = importlib.util.spec_from_file_location(f"zoo_{spec.stem}", out / "model.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return checked, models, module


@pytest.mark.parametrize("spec", ZOO, ids=lambda p: p.stem)
def test_zoo_generates_and_builds(spec: Path, tmp_path_factory) -> None:
    import torch

    checked, models, module = _build(spec, tmp_path_factory)
    for name in models:
        inst = checked.models[name]
        with torch.device("meta"):
            model = getattr(module, name)()
        assert sum(p.numel() for p in model.parameters()) == inst.total_params(), name
        prefixes = {q for q, slot, _ in iter_modules(inst)} | {p.name for p in inst.param_tensors}
        for key, _ in model.named_parameters():
            owner = key.rsplit(".", 1)[0] if "." in key else key
            assert any(owner == p or owner.startswith(p + ".") for p in prefixes), f"{name}: {key}"


def test_every_zoo_model_has_torchvision_keys(tmp_path_factory) -> None:
    models = {m for spec in ZOO for m in _build(spec, tmp_path_factory)[1]}
    stored = {p.stem for p in KEYS.glob("*.txt")}
    assert models - set(NOT_TORCHVISION_NAMES) == stored


@pytest.mark.parametrize("keys", sorted(KEYS.glob("*.txt")), ids=lambda p: p.stem)
def test_state_dict_keys_are_torchvision_s(keys: Path, tmp_path_factory) -> None:
    import torch

    name = keys.stem
    spec = next(s for s in ZOO if f"model {name}" in s.read_text())
    _, _, module = _build(spec, tmp_path_factory)
    with torch.device("meta"):
        model = getattr(module, name)()
    have = list(model.state_dict())
    want = keys.read_text().split()
    assert sorted(have) == sorted(want)
