"""Code generation builds expressions as values (`nndsl.codegen.pyexpr.Expr`): the names a
piece reads, its precedence and the symbols still to be named are facts carried with it, and
these facts decide brackets, names and which `__init__` locals are kept.  It never searches or
rewrites the text it has just produced."""

from __future__ import annotations

import ast
from pathlib import Path

from nndsl import dims
from nndsl.check import check_file
from nndsl.codegen import model_source
from nndsl.codegen.pyexpr import Expr, Prec

CODEGEN = Path(__file__).resolve().parent.parent / "nndsl" / "codegen"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_class_writer_has_no_text_matching() -> None:
    # what model.py's writer decides, it decides on structure: no regular expressions at all
    for name in ("model.py", "pyexpr.py"):
        assert "re" not in _imported_modules(CODEGEN / name), name


def test_holes_are_bound_over_the_pieces_not_the_text() -> None:
    # fixed text that looks like a symbol is not a hole: only the hole is named
    e = Expr.join(['f("x__1", ', Expr.dim(dims.sym("x__1")), ")"])
    assert e.symbols == {"x__1"}
    assert e.bind(lambda s: Expr.local("in_channels")).text == 'f("x__1", in_channels)'
    assert e.bind(lambda s: Expr.local("in_channels")).refs == {"in_channels"}


def test_brackets_follow_precedence() -> None:
    double = Expr.dim(2 * dims.sym("c__1"))
    arith = Expr.join([Expr.local("a"), " + 1"], Prec.ARITH)
    call = Expr.join(["int(", Expr.local("a"), ")"])
    assert double.bind(lambda s: arith).text == "2 * (a + 1)"
    assert double.bind(lambda s: call).text == "2 * int(a)"
    # a lone symbol is its binding, which keeps its own precedence
    lone = Expr.dim(dims.sym("c__1")).bind(lambda s: arith)
    assert (lone.text, lone.prec) == ("a + 1", Prec.ARITH)
    assert lone.operand(Prec.ATOM).text == "(a + 1)"
    assert lone.operand(Prec.CMP).text == "a + 1"


def test_unused_computed_value_is_dropped_although_its_name_is_in_the_text(tmp_path) -> None:
    # `nearest` is never read, but the word is in a string of the same class: a search of the
    # text would keep the dead local (ruff's F841); the names the pieces read drop it
    spec = tmp_path / "up.nn"
    spec.write_text(
        """block Up(c: int, ratio: float = 0.5) {
    input x: [B, C, H, W]
    nearest = int(c * ratio * 2)
    half = int(c * ratio) + 1
    x -> Conv2d(half, 1) -> Upsample(scale_factor=2, mode="nearest")
}

model M {
    input x: [B, 3, 8, 8]
    x -> Up(4) -> Up(6)
}
"""
    )
    checked = check_file(str(spec))
    assert checked.ok
    source = model_source(checked, ["M"])
    assert "nearest =" not in source
    assert "        half = int(c * ratio) + 1\n" in source
    assert 'nn.Upsample(scale_factor=2, mode="nearest")' in source


def test_functional_dropout_follows_the_train_mode(tmp_path) -> None:
    # `training=self.training` is a value of forward like any other (it once had no spelling)
    spec = tmp_path / "d.nn"
    spec.write_text(
        """model M {
    input x: [B, 8]
    h = x -> Linear(4)
    dropout(h, 0.2) -> Linear(2)
}
"""
    )
    checked = check_file(str(spec))
    assert checked.ok
    source = model_source(checked, ["M"])
    assert "h = F.dropout(h, 0.2, training=self.training)  # [B, 4]" in source
    compile(source, "model.py", "exec")
