"""argparse for nndsl's command line (nndsl/cli.py): a usage error exits 1 with a hint, each
verb's parser is built when it is first used, and the terminal's width is read without `shutil`.

Imported only when a command line goes through argparse: `nndsl check FILE...` without flags is
read without it (`nndsl.cli.plain_check`), as argparse imports `gettext` and `locale`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 1 (as every error of nndsl does) with a hint: the
    nearest verb or flag, and how to get help.  A flag is written whole: a prefix
    (`--epoch`) is an unknown flag with the whole one as its hint, so a flag added later never
    changes what an older command line means."""

    argv: Sequence[str] = ()  # the arguments being parsed (main sets it on the top parser)

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        from nndsl.cli import usage_hint

        self.print_usage(sys.stderr)
        hint = usage_hint(self, message)
        help_hint = f"run `{self.prog} --help` for help"
        hint = f"{hint} ({help_hint})" if hint else help_hint
        self.exit(1, f"{self.prog}: error: {message}\n  = hint: {hint}\n")

    def _get_formatter(self):  # type: ignore[override]
        # argparse's own, without importing `shutil` (and `bz2`, `lzma`) for the terminal's width:
        # it makes a formatter for every argument added, so for every start of nndsl
        if sys.version_info >= (3, 14) or "shutil" in sys.modules:
            return super()._get_formatter()
        return self.formatter_class(prog=self.prog, width=terminal_columns() - 2)


def terminal_columns() -> int:
    """`shutil.get_terminal_size().columns` (as argparse asks for it), without `shutil`."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):
        return 80
    return size.columns or 80


class LazySubParsers(argparse._SubParsersAction):
    """The verbs' parsers, each built when it is first used (to parse its arguments, or for a
    usage hint): `nndsl check` builds the parser of `check` only.  `add_parser` does what
    argparse's does (the verb's line in `nndsl --help`, its `prog`), but gives a stand-in that
    records the calls made on the verb's parser (`add_argument`, `set_defaults`, ...), replayed
    on the real parser when it is built."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._name_parser_map = self.choices = _BuiltOnUse()

    def add_parser(self, name, **kwargs):  # type: ignore[override]
        real = self._parser_class
        self._parser_class = lambda **kw: _LaterParser(real, kw)
        try:
            return super().add_parser(name, **kwargs)
        finally:
            self._parser_class = real


class _BuiltOnUse(dict):
    """Verb → parser, each parser built when it is looked up."""

    def __getitem__(self, name: str):
        value = super().__getitem__(name)
        return value.build() if isinstance(value, _LaterParser) else value

    def get(self, name, default=None):
        return self[name] if name in self else default


class _Later:
    """An object that is made later: a call of one of its methods is recorded (its result is
    another `_Later`) and replayed, in order, on the real object."""

    def __init__(self, root: _LaterParser, index: int) -> None:
        self._root = root
        self._index = index

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        root, index = self._root, self._index

        def call(*args, **kwargs):
            root.calls.append((index, name, args, kwargs))
            return _Later(root, len(root.calls))

        return call


class _LaterParser(_Later):
    def __init__(self, cls, kwargs: dict) -> None:
        super().__init__(self, 0)
        self.cls = cls
        self.kwargs = kwargs
        self.calls: list[tuple[int, str, tuple, dict]] = []
        self.parser: argparse.ArgumentParser | None = None

    def build(self) -> argparse.ArgumentParser:
        if self.parser is None:
            made: list = [self.cls(**self.kwargs)]
            for index, name, args, kwargs in self.calls:
                made.append(getattr(made[index], name)(*args, **kwargs))
            self.parser = made[0]
        return self.parser
