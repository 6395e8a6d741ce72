"""IR → canonical source text, for `nndsl fmt`.

The output depends only on the IR, the comments and where the author left blank lines, so
formatting is idempotent, and parsing the output gives back the same IR (spans aside).  Lines are
kept under `WIDTH` by breaking chains before `->` (and conditionals before `else`); comments stay
with the statement they precede or end.
"""

from __future__ import annotations

from dataclasses import dataclass

from nndsl import ir
from nndsl.errors import source_lines

WIDTH = 100
INDENT = "    "

# Binding strength of each expression form, loosest first (mirrors grammar/nndsl.lark).
_PREC = {
    ir.IfExp: 1,
    ir.Chain: 6,
    ir.Labeled: 7,
}
_BOOL_PREC = {"or": 2, "and": 3}
_BIN_PREC = {"+": 8, "-": 8, "*": 9, "/": 9, "//": 9, "%": 9, "@": 9, "**": 11}


def format_source(source: ir.SourceFile, text: str) -> str:
    """Canonical text of a parsed file.  `text` is the original, used only for blank lines."""
    return _Printer(source, text).file()


@dataclass
class _Comments:
    """The file's comments, consumed in order as the printer passes them."""

    items: list[ir.Comment]
    pos: int = 0

    def before(self, line: int, col: int = 1) -> list[ir.Comment]:
        """Comments that start before (line, col) and have not been printed yet."""
        out = []
        while self.pos < len(self.items) and (
            self.items[self.pos].span.line,
            self.items[self.pos].span.col,
        ) < (line, col):
            out.append(self.items[self.pos])
            self.pos += 1
        return out

    def trailing(self, line: int) -> ir.Comment | None:
        """The comment that ends line `line`, if the next unprinted one is there."""
        if self.pos < len(self.items) and self.items[self.pos].span.line == line:
            c = self.items[self.pos]
            self.pos += 1
            return c
        return None


class _Printer:
    def __init__(self, source: ir.SourceFile, text: str):
        self.source = source
        self.lines = source_lines(text)  # as the lexer counts lines (not str.splitlines)
        self.comments = _Comments(sorted(source.comments, key=lambda c: (c.span.line, c.span.col)))
        self.out: list[str] = []

    # ---- layout helpers -----------------------------------------------------------------------

    def blank_above(self, line: int) -> bool:
        """Whether the author left a blank line right above `line`."""
        i = line - 2
        return 0 <= i < len(self.lines) and not self.lines[i].strip()

    def leading(self, span, indent: str, *, separate: bool, force: bool = False) -> None:
        """Before a declaration, statement or train entry: its comments, and the blank lines the
        author left around them (at most one in a row).  `separate`: a blank line may precede
        it (it is not the first of its body); `force`: one always does."""
        comments = self.comments.before(span.line, span.col)
        first = comments[0].span.line if comments else span.line
        if force or (separate and self.blank_above(first)):
            self.out.append("")
        for k, c in enumerate(comments):
            if k and self.blank_above(c.span.line):
                self.out.append("")
            self.out.append(indent + c.text)
        if comments and self.blank_above(span.line):
            self.out.append("")

    def emit(self, indent: str, lines: list[str], end_line: int) -> None:
        """Emit a statement's lines; a comment ending its last source line goes on the last one,
        comments that stood inside a multi-line statement go before it."""
        inner = self.comments.before(end_line, 10**9)
        trailing = inner.pop() if inner and inner[-1].span.line == end_line else None
        for c in inner:
            self.out.append(indent + c.text)
        lines = [indent + line if line else line for line in lines]
        if trailing is not None:
            lines[-1] = f"{lines[-1]}  {trailing.text}"
        self.out.extend(lines)

    def close(self, indent: str, span, *, empty: bool) -> None:
        """The closing brace of a body.  Comments before it stay inside the body (after a blank
        line if the author left one), and a comment after it stays on its line."""
        for k, c in enumerate(self.comments.before(span.end_line, span.end_col - 1)):
            if (k or not empty) and self.blank_above(c.span.line):
                self.out.append("")
            self.out.append(indent + INDENT + c.text)
        trailing = self.comments.trailing(span.end_line)
        self.out.append(indent + "}" + (f"  {trailing.text}" if trailing else ""))

    # ---- declarations -------------------------------------------------------------------------

    def file(self) -> str:
        prev: ir.Decl | None = None
        for decl in self.source.decls:
            grouped = False
            if prev is not None:
                grouped = type(decl) is type(prev) and isinstance(
                    decl, (ir.Import, ir.PyImport, ir.ConstDecl)
                )
                if isinstance(decl, (ir.Import, ir.PyImport)) and isinstance(
                    prev, (ir.Import, ir.PyImport)
                ):
                    grouped = True
            self.leading(
                decl.span, "", separate=prev is not None, force=prev is not None and not grouped
            )
            self.decl(decl)
            prev = decl
        rest = self.comments.before(10**9)
        for k, c in enumerate(rest):
            if self.out and (k == 0 or self.blank_above(c.span.line)):
                self.out.append("")
            self.out.append(c.text)
        return "\n".join(self.out).rstrip("\n") + "\n" if self.out else ""

    def decl(self, d: ir.Decl) -> None:
        if isinstance(d, ir.Import):
            self.emit("", [f"import {_string(d.path)}"], d.span.end_line)
        elif isinstance(d, ir.PyImport):
            names = ", ".join(n.name + (f" as {n.alias}" if n.alias else "") for n in d.names)
            self.emit("", [f"from {d.module} import {names}"], d.span.end_line)
        elif isinstance(d, ir.ConstDecl):
            self.statement("", f"const {d.name} = ", d.value, d.span)
        elif isinstance(d, ir.BlockDecl):
            params = ""
            if d.params:
                params = "(" + ", ".join(self.param(p) for p in d.params) + ")"
            header_end = d.body[0].span.line if d.body else d.span.end_line
            self.emit("", [f"{d.kind} {d.name}{params} {{"], min(d.name_span.end_line, header_end))
            self.body(d.body, INDENT)
            self.close("", d.span, empty=not d.body)
        elif isinstance(d, ir.TrainDecl):
            self.emit("", ["train " + (f"{d.name} " if d.name else "") + "{"], d.span.line)
            width = max((len(e.key) for e in d.entries), default=0)
            for i, e in enumerate(d.entries):
                self.leading(e.span, INDENT, separate=i > 0)
                self.statement(INDENT, f"{e.key.ljust(width)} = ", e.value, e.span)
            self.close("", d.span, empty=not d.entries)

    def param(self, p: ir.Param) -> str:
        text = p.name
        if p.type is not None:
            text += f": {p.type}"
        if p.default is not None:
            text += f" = {expr(p.default)}"
        return text

    # ---- statements ---------------------------------------------------------------------------

    def body(self, stmts: tuple[ir.Stmt, ...], indent: str) -> None:
        for i, s in enumerate(stmts):
            self.leading(s.span, indent, separate=i > 0)
            self.stmt(s, indent)

    def stmt(self, s: ir.Stmt, indent: str) -> None:
        if isinstance(s, ir.InputDecl):
            items = ", ".join(
                i.name + (f": {tensor_type(i.type)}" if i.type else "") for i in s.items
            )
            self.emit(indent, [f"input {items}"], s.span.end_line)
        elif isinstance(s, ir.ParamDecl):
            head = f"param {s.name}: {tensor_type(s.type)}"
            if s.init is None:
                self.emit(indent, [head], s.span.end_line)
            else:
                self.statement(indent, head + " = ", s.init, s.span)
        elif isinstance(s, ir.Assign):
            self.statement(indent, f"{target(s.target)} = ", s.value, s.span)
        elif isinstance(s, ir.ExprStmt):
            self.statement(indent, "", s.value, s.span)
        elif isinstance(s, ir.Return):
            self.emit(indent, ["return " + ", ".join(expr(v) for v in s.values)], s.span.end_line)
        elif isinstance(s, ir.For):
            head_end = s.body[0].span.line if s.body else s.span.end_line
            self.emit(
                indent,
                [f"for {target(s.target, top=True)} in {expr(s.iter)} {{"],
                min(s.iter.span.end_line, head_end),
            )
            self.body(s.body, indent + INDENT)
            self.close(indent, s.span, empty=not s.body)

    def statement(self, indent: str, head: str, value: ir.Expr, span) -> None:
        self.emit(indent, layout(head, value, WIDTH - len(indent)), span.end_line)


# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------


def layout(head: str, value: ir.Expr, width: int) -> list[str]:
    """`head + value`, broken before `->` (and before `else`) when it does not fit in `width`."""
    one = head + expr(value)
    if len(one) <= width:
        return [one]
    if isinstance(value, ir.IfExp):
        first = layout(head, value.then, width)
        first[-1] += f" if {expr(value.cond)}"
        rest = layout("else ", value.orelse, width - len(INDENT))
        return first + [INDENT + line for line in rest]
    if isinstance(value, ir.Chain):
        lines = [head + expr(value.stages[0])]
        for stage in value.stages[1:]:
            piece = "-> " + _wrap(stage, _PREC[ir.Chain] + 1)
            fits = len(lines[-1]) + 1 + len(piece) <= width
            orphan = (
                len(lines) == 1 and len(INDENT + piece) > width
            )  # never leave the first stage alone
            if fits or orphan:
                lines[-1] += " " + piece
            else:
                lines.append(INDENT + piece)
        return lines
    return [one]


def _prec(e: ir.Expr) -> int:
    if isinstance(e, ir.BoolOp):
        return _BOOL_PREC[e.op]
    if isinstance(e, ir.UnaryOp):
        return 4 if e.op == "not" else 10
    if isinstance(e, ir.Compare):
        return 5
    if isinstance(e, ir.BinOp):
        return _BIN_PREC[e.op]
    return _PREC.get(type(e), 12)


def _wrap(e: ir.Expr, min_prec: int) -> str:
    """`e`, parenthesised if it binds looser than its position needs.  The parser keeps the
    author's parentheses as Paren nodes, so this only matters for IR built by other passes."""
    text = expr(e)
    return f"({text})" if _prec(e) < min_prec else text


def expr(e: ir.Expr) -> str:
    if isinstance(e, ir.Name):
        return e.id
    if isinstance(e, ir.Num):
        return e.text
    if isinstance(e, ir.Str):
        return _string(e.value)
    if isinstance(e, ir.Const):
        return {True: "true", False: "false", None: "none"}[e.value]
    if isinstance(e, ir.Ellipsis_):
        return "..."
    if isinstance(e, ir.TupleExpr):
        if len(e.items) == 1:
            return f"({expr(e.items[0])},)"
        return "(" + ", ".join(expr(i) for i in e.items) + ")"
    if isinstance(e, ir.ListExpr):
        return "[" + ", ".join(expr(i) for i in e.items) + "]"
    if isinstance(e, ir.Paren):
        return f"({expr(e.expr)})"
    if isinstance(e, ir.BinOp):
        p = _BIN_PREC[e.op]
        if e.op == "**":  # right-associative
            return f"{_wrap(e.left, p + 1)} ** {_wrap(e.right, 10)}"
        return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p + 1)}"
    if isinstance(e, ir.UnaryOp):
        if e.op == "not":
            return f"not {_wrap(e.operand, 4)}"
        return f"{e.op}{_wrap(e.operand, 10)}"
    if isinstance(e, ir.Compare):
        return f"{_wrap(e.left, 6)} {e.op} {_wrap(e.right, 6)}"
    if isinstance(e, ir.BoolOp):
        p = _BOOL_PREC[e.op]
        return f"{_wrap(e.left, p)} {e.op} {_wrap(e.right, p + 1)}"
    if isinstance(e, ir.IfExp):
        return f"{_wrap(e.then, 2)} if {_wrap(e.cond, 2)} else {_wrap(e.orelse, 1)}"
    if isinstance(e, ir.Chain):
        return " -> ".join(_wrap(s, 7) for s in e.stages)
    if isinstance(e, ir.Labeled):
        return f"{e.label}: {_wrap(e.expr, 8)}"
    if isinstance(e, ir.Call):
        args = [expr(a) for a in e.args] + [f"{k.name}={expr(k.value)}" for k in e.kwargs]
        return f"{_wrap(e.func, 12)}({', '.join(args)})"
    if isinstance(e, ir.Attribute):
        return f"{_wrap(e.value, 12)}.{e.attr}"
    if isinstance(e, ir.Index):
        return f"{_wrap(e.value, 12)}[{', '.join(expr(i) for i in e.index)}]"
    if isinstance(e, ir.Slice):
        text = (expr(e.start) if e.start else "") + ":" + (expr(e.stop) if e.stop else "")
        if e.step is not None:
            text += ":" + expr(e.step)
        return text
    raise TypeError(f"fmt: no rule for {type(e).__name__}")


def tensor_type(t: ir.TensorType) -> str:
    return (t.dtype or "") + "[" + ", ".join(expr(d) for d in t.dims) + "]"


def target(t: ir.Target, top: bool = True) -> str:
    if isinstance(t, ir.NameTarget):
        return t.id
    if len(t.items) == 1:  # a one-element tuple stays one: `out, (h,) = ...`
        return f"({target(t.items[0], top=False)},)"
    inner = ", ".join(target(i, top=False) for i in t.items)
    return inner if top else f"({inner})"


def _string(value: str) -> str:
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\0":
            out.append("\\0")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)
