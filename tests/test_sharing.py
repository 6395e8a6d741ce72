"""Sharing and state: a label applied again is the same module, `tie`, `buffer`, `init`.

Each feature is checked where it matters: in `summary` (parameters counted once), in the
generated code (one attribute, called twice; `register_buffer`; `_init_weights`), and in torch
(the generated model's own parameter count, state_dict, devices and initial statistics).
Located errors are golden files in tests/fixtures/errors/semantic/share_*.nn.
"""

from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import pytest

from nndsl.check import check_file
from nndsl.check.summary import summarize
from nndsl.codegen import model_source
from nndsl.syntax import parse
from nndsl.syntax.fmt import format_source

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "tests" / "fixtures" / "sharing"  # also compiled by tests/test_torchscript.py

# LANGUAGE.md section 10: one tower applied to both inputs, and a buffer
SIAMESE = (SPECS / "siamese.nn").read_text()

# a layer reused inside a block, the block used twice; `proj(x)` is the call form of a reuse
SHARED_PROJ = (SPECS / "shared_proj.nn").read_text()

# a language model with tied embeddings, a causal-mask buffer and nanoGPT's initialisation
TIED = (SPECS / "tied_lm.nn").read_text()

# torchvision's ResNet initialisation (resnet.py: kaiming_normal_ fan_out on convolutions,
# BatchNorm weight 1 and bias 0)
RESNET_INIT = """
    init Conv2d.weight = kaiming_normal(mode="fan_out", nonlinearity="relu")
    init BatchNorm2d.weight = constant(1)
    init BatchNorm2d.bias = constant(0)
"""


def _checked(tmp_path: Path, text: str, name: str = "spec.nn"):
    path = tmp_path / name
    path.write_text(text)
    checked = check_file(str(path))
    assert checked.ok, [str(d.message) for d in checked.diagnostics if d.is_error]
    return checked


def _module(tmp_path: Path, checked, models: list[str]):
    source = model_source(checked, models)
    path = tmp_path / "model.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"share_{abs(hash(source))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, source


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


# ---- a label applied again ----------------------------------------------------------------------


def test_siamese_has_one_tower(tmp_path: Path) -> None:
    import torch

    checked = _checked(tmp_path, SIAMESE)
    assert summarize(checked.models["Siamese"], "").total == 6_977  # LANGUAGE.md: one tower
    module, source = _module(tmp_path, checked, ["Siamese"])
    assert source.count("self.tower = ") == 1
    assert len(re.findall(r"self\.tower\(", source)) == 2
    model = module.Siamese()
    assert _count(model) == 6_977
    keys = list(model.state_dict())
    assert sum(k.startswith("tower.conv1.") for k in keys) == 2  # weight and bias, once
    a = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(model.tower(a), model.tower(a.clone()))
    assert torch.equal(model(a, a), model.head(torch.zeros(3, 64)))  # the same weights


def test_summary_shows_a_shared_module_once(tmp_path: Path) -> None:
    rows = summarize(_checked(tmp_path, SIAMESE).models["Siamese"], "").rows
    towers = [r for r in rows if r.name == "tower"]
    assert [r.type for r in towers] == ["Tower (shared, used 2x)", "Tower (shared, use 2 of 2)"]
    assert [r.params for r in towers] == [6_912, None]
    assert sum(r.name == "tower.conv1" for r in rows) == 1  # its layers listed once


def test_a_layer_reused_in_a_block(tmp_path: Path) -> None:
    import torch

    checked = _checked(tmp_path, SHARED_PROJ)
    total = summarize(checked.models["Net"], "").total
    assert total == 2 * (32 * 16 + 16) + (32 * 3 + 3)  # one projection per Pair
    module, source = _module(tmp_path, checked, ["Net"])
    pair = source[source.index("class Pair") : source.index("class Net")]
    assert pair.count("self.proj = ") == 1 and len(re.findall(r"self\.proj\(", pair)) == 2
    model = module.Net()
    assert _count(model) == total
    x, y = torch.randn(2, 32), torch.randn(2, 32)
    p = model.p1
    torch.testing.assert_close(p(x, y), p.proj(x) * p.proj(y))


def test_a_torch_layer_takes_other_sizes_its_constructor_fits(tmp_path: Path) -> None:
    spec = """
model Net {
    input a: [B, 10, 64], b: [B, 64]
    fa = a -> proj: Linear(16) -> mean(dim=1)
    fb = b -> proj
    fa + fb
}
"""
    inst = _checked(tmp_path, spec).models["Net"]
    assert str(inst.output_types()[0]) == "[B, 16]"
    assert inst.total_params() == 64 * 16 + 16


def test_reuse_in_a_loop_applies_one_module(tmp_path: Path) -> None:
    spec = """
model Net {
    input x: [B, 8]
    x = x -> layer: Linear(8)
    for i in range(3) {
        x = relu(x) -> layer
    }
    x
}
"""
    checked = _checked(tmp_path, spec)
    assert checked.models["Net"].total_params() == 72
    _, source = _module(tmp_path, checked, ["Net"])
    assert len(re.findall(r"self\.layer\(", source)) == 4


# ---- tie ---------------------------------------------------------------------------------------


def test_tied_parameters_are_counted_once(tmp_path: Path) -> None:
    checked = _checked(tmp_path, TIED)
    inst = checked.models["TiedLM"]
    summary = summarize(inst, "")
    untied = 128 * 32 + (64 + 32 * 128 + 128 + 128 * 32 + 32) + 128 * 32
    assert summary.total == untied - 128 * 32
    row = next(r for r in summary.rows if r.name == "lm_head.weight")
    assert (row.type, row.output) == ("tied to wte.weight", "[128, 32]")
    assert next(r for r in summary.rows if r.name == "lm_head").params == 0
    module, source = _module(tmp_path, checked, ["TiedLM"])
    assert "self.lm_head.weight = self.wte.weight" in source
    model = module.TiedLM()
    assert model.lm_head.weight is model.wte.weight
    assert _count(model) == summary.total  # as torch counts it: one Parameter


def test_tie_in_the_language_example_spelling(tmp_path: Path) -> None:
    """GPT-2's tie: Embedding(vocab, d) and Linear(vocab, bias=false) on d features."""
    spec = """
model LM(vocab: int = 50257, d: int = 768) {
    input idx: long[B, T]
    idx -> wte: Embedding(vocab, d) -> LayerNorm -> lm_head: Linear(vocab, bias=false)
    tie lm_head.weight = wte.weight
}
"""
    inst = _checked(tmp_path, spec).models["LM"]
    assert inst.total_params() == 50257 * 768 + 2 * 768


# ---- buffers -----------------------------------------------------------------------------------


def test_buffers_persistence_and_devices(tmp_path: Path) -> None:
    import torch

    checked = _checked(tmp_path, TIED)
    module, source = _module(tmp_path, checked, ["TiedLM"])
    assert 'self.register_buffer("temperature", torch.tensor([2.0]))' in source
    assert "persistent=False" in source
    model = module.TiedLM()
    assert dict(model.named_buffers()).keys() == {"causal", "temperature"}
    state = model.state_dict()
    assert "temperature" in state and "causal" not in state  # persistent=false: not saved
    torch.testing.assert_close(model.causal, torch.tril(torch.ones(8, 8)).view(1, 8, 8))
    assert summarize(checked.models["TiedLM"], "").buffers == 64 + 1
    moved = model.to(torch.float64).to("meta")  # buffers follow the model
    assert moved.causal.device.type == "meta" and moved.causal.dtype == torch.float64
    assert moved.temperature.device.type == "meta"


def test_a_buffer_of_a_block_uses_its_parameters(tmp_path: Path) -> None:
    import torch

    spec = """
block Scale(n: int) {
    input x
    buffer w = triu(ones(n, n), diagonal=1)
    x @ w
}

model Net {
    input x: [B, 4]
    x -> s: Scale(4) -> Linear(2)
}
"""
    checked = _checked(tmp_path, spec)
    module, source = _module(tmp_path, checked, ["Net"])
    assert "torch.triu(torch.ones(n, n), diagonal=1)" in source
    model = module.Net()
    torch.testing.assert_close(model.s.w, torch.triu(torch.ones(4, 4), diagonal=1))
    assert list(model.state_dict())[0] == "s.w"


# ---- init --------------------------------------------------------------------------------------


def test_torchvision_resnet_init_reproduces_its_statistics(tmp_path: Path) -> None:
    import torch

    text = (ROOT / "samples" / "resnet.nn").read_text()
    head = "    input x: [B, 3, 224, 224]\n"
    text = text.replace(head, head + RESNET_INIT, 1)  # into ResNet18
    checked = _checked(tmp_path, text)
    module, source = _module(tmp_path, checked, ["ResNet18"])
    assert "def _init_weights(self) -> None:" in source
    assert "if isinstance(m, nn.Conv2d):" in source
    torch.manual_seed(0)
    model = module.ResNet18()
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 20
    for conv in convs:
        w = conv.weight
        fan_out = w.shape[0] * w.shape[2] * w.shape[3]
        expected = math.sqrt(2.0 / fan_out)  # torchvision: gain(relu) / sqrt(fan_out)
        assert abs(w.std().item() / expected - 1) < 0.05, (tuple(w.shape), w.std().item())
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        assert torch.equal(bn.weight, torch.ones_like(bn.weight))
        assert torch.equal(bn.bias, torch.zeros_like(bn.bias))
    # torch's default (kaiming_uniform with a=sqrt(5)) would give a std of 1/sqrt(3 fan_in)
    default = 1 / math.sqrt(3 * 3 * 7 * 7)
    assert abs(model.conv1.weight.std().item() / default - 1) > 0.3


def test_init_by_label_follows_the_types(tmp_path: Path) -> None:
    import torch

    checked = _checked(tmp_path, TIED)
    module, source = _module(tmp_path, checked, ["TiedLM"])
    body = source[source.index("def _init_weights") :]
    assert body.index("for m in self.modules()") < body.index("self.mlp.fc2.weight")
    torch.manual_seed(0)
    model = module.TiedLM()
    assert torch.count_nonzero(model.mlp.fc2.weight) == 0  # the label's init wins
    assert torch.count_nonzero(model.mlp.fc1.bias) == 0
    assert abs(model.mlp.fc1.weight.std().item() - 0.02) < 0.002
    assert abs(model.wte.weight.std().item() - 0.02) < 0.002


def test_init_on_a_layer_type_the_model_lacks_warns(tmp_path: Path) -> None:
    spec = """
model Net {
    input x: [B, 4]
    init Conv2d.weight = zeros()
    x -> Linear(2)
}
"""
    path = tmp_path / "spec.nn"
    path.write_text(spec)
    checked = check_file(str(path))
    assert checked.ok
    (warning,) = checked.diagnostics
    assert warning.message == "`init Conv2d.weight` does nothing: `Net` has no Conv2d layer"
    assert (warning.span.line, warning.span.col) == (4, 10)


# ---- the parameters nndsl knows agree with the layers' counts ---------------------------------


@pytest.mark.parametrize(
    "layer",
    [
        "Conv2d(8, 3, groups=2)",
        "Conv2d(8, 3, bias=false)",
        "ConvTranspose2d(6, 2, groups=2)",
        "Linear(5)",
        "BatchNorm2d",
        "LayerNorm",
        "GroupNorm(2)",
        "LSTM(6, num_layers=2, bidirectional=true)",
        "GRU(6)",
        "PReLU(4)",
    ],
)
def test_parameter_shapes_agree_with_the_catalog(layer: str, tmp_path: Path) -> None:
    from nndsl.catalog.param_shapes import parameter_shapes
    from nndsl.check.graph import iter_modules

    rank = 3 if layer.startswith(("LSTM", "GRU")) else 4
    shape = "[B, 4, 6]" if rank == 3 else "[B, 4, 6, 6]"
    if layer.startswith("Linear") or layer.startswith("LayerNorm"):
        shape = "[B, 4]"
    spec = f"model Net {{\n    input x: {shape}\n    x -> {layer}\n}}\n"
    inst = _checked(tmp_path, spec).models["Net"]
    (_, slot, _) = next(iter_modules(inst))
    shapes = parameter_shapes(slot.type_name, slot.args, slot.params)
    total = sum(math.prod(s) for s in shapes.values() if s is not None)
    assert total == slot.params


# ---- the formatter prints the new statements --------------------------------------------------


def test_fmt_round_trips_the_new_statements() -> None:
    text = (
        "model Net {\n"
        "    input x: [B, 4]\n"
        "    buffer mask = tril(ones(4, 4)), persistent=false\n"
        "    buffer scale = tensor([0.5])\n"
        '    init Linear.weight = kaiming_normal(mode="fan_out", nonlinearity="relu")\n'
        "    init fc.bias = zeros()\n"
        "    h = x -> fc: Linear(4)\n"
        "    h = h -> fc\n"
        "    (h @ mask) * scale -> out: Linear(4, bias=false)\n"
        "    tie out.weight = fc.weight\n"
        "}\n"
    )
    tree, diags = parse(text, "spec.nn")
    assert not diags
    assert format_source(tree, text) == text
    messy = text.replace("    tie out.weight = fc.weight", "  tie   out.weight=fc.weight")
    messy = messy.replace("tensor([0.5])", "tensor( [0.5] )").replace(
        ", persistent", " ,persistent"
    )
    again, _ = parse(messy, "spec.nn")
    assert again == tree and format_source(again, messy) == text


# ---- nndsl run trains a spec with every feature ------------------------------------------------


def test_nndsl_run_trains_a_spec_with_sharing_and_state(tmp_path: Path, capsys) -> None:
    import torch

    from nndsl.cli import main

    spec = """
block Tower {
    Conv2d(8, 3, padding=1) -> relu -> adaptive_avg_pool2d(1) -> flatten -> Linear(16)
}

block Pairwise {
    input a, b
    buffer scale = tensor([0.5])
    fa = a -> tower: Tower()
    fb = b -> tower
    abs(fa - fb) * scale
}

model Digits {
    input x: [B, 1, 8, 8]
    init Linear.bias = zeros()
    init Conv2d.weight = kaiming_normal(mode="fan_out", nonlinearity="relu")
    buffer temperature = tensor([2.0])
    h = (x, x * 0.5) -> pair: Pairwise() -> emb: Linear(10)
    h / temperature -> mid: Linear(10) -> relu -> fc: Linear(10, bias=false)
    tie fc.weight = mid.weight
}
"""
    spec += """
train {
    model     = Digits
    data      = digits(val_split=0.2)
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=1e-3)
    epochs    = 1
}
"""
    path = tmp_path / "digits.nn"
    path.write_text(spec)
    capsys.readouterr()
    code = main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    assert "temperature" in state and "pair.scale" in state
    assert torch.equal(state["fc.weight"], state["mid.weight"])  # one Parameter, trained once


# ---- a GPT in nanoGPT's layout: positions and the causal mask as buffers, tied embeddings -------


def test_tiny_gpt_with_buffers_and_a_tie(tmp_path: Path) -> None:
    import torch

    checked = _checked(tmp_path, (SPECS / "gpt_buffers.nn").read_text())
    total = summarize(checked.models["TinyGPT"], "").total
    assert total == 120_576  # LANGUAGE.md section 9's TinyGPT, tied
    module, _ = _module(tmp_path, checked, ["TinyGPT"])
    torch.manual_seed(0)
    model = module.TinyGPT().eval()
    assert _count(model) == total and model.lm_head.weight is model.wte.weight
    assert "h.0.attn.mask" not in model.state_dict() and "positions" in model.state_dict()
    idx = torch.randint(0, 256, (2, 10))
    later = idx.clone()
    later[:, 7] = (later[:, 7] + 1) % 256
    with torch.no_grad():  # the mask buffer makes it causal: a later token changes nothing before
        torch.testing.assert_close(model(later)[:, :7], model(idx)[:, :7])


def test_gpt2_small_has_nanogpts_parameter_count(tmp_path: Path) -> None:
    text = (SPECS / "gpt_buffers.nn").read_text()
    text = text.replace("const BLOCK = 64", "const BLOCK = 1024").replace("* 0.25", "* 0.125")
    text = text.replace(
        "model TinyGPT(vocab: int = 256, n_layer: int = 2, n_head: int = 4, d: int = 64)",
        "model GPT2(vocab: int = 50257, n_layer: int = 12, n_head: int = 12, d: int = 768)",
    )
    inst = _checked(tmp_path, text).models["GPT2"]
    assert summarize(inst, "").total == 124_439_808  # nanoGPT's GPT-2 small, tied
    assert inst.total_params() + 50257 * 768 == 163_037_184  # untied, as the issue counts it
