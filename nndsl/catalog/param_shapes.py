"""The parameters of torch layers, by name and shape, from their constructor arguments.

`tie lm_head.weight = wte.weight` and `init Conv2d.weight = ...` name a layer's parameters; the
checker needs their names and shapes (torch-free).  Each rule follows the layer's `__init__` in
torch: `Linear(in, out)` has `weight` [out, in] and `bias` [out] (None with `bias=False`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from nndsl.dims import Dim

# name → shape; a shape of None: the attribute exists but holds None (`bias=False`)
Shapes = dict[str, "tuple[Dim, ...] | None"]

_RULES: dict[str, Callable[[Mapping[str, Any]], Shapes]] = {}


def _rule(*names: str):
    def register(fn: Callable[[Mapping[str, Any]], Shapes]):
        for n in names:
            _RULES[n] = fn
        return fn

    return register


def _tuple(v: Any, n: int) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * n


def _on(flag: Any) -> bool:
    return flag is None or bool(flag)


@_rule("Linear")
def _linear(a: Mapping[str, Any]) -> Shapes:
    out, inp = a["out_features"], a["in_features"]
    return {"weight": (out, inp), "bias": (out,) if _on(a.get("bias", True)) else None}


@_rule("Bilinear")
def _bilinear(a: Mapping[str, Any]) -> Shapes:
    out = a["out_features"]
    return {
        "weight": (out, a["in1_features"], a["in2_features"]),
        "bias": (out,) if _on(a.get("bias", True)) else None,
    }


def _conv_rule(name: str) -> Callable[[Mapping[str, Any]], Shapes]:
    n = int(name[-2])  # `Conv2d`, `ConvTranspose3d` (no regular expression compiled at start)
    transposed = name.startswith("ConvTranspose")

    def shapes(a: Mapping[str, Any]) -> Shapes:
        groups = a.get("groups", 1) or 1
        cin, cout = a["in_channels"], a["out_channels"]
        kernel = _tuple(a["kernel_size"], n)
        lead = (cin, cout // groups) if transposed else (cout, cin // groups)
        return {"weight": lead + kernel, "bias": (cout,) if _on(a.get("bias", True)) else None}

    return shapes


for _n in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"):
    _RULES[_n] = _conv_rule(_n)


@_rule("Embedding", "EmbeddingBag")
def _embedding(a: Mapping[str, Any]) -> Shapes:
    return {"weight": (a["num_embeddings"], a["embedding_dim"])}


def _affine(size: tuple, affine: bool, bias: bool = True) -> Shapes:
    return {
        "weight": size if affine else None,
        "bias": size if affine and bias else None,
    }


@_rule("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm")
def _batch_norm(a: Mapping[str, Any]) -> Shapes:
    return _affine((a["num_features"],), _on(a.get("affine", True)))


@_rule("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")
def _instance_norm(a: Mapping[str, Any]) -> Shapes:
    return _affine((a["num_features"],), bool(a.get("affine", False)))


@_rule("GroupNorm")
def _group_norm(a: Mapping[str, Any]) -> Shapes:
    return _affine((a["num_channels"],), _on(a.get("affine", True)))


@_rule("LayerNorm")
def _layer_norm(a: Mapping[str, Any]) -> Shapes:
    size = _tuple(a["normalized_shape"], 1)
    return _affine(size, _on(a.get("elementwise_affine", True)), _on(a.get("bias", True)))


@_rule("RMSNorm")
def _rms_norm(a: Mapping[str, Any]) -> Shapes:
    size = _tuple(a["normalized_shape"], 1)
    return {"weight": size if _on(a.get("elementwise_affine", True)) else None}


@_rule("PReLU")
def _prelu(a: Mapping[str, Any]) -> Shapes:
    return {"weight": (a.get("num_parameters", 1) or 1,)}


def _rnn_rule(name: str) -> Callable[[Mapping[str, Any]], Shapes]:
    gates = {"LSTM": 4, "GRU": 3, "RNN": 1}[name]

    def shapes(a: Mapping[str, Any]) -> Shapes:
        hidden = a["hidden_size"]
        proj = a.get("proj_size", 0) or 0
        out = proj or hidden
        directions = 2 if a.get("bidirectional") else 1
        bias = _on(a.get("bias", True))
        result: Shapes = {}
        for layer in range(a.get("num_layers", 1) or 1):
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d else "")
                inp = a["input_size"] if layer == 0 else out * directions
                result[f"weight_ih{suffix}"] = (gates * hidden, inp)
                result[f"weight_hh{suffix}"] = (gates * hidden, out)
                if bias:
                    result[f"bias_ih{suffix}"] = (gates * hidden,)
                    result[f"bias_hh{suffix}"] = (gates * hidden,)
                if proj:
                    result[f"weight_hr{suffix}"] = (proj, hidden)
        return result

    return shapes


for _n in ("LSTM", "GRU", "RNN"):
    _RULES[_n] = _rnn_rule(_n)


@_rule("MultiheadAttention")
def _mha(a: Mapping[str, Any]) -> Shapes:
    e = a["embed_dim"]
    same = a.get("kdim") in (None, e) and a.get("vdim") in (None, e)
    out: Shapes = {}
    if same:
        out["in_proj_weight"] = (3 * e, e)
    else:
        out["q_proj_weight"] = (e, e)
        out["k_proj_weight"] = (e, a.get("kdim") or e)
        out["v_proj_weight"] = (e, a.get("vdim") or e)
    out["in_proj_bias"] = (3 * e,) if _on(a.get("bias", True)) else None
    if a.get("add_bias_kv"):
        out["bias_k"] = (1, 1, e)
        out["bias_v"] = (1, 1, e)
    return out


def parameter_shapes(type_name: str, args: Mapping[str, Any], params: Any = None) -> Shapes | None:
    """The parameters a torch layer creates itself (not those of its submodules), by name; None
    when nndsl does not know the layer's parameters.  `params`: the layer's parameter count,
    which tells that a layer without a rule has none."""
    rule = _RULES.get(type_name)
    if rule is not None:
        try:
            return rule(args)
        except (KeyError, TypeError, AttributeError):
            return None
    if params == 0:
        return {}
    return None


def known_layers() -> list[str]:
    return sorted(_RULES)
