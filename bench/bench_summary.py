"""Benchmark of `nndsl summary`: what the CLI costs on a ResNet-50-sized spec, and how summary time
grows with the size of a spec.

Run from the repository root:

    .venv/bin/python bench/bench_summary.py [--runs 15] [--repeats 5] [--write DIR]

It prints ratios measured in this one run (the CLI's wall time minus that of `python -c pass`;
per-layer time at N over per-layer time at the smallest N), never bare absolute times as the
result.  Nothing is asserted; read the verdict lines.

1. CLI wall time.  A ResNet-50 spec written the way samples/zoo/resnet.nn writes it (one
   parametrized `block Bottleneck` with a compile-time `downsample`, four labelled stages of 3, 4,
   6 and 3 blocks: 53 Conv2d, 53 BatchNorm2d and one Linear, 25,557,032 parameters) is written to
   a temporary folder; `nndsl summary` on it (and on samples/zoo/resnet.nn --model ResNet50 when
   that file exists), `nndsl check` on it, a script that does what `nndsl summary` does and times its phases from inside (imports,
   the first check_file, summarize + render_table, a second check_file) and `python -c pass` run
   alternately; medians.  The target: `nndsl summary` on the ResNet-50 spec adds less than 0.3 s
   to `python -c pass`; the phases say where the time goes.  The commands run with a bytecode
   cache, as an installed package does (PYTHONPYCACHEPREFIX in the temporary folder; nothing is
   written into the repository); where the environment sets PYTHONDONTWRITEBYTECODE, one more
   command shows `nndsl summary` as it runs there, compiling nndsl from source every time.
2. Growth.  The specs of bench_check.py's generator (`spec(n)`: exactly n layer stages, blocks,
   residuals, labelled groups; see bench/README.md) for N = 500, 1000, 2000, 5000; in process,
   the work of `nndsl summary` (check_file, then summarize and render_table for the model), and
   separately summarize + render_table alone on the checked spec, and (a diagnostic) the first
   again with Python's cyclic garbage collector switched off: medians of --repeats after a
   warm-up, in CPU time of the process (a load spike on a shared machine moves it less than the
   wall clock).  Per-layer time at N over that at N = 500 near 1 means linear growth; the verdict is
   `linear` below 1.5.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_check import spec  # noqa: E402  (the same generated specs as bench_check.py)

from nndsl.check import check_file  # noqa: E402
from nndsl.check.summary import render_table, summarize  # noqa: E402

SIZES = (500, 1000, 2000, 5000)
TARGET_S = 0.3

RESNET50 = """\
# Written by bench/bench_summary.py: torchvision's ResNet-50, as samples/zoo/resnet.nn writes it.

block Bottleneck(planes: int, stride: int = 1, groups: int = 1, base_width: int = 64) {
    input x
    width = int(planes * (base_width / 64)) * groups
    out = planes * 4
    y = x -> conv1: Conv2d(width, 1, bias=false) -> bn1: BatchNorm2d -> relu
          -> conv2: Conv2d(width, 3, stride=stride, padding=1, groups=groups, bias=false)
          -> bn2: BatchNorm2d -> relu
          -> conv3: Conv2d(out, 1, bias=false) -> bn3: BatchNorm2d
    s = x if stride == 1 and x.shape[1] == out
        else x -> downsample: (Conv2d(out, 1, stride=stride, bias=false) -> BatchNorm2d)
    relu(y + s)
}

model ResNet50(num_classes: int = 1000) {
    input x: [B, 3, 224, 224]
    conv1: Conv2d(64, 7, stride=2, padding=3, bias=false) -> bn1: BatchNorm2d -> relu
    max_pool2d(3, stride=2, padding=1)
    layer1: (Bottleneck(64) * 3)
    layer2: (Bottleneck(128, stride=2) -> Bottleneck(128) * 3)
    layer3: (Bottleneck(256, stride=2) -> Bottleneck(256) * 5)
    layer4: (Bottleneck(512, stride=2) -> Bottleneck(512) * 2)
    adaptive_avg_pool2d(1) -> flatten -> fc: Linear(num_classes)
}
"""


# What `nndsl summary FILE` does, phase by phase, timed inside a fresh interpreter.
PHASES = """\
import json, sys, time
t0 = time.perf_counter()
import nndsl.cli
from nndsl.check import check_file
from nndsl.check.summary import render_table, summarize
t1 = time.perf_counter()
checked = check_file(sys.argv[1])
t2 = time.perf_counter()
text = "\\n\\n".join(render_table(summarize(i, "x")) for i in checked.models.values() if i)
t3 = time.perf_counter()
check_file(sys.argv[1])
t4 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "check": t2 - t1, "summary": t3 - t2, "check2": t4 - t3}))
"""


# ---- CLI wall time -----------------------------------------------------------------------------


def _wall(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    t = time.perf_counter() - t0
    if r.returncode != 0:
        print(f"   warning: {' '.join(cmd)} exited {r.returncode}: {r.stderr.decode()[-300:]}")
    return t, r.stdout.decode()


def cli(resnet: Path, runs: int, tmp: Path) -> None:
    nndsl = str(Path(sys.executable).parent / "nndsl")
    if not os.path.exists(nndsl):
        print(f"no console script at {nndsl}; is the package installed in this venv?")
        return
    # An installed package runs from cached bytecode.  Where the environment forbids writing it
    # (PYTHONDONTWRITEBYTECODE), every run compiles nndsl from source: the timed commands get a
    # bytecode cache of their own in the temporary folder (PYTHONPYCACHEPREFIX; nothing is written
    # into the repository), and one more command shows the cost without it.
    cached = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    envs = {}
    cmds = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "nndsl summary <ResNet-50 spec>": [nndsl, "summary", str(resnet)],
        "nndsl check <ResNet-50 spec>": [nndsl, "check", str(resnet)],
        "python -c <phases of nndsl summary>": [sys.executable, "-c", PHASES, str(resnet)],
    }
    zoo = ROOT / "samples" / "zoo" / "resnet.nn"
    if zoo.exists():
        cmds["nndsl summary samples/zoo/resnet.nn --model ResNet50"] = [
            nndsl,
            "summary",
            str(zoo.relative_to(ROOT)),
            "--model",
            "ResNet50",
        ]
    nocache = "nndsl summary <ResNet-50 spec>, no bytecode cache"
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        cmds[nocache] = cmds["nndsl summary <ResNet-50 spec>"]
        envs[nocache] = dict(os.environ)
    _, table = _wall(cmds["nndsl summary <ResNet-50 spec>"], cached)
    layers = sum(
        1
        for line in table.splitlines()
        if line.split()[1:2] and line.split()[1] in ("Conv2d", "BatchNorm2d", "Linear")
    )
    total = next((line for line in table.splitlines() if line.startswith("Total params")), "?")
    print(f"== CLI wall time: {runs} runs each, alternating, medians ==")
    print(
        f"(the ResNet-50 spec: {layers} Conv2d/BatchNorm2d/Linear rows, "
        f"{table.count(chr(10))} lines of output, {total})"
    )
    samples: dict[str, list[float]] = {k: [] for k in cmds}
    for name, cmd in cmds.items():  # warm-up: file cache, bytecode cache
        _wall(cmd, envs.get(name, cached))
    phases = []
    for _ in range(runs):
        for name, cmd in cmds.items():
            t, out = _wall(cmd, envs.get(name, cached))
            samples[name].append(t)
            if name == "python -c <phases of nndsl summary>":
                phases.append(json.loads(out))
    med = {k: statistics.median(v) for k, v in samples.items()}
    base = med["python -c pass"]
    for name, m in med.items():
        print(f"   {name:<54} median {m / base:5.1f}x python -c pass  (+{m - base:.3f} s)")
    summ = med["nndsl summary <ResNet-50 spec>"] - base
    check = med["nndsl check <ResNet-50 spec>"] - base
    verdict = "meets" if summ < TARGET_S else "MISSES"
    ph = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
    print(
        f"nndsl summary <ResNet-50 spec> adds {summ:.3f} s over python -c pass "
        f"({verdict} the target < {TARGET_S} s); `nndsl check` on it adds {check:.3f} s"
    )
    if nocache in med:
        nc = med[nocache] - base
        print(
            f"   without a bytecode cache (this environment sets PYTHONDONTWRITEBYTECODE) it adds "
            f"{nc:.3f} s ({'meets' if nc < TARGET_S else 'MISSES'} the target)"
        )
    print(
        f"   where the time goes, timed inside a fresh process (medians): imports of nndsl.cli, "
        f"nndsl.check, nndsl.check.summary {ph['imports']:.3f} s; the first check_file "
        f"{ph['check']:.3f} s (a second one: {ph['check2']:.3f} s); summarize + render_table "
        f"{ph['summary']:.3f} s; the rest (console-script shim, output, interpreter exit) "
        f"{summ - ph['imports'] - ph['check'] - ph['summary']:.3f} s"
    )
    print()


# ---- growth ----------------------------------------------------------------------------------


def median_of(fn, repeats: int) -> float:
    """Median CPU time of the process over `repeats` calls, after a warm-up call."""
    fn()  # warm-up: imports, caches, catalog look-ups
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def full_summary(path: str) -> str:
    """What `nndsl summary FILE` does in process: check, then summarize and render each model."""
    checked = check_file(path)
    return "\n\n".join(
        render_table(summarize(inst, f"{path}:{inst.decl.name_span.line}"))
        for inst in checked.models.values()
        if inst is not None
    )


def summary_only(checked) -> str:
    return "\n\n".join(
        render_table(summarize(inst, "x")) for inst in checked.models.values() if inst is not None
    )


def growth(tmp: Path, repeats: int) -> None:
    print("== summary in process: time per layer as the spec grows ==")
    print(
        f"(median CPU time of {repeats} after a warm-up; ratio = per-layer time at N / at "
        f"N={SIZES[0]}; `check+summary` is what `nndsl summary` does, `summary` is summarize + "
        "render_table alone on the checked spec, `no gc` is check+summary with Python's cyclic "
        "garbage collector switched off, a diagnostic)"
    )
    print(
        f"{'N':>6} {'rows':>6} {'ok':>3} {'check+summary s':>16} {'us/layer':>9} {'ratio':>6}"
        f" {'summary s':>10} {'us/layer':>9} {'ratio':>6} {'no gc s':>8} {'ratio':>6}"
    )
    base: dict[str, float] = {}
    ratio: dict[str, float] = {}
    for n in SIZES:
        text, count = spec(n)
        assert count == n, (count, n)  # the generator's own invariant, not a benchmark result
        path = tmp / f"big_{n}.nn"
        path.write_text(text)
        checked = check_file(str(path))
        ok = "yes" if checked.ok else "NO"
        if not checked.ok:
            for d in checked.diagnostics[:3]:
                print(f"       {d.message} at {d.span.line}:{d.span.column}")
            continue
        rows = summary_only(checked).count("\n")
        t = {
            "check+summary": median_of(lambda p=str(path): full_summary(p), repeats),
            "summary": median_of(lambda c=checked: summary_only(c), repeats),
        }
        gc.disable()
        try:
            t["no gc"] = median_of(lambda p=str(path): full_summary(p), repeats)
        finally:
            gc.enable()
        for k, v in t.items():
            base.setdefault(k, v / n)
            ratio[k] = v / n / base[k]
        print(
            f"{n:>6} {rows:>6} {ok:>3} {t['check+summary']:>16.4f} "
            f"{t['check+summary'] / n * 1e6:>9.1f} {ratio['check+summary']:>6.2f}"
            f" {t['summary']:>10.4f} {t['summary'] / n * 1e6:>9.1f} {ratio['summary']:>6.2f}"
            f" {t['no gc']:>8.4f} {ratio['no gc']:>6.2f}"
        )
    for what in ("check+summary", "summary", "no gc"):
        r = ratio.get(what, float("nan"))
        verdict = "linear" if r < 1.5 else "SUPERLINEAR"
        label = "check+summary without the garbage collector" if what == "no gc" else what
        print(
            f"growth of {label}: {verdict} (per-layer ratio at N={SIZES[-1]}: {r:.2f}; "
            "linear if < 1.5)"
        )
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="CLI runs per command (median kept)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats per size (median kept)")
    ap.add_argument("--write", metavar="DIR", help="also keep the generated specs in DIR")
    args = ap.parse_args()
    print(f"python {sys.version.split()[0]}, {sys.platform}")
    with tempfile.TemporaryDirectory(prefix="nndsl-bench-summary-") as d:
        tmp = Path(args.write) if args.write else Path(d)
        tmp.mkdir(parents=True, exist_ok=True)
        resnet = tmp / "resnet50.nn"
        resnet.write_text(RESNET50)
        cli(resnet, args.runs, tmp)
        growth(tmp, args.repeats)


if __name__ == "__main__":
    main()
