"""Functions and Tensor methods outside the catalog: inferred by running torch on meta tensors.

The table test enumerates torch itself (the generated name lists are compared with a fresh
enumeration of the installed torch first), keeps every name the catalog does not cover, and
derives each case by a rule: the first of a fixed list of argument patterns that torch accepts
on real tensors of random sizes.  nndsl checks a spec applying the same call to symbolic sizes
`[B, N, 6]`; its output shape, evaluated at the random sizes, and its dtype must be torch's.
Where torch raises (on real and on meta tensors alike: a mistake in shapes, not in values),
`check` must report a located error, never a traceback.
"""

from __future__ import annotations

import random
import subprocess
import sys
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

import pytest

from nndsl import dims
from nndsl.catalog import torch_names
from nndsl.catalog.core import DTYPE_ALIASES, FUNCTIONS, TensorT
from nndsl.check import check_file
from nndsl.check.graph import TensorV
from nndsl.errors import render_all

torch = pytest.importorskip("torch")

ROOT = Path(__file__).parent.parent

# (spec text after the tensor, arguments after the tensor for torch): tried in order
PATTERNS: tuple[tuple[str, tuple, dict], ...] = (
    ("", (), {}),
    ("1", (1,), {}),
    ("dim=1", (), {"dim": 1}),
    ("x", ("x",), {}),
    ("x, x", ("x", "x"), {}),
    ("x, 0.5", ("x", 0.5), {}),
    ("2", (2,), {}),
    ("1, 2", (1, 2), {}),
)


def _names() -> list[tuple[str, str]]:
    """(namespace, name) for every name outside the catalog; a function name present in several
    namespaces is tested where a spec's bare name resolves (F, then torch)."""
    # `x.to(...)`, `x.size(...)`, `x.dim()` have rules of their own in the checker
    own = set(FUNCTIONS) | {"to", "size", "dim"}
    out = [("Tensor", n) for n in sorted(torch_names.TENSOR) if n not in own]
    out += [("F", n) for n in sorted(torch_names.FUNCTIONAL) if n not in FUNCTIONS]
    out += [
        ("torch", n)
        for n in sorted(torch_names.TORCH)
        if n not in FUNCTIONS and n not in torch_names.FUNCTIONAL
    ]
    return out


NAMES = _names()


def _torch_fn(ns: str, name: str):
    if ns == "Tensor":
        return getattr(torch.Tensor, name)
    if ns == "F":
        return getattr(torch.nn.functional, name)
    return getattr(torch, name)


def _call(ns: str, name: str, x, pattern) -> object:
    _, args, kwargs = pattern
    real = tuple(x if a == "x" else a for a in args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _torch_fn(ns, name)(x, *real, **kwargs)


def _spec(ns: str, name: str, pattern) -> str:
    text = pattern[0]
    call = f"x.{name}({text})" if ns == "Tensor" else f"{name}(x{', ' + text if text else ''})"
    return f"model M {{\n    input x: [B, N, 6]\n    y = {call}\n    y\n}}\n"


@lru_cache(maxsize=None)
def case(ns: str, name: str):
    """(sizes, the first pattern torch accepts or None, the patterns before it that torch
    rejects on real and meta tensors alike)."""
    rng = random.Random(f"{ns}.{name}")
    # distinct sizes, none equal to the fixed 6: a call that only works when two sizes happen
    # to be equal is rightly an error for symbolic ones
    b, n = rng.choice((4, 9)), rng.choice((5, 7))
    torch.manual_seed(0)
    x = torch.rand(b, n, 6)
    meta = torch.empty(b, n, 6, device="meta")
    rejected = []
    for pattern in PATTERNS:
        try:
            out = _call(ns, name, x, pattern)
        except Exception:
            try:
                _call(ns, name, meta, pattern)
            except Exception:
                rejected.append(pattern)
            continue
        return (b, n), pattern, out, tuple(rejected)
    return (b, n), None, None, tuple(rejected)


def _structure(out) -> object:
    """torch's result as nested tuples of (shape, dtype); None for anything else."""
    if isinstance(out, torch.Tensor):
        return (tuple(out.shape), str(out.dtype).replace("torch.", ""))
    if isinstance(out, (tuple, list)) and out and not isinstance(out, torch.Size):
        items = [_structure(o) for o in out]
        return None if any(i is None for i in items) else tuple(items)
    return None


def _leaves(s) -> list:
    """(shape, dtype) pairs in order: a model's outputs are its results' tensors, flattened."""
    if isinstance(s, tuple) and len(s) == 2 and isinstance(s[1], str):
        return [s]
    return [leaf for x in s for leaf in _leaves(x)]


def _typed(s) -> bool:
    return all(dtype in DTYPE_ALIASES.values() for _, dtype in _leaves(s))


def _nndsl_structure(v, env) -> object:
    if isinstance(v, TensorV):
        v = v.type
    if isinstance(v, TensorT):
        return (tuple(dims.evaluate(d, env) for d in v.shape), v.dtype)
    return tuple(_nndsl_structure(o, env) for o in v)


def _check(tmp_path: Path, text: str):
    path = tmp_path / "spec.nn"
    path.write_text(text, encoding="utf-8")
    return check_file(str(path), text)


def _located_error(checked, text: str) -> None:
    errors = [d for d in checked.diagnostics if d.is_error]
    assert errors, "nndsl accepted a call torch rejects"
    rendered = render_all(errors, checked.program.sources)
    assert all(d.span is not None and d.span.line == 3 for d in errors), rendered
    assert "Traceback" not in rendered
    words = " ".join(f"{d.message} {d.hint}" for d in errors)
    for standin in ("211", "103", "223", "107"):  # the stand-in sizes never reach the user
        assert standin not in words, rendered


def test_names_are_torchs() -> None:
    """The committed lists are what the generator's rule gives on the installed torch."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_torch_names.py"), "--stdout"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (ROOT / "nndsl" / "catalog" / "torch_names.py").read_text()


@pytest.mark.slow
@pytest.mark.parametrize(("ns", "name"), NAMES, ids=[f"{ns}.{n}" for ns, n in NAMES])
def test_fallback_matches_torch(tmp_path: Path, ns: str, name: str) -> None:
    (b, n), pattern, out, rejected = case(ns, name)
    env = {"B": b, "N": n}
    if rejected:
        text = _spec(ns, name, rejected[0])
        _located_error(_check(tmp_path, text), text)
    if pattern is None:
        return
    expected = _structure(out)
    if expected is None:
        return  # not tensors (a size, a flag): covered by the tests below
    text = _spec(ns, name, pattern)
    checked = _check(tmp_path, text)
    errors = [d for d in checked.diagnostics if d.is_error]
    if errors:
        _located_error(checked, text)
        if "cannot express" in errors[0].message:
            return  # a sound refusal (min(B, N) sizes, B outputs); test_table_is_large counts them
        if not _typed(expected):  # complex or unsigned results: refused, with the reason
            assert "nndsl's tensors are" in errors[0].message, errors[0].message
            return
        # otherwise allowed only where torch itself cannot tell the shape without the values
        with pytest.raises(Exception):
            _call(ns, name, torch.empty(b, n, 6, device="meta"), pattern)
        assert "without the tensor's values" in errors[0].message, errors[0].message
        return
    outputs = checked.models["M"].outputs
    got = _leaves(tuple(_nndsl_structure(o, env) for o in outputs))
    assert got == _leaves(expected)


@pytest.mark.slow
def test_table_is_large() -> None:
    """At least 200 names of torch outside the catalog have their shape and dtype compared."""
    compared = refused = 0
    for ns, name in NAMES:
        _, pattern, out, _ = case(ns, name)
        if pattern is None or _structure(out) is None:
            continue
        compared += 1
        with tempfile.TemporaryDirectory() as tmp:
            checked = _check(Path(tmp), _spec(ns, name, pattern))
        refused += any("cannot express" in d.message for d in checked.diagnostics)
    assert compared - refused >= 200, (compared, refused)
    assert refused <= compared // 20, (compared, refused)  # refusals stay the exception


# ---- hand-written cases ---------------------------------------------------------------------


def _output_type(tmp_path: Path, body: str, input_type: str = "[B, T, 16]"):
    text = f"model M {{\n    input x: {input_type}\n{body}}}\n"
    checked = _check(tmp_path, text)
    assert checked.ok, render_all(checked.diagnostics, checked.program.sources)
    return checked.models["M"].outputs[0]


def test_symbolic_sizes_map_back(tmp_path: Path) -> None:
    out = _output_type(tmp_path, "    x.diff(dim=1) -> avg_pool1d(3)\n")
    assert str(out.type) == "[B, T - 1, 5]"
    out = _output_type(tmp_path, "    x.transpose(1, 2) -> avg_pool1d(2)\n")
    assert str(out.type) == "[B, 16, T//2]"
    out = _output_type(tmp_path, "    kron(x, x)\n")
    assert str(out.type) == "[B**2, T**2, 256]"


def test_tuples_dtypes_and_sizes(tmp_path: Path) -> None:
    out = _output_type(tmp_path, "    v, i = x.cummax(1)\n    i\n")
    assert str(out.type) == "long[B, T, 16]"
    out = _output_type(tmp_path, "    x.cumsum(1, dtype=double)\n")
    assert out.type.dtype == "float64"
    out = _output_type(tmp_path, "    x.isfinite()\n")
    assert out.type.dtype == "bool"
    # torch's type promotion: a long tensor to an int power stays long, to a float one not
    out = _output_type(tmp_path, "    x.pow(2)\n", "long[B, 4]")
    assert out.type.dtype == "int64"
    out = _output_type(tmp_path, "    x.pow(2.0)\n", "long[B, 4]")
    assert out.type.dtype == "float32"
    # a compile-time size: numel is B*T*16, used to flatten
    out = _output_type(tmp_path, "    n = x.numel()\n    x.reshape(n)\n")
    assert str(out.type) == "[16*B*T]"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("    x.add_(1)\n", "`add_` changes its input in place"),
        ("    x.cpu()\n", "tensors follow the model's device"),
        ("    x.item()\n", "depends on the tensor's values"),
        ("    x -> nonzero\n", "without the tensor's values"),
        ("    cumsum(x, 1, out=x)\n", "`out=`"),
        ("    x.unflatten(1, (2, -1))\n", "the size of dim 1 (T)"),
        ("    x.frobnicate(1)\n", "unknown tensor method `frobnicate`"),
    ],
)
def test_errors_are_located(tmp_path: Path, body: str, message: str) -> None:
    text = f"model M {{\n    input x: [B, T, 16]\n{body}}}\n"
    checked = _check(tmp_path, text)
    errors = [d for d in checked.diagnostics if d.is_error]
    assert errors and message in errors[0].message, render_all(errors, checked.program.sources)
    assert errors[0].span.line == 3


def test_generated_model_runs(tmp_path: Path) -> None:
    """Generated code calls the function as torch names it, and the model runs with the
    inferred shapes (as `nndsl run` does: it compiles the same source)."""
    from nndsl.codegen import model_source

    text = (
        "model M {\n    input x: [B, T, 16]\n"
        "    a = x.cumsum(1, dtype=double).float()\n"
        "    v, i = x.cummax(1)\n"
        "    w = x -> logcumsumexp(dim=2) -> nan_to_num\n"
        "    (a + v + w) -> Linear(4)\n}\n"
    )
    checked = _check(tmp_path, text)
    assert checked.ok
    source = model_source(checked, ["M"])
    assert "x.cumsum(1, dtype=torch.float64)" in source
    assert "torch.logcumsumexp(x, dim=2)" in source
    assert "torch.nan_to_num(" in source
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    model = namespace["M"]()
    assert model(torch.randn(3, 7, 16)).shape == (3, 7, 4)


def test_generic_class_with_fallback_calls(tmp_path: Path) -> None:
    """A block calling functions outside the catalog still becomes one class for all its uses:
    the calls are inferred over the class's symbolic sizes (`in_channels`, `L`)."""
    from nndsl.codegen import model_source

    text = (
        "block Smooth(out: int) {\n    input x\n"
        "    y = x.diff(dim=2) -> Conv1d(out, 2)\n"
        "    v, i = y.cummax(2)\n"
        "    v.nan_to_num() + y\n}\n"
        "model M {\n    input x: [B, 8, 64]\n"
        "    x -> Smooth(16) -> Smooth(32) -> flatten -> Linear(3)\n}\n"
    )
    checked = _check(tmp_path, text)
    assert checked.ok
    source = model_source(checked, ["M"])
    assert source.count("class Smooth") == 1
    assert "y = x.diff(dim=2)  # [B, in_channels, L - 1]" in source
    namespace: dict = {}
    exec(compile(source, "model.py", "exec"), namespace)
    assert namespace["M"]()(torch.randn(2, 8, 64)).shape == (2, 3)


def test_without_torch_the_fallback_is_a_diagnostic(tmp_path: Path) -> None:
    spec = tmp_path / "spec.nn"
    spec.write_text("model M {\n    input x: [B, 4]\n    x.logcumsumexp(1)\n}\n", encoding="utf-8")
    probe = "import sys; sys.modules['torch'] = None\nfrom nndsl.cli import main\nsys.exit(main(['check', sys.argv[1]]))"
    proc = subprocess.run(
        [sys.executable, "-c", probe, str(spec)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "checking it needs torch" in proc.stderr + proc.stdout
    assert "spec.nn:3:5" in proc.stderr + proc.stdout
