"""The one exception the data layer raises for user mistakes, and where a spec shows it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nndsl.errors import Diagnostic, Span


class DataError(Exception):
    """A problem with a data source or its options that the user can fix.

    `message` says what is wrong, `hint` (optional) what to do about it, `option` (optional)
    which option of the source it is about (`"target"` for a column that is not there); a
    problem without one is about the file the source reads, if it reads one.  The compiler
    turns these into diagnostics (`diagnostic`); nothing else in the data layer escapes for
    bad user input.
    """

    def __init__(self, message: str, hint: str | None = None, option: str | None = None) -> None:
        super().__init__(message, hint)
        self.message = message
        self.hint = hint
        self.option = option

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\nhint: {self.hint}"


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """`"did you mean 'x'?"` for the closest of `choices`, or None when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def suggest(word: str, choices: Iterable[str], what: str) -> str:
    """A hint naming the closest choice (if any) and then all of them."""
    options = sorted(choices)
    listing = ", ".join(options) if options else "(none)"
    guess = did_you_mean(word, options)
    return f"{guess} {what}: {listing}" if guess else f"{what}: {listing}"


def diagnostic(exc: DataError, checked: Any, plan: Any) -> Diagnostic:
    """`exc`, raised preparing the data of the train section `plan`, as an error at its place
    in the spec: the value of the option it is about (the file the source reads when it names
    none), else the whole `data = ...` value; unlocated when the spec has no such entry."""
    from nndsl.catalog.training import DATA_SOURCES
    from nndsl.errors import error

    option = exc.option
    source = DATA_SOURCES.get(plan.data.name) if plan is not None and plan.data else None
    if option is None and source is not None and len(source.paths) == 1:
        option = source.paths[0]  # a problem of the file it reads (its contents)
    return error(exc.message, data_span(checked, plan, option), hint=exc.hint)


def data_span(checked: Any, plan: Any, option: str | None = None) -> Span | None:
    """Where the train section `plan` writes its data source (`csv("a.csv", target="y")`), or
    the value of its `option` there (positional or keyword; when the option
    is not written there: the whole value); None when the section is not in the spec's own
    file."""
    from nndsl import ir
    from nndsl.catalog.training import DATA_SOURCES

    where = plan.span("data") if plan is not None else None
    symbols = getattr(checked, "symbols", None)
    if where is None or symbols is None:
        return where
    entry = next(
        (e for t in symbols.root_trains for e in t.entries if e.key == "data" and e.span == where),
        None,
    )
    if entry is None:
        return where
    node = entry.value
    if not isinstance(node, ir.Call) or not isinstance(node.func, ir.Name):
        return node.span
    source = DATA_SOURCES.get(node.func.id)
    for kw in node.kwargs:
        if kw.name == option:
            return kw.value.span
    if source is not None and option in source.positional:
        i = source.positional.index(option)
        if i < len(node.args):
            return node.args[i].span
    return node.span
