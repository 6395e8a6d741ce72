"""Shapes and parameter counts of modules outside the catalog, found by running them once.

Any other `torch.nn` module, and the user's own modules (`from pkg import Name`), are built and
run on meta tensors (no memory, no real compute).  This is the only part of checking that
imports torch, and only when a spec needs it.  Symbolic dimensions are replaced by distinct
stand-in sizes in two runs; output sizes are mapped back to expressions over the symbols.
"""

from __future__ import annotations

import importlib
import itertools
import os
import sys
from dataclasses import dataclass
from typing import Any

from nndsl import dims
from nndsl.catalog.core import DTYPE_ALIASES, TensorT
from nndsl.dims import Dim, Sym

# Three runs, each symbol a different stand-in size in each.  Two runs are not enough: with
# [B, latent] as (7, 11) then (37, 41), the output size `latent` also reads as `B + 4`.  With these
# three, no two of the expressions `_map_back` tries (k * s + c, over symbols and their products)
# take the same three values (tests/test_fallback_standins.py checks it), so a size maps back to
# exactly one expression.
_STANDINS = (
    (7, 11, 13, 17, 19, 23, 29, 31),
    (37, 41, 43, 47, 53, 59, 61, 67),
    (101, 131, 163, 197, 229, 263, 293, 331),
)
_SCALES = (1, 2, 3, 4)
_OFFSETS = range(-8, 9)


class FallbackError(Exception):
    def __init__(self, message: str, hint: str | None = None, at_import: bool = False):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.at_import = at_import


@dataclass
class FallbackResult:
    out: Any
    params: int
    buffers: int


def _concrete_args(args: Any, what: str) -> Any:
    if isinstance(args, Sym):
        raise FallbackError(
            f"argument `{dims.format_dim(args)}` must be known to build {what}",
            hint="modules outside nndsl's catalog are built with concrete arguments",
        )
    if isinstance(args, (tuple, list)):
        return type(args)(_concrete_args(a, what) for a in args)
    if isinstance(args, dict):
        return {k: _concrete_args(v, what) for k, v in args.items()}
    return args


def run_torch_module(
    name: str, args: tuple, kwargs: dict, inputs: tuple[TensorT, ...]
) -> FallbackResult:
    import torch.nn as nn

    cls = getattr(nn, name, None)
    if cls is None:
        raise FallbackError(f"torch.nn has no `{name}`")
    return _run(cls, name, args, kwargs, inputs)


def run_user_module(
    module: str,
    name: str,
    args: tuple,
    kwargs: dict,
    inputs: tuple[TensorT, ...],
    search: tuple[str, ...] = (),
) -> FallbackResult:
    """Import `module` (also searching the spec's folder and the working directory) and run `name`."""
    import torch.nn as nn

    added = [p for p in (*search, os.getcwd()) if p not in sys.path]
    sys.path[:0] = added
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise FallbackError(
            f"cannot import `{module}`: no module named `{exc.name}`",
            at_import=True,
            hint="is the package on PYTHONPATH? (the spec's folder and the working directory are searched too)",
        ) from None
    except (Exception, SystemExit) as exc:  # the user's module failed (or exited) importing
        raise FallbackError(
            f"importing `{module}` failed: {type(exc).__name__}: {_first_line(exc)}", at_import=True
        ) from None
    finally:
        for p in added:
            if p in sys.path:
                sys.path.remove(p)
    cls = getattr(mod, name, None)
    if cls is None:
        raise FallbackError(f"`{module}` has no `{name}`", at_import=True)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise FallbackError(f"`{module}.{name}` is not a torch.nn.Module class", at_import=True)
    return _run(cls, name, args, kwargs, inputs)


def _first_line(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called exit({exc.code!r})"
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _run(
    cls: type, name: str, args: tuple, kwargs: dict, inputs: tuple[TensorT, ...]
) -> FallbackResult:
    import torch

    args = _concrete_args(tuple(args), name)
    kwargs = _concrete_args(dict(kwargs), name)
    symbols = sorted(
        set().union(*(dims.free_symbols(d) for t in inputs for d in t.shape)) if inputs else set()
    )
    if len(symbols) > len(_STANDINS[0]):
        raise FallbackError("too many symbolic dimensions to run this module")
    outs = []
    module = None
    for standins in _STANDINS:
        env = dict(zip(symbols, standins))
        try:
            with torch.device("meta"):
                module = cls(*args, **kwargs)
                tensors = [
                    torch.empty(
                        [dims.evaluate(d, env) for d in t.shape], dtype=_torch_dtype(t.dtype)
                    )
                    for t in inputs
                ]
            module.eval()
            with torch.no_grad():
                outs.append(module(*tensors))
        except (
            Exception,
            SystemExit,
        ) as exc:  # what the module raised (or an exit) is the user's error
            raise FallbackError(
                f"running it on {', '.join(str(t) for t in inputs)} failed: {type(exc).__name__}: {_first_line(exc)}"
            ) from None
    assert module is not None
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for b in module.buffers())
    envs = [dict(zip(symbols, s)) for s in _STANDINS]
    out = _map_back(outs, inputs, envs)
    return FallbackResult(out, params, buffers)


def _torch_dtype(dtype: str):
    import torch

    return getattr(torch, DTYPE_ALIASES.get(dtype, dtype))


def _candidates(inputs: tuple[TensorT, ...]) -> list[Dim]:
    base: list[Dim] = []
    for t in inputs:
        for d in t.shape:
            if isinstance(d, Sym) and d not in base:
                base.append(d)
    out = list(base)
    for a, b in itertools.combinations_with_replacement(base, 2):
        out.append(a * b)
    return out


def _map_back(runs: list[Any], inputs: tuple[TensorT, ...], envs) -> Any:
    """The static type of one output, from its values in the runs (one per stand-in env)."""
    import torch

    a = runs[0]
    if isinstance(a, torch.Tensor):
        if not all(isinstance(r, torch.Tensor) and r.dim() == a.dim() for r in runs):
            raise FallbackError("its output's rank depends on the sizes of its input")
        shape: list[Dim] = []
        for i in range(a.dim()):
            sizes = [int(r.shape[i]) for r in runs]
            if len(set(sizes)) == 1:
                shape.append(sizes[0])
                continue
            found = _solve(sizes, inputs, envs)
            if found is None:
                raise FallbackError(
                    "its output size depends on the symbolic input sizes in a way nndsl cannot express",
                    hint="give the input concrete sizes",
                )
            shape.append(found)
        dtype = str(a.dtype).replace("torch.", "")
        return TensorT(tuple(shape), dtype)
    if isinstance(a, (tuple, list)):
        if not all(isinstance(r, (tuple, list)) and len(r) == len(a) for r in runs):
            raise FallbackError("the number of its outputs depends on the sizes of its input")
        return tuple(_map_back([r[k] for r in runs], inputs, envs) for k in range(len(a)))
    raise FallbackError(f"it returns {type(a).__name__}, not tensors")


def _solve(sizes: list[int], inputs: tuple[TensorT, ...], envs) -> Dim | None:
    """The one expression `k * cand + c` whose value in every env is the size seen in that run."""
    found: list[Dim] = []
    for cand in _candidates(inputs):
        values = [dims.evaluate(cand, env) for env in envs]
        for k in _SCALES:
            c = sizes[0] - k * values[0]
            if c in _OFFSETS and all(k * v + c == s for v, s in zip(values, sizes)):
                expr = k * cand + c
                if expr not in found:
                    found.append(expr)
    return found[0] if len(found) == 1 else None
