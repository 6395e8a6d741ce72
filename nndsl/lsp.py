"""`nndsl lsp`: a Language Server over stdio (needs the optional `lsp` extra: pygls).

On open and after every change (debounced), the document is checked as `nndsl check` would check
it, and every diagnostic is published with its range, severity, hint and related locations.
Hover shows the shapes, dtype, parameters and torch call of what is under the cursor; go to
definition, completion, document symbols and formatting (`nndsl fmt`) are served from the same
analysis (nndsl/editor.py).

A spec's `from pkg import Name` makes the checker import `pkg` (its code runs).  The server does
that only when the client says the workspace is trusted (initialization option
`{"trusted": true}`), and never with `--no-imports` or NNDSL_NO_IMPORTS=1.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from urllib.parse import unquote, urlparse

from nndsl import editor
from nndsl.check import no_imports_env
from nndsl.errors import Diagnostic, Severity, Span, source_lines
from nndsl.incremental import Session
from nndsl.syntax import parse
from nndsl.syntax.fmt import format_source

DEBOUNCE_S = 0.15


def main(no_imports: bool = False) -> int:
    try:
        from lsprotocol import types
        from pygls.lsp.server import LanguageServer
    except ImportError:
        print(
            "error: `nndsl lsp` needs the language-server extra: pip install 'nndsl[lsp]' (pygls)",
            file=sys.stderr,
        )
        return 1
    server = _make_server(LanguageServer, types, no_imports=no_imports)
    server.start_io()
    return 0


def _path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def _uri(path: str) -> str:
    from pathlib import Path

    return Path(os.path.abspath(path)).as_uri()


def _make_server(LanguageServer, types, *, no_imports: bool):  # noqa: N803 (a class)
    from nndsl import __version__

    server = LanguageServer("nndsl", __version__)
    state = {"trusted": False, "published": {}, "tasks": {}, "analyses": {}}
    session = Session()  # what earlier checks parsed, the user's modules they imported

    def imports() -> bool:
        return bool(state["trusted"]) and not no_imports and not no_imports_env()

    # the texts positions are counted in (file path → text): the documents checked and their
    # imports, so that columns (characters) become the client's units (UTF-16 by default: a
    # character outside the BMP, such as an emoji, is two)
    texts: dict[str, str] = {}

    def units(path: str, line: int, col: int) -> int:
        """The 0-based column, in the client's units, of 1-based character column `col`."""
        lines = source_lines(texts[path]) if path in texts else ()
        if not 0 < line <= len(lines):
            return max(col - 1, 0)
        text = lines[line - 1][: max(col - 1, 0)]
        return server.workspace.position_codec.client_num_units(text) + max(col - 1 - len(text), 0)

    def column(uri: str, pos: types.Position) -> int:
        """The 1-based character column of a client's position in document `uri`."""
        lines = source_lines(texts.get(_path(uri), ""))
        if pos.line >= len(lines):
            return pos.character + 1
        codec = server.workspace.position_codec
        return codec.position_from_client_units(list(lines), pos).character + 1

    def rng(span: Span | None) -> types.Range:
        if span is None or not span.line:
            return types.Range(types.Position(0, 0), types.Position(0, 0))
        return types.Range(
            types.Position(span.line - 1, units(span.file, span.line, span.col)),
            types.Position(span.end_line - 1, units(span.file, span.end_line, span.end_col)),
        )

    severity = {
        Severity.ERROR: types.DiagnosticSeverity.Error,
        Severity.WARNING: types.DiagnosticSeverity.Warning,
    }

    def lsp_diag(d: Diagnostic) -> types.Diagnostic:
        message = d.message + (f"\nhint: {d.hint}" if d.hint else "")
        related = [
            types.DiagnosticRelatedInformation(
                types.Location(_uri(n.span.file), rng(n.span)), n.message
            )
            for n in d.notes
            if n.span is not None and n.span.line
        ]
        unplaced = [n.message for n in d.notes if n.span is None or not n.span.line]
        if unplaced:
            message += "".join(f"\nnote: {m}" for m in unplaced)
        return types.Diagnostic(
            range=rng(d.span),
            message=message,
            severity=severity.get(d.severity, types.DiagnosticSeverity.Information),
            source="nndsl",
            related_information=related or None,
        )

    def source(uri: str) -> str | None:
        """The text of a document: the editor's while it is open, else the file's (None when
        there is no such file: a request about a document closed and deleted)."""
        try:
            text = server.workspace.get_text_document(uri).source
        except (OSError, UnicodeDecodeError):
            return None
        texts[_path(uri)] = text
        return text

    def analyse(uri: str) -> None:
        doc = server.workspace.get_text_document(uri)
        path = _path(uri)
        started = time.perf_counter()
        text = source(uri)
        if text is None:
            return
        analysis = editor.analyse(path, text, imports=imports(), session=session)
        texts.update(analysis.checked.program.sources)
        texts[path] = text
        state["analyses"][uri] = analysis
        by_file: dict[str, list] = {uri: []}
        for d in analysis.checked.diagnostics:
            target = uri if d.span is None or _same(d.span.file, path) else _uri(d.span.file)
            by_file.setdefault(target, []).append(lsp_diag(d))
        old = state["published"].get(uri, set())
        for target in old - set(by_file):
            server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=target, diagnostics=[])
            )
        for target, diags in by_file.items():
            server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=target, diagnostics=diags, version=doc.version)
            )
        state["published"][uri] = set(by_file)
        server.window_log_message(
            types.LogMessageParams(
                types.MessageType.Log,
                f"checked {os.path.basename(path)} in {time.perf_counter() - started:.3f}s",
            )
        )

    def schedule(uri: str, delay: float) -> None:
        task = state["tasks"].pop(uri, None)
        if task is not None:
            task.cancel()

        async def later() -> None:
            await asyncio.sleep(delay)
            try:
                analyse(uri)
            except Exception as exc:  # a checker bug: say so rather than go silent
                server.window_log_message(
                    types.LogMessageParams(
                        types.MessageType.Error, f"nndsl: checking {uri} failed: {exc!r}"
                    )
                )

        state["tasks"][uri] = asyncio.ensure_future(later())

    @server.feature(types.INITIALIZE)
    def initialize(ls, params: types.InitializeParams) -> None:
        options = params.initialization_options or {}
        if isinstance(options, dict):
            state["trusted"] = bool(options.get("trusted", False))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenTextDocumentParams) -> None:
        schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: types.DidChangeTextDocumentParams) -> None:
        schedule(params.text_document.uri, DEBOUNCE_S)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls, params: types.DidSaveTextDocumentParams) -> None:
        schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        task = state["tasks"].pop(uri, None)
        if task is not None:  # a check of the last change, not run yet: not for a closed file
            task.cancel()
        state["analyses"].pop(uri, None)
        session.close(_path(uri))
        for target in state["published"].pop(uri, set()):
            ls.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=target, diagnostics=[])
            )

    def current(uri: str) -> editor.Analysis | None:
        analysis = state["analyses"].get(uri)
        if analysis is None:
            analyse(uri)
            analysis = state["analyses"].get(uri)
        return analysis

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        pos = params.position
        analysis = current(uri)
        found = analysis.hover(_path(uri), pos.line + 1, column(uri, pos)) if analysis else None
        if found is None:
            return None
        value = "\n\n---\n\n".join(found.lines)
        return types.Hover(
            contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=value),
            range=rng(found.span),
        )

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls, params: types.DefinitionParams) -> types.Location | None:
        uri = params.text_document.uri
        pos = params.position
        text, analysis = source(uri), current(uri)
        if text is None or analysis is None:
            return None
        found = analysis.definition(_path(uri), text, pos.line + 1, column(uri, pos))
        if found is None:
            return None
        if isinstance(found, str):
            zero = types.Range(types.Position(0, 0), types.Position(0, 0))
            return types.Location(_uri(found), zero)
        return types.Location(_uri(found.file), rng(found))

    kinds = {
        "layer": types.CompletionItemKind.Class,
        "function": types.CompletionItemKind.Function,
        "keyword": types.CompletionItemKind.Keyword,
        "argument": types.CompletionItemKind.Property,
        "block": types.CompletionItemKind.Module,
        "constant": types.CompletionItemKind.Constant,
        "key": types.CompletionItemKind.Field,
        "source": types.CompletionItemKind.Function,
        "value": types.CompletionItemKind.Value,
    }

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=["(", ",", " ", "="]),
    )
    def completion(ls, params: types.CompletionParams) -> types.CompletionList:
        uri = params.text_document.uri
        pos = params.position
        text = source(uri)
        if text is None:
            return types.CompletionList(is_incomplete=False, items=[])
        analysis = state["analyses"].get(uri)
        items = editor.complete(
            text, pos.line + 1, column(uri, pos), analysis.checked if analysis else None
        )
        return types.CompletionList(
            is_incomplete=False,
            items=[
                types.CompletionItem(label=c.label, kind=kinds.get(c.kind), detail=c.detail or None)
                for c in items
            ],
        )

    symbol_kinds = {
        "block": types.SymbolKind.Class,
        "model": types.SymbolKind.Class,
        "loss": types.SymbolKind.Function,
        "train": types.SymbolKind.Namespace,
        "const": types.SymbolKind.Constant,
        "import": types.SymbolKind.File,
        "key": types.SymbolKind.Field,
    }

    def doc_symbol(s: editor.Symbol) -> types.DocumentSymbol:
        return types.DocumentSymbol(
            name=s.name,
            kind=symbol_kinds.get(s.kind, types.SymbolKind.Object),
            range=rng(s.span),
            selection_range=rng(s.selection),
            detail=s.kind,
            children=[doc_symbol(c) for c in s.children] or None,
        )

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls, params: types.DocumentSymbolParams) -> list:
        uri = params.text_document.uri
        text = source(uri)
        parsed = parse(text, _path(uri))[0] if text is not None else None
        return [] if parsed is None else [doc_symbol(s) for s in editor.symbols(parsed)]

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls, params: types.DocumentFormattingParams) -> list | None:
        uri = params.text_document.uri
        text = source(uri)
        parsed = parse(text, _path(uri))[0] if text is not None else None
        if parsed is None:  # syntax errors: nothing to format (the diagnostics say why)
            return None
        new = format_source(parsed, text)
        if new == text:
            return []
        lines = text.split("\n")
        end = types.Position(
            len(lines) - 1, server.workspace.position_codec.client_num_units(lines[-1])
        )
        return [types.TextEdit(types.Range(types.Position(0, 0), end), new)]

    return server


def _same(a: str, b: str) -> bool:
    return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))
