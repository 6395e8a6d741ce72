"""The checker's structure (issue 10): frozen records with Enum kinds, no mode flags in `dims`,
code generation composing the evaluator with a value domain, small modules with one job each."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from nndsl.check import check_file
from nndsl.check.graph import BlockInstance, ModuleSlot, Op, OpKind, SlotKind, walk_slots

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("record", [Op, ModuleSlot, BlockInstance])
def test_records_are_frozen(record) -> None:
    assert dataclasses.is_dataclass(record)
    assert record.__dataclass_params__.frozen, f"{record.__name__} must be frozen"


def _instances(inst: BlockInstance, seen: set[int]):
    if id(inst) in seen:
        return
    seen.add(id(inst))
    yield inst
    for slot in walk_slots(inst.modules):
        if slot.instance is not None:
            yield from _instances(slot.instance, seen)


@pytest.mark.parametrize("spec", ["resnet.nn", "zoo/mobilenet_v2.nn", "zoo/vit.nn"])
def test_checked_records_have_enum_kinds(spec: str) -> None:
    path = ROOT / "samples" / spec
    if not path.exists():
        pytest.skip(f"{spec} is not in samples/")
    checked = check_file(str(path))
    assert not [d.message for d in checked.diagnostics if d.is_error]
    n_ops = n_slots = 0
    seen: set[int] = set()
    for root in checked.models.values():
        for inst in _instances(root, seen):
            for op in inst.ops:
                assert type(op.kind) is OpKind, op
                n_ops += 1
            for slot in walk_slots(inst.modules):
                assert type(slot.kind) is SlotKind, slot.name
                n_slots += 1
            with pytest.raises(dataclasses.FrozenInstanceError):
                inst.ops[0].kind = OpKind.BINOP  # type: ignore[misc]
    assert n_ops > 10 and n_slots > 10


def test_kinds_read_as_their_names() -> None:
    assert OpKind.MODULE == "module" and str(OpKind.MODULE) == "module"
    assert f"{SlotKind.SEQUENTIAL}" == "sequential"


def test_dims_has_no_mode_flags() -> None:
    """The arithmetic mode (a quotient by a symbol: an error, or an opaque size) is an argument
    of `dims.floordiv`/`mod`/`exact_div`, never module-level state."""
    from nndsl import dims

    mutable = [
        name
        for name, value in vars(dims).items()
        if isinstance(value, (list, dict, set, bytearray)) and not name.startswith("__")
    ]
    assert not mutable, f"module-level mutable state in nndsl.dims: {mutable}"
    assert not hasattr(dims, "lenient")
    h, s = dims.sym("H"), dims.sym("s")
    with pytest.raises(dims.DimError):
        dims.floordiv(h, s)
    assert dims.free_symbols(dims.floordiv(h, s, opaque=True)) != {"H", "s"}
    with pytest.raises(dims.DimError):
        _ = h // s  # the operators are always strict


def _nndsl_modules():
    import importlib
    import pkgutil

    import nndsl

    for info in pkgutil.walk_packages(nndsl.__path__, "nndsl."):
        if info.name.startswith(("nndsl.lsp", "nndsl.runtime", "nndsl.interp")):
            continue  # optional extras and generated-code helpers: not the checker's users
        if info.name.endswith(("_lark_parser", "__main__")):
            continue
        yield importlib.import_module(info.name)


def test_nothing_subclasses_the_evaluator() -> None:
    """Code generation composes an Evaluator with its value domain; it never overrides it."""
    import inspect

    from nndsl.check.infer import Evaluator

    subclasses = [
        f"{mod.__name__}.{name}"
        for mod in _nndsl_modules()
        for name, obj in vars(mod).items()
        if inspect.isclass(obj) and issubclass(obj, Evaluator) and obj is not Evaluator
    ]
    assert not subclasses, subclasses
    assert not Evaluator.__subclasses__()


def test_both_domains_implement_the_protocol() -> None:
    from nndsl.check.domain import ConcreteDomain, ValueDomain
    from nndsl.codegen.generic import SymbolicDomain

    hooks = {
        n for n in vars(ValueDomain) if not n.startswith("_") and callable(getattr(ValueDomain, n))
    } | set(ValueDomain.__annotations__)
    assert len(hooks) > 15
    for domain in (ConcreteDomain, SymbolicDomain):
        missing = sorted(h for h in hooks if not hasattr(domain, h))
        assert not missing, f"{domain.__name__} lacks {missing}"


EVALUATOR_MODULES = (
    "infer apply domain expressions frame functions graph indexing layers lints messages naming "
    "operators sizes statements values"
).split()
MAX_LINES = 650


def test_the_evaluator_is_made_of_small_modules() -> None:
    """One job per module: the evaluator's rules live in modules of at most MAX_LINES lines
    (the Evaluator itself only composes them: its own methods are few)."""
    from nndsl.check.infer import Evaluator

    check_dir = ROOT / "nndsl" / "check"
    sizes = {m: len((check_dir / f"{m}.py").read_text().splitlines()) for m in EVALUATOR_MODULES}
    too_long = {m: n for m, n in sizes.items() if n > MAX_LINES}
    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
    own = [n for n, v in vars(Evaluator).items() if callable(v) and not n.startswith("__")]
    assert len(own) <= 12, own
    mixins = Evaluator.__mro__[1:-1]
    assert len(mixins) >= 8
    for mixin in mixins:
        assert mixin.__module__.startswith("nndsl.check."), mixin


def test_the_catalog_builds_its_own_tables() -> None:
    """Importing any part of nndsl.catalog gives the complete tables: nothing else fills them
    (not the checker, not code generation, not checking a spec)."""
    import subprocess
    import sys

    code = (
        "from nndsl.catalog.core import FUNCTIONS, LAYERS\n"
        "before = (sorted(LAYERS), sorted(FUNCTIONS))\n"
        "import nndsl.check.infer, nndsl.codegen.model, nndsl.check.train, nndsl.api\n"
        "from nndsl.check import check_file\n"
        "from nndsl.codegen import model_source\n"
        f"checked = check_file({str(ROOT / 'samples' / 'resnet.nn')!r})\n"
        "model_source(checked, list(checked.models), formatted=False)\n"
        "after = (sorted(LAYERS), sorted(FUNCTIONS))\n"
        "assert before == after, 'tables grew'\n"
        "assert len(before[0]) > 100 and len(before[1]) > 100, [len(x) for x in before]\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
