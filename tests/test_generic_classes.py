"""ONE class per block: the language's contract (docs/language.md) is that generated code has one
class per block, parametrized like hand-written torchvision code, not one class per use.

Each test generates `model.py` twice from the same spec: as the code generator writes it, and
with the blocks under test forced onto the fallback of one specialised class per use (which
writes each use with its concrete values: how they were generated before they became generic).
The generic module must have one class for the block, and each model must build the same
`state_dict` (keys and shapes) and compute the same outputs with the same weights as the
specialised one.
"""

from __future__ import annotations

import importlib.util
import re
import tempfile
from functools import cache
from pathlib import Path
from unittest import mock

import pytest

from nndsl.check import check_file
from nndsl.codegen import model_source
from nndsl.codegen.generic import Unsupported

TESTS = Path(__file__).resolve().parent
HIDDEN = TESTS / "hidden_zoo"
FAMILIES = TESTS / "families"
ZOO = TESTS.parent / "samples" / "zoo"


# the blocks of each spec that are compared with their specialised classes
FORCED = {
    HIDDEN / "resnet.nn": ("Bottleneck", "Layer", "ResNet101"),
    HIDDEN / "convnext.nn": ("ConvNeXtTiny",),
    HIDDEN / "swin.nn": ("ShiftedWindowAttention", "SwinTransformerBlock"),
    HIDDEN / "unet.nn": ("UNet",),
    HIDDEN / "gpt.nn": ("Attention", "Block"),
    FAMILIES / "swin.nn": ("WindowAttention", "SwinWindow"),
    HIDDEN / "shufflenet.nn": ("ShuffleUnit", "ShuffleNetV2"),
    ZOO / "shufflenet_v2.nn": ("InvertedResidual",),
    HIDDEN / "video.nn": ("BasicBlock", "Conv3dNormAct", "TemporalSeparableConv"),
    HIDDEN / "regnet_family.nn": ("ResBottleneckBlock",),
    HIDDEN / "swin_v2.nn": ("ShiftedWindowAttentionV2", "PatchMergingV2"),
    HIDDEN / "segmentation.nn": ("DilatedResNet",),
}


@cache
def _modules(spec: Path):
    """The generated source and module of `spec` (every model), and the module with the
    blocks of FORCED[spec] specialised for each use."""
    from nndsl.codegen import generic as gen

    def refuse(program, symbols, decl, input_types, *args, **kwargs):
        if decl.name in FORCED[spec]:
            raise Unsupported("forced: compared with one class per use")
        return gen.generic_instance(program, symbols, decl, input_types, *args, **kwargs)

    generic = _source(spec)
    with mock.patch("nndsl.codegen.model.generic_instance", side_effect=refuse):
        specialised = _source(spec)
    for block in FORCED[spec]:
        # (docstrings are wrapped at 88 columns: compared with the whitespace made single)
        assert f"`{block}` cannot be one generic class because forced" in " ".join(
            specialised.split()
        )
    return (
        generic,
        _load(generic, f"generic_{spec.stem}"),
        _load(specialised, f"specialised_{spec.stem}"),
    )


def _source(spec: Path) -> str:
    checked = check_file(str(spec))
    assert checked.ok, [d.message for d in checked.diagnostics if d.is_error]
    models = [m for m, inst in checked.models.items() if inst is not None]
    return model_source(checked, models)


def _load(source: str, name: str):
    path = Path(tempfile.mkdtemp()) / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _classes(source: str, block: str) -> list[str]:
    """The classes generated for `block`: itself, or `Block_1`, `Block_2`, ... per use."""
    return re.findall(rf"^class ({block}(?:_\d+)?)\(", source, re.M)


def _specialised(source: str, block: str) -> list[str]:
    text = " ".join(source.split())  # docstrings are wrapped
    return re.findall(rf"`{block}` cannot be one generic class because (.*?)\. \"\"\"", text)


def _state_shapes(net) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def _inputs(spec: Path, model: str, sizes: dict[int, int]):
    """Inputs of the checked shapes: a size known only when the model runs is 1, a dimension
    in `sizes` (index → size) is given that size."""
    import torch

    torch.manual_seed(0)
    inst = check_file(str(spec)).models[model]
    args = []
    for _, v in inst.inputs:
        shape = [sizes.get(i, s if isinstance(s, int) else 1) for i, s in enumerate(v.type.shape)]
        dtype = getattr(torch, v.type.dtype)
        if dtype.is_floating_point:
            args.append(torch.randn(shape, dtype=dtype))
        else:
            args.append(torch.randint(0, 10, shape, dtype=dtype))
    return args


def _same_model(spec: Path, model: str, *, forward: bool, sizes: dict[int, int] | None = None):
    """The generic and the specialised `model` have the same state_dict; with `forward`, the
    same outputs once given the same weights."""
    import torch

    _, generic, specialised = _modules(spec)
    with torch.device("meta"):
        shapes = _state_shapes(getattr(generic, model)())
        assert shapes == _state_shapes(getattr(specialised, model)())
    if not forward:
        return
    a, b = _built(getattr(generic, model)), _built(getattr(specialised, model))
    torch.manual_seed(0)
    for t in a.state_dict().values():  # batch-norm statistics too, not only their defaults
        if t.is_floating_point():
            t.copy_(torch.randn_like(t) * 0.1 + (1.0 if t.ndim == 1 else 0.0))
    b.load_state_dict(a.state_dict())
    args = _inputs(spec, model, sizes or {})
    with torch.no_grad():
        got, want = a(*args), b(*args)
    torch.testing.assert_close(got, want)


def _built(cls):
    """An instance in eval mode whose weights are set next (so not initialised: it is quicker),
    unless it has integer buffers that `__init__` computes (an index table)."""
    import torch

    with torch.device("meta"):
        net = cls()
    made = [
        k
        for k, t in net.state_dict().items()
        if not t.is_floating_point() and not k.endswith("num_batches_tracked")
    ]
    if made:
        net = cls()
    else:
        net = net.to_empty(device="cpu")
        for k, t in net.state_dict().items():
            if k.endswith("num_batches_tracked"):
                t.zero_()
    return net.eval()


# ---- compile-time expressions over parameters ----------------------------------------------


def test_resnet_bottleneck_is_one_class_with_torchvisions_width():
    """torchvision's Bottleneck: `width = int(planes * (base_width / 64.0)) * groups`."""
    source, _, _ = _modules(HIDDEN / "resnet.nn")
    assert _classes(source, "Bottleneck") == ["Bottleneck"]
    assert _classes(source, "Layer") == ["Layer"]
    assert "        width = int(planes * (base_width / 64.0)) * groups\n" in source
    assert _specialised(source, "Bottleneck") == []


@pytest.mark.parametrize("model", ["ResNet50", "ResNeXt50", "WideResNet50", "ResNet101"])
def test_resnet_bottleneck_models_keep_their_state_dict(model):
    _same_model(HIDDEN / "resnet.nn", model, forward=False)


def test_resnet50_generic_bottleneck_computes_the_same():
    _same_model(HIDDEN / "resnet.nn", "ResNet50", forward=True, sizes={2: 64, 3: 64})


def test_resnext50_generic_bottleneck_computes_the_same():
    """groups=32, base_width=4: the width expression with other values than ResNet50's."""
    _same_model(HIDDEN / "resnet.nn", "ResNeXt50", forward=True, sizes={2: 64, 3: 64})


def test_a_model_indexing_its_list_parameter_is_one_class():
    """`layers[idx]` of `layers: list[int]`, as torchvision's ResNet writes `layers[0]`."""
    source, _, _ = _modules(HIDDEN / "resnet.nn")
    assert _specialised(source, "ResNet101") == []
    assert "self.layer3 = Layer(512, 256, layers[2], 2)" in source


@pytest.mark.slow
def test_resnet101_indexing_its_list_parameter_computes_the_same():
    _same_model(HIDDEN / "resnet.nn", "ResNet101", forward=True, sizes={2: 64, 3: 64})


def test_convnext_sizes_and_depths_from_list_parameters():
    """`Conv2d(dims[i + 1], ...)` and `CNBlock() * depths[i]`: sizes and counts of list items."""
    source, _, _ = _modules(HIDDEN / "convnext.nn")
    assert _specialised(source, "ConvNeXtTiny") == []
    assert "nn.Sequential(*[CNBlock(dims[2]) for _ in range(depths[2])])" in source
    _same_model(HIDDEN / "convnext.nn", "ConvNeXtTiny", forward=False)


@pytest.mark.slow
def test_convnext_from_list_parameters_computes_the_same():
    _same_model(HIDDEN / "convnext.nn", "ConvNeXtTiny", forward=True, sizes={2: 64, 3: 64})


def test_swin_window_attention_is_one_class():
    """`(C // num_heads) ** -0.5`, a float computed from parameters; the padding computed from
    the input's size in `__init__` makes that size a constructor argument."""
    source, _, _ = _modules(HIDDEN / "swin.nn")
    for block in ("ShiftedWindowAttention", "SwinTransformerBlock", "ShiftMask"):
        assert _classes(source, block) == [block]
    assert "** -0.5" in source
    _same_model(HIDDEN / "swin.nn", "SwinT", forward=False)


@pytest.mark.slow
def test_swin_generic_window_attention_computes_the_same():
    _same_model(HIDDEN / "swin.nn", "SwinT", forward=True)


def test_a_model_parameter_in_the_input_shape_sizes_layers():
    """`model SwinWindow(c: int) { input x: [B, 16, 16, c] ... LayerNorm(c) }`."""
    source, _, _ = _modules(FAMILIES / "swin.nn")
    assert _classes(source, "WindowAttention") == ["WindowAttention"]
    assert _specialised(source, "SwinWindow") == []
    _same_model(FAMILIES / "swin.nn", "SwinWindow", forward=True)


def test_unet_channels_parameter_in_the_input_shape():
    source, _, _ = _modules(HIDDEN / "unet.nn")
    assert _specialised(source, "UNet") == []
    assert "self.inc = DoubleConv(n_channels, 64, 64)" in source
    _same_model(HIDDEN / "unet.nn", "UNet", forward=False)


def test_gpt_attention_scale_is_one_class():
    """`1.0 / hs ** 0.5` in forward, from a size computed from parameters."""
    source, _, _ = _modules(HIDDEN / "gpt.nn")
    assert _classes(source, "Attention") == ["Attention"]
    _same_model(HIDDEN / "gpt.nn", "GPT", forward=True)


def test_shufflenet_unit_is_one_class():
    """`x1, x2 = x.chunk(2, dim=1) if stride == 1 else (x, x)`: a condition on tensors, whose
    sizes differ by side (torchvision's `inp if stride > 1 else branch_features`)."""
    source, _, _ = _modules(HIDDEN / "shufflenet.nn")
    assert _classes(source, "ShuffleUnit") == ["ShuffleUnit"]
    assert "in_channels // 2 if stride == 1 else in_channels," in source
    _same_model(HIDDEN / "shufflenet.nn", "ShuffleNetV2", forward=True)


def test_shufflenet_model_repeating_a_unit_by_a_list_item_is_one_class():
    """`ShuffleUnit(channels[i + 1], 1) * (stages_repeats[i] - 1)`: each copy keeps the width
    `2 * (oup // 2)` its first unit gives (the two halves it concatenates), which the checker
    writes `(2 * (oup // 2) + 1) // 2 + oup // 2` after a copy: the same size."""
    source, _, _ = _modules(HIDDEN / "shufflenet.nn")
    assert _specialised(source, "ShuffleNetV2") == []
    assert "ShuffleUnit(2 * (channels[1] // 2), channels[1], 1)" in source
    assert "for _ in range(stages_repeats[0] - 1)" in source


def test_shufflenet_v2_inverted_residual_is_one_class():
    source, _, _ = _modules(ZOO / "shufflenet_v2.nn")
    assert _classes(source, "InvertedResidual") == ["InvertedResidual"]
    _same_model(ZOO / "shufflenet_v2.nn", "ShuffleNetV2_x1_0", forward=True)


# ---- tuples of sizes ------------------------------------------------------------------------


def test_a_tuple_parameter_is_passed_on_whole_and_read_by_item():
    """S3D's `Conv3dNormAct(out, k: tuple[int, int, int], stride: tuple[int, int, int])`: the
    kernel and stride are passed to `nn.Conv3d` as they are, the padding reads their items."""
    source, _, _ = _modules(HIDDEN / "video.nn")
    for block in ("Conv3dNormAct", "TemporalSeparableConv", "SepInceptionBlock3D"):
        assert _classes(source, block) == [block]
    assert "k: tuple[int, int, int] = (1, 1, 1)," in source
    assert "padding=((k[0] - 1) // 2, (k[1] - 1) // 2, (k[2] - 1) // 2)," in source
    assert re.search(r"nn\.Conv3d\(\s*in_channels,\s*out,\s*k,\s*stride=stride,", source)
    assert "Conv3dNormAct(out, out, (k, 1, 1), (stride, 1, 1))" in source
    _same_model(HIDDEN / "video.nn", "S3D", forward=False)


def test_a_tuple_chosen_by_a_condition_is_chosen_item_by_item():
    """The video ResNets' `ds = (1, stride, stride) if kind == "2d" else (stride, stride,
    stride)`: the items that differ are chosen in `__init__` (torchvision's
    `get_downsample_stride` of each convolution builder)."""
    source, _, _ = _modules(HIDDEN / "video.nn")
    assert _classes(source, "BasicBlock") == ["BasicBlock"]
    assert 'stride=(1 if kind == "2d" else stride, stride, stride),' in source
    for model in ("R3D18", "MC3_18", "R2Plus1D18"):
        _same_model(HIDDEN / "video.nn", model, forward=False)


def test_a_tuple_parameter_compared_is_an_if(tmp_path):
    """`k == (1, 1)` of a tuple parameter is known only when the class is built: an `if`."""
    spec = tmp_path / "tuple_test.nn"
    spec.write_text(
        "block B(k: tuple[int, int] = (1, 1)) {\n"
        "    input x: [N, C, H, W]\n"
        "    x -> Conv2d(8, k) if k == (1, 1) else x -> Conv2d(8, 3, padding=1)\n"
        "}\n\n"
        "model M {\n    input x: [2, 4, 16, 16]\n    x -> B((1, 1)) -> B((3, 3))\n}\n"
    )
    with mock.patch.dict(FORCED, {spec: ("B",)}):
        source, _, _ = _modules(spec)
        assert _classes(source, "B") == ["B"]
        assert (
            "        if k == (1, 1):\n            self.conv1 = nn.Conv2d(in_channels, 8, k)\n"
            in (source)
        )
        _same_model(spec, "M", forward=True)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["MC3_18", "S3D"])
def test_video_models_with_tuples_compute_the_same(model):
    _same_model(HIDDEN / "video.nn", model, forward=True)


# ---- a repetition whose first copy changes the sizes -----------------------------------------


def test_a_repetition_whose_first_copy_changes_the_channels_is_a_comprehension():
    """`Bottleneck(64) * layers[0]` on 64 channels: the first copy makes 256, the others keep
    them; the copies are `Bottleneck(64 if i == 0 else 256, 64) for i in range(layers[0])`, and
    the next layer takes `256 if layers[0] > 0 else 64` (no copy: the input's 64)."""
    spec = HIDDEN / "segmentation.nn"
    source, _, _ = _modules(spec)
    assert _classes(source, "DilatedResNet") == ["DilatedResNet"]
    assert "*[Bottleneck(64 if i == 0 else 256, 64) for i in range(layers[0])]" in source
    assert "Bottleneck(256 if layers[0] > 0 else 64, 128, stride=2)," in source
    for model in ("FCNResNet50", "DeepLabV3ResNet50"):
        _same_model(spec, model, forward=False)


def test_a_repetition_by_a_count_of_zero_is_its_input(tmp_path):
    """The generic class with `layers[0] == 0` is the block the checker makes of that use."""
    spec = tmp_path / "segmentation_shallow.nn"
    spec.write_text(
        (HIDDEN / "segmentation.nn").read_text()
        + "\nmodel Shallow {\n    input x: [B, 3, H, W]\n    FCNResNet50(layers=[0, 1, 1, 1])\n}\n"
    )
    with mock.patch.dict(FORCED, {spec: ("DilatedResNet",)}):
        _same_model(spec, "Shallow", forward=False)  # layer2's first block takes 64 channels


@pytest.mark.slow
def test_fcn_with_a_first_copy_that_changes_the_channels_computes_the_same():
    _same_model(HIDDEN / "segmentation.nn", "FCNResNet50", forward=True, sizes={2: 64, 3: 64})


# ---- labelled children under a condition ----------------------------------------------------


def test_a_labelled_group_with_an_optional_child_is_an_ordered_dict_filled_in_order():
    """RegNet's `f: (a: ..., b: ..., for _ in ([1] if se_ratio > 0 else []) { se: ... }, c:
    ...)`: torchvision's `BottleneckTransform` fills an OrderedDict, `se` under `if`."""
    source, _, _ = _modules(HIDDEN / "regnet_family.nn")
    assert _classes(source, "ResBottleneckBlock") == ["ResBottleneckBlock"]
    assert "        layers: OrderedDict[str, nn.Module] = OrderedDict()\n" in source
    assert re.search(r"\n        if se_ratio > 0:\n            layers\[\"se\"\] = Sq", source)
    assert "        self.f = nn.Sequential(layers)\n" in source
    for model in ("RegNetY400MF", "RegNetX400MF"):  # with and without the `se` child
        _same_model(HIDDEN / "regnet_family.nn", model, forward=False)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["RegNetY400MF", "RegNetX400MF"])
def test_regnet_with_an_optional_labelled_child_computes_the_same(model):
    _same_model(HIDDEN / "regnet_family.nn", model, forward=True)


@pytest.mark.parametrize(
    ("spec", "model"),
    [
        (HIDDEN / "regnet_family.nn", "RegNetY400MF"),
        (HIDDEN / "video.nn", "MC3_18"),
        (HIDDEN / "video.nn", "S3D"),
        (HIDDEN / "resnet.nn", "ResNet50"),
        (HIDDEN / "swin.nn", "SwinT"),
        (FAMILIES / "swin.nn", "SwinWindow"),
        (HIDDEN / "gpt.nn", "GPT"),
        (HIDDEN / "shufflenet.nn", "ShuffleNetV2"),
    ],
    ids=["RegNetY400MF", "MC3_18", "S3D", "ResNet50", "SwinT", "SwinWindow", "GPT", "ShuffleNetV2"],
)
def test_generic_classes_script(spec, model):
    """TorchScript compiles the generic forward methods (sizes are ints: `ws * ws`, not `ws**2`)."""
    import torch

    _, generic, _ = _modules(spec)
    with torch.device("meta"):
        torch.jit.script(getattr(generic, model)())


def test_a_quotient_by_a_parameter_can_be_written_a_join_cannot():
    """What the code generator may write of an opaque size (generic.Quotients, the symbolic
    evaluation's arithmetic mode, notes what each quotient by a symbol stands for)."""
    from nndsl import dims
    from nndsl.codegen.generic import Quotients

    mode = Quotients()
    h, s = dims.sym("H"), dims.sym("stride")
    out = dims.floordiv(h - 1, s, opaque=mode) + 1
    (name,) = [n for n in dims.free_symbols(out) if dims.is_opaque_symbol(n)]
    assert mode.parts[name] == ("//", h - 1, s)
    assert mode.writable(out) and mode.writable(2 * out)
    assert not mode.writable(dims.opaque_symbol("join", h, out))
    assert not Quotients().writable(out)  # another evaluation's: not known here


# ---- forward's locals -----------------------------------------------------------------------


def test_each_side_of_a_condition_writes_the_merged_value_in_its_local():
    """A value that only the merge after an `if` reads is computed into the merge's local, on
    each side (`y = self.block(x)`, not `y2 = self.block(x)` then `y = y2`), as hand-written
    code does; the sides never live at once, so they share it."""
    source, _, _ = _modules(HIDDEN / "video.nn")
    video_conv = source[source.index("class VideoConv(") : source.index("class BasicBlock(")]
    forward = video_conv[video_conv.index("def forward") :]
    assert "h = self.conv1(x)" in forward
    assert "h = self.conv2(x)" in forward
    assert "h = self.conv2_plus1_d(x)" in forward
    assert not re.search(r"^\s+\w+ = \w+$", forward, re.M), forward
    source, _, _ = _modules(HIDDEN / "shufflenet.nn")
    assert re.search(r"x1, x2 = torch\.chunk\(\s*x, 2, dim=1\s*\)", source)
    assert not re.search(r"^\s+x[12] = h2?$", source, re.M)


def test_an_input_size_the_spec_names_keeps_its_name():
    """`input x: [B, H, W, C]` (a channels-last map): the sizes the attention needs in
    `__init__` are its `H, W` (not `in_channels, H` by their positions), nanoGPT's `[B, T, C]`
    reads `B, T, _ = x.shape`, and PatchMerging's `4 * C` is not `4 * W`."""
    source, _, _ = _modules(HIDDEN / "swin_v2.nn")
    assert _classes(source, "ShiftedWindowAttentionV2") == ["ShiftedWindowAttentionV2"]
    assert "        B, H, W, _ = x.shape\n" in source
    assert "        pad_b = (ws - (H % ws)) % ws\n        pad_r = (ws - (W % ws)) % ws\n" in source
    assert "self, H: int, W: int, in_features: int, num_heads: int, shift_size: int" in source
    assert "        self.reduction = nn.Linear(4 * C, 2 * C, bias=False)\n" in source
    assert "in_channels" not in source
    _same_model(HIDDEN / "swin_v2.nn", "SwinV2T", forward=False)
    source, _, _ = _modules(HIDDEN / "gpt.nn")
    assert "        B, T, _ = x.shape\n" in source


@pytest.mark.slow
def test_swin_v2_with_the_spec_s_size_names_computes_the_same():
    _same_model(HIDDEN / "swin_v2.nn", "SwinV2T", forward=True)


def test_sizes_the_spec_reads_from_a_tensor_are_read_in_forward():
    """ShuffleNet's channel shuffle `b, c, h, w = out.shape`: forward reads them from the
    tensor, as torchvision's `channel_shuffle` does, so the input's height and width are no
    constructor arguments and the model runs at any input size."""
    import torch

    source, generic, _ = _modules(HIDDEN / "shufflenet.nn")
    assert "def __init__(self, in_channels: int, oup: int, stride: int) -> None:" in source
    assert "        _, c, h, w = out.shape\n        out = out.view(b, 2, c // 2, h, w)" in source
    assert "self.h" not in source
    net = _built(generic.ShuffleNetV2)
    with torch.no_grad():
        assert net(torch.randn(1, 3, 96, 128)).shape == (1, 1000)
