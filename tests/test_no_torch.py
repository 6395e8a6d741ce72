"""`nndsl check` and `nndsl fmt` never import torch or numpy: they must be fast and work where
torch is not installed.  Each verb runs in a fresh interpreter, and after each sample the test
looks at what it imported.

A spec that imports the user's own Python module (`from mypkg.layers import SwiGLU`) may need
torch to find that module's output shape, so `check` skips those samples.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.nn"))
HEAVY = ("torch", "numpy")

_PROBE = """
import contextlib, io, json, sys
from nndsl.cli import main
verb, paths = sys.argv[1], sys.argv[2:]
report = {}
for path in paths:
    args = [verb, path] if verb == "check" else ["fmt", "--check", path]
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(args)
    report[path] = [code, [m for m in %r if m in sys.modules]]
print(json.dumps(report))
""" % (HEAVY,)


def _uses_python_modules(path: Path) -> bool:
    return any(line.startswith("from ") for line in path.read_text(encoding="utf-8").splitlines())


def _run(verb: str, paths: list[Path]) -> dict[str, list]:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, verb, *map(str, paths)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("verb", ["check", "fmt"])
def test_verb_does_not_import_torch(verb: str) -> None:
    paths = [p for p in SAMPLES if verb != "check" or not _uses_python_modules(p)]
    assert paths
    report = _run(verb, paths)
    for path, (code, heavy) in report.items():
        assert code in (0, 1), f"{verb} {path} exited {code}"
        assert heavy == [], f"`nndsl {verb} {Path(path).name}` imported {', '.join(heavy)}"


def test_errors_do_not_import_torch(tmp_path: Path) -> None:
    """The diagnostics path (resolution errors, did-you-mean over torch's names) stays light."""
    bad = tmp_path / "bad.nn"
    bad.write_text(
        "model M {\n    input x: [B, 4]\n    Linaer(3) -> relU\n}\n"
        "train {\n    optimiser = Adamm()\n    data = digit()\n}\n",
        encoding="utf-8",
    )
    syntax = tmp_path / "syntax.nn"
    syntax.write_text("model M {\n    Linear(3\n}\n", encoding="utf-8")
    for verb in ("check", "fmt"):
        report = _run(verb, [bad, syntax])
        for path, (code, heavy) in report.items():
            assert code == 1 or (verb == "fmt" and path == str(bad))
            assert heavy == [], f"`nndsl {verb}` on {Path(path).name} imported {heavy}"


def test_catalog_functions_do_not_import_torch(tmp_path: Path) -> None:
    """Functions and methods of the catalog are checked without torch; a name outside it
    (checked by running torch on meta tensors) is the only thing that imports torch."""
    catalog = tmp_path / "catalog.nn"
    catalog.write_text(
        "model M {\n    input x: [B, T, 16]\n    b, t, c = x.shape\n"
        "    y = x.view(b, t, 4, c // 4).transpose(1, 2).softmax(dim=-1)\n"
        "    y.mean(dim=1) -> relu -> Linear(4)\n}\n",
        encoding="utf-8",
    )
    fallback = tmp_path / "fallback.nn"
    fallback.write_text(
        "model M {\n    input x: [B, T, 16]\n    v, i = x.cummax(1)\n"
        "    (x.logcumsumexp(1) + v) -> Linear(4)\n}\n",
        encoding="utf-8",
    )
    report = _run("check", [catalog])
    assert report[str(catalog)] == [0, []]
    code, heavy = _run("check", [fallback])[str(fallback)]
    assert code == 0
    assert "torch" in heavy
