"""The TextMate grammar (editors/vscode/syntaxes/nndsl.tmLanguage.json) on every shipped spec.

The expected scopes come from nndsl itself, not from hand-written lists: comments, strings,
numbers and keywords from the compiler's lexer, labels from the parsed spec's `label:` nodes,
layer names from its calls and chain steps.  The grammar is run by `textmate-grammar-python`
(a Python port of VS Code's tokenizer, in the `dev` extra)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import pytest

from nndsl import ir
from nndsl.syntax import parse
from nndsl.syntax.parser import _lark

ROOT = Path(__file__).resolve().parent.parent
GRAMMAR = ROOT / "editors" / "vscode" / "syntaxes" / "nndsl.tmLanguage.json"
SPECS = (
    sorted((ROOT / "samples").glob("*.nn"))
    + sorted((ROOT / "samples" / "zoo").glob("*.nn"))
    + sorted((ROOT / "tests" / "fixtures" / "sharing").glob("*.nn"))  # buffer, tie, init
)

KEYWORDS = {
    "MODEL", "BLOCK", "TRAIN", "CONST", "IMPORT", "FROM", "INPUT", "PARAM", "IF", "ELSE", "FOR",
    "IN", "RETURN", "AND", "OR", "NOT", "TRUE", "FALSE", "NONE", "AS", "BUFFER", "TIE", "INIT",
}  # fmt: skip


@lru_cache(maxsize=1)
def _parser():
    base = pytest.importorskip(
        "textmate_grammar.parsers.base", reason="textmate-grammar-python (the dev extra) is absent"
    )
    return base.LanguageParser(json.loads(GRAMMAR.read_text()))


def _scopes(text: str) -> dict[tuple[int, int], list[str]]:
    """(0-based line, column) of every character → its scopes."""
    out: dict[tuple[int, int], list[str]] = {}
    for (line, col), content, scopes in _parser().parse_string(text).flatten():
        for i in range(len(content)):
            out[(line, col + i)] = scopes
    return out


def _has(scopes: dict, line: int, col: int, length: int, prefixes: tuple[str, ...]) -> bool:
    """Every character of [col, col+length) on a 1-based line/col has a scope with a prefix."""
    return all(
        any(s.startswith(prefixes) for s in scopes.get((line - 1, col - 1 + i), []))
        for i in range(length)
    )


def _walk(node, parent_field: str = ""):
    """Every IR node with the field it hangs from (tensor types are not expressions)."""
    if isinstance(node, (list, tuple)):
        for x in node:
            yield from _walk(x, parent_field)
    elif isinstance(node, ir.Node):
        yield node, parent_field
        if isinstance(node, ir.TensorType):
            return
        for name in node._fields:
            yield from _walk(getattr(node, name), name)


def test_the_grammar_is_valid_json_with_the_nn_scope() -> None:
    g = json.loads(GRAMMAR.read_text())
    assert g["scopeName"] == "source.nndsl" and g["fileTypes"] == ["nn"]


@pytest.mark.parametrize("spec", SPECS, ids=[str(p.relative_to(ROOT)) for p in SPECS])
def test_scopes_on_every_sample(spec: Path) -> None:
    text = spec.read_text()
    scopes = _scopes(text)
    tokens = [t for t in _lark().lex(text, dont_ignore=True) if t.type != "WS"]
    seen = {"comment": 0, "string": 0, "number": 0, "keyword": 0, "label": 0, "layer": 0}
    for i, tok in enumerate(tokens):
        where = (tok.line, tok.column, len(tok.value))
        nxt = tokens[i + 1].type if i + 1 < len(tokens) else None
        if tok.type == "COMMENT":
            assert _has(scopes, *where, ("comment.line.number-sign",)), tok
            seen["comment"] += 1
        elif tok.type == "STRING":
            assert _has(scopes, *where, ("string.quoted",)), tok
            seen["string"] += 1
        elif tok.type in ("INT", "FLOAT"):
            assert _has(scopes, *where, ("constant.numeric",)), tok
            seen["number"] += 1
        elif tok.type in KEYWORDS and nxt != "EQUAL":  # `model = Net` in train is a key
            assert _has(scopes, *where, ("keyword.", "storage.type", "constant.language")), tok
            seen["keyword"] += 1
    source, diags = parse(text, str(spec))
    assert source is not None, diags
    for node, field_name in _walk(source):
        if isinstance(node, ir.Labeled):
            s = node.label_span
            assert _has(scopes, s.line, s.col, len(node.label), ("entity.name.label",)), s
            seen["label"] += 1
        elif (
            isinstance(node, ir.Name)
            and node.id[:1].isupper()
            and (field_name in ("func", "stages") or not node.id.isupper())
        ):
            s = node.span
            assert _has(scopes, s.line, s.col, len(node.id), ("entity.name.type",)), (node.id, s)
            seen["layer"] += 1
    assert seen["keyword"] and seen["layer"], seen  # every spec declares and calls something


def test_the_samples_cover_every_kind_of_token() -> None:
    """Across the samples, each asserted kind occurs (so the checks above do check something)."""
    kinds = set()
    for spec in SPECS:
        text = spec.read_text()
        kinds |= {t.type for t in _lark().lex(text, dont_ignore=True)}
    assert {"COMMENT", "STRING", "INT", "FLOAT", "MODEL", "BLOCK", "IF"} <= kinds
