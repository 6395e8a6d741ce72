"""Which of torch.nn the catalog covers, and which modules fall back to meta-tensor execution.

`test_coverage_table` walks every public `nn.Module` subclass of `torch.nn` and prints a table
(run with `-s` to see it): each module is covered by the catalog (a static shape rule and
parameter count, checked against torch by tests/test_catalog_torch.py), a loss (used by the
`train` section), a container or base class, or falls back to running the module once on meta
tensors when a spec is checked.  The other tests assert that everything the language promises
is covered, and that every catalog entry names something that exists in torch.
"""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F

import nndsl.catalog.functions  # noqa: F401  (registers FUNCTIONS)
from nndsl.catalog.core import FUNCTIONS, LAYERS

# The modules the language promises to know statically.
REQUIRED_LAYERS = [
    "Linear", "Bilinear", "Identity", "Flatten", "Unflatten",
    "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
    "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm",
    "InstanceNorm1d", "InstanceNorm2d", "LocalResponseNorm",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout",
    "Embedding", "EmbeddingBag", "RNN", "LSTM", "GRU", "MultiheadAttention",
    "TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder",
    "TransformerDecoder", "Transformer",
    "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle", "PixelUnshuffle",
    "ChannelShuffle", "CosineSimilarity", "PairwiseDistance", "Fold", "Unfold",
]  # fmt: skip

# The functions the language promises to know statically (besides every activation).
REQUIRED_FUNCTIONS = [
    "max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
    "interpolate", "pad", "flatten", "reshape", "view", "permute", "transpose", "squeeze",
    "unsqueeze", "cat", "stack", "mean", "sum", "amax", "matmul", "normalize", "softmax",
    "log_softmax", "dropout", "one_hot", "chunk", "expand", "repeat",
    "arange", "zeros", "ones", "full", "eye", "zeros_like", "ones_like", "full_like",
    "rand_like", "randn_like", "randint", "tensor", "tril", "triu", "meshgrid", "split",
    "unbind", "gather", "index_select", "where", "masked_fill", "roll", "expand_as",
    "einsum", "bmm", "baddbmm", "scaled_dot_product_attention", "max", "min", "topk", "sort",
    "kthvalue", "median", "mode", "argmax", "argmin", "long", "float", "type_as",
]  # fmt: skip

# Activation functions of torch.nn.functional (those that need only the input).
FUNCTIONAL_ACTIVATIONS = [
    "threshold", "relu", "hardtanh", "hardswish", "relu6", "elu", "selu", "celu", "leaky_relu",
    "prelu", "rrelu", "glu", "gelu", "logsigmoid", "hardshrink", "tanhshrink", "softsign",
    "softplus", "softmin", "softmax", "gumbel_softmax", "log_softmax", "softshrink", "tanh",
    "sigmoid", "hardsigmoid", "silu", "mish",
]  # fmt: skip

_BASES = {"Module", "Container", "RNNBase", "RNNCellBase", "Sequential", "ModuleList",
          "ModuleDict", "ParameterList", "ParameterDict", "DataParallel"}  # fmt: skip


def torch_modules() -> dict[str, type]:
    """Every public nn.Module subclass exported by torch.nn."""
    out = {}
    for name in dir(torch.nn):
        obj = getattr(torch.nn, name)
        if not name.startswith("_") and inspect.isclass(obj) and issubclass(obj, torch.nn.Module):
            out[name] = obj
    return out


def activation_modules() -> list[str]:
    mod = torch.nn.modules.activation
    return sorted(
        name
        for name, obj in vars(mod).items()
        if inspect.isclass(obj)
        and issubclass(obj, torch.nn.Module)
        and obj.__module__ == mod.__name__
        and not name.startswith("_")
    )


def classify(name: str, cls: type) -> str:
    if name in LAYERS:
        return "catalog"
    if issubclass(cls, torch.nn.modules.loss._Loss):
        return "loss"
    if name in _BASES:
        return "container/base"
    return "meta-tensor fallback"


def test_coverage_table() -> None:
    modules = torch_modules()
    kinds: dict[str, list[str]] = {}
    for name, cls in sorted(modules.items()):
        kinds.setdefault(classify(name, cls), []).append(name)
    layer_like = len(modules) - len(kinds.get("loss", [])) - len(kinds.get("container/base", []))
    covered = len(kinds.get("catalog", []))
    lines = [
        f"torch {torch.__version__}: {len(modules)} public nn.Module classes",
        f"  catalog (static shape rules): {covered} of {layer_like} layers "
        f"({100 * covered / layer_like:.0f}%)",
    ]
    for kind in ("meta-tensor fallback", "loss", "container/base"):
        lines.append(f"  {kind}: {len(kinds.get(kind, []))}")
    lines.append("")
    width = max(map(len, modules))
    for name, cls in sorted(modules.items()):
        lines.append(f"  {name:<{width}}  {classify(name, cls)}")
    fallback = kinds.get("meta-tensor fallback", [])
    lines += ["", "falls back to meta tensors: " + (", ".join(fallback) or "none")]
    print("\n".join(lines))
    assert covered + len(fallback) == layer_like


@pytest.mark.parametrize("name", REQUIRED_LAYERS)
def test_required_layer_is_in_the_catalog(name: str) -> None:
    assert name in LAYERS, f"{name} falls back to meta tensors; the catalog must cover it"


@pytest.mark.parametrize("name", activation_modules())
def test_every_activation_module_is_in_the_catalog(name: str) -> None:
    assert name in LAYERS, f"the activation {name} is not in the catalog"


@pytest.mark.parametrize("name", sorted(n for n in torch_modules() if "Pad" in n))
def test_every_padding_layer_is_in_the_catalog(name: str) -> None:
    assert name in LAYERS, f"the padding layer {name} is not in the catalog"


@pytest.mark.parametrize("name", REQUIRED_FUNCTIONS + FUNCTIONAL_ACTIVATIONS)
def test_required_function_is_in_the_catalog(name: str) -> None:
    assert name in FUNCTIONS, f"the function {name} is not in the catalog"


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer_entry_is_a_torch_module(name: str) -> None:
    cls = getattr(torch.nn, name, None)
    assert inspect.isclass(cls) and issubclass(cls, torch.nn.Module), name


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_function_entry_is_a_torch_callable(name: str) -> None:
    path = FUNCTIONS[name].torch
    if path.startswith("F."):
        assert callable(getattr(F, path[2:], None)), path
    elif path.startswith("torch."):
        assert callable(getattr(torch, path[6:], None)), path
    else:
        assert path.startswith(".") and callable(getattr(torch.Tensor, path[1:], None)), path
