"""Blocks whose body repeats layers over a condition on their parameters become ONE generic class.

`for t in ([expand_ratio] if expand_ratio != 1 else []) { ... }` (MobileNetV2's optional
expansion), as a chain stage inside a labelled group or as a statement of the body (an optional
activation), used to make one class per use.  Each block below is now one class, and is checked
against the code the compiler writes when every block is specialised (one class per use, all
values known), with the same weights: the same `state_dict` keys and shapes, the checker's
parameter count, and the same outputs.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import tempfile
from pathlib import Path

import pytest

from nndsl.check import check_file
from nndsl.codegen import model as codegen_model
from nndsl.codegen import model_source
from nndsl.codegen.generic import Unsupported

ROOT = Path(__file__).resolve().parent.parent

# (spec, the blocks that are one class now, the models to compare)
CASES = [
    ("samples/zoo/mobilenet_v2.nn", ["InvertedResidual"], ["MobileNetV2"]),
    ("samples/zoo/efficientnet.nn", ["MBConv"], ["EfficientNetB0"]),
    ("tests/hidden_zoo/mobilenet_v2.nn", ["InvertedResidual"], ["MobileNetV2"]),
    ("tests/hidden_zoo/efficientnet.nn", ["CNA", "MBConv"], ["EfficientNetB0"]),
    # the activation chosen by a condition inside a group, too
    ("samples/zoo/mobilenet_v3.nn", ["InvertedResidual"], ["MobileNetV3Large", "MobileNetV3Small"]),
    # and a `for` over a list parameter (a setting table): a loop of `__init__`
    (
        "tests/hidden_zoo/mobilenet_v3.nn",
        ["ConvBNAct", "Bneck", "MobileNetV3"],
        ["MobileNetV3Large", "MobileNetV3Small"],
    ),
    # a repetition by a parameter whose copies change the spatial sizes only as written
    ("tests/hidden_zoo/mnasnet.nn", ["Stack"], ["MNASNet"]),
    # `for i in range(num_layers) { encoder_layer_{i}: ... }` in a group: a comprehension
    ("samples/zoo/vit.nn", ["Encoder"], ["ViT_B_16"]),
    ("tests/hidden_zoo/vit.nn", ["Encoder"], ["ViTB16"]),
    # a `range` stage whose steps add channels to their input's (DenseNet's dense layers): the
    # step `j` takes `growth * j + <the block's input channels>`
    ("tests/hidden_zoo/densenet.nn", ["DenseNet121"], ["DenseNet121"]),
    # a `for i in range(num_layers)` statement concatenating as it goes: an nn.ModuleDict whose
    # forward loops over its layers (torchvision's `_DenseBlock`), and the blocks that use it
    ("samples/zoo/densenet.nn", ["DenseBlock", "Features", "DenseNet121"], ["DenseNet121"]),
    # stages whose width is carried in a local of `__init__` (torchvision's `current_width`)
    ("tests/hidden_zoo/regnet.nn", ["RegNetY400MF"], ["RegNetY400MF"]),
]


def _specialised_source(checked, models: list[str], monkeypatch) -> str:
    """model.py with every block specialised to its uses (the code before generic loops)."""

    def refuse(self, decl, instances):
        raise Unsupported("every block is specialised for this comparison")

    with monkeypatch.context() as m:
        m.setattr(codegen_model.ModelCode, "_generic", refuse)
        from nndsl.codegen import _model_code

        return _model_code(checked, models).source


def _load(source: str, name: str, tmp_path: Path):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _classes(source: str) -> list[str]:
    return re.findall(r"^class (\w+)\(", source, re.M)


def _compare(checked, models, generic_src, special_src, tmp_path, tag: str, *, run: bool):
    import torch

    generic = _load(generic_src, f"generic_{tag}", tmp_path)
    special = _load(special_src, f"special_{tag}", tmp_path)
    for name in models:
        inst = checked.models[name]
        torch.manual_seed(0)
        with torch.device("cpu" if run else "meta"):
            a = getattr(generic, name)().eval()
            b = getattr(special, name)().eval()
        sa, sb = a.state_dict(), b.state_dict()
        assert list(sa) == list(sb), name
        assert {k: tuple(v.shape) for k, v in sa.items()} == {
            k: tuple(v.shape) for k, v in sb.items()
        }
        assert sum(p.numel() for p in a.parameters()) == inst.total_params()
        if not run:
            continue
        b.load_state_dict(sa)
        shape = [d if isinstance(d, int) else 2 for d in inst.inputs[0][1].type.shape]
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.equal(a(x), b(x)), name


@pytest.mark.parametrize(("spec", "blocks", "models"), CASES, ids=[c[0] for c in CASES])
def test_a_block_with_a_loop_over_a_condition_is_one_class(
    spec, blocks, models, monkeypatch, tmp_path
):
    checked = check_file(str(ROOT / spec))
    assert checked.ok
    source = model_source(checked, models)
    classes = _classes(source)
    for block in blocks:
        assert classes.count(block) == 1, classes
        assert not any(re.fullmatch(rf"{block}_\d+", c) for c in classes), classes
        assert f"Specialised for one use: `{block}`" not in source
    special = _specialised_source(checked, models, monkeypatch)
    assert f"Specialised for one use: `{blocks[0]}`" in special  # the comparison is with that
    tag = re.sub(r"\W", "_", spec)
    _compare(checked, models, source, special, tmp_path, tag, run=False)


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "blocks", "models"), CASES, ids=[c[0] for c in CASES])
def test_the_generic_class_computes_what_the_specialised_ones_do(
    spec, blocks, models, monkeypatch, tmp_path
):
    checked = check_file(str(ROOT / spec))
    source = model_source(checked, models)
    special = _specialised_source(checked, models, monkeypatch)
    tag = "run_" + re.sub(r"\W", "_", spec)
    _compare(checked, models, source, special, tmp_path, tag, run=True)


def test_a_setting_table_is_a_loop_of_init():
    checked = check_file(str(ROOT / "tests/hidden_zoo/mobilenet_v3.nn"))
    source = model_source(checked, ["MobileNetV3Large"])
    assert (
        "        channels = 16\n"
        "        for k, e, o, se, a, s in settings:\n"
        "            layers.append(Bneck(channels, k, e, o, se, a, s))\n"
        "            channels = o\n"
        '        layers.append(ConvBNAct(channels, last_conv, 1, act="hs"))\n'
    ) in source


def test_mobilenet_v2_builds_its_layers_as_torchvision_does():
    checked = check_file(str(ROOT / "samples/zoo/mobilenet_v2.nn"))
    source = model_source(checked, ["MobileNetV2"])
    assert "        layers: list[nn.Module] = []\n        if expand_ratio != 1:\n" in source
    assert "        self.conv = nn.Sequential(*layers)\n" in source


# ---- the forms of a loop over a condition, on small specs -------------------------------------

SMALL_SPECS = {
    # a statement loop that rebinds a name: after it, the name is the merge of both sides
    "rebinds": """
block Head(out: int, extra: bool) {
    input x: [B, C]
    h = x -> Linear(out)
    for _ in ([1] if extra else []) {
        h = h -> relu -> Linear(out)
    }
    h -> tanh
}
model M {
    input x: [B, 8]
    Head(6, true) -> Head(4, false)
}
""",
    # a condition inside a condition, in a group; the layer changes the width, so the next
    # layer's input size is `16 if wide else ...`
    "nested": """
block Widen(wide: bool, deep: bool) {
    g: (
        Linear(8)
        -> for _ in ([1] if wide else ([2] if deep else [])) { Linear(16) -> ReLU() }
        -> Linear(2)
    )
}
model M {
    input x: [B, 5]
    Widen(true, false) -> Widen(false, true) -> Widen(false, false)
}
""",
    # a conditional layer in a group inside a group, and one at the group's end
    "inner": """
block Stem(act: bool, out: int) {
    g: ((Linear(out) -> for _ in ([1] if act else []) { ReLU() }) -> Linear(out)
        -> for _ in ([0] if act else []) { Linear(3) })
}
model M {
    input x: [B, 4]
    Stem(true, 6) -> Stem(false, 5) -> Linear(2)
}
""",
    # `for i in range(n)` in a group: a comprehension; the first step takes the group's input
    # (`in_features if i == 0 else 4`), an empty range leaves it unchanged
    "range": """
block Tagged(idx: int) {
    Linear(4) -> Dropout(0.1)
}
block Stack(n: int) {
    h: (for i in range(n) { Tagged(i) }) -> g: (for j in range(1, n) { Linear(4) }) -> Linear(2)
}
model M {
    input x: [B, 4]
    Stack(3) -> Linear(5) -> Stack(2) -> Stack(1)
}
""",
    # a `for` over a list parameter in a group: the width is carried from step to step
    "table": """
block Mlp(widths: list, out: int) {
    g: (Linear(6) -> for w, p in widths { Linear(w) } -> Linear(out))
}
model M {
    input x: [B, 3]
    Mlp([(4, 0.1), (5, 0.2)], 2) -> Mlp([], 3) -> Mlp([(7, 0.0)], 2)
}
""",
    # a step that adds to its input's size (a dense layer): step `i` takes `in + i * g`
    "accumulate": """
block Dense(g: int) {
    input x: [B, C]
    cat([x, x -> Linear(g) -> relu], 1)
}
block Stack(n: int, g: int) {
    h: (for i in range(n) { Dense(g) }) -> Linear(3)
}
model M {
    input x: [B, 4]
    Stack(3, 2) -> Stack(2, 5) -> Stack(0, 1)
}
""",
    # a `for` statement over `range` of a parameter, one labelled module per step: a module
    # container whose forward loops over its modules; an empty range leaves the input
    "container": """
block Dense(g: int) {
    input x: [B, C]
    x -> Linear(g) -> relu
}
block Stack(n: int, g: int) {
    input x
    for i in range(n) {
        x = cat([x, x -> layer{i}: Dense(g)], dim=1)
    }
    x
}
model M {
    input x: [B, 4]
    Stack(3, 2) -> Linear(5) -> Stack(2, 3) -> Stack(0, 1)
}
""",
    # stages of a model whose width after a stage is `widths[i] if depths[i] > 0 else` the
    # width before it: carried in a local of `__init__`; a stage without blocks keeps it
    "carried": """
block Down(out: int, stride: int) {
    Conv2d(out, 3, stride=stride, padding=1) -> relu
}
model M(depths: list[int] = [1, 2, 0, 1], widths: list[int] = [4, 6, 5, 3]) {
    input x: [B, 3, 16, 16]
    trunk: (
        for i in range(len(depths)) {
            stage{i}: (for j in range(depths[i]) { b{j}: Down(widths[i], 2 if j == 0 else 1) })
        }
    )
    avgpool: AdaptiveAvgPool2d(1)
    flatten(1)
    fc: Linear(2)
}
""",
    # a step that halves the spatial size on the first step only (RegNet's stages): the spatial
    # sizes size no layer, so they are unknown in the class, and the width is carried
    "downsample": """
block Down(out: int, stride: int) {
    Conv2d(out, 3, stride=stride, padding=1) -> relu
}
block Stage(n: int, out: int) {
    g: (for j in range(n) { Down(out, 2 if j == 0 else 1) })
}
model M {
    input x: [B, 3, 16, 16]
    Stage(2, 4) -> Stage(3, 6) -> flatten -> Linear(2)
}
""",
    # a step whose size is made from `i`: the next step takes the size with `i - 1`
    "grow": """
block Grow(n: int) {
    g: (for i in range(n) { Linear(4 * (i + 1)) })
}
model M {
    input x: [B, 3]
    Grow(3) -> Grow(2) -> Linear(2)
}
""",
}


@pytest.mark.parametrize("name", sorted(SMALL_SPECS))
def test_small_loops_over_a_condition(name, monkeypatch, tmp_path):
    import torch

    checked = check_file(f"{name}.nn", SMALL_SPECS[name])
    assert checked.ok, [d.message for d in checked.diagnostics]
    source = model_source(checked, ["M"])
    assert "Specialised for one use" not in source, source
    block = next(c for c in _classes(source) if c != "M")
    assert _classes(source).count(block) == 1
    special = _specialised_source(checked, ["M"], monkeypatch)
    _compare(checked, ["M"], source, special, tmp_path, f"small_{name}", run=True)
    module = _load(source, f"script_{name}", tmp_path)
    net = module.M().eval()
    x = torch.randn(3, *checked.models["M"].inputs[0][1].type.shape[1:])
    with torch.no_grad():
        assert torch.equal(torch.jit.script(net)(x), net(x))


def test_the_join_of_two_sizes_compared_is_one_of_them():
    # `for _ in ([e] if e != C else [])`: after it the width is `e` on both sides (where the
    # loop does not run, `e == C`), not `e if e != C else C`
    checked = check_file(
        "join.nn",
        """
block Expand(e: int) {
    input x: [B, C]
    g: (for _ in ([e] if e != C else []) { Linear(e) } -> Linear(e))
}
model M {
    input x: [B, 4]
    Expand(4) -> Expand(8)
}
""",
    )
    source = model_source(checked, ["M"])
    assert "nn.Linear(e, e)" in source, source
    assert " else in_features" not in source


def test_a_loop_that_stays_specialised_says_why_in_a_sentence():
    # a `for` statement over a list parameter runs in forward: not expressible as one class
    checked = check_file(
        "why.nn",
        """
block Deep(widths: list) {
    input x
    for w in widths {
        x = x -> Linear(w) -> relu
    }
    x
}
model M {
    input x: [B, 3]
    Deep([4, 5]) -> Deep([2])
}
""",
    )
    source = model_source(checked, ["M"])
    assert _classes(source).count("Deep_1") == 1
    assert (
        "Specialised for one use: `Deep` cannot be one generic class because it has a `for` loop "
        "over a list that is only known when the class is built."
    ) in " ".join(source.split())


def test_densenet_block_is_a_module_dict_as_torchvision_writes_it():
    import torch

    checked = check_file(str(ROOT / "samples/zoo/densenet.nn"))
    source = model_source(checked, ["DenseNet121"])
    assert "class DenseBlock(nn.ModuleDict):" in source
    assert (
        "        for i in range(num_layers):\n"
        '            self[f"denselayer{i + 1}"] = DenseLayer(\n'
        "                growth_rate * i + in_channels, growth_rate, bn_size\n"
        "            )\n"
    ) in source
    assert "        for layer in self.values():\n            x2 = layer(x)" in source
    # forward has no `i`: the width the step's concatenation gives is unknown there
    assert "            x = torch.cat([x, x2], dim=1)  # [B, ?, H, W]\n" in source
    assert "self.features = Features(3, growth_rate, num_init_features, [6, 12, 24, 16])" in source
    module = _load(source, "densenet_script", Path(tempfile.mkdtemp()))
    with torch.device("meta"):
        torch.jit.script(module.DenseNet121())


def test_a_range_loop_with_modules_outside_it_stays_specialised():
    # the class would be a container of the loop's modules: another module has no place in it
    checked = check_file(
        "mixed.nn",
        """
block Mixed(n: int) {
    input x
    x = x -> stem: Linear(4)
    for i in range(n) {
        x = x -> layer{i}: Linear(4)
    }
    x
}
model M {
    input x: [B, 3]
    Mixed(2) -> Mixed(1)
}
""",
    )
    source = model_source(checked, ["M"])
    assert _classes(source).count("Mixed_1") == 1
    assert (
        "Specialised for one use: `Mixed` cannot be one generic class because it makes modules "
        "outside its `for` loop over `range` of a parameter, so it cannot be a container of the "
        "loop's modules."
    ) in " ".join(source.split())


def test_regnet_carries_its_width_from_stage_to_stage_as_torchvision_does():
    import torch

    checked = check_file(str(ROOT / "tests/hidden_zoo/regnet.nn"))
    source = model_source(checked, ["RegNetY400MF"])
    assert (
        "        channels = 32\n"
        "        stages: list[tuple[str, nn.Module]] = []\n"
        "        for i in range(len(depths)):\n"
    ) in source
    assert "channels if j == 0 else widths[i]," in source
    assert (
        "            channels = widths[i] if depths[i] > 0 else channels\n"
        "        self.trunk_output = nn.Sequential(OrderedDict(stages))\n"
    ) in source
    assert "self.fc = nn.Linear(channels, 1000)" in source
    module = _load(source, "regnet_script", Path(tempfile.mkdtemp()))
    with torch.device("meta"):
        torch.jit.script(module.RegNetY400MF())
