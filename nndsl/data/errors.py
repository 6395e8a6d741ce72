"""The one exception the data layer raises for user mistakes."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DataError(Exception):
    """A problem with a data source or its options that the user can fix.

    `message` says what is wrong, `hint` (optional) what to do about it. The compiler turns
    these into diagnostics; nothing else in the data layer escapes for bad user input.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.message = message
        self.hint = hint

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
