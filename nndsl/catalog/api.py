"""Typed look-ups over the static torch API snapshot (``torch_api.py``); never imports torch.

A :data:`Signature` is a tuple of ``(param_name, kind, default)`` in torch's parameter order,
where ``kind`` is ``"pos_or_kw"``, ``"kw_only"``, ``"var_pos"`` or ``"var_kw"`` and ``default``
is a literal, :data:`REQUIRED` (no default; also used for ``*args``/``**kwargs``) or
:data:`OBJECT` (a default that is not a plain literal).
"""

from __future__ import annotations

from collections.abc import Iterable

from nndsl.catalog import torch_api
from nndsl.catalog.torch_api import OBJECT, REQUIRED, TORCH_VERSION, Param, Signature

__all__ = [
    "OBJECT",
    "REQUIRED",
    "TORCH_VERSION",
    "Param",
    "Signature",
    "accepts_any_keyword",
    "function_names",
    "init_function",
    "init_names",
    "module_names",
    "functional_signature",
    "init_signature",
    "init_torch_name",
    "is_loss",
    "module_kind",
    "module_signature",
    "optimizer_signature",
    "param_names",
    "required_params",
    "scheduler_signature",
    "suggest",
    "torch_function_signature",
]


def module_signature(name: str) -> Signature | None:
    """Constructor signature of ``torch.nn.<name>``, or None if there is no such module."""
    return torch_api.MODULES.get(name)


def module_kind(name: str) -> str | None:
    """``"loss"``, ``"activation"``, ``"container"`` or ``"layer"``; None if unknown."""
    return torch_api.MODULE_KIND.get(name)


def is_loss(name: str) -> bool:
    return torch_api.MODULE_KIND.get(name) == "loss"


def functional_signature(name: str) -> Signature | None:
    """Signature of ``torch.nn.functional.<name>`` (None if unknown or unrecoverable)."""
    return torch_api.FUNCTIONAL.get(name)


def torch_function_signature(name: str) -> Signature | None:
    """Signature of ``torch.<name>`` (or the Tensor method for view/expand/repeat/contiguous).

    For overloaded builtins this is one overload; see ``torch_api.TORCH_FUNCTION_OVERLOADS``.
    """
    return torch_api.TORCH_FUNCTIONS.get(name)


def optimizer_signature(name: str) -> Signature | None:
    """Signature of ``torch.optim.<name>`` without the leading ``params``."""
    return torch_api.OPTIMIZERS.get(name)


def scheduler_signature(name: str) -> Signature | None:
    """Signature of ``torch.optim.lr_scheduler.<name>`` without the leading ``optimizer``."""
    return torch_api.SCHEDULERS.get(name)


def init_torch_name(name: str) -> str | None:
    """torch.nn.init function for a friendly name (``"normal"`` -> ``"normal_"``)."""
    if name in torch_api.INIT_FUNCTIONS:
        return name
    return torch_api.INIT_TORCH_NAME.get(name)


def init_signature(name: str) -> Signature | None:
    """Signature of a torch.nn.init function (friendly or torch name), without ``tensor``."""
    torch_name = init_torch_name(name)
    return None if torch_name is None else torch_api.INIT_FUNCTIONS.get(torch_name)


def param_names(sig: Signature | None) -> tuple[str, ...]:
    """Every parameter name in order, ``*args``/``**kwargs`` names included."""
    return tuple(name for name, _, _ in sig or ())


def required_params(sig: Signature | None) -> tuple[str, ...]:
    """Names of the parameters a call must supply (no default, not ``*args``/``**kwargs``)."""
    return tuple(
        name
        for name, kind, default in sig or ()
        if default == REQUIRED and kind in ("pos_or_kw", "kw_only")
    )


def accepts_any_keyword(sig: Signature | None) -> bool:
    """True when the signature has ``**kwargs``, so no keyword can be rejected."""
    return any(kind == "var_kw" for _, kind, _ in sig or ())


def suggest(name: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """Did-you-mean: up to ``n`` candidates close to ``name``, best first; [] if none is close.

    Exact case-insensitive matches win (``Conv2D`` -> ``Conv2d``, ``relU`` -> ``relu``), then
    difflib's similarity on lower-cased names.
    """
    pool = sorted(set(candidates))
    if n <= 0 or not pool:
        return []
    lowered: dict[str, list[str]] = {}
    for cand in pool:
        lowered.setdefault(cand.lower(), []).append(cand)
    key = name.lower()
    result = [c for c in lowered.get(key, []) if c != name]
    if len(result) < n:
        import difflib  # (only for a suggestion: not imported by a clean check)

        for close in difflib.get_close_matches(key, list(lowered), n=n + len(result), cutoff=0.6):
            for cand in lowered[close]:
                if cand != name and cand not in result:
                    result.append(cand)
    return result[:n]


def module_names() -> Iterable[str]:
    """Every ``torch.nn`` module name (for did-you-mean)."""
    return torch_api.MODULES.keys()


def function_names() -> Iterable[str]:
    """Every function name a spec may call: ``torch.nn.functional`` first, then ``torch``."""
    return list(torch_api.FUNCTIONAL) + [
        n for n in torch_api.TORCH_FUNCTIONS if n not in torch_api.FUNCTIONAL
    ]


def init_function(name: str) -> str | None:
    """The torch.nn.init function behind an initialiser name a spec may write (friendly names only)."""
    return torch_api.INIT_TORCH_NAME.get(name)


def init_names() -> list[str]:
    return sorted(torch_api.INIT_TORCH_NAME)
