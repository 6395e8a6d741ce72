"""nndsl/ir.py is generated from tools/ir_schema.py (plain classes, no dataclass processing at
import): the committed file must be what the generator writes, and every generated class must
behave as the schema's dataclass does (construction, defaults, repr, equality, hashing,
frozenness, pickling, traversal)."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import pickle
import sys
from pathlib import Path

import pytest

from nndsl import ir
from nndsl.errors import Span

ROOT = Path(__file__).resolve().parent.parent


def _load_generator():
    spec = importlib.util.spec_from_file_location("gen_ir", ROOT / "tools" / "gen_ir.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_ir"] = module
    spec.loader.exec_module(module)
    return module


GEN = _load_generator()
SCHEMA = GEN.load_schema()
NODE_NAMES = sorted(
    name
    for name, obj in vars(SCHEMA).items()
    if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == SCHEMA.__name__
)


def test_generated_file_is_up_to_date() -> None:
    assert (ROOT / "nndsl" / "ir.py").read_text(encoding="utf-8") == GEN.generate(), (
        "nndsl/ir.py is out of date: run .venv/bin/python tools/gen_ir.py"
    )


def test_same_classes() -> None:
    generated = sorted(
        name
        for name, obj in vars(ir).items()
        if isinstance(obj, type) and issubclass(obj, ir.Node) and obj is not ir.Node
    )
    assert generated == NODE_NAMES
    assert len(NODE_NAMES) > 30


def _values(cls: type, tag: str) -> dict[str, object]:
    """One value per field: spans distinct per tag, the others hashable and tagged."""
    out: dict[str, object] = {}
    for i, f in enumerate(dataclasses.fields(cls)):
        if f.name.endswith("span"):
            out[f.name] = Span(f"{tag}.nn", i + 1, 2, i + 1, 5)
        else:
            out[f.name] = (f"{tag}-{f.name}", i)
    return out


@pytest.mark.parametrize("name", NODE_NAMES)
def test_behaves_as_the_dataclass(name: str) -> None:
    ref_cls, gen_cls = getattr(SCHEMA, name), getattr(ir, name)
    fields = dataclasses.fields(ref_cls)
    assert gen_cls._fields == tuple(f.name for f in fields)
    assert gen_cls.__slots__ == ref_cls.__slots__
    assert gen_cls.__match_args__ == ref_cls.__match_args__
    if not ref_cls.__doc__.startswith(f"{name}("):  # written, not made up by dataclass
        assert gen_cls.__doc__ == ref_cls.__doc__

    # defaults: only the fields without one are required, and the defaults agree
    required = {f.name: _values(ref_cls, "a")[f.name] for f in fields
                if f.default is dataclasses.MISSING}  # fmt: skip
    ref, gen = ref_cls(**required), gen_cls(**required)
    for f in fields:
        assert getattr(gen, f.name) == getattr(ref, f.name), f.name
    assert repr(gen) == repr(ref)

    # every field given
    a, b = _values(ref_cls, "a"), _values(ref_cls, "b")
    ref_a, gen_a = ref_cls(**a), gen_cls(**a)
    assert repr(gen_a) == repr(ref_a)
    assert hash(gen_a) == hash(ref_a)
    for f in fields:  # change one field at a time: equal exactly when the dataclass says so
        changed = {**a, f.name: b[f.name]}
        ref_c, gen_c = ref_cls(**changed), gen_cls(**changed)
        assert (gen_a == gen_c) == (ref_a == ref_c), f.name
        assert (hash(gen_a) == hash(gen_c)) == (hash(ref_a) == hash(ref_c)), f.name
    assert gen_a != ref_a  # different classes never compare equal
    assert (gen_a == 3) is False

    # frozen, with the dataclass's exception and message
    for f in fields:
        with pytest.raises(dataclasses.FrozenInstanceError) as gen_err:
            setattr(gen_a, f.name, 1)
        with pytest.raises(dataclasses.FrozenInstanceError) as ref_err:
            setattr(ref_a, f.name, 1)
        assert str(gen_err.value) == str(ref_err.value)
        with pytest.raises(dataclasses.FrozenInstanceError):
            delattr(gen_a, f.name)
    with pytest.raises(AttributeError):
        gen_a.not_a_field = 1  # type: ignore[attr-defined]

    # positional arguments are refused, as with kw_only
    with pytest.raises(TypeError):
        gen_cls(*a.values())

    # pickling and copying keep every field, spans included
    for clone in (pickle.loads(pickle.dumps(gen_a)), copy.copy(gen_a), copy.deepcopy(gen_a)):
        assert type(clone) is gen_cls
        assert all(getattr(clone, f.name) == getattr(gen_a, f.name) for f in fields)


def test_methods_kept() -> None:
    t = ir.TypeRef(name="tuple", args=(ir.TypeRef(name="int"),), variadic=True)
    assert str(t) == "tuple[int, ...]"
    assert ir.ImportedName(name="A", alias=None).local == "A"
    assert ir.ImportedName(name="A", alias="B").local == "B"
    entry = ir.TrainEntry(key="epochs", value=ir.Num(value=3, text="3"))
    assert ir.TrainDecl(name=None, entries=(entry,)).get("epochs") is entry


def test_children_and_walk_in_source_order() -> None:
    from nndsl.syntax import parse

    text = (
        "block B(c: int) {\n    input x\n    y = x -> Conv2d(c, 3)\n    relu(y + x)\n}\n"
        "model M {\n    input x: [B, 3, 8, 8]\n    Conv2d(4, 1) -> B(4) -> flatten\n}\n"
    )
    source, diags = parse(text, "m.nn")
    assert not diags
    nodes = list(ir.walk(source))
    assert nodes[0] is source
    # every node is reached, once, and each one's children are what its fields hold, in order
    assert len({id(n) for n in nodes}) == len(nodes)
    for node in nodes:
        expected: list[object] = []
        for name in node._fields:
            if name.endswith("span"):
                continue
            value = getattr(node, name)
            items = value if isinstance(value, tuple) else (value,)
            expected.extend(v for v in items if isinstance(v, ir.Node))
        assert ir.children(node) == expected
    calls = [n.func.id for n in nodes if isinstance(n, ir.Call)]
    assert calls == ["Conv2d", "relu", "Conv2d", "B"]
