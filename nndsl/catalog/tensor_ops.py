"""Catalog entries for the torch functions models use beyond layers: making tensors (`arange`,
`zeros`, `tensor([...])`, `randn_like` ...), structure (`split`, `gather`, `where`, `einsum`,
`scaled_dot_product_attention` ...) and reductions that return `(values, indices)` (`max`,
`topk`, `sort` ...).

Each entry writes the parameters as a spec calls them (`signature`), because torch's own are
overloaded (`max(x)`, `max(x, dim)`, `max(x, y)`) or builtins without one.  Every rule is
checked against torch on random shapes by tests/test_catalog_torch.py, both ways.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from nndsl import dims
from nndsl.catalog.api import REQUIRED
from nndsl.catalog.core import (
    FLOAT_DTYPES,
    Args,
    DType,
    FunctionEntry,
    ScalarT,
    ShapeError,
    TensorT,
    broadcast,
    describe,
    function,
    norm_dim,
    prod,
    result_type,
)
from nndsl.dims import Dim, Sym


def _p(name: str, default: Any = REQUIRED) -> tuple[str, str, Any]:
    return (name, "pos_or_kw", default)


def _k(name: str, default: Any = None) -> tuple[str, str, Any]:
    return (name, "kw_only", default)


def _v(name: str) -> tuple[str, str, Any]:
    return (name, "var_pos", REQUIRED)


_DTYPE = _k("dtype")


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, Sym)) and not isinstance(v, bool)


def _dtype(a: Args, default: str) -> str:
    d = a.get("dtype")
    if d is None:
        return default
    if not isinstance(d, DType):
        raise ShapeError(
            f"`dtype` must be a dtype such as `long` or `float`, not {describe(d)}", arg="dtype"
        )
    return d.name


def _size_list(v: Any, what: str, arg: str) -> tuple[Dim, ...]:
    """`zeros(2, 3)` and `zeros((2, 3))`: the sizes, each an integer of at least 0."""
    if isinstance(v, tuple) and len(v) == 1 and isinstance(v[0], (tuple, list)):
        v = tuple(v[0])
    if not isinstance(v, (tuple, list)):
        raise ShapeError(f"{what}: the size is a tuple of integers, such as (2, 3)", arg=arg)
    for s in v:
        if not _is_int(s):
            raise ShapeError(f"{what}: sizes must be integers, not {describe(s)}", arg=arg)
        if isinstance(s, int) and s < 0:
            raise ShapeError(f"{what}: a size cannot be negative ({s})", arg=arg)
    return tuple(v)


# ---- making tensors ------------------------------------------------------------------------


def _filled(name: str, floats_only: bool = False):
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        sizes = a.get("size", ())
        if not sizes:
            raise ShapeError(f"{name} needs the sizes, such as `{name}(2, 3)`", arg="size")
        dtype = _dtype(a, "float32")
        shape = _size_list(sizes, name, "size")
        # (torch's normal sampler never runs on an empty tensor, its uniform one checks first)
        empty = name == "randn" and prod(shape) == 0
        if floats_only and dtype not in FLOAT_DTYPES and not empty:
            raise ShapeError(f"{name} makes floating-point tensors, not {dtype}", arg="dtype")
        return TensorT(shape, dtype)

    return shape


for _name, _floats in (("zeros", False), ("ones", False), ("empty", False), ("rand", True),
                       ("randn", True)):  # fmt: skip
    function(
        FunctionEntry(
            name=_name,
            torch=f"torch.{_name}",
            shape=_filled(_name, _floats),
            signature=(_v("size"), _DTYPE),
            tensor_params=(),
            variadic="size",
            dtype="any",
            creates=True,
            types={"dtype": "any"},
        )
    )


def _fill_dtype(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if _is_int(v):
        return "int64"
    if isinstance(v, float):
        return "float32"
    raise ShapeError(f"the fill value must be a number, not {describe(v)}", arg="fill_value")


def _full(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    sizes = _size_list(a["size"], "full", "size")
    return TensorT(sizes, _dtype(a, _fill_dtype(a["fill_value"])))


function(
    FunctionEntry(
        name="full",
        torch="torch.full",
        shape=_full,
        signature=(_p("size"), _p("fill_value"), _DTYPE),
        tensor_params=(),
        dtype="any",
        creates=True,
        types={"size": "any", "fill_value": "any", "dtype": "any"},
    )
)


def _eye(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    n, m = a["n"], a.get("m")
    m = n if m is None else m
    for key, v in (("n", n), ("m", m)):
        if not _is_int(v):
            raise ShapeError(f"eye: `{key}` must be an integer, not {describe(v)}", arg=key)
        if isinstance(v, int) and v < 0:
            raise ShapeError(f"eye: `{key}` cannot be negative ({v})", arg=key)
    return TensorT((n, m), _dtype(a, "float32"))


function(
    FunctionEntry(
        name="eye",
        torch="torch.eye",
        shape=_eye,
        signature=(_p("n"), _p("m", None), _DTYPE),
        tensor_params=(),
        dtype="any",
        creates=True,
        types={"n": "any", "m": "any", "dtype": "any"},
    )
)


def _like(name: str, floats_only: bool = False, fill: bool = False):
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        if fill:
            _fill_dtype(a["fill_value"])
        dtype = _dtype(a, x[0].dtype)
        if floats_only and dtype not in FLOAT_DTYPES and prod(x[0].shape) != 0:
            raise ShapeError(
                f"{name} makes random floating-point numbers, but the tensor is {x[0]}",
                hint="give a float dtype (`dtype=float`) or convert the tensor first",
            )
        return TensorT(x[0].shape, dtype)

    return shape


for _name, _floats in (("zeros_like", False), ("ones_like", False), ("empty_like", False),
                       ("rand_like", True), ("randn_like", True)):  # fmt: skip
    function(
        FunctionEntry(
            name=_name,
            torch=f"torch.{_name}",
            shape=_like(_name, _floats),
            signature=(_p("input"), _DTYPE),
            dtype="any",
            types={"dtype": "any"},
        )
    )
function(
    FunctionEntry(
        name="full_like",
        torch="torch.full_like",
        shape=_like("full_like", fill=True),
        signature=(_p("input"), _p("fill_value"), _DTYPE),
        dtype="any",
        types={"fill_value": "any", "dtype": "any"},
    )
)


def _randint(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    low, high, size = a["low"], a.get("high"), a.get("size")
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    if size is None:
        raise ShapeError("randint needs the size, such as `randint(10, (2, 3))`", arg="size")
    for key, v in (("low", low), ("high", high)):
        if not _is_int(v):
            raise ShapeError(f"randint: `{key}` must be an integer, not {describe(v)}", arg=key)
    if isinstance(low, int) and isinstance(high, int) and high <= low:
        raise ShapeError(f"randint: `high` ({high}) must be larger than `low` ({low})")
    dtype = _dtype(a, "int64")
    if dtype == "bool" and (isinstance(low, int) and low < 0 or isinstance(high, int) and high > 2):
        raise ShapeError("randint: a bool tensor takes values from 0 to 1 (`high` at most 2)")
    return TensorT(_size_list(size, "randint", "size"), dtype)


function(
    FunctionEntry(
        name="randint",
        torch="torch.randint",
        shape=_randint,
        signature=(_p("low"), _p("high", None), _p("size", None), _DTYPE),
        tensor_params=(),
        dtype="any",
        creates=True,
        types={"low": "any", "high": "any", "size": "any", "dtype": "any"},
    )
)


def _arange(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    start, end, step = a["start"], a.get("end"), a.get("step", 1)
    if end is None:
        start, end = 0, start
    for key, v in (("start", start), ("end", end), ("step", step)):
        if isinstance(v, bool) or not isinstance(v, (int, float, Sym)):
            raise ShapeError(f"arange: `{key}` must be a number, not {describe(v)}", arg=key)
    floats = any(isinstance(v, float) for v in (start, end, step))
    dtype = _dtype(a, "float32" if floats else "int64")
    if floats and dtype not in FLOAT_DTYPES:
        # torch rounds such bounds in ways that depend on its kernels: refused, not guessed
        raise ShapeError(
            f"arange with fractional bounds cannot make a {dtype} tensor",
            hint="write integer bounds, or convert the result: `arange(...).long()`",
        )
    if step == 0:
        raise ShapeError("arange: `step` cannot be 0", arg="step")
    if isinstance(start, Sym) or isinstance(end, Sym) or isinstance(step, Sym):
        if floats or not isinstance(step, int):
            raise ShapeError(
                "arange: the length cannot be known at compile time: with sizes only known "
                "when the model runs, `start`, `end` and `step` must be integers and `step` known"
            )
        span, s = (end - start, step) if step > 0 else (start - end, -step)
        n = span if s == 1 else dims.floordiv(span + s - 1, s, opaque=a.opaque_quotients)
        if isinstance(n, int) and n < 0:
            raise ShapeError(_ARANGE_SIGN)
        return TensorT((n,), dtype)
    if (end - start) * step < 0:
        raise ShapeError(_ARANGE_SIGN)
    n = math.ceil((end - start) / step) if floats else -((start - end) // step)
    return TensorT((n,), dtype)


_ARANGE_SIGN = "arange: the range from `start` to `end` goes against the sign of `step`"

function(
    FunctionEntry(
        name="arange",
        torch="torch.arange",
        shape=_arange,
        signature=(_p("start"), _p("end", None), _p("step", 1), _DTYPE),
        tensor_params=(),
        dtype="any",
        creates=True,
        types={"start": "any", "end": "any", "step": "any", "dtype": "any"},
    )
)


def _nested_shape(v: Any, depth: int = 0) -> tuple[tuple[Dim, ...], list[Any]]:
    """The shape of nested lists of numbers, and the numbers."""
    if isinstance(v, (list, tuple)):
        if depth > 32:
            raise ShapeError("tensor: the data is nested too deeply", arg="data")
        parts = [_nested_shape(i, depth + 1) for i in v]
        if not parts:
            return (0,), []
        first = parts[0][0]
        for s, _ in parts[1:]:
            if s != first:
                raise ShapeError("tensor: the rows of the data have different lengths", arg="data")
        return (len(parts),) + first, [x for _, xs in parts for x in xs]
    if isinstance(v, (bool, int, float, Sym)):
        return (), [v]
    raise ShapeError(f"tensor: the data holds numbers, not {describe(v)}", arg="data")


def _tensor(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    shape, values = _nested_shape(a["data"])
    if any(isinstance(v, float) for v in values):
        default = "float32"
    elif values and all(isinstance(v, bool) for v in values):
        default = "bool"
    elif values:
        default = "int64"
    else:
        default = "float32"
    return TensorT(shape, _dtype(a, default))


function(
    FunctionEntry(
        name="tensor",
        torch="torch.tensor",
        shape=_tensor,
        signature=(_p("data"), _DTYPE),
        tensor_params=(),
        dtype="any",
        creates=True,
        types={"data": "any", "dtype": "any"},
    )
)


def _triangle(name: str):
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        if x[0].rank < 2:
            raise ShapeError(f"{name} needs a tensor of at least 2 dimensions, but gets {x[0]}")
        return x[0]

    return shape


for _name in ("tril", "triu"):
    function(
        FunctionEntry(
            name=_name,
            torch=f"torch.{_name}",
            shape=_triangle(_name),
            signature=(_p("input"), _p("diagonal", 0)),
            dtype="any",
        )
    )


def _meshgrid(a: Args, x: tuple[TensorT, ...]):
    if not x:
        raise ShapeError("meshgrid needs at least one tensor", arg="tensors")
    indexing = a.get("indexing")
    if indexing not in (None, "ij", "xy"):
        raise ShapeError('meshgrid: `indexing` is "ij" or "xy"', arg="indexing")
    for i, t in enumerate(x, 1):
        if t.rank > 1:
            raise ShapeError(f"meshgrid takes 0-d or 1-d tensors, but tensor {i} is {t}")
        if t.dtype != x[0].dtype:
            raise ShapeError(f"meshgrid: tensor {i} is {t}, but tensor 1 is {x[0]}")
    sizes = [t.shape[0] if t.rank else 1 for t in x]
    if indexing == "xy" and len(sizes) > 1:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    return tuple(TensorT(tuple(sizes), t.dtype) for t in x)


function(
    FunctionEntry(
        name="meshgrid",
        torch="torch.meshgrid",
        shape=_meshgrid,
        signature=(_v("tensors"), _k("indexing")),
        tensor_params=("tensors",),
        tensor_list=True,
        variadic="tensors",
        dtype="any",
        types={"indexing": "str"},
    )
)


# ---- structure -----------------------------------------------------------------------------


def _parts(t: TensorT, d: int, sizes: Sequence[Dim]) -> tuple[TensorT, ...]:
    out = []
    for p in sizes:
        shape = list(t.shape)
        shape[d] = p
        out.append(t.with_shape(tuple(shape)))
    return tuple(out)


def _split(a: Args, x: tuple[TensorT, ...]):
    t = x[0]
    d = norm_dim(a["dim"], t.rank)
    size = t.shape[d]
    s = a["split_size_or_sections"]
    if isinstance(s, (tuple, list)):
        for p in s:
            if not _is_int(p) or isinstance(p, int) and p < 0:
                raise ShapeError(
                    f"split: section sizes are integers of at least 0, not {describe(p)}",
                    arg="split_size_or_sections",
                )
        total = sum(s, 0)
        if dims.equal(total, size) is False:
            raise ShapeError(
                f"split: the sections add up to {dims.format_dim(total)}, but dimension {d} of "
                f"{t} is {dims.format_dim(size)}",
                arg="split_size_or_sections",
            )
        return _parts(t, d, s)
    if not _is_int(s):
        raise ShapeError(
            f"split: the split size is an integer or a list of sizes, not {describe(s)}",
            arg="split_size_or_sections",
        )
    if isinstance(s, int) and s < 0 or s == 0 and size != 0:
        raise ShapeError(
            f"split: the split size must be positive, not {s}",
            arg="split_size_or_sections",
            hint="`split(n)` cuts pieces of n elements; `split([2, 3])` pieces of 2 and 3",
        )
    if isinstance(size, int) and isinstance(s, int):
        if size == 0:
            return _parts(t, d, [0])
        sizes = [s] * (size // s) + ([size % s] if size % s else [])
        return _parts(t, d, sizes)
    try:
        n = dims.exact_div(size, s, opaque=a.opaque_quotients)
    except dims.DimError:
        n = None
    if not isinstance(n, int) or n <= 0:
        raise ShapeError(
            f"split: dimension {d} of {t} ({dims.format_dim(size)}) may not split into parts "
            f"of {dims.format_dim(s)}: the number of parts must be known when the spec is checked",
            arg="split_size_or_sections",
            hint="split a size that is a known multiple of the part size, as `3 * c` into `c`",
        )
    return _parts(t, d, [s] * n)


function(
    FunctionEntry(
        name="split",
        torch="torch.split",
        shape=_split,
        signature=(_p("tensor"), _p("split_size_or_sections"), _p("dim", 0)),
        tensor_params=("tensor",),
        dtype="any",
        types={"split_size_or_sections": "any", "dim": "int"},
    )
)


def _unbind(a: Args, x: tuple[TensorT, ...]):
    t = x[0]
    d = norm_dim(a["dim"], t.rank)
    n = t.shape[d]
    if not isinstance(n, int):
        raise ShapeError(
            f"unbind: dimension {d} of {t} has the size {dims.format_dim(n)}, only known when "
            "the model runs; the number of tensors must be known when the spec is checked"
        )
    rest = t.shape[:d] + t.shape[d + 1 :]
    return tuple(t.with_shape(rest) for _ in range(n))


function(
    FunctionEntry(
        name="unbind",
        torch="torch.unbind",
        shape=_unbind,
        signature=(_p("input"), _p("dim", 0)),
        dtype="any",
    )
)


def _index_dtype(name: str, t: TensorT, ok: tuple[str, ...] = ("int64",)) -> None:
    if t.dtype not in ok:
        raise ShapeError(
            f"{name}: the index must be a long tensor, but is {t}",
            arg="index",
            hint="convert it with `.long()`",
        )


def _gather(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t, idx = x
    d = norm_dim(a["dim"], t.rank, scalar_ok=True)
    _index_dtype("gather", idx, ("int64", "int32"))
    if idx.rank != t.rank and not (t.rank <= 1 and idx.rank <= 1):
        raise ShapeError(f"gather: the index {idx} must have as many dimensions as the input {t}")
    for i, (p, q) in enumerate(zip(idx.shape, t.shape)):
        if i != d and isinstance(p, int) and isinstance(q, int) and p > q:
            raise ShapeError(
                f"gather: dimension {i} of the index {idx} is larger than the input's {t}",
                hint=f"only dimension {d} (`dim`) of the index may be larger",
            )
    return TensorT(idx.shape, t.dtype)


function(
    FunctionEntry(
        name="gather",
        torch="torch.gather",
        shape=_gather,
        signature=(_p("input"), _p("dim"), _p("index"), _k("sparse_grad", False)),
        tensor_params=("input", "index"),
        dtype="any",
    )
)


def _index_select(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t, idx = x
    d = norm_dim(a["dim"], t.rank, scalar_ok=True)
    _index_dtype("index_select", idx, ("int64", "int32"))
    if idx.rank > 1:
        raise ShapeError(f"index_select: the index must be 1-d, but is {idx}", arg="index")
    if t.rank == 0:
        return t
    shape = list(t.shape)
    shape[d] = idx.shape[0] if idx.rank else 1
    return t.with_shape(tuple(shape))


function(
    FunctionEntry(
        name="index_select",
        torch="torch.index_select",
        shape=_index_select,
        signature=(_p("input"), _p("dim"), _p("index")),
        tensor_params=("input", "index"),
        dtype="any",
    )
)


def _bool_mask(name: str, t: TensorT, what: str = "mask") -> None:
    if t.dtype != "bool":
        raise ShapeError(
            f"{name}: the {what} must be a bool tensor, but is {t}",
            hint="compare to get one, as in `ids == 0`, or convert with `.bool()`",
        )


def _where(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    cond, p, q = x
    _bool_mask("where", cond, "condition")
    shape = broadcast(broadcast(cond, p, "where"), q, "where").shape
    return TensorT(shape, result_type(p, q))


function(
    FunctionEntry(
        name="where",
        torch="torch.where",
        shape=_where,
        signature=(_p("condition"), _p("input"), _p("other")),
        tensor_params=("condition", "input", "other"),
        scalars=("input", "other"),
        dtype="any",
    )
)


def _masked_fill(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t, mask, value = x
    _bool_mask("masked_fill", mask)
    if not isinstance(value, ScalarT) and value.rank != 0:
        raise ShapeError(f"masked_fill: the value must be a number or a 0-d tensor, not {value}")
    return TensorT(broadcast(t, mask, "masked_fill").shape, t.dtype)


function(
    FunctionEntry(
        name="masked_fill",
        torch="torch.masked_fill",
        shape=_masked_fill,
        signature=(_p("input"), _p("mask"), _p("value")),
        tensor_params=("input", "mask", "value"),
        scalars=("value",),
        dtype="any",
    )
)


def _expand_as(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t, other = x
    lead = other.rank - t.rank
    if lead < 0:
        raise ShapeError(f"expand_as: {t} has more dimensions than {other}")
    for d, s in zip(t.shape, other.shape[lead:]):
        if d != 1 and dims.equal(d, s) is False:
            raise ShapeError(
                f"expand_as: cannot expand {t} to {other}: a dimension of size "
                f"{dims.format_dim(d)} can only expand from 1",
                hint="expand repeats dimensions of size 1 (without copying)",
            )
    return t.with_shape(other.shape)


function(
    FunctionEntry(
        name="expand_as",
        torch=".expand_as",
        shape=_expand_as,
        signature=(_p("input"), _p("other")),
        tensor_params=("input", "other"),
        dtype="any",
    )
)


def _type_as(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    return TensorT(x[0].shape, x[1].dtype)


function(
    FunctionEntry(
        name="type_as",
        torch=".type_as",
        shape=_type_as,
        signature=(_p("input"), _p("other")),
        tensor_params=("input", "other"),
        dtype="any",
    )
)


def _same_dtype(name: str, x: Sequence[TensorT]) -> None:
    for t in x[1:]:
        if t.dtype != x[0].dtype:
            raise ShapeError(
                f"{name} needs tensors of one dtype, but gets {x[0]} and {t}",
                hint="convert one of them, as in `.float()`",
            )


def _bmm(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    p, q = x
    if p.rank != 3 or q.rank != 3:
        raise ShapeError(f"bmm multiplies two 3-d tensors [b, n, k] and [b, k, m], not {p} and {q}")
    _same_dtype("bmm", x)
    if dims.equal(p.shape[0], q.shape[0]) is False:
        raise ShapeError(f"bmm: {p} and {q} have different batch sizes")
    if dims.equal(p.shape[2], q.shape[1]) is False:
        raise ShapeError(
            f"bmm: {p} @ {q}: inner dimensions differ ({dims.format_dim(p.shape[2])} vs "
            f"{dims.format_dim(q.shape[1])})"
        )
    return p.with_shape((p.shape[0], p.shape[1], q.shape[2]))


function(
    FunctionEntry(
        name="bmm",
        torch="torch.bmm",
        shape=_bmm,
        signature=(_p("input"), _p("mat2")),
        tensor_params=("input", "mat2"),
        dtype="any",
    )
)


def _baddbmm(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    c, p, q = x
    out = _bmm(a, (p, q))
    _same_dtype("baddbmm", x)
    if broadcast(c, out, "baddbmm").shape != out.shape and c.rank <= 3:
        raise ShapeError(f"baddbmm: the added tensor {c} does not broadcast to the product {out}")
    if c.rank > 3:
        raise ShapeError(f"baddbmm: the added tensor {c} does not broadcast to the product {out}")
    return out


function(
    FunctionEntry(
        name="baddbmm",
        torch="torch.baddbmm",
        shape=_baddbmm,
        signature=(_p("input"), _p("batch1"), _p("batch2"), _k("beta", 1), _k("alpha", 1)),
        tensor_params=("input", "batch1", "batch2"),
        dtype="any",
        types={"beta": "float", "alpha": "float"},
    )
)


def _einsum(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    eq = a["equation"]
    if not isinstance(eq, str):
        raise ShapeError('einsum\'s equation is a string, such as "bij,bjk->bik"', arg="equation")
    eq = eq.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(x):
        raise ShapeError(
            f"einsum: the equation has {len(terms)} operand{'s' if len(terms) != 1 else ''}, "
            f"but {len(x)} tensor{'s are' if len(x) != 1 else ' is'} given",
            arg="equation",
        )
    sizes: dict[str, Dim] = {}
    ellipsis: tuple[Dim, ...] | None = None
    counts: dict[str, int] = {}
    spread: dict[str, list[str]] = {}  # the dtypes of the operands where a label is not 1
    for term, t in zip(terms, x):
        labels = _labels(term)
        n_ell = labels.count("...")
        named = len(labels) - n_ell
        if n_ell > 1 or (n_ell == 0 and named != t.rank) or (n_ell and named > t.rank):
            raise ShapeError(f"einsum: the subscripts `{term}` do not fit {t}", arg="equation")
        at = labels.index("...") if n_ell else len(labels)
        ell_len = t.rank - named
        ell = t.shape[at : at + ell_len]
        dims_of = list(t.shape[:at]) + list(t.shape[at + ell_len :])
        mine: dict[str, Dim] = {}
        for label, size in zip([lb for lb in labels if lb != "..."], dims_of):
            counts[label] = counts.get(label, 0) + 1
            if label in mine:
                if dims.equal(mine[label], size) is False:
                    raise ShapeError(
                        f"einsum: `{label}` is repeated in `{term}` for sizes "
                        f"{dims.format_dim(mine[label])} and {dims.format_dim(size)}",
                        arg="equation",
                    )
                continue
            mine[label] = size
            if size != 1:
                spread.setdefault(label, []).append(t.dtype)
            if label in sizes:
                sizes[label] = _broadcast_size(sizes[label], size, label)
            else:
                sizes[label] = size
        if n_ell:
            ellipsis = ell if ellipsis is None else broadcast(TensorT(ellipsis), TensorT(ell)).shape
            if any(d != 1 for d in ell):
                spread.setdefault("...", []).append(t.dtype)
    if arrow:
        out_labels = _labels(rhs)
        if "..." in out_labels and ellipsis is None:
            raise ShapeError("einsum: the output has `...` but no operand has", arg="equation")
        seen: set[str] = set()
        for lb in out_labels:
            if lb != "..." and lb not in sizes:
                raise ShapeError(
                    f"einsum: the output subscript `{lb}` is not in any operand", arg="equation"
                )
            if lb in seen:
                raise ShapeError(f"einsum: the output repeats `{lb}`", arg="equation")
            seen.add(lb)
    else:
        out_labels = (["..."] if ellipsis is not None else []) + sorted(
            lb for lb, n in counts.items() if n == 1
        )
    shape: list[Dim] = []
    for lb in out_labels:
        shape.extend(ellipsis or () if lb == "..." else (sizes[lb],))
    # a contraction multiplies matrices, which needs one dtype; products alone promote
    for lb, held in spread.items():
        if lb not in out_labels and len(held) > 1 and len(set(held)) > 1:
            _same_dtype("einsum", x)
    return TensorT(tuple(shape), result_type(*x))


def _labels(term: str) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(term):
        if term.startswith("...", i):
            out.append("...")
            i += 3
        elif term[i].isascii() and term[i].isalpha():
            out.append(term[i])
            i += 1
        else:
            raise ShapeError(
                f"einsum: `{term[i]}` is not a subscript (letters and `...`)", arg="equation"
            )
    return out


def _broadcast_size(p: Dim, q: Dim, label: str) -> Dim:
    if p == 1:
        return q
    if q == 1 or dims.equal(p, q) is not False:
        return p
    raise ShapeError(
        f"einsum: the subscript `{label}` stands for sizes {dims.format_dim(p)} and "
        f"{dims.format_dim(q)}",
        arg="equation",
    )


function(
    FunctionEntry(
        name="einsum",
        torch="torch.einsum",
        shape=_einsum,
        signature=(_p("equation"), _v("operands")),
        tensor_params=("operands",),
        tensor_list=True,
        variadic="operands",
        dtype="any",
        types={"equation": "str"},
    )
)


def _attention(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    q, k, v = x[:3]
    mask = x[3] if len(x) > 3 else None
    for t in (q, k, v):
        if t.rank < 2:
            raise ShapeError(f"scaled_dot_product_attention needs [..., L, E] tensors, not {t}")
    if not q.is_float:
        raise ShapeError(f"scaled_dot_product_attention needs floating-point tensors, not {q}")
    _same_dtype("scaled_dot_product_attention", (q, k, v))
    if dims.equal(q.shape[-1], k.shape[-1]) is False:
        raise ShapeError(
            f"scaled_dot_product_attention: the query {q} and the key {k} differ in their last "
            "dimension"
        )
    if dims.equal(k.shape[-2], v.shape[-2]) is False:
        raise ShapeError(
            f"scaled_dot_product_attention: the key {k} and the value {v} differ in their "
            "sequence length (second-to-last dimension)"
        )
    qb, kb, vb = (TensorT(t.shape[:-2]) for t in (q, k, v))
    if a.get("enable_gqa"):
        raise ShapeError("scaled_dot_product_attention: `enable_gqa` is not supported here")
    batch = broadcast(broadcast(qb, kb, "attention"), vb, "attention").shape
    scores = TensorT(batch + (q.shape[-2], k.shape[-2]))
    if mask is not None:
        if a.get("is_causal"):
            raise ShapeError(
                "scaled_dot_product_attention takes `attn_mask` or `is_causal`, not both",
                arg="is_causal",
            )
        if mask.dtype != "bool" and mask.dtype != q.dtype:
            raise ShapeError(
                f"scaled_dot_product_attention: the mask {mask} must be bool or of the query's "
                f"dtype ({q.dtype})"
            )
        if broadcast(scores, mask, "attn_mask").shape != scores.shape:
            raise ShapeError(
                f"scaled_dot_product_attention: the mask {mask} does not broadcast to the "
                f"attention scores {scores}"
            )
    p = a.get("dropout_p", 0.0)
    if isinstance(p, (int, float)) and not isinstance(p, bool) and not 0 <= p <= 1:
        raise ShapeError("`dropout_p` is a probability from 0 to 1", arg="dropout_p")
    return TensorT(batch + (q.shape[-2], v.shape[-1]), q.dtype)


function(
    FunctionEntry(
        name="scaled_dot_product_attention",
        torch="F.scaled_dot_product_attention",
        shape=_attention,
        signature=(
            _p("query"),
            _p("key"),
            _p("value"),
            _p("attn_mask", None),
            _p("dropout_p", 0.0),
            _p("is_causal", False),
            _p("scale", None),
            _p("enable_gqa", False),
        ),  # fmt: skip
        tensor_params=("query", "key", "value", "attn_mask"),
        dtype="any",
        types={"dropout_p": "float", "scale": "float?", "is_causal": "bool", "enable_gqa": "bool"},
        training_only=("dropout_p",),
    )
)


# ---- reductions that return (values, indices) ----------------------------------------------


def _reduced(t: TensorT, d: int, keep: bool) -> tuple[Dim, ...]:
    if t.rank == 0:
        return ()
    return tuple(1 if i == d else s for i, s in enumerate(t.shape) if keep or i != d)


def _nonempty(name: str, t: TensorT, d: int | None) -> None:
    size = t.shape[d] if d is not None and t.rank else prod(t.shape)
    if isinstance(size, int) and size == 0:
        raise ShapeError(f"{name} of an empty tensor {t}")


def _values_indices(name: str, keep_key: str | None = "keepdim"):
    def shape(a: Args, x: tuple[TensorT, ...]):
        t = x[0]
        d = a.get("dim")
        if d is None:  # max(x), median(x): one value, a 0-d tensor
            if name in ("mode", "sort"):
                d = -1
            else:
                _nonempty(name, t, None)
                return TensorT((), t.dtype)
        d = norm_dim(d, t.rank, scalar_ok=True)
        keep = bool(a.get(keep_key)) if keep_key else True
        if name == "sort":
            return (t, TensorT(t.shape, "int64"))
        _nonempty(name, t, d)
        out = _reduced(t, d, keep)
        return (TensorT(out, t.dtype), TensorT(out, "int64"))

    return shape


def _elementwise_other(name: str):
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        return TensorT(broadcast(x[0], x[1], name).shape, result_type(x[0], x[1]))

    return shape


def _is_tensor(v: Any) -> bool:
    """A checker's tensor value (or, in the catalog's tests, a tensor type)."""
    return isinstance(v, TensorT) or isinstance(getattr(v, "type", None), TensorT)


def _max_overload(other: FunctionEntry):
    """`max(x, y)` (or `other=y`) is elementwise; `max(x)` and `max(x, dim)` reduce."""

    def pick(args: Sequence[Any], kwargs: Mapping[str, Any]) -> FunctionEntry | None:
        if "other" in kwargs or len(args) > 1 and _is_tensor(args[1]):
            return other
        return None

    return pick


for _name in ("max", "min"):
    _other = FunctionEntry(
        name=_name,
        torch=f"torch.{_name}",
        shape=_elementwise_other(_name),
        signature=(_p("input"), _p("other")),
        tensor_params=("input", "other"),
        dtype="any",
    )
    function(
        FunctionEntry(
            name=_name,
            torch=f"torch.{_name}",
            shape=_values_indices(_name),
            signature=(_p("input"), _p("dim", None), _p("keepdim", False)),
            dtype="any",
            types={"dim": "int?", "keepdim": "bool"},
            overload=_max_overload(_other),
        )
    )

function(
    FunctionEntry(
        name="median",
        torch="torch.median",
        shape=_values_indices("median"),
        signature=(_p("input"), _p("dim", None), _p("keepdim", False)),
        dtype="any",
        types={"dim": "int?", "keepdim": "bool"},
    )
)
function(
    FunctionEntry(
        name="mode",
        torch="torch.mode",
        shape=_values_indices("mode"),
        signature=(_p("input"), _p("dim", -1), _p("keepdim", False)),
        dtype="any",
        types={"dim": "int", "keepdim": "bool"},
    )
)
function(
    FunctionEntry(
        name="sort",
        torch="torch.sort",
        shape=_values_indices("sort", None),
        signature=(_p("input"), _p("dim", -1), _p("descending", False)),
        dtype="any",
        types={"dim": "int", "descending": "bool"},
    )
)


def _k_of(name: str, t: TensorT, d: int, k: Any, lo: int) -> None:
    if not _is_int(k):
        raise ShapeError(f"{name}: `k` must be an integer, not {describe(k)}", arg="k")
    size = t.shape[d] if t.rank else 1
    if isinstance(k, int) and (k < lo or isinstance(size, int) and k > size):
        raise ShapeError(
            f"{name}: `k`={k} is out of range for dimension {d} of {t} (size "
            f"{dims.format_dim(size)})",
            arg="k",
            hint=f"`k` is from {lo} to the size of the dimension",
        )


def _topk(a: Args, x: tuple[TensorT, ...]):
    t = x[0]
    d = norm_dim(a["dim"], t.rank, scalar_ok=True)
    k = a["k"]
    _k_of("topk", t, d, k, 0)
    if t.rank == 0:
        return (t, TensorT((), "int64"))
    shape = list(t.shape)
    shape[d] = k
    return (t.with_shape(tuple(shape)), TensorT(tuple(shape), "int64"))


function(
    FunctionEntry(
        name="topk",
        torch="torch.topk",
        shape=_topk,
        signature=(_p("input"), _p("k"), _p("dim", -1), _p("largest", True), _p("sorted", True)),
        dtype="any",
        types={"k": "int", "dim": "int", "largest": "bool", "sorted": "bool"},
    )
)


def _kthvalue(a: Args, x: tuple[TensorT, ...]):
    t = x[0]
    d = norm_dim(a["dim"], t.rank, scalar_ok=True)
    _k_of("kthvalue", t, d, a["k"], 1)
    out = _reduced(t, d, bool(a["keepdim"]))
    return (TensorT(out, t.dtype), TensorT(out, "int64"))


function(
    FunctionEntry(
        name="kthvalue",
        torch="torch.kthvalue",
        shape=_kthvalue,
        signature=(_p("input"), _p("k"), _p("dim", -1), _p("keepdim", False)),
        dtype="any",
        types={"k": "int", "dim": "int", "keepdim": "bool"},
    )
)
