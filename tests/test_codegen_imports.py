"""model.py imports exactly the modules its code names: `torch` and `F` are collected while the
code is written (each class's `imports`), never searched for in the text afterwards."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import nndsl
from nndsl.check import check_file
from nndsl.codegen import model_source
from nndsl.codegen.model import ModelCode

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

INLINE = {
    # nn modules only: neither torch nor F
    "modules": """model A {
    input x: [B, 8]
    Linear(4) -> ReLU -> Linear(2)
}
""",
    # a parameter tensor: torch.empty in __init__
    "parameter": """model P {
    input x: [B, 4, 8]
    param pos: [1, 4, 8] = normal(std=0.02)
    x + pos -> Linear(2)
}
""",
    # a method whose only mention of torch is a dtype argument
    "dtype": """model C {
    input x: [B, 8]
    x.cumsum(1, dtype=long).float() -> Linear(2)
}
""",
    # a function of F inside a group: a small module class that calls it
    "function class": """model G {
    input x: [B, 4, 8]
    x -> g: (Linear(3) -> normalize(dim=-1))
}
""",
    # a name in the spec that looks like a module in text (a label `F`, a string)
    "lookalikes": """model L {
    input x: [B, 8]
    F: Linear(4) -> relu -> torch: Linear(2)
}
""",
}


def _named_modules(source: str) -> tuple[set[str], set[str]]:
    """(modules model.py imports among torch and F, those its code names as `torch.x`/`F.x`)."""
    tree = ast.parse(source)
    imported: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported.update(a.asname or a.name for a in node.names)
    named = {
        n.value.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
    }
    return imported & {"torch", "F"}, named & {"torch", "F"}


@pytest.mark.parametrize("name", sorted(INLINE))
def test_inline_specs_import_what_they_name(name: str) -> None:
    program = nndsl.load(INLINE[name])
    imported, named = _named_modules(model_source(program.checked, program.models))
    assert imported == named
    expected = {
        "modules": set(),
        "parameter": {"torch"},
        "dtype": {"torch"},
        "function class": {"F"},
        "lookalikes": {"F"},
    }[name]
    assert imported == expected


@pytest.mark.parametrize(
    "spec", sorted(p for p in SAMPLES.glob("*.nn") if p.stem != "blocks"), ids=lambda p: p.stem
)
def test_samples_import_what_they_name(spec: Path, monkeypatch) -> None:
    monkeypatch.chdir(SAMPLES)
    monkeypatch.syspath_prepend(str(SAMPLES))
    checked = check_file(spec.name)
    models = [m for m, inst in checked.models.items() if inst is not None]
    imported, named = _named_modules(model_source(checked, models))
    assert imported == named


def test_each_class_says_what_it_names() -> None:
    program = nndsl.load(INLINE["function class"])
    code = ModelCode(program.checked, program.models)
    code.build()
    assert {c.name: c.imports for c in code.order} == {"Normalize": {"F"}, "G": set()}
