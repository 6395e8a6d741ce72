"""Catalog entries for stateless functions (`torch.nn.functional`, `torch`, Tensor methods).

In a spec they are lowercase: `relu`, `max_pool2d(2)`, `cat([a, b], dim=1)`, `reshape(-1, 64)`.
In a chain the value on the left becomes the first tensor argument.
"""

from __future__ import annotations

from nndsl import dims
from nndsl.catalog import layers as _layers  # (registers LAYERS used below)
from nndsl.catalog.core import (
    FUNCTIONS,
    LAYERS,
    Args,
    FunctionEntry,
    ShapeError,
    TensorT,
    broadcast,
    function,
    norm_dim,
    prod,
    promote_types,
)
from nndsl.dims import Dim


def _same(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    return x[0]


def _with_dim(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    if a.get("dim") is not None:
        norm_dim(a["dim"], x[0].rank, scalar_ok=True)
    return x[0]


# Elementwise activations and friends: F.xxx, shape unchanged.
for _name in (
    "relu", "relu6", "elu", "selu", "celu", "leaky_relu", "gelu", "silu", "mish", "hardswish",
    "hardsigmoid", "hardtanh", "softplus", "softsign", "logsigmoid", "tanhshrink", "softshrink",
    "hardshrink", "rrelu", "threshold",
):  # fmt: skip
    function(
        FunctionEntry(
            name=_name,
            torch=f"F.{_name}",
            shape=_same,
            types={"beta": "float", "threshold": "float"} if _name == "softplus" else {},
        )
    )

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


def _clamp(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    if a.get("min") is None and a.get("max") is None:
        raise ShapeError("clamp needs `min`, `max` or both")
    return x[0]


function(
    FunctionEntry(
        name="clamp", torch="torch.clamp", shape=_clamp, types={"min": "float?", "max": "float?"}
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
    # generated code passes training=self.training (F.alpha_dropout's own default is False)
    function(
        FunctionEntry(
            name=name,
            torch=f"F.{name}",
            shape=_layers.dropout_shape(name),
            defaults={"training": True},
        )
    )


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
    if not isinstance(p, (tuple, list)) or len(p) % 2:
        raise ShapeError(
            "`pad` is a tuple of (left, right) pairs for the last dimensions, e.g. (1, 1, 2, 2)",
            arg="pad",
        )
    mode = a.get("mode", "constant")
    if mode not in ("constant", "reflect", "replicate", "circular"):
        raise ShapeError(
            f'unknown padding mode "{mode}": use constant, reflect, replicate or circular',
            arg="mode",
        )
    if mode != "constant" and not p:
        raise ShapeError(f"{mode} padding needs padding sizes", arg="pad")
    return _layers.pad_shape(t, tuple(p), mode)


function(FunctionEntry(name="pad", torch="F.pad", shape=_pad, types={"pad": "dims"}))


def _one_hot(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    if x[0].dtype != "int64":
        raise ShapeError(f"one_hot needs a long tensor of class indices, but gets {x[0]}")
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


def _resolve_shape(t: TensorT, sizes: tuple, what: str, opaque: bool = False) -> tuple[Dim, ...]:
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
        if not sizes:  # reshape(()): to a 0-d tensor
            if dims.equal(prod(t.shape), 1) is False:
                raise ShapeError(f"cannot {what} {t} into a 0-d tensor", arg="shape")
            return ()
    if not sizes:
        raise ShapeError(f"{what} needs the new shape", arg="shape")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, dims.Sym)):
            raise ShapeError(f"{what}: sizes must be integers", arg="shape")
        if isinstance(s, int) and s < -1:
            raise ShapeError(
                f"{what}: invalid size {s}",
                arg="shape",
                hint="sizes are 0 or more, and one of them may be -1 (inferred from the others)",
            )
    if sum(1 for s in sizes if s == -1) > 1:
        raise ShapeError(f"{what}: only one size may be -1", arg="shape")
    total = prod(t.shape)
    known = prod([s for s in sizes if s != -1])
    if -1 in sizes:
        if isinstance(known, int) and known == 0:
            raise ShapeError(
                f"{what}: the size -1 is ambiguous next to a size 0",
                arg="shape",
                hint="-1 is inferred by dividing by the other sizes: write every size here",
            )
        try:
            rest = dims.exact_div(total, known, opaque=opaque)
        except dims.DimError:
            raise ShapeError(
                f"cannot {what} {t} ({dims.format_dim(total)} elements) into {_fmt_sizes(sizes)}: "
                f"{dims.format_dim(total)} is not divisible by {dims.format_dim(known)}",
                arg="shape",
            ) from None
        return tuple(rest if s == -1 else s for s in sizes)
    if dims.differ(total, known):
        free = sorted(dims.free_symbols(total) | dims.free_symbols(known))
        raise ShapeError(
            f"cannot {what} {t} ({dims.format_dim(total)} elements) into {_fmt_sizes(sizes)} "
            f"({dims.format_dim(known)} elements)",
            arg="shape",
            hint=f"{dims.format_dim(total)} != {dims.format_dim(known)} for every value of "
            f"{', '.join(free)}: the new shape must hold as many elements as the old"
            if free
            else None,
        )
    return tuple(sizes)


def _fmt_sizes(sizes) -> str:
    return "(" + ", ".join(dims.format_dim(s) for s in sizes) + ")"


def _reshape(what: str):
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        return x[0].with_shape(
            _resolve_shape(x[0], tuple(a.get("shape", ())), what, a.opaque_quotients)
        )

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
    d0 = norm_dim(a["dim0"], t.rank, "dim0", scalar_ok=True)
    d1 = norm_dim(a["dim1"], t.rank, "dim1", scalar_ok=True)
    if t.rank == 0:
        return t
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
    norm = _distinct_dims(ds, t.rank)
    return t.with_shape(tuple(s for i, s in enumerate(t.shape) if not (i in norm and s == 1)))


def _distinct_dims(ds, rank: int, what: str = "dim") -> set[int]:
    """Normalised dimensions, each at most once (a 0-d tensor takes 0 and -1)."""
    out: set[int] = set()
    for i in ds:
        n = norm_dim(i, rank, what, scalar_ok=True)
        if n in out:
            raise ShapeError(f"dimension {n} appears more than once in `{what}`", arg=what)
        out.add(n)
    return out


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
    return TensorT(tuple(shape), _promote_all(x))


def _promote_all(x: tuple[TensorT, ...]) -> str:
    dtype = x[0].dtype
    for t in x[1:]:
        dtype = promote_types(dtype, t.dtype)
    return dtype


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
    return TensorT(first.shape[:d] + (len(x),) + first.shape[d:], _promote_all(x))


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


def _reduce(keep_dtype: bool = True, dtype: str | None = None, name: str = ""):
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        d = a.get("dim")
        out_dtype = dtype or t.dtype
        keep = bool(a.get("keepdim"))
        if name == "prod" and d is not None and not isinstance(d, int):
            raise ShapeError("prod reduces one dimension: `dim` must be an integer", arg="dim")
        if d is None and name != "logsumexp":
            if keep and name in ("sum", "mean", "prod"):
                raise ShapeError(
                    f"{name} with `keepdim` needs `dim`",
                    hint="to reduce every dimension and keep them, give them all: dim=(0, 1, ...)",
                    arg="keepdim",
                )
            return TensorT((1,) * t.rank if keep else (), out_dtype)
        ds = d if isinstance(d, (tuple, list)) else (d,)
        if name == "logsumexp" and (d is None or not ds and not keep):
            raise ShapeError("logsumexp needs at least one dimension in `dim`", arg="dim")
        norm = _distinct_dims(ds, t.rank)
        if not ds:  # dim=(): every dimension
            norm = set(range(t.rank))
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
            shape=_reduce(name=_name),
            # torch.std(x, 1, True) means unbiased=True: keepdim is a keyword for std and var
            params=("dim",) if _name in ("std", "var") else ("dim", "keepdim"),
            defaults={"keepdim": False}
            if _name == "logsumexp"
            else {"dim": None, "keepdim": False},
            types={"dim": "int?" if _name == "prod" else "any", "keepdim": "bool"},
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
    if p.dtype != q.dtype:
        raise ShapeError(f"matmul needs tensors of the same dtype, but gets {p} @ {q}")
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
    if not sizes:
        raise ShapeError("expand needs the new sizes", arg="size")
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < t.rank:
        raise ShapeError(f"expand needs at least {t.rank} sizes for {t}", arg="size")
    lead = len(sizes) - t.rank
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, dims.Sym)):
            raise ShapeError("expand: sizes must be integers", arg="size")
        if isinstance(s, int) and s < -1:
            raise ShapeError(
                f"expand: invalid size {s}",
                arg="size",
                hint="-1 keeps a size; the others are the new sizes, 0 or more",
            )
    if any(s == -1 for s in sizes[:lead]):
        raise ShapeError(
            "expand: -1 (keep the size) is not allowed for a new leading dimension", arg="size"
        )
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
    for r in reps:
        if (
            isinstance(r, bool)
            or not isinstance(r, (int, dims.Sym))
            or (isinstance(r, int) and r < 0)
        ):
            raise ShapeError(
                f"repeat: counts must be integers of at least 0, not {r}", arg="repeats"
            )
    shape = (1,) * (len(reps) - t.rank) + t.shape
    return t.with_shape(tuple(s * r for s, r in zip(shape, reps)))


function(
    FunctionEntry(name="repeat", torch=".repeat", shape=_repeat, variadic="repeats", dtype="any")
)
function(FunctionEntry(name="contiguous", torch=".contiguous", shape=_same, dtype="any"))


def _cast(dtype: str):
    """`x.long()`, `x.float()`, ...: the same shape as another dtype."""

    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        return TensorT(x[0].shape, dtype)

    return shape


# Tensor methods that cast (token ids to float, masks to long, ...); `x.to(long)` is `x.long()`
CAST_DTYPES = {
    "long": "int64",
    "int": "int32",
    "float": "float32",
    "double": "float64",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bool": "bool",
}  # also the dtypes a spec may pass as values: `zeros(3, dtype=long)`
CASTS = tuple(CAST_DTYPES)
for _name, _dtype in CAST_DTYPES.items():
    function(FunctionEntry(name=_name, torch=f".{_name}", shape=_cast(_dtype), dtype="any"))


def _opaque_dim(d) -> bool:
    return any(dims.is_opaque_symbol(n) for n in dims.free_symbols(d))


def _chunk(a: Args, x: tuple[TensorT, ...]):
    t = x[0]
    n = a["chunks"]
    d = norm_dim(a["dim"], t.rank)
    size = t.shape[d]
    if not isinstance(n, int) or n <= 0:
        raise ShapeError(
            "`chunks` must be a positive integer known when the spec is checked",
            arg="chunks",
            hint="the number of pieces: 1 or more",
        )
    if isinstance(size, int):
        step = -(-size // n)
        parts = [min(step, size - i) for i in range(0, size, step)] if step else []
    elif (
        a.opaque_quotients
        and n > 1
        and _opaque_dim(dims.exact_div(size, n, opaque=a.opaque_quotients))
    ):
        # a size only known when a generic class is built: torch's split, every use having
        # been checked with its own size (n - 1 parts of ceil(size / n), then the rest)
        step = dims.floordiv(size + (n - 1), n)
        last = dims.floordiv(size, 2) if n == 2 else size - (n - 1) * step
        parts = [step] * (n - 1) + [last]
    else:
        try:
            parts = [dims.exact_div(size, n, opaque=a.opaque_quotients)] * n
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


def _flip(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    d = a["dims"]
    if not isinstance(d, (tuple, list)):
        raise ShapeError("flip's `dims` is a tuple of dimensions, e.g. (1,)", arg="dims")
    _distinct_dims(d, x[0].rank, "dims")
    return x[0]


def _roll(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    shifts, d = a["shifts"], a.get("dims")
    shifts = tuple(shifts) if isinstance(shifts, (tuple, list)) else (shifts,)
    ds = () if d is None else tuple(d) if isinstance(d, (tuple, list)) else (d,)
    if not shifts:
        raise ShapeError("roll needs `shifts`", arg="shifts")
    if d is None and len(shifts) != 1 or d is not None and len(shifts) != len(ds):
        raise ShapeError(
            f"roll has {len(shifts)} shift{'s' if len(shifts) != 1 else ''} for {len(ds)} dimension"
            f"{'s' if len(ds) != 1 else ''}: give one shift per dimension",
            arg="shifts",
        )
    for i in ds:
        norm_dim(i, t.rank, "dims", scalar_ok=True)
    return t


function(
    FunctionEntry(name="flip", torch="torch.flip", shape=_flip, dtype="any", types={"dims": "any"})
)
function(
    FunctionEntry(
        name="roll",
        torch="torch.roll",
        shape=_roll,
        dtype="any",
        types={"dims": "any", "shifts": "any"},
    )
)


# ---- more of torch.nn.functional: the rules of the corresponding modules --------------------


def _layer_rule(layer_name: str, **fixed):
    """A function whose shape rule is a module's (with some module arguments fixed)."""

    def shape(a: Args, x: tuple[TensorT, ...]):
        return LAYERS[layer_name].shape(Args(a, **fixed), x)

    return shape


for _fn, _layer in (
    ("pixel_shuffle", "PixelShuffle"),
    ("pixel_unshuffle", "PixelUnshuffle"),
    ("channel_shuffle", "ChannelShuffle"),
    ("local_response_norm", "LocalResponseNorm"),
    ("unfold", "Unfold"),
    ("fold", "Fold"),
    ("lp_pool1d", "LPPool1d"),
    ("lp_pool2d", "LPPool2d"),
    ("lp_pool3d", "LPPool3d"),
):
    if _fn not in FUNCTIONS and _layer in LAYERS:
        function(
            FunctionEntry(
                name=_fn,
                torch=f"F.{_fn}",
                shape=_layer_rule(_layer),
                dtype=LAYERS[_layer].dtype,
                expects=LAYERS[_layer].expects,
                types=dict(LAYERS[_layer].types),
            )
        )

function(
    FunctionEntry(
        name="cosine_similarity",
        torch="F.cosine_similarity",
        shape=_layers.cosine_similarity_shape,
        tensor_params=("x1", "x2"),
    )
)
function(
    FunctionEntry(
        name="pairwise_distance",
        torch="F.pairwise_distance",
        shape=_layers.pairwise_distance_shape,
        tensor_params=("x1", "x2"),
    )
)


def _layer_norm(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    if not isinstance(a["normalized_shape"], (tuple, list)):
        raise ShapeError(
            "`normalized_shape` is a tuple of sizes, e.g. (64,)", arg="normalized_shape"
        )
    return LAYERS["LayerNorm"].shape(a, x)


for _name in ("layer_norm", "rms_norm"):
    function(
        FunctionEntry(
            name=_name,
            torch=f"F.{_name}",
            shape=_layer_norm,
            types={"normalized_shape": "dims", "eps": "float?"},
            params=("normalized_shape",),
            keywords=("eps",),
        )
    )


def _group_norm(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    if t.rank < 2:
        raise ShapeError(f"group_norm needs a [B, C, ...] input, but gets {t}")
    return LAYERS["GroupNorm"].shape(Args(a, num_channels=t.shape[1]), x)


function(
    FunctionEntry(
        name="group_norm",
        torch="F.group_norm",
        shape=_group_norm,
        params=("num_groups",),
        keywords=("eps",),
    )
)


def _gumbel_softmax(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    norm_dim(a["dim"], x[0].rank, scalar_ok=True)
    return x[0]


function(
    FunctionEntry(
        name="gumbel_softmax",
        torch="F.gumbel_softmax",
        shape=_gumbel_softmax,
        tensor_params=("logits",),
        types={"tau": "float", "eps": "float"},
    )
)


def _prelu(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t, w = x[0], x[1]
    if w.rank > 1:
        raise ShapeError(f"prelu's weight must be a 1-d tensor, but is {w}")
    n = w.shape[0] if w.rank == 1 else 1
    return LAYERS["PReLU"].shape(Args(num_parameters=n), (t,))


function(
    FunctionEntry(name="prelu", torch="F.prelu", shape=_prelu, tensor_params=("input", "weight"))
)


from nndsl.catalog import tensor_ops as _tensor_ops  # noqa: E402, F401  (registers its entries)

# ---- random tensors like another, and the losses of torch.nn.functional (for loss blocks) ---


def _like(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    if not x[0].is_float:
        raise ShapeError(f"random values are floating-point: the input must be too, not {x[0]}")
    return x[0]


for _name in ("randn_like", "rand_like"):
    if _name not in FUNCTIONS:
        function(FunctionEntry(name=_name, torch=f"torch.{_name}", shape=_like, dtype="any"))


def _loss(kind: str, probabilities: bool = False):
    """A functional loss: a scalar, or with `reduction="none"` one value per element (per
    sample for the class losses)."""

    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        out, target = x[0], x[1]
        if not out.is_float:
            raise ShapeError(f"the prediction must be floating-point, not {out}")
        reduction = a.get("reduction", "mean")
        if reduction not in ("mean", "sum", "none"):
            raise ShapeError(
                f'`reduction` is "mean", "sum" or "none", not {reduction!r}', arg="reduction"
            )
        dtype = out.dtype
        if kind == "class":  # scores [N, C, ...] against class indices [N, ...]
            if out.rank < 1:
                raise ShapeError(f"class scores need at least one dimension, not {out}")
            want = out.shape[:1] + out.shape[2:] if out.rank > 1 else ()
            if target.is_float and probabilities:  # cross_entropy: class probabilities
                if target.rank != out.rank or any(
                    dims.equal(p, q) is False for p, q in zip(out.shape, target.shape)
                ):
                    raise ShapeError(
                        f"class probabilities must be shaped like the scores {out}, not {target}"
                    )
                dtype = promote_types(out.dtype, target.dtype)
            elif target.is_float or target.dtype == "bool":
                raise ShapeError(f"class labels must be integers, not {target}")
            elif target.rank != len(want) or any(
                dims.equal(p, q) is False for p, q in zip(want, target.shape)
            ):
                shown = ", ".join(dims.format_dim(d) for d in want)
                raise ShapeError(
                    f"class labels for scores {out} must be shaped [{shown}], not {target}"
                )
            per = TensorT(want, dtype)
        elif kind == "same":  # binary_cross_entropy_with_logits: targets shaped like the input
            if not target.is_float:
                raise ShapeError(f"the targets must be floating-point 0/1 values, not {target}")
            if target.rank != out.rank or any(
                dims.equal(p, q) is False for p, q in zip(out.shape, target.shape)
            ):
                raise ShapeError(f"the targets {target} must be shaped like the input {out}")
            per = TensorT(out.shape, promote_types(out.dtype, target.dtype))
        else:
            full = broadcast(out, target, kind)
            if kind != "huber_loss" and target.is_float:
                dtype = promote_types(out.dtype, target.dtype)
            per = TensorT(full.shape, dtype)
        return per if reduction == "none" else TensorT((), per.dtype)

    return shape


for _name, _kind in (
    ("mse_loss", "mse_loss"),
    ("l1_loss", "l1_loss"),
    ("smooth_l1_loss", "smooth_l1_loss"),
    ("huber_loss", "huber_loss"),
    ("binary_cross_entropy_with_logits", "same"),
    ("cross_entropy", "class"),
    ("nll_loss", "class"),
):
    if _name not in FUNCTIONS:
        function(
            FunctionEntry(
                name=_name,
                torch=f"F.{_name}",
                shape=_loss(_kind, probabilities=_name == "cross_entropy"),
                tensor_params=("input", "target"),
                dtype="any",
                types={"reduction": "str"},
            )
        )
