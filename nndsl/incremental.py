"""Re-checking a spec after an edit without re-reading what did not change (for `nndsl lsp`).

`IncrementalParser` is a drop-in for `nndsl.syntax.parse` (same IR, same diagnostics) that keeps
the results of the pieces of text it parsed before.  A file is cut into top-level declarations
(where `parse_text`'s error recovery cuts it), and the body of a `model`/`block`/`loss` into runs
of statements; a piece is parsed again only when its text, or the line it starts on, changed.

Where a body may be cut: at the start of a line, outside any bracket of the body, when that line
begins with a token that can only start an expression or statement (a name that is not an
operator word, a number, a string, an opening bracket: the post-lexer makes a bracket that starts
a line start a new expression) and the line before ends with a token that can only end one (a
name that is no keyword, a number, a string, a closing bracket).  The grammar has no two
consecutive expressions inside one statement, so the full parse ends a statement there too.

With a syntax error anywhere the answer is the one `parse_text` gives (one diagnostic per
top-level declaration, each declaration parsed on its own and cached as such); when the pieces
cannot tell that the whole text fails the same way (a declaration only incomplete at its end), the
whole text is parsed as `parse` would.

`ModuleWatch` makes a long-lived process see edits to the user's Python modules that a spec
imports (`from pkg import Name`): the checker imports them into `sys.modules`, where they would
otherwise stay as first imported.

`Session` puts them together: `check` is `check_file` with both.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import sysconfig
import zlib
from dataclasses import dataclass, replace

from nndsl import ir
from nndsl.check import Checked, check_file
from nndsl.errors import Diagnostic, Span, normalize_newlines
from nndsl.syntax import _too_deep, parse
from nndsl.syntax.build import build
from nndsl.syntax.parser import (
    Token,
    UnexpectedInput,
    UnexpectedToken,
    _comments,
    _diagnose,
    _lark,
    _top_level_chunks,
    _Tracker,
)

# Runs of statements are cut where the text says so (content-defined, like rsync's blocks): at
# a possible cut whose line (with the one before) hashes to 0 modulo _CUT_ONE_IN, once the run
# has _MIN_RUN lines, or anyway after _MAX_RUN lines; so lines inserted or deleted above a cut
# rarely move it.
_MIN_RUN, _CUT_ONE_IN, _MAX_RUN = 6, 12, 96
_KEEP_GENERATIONS = 4  # a cached piece unused for this many parses of its file is dropped

_STRINGS_AND_COMMENTS = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|#[^\n]*")
_BODY_HEAD = re.compile(r"(model|block|loss)[ \t]")
_STARTS = re.compile(r"[ \t]*(?:([A-Za-z_]\w*)|[0-9\"(\[])")
_ENDS = re.compile(r"(?:([A-Za-z_]\w*)|[0-9\")\]}])[ \t]*$")
# words that can continue an expression at the start of a line, or leave one open at its end
_OPERATOR_WORDS = frozenset(
    "if else and or not in is for return input param buffer tie init log import from const "
    "model block loss train as".split()
)


def _code(line: str) -> str:
    """A line without its comment, every string as `""` (brackets inside strings do not count)."""
    if "#" not in line and '"' not in line and "'" not in line:
        return line
    return _STRINGS_AND_COMMENTS.sub(lambda m: "" if m.group(0)[0] == "#" else '""', line)


def _depth(code: str) -> int:
    return (
        code.count("(")
        + code.count("[")
        + code.count("{")
        - code.count(")")
        - code.count("]")
        - code.count("}")
    )


@dataclass
class _Piece:
    """What parsing one piece gave: None when it has a syntax error."""

    decls: tuple | None
    diags: list[Diagnostic]
    deep: bool  # nested deeper than nndsl.syntax.MAX_DEPTH: left to `parse`


@dataclass
class _Verdict:
    """One top-level declaration parsed on its own (as `parse_text`'s error recovery does)."""

    status: str  # "ok" | "error" (at a token of its own) | "end" (incomplete at its end) | "other"
    diags: list[Diagnostic]


class IncrementalParser:
    """`parse(text, path)` with the pieces of earlier texts remembered (see the module doc)."""

    def __init__(self) -> None:
        self._pieces: dict[tuple, tuple[_Piece, int, int]] = {}  # → (piece, line, generation)
        self._verdicts: dict[tuple, tuple[_Verdict, int]] = {}
        self._generations: dict[str, int] = {}  # file → how many times it was parsed
        self._generation = 0  # that count for the file being parsed
        self.parsed_lines = 0  # lines parsed by the last call (cache misses), for benchmarks

    def __call__(self, text: str, path: str) -> tuple[ir.SourceFile | None, list[Diagnostic]]:
        self._generation = self._generations[path] = self._generations.get(path, 0) + 1
        self.parsed_lines = 0
        try:
            return self._parse(normalize_newlines(text), path)
        finally:
            self._forget(path, self._generation - _KEEP_GENERATIONS)

    def forget(self, path: str) -> None:
        """Drop what is remembered of `path` (its document was closed)."""
        self._generations.pop(path, None)
        self._forget(path, None)

    # ---- the whole file ------------------------------------------------------------------------

    def _parse(self, text: str, path: str) -> tuple[ir.SourceFile | None, list[Diagnostic]]:
        chunks = list(_top_level_chunks(text))
        decls: list = []
        diags: list[Diagnostic] = []
        for i, (start, chunk) in enumerate(chunks):
            pieces = self._chunk_pieces(path, start, chunk)
            if pieces is None:
                for later in chunks[i + 1 :]:  # keep their pieces for when the error is fixed
                    self._chunk_pieces(path, *later)
                return self._syntax_error(text, path, chunks, i)
            if any(p.deep for p in pieces):
                return parse(text, path)
            head, *segments = pieces
            for p in pieces:
                diags.extend(p.diags)
            if segments:  # a body cut into runs of statements
                (decl,) = head.decls
                body = tuple(s for seg in segments for s in seg.decls[0].body)
                decls.append(
                    ir.BlockDecl(
                        kind=decl.kind,
                        name=decl.name,
                        params=decl.params,
                        body=body,
                        name_span=decl.name_span,
                        span=decl.span,
                    )
                )
            else:
                decls.extend(head.decls)
        if decls:
            first, last = decls[0].span, decls[-1].span
            span = Span(path, first.line, first.col, last.end_line, last.end_col)
        else:
            span = Span(path, 0, 0, 0, 0)
        comments = tuple(
            ir.Comment(text=str(t), span=Span(path, t.line, t.column, t.end_line, t.end_column))
            for t in _comments(text)
        )
        source = ir.SourceFile(path=path, decls=tuple(decls), comments=comments, span=span)
        return (None if any(d.is_error for d in diags) else source), diags

    def _syntax_error(
        self, text: str, path: str, chunks: list[tuple[int, str]], failed: int
    ) -> tuple[ir.SourceFile | None, list[Diagnostic]]:
        """`parse_text`'s answer for a text with a syntax error in chunk `failed` (every chunk
        before it parses on its own)."""
        verdicts = [self._verdict(path, chunks, i) for i in range(len(chunks))]
        status = verdicts[failed].status
        if len(chunks) == 1 and status in ("error", "end"):  # the chunk is the whole text
            return None, verdicts[0].diags
        if status != "error":
            # a chunk that is only incomplete at its end may be completed by the next one (or
            # a piece was cut wrongly): only the whole text tells
            return parse(text, path)
        # the declarations before it are complete, so the whole text fails at the same token
        return None, [d for v in verdicts for d in v.diags]

    # ---- pieces --------------------------------------------------------------------------------

    def _chunk_pieces(self, path: str, start: int, chunk: str) -> list[_Piece] | None:
        """The pieces of one top-level chunk: the whole chunk, or a block's head followed by the
        runs of statements of its body.  None: one has a syntax error."""
        lines = chunk.split("\n")
        cut = _cut_body(lines) if _BODY_HEAD.match(chunk) else None
        if cut is None:
            whole = self._piece(path, start, "\n" * (start - 1), chunk)
            return None if whole.decls is None else [whole]
        open_line, close_line, runs = cut
        head_text = "\n".join(
            lines[: open_line + 1] + [""] * (close_line - open_line - 1) + lines[close_line:]
        )
        pieces = [self._piece(path, start, "\n" * (start - 1), head_text)]
        for a, b in runs:  # lines [a, b) of the chunk; a > open_line >= 0
            line = start + a  # 1-based line number of the run's first line
            text = "\n".join(lines[a:b]) + "\n}"
            pieces.append(self._piece(path, line, "\n" * (line - 2) + "block Piece {\n", text))
        if any(p.decls is None or len(p.decls) != 1 for p in pieces):
            return None
        return pieces

    def _piece(self, path: str, line: int, padding: str, text: str) -> _Piece:
        """`text` parsed with its first line at line `line` (after `padding`): remembered by its
        text, and moved to another line when the same text is met there (lines were inserted or
        deleted above it)."""
        key = (path, padding.lstrip("\n"), text)
        hit = self._pieces.get(key)
        if hit is not None:
            piece, at, _ = hit
            if at != line:
                piece = _shifted(piece, line - at)
            self._pieces[key] = (piece, line, self._generation)
            return piece
        self.parsed_lines += sum(1 for s in text.split("\n") if s.strip())
        tree = self._parse_once(padding + text, path, None)[0]
        if tree is None:
            piece = _Piece(None, [], False)
        else:
            source, diags = build(tree, path)
            piece = _Piece(source.decls, diags, _too_deep(source) is not None)
        self._pieces[key] = (piece, line, self._generation)
        return piece

    def _verdict(self, path: str, chunks: list[tuple[int, str]], i: int) -> _Verdict:
        start, chunk = chunks[i]
        follow = None
        if i + 1 < len(chunks):
            next_line, next_chunk = chunks[i + 1]
            word = next_chunk.split(None, 1)[0] if next_chunk.strip() else ""
            follow = Token("NAME", word, line=next_line, column=1)
        key = (path, start, chunk, None if follow is None else (str(follow), follow.line))
        hit = self._verdicts.get(key)
        if hit is not None:
            self._verdicts[key] = (hit[0], self._generation)
            return hit[0]
        self.parsed_lines += chunk.count("\n") + 1
        tree, status, diags = self._parse_once("\n" * (start - 1) + chunk, path, follow)
        verdict = _Verdict("ok" if tree is not None else status, diags)
        self._verdicts[key] = (verdict, self._generation)
        return verdict

    @staticmethod
    def _parse_once(text: str, path: str, follow: Token | None):
        """(tree | None, how it failed, diagnostics), as `nndsl.syntax.parser._parse_once`
        parses, also telling an error at the end of the text from one at a token of it."""
        lark = _lark()
        tracker: _Tracker = lark.options.postlex
        tracker.reset()
        try:
            tree = lark.parse(text)
        except UnexpectedInput as exc:
            at_end = isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
            diag = _diagnose(exc, tracker, text, path, follow)
            return None, "end" if at_end else "error", [diag]
        except RecursionError:
            return None, "other", []
        if tracker.too_deep is not None:
            return None, "other", []
        return tree, "ok", []

    def _forget(self, path: str, old: int | None) -> None:
        """Drop the entries of `path` last used in generation `old` or before (None: all)."""
        for cache in (self._pieces, self._verdicts):
            for key in [
                k for k, v in cache.items() if k[0] == path and (old is None or v[-1] <= old)
            ]:
                del cache[key]


def _shifted(piece: _Piece, lines: int) -> _Piece:
    """The piece as parsed `lines` lines further down."""

    def span(s: Span) -> Span:
        if not s.line:
            return s
        return Span(s.file, s.line + lines, s.col, s.end_line + lines, s.end_col)

    def node(n):
        if isinstance(n, ir.Node):
            new = object.__new__(n.__class__)
            for f in n._fields:
                object.__setattr__(new, f, node(getattr(n, f)))
            return new
        if isinstance(n, tuple):
            return tuple(node(x) for x in n)
        if isinstance(n, Span):
            return span(n)
        return n

    def diag(d: Diagnostic) -> Diagnostic:
        notes = tuple(replace(n, span=span(n.span)) if n.span is not None else n for n in d.notes)
        return replace(d, span=span(d.span) if d.span is not None else None, notes=notes)

    decls = None if piece.decls is None else node(piece.decls)
    return _Piece(decls, [diag(d) for d in piece.diags], piece.deep)


def _cut_body(lines: list[str]) -> tuple[int, int, list[tuple[int, int]]] | None:
    """Where a `model`/`block`/`loss` chunk may be cut: (the line of its `{`, the line of its `}`,
    runs of body lines [a, b)), or None when its body is not laid out one brace a line."""
    codes = [_code(s) for s in lines]
    depth = 0
    open_line = None
    for i, code in enumerate(codes):
        if "{" in code:
            if depth != 0 or code.count("{") != 1 or not code.rstrip().endswith("{"):
                return None
            open_line = i
            break
        depth += _depth(code)
    if open_line is None:
        return None
    close_line = len(codes) - 1
    while close_line > open_line and not codes[close_line].strip():
        close_line -= 1
    if close_line <= open_line + 1 or codes[close_line].strip() != "}":
        return None
    runs: list[tuple[int, int]] = []
    first = open_line + 1
    run_start = first
    run_lines = 0  # non-blank lines in the current run
    depth = 0
    ender = False  # the last non-blank line ended an expression
    last = ""  # the last non-blank line
    for i in range(first, close_line):
        code = codes[i]
        if not code.strip():
            continue
        if (
            depth == 0
            and ender
            and run_lines >= _MIN_RUN
            and (
                run_lines >= _MAX_RUN
                or zlib.crc32((last + "\n" + code).encode()) % _CUT_ONE_IN == 0
            )
        ):
            m = _STARTS.match(code)
            if m is not None and m.group(1) not in _OPERATOR_WORDS:
                runs.append((run_start, i))
                run_start, run_lines = i, 0
        run_lines += 1
        depth += _depth(code)
        m = _ENDS.search(code)
        ender = m is not None and m.group(1) not in _OPERATOR_WORDS
        last = code
    runs.append((run_start, close_line))
    return open_line, close_line, runs


class ModuleWatch:
    """Forgets the user's Python modules a check imported once one of their files changes.

    A module counts as the user's when the check imported it and its file lies outside Python's
    own, nndsl's and any `site-packages` folder (nndsl imports parts of itself, and torch, lazily:
    those stay).  When any of them changed (modified, removed), all
    of them are dropped from `sys.modules` (they may import each other), so the next check
    imports them afresh."""

    def __init__(self) -> None:
        self._files: dict[str, tuple[str, tuple[int, int] | None]] = {}  # module → (file, stamp)
        paths = sysconfig.get_paths()
        roots = [paths[k] for k in ("stdlib", "platstdlib", "purelib", "platlib") if k in paths]
        roots += [sys.prefix, sys.base_prefix, sys.exec_prefix]
        roots.append(os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/nndsl")
        self._system = tuple(os.path.normcase(os.path.realpath(r)) + os.sep for r in roots)

    def before(self) -> set[str]:
        """Call before a check: drops changed modules; returns the names loaded now."""
        if any(_stamp(f) != stamp for f, stamp in self._files.values()):
            for name in self._files:
                sys.modules.pop(name, None)
            self._files.clear()
            importlib.invalidate_caches()
        return set(sys.modules)

    def after(self, loaded: set[str]) -> None:
        """Call after a check with what `before` returned: remembers the new user modules."""
        for name in set(sys.modules) - loaded:
            module = sys.modules.get(name)
            file = getattr(module, "__file__", None)
            spec = getattr(module, "__spec__", None)
            if (
                not isinstance(file, str)
                or not file.endswith(".py")
                or not os.path.isabs(file)
                or name.startswith("__")  # __main__'s aliases
                or getattr(spec, "origin", None) != file  # not imported from that file
            ):
                continue
            real = os.path.normcase(os.path.realpath(file))
            parts = real.split(os.sep)
            if (
                real.startswith(self._system)
                or "site-packages" in parts
                or "dist-packages" in parts
            ):
                continue
            self._files[name] = (file, _stamp(file))

    @property
    def modules(self) -> list[str]:
        return sorted(self._files)


def _stamp(file: str) -> tuple[int, int] | None:
    try:
        st = os.stat(file)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class Session:
    """What a language server keeps between checks of its documents."""

    def __init__(self) -> None:
        self.parser = IncrementalParser()
        self.modules = ModuleWatch()

    def close(self, path: str) -> None:
        """The editor closed `path`: forget its pieces (those of files it imports stay)."""
        self.parser.forget(os.path.normpath(path))

    def check(self, path: str, text: str | None = None, *, imports: bool = False) -> Checked:
        """`check_file(path, text, imports=imports)`, reusing what earlier checks parsed."""
        loaded = self.modules.before() if imports else None
        try:
            return check_file(path, text, imports=imports, parser=self.parser)
        finally:
            if loaded is not None:
                self.modules.after(loaded)
