"""Static semantics: name resolution, then shape inference and parameter counts per model."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager

from nndsl.check.resolve import Symbols, resolve
from nndsl.errors import Diagnostic
from nndsl.records import dataclass, field
from nndsl.syntax.loader import Program, load


@dataclass
class Checked:
    """A program and everything the checker learnt about it."""

    program: Program
    symbols: Symbols | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    models: dict = field(default_factory=dict)  # model name → BlockInstance | None
    # train section name (None: unnamed) → its TrainPlan (nndsl/check/plan.py), for each
    # section without errors: the only reading of a train section after the checker
    plans: dict = field(default_factory=dict)

    @property
    def tasks(self) -> dict:
        """Train section name → the Task the checker decided (where one could be)."""
        return {name: p.task for name, p in self.plans.items() if p.task is not None}

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Checking allocates many small objects and almost no cycles; the cyclic collector's full
    passes over the growing parse tree would make time superlinear in the spec's size."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def check_file(
    path: str, text: str | None = None, *, imports: bool | None = None, parser=None
) -> Checked:
    """Read, parse and check a spec file and its imports; every diagnostic is collected.

    `imports`: whether the Python modules the spec names (`from pkg import Name`) are imported
    to find their shapes; False never runs the spec's Python (their outputs stay unchecked).
    None: True unless the environment variable NNDSL_NO_IMPORTS is 1.
    `parser`: what parses each file (see `nndsl.syntax.loader.load`)."""
    if imports is None:
        imports = not no_imports_env()
    with _no_cyclic_gc():
        return _check_file(path, text, imports, parser)


def no_imports_env() -> bool:
    """`NNDSL_NO_IMPORTS=1` in the environment: never import a spec's Python modules."""
    return os.environ.get("NNDSL_NO_IMPORTS", "").strip().lower() in ("1", "true", "yes")


def _check_file(path: str, text: str | None, imports: bool, parser=None) -> Checked:
    program, diags = load(path, text, imports=imports, parser=parser)
    if any(d.is_error for d in diags):
        return Checked(program, None, _ordered(diags))
    symbols, more = resolve(program)
    diags.extend(more)
    if symbols.root_trains:
        from nndsl.check.train import check_trains
    else:  # nothing to check, and nothing to import
        check_trains = _no_trains

    if any(d.is_error for d in more):
        # the train sections' values are still checked (but not against the models)
        diags.extend(check_trains(program, symbols, None)[0])
        return Checked(program, symbols, _ordered(diags))
    from nndsl.check.infer import infer

    result = infer(program, symbols)
    diags.extend(result.diagnostics)
    train_diags, plans = check_trains(program, symbols, result.models)
    diags.extend(train_diags)
    return Checked(program, symbols, _ordered(diags), result.models, plans)


def _no_trains(program, symbols, models) -> tuple[list[Diagnostic], dict]:
    """`check_trains` for a file without train sections."""
    return [], {}


def _ordered(diags: list[Diagnostic]) -> list[Diagnostic]:
    """Stable order: by file, then position; duplicates (same message and place) dropped."""
    seen = set()
    out = []
    for d in sorted(diags, key=Diagnostic.sort_key):
        key = (d.message, d.span)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
