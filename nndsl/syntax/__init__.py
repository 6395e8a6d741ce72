"""The syntax layer: source text → IR (`parse`), and IR → canonical text (`nndsl.syntax.fmt`)."""

from __future__ import annotations

from nndsl import ir
from nndsl.errors import Diagnostic, Span, error
from nndsl.syntax.build import build
from nndsl.syntax.parser import parse_text

MAX_DEPTH = 200


def parse(text: str, path: str) -> tuple[ir.SourceFile | None, list[Diagnostic]]:
    """Parse one file.  Returns the IR (None when there are syntax errors) and the diagnostics."""
    result = parse_text(text, path)
    if result.tree is None:
        return None, result.diagnostics
    source, diags = build(result.tree, path)
    comments = tuple(
        ir.Comment(text=str(t), span=Span(path, t.line, t.column, t.end_line, t.end_column))
        for t in result.comments
    )
    source = ir.SourceFile(
        path=source.path, decls=source.decls, comments=comments, span=source.span
    )
    deep = _too_deep(source)
    if deep is not None:
        diags.append(
            error(
                f"expression is nested more than {MAX_DEPTH} levels deep",
                deep.span,  # type: ignore[attr-defined]
                hint="split it into named steps",
            )
        )
    return (None if any(d.is_error for d in diags) else source), diags


def _too_deep(root: ir.SourceFile) -> object | None:
    """The first node deeper than MAX_DEPTH, found without recursion."""
    stack = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return node
        stack.extend((c, depth + 1) for c in ir.children(node))
    return None
