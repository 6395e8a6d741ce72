"""Specs written fresh from the language's docs (tests/hidden_zoo/), in styles other than
samples/zoo's: `for` inside groups, `Sequential(...)`, constants of tuples, blocks reading
their input's size from `input x: [B, C, H, W]`, compile-time values bound in a body.

Each torchvision family must have torchvision's published parameter count (video and
segmentation models with their own heads and outputs; the counts of sizes such as RegNet's,
EfficientNet's and MNASNet's computed in the spec from torchvision's settings); the other models
(text classifiers, U-Net, GPT) are compared with hand-written PyTorch references below.  The
generated `model.py` of every spec builds on the meta device with the checker's count, and the
smaller models run a forward pass on CPU with the output shape the checker inferred.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

import pytest

from nndsl.check import Checked, check_file
from nndsl.check.summary import format_type
from nndsl.codegen import model_source

HIDDEN = Path(__file__).resolve().parent / "hidden_zoo"

# (file, model, parameters): torchvision's published counts
TORCHVISION = [
    ("alexnet.nn", "AlexNet", 61_100_840),
    ("vgg.nn", "VGG11", 132_863_336),
    ("vgg.nn", "VGG16BN", 138_365_992),
    ("resnet.nn", "ResNet18", 11_689_512),
    ("resnet.nn", "ResNet34", 21_797_672),
    ("resnet.nn", "ResNet50", 25_557_032),
    ("resnet.nn", "ResNet101", 44_549_160),
    ("resnet.nn", "ResNeXt50", 25_028_904),
    ("resnet.nn", "WideResNet50", 68_883_240),
    ("densenet.nn", "DenseNet121", 7_978_856),
    ("squeezenet.nn", "SqueezeNet10", 1_248_424),
    ("squeezenet.nn", "SqueezeNet11", 1_235_496),
    ("googlenet.nn", "GoogLeNet", 6_624_904),
    ("mobilenet_v2.nn", "MobileNetV2", 3_504_872),
    ("mobilenet_v3.nn", "MobileNetV3Small", 2_542_856),
    ("mobilenet_v3.nn", "MobileNetV3Large", 5_483_032),
    ("efficientnet.nn", "EfficientNetB0", 5_288_548),
    ("shufflenet.nn", "ShuffleNetV2", 2_278_604),
    ("mnasnet.nn", "MNASNet", 4_383_312),
    ("regnet.nn", "RegNetY400MF", 4_344_144),
    ("convnext.nn", "ConvNeXtTiny", 28_589_128),
    ("vit.nn", "ViTB16", 86_567_656),
    ("swin.nn", "SwinT", 28_288_354),
    ("inception_v3.nn", "InceptionV3", 23_834_568),  # aux_logits=False
    ("efficientnet_v2.nn", "EfficientNetV2S", 21_458_488),
    ("swin_v2.nn", "SwinV2T", 28_351_570),
    ("maxvit.nn", "MaxViTT", 30_919_624),
    # B0's stages scaled in the spec: _make_divisible(c * width, 8) and ceil(n * depth)
    ("efficientnet_scaled.nn", "EfficientNetB1", 7_794_184),
    ("efficientnet_scaled.nn", "EfficientNetB2", 9_109_994),
    ("efficientnet_scaled.nn", "EfficientNetB3", 12_233_232),
    ("efficientnet_scaled.nn", "EfficientNetB4", 19_341_616),
    ("efficientnet_scaled.nn", "EfficientNetB5", 30_389_784),
    ("efficientnet_scaled.nn", "EfficientNetB6", 43_040_704),
    ("efficientnet_scaled.nn", "EfficientNetB7", 66_347_960),
    # widths and depths computed in the spec from torchvision's design-space parameters
    ("regnet_family.nn", "RegNetY400MF", 4_344_144),
    ("regnet_family.nn", "RegNetY800MF", 6_432_512),
    ("regnet_family.nn", "RegNetY1_6GF", 11_202_430),
    ("regnet_family.nn", "RegNetY3_2GF", 19_436_338),
    ("regnet_family.nn", "RegNetX400MF", 5_495_976),
    ("regnet_family.nn", "RegNetX800MF", 7_259_656),
    # other sizes: the models of other specs called with other settings
    ("variants.nn", "ShuffleNetV2x05", 1_366_792),
    ("variants.nn", "ShuffleNetV2x15", 3_503_624),
    ("variants.nn", "ShuffleNetV2x20", 7_393_996),
    ("variants.nn", "ViTB32", 88_224_232),
    ("variants.nn", "ConvNeXtSmall", 50_223_688),
    ("variants.nn", "WideResNet101_2", 126_886_696),
    ("variants.nn", "ResNet152", 60_192_808),
    ("variants.nn", "ResNeXt101_32x8d", 88_791_336),
    ("variants.nn", "ResNeXt101_64x4d", 83_455_272),
    ("variants.nn", "DenseNet161", 28_681_000),
    ("variants.nn", "DenseNet169", 14_149_480),
    ("variants.nn", "DenseNet201", 20_013_928),
    ("variants.nn", "SwinS", 49_606_258),
    ("variants.nn", "SwinB", 87_768_224),
    ("variants.nn", "ConvNeXtBase", 88_591_464),
    ("variants.nn", "ConvNeXtLarge", 197_767_336),
    ("variants.nn", "ViTL16", 304_326_632),
    ("variants.nn", "ViTL32", 306_535_400),
    ("variants.nn", "MNASNet05", 2_218_512),  # depths scaled by alpha in mnasnet.nn
    ("variants.nn", "MNASNet075", 3_170_208),
    ("variants.nn", "MNASNet13", 6_282_256),
    # written later by another hand (see NEW below): other styles, other sizes
    ("vgg_family.nn", "VGG13", 133_047_848),
    ("vgg_family.nn", "VGG19", 143_667_240),
    ("vgg_family.nn", "VGG11_BN", 132_868_840),
    ("vgg_family.nn", "VGG13_BN", 133_053_736),
    ("vgg_family.nn", "VGG19_BN", 143_678_248),
    ("regnet_tables.nn", "RegNetY8GF", 39_381_472),
    ("regnet_tables.nn", "RegNetY16GF", 83_590_140),
    ("regnet_tables.nn", "RegNetY32GF", 145_046_770),
    ("regnet_tables.nn", "RegNetY128GF", 644_812_894),
    ("regnet_tables.nn", "RegNetX1_6GF", 9_190_136),
    ("regnet_tables.nn", "RegNetX3_2GF", 15_296_552),
    ("regnet_tables.nn", "RegNetX8GF", 39_572_648),
    ("regnet_tables.nn", "RegNetX16GF", 54_278_536),
    ("regnet_tables.nn", "RegNetX32GF", 107_811_560),
    ("efficientnet_v2_ml.nn", "EfficientNetV2M", 54_139_356),
    ("efficientnet_v2_ml.nn", "EfficientNetV2L", 118_515_272),
    ("vit_huge.nn", "ViTH14", 633_470_440),  # SWAG E2E weights, 518x518
    ("vit_huge.nn", "ViTH14At224", 632_045_800),  # SWAG linear-probe weights
    ("swin_v2_sb.nn", "SwinV2S", 49_737_442),
    ("swin_v2_sb.nn", "SwinV2B", 87_930_848),
    ("swin_v2_sb.nn", "SwinV2TStepwise", 28_351_570),
    ("classics_restyled.nn", "GoogLeNetTable", 6_624_904),
    ("classics_restyled.nn", "MobileNetV3LargeRows", 5_483_032),
    ("classics_restyled.nn", "MobileNetV3SmallRows", 2_542_856),
    ("classics_restyled.nn", "ResNet18Loop", 11_689_512),
    ("classics_restyled.nn", "DenseNet121List", 7_978_856),
]

# (file, model, parameters, outputs): torchvision's models with other heads (Kinetics-400 video
# classifiers; VOC segmentation, whose published counts include the auxiliary FCN head)
TORCHVISION_OTHER_HEADS = [
    ("video.nn", "R3D18", 33_371_472, ["[B, 400]"]),
    ("video.nn", "MC3_18", 11_695_440, ["[B, 400]"]),
    ("video.nn", "R2Plus1D18", 31_505_325, ["[B, 400]"]),
    ("video.nn", "S3D", 8_320_048, ["[B, 400]"]),
    ("segmentation.nn", "FCNResNet50", 35_322_218, ["[B, 21, H, W]"] * 2),
    ("segmentation.nn", "DeepLabV3ResNet50", 42_004_074, ["[B, 21, H, W]"] * 2),
    ("segmentation.nn", "LRASPPMobileNetV3Large", 3_221_538, ["[B, 21, H, W]"]),
    ("segmentation.nn", "FCNResNet101", 54_314_346, ["[B, 21, H, W]"] * 2),
    ("segmentation.nn", "DeepLabV3ResNet101", 60_996_202, ["[B, 21, H, W]"] * 2),
    ("segmentation.nn", "DeepLabV3MobileNetV3Large", 11_029_328, ["[B, 21, H, W]"] * 2),
    # torchvision's published inception_v3 count keeps the auxiliary classifier
    ("inception_v3.nn", "InceptionV3Aux", 27_161_264, ["[B, 1000]", "[B, 1000]"]),
    ("swin3d.nn", "Swin3DT", 28_158_070, ["[B, 400]"]),
    ("mvit.nn", "MViTV2S", 34_537_744, ["[B, 400]"]),
]

# the specs written later: their forward passes run on the meta device (they are large), and
# the restyled classics are compared with the first specs' models, weights copied across
NEW = {
    "vgg_family.nn",
    "regnet_tables.nn",
    "efficientnet_v2_ml.nn",
    "vit_huge.nn",
    "swin_v2_sb.nn",
    "swin3d.nn",
    "mvit.nn",
    "classics_restyled.nn",
}

# (file, model, output): the other models, whose references are built below
OTHERS = [
    ("text.nn", "GRUClassifier", "[B, 4]"),
    ("text.nn", "LSTMTagger", "[B, T, 9]"),
    ("text.nn", "TransformerClassifier", "[B, 2]"),
    ("unet.nn", "UNet", "[B, 2, 96, 96]"),
    ("gpt.nn", "GPT", "[B, T, 1000]"),
]

FILES = sorted({f for f, *_ in TORCHVISION + TORCHVISION_OTHER_HEADS + OTHERS})
FORWARD_MAX_PARAMS = 30_000_000  # forward passes on CPU only for models this small


@cache
def checked(file: str) -> Checked:
    return check_file(str(HIDDEN / file))


@cache
def generated_file(file: str) -> Path:
    import tempfile

    result = checked(file)
    models = [m for m, inst in result.models.items() if inst is not None]
    out = Path(tempfile.mkdtemp()) / "model.py"
    out.write_text(model_source(result, models))
    return out


@cache
def generated(file: str):
    out = generated_file(file)
    spec = importlib.util.spec_from_file_location(f"hidden_{Path(file).stem}", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_hidden_spec_is_tested():
    assert sorted(p.name for p in HIDDEN.glob("*.nn")) == FILES


@pytest.mark.parametrize("file", FILES)
def test_checks_without_diagnostics(file):
    result = checked(file)
    assert [f"{d.span}: {d.message}" for d in result.diagnostics] == []


@pytest.mark.parametrize(
    ("file", "model", "params"), TORCHVISION, ids=[m for _, m, _ in TORCHVISION]
)
def test_parameter_count_is_torchvisions(file, model, params):
    inst = checked(file).models[model]
    assert inst.total_params() == params
    (output,) = inst.output_types()  # ImageNet logits, whatever the batch is named
    assert len(output.shape) == 2 and output.shape[1] == 1000


@pytest.mark.parametrize(
    ("file", "model", "params", "outputs"),
    TORCHVISION_OTHER_HEADS,
    ids=[m for _, m, _, _ in TORCHVISION_OTHER_HEADS],
)
def test_parameter_count_is_torchvisions_with_other_heads(file, model, params, outputs):
    inst = checked(file).models[model]
    assert inst.total_params() == params
    assert [format_type(t) for t in inst.output_types()] == outputs


def _reference(model: str):
    """Hand-written PyTorch for the models torchvision does not have."""
    from torch import nn

    if model == "GRUClassifier":
        return nn.ModuleList(
            [
                nn.Embedding(20000, 100, padding_idx=0),
                nn.GRU(100, 128, num_layers=2, batch_first=True, bidirectional=True),
                nn.Linear(512, 4),
            ]
        )
    if model == "LSTMTagger":
        return nn.ModuleList([nn.Embedding(20000, 64), nn.LSTM(64, 96), nn.Linear(96, 9)])
    if model == "TransformerClassifier":
        layer = nn.TransformerEncoderLayer(128, 4, 512, batch_first=True)
        return nn.ModuleList(
            [nn.Embedding(20000, 128), nn.Embedding(256, 128)]
            + [nn.TransformerEncoder(layer, 4, enable_nested_tensor=False)]
            + [nn.LayerNorm(128), nn.Linear(128, 2)]
        )
    if model == "UNet":  # milesial/Pytorch-UNet, bilinear=False

        def double(i, o):
            return nn.Sequential(
                nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
                nn.Conv2d(o, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(),
            )  # fmt: skip

        widths = [64, 128, 256, 512, 1024]
        parts = [double(3, 64)] + [double(a, b) for a, b in zip(widths, widths[1:])]
        for a, b in zip(widths[::-1], widths[-2::-1]):
            parts += [nn.ConvTranspose2d(a, a // 2, 2, stride=2), double(a, b)]
        return nn.ModuleList([*parts, nn.Conv2d(64, 2, 1)])
    if model == "GPT":  # nanoGPT's GPT with vocab 1000, 4 layers of 4 heads, 128 wide
        d = 128

        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
                self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
                self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

        m = nn.ModuleDict(
            {
                "wte": nn.Embedding(1000, d),
                "wpe": nn.Embedding(64, d),
                "h": nn.ModuleList(Block() for _ in range(4)),
                "ln_f": nn.LayerNorm(d),
                "lm_head": nn.Linear(d, 1000, bias=False),
            }
        )
        m["lm_head"].weight = m["wte"].weight
        return m
    raise AssertionError(model)


@pytest.mark.parametrize(("file", "model", "output"), OTHERS, ids=[m for _, m, _ in OTHERS])
def test_other_models_match_a_pytorch_reference(file, model, output):
    inst = checked(file).models[model]
    reference = _reference(model)
    assert inst.total_params() == sum(p.numel() for p in reference.parameters())
    assert [format_type(t) for t in inst.output_types()] == [output]


ALL = [(f, m) for f, m, _ in TORCHVISION + OTHERS] + [
    (f, m) for f, m, _, _ in TORCHVISION_OTHER_HEADS
]


@pytest.mark.parametrize(("file", "model"), ALL, ids=[m for _, m in ALL])
def test_generated_model_builds_with_the_checked_count(file, model):
    import torch

    module = generated(file)
    with torch.device("meta"):
        net = getattr(module, model)()
    assert sum(p.numel() for p in net.parameters()) == checked(file).models[model].total_params()


def _example_inputs(inst):
    import torch

    args = []
    for _, v in inst.inputs:
        shape = [s if isinstance(s, int) else 2 for s in v.type.shape]
        dtype = getattr(torch, v.type.dtype)
        if dtype.is_floating_point:
            args.append(torch.randn(shape, dtype=dtype))
        else:
            args.append(torch.randint(0, 10, shape, dtype=dtype))
    return args


SMALL = [
    (f, m)
    for f, m, n in TORCHVISION
    + [(f, m, n) for f, m, n, _ in TORCHVISION_OTHER_HEADS]
    + [(f, m, 0) for f, m, _ in OTHERS]
    if n <= FORWARD_MAX_PARAMS and m != "UNet" and f not in NEW
]


@pytest.mark.slow
@pytest.mark.parametrize(("file", "model"), SMALL, ids=[m for _, m in SMALL])
def test_generated_model_runs_forward(file, model):
    import torch

    inst = checked(file).models[model]
    net = getattr(generated(file), model)().eval()
    with torch.no_grad():
        out = net(*_example_inputs(inst))
    expected = [[2 if not isinstance(s, int) else s for s in t.shape] for t in inst.output_types()]
    assert [list(o.shape) for o in (out if isinstance(out, tuple) else (out,))] == expected


META = [(f, m) for f, m in ALL if f in NEW]


@pytest.mark.parametrize(("file", "model"), META, ids=[m for _, m in META])
def test_generated_model_runs_forward_on_the_meta_device(file, model):
    import torch

    inst = checked(file).models[model]
    with torch.device("meta"):
        net = getattr(generated(file), model)().eval()
        out = net(*_example_inputs(inst))
    expected = [[2 if not isinstance(s, int) else s for s in t.shape] for t in inst.output_types()]
    assert [list(o.shape) for o in (out if isinstance(out, tuple) else (out,))] == expected


@pytest.mark.parametrize("file", sorted(NEW))
def test_generated_model_is_ruff_clean(file):
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    command = [ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W"]
    result = subprocess.run([*command, str(generated_file(file))], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


# (restyled file, model, first spec's file, model): one network written twice
SAME_NETWORK = [
    ("classics_restyled.nn", "GoogLeNetTable", "googlenet.nn", "GoogLeNet"),
    ("classics_restyled.nn", "MobileNetV3LargeRows", "mobilenet_v3.nn", "MobileNetV3Large"),
    ("classics_restyled.nn", "MobileNetV3SmallRows", "mobilenet_v3.nn", "MobileNetV3Small"),
    ("classics_restyled.nn", "ResNet18Loop", "resnet.nn", "ResNet18"),
    ("classics_restyled.nn", "DenseNet121List", "densenet.nn", "DenseNet121"),
    ("swin_v2_sb.nn", "SwinV2TStepwise", "swin_v2.nn", "SwinV2T"),
]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("file", "model", "first_file", "first"), SAME_NETWORK, ids=[t[1] for t in SAME_NETWORK]
)
def test_a_restyled_spec_computes_what_the_first_one_does(file, model, first_file, first):
    # both state_dicts hold the same tensors in the same (torchvision's) order: the first
    # spec's are copied into the other by position, then both run on one small image (Swin's
    # windows are fixed by its input size: 256x256)
    import torch

    torch.manual_seed(0)
    a = getattr(generated(first_file), first)().eval()
    b = getattr(generated(file), model)().eval()
    sa, sb = a.state_dict(), b.state_dict()
    assert [v.shape for v in sa.values()] == [v.shape for v in sb.values()]
    b.load_state_dict(dict(zip(sb, sa.values())))
    x = torch.randn(1, 3, 256, 256) if "Swin" in model else torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(a(x), b(x), atol=1e-5)


# ---- regressions found while writing these specs ----------------------------------------------


def _check(text: str) -> Checked:
    return check_file("spec.nn", text)


def test_a_compile_time_binding_keeps_the_current_value():
    # `d = [...]` or `b, c = x.shape` in a body binds a name; the next layer statement still
    # continues from the tensor before it (it used to get the list: "Conv2d gets a list")
    result = _check(
        "model M {\n"
        "    input x: [B, 3, 8, 8]\n"
        "    d = [4, 8]\n"
        "    Conv2d(d[0], 3, padding=1) -> relu\n"
        "    n, c, h, w = x.shape\n"
        "    k = c * 2\n"
        "    Conv2d(d[1] + k, 1) -> flatten -> Linear(10)\n"
        "}\n"
    )
    assert result.diagnostics == []
    inst = result.models["M"]
    assert [format_type(t) for t in inst.output_types()] == ["[B, 10]"]
    assert inst.total_params() == (3 * 9 * 4 + 4) + (4 * 14 + 14) + (14 * 64 * 10 + 10)


def test_a_body_of_only_a_compile_time_value_is_still_an_error():
    result = _check("model M {\n    input x: [B, 3]\n    x -> Linear(2)\n    k = 3\n}\n")
    assert result.diagnostics == []  # the output is the Linear's: `k = 3` keeps it
    result = _check("block Size {\n    3\n}\nmodel M {\n    input x: [B, 3]\n    Size()\n}\n")
    assert [d.message for d in result.diagnostics if d.is_error]


def test_no_torch_order_warning_for_a_depthwise_convolution():
    # `Conv2d(32, 3, 1, 1, groups=32)` on 32 channels: torch's reading (out_channels=3) would
    # not divide into 32 groups, so it is nndsl's reading, not torch's misplaced in_channels
    result = _check(
        "model M {\n"
        "    input x: [B, 32, 8, 8]\n"
        "    Conv2d(32, 3, 1, 1, groups=32) -> Conv2d(32, 3, 1, 1)\n"
        "}\n"
    )
    warnings = [d for d in result.diagnostics if not d.is_error]
    assert [(d.span.line, d.span.col) for d in warnings] == [(3, 39)]
    assert warnings[0].message.startswith("Conv2d(32, 3, 1, 1) means out_channels=32")


def test_multihead_attention_with_fewer_inputs_runs(tmp_path):
    # `h -> MultiheadAttention(4)` is self-attention and `(q, kv) -> ...` uses kv as the value;
    # the generated forward called `self.attn(h)`, which torch rejects (key and value missing)
    import torch

    import nndsl

    spec = tmp_path / "mha.nn"
    spec.write_text(
        "model M {\n"
        "    input q: [B, 3, 8], kv: [B, 5, 8]\n"
        "    a, _ = q -> self_attn: MultiheadAttention(2, batch_first=true)\n"
        "    b, _ = (a, kv) -> cross: MultiheadAttention(2, batch_first=true)\n"
        "    b\n"
        "}\n"
    )
    net = nndsl.load(str(spec)).build("M").eval()
    q, kv = torch.randn(2, 3, 8), torch.randn(2, 5, 8)
    with torch.no_grad():
        a, _ = net.self_attn(q, q, q)
        expected, _ = net.cross(a, kv, kv)
        assert torch.equal(net(q, kv), expected)


def test_a_buffer_made_from_a_step_with_several_outputs(tmp_path):
    # `stack(meshgrid(...))` and `meshgrid(...)[0]` in a buffer: generate refused them ("a buffer
    # is made from a step with several outputs") though the checker accepts them
    import torch

    import nndsl

    spec = tmp_path / "grid.nn"
    spec.write_text(
        "model M {\n"
        "    input x: [B, 9]\n"
        '    buffer grid = stack(meshgrid(arange(3), arange(3), indexing="ij")).flatten(1)\n'
        '    buffer rows = meshgrid(arange(3), arange(3), indexing="ij")[0].flatten(0)\n'
        "    x + grid[0] + grid[1] * rows\n"
        "}\n"
    )
    net = nndsl.load(str(spec)).build("M")
    i, j = torch.meshgrid(torch.arange(3), torch.arange(3), indexing="ij")
    assert torch.equal(net.grid, torch.stack([i, j]).flatten(1))
    assert torch.equal(net.rows, i.flatten(0))


@pytest.mark.parametrize(
    ("signature", "unpack", "expected"),
    [
        ("g: int", "", "def __init__(self, g: int)"),
        # a tuple unpacked: once specialised for each use (where generate failed with "the
        # size `B` is only known when the model runs"), now one class taking the tuple whole
        (
            "shape: tuple[int, int]",
            "    g, _ = shape\n",
            "def __init__(self, shape: tuple[int, int])",
        ),
    ],
)
def test_a_block_whose_input_size_is_a_multiple_of_the_batch(tmp_path, signature, unpack, expected):
    # `input a: [N, D]` given `[4*B, 8]`: N is read in forward; the generic class stored it as a
    # constructor argument, and the model's __init__ could not pass `4*B` ("a layer's size
    # depends on `B`")
    import torch

    import nndsl

    spec = tmp_path / "fold.nn"
    spec.write_text(
        f"block Group({signature}) {{\n"
        "    input a: [N, D]\n"
        f"{unpack}"
        "    a.view(N // g, g, D).sum(1)\n"
        "}\n"
        "model M {\n"
        "    input x: [B, 4, 8]\n"
        f"    x.reshape(x.shape[0] * 4, 8) -> Group({'(4, 1)' if unpack else 4})\n"
        "}\n"
    )
    program = nndsl.load(str(spec))
    assert expected in model_source(program.checked, ["M"])
    x = torch.randn(3, 4, 8)
    assert torch.allclose(program.build("M")(x), x.sum(1))


def test_zip_and_enumerate_in_compile_time_loops():
    # a PyTorch user's loops over settings: `zip` and `enumerate` were unknown functions
    result = _check(
        "const WIDTHS = (8, 16)\n"
        "block Stages(widths: list[int], depths: list[int]) {\n"
        "    for i, (w, d) in enumerate(zip(widths, depths)) {\n"
        "        stage{i}: ((Conv2d(w, 3, padding=1) -> relu) * d)\n"
        "    }\n"
        "}\n"
        "model A(depths: list[int] = [1, 2]) {\n"
        "    input x: [B, 3, 16, 16]\n"
        "    Stages(WIDTHS, depths)\n"
        "    for i, w in enumerate(WIDTHS, 1) {\n"
        "        Conv2d(w * i, 1)\n"
        "    }\n"
        "    adaptive_avg_pool2d(1) -> flatten -> Linear(10)\n"
        "}\n"
    )
    assert result.diagnostics == []
    inst = result.models["A"]
    convs = (3 * 9 * 8 + 8) + (8 * 9 * 16 + 16) + (16 * 9 * 16 + 16)
    assert inst.total_params() == convs + (16 * 8 + 8) + (8 * 32 + 32) + (32 * 10 + 10)
    assert [format_type(t) for t in inst.output_types()] == ["[B, 10]"]
    bad = _check(
        "model A {\n    input x: [B, 3]\n    for a in zip(3) {\n        Linear(a)\n    }\n}\n"
    )
    assert [(d.message, d.span.line, d.span.col) for d in bad.diagnostics] == [
        ("`zip` takes lists or tuples", 3, 14)
    ]


def test_the_flatten_method_flattens_every_dimension(tmp_path):
    # `x.flatten()` is Tensor.flatten (torchvision's Swin flattens its relative position index
    # so); only the function in a chain, `x -> flatten`, keeps the batch
    import torch

    import nndsl

    spec = tmp_path / "flat.nn"
    spec.write_text(
        "model M {\n"
        "    input x: [B, 3, 4]\n"
        "    buffer index = ones(3, 3).flatten()\n"
        "    a = x.flatten()\n"
        "    b = x.flatten(end_dim=1)\n"
        "    c = x -> flatten\n"
        "    return a, b, c, index\n"
        "}\n"
    )
    program = nndsl.load(str(spec))
    shapes = [format_type(t) for t in program.checked.models["M"].output_types()]
    assert shapes == ["[12*B]", "[3*B, 4]", "[B, 12]", "[9]"]
    x = torch.randn(2, 3, 4)
    a, b, c, index = program.build("M")(x)
    assert torch.equal(a, x.flatten()) and torch.equal(b, x.flatten(end_dim=1))
    assert torch.equal(c, torch.flatten(x, 1)) and index.shape == (9,)


def test_one_label_on_both_sides_of_a_compile_time_choice(tmp_path):
    # EfficientNetV2's FusedMBConv: `block: (expand -> project) if expand != 1 else block: (conv)`,
    # as torchvision's `if ...: self.block = A else: self.block = B`; it was "label `block` is
    # used twice", and the generated forward told the sides apart by `self.block is None`
    import torch

    import nndsl

    spec = tmp_path / "both.nn"
    spec.write_text(
        "block Fused(expand: int) {\n"
        "    input x: [B, C]\n"
        "    x -> block: (Linear(C * expand) -> Linear(C)) -> relu if expand != 1\n"
        "        else x -> block: (Linear(C)) -> tanh\n"
        "}\n"
        "model M {\n"
        "    input x: [B, 4]\n"
        "    Fused(2) -> Fused(1)\n"
        "}\n"
    )
    program = nndsl.load(str(spec))
    assert program.checked.diagnostics == []
    assert program.checked.models["M"].total_params() == (4 * 8 + 8) + (8 * 4 + 4) + (4 * 4 + 4)
    source = model_source(program.checked, ["M"])
    assert source.count("class Fused(") == 1 and "self.block = None" not in source
    net = program.build("M")
    x = torch.randn(3, 4)
    first, second = net.fused1.block, net.fused2.block
    with torch.no_grad():
        assert torch.allclose(net(x), torch.tanh(second(torch.relu(first(x)))))
    bad = _check(
        "model M {\n    input x: [B, 4]\n    y = x -> fc: Linear(4)\n"
        "    y -> fc: Linear(2) if true else y\n}\n"
    )
    assert [d.message for d in bad.diagnostics] == ["label `fc` is used twice in `M`"]


def test_math_of_numbers_is_a_compile_time_constant(tmp_path):
    # torchvision's Swin V2 clamps at `math.log(100.0)`: `log(100.0)` was the function `log`
    # waiting for a tensor ("`max` must be a number, not the function `log`"), and
    # `constant(log(10.0))` passed the checker but could not be generated
    import math

    import torch

    import nndsl

    spec = tmp_path / "ct.nn"
    spec.write_text(
        "model M(d: int = 16) {\n"
        "    input x: [B, 3]\n"
        "    param scale: [3] = constant(log(10.0))\n"
        "    y = clamp(x * scale, max=log(100.0)) / sqrt(d) * ceil(3 * 1.1) / floor(2.5)\n"
        "    y + (x -> exp) + log(x.abs() + 1)\n"
        "}\n"
    )
    program = nndsl.load(str(spec))
    assert program.checked.diagnostics == []
    net = program.build("M")
    assert torch.allclose(net.scale, torch.full((3,), math.log(10.0)))
    x = torch.randn(2, 3)
    expected = torch.clamp(x * math.log(10.0), max=math.log(100.0)) / 4.0 * 4 / 2
    assert torch.allclose(net(x), expected + x.exp() + torch.log(x.abs() + 1))
    bad = _check(
        "model M {\n    input x: [B, T]\n    k = log(-1.0)\n    n = sqrt(x.shape[1])\n"
        "    x * k * n\n}\n"
    )
    assert [(d.message, d.span.line) for d in bad.diagnostics] == [
        ("`log(-1.0)` is undefined (math domain error)", 3),
        ("`sqrt` of the size `T` cannot be computed at compile time", 4),
    ]


def test_linear_on_a_feature_map_needs_a_known_channels_first_map():
    # the lint warned on every Linear of a 4-d value not permuted in the same block: Swin's and
    # ConvNeXt's blocks (channels-last input from their caller), Swin V2's coordinate table
    result = _check(
        "block ConvBN(out: int) {\n"
        "    Conv2d(out, 3, padding=1) -> BatchNorm2d -> relu\n"
        "}\n"
        "block Mlp {\n"
        "    input x: [B, H, W, C]\n"
        "    buffer table = ones(1, 1, 1, 2)\n"
        "    (table -> Linear(C)) + (x -> Linear(C))\n"
        "}\n"
        "model M {\n"
        "    input x: [B, 3, 8, 8]\n"
        "    y = x -> ConvBN(4) -> permute(0, 2, 3, 1) -> Mlp() -> permute(0, 3, 1, 2)\n"
        "    z = y -> (Conv2d(4, 1) -> ReLU()) -> Dropout(0.1) -> Linear(8)\n"
        "    a = x -> Linear(8)\n"
        "    b = x -> ConvBN(4) -> Linear(8)\n"
        "    return z, a, b\n"
        "}\n"
    )
    assert not [d for d in result.diagnostics if d.is_error]
    warned = [(d.span.line, d.span.col) for d in result.diagnostics]
    assert warned == [(12, 58), (13, 14), (14, 27)]


def test_a_label_in_a_loop_that_runs_at_most_once(tmp_path):
    # torchvision's RegNet adds `layers["se"]` only with an SE ratio: written with the optional
    # part idiom, `for _ in ([1] if use_se else []) { se: ... }`, the label was refused ("would
    # name several modules") though the loop makes it at most once
    import torch

    import nndsl

    spec = tmp_path / "once.nn"
    spec.write_text(
        "block Unit(out: int, use_se: bool) {\n"
        "    input x: [B, C]\n"
        "    y = x -> Linear(out) -> relu\n"
        "    for _ in ([1] if use_se else []) {\n"
        "        se: Linear(out)\n"
        "    }\n"
        "}\n"
        "model M {\n"
        "    input x: [B, 4]\n"
        "    Unit(8, true) -> Unit(8, false)\n"
        "    f: (a: Linear(4) -> for _ in [1] { se: Linear(4) })\n"
        "}\n"
    )
    program = nndsl.load(str(spec))
    assert program.checked.diagnostics == []
    net = program.build("M")
    assert sorted(k for k in net.state_dict() if k.endswith("weight")) == [
        "f.a.weight", "f.se.weight", "unit1.fc.weight", "unit1.se.weight", "unit2.fc.weight"
    ]  # fmt: skip
    assert net.unit2.se is None
    x = torch.randn(2, 4)
    with torch.no_grad():
        h = net.unit2.fc(net.unit1.se(torch.relu(net.unit1.fc(x)))).relu()
        assert torch.allclose(net(x), net.f(h))
    bad = _check(
        "model M {\n    input x: [B, 4]\n    for i in range(2) {\n        fc: Linear(4)\n    }\n}\n"
    )
    assert [(d.message, d.span.line, d.span.col) for d in bad.diagnostics] == [
        ("label `fc` inside a `for` loop would name a module at every iteration", 4, 9)
    ]


def test_compile_time_values_bound_in_a_for_stage():
    # `g = min(group_width, w)` inside `block{i}: (for j in range(d) { ... })` was refused ("only
    # layers can stand inside a `for` that is a chain stage")
    result = _check(
        "model M {\n"
        "    input x: [B, 4]\n"
        "    g: (for w in [8, 4] {\n"
        "        k = w * 2\n"
        "        Linear(k) -> relu\n"
        "    })\n"
        "}\n"
    )
    assert result.diagnostics == []
    inst = result.models["M"]
    assert inst.total_params() == (4 * 16 + 16) + (16 * 8 + 8)
    assert [format_type(t) for t in inst.output_types()] == ["[B, 8]"]
    bad = _check(
        "model M {\n    input x: [B, 4]\n    g: (for w in [8] {\n        k = x\n"
        "        Linear(w)\n    })\n}\n"
    )
    assert [(d.message, d.span.line, d.span.col) for d in bad.diagnostics] == [
        ("a `for` stage can bind compile-time values, but this is a tensor [B, 4]", 4, 13)
    ]


def test_a_labelled_layers_parameter_read_in_forward(tmp_path):
    # torchvision's Swin V2 reads `self.qkv.bias` in forward (its key has no bias): `qkv.bias`
    # was "a layer has no attribute `bias`"
    import torch

    import nndsl

    spec = tmp_path / "param.nn"
    spec.write_text(
        "block Attn {\n"
        "    input x: [B, T, C]\n"
        "    out = x -> qkv: Linear(3 * C)\n"
        "    out - cat([zeros_like(qkv.bias[:C]), qkv.bias[C:2 * C], zeros_like(qkv.bias[:C])])\n"
        "}\n"
        "model M {\n"
        "    input x: [B, 5, 8]\n"
        "    y = x -> tower: Attn()\n"
        "    y + x @ tower.qkv.weight.transpose(0, 1)\n"
        "}\n"
    )
    program = nndsl.load(str(spec))
    assert program.checked.diagnostics == []
    assert program.checked.models["M"].total_params() == 8 * 24 + 24
    net = program.build("M")
    x = torch.randn(2, 5, 8)
    w, b = net.tower.qkv.weight, net.tower.qkv.bias.detach().clone()
    b[8:16] = 0
    with torch.no_grad():
        assert torch.allclose(net(x), torch.nn.functional.linear(x, w, b) + x @ w.T, atol=1e-6)
    bad = _check(
        "model M {\n    input x: [B, 8]\n    y = x -> fc: Linear(4, bias=false)\n"
        "    z = y + fc.bias\n    y + fc.scale\n}\n"
    )
    assert [(d.message, d.span.line, d.span.col) for d in bad.diagnostics] == [
        ("`fc` has no `bias`: this Linear is made without one", 4, 16),
        ("`fc` is a Linear, which has no parameter `scale`", 5, 12),
    ]


def test_no_torch_order_warning_when_torchs_reading_is_out_of_range():
    # `Conv2d(out, k, stride, (k - 1) // 2)` with out == in_channels (EfficientNet-B1's 16 -> 16
    # projection): torch's reading would have stride 0, so it is not torch's spelling
    result = _check(
        "block CNA(out: int, k: int = 1, stride: int = 1) {\n"
        "    Conv2d(out, k, stride, (k - 1) // 2, bias=false) -> BatchNorm2d\n"
        "}\n"
        "model M {\n"
        "    input x: [B, 16, 8, 8]\n"
        "    CNA(16) -> Conv2d(16, 3, 1)\n"
        "}\n"
    )
    assert [(d.message, d.span.line) for d in result.diagnostics] == [
        ("Conv2d(16, 3, 1) means out_channels=16, kernel_size=3, stride=1", 6)
    ]


def test_layer_norm_over_several_dimensions_written_positionally():
    # `LayerNorm([16, 8, 8])`, torch's spelling of a normalized_shape over C, H, W, was read as
    # `eps` ("`eps` must be a number, not a list")
    result = _check(
        "model M {\n    input x: [B, 16, 8, 8]\n    LayerNorm([16, 8, 8]) -> LayerNorm((8, 8))\n}\n"
    )
    assert result.diagnostics == []
    assert result.models["M"].total_params() == 2 * 16 * 8 * 8 + 2 * 8 * 8
    bad = _check("model M {\n    input x: [B, 16, 8, 8]\n    LayerNorm([16, 4, 8])\n}\n")
    assert [(d.span.line, d.hint) for d in bad.diagnostics] == [
        (
            3,
            "the input's last 3 sizes are (16, 8, 8): write them, or leave `normalized_shape` "
            "out to normalise over the last one only",
        )
    ]


def test_a_train_section_trains_an_imported_model(tmp_path):
    # `import "zoo.nn"` then `model = Net` checked, but `run` said "has no train section to
    # run" and `generate` wrote no train.py: only the root file's models were made
    from nndsl.codegen import train_sources

    (tmp_path / "zoo.nn").write_text(
        "model Net(width: int = 8) {\n    input x: [B, 4]\n    Linear(width) -> relu -> Linear(3)\n}\n"
    )
    spec = tmp_path / "train.nn"
    spec.write_text(
        'import "zoo.nn"\n\n'
        "train {\n    model = Net(width=16)\n    data = iris()\n    loss = CrossEntropyLoss()\n"
        "    optimizer = Adam(lr=0.01)\n    epochs = 1\n}\n"
    )
    result = check_file(str(spec))
    assert result.diagnostics == []
    assert list(result.models) == ["Net"]
    (script,) = train_sources(result, ["Net"]).values()
    assert script[0].model == "Net" and "Net(width=16)" in script[1]


def test_a_buffer_made_from_tensors_of_the_body(tmp_path):
    # Swin's tables written step by step: `coords = arange(...)` then `buffer table = stack(
    # meshgrid(coords, coords))`, or a buffer made from another buffer, were "a buffer ... cannot
    # use `coords`, a tensor of forward" (the steps that made them are now the buffer's own)
    import torch

    import nndsl

    spec = tmp_path / "table.nn"
    spec.write_text(
        "model M(w: int = 3) {\n"
        "    input x: [B, 9]\n"
        "    coords = arange(-(w - 1), w).float() / (w - 1)\n"
        '    grid = stack(meshgrid(arange(w), arange(w), indexing="ij")).flatten(1)\n'
        "    rel = grid[:, :, none] - grid[:, none, :] + (w - 1)\n"
        '    buffer table = stack(meshgrid(coords, coords, indexing="ij"), dim=-1)\n'
        "    buffer index = (rel[0] * (2 * w - 1) + rel[1]).flatten()\n"
        "    buffer twice = table * 2\n"
        "    y = x + index[:9].float()\n"
        "    y + twice.sum()\n"
        "}\n"
    )
    program = nndsl.load(str(spec))
    assert program.checked.diagnostics == []
    net = program.build("M")
    coords = torch.arange(-2, 3).float() / 2
    table = torch.stack(torch.meshgrid(coords, coords, indexing="ij"), dim=-1)
    g = torch.stack(torch.meshgrid(torch.arange(3), torch.arange(3), indexing="ij")).flatten(1)
    rel = g[:, :, None] - g[:, None, :] + 2
    assert torch.equal(net.table, table) and torch.equal(net.twice, 2 * table)
    assert torch.equal(net.index, (rel[0] * 5 + rel[1]).flatten())
    x = torch.randn(2, 9)
    assert torch.allclose(net(x), x + net.index[:9].float() + 2 * table.sum())
    assert "torch.arange" in model_source(program.checked, ["M"])
    bad = _check(
        "model M {\n    input x: [B, 3]\n    param p: [3]\n    h = x * 2\n    q = p * 2\n"
        "    buffer a = h.sum(0)\n    buffer b = q + 1\n    x + a + b\n}\n"
    )
    assert [(d.message, d.span.line, d.span.col) for d in bad.diagnostics] == [
        (
            "a buffer is made with the model, before any input, so it cannot use `h`, a tensor of "
            "forward",
            6,
            16,
        ),
        (
            "a buffer is made with the model, before any input, so it cannot use `q`, a tensor of "
            "forward",
            7,
            16,
        ),
    ]  # fmt: skip  (no "undefined name `a`" at the last line)
    bad = _check("model M {\n    input x: [B, 3]\n    buffer a = x[0]\n    x + a\n}\n")
    assert [d.message for d in bad.diagnostics] == [
        "a buffer is made with the model, before any input, so it cannot use `x`, an input"
    ]


def test_the_torch_order_warning_once_per_place_and_only_where_meant():
    # `Conv2d(out, 3, stride, 1)` in a block used with out == in_channels at some uses (64 -> 64)
    # and not at others (64 -> 128) is nndsl's order, not torch's: it warned at every such use
    # (one warning per use); a place that reads so at every use warns once
    result = _check(
        "block Basic(out: int, stride: int = 1) {\n"
        "    Conv2d(out, 3, stride, 1, bias=false) -> relu\n"
        "    Conv2d(out, 3, 1, 1, bias=false)\n"
        "}\n"
        "model M {\n"
        "    input x: [B, 8, 16, 16]\n"
        "    Basic(8) -> Basic(16, 2) -> Basic(16) -> Basic(32, 2) -> Basic(32)\n"
        "}\n"
    )
    assert [(d.span.line, d.message) for d in result.diagnostics] == [
        (
            3,
            "Conv2d(8, 3, 1, 1) means out_channels=8, kernel_size=3, stride=1, padding=1",
        )
    ]


def test_generated_docstrings_are_wrapped():
    # a long spec path or reason made docstring lines longer than ruff's 88 columns (E501)
    from nndsl.codegen.render import docstring

    text = docstring(
        ["Model `DenseNet121List` from tests/hidden_zoo/classics_restyled.nn:174: 7,978,856 "
         "parameters.", "Specialised for one use: " + "because " * 20, "    Used as: " + "x " * 50]
    )  # fmt: skip
    lines = text.splitlines()
    assert len('    """' + lines[0]) <= 88 and max(len(line) for line in lines[1:]) <= 88
    assert lines[1] == "    parameters." and lines[2] == ""
    assert lines[-2].startswith("        x ")  # a continuation keeps the line's indent
    assert docstring(["One line."]) == "One line."
    path = "from my specs/" + "a b " * 15 + ".nn"  # a spec's path is never broken
    text = docstring([f"Model `M` {path}:1: 5 parameters."], keep=(path,))
    assert text.splitlines()[1] == f"    {path}:1:"


def test_a_value_computed_from_computed_values_in_forward(tmp_path):
    # MViT's relative positions scale by `max(k / q, 1.0)` in forward: the generic class stored
    # the inner `k / q` as `self.c__1 = c__1`, an undefined name
    import torch

    import nndsl

    spec = tmp_path / "ratio.nn"
    spec.write_text(
        "block Scale(q: int, k: int) {\n"
        "    input x: [B, D]\n"
        "    x * max(k / q, 1.0) + arange(D)[none, :] * max(q / k, 1.0)\n"
        "}\n"
        "model M {\n"
        "    input x: [B, 4]\n"
        "    x -> Scale(2, 8) -> Scale(8, 2)\n"
        "}\n"
    )
    program = nndsl.load(str(spec))
    source = model_source(program.checked, ["M"])
    assert source.count("class Scale(") == 1 and "c__" not in source
    x = torch.randn(3, 4)
    y = x * 4.0 + torch.arange(4)[None, :] * 1.0
    assert torch.allclose(program.build("M")(x), y * 1.0 + torch.arange(4)[None, :] * 4.0)
