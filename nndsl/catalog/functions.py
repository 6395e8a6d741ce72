"""Catalog entries for stateless functions (`torch.nn.functional`, `torch`, Tensor methods).

In a spec they are lowercase: `relu`, `max_pool2d(2)`, `cat([a, b], dim=1)`, `reshape(-1, 64)`.
In a chain the value on the left becomes the first tensor argument.
"""

from __future__ import annotations

from nndsl import dims
from nndsl.catalog import layers as _layers  # noqa: F401  (registers LAYERS used below)
from nndsl.catalog.core import (
    LAYERS,
    Args,
    FunctionEntry,
    ShapeError,
    TensorT,
    broadcast,
    function,
    norm_dim,
    prod,
)
from nndsl.dims import Dim


def _same(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    return x[0]


def _with_dim(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    if a.get("dim") is not None:
        norm_dim(a["dim"], x[0].rank)
    return x[0]


# Elementwise activations and friends: F.xxx, shape unchanged.
for _name in (
    "relu", "relu6", "elu", "selu", "celu", "leaky_relu", "gelu", "silu", "mish", "hardswish",
    "hardsigmoid", "hardtanh", "softplus", "softsign", "logsigmoid", "tanhshrink", "softshrink",
    "hardshrink", "rrelu", "threshold",
):  # fmt: skip
    function(FunctionEntry(name=_name, torch=f"F.{_name}", shape=_same))

for _name in (
    "sigmoid",
    "tanh",
    "exp",
    "log",
    "sqrt",
    "rsqrt",
    "abs",
    "square",
    "sin",
    "cos",
    "erf",
    "neg",
    "reciprocal",
):
    function(FunctionEntry(name=_name, torch=f"torch.{_name}", shape=_same))

function(
    FunctionEntry(
        name="clamp", torch="torch.clamp", shape=_same, types={"min": "float?", "max": "float?"}
    )
)

for _name in ("softmax", "log_softmax", "softmin"):
    function(
        FunctionEntry(
            name=_name,
            torch=f"F.{_name}",
            shape=_with_dim,
            defaults={"dim": None},
            types={"dim": "int?"},
        )
    )


def _dropout_entry(name: str) -> None:
    function(FunctionEntry(name=name, torch=f"F.{name}", shape=_same))


for _name in (
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "alpha_dropout",
    "feature_alpha_dropout",
):
    _dropout_entry(_name)

function(FunctionEntry(name="normalize", torch="F.normalize", shape=_with_dim))


def _glu(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    return LAYERS["GLU"].shape(a, x)


function(FunctionEntry(name="glu", torch="F.glu", shape=_glu))


# ---- pooling: the same rules as the modules -------------------------------------------------


def _from_layer(layer_name: str):
    def shape(a: Args, x: tuple[TensorT, ...]):
        return LAYERS[layer_name].shape(a, x)

    return shape


for _n in (1, 2, 3):
    for _kind, _fn in (("Max", "max"), ("Avg", "avg")):
        function(
            FunctionEntry(
                name=f"{_fn}_pool{_n}d",
                torch=f"F.{_fn}_pool{_n}d",
                shape=_from_layer(f"{_kind}Pool{_n}d"),
                expects=LAYERS[f"{_kind}Pool{_n}d"].expects,
                types={
                    "kernel_size": "ints",
                    "stride": "ints",
                    "padding": "ints",
                    "dilation": "ints",
                },
            )
        )
        function(
            FunctionEntry(
                name=f"adaptive_{_fn}_pool{_n}d",
                torch=f"F.adaptive_{_fn}_pool{_n}d",
                shape=_from_layer(f"Adaptive{_kind}Pool{_n}d"),
                expects=LAYERS[f"{_kind}Pool{_n}d"].expects,
            )
        )


def _interpolate(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    return LAYERS["Upsample"].shape(a, x)


function(
    FunctionEntry(
        name="interpolate",
        torch="F.interpolate",
        shape=_interpolate,
        types={"size": "any", "scale_factor": "any"},
    )
)


def _pad(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    p = a["pad"]
    if not isinstance(p, (tuple, list)) or len(p) % 2 or len(p) // 2 > t.rank:
        raise ShapeError(
            "`pad` is a tuple of (left, right) pairs for the last dimensions, e.g. (1, 1, 2, 2)",
            arg="pad",
        )
    shape = list(t.shape)
    for i in range(len(p) // 2):
        shape[-1 - i] = shape[-1 - i] + p[2 * i] + p[2 * i + 1]
    return t.with_shape(tuple(shape))


function(FunctionEntry(name="pad", torch="F.pad", shape=_pad, types={"pad": "dims"}))


def _one_hot(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    n = a["num_classes"]
    if n == -1 or n is None:
        raise ShapeError("one_hot needs `num_classes` to know the output shape", arg="num_classes")
    return TensorT(x[0].shape + (n,), "int64")


function(FunctionEntry(name="one_hot", torch="F.one_hot", shape=_one_hot, dtype="any"))

# ---- shape manipulation ---------------------------------------------------------------------


def _flatten(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    return LAYERS["Flatten"].shape(a, x)


function(
    FunctionEntry(
        name="flatten",
        torch="torch.flatten",
        shape=_flatten,
        defaults={"start_dim": 1},
        dtype="any",
        explicit=("start_dim",),
    )
)


def _resolve_shape(t: TensorT, sizes: tuple, what: str) -> tuple[Dim, ...]:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if not sizes:
        raise ShapeError(f"{what} needs the new shape", arg="shape")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, dims.Sym)):
            raise ShapeError(f"{what}: sizes must be integers", arg="shape")
    if sum(1 for s in sizes if s == -1) > 1:
        raise ShapeError(f"{what}: only one size may be -1", arg="shape")
    total = prod(t.shape)
    known = prod([s for s in sizes if s != -1])
    if -1 in sizes:
        try:
            rest = dims.exact_div(total, known)
        except dims.DimError:
            raise ShapeError(
                f"cannot {what} {t} ({dims.format_dim(total)} elements) into {_fmt_sizes(sizes)}: "
                f"{dims.format_dim(total)} is not divisible by {dims.format_dim(known)}",
                arg="shape",
            ) from None
        return tuple(rest if s == -1 else s for s in sizes)
    if dims.equal(total, known) is False:
        raise ShapeError(
            f"cannot {what} {t} ({dims.format_dim(total)} elements) into {_fmt_sizes(sizes)} "
            f"({dims.format_dim(known)} elements)",
            arg="shape",
        )
    return tuple(sizes)


def _fmt_sizes(sizes) -> str:
    return "(" + ", ".join(dims.format_dim(s) for s in sizes) + ")"


def _reshape(what: str):
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        return x[0].with_shape(_resolve_shape(x[0], tuple(a.get("shape", ())), what))

    return shape


function(
    FunctionEntry(
        name="reshape", torch=".reshape", shape=_reshape("reshape"), variadic="shape", dtype="any"
    )
)
function(
    FunctionEntry(name="view", torch=".view", shape=_reshape("view"), variadic="shape", dtype="any")
)


def _permute(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    order = tuple(a.get("dims", ()))
    if len(order) == 1 and isinstance(order[0], (tuple, list)):
        order = tuple(order[0])
    if len(order) != t.rank:
        raise ShapeError(
            f"permute needs {t.rank} dimensions for a tensor of rank {t.rank}, but gets {len(order)}",
            arg="dims",
        )
    norm = [norm_dim(d, t.rank, "dims") for d in order]
    if sorted(norm) != list(range(t.rank)):
        raise ShapeError(
            f"permute's dimensions {order} are not a permutation of 0..{t.rank - 1}", arg="dims"
        )
    return t.with_shape(tuple(t.shape[d] for d in norm))


function(
    FunctionEntry(name="permute", torch=".permute", shape=_permute, variadic="dims", dtype="any")
)


def _transpose(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    d0, d1 = norm_dim(a["dim0"], t.rank, "dim0"), norm_dim(a["dim1"], t.rank, "dim1")
    shape = list(t.shape)
    shape[d0], shape[d1] = shape[d1], shape[d0]
    return t.with_shape(tuple(shape))


function(
    FunctionEntry(
        name="transpose",
        torch="torch.transpose",
        shape=_transpose,
        params=("dim0", "dim1"),
        dtype="any",
    )
)


def _squeeze(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    d = a.get("dim")
    if d is None:
        return t.with_shape(tuple(s for s in t.shape if s != 1))
    ds = d if isinstance(d, (tuple, list)) else (d,)
    norm = {norm_dim(i, t.rank) for i in ds}
    return t.with_shape(tuple(s for i, s in enumerate(t.shape) if not (i in norm and s == 1)))


function(
    FunctionEntry(
        name="squeeze",
        torch="torch.squeeze",
        shape=_squeeze,
        params=("dim",),
        defaults={"dim": None},
        dtype="any",
        types={"dim": "any"},
    )
)


def _unsqueeze(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    d = norm_dim(a["dim"], t.rank + 1)
    return t.with_shape(t.shape[:d] + (1,) + t.shape[d:])


function(FunctionEntry(name="unsqueeze", torch="torch.unsqueeze", shape=_unsqueeze, dtype="any"))


def _cat(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    if not x:
        raise ShapeError("cat needs at least one tensor", arg="tensors")
    first = x[0]
    d = norm_dim(a["dim"], first.rank)
    total: Dim = 0
    for i, t in enumerate(x):
        if t.rank != first.rank:
            raise ShapeError(
                f"cat: tensor {i + 1} has rank {t.rank} ({t}), but tensor 1 has rank {first.rank} ({first})"
            )
        for j, (p, q) in enumerate(zip(first.shape, t.shape)):
            if j != d and dims.equal(p, q) is False:
                raise ShapeError(
                    f"cat along dim {d}: {first} and {t} differ in dimension {j} "
                    f"({dims.format_dim(p)} vs {dims.format_dim(q)})",
                    hint=f"all dimensions except dim {d} must be equal",
                )
        total = total + t.shape[d]
    shape = list(first.shape)
    shape[d] = total
    return first.with_shape(tuple(shape))


function(
    FunctionEntry(
        name="cat",
        torch="torch.cat",
        shape=_cat,
        tensor_params=("tensors",),
        tensor_list=True,
        defaults={"dim": 0},
        dtype="any",
    )
)
function(
    FunctionEntry(
        name="concat",
        torch="torch.cat",
        shape=_cat,
        tensor_params=("tensors",),
        tensor_list=True,
        defaults={"dim": 0},
        dtype="any",
    )
)


def _stack(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    if not x:
        raise ShapeError("stack needs at least one tensor", arg="tensors")
    first = x[0]
    for i, t in enumerate(x[1:], 2):
        if t.rank != first.rank or any(
            dims.equal(p, q) is False for p, q in zip(first.shape, t.shape)
        ):
            raise ShapeError(
                f"stack: tensor {i} is {t}, but tensor 1 is {first}",
                hint="stacked tensors must have equal shapes",
            )
    d = norm_dim(a["dim"], first.rank + 1)
    return first.with_shape(first.shape[:d] + (len(x),) + first.shape[d:])


function(
    FunctionEntry(
        name="stack",
        torch="torch.stack",
        shape=_stack,
        tensor_params=("tensors",),
        tensor_list=True,
        defaults={"dim": 0},
        dtype="any",
    )
)


def _reduce(keep_dtype: bool = True, dtype: str | None = None):
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        d = a.get("dim")
        out_dtype = dtype or t.dtype
        if d is None:
            return TensorT((), out_dtype)
        ds = d if isinstance(d, (tuple, list)) else (d,)
        norm = {norm_dim(i, t.rank) for i in ds}
        keep = bool(a.get("keepdim"))
        return TensorT(
            tuple(1 if i in norm else s for i, s in enumerate(t.shape) if keep or i not in norm),
            out_dtype,
        )

    return shape


for _name in ("mean", "sum", "amax", "amin", "prod", "logsumexp", "std", "var"):
    function(
        FunctionEntry(
            name=_name,
            torch=f"torch.{_name}",
            shape=_reduce(),
            params=("dim", "keepdim"),
            defaults={"dim": None, "keepdim": False},
            types={"dim": "any", "keepdim": "bool"},
            keywords=("correction", "unbiased") if _name in ("std", "var") else (),
        )
    )

for _name in ("argmax", "argmin"):
    function(
        FunctionEntry(
            name=_name,
            torch=f"torch.{_name}",
            shape=_reduce(dtype="int64"),
            params=("dim", "keepdim"),
            defaults={"dim": None, "keepdim": False},
            types={"dim": "int?", "keepdim": "bool"},
            dtype="any",
        )
    )


def _matmul(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    return matmul_shape(x[0], x[1])


def matmul_shape(p: TensorT, q: TensorT) -> TensorT:
    if p.rank == 0 or q.rank == 0:
        raise ShapeError("matmul needs tensors of rank 1 or more")
    ps, qs = list(p.shape), list(q.shape)
    if p.rank == 1:
        ps = [1] + ps
    if q.rank == 1:
        qs = qs + [1]
    if dims.equal(ps[-1], qs[-2]) is False:
        raise ShapeError(
            f"matmul: {p} @ {q}: inner dimensions differ ({dims.format_dim(ps[-1])} vs {dims.format_dim(qs[-2])})"
        )
    batch = broadcast(TensorT(tuple(ps[:-2])), TensorT(tuple(qs[:-2])), "@").shape
    out = list(batch) + [ps[-2], qs[-1]]
    if p.rank == 1:
        out.pop(-2)
    if q.rank == 1:
        out.pop(-1)
    return p.with_shape(tuple(out))


function(
    FunctionEntry(
        name="matmul", torch="torch.matmul", shape=_matmul, tensor_params=("input", "other")
    )
)


def _expand(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    sizes = tuple(a.get("size", ()))
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < t.rank:
        raise ShapeError(f"expand needs at least {t.rank} sizes for {t}", arg="size")
    lead = len(sizes) - t.rank
    out = list(sizes[:lead])
    for s, d in zip(sizes[lead:], t.shape):
        if s == -1:
            out.append(d)
        elif d == 1 or dims.equal(s, d) is not False:
            out.append(s)
        else:
            raise ShapeError(
                f"expand: cannot expand a dimension of size {dims.format_dim(d)} to {dims.format_dim(s)}",
                arg="size",
            )
    return t.with_shape(tuple(out))


function(FunctionEntry(name="expand", torch=".expand", shape=_expand, variadic="size", dtype="any"))


def _repeat(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    reps = tuple(a.get("repeats", ()))
    if len(reps) == 1 and isinstance(reps[0], (tuple, list)):
        reps = tuple(reps[0])
    if len(reps) < t.rank:
        raise ShapeError(f"repeat needs at least {t.rank} counts for {t}", arg="repeats")
    shape = (1,) * (len(reps) - t.rank) + t.shape
    return t.with_shape(tuple(s * r for s, r in zip(shape, reps)))


function(
    FunctionEntry(name="repeat", torch=".repeat", shape=_repeat, variadic="repeats", dtype="any")
)
function(FunctionEntry(name="contiguous", torch=".contiguous", shape=_same, dtype="any"))


def _chunk(a: Args, x: tuple[TensorT, ...]):
    t = x[0]
    n = a["chunks"]
    d = norm_dim(a["dim"], t.rank)
    size = t.shape[d]
    if not isinstance(n, int) or n <= 0:
        raise ShapeError(
            "`chunks` must be a positive integer known when the spec is checked", arg="chunks"
        )
    if isinstance(size, int):
        step = -(-size // n)
        parts = [min(step, size - i) for i in range(0, size, step)] if step else []
    else:
        try:
            parts = [dims.exact_div(size, n)] * n
        except dims.DimError:
            raise ShapeError(
                f"chunk: {dims.format_dim(size)} may not split into {n} equal parts", arg="chunks"
            ) from None
    out = []
    for p in parts:
        shape = list(t.shape)
        shape[d] = p
        out.append(t.with_shape(tuple(shape)))
    return tuple(out)


function(
    FunctionEntry(
        name="chunk",
        torch="torch.chunk",
        shape=_chunk,
        params=("chunks", "dim"),
        defaults={"dim": 0},
        dtype="any",
    )
)

for _name in ("flip", "roll"):
    function(
        FunctionEntry(
            name=_name,
            torch=f"torch.{_name}",
            shape=_same,
            dtype="any",
            types={"dims": "any", "shifts": "any"},
        )
    )
