"""Reading spec files and the `.nn` files they import into one `Program`."""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable
from pathlib import Path

from nndsl import ir
from nndsl.errors import Diagnostic, Note, Span, display_path, error, source_lines
from nndsl.records import dataclass, field, replace
from nndsl.syntax import parse

ParseFn = Callable[[str, str], tuple["ir.SourceFile | None", list[Diagnostic]]]

# spec files larger than this are refused before they are read (documented in docs/language.md)
MAX_FILE_BYTES = 10 * 1024 * 1024


@dataclass
class Program:
    """Every file of a spec: the root file first, then its imports in the order they are read."""

    root: str
    files: dict[str, ir.SourceFile] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    imports: dict[str, list[str]] = field(default_factory=dict)  # file → the files it imports
    # False (`--no-imports`): the Python modules a spec names are never imported; their
    # outputs are not checked
    run_python: bool = True

    @property
    def root_file(self) -> ir.SourceFile | None:
        return self.files.get(self.root)

    def decls(self):
        """Every declaration of every file, imported files first (so definitions precede uses)."""
        for path in reversed(list(self.files)):
            yield from self.files[path].decls


def read_text(path: str) -> tuple[str | None, Diagnostic | None]:
    """A file's text, or a diagnostic saying why it cannot be read.

    Only regular files are read, and only up to MAX_FILE_BYTES: a FIFO, a device or a folder is
    refused without reading from it (and without blocking on it), a larger file without
    reading it at all."""
    where = Span(path, 0, 0, 0, 0)
    shown = display_path(path)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            return None, error(f"`{shown}` is a directory, not a spec file", None)
        if not stat.S_ISREG(st.st_mode):
            return None, error(f"`{shown}` is not a regular file (a device or a pipe?)", None)
        if st.st_size > MAX_FILE_BYTES:
            return None, _too_large(shown, st.st_size)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())  # (what was opened, should the path have changed)
            if not stat.S_ISREG(st.st_mode):
                return None, error(f"`{shown}` is not a regular file (a device or a pipe?)", None)
            data = fh.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            return None, _too_large(shown, len(data))
    except FileNotFoundError:
        return None, error(f"no such file: `{shown}`", None)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, error(f"cannot read `{shown}`: {reason}", None)
    return decode(data, path, where)


def _too_large(shown: str, size: int) -> Diagnostic:
    return error(
        f"`{shown}` is too large for a spec file ({size:,} bytes; the limit is "
        f"{MAX_FILE_BYTES // (1024 * 1024)} MiB)",
        None,
    )


def decode(
    data: bytes, path: str, where: Span | None = None
) -> tuple[str | None, Diagnostic | None]:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = source_lines(data[: exc.start].decode("utf-8", "replace"))
        line, col = len(before), len(before[-1]) + 1
        hint = "save the file as UTF-8"
        try:
            data.decode("cp1252")
            hint = "it looks like Latin-1 or Windows-1252 text: save the file as UTF-8"
        except UnicodeDecodeError:
            pass
        return None, error(
            f"{'this file' if where is not None else f'`{display_path(path)}`'} is not UTF-8 "
            f"text: byte 0x{data[exc.start]:02x} cannot be decoded",
            Span(path, line, col, line, col + 1) if where is not None else None,
            hint=hint,
        )
    if "\x00" in text:
        at = text.index("\x00")
        before = source_lines(text[:at])
        line, col = len(before), len(before[-1]) + 1
        return None, error(
            f"{'this file' if where is not None else f'`{display_path(path)}`'} contains a NUL "
            "character; is it a binary file?",
            Span(path, line, col, line, col + 1) if where is not None else None,
            hint="a spec is UTF-8 text: remove the NUL byte, or check the file name",
        )
    return text, None


def lossy_text(path: str) -> str | None:
    """The text of a file that is not valid UTF-8, to quote it in a diagnostic."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode) or os.path.getsize(path) > MAX_FILE_BYTES:
            return None
        data = Path(path).read_bytes()
    except (OSError, ValueError):
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", "replace")


def load(
    path: str, text: str | None = None, *, imports: bool = True, parser: ParseFn | None = None
) -> tuple[Program, list[Diagnostic]]:
    """Read `path` (or the given `text` under that name) and every `.nn` file it imports.
    `imports=False`: the Python modules the spec names will not be imported when it is checked.
    `parser`: what parses each file's text (default `nndsl.syntax.parse`; the language server
    passes its incremental parser, nndsl/incremental.py, which gives the same results)."""
    root = os.path.normpath(path)
    program = Program(root=root, run_python=imports)
    diags: list[Diagnostic] = []
    if not path and text is None:  # (normpath makes it `.`, the working directory)
        diags.append(
            error(
                "the path of the spec is empty",
                None,
                hint="name a `.nn` file (was a variable of the command line empty?)",
            )
        )
        return program, diags
    _load_file(program, root, text, diags, stack=[], parser=parser or parse)
    return program, diags


def _load_file(
    program: Program,
    path: str,
    text: str | None,
    diags: list[Diagnostic],
    stack: list[tuple[str, ir.Import | None]],
    parser: ParseFn = parse,
) -> None:
    if text is None:
        text, problem = read_text(path)
        if problem is not None:
            if problem.span is not None and path not in program.sources:
                lossy = lossy_text(path)
                if lossy is not None:
                    program.sources[path] = lossy
            diags.append(problem)
            return
    assert text is not None
    program.sources[path] = text
    source, file_diags = parser(text, path)
    if stack and stack[-1][1] is not None:
        importer, decl = stack[-1]
        note = Note(f"`{display_path(path)}` is imported at {{at}}", decl.span)
        file_diags = [replace(d, notes=(*d.notes, note)) for d in file_diags]
    diags.extend(file_diags)
    if source is None:
        return
    program.files[path] = source
    program.imports[path] = []
    here = os.path.dirname(path)
    for decl in source.decls:
        if not isinstance(decl, ir.Import):
            continue
        target = os.path.normpath(os.path.join(here, decl.path))
        chain = [p for p, _ in stack] + [path]
        if target in chain:
            cycle = chain[chain.index(target) :] + [target]
            names = " → ".join(os.path.basename(p) for p in cycle)
            diags.append(
                error(
                    f"import cycle: {names}",
                    decl.span,
                    hint="move the shared blocks into a file that both import",
                )
            )
            continue
        program.imports[path].append(target)
        if target in program.files or target in program.sources:
            continue  # already read through another import
        if not os.path.exists(target):
            notes = []
            if display_path(target) != decl.path:
                notes.append(Note(f"looked for `{display_path(target)}`"))
            hint = "import paths are relative to the importing file"
            close = _similar_files(target)
            if close:
                spelt = posixpath.join(posixpath.dirname(decl.path), close)
                hint = f"did you mean `{spelt}`? ({hint})"
            diags.append(
                error(
                    f"cannot import `{decl.path}`: no such file",
                    decl.span,
                    notes=notes,
                    hint=hint,
                )
            )
            continue
        if not decl.path.endswith(".nn"):
            diags.append(
                error(
                    f"cannot import `{decl.path}`: only `.nn` spec files are imported this way",
                    decl.span,
                    hint="Python modules are imported with `from package.module import Name`",
                )
            )
            continue
        outside = _outside(program.root, target)
        if outside is not None:
            diags.append(
                error(f"cannot import `{decl.path}`: {outside}", decl.span, hint=_IMPORT_HINT)
            )
            continue
        read, problem = read_text(target)
        if problem is not None:
            notes = [Note(problem.message, problem.span)] if problem.span is not None else []
            if problem.span is not None and target not in program.sources:
                lossy = lossy_text(target)
                if lossy is not None:
                    program.sources[target] = lossy
            diags.append(
                error(
                    f"cannot import `{decl.path}`: "
                    + (problem.message if not notes else "it is not UTF-8 text"),
                    decl.span,
                    notes=notes,
                    hint=problem.hint,
                )
            )
            continue
        _load_file(program, target, read, diags, stack + [(path, decl)], parser)


_IMPORT_HINT = (
    "a spec imports only `.nn` files in its own folder or below it (symbolic links are "
    "followed only when they stay there)"
)


def _outside(root: str, target: str) -> str | None:
    """Why `target` may not be imported by the spec `root` (None: it may)."""
    base = os.path.realpath(os.path.dirname(os.path.abspath(root)))
    try:
        real = os.path.realpath(target)
        st = os.stat(real)
    except (OSError, ValueError):
        return "it cannot be read"
    if os.path.commonpath([base, real]) != base:
        return "it is outside the spec's folder" + (
            " (a symbolic link)" if os.path.islink(target) else ""
        )
    if not stat.S_ISREG(st.st_mode):
        return "it is not a regular file"
    return None


def _similar_files(target: str) -> str | None:
    """A `.nn` file next to `target` whose name is close to it (as the import would spell it)."""
    folder, name = os.path.split(target)
    try:
        names = [n for n in os.listdir(folder or ".") if n.endswith(".nn")]
    except OSError:
        return None
    import difflib  # (only for an error message)

    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not close:
        return None
    return close[0]
