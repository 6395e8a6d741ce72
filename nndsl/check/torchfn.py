"""Any torch function or Tensor method outside nndsl's catalog, checked by running torch on it.

A spec may call every public function of `torch` and `torch.nn.functional` and every Tensor
method (the names are listed, without importing torch, in `nndsl/catalog/torch_names.py`).  The
catalog's entries are fast and torch-free; for the others the checker asks torch itself: the call
is run on meta tensors (shapes and dtypes, no memory, no compute), and what comes out is mapped
back to the spec's symbols.  This module is the only part of checking that imports torch for a
function, and only when a spec calls one outside the catalog.

Why concrete probes rather than FakeTensor with a ShapeEnv.  Symbolic tracing
(`torch._subclasses.fake_tensor` + `torch.fx.experimental.symbolic_shapes.ShapeEnv`) is private
API that changes between releases; many operators guard on or specialise their symbolic sizes
(0/1 specialisation, equality guards), and its answers are sympy expressions with `FloorDiv`,
`Mod`, `Max` that would need a second translation into nndsl's dims.  Meta tensors are public and
every operator with a shape function supports them.  So each symbol gets a distinct, large prime
stand-in size in four runs; an output size equal in all runs is a constant, the others are
solved as `(k*u + c) // m` or `a*u + b*v + c` over the call's symbolic sizes (the symbols, the
input dimensions, their products) and the fit must hold in every run.  The stand-ins are primes
above 100, so sizes 1 (broadcasting) and small divisibility accidents never decide a shape; a
call that only works for some sizes (a reshape needing an even `T`) is reported as an error
rather than assumed.  A result that depends on the tensor's values (`nonzero`, `unique`) has no
meta kernel and is reported as such.

Errors torch raises are reported at the call, with the stand-in numbers in torch's message
written back as the spec's sizes (`B*T` rather than `23533`).
"""

from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from nndsl import dims
from nndsl.catalog import torch_names
from nndsl.catalog.core import DTYPE_ALIASES, FunctionEntry, TensorT
from nndsl.catalog.functions import CASTS
from nndsl.check.fallback import FallbackError
from nndsl.check.graph import TensorV
from nndsl.dims import Dim, Sym

# Four runs; symbol i gets _STANDINS[run][i].  Distinct primes above 100: no stand-in is 1 (no
# accidental broadcasting), none divides another, and none is a size a spec is likely to write.
_STANDINS = (
    (211, 103, 317, 409, 503, 601, 701, 809),
    (223, 107, 331, 419, 509, 607, 709, 811),
    (227, 109, 337, 421, 521, 613, 719, 821),
    (229, 113, 347, 431, 523, 617, 727, 823),
)
# Small sizes the fitted shape is verified on, where the call accepts them: a size such as
# `min(T, 6)` is 6 for every large stand-in, and only a small one shows it is not a constant.
_SMALL = ((5, 3, 7, 2, 11, 13, 4, 6), (2, 4, 3, 5, 6, 7, 9, 10))
_DTYPES = frozenset(DTYPE_ALIASES.values())


@dataclass(frozen=True, slots=True)
class TorchDtype:
    """A dtype written as an argument (`cumsum(x, 1, dtype=long)`): `torch.int64` in code."""

    name: str  # torch's attribute: "int64"

    @property
    def python_source(self) -> str:
        return f"torch.{self.name}"


@dataclass(frozen=True, slots=True)
class Target:
    """Where a name lives in torch: `F.softplus`, `torch.cumsum` or the method `.cumsum`."""

    name: str
    namespace: str  # "F" | "torch" | "Tensor"

    @property
    def source(self) -> str:
        """The call in generated code (a method starts with a dot, as in the catalog)."""
        return f".{self.name}" if self.namespace == "Tensor" else f"{self.namespace}.{self.name}"

    @property
    def display(self) -> str:
        return f"Tensor.{self.name}" if self.namespace == "Tensor" else self.source


def is_known(name: str) -> bool:
    """Whether torch has `name` as a function or a Tensor method (callable or refused)."""
    return (
        name in torch_names.FUNCTIONAL
        or name in torch_names.TORCH
        or name in torch_names.TENSOR
        or name in torch_names.REFUSED
    )


def is_method(name: str) -> bool:
    return name in torch_names.TENSOR or name in torch_names.REFUSED


def target(name: str, *, method: bool) -> Target:
    """The torch callable a spec's `name` stands for: a method call `x.name(...)` is always the
    Tensor method; a function `name(...)` is `torch.nn.functional`'s, else `torch`'s, else the
    Tensor method applied to its first argument.  Raises FallbackError for refused names."""
    if method:
        if name in torch_names.TENSOR:
            return Target(name, "Tensor")
    elif name in torch_names.FUNCTIONAL:
        return Target(name, "F")
    elif name in torch_names.TORCH:
        return Target(name, "torch")
    elif name in torch_names.TENSOR:
        return Target(name, "Tensor")
    why = torch_names.REFUSED.get(name)
    if why == "inplace":
        base = name[:-1]
        raise FallbackError(
            f"`{name}` changes its input in place, and a spec's values never change",
            hint=f"write `{base}`, which returns a new tensor" if is_known(base) else None,
        )
    if why is not None:
        raise FallbackError(f"`{name}` cannot be used in a spec: {torch_names.REASONS[why]}")
    where = "Tensor method" if method else "function of torch or torch.nn.functional"
    raise FallbackError(f"`{name}` is not a {where}")


# ---- running ---------------------------------------------------------------------------------


def infer(tgt: Target, args: tuple, kwargs: tuple[tuple[str, Any], ...]) -> Any:
    """The output of `tgt(*args, **kwargs)`: a TensorT, a Dim, a bool or float, or a tuple of
    those.  Tensors in `args`/`kwargs` are given as their TensorT; sizes may be symbolic."""
    try:
        key = (tgt, _typed(args), _typed(kwargs))
        hash(key)
    except TypeError:  # an unhashable argument: no caching
        return _infer(tgt, args, kwargs)
    if key not in _CACHE:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        _CACHE[key] = _infer(tgt, args, kwargs)
    return _CACHE[key]


# (target, typed arguments) -> result: block instances repeat the same calls
_CACHE: dict[tuple, Any] = {}


def _typed(v: Any) -> Any:
    """A cache key that tells `2` from `2.0` and `True` (torch's result dtype may differ)."""
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, tuple(_typed(x) for x in v))
    return (type(v).__name__, v)


def _infer(tgt: Target, args: tuple, kwargs: tuple[tuple[str, Any], ...]) -> Any:
    try:
        import torch
    except ImportError as exc:
        raise FallbackError(
            f"`{tgt.name}` is outside nndsl's catalog, and checking it needs torch, which cannot "
            f"be imported ({exc})",
            hint="install torch (see the README), or use a function of the catalog",
        ) from None

    fn = _callable(torch, tgt)
    symbols = sorted(_symbols((args, kwargs)))
    if len(symbols) > len(_STANDINS[0]):
        raise FallbackError(
            f"`{tgt.name}` is called with {len(symbols)} symbolic sizes; at most "
            f"{len(_STANDINS[0])} can be inferred",
            hint="give some of the sizes concrete values",
        )
    envs = [dict(zip(symbols, s)) for s in _STANDINS] if symbols else [{}]
    runs = []
    for env in envs:
        real_args = _materialize(torch, args, env)
        real_kwargs = {k: _materialize(torch, v, env) for k, v in kwargs}
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                out = fn(*real_args, **real_kwargs)
        except Exception as exc:  # whatever torch raises is the spec's mistake
            if _needs_values(exc):
                raise FallbackError(
                    f"`{tgt.name}`: torch cannot tell its output's shape without the tensor's "
                    "values",
                    hint="its result depends on the data (like `nonzero` or `unique`), so it "
                    "cannot be checked before the model runs",
                ) from None
            text = _first_line(exc)
            text = text[len(tgt.name) + 1 :].strip() if text.startswith(f"{tgt.name}:") else text
            raise FallbackError(
                f"`{tgt.name}`: {_in_spec_words(text, args, kwargs, env)}",
                hint=f"torch's {tgt.display} raised {type(exc).__name__} for these arguments",
            ) from None
        runs.append(_observe(torch, out, tgt))
    result = _solve(runs, envs, _candidates(args, kwargs, symbols), tgt)
    for small in _SMALL if symbols else ():
        env = dict(zip(symbols, small))
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                out = fn(
                    *_materialize(torch, args, env),
                    **{k: _materialize(torch, v, env) for k, v in kwargs},
                )
            seen = _observe(torch, out, tgt)
        except Exception:  # too small for this call: nothing to verify against
            continue
        if _evaluate(result, env) != _plain(seen):
            raise FallbackError(
                f"`{tgt.name}`: an output size depends on the symbolic input sizes in a way "
                "nndsl cannot express (it is not the same formula for small sizes)",
                hint="give the input concrete sizes",
            )
    return result


def _needs_values(exc: BaseException) -> bool:
    """torch has no shape function for this call on meta tensors: its output depends on data."""
    text = str(exc).lower()
    return isinstance(exc, NotImplementedError) or (
        "meta" in text and ("item()" in text or "data-dependent" in text or "no data" in text)
    )


def _evaluate(result: Any, env: dict[str, int]) -> Any:
    if isinstance(result, TensorT):
        return (tuple(dims.evaluate(d, env) for d in result.shape), result.dtype)
    if isinstance(result, Sym):
        return dims.evaluate(result, env)
    if isinstance(result, tuple):
        return tuple(_evaluate(r, env) for r in result)
    return result


def _plain(seen: Any) -> Any:
    """An observation in `_evaluate`'s form."""
    if isinstance(seen, tuple) and seen[:1] == ("T",):
        return (seen[1], seen[2])
    if isinstance(seen, tuple) and seen[:1] == ("I",):
        return seen[1]
    if isinstance(seen, tuple):
        return tuple(_plain(s) for s in seen)
    return seen


def _callable(torch: Any, tgt: Target) -> Any:
    # only names from the generated lists reach here (never an arbitrary attribute)
    if tgt.namespace == "F":
        import torch.nn.functional as F

        return getattr(F, tgt.name)
    if tgt.namespace == "torch":
        return getattr(torch, tgt.name)
    return getattr(torch.Tensor, tgt.name)


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 240 else text[:237] + "..."


def _symbols(v: Any) -> set[str]:
    if isinstance(v, TensorT):
        return set().union(*(dims.free_symbols(d) for d in v.shape)) if v.shape else set()
    if isinstance(v, Sym):
        return set(dims.free_symbols(v))
    if isinstance(v, (tuple, list)):
        return set().union(*(_symbols(x) for x in v)) if v else set()
    return set()


def _materialize(torch: Any, v: Any, env: dict[str, int]) -> Any:
    if isinstance(v, TensorT):
        return torch.empty(
            [dims.evaluate(d, env) for d in v.shape],
            dtype=getattr(torch, DTYPE_ALIASES.get(v.dtype, v.dtype)),
            device="meta",
        )
    if isinstance(v, Sym):
        return dims.evaluate(v, env)
    if isinstance(v, TorchDtype):
        return getattr(torch, v.name)
    if isinstance(v, tuple):
        return tuple(_materialize(torch, x, env) for x in v)
    if isinstance(v, list):
        return [_materialize(torch, x, env) for x in v]
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise FallbackError(f"an argument ({type(v).__name__}) cannot be passed to torch")


def _observe(torch: Any, out: Any, tgt: Target) -> Any:
    """What a run gave, without torch objects: ("T", sizes, dtype), ints, bools, floats, tuples."""
    if isinstance(out, torch.Tensor):
        dtype = str(out.dtype).replace("torch.", "")
        if dtype not in _DTYPES:
            raise FallbackError(
                f"`{tgt.name}` returns a {dtype} tensor; nndsl's tensors are real numbers, "
                "integers and booleans",
            )
        return ("T", tuple(int(s) for s in out.shape), dtype)
    if isinstance(out, bool):
        return out
    if isinstance(out, int):
        return ("I", out)
    if isinstance(out, float):
        return out
    if isinstance(out, (tuple, list)):  # torch.Size, return_types (values, indices), split
        return tuple(_observe(torch, x, tgt) for x in out)
    what = "nothing" if out is None else f"a {type(out).__name__}"
    raise FallbackError(f"`{tgt.name}` returns {what}, not tensors or sizes")


# ---- mapping stand-in sizes back to the spec's ----------------------------------------------


def _candidates(args: tuple, kwargs: tuple, symbols: list[str]) -> list[Dim]:
    """Size expressions an output size may be made of, simplest first."""
    out: list[Dim] = [dims.sym(s) for s in symbols]

    def add(d: Dim) -> None:
        if not isinstance(d, int) and d not in out:
            out.append(d)

    def visit(v: Any) -> None:
        if isinstance(v, TensorT):
            for d in v.shape:
                add(d)
            sym_dims = [d for d in v.shape if not isinstance(d, int)]
            if len(sym_dims) > 1:
                add(_product(sym_dims))
        elif isinstance(v, Sym):
            add(v)
        elif isinstance(v, (tuple, list)):
            for x in v:
                visit(x)

    visit(args)
    visit(tuple(v for _, v in kwargs))
    base = [dims.sym(s) for s in symbols]
    for a, b in itertools.combinations_with_replacement(base, 2):
        add(a * b)
    return out


def _product(ds: list[Dim]) -> Dim:
    p: Dim = 1
    for d in ds:
        p = p * d
    return p


def _solve(runs: list[Any], envs: list[dict[str, int]], cands: list[Dim], tgt: Target) -> Any:
    first = runs[0]
    if isinstance(first, tuple) and first[:1] == ("T",):
        if any(not (isinstance(r, tuple) and r[:1] == ("T",)) for r in runs):
            raise _varies(tgt)
        _, shape, dtype = first
        if any(len(r[1]) != len(shape) or r[2] != dtype for r in runs):
            raise _varies(tgt)
        sizes = [_size([r[1][i] for r in runs], envs, cands, tgt) for i in range(len(shape))]
        return TensorT(tuple(sizes), dtype)
    if isinstance(first, tuple) and first[:1] == ("I",):
        if any(not (isinstance(r, tuple) and r[:1] == ("I",)) for r in runs):
            raise _varies(tgt)
        return _size([r[1] for r in runs], envs, cands, tgt)
    if isinstance(first, tuple):
        if any(not isinstance(r, tuple) or len(r) != len(first) for r in runs):
            raise _varies(tgt)
        return tuple(_solve([r[i] for r in runs], envs, cands, tgt) for i in range(len(first)))
    if any(r != first for r in runs):
        raise _varies(tgt)
    return first


def _varies(tgt: Target) -> FallbackError:
    return FallbackError(
        f"`{tgt.name}`: what it returns changes with the symbolic sizes in a way nndsl cannot "
        "express",
        hint="give the input concrete sizes",
    )


def _size(values: list[int], envs: list[dict[str, int]], cands: list[Dim], tgt: Target) -> Dim:
    if all(v == values[0] for v in values):
        return values[0]
    table = [[dims.evaluate(c, env) for env in envs] for c in cands]
    for cand, xs in zip(cands, table):
        found = _fit_one(xs, values)
        if found is not None:
            k, c, m = found
            expr = k * cand + c
            return expr if m == 1 else dims.floordiv(expr, m)
    for (u, us), (v, vs) in itertools.combinations(zip(cands, table), 2):
        found2 = _fit_two(us, vs, values)
        if found2 is not None:
            a, b, c, m = found2
            expr = a * u + b * v + c
            return expr if m == 1 else dims.floordiv(expr, m)
    raise FallbackError(
        f"`{tgt.name}`: an output size depends on the symbolic input sizes in a way nndsl "
        "cannot express",
        hint="give the input concrete sizes",
    )


def _fit_one(xs: list[int], ys: list[int]) -> tuple[int, int, int] | None:
    """k, c, m with (k*x + c) // m == y in every run."""
    if xs[0] == xs[1]:
        return None
    slope = Fraction(ys[1] - ys[0], xs[1] - xs[0])
    for m in range(1, 17):
        k0 = round(slope * m)
        for k in (k0, k0 - 1, k0 + 1):
            if k == 0:
                continue
            low = m * ys[0] - k * xs[0]
            for c in range(low, low + m):
                if all((k * x + c) // m == y for x, y in zip(xs, ys)):
                    return k, c, m
    return None


def _fit_two(us: list[int], vs: list[int], ys: list[int]) -> tuple[int, int, int, int] | None:
    """a, b, c, m with (a*u + b*v + c) // m == y exactly (m: the common denominator)."""
    if len(ys) < 4:
        return None
    # solve a*u + b*v + c = y on the first three runs (Cramer's rule, exact)
    rows = [(Fraction(us[i]), Fraction(vs[i]), Fraction(1), Fraction(ys[i])) for i in range(3)]

    def det(m: list[tuple[Fraction, ...]]) -> Fraction:
        (a, b, c), (d, e, f), (g, h, i) = m
        return a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)

    base = [r[:3] for r in rows]
    d = det(base)
    if d == 0:
        return None
    sol = []
    for col in range(3):
        m = [tuple(r[3] if j == col else r[j] for j in range(3)) for r in rows]
        sol.append(det(m) / d)
    den = 1
    for s in sol:
        den = den * s.denominator // _gcd(den, s.denominator)
    if den > 16:
        return None
    a, b, c = (int(s * den) for s in sol)
    if a == 0 or b == 0:
        return None
    if all((a * u + b * v + c) // den == y for u, v, y in zip(us, vs, ys)):
        return a, b, c, den
    return None


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def _in_spec_words(text: str, args: tuple, kwargs: tuple, env: dict[str, int]) -> str:
    """torch's message with stand-in numbers written as the spec's sizes."""
    if not env:
        return text
    names: dict[int, str] = {}
    symbols = sorted(env)
    for cand in reversed(_candidates(args, kwargs, symbols)):
        names[dims.evaluate(cand, env)] = dims.format_dim(cand)

    def numel(v: Any) -> None:
        if isinstance(v, TensorT) and any(not isinstance(d, int) for d in v.shape):
            total = _product(list(v.shape))
            names.setdefault(dims.evaluate(total, env), dims.format_dim(total))
        elif isinstance(v, (tuple, list)):
            for x in v:
                numel(x)

    numel(args)
    numel(tuple(v for _, v in kwargs))
    return re.sub(r"\b\d+\b", lambda m: names.get(int(m.group()), m.group()), text)


# ---- the call as the checker records it -------------------------------------------------------


class CallError(FallbackError):
    """A mistake in one argument: `arg` is its position (int) or keyword (str)."""

    def __init__(self, message: str, arg: int | str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.arg = arg


@dataclass(frozen=True)
class Call:
    """A fallback call, ready to be recorded as a function step: `bound` holds the written
    arguments under the keys `#0`, `#1`, ... (positional) and their keywords, in order."""

    entry: FunctionEntry
    bound: tuple[tuple[str, Any], ...]
    written: tuple[str, ...]
    n_positional: int
    arg_types: tuple  # the positional arguments with tensors as their TensorT
    kwarg_types: tuple[tuple[str, Any], ...]
    tensors: list  # the tensor values among the arguments, in order


@lru_cache(maxsize=None)
def function_entry(tgt: Target) -> FunctionEntry:
    """The function entry code generation reads (`entry.torch` is the call it writes)."""
    return FunctionEntry(
        name=tgt.name,
        torch=tgt.source,
        shape=_not_a_rule,
        tensor_params=("#0",) if tgt.namespace == "Tensor" else (),
        dtype="any",
    )


def _not_a_rule(args: Any, inputs: Any) -> Any:
    raise AssertionError("fallback functions are inferred by running torch, not by a rule")


def prepare_call(tgt: Target, args: list, kwargs: tuple[tuple[str, Any], ...]) -> Call:
    from nndsl.check.values import LayerRef, is_layer  # the checker's values (loaded by now)

    tensors: list = []

    def convert(v: Any, where: int | str) -> tuple[Any, Any]:
        """(the value recorded for code generation, the value given to torch)."""
        if isinstance(v, TensorV):
            tensors.append(v)
            return v, v.type
        if isinstance(v, LayerRef) and v.is_function:  # a dtype's name: `long`
            if v.name in CASTS and not v.args and not v.kwargs:
                dt = TorchDtype(DTYPE_ALIASES[v.name])
                return dt, dt
            raise CallError(
                f"`{tgt.name}`: `{v.name}` is a function; torch functions take tensors and values",
                where,
                hint="call it on a tensor first, or write the dtype (`long`, `float`, `bool`)",
            )
        if is_layer(v):
            raise CallError(f"`{tgt.name}` takes tensors and values, not a layer", where)
        if isinstance(v, (tuple, list)):
            pairs = [convert(x, where) for x in v]
            return type(v)(p[0] for p in pairs), type(v)(p[1] for p in pairs)
        return v, v

    recorded, types = [], []
    for i, a in enumerate(args):
        r, t = convert(a, i)
        recorded.append(r)
        types.append(t)
    kw_recorded, kw_types = [], []
    for k, v in kwargs:
        if k == "out":
            raise CallError(
                f"`{tgt.name}`: `out=` writes into an existing tensor, and a spec's values never "
                "change",
                k,
                hint="leave `out` out: the result is a new value",
            )
        if k == "inplace" and v is True:
            raise CallError(
                f"`{tgt.name}`: `inplace=true` changes its input, and a spec's values never change",
                k,
                hint="leave `inplace` out",
            )
        r, t = convert(v, k)
        kw_recorded.append((k, r))
        kw_types.append((k, t))
    if not tensors:
        raise FallbackError(f"`{tgt.name}` has no tensor to work on")
    if tgt.namespace == "Tensor" and not (recorded and isinstance(recorded[0], TensorV)):
        raise CallError(
            f"`{tgt.name}` is a Tensor method: its first argument must be a tensor",
            0,
            hint=f"write `x.{tgt.name}(...)` or `x -> {tgt.name}(...)`",
        )
    keys = [f"#{i}" for i in range(len(recorded))]
    bound = tuple(zip(keys, recorded)) + tuple(kw_recorded)
    return Call(
        entry=function_entry(tgt),
        bound=bound,
        written=tuple(keys) + tuple(k for k, _ in kw_recorded),
        n_positional=len(recorded),
        arg_types=tuple(types),
        kwarg_types=tuple(kw_types),
        tensors=tensors,
    )
