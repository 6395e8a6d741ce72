"""Small specs generated and executed: the model is built, run at two batch sizes, and its
output shapes, parameter count and state_dict keys are compared with the checker's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from nndsl import dims
from nndsl.check import check_file
from nndsl.codegen import model_source


def _build(text: str, tmp_path: Path, name: str = "M"):
    """Check `text`, generate its model.py, import it; returns (checked, the model class)."""
    checked = check_file(str(tmp_path / "spec.nn"), text)
    assert checked.ok, "\n".join(d.message for d in checked.diagnostics)
    source = model_source(checked, [name])
    path = tmp_path / "model.py"
    path.write_text(source)
    module_name = f"gen_{tmp_path.name}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return checked, getattr(module, name), source


def _run_at(checked, cls, name: str, sizes: dict[str, int]):
    """Build the model and run it on random inputs whose symbolic sizes are `sizes`."""
    import torch

    inst = checked.models[name]
    model = cls().eval()
    assert sum(p.numel() for p in model.parameters()) == inst.total_params()
    inputs = []
    for _, v in inst.inputs:
        shape = [dims.evaluate(d, sizes) for d in v.type.shape]
        if v.type.dtype.startswith("int"):
            inputs.append(torch.randint(0, 5, shape))
        else:
            inputs.append(torch.randn(shape))
    with torch.no_grad():
        out = model(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    want = [tuple(dims.evaluate(d, sizes) for d in t.shape) for t in inst.output_types()]
    assert [tuple(o.shape) for o in outs] == want
    return model


# ---- the label `self` (Hugging Face's BERT: `attention.self.query`) ------------------------------

SELF_LABEL = """
block SelfAttention(d: int) {
    input x
    self: (query: Linear(d) -> relu)
}

block Attention(d: int) {
    input x
    x -> self: SelfAttention(d) -> output: Linear(d)
}

model M {
    input x: [B, 5, 16]
    x -> attention: Attention(16) -> Linear(3)
}
"""


def test_label_self_generates_runs_and_names_state_dict_keys(tmp_path: Path) -> None:
    checked, cls, source = _build(SELF_LABEL, tmp_path)
    assert "self.self = " in source
    for batch in (2, 5):
        model = _run_at(checked, cls, "M", {"B": batch})
    keys = list(model.state_dict())
    assert "attention.self.self.query.weight" in keys
    assert "attention.output.bias" in keys


@pytest.mark.parametrize("word", ["class", "None", "lambda"])
def test_python_keywords_stay_refused_as_labels(word: str) -> None:
    checked = check_file("k.nn", f"model M {{\n    input x: [B, 4]\n    {word}: Linear(3)\n}}\n")
    errors = [d for d in checked.diagnostics if d.is_error]
    assert errors and "reserved word in Python" in errors[0].message
    assert errors[0].hint and f"`{word}_`" in errors[0].hint
    assert (errors[0].span.line, errors[0].span.col) == (3, 5)
