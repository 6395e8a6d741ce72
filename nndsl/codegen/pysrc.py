"""Python source for compile-time values, shapes and identifiers in generated code."""

from __future__ import annotations

import builtins
import keyword
import re
from collections.abc import Mapping
from typing import Any

from nndsl import dims
from nndsl.catalog.core import DType, LayerValue, TensorT
from nndsl.dims import Sym

RESERVED = (
    frozenset(keyword.kwlist) | frozenset(dir(builtins)) | {"self", "nn", "F", "torch", "Tensor"}
)
_OPAQUE = re.compile(r"\b_[0-9a-f]{10}\b")


class NotExpressible(Exception):
    """A value that generated code cannot spell (an unknown size in a constructor argument)."""


def literal(v: Any, names: Mapping[str, str] | None = None, imports: set[str] | None = None) -> str:
    """Python source for a compile-time value; symbols are spelt through `names`.  `imports`
    collects the modules the text names (`torch` for a dtype such as `torch.int64`)."""
    if isinstance(v, bool) or v is None:
        return repr(v)
    if isinstance(v, int):
        return repr(v)
    if isinstance(v, float):
        return repr(v) if v == v and v not in (float("inf"), float("-inf")) else f'float("{v}")'
    if isinstance(v, str):
        return '"' + v.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if isinstance(v, Sym):
        if any(dims.is_opaque_symbol(n) for n in dims.free_symbols(v)):
            raise NotExpressible(f"the size {dims.format_dim(v)} is not known statically")
        return dims.to_python(v, names)
    if isinstance(v, tuple):
        inner = ", ".join(literal(x, names, imports) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    if isinstance(v, list):
        return "[" + ", ".join(literal(x, names, imports) for x in v) + "]"
    if getattr(v, "is_opaque", False):
        return v.init
    if isinstance(getattr(v, "python_source", None), str):  # a dtype argument: `torch.int64`
        if imports is not None:
            imports.update(modules_named(v.python_source))
        return v.python_source
    if isinstance(v, DType):
        if imports is not None:
            imports.add("torch")
        return f"torch.{v.name}"
    if isinstance(v, LayerValue):
        raise NotExpressible("a layer value must be rendered by the module renderer")
    raise NotExpressible(f"cannot write {type(v).__name__} as Python")


def modules_named(qualified: str) -> frozenset[str]:
    """The module a qualified name of generated code starts with, which the file must import:
    `F.relu` → {"F"}, `torch.cumsum` → {"torch"}; a method (`.view`, as the catalog writes
    methods) names none."""
    head = qualified.split(".", 1)[0]
    return frozenset({head}) if head and "." in qualified else frozenset()


def shape_comment(
    t: Any, rename: Mapping[str, str] | None = None, written: Mapping[str, str] | None = None
) -> str:
    """`[B, 64, 56, 56]`; unknown sizes print as `?`.  `rename`: symbol → the name it is shown
    by; `written`: symbol → the expression of a size computed without a name, shown as written
    (compactly) when it is the whole size."""
    if isinstance(t, TensorT):
        parts = []
        for d in t.shape:
            free = dims.free_symbols(d)
            if any(dims.is_opaque_symbol(n) for n in free):
                parts.append("?")
                continue
            shown = [v for k, v in (written or {}).items() if k in free]
            if shown:
                whole = len(free) == 1 and dims.sym(next(iter(free))) == d
                # compactly: no spaces around operators (`c//4`), but between words (`a if c else b`)
                text = re.sub(r"\s+(?=\W)|(?<=\W)\s+", "", shown[0])
                parts.append(text if whole and len(text) <= 24 else "?")
                continue
            names = {k: v for k, v in (rename or {}).items() if k in free}
            d = dims.substitute(d, {k: dims.sym(v) for k, v in names.items()})
            parts.append(dims.format_dim(d))
        text = "[" + ", ".join(parts) + "]"
        return text if t.dtype == "float32" else str(TensorT((), t.dtype)).replace("[]", "") + text
    if isinstance(t, tuple):
        return "(" + ", ".join(shape_comment(x, rename, written) for x in t) + ")"
    return "?"


def word(name: str) -> str:
    """`name` with every character that cannot be in a Python name as `_`."""
    return re.sub(r"\W", "_", name)


def identifier(name: str, taken: set[str]) -> str:
    """`name`, made legal and unique among `taken` (which it joins)."""
    base = word(name) or "v"
    if base[0].isdigit():
        base = "v_" + base
    if base in RESERVED:
        base += "_"
    out, k = base, 2
    while out in taken:
        out = f"{base}{k}"
        k += 1
    taken.add(out)
    return out
