"""`nndsl fmt`: canonical, idempotent, meaning-preserving, and keeps every comment."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from nndsl.cli import main
from nndsl.syntax import parse
from nndsl.syntax.fmt import WIDTH, format_source

SAMPLES = sorted((Path(__file__).parent.parent / "samples").glob("*.nn"))


def fmt(text: str) -> str:
    source, diags = parse(text, "t.nn")
    assert source is not None, [d.message for d in diags]
    return format_source(source, text)


def ir_of(text: str):
    source, diags = parse(text, "t.nn")
    assert source is not None, [d.message for d in diags]
    return source


def comments(text: str) -> list[str]:
    return [c.text for c in ir_of(text).comments]


@pytest.mark.parametrize("path", SAMPLES, ids=[p.stem for p in SAMPLES])
class TestSamples:
    def test_idempotent(self, path: Path) -> None:
        once = fmt(path.read_text(encoding="utf-8"))
        assert fmt(once) == once

    def test_meaning_preserved(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        assert ir_of(fmt(text)) == ir_of(text)

    def test_comments_survive(self, path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        assert comments(fmt(text)) == comments(text)

    def test_lines_fit(self, path: Path) -> None:
        for line in fmt(path.read_text(encoding="utf-8")).splitlines():
            assert len(line) <= WIDTH or "->" not in line.strip()[3:], line


# ---- the command line ----------------------------------------------------------------------


def test_check_then_format(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "iris.nn"
    messy = "model IrisMLP{input x:[B,4]\n  Linear(32)->relu->Linear(3)   # out\n}\n"
    spec.write_text(messy, encoding="utf-8")
    assert main(["fmt", "--check", str(spec)]) == 1
    assert "would reformat" in capsys.readouterr().out
    assert spec.read_text(encoding="utf-8") == messy  # --check writes nothing
    assert main(["fmt", str(spec)]) == 0
    assert "reformatted" in capsys.readouterr().out
    assert spec.read_text(encoding="utf-8") == (
        "model IrisMLP {\n    input x: [B, 4]\n    Linear(32) -> relu -> Linear(3)  # out\n}\n"
    )
    assert main(["fmt", "--check", str(spec)]) == 0
    assert "already formatted" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.nndsl-tmp"))


def test_samples_through_the_cli(tmp_path: Path) -> None:
    for path in SAMPLES:
        shutil.copy(path, tmp_path / path.name)
    files = [str(tmp_path / p.name) for p in SAMPLES]
    assert main(["fmt", *files]) == 0
    assert main(["fmt", "--check", *files]) == 0


@pytest.mark.parametrize(
    "bad",
    [
        "model M {\n    input x: [B, 4]\n    Linear(3\n}\n",
        "model M {\n    input x: [B, 4]\n    h[0] = x\n}\n",  # an error of the IR builder
        "modle M {\n}\n",
    ],
)
def test_refuses_files_with_syntax_errors(
    bad: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    spec = tmp_path / "bad.nn"
    spec.write_bytes(bad.encode())
    for args in (["fmt", str(spec)], ["fmt", "--check", str(spec)]):
        assert main(["--color", "never", *args]) == 1
        assert spec.read_bytes() == bad.encode()
        err = capsys.readouterr().err
        assert "error:" in err and "Traceback" not in err


def test_refuses_unreadable_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    latin = tmp_path / "latin.nn"
    latin.write_bytes(b"# caf\xe9\nmodel M {\n}\n")
    assert main(["fmt", str(latin), str(tmp_path / "missing.nn"), str(tmp_path)]) == 1
    assert latin.read_bytes() == b"# caf\xe9\nmodel M {\n}\n"
    err = capsys.readouterr().err
    assert "not UTF-8" in err and "no such file" in err and "is a directory" in err


# ---- layout --------------------------------------------------------------------------------


def test_long_chains_break_before_arrows() -> None:
    stages = " -> ".join(f"Linear({n})" for n in range(100, 130))
    text = f"model M {{\n    input x: [B, 4]\n    h = x -> {stages}\n}}\n"
    out = fmt(text)
    lines = out.splitlines()
    assert all(len(line) <= WIDTH for line in lines)
    continued = [line for line in lines if line.strip().startswith("->")]
    assert len(continued) >= 2
    assert all(line.startswith(" " * 8 + "-> ") for line in continued)
    assert not any(line.rstrip().endswith("->") for line in lines)
    assert ir_of(out) == ir_of(text)


def test_the_authors_breaks_in_chains_are_kept_and_normalised() -> None:
    text = "model M {\n    input x: [B, 4]\n    x\n  -> Linear(3) ->\n relu->  Linear(2)\n}\n"
    assert fmt(text) == (
        "model M {\n    input x: [B, 4]\n    x\n        -> Linear(3)\n"
        "        -> relu -> Linear(2)\n}\n"
    )


def test_over_long_lines_break_inside_brackets() -> None:
    args = ", ".join(f"k{i}=1000" for i in range(10))  # too long after `y = `, fits alone
    text = f"model M {{\n    input x: [B, 4]\n    y = function({args})\n    y\n}}\n"
    out = fmt(text)
    assert out == (
        f"model M {{\n    input x: [B, 4]\n    y = function(\n        {args}\n    )\n    y\n}}\n"
    )
    assert ir_of(out) == ir_of(text)
    many = ", ".join(f"a{i}={i}" for i in range(30))  # too long for a line: one a line
    lines = fmt(f"model M {{\n    input x: [B, 4]\n    f({many})\n}}\n").splitlines()
    assert lines[2:5] == ["    f(", "        a0=0,", "        a1=1,"]
    assert lines[-3:] == ["        a29=29", "    )", "}"]


def test_long_conditional_breaks_before_else() -> None:
    text = (
        "block B(out: int, stride: int = 1) {\n    input x\n"
        "    s = x if stride == 1 and x.shape[1] == out else x -> downsample: "
        "(Conv2d(out, 1, stride=stride, bias=false) -> BatchNorm2d)\n    s\n}\n"
    )
    lines = fmt(text).splitlines()
    assert lines[2] == "    s = x if stride == 1 and x.shape[1] == out"
    assert lines[3].startswith("        else x -> downsample: (")


def test_trailing_comments_stay_on_their_line() -> None:
    text = (
        'import "blocks.nn" # shared\n'
        "model M {  # the model\n"
        "    input x: [B, 4]  # features\n"
        "    Linear(3)# logits\n"
        "} # end of M\n"
        "train {\n    epochs = 3 # short\n    loss = MSELoss()\n    optimizer = Adam()\n}\n"
    )
    out = fmt(text)
    assert 'import "blocks.nn"  # shared\n' in out
    assert "model M {  # the model\n" in out
    assert "    input x: [B, 4]  # features\n" in out
    assert "    Linear(3)  # logits\n" in out
    assert "}  # end of M\n" in out
    assert "    epochs    = 3  # short\n" in out


def test_aligned_trailing_comments_stay_aligned() -> None:
    text = (
        "model M {\n    input x: [B, 1, 8, 8]\n"
        "    Conv2d(16, 3, padding = 1)->relu       # [B, 16, 8, 8]\n"
        "    max_pool2d(2)                          # [B, 16, 4, 4]\n"
        "    flatten    # no room to keep the column: two spaces\n}\n"
    )
    assert fmt(text) == (
        "model M {\n    input x: [B, 1, 8, 8]\n"
        "    Conv2d(16, 3, padding=1) -> relu       # [B, 16, 8, 8]\n"
        "    max_pool2d(2)                          # [B, 16, 4, 4]\n"
        "    flatten    # no room to keep the column: two spaces\n}\n"
    )


def test_comments_before_a_closing_brace_stay_inside() -> None:
    text = (
        "model M {\n    input x: [B, 4]\n    Linear(3)\n    # TODO: dropout\n}\n"
        "block B {\n    for i in [1, 2] {\n        relu\n            # inner\n    }\n}\n"
        "train {\n    epochs = 1\n  # last\n}\n"
    )
    out = fmt(text)
    assert "    Linear(3)\n    # TODO: dropout\n}\n" in out
    assert "        relu\n        # inner\n    }\n" in out
    assert "    epochs = 1\n    # last\n}\n" in out


def test_comments_inside_a_statement_stay_on_their_line() -> None:
    text = "model M {\n    input x: [B, 4]\n    Linear(\n        3,  # classes\n    )\n}\n"
    assert fmt(text) == text.replace("3,", "3")
    joined = "model M {\n    input x: [B, 4]\n    y = x +  # one\n  x  # two\n    y\n}\n"
    assert (
        fmt(joined) == "model M {\n    input x: [B, 4]\n    # one\n    y = x + x  # two\n    y\n}\n"
    )


def test_blank_lines_kept_at_most_one() -> None:
    text = (
        "# header\n\n\n\n# about M\nmodel M {\n\n\n    input x: [B, 4]\n\n\n\n    h = x -> relu\n"
        "    h -> Linear(3)\n\n}\n\n\n\ntrain {\n    epochs = 1\n\n\n    loss = MSELoss()\n}\n"
    )
    assert fmt(text) == (
        "# header\n\n# about M\nmodel M {\n    input x: [B, 4]\n\n    h = x -> relu\n"
        "    h -> Linear(3)\n}\n\ntrain {\n    epochs = 1\n\n    loss   = MSELoss()\n}\n"
    )


def test_declarations_separated_and_grouped() -> None:
    text = (
        'import "a.nn"\nfrom p.q import R as S, T\nconst A = 1\nconst B = 2\n'
        "block X {\n    relu\n}\nmodel Y {\n    input x: [B, 4]\n    X\n}\n"
    )
    assert fmt(text) == (
        'import "a.nn"\nfrom p.q import R as S, T\n\nconst A = 1\nconst B = 2\n\n'
        "block X {\n    relu\n}\n\nmodel Y {\n    input x: [B, 4]\n    X\n}\n"
    )


def test_train_values_aligned() -> None:
    text = "train Long {\nmodel=M\nbatch_size=8\n  epochs=2\n}\n"
    assert (
        fmt(text) == "train Long {\n    model      = M\n    batch_size = 8\n    epochs     = 2\n}\n"
    )


def test_expressions_are_normalised_but_keep_their_spelling() -> None:
    text = (
        "model M(a:int=1,b:tuple[int,...]=(1,)) {\n  input x:long[B,T]\n"
        "  param p:[1,T]=normal(std=.02)\n"
        "  out,(h,c)=x->f(1_000,3e-3,'q\"',x[1:,::2],-a**2,not true)\n"
        "  for i,j in [(1,2)] {\n  relu\n  }\n  return out,h\n}\n"
    )
    out = fmt(text)
    assert out == (
        "model M(a: int = 1, b: tuple[int, ...] = (1,)) {\n    input x: long[B, T]\n"
        "    param p: [1, T] = normal(std=.02)\n"
        '    out, (h, c) = x -> f(1_000, 3e-3, "q\\"", x[1:, ::2], -a ** 2, not true)\n'
        "    for i, j in [(1, 2)] {\n        relu\n    }\n    return out, h\n}\n"
    )
    assert ir_of(out) == ir_of(text)


def test_empty_and_comment_only_files() -> None:
    assert fmt("") == ""
    assert fmt("\n\n") == ""
    assert fmt("# a\n\n\n# b") == "# a\n\n# b\n"


def test_crlf_input() -> None:
    text = "model M {\r\n    input x: [B, 4]  # c\r\n    Linear(3)\r\n}\r\n"
    out = fmt(text)
    assert out == "model M {\n    input x: [B, 4]  # c\n    Linear(3)\n}\n"
    assert not re.search("\r", out)


# ---- the repository's own specs are in the format ----------------------------------------------

ROOT = Path(__file__).parent.parent
ALL_SAMPLES = sorted([*(ROOT / "samples").glob("*.nn"), *(ROOT / "samples" / "zoo").glob("*.nn")])


def _doc_specs() -> list[tuple[str, str]]:
    out = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for m in re.finditer(r"```nn\n(.*?)```", text, re.S):
            out.append((f"{page.name}:{text[: m.start()].count(chr(10)) + 1}", m.group(1)))
    return out


@pytest.mark.parametrize("path", ALL_SAMPLES, ids=[p.stem for p in ALL_SAMPLES])
def test_samples_are_fmt_clean(path: Path) -> None:
    assert main(["fmt", "--check", str(path)]) == 0


@pytest.mark.parametrize("where,spec", _doc_specs(), ids=[w for w, _ in _doc_specs()])
def test_doc_examples_are_fmt_clean(where: str, spec: str) -> None:
    source, diags = parse(spec, where)
    if source is None:  # an example of a syntax error
        pytest.skip("not a parseable spec")
    assert format_source(source, spec) == spec


# ---- a corpus of hand-made layouts -----------------------------------------------------------

CORPUS = sorted((Path(__file__).parent / "fixtures" / "fmt_corpus").glob("*.nn"))
_TOKEN = re.compile(
    r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|#[^\n]*|->|\*\*|//|==|!=|<=|>=|\.\.\.|\w+|\S"
)


def _tokens(text: str) -> list[tuple[str, int, bool]]:
    """(token, source line, first on its line) for every token, comments included."""
    out = []
    for lineno, line in enumerate(text.split("\n"), 1):
        for k, m in enumerate(_TOKEN.finditer(line)):
            out.append((m.group(), lineno, k == 0))
    return out


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 30


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_only_spacing_and_long_lines_change(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    out = fmt(text)
    assert fmt(out) == out
    assert ir_of(out) == ir_of(text)
    before, after = _tokens(text), _tokens(out)
    for k in range(1, len(before)):  # `->` moves from the end of a line to the start of the next
        if before[k][2] and before[k - 1][0] == "->" and not before[k - 1][2]:
            before[k - 1] = (before[k - 1][0], before[k][1], True)
            before[k] = (before[k][0], before[k][1], False)
    # the same tokens in the same order: only spacing changed
    assert [t for t, _, _ in before] == [t for t, _, _ in after]
    src_lines = text.split("\n")
    for k, ((tok, line, first), (_, _, first_out)) in enumerate(zip(before, after)):
        if first and k and not before[k - 1][0].startswith("#"):
            # a line break of the author's stays (blank-line runs and closing braces aside)
            assert first_out, (path.name, line, tok)
        if first_out and not first:
            # a new break only where the author's line was too long, or to close brackets
            assert len(src_lines[line - 1]) > WIDTH or tok in ")]}" or before[k - 1][0] in "([{", (
                path.name,
                line,
                tok,
            )
    # every comment keeps its neighbours: the token before a trailing comment, the token after
    # one on its own line
    for k, ((tok, _, first), (_, _, first_out)) in enumerate(zip(before, after)):
        if tok.startswith("#"):
            assert first == first_out, (path.name, tok)
