"""The lexer's regular expressions without compiling them at every start.

Lark's contextual lexer compiles one regular expression per parser state it reaches (about 30
for a ResNet spec, 73 for the whole grammar); `re` spends most of that time in its pure-Python
parser and code generator, which no cache keeps across processes.  tools/gen_parser.py runs
those two steps once and stores their output (the SRE code of each pattern, the groups) in
`_lexer_re.py`; `PrecompiledRe` stands for the `re` module in the stand-alone lexer and builds a
pattern from that code with `_sre.compile` (the last step of `re.compile`, which validates the
code).  The stored code is used only by the interpreter version and SRE engine it was made
with; anything else, and any pattern not in the table, goes through `re.compile` as before.
"""

from __future__ import annotations

import re
import sys
from array import array
from typing import Any

try:
    import _sre
except ImportError:  # pragma: no cover - not CPython
    _sre = None  # type: ignore[assignment]


def engine_key() -> tuple[Any, ...]:
    """What the stored code depends on: interpreter version and the SRE engine's constants."""
    if _sre is None:  # pragma: no cover
        return ()
    return (sys.implementation.name, *sys.version_info[:2], _sre.MAGIC, _sre.CODESIZE)


def code_typecode() -> str:
    return "I" if array("I").itemsize == _sre.CODESIZE else "L"


class PrecompiledRe:
    """A stand-in for `re` whose `compile` and `match` use the stored code where it applies."""

    def __init__(self, table: dict[tuple[str, int], tuple[Any, ...]]) -> None:
        self._table = table
        self._compiled: dict[tuple[str, int], re.Pattern[str]] = {}

    def compile(self, pattern: Any, flags: int = 0) -> re.Pattern:
        key = (pattern, int(flags))
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._build(key) or re.compile(pattern, flags)
            self._compiled[key] = compiled
        return compiled

    def match(self, pattern: Any, string: Any, flags: int = 0) -> re.Match | None:
        return self.compile(pattern, flags).match(string)

    def _build(self, key: tuple[str, int]) -> re.Pattern | None:
        entry = self._table.get(key)
        if entry is None or not isinstance(key[0], str):
            return None
        flags, code, groups, groupindex, indexgroup = entry
        try:
            return _sre.compile(
                key[0], flags, array(code_typecode(), code).tolist(), groups, groupindex, indexgroup
            )
        except Exception:  # stale or foreign code: let `re` compile the pattern
            return None

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)


def lexer_re() -> Any:
    """The `re` module for the stand-alone lexer: `PrecompiledRe` when the stored code is for
    this interpreter, otherwise `re` itself."""
    try:
        from nndsl.syntax._lexer_re import ENGINE, PATTERNS
    except ImportError:  # pragma: no cover - while tools/gen_parser.py writes it
        return re
    if _sre is None or tuple(ENGINE) != engine_key():
        return re
    return PrecompiledRe(PATTERNS)


def record(compile_all: Any) -> dict[tuple[str, int], tuple[Any, ...]]:
    """Run `compile_all()` (which compiles patterns with `re`) and return, for each pattern,
    the arguments `re` passed to `_sre.compile` (the code as bytes): the table of `_lexer_re.py`."""
    import importlib

    _compiler = getattr(re, "_compiler", None) or importlib.import_module("sre_compile")
    table: dict[tuple[str, int], tuple[Any, ...]] = {}
    real = _compiler._sre
    requested: list[tuple[str, int]] = []

    class Recorder:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def compile(self, pattern, flags, code, groups, groupindex, indexgroup):  # noqa: ANN001
            if requested and isinstance(pattern, str):
                data = array(code_typecode(), code).tobytes()
                table[requested[-1]] = (flags, data, groups, dict(groupindex), tuple(indexgroup))
            return real.compile(pattern, flags, code, groups, groupindex, indexgroup)

    class Recording:
        def compile(self, pattern: Any, flags: int = 0) -> Any:
            requested.append((pattern, int(flags)))
            re.purge()
            try:
                return re.compile(pattern, flags)
            finally:
                requested.pop()

        def match(self, pattern: Any, string: Any, flags: int = 0) -> Any:
            return self.compile(pattern, flags).match(string)

        def __getattr__(self, name: str) -> Any:
            return getattr(re, name)

    _compiler._sre = Recorder()
    try:
        compile_all(Recording())
    finally:
        _compiler._sre = real
    return table
