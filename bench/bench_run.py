"""Whole-process benchmark of `nndsl run` against a minimal hand-written script.

Run from the repository root:

    .venv/bin/python bench/bench_run.py [--runs 7] [--epochs 1] [--threads 1] [--importtime]
                                        [--baseline DIR]

Both commands are fresh Python processes, timed from start to exit (wall clock, and the CPU
time of the process and its children), alternating run by run; medians.  It prints the ratio
`nndsl run` / hand-written, never bare times as the result.  Nothing is asserted.

- `nndsl run`: the `nndsl` console script next to `sys.executable`, as a user runs it:
  `nndsl run samples/digits_cnn.nn --epochs K --out <temp> --quiet --force` (the spec is checked,
  its sources compiled in memory, its data prepared, then the spec's own training loop with
  checkpoints, metrics.csv, curves.png and the report).
- `nndsl run (DIR)`, with `--baseline DIR`: the same command with another nndsl's source tree
  (`DIR/nndsl`, e.g. `git archive` of an older commit with `templates/` and `grammar/` copied
  into `DIR/nndsl/`), run as `python -m nndsl` with `PYTHONPATH=DIR`, alternating with the
  others: a before/after comparison on the same load.
- `hand-written`: the script below, as a careful engineer writes it for the same task: read the
  same prepared data (the data.npz that `nndsl generate` writes for the spec), the same network
  (the generated model.py, imported), AdamW, label-smoothed cross-entropy, gradient clipping, a
  cosine schedule, K epochs of shuffled batches sliced from the tensors, validation, one line
  printed per epoch and the final weights saved.

Same thread count for both: `OMP_NUM_THREADS` (default 1, see bench_train.py for why), which
torch reads at start-up.  With `--importtime`, `python -X importtime` of one `nndsl run` names
the slowest imports (cumulative), to see what it pays for that the hand-written script does not.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "samples" / "digits_cnn.nn"

HAND = """\
import sys

import numpy as np
import torch
from torch import nn

from model import DigitsCNN

data, epochs, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
torch.manual_seed(0)
arrays = np.load(data)
x, y = torch.from_numpy(arrays["train_x"]), torch.from_numpy(arrays["train_y"])
vx, vy = torch.from_numpy(arrays["val_x"]), torch.from_numpy(arrays["val_y"])
model = DigitsCNN()
criterion = nn.CrossEntropyLoss(label_smoothing=0.05)
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=30)
for epoch in range(epochs):
    model.train()
    perm = torch.randperm(len(x))
    total = torch.zeros(())
    for i in range(0, len(x), 64):
        idx = perm[i : i + 64]
        optimizer.zero_grad(set_to_none=True)
        loss = criterion(model(x[idx]), y[idx])
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        total += loss.detach() * len(idx)
    scheduler.step()
    model.eval()
    correct = torch.zeros((), dtype=torch.int64)
    with torch.no_grad():
        for i in range(0, len(vx), 64):
            correct += (model(vx[i : i + 64]).argmax(1) == vy[i : i + 64]).sum()
    print(f"epoch {epoch + 1}: loss {total.item() / len(x):.4f} "
          f"val_accuracy {correct.item() / len(vx):.4f}")
torch.save(model.state_dict(), out)
"""


def timed(cmd: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system of the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--importtime", action="store_true")
    ap.add_argument("--baseline", type=Path, help="another nndsl source tree to compare")
    args = ap.parse_args()
    nndsl = str(Path(sys.executable).with_name("nndsl"))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    # nndsl's bytecode caches, even under PYTHONDONTWRITEBYTECODE=1 (torch's are installed)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "nndsl")], check=True)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        gen = work / "gen"
        subprocess.run(
            [nndsl, "generate", str(SPEC), "--out", str(gen)],
            check=True,
            env=env,
            capture_output=True,
        )
        (gen / "hand.py").write_text(HAND)
        run_out = work / "run"
        run_args = ["run", str(SPEC), "--epochs", str(args.epochs), "--out", str(run_out)]
        run_args += ["--quiet", "--force"]
        envs = {name: env for name in ("nndsl run", "hand-written", "python -c pass")}
        if args.baseline:
            base = str(args.baseline.resolve())
            envs[f"nndsl run ({args.baseline.name})"] = {**env, "PYTHONPATH": base}
        commands = {
            "nndsl run": [nndsl, *run_args],
            **(
                {
                    f"nndsl run ({args.baseline.name})": [
                        sys.executable,
                        "-m",
                        "nndsl",
                        *run_args,
                    ]
                }
                if args.baseline
                else {}
            ),
            "hand-written": [
                sys.executable,
                "hand.py",
                "data.npz",
                str(args.epochs),
                str(work / "hand.pt"),
            ],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        for name, cmd in commands.items():  # warm-up: caches, bytecode
            timed(cmd, envs[name], gen)
        times: dict[str, list[float]] = {k: [] for k in commands}
        cpus: dict[str, list[float]] = {k: [] for k in commands}
        for i in range(args.runs):
            names = list(commands)
            names = names[i % len(names) :] + names[: i % len(names)]
            for name in names:
                wall, cpu = timed(commands[name], envs[name], gen)
                times[name].append(wall)
                cpus[name].append(cpu)
        med = {k: statistics.median(v) for k, v in times.items()}
        base = med["hand-written"]
        cpu_base = statistics.median(cpus["hand-written"])
        print(
            f"digits_cnn.nn, {args.epochs} epoch(s), OMP_NUM_THREADS={args.threads}, "
            f"{args.runs} runs each, medians of whole-process wall time (and CPU time):"
        )
        width = max(map(len, commands))
        for name, m in med.items():
            spread = f"{min(times[name]) / base:.2f}-{max(times[name]) / base:.2f}"
            cpu = statistics.median(cpus[name]) / cpu_base
            print(
                f"  {name:<{width}} {m / base:5.2f}x hand-written  (runs {spread}x; CPU {cpu:.2f}x)"
            )
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        lows = {k: min(v) for k, v in times.items()}
        print(
            f"  fastest runs: nndsl run {lows['nndsl run']:.2f} s, hand-written "
            f"{lows['hand-written']:.2f} s: {lows['nndsl run'] / lows['hand-written']:.2f}x"
        )
        ratio = med["nndsl run"] / base
        print(
            f"verdict: nndsl run = {ratio:.2f}x the hand-written script "
            f"({'within' if ratio <= 1.15 else 'OVER'} the 1.15x target)"
        )
        if args.importtime:
            shutil.rmtree(run_out, ignore_errors=True)
            done = subprocess.run(
                [sys.executable, "-X", "importtime", *commands["nndsl run"]],
                env=env,
                cwd=gen,
                capture_output=True,
                text=True,
            )
            rows = []
            for line in done.stderr.splitlines():
                if line.startswith("import time:") and "|" in line:
                    _, cum, name = (p.strip() for p in line[len("import time:") :].split("|"))
                    if cum.isdigit():
                        rows.append((int(cum), name))
            print("slowest imports of `nndsl run` (cumulative ms):")
            for cum, name in sorted(rows, reverse=True)[:25]:
                print(f"  {cum / 1000:8.1f}  {name}")


if __name__ == "__main__":
    main()
