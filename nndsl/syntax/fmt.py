"""IR → canonical source text, for `nndsl fmt`.

The output depends only on the IR, the comments and the author's line breaks, so formatting is
idempotent, and parsing the output gives back the same IR (spans aside).  The layout follows the
author where it can, like black:

- a chain the author split over lines stays split there, with `->` starting each continuation
  line, indented one level below the statement (or, inside brackets split over lines, level with
  the first stage);
- brackets (calls, lists, tuples, parentheses) the author split over lines stay split: the
  items go on their own indented lines, as the author grouped them, and the closing bracket on
  a line of its own;
- everything else on a line is normalised (spacing, indentation, string quotes);
- a line longer than `WIDTH` is broken before `->`, then before `else`, then inside its
  outermost bracket.

Comments stay with the statement they were written in: a comment at the end of a line stays at
the end of the line holding that code (in the same column when there is room, so aligned shape
comments stay aligned), and a comment on a line of its own stays between the same lines.
"""

from __future__ import annotations

from nndsl import ir
from nndsl.errors import source_lines
from nndsl.records import dataclass

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
    """Canonical text of a parsed file.  `text` is the original, used for blank lines and the
    columns of trailing comments."""
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


@dataclass
class Ln:
    """One output line (or, first in a list, the fragment that continues the current line) and
    the source lines its code came from."""

    text: str
    lo: int
    hi: int


def _join(a: list[Ln], b: list[Ln]) -> list[Ln]:
    """`b` written after `a`: b's first line continues a's last."""
    last, first = a[-1], b[0]
    if not first.lo:  # punctuation: no source line of its own
        merged = Ln(last.text + first.text, last.lo, last.hi)
    elif not last.lo:
        merged = Ln(last.text + first.text, first.lo, first.hi)
    else:
        merged = Ln(last.text + first.text, min(last.lo, first.lo), max(last.hi, first.hi))
    return [*a[:-1], merged, *b[1:]]


def _text(text: str, span) -> list[Ln]:
    return [Ln(text, span.line, span.end_line)]


def _width(lines: list[Ln], col: int) -> int:
    """The widest line of `lines` when the first starts at column `col`."""
    widest = col + len(lines[0].text)
    for line in lines[1:]:
        widest = max(widest, len(line.text))
    return widest


def _end_col(lines: list[Ln], col: int) -> int:
    return col + len(lines[0].text) if len(lines) == 1 else len(lines[-1].text)


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

    def ends_code(self, c: ir.Comment) -> bool:
        """Whether code stands before comment `c` on its line."""
        i = c.span.line - 1
        return 0 <= i < len(self.lines) and bool(self.lines[i][: c.span.col - 1].strip())

    def with_comment(self, text: str, c: ir.Comment) -> str:
        """`text` ended by comment `c`: two spaces after the code, or in the comment's column
        where the author lined it up (more than two spaces before it) and there is room."""
        source = self.lines[c.span.line - 1][: c.span.col - 1]
        pad = c.span.col - 1 - len(text)
        aligned = len(source) - len(source.rstrip()) > 2  # the author lined it up
        if not aligned or pad < 2 or len(text) + pad + len(c.text) > WIDTH:
            pad = 2
        return text + " " * pad + c.text

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

    def emit(self, text: str, span, end_line: int) -> None:
        """Emit a one-line header or statement whose code ends on source line `end_line`."""
        self.emit_lines([Ln(text, span.line, end_line)], end_line)

    def emit_lines(self, lines: list[Ln], end_line: int) -> None:
        """Emit a statement's lines and the comments written inside it (up to the end of source
        line `end_line`).  A comment stays with the output line holding the code of its source
        line: at its end if it ended that line (one comment per line: earlier ones go on their
        own lines just above), on its own line above it otherwise; a comment on a line of its
        own between two lines of code stays between them."""
        lo = 0
        for line in lines:  # source lines only grow down the output
            lo = line.lo = max(line.lo, lo)
        inside: list[list[ir.Comment]] = [[] for _ in lines]
        after: list[list[ir.Comment]] = [[] for _ in lines]
        for c in self.comments.before(end_line, 10**9):
            i = 0
            while i + 1 < len(lines) and lines[i + 1].lo <= c.span.line:
                i += 1
            (inside if c.span.line <= lines[i].hi else after)[i].append(c)
        for i, line in enumerate(lines):
            indent = _indent_of(line.text)
            ins = inside[i]
            trailing = ins.pop() if ins and self.ends_code(ins[-1]) else None
            self.out.extend(indent + c.text for c in ins)
            self.out.append(self.with_comment(line.text, trailing) if trailing else line.text)
            if after[i]:
                below = _indent_of(lines[i + 1].text) if i + 1 < len(lines) else indent
                self.out.extend(below + c.text for c in after[i])

    def close(self, indent: str, span, *, empty: bool) -> None:
        """The closing brace of a body.  Comments before it stay inside the body (after a blank
        line if the author left one), and a comment after it stays on its line."""
        for k, c in enumerate(self.comments.before(span.end_line, span.end_col - 1)):
            if (k or not empty) and self.blank_above(c.span.line):
                self.out.append("")
            self.out.append(indent + INDENT + c.text)
        trailing = self.comments.trailing(span.end_line)
        text = indent + "}"
        self.out.append(self.with_comment(text, trailing) if trailing else text)

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
            self.emit(f"import {_string(d.path)}", d.span, d.span.end_line)
        elif isinstance(d, ir.PyImport):
            names = ", ".join(n.name + (f" as {n.alias}" if n.alias else "") for n in d.names)
            self.emit(f"from {d.module} import {names}", d.span, d.span.end_line)
        elif isinstance(d, ir.ConstDecl):
            self.statement("", f"const {d.name} = ", d.value, d.span)
        elif isinstance(d, ir.BlockDecl):
            head = [Ln(f"{d.kind} {d.name}", d.span.line, d.name_span.end_line)]
            if d.params:
                params = _Layout(WIDTH - 2).bracket(  # room for " {"
                    None,
                    "(",
                    list(d.params),
                    ")",
                    len(head[0].text),
                    "",
                    d.name_span.end_line,
                    fit=True,
                )
                head = _join(head, params)
            header_end = d.body[0].span.line if d.body else d.span.end_line
            end = max(d.params[-1].span.end_line if d.params else 0, d.name_span.end_line)
            self.emit_lines(_join(head, [Ln(" {", 0, 0)]), min(end, header_end))
            self.body(d.body, INDENT)
            self.close("", d.span, empty=not d.body)
        elif isinstance(d, ir.TrainDecl):
            self.emit("train " + (f"{d.name} " if d.name else "") + "{", d.span, d.span.line)
            width = max((len(e.key) for e in d.entries), default=0)
            for i, e in enumerate(d.entries):
                self.leading(e.span, INDENT, separate=i > 0)
                self.statement(INDENT, f"{e.key.ljust(width)} = ", e.value, e.span)
            self.close("", d.span, empty=not d.entries)

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
            self.emit(f"{indent}input {items}", s.span, s.span.end_line)
        elif isinstance(s, ir.ParamDecl):
            head = f"param {s.name}: {tensor_type(s.type)}"
            if s.init is None:
                self.emit(indent + head, s.span, s.span.end_line)
            else:
                self.statement(indent, head + " = ", s.init, s.span)
        elif isinstance(s, ir.BufferDecl):
            head = f"{indent}buffer {s.name} = "
            options = "".join(f", {o.name}={expr(o.value)}" for o in s.options)
            lines = _join(
                [Ln(head, s.span.line, s.span.line)],
                _Layout(WIDTH - len(options)).node(s.value, len(head), indent, 0, fit=True),
            )
            self.emit_lines(
                _join(lines, [Ln(options, 0, 0)]) if options else lines, s.span.end_line
            )
        elif isinstance(s, ir.Tie):
            self.emit(f"{indent}tie {expr(s.target)} = {expr(s.source)}", s.span, s.span.end_line)
        elif isinstance(s, ir.InitStmt):
            self.statement(indent, f"init {expr(s.target)} = ", s.init, s.span)
        elif isinstance(s, ir.Assign):
            self.statement(indent, f"{target(s.target)} = ", s.value, s.span)
        elif isinstance(s, ir.ExprStmt):
            self.statement(indent, "", s.value, s.span)
        elif isinstance(s, ir.Return):
            text = indent + "return " + ", ".join(expr(v) for v in s.values)
            self.emit(text, s.span, s.span.end_line)
        elif isinstance(s, ir.Log):
            self.emit(indent + "log " + ", ".join(s.names), s.span, s.span.end_line)
        elif isinstance(s, ir.For):
            head_end = s.body[0].span.line if s.body else s.span.end_line
            head = f"{indent}for {target(s.target, top=True)} in "
            lines = _join(
                [Ln(head, s.span.line, s.span.line)],
                _Layout(WIDTH - 2).node(s.iter, len(head), indent, 0, fit=True),
            )
            self.emit_lines(_join(lines, [Ln(" {", 0, 0)]), min(s.iter.span.end_line, head_end))
            self.body(s.body, indent + INDENT)
            self.close(indent, s.span, empty=not s.body)

    def statement(self, indent: str, head: str, value: ir.Expr, span) -> None:
        first = [Ln(indent + head, span.line, span.line)]
        lines = _join(first, _Layout().node(value, len(indent + head), indent, 0, fit=True))
        self.emit_lines(lines, span.end_line)


def _param(p: ir.Param) -> str:
    text = p.name
    if p.type is not None:
        text += f": {p.type}"
    if p.default is not None:
        text += f" = {expr(p.default)}"
    return text


def _indent_of(text: str) -> str:
    return text[: len(text) - len(text.lstrip(" "))]


# ---------------------------------------------------------------------------------------------
# Layout of expressions over lines
# ---------------------------------------------------------------------------------------------


class _Layout:
    """Lays an expression out over lines.  `col` is the column its first line starts at and
    `ind` the indentation of that line; `fit`: break what is too long (off when trying whether
    something fits as the author wrote it)."""

    def __init__(self, width: int = WIDTH):
        self.width = width

    def fits(self, lines: list[Ln], col: int) -> bool:
        return _width(lines, col) <= self.width

    def node(self, e: ir.Expr, col: int, ind: str, min_prec: int, *, fit: bool) -> list[Ln]:
        if _prec(e) < min_prec:  # IR built by other passes: parenthesised, on one line
            return _text(f"({expr(e)})", e.span)
        if isinstance(e, ir.Chain):
            return self.chain(e, col, ind, ind + INDENT, fit=fit)
        if isinstance(e, ir.IfExp):
            return self.ifexp(e, col, ind, fit=fit)
        if isinstance(e, ir.Labeled):
            head = _text(f"{label(e)}: ", e.label_span)
            return _join(head, self.node(e.expr, col + len(head[0].text), ind, 8, fit=fit))
        if isinstance(e, ir.ForLayers):
            return self.for_layers(e, col, ind, fit=fit)
        if isinstance(e, ir.Call):
            func = _text(_wrap(e.func, 12), e.func.span)
            items = [*e.args, *e.kwargs]
            inner = self.bracket(
                e, "(", items, ")", col + len(func[0].text), ind, e.func.span.end_line, fit=fit
            )
            return _join(func, inner)
        if isinstance(e, ir.ListExpr):
            return self.bracket(e, "[", list(e.items), "]", col, ind, e.span.line, fit=fit)
        if isinstance(e, ir.TupleExpr) and len(e.items) != 1:
            return self.bracket(e, "(", list(e.items), ")", col, ind, e.span.line, fit=fit)
        if isinstance(e, ir.Paren):
            return self.bracket(e, "(", [e.expr], ")", col, ind, e.span.line, fit=fit)
        if isinstance(e, ir.Keyword):
            head = _text(f"{e.name}=", e.name_span)
            return _join(head, self.node(e.value, col + len(head[0].text), ind, 0, fit=fit))
        if isinstance(e, ir.Param):
            return _text(_param(e), e.span)
        if isinstance(e, (ir.BinOp, ir.BoolOp, ir.Compare)):
            if isinstance(e, ir.BinOp):
                p = _BIN_PREC[e.op]
                lp, rp = (p + 1, 10) if e.op == "**" else (p, p + 1)
            elif isinstance(e, ir.BoolOp):
                lp = _BOOL_PREC[e.op]
                rp = lp + 1
            else:
                lp = rp = 6
            left = self.node(e.left, col, ind, lp, fit=fit)
            left = _join(left, [Ln(f" {e.op} ", left[-1].hi, left[-1].hi)])
            c = _end_col(left, col)
            return _join(left, self.node(e.right, c, _cur_indent(left, ind), rp, fit=fit))
        return _text(expr(e), e.span)

    def chain(self, e: ir.Chain, col: int, ind: str, cont: str, *, fit: bool) -> list[Ln]:
        """Stages joined by `->`: a new line (at `cont`) where the author started one, or where
        the line would grow too long."""
        lines = self.node(e.stages[0], col, ind, 7, fit=fit)
        for prev, stage in zip(e.stages, e.stages[1:]):
            arrow = [Ln("-> ", stage.span.line, stage.span.line)]
            if stage.span.line <= prev.span.end_line:  # the author kept it on the line
                c = _end_col(lines, col) + 1
                same = self.node(stage, c + 3, _cur_indent(lines, ind), 7, fit=False)
                if not fit or self.fits(same, c + 3):
                    lines = _join(_join(lines, [Ln(" ", lines[-1].hi, lines[-1].hi)]), arrow)
                    lines = _join(lines, same)
                    continue
                apart = self.node(stage, len(cont) + 3, cont, 7, fit=False)
                if not self.fits(apart, len(cont) + 3) and len(lines) == 1:
                    # too long even on a line of its own: break it here, after the first stage
                    same = self.node(stage, c + 3, _cur_indent(lines, ind), 7, fit=True)
                    lines = _join(_join(lines, [Ln(" ", lines[-1].hi, lines[-1].hi)]), arrow)
                    lines = _join(lines, same)
                    continue
            row = _join([Ln(cont, stage.span.line, stage.span.line)], arrow)
            lines = lines + _join(row, self.node(stage, len(cont) + 3, cont, 7, fit=fit))
        return lines

    def for_layers(self, e: ir.ForLayers, col: int, ind: str, *, fit: bool) -> list[Ln]:
        """`for t in items { Layer(t) }`: on one line when the author wrote one statement on the
        `for`'s line and it fits, else one statement per line inside the braces."""
        head = [Ln(f"for {target(e.target)} in ", e.span.line, e.span.line)]
        lines = _join(head, self.node(e.iter, col + len(head[0].text), ind, 0, fit=fit))
        body = e.body
        if len(body) == 1 and isinstance(body[0], ir.ExprStmt) and body[0].span.line == e.span.line:
            c = _end_col(lines, col) + 3
            one = self.node(body[0].value, c, _cur_indent(lines, ind), 0, fit=False)
            if len(one) == 1 and (not fit or self.fits(one, c) and self.fits(lines, col)):
                return _join(_join(lines, [Ln(" { ", 0, 0)]), _join(one, [Ln(" }", 0, 0)]))
        lines = _join(lines, [Ln(" {", 0, 0)])
        inner = _cur_indent(lines, ind) + INDENT
        for s in body:
            lines = lines + self.stmt_lines(s, inner, fit=fit)
        return lines + [Ln(inner[: -len(INDENT)] + "}", e.span.end_line, e.span.end_line)]

    def stmt_lines(self, s: ir.Stmt, ind: str, *, fit: bool) -> list[Ln]:
        """A statement inside a `for` stage's braces."""
        if isinstance(s, ir.ExprStmt):
            return _join(
                [Ln(ind, s.span.line, s.span.line)], self.node(s.value, len(ind), ind, 0, fit=fit)
            )
        if isinstance(s, ir.Assign):
            head = [Ln(f"{ind}{target(s.target)} = ", s.span.line, s.span.line)]
            return _join(head, self.node(s.value, len(head[0].text), ind, 0, fit=fit))
        if isinstance(s, ir.For):
            loop = ir.ForLayers(target=s.target, iter=s.iter, body=s.body, span=s.span)
            return _join(
                [Ln(ind, s.span.line, s.span.line)], self.for_layers(loop, len(ind), ind, fit=fit)
            )
        return [Ln(ind + statement_text(s), s.span.line, s.span.end_line)]

    def ifexp(self, e: ir.IfExp, col: int, ind: str, *, fit: bool) -> list[Ln]:
        lines = self.node(e.then, col, ind, 2, fit=fit)
        lines = _join(lines, [Ln(" if ", e.cond.span.line, e.cond.span.line)])
        lines = _join(lines, self.node(e.cond, _end_col(lines, col), ind, 2, fit=fit))
        if e.orelse.span.line <= e.cond.span.end_line:
            c = _end_col(lines, col) + 6
            same = self.node(e.orelse, c, _cur_indent(lines, ind), 1, fit=False)
            if not fit or self.fits(same, c):
                return _join(_join(lines, [Ln(" else ", lines[-1].hi, lines[-1].hi)]), same)
        cont = ind + INDENT
        row = [Ln(cont + "else ", e.orelse.span.line, e.orelse.span.line)]
        return lines + _join(row, self.node(e.orelse, len(cont) + 5, cont, 1, fit=fit))

    def bracket(
        self,
        e: ir.Expr | None,
        open_: str,
        items: list,
        close: str,
        col: int,
        ind: str,
        open_line: int,
        *,
        fit: bool,
    ) -> list[Ln]:
        """Items between brackets: on the line, or split over lines where the author split them
        (or when they do not fit), the closing bracket then on a line of its own."""
        if not items:
            return [Ln(open_ + close, open_line, e.span.end_line if e else open_line)]
        close_line = e.span.end_line if e is not None else items[-1].span.end_line
        lines_of = [open_line] + [line for i in items for line in (i.span.line, i.span.end_line)]
        split = any(b > a for a, b in zip(lines_of[::2], lines_of[1::2])) or (
            close_line > items[-1].span.end_line
        )
        if not split:
            lines = [Ln(open_, open_line, open_line)]
            for i, item in enumerate(items):
                if i:
                    lines = _join(lines, [Ln(", ", item.span.line, item.span.line)])
                c = _end_col(lines, col)
                lines = _join(lines, self.node(item, c, _cur_indent(lines, ind), 0, fit=False))
            lines = _join(lines, [Ln(close, close_line, close_line)])
            if not fit or self.fits(lines, col):
                return lines
            if len(lines) > 1:  # an item split over lines hugs the brackets: `f([` ... `], x)`
                return self.hug(open_, items, close, col, ind, open_line, close_line)
        inner = ind + INDENT
        sole_chain = isinstance(e, ir.Paren) and isinstance(items[0], ir.Chain)
        rows: list[list[Ln]] = []
        if not split:  # split for width: all items on one line if they fit, else one a line
            row = self.row(items, inner, fit=False)
            if self.fits(row, 0):
                rows = [row]
            else:
                rows = [self.row([item], inner, fit=True, last=item is items[-1]) for item in items]
        else:
            prev = None
            for k, item in enumerate(items):
                last = k == len(items) - 1
                if prev is not None and item.span.line <= prev.span.end_line:
                    c = _end_col(rows[-1], 0) + 1
                    more = self.node(item, c, _cur_indent(rows[-1], inner), 0, fit=False)
                    more = _join(more, [Ln("" if last else ",", 0, 0)])
                    if not fit or self.fits(more, c):
                        rows[-1] = _join(_join(rows[-1], [Ln(" ", 0, 0)]), more)
                        prev = item
                        continue
                if sole_chain:
                    chain = self.chain(item, len(inner), inner, inner, fit=fit)
                    rows.append(_join([Ln(inner, item.span.line, item.span.line)], chain))
                else:
                    rows.append(self.row([item], inner, fit=fit, last=last))
                prev = item
        if sole_chain and not split:
            rows = [
                _join(
                    [Ln(inner, items[0].span.line, items[0].span.line)],
                    self.chain(items[0], len(inner), inner, inner, fit=fit),
                )
            ]
        out = [Ln(open_, open_line, open_line)]
        for row in rows:
            out.extend(row)
        return out + [Ln(ind + close, close_line, close_line)]

    def hug(
        self, open_: str, items: list, close: str, col: int, ind: str, open_line: int, end: int
    ) -> list[Ln]:
        lines = [Ln(open_, open_line, open_line)]
        for i, item in enumerate(items):
            if i:
                lines = _join(lines, [Ln(", ", item.span.line, item.span.line)])
            c = _end_col(lines, col)
            lines = _join(lines, self.node(item, c, _cur_indent(lines, ind), 0, fit=True))
        return _join(lines, [Ln(close, end, end)])

    def row(self, items: list, inner: str, *, fit: bool, last: bool = True) -> list[Ln]:
        """Items on one line (as far as they go) at indentation `inner`."""
        lines = [Ln(inner, items[0].span.line, items[0].span.line)]
        for i, item in enumerate(items):
            if i:
                lines = _join(lines, [Ln(", ", item.span.line, item.span.line)])
            c = _end_col(lines, 0)
            lines = _join(lines, self.node(item, c, _cur_indent(lines, inner), 0, fit=fit))
        return _join(lines, [Ln("" if last else ",", lines[-1].hi, lines[-1].hi)])


def _cur_indent(lines: list[Ln], ind: str) -> str:
    """The indentation of the last of `lines` (`ind` while they are one line)."""
    return ind if len(lines) == 1 else _indent_of(lines[-1].text)


# ---------------------------------------------------------------------------------------------
# Expressions on one line
# ---------------------------------------------------------------------------------------------


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
        return f"{label(e)}: {_wrap(e.expr, 8)}"
    if isinstance(e, ir.ForLayers):
        inner = "; ".join(statement_text(s) for s in e.body)
        return f"for {target(e.target)} in {expr(e.iter)} {{ {inner} }}"
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


def label(e: ir.Labeled) -> str:
    """A label as the canonical text writes it: holes formatted (`denselayer{i + 1}`)."""
    if not e.holes:
        return e.label
    out = [e.pieces[0]]
    for hole, piece in zip(e.holes, e.pieces[1:]):
        out.append("{" + expr(hole) + "}" + piece)
    return "".join(out)


def statement_text(s: ir.Stmt) -> str:
    """One statement on one line (for messages and the inside of `for` stages)."""
    if isinstance(s, ir.ExprStmt):
        return expr(s.value)
    if isinstance(s, ir.Assign):
        return f"{target(s.target)} = {expr(s.value)}"
    if isinstance(s, ir.For):
        inner = "; ".join(statement_text(b) for b in s.body)
        return f"for {target(s.target)} in {expr(s.iter)} {{ {inner} }}"
    if isinstance(s, ir.Return):
        return "return " + ", ".join(expr(v) for v in s.values)
    if isinstance(s, ir.InputDecl):
        return "input " + ", ".join(
            i.name + (f": {tensor_type(i.type)}" if i.type else "") for i in s.items
        )
    if isinstance(s, ir.ParamDecl):
        init = f" = {expr(s.init)}" if s.init is not None else ""
        return f"param {s.name}: {tensor_type(s.type)}{init}"
    return type(s).__name__


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
