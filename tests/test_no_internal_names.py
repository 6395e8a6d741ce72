"""Diagnostics and generated code speak the spec's words, never nndsl's internals.

Every spec of the repository (samples, the zoo, the error and formatter fixtures) and a set of
specs that reach the code paths where internals used to show (a layer or a tensor as an index,
slices with symbolic bounds, blocks the generator specialises) is checked; every diagnostic's
message, notes and hint, and the comments and docstrings of the generated model.py, must hold
no class name of the checker and no generated symbol (`_ad3a679be0`, `len_796`, `x__1`, `c__1`).
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import pytest

from nndsl.check import check_file
from nndsl.codegen import GenerateError, model_source

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"

INTERNAL = re.compile(
    r"\b(TensorV|TensorT|LayerRef|LayerValue|GroupV|RepeatV|LabeledV|CondLayerV|SliceV|Opaque"
    r"|ModuleSlot|ParamSlot|BlockInstance|LayerEntry|FunctionEntry|_Poison|POISON|NoneType"
    r"|Sym\(|Frame|Evaluator)\b"
    r"|\b_[0-9a-f]{10}\b"  # an opaque size's hash name
    r"|\blen_\d+\b"  # an old unknown slice length
    r"|\b[A-Za-z_]\w*?__\d+\b"  # the generator's neutral size names (`x__1`, `c__2`)
    r"|<nndsl\.|object at 0x"
)

# specs written to reach the places where internal names used to leak
PROBES = {
    "index-with-layer": "model M {\n    input x: [B, 10, 4]\n    y = x -> Linear(4)\n    y[Linear]\n}\n",
    "index-with-block": (
        "block K {\n    relu\n}\n\nmodel M {\n    input x: [B, 10, 4]\n    x[K]\n}\n"
    ),
    "index-with-tensor": (
        "model M {\n    input x: [B, 10, 4]\n    input i: long[B, 3]\n    x[i]\n}\n"
    ),
    "index-with-group": ("model M {\n    input x: [B, 10, 4]\n    x[(Linear(2) -> relu)]\n}\n"),
    "slice-bound-layer": "model M {\n    input x: [B, 10, 4]\n    x[:, Linear:]\n}\n",
    "slice-bound-tensor": "model M {\n    input x: [B, 10, 4]\n    x[:, x:]\n}\n",
    "min-of-layer": "model M {\n    input x: [B, 10]\n    n = min(Linear, 3)\n    x\n}\n",
    "int-of-tensor": "model M {\n    input x: [B, 10]\n    n = int(x)\n    x\n}\n",
    "layer-as-size": "model M {\n    input x: [B, 10]\n    Linear(Linear)\n}\n",
    "group-as-size": "model M {\n    input x: [B, 10]\n    Linear((relu -> relu))\n}\n",
    "symbolic-slices": (
        "model M {\n    input y: [B, L, 4]\n    a = y[:, ::2] -> mean(dim=1)\n"
        "    b = y[:, 1:-1] -> mean(dim=1)\n    c = y[:, ::3] -> flatten -> Linear(2)\n"
        "    return a, b, c\n}\n"
    ),
    "slice-by-parameter": (
        "block Crop(s: int) {\n    input x\n    x[:, s:] -> flatten -> Linear(3)\n}\n\n"
        "model M {\n    input x: [B, 10, 4]\n    a = x -> Crop(2)\n    b = x -> Crop(-3)\n"
        "    return a, b\n}\n"
    ),
    "branches-of-different-shapes": (
        "block Pick(wide: bool) {\n    input x\n    y = x -> Linear(8) if wide else x -> Linear(4)\n"
        "    y -> relu\n}\n\nmodel M {\n    input x: [B, 6]\n    a = x -> Pick(true)\n"
        "    b = x -> Pick(false)\n    return a, b\n}\n"
    ),
    "stride-by-parameter": (
        "block Down(s: int) {\n    Conv2d(8, 3, stride=s, padding=1) -> flatten -> Linear(2)\n}\n\n"
        "model M {\n    input x: [B, 3, 16, 16]\n    a = x -> Down(1)\n    b = x -> Down(2)\n"
        "    return a, b\n}\n"
    ),
    "batch-size-parameter": (
        "block Heads(n: int) {\n    input x\n    x.reshape(n, 2, -1)\n}\n\n"
        "model M {\n    input x: [B, 8]\n    x -> Heads(x.shape[0])\n}\n"
    ),
    "batch-size-layer": "model M {\n    input x: [B, 8]\n    Linear(x.shape[0])\n}\n",
    "symbolic-features": "model M {\n    input x: [B, T]\n    Linear(4)\n}\n",
    "sequence-length": (
        "model M {\n    input x: [B, T, 5]\n    b, t, f = x.shape\n"
        "    x -> Linear(3) -> reshape(b, t * 3)\n}\n"
    ),
}


def _repository_specs() -> list[Path]:
    specs = sorted((ROOT / "samples").rglob("*.nn"))
    specs += sorted(FIXTURES.rglob("*.nn"))
    return specs


def _texts(checked) -> list[str]:
    out = []
    for d in checked.diagnostics:
        out.append(d.message)
        out.extend(n.message for n in d.notes)
        if d.hint:
            out.append(d.hint)
    return out


def _comments_and_docstrings(source: str) -> list[str]:
    out = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT or (
            tok.type == tokenize.STRING and tok.string.startswith('"""')
        ):
            out.append(tok.string)
    return out


def _leaks(checked) -> list[str]:
    found = [t for t in _texts(checked) if INTERNAL.search(t)]
    models = [m for m, inst in checked.models.items() if inst is not None]
    if checked.ok and models:
        try:
            source = model_source(checked, models)
        except GenerateError as exc:
            found += [str(exc)] if INTERNAL.search(str(exc)) else []
        else:
            found += [t for t in _comments_and_docstrings(source) if INTERNAL.search(t)]
            # a generated symbol in the code itself is a NameError waiting to happen
            code = re.sub(r'"""[\s\S]*?"""|#[^\n]*', "", source)
            found += [m.group(0) for m in re.finditer(r"\b(_[0-9a-f]{10}|len_\d+)\b", code)]
    return found


@pytest.mark.parametrize("spec", _repository_specs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_specs_speak_the_spec_words(spec: Path, monkeypatch) -> None:
    monkeypatch.chdir(spec.parent)
    monkeypatch.syspath_prepend(str(spec.parent))
    checked = check_file(spec.name)
    assert not _leaks(checked)


@pytest.mark.parametrize("name", sorted(PROBES))
def test_probe_specs_speak_the_spec_words(name: str) -> None:
    checked = check_file(f"{name}.nn", PROBES[name])
    assert checked.diagnostics or checked.models, "the probe must reach the checker"
    assert not _leaks(checked)


def test_the_pattern_catches_what_used_to_leak() -> None:
    for text in (
        "not LayerRef",
        "not TensorV",
        "[B, _ad3a679be0]",
        "# [B, L*len_796]",
        "[x__1, 4]",
        "depends on `c__2`",
    ):
        assert INTERNAL.search(text), text
    for text in ("[B, L - 2, 4]", "the layer `Linear`", "x.shape[1]", "in_features"):
        assert not INTERNAL.search(text), text
