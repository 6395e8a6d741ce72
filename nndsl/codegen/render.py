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


def docstring(lines: list[str], indent: str = "    ") -> str:
    """Docstring text: escaped so that nothing from a spec can end the string."""
    safe = [line.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') for line in lines]
    if len(safe) == 1:
        return safe[0]
    return safe[0] + "\n\n" + "\n".join(indent + s if s else "" for s in safe[1:]) + "\n" + indent
