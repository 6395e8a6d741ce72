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
