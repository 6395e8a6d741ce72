"""nndsl.records: records behave as the dataclasses they replace, and their precompiled methods
(nndsl/_records_gen.py) are current."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl import records

ROOT = Path(__file__).resolve().parent.parent


def test_generated_methods_are_current() -> None:
    r = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_records.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_path_records_are_precompiled() -> None:
    """Every record class imported by `nndsl check` finds its factory in _records_gen, and
    `dataclasses` is not imported for a check."""
    code = (
        "import sys\n"
        "from nndsl import records\n"
        "from nndsl._records_gen import FACTORIES\n"
        "from nndsl.check import check_file\n"
        "c = check_file(sys.argv[1])\n"
        "assert not c.diagnostics, c.diagnostics\n"
        "missing = [k for k in records.SEEN if k not in FACTORIES]\n"
        "assert records.SEEN and not missing, missing\n"
        "assert 'dataclasses' not in sys.modules\n"
        "assert 'inspect' not in sys.modules\n"
    )
    spec = ROOT / "samples" / "zoo" / "resnet.nn"
    r = subprocess.run([sys.executable, "-c", code, str(spec)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def _pair(**params):
    """The same class body made by dataclasses and by nndsl.records."""

    def make(dc, fieldf):
        @dc(**params)
        class Rec:
            a: int
            b: str = "x"
            c: tuple = fieldf(default_factory=lambda: (0,))
            d: float = fieldf(default=2.5, compare=False, repr=False)

            def total(self) -> int:
                return self.a + len(self.c)

        return Rec

    return make(dataclasses.dataclass, dataclasses.field), make(records.dataclass, records.field)


PARAMS = [
    {},
    {"frozen": True},
    {"frozen": True, "slots": True},
    {"eq": False},
    {"frozen": True, "eq": False},
    {"slots": True},
    {"kw_only": True},
    {"repr": False, "frozen": True},
]


@pytest.mark.parametrize("params", PARAMS, ids=[repr(p) for p in PARAMS])
def test_record_behaves_as_its_dataclass(params) -> None:
    ref, rec = _pair(**params)
    kw = params.get("kw_only", False)

    def build(cls, *args, **kwargs):
        if kw:
            return cls(**dict(zip("abcd", args)), **kwargs)
        return cls(*args, **kwargs)

    r1, g1 = build(ref, 1), build(rec, 1)
    r2, g2 = build(ref, 1, "y", (1,), 9.0), build(rec, 1, "y", (1,), 9.0)
    r3, g3 = build(ref, 1, d=7.0), build(rec, 1, d=7.0)
    assert [r1.a, r1.b, r1.c, r1.d] == [g1.a, g1.b, g1.c, g1.d]
    assert g1.c == (0,)
    if not params.get("slots"):  # class attributes: the defaults, none for a factory
        assert [getattr(rec, n, None) for n in "abcd"] == [getattr(ref, n, None) for n in "abcd"]
    if params.get("repr", True):
        assert repr(g2).replace("test_record_behaves_as_its_dataclass.", "") == repr(r2).replace(
            "test_record_behaves_as_its_dataclass.", ""
        )
    assert (r1 == r3) == (g1 == g3)
    assert (r1 == r2) == (g1 == g2)
    assert (g1 == r1) is False  # another class
    assert (ref.__hash__ is None) == (rec.__hash__ is None)
    if ref.__hash__ is not None and params.get("eq", True):
        assert hash(g1) == hash(g3)
    assert ref.__match_args__ == rec.__match_args__
    assert hasattr(r1, "__dict__") == hasattr(g1, "__dict__")
    assert g2.total() == 2
    if params.get("frozen"):
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'a'"):
            g1.a = 5
        with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'b'"):
            del g1.b
    else:
        g1.a = 5
        assert g1.a == 5
    for clone in (copy.deepcopy(g2), copy.copy(g2)):  # pickle's protocol, in process
        assert (clone.a, clone.b, clone.c, clone.d) == (1, "y", (1,), 9.0)
    # the dataclasses API on a record
    assert dataclasses.is_dataclass(rec) and dataclasses.is_dataclass(g1)
    assert [f.name for f in dataclasses.fields(g1)] == ["a", "b", "c", "d"]
    assert [f.name for f in records.fields(g1)] == ["a", "b", "c", "d"]
    assert rec.__dataclass_params__.frozen == params.get("frozen", False)
    for replace in (dataclasses.replace, records.replace):
        changed = replace(g2, b="z")
        assert (changed.a, changed.b, changed.c, changed.d) == (1, "z", (1,), 9.0)
        assert type(changed) is rec
    assert dataclasses.asdict(g2) == dataclasses.asdict(r2)


def test_check_records_pickle() -> None:
    from nndsl.errors import Diagnostic, Note, Severity, Span

    span = Span("a.nn", 1, 2, 1, 5)
    diag = Diagnostic(
        severity=Severity.ERROR, message="m", span=span, hint="h", notes=(Note("n", span),)
    )
    assert pickle.loads(pickle.dumps(diag)) == diag
    assert pickle.loads(pickle.dumps(span)) == span


def test_inheritance_post_init_and_explicit_methods() -> None:
    @records.dataclass(frozen=True)
    class Base:
        x: int
        y: int = 0

    @records.dataclass(frozen=True, slots=True)
    class Child(Base):
        z: int = 1

        def __post_init__(self) -> None:
            object.__setattr__(self, "z", self.z * 10)

    c = Child(1, 2, 3)
    assert (c.x, c.y, c.z) == (1, 2, 30)
    assert repr(c).endswith("Child(x=1, y=2, z=30)")
    assert c == Child(1, 2, 3) and c != Base(1, 2)
    assert Child.__match_args__ == ("x", "y", "z")

    @records.dataclass
    class Own:
        v: int

        def __repr__(self) -> str:
            return "own"

        def __eq__(self, other: object) -> bool:
            return True

    assert repr(Own(1)) == "own" and Own(1) == 3
    assert Own.__hash__ is None  # as dataclasses: __eq__ without __hash__


def test_recursive_repr() -> None:
    @records.dataclass(eq=False)
    class Loop:
        other: object = None

    a = Loop()
    a.other = a
    assert repr(a).endswith("Loop(other=...)")


def test_unsupported_parameters_fall_back_to_dataclasses() -> None:
    @records.dataclass(order=True, frozen=True)
    class Ordered:
        v: int

    assert Ordered(1) < Ordered(2)
    assert "__record_fields__" not in Ordered.__dict__


def test_replace_fills_a_frozen_record_as_its_init_would() -> None:
    """`records.replace` makes a frozen record with the generated `__init__` by filling the new
    instance's `__dict__` (records._plain_init): the same fields, in the same order, as
    `__init__` sets, and nothing else the old instance held; the same errors; any other
    record (a `__post_init__`, slots, not frozen) goes through `__init__`."""
    from nndsl.check.graph import Op

    @records.dataclass(frozen=True)
    class Plain:
        a: int
        b: str = "x"
        c: tuple = records.field(default_factory=tuple)

    @records.dataclass(frozen=True)
    class Post:
        a: int
        b: int = 0

        def __post_init__(self) -> None:
            object.__setattr__(self, "b", self.a * 2)

    assert records._plain_init(Plain) == {"a", "b", "c"}
    assert records._plain_init(Post) is None
    p = Plain(1, "y", (2,))
    object.__setattr__(p, "cached", 5)  # not a field: not carried over (as with __init__)
    q = records.replace(p, b="z")
    assert type(q) is Plain and vars(q) == vars(Plain(1, "z", (2,)))
    assert list(vars(q)) == ["a", "b", "c"]
    assert q == Plain(1, "z", (2,)) and hash(q) == hash(Plain(1, "z", (2,)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        q.a = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        records.replace(p, nope=1)
    assert records.replace(Post(3), a=4).b == 8
    op = Op("function", None, (), (), None, None)
    assert records._plain_init(Op) is not None
    assert vars(records.replace(op, name_hint="h")) == vars(dataclasses.replace(op, name_hint="h"))
