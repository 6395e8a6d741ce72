"""Compile-time math on numbers: `log(10.0)`, `sqrt(d)`, `exp(-2)`, `ceil(3 * 1.1)` (an int).

A PyTorch user writes `math.log(100.0)` for a constant (torchvision's Swin V2 clamps its logit
scale at it); in a spec the torch function of the same name, called on numbers only, is that
constant, computed when the spec is checked.  On a tensor, or as a stage (`x -> log`), the name
stays torch's function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nndsl.dims import Sym

MATH: dict[str, Callable[[float], float]] = {
    "exp": math.exp, "expm1": math.expm1, "log": math.log, "log2": math.log2,
    "log10": math.log10, "log1p": math.log1p, "sqrt": math.sqrt, "sin": math.sin,
    "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
    "sinh": math.sinh, "cosh": math.cosh, "tanh": math.tanh, "ceil": math.ceil,
    "floor": math.floor,
}  # fmt: skip


def is_number_like(v: Any) -> bool:
    """A number, a size, or a value the code generator keeps symbolic (a block parameter)."""
    if isinstance(v, bool):
        return False
    return isinstance(v, (int, float, Sym)) or bool(getattr(v, "is_opaque", False))


def applies(name: str, args: tuple, kwargs: tuple) -> bool:
    """Whether `name(*args, **kwargs)` is a compile-time math call."""
    return name in MATH and len(args) == 1 and not kwargs and is_number_like(args[0])


def compute(name: str, x: int | float) -> float | int:
    """The value, or ValueError with the reason (`log` of a negative number)."""
    try:
        value = MATH[name](x)
    except ValueError:
        raise ValueError(f"`{name}({x})` is undefined (math domain error)") from None
    except OverflowError:
        raise ValueError(f"`{name}({x})` is too large") from None
    return value
