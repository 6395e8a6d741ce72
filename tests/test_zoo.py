"""The model zoo: classic ImageNet architectures written as `.nn` specs (`samples/zoo/`).

Each spec is checked in-process and must be free of diagnostics; each model must have exactly the
parameter count of its torchvision counterpart (the counts torchvision publishes in its model
tables; the specs reproduce them independently, layer by layer) and end in `[B, 1000]` logits.

Where a spec claims torchvision's `state_dict` names, a few characteristic module names are checked
too (tests/test_zoo_codegen.py compares every key of the generated models with torchvision's).  The
minimal reproductions at the end of this file each document one compiler bug or missing feature
found while writing the zoo.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from nndsl.check import Checked, check_file
from nndsl.check.summary import format_type, summarize

ZOO = Path(__file__).resolve().parent.parent / "samples" / "zoo"

# (file, model, torchvision builder, parameters)
MODELS = [
    ("alexnet.nn", "AlexNet", "alexnet", 61_100_840),
    ("vgg.nn", "VGG11", "vgg11", 132_863_336),
    ("vgg.nn", "VGG16", "vgg16", 138_357_544),
    ("vgg.nn", "VGG16BN", "vgg16_bn", 138_365_992),
    ("resnet.nn", "ResNet50", "resnet50", 25_557_032),
    ("resnet.nn", "WideResNet50_2", "wide_resnet50_2", 68_883_240),
    ("resnet.nn", "ResNeXt50_32x4d", "resnext50_32x4d", 25_028_904),
    ("mobilenet_v2.nn", "MobileNetV2", "mobilenet_v2", 3_504_872),
    ("mobilenet_v3.nn", "MobileNetV3Large", "mobilenet_v3_large", 5_483_032),
    ("mobilenet_v3.nn", "MobileNetV3Small", "mobilenet_v3_small", 2_542_856),
    ("squeezenet.nn", "SqueezeNet1_0", "squeezenet1_0", 1_248_424),
    ("squeezenet.nn", "SqueezeNet1_1", "squeezenet1_1", 1_235_496),
    ("densenet.nn", "DenseNet121", "densenet121", 7_978_856),
    ("googlenet.nn", "GoogLeNet", "googlenet (aux_logits=False)", 6_624_904),
    ("inception_v3.nn", "InceptionV3", "inception_v3 (with AuxLogits)", 27_161_264),
    ("efficientnet.nn", "EfficientNetB0", "efficientnet_b0", 5_288_548),
    ("shufflenet_v2.nn", "ShuffleNetV2_x1_0", "shufflenet_v2_x1_0", 2_278_604),
    ("mnasnet.nn", "MNASNet1_0", "mnasnet1_0", 4_383_312),
    ("regnet.nn", "RegNetY_400MF", "regnet_y_400mf", 4_344_144),
    ("vit.nn", "ViT_B_16", "vit_b_16", 86_567_656),
    ("vit.nn", "ViT_B_16_TorchEncoder", "vit_b_16", 86_567_656),
    ("convnext.nn", "ConvNeXtTiny", "convnext_tiny", 28_589_128),
]

FILES = sorted({f for f, *_ in MODELS})

# Models whose forward returns several values (all of them logits).
MULTI_OUTPUT = {"InceptionV3": 2}  # (logits, aux_logits), as in torchvision's training mode


@cache
def checked(file: str) -> Checked:
    return check_file(str(ZOO / file))


def _model(file: str, model: str):
    result = checked(file)
    assert result.ok, _render(result)
    inst = result.models.get(model)
    assert inst is not None, f"{file} has no checked model {model}: {sorted(result.models)}"
    return inst


def _render(result: Checked) -> str:
    return "\n".join(f"{d.span}: {d.message}" for d in result.diagnostics)


def test_every_zoo_file_is_tested():
    assert sorted(p.name for p in ZOO.glob("*.nn")) == FILES


@pytest.mark.parametrize("file", FILES)
def test_checks_without_diagnostics(file):
    result = checked(file)
    assert result.ok, _render(result)
    assert result.diagnostics == [], _render(result)


@pytest.mark.parametrize(
    ("file", "model", "params"),
    [pytest.param(f, m, n, id=f"{m}={tv}") for f, m, tv, n in MODELS],
)
def test_parameter_count_matches_torchvision(file, model, params):
    assert _model(file, model).total_params() == params


@pytest.mark.parametrize(("file", "model"), [pytest.param(f, m, id=m) for f, m, _, _ in MODELS])
def test_output_is_imagenet_logits(file, model):
    inst = _model(file, model)
    assert summarize(inst, "").rows[-1].output == "[B, 1000]"
    outputs = [format_type(t) for t in inst.output_types()]
    assert outputs == ["[B, 1000]"] * MULTI_OUTPUT.get(model, 1)


@pytest.mark.parametrize(
    ("file", "model", "size"),
    [pytest.param(f, m, 299 if m == "InceptionV3" else 224, id=m) for f, m, _, _ in MODELS],
)
def test_input_is_an_rgb_image(file, model, size):
    inst = _model(file, model)
    assert [format_type(v.type) for _, v in inst.inputs] == [f"[B, 3, {size}, {size}]"]


# ---- torchvision state_dict names -------------------------------------------------------------

# (file, model, module names that torchvision's state_dict has)
TORCHVISION_NAMES = [
    (
        "alexnet.nn",
        "AlexNet",
        ["features.0", "features.3", "features.10", "classifier.1", "classifier.6"],
    ),
    ("vgg.nn", "VGG11", ["features.0", "features.18", "classifier.0", "classifier.6"]),
    ("vgg.nn", "VGG16", ["features.0", "features.28", "classifier.3", "classifier.6"]),
    ("vgg.nn", "VGG16BN", ["features.0", "features.1", "features.41", "classifier.6"]),
    (
        "resnet.nn",
        "ResNet50",
        ["conv1", "bn1", "layer1.0.downsample.0", "layer1.0.downsample.1", "layer4.2.conv3", "fc"],
    ),
    ("resnet.nn", "WideResNet50_2", ["layer2.0.downsample.0", "layer3.5.bn2", "fc"]),
    ("resnet.nn", "ResNeXt50_32x4d", ["layer3.0.conv2", "layer4.2.bn3", "fc"]),
    (
        "squeezenet.nn",
        "SqueezeNet1_0",
        ["features.0", "features.3.squeeze", "features.12.expand3x3", "classifier.1"],
    ),
    (
        "squeezenet.nn",
        "SqueezeNet1_1",
        ["features.0", "features.3.expand1x1", "features.12.expand3x3", "classifier.1"],
    ),
    (
        "densenet.nn",
        "DenseNet121",
        ["features.conv0", "features.norm0", "features.transition3.conv", "features.norm5"],
    ),
    (
        "densenet.nn",
        "DenseNet121",
        ["features.denseblock1.denselayer1.conv1", "features.denseblock4.denselayer16.conv2"],
    ),
    (
        "googlenet.nn",
        "GoogLeNet",
        ["conv1.conv", "conv1.bn", "inception3a.branch2.1.conv", "inception5b.branch4.1.bn", "fc"],
    ),
    (
        "inception_v3.nn",
        "InceptionV3",
        [
            "Conv2d_1a_3x3.conv",
            "Mixed_5b.branch_pool.conv",
            "Mixed_6e.branch7x7dbl_5.bn",
            "Mixed_7c.branch3x3dbl_3b.conv",
            "AuxLogits.conv1.conv",
            "AuxLogits.fc",
            "fc",
        ],
    ),
    (
        "shufflenet_v2.nn",
        "ShuffleNetV2_x1_0",
        ["conv1.0", "conv1.1", "stage2.0.branch1.0", "stage4.3.branch2.5", "conv5.0", "fc"],
    ),
    (
        "vit.nn",
        "ViT_B_16",
        ["conv_proj", "encoder.ln", "heads.head"],
    ),
    (
        "vit.nn",
        "ViT_B_16",
        ["encoder.layers.encoder_layer_0.ln_1", "encoder.layers.encoder_layer_11.mlp.3"],
    ),
    ("mobilenet_v2.nn", "MobileNetV2", ["classifier.1"]),
    (
        "mobilenet_v2.nn",
        "MobileNetV2",
        ["features.0.0", "features.1.conv.0.0", "features.18.0"],
    ),
    ("mobilenet_v3.nn", "MobileNetV3Large", ["classifier.0", "classifier.3"]),
    (
        "mobilenet_v3.nn",
        "MobileNetV3Large",
        ["features.0.0", "features.4.block.2.fc1", "features.16.0"],
    ),
    ("efficientnet.nn", "EfficientNetB0", ["classifier.1"]),
    (
        "efficientnet.nn",
        "EfficientNetB0",
        ["features.0.0", "features.1.0.block.1.fc1", "features.8.0"],
    ),
    (
        "convnext.nn",
        "ConvNeXtTiny",
        ["features.0.0", "features.1.0.block.0", "features.2.1", "classifier.2"],
    ),
    ("convnext.nn", "ConvNeXtTiny", ["features.1.0.block.3"]),
    ("mnasnet.nn", "MNASNet1_0", ["layers.0", "layers.8.0.layers.0", "layers.14", "classifier.1"]),
    (
        "regnet.nn",
        "RegNetY_400MF",
        [
            "stem.0",
            "trunk_output.block1.block1-0.f.a.0",
            "trunk_output.block2.block2-0.proj.0",
            "trunk_output.block4.block4-5.f.se.fc2",
            "fc",
        ],
    ),
]


def _module_names(inst) -> set[str]:
    """Qualified names of modules and parameters: the summary's names are state_dict prefixes."""
    return {row.name for row in summarize(inst, "").rows if row.name}


@pytest.mark.parametrize(
    ("file", "model", "names"),
    [pytest.param(*case, id=f"{case[1]}:{case[2][0]}") for case in TORCHVISION_NAMES],
)
def test_torchvision_state_dict_names(file, model, names):
    have = _module_names(_model(file, model))
    missing = [n for n in names if n not in have]
    assert not missing, f"not in the spec's state_dict: {missing}"


@pytest.mark.parametrize(
    ("file", "model", "names"),
    [
        ("vit.nn", "ViT_B_16", {"class_token", "encoder.pos_embedding"}),
        ("convnext.nn", "ConvNeXtTiny", {"features.1.0.layer_scale", "features.0.1.weight"}),
    ],
)
def test_learned_parameters(file, model, names):
    rows = summarize(_model(file, model), "").rows
    params = {r.name for r in rows if r.type == "Parameter"}
    assert names <= params


# ---- minimal reproductions of compiler bugs and missing features ------------------------------


def _check(text: str) -> Checked:
    return check_file("repro.nn", text)


def _slot(result: Checked, model: str, name: str):
    return next(s for s in result.models[model].modules if s.name == name)


def test_positional_inferred_argument_is_not_silently_eps():
    result = _check(
        "model M {\n"
        "    input x: [B, 4, 8, 8]\n"
        "    Conv2d(8, 3, padding=1) -> bn: BatchNorm2d(8) -> flatten -> Linear(10)\n"
        "    norm: LayerNorm(10)\n"
        "}\n"
    )
    silent = result.ok and not result.diagnostics
    assert not (silent and _slot(result, "M", "bn").args["eps"] == 8)
    assert not (silent and _slot(result, "M", "norm").args["eps"] == 10)


def test_torch_style_conv_arguments_are_flagged():
    result = _check(
        "model M {\n"
        "    input x: [B, 4, 16, 16]\n"
        "    conv: Conv2d(4, 8, 3, padding=1) -> flatten\n"
        "}\n"
    )
    silent = result.ok and not result.diagnostics
    assert not (silent and _slot(result, "M", "conv").args["out_channels"] == 4)


def test_sequential_of_layers():
    result = _check(
        "model M {\n"
        "    input x: [B, 4, 8, 8]\n"
        "    x -> Sequential(Conv2d(8, 3), ReLU(), Conv2d(8, 3)) -> flatten\n"
        "}\n"
    )
    assert result.ok, _render(result)
    assert result.models["M"].total_params() == (4 * 8 * 9 + 8) + (8 * 8 * 9 + 8)


def test_named_children_in_a_group():
    result = _check(
        "model M {\n"
        "    input x: [B, 8]\n"
        "    heads: (pre: Linear(16) -> relu -> head: Linear(4))\n"
        "}\n"
    )
    assert result.ok, _render(result)
    assert {"heads.pre", "heads.head"} <= _module_names(result.models["M"])


def test_outer_label_of_a_one_layer_group_is_kept():
    result = _check("model M {\n    input x: [B, 8]\n    heads: (head: Linear(4))\n}\n")
    names = _module_names(result.models["M"]) if result.ok else set()
    assert result.diagnostics or "heads.head" in names


def test_permute_in_a_group():
    result = _check(
        "model M {\n"
        "    input x: [B, 4, 8, 8]\n"
        "    y = x -> block: (Conv2d(4, 3, padding=1) -> permute(0, 2, 3, 1) -> LayerNorm)\n"
        "}\n"
    )
    assert result.ok, _render(result)
    block = _slot(result, "M", "block")
    assert [(c.name, c.type_name) for c in block.children] == [
        ("0", "Conv2d"),
        ("1", "Permute"),
        ("2", "LayerNorm"),
    ]


def test_block_as_a_label_at_statement_start():
    result = _check("model M {\n    input x: [B, 8]\n    block: Linear(4)\n}\n")
    assert result.ok, _render(result)
    assert "block" in _module_names(result.models["M"])


def test_implicitly_continued_value_is_used():
    result = _check(
        "model M {\n    input x: [B, 3, 32, 32]\n    z = x -> Conv2d(8, 3)\n    flatten\n}\n"
    )
    assert result.ok
    assert format_type(result.models["M"].output_types()[0]) == "[B, 7200]"  # it continues z
    assert result.diagnostics == [], _render(result)


def test_tensor_size_method():
    result = _check(
        "model M {\n    input x: [B, 3, 8, 8]\n    x.view(x.size(0), -1) -> Linear(10)\n}\n"
    )
    assert result.ok, _render(result)
