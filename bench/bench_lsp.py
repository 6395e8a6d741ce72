"""Benchmark of the language server's re-check: what a change to a 1,000-line spec costs.

Run from the repository root:

    .venv/bin/python bench/bench_lsp.py [--repeats 5]

After each change (debounced) the server re-checks the document through its `Session`
(nndsl/incremental.py): only the pieces of text that changed are parsed again, then the checker
runs; the hover index is built when the first hover comes.  For a generated spec of about 1,000
lines (the generator of bench_check.py: 28 blocks and one ~800-line model) this prints, best of
the repeats after a warm-up, each against a full `check_file` of the same text in the same run:

- the first check of the document (nothing cached),
- a re-check after a one-line edit inside the big model (each repeat a different edit),
- a re-check after a line inserted near the top (everything below moves),
- a re-check while the edit leaves a syntax error (an unclosed call),
- the first hover after a re-check (builds the hover index), and a later hover,
- what the server did before the Session (a full check plus the hover index, every change).

Nothing is asserted; read the verdict line (re-check plus the debounce delay).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_check import spec  # noqa: E402

from nndsl import editor  # noqa: E402
from nndsl.check import check_file  # noqa: E402
from nndsl.incremental import Session  # noqa: E402
from nndsl.lsp import DEBOUNCE_S  # noqa: E402


def best(
    fn: Callable[[int], object], repeats: int, setup: Callable[[], None] | None = None
) -> float:
    """Best time of `fn(i)` over the repeats (after a warm-up call with i = 0); `setup` runs
    untimed before each call."""
    times = []
    for i in range(repeats + 1):
        if setup is not None:
            setup()
        t = time.perf_counter()
        fn(i)
        if i:
            times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n = 300
    text = spec(n)[0]
    while text.count("\n") < 1000:
        n += 50
        text = spec(n)[0]
    lines = text.count("\n")
    r = args.repeats
    assert "Linear(10)" in text and "block Mix3(" in text
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "big.nn")
        Path(path).write_text(text)

        def edited(i: int) -> str:  # a different one-line edit in the model each time
            return text.replace("Linear(10)", f"Linear({11 + i})")

        t_full = best(lambda i: check_file(path, edited(i), imports=False), r)
        t_before = best(lambda i: editor.analyse(path, edited(i)).build(), r)

        sessions: list[Session] = []

        def fresh() -> None:
            sessions[:] = [Session()]

        t_first = best(lambda i: sessions[0].check(path, edited(i)), r, setup=fresh)

        session = Session()
        session.check(path, text)
        t_edit = best(lambda i: session.check(path, edited(i)), r)
        parse_lines = session.parser.parsed_lines
        t_insert = best(
            lambda i: session.check(
                path, text.replace("block Mix3(", "\n" * (i + 1) + "block Mix3(")
            ),
            r,
        )
        t_error = best(lambda i: session.check(path, text.replace("Linear(10)", f"Linear({i}")), r)
        assert not session.check(path, text.replace("Linear(10)", "Linear(1")).ok

        analyses: list[editor.Analysis] = []
        model_line = text.split("\n").index("    adaptive_avg_pool2d(1) -> flatten -> Linear(10)")

        def analysed() -> None:
            analyses[:] = [editor.analyse(path, text, session=session)]

        def hover(i: int) -> None:
            assert analyses[0].hover(path, model_line + 1, 48) is not None  # on `Linear`

        t_hover_first = best(hover, r, setup=analysed)
        t_hover = best(hover, r)
        entries = sum(len(v) for v in analyses[0].hovers.values())

    def line(what: str, t: float) -> None:
        print(f"  {what:<46} {t * 1000:7.0f} ms  {t / t_full:5.2f} × full check")

    print(f"spec: {lines} lines, {n} layer stages; best of {r}")
    line("full check_file (reference)", t_full)
    line("before: full check + hover index, each change", t_before)
    line("first check in a Session", t_first)
    line(f"re-check after a one-line edit ({parse_lines} lines parsed)", t_edit)
    line("re-check after a line inserted near the top", t_insert)
    line("re-check with a syntax error (unclosed call)", t_error)
    line(f"first hover after a re-check ({entries} entries)", t_hover_first)
    line("a later hover", t_hover)
    print(f"  debounce before a re-check starts: {DEBOUNCE_S * 1000:.0f} ms")
    total = t_edit + DEBOUNCE_S
    verdict = "well under" if total < 0.5 else "NOT well under"
    print(f"verdict: a one-line change is re-checked {verdict} a second ({total:.2f} s)")


if __name__ == "__main__":
    main()
