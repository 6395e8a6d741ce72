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
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from nndsl.errors import Diagnostic, Span, error

TOP_KEYWORDS = ("model", "block", "train", "const", "import", "from")
_OPENERS = {"LPAR": ")", "_LPAR_NL": ")", "LSQB": "]", "_LSQB_NL": "]", "LBRACE": "}"}
_CLOSERS = {"RPAR": ")", "RSQB": "]", "RBRACE": "}"}
MAX_NESTING = 100


@dataclass
class _Open:
    token: Token
    closer: str
    what: str


@dataclass
class _Tracker:
    """Post-lexer: marks brackets that start a line, collects comments, tracks open brackets."""

    always_accept: tuple[str, ...] = ()
    prev: Token | None = None
    stack: list[_Open] = field(default_factory=list)
    too_deep: Token | None = None

    def reset(self) -> None:
        self.prev, self.stack, self.too_deep = None, [], None

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        for tok in stream:
            prev = self.prev
            if tok.type in ("LPAR", "LSQB") and (prev is None or tok.line > prev.end_line):
                tok.type = "_LPAR_NL" if tok.type == "LPAR" else "_LSQB_NL"
            if tok.type in _OPENERS:
                self.stack.append(_Open(tok, _OPENERS[tok.type], _what_opens(tok, prev)))
                if len(self.stack) > MAX_NESTING and self.too_deep is None:
                    self.too_deep = tok
            elif (
                tok.type in _CLOSERS and self.stack and self.stack[-1].closer == _CLOSERS[tok.type]
            ):
                self.stack.pop()
            self.prev = tok
            yield tok


def _what_opens(tok: Token, prev: Token | None) -> str:
    if tok.type == "LBRACE":
        return "block body"
    if tok.type == "LPAR":
        return (
            "call" if prev is not None and prev.type in ("NAME", "RPAR", "RSQB") else "parenthesis"
        )
    if tok.type == "LSQB":
        return "index" if prev is not None and prev.type in ("NAME", "RPAR", "RSQB") else "list"
    return "parenthesis" if tok.type == "_LPAR_NL" else "list"


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
    """Parse a whole file; on syntax errors, report one per top-level declaration."""
    result = _parse_once(text, path)
    if not result.diagnostics:
        return result
    diags: list[Diagnostic] = []
    chunks = list(_top_level_chunks(text))
    if len(chunks) <= 1:
        return result
    for start_line, chunk in chunks:
        padded = "\n" * (start_line - 1) + chunk
        diags.extend(_parse_once(padded, path).diagnostics)
    return ParseResult(None, result.comments, diags or result.diagnostics)


_WORD_RE = re.compile(r"([A-Za-z_]\w*)[ \t]")


def _starts_declaration(line: str) -> bool:
    """A line at column 1 whose first word is a top-level keyword, or a misspelling of one."""
    m = _WORD_RE.match(line)
    return bool(m) and (
        m.group(1) in TOP_KEYWORDS
        or bool(difflib.get_close_matches(m.group(1), TOP_KEYWORDS, 1, 0.7))
    )


def _top_level_chunks(text: str) -> Iterator[tuple[int, str]]:
    """Split at lines that begin (column 1) with a top-level keyword, for error recovery."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _starts_declaration(line)]
    if not starts or starts[0] != 0:
        starts.insert(0, 0)
    for a, b in zip(starts, starts[1:] + [len(lines)]):
        yield a + 1, "".join(lines[a:b])


def _parse_once(text: str, path: str) -> ParseResult:
    lark = _lark()
    tracker: _Tracker = lark.options.postlex
    tracker.reset()
    comments: list[Token] = []
    try:
        tree = lark.parse(text)
    except UnexpectedInput as exc:
        return ParseResult(None, comments, [_diagnose(exc, tracker, text, path)])
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


def _span_of(tok: Token, path: str, text: str) -> Span:
    if tok.type == "$END" or getattr(tok, "line", None) is None:
        lines = text.splitlines() or [""]
        # point just after the last non-blank character of the file
        for i in range(len(lines) - 1, -1, -1):
            if lines[i].strip():
                col = len(lines[i].rstrip()) + 1
                return Span(path, i + 1, col, i + 1, col + 1)
        return Span(path, 1, 1, 1, 1)
    return Span(
        path, tok.line, tok.column, tok.end_line or tok.line, tok.end_column or tok.column + 1
    )


def _diagnose(exc: UnexpectedInput, tracker: _Tracker, text: str, path: str) -> Diagnostic:
    if isinstance(exc, UnexpectedCharacters):
        return _bad_character(exc, text, path)
    if isinstance(exc, UnexpectedEOF):
        tok = Token("$END", "")
        expected = set(exc.expected)
    else:
        assert isinstance(exc, UnexpectedToken)
        tok = exc.token
        expected = set(exc.expected) if exc.expected else set()
    span = _span_of(tok, path, text)
    got = _token_text(tok)
    stack = tracker.stack
    # the tracker has already pushed/popped the offending token itself: undo that for the analysis
    if tok.type in _OPENERS and stack and stack[-1].token is tok:
        stack = stack[:-1]
    innermost = stack[-1] if stack else None

    # 1. a top-level keyword misspelt, or junk between declarations
    if (
        expected
        and expected <= {"MODEL", "BLOCK", "TRAIN", "CONST", "IMPORT", "FROM", "$END"}
        and not stack
    ):
        if tok.type == "NAME":
            close = difflib.get_close_matches(str(tok), TOP_KEYWORDS, n=1, cutoff=0.6)
            if close:
                return error(
                    f"unknown keyword `{tok}`; did you mean `{close[0]}`?",
                    span,
                    hint="a file holds `model`, `block`, `train`, `const` and `import` declarations",
                )
        return error(
            f"expected a declaration (`model`, `block`, `train`, `const` or `import`), found {got}",
            span,
            hint="statements belong inside the `{ ... }` of a model or block",
        )

    # 2. a closing bracket that does not match, or the file ends inside brackets
    if innermost is not None and (
        tok.type == "$END" or (tok.type in _CLOSERS and _CLOSERS[tok.type] != innermost.closer)
    ):
        o = innermost.token
        what = innermost.what
        if tok.type == "$END":
            return error(
                f"expected `{innermost.closer}` to close the {what} opened at {o.line}:{o.column}",
                span,
            )
        return error(
            f"mismatched {got}: expected `{innermost.closer}` to close the {what} opened at {o.line}:{o.column}",
            span,
        )
    if tok.type in _CLOSERS and innermost is None:
        return error(
            f"unmatched {got}: nothing is open here",
            span,
            hint="remove it, or add the opening bracket it closes",
        )

    if tok.type == "$END":
        return error(f"unexpected end of file; expected {_expected_words(expected)}", span)

    # 3. inside a call or list: a missing comma or closing bracket
    if (
        innermost is not None
        and innermost.closer in ")]"
        and "COMMA" in expected
        and innermost.closer in (")" if "RPAR" in expected else "]" if "RSQB" in expected else "")
    ):
        o = innermost.token
        return error(
            f"expected `,` or `{innermost.closer}` in the {innermost.what} opened at {o.line}:{o.column}, found {got}",
            span,
            hint="separate arguments and items with commas",
        )

    # 4. a train section holds only `key = value` lines
    if (
        expected
        and expected <= {"NAME", "RBRACE"}
        and innermost is not None
        and innermost.what == "block body"
    ):
        if _in_train(text, innermost.token):
            return error(
                f"expected a `key = value` line or `}}` in the train section, found {got}",
                span,
                hint="each line of a train section looks like `epochs = 10`",
            )
    if tok.type == "EQUAL" and "EQUAL" not in expected:
        if "COMP_OP" in expected:
            return error("unexpected `=`; use `==` to compare, and `=` only to bind a name", span)
        return error(
            "unexpected `=` here",
            span,
            hint="`name = value` binds a name; keyword arguments are written `f(key=value)`",
        )
    if tok.type == "COLON" and "COLON" not in expected:
        return error(
            "unexpected `:` here",
            span,
            hint="labels are written `name: Layer(...)` at the start of a chain stage; slices only appear inside `[...]`",
        )
    if tok.type in (
        "IN",
        "IF",
        "ELSE",
        "FOR",
        "RETURN",
        "INPUT",
        "PARAM",
        "AND",
        "OR",
        "NOT",
        "TRUE",
        "FALSE",
        "NONE",
        "IMPORT",
        "FROM",
        "AS",
        "CONST",
        "BLOCK",
        "MODEL",
        "TRAIN",
    ):
        return error(
            f"unexpected keyword {got}; expected {_expected_words(expected)}",
            span,
            hint=f"{got} is a reserved word and cannot be used as a name here",
        )
    return error(f"unexpected {got}; expected {_expected_words(expected)}", span)


def _in_train(text: str, brace: Token) -> bool:
    line = text.splitlines()[brace.line - 1] if brace.line - 1 < len(text.splitlines()) else ""
    return line.lstrip().startswith("train")


_CHAR_HINTS = {
    ";": "statements need no `;`: put them on separate lines",
    '"': "this string is not closed: strings end on the same line with the quote they start with",
    "'": "this string is not closed: strings end on the same line with the quote they start with",
    "\\": "a backslash is only allowed inside strings",
    "!": "use `not` for negation; `!=` compares",
    "&": "use `and`",
    "|": "use `or`",
    "$": None,
    "`": None,
}


def _bad_character(exc: UnexpectedCharacters, text: str, path: str) -> Diagnostic:
    char = exc.char
    span = Span(path, exc.line, exc.column, exc.line, exc.column + 1)
    hint = _CHAR_HINTS.get(char)
    if hint is None and char.isalpha():
        hint = "names are made of ASCII letters, digits and `_`"
    shown = char if char.isprintable() and not char.isspace() else repr(char)
    if char in "\"'":
        return error("unterminated string", span, hint=hint)
    return error(f"unexpected character `{shown}`", span, hint=hint)
