"""Robustness: whatever bytes a spec file holds, `nndsl check` and `nndsl fmt --check` answer
with diagnostics and exit 0 or 1; they never crash, never print a traceback, never exit 2.

Inputs: the samples mutated token by token and character by character, random bytes, random
text, pathological nesting and sizes, odd files.  For every input that parses, `fmt` is also
idempotent and preserves the IR (spans aside).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nndsl.cli import main
from nndsl.syntax import parse
from nndsl.syntax.fmt import format_source

# `nndsl.cli.main` raises the recursion limit; doing it first keeps hypothesis from warning that
# the limit changed under it.
sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

ROOT = Path(__file__).parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.nn"))
SAMPLE_TEXTS = [p.read_text(encoding="utf-8") for p in SAMPLES]

FUZZ = settings(
    deadline=None,
    max_examples=150,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Tokens of the language (and a few of other languages), so mutations stay near real specs.
_TOKEN_RE = re.compile(r"\s+|#[^\n]*|\"[^\"\n]*\"|[A-Za-z_]\w*|\d[\d_.eE]*|->|\*\*|//|[=!<>]=|.")
_INSERTS = list("()[]{},:=+-*/@%.<>!;$`\"'#\\\n\t ") + [
    "->", "=>", "**", "...", "if", "else", "for", "in", "model", "block", "train", "input",
    "param", "return", "const", "import", "from", "true", "none", "x", "Linear(3)", "relu",
    "1e-3", "_", "0", "é", "\u2013", "\u201c", "\x00", "\x0c", "\r", "\u2028", "\ufeff",
]  # fmt: skip


@pytest.fixture(scope="module")
def workdir():
    """A folder holding the samples' neighbours (so `import "blocks.nn"` resolves)."""
    with tempfile.TemporaryDirectory() as d:
        for p in SAMPLES:
            shutil.copy(p, Path(d) / p.name)
        yield Path(d)


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue() + err.getvalue()


def check_robust(data: bytes, folder: Path, name: str = "fuzz.nn") -> None:
    """The property: both verbs answer 0 or 1 without a traceback; formatting round-trips."""
    path = folder / name
    path.write_bytes(data)
    for argv in (["--color", "never", "check", str(path)], ["fmt", "--check", str(path)]):
        code, output = _run(argv)
        assert code in (0, 1), f"{argv[-2]} exited {code}:\n{output}"
        assert "Traceback" not in output, output
    assert path.read_bytes() == data, "fmt --check must not write"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    check_format(text)


def check_format(text: str) -> None:
    source, diags = parse(text, "fuzz.nn")
    if source is None:
        assert any(d.is_error for d in diags)
        return
    once = format_source(source, text)
    again, diags = parse(once, "fuzz.nn")
    assert again is not None, (once, [d.message for d in diags])
    assert again == source, once
    assert format_source(again, once) == once
    assert [c.text for c in again.comments] == [c.text.rstrip() for c in source.comments]


# ---- mutations of real specs ---------------------------------------------------------------


@st.composite
def mutated_sample(draw) -> str:
    text = draw(st.sampled_from(SAMPLE_TEXTS))
    tokens = _TOKEN_RE.findall(text)
    for _ in range(draw(st.integers(1, 4))):
        if not tokens:
            break
        i = draw(st.integers(0, len(tokens) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace"]))
        if op == "delete":
            del tokens[i]
        elif op == "duplicate":
            tokens.insert(i, tokens[i])
        elif op == "swap" and i + 1 < len(tokens):
            tokens[i], tokens[i + 1] = tokens[i + 1], tokens[i]
        elif op == "insert":
            tokens.insert(i, draw(st.sampled_from(_INSERTS)))
        else:
            tokens[i] = draw(st.sampled_from(_INSERTS))
    return "".join(tokens)


@st.composite
def char_mutated_sample(draw) -> str:
    text = draw(st.sampled_from(SAMPLE_TEXTS))
    chars = list(text)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(chars)))
        op = draw(st.sampled_from(["delete", "insert", "replace"]))
        if op == "delete" and i < len(chars):
            del chars[i]
        elif op == "insert":
            chars.insert(i, draw(st.sampled_from(_INSERTS + [draw(st.characters())])))
        elif i < len(chars):
            chars[i] = draw(st.characters(codec="utf-8"))
    return "".join(chars)


@FUZZ
@given(text=mutated_sample())
def test_token_mutations(text: str, workdir: Path) -> None:
    check_robust(text.encode("utf-8", "surrogatepass"), workdir)


@FUZZ
@given(text=char_mutated_sample())
def test_character_mutations(text: str, workdir: Path) -> None:
    check_robust(text.encode("utf-8", "surrogatepass"), workdir)


@settings(FUZZ, max_examples=75)
@given(data=st.binary(max_size=400))
def test_random_bytes(data: bytes, workdir: Path) -> None:
    check_robust(data, workdir)


@settings(FUZZ, max_examples=75)
@given(text=st.text(st.characters(min_codepoint=9, max_codepoint=0x2FF), max_size=300))
def test_random_text(text: str, workdir: Path) -> None:
    check_robust(text.encode("utf-8"), workdir)


@settings(FUZZ, max_examples=75)
@given(pieces=st.lists(st.sampled_from(_INSERTS + ["\n", "    ", " "]), max_size=60))
def test_random_token_soup(pieces: list[str], workdir: Path) -> None:
    check_robust("".join(pieces).encode("utf-8", "surrogatepass"), workdir)


# ---- pathological inputs -------------------------------------------------------------------

_BODY = "model M {{\n    input x: [B, 4]\n    y = {}\n}}\n"


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000,
        "[" * 5000,
        "{" * 5000,
        ")" * 5000 + "]" * 5000 + "}" * 5000,
        _BODY.format("(" * 5000 + "x" + ")" * 5000),
        _BODY.format("[" * 5000 + "x" + "]" * 5000),
        _BODY.format("f(" * 3000 + "x" + ")" * 3000),
        _BODY.format("x + " * 3000 + "x"),
        _BODY.format("-" * 5000 + "x"),
        _BODY.format("not " * 3000 + "x"),
        _BODY.format("2 ** " * 3000 + "2"),
        _BODY.format("x if 1 else " * 3000 + "x"),
        _BODY.format("x" + ".shape" * 5000),
        _BODY.format("x" + "[0]" * 5000),
        _BODY.format("a: " * 3000 + "relu"),
        _BODY.format("x -> " * 5000),
        "model M {\n    input x: [B, 4]\n" + "for i in [1] {\n" * 3000 + "}\n" * 3000 + "}\n",
        "const A = " + "1, " * 20000 + "1\n",
        "model M " * 3000,
        "# comment\n" * 20000,
        "\n" * 100000,
        "x" * 200000,
    ],
    ids=lambda t: repr(t[:12]) + f"..{len(t)}",
)
def test_pathological(text: str, workdir: Path) -> None:
    check_robust(text.encode("utf-8"), workdir)


def test_very_long_valid_chain(workdir: Path) -> None:
    text = "model M {\n    input x: [B, 4]\n    x" + " -> relu" * 20000 + "\n}\n"
    check_robust(text.encode(), workdir)
    path = workdir / "fuzz.nn"
    assert _run(["check", str(path)])[0] == 0
    formatted = workdir / "chain.nn"
    formatted.write_text(text, encoding="utf-8")
    assert _run(["fmt", str(formatted)])[0] == 0
    lines = formatted.read_text(encoding="utf-8").splitlines()
    assert max(len(line) for line in lines) <= 100
    assert _run(["check", str(formatted)])[0] == 0


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"# only a comment",
        b"# one\n# two\n\n   # three\n",
        b"\n\n\n",
        b"\xef\xbb\xbfmodel M {\n    input x: [B, 4]\n    Linear(3)\n}\n",  # UTF-8 with a BOM
        b"model M {\r\n    input x: [B, 4]\r\n    Linear(3)\r\n}\r\n",  # CRLF
        b"model M {\r    input x: [B, 4]\r    Linear(3)\r}\r",  # old Mac line ends
        b"model M {\x0c\n    input x: [B, 4]\n    Linear(3)\n}\n",  # form feed
        b"model M {\n    input x: [B, 4]\n    Linear(3)\n}\n\xe9",  # Latin-1 at the end
        b"\xff\xfe m\x00o\x00d\x00e\x00l\x00",  # UTF-16
        b"model M {\n    input x: [B, 4]\x00\n}\n",  # a NUL
        b"\x80\x81\x82",
        "model M {\n    input x: [B, 4]\n    Linear(3)  # caf\u00e9 \u2192 \U0001f600\n}\n".encode(),
        "model M {\n    input x: [B, 4]\n    y = \u00e9t\u00e9\n}\n".encode(),
    ],
)
def test_odd_files(data: bytes, workdir: Path) -> None:
    check_robust(data, workdir)


def test_a_directory_and_a_missing_file(workdir: Path) -> None:
    folder = workdir / "folder.nn"
    folder.mkdir(exist_ok=True)
    for target in (folder, workdir / "missing.nn"):
        for argv in (["check", str(target)], ["fmt", "--check", str(target)], ["fmt", str(target)]):
            code, output = _run(argv)
            assert code == 1 and "Traceback" not in output and "error" in output


def test_an_import_of_a_directory_or_bad_file(workdir: Path) -> None:
    (workdir / "dir.nn").mkdir(exist_ok=True)
    (workdir / "latin.nn").write_bytes(b"# caf\xe9\n")
    (workdir / "self.nn").write_text('import "self.nn"\n', encoding="utf-8")
    for target in ("dir.nn", "latin.nn", "self.nn", "../../../../../../etc/passwd", ""):
        check_robust(f'import "{target}"\n'.encode(), workdir, "importer.nn")
