"""The static torch API snapshot: in sync with the pinned torch, sane, and torch-free."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.catalog import api
from nndsl.catalog.torch_api import (
    FUNCTIONAL,
    INIT_FUNCTIONS,
    INIT_TORCH_NAME,
    MODULE_KIND,
    MODULES,
    OPTIMIZERS,
    SCHEDULERS,
    TORCH_FUNCTION_OVERLOADS,
    TORCH_FUNCTIONS,
    TORCH_VERSION,
)

ROOT = Path(__file__).resolve().parent.parent
GENERATOR = ROOT / "tools" / "gen_torch_api.py"
SNAPSHOT = ROOT / "nndsl" / "catalog" / "torch_api.py"

KINDS = {"pos_or_kw", "kw_only", "var_pos", "var_kw"}
HAS_TORCH = importlib.util.find_spec("torch") is not None


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_snapshot_matches_installed_torch(tmp_path: Path) -> None:
    out = tmp_path / "torch_api.py"
    proc = subprocess.run(
        [sys.executable, str(GENERATOR), "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes() == SNAPSHOT.read_bytes(), (
        "nndsl/catalog/torch_api.py is stale for the installed torch; "
        "regenerate with: .venv/bin/python tools/gen_torch_api.py"
    )


def test_header_names_generator_and_version() -> None:
    head = SNAPSHOT.read_text(encoding="utf-8").splitlines()[0]
    assert "tools/gen_torch_api.py" in head and TORCH_VERSION in head and "Do not edit" in head


def _signatures():
    for section in (MODULES, FUNCTIONAL, TORCH_FUNCTIONS, OPTIMIZERS, SCHEDULERS, INIT_FUNCTIONS):
        for name, sig in section.items():
            if sig is not None:
                yield name, sig
    for name, overloads in TORCH_FUNCTION_OVERLOADS.items():
        for sig in overloads:
            yield name, sig


def _plain(value: object) -> bool:
    if value is None or type(value) in (bool, int, float, str):
        return True
    return type(value) is tuple and all(_plain(v) for v in value)


def test_signature_shape() -> None:
    for name, sig in _signatures():
        assert isinstance(sig, tuple), name
        for param in sig:
            pname, kind, default = param
            assert pname.isidentifier(), (name, param)
            assert kind in KINDS, (name, param)
            assert _plain(default), (name, param)
        names = api.param_names(sig)
        assert len(names) == len(set(names)), name


def test_conv2d_and_linear() -> None:
    conv = api.param_names(api.module_signature("Conv2d"))
    expected = (
        "in_channels",
        "out_channels",
        "kernel_size",
        "stride",
        "padding",
        "dilation",
        "groups",
        "bias",
        "padding_mode",
    )
    assert conv[: len(expected)] == expected
    assert api.required_params(MODULES["Conv2d"]) == ("in_channels", "out_channels", "kernel_size")
    linear = api.param_names(MODULES["Linear"])
    assert {"in_features", "out_features", "bias"} <= set(linear)
    assert MODULE_KIND["Conv2d"] == "layer"
    assert MODULE_KIND["ReLU"] == "activation"
    assert MODULE_KIND["Sequential"] == "container"
    assert "Module" not in MODULES


def test_functional() -> None:
    assert "kernel_size" in api.param_names(api.functional_signature("max_pool2d"))
    assert api.param_names(FUNCTIONAL["conv2d"])[:3] == ("input", "weight", "bias")
    assert api.functional_signature("no_such_function") is None


def test_losses() -> None:
    assert api.is_loss("CrossEntropyLoss")
    assert "label_smoothing" in api.param_names(api.module_signature("CrossEntropyLoss"))
    assert not api.is_loss("Linear")
    assert not api.is_loss("NoSuchLoss")


def test_optimizers_and_schedulers() -> None:
    adamw = api.param_names(api.optimizer_signature("AdamW"))
    assert {"lr", "weight_decay"} <= set(adamw)
    assert "params" not in adamw
    cosine = api.param_names(api.scheduler_signature("CosineAnnealingLR"))
    assert "T_max" in cosine and "optimizer" not in cosine
    assert api.optimizer_signature("Adamm") is None


def test_torch_functions() -> None:
    assert set(TORCH_FUNCTIONS) >= {"cat", "view", "einsum", "contiguous", "masked_fill"}
    assert api.param_names(api.torch_function_signature("cat"))[:2] == ("tensors", "dim")
    assert "dim" in api.param_names(api.torch_function_signature("softmax"))


def test_init() -> None:
    assert INIT_TORCH_NAME["normal"] == "normal_"
    assert INIT_TORCH_NAME["kaiming_uniform"] == "kaiming_uniform_"
    assert "normal" not in INIT_FUNCTIONS  # deprecated alias left out
    assert api.param_names(api.init_signature("normal")) == ("mean", "std", "generator")
    assert api.init_signature("xavier_uniform_") == INIT_FUNCTIONS["xavier_uniform_"]


def test_suggest() -> None:
    assert api.suggest("Conv2D", MODULES) == ["Conv2d"]
    assert api.suggest("relU", FUNCTIONAL) == ["relu"]
    assert api.suggest("Linaer", MODULES) == ["Linear"]
    assert api.suggest("AdamW", OPTIMIZERS) == []  # exact names are not suggested
    assert api.suggest("zzzzqqqq", MODULES) == []
    assert len(api.suggest("Conv", MODULES, n=3)) == 3


def test_api_import_does_not_import_torch() -> None:
    code = "import nndsl.catalog.api, sys; assert 'torch' not in sys.modules"
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
