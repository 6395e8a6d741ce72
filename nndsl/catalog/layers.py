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
from nndsl.dims import Dim

# ---------------------------------------------------------------------------------------------
# Linear layers
# ---------------------------------------------------------------------------------------------


def _features(x: tuple[TensorT, ...]) -> dict:
    return {"in_features": x[0].shape[-1]}


def _linear_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    return x[0].with_shape(x[0].shape[:-1] + (a.int("out_features"),))


layer(
    LayerEntry(
        name="Linear",
        inferred=("in_features",),
        infer=_features,
        shape=_linear_shape,
        params=lambda a: (
            a.int("in_features") * a.int("out_features")
            + (a.int("out_features") if a["bias"] else 0)
        ),
        expects="[..., features]",
        ranks=None,
    )
)

layer(
    LayerEntry(
        name="Bilinear",
        inferred=("in1_features", "in2_features"),
        infer=lambda x: {"in1_features": x[0].shape[-1], "in2_features": x[1].shape[-1]},
        shape=lambda a, x: x[0].with_shape(x[0].shape[:-1] + (a.int("out_features"),)),
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
    sizes = tuple(a["unflattened_size"])
    known = prod([s for s in sizes if s != -1])
    if sizes.count(-1) > 1:
        raise ShapeError("only one size may be -1", arg="unflattened_size")
    if -1 in sizes:
        rest = dims.exact_div(shape[d], known)
        sizes = tuple(rest if s == -1 else s for s in sizes)
    elif dims.equal(prod(sizes), shape[d]) is False:
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


def _check_groups(a: Args, cin: Dim, cout: Dim) -> Dim:
    g = a.int("groups")
    if isinstance(g, int) and g <= 0:
        raise ShapeError("`groups` must be positive", arg="groups")
    for what, c in (("in_channels", cin), ("out_channels", cout)):
        if isinstance(g, int) and isinstance(c, int) and c % g:
            raise ShapeError(f"{what} ({c}) is not divisible by groups ({g})", arg="groups")
    return g


def _conv(n: int) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        cout = a.int("out_channels")
        _check_groups(a, a.int("in_channels"), cout)
        k, s, d = a.ints("kernel_size", n), a.ints("stride", n), a.ints("dilation", n)
        pad = a["padding"]
        out: list[Dim] = []
        if pad == "same":
            if any(v != 1 for v in s):
                raise ShapeError('padding="same" needs stride 1', arg="padding")
            out = list(t.shape[2:])
        else:
            p = (0,) * n if pad == "valid" else a.ints("padding", n)
            for i in range(n):
                out.append(
                    positive(
                        conv_out(t.shape[2 + i], k[i], s[i], p[i], d[i]),
                        f"output size along dim {2 + i}",
                    )
                )
        return t.with_shape((t.shape[0], cout, *out))

    def params(a: Args) -> Dim:
        g = _check_groups(a, a.int("in_channels"), a.int("out_channels"))
        w = (
            a.int("out_channels")
            * dims.exact_div(a.int("in_channels"), g)
            * prod(a.ints("kernel_size", n))
        )
        return w + (a.int("out_channels") if a["bias"] else 0)

    layer(
        LayerEntry(
            name=f"Conv{n}d",
            inferred=("in_channels",),
            infer=lambda x: {"in_channels": x[0].shape[1]},
            shape=shape,
            params=params,
            expects=_SPATIAL[n],
            ranks=(n + 2,),
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
        cout = a.int("out_channels")
        _check_groups(a, a.int("in_channels"), cout)
        k, s, p, d = (
            a.ints("kernel_size", n),
            a.ints("stride", n),
            a.ints("padding", n),
            a.ints("dilation", n),
        )
        op = a.ints("output_padding", n)
        out = [
            positive(
                (t.shape[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1,
                f"output size along dim {2 + i}",
            )
            for i in range(n)
        ]
        return t.with_shape((t.shape[0], cout, *out))

    def tparams(a: Args) -> Dim:
        g = _check_groups(a, a.int("in_channels"), a.int("out_channels"))
        w = (
            a.int("in_channels")
            * dims.exact_div(a.int("out_channels"), g)
            * prod(a.ints("kernel_size", n))
        )
        return w + (a.int("out_channels") if a["bias"] else 0)

    layer(
        LayerEntry(
            name=f"ConvTranspose{n}d",
            inferred=("in_channels",),
            infer=lambda x: {"in_channels": x[0].shape[1]},
            shape=tshape,
            params=tparams,
            expects=_SPATIAL[n],
            ranks=(n + 2,),
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


def _pool(n: int, kind: str) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        k = a.ints("kernel_size", n)
        s = a.ints("stride", n) if a.get("stride") is not None else k
        p = a.ints("padding", n)
        d = a.ints("dilation", n) if "dilation" in a else (1,) * n
        for i in range(n):
            if isinstance(p[i], int) and isinstance(k[i], int) and p[i] * 2 > k[i]:
                raise ShapeError(
                    f"padding ({p[i]}) should be at most half the kernel size ({k[i]})",
                    arg="padding",
                )
        out = [
            positive(
                conv_out(t.shape[-n + i], k[i], s[i], p[i], d[i], ceil=bool(a.get("ceil_mode"))),
                f"output size along dim {t.rank - n + i}",
            )
            for i in range(n)
        ]
        return t.with_shape(t.shape[:-n] + tuple(out))

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

    def ashape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        size = a["output_size"]
        sizes = (size,) * n if not isinstance(size, (tuple, list)) else tuple(size)
        if len(sizes) != n:
            raise ShapeError(
                f"`output_size` must be an integer or a tuple of {n}", arg="output_size"
            )
        out = [t.shape[-n + i] if v is None else v for i, v in enumerate(sizes)]
        return t.with_shape(t.shape[:-n] + tuple(out))

    layer(
        LayerEntry(
            name=f"Adaptive{kind}Pool{n}d",
            shape=ashape,
            expects=_SPATIAL[n],
            ranks=(n + 2, n + 1),
            stateful=False,
        )
    )


for _n in (1, 2, 3):
    _conv(_n)
    _pool(_n, "Max")
    _pool(_n, "Avg")


def _lppool(n: int) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        k = a.ints("kernel_size", n)
        s = a.ints("stride", n) if a.get("stride") is not None else k
        out = [
            positive(
                conv_out(t.shape[-n + i], k[i], s[i], 0, 1, ceil=bool(a.get("ceil_mode"))),
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
        )
    )


for _n in (1, 2, 3):
    _lppool(_n)


def _upsample_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    n = t.rank - 2
    if n < 1:
        raise ShapeError("Upsample needs a [B, C, ...] input with spatial dimensions")
    size, scale = a.get("size"), a.get("scale_factor")
    if (size is None) == (scale is None):
        raise ShapeError("give exactly one of `size` and `scale_factor`")
    if size is not None:
        sizes = tuple(size) if isinstance(size, (tuple, list)) else (size,) * n
        return t.with_shape(t.shape[:2] + sizes)
    scales = tuple(scale) if isinstance(scale, (tuple, list)) else (scale,) * n
    out = []
    for d, f in zip(t.shape[2:], scales):
        if isinstance(f, bool):
            raise ShapeError("`scale_factor` must be a number", arg="scale_factor")
        if isinstance(f, int) or (isinstance(f, float) and f.is_integer()):
            out.append(d * int(f))
        elif isinstance(d, int):
            out.append(int(d * f))
        else:
            raise ShapeError(
                "a fractional `scale_factor` needs a known input size", arg="scale_factor"
            )
    return t.with_shape(t.shape[:2] + tuple(out))


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


def _pixel_shuffle(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    r = a.int("upscale_factor")
    c = (
        dims.exact_div(t.shape[-3], r * r)
        if not isinstance(t.shape[-3], int) or t.shape[-3] % (r * r) == 0
        else None
    )
    if c is None:
        raise ShapeError(f"channels ({t.shape[-3]}) are not divisible by upscale_factor² ({r * r})")
    return t.with_shape(t.shape[:-3] + (c, t.shape[-2] * r, t.shape[-1] * r))


def _pixel_unshuffle(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    r = a.int("downscale_factor")
    for d in t.shape[-2:]:
        if isinstance(d, int) and d % r:
            raise ShapeError(f"height and width must be divisible by downscale_factor ({r})")
    return t.with_shape(
        t.shape[:-3]
        + (t.shape[-3] * r * r, dims.floordiv(t.shape[-2], r), dims.floordiv(t.shape[-1], r))
    )


layer(
    LayerEntry(
        name="PixelShuffle",
        shape=_pixel_shuffle,
        expects="[B, C*r*r, H, W]",
        ranks=(4, 3),
        stateful=False,
        dtype="any",
    )
)
layer(
    LayerEntry(
        name="PixelUnshuffle",
        shape=_pixel_unshuffle,
        expects="[B, C, H*r, W*r]",
        ranks=(4, 3),
        stateful=False,
        dtype="any",
    )
)


def _pad_layer(name: str, n: int, rank_from: int) -> None:
    def shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
        t = x[0]
        p = a["padding"]
        pads = (p,) * (2 * n) if not isinstance(p, (tuple, list)) else tuple(p)
        if len(pads) != 2 * n:
            raise ShapeError(f"`padding` must be an integer or a tuple of {2 * n}", arg="padding")
        shape_ = list(t.shape)
        for i in range(n):
            shape_[-1 - i] = shape_[-1 - i] + pads[2 * i] + pads[2 * i + 1]
        return t.with_shape(tuple(shape_))

    layer(
        LayerEntry(
            name=name,
            shape=shape,
            expects=_SPATIAL[n],
            ranks=(n + 1, n + 2),
            stateful=False,
            types={"padding": "ints"},
        )
    )


for _n in (1, 2, 3):
    for _kind in ("Zero", "Constant", "Reflection", "Replication", "Circular"):
        if _kind == "Zero" and _n == 1 and api.module_signature("ZeroPad1d") is None:
            continue
        _pad_layer(f"{_kind}Pad{_n}d", _n, _n + 1)

# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------


def _bn(n: int) -> None:
    ranks = {1: (2, 3), 2: (4,), 3: (5,)}[n]
    expects = {1: "[B, C] or [B, C, L]", 2: "[B, C, H, W]", 3: "[B, C, D, H, W]"}[n]
    layer(
        LayerEntry(
            name=f"BatchNorm{n}d",
            inferred=("num_features",),
            infer=lambda x: {"num_features": x[0].shape[1]},
            shape=lambda a, x: x[0],
            params=lambda a: 2 * a.int("num_features") if a["affine"] else 0,
            buffers=lambda a: 2 * a.int("num_features") + 1 if a["track_running_stats"] else 0,
            expects=expects,
            ranks=ranks,
        )
    )
    inorm_ranks = {1: (3, 2), 2: (4, 3), 3: (5, 4)}[n]
    layer(
        LayerEntry(
            name=f"InstanceNorm{n}d",
            inferred=("num_features",),
            infer=lambda x: {"num_features": x[0].shape[-n - 1]},
            shape=lambda a, x: x[0],
            params=lambda a: 2 * a.int("num_features") if a["affine"] else 0,
            buffers=lambda a: 2 * a.int("num_features") if a["track_running_stats"] else 0,
            expects=_SPATIAL[n],
            ranks=inorm_ranks,
        )
    )


for _n in (1, 2, 3):
    _bn(_n)


def _normalized_shape(a: Args) -> tuple:
    ns = a["normalized_shape"]
    return tuple(ns) if isinstance(ns, (tuple, list)) else (ns,)


def _layernorm_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
    ns = _normalized_shape(a)
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
        infer=lambda x: {"normalized_shape": x[0].shape[-1]},
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
            infer=lambda x: {"normalized_shape": x[0].shape[-1]},
            shape=_layernorm_shape,
            params=lambda a: prod(_normalized_shape(a)) if a["elementwise_affine"] else 0,
            expects="[..., features]",
            types={"normalized_shape": "dims", "eps": "float?"},
        )
    )


def _groupnorm_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    g, c = a.int("num_groups"), a.int("num_channels")
    if isinstance(g, int) and isinstance(c, int) and (g <= 0 or c % g):
        raise ShapeError(
            f"num_channels ({c}) must be divisible by num_groups ({g})", arg="num_groups"
        )
    return x[0]


layer(
    LayerEntry(
        name="GroupNorm",
        inferred=("num_channels",),
        infer=lambda x: {"num_channels": x[0].shape[1]},
        shape=_groupnorm_shape,
        params=lambda a: 2 * a.int("num_channels") if a["affine"] else 0,
        expects="[B, C, ...]",
        ranks=(2, 3, 4, 5),
    )
)

layer(
    LayerEntry(
        name="LocalResponseNorm",
        shape=lambda a, x: x[0],
        expects="[B, C, ...]",
        ranks=(3, 4, 5),
        stateful=False,
    )
)

# ---------------------------------------------------------------------------------------------
# Dropout and activations
# ---------------------------------------------------------------------------------------------

for _name, _ranks, _exp in (
    ("Dropout", None, ""),
    ("Dropout1d", (3, 2), "[B, C, L]"),
    ("Dropout2d", (4, 3), "[B, C, H, W]"),
    ("Dropout3d", (5, 4), "[B, C, D, H, W]"),
    ("AlphaDropout", None, ""),
    ("FeatureAlphaDropout", None, ""),
):
    if api.module_signature(_name) is not None:
        layer(LayerEntry(name=_name, shape=lambda a, x: x[0], ranks=_ranks, expects=_exp))


def _softmax_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    from nndsl.catalog.core import norm_dim

    if a.get("dim") is not None:
        norm_dim(a["dim"], x[0].rank)
    return x[0]


_PARAMETRIC = {"PReLU": lambda a: a.int("num_parameters")}
for _name in sorted(n for n in api.module_names() if api.module_kind(n) == "activation"):
    if _name in ("MultiheadAttention", "GLU"):
        continue
    layer(
        LayerEntry(
            name=_name,
            shape=_softmax_shape
            if _name in ("Softmax", "LogSoftmax", "Softmin")
            else lambda a, x: x[0],
            params=_PARAMETRIC.get(_name, lambda a: 0),
            stateful=_name in _PARAMETRIC,
        )
    )


def _glu_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    from nndsl.catalog.core import norm_dim

    t = x[0]
    d = norm_dim(a["dim"], t.rank)
    size = t.shape[d]
    if isinstance(size, int) and size % 2:
        raise ShapeError(f"GLU halves dimension {d}, but its size {size} is odd")
    shape = list(t.shape)
    shape[d] = dims.floordiv(size, 2)
    return t.with_shape(tuple(shape))


layer(LayerEntry(name="GLU", shape=_glu_shape, stateful=False))

# ---------------------------------------------------------------------------------------------
# Embeddings
# ---------------------------------------------------------------------------------------------


def _embedding_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    t = x[0]
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
    if t.rank != 2:
        raise ShapeError(f"EmbeddingBag without offsets needs a long[B, N] input, but gets {t}")
    return TensorT((t.shape[0], a.int("embedding_dim")), "float32")


layer(
    LayerEntry(
        name="EmbeddingBag",
        shape=_embedding_bag_shape,
        params=lambda a: a.int("num_embeddings") * a.int("embedding_dim"),
        expects="long[B, N]",
        dtype="long",
        ranks=(2,),
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
        out_size = proj if proj else hidden
        if t.rank == 3:
            b, seq = (t.shape[0], t.shape[1]) if a["batch_first"] else (t.shape[1], t.shape[0])
            out = (b, seq, dirs * out_size) if a["batch_first"] else (seq, b, dirs * out_size)
            h = TensorT((dirs * layers, b, out_size), t.dtype)
        else:
            out = (t.shape[0], dirs * out_size)
            h = TensorT((dirs * layers, out_size), t.dtype)
        if name == "LSTM":
            c = TensorT(h.shape[:-1] + (hidden,), t.dtype)
            return (t.with_shape(out), (h, c))
        return (t.with_shape(out), h)

    def params(a: Args) -> Dim:
        gates = _GATES[name]
        hidden = a.int("hidden_size")
        proj = a.get("proj_size", 0) or 0
        dirs = 2 if a["bidirectional"] else 1
        total: Dim = 0
        for layer_i in range(_concrete(a.int("num_layers"), "num_layers")):
            inp = a.int("input_size") if layer_i == 0 else (proj or hidden) * dirs
            per = gates * hidden * inp + gates * hidden * (proj or hidden)
            if a["bias"]:
                per = per + 2 * gates * hidden
            if proj:
                per = per + proj * hidden
            total = total + dirs * per
        return total

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


def _mha_shape(a: Args, x: tuple[TensorT, ...]):
    q = x[0]
    e = a.int("embed_dim")
    h = a.int("num_heads")
    if isinstance(e, int) and isinstance(h, int) and e % h:
        raise ShapeError(f"embed_dim ({e}) must be divisible by num_heads ({h})", arg="num_heads")
    k = x[1] if len(x) > 1 and x[1] is not None else q
    if q.rank == 3:
        if a["batch_first"]:
            b, lq, lk = q.shape[0], q.shape[1], k.shape[1]
        else:
            lq, b, lk = q.shape[0], q.shape[1], k.shape[0]
        weights = TensorT((b, lq, lk), q.dtype)
    else:
        weights = TensorT((q.shape[0], k.shape[0]), q.dtype)
    return (q, weights)


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
    d, h = a.int("d_model"), a.int("nhead")
    if isinstance(d, int) and isinstance(h, int) and d % h:
        raise ShapeError(f"d_model ({d}) must be divisible by nhead ({h})", arg="nhead")


def _encoder_layer_shape(a: Args, x: tuple[TensorT, ...]) -> TensorT:
    _check_heads(a)
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
        shape=_encoder_layer_shape,
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


layer(
    LayerEntry(
        name="TransformerEncoder",
        shape=lambda a, x: x[0],
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
        shape=lambda a, x: x[0],
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
    src, tgt = x[0], x[1]
    for t in (src, tgt):
        if dims.equal(t.shape[-1], a.int("d_model")) is False:
            raise ShapeError(
                f"the inputs' last dimension must be d_model ({dims.format_dim(a.int('d_model'))}), but one is {t}"
            )
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
