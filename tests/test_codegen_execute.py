"""Small specs generated and executed: the model is built, run at two batch sizes, and its
output shapes, parameter count and state_dict keys are compared with the checker's."""

from __future__ import annotations

import importlib.util
import re
import sys
import warnings
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


def _scripted_agrees(checked, model, sizes: dict[str, int]) -> None:
    """The model compiles with TorchScript and computes what the eager model computes."""
    import torch

    inst = checked.models["M"]
    torch.manual_seed(0)
    inputs = [torch.randn([dims.evaluate(d, sizes) for d in v.type.shape]) for _, v in inst.inputs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script is deprecated
        scripted = torch.jit.script(model)
    with torch.no_grad():
        want, got = model(*inputs), scripted(*inputs)
    for a, b in zip(
        want if isinstance(want, tuple) else (want,), got if isinstance(got, tuple) else (got,)
    ):
        assert torch.equal(a, b)


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


# ---- run-time sizes (the batch size, a symbolic T) never become constructor arguments ---------

READS_BATCH = """
block Inner {
    input x
    bn, n, c = x.shape
    x.reshape(bn, n * c)
}

model M {
    input x: [B, 8, 6]
    x -> Inner -> Linear(4)
}
"""

# the same block called from another block
READS_BATCH_NESTED = """
block Inner {
    input x
    bn, n, c = x.shape
    x.reshape(bn, n * c)
}

block Outer {
    input x
    x -> Inner -> Linear(4)
}

model M {
    input x: [B, 8, 6]
    x -> Outer
}
"""

# a block parameter given a run-time size, used only in forward
PARAM_FROM_BATCH = """
block Heads(n: int, h: int = 2) {
    input x
    x.reshape(n, h, -1)
}

model M {
    input x: [B, 8]
    bn = x.shape[0]
    y = x -> Heads(bn)
    z = x -> Heads(bn, h=4)
    cat([y, z.reshape(bn, 2, 4)], dim=1)
}
"""

# a parameter given the sequence length by one use and a number by another, through a block
# whose input does not hold that length
LENGTH_AS_ARGUMENT = """
block Take(n: int, k: int = 1) {
    input x
    x[:, :n] * k
}

model M {
    input x: [B, T]
    input y: [B, 100]
    b, t = x.shape
    a = y -> Take(t)
    c = y -> Take(4, k=2)
    return a, c
}
"""

# a symbolic sequence length read in forward, in a model and in a block
READS_LENGTH = """
block Fold {
    input x
    b, t, f = x.shape
    x.reshape(b * t, f) -> Linear(3) -> reshape(b, t, 3)
}

model M {
    input x: [B, T, 5]
    b, t, f = x.shape
    x -> Fold -> reshape(b, t * 3)
}
"""


@pytest.mark.parametrize(
    "text, sizes",
    [
        (READS_BATCH, [{"B": 2}, {"B": 7}]),
        (READS_BATCH_NESTED, [{"B": 2}, {"B": 7}]),
        (PARAM_FROM_BATCH, [{"B": 2}, {"B": 7}]),
        (READS_LENGTH, [{"B": 2, "T": 3}, {"B": 5, "T": 9}]),
        (LENGTH_AS_ARGUMENT, [{"B": 2, "T": 3}, {"B": 5, "T": 9}]),
    ],
    ids=["reads-batch", "reads-batch-nested", "param-from-batch", "reads-length", "length-arg"],
)
def test_run_time_sizes_are_read_in_forward(text: str, sizes, tmp_path: Path) -> None:
    checked, cls, source = _build(text, tmp_path)
    init_lines = [line for line in source.splitlines() if "(" in line and " = " in line]
    for line in init_lines:
        if line.strip().startswith("self.") and "shape" not in line:
            assert not re.search(r"\((B|T)\b|, (B|T)\b", line), line
    for s in sizes:
        model = _run_at(checked, cls, "M", s)
    _scripted_agrees(checked, model, sizes[-1])


def test_destructured_sizes_keep_the_spec_names(tmp_path: Path) -> None:
    _, _, source = _build(READS_BATCH, tmp_path)
    assert "bn, n, c = x.shape" in source
    assert "x = x.reshape(bn, n * c)" in source
    assert "self.inner = Inner()" in source


def test_user_module_output_size_maps_back_to_the_right_symbol(tmp_path: Path) -> None:
    """[B, latent] through a module of the user's: the output size is `latent`, never `B + 4`
    (two stand-in runs could not tell them apart)."""
    pkg = tmp_path / "userpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "mods.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class Same(nn.Module):\n    def forward(self, x):\n        return x * 2\n\n\n"
        "class Grow(nn.Module):\n    def forward(self, x):\n"
        "        return torch.cat([x, x[:, :4]], dim=1)\n"
    )
    for module, width in (("Same", "latent"), ("Grow", "latent + 4")):
        text = (
            f"from userpkg.mods import {module}\n\n"
            "model M(latent: int = 16) {\n    input x: [B, 8]\n"
            f"    x -> Linear(latent) -> {module}() -> Linear(4)\n}}\n"
        )
        sys.path.insert(0, str(tmp_path))
        try:
            folder = tmp_path / module
            folder.mkdir()
            checked, cls, source = _build(text, folder)
            assert f"nn.Linear({width}, 4)" in source
            for batch in (2, 7):
                _run_at(checked, cls, "M", {"B": batch})
        finally:
            sys.path.remove(str(tmp_path))
            for name in [m for m in sys.modules if m.startswith("userpkg")]:
                del sys.modules[name]


def test_a_parameter_only_known_at_run_time_is_a_forward_argument(tmp_path: Path) -> None:
    _, _, source = _build(LENGTH_AS_ARGUMENT, tmp_path)
    assert "def __init__(self, k: int = 1) -> None:" in source
    assert "def forward(self, x: Tensor, n: int) -> Tensor:" in source
    assert "self.take1 = Take()" in source and "self.take2 = Take(k=2)" in source
    assert "a = self.take1(y, t)" in source and "c = self.take2(y, 4)" in source


def test_a_user_module_argument_only_known_at_run_time_is_located(tmp_path: Path) -> None:
    (tmp_path / "scalepkg.py").write_text(
        "from torch import nn\n\n\nclass Scale(nn.Module):\n"
        "    def __init__(self, n):\n        super().__init__()\n        self.n = n\n\n"
        "    def forward(self, x):\n        return x * self.n\n"
    )
    text = (
        "from scalepkg import Scale\n\nmodel M {\n    input x: [B, 8]\n"
        "    b = x.shape[0]\n    x -> Scale(2) -> Scale(b)\n}\n"
    )
    try:
        checked = check_file(str(tmp_path / "spec.nn"), text)
    finally:
        sys.modules.pop("scalepkg", None)
    errors = [d for d in checked.diagnostics if d.is_error]
    assert [d.message for d in errors] == [
        "Scale's argument 1 is `B`, which is only known when the model runs"
    ]
    assert (errors[0].span.line, errors[0].span.col) == (6, 28)  # the `b` of `Scale(b)`
