"""The language server's incremental re-check (nndsl/incremental.py) against a fresh check.

Differential: for every sample and zoo spec and a seeded series of random edits (characters typed
or deleted, lines inserted, deleted, duplicated or joined, numbers changed), the incremental
parser's IR (spans included) and diagnostics equal those of `nndsl.syntax.parse` on the same
text, and a Session's check gives the diagnostics of a fresh `check_file`.  Also: edits to a
user's Python module are seen by the next check of a long-lived Session.
"""

from __future__ import annotations

import random
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from nndsl import ir
from nndsl.check import check_file
from nndsl.incremental import IncrementalParser, Session, _cut_body
from nndsl.syntax import parse

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "samples").glob("*.nn")) + sorted((ROOT / "samples" / "zoo").glob("*.nn"))


def dump(node: object) -> object:
    """A node as nested tuples of every field, spans included (IR equality ignores spans)."""
    if isinstance(node, ir.Node):
        return (type(node).__name__, *(dump(getattr(node, f)) for f in node._fields))
    if isinstance(node, tuple):
        return tuple(dump(x) for x in node)
    return node


def same_parse(inc: IncrementalParser, text: str, path: str) -> None:
    got_source, got_diags = inc(text, path)
    want_source, want_diags = parse(text, path)
    assert dump(got_source) == dump(want_source)
    assert sorted(got_diags, key=repr) == sorted(want_diags, key=repr)


def edit(text: str, rng: random.Random) -> str:
    """One random edit of the kind a user makes while typing."""
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    line = lines[i]
    kind = rng.choice(
        ["type", "delete", "insert line", "delete line", "duplicate", "join", "number"]
    )
    if kind == "type":
        j = rng.randint(0, len(line))
        lines[i] = line[:j] + rng.choice('()[]{},:=->+*x1 #"') + line[j:]
    elif kind == "delete" and line:
        j = rng.randrange(len(line))
        lines[i] = line[:j] + line[j + 1 :]
    elif kind == "insert line":
        # `models -> relu` at column 1 inside a body looks like the start of a declaration to
        # the error recovery's cutting (a misspelt `model`), but is a statement
        lines.insert(
            i, rng.choice(["", "    # note", "    x = y", "}", "model M {", "models -> relu"])
        )
    elif kind == "delete line":
        del lines[i]
    elif kind == "duplicate":
        lines.insert(i, line)
    elif kind == "join" and i + 1 < len(lines):
        lines[i : i + 2] = [line + " " + lines[i + 1].strip()]
    elif kind == "number":
        lines[i] = "".join(str(rng.randint(1, 64)) if c.isdigit() else c for c in line)
    return "\n".join(lines)


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.name)
def test_random_edits_parse_as_a_fresh_parse(spec: Path) -> None:
    rng = random.Random(spec.name)
    inc = IncrementalParser()
    original = spec.read_text()
    text = original
    same_parse(inc, text, str(spec))
    for step in range(40):
        # a walk of edits, coming back to the original now and then (error ↔ valid)
        text = original if step % 10 == 9 else edit(text, rng)
        same_parse(inc, text, str(spec))


def big_spec() -> str:
    """A spec whose bodies are long enough to be cut into several runs of statements."""
    stages = ["Conv2d(16, 3, padding=1)", "BatchNorm2d", "relu", "Dropout(0.1)", "Unit(16)"]
    body = []
    for i in range(300):
        a, b = stages[i % 5], stages[(i + 2) % 5]
        if i % 7 == 3:
            body.append(f"    s{i} = x -> {a}\n        -> {b}  # note {i}")
            body.append(f"    x = s{i} + x")
        elif i % 11 == 5:
            body.append(f"    stage{i}: ({a} * 2)")
        else:
            body.append(f"    {a} -> {b}")
    return (
        textwrap.dedent(
            """\
        # a big spec
        block Unit(out: int) {
            Conv2d(out, 3, padding=1) -> BatchNorm2d -> relu
        }

        model Big {
            input x: [B, 16, 8, 8]
        """
        )
        + "\n".join(body)
        + "\n    adaptive_avg_pool2d(1) -> flatten -> Linear(10)\n}\n"
    )


def test_long_bodies_are_cut_and_reused(tmp_path: Path) -> None:
    text = big_spec()
    lines = text.split("\n")
    model = next(i for i, s in enumerate(lines) if s.startswith("model"))
    cut = _cut_body(lines[model:])
    assert cut is not None and len(cut[2]) > 10  # the body is cut into many runs
    path = str(tmp_path / "big.nn")
    inc = IncrementalParser()
    same_parse(inc, text, path)
    whole = inc.parsed_lines
    # a one-line edit re-parses one run, and a line inserted above moves, not re-parses, the rest
    for changed in (
        text.replace("Linear(10)", "Linear(11)"),
        text.replace("    Dropout(0.1) -> Conv2d", "\n    Dropout(0.1) -> Conv2d", 1),
    ):
        same_parse(inc, changed, path)
        assert 0 < inc.parsed_lines < whole / 5
    rng = random.Random(7)
    for _ in range(60):
        text = edit(text, rng)
        same_parse(inc, text, path)


def test_session_check_equals_a_fresh_check(tmp_path: Path) -> None:
    rng = random.Random(3)
    session = Session()
    for name in ("resnet.nn", "unet.nn", "text_transformer.nn"):
        path = tmp_path / name
        shutil.copy(ROOT / "samples" / name, path)
        text = path.read_text()
        for step in range(12):
            got = session.check(str(path), text, imports=False)
            want = check_file(str(path), text, imports=False)
            assert got.diagnostics == want.diagnostics
            assert list(got.models) == list(want.models)
            text = path.read_text() if step % 4 == 3 else edit(text, rng)


def test_imported_spec_files_follow_their_edits(tmp_path: Path) -> None:
    (tmp_path / "blocks.nn").write_text("block Head(n: int) {\n    flatten -> Linear(n)\n}\n")
    main = tmp_path / "main.nn"
    main.write_text(
        'import "blocks.nn"\n\nmodel M {\n    input x: [B, 4, 2]\n    x -> Head(3)\n}\n'
    )
    session = Session()
    assert session.check(str(main), imports=False).ok
    (tmp_path / "blocks.nn").write_text("block Head(n: int) {\n    flatten -> Linear(n, )(\n}\n")
    got = session.check(str(main), imports=False)
    assert got.diagnostics == check_file(str(main), imports=False).diagnostics
    assert not got.ok


MODULE_V1 = """\
from torch import nn


class Wide(nn.Module):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.fc = nn.Linear(n, 8)

    def forward(self, x):
        return self.fc(x)
"""

SPEC = """\
from userpkg_incremental.layers import Wide

model M {
    input x: [B, 4]
    x -> Wide(4) -> Linear(2)
}
"""


def output_of(checked) -> str:
    from nndsl.check.summary import format_type

    inst = checked.models["M"]
    slot = next(op.target for op in inst.ops if op.kind == "module" and op.target.kind == "py")
    return format_type(slot.out_type)


def test_session_sees_edits_to_the_users_python_module(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pkg = tmp_path / "userpkg_incremental"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "layers.py").write_text(MODULE_V1)
    spec = tmp_path / "net.nn"
    spec.write_text(SPEC)
    session = Session()
    try:
        first = session.check(str(spec), imports=True)
        assert first.ok, first.diagnostics
        assert output_of(first) == "[B, 8]"
        assert "userpkg_incremental.layers" in session.modules.modules
        # the user widens the layer (a different size too: the file's stamp changes for sure)
        (pkg / "layers.py").write_text(MODULE_V1.replace("nn.Linear(n, 8)", "nn.Linear(n, 32)"))
        second = session.check(str(spec), imports=True)
        assert second.ok, second.diagnostics
        assert output_of(second) == "[B, 32]"
        # and breaks it: the import error is reported, not the old module's shapes
        (pkg / "layers.py").write_text(
            "from torch import nn\n\nclass Narrow(nn.Module):\n    pass\n"
        )
        third = session.check(str(spec), imports=True)
        assert any("has no `Wide`" in d.message for d in third.diagnostics), third.diagnostics
    finally:
        for name in [m for m in sys.modules if m.startswith("userpkg_incremental")]:
            del sys.modules[name]


def test_pieces_are_kept_per_file_and_dropped_on_close(tmp_path: Path) -> None:
    """A spec importing many files keeps its own pieces between checks (the cache ages per file,
    not per parse), and closing it forgets them."""
    names = [f"part{i}.nn" for i in range(6)]
    for i, name in enumerate(names):
        (tmp_path / name).write_text(f"block P{i}(n: int) {{\n    Linear(n) -> relu\n}}\n")
    imports = "".join(f'import "{n}"\n' for n in names)
    main = tmp_path / "main.nn"
    body = "\n".join(f"    P{i % 6}(8)" for i in range(40))
    text = imports + "\nmodel M {\n    input x: [B, 8]\n" + body + "\n    Linear(2)\n}\n"
    session = Session()
    parsed: list[str] = []
    real = session.parser._parse_once

    def counting(text: str, path: str, follow):
        parsed.append(path)
        return real(text, path, follow)

    session.parser._parse_once = counting  # type: ignore[method-assign]
    assert session.check(str(main), text).ok
    first = len(parsed)
    for k in range(3, 6):
        parsed.clear()
        got = session.check(str(main), text.replace("Linear(2)", f"Linear({k})"))
        assert got.ok
        assert parsed == [str(main)]  # one run of the model, nothing of the imported files
    assert first > 8
    session.close(str(main))
    parsed.clear()
    session.check(str(main), text)
    assert parsed.count(str(main)) > 2 and len(parsed) == parsed.count(str(main))
