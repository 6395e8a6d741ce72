"""Text → Lark parse tree, with syntax errors turned into plain-language diagnostics.

The grammar ships as package data (`nndsl.grammar/nndsl.lark`).  Parsing is LALR with the
contextual lexer, so keywords are only reserved where they can appear (a train key may be called
`model`, a data option may be `target=input`).
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from lark import Lark, Token, Tree
from lark.exceptions import (
    LarkError,
    UnexpectedCharacters,
    UnexpectedInput,
    UnexpectedToken,
)

from nndsl.errors import Diagnostic, Note, Span, error, normalize_newlines

TOP_KEYWORDS = ("model", "block", "train", "const", "import", "from")
_OPENERS = {"LPAR": ")", "_LPAR_NL": ")", "LSQB": "]", "_LSQB_NL": "]", "LBRACE": "}"}
_CLOSERS = {"RPAR": ")", "RSQB": "]", "RBRACE": "}"}
MAX_NESTING = 100


@dataclass
class _Open:
    token: Token
    closer: str
    what: str  # "the call to `Linear`", "the body of model `Net`", ...


_DECL_KEYWORDS = {"MODEL", "BLOCK", "TRAIN", "CONST", "IMPORT", "FROM"}
_HISTORY = 6


@dataclass
class _Tracker:
    """Post-lexer: marks brackets that start a line, tracks open brackets and recent tokens so
    that a syntax error can be explained in terms of what the user was writing."""

    always_accept: tuple[str, ...] = ()
    history: list[Token] = field(default_factory=list)  # the last few tokens, newest last
    stack: list[_Open] = field(default_factory=list)
    popped: tuple[Token, _Open] | None = None  # the closer just seen and what it closed
    closed_decl: tuple[Token, str] | None = None  # the `}` that ended the last declaration
    head: str | None = None  # what the next `{` opens, from the tokens before it
    braces: list[tuple[_Open, Token]] = field(default_factory=list)  # closed bodies, and their `}`
    too_deep: Token | None = None

    def reset(self) -> None:
        self.history, self.stack, self.popped, self.closed_decl = [], [], None, None
        self.head, self.too_deep, self.braces = None, None, []

    @property
    def prev(self) -> Token | None:
        return self.history[-1] if self.history else None

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        for tok in stream:
            prev = self.prev
            if tok.type in ("LPAR", "LSQB") and (prev is None or tok.line > prev.end_line):
                tok.type = "_LPAR_NL" if tok.type == "LPAR" else "_LSQB_NL"
            self._heads(tok, prev)
            if tok.type in _OPENERS:
                what = (
                    self.head
                    if tok.type == "LBRACE" and self.head
                    else _what_opens(tok, self.history)
                )
                if tok.type == "LBRACE":
                    self.head = None
                self.stack.append(_Open(tok, _OPENERS[tok.type], what))
                if len(self.stack) > MAX_NESTING and self.too_deep is None:
                    self.too_deep = tok
            elif (
                tok.type in _CLOSERS and self.stack and self.stack[-1].closer == _CLOSERS[tok.type]
            ):
                self.popped = (tok, self.stack.pop())
                if tok.type == "RBRACE":
                    self.braces.append((self.popped[1], tok))
                if not self.stack:
                    self.closed_decl = (tok, self.popped[1].what)
            self.history.append(tok)
            if len(self.history) > _HISTORY:
                del self.history[0]
            yield tok

    def _heads(self, tok: Token, prev: Token | None) -> None:
        """Remember what a body is the body of: `model Net {`, `train {`, `for ... {`."""
        if tok.type in ("MODEL", "BLOCK") and not self.stack:
            self.head = f"the body of {tok}"
        elif tok.type == "NAME" and prev is not None and prev.type in ("MODEL", "BLOCK"):
            if self.head is not None and not self.stack:
                self.head = f"the body of {prev} `{tok}`"
        elif tok.type == "TRAIN" and not self.stack:
            self.head = "the train section"
        elif tok.type == "NAME" and prev is not None and prev.type == "TRAIN":
            if self.head is not None and not self.stack:
                self.head = f"the train section `{tok}`"
        elif tok.type == "FOR":
            self.head = "the body of the `for` loop"


def _what_opens(tok: Token, history: list[Token]) -> str:
    prev = history[-1] if history else None
    if (
        tok.type == "LPAR"
        and prev is not None
        and prev.type == "NAME"
        and len(history) > 1
        and history[-2].type in ("MODEL", "BLOCK")
    ):
        return f"the parameter list of {history[-2]} `{prev}`"
    after_value = prev is not None and prev.type in ("NAME", "RPAR", "RSQB")
    if tok.type == "LBRACE":
        return "the body"
    if tok.type == "LPAR":
        if prev is not None and prev.type == "NAME":
            return f"the call to `{prev}`"
        return "the call" if after_value else "the parenthesis"
    if tok.type == "LSQB":
        if prev is not None and prev.type == "NAME":
            return f"the index `{prev}[`"
        return "the index" if after_value else "the list"
    return "the parenthesis" if tok.type == "_LPAR_NL" else "the list"


@lru_cache(maxsize=1)
def grammar_text() -> str:
    return resources.files("nndsl.grammar").joinpath("nndsl.lark").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    options = dict(
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        postlex=_Tracker(),
    )
    try:
        return Lark(grammar_text(), cache=True, **options)
    except (OSError, LarkError):  # an unwritable cache directory must not stop us
        return Lark(grammar_text(), **options)


@dataclass
class ParseResult:
    tree: Tree | None
    comments: list[Token]
    diagnostics: list[Diagnostic]


def parse_text(text: str, path: str) -> ParseResult:
    """Parse a whole file; on syntax errors, report one per top-level declaration.  Lines end at
    `\n`, `\r\n` or `\r` alike."""
    text = normalize_newlines(text)
    result = _parse_once(text, path)
    if not result.diagnostics:
        return result
    diags: list[Diagnostic] = []
    chunks = list(_top_level_chunks(text))
    if len(chunks) <= 1:
        return result
    for i, (start_line, chunk) in enumerate(chunks):
        padded = "\n" * (start_line - 1) + chunk
        follow = None
        if i + 1 < len(chunks):
            next_line, next_chunk = chunks[i + 1]
            word = next_chunk.split(None, 1)[0] if next_chunk.strip() else ""
            follow = Token("NAME", word, line=next_line, column=1)
        diags.extend(_parse_once(padded, path, follow).diagnostics)
    return ParseResult(None, result.comments, diags or result.diagnostics)


_WORD_RE = re.compile(r"([A-Za-z_]\w*)[ \t]")


def _starts_declaration(line: str) -> bool:
    """A line at column 1 whose first word is a top-level keyword, or a misspelling of one."""
    m = _WORD_RE.match(line)
    if m and line[m.end() :].lstrip().startswith("="):
        return False  # `model = Net` in an unindented train section
    return bool(m) and (
        m.group(1) in TOP_KEYWORDS
        or bool(difflib.get_close_matches(m.group(1), TOP_KEYWORDS, 1, 0.7))
    )


def _top_level_chunks(text: str) -> Iterator[tuple[int, str]]:
    """Split at lines that begin (column 1) with a top-level keyword, for error recovery.

    Lines are split at `\n` only, as the lexer counts them."""
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if _starts_declaration(line)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    for a, b in zip(starts, starts[1:] + [len(lines)]):
        yield a + 1, "\n".join(lines[a:b])


def _parse_once(text: str, path: str, follow: Token | None = None) -> ParseResult:
    lark = _lark()
    tracker: _Tracker = lark.options.postlex
    tracker.reset()
    comments: list[Token] = []
    try:
        tree = lark.parse(text)
    except UnexpectedInput as exc:
        return ParseResult(None, comments, [_diagnose(exc, tracker, text, path, follow)])
    except RecursionError:
        return ParseResult(
            None, comments, [error("the file is nested too deeply to read", Span(path, 1, 1, 1, 1))]
        )
    if tracker.too_deep is not None:
        t = tracker.too_deep
        span = Span(path, t.line, t.column, t.end_line, t.end_column)
        return ParseResult(
            None,
            comments,
            [error(f"brackets are nested more than {MAX_NESTING} levels deep", span)],
        )
    return ParseResult(tree, _comments(text), [])


_STRING_OR_COMMENT_RE = re.compile(r"\"([^\"\\\n]|\\.)*\"|'([^'\\\n]|\\.)*'|#[^\n]*")


def _comments(text: str) -> list[Token]:
    """Comments with positions (strings are skipped so a `#` inside one is not a comment)."""
    out: list[Token] = []
    line_starts = [0]
    for m in re.finditer("\n", text):
        line_starts.append(m.end())
    for m in _STRING_OR_COMMENT_RE.finditer(text):
        if not m.group(0).startswith("#"):
            continue
        line = bisect.bisect_right(line_starts, m.start())
        col = m.start() - line_starts[line - 1] + 1
        tok = Token(
            "COMMENT",
            m.group(0).rstrip(),
            start_pos=m.start(),
            line=line,
            column=col,
            end_line=line,
            end_column=col + len(m.group(0).rstrip()),
            end_pos=m.end(),
        )
        out.append(tok)
    return out


# ---------------------------------------------------------------------------------------------
# Syntax errors in plain language
# ---------------------------------------------------------------------------------------------

_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "a number",
    "FLOAT": "a number",
    "STRING": "a string",
    "COMP_OP": "a comparison",
    "ADD_OP": "`+` or `-`",
    "MUL_OP": "an operator",
    "POW": "`**`",
    "_ARROW": "`->`",
    "$END": "the end of the file",
    "_LPAR_NL": "`(`",
    "_LSQB_NL": "`[`",
    "__ANON_0": "`...`",
}

_EXPR_START = {
    "NAME",
    "INT",
    "FLOAT",
    "STRING",
    "LPAR",
    "_LPAR_NL",
    "LSQB",
    "_LSQB_NL",
    "TRUE",
    "FALSE",
    "NONE",
}

# Words of the language: they cannot name a value, a parameter or an input.
_KEYWORD_TYPES = {
    "IMPORT", "FROM", "AS", "CONST", "BLOCK", "MODEL", "TRAIN", "INPUT", "PARAM", "FOR", "IN",
    "RETURN", "IF", "ELSE", "OR", "AND", "NOT", "TRUE", "FALSE", "NONE",
}  # fmt: skip


def _token_text(tok: Token) -> str:
    if tok.type == "$END":
        return "the end of the file"
    value = str(tok)
    if len(value) > 30:
        value = value[:27] + "..."
    return f"`{value}`"


def _terminal_word(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    for term in _lark().terminals:
        if term.name == name and term.pattern.type == "str":
            return f"`{term.pattern.value}`"
    return name.lower()


def _expected_words(expected: set[str]) -> str:
    words: list[str] = []
    names = set(expected)
    if len(names & _EXPR_START) >= 4:
        words.append("an expression")
        names -= _EXPR_START | {"ADD_OP", "NOT", "__ANON_0"}
    for n in sorted(
        names, key=lambda n: (n not in ("RPAR", "RSQB", "RBRACE", "COMMA"), _terminal_word(n))
    ):
        w = _terminal_word(n)
        if w not in words:
            words.append(w)
    if len(words) > 8:
        words = words[:8] + ["..."]
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _tspan(tok: Token, path: str) -> Span:
    return Span(
        path, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1
    )


def _after(tok: Token, path: str) -> Span:
    """The position just after `tok`: where something is missing."""
    line, col = tok.end_line or tok.line, tok.end_column or tok.column + len(str(tok))
    return Span(path, line, col, line, col + 1)


def _span_of(tok: Token, path: str, text: str) -> Span:
    if tok.type == "$END" or getattr(tok, "line", None) is None:
        lines = text.split("\n")
        # point just after the last non-blank character of the file
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].strip():
                col = len(lines[i].rstrip()) + 1
                return Span(path, i + 1, col, i + 1, col + 1)
        return Span(path, 1, 1, 1, 1)
    return _tspan(tok, path)


def _at(tok: Token) -> str:
    return f"{tok.line}:{tok.column}"


def _precise_expected(exc: UnexpectedInput) -> set[str]:
    """The terminals the parser would accept: from the parse table when the exception carries
    the parser state (the contextual lexer reports a wider set), else what the exception says."""
    state = getattr(exc, "state", None)
    try:
        table = state.parse_conf.parse_table.states[state.position]  # type: ignore[union-attr]
        return {t for t in table if t.isupper() or t == "$END"}
    except (AttributeError, KeyError, TypeError):
        return set(getattr(exc, "expected", None) or ())


@dataclass
class _Context:
    """What is known at a syntax error: the token, what the parser wanted, what is open."""

    tok: Token
    expected: set[str]
    span: Span
    got: str  # the token as the message shows it
    stack: list[_Open]  # brackets open before the token
    history: list[Token]  # the tokens before it, newest last
    tracker: _Tracker
    text: str
    path: str
    follow: Token | None  # the first token of the next declaration, when parsing one chunk

    @property
    def prev(self) -> Token | None:
        return self.history[-1] if self.history else None

    @property
    def prev2(self) -> Token | None:
        return self.history[-2] if len(self.history) > 1 else None

    @property
    def innermost(self) -> _Open | None:
        return self.stack[-1] if self.stack else None

    @property
    def in_train(self) -> bool:
        return self.innermost is not None and self.innermost.what.startswith("the train section")

    @property
    def new_line(self) -> bool:
        """The token starts a later line than the one before it."""
        prev = self.prev
        return prev is not None and self.tok.type != "$END" and self.tok.line > prev.end_line

    @property
    def touching(self) -> bool:
        """The token follows the one before it without a space."""
        prev = self.prev
        return (
            prev is not None
            and self.tok.type != "$END"
            and (prev.end_line, prev.end_column) == (self.tok.line, self.tok.column)
        )


def _diagnose(
    exc: UnexpectedInput, tracker: _Tracker, text: str, path: str, follow: Token | None = None
) -> Diagnostic:
    """A syntax error in the user's terms: the first rule that recognises the situation speaks.
    `follow` is the first token of the next top-level declaration when `text` is one chunk of a
    file (see `parse_text`)."""
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(exc, text, path)
    tok = exc.token if isinstance(exc, UnexpectedToken) else Token("$END", "")
    # the tracker may have seen the offending token already: undo its effect for the analysis
    stack = list(tracker.stack)
    if tok.type in _OPENERS and stack and stack[-1].token is tok:
        stack.pop()
    elif tracker.popped is not None and tracker.popped[0] is tok:
        stack.append(tracker.popped[1])
    ctx = _Context(
        tok=tok,
        expected=_precise_expected(exc),
        span=_span_of(tok, path, text),
        got=_token_text(tok),
        stack=stack,
        history=[t for t in tracker.history if t is not tok],
        tracker=tracker,
        text=text,
        path=path,
        follow=follow,
    )
    for rule in _RULES:
        found = rule(ctx)
        if found is not None:
            return found
    return _fallback(ctx)


def _at_top_level(c: _Context) -> Diagnostic | None:
    """A misspelt keyword, or something that belongs inside a body."""
    if c.stack or c.tok.type in _CLOSERS or c.tok.type == "$END":
        return None
    if not c.expected or not c.expected <= _DECL_KEYWORDS | {"$END"}:
        return None
    notes = []
    closed = c.tracker.closed_decl
    if closed is not None and closed[0].line < c.tok.line:
        notes.append(Note(f"the `}}` at {{at}} ends {closed[1]}", _tspan(closed[0], c.path)))
    if c.tok.type == "NAME":
        close = difflib.get_close_matches(str(c.tok), TOP_KEYWORDS, n=1, cutoff=0.6)
        if close:
            return error(
                f"unknown keyword `{c.tok}`; did you mean `{close[0]}`?",
                c.span,
                hint="a file holds `model`, `block`, `train`, `const` and `import` declarations",
            )
    hint = "statements belong inside the `{ ... }` of a model or block"
    if str(c.tok) in ("class", "def"):
        hint = "this looks like Python; a network is declared `model Net { ... }`"
    return error(
        f"expected a declaration (`model`, `block`, `train`, `const` or `import`), found {c.got}",
        c.span,
        notes=notes,
        hint=hint,
    )


def _left_open(c: _Context) -> Diagnostic | None:
    """The file ends, or the next declaration begins, while brackets are open."""
    if c.tok.type == "$END" and c.stack:
        return _unclosed(c.stack, c.span, c.follow, _misplaced_brace(c.tracker, c.text, c.path))
    if c.tok.type in _DECL_KEYWORDS and c.stack and c.prev is not None:
        if _next_char(c.text, c.tok) == "=" and "EQUAL" not in c.expected:
            return _reserved(c.tok, c.path)  # `model = ...` in a body
        return _unclosed(c.stack, _after(c.prev, c.path), c.tok)
    return None


def _reserved_word(c: _Context) -> Diagnostic | None:
    """A reserved word used as a name: `input = ...`, `for = ...`."""
    if (
        c.tok.type in _KEYWORD_TYPES
        and _next_char(c.text, c.tok) == "="
        and "EQUAL" not in c.expected
    ):
        return _reserved(c.tok, c.path)
    if c.tok.type == "EQUAL" and c.prev is not None and c.prev.type in _KEYWORD_TYPES:
        return _reserved(c.prev, c.path)
    return None


def _closing_bracket(c: _Context) -> Diagnostic | None:
    """A closing bracket with nothing to close, or of the wrong kind."""
    if c.tok.type not in _CLOSERS:
        return None
    closer = _CLOSERS[c.tok.type]
    inner = c.innermost
    if inner is None or (inner.closer == "}" and closer != "}"):
        opener = {")": "(", "]": "[", "}": "{"}[closer]
        return error(
            f"unmatched {c.got}: there is no `{opener}` for it to close",
            c.span,
            hint="remove it, or add the opening bracket it closes",
        )
    if inner.closer == closer:
        return None
    o = inner.token
    if closer == "}" or c.tok.line > o.line:
        return error(
            f"missing `{inner.closer}`: {inner.what} opened here is never closed",
            _tspan(o, c.path),
            notes=[Note(f"the {c.got} at {{at}} was reached while it was still open", c.span)],
            hint=f"add `{inner.closer}` where {_short(inner.what)} ends",
        )
    return error(
        f"mismatched {c.got}: expected `{inner.closer}` to close {inner.what} opened at {_at(o)}",
        c.span,
    )


def _end_of_file(c: _Context) -> Diagnostic | None:
    if c.tok.type != "$END":
        return None
    if c.prev is not None and c.prev.type == "_ARROW":
        return _dangling_arrow(c.prev, c.path, c.got)
    return error(f"unexpected end of file; expected {_expected_words(c.expected)}", c.span)


def _no_value(c: _Context) -> Diagnostic | None:
    """`key =` with nothing after it (the next line was read as its value)."""
    empty = _empty_value(c.tok, c.history, c.new_line)
    if empty is None:
        return None
    key, eq = empty
    inner = c.innermost
    if inner is not None and inner.what.startswith("the parameter list"):
        hint = f"give `{key}` a default value after `=`, or remove the `=`"
    elif inner is not None and inner.closer == ")":
        return error(
            f"`{key}=` has no value",
            _tspan(eq, c.path),
            hint=f"write the value after `=`, as in `{key}=1`",
        )
    else:
        hint = f"write a value after `=`, as in `{key} = {_example_value(key, inner)}`"
    return error(f"`{key} =` has no value", _tspan(eq, c.path), hint=hint)


def _arrows(c: _Context) -> Diagnostic | None:
    """`x ->` with nothing after it, `->` twice, `=>`."""
    prev, prev2 = c.prev, c.prev2
    if prev is None:
        return None
    if prev.type == "_ARROW" and c.tok.type not in c.expected:
        return _dangling_arrow(prev, c.path, c.got)
    if c.tok.type == "COMP_OP" and str(c.tok) == ">" and c.touching:
        if str(prev) == "=":
            return error("`=>` is not an arrow: write `->`", _tspan(prev, c.path).cover(c.span))
        if str(prev) == "-" and prev2 is not None and prev2.type == "_ARROW":
            return error(
                "`->` twice in a row: a chain stage is missing between them",
                _tspan(prev2, c.path).cover(c.span),
                hint="write a layer, block or function between the arrows, or remove one",
            )
    return None


def _commas(c: _Context) -> Diagnostic | None:
    prev = c.prev
    if prev is None:
        return None
    if c.tok.type == "COMMA" and prev.type == "COMMA":
        return error("two commas in a row", c.span, hint="remove one, or write the missing item")
    if c.tok.type == "COMMA" and c.in_train:
        return error(
            "unexpected `,` in the train section",
            c.span,
            hint="train entries are not separated by commas; several values form a list, "
            "as in `metrics = [accuracy, top5]`",
        )
    if prev.type == "COMMA" and c.new_line and c.tok.type not in c.expected:
        return error(
            f"expected another item after the `,` at {_at(prev)}, found {c.got}",
            _tspan(prev, c.path),
            hint="remove the trailing `,`, or write the missing item",
        )
    return None


def _quote_hint(c: _Context) -> str | None:
    if c.prev is not None and c.prev.type == "STRING" and c.touching:
        return f"the string {_token_text(c.prev)} ends right before {c.got}: is a quote misplaced?"
    return None


def _inside_brackets(c: _Context) -> Diagnostic | None:
    """A missing `:` in a parameter, a missing comma or closing bracket."""
    inner, prev = c.innermost, c.prev
    if inner is None or inner.closer not in ")]" or "COMMA" not in c.expected:
        return None
    if (
        inner.what.startswith("the parameter list")
        and c.tok.type == "NAME"
        and prev is not None
        and prev.type == "NAME"
    ):
        return error(
            f"expected `:` between the parameter `{prev}` and its type",
            _after(prev, c.path),
            hint=f"write `{prev}: {c.tok}`",
        )
    if ("RPAR" if inner.closer == ")" else "RSQB") not in c.expected:
        return None
    hint = _quote_hint(c) or "separate arguments and items with commas"
    if c.new_line and prev is not None:
        hint = (
            f"close {_short(inner.what)} with `{inner.closer}` at the end of "
            f"line {prev.end_line}, or separate items with commas"
        )
    return error(
        f"expected `,` or `{inner.closer}` in {inner.what} opened at {_at(inner.token)}, "
        f"found {c.got}",
        c.span,
        hint=hint,
    )


def _train_lines(c: _Context) -> Diagnostic | None:
    """A train section holds only `key = value` lines."""
    if not c.in_train:
        return None
    if c.tok.type == "COLON":
        return error(
            "unexpected `:` in the train section: write `key = value`",
            c.span,
            hint="each line of a train section looks like `epochs = 10`",
        )
    if c.expected and c.expected <= {"NAME", "RBRACE"}:
        return error(
            f"expected a `key = value` line or `}}` in {c.innermost.what}, found {c.got}",  # type: ignore[union-attr]
            c.span,
            hint="each line of a train section looks like `epochs = 10`",
        )
    return None


def _equals_and_colons(c: _Context) -> Diagnostic | None:
    if c.tok.type == "EQUAL" and "EQUAL" not in c.expected:
        if "COMP_OP" in c.expected or "ELSE" in c.expected:
            return error(
                "unexpected `=` in a condition: use `==` to compare",
                c.span,
                hint="`=` only binds a name (`h = x -> relu`) or passes a keyword argument",
            )
        return error(
            "unexpected `=` here",
            c.span,
            hint="`name = value` binds a name; keyword arguments are written `f(key=value)`",
        )
    if c.tok.type == "COLON" and "COLON" not in c.expected:
        if _next_char(c.text, c.tok) in ("{", ""):
            return error(
                "unexpected `:`: a body needs no colon",
                c.span,
                hint="write the body in braces right away, as in `for x in [1, 2] { ... }`",
            )
        return error(
            "unexpected `:` here",
            c.span,
            hint="a label is written `name: Layer(...)` at the start of a chain stage; "
            "slices appear only inside `[...]`",
        )
    return None


def _missing_words(c: _Context) -> Diagnostic | None:
    """A conditional without `else`, an import without quotes, a body without `{`."""
    prev, prev2 = c.prev, c.prev2
    if prev is None:
        return None
    if "ELSE" in c.expected and c.tok.type not in c.expected:
        return error(
            f"expected `else` after the condition, found {c.got}",
            _after(prev, c.path) if c.new_line else c.span,
            hint="a conditional is written `a if condition else b`, always with both branches",
        )
    if prev.type == "IMPORT" and c.tok.type != "STRING":
        return error(
            "expected the file to import, in quotes",
            c.span,
            hint=f'write `import "{_dotted_file(c.text, c.tok)}"`; Python modules are imported '
            "with `from package.module import Name`",
        )
    if c.expected and c.expected <= {"LPAR", "_LPAR_NL", "LBRACE"}:
        head = f"{prev2} {prev}" if prev2 is not None and prev2.type in ("MODEL", "BLOCK") else ""
        return error(
            f"expected `{{` to begin the body{f' of `{head}`' if head else ''}, found {c.got}",
            _after(prev, c.path) if c.new_line else c.span,
            hint="a body is written in braces: `model Net { ... }`, `for x in [1, 2] { ... }`",
        )
    return None


def _fallback(c: _Context) -> Diagnostic:
    if c.tok.type in _KEYWORD_TYPES and "NAME" in c.expected:
        return error(
            f"unexpected keyword {c.got}; expected {_expected_words(c.expected)}",
            c.span,
            hint=f"{c.got} is a reserved word and cannot be used as a name",
        )
    hint = _quote_hint(c)
    if hint is None and c.new_line and c.expected & {"RPAR", "RSQB"}:
        hint = f"is something missing at the end of line {c.prev.end_line}?"  # type: ignore[union-attr]
    return error(f"unexpected {c.got}; expected {_expected_words(c.expected)}", c.span, hint=hint)


_RULES = (
    _at_top_level,
    _left_open,
    _reserved_word,
    _closing_bracket,
    _end_of_file,
    _no_value,
    _arrows,
    _commas,
    _inside_brackets,
    _train_lines,
    _equals_and_colons,
    _missing_words,
)


def _dangling_arrow(arrow: Token, path: str, got: str) -> Diagnostic:
    return error(
        f"expected a layer, block or function after `->`, found {got}",
        _tspan(arrow, path),
        hint="complete the chain, or remove the trailing `->`",
    )


def _dotted_file(text: str, tok: Token) -> str:
    """`blocks.nn` from `import blocks.nn` (what the user meant to import)."""
    start = tok.start_pos if tok.start_pos is not None else 0
    word = re.match(r"[\w./-]*", text[start:])
    name = word.group(0) if word and word.group(0) else "file"
    return name if name.endswith(".nn") else name + ".nn"


def _short(what: str) -> str:
    """`the call to `f`` → `the call`, for a second mention."""
    for word in ("parameter list", "train section", "call", "list", "index", "parenthesis", "body"):
        if f" {word}" in f" {what}":
            return f"the {word}"
    return "it"


def _unclosed(
    stack: list[_Open],
    span: Span,
    follow: Token | None,
    suspect: tuple[Note, str] | None = None,
) -> Diagnostic:
    """The file ends, or the next declaration begins, while brackets are still open."""
    inner = stack[-1]
    if follow is None:
        notes = [Note("the file ends here")]
    else:
        notes = [Note(f"`{follow}` at {_at(follow)} starts the next declaration")]
    notes += [
        Note(f"{s.what} opened at {{at}} is not closed either", _tspan(s.token, span.file))
        for s in reversed(stack[:-1])
    ]
    hint = f"add `{inner.closer}` here"
    if len(stack) > 1:
        rest = ", ".join(f"`{s.closer}` to close {s.what}" for s in reversed(stack[:-1]))
        hint += f", then {rest}"
    if suspect is not None and len(stack) == 1 and inner.closer == "}":
        notes.append(suspect[0])
        hint = suspect[1]
    return error(
        f"expected `{inner.closer}` to close {inner.what} opened at {_at(inner.token)}",
        span,
        notes=notes,
        hint=hint,
    )


def _indent(text: str, line: int) -> int:
    lines = text.split("\n")
    row = lines[line - 1] if 0 < line <= len(lines) else ""
    return len(row) - len(row.lstrip(" \t"))


def _misplaced_brace(tracker: _Tracker, text: str, path: str) -> tuple[Note, str] | None:
    """When a body is left open, the `}` that went missing is usually the one before a `}` that
    is indented less than the line that opened the body it closes: a note and a hint for it.
    Where the body ends is then the first line indented no more than its opening line."""
    lines = text.split("\n")
    for opened, brace in tracker.braces:
        start = _indent(text, opened.token.line)
        if _indent(text, brace.line) >= start:
            continue
        end = brace.line
        for n in range(opened.token.line + 1, brace.line):
            row = lines[n - 1].strip() if n <= len(lines) else ""
            if row and not row.startswith("#") and _indent(text, n) <= start:
                end = n
                break
        note = Note(
            f"the `}}` at {{at}} closes {opened.what} opened at {_at(opened.token)}, but by "
            f"the indentation that body ends before line {end}",
            _tspan(brace, path),
        )
        return note, f"add `}}` before line {end} to close {opened.what}"
    return None


def _empty_value(tok: Token, history: list[Token], new_line: bool) -> tuple[str, Token] | None:
    """(`key`, its `=`) when `key =` has nothing after it: the line ends, or a closing bracket
    or comma follows.  `key` is the name before `=` (for `name: type =`, the name)."""

    def key_of(i: int) -> str | None:  # the name that `history[i]` (an `=`) defines
        if i >= 1 and history[i - 1].type == "NAME":
            if i >= 3 and history[i - 2].type == "COLON" and history[i - 3].type == "NAME":
                return str(history[i - 3])
            return str(history[i - 1])
        return None

    n = len(history)
    if n >= 1 and history[-1].type == "EQUAL" and (new_line or tok.type in ("RPAR", "COMMA")):
        key = key_of(n - 1)
        if key is not None:
            return key, history[-1]
    if (
        tok.type == "EQUAL"
        and n >= 2
        and history[-2].type == "EQUAL"
        and history[-1].type == "NAME"
        and history[-1].line > history[-2].end_line
    ):
        key = key_of(n - 2)
        if key is not None:
            return key, history[-2]
    return None


_EXAMPLES = {
    "model": "IrisMLP",
    "data": "digits(val_split=0.2)",
    "loss": "CrossEntropyLoss()",
    "optimizer": "Adam(lr=1e-3)",
    "epochs": "10",
    "batch_size": "32",
    "metrics": "[accuracy]",
    "seed": "0",
}


def _example_value(key: str, innermost: _Open | None) -> str:
    if innermost is not None and "train" in innermost.what:
        return _EXAMPLES.get(key, "...")
    return "x -> Linear(10)"


def _reserved(tok: Token, path: str) -> Diagnostic:
    return error(
        f"`{tok}` is a reserved word and cannot be used as a name",
        _tspan(tok, path),
        hint=f"choose another name, such as `{tok}_` or a more specific one",
    )


def _next_char(text: str, tok: Token) -> str:
    """The first non-blank character after `tok` on its line ('' at the end of the line)."""
    end = tok.end_pos if tok.end_pos is not None else tok.start_pos + len(str(tok))
    rest = text[end:].split("\n", 1)[0].strip()
    return rest[:1] if not rest.startswith("#") else ""


_CHAR_HINTS = {
    ";": "statements need no `;`: put them on separate lines",
    "\\": "a backslash is only allowed inside strings",
    "!": "use `not` for negation; `!=` compares",
    "&": "use `and`",
    "|": "use `or`",
    "$": "names are written without `$`: `hidden`, not `$hidden`",
    "`": "names and code are written without backquotes",
    "?": "conditionals are written `a if condition else b`",
    "\u2013": "this is a typographic dash: write `-` (and `->` for an arrow)",
    "\u2014": "this is a typographic dash: write `-` (and `->` for an arrow)",
    "\u2192": "write the arrow as `->`",
    "\u00d7": "write multiplication as `*`",
    "\u201c": 'this is a typographic quote: write strings with straight quotes `"`',
    "\u201d": 'this is a typographic quote: write strings with straight quotes `"`',
    "\u2018": "this is a typographic quote: write strings with straight quotes `'`",
    "\u2019": "this is a typographic quote: write strings with straight quotes `'`",
    "\u00a0": "this is a non-breaking space: replace it with a normal space",
}


def _bad_character(exc: UnexpectedCharacters, text: str, path: str) -> Diagnostic:
    char = exc.char
    span = Span(path, exc.line, exc.column, exc.line, exc.column + 1)
    if char in "\"'":
        line = text.split("\n")[exc.line - 1] if exc.line - 1 < len(text.split("\n")) else ""
        end = len(line.rstrip()) + 1
        return error(
            "unterminated string: it has no closing quote on this line",
            Span(path, exc.line, exc.column, exc.line, max(end, exc.column + 1)),
            hint=f"end the string with `{char}`; a string cannot span several lines",
        )
    hint = _CHAR_HINTS.get(char)
    if hint is None and char.isalpha():
        hint = "names are made of ASCII letters, digits and `_`"
    shown = char if char.isprintable() and not char.isspace() else repr(char)[1:-1]
    return error(f"unexpected character `{shown}`", span, hint=hint)
