"""Source spans and diagnostics, and their rendering in the style of rustc and Elm.

Every pass reports mistakes as `Diagnostic` values; only the CLI renders them. This module
imports nothing of nndsl so that every other module may import it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from enum import Enum
from functools import lru_cache

from nndsl.records import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file: 1-based line and column, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"

    def cover(self, other: Span) -> Span:
        """The smallest span holding both (same file)."""
        start = min((self.line, self.col), (other.line, other.col))
        end = max((self.end_line, self.end_col), (other.end_line, other.end_col))
        return Span(self.file, start[0], start[1], end[0], end[1])


def normalize_newlines(text: str) -> str:
    """`\r\n` and a lone `\r` as `\n`: the one line break the lexer and every position know."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


@lru_cache(maxsize=16)
def source_lines(text: str) -> tuple[str, ...]:
    """The lines of a spec as positions count them: split at `\n`, `\r\n` and `\r` only (not at
    the form feeds and Unicode separators where `str.splitlines` also splits).  Cached: passes
    that quote a line of a large file do not split it again."""
    return tuple(normalize_newlines(text).split("\n"))


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Note:
    """A secondary remark, optionally pointing at another place."""

    message: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    message: str
    span: Span | None
    notes: tuple[Note, ...] = ()
    hint: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple:
        s = self.span
        return (s.file, s.line, s.col) if s else ("", 0, 0)


def error(
    message: str, span: Span | None, *, notes: Iterable[Note] = (), hint: str | None = None
) -> Diagnostic:
    return Diagnostic(Severity.ERROR, message, span, tuple(notes), hint)


def warning(
    message: str, span: Span | None, *, notes: Iterable[Note] = (), hint: str | None = None
) -> Diagnostic:
    return Diagnostic(Severity.WARNING, message, span, tuple(notes), hint)


class NndslError(Exception):
    """Raised by the Python API when a program has errors; carries every diagnostic."""

    def __init__(self, diagnostics: Iterable[Diagnostic], sources: Mapping[str, str] | None = None):
        self.diagnostics = tuple(diagnostics)
        self.sources = dict(sources or {})
        super().__init__(render_all(self.diagnostics, self.sources))


@dataclass(slots=True)
class Sources:
    """The text of every file read, so that diagnostics can quote it."""

    texts: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, text: str) -> None:
        self.texts[name] = text

    def line(self, name: str, lineno: int) -> str | None:
        text = self.texts.get(name)
        if text is None:
            return None
        lines = source_lines(text)
        return lines[lineno - 1] if 0 < lineno <= len(lines) else None


class _Style:
    def __init__(self, color: bool):
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def bold(self, t: str) -> str:
        return self._wrap("1", t)

    def severity(self, sev: Severity, t: str) -> str:
        return self._wrap("1;31" if sev is Severity.ERROR else "1;33", t)

    def blue(self, t: str) -> str:
        return self._wrap("1;34", t)


class Hinted(str):
    """A message (a str, as before) with the `hint` that goes with it: what a check returns
    when its callers make the diagnostic (`catalog.core.check_type`, `api.data_mismatch`)."""

    hint: str | None

    def __new__(cls, message: str, hint: str | None = None) -> Hinted:
        made = super().__new__(cls, message)
        made.hint = hint
        return made


def display_path(path: str) -> str:
    """A path as the user would like to read it: relative to the working directory when below it.
    Bytes of a file name that are not UTF-8 are shown as U+FFFD (the text stays printable and
    encodable; the file itself is still opened by its real name)."""
    if not path:
        return "''"  # (an empty argument: relpath refuses it)
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    shown = rel if not rel.startswith("..") else path
    try:
        shown.encode("utf-8")
    except UnicodeEncodeError:
        shown = shown.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return shown


def _expand_tabs(line: str) -> str:
    return line.replace("\t", "    ").replace("\x00", "\u2400")  # a NUL shown, one column wide


def _visual_col(line: str, col: int) -> int:
    """Column on screen (1-based) of the 1-based character column `col`, tabs as 4 spaces."""
    return len(_expand_tabs(line[: col - 1])) + 1


def render(diag: Diagnostic, sources: Mapping[str, str], *, color: bool = False) -> str:
    """Render one diagnostic: header, location, the source line with carets, notes and a hint."""
    st = _Style(color)
    out = [st.severity(diag.severity, diag.severity.value) + st.bold(f": {diag.message}")]
    span = diag.span
    src = Sources(dict(sources))
    notes = list(diag.notes)
    if span is not None:
        lines_shown = _excerpt(span, src)
        # one column wider than the widest line number, as LANGUAGE.md shows: ` 5 |`, `  -->`
        width = 1 + (
            max(len(str(n)) for n, _, _ in lines_shown) if lines_shown else len(str(span.line))
        )
        pad = " " * width
        out.append(f"{pad}{st.blue('-->')} {display_path(span.file)}:{span.line}:{span.col}")
        if lines_shown:
            out.append(f"{pad} {st.blue('|')}")
            for lineno, text, (c0, c1) in lines_shown:
                out.append(
                    f"{st.blue(str(lineno).rjust(width))} {st.blue('|')} {_expand_tabs(text)}".rstrip()
                )
                if c1 > c0:
                    marks = " " * (c0 - 1) + "^" * (c1 - c0)
                    out.append(f"{pad} {st.blue('|')} " + st.severity(diag.severity, marks))
        for note in notes:
            out.append(f"{pad} {st.blue('=')} note: {_note_text(note, span)}")
        if diag.hint:
            out.append(f"{pad} {st.blue('=')} hint: {diag.hint}")
    else:
        for note in notes:
            out.append(f"  = note: {_note_text(note, None)}")
        if diag.hint:
            out.append(f"  = hint: {diag.hint}")
    return "\n".join(out)


def _note_text(note: Note, main: Span | None) -> str:
    if note.span is None:
        return note.message
    where = f"{note.span.line}:{note.span.col}"
    if main is None or note.span.file != main.file:
        where = f"{display_path(note.span.file)}:{where}"
    return (
        note.message.replace("{at}", where)
        if "{at}" in note.message
        else f"{note.message} (at {where})"
    )


_MAX_LINES = 4


def _excerpt(span: Span, src: Sources) -> list[tuple[int, str, tuple[int, int]]]:
    """The lines of `span` with the visual column range to underline on each."""
    rows: list[tuple[int, str, tuple[int, int]]] = []
    last = min(span.end_line, span.line + _MAX_LINES - 1)
    for lineno in range(span.line, last + 1):
        text = src.line(span.file, lineno)
        if text is None:
            break
        start = span.col if lineno == span.line else len(text) - len(text.lstrip()) + 1
        end = span.end_col if lineno == span.end_line else len(text) + 1
        v0 = _visual_col(text, max(start, 1))
        v1 = _visual_col(text, max(end, start))
        if v1 <= v0:
            v1 = v0 + 1  # point at something even for an empty span (end of file)
        rows.append((lineno, text, (v0, v1)))
    return rows


def render_all(
    diags: Iterable[Diagnostic], sources: Mapping[str, str], *, color: bool = False
) -> str:
    return "\n\n".join(render(d, sources, color=color) for d in diags)


def summary_line(diags: Iterable[Diagnostic]) -> str:
    diags = list(diags)
    n_err = sum(d.is_error for d in diags)
    n_warn = len(diags) - n_err
    parts = []
    if n_err:
        parts.append(f"{n_err} error{'s' if n_err != 1 else ''}")
    if n_warn:
        parts.append(f"{n_warn} warning{'s' if n_warn != 1 else ''}")
    return ", ".join(parts)
