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


def test_short_chains_are_joined() -> None:
    text = "model M {\n    input x: [B, 4]\n    x\n        -> Linear(3)\n        -> relu\n}\n"
    assert fmt(text) == "model M {\n    input x: [B, 4]\n    x -> Linear(3) -> relu\n}\n"


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
        'import "blocks.nn"   # shared\n'
        "model M {  # the model\n"
        "    input x: [B, 4]     # features\n"
        "    Linear(3)# logits\n"
        "}   # end of M\n"
        "train {\n    epochs = 3 # short\n    loss = MSELoss()\n    optimizer = Adam()\n}\n"
    )
    out = fmt(text)
    assert 'import "blocks.nn"  # shared\n' in out
    assert "model M {  # the model\n" in out
    assert "    input x: [B, 4]  # features\n" in out
    assert "    Linear(3)  # logits\n" in out
    assert "}  # end of M\n" in out
    assert "    epochs    = 3  # short\n" in out


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


def test_comments_inside_a_statement_move_before_it() -> None:
    text = "model M {\n    input x: [B, 4]\n    Linear(\n        3,  # classes\n    )\n}\n"
    assert fmt(text) == "model M {\n    input x: [B, 4]\n    # classes\n    Linear(3)\n}\n"


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
