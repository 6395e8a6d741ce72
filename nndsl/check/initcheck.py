"""What torch.nn.init's functions need of their arguments and of the tensor they fill, checked
for `param p: [...] = init(...)` and `init Type.name = init(...)` alike: the spec is refused
where torch would raise when the model is built (`eye_` of a vector, `uniform_(a=1, b=0)`,
a negative `std`), or a string or a flag would reach a number's place.
"""

from __future__ import annotations

import math
from typing import Any

from nndsl.catalog.core import TensorT, describe

# torch.nn.init.calculate_gain's nonlinearities, and the fan modes
CHOICES = {
    "mode": ("fan_in", "fan_out"),
    "nonlinearity": (
        "linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
        "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu",
    ),
}  # fmt: skip

# the ranks of tensor each function can fill: (least, most, in words); others take any
_RANKS = {
    "eye_": (2, 2, "exactly 2 dimensions (a matrix)"),
    "sparse_": (2, 2, "exactly 2 dimensions (a matrix)"),
    "dirac_": (3, 5, "3 to 5 dimensions (a convolution's weight)"),
    "kaiming_normal_": (2, None, "at least 2 dimensions"),
    "kaiming_uniform_": (2, None, "at least 2 dimensions"),
    "xavier_normal_": (2, None, "at least 2 dimensions"),
    "xavier_uniform_": (2, None, "at least 2 dimensions"),
    "orthogonal_": (2, None, "at least 2 dimensions"),
}
_FAN = {"kaiming_normal_", "kaiming_uniform_", "xavier_normal_", "xavier_uniform_", "orthogonal_"}
_INTEGERS = {"groups"}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def argument_problems(
    name: str, torch_name: str, bound: dict[str, Any], written: set[str]
) -> list[tuple[str, str, str | None]]:
    """(message, argument, hint) for each argument of initialiser `name` (torch's
    `torch_name`) that torch would refuse; `bound` holds every argument (defaults too),
    `written` the names the spec wrote (only those are judged)."""
    out: list[tuple[str, str, str | None]] = []
    for key in sorted(written):
        v = bound.get(key)
        if not isinstance(v, (int, float, str, list, tuple, type(None))):
            continue  # a size or a value known when the block is built: judged at each use
        if key in CHOICES:
            if not isinstance(v, str) or v not in CHOICES[key]:
                from nndsl.check.messages import did_you_mean

                choices = ", ".join(f'"{c}"' for c in CHOICES[key])
                hint = did_you_mean(v, list(CHOICES[key])) if isinstance(v, str) else None
                out.append((f"`{name}`: `{key}` is one of {choices}, not {describe(v)}", key, hint))
        elif key in _INTEGERS:
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                out.append(
                    (
                        f"`{name}`: `{key}` must be a positive integer, not {describe(v)}",
                        key,
                        "the number of groups the output channels are split into: 1 or more",
                    )
                )
        elif not _number(v):
            out.append((f"`{name}`: `{key}` must be a number, not {describe(v)}", key, None))
        elif isinstance(v, float) and math.isnan(v):
            out.append((f"`{name}`: `{key}` must be a number, not nan", key, None))
    if out:
        return out
    std = bound.get("std")
    if "std" in written and _number(std) and std < 0:
        out.append(
            (
                f"`{name}`: `std` must be at least 0, not {std}",
                "std",
                "a standard deviation is never negative",
            )
        )
    lo, hi = bound.get("a"), bound.get("b")
    if torch_name in ("uniform_", "trunc_normal_") and _number(lo) and _number(hi) and lo > hi:
        key = "b" if "b" in written else "a"
        out.append(
            (
                f"`{name}`: the range from `a` = {lo} to `b` = {hi} is empty",
                key,
                "`a` is the lower bound and `b` the upper one",
            )
        )
    sparsity = bound.get("sparsity")
    if "sparsity" in written and _number(sparsity) and not 0 <= sparsity <= 1:
        out.append(
            (
                f"`{name}`: `sparsity` is the fraction of each column set to zero, between 0 "
                f"and 1, not {sparsity}",
                "sparsity",
                None,
            )
        )
    return out


def rank_problem(
    name: str, torch_name: str, t: TensorT, what: str, bound: dict[str, Any]
) -> tuple[str, str] | None:
    """(message, hint) when initialiser `name` cannot fill `what`, a tensor of type `t`."""
    limits = _RANKS.get(torch_name)
    if limits is not None:
        least, most, words = limits
        if t.rank < least or (most is not None and t.rank > most):
            hint = (
                "fan-based initialisers are for weights; initialise biases with "
                "`zeros()` or `constant(val=...)`"
                if torch_name in _FAN
                else None
            )
            return f"`{name}` needs a parameter of {words}, but {what} is {t}", hint or ""
    groups = bound.get("groups")
    if torch_name == "dirac_" and isinstance(groups, int) and t.shape:
        out = t.shape[0]
        if isinstance(out, int) and out % groups:
            return (
                f"`{name}`: the first dimension of {what} ({out}) is not divisible by "
                f"`groups` = {groups}",
                "",
            )
    return None
