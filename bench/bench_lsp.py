"""Benchmark of the language server's re-check: what a change to a 1,000-line spec costs.

Run from the repository root:

    .venv/bin/python bench/bench_lsp.py [--repeats 5]

After each (simulated) keystroke the server re-runs `editor.analyse`: `check_file` on the
editor's text plus the hover index.  This prints, for a generated spec of about 1,000 lines (the
generator of bench_check.py), the time of one re-check after a one-character edit (best of the
repeats, after a warm-up), the share of it spent building the hover index (a ratio against
`check_file` alone in the same run), and the server's debounce delay for comparison.  Nothing is
asserted; read the verdict line.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_check import spec  # noqa: E402

from nndsl import editor  # noqa: E402
from nndsl.check import check_file  # noqa: E402
from nndsl.lsp import DEBOUNCE_S  # noqa: E402


def best(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
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
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "big.nn")
        Path(path).write_text(text)
        edited = text.replace("Linear(10)", "Linear(11)")  # one keystroke
        t_check = best(lambda: check_file(path, edited, imports=False), args.repeats)
        t_full = best(lambda: editor.analyse(path, edited, imports=False), args.repeats)
        analysis = editor.analyse(path, edited, imports=False)
    hovers = sum(len(v) for v in analysis.hovers.values())
    print(f"spec: {lines} lines, {n} layer stages, {len(analysis.checked.diagnostics)} diagnostics")
    print(f"re-check after an edit (check + hover index): {t_full * 1000:.0f} ms")
    print(f"  of which the hover index ({hovers} entries): {(t_full - t_check) / t_full:.0%}")
    print(f"  debounce before it starts: {DEBOUNCE_S * 1000:.0f} ms")
    verdict = "well under" if t_full + DEBOUNCE_S < 0.5 else "NOT well under"
    print(f"verdict: a change is re-checked {verdict} a second ({t_full + DEBOUNCE_S:.2f} s)")


if __name__ == "__main__":
    main()
