"""Benchmark of `nndsl generate`: how writing model.py scales with the number of blocks.

Run from the repository root:

    .venv/bin/python bench/bench_generate.py [--repeats 3] [--write DIR]

It prints ratios measured in this one run (time per block declaration at N over that at the
smallest N), never bare absolute times as the result.  Nothing is asserted; read the verdict.

`spec(n)` writes n parametrized block declarations `block B<i>(c: int, k: int = 3)` (a Conv2d,
a BatchNorm2d and a relu), and a model that calls each one twice with different arguments
(`h<i> = h<i-1> -> B<i>(8) -> B<i>(8, k=1)`), so that every block becomes a generic class whose
docstring lists its two uses.  For N = 166, 333, 666, 1666, in process, medians of CPU time:
`check_file`, then what `nndsl generate` does for model.py (`model_source`: class building,
the uses, rendering, black), and, inside it, black alone.

`chain_spec(n)` writes n blocks nested in a chain (`B<i>` uses `B<i-1>`, each a generic class):
for N = 50, 100, 200, the same `model_source` time per block.  Each generic class re-evaluates
the blocks nested in it symbolically (for their output shapes), so the work per block grows
with the depth: the ratio says how much.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nndsl.codegen as codegen  # noqa: E402
from nndsl.check import check_file  # noqa: E402

SIZES = (166, 333, 666, 1666)
CHAIN_SIZES = (50, 100, 200)


def spec(n: int) -> str:
    out = [
        f"block B{i}(c: int, k: int = 3) {{\n"
        "    input x\n"
        "    x -> Conv2d(c, k, padding=k // 2, bias=false) -> BatchNorm2d -> relu\n"
        "}\n"
        for i in range(n)
    ]
    out.append("model Big {\n    input x: [B, 8, 8, 8]\n")
    for i in range(n):
        prev = "x" if i == 0 else f"h{i - 1}"
        out.append(f"    h{i} = {prev} -> B{i}(8) -> B{i}(8, k=1)\n")
    out.append(f"    h{n - 1} -> adaptive_avg_pool2d(1) -> flatten -> Linear(10)\n}}\n")
    return "".join(out)


def chain_spec(n: int) -> str:
    out = ["block B0(c: int) {\n    input x\n    x -> Conv2d(c, 3, padding=1) -> relu\n}\n"]
    out += [
        f"block B{i}(c: int) {{\n    input x\n    x -> B{i - 1}(c) -> relu\n}}\n"
        for i in range(1, n)
    ]
    out.append(
        "model Chain {\n    input x: [B, 4, 8, 8]\n"
        f"    x -> B{n - 1}(8) -> B{n - 1}(4) -> flatten -> Linear(10)\n}}\n"
    )
    return "".join(out)


class _BlackTimer:
    """Wraps codegen's black_format to add up the CPU time black takes."""

    def __init__(self) -> None:
        self.real = codegen.black_format
        self.spent = 0.0

    def __call__(self, source: str) -> str:
        t = time.process_time()
        try:
            return self.real(source)
        finally:
            self.spent += time.process_time() - t


def measure_chain(path: Path, n: int, repeats: int) -> float:
    """Median CPU time of model_source for a chain of n nested blocks."""
    checked = check_file(str(path))
    assert checked.ok, [d.message for d in checked.diagnostics][:3]
    times = []
    for _ in range(repeats):
        codegen._MODEL_CACHE.clear()
        t = time.process_time()
        text = codegen.model_source(checked, ["Chain"])
        times.append(time.process_time() - t)
        assert text.count("\nclass ") == n + 1
    return statistics.median(times)


def measure(path: Path, repeats: int) -> dict[str, float]:
    times: dict[str, list[float]] = {
        "check": [],
        "generate": [],
        "black": [],
        "rest": [],
    }
    timer = _BlackTimer()
    codegen.black_format = timer
    try:
        for _ in range(repeats):
            t0 = time.process_time()
            checked = check_file(str(path))
            t1 = time.process_time()
            assert checked.ok, [d.message for d in checked.diagnostics][:3]
            timer.spent = 0.0
            text = codegen.model_source(checked, ["Big"])
            t2 = time.process_time()
            assert text.count("Used as:") == int(path.stem.split("_")[1])
            times["check"].append(t1 - t0)
            times["generate"].append(t2 - t1)
            times["black"].append(timer.spent)
            times["rest"].append(t2 - t1 - timer.spent)
    finally:
        codegen.black_format = timer.real
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats per size (median)")
    ap.add_argument("--write", metavar="DIR", help="also keep the generated specs in DIR")
    args = ap.parse_args()
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))  # as the CLI does (nested blocks)
    print(f"python {sys.version.split()[0]}, {sys.platform}")
    with tempfile.TemporaryDirectory(prefix="nndsl-bench-") as d:
        tmp = Path(args.write) if args.write else Path(d)
        tmp.mkdir(parents=True, exist_ok=True)
        paths = {}
        for n in SIZES:
            paths[n] = tmp / f"blocks_{n}.nn"
            paths[n].write_text(spec(n), encoding="utf-8")
        measure(paths[SIZES[0]], 1)  # warm-up: imports, parser, caches
        print("== model.py generation: CPU time per block declaration as the spec grows ==")
        print(
            f"(median of {args.repeats}; ratio = per-block time at N / at N={SIZES[0]}; "
            "`generate` is model_source: classes, uses, rendering and black; `rest` is it without black)"
        )
        print(
            f"{'N':>6} {'check s':>9} {'ratio':>6} {'generate s':>11} {'us/block':>9} {'ratio':>6}"
            f" {'black s':>8} {'ratio':>6} {'rest s':>8} {'ratio':>6}"
        )
        base: dict[str, float] = {}
        ratios: dict[str, float] = {}
        for n in SIZES:
            m = measure(paths[n], args.repeats)
            per = {k: v / n for k, v in m.items()}
            if not base:
                base = per
            ratios = {k: per[k] / base[k] for k in per}
            print(
                f"{n:>6} {m['check']:>9.3f} {ratios['check']:>6.2f} {m['generate']:>11.3f}"
                f" {per['generate'] * 1e6:>9.0f} {ratios['generate']:>6.2f} {m['black']:>8.3f}"
                f" {ratios['black']:>6.2f} {m['rest']:>8.3f} {ratios['rest']:>6.2f}"
            )
        verdict = "linear" if ratios["generate"] < 1.5 else "SUPERLINEAR"
        print(
            f"growth of generate: {verdict} (per-block ratio at N={SIZES[-1]}: "
            f"{ratios['generate']:.2f}; linear if < 1.5); without black: {ratios['rest']:.2f}; "
            f"black: {ratios['black']:.2f}; check: {ratios['check']:.2f}"
        )
        print("== nested chain (B<i> uses B<i-1>): model_source CPU time per block ==")
        print(f"{'N':>6} {'generate s':>11} {'ms/block':>9} {'ratio':>6}")
        first = None
        for n in CHAIN_SIZES:
            path = tmp / f"chain_{n}.nn"
            path.write_text(chain_spec(n), encoding="utf-8")
            g = measure_chain(path, n, args.repeats)
            first = first or g / n
            ratio = g / n / first
            print(f"{n:>6} {g:>11.3f} {g / n * 1e3:>9.1f} {ratio:>6.2f}")
        print(
            f"growth of the nested chain: per-block ratio at N={CHAIN_SIZES[-1]}: {ratio:.2f} "
            f"(linear: 1; quadratic: {CHAIN_SIZES[-1] / CHAIN_SIZES[0]:.0f})"
        )


if __name__ == "__main__":
    main()
