"""The module form of stateless functions, used when a function stands inside a labelled group
(an nn.Sequential can only hold modules): `features: (Conv2d(64, 3) -> relu)` holds nn.ReLU.

Keyword names are the same for the function and its module unless `arg_map` says otherwise.
"""

from __future__ import annotations

from nndsl.catalog import api

_FORMS: dict[str, str] = {
    "relu": "ReLU", "relu6": "ReLU6", "leaky_relu": "LeakyReLU", "elu": "ELU", "selu": "SELU",
    "celu": "CELU", "gelu": "GELU", "silu": "SiLU", "mish": "Mish", "hardswish": "Hardswish",
    "hardsigmoid": "Hardsigmoid", "hardtanh": "Hardtanh", "softplus": "Softplus", "softsign": "Softsign",
    "logsigmoid": "LogSigmoid", "tanhshrink": "Tanhshrink", "softshrink": "Softshrink",
    "hardshrink": "Hardshrink", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax",
    "log_softmax": "LogSoftmax", "softmin": "Softmin", "glu": "GLU", "threshold": "Threshold",
    "dropout": "Dropout", "dropout1d": "Dropout1d", "dropout2d": "Dropout2d", "dropout3d": "Dropout3d",
    "alpha_dropout": "AlphaDropout", "feature_alpha_dropout": "FeatureAlphaDropout",
    "flatten": "Flatten", "interpolate": "Upsample", "rrelu": "RReLU",
    "pixel_shuffle": "PixelShuffle", "pixel_unshuffle": "PixelUnshuffle",
    "channel_shuffle": "ChannelShuffle", "local_response_norm": "LocalResponseNorm",
    "unfold": "Unfold", "fold": "Fold",
    **{f"lp_pool{n}d": f"LPPool{n}d" for n in (1, 2, 3)},
    **{f"max_pool{n}d": f"MaxPool{n}d" for n in (1, 2, 3)},
    **{f"avg_pool{n}d": f"AvgPool{n}d" for n in (1, 2, 3)},
    **{f"adaptive_max_pool{n}d": f"AdaptiveMaxPool{n}d" for n in (1, 2, 3)},
    **{f"adaptive_avg_pool{n}d": f"AdaptiveAvgPool{n}d" for n in (1, 2, 3)},
}  # fmt: skip


def module_form(function: str) -> tuple[str, dict[str, str]] | None:
    """(module name, function keyword → module keyword) for a function, or None."""
    name = _FORMS.get(function)
    if name is None or api.module_signature(name) is None:
        return None
    return name, {}


def function_names_with_module_form() -> list[str]:
    return sorted(_FORMS)
