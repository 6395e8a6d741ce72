"""Generated code for the classic architectures of samples/zoo: every model builds, with the
checker's parameter count, and its parameter names are the ones `summary` prints."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from nndsl.check import check_file
from nndsl.check.infer import iter_modules
from nndsl.codegen import model_source

ZOO = sorted((Path(__file__).resolve().parent.parent / "samples" / "zoo").glob("*.nn"))


@pytest.mark.parametrize("spec", ZOO, ids=lambda p: p.stem)
def test_zoo_generates_and_builds(spec: Path, tmp_path: Path) -> None:
    import torch

    checked = check_file(str(spec))
    assert checked.ok, [d.message for d in checked.diagnostics if d.is_error]
    models = [m for m, inst in checked.models.items() if inst is not None]
    (tmp_path / "model.py").write_text(model_source(checked, models))
    module_spec = importlib.util.spec_from_file_location(f"zoo_{spec.stem}", tmp_path / "model.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    for name in models:
        inst = checked.models[name]
        with torch.device("meta"):
            model = getattr(module, name)()
        assert sum(p.numel() for p in model.parameters()) == inst.total_params(), name
        prefixes = {q for q, slot, _ in iter_modules(inst)} | {p.name for p in inst.param_tensors}
        for key, _ in model.named_parameters():
            owner = key.rsplit(".", 1)[0] if "." in key else key
            assert any(owner == p or owner.startswith(p + ".") for p in prefixes), f"{name}: {key}"
