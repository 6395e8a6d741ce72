"""Catalog entries for `torch.nn` modules: shape rules, inferred arguments, parameter counts.

Each entry's shape rule and parameter count must agree with torch exactly; the property tests
in tests/test_catalog_torch.py build every entry with random arguments and compare.
"""

from __future__ import annotations

from nndsl import dims
from nndsl.catalog import api
from nndsl.catalog.core import (
    Args,
    LayerEntry,
    LayerValue,
    ShapeError,
    TensorT,
    conv_out,
    layer,
    positive,
    prod,
)
from nndsl.catalog.ranges import hint_for
from nndsl.dims import Dim

# ---------------------------------------------------------------------------------------------
# Linear layers
# ---------------------------------------------------------------------------------------------


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _known(*values: object) -> bool:
    """All values are concrete integers (checks that need numbers apply only then)."""
    return all(_is_int(v) for v in values)


def _needs_rank(t: TensorT, ok: bool, expects: str) -> None:
    if not ok:
        raise ShapeError(f"needs a {expects} input, but gets {t}")


def _dim_at(t: TensorT, i: int) -> Dim | None:
    """t.shape[i], or None when t has no such dimension (the shape rule then says why)."""
    return t.shape[i] if -t.rank <= i < t.rank else None


def _features(x: tuple[TensorT, ...]) -> dict:
    return {"in_features": _dim_at(x[0], -1)}


def _linear_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    _needs_rank(x[0], x[0].rank >= 1, "[..., features]")
    return x[0].with_shape(x[0].shape[:-1] + (a.int("out_features"),))


def _linear_params(a: Args) -> Dim:
    return a.int("in_features") * a.int("out_features") + (
        a.int("out_features") if a["bias"] else 0
    )


for _name in ("Linear", "LazyLinear"):
    if api.module_signature(_name) is not None:
        layer(
            LayerEntry(
                name=_name,
                inferred=("in_features",),
                infer=_features,
                shape=_linear_shape,
                params=_linear_params,
                expects="[..., features]",
                ranks=None,
            )
        )


def _bilinear_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t1, t2 = x[0], x[1]
    _needs_rank(t1, t1.rank >= 1, "[..., features]")
    if t1.rank != t2.rank:
        raise ShapeError(f"the two inputs must have the same rank, but they are {t1} and {t2}")
    for i, (p, q) in enumerate(zip(t1.shape[:-1], t2.shape[:-1])):
        if dims.equal(p, q) is False:
            raise ShapeError(
                f"the inputs' leading dimensions must be equal, but {t1} and {t2} differ in "
                f"dimension {i}"
            )
    return t1.with_shape(t1.shape[:-1] + (a.int("out_features"),))


layer(
    LayerEntry(
        name="Bilinear",
        inferred=("in1_features", "in2_features"),
        infer=lambda x: {"in1_features": _dim_at(x[0], -1), "in2_features": _dim_at(x[1], -1)},
        shape=_bilinear_shape,
        params=lambda a: (
            a.int("in1_features") * a.int("in2_features") * a.int("out_features")
            + (a.int("out_features") if a["bias"] else 0)
        ),
        inputs=("input1", "input2"),
        required_inputs=2,
        expects="[..., features], [..., features]",
    )
)

layer(LayerEntry(name="Identity", shape=lambda a, x: x[0], dtype="any", stateful=False))


def _flatten_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    from nndsl.catalog.core import norm_dim

    shape = x[0].shape
    if not shape:  # a 0-d tensor flattens as if it had one dimension of size 1
        norm_dim(a["start_dim"], 1, "start_dim")
        norm_dim(a["end_dim"], 1, "end_dim")
        return x[0].with_shape((1,))
    s, e = (
        norm_dim(a["start_dim"], len(shape), "start_dim"),
        norm_dim(a["end_dim"], len(shape), "end_dim"),
    )
    if s > e:
        raise ShapeError("`start_dim` comes after `end_dim`", arg="start_dim")
    return x[0].with_shape(shape[:s] + (prod(shape[s : e + 1]),) + shape[e + 1 :])


layer(LayerEntry(name="Flatten", shape=_flatten_shape, dtype="any", stateful=False))


def _unflatten_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    from nndsl.catalog.core import norm_dim

    shape = x[0].shape
    d = norm_dim(a["dim"], len(shape))
    size = a["unflattened_size"]
    sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,)
    if not sizes:
        raise ShapeError("`unflattened_size` must not be empty", arg="unflattened_size")
    if any(_is_int(s) and s < -1 for s in sizes):
        raise ShapeError(
            "sizes must be positive, or -1 for one inferred size",
            arg="unflattened_size",
            hint="the sizes multiply to the size of the dimension unflattened",
        )
    known = prod([s for s in sizes if s != -1])
    if sizes.count(-1) > 1:
        raise ShapeError("only one size may be -1", arg="unflattened_size")
    if -1 in sizes:
        if _known(known) and known == 0:
            raise ShapeError("cannot infer the size -1 next to a size 0", arg="unflattened_size")
        try:
            rest = dims.exact_div(shape[d], known, opaque=a.opaque_quotients)
        except dims.DimError:
            raise ShapeError(
                f"cannot unflatten a dimension of size {dims.format_dim(shape[d])} into {sizes}",
                arg="unflattened_size",
            ) from None
        sizes = tuple(rest if s == -1 else s for s in sizes)
    elif dims.differ(prod(sizes), shape[d]):
        raise ShapeError(
            f"cannot unflatten a dimension of size {dims.format_dim(shape[d])} into {sizes}",
            arg="unflattened_size",
        )
    return x[0].with_shape(shape[:d] + sizes + shape[d + 1 :])


layer(
    LayerEntry(
        name="Unflatten",
        shape=_unflatten_shape,
        dtype="any",
        stateful=False,
        types={"unflattened_size": "dims"},
    )
)

# ---------------------------------------------------------------------------------------------
# Convolutions and pooling
# ---------------------------------------------------------------------------------------------

_SPATIAL = {1: "[B, C, L]", 2: "[B, C, H, W]", 3: "[B, C, D, H, W]"}
_UNBATCHED = {1: "[C, L]", 2: "[C, H, W]", 3: "[C, D, H, W]"}


def _check_groups(a: Args, cin: Dim, cout: Dim) -> Dim:
    g = a.int("groups")
    if isinstance(g, int) and g <= 0:
        raise ShapeError(
            "`groups` must be positive", arg="groups", hint=hint_for("module", "groups")
        )
    for what, c in (("in_channels", cin), ("out_channels", cout)):
        if isinstance(g, int) and isinstance(c, int) and c % g:
            raise ShapeError(f"{what} ({c}) is not divisible by groups ({g})", arg="groups")
    return g


def _conv_input(t: TensorT, n: int, generic: bool = False) -> tuple[Dim, ...]:
    """The spatial sizes of a convolution's input: [B, C, *spatial] or, without a batch
    dimension, [C, *spatial] (as torch accepts it) when the channel count is known."""
    if t.rank == n + 2:
        return t.shape[2:]
    # (`generic`: in the code generator's symbolic evaluation of a block, sizes are symbols:
    # the checker has already decided with the real ones)
    if t.rank == n + 1 and (_is_int(t.shape[0]) or generic):
        return t.shape[1:]
    hint = None
    if t.rank == n + 1:
        hint = (
            f"its first dimension, {dims.format_dim(t.shape[0])}, looks like a batch: to add a "
            f"channel dimension, use `unsqueeze(1)` (an input without a batch dimension, "
            f"{_UNBATCHED[n]}, needs a known channel count)"
        )
    raise ShapeError(f"needs a {_SPATIAL[n]} input, but gets {t}", hint=hint)


def _channels(n: int):
    """The inferred channel count: dimension 1, or 0 for an input without a batch dimension."""
    return lambda x: {"in_channels": x[0].shape[-n - 1]}


def _check_mode_padding(mode: object, size: Dim, left: Dim, right: Dim, i: int) -> None:
    """The conditions torch's F.pad puts on reflect and circular padding."""
    if not _known(size, left, right):
        return
    if mode == "reflect" and (left >= size or right >= size):
        raise ShapeError(
            f"reflect padding ({left}, {right}) must be smaller than the input's size {size} "
            f"along dim {i}",
            arg="padding",
        )
    if mode == "circular" and (left > size or right > size):
        raise ShapeError(
            f"circular padding ({left}, {right}) must be at most the input's size {size} "
            f"along dim {i}",
            arg="padding",
        )


def _conv(n: int, lazy: bool = False) -> None:
    prefix = "Lazy" if lazy else ""

    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        spatial = _conv_input(t, n, a.opaque_quotients)
        cout = a.int("out_channels")
        _check_groups(a, a.int("in_channels"), cout)
        k, s, d = a.ints("kernel_size", n, one=False), a.ints("stride", n), a.ints("dilation", n)
        pad = a["padding"]
        mode = a.get("padding_mode", "zeros")
        out: list[Dim] = []
        if pad == "same":
            if any(v != 1 for v in s):
                raise ShapeError('padding="same" needs stride 1', arg="padding")
            for i in range(n):
                total = d[i] * (k[i] - 1)
                if _known(total):
                    _check_mode_padding(mode, spatial[i], total // 2, total - total // 2, i)
            out = list(spatial)
        else:
            p = (0,) * n if pad == "valid" else a.ints("padding", n)
            if mode != "zeros" and isinstance(pad, (tuple, list)) and len(pad) == 1 and n > 1:
                # torch pads with F.pad(x, (p, p), mode): the last dimension only
                padded = pad_shape(t, (pad[0], pad[0]), mode)
                spatial, p = padded.shape[t.rank - n :], (0,) * n
            for i in range(n):
                _check_mode_padding(mode, spatial[i], p[i], p[i], i)
                out.append(
                    positive(
                        conv_out(spatial[i], k[i], s[i], p[i], d[i], opaque=a.opaque_quotients),
                        f"output size along dim {t.rank - n + i}",
                    )
                )
        return t.with_shape(t.shape[: t.rank - n - 1] + (cout, *out))

    def params(a: Args) -> Dim:
        g = _check_groups(a, a.int("in_channels"), a.int("out_channels"))
        w = (
            a.int("out_channels")
            * dims.exact_div(a.int("in_channels"), g, opaque=a.opaque_quotients)
            * prod(a.ints("kernel_size", n, one=False))
        )
        return w + (a.int("out_channels") if a["bias"] else 0)

    layer(
        LayerEntry(
            name=f"{prefix}Conv{n}d",
            inferred=("in_channels",),
            infer=_channels(n),
            shape=shape,
            params=params,
            expects=_SPATIAL[n],
            ranks=(n + 2, n + 1),
            types={
                "kernel_size": "ints",
                "stride": "ints",
                "padding": "padding",
                "dilation": "ints",
                "groups": "int",
                "bias": "bool",
                "padding_mode": "str",
            },
        )
    )

    def tshape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        spatial = _conv_input(t, n, a.opaque_quotients)
        cout = a.int("out_channels")
        _check_groups(a, a.int("in_channels"), cout)
        if a.get("padding_mode", "zeros") != "zeros":
            raise ShapeError(
                f'only padding_mode="zeros" is supported by ConvTranspose{n}d', arg="padding_mode"
            )
        k, s, p, d = (
            a.ints("kernel_size", n, one=False),
            a.ints("stride", n),
            a.ints("padding", n),
            a.ints("dilation", n),
        )
        op = a.ints("output_padding", n)
        for i in range(n):
            if _known(op[i], s[i], d[i]) and op[i] >= max(s[i], d[i]):
                raise ShapeError(
                    f"output_padding ({op[i]}) must be smaller than either stride ({s[i]}) or "
                    f"dilation ({d[i]})",
                    arg="output_padding",
                )
        out = [
            positive(
                (spatial[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1,
                f"output size along dim {t.rank - n + i}",
            )
            for i in range(n)
        ]
        return t.with_shape(t.shape[: t.rank - n - 1] + (cout, *out))

    def tparams(a: Args) -> Dim:
        g = _check_groups(a, a.int("in_channels"), a.int("out_channels"))
        w = (
            a.int("in_channels")
            * dims.exact_div(a.int("out_channels"), g, opaque=a.opaque_quotients)
            * prod(a.ints("kernel_size", n, one=False))
        )
        return w + (a.int("out_channels") if a["bias"] else 0)

    layer(
        LayerEntry(
            name=f"{prefix}ConvTranspose{n}d",
            inferred=("in_channels",),
            infer=_channels(n),
            shape=tshape,
            params=tparams,
            expects=_SPATIAL[n],
            ranks=(n + 2, n + 1),
            types={
                "kernel_size": "ints",
                "stride": "ints",
                "padding": "ints",
                "output_padding": "ints",
                "dilation": "ints",
                "groups": "int",
                "bias": "bool",
            },
        )
    )


def _pool_rank(t: TensorT, n: int) -> None:
    """Pooling takes [B, C, *spatial] or [C, *spatial]."""
    _needs_rank(t, t.rank in (n + 1, n + 2), f"{_SPATIAL[n]} or {_UNBATCHED[n]}")


def _pool(n: int, kind: str) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]):
        t = x[0]
        _pool_rank(t, n)
        k = a.ints("kernel_size", n)
        s = a.ints("stride", n) if a.get("stride") not in (None, ()) else k
        p = a.ints("padding", n)
        d = a.ints("dilation", n) if "dilation" in a else (1,) * n
        for i in range(n):
            if isinstance(p[i], int) and isinstance(k[i], int) and p[i] * 2 > k[i]:
                raise ShapeError(
                    f"padding ({p[i]}) should be at most half the kernel size ({k[i]})",
                    arg="padding",
                )
            if (
                kind == "Avg"
                and n == 3
                and _known(t.shape[-n + i], k[i])
                and t.shape[-n + i] < k[i]
            ):
                raise ShapeError(
                    f"the input ({dims.format_dim(t.shape[-n + i])} along dim {t.rank - n + i}) "
                    f"is smaller than the kernel ({k[i]})",
                    arg="kernel_size",
                )
        out = [
            positive(
                conv_out(
                    t.shape[-n + i],
                    k[i],
                    s[i],
                    p[i],
                    d[i],
                    ceil=bool(a.get("ceil_mode")),
                    opaque=a.opaque_quotients,
                ),
                f"output size along dim {t.rank - n + i}",
            )
            for i in range(n)
        ]
        result = t.with_shape(t.shape[:-n] + tuple(out))
        if a.get("return_indices"):
            return (result, TensorT(result.shape, "int64"))
        return result

    layer(
        LayerEntry(
            name=f"{kind}Pool{n}d",
            shape=shape,
            expects=_SPATIAL[n],
            ranks=(n + 2, n + 1),
            stateful=False,
            types={"kernel_size": "ints", "stride": "ints", "padding": "ints", "dilation": "ints"},
        )
    )

    def ashape(a: Args, x: tuple[TensorT, ...]):
        t = x[0]
        size = a["output_size"]
        if size is None:
            raise ShapeError("`output_size` must be given", arg="output_size")
        tupled = isinstance(size, (tuple, list))
        sizes = tuple(size) if tupled else (size,) * n
        if len(sizes) != n:
            raise ShapeError(
                f"`output_size` must be an integer or a tuple of {n}", arg="output_size"
            )
        if n == 1 and None in sizes:
            raise ShapeError(
                "`output_size` of a 1-d adaptive pooling must be an integer", arg="output_size"
            )
        for v in sizes:
            if v is not None and (not isinstance(v, (int, dims.Sym)) or isinstance(v, bool)):
                raise ShapeError("`output_size` must hold integers or `none`", arg="output_size")
            if _is_int(v) and v < 0:
                raise ShapeError("`output_size` must not be negative", arg="output_size")
        # (torch fills a tuple's `none`s from the input, and then wants more dimensions than n)
        _needs_rank(t, t.rank > n if tupled and n > 1 else t.rank >= n, _SPATIAL[n])
        out = [t.shape[-n + i] if v is None else v for i, v in enumerate(sizes)]
        if not (kind == "Avg" and n > 1 and all(_is_int(v) and v == 1 for v in out)):
            # (an output of ones is a mean over the last n dimensions, whatever the rank)
            _pool_rank(t, n)
        result = t.with_shape(t.shape[:-n] + tuple(out))
        if kind == "Max" and a.get("return_indices"):
            return (result, TensorT(result.shape, "int64"))
        return result

    layer(
        LayerEntry(
            name=f"Adaptive{kind}Pool{n}d",
            shape=ashape,
            expects=_SPATIAL[n],
            ranks=(n + 2, n + 1) if kind == "Max" else None,
            stateful=False,
            types={"output_size": "any"},
        )
    )


for _n in (1, 2, 3):
    _conv(_n)
    if api.module_signature(f"LazyConv{_n}d") is not None:
        _conv(_n, lazy=True)
    _pool(_n, "Max")
    _pool(_n, "Avg")


def _lppool(n: int) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        _pool_rank(t, n)
        if n == 1 and not _is_int(a["kernel_size"]):
            raise ShapeError("LPPool1d's `kernel_size` must be an integer", arg="kernel_size")
        k = a.ints("kernel_size", n, one=False)
        s = a.ints("stride", n) if a.get("stride") not in (None, ()) else k
        for i in range(n):
            if n == 3 and _known(t.shape[-n + i], k[i]) and t.shape[-n + i] < k[i]:
                raise ShapeError(
                    f"the input ({dims.format_dim(t.shape[-n + i])} along dim {t.rank - n + i}) "
                    f"is smaller than the kernel ({k[i]})",
                    arg="kernel_size",
                )
        out = [
            positive(
                conv_out(
                    t.shape[-n + i],
                    k[i],
                    s[i],
                    0,
                    1,
                    ceil=bool(a.get("ceil_mode")),
                    opaque=a.opaque_quotients,
                ),
                "output size",
            )
            for i in range(n)
        ]
        return t.with_shape(t.shape[:-n] + tuple(out))

    layer(
        LayerEntry(
            name=f"LPPool{n}d",
            shape=shape,
            expects=_SPATIAL[n],
            ranks=(n + 2, n + 1),
            stateful=False,
            types={"norm_type": "float", "kernel_size": "ints", "stride": "ints"},
        )
    )


for _n in (1, 2, 3):
    _lppool(_n)


def _max_unpool(n: int) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        _pool_rank(t, n)
        idx = x[1]
        if idx.dtype != "int64":
            raise ShapeError(f"the indices must be a long tensor, but are {idx}")
        if idx.rank != t.rank or any(dims.equal(p, q) is False for p, q in zip(t.shape, idx.shape)):
            raise ShapeError(f"the indices {idx} must have the input's shape {t}")
        k = a.ints("kernel_size", n, one=False)
        s = a.ints("stride", n, one=False) if a.get("stride") not in (None, ()) else k
        p = a.ints("padding", n, one=False)
        out = [(t.shape[-n + i] - 1) * s[i] - 2 * p[i] + k[i] for i in range(n)]
        for i, v in enumerate(out):
            if _is_int(v) and v < 0:
                raise ShapeError(f"output size along dim {t.rank - n + i} would be {v}")
        return t.with_shape(t.shape[:-n] + tuple(out))

    layer(
        LayerEntry(
            name=f"MaxUnpool{n}d",
            shape=shape,
            expects=f"{_SPATIAL[n]} and its max-pooling indices",
            ranks=(n + 2, n + 1),
            inputs=("input", "indices"),
            required_inputs=2,
            stateful=False,
            types={"kernel_size": "ints", "stride": "ints", "padding": "ints"},
        )
    )


def _fractional_max_pool(n: int) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]):
        t = x[0]
        _pool_rank(t, n)
        k = a.ints("kernel_size", n, one=False)
        size, ratio = a.get("output_size"), a.get("output_ratio")
        if (size is None) == (ratio is None):
            raise ShapeError("give exactly one of `output_size` and `output_ratio`")
        spatial = t.shape[-n:]
        if size is not None:
            out = list(a.ints("output_size", n, one=False))
        else:
            ratios = tuple(ratio) if isinstance(ratio, (tuple, list)) else (ratio,) * n
            if len(ratios) != n or not all(
                isinstance(r, (int, float)) and not isinstance(r, bool) and 0 < r < 1
                for r in ratios
            ):
                raise ShapeError(
                    f"`output_ratio` must be a number or {n} numbers between 0 and 1",
                    arg="output_ratio",
                )
            out = []
            for d, r in zip(spatial, ratios):
                if not _is_int(d):
                    raise ShapeError("`output_ratio` needs a known input size", arg="output_ratio")
                out.append(int(d * r))
        for i in range(n):
            limit = spatial[i] - (1 if n == 3 else 0)  # torch checks < for 3-d, <= for 2-d
            if _known(out[i], k[i], spatial[i]) and out[i] + k[i] - 1 > limit:
                raise ShapeError(
                    f"the pooling window ({k[i]}) is too large for the input "
                    f"({spatial[i]} along dim {t.rank - n + i}) and output size {out[i]}",
                    arg="kernel_size",
                )
            if _is_int(out[i]) and out[i] < 0:
                raise ShapeError(f"output size along dim {t.rank - n + i} would be {out[i]}")
        result = t.with_shape(t.shape[:-n] + tuple(out))
        if a.get("return_indices"):
            return (result, TensorT(result.shape, "int64"))
        return result

    layer(
        LayerEntry(
            name=f"FractionalMaxPool{n}d",
            shape=shape,
            expects=_SPATIAL[n],
            ranks=(n + 2, n + 1),
            stateful=False,
            types={"kernel_size": "ints", "output_size": "any", "output_ratio": "any"},
        )
    )


for _n in (1, 2, 3):
    if api.module_signature(f"MaxUnpool{_n}d") is not None:
        _max_unpool(_n)
for _n in (2, 3):
    if api.module_signature(f"FractionalMaxPool{_n}d") is not None:
        _fractional_max_pool(_n)


def _fold_sizes(a: Args, key: str) -> tuple[Dim, Dim]:
    return a.ints(key, 2, one=False)  # type: ignore[return-value]


def _unfold_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    _needs_rank(t, t.rank in (3, 4), "[B, C, H, W] or [C, H, W]")
    k, d, p, s = (_fold_sizes(a, n) for n in ("kernel_size", "dilation", "padding", "stride"))
    blocks = [
        positive(
            conv_out(t.shape[-2 + i], k[i], s[i], p[i], d[i], opaque=a.opaque_quotients),
            "number of sliding blocks",
        )
        for i in range(2)
    ]
    return t.with_shape(t.shape[:-3] + (t.shape[-3] * k[0] * k[1], blocks[0] * blocks[1]))


def _fold_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    _needs_rank(t, t.rank in (2, 3), "[B, C*kh*kw, L] or [C*kh*kw, L]")
    out = _fold_sizes(a, "output_size")
    k, d, p, s = (_fold_sizes(a, n) for n in ("kernel_size", "dilation", "padding", "stride"))
    ck, length = t.shape[-2], t.shape[-1]
    kk = k[0] * k[1]
    if _known(ck, kk) and ck % kk:
        raise ShapeError(
            f"the input's dimension {t.rank - 2} ({ck}) must be divisible by the kernel's size "
            f"({k[0]}*{k[1]})"
        )
    blocks = [
        positive(
            conv_out(out[i], k[i], s[i], p[i], d[i], opaque=a.opaque_quotients),
            "number of sliding blocks",
        )
        for i in range(2)
    ]
    if dims.equal(blocks[0] * blocks[1], length) is False:
        raise ShapeError(
            f"the input's last dimension ({dims.format_dim(length)}) must be the number of "
            f"sliding blocks, {dims.format_dim(blocks[0] * blocks[1])}"
        )
    return t.with_shape(
        t.shape[:-2] + (dims.exact_div(ck, kk, opaque=a.opaque_quotients), out[0], out[1])
    )


_FOLD_TYPES = {n: "ints" for n in ("output_size", "kernel_size", "dilation", "padding", "stride")}
layer(
    LayerEntry(
        name="Unfold",
        shape=_unfold_shape,
        expects="[B, C, H, W]",
        ranks=(4, 3),
        stateful=False,
        types=_FOLD_TYPES,
    )
)
layer(
    LayerEntry(
        name="Fold",
        shape=_fold_shape,
        expects="[B, C*kh*kw, L]",
        ranks=(3, 2),
        stateful=False,
        types=_FOLD_TYPES,
    )
)

_INTERPOLATING = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}


def resize_shape(a: Args, x: tuple[TensorT, ...], mode: str | None = None) -> TensorT:
    """The output of `Upsample` and `F.interpolate` (with the latter's `antialias`)."""
    t = x[0]
    n = t.rank - 2
    mode = a.get("mode", "nearest") if mode is None else mode
    if t.rank not in (3, 4, 5):
        raise ShapeError(f"needs a [B, C, L], [B, C, H, W] or [B, C, D, H, W] input, but gets {t}")
    if mode in _INTERPOLATING and _INTERPOLATING[mode] != t.rank:
        raise ShapeError(
            f'mode "{mode}" needs a {_INTERPOLATING[mode]}-d input, but gets {t}', arg="mode"
        )
    if mode == "lanczos" and not (a.get("antialias") and t.rank == 4):
        raise ShapeError('mode "lanczos" needs antialias=true and a 4-d input', arg="mode")
    if mode not in (*_INTERPOLATING, "nearest", "area", "nearest-exact", "lanczos"):
        raise ShapeError(f'unknown interpolation mode "{mode}"', arg="mode")
    if mode in ("nearest", "area", "nearest-exact") and a.get("align_corners") is not None:
        raise ShapeError(
            "`align_corners` can only be set with the interpolating modes: "
            "linear, bilinear, bicubic, trilinear",
            arg="align_corners",
        )
    if a.get("antialias") and not (mode in ("bilinear", "bicubic", "lanczos") and t.rank == 4):
        raise ShapeError(
            "`antialias` needs mode bilinear, bicubic or lanczos and a 4-d input", arg="antialias"
        )
    size, scale = a.get("size"), a.get("scale_factor")
    if (size is None) == (scale is None):
        raise ShapeError("give exactly one of `size` and `scale_factor`")
    if size is not None and a.get("recompute_scale_factor"):
        raise ShapeError(
            "`recompute_scale_factor` is not meaningful with an explicit `size`",
            arg="recompute_scale_factor",
        )
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * n
        if len(sizes) != n:
            raise ShapeError(f"`size` must be an integer or a tuple of {n}", arg="size")
        if not all(isinstance(v, (int, dims.Sym)) and not isinstance(v, bool) for v in sizes):
            raise ShapeError("`size` must hold integers", arg="size")
        out = list(sizes)
    else:
        scales = tuple(scale) if isinstance(scale, (tuple, list)) else (scale,) * n
        if len(scales) != n:
            raise ShapeError(
                f"`scale_factor` must be a number or a tuple of {n}", arg="scale_factor"
            )
        out = []
        for d, f in zip(t.shape[2:], scales):
            if isinstance(f, bool) or not isinstance(f, (int, float)):
                raise ShapeError("`scale_factor` must be a number", arg="scale_factor")
            if isinstance(f, int) or f.is_integer():
                out.append(d * int(f))
            elif isinstance(d, int):
                out.append(int(d * f))
            else:
                raise ShapeError(
                    "a fractional `scale_factor` needs a known input size", arg="scale_factor"
                )
    for v in out:
        if _is_int(v) and (v < 0 or v == 0 and mode != "area"):  # (area pools adaptively)
            raise ShapeError(
                f"the output size would be {v}", arg="size" if size is not None else "scale_factor"
            )
    return t.with_shape(t.shape[:2] + tuple(out))


def _upsample_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    return resize_shape(a, x)


layer(
    LayerEntry(
        name="Upsample",
        shape=_upsample_shape,
        expects="[B, C, ...]",
        ranks=(3, 4, 5),
        stateful=False,
        types={"scale_factor": "any", "size": "any"},
    )
)
layer(
    LayerEntry(
        name="UpsamplingNearest2d",
        shape=lambda a, x: resize_shape(a, x, "nearest"),
        expects="[B, C, H, W]",
        ranks=(3, 4, 5),
        stateful=False,
        types={"scale_factor": "any", "size": "any"},
    )
)
layer(
    LayerEntry(
        name="UpsamplingBilinear2d",
        shape=lambda a, x: resize_shape(Args(a, align_corners=True), x, "bilinear"),
        expects="[B, C, H, W]",
        ranks=(4,),
        stateful=False,
        types={"scale_factor": "any", "size": "any"},
    )
)


def _pixel_shuffle(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    _needs_rank(t, t.rank >= 3, "[..., C*r*r, H, W]")
    r = a.int("upscale_factor")
    if _is_int(r) and r <= 0:
        raise ShapeError(
            "`upscale_factor` must be positive",
            arg="upscale_factor",
            hint=hint_for("module", "upscale_factor"),
        )
    c = (
        dims.exact_div(t.shape[-3], r * r, opaque=a.opaque_quotients)
        if not isinstance(t.shape[-3], int) or t.shape[-3] % (r * r) == 0
        else None
    )
    if c is None:
        raise ShapeError(f"channels ({t.shape[-3]}) are not divisible by upscale_factor² ({r * r})")
    return t.with_shape(t.shape[:-3] + (c, t.shape[-2] * r, t.shape[-1] * r))


def _pixel_unshuffle(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    _needs_rank(t, t.rank >= 3, "[..., C, H*r, W*r]")
    r = a.int("downscale_factor")
    if _is_int(r) and r <= 0:
        raise ShapeError(
            "`downscale_factor` must be positive",
            arg="downscale_factor",
            hint=hint_for("module", "downscale_factor"),
        )
    for d in t.shape[-2:]:
        if isinstance(d, int) and d % r:
            raise ShapeError(f"height and width must be divisible by downscale_factor ({r})")
    return t.with_shape(
        t.shape[:-3]
        + (
            t.shape[-3] * r * r,
            dims.floordiv(t.shape[-2], r, opaque=a.opaque_quotients),
            dims.floordiv(t.shape[-1], r, opaque=a.opaque_quotients),
        )
    )


layer(
    LayerEntry(
        name="PixelShuffle",
        shape=_pixel_shuffle,
        expects="[B, C*r*r, H, W]",
        ranks=None,
        stateful=False,
        dtype="any",
    )
)
layer(
    LayerEntry(
        name="PixelUnshuffle",
        shape=_pixel_unshuffle,
        expects="[B, C, H*r, W*r]",
        ranks=None,
        stateful=False,
        dtype="any",
    )
)


def _channel_shuffle(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    _needs_rank(t, t.rank > 2, "[B, C, ...]")
    g, c = a.int("groups"), t.shape[1]
    if _is_int(g) and g <= 0:
        raise ShapeError(
            "`groups` must be positive", arg="groups", hint=hint_for("module", "groups")
        )
    if _known(g, c) and c % g:
        raise ShapeError(f"channels ({c}) are not divisible by groups ({g})", arg="groups")
    return t


layer(
    LayerEntry(
        name="ChannelShuffle",
        shape=_channel_shuffle,
        expects="[B, C, ...]",
        stateful=False,
        dtype="any",
    )
)


def pad_shape(t: TensorT, pads: tuple, mode: str) -> TensorT:
    """The output of F.pad (and the padding layers): `pads` are (left, right) pairs from the
    last dimension backwards."""
    if len(pads) % 2:
        raise ShapeError("the padding must have an even length: (left, right) pairs", arg="pad")
    n = len(pads) // 2
    if n > t.rank:
        raise ShapeError(
            f"{len(pads)} padding values pad {n} dimensions, but the input {t} has only {t.rank}",
            arg="pad",
        )
    if mode != "constant" and n and not (n <= 3 and t.rank in (n + 1, n + 2)):
        raise ShapeError(
            f"{mode} padding of {n} dimension{'s' if n > 1 else ''} needs a {n + 1}-d or "
            f"{n + 2}-d input, but gets {t}",
            arg="pad",
        )
    shape_ = list(t.shape)
    outs = []
    for i in range(n):
        j = t.rank - 1 - i
        size, left, right = t.shape[j], pads[2 * i], pads[2 * i + 1]
        out = size + left + right
        if _known(size, left, right):
            if mode == "constant" and size + min(left, 0) + min(right, 0) < 0:
                raise ShapeError(
                    f"negative padding ({left}, {right}) removes more than the input's size "
                    f"{size} along dim {j}",
                    arg="pad",
                )
            _check_mode_padding(mode, size, left, right, j)
            if out < 0:
                raise ShapeError(f"the output would have size {out} along dim {j}", arg="pad")
        outs.append(out)
        shape_[j] = out
    # reflect and replicate padding refuse an output that is empty in every padded dimension
    # (torch checks `width >= 1 || height >= 1 ...`)
    if mode in ("reflect", "replicate") and outs and all(_is_int(v) and v < 1 for v in outs):
        raise ShapeError(f"the output would be empty: sizes {outs}", arg="pad")
    return t.with_shape(tuple(shape_))


_PAD_MODES = {
    "Zero": "constant",
    "Constant": "constant",
    "Reflection": "reflect",
    "Replication": "replicate",
    "Circular": "circular",
}


def _pad_layer(name: str, n: int, mode: str) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        p = a["padding"]
        pads = (p,) * (2 * n) if not isinstance(p, (tuple, list)) else tuple(p)
        if len(pads) != 2 * n:
            raise ShapeError(f"`padding` must be an integer or a tuple of {2 * n}", arg="padding")
        if mode == "circular" and t.rank not in (n + 1, n + 2):
            raise ShapeError(f"needs a {n + 1}-d or {n + 2}-d input, but gets {t}")
        try:
            return pad_shape(t, pads, mode)
        except ShapeError as exc:
            raise ShapeError(exc.message, hint=exc.hint, arg="padding") from None

    layer(
        LayerEntry(
            name=name,
            shape=shape,
            expects=_SPATIAL[n],
            ranks=None if mode == "constant" else (n + 1, n + 2),
            stateful=False,
            types={"padding": "ints"},
        )
    )


for _n in (1, 2, 3):
    for _kind, _mode in _PAD_MODES.items():
        if api.module_signature(f"{_kind}Pad{_n}d") is not None:
            _pad_layer(f"{_kind}Pad{_n}d", _n, _mode)

# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------


def _bn(n: int, lazy: bool = False) -> None:
    prefix = "Lazy" if lazy else ""
    ranks = {1: (2, 3), 2: (4,), 3: (5,)}[n]
    expects = {1: "[B, C] or [B, C, L]", 2: "[B, C, H, W]", 3: "[B, C, D, H, W]"}[n]
    layer(
        LayerEntry(
            name=f"{prefix}BatchNorm{n}d",
            inferred=("num_features",),
            infer=lambda x: {"num_features": x[0].shape[1]},
            shape=lambda a, x: x[0],
            params=lambda a: 2 * a.int("num_features") if a["affine"] else 0,
            buffers=lambda a: 2 * a.int("num_features") + 1 if a["track_running_stats"] else 0,
            expects=expects,
            ranks=ranks,
            types={"momentum": "float?"},
        )
    )
    inorm_ranks = {1: (3, 2), 2: (4, 3), 3: (5, 4)}[n]

    def inorm_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t, c = x[0], a.int("num_features")
        if (a["affine"] or a["track_running_stats"]) and dims.equal(c, t.shape[-n - 1]) is False:
            raise ShapeError(
                f"num_features ({dims.format_dim(c)}) must be the input's channels "
                f"({dims.format_dim(t.shape[-n - 1])})",
                hint="a lazy instance norm takes num_features from dimension 1"
                if lazy and t.rank == n + 1
                else None,
            )
        return t

    layer(
        LayerEntry(
            name=f"{prefix}InstanceNorm{n}d",
            inferred=("num_features",),
            # the lazy module reads dimension 1, even of an input without a batch dimension
            infer=(lambda x: {"num_features": x[0].shape[1]})
            if lazy
            else (lambda x: {"num_features": x[0].shape[-n - 1]}),
            shape=inorm_shape,
            params=lambda a: 2 * a.int("num_features") if a["affine"] else 0,
            buffers=lambda a: 2 * a.int("num_features") + 1 if a["track_running_stats"] else 0,
            expects=_SPATIAL[n],
            ranks=inorm_ranks,
            types={"momentum": "float?"},
        )
    )


for _n in (1, 2, 3):
    _bn(_n)
    if api.module_signature(f"LazyBatchNorm{_n}d") is not None:
        _bn(_n, lazy=True)


def _normalized_shape(a: Args) -> tuple:
    ns = a["normalized_shape"]
    return tuple(ns) if isinstance(ns, (tuple, list)) else (ns,)


def _layernorm_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    ns = _normalized_shape(a)
    _needs_rank(t, t.rank >= 1, "[..., features]")
    if not ns:
        raise ShapeError("`normalized_shape` must not be empty", arg="normalized_shape")
    if len(ns) > t.rank or any(dims.equal(d, e) is False for d, e in zip(ns, t.shape[-len(ns) :])):
        raise ShapeError(
            f"normalized_shape {dims.format_shape(ns)} does not match the last dimensions of {t}",
            arg="normalized_shape",
        )
    return t


layer(
    LayerEntry(
        name="LayerNorm",
        inferred=("normalized_shape",),
        infer=lambda x: {"normalized_shape": _dim_at(x[0], -1)},
        shape=_layernorm_shape,
        params=lambda a: (
            (prod(_normalized_shape(a)) * (2 if a.get("bias", True) else 1))
            if a["elementwise_affine"]
            else 0
        ),
        expects="[..., features]",
        types={"normalized_shape": "dims"},
    )
)

if api.module_signature("RMSNorm") is not None:
    layer(
        LayerEntry(
            name="RMSNorm",
            inferred=("normalized_shape",),
            infer=lambda x: {"normalized_shape": _dim_at(x[0], -1)},
            shape=_layernorm_shape,
            params=lambda a: prod(_normalized_shape(a)) if a["elementwise_affine"] else 0,
            expects="[..., features]",
            types={"normalized_shape": "dims", "eps": "float?"},
        )
    )


def _groupnorm_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    _needs_rank(t, t.rank >= 2, "[B, C, ...]")
    g, c = a.int("num_groups"), a.int("num_channels")
    if isinstance(g, int) and isinstance(c, int) and (g <= 0 or c % g):
        raise ShapeError(
            f"num_channels ({c}) must be divisible by num_groups ({g})", arg="num_groups"
        )
    values = (
        t.shape[0] * dims.floordiv(c, g, opaque=a.opaque_quotients) * prod(t.shape[2:])
        if _known(g)
        else None
    )
    if _known(values) and values == 1:  # F.group_norm's own check
        raise ShapeError(f"there is only one value per group in {t}")
    return t


layer(
    LayerEntry(
        name="GroupNorm",
        inferred=("num_channels",),
        infer=lambda x: {"num_channels": _dim_at(x[0], 1)},
        shape=_groupnorm_shape,
        params=lambda a: 2 * a.int("num_channels") if a["affine"] else 0,
        expects="[B, C, ...]",
        ranks=None,
    )
)


def _lrn_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    _needs_rank(x[0], x[0].rank >= 3, "[B, C, ...] with at least one spatial dimension")
    return x[0]


layer(
    LayerEntry(
        name="LocalResponseNorm",
        shape=_lrn_shape,
        expects="[B, C, ...]",
        ranks=None,
        stateful=False,
    )
)
layer(
    LayerEntry(
        name="CrossMapLRN2d",
        shape=lambda a, x: x[0],
        expects="[B, C, H, W]",
        ranks=(4,),
        stateful=False,
    )
)

# ---------------------------------------------------------------------------------------------
# Dropout and activations
# ---------------------------------------------------------------------------------------------


def dropout_shape(name: str):
    """Dropout keeps the shape; the channel-wise ones need enough dimensions to find channels
    (in training with p > 0: otherwise torch returns the input as it is, except dropout1d)."""
    min_rank = {"dropout2d": 2, "dropout3d": 1, "feature_alpha_dropout": 2}.get(name.lower(), 0)
    if name.lower() == "featurealphadropout":
        min_rank = 2

    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        if name.lower() == "dropout1d":
            _needs_rank(t, t.rank in (2, 3), "[B, C, L] or [C, L]")
        # (with p = 0 or 1, or out of training, torch does not look at the channels)
        active = a.get("p", 0.5) not in (0, 1) and a.get("training", True) is not False
        if active and t.rank < min_rank:
            raise ShapeError(
                f"channel-wise dropout needs at least {min_rank} dimensions, but gets {t}"
            )
        return t

    return shape


for _name, _exp in (
    ("Dropout", ""),
    ("Dropout1d", "[B, C, L]"),
    ("Dropout2d", "[B, C, H, W]"),
    ("Dropout3d", "[B, C, D, H, W]"),
    ("AlphaDropout", ""),
    ("FeatureAlphaDropout", "[B, C, ...]"),
):
    if api.module_signature(_name) is not None:
        layer(
            LayerEntry(
                name=_name,
                shape=dropout_shape(_name),
                ranks=(3, 2) if _name == "Dropout1d" else None,
                expects=_exp,
            )
        )


def _softmax_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    from nndsl.catalog.core import norm_dim

    if a.get("dim") is not None:
        norm_dim(a["dim"], x[0].rank, scalar_ok=True)
    return x[0]


def _prelu_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    n = a.int("num_parameters")
    if _is_int(n) and n != 1:
        if t.rank == 0:
            raise ShapeError(f"a 0-d input takes num_parameters=1, not {n}", arg="num_parameters")
        c = t.shape[1] if t.rank >= 2 else 1
        if dims.equal(c, n) is False:
            raise ShapeError(
                f"num_parameters ({n}) must be 1 or the number of channels (dimension 1 of "
                f"{t}: {dims.format_dim(c)})",
                arg="num_parameters",
            )
    return t


_PARAMETRIC = {"PReLU": lambda a: a.int("num_parameters")}
_ACTIVATION_SHAPES = {
    "Softmax": _softmax_shape,
    "LogSoftmax": _softmax_shape,
    "Softmin": _softmax_shape,
    "PReLU": _prelu_shape,
}
for _name in sorted(n for n in api.module_names() if api.module_kind(n) == "activation"):
    if _name in ("MultiheadAttention", "GLU"):
        continue
    layer(
        LayerEntry(
            name=_name,
            shape=_ACTIVATION_SHAPES.get(_name, lambda a, x: x[0]),
            params=_PARAMETRIC.get(_name, lambda a: 0),
            stateful=_name in _PARAMETRIC,
            ranks=(4, 3) if _name == "Softmax2d" else None,
            expects="[B, C, H, W]" if _name == "Softmax2d" else "",
            types={"beta": "float", "threshold": "float"} if _name == "Softplus" else {},
        )
    )


def _glu_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    from nndsl.catalog.core import norm_dim

    t = x[0]
    if t.rank == 0:
        raise ShapeError("GLU does not take a 0-d tensor: it halves a dimension")
    d = norm_dim(a["dim"], t.rank)
    size = t.shape[d]
    if isinstance(size, int) and size % 2:
        raise ShapeError(f"GLU halves dimension {d}, but its size {size} is odd")
    shape = list(t.shape)
    shape[d] = dims.floordiv(size, 2, opaque=a.opaque_quotients)
    return t.with_shape(tuple(shape))


layer(LayerEntry(name="GLU", shape=_glu_shape, stateful=False))


def _pair_inputs(x: tuple[TensorT, ...]) -> TensorT:
    from nndsl.catalog.core import broadcast

    return broadcast(x[0], x[1], "the two inputs")


def cosine_similarity_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    from nndsl.catalog.core import norm_dim

    b = _pair_inputs(x)
    if b.rank == 0:
        norm_dim(a["dim"], 0, scalar_ok=True)
        return b
    d = norm_dim(a["dim"], b.rank)
    return b.with_shape(b.shape[:d] + b.shape[d + 1 :])


def pairwise_distance_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    b = _pair_inputs(x)
    if b.rank == 0:
        return b
    keep = bool(a.get("keepdim"))
    return b.with_shape(b.shape[:-1] + ((1,) if keep else ()))


layer(
    LayerEntry(
        name="CosineSimilarity",
        shape=cosine_similarity_shape,
        inputs=("x1", "x2"),
        required_inputs=2,
        expects="two tensors of broadcastable shapes",
        stateful=False,
    )
)
layer(
    LayerEntry(
        name="PairwiseDistance",
        shape=pairwise_distance_shape,
        inputs=("x1", "x2"),
        required_inputs=2,
        expects="[N, D] and [N, D]",
        stateful=False,
    )
)

# ---------------------------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------------------------


def _check_padding_idx(a: Args) -> None:
    p, n = a.get("padding_idx"), a.int("num_embeddings")
    if _known(p, n) and not -n <= p < n:
        raise ShapeError(
            f"padding_idx ({p}) must be within num_embeddings ({n})", arg="padding_idx"
        )


def _embedding_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    _check_padding_idx(a)
    return TensorT(t.shape + (a.int("embedding_dim"),), "float32")


layer(
    LayerEntry(
        name="Embedding",
        shape=_embedding_shape,
        params=lambda a: a.int("num_embeddings") * a.int("embedding_dim"),
        expects="long[...] token ids",
        dtype="long",
    )
)


def _embedding_bag_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    _check_padding_idx(a)
    offsets = x[1] if len(x) > 1 else None
    if t.rank == 2:
        if offsets is not None:
            raise ShapeError(
                "a long[B, N] input is a batch of bags of the same length: it takes no offsets"
            )
        return TensorT((t.shape[0], a.int("embedding_dim")), "float32")
    if t.rank != 1:
        raise ShapeError(f"EmbeddingBag needs a long[B, N] or long[N] input, but gets {t}")
    if offsets is None:
        raise ShapeError(
            "a long[N] input needs offsets, the start of each bag: `(ids, offsets) -> EmbeddingBag(...)`"
        )
    if offsets.rank != 1 or offsets.dtype not in ("int64", "int32"):
        raise ShapeError(f"the offsets must be a long[B] tensor, but are {offsets}")
    bags = offsets.shape[0] - (1 if a.get("include_last_offset") else 0)
    return TensorT((bags, a.int("embedding_dim")), "float32")


layer(
    LayerEntry(
        name="EmbeddingBag",
        shape=_embedding_bag_shape,
        params=lambda a: a.int("num_embeddings") * a.int("embedding_dim"),
        expects="long[B, N], or long[N] with offsets",
        dtype="long",
        ranks=(2, 1),
        inputs=("input", "offsets"),
    )
)

# ---------------------------------------------------------------------------------------------
# Recurrent layers: RNN, LSTM, GRU.  Output (out, h) or, for LSTM, (out, (h, c)).
# ---------------------------------------------------------------------------------------------

_GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _rnn(name: str) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]):
        t = x[0]
        hidden = a.int("hidden_size")
        proj = a.get("proj_size", 0) or 0
        dirs = 2 if a["bidirectional"] else 1
        layers = a.int("num_layers")
        if _is_int(layers) and layers < 1:
            raise ShapeError(
                "`num_layers` must be at least 1",
                arg="num_layers",
                hint=hint_for("module", "num_layers"),
            )
        if _known(proj, hidden) and not 0 <= proj < hidden:
            raise ShapeError(
                f"proj_size ({proj}) must be smaller than hidden_size ({hidden})", arg="proj_size"
            )
        out_size = proj if proj else hidden
        if t.rank == 3:
            b, seq = (t.shape[0], t.shape[1]) if a["batch_first"] else (t.shape[1], t.shape[0])
            out = (b, seq, dirs * out_size) if a["batch_first"] else (seq, b, dirs * out_size)
            h = TensorT((dirs * layers, b, out_size), t.dtype)
        else:
            out = (t.shape[0], dirs * out_size)
            h = TensorT((dirs * layers, out_size), t.dtype)
        if len(x) > 1 and x[1] is not None:
            hx = x[1]
            if name == "LSTM":
                raise ShapeError("LSTM's initial state is a pair (h0, c0), not one tensor")
            if hx.rank != h.rank or any(
                dims.equal(p, q) is False for p, q in zip(hx.shape, h.shape)
            ):
                raise ShapeError(f"the initial hidden state must be {h}, but is {hx}")
        if name == "LSTM":
            c = TensorT(h.shape[:-1] + (hidden,), t.dtype)
            return (t.with_shape(out), (h, c))
        return (t.with_shape(out), h)

    def params(a: Args) -> Dim:
        gates = _GATES[name]
        hidden = a.int("hidden_size")
        proj = a.get("proj_size", 0) or 0
        dirs = 2 if a["bidirectional"] else 1
        layers = _concrete(a.int("num_layers"), "num_layers")

        def per(inp: Dim) -> Dim:  # one direction of one layer
            n = gates * hidden * inp + gates * hidden * (proj or hidden)
            if a["bias"]:
                n = n + 2 * gates * hidden
            if proj:
                n = n + proj * hidden
            return n

        if layers < 1:
            return 0
        # the layers after the first are alike: a product, not a loop (num_layers may be large)
        rest = per((proj or hidden) * dirs) * (layers - 1) if layers > 1 else 0
        return dirs * (per(a.int("input_size")) + rest)

    layer(
        LayerEntry(
            name=name,
            inferred=("input_size",),
            infer=lambda x: {"input_size": x[0].shape[-1]},
            shape=shape,
            params=params,
            expects="[B, T, features] with batch_first=true, else [T, B, features]",
            ranks=(3, 2),
            inputs=("input", "hx"),
            required_inputs=1,
        )
    )


def _concrete(v: Dim, what: str) -> int:
    if not isinstance(v, int):
        raise ShapeError(f"`{what}` must be known when the spec is checked")
    return v


for _name in _GATES:
    _rnn(_name)


def _cell(name: str, gates: int) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]):
        t = x[0]
        h = t.with_shape(t.shape[:-1] + (a.int("hidden_size"),))
        if len(x) > 1 and x[1] is not None:
            hx = x[1]
            if name == "LSTMCell":
                raise ShapeError("LSTMCell's initial state is a pair (h0, c0), not one tensor")
            if hx.rank != h.rank or any(
                dims.equal(p, q) is False for p, q in zip(hx.shape, h.shape)
            ):
                raise ShapeError(f"the initial hidden state must be {h}, but is {hx}")
        return (h, h) if name == "LSTMCell" else h

    layer(
        LayerEntry(
            name=name,
            inferred=("input_size",),
            infer=lambda x: {"input_size": x[0].shape[-1]},
            shape=shape,
            params=lambda a: (
                gates * a.int("hidden_size") * (a.int("input_size") + a.int("hidden_size"))
                + (2 * gates * a.int("hidden_size") if a["bias"] else 0)
            ),
            expects="[B, features]",
            ranks=(2, 1),
            inputs=("input", "hx"),
        )
    )


_cell("RNNCell", 1)
_cell("LSTMCell", 4)
_cell("GRUCell", 3)

# ---------------------------------------------------------------------------------------------
# Attention and transformers
# ---------------------------------------------------------------------------------------------


def _mha_params(a: Args) -> Dim:
    e = a.int("embed_dim")
    kdim = a.get("kdim") or e
    vdim = a.get("vdim") or e
    total: Dim = e * e + kdim * e + vdim * e  # q, k, v projections (packed when kdim == vdim == e)
    if a["bias"]:
        total = total + 3 * e + e  # in_proj_bias and out_proj.bias
    total = total + e * e  # out_proj.weight
    if a["add_bias_kv"]:
        total = total + 2 * e
    return total


def _check_divisible(d: Dim, h: Dim, what: str, arg: str) -> None:
    if _is_int(h) and h <= 0:
        raise ShapeError(f"`{arg}` must be positive", arg=arg, hint=hint_for("module", arg))
    if _known(d, h) and d % h:
        raise ShapeError(f"{what} ({d}) must be divisible by {arg} ({h})", arg=arg)


def _differ(p: TensorT, q: TensorT, idx: tuple[int, ...]) -> bool:
    return any(dims.equal(p.shape[i], q.shape[i]) is False for i in idx)


def attention_shape(
    q: TensorT,
    k: TensorT,
    v: TensorT,
    *,
    embed_dim: Dim,
    kdim: Dim,
    vdim: Dim,
    batch_first: bool,
    extra_keys: int = 0,
) -> tuple[TensorT, TensorT]:
    """(output, averaged attention weights) of nn.MultiheadAttention's forward."""
    if q.rank not in (2, 3):
        raise ShapeError(f"the query must be [L, E] or batched [B, L, E], but is {q}")
    for what, t in (("key", k), ("value", v)):
        if t.rank != q.rank:
            raise ShapeError(f"the {what} {t} must have the query's rank ({q.rank}), query {q}")
    for what, t, want in (("query", q, embed_dim), ("key", k, kdim), ("value", v, vdim)):
        if dims.equal(t.shape[-1], want) is False:
            raise ShapeError(
                f"the {what}'s last dimension must be {dims.format_dim(want)}, but it is {t}"
            )
    if _differ(k, v, tuple(range(k.rank - 1))):
        raise ShapeError(f"the key {k} and the value {v} must have the same length and batch")
    if q.rank == 3:
        bq, bk = (0, 0) if batch_first else (1, 1)
        if dims.equal(q.shape[bq], k.shape[bk]) is False:
            raise ShapeError(f"the query {q} and the key {k} must have the same batch size")
        if batch_first:
            b, lq, lk = q.shape[0], q.shape[1], k.shape[1]
        else:
            lq, b, lk = q.shape[0], q.shape[1], k.shape[0]
        weights = TensorT((b, lq, lk + extra_keys), q.dtype)
    else:
        weights = TensorT((q.shape[0], k.shape[0] + extra_keys), q.dtype)
    return q, weights


def _mha_shape(a: Args, x: tuple[TensorT, ...]):
    q = x[0]
    e = a.int("embed_dim")
    _check_divisible(e, a.int("num_heads"), "embed_dim", "num_heads")
    k = x[1] if len(x) > 1 and x[1] is not None else q
    v = x[2] if len(x) > 2 and x[2] is not None else k
    extra = (1 if a["add_bias_kv"] else 0) + (1 if a["add_zero_attn"] else 0)
    return attention_shape(
        q,
        k,
        v,
        embed_dim=e,
        kdim=a.get("kdim") or e,
        vdim=a.get("vdim") or e,
        batch_first=bool(a["batch_first"]),
        extra_keys=extra,
    )


layer(
    LayerEntry(
        name="MultiheadAttention",
        inferred=("embed_dim",),
        infer=lambda x: {"embed_dim": x[0].shape[-1]},
        shape=_mha_shape,
        params=_mha_params,
        expects="query [B, L, E] with batch_first=true, else [L, B, E]",
        ranks=(3, 2),
        inputs=("query", "key", "value"),
        required_inputs=1,
    )
)


def _ln_params(d: Dim, a: Args) -> Dim:
    return 2 * d if a.get("bias", True) else d


def _encoder_layer_params(a: Args) -> Dim:
    d, ff = a.int("d_model"), a.int("dim_feedforward")
    bias = a.get("bias", True)
    attn = 4 * d * d + (4 * d if bias else 0)
    lin = 2 * d * ff + ((ff + d) if bias else 0)
    return attn + lin + 2 * _ln_params(d, a)


def _decoder_layer_params(a: Args) -> Dim:
    d, ff = a.int("d_model"), a.int("dim_feedforward")
    bias = a.get("bias", True)
    attn = 4 * d * d + (4 * d if bias else 0)
    lin = 2 * d * ff + ((ff + d) if bias else 0)
    return 2 * attn + lin + 3 * _ln_params(d, a)


def _check_heads(a: Args) -> None:
    _check_divisible(a.int("d_model"), a.int("nhead"), "d_model", "nhead")


def _check_layers(a: Args, key: str) -> None:
    n = a.int(key)
    if _is_int(n) and n < 1:
        raise ShapeError(f"`{key}` must be at least 1", arg=key, hint=hint_for("module", key))


def _seq(t: TensorT, d: Dim, what: str) -> None:
    if t.rank not in (2, 3):
        raise ShapeError(f"{what} must be [T, d_model] or batched [B, T, d_model], but is {t}")
    if dims.equal(t.shape[-1], d) is False:
        raise ShapeError(
            f"{what}'s last dimension must be d_model ({dims.format_dim(d)}), but it is {t}"
        )


def _memory(tgt: TensorT, memory: TensorT, d: Dim, batch_first: bool) -> None:
    """A decoder's target and memory: same rank, same batch, d_model features."""
    _seq(tgt, d, "the target")
    _seq(memory, d, "the memory")
    if tgt.rank != memory.rank:
        raise ShapeError(f"the target {tgt} and the memory {memory} must have the same rank")
    if tgt.rank == 3:
        i = 0 if batch_first else 1
        if dims.equal(tgt.shape[i], memory.shape[i]) is False:
            raise ShapeError(
                f"the target {tgt} and the memory {memory} must have the same batch size"
            )


def _encoder_layer_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    _check_heads(a)
    _seq(x[0], a.int("d_model"), "the input")
    return x[0]


def _decoder_layer_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    _check_heads(a)
    _memory(x[0], x[1], a.int("d_model"), bool(a.get("batch_first")))
    return x[0]


layer(
    LayerEntry(
        name="TransformerEncoderLayer",
        inferred=("d_model",),
        infer=lambda x: {"d_model": x[0].shape[-1]},
        shape=_encoder_layer_shape,
        params=_encoder_layer_params,
        expects="[B, T, d_model] with batch_first=true, else [T, B, d_model]",
        ranks=(3, 2),
        inputs=("src", "src_mask", "src_key_padding_mask"),
        types={"activation": "any"},
    )
)

layer(
    LayerEntry(
        name="TransformerDecoderLayer",
        inferred=("d_model",),
        infer=lambda x: {"d_model": x[0].shape[-1]},
        shape=_decoder_layer_shape,
        params=_decoder_layer_params,
        expects="tgt [B, T, d_model] and memory [B, S, d_model] (batch_first=true)",
        ranks=(3, 2),
        inputs=("tgt", "memory"),
        required_inputs=2,
        types={"activation": "any"},
    )
)


def _stack_layer(a: Args, key: str) -> LayerValue:
    v = a[key]
    if not isinstance(v, LayerValue):
        raise ShapeError(f"`{key}` must be a layer such as TransformerEncoderLayer(...)", arg=key)
    return v


def _stack_params(key: str):
    def params(a: Args) -> Dim:
        from nndsl.catalog.core import LAYERS

        inner = _stack_layer(a, key)
        n = a.int("num_layers")
        total = n * LAYERS[inner.name].params(inner.args)
        norm = a.get("norm")
        if isinstance(norm, LayerValue):
            total = total + LAYERS[norm.name].params(norm.args)
        return total

    return params


def _stack_shape(key: str):
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        from nndsl.catalog.core import LAYERS

        inner = _stack_layer(a, key)
        _check_layers(a, "num_layers")
        out = LAYERS[inner.name].shape(inner.args, x)
        norm = a.get("norm")
        if isinstance(norm, LayerValue):
            LAYERS[norm.name].shape(norm.args, (out,))
        return out

    return shape


layer(
    LayerEntry(
        name="TransformerEncoder",
        shape=_stack_shape("encoder_layer"),
        params=_stack_params("encoder_layer"),
        expects="[B, T, d_model] with batch_first=true, else [T, B, d_model]",
        ranks=(3, 2),
        inputs=("src", "mask", "src_key_padding_mask"),
        layer_args=("encoder_layer", "norm"),
        types={"encoder_layer": "layer", "norm": "any"},
    )
)

layer(
    LayerEntry(
        name="TransformerDecoder",
        shape=_stack_shape("decoder_layer"),
        params=_stack_params("decoder_layer"),
        expects="tgt [B, T, d_model] and memory [B, S, d_model]",
        ranks=(3, 2),
        inputs=("tgt", "memory"),
        required_inputs=2,
        layer_args=("decoder_layer", "norm"),
        types={"decoder_layer": "layer", "norm": "any"},
    )
)


def _transformer_params(a: Args) -> Dim:
    d = a.int("d_model")
    inner = Args(a)
    enc = _concrete(a.int("num_encoder_layers"), "num_encoder_layers") * _encoder_layer_params(
        inner
    )
    dec = _concrete(a.int("num_decoder_layers"), "num_decoder_layers") * _decoder_layer_params(
        inner
    )
    return enc + dec + 2 * _ln_params(d, a)


def _transformer_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    _check_heads(a)
    _check_layers(a, "num_encoder_layers")
    _check_layers(a, "num_decoder_layers")
    src, tgt = x[0], x[1]
    d = a.int("d_model")
    _seq(src, d, "the source")
    _seq(tgt, d, "the target")
    if src.rank != tgt.rank:
        raise ShapeError(f"the source {src} and the target {tgt} must have the same rank")
    if src.rank == 3:
        i = 0 if a.get("batch_first") else 1
        if dims.equal(src.shape[i], tgt.shape[i]) is False:
            raise ShapeError(f"the source {src} and the target {tgt} must have the same batch size")
    return tgt


layer(
    LayerEntry(
        name="Transformer",
        shape=_transformer_shape,
        params=_transformer_params,
        expects="src [B, S, d_model] and tgt [B, T, d_model] (batch_first=true)",
        ranks=(3, 2),
        inputs=("src", "tgt"),
        required_inputs=2,
        types={"custom_encoder": "any", "custom_decoder": "any", "activation": "any"},
    )
)
