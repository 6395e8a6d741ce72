"""Jinja rendering and black formatting of generated files."""

from __future__ import annotations

import gc
from functools import lru_cache

import jinja2

from nndsl.check import _no_cyclic_gc


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_load),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # the output is Python; every value is escaped by the code that computes it
    )


def _load(name: str) -> str:
    from importlib import resources

    return resources.files("nndsl.templates").joinpath(name).read_text(encoding="utf-8")


def render(template: str, **context) -> str:
    return environment().get_template(template).render(**context)


def black_format(source: str) -> str:
    """`source` as black formats it (the `black` command's default mode, one pass per file).

    The cyclic collector is paused meanwhile: black's syntax tree is millions of small objects
    for a large file, and the collector's repeated passes over them (and over the checked
    program alive beside them) made black's time per line grow with the file's size.  The
    cycles black leaves (its tree's parent links) are collected once, at the end: one pass over
    what black allocated, linear in the file's size."""
    import black

    with _no_cyclic_gc():
        formatted = black.format_str(source, mode=black.Mode(line_length=88))
    gc.collect(0)
    return formatted


def docstring(
    lines: list[str], indent: str = "    ", width: int = 88, keep: tuple[str, ...] = ()
) -> str:
    """Docstring text: escaped so that nothing from a spec can end the string; its lines wrapped
    at `width` columns where they have spaces (black leaves docstrings as they are, ruff's E501
    does not), never inside the texts of `keep` (`from <spec path>`)."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')

    safe = [escape(line) for line in lines]
    kept = [escape(k) for k in keep if " " in k]

    def wrap(line: str, room: int) -> list[str]:
        for k in kept:  # spaces of a kept text do not break: NUL meanwhile (never in a path)
            line = line.replace(k, k.replace(" ", "\0"))
        return [part.replace("\0", " ") for part in _wrap(line, room)]

    first = wrap(safe[0], width - len(indent) - 3)  # after the opening quotes
    rest = [part for line in safe[1:] for part in wrap(line, width - len(indent))]
    if len(first) == 1 and not rest:
        return first[0]
    summary = first[0] + "".join("\n" + indent + s for s in first[1:])
    if not rest:
        return summary + "\n" + indent
    return summary + "\n\n" + "\n".join(indent + s if s else "" for s in rest) + "\n" + indent


def _wrap(line: str, width: int) -> list[str]:
    """`line` in lines of at most `width` characters where it has spaces to break at, each
    continuation indented like the line itself."""
    if len(line) <= width:
        return [line]
    import textwrap

    lead = line[: len(line) - len(line.lstrip(" "))]
    return textwrap.wrap(
        line,
        width,
        initial_indent="",
        subsequent_indent=lead,
        break_long_words=False,
        break_on_hyphens=False,
    ) or [line]
