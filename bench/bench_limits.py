"""Benchmark of work that must grow linearly with the spec: the pathological shapes of issue 18.

Run from the repository root:

    .venv/bin/python bench/bench_limits.py [--signs 400] [--consts 50000] [--repeats 2]

It prints ratios measured in this one run, never bare absolute times as the result.  Nothing is
asserted; read the verdict lines.

1. `nndsl generate` (in process, into a temporary folder) on a model whose one statement is a
   chain of unary minus signs, `y = ----...-x`, with n and 2n signs.  Each sign is one step of
   forward, so linear growth doubles the time (ratio near 2); it used to be 2**n - 1 lines.
2. `nndsl check` (in process) on a file of n and 2n `const` lines (default 50,000 and 100,000).
   Linear growth gives a ratio near 2; it used to be quadratic (a line lookup per constant that
   copied the rest of the file).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nndsl.cli import main  # noqa: E402

sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))


def minus_chain(n: int) -> str:
    return "model M {\n    input x: [B, 4]\n    y = " + "-" * n + "x\n    y\n}\n"


def consts(n: int) -> str:
    return "".join(f"const C{i} = {i} * 2 + 1\n" for i in range(n))


def list_loop(k: int, steps: int = 500) -> str:
    body = f"    for i in range({steps}) {{\n        l = [0] * {k}\n    }}\n"
    return "model M {\n    input x: [B, 4]\n" + body + "    x -> Linear(3)\n}\n"


def _quiet(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(argv)


def timed(folder: Path, text: str, verb: str, repeats: int) -> float:
    spec = folder / "bench.nn"
    spec.write_text(text, encoding="utf-8")
    argv = [verb, str(spec)] + (
        ["-o", str(folder / "out"), "--force"] if verb == "generate" else []
    )
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        code = _quiet(argv)
        best = min(best, time.perf_counter() - start)
        if code != 0:
            raise SystemExit(f"`nndsl {verb}` failed on the benchmark spec (exit {code})")
    return best


def report(title: str, n: int, t1: float, t2: float) -> None:
    ratio = t2 / t1
    verdict = "linear" if ratio < 2.6 else "SUPERLINEAR"
    print(f"{title}")
    print(f"  n = {n:>7,}: {t1:8.3f} s")
    print(f"  n = {2 * n:>7,}: {t2:8.3f} s")
    print(f"  ratio 2n / n: {ratio:.2f}  (linear: about 2)  growth: {verdict}")


def run() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--signs",
        type=int,
        default=95,
        help="unary minus signs (n; 2n stays under the nesting limit)",
    )
    parser.add_argument("--consts", type=int, default=50_000, help="const lines (n)")
    parser.add_argument("--items", type=int, default=50_000, help="items of the loop's list (k)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats, best kept")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        timed(folder, minus_chain(8), "generate", 1)  # warm-up: imports, templates, black
        n = args.signs
        t1 = timed(folder, minus_chain(n), "generate", args.repeats)
        t2 = timed(folder, minus_chain(2 * n), "generate", args.repeats)
        report("generate, a chain of unary minus signs", n, t1, t2)
        n = args.consts
        t1 = timed(folder, consts(n), "check", args.repeats)
        t2 = timed(folder, consts(2 * n), "check", args.repeats)
        report("check, a file of const lines", n, t1, t2)
        k = args.items
        t1 = timed(folder, list_loop(k), "check", args.repeats)
        t2 = timed(folder, list_loop(2 * k), "check", args.repeats)
        ratio = t2 / t1
        verdict = "independent of k" if ratio < 1.5 else "GROWS WITH k"
        print("check, a loop that makes [0] * k at each of 500 steps")
        print(f"  k = {k:>7,}: {t1:8.3f} s")
        print(f"  k = {2 * k:>7,}: {t2:8.3f} s")
        print(f"  ratio 2k / k: {ratio:.2f}  (per step, walks no item: about 1)  {verdict}")


if __name__ == "__main__":
    run()
