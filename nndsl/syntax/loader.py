"""Reading spec files and the `.nn` files they import into one `Program`."""

from __future__ import annotations

import difflib
import os
import posixpath
from dataclasses import dataclass, field, replace
from pathlib import Path

from nndsl import ir
from nndsl.errors import Diagnostic, Note, Span, display_path, error, source_lines
from nndsl.syntax import parse

MAX_FILE_BYTES = 10 * 1024 * 1024


@dataclass
class Program:
    """Every file of a spec: the root file first, then its imports in the order they are read."""

    root: str
    files: dict[str, ir.SourceFile] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    imports: dict[str, list[str]] = field(default_factory=dict)  # file → the files it imports

    @property
    def root_file(self) -> ir.SourceFile | None:
        return self.files.get(self.root)

    def decls(self):
        """Every declaration of every file, imported files first (so definitions precede uses)."""
        for path in reversed(list(self.files)):
            yield from self.files[path].decls


def read_text(path: str) -> tuple[str | None, Diagnostic | None]:
    """A file's text, or a diagnostic saying why it cannot be read."""
    p = Path(path)
    where = Span(path, 0, 0, 0, 0)
    try:
        if p.is_dir():
            return None, error(f"`{path}` is a directory, not a spec file", None)
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            return None, error(f"`{path}` is too large for a spec file ({size:,} bytes)", None)
        data = p.read_bytes()
    except FileNotFoundError:
        return None, error(f"no such file: `{path}`", None)
    except OSError as exc:
        return None, error(f"cannot read `{path}`: {exc.strerror or exc}", None)
    return decode(data, path, where)


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
        data = Path(path).read_bytes()
    except OSError:
        return None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", "replace")


def load(path: str, text: str | None = None) -> tuple[Program, list[Diagnostic]]:
    """Read `path` (or the given `text` under that name) and every `.nn` file it imports."""
    root = os.path.normpath(path)
    program = Program(root=root)
    diags: list[Diagnostic] = []
    _load_file(program, root, text, diags, stack=[])
    return program, diags


def _load_file(
    program: Program,
    path: str,
    text: str | None,
    diags: list[Diagnostic],
    stack: list[tuple[str, ir.Import | None]],
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
    source, file_diags = parse(text, path)
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
        _load_file(program, target, read, diags, stack + [(path, decl)])


def _similar_files(target: str) -> str | None:
    """A `.nn` file next to `target` whose name is close to it (as the import would spell it)."""
    folder, name = os.path.split(target)
    try:
        names = [n for n in os.listdir(folder or ".") if n.endswith(".nn")]
    except OSError:
        return None
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not close:
        return None
    return close[0]
