"""Benchmark of the training loop: the generated train.py, and `nndsl run`'s in-memory copy of it,
against a minimal hand-written PyTorch loop, epoch for epoch.

Run from the repository root:

    .venv/bin/python bench/bench_train.py [--rounds 8] [--epochs K] [--threads 1] [--profile]

It prints ratios measured in this one run (median epoch time of a variant over that of the
hand-written loop), never bare absolute times as the result.  Nothing is asserted.

Two tasks: `samples/digits_cnn.nn` as written (DigitsCNN, 1,438 training rows, batch 64, AdamW,
label smoothing, cosine schedule, gradient clipping, accuracy, validation every epoch), and a
20,000-row MLP spec written by this script (`random(shape=(32,), classes=4, n=20000)`, 18,000
training rows, three Linear layers, Adam, batch 64, accuracy, validation every epoch).

Three variants, all on the same model class (the generated model.py's) and the same data arrays
(the generated data.npz):

- `generated`: the generated train.py, imported as a module next to its model.py, called as
  `train(["--data", ..., "--out", <temp dir>, "--epochs", K, "--quiet"])`.
- `nndsl run`: the same source run in memory, through `nndsl.load(spec).train(...)`, which is
  what the `nndsl run` command calls (`Program.prepare_run` + the in-memory module's `train`).
- `hand-written`: the loop below, as a careful engineer writes it: shuffle an index with
  `torch.randperm`, slice it per batch, `zero_grad`/forward/loss/`backward`/(clip)/`step`,
  accumulate loss and correct predictions on the device, then validate under `no_grad`; the
  spec's scheduler steps after each epoch.  No checkpoints, no files.

What is timed is the epoch only.  The generated loop times its own epochs: metrics.csv's `time`
column runs from the top of its epoch loop to after validation, before the scheduler step,
metrics.csv and checkpoints.  The benchmark reads that column (wall time), and also each epoch's
CPU time of the process: the generated module's `time` is replaced in the benchmark's process by
a stand-in whose `perf_counter()` returns the real wall clock and notes the CPU time read at the
same moment (the loop reads the clock twice per epoch; the notes are checked against the
`time` column).  The hand-written loop reads both clocks over the same stretch.  CPU time is the
primary measure: on a machine shared with other jobs it moves much less than wall time when
something else takes the CPU.  Each call trains K epochs (12 for digits, whose epochs are short;
5 for the MLP; or --epochs); the first epoch of each call is a warm-up and is dropped.  Variants
are interleaved within each round, in a rotating order; the ratio is the median over all kept
epochs.  The per-call time outside the timed epochs (set-up, checkpoints, metrics.csv,
curves.png) is printed apart.  The hand-written loop seeds and shuffles exactly like the
generated one, so its per-epoch training loss must equal the generated loop's: it is printed as a
check that both do the same work.

Threads: the machine this was written on has 2 cores shared with other jobs; with torch's
default of one intra-op thread per core, any other load makes the OpenMP threads wait for each
other and an epoch becomes 10 to 40 times slower, at random.  The default is therefore
`--threads 1` (`torch.set_num_threads`); the loops compared are the same either way.

If the generated loop is more than 5% slower (or with --profile), the script profiles it:
1. a cProfile of one generated `train` call, by function of the generated train.py (with the
   line of templates/train.py.j2 that defines it);
2. inside real training steps: the hand-written step, then the same step plus, one group at a
   time, what the generated step adds (the NaN check, the generated module's own Meter instead of
   the two accumulation lines, compute_loss and the autocast/nullcontext); the levels take turns
   step by step on the same batches, and each level's extra CPU time per step is printed with
   the template line it comes from;
3. in isolation, on one batch: the CPU time per call of each statement of Meter.update and of
   the other added statements, times calls per epoch, as a share of a hand-written epoch.
Template lines are found by searching templates/train.py.j2 for the statement's text.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import importlib.util
import io
import math
import pstats
import random
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import nndsl  # noqa: E402

TEMPLATE = ROOT / "templates" / "train.py.j2"
TARGET = 1.05

MLP_SPEC = """\
# Written by bench/bench_train.py: a 20,000-row tabular task and a small MLP.
model TabMLP {
    input x: [B, 32]
    Linear(128) -> relu -> Linear(128) -> relu -> Linear(4)
}

train {
    model      = TabMLP
    data       = random(shape=(32,), classes=4, n=20000, val_split=0.1)
    loss       = CrossEntropyLoss()
    optimizer  = Adam(lr=1e-3)
    epochs     = 10
    batch_size = 64
    metrics    = [accuracy]
    seed       = 0
}
"""


# ---- the tasks, as a careful engineer would write them by hand -------------------------------


@dataclass
class Task:
    name: str
    spec: Path
    model: str
    batch_size: int
    loss: Callable[[], nn.Module]
    optimizer: Callable[[object], torch.optim.Optimizer]
    scheduler: Callable[[torch.optim.Optimizer], object] | None
    clip: float | None
    epochs: int  # per call, the first dropped: enough for about a second of training per call
    seed: int = 0


def tasks(tmp: Path) -> list[Task]:
    mlp = tmp / "mlp20k.nn"
    mlp.write_text(MLP_SPEC)
    return [
        Task(
            name="digits (DigitsCNN)",
            spec=ROOT / "samples" / "digits_cnn.nn",
            model="DigitsCNN",
            batch_size=64,
            loss=lambda: nn.CrossEntropyLoss(label_smoothing=0.05),
            optimizer=lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=1e-4),
            scheduler=lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=30),
            clip=1.0,
            epochs=12,
        ),
        Task(
            name="MLP, 20,000 rows",
            spec=mlp,
            model="TabMLP",
            batch_size=64,
            loss=nn.CrossEntropyLoss,
            optimizer=lambda p: torch.optim.Adam(p, lr=1e-3),
            scheduler=None,
            clip=None,
            epochs=5,
        ),
    ]


def now() -> tuple[float, float]:
    """(wall clock, CPU time of the process) in seconds."""
    return time.perf_counter(), time.process_time()


def hand_loop(task: Task, model_cls, data: dict, epochs: int):
    """The minimal loop: ([(wall, cpu) per epoch], training losses).  Seeds and shuffles like
    train.py, so that it trains on the same batches in the same order."""
    random.seed(task.seed)
    np.random.seed(task.seed)
    torch.manual_seed(task.seed)
    model = model_cls()
    criterion = task.loss()
    optimizer = task.optimizer(model.parameters())
    scheduler = task.scheduler(optimizer) if task.scheduler else None
    x, y, vx, vy = data["train_x"], data["train_y"], data["val_x"], data["val_y"]
    n, bs = x.shape[0], task.batch_size
    times, losses = [], []
    for epoch in range(epochs):
        t0 = now()
        model.train()
        gen = torch.Generator().manual_seed(task.seed * 1_000_003 + epoch)
        perm = torch.randperm(n, generator=gen)
        loss_sum = torch.zeros((), dtype=torch.float64)
        correct = torch.zeros((), dtype=torch.int64)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            xb, yb = x[idx], y[idx]
            optimizer.zero_grad(set_to_none=True)
            out = model(xb)
            loss = criterion(out, yb)
            loss.backward()
            if task.clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), task.clip)
            optimizer.step()
            loss_sum += loss.detach() * yb.shape[0]
            correct += (out.argmax(1) == yb).sum()
        train_loss, train_acc = loss_sum.item() / n, correct.item() / n
        model.eval()
        val_loss = torch.zeros((), dtype=torch.float64)
        val_correct = torch.zeros((), dtype=torch.int64)
        with torch.no_grad():
            for i in range(0, vx.shape[0], bs):
                xb, yb = vx[i : i + bs], vy[i : i + bs]
                out = model(xb)
                val_loss += criterion(out, yb) * yb.shape[0]
                val_correct += (out.argmax(1) == yb).sum()
        _ = (val_loss.item() / vx.shape[0], val_correct.item() / vx.shape[0], train_acc)
        t1 = now()
        times.append((t1[0] - t0[0], t1[1] - t0[1]))
        losses.append(train_loss)
        if scheduler is not None:
            scheduler.step()
    return times, losses


# ---- the generated code ----------------------------------------------------------------------


def _exec_file(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def import_generated(out_dir: Path, tag: str):
    """(model module, train module) of a generated folder, imported under unique names; the
    train module's `from model import X` sees this folder's model.py."""
    model_mod = _exec_file(f"bench_model_{tag}", out_dir / "model.py")
    helpers = {"model": model_mod}
    if (out_dir / "training_utils.py").exists():  # the helper module train.py imports
        helpers["training_utils"] = _exec_file(f"bench_utils_{tag}", out_dir / "training_utils.py")
    saved = {name: sys.modules.get(name) for name in helpers}
    sys.modules.update(helpers)
    try:
        train_mod = _exec_file(f"bench_train_{tag}", out_dir / "train.py")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    return model_mod, train_mod


class Clocks:
    """Stands in for the `time` module inside a generated train module: `time.perf_counter()`
    returns the real wall clock (so metrics.csv is unchanged) and also notes the process CPU time
    read at the same moment.  The generated loop reads the clock exactly twice per epoch (at the
    top of the epoch and after validation), so the notes give each epoch's CPU time as well;
    `epoch_times` checks that against metrics.csv's `time` column."""

    def __init__(self) -> None:
        self.log: list[tuple[float, float]] = []

    def __getattr__(self, name: str):
        return getattr(time, name)

    def perf_counter(self) -> float:
        wall, cpu = now()
        self.log.append((wall, cpu))
        return wall

    def epoch_times(self, run_dir: Path) -> tuple[list[tuple[float, float]], list[float]]:
        """([(wall, cpu) per epoch], training losses), wall from metrics.csv's `time` column."""
        with open(run_dir / "metrics.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
        walls = [float(r["time"]) for r in rows]
        log, self.log = self.log, []
        pairs = list(zip(log[0::2], log[1::2]))
        if len(log) != 2 * len(walls) or any(
            abs((b[0] - a[0]) - w) > 1e-6 for (a, b), w in zip(pairs, walls)
        ):
            print(
                "   warning: the loop's clock reads do not pair up with metrics.csv's `time`; "
                "CPU times are not available (wall times shown for both)"
            )
            times = [(w, w) for w in walls]
        else:
            times = [(w, b[1] - a[1]) for (a, b), w in zip(pairs, walls)]
        return times, [float(r["train_loss"]) for r in rows]


@dataclass
class Prepared:
    task: Task
    program: object
    gen_dir: Path
    model_cls: type
    train_mod: object
    run_mod: object
    data: dict
    clocks: Clocks


def prepare(task: Task, tmp: Path, i: int) -> Prepared:
    program = nndsl.load(task.spec)
    gen_dir = tmp / f"gen{i}"
    program.generate(gen_dir)
    model_mod, train_mod = import_generated(gen_dir, str(i))
    raw = np.load(gen_dir / "data.npz")
    data = {k: torch.from_numpy(raw[k]) for k in ("train_x", "train_y", "val_x", "val_y")}
    clocks = Clocks()
    run_mod = program.modules()["train"]  # the in-memory module that `nndsl run` trains with
    train_mod.time = clocks
    run_mod.time = clocks
    model_cls = getattr(model_mod, task.model)
    return Prepared(task, program, gen_dir, model_cls, train_mod, run_mod, data, clocks)


# ---- measurement -------------------------------------------------------------------------------


def run_variant(p: Prepared, variant: str, epochs: int, run_dir: Path):
    """([(wall, cpu) per epoch], training losses, wall time of the whole call)."""
    t0 = time.perf_counter()
    if variant == "generated":
        argv = ["--data", str(p.gen_dir / "data.npz"), "--out", str(run_dir), "--quiet"]
        p.train_mod.train(argv + ["--epochs", str(epochs)])
    elif variant == "nndsl run":
        p.program.train(epochs=epochs, out=run_dir, quiet=True)
    else:
        times, losses = hand_loop(p.task, p.model_cls, p.data, epochs)
        return times, losses, time.perf_counter() - t0
    wall = time.perf_counter() - t0
    times, losses = p.clocks.epoch_times(run_dir)
    return times, losses, wall


VARIANTS = ("generated", "nndsl run", "hand-written")
CLOCKS = ("CPU", "wall")


def bench_task(p: Prepared, tmp: Path, rounds: int, epochs: int) -> float:
    n = p.data["train_x"].shape[0]
    print(
        f"== {p.task.name}: {n} training rows, {math.ceil(n / p.task.batch_size)} steps "
        f"and {math.ceil(p.data['val_x'].shape[0] / p.task.batch_size)} validation steps "
        f"per epoch, batch {p.task.batch_size} =="
    )
    kept = {(v, c): [] for v in VARIANTS for c in CLOCKS}
    per_round = {(v, c): [] for v in VARIANTS for c in CLOCKS}
    outside: dict[str, list[float]] = {v: [] for v in VARIANTS}
    losses: dict[str, list[float]] = {}
    sink = io.StringIO()
    for r in range(rounds + 1):  # round 0: warm-up, not counted
        order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
        for v in order:
            run_dir = tmp / f"run-{p.task.model}-{r}-{v.replace(' ', '_')}"
            # the generated loop prints a line per epoch and a report even with --quiet
            stdout, sys.stdout = sys.stdout, sink
            try:
                times, loss, wall = run_variant(p, v, epochs, run_dir)
            finally:
                sys.stdout = stdout
            losses[v] = loss
            if r == 0:
                continue
            for j, c in enumerate(CLOCKS):
                epoch_t = [t[1 - j] if c == "CPU" else t[0] for t in times[1:]]
                kept[v, c] += epoch_t
                per_round[v, c].append(statistics.median(epoch_t))
            outside[v].append(
                (wall - sum(t[0] for t in times)) / statistics.median(t[0] for t in times[1:])
            )
    med = {k: statistics.median(x) for k, x in kept.items()}
    print(
        f"epoch time, median of {len(kept['hand-written', 'CPU'])} epochs per variant "
        f"({rounds} interleaved rounds x {epochs - 1} epochs; the first epoch of each call "
        "dropped), relative to the hand-written loop:"
    )
    print(
        f"   {'':<13} {'CPU time':>9} {'wall':>7}   {'per-round CPU ratios':<22}"
        "  outside the epochs, per call"
    )
    for v in VARIANTS:
        rr = [a / b for a, b in zip(per_round[v, "CPU"], per_round["hand-written", "CPU"])]
        print(
            f"   {v:<13} {med[v, 'CPU'] / med['hand-written', 'CPU']:8.3f}x "
            f"{med[v, 'wall'] / med['hand-written', 'wall']:6.3f}x   "
            f"{min(rr):.3f} .. {max(rr):.3f}{'':<8}  "
            f"{statistics.median(outside[v]):.1f} epochs' wall time"
        )
    ref = losses["hand-written"]
    for v in ("generated", "nndsl run"):
        diff = max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(losses[v], ref))
        same = "yes" if diff < 1e-4 else "NO"
        print(
            f"   same per-epoch training loss as the hand-written loop ({v}): {same} "
            f"(max relative difference {diff:.1e})"
        )
    for v in ("generated", "nndsl run"):
        cpu = med[v, "CPU"] / med["hand-written", "CPU"]
        wall = med[v, "wall"] / med["hand-written", "wall"]
        verdict = "meets" if cpu <= TARGET else "MISSES"
        print(
            f"{p.task.name}: {v} / hand-written = {cpu:.3f} CPU time, {wall:.3f} wall "
            f"({verdict} the target <= {TARGET:.2f} on CPU time)"
        )
    print()
    return med["generated", "CPU"] / med["hand-written", "CPU"]


# ---- profiling ---------------------------------------------------------------------------------


def template_line(text: str) -> str:
    """`train.py.j2:N` of the first template line containing `text` ('?' if none does)."""
    for i, line in enumerate(TEMPLATE.read_text().splitlines(), 1):
        if text in line:
            return f"train.py.j2:{i}"
    return "train.py.j2:?"


def per_call(fn: Callable[[], object], reps: int = 3000) -> float:
    """CPU seconds per call: the median of 7 batches of `reps` calls, after a warm-up batch."""
    out = []
    for i in range(8):
        t0 = time.process_time()
        for _ in range(reps):
            fn()
        if i:
            out.append((time.process_time() - t0) / reps)
    return statistics.median(out)


# The step-level ladder: the hand-written training step, then the same step with, added one
# group at a time, what the generated step does beyond it.  `gen` is the generated train module:
# its own Meter, compute_loss and first_output are called, not copies.
LADDER = (
    ("hand-written step", "", ""),
    (
        "+ NaN check",
        "finite.append(torch.isfinite",
        "finite.append(torch.isfinite(loss.detach())) per step",
    ),
    (
        "+ Meter",
        "meter.update(loss.detach().float()",
        "meter.update(loss.detach().float(), first_output(out).detach().float(), yb) instead of "
        "the hand-written 2 accumulation lines",
    ),
    (
        "+ the rest",
        "loss = compute_loss(criterion, out, yb)",
        "compute_loss(criterion, out, yb) instead of criterion(out, yb), `with nullcontext()`",
    ),
)


class LadderVariant:
    def __init__(self, level: int, p: Prepared) -> None:
        task, tm = p.task, p.train_mod
        torch.manual_seed(task.seed)
        self.level, self.tm, self.clip = level, tm, task.clip
        self.model = p.model_cls()
        self.criterion = task.loss()
        self.optimizer = task.optimizer(self.model.parameters())
        self.meter = tm.Meter(list(tm.CONFIG["metrics"]), 0, torch.device("cpu"))
        self.loss_sum = torch.zeros((), dtype=torch.float64)
        self.correct = torch.zeros((), dtype=torch.int64)
        self.finite: list = []

    def step(self, xb: torch.Tensor, yb: torch.Tensor) -> None:
        level, tm, model, optimizer = self.level, self.tm, self.model, self.optimizer
        optimizer.zero_grad(set_to_none=True)
        if level >= 3:
            with nullcontext():
                out = model(xb)
                loss = tm.compute_loss(self.criterion, out, yb)
        else:
            out = model(xb)
            loss = self.criterion(out, yb)
        if level >= 1:
            self.finite.append(torch.isfinite(loss.detach()))
        loss.backward()
        if self.clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), self.clip)
        optimizer.step()
        if level >= 2:
            self.meter.update(loss.detach().float(), tm.first_output(out).detach().float(), yb)
        else:
            self.loss_sum += loss.detach() * yb.shape[0]
            self.correct += (out.argmax(1) == yb).sum()


def ladder(p: Prepared, min_steps: int = 1500) -> None:
    """Per-step CPU time of each ladder level, the levels interleaved step by step on the same
    batches (so that load on the machine hits them alike), medians over at least `min_steps`
    steps per level after a warm-up epoch."""
    variants = [LadderVariant(level, p) for level in range(len(LADDER))]
    x, y = p.data["train_x"], p.data["train_y"]
    n, bs = x.shape[0], p.task.batch_size
    epochs = 1 + math.ceil(min_steps / math.ceil(n / bs))
    times: list[list[float]] = [[] for _ in variants]
    for epoch in range(epochs):
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(epoch))
        for j, i in enumerate(range(0, n, bs)):
            idx = perm[i : i + bs]
            xb, yb = x[idx], y[idx]
            for k in range(len(variants)):
                v = variants[(k + j) % len(variants)]
                t0 = time.process_time()
                v.step(xb, yb)
                t = time.process_time() - t0
                if epoch:  # the first epoch warms up
                    times[v.level].append(t)
        for v in variants:
            v.finite.clear()
    med = [statistics.median(t) for t in times]
    print(
        f"inside a real training step: the hand-written step, then what the generated step adds, "
        f"one group at a time (CPU time per step, median of {len(times[0])} steps per level, "
        "levels interleaved step by step):"
    )
    for level, (name, needle, what) in enumerate(LADDER):
        if level == 0:
            print(f"   {name:<18} {'':<16} 1.000x")
            continue
        extra = (med[level] - med[level - 1]) / med[0]
        print(
            f"   {name:<18} {template_line(needle):<16} {med[level] / med[0]:.3f}x  "
            f"({extra:+6.2%} of a step) {what}"
        )


def profile(p: Prepared, tmp: Path, epochs: int, gap: float) -> None:
    print(f"== profile of the generated loop: {p.task.name} ==")
    tm = p.train_mod
    gen_file = str(p.gen_dir / "train.py")
    hand_epoch = statistics.median(t[1] for t in hand_loop(p.task, p.model_cls, p.data, 3)[0][1:])

    # 1. cProfile of one generated `train` call, by function of the generated train.py.
    prof = cProfile.Profile()
    argv = ["--data", str(p.gen_dir / "data.npz"), "--out", str(tmp / "prof"), "--quiet"]
    stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        prof.runcall(tm.train, argv + ["--epochs", str(epochs)])
    finally:
        sys.stdout = stdout
        p.clocks.log.clear()
    rows = []
    for (file, _line, fn), (_cc, nc, tt, ct, _callers) in pstats.Stats(prof).stats.items():
        if file == gen_file:
            rows.append((ct, tt, nc, fn))
    total = max(r[0] for r in rows)
    print(
        f"cProfile of one train(--epochs {epochs}) call (checkpoints and curves.png included), "
        "functions of the generated train.py, share of the call (cumulative / own):"
    )
    for ct, tt, nc, fn in sorted(rows, reverse=True)[:8]:
        print(
            f"   {template_line(f'def {fn}('):<16} {fn:<16} calls {nc:>6}  "
            f"{ct / total:6.1%} / {tt / total:6.1%}"
        )

    # 2. The same statements inside a real training step.
    ladder(p)

    # 3. In isolation, on one real batch, CPU time per call; statements of Meter.update are
    # replicated here to time them one by one (the template is the reference).
    torch.manual_seed(0)
    criterion = p.task.loss()
    bs = p.task.batch_size
    y = p.data["train_y"][:bs]
    out = p.model_cls()(p.data["train_x"][:bs]).detach()
    loss = criterion(out, y)
    n = y.shape[0]
    steps = math.ceil(p.data["train_x"].shape[0] / bs)
    val_steps = math.ceil(p.data["val_x"].shape[0] / bs)
    meter = tm.Meter(list(tm.CONFIG["metrics"]), 0, torch.device("cpu"))
    acc = {
        "loss": torch.zeros((), dtype=torch.float64),
        "correct": torch.zeros((), dtype=torch.int64),
    }

    def hand_acc():  # the hand-written loop's two accumulation lines
        acc["loss"] += loss.detach() * n
        acc["correct"] += (out.argmax(1) == y).sum()

    pred = out.argmax(1)
    metrics = meter.metrics
    hand = per_call(hand_acc)
    update = per_call(
        lambda: meter.update(loss.detach().float(), tm.first_output(out).detach().float(), y)
    )
    parts = [
        ('self.add("loss", loss.detach() * n)', lambda: meter.add("loss", loss.detach() * n)),
        (
            'self.add("n", torch.tensor(float(n)',
            lambda: meter.add("n", torch.tensor(float(n), device=out.device)),
        ),
        (
            "classification = any(",
            lambda: any(
                m in ("accuracy", "f1", "precision", "recall") or m.startswith("top")
                for m in metrics
            ),
        ),
        ("pred = out.argmax(1)", lambda: out.argmax(1)),
        ('self.add("correct", (pred == y).sum())', lambda: meter.add("correct", (pred == y).sum())),
        (
            'self.add("count", torch.tensor(float(y.numel())',
            lambda: meter.add("count", torch.tensor(float(y.numel()), device=out.device)),
        ),
    ]
    print(
        f"in isolation, CPU time per call on one batch x calls per epoch, share of a hand-written "
        f"epoch ({steps} training and {val_steps} validation steps):"
    )
    print(
        f"   {template_line('meter.update(loss.detach().float()'):<16} "
        f"{update * steps / hand_epoch:+6.2%}  meter.update per training step "
        f"(the hand-written 2 lines instead: {hand * steps / hand_epoch:+.2%})"
    )
    print(
        f"   {template_line('meter.update(loss.float()'):<16} "
        f"{update * val_steps / hand_epoch:+6.2%}  meter.update per validation step "
        f"(the hand-written 2 lines instead: {hand * val_steps / hand_epoch:+.2%})"
    )
    for needle, fn in parts:
        print(
            f"     {template_line(needle):<16} {per_call(fn) * steps / hand_epoch:+6.2%}  "
            f"{needle}..."
        )
    print(
        f"     {template_line('def add('):<16} (in each self.add: value.detach().to(torch.float64) "
        f"{per_call(lambda: loss.detach().to(torch.float64)) * steps / hand_epoch:+.2%}, "
        "then a new tensor for the sum)"
    )
    print(
        f"   {template_line('finite.append(torch.isfinite'):<16} "
        f"{per_call(lambda: torch.isfinite(loss.detach())) * steps / hand_epoch:+6.2%}  "
        "torch.isfinite(loss.detach()) per training step"
    )
    print(
        f"   {template_line('loss = compute_loss(criterion, out, yb)'):<16} "
        f"{(per_call(lambda: tm.compute_loss(criterion, out, y)) - per_call(lambda: criterion(out, y))) * steps / hand_epoch:+6.2%}"
        "  compute_loss(criterion, out, yb) minus criterion(out, yb)"
    )
    print()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8, help="interleaved rounds (after a warm-up)")
    ap.add_argument(
        "--epochs", type=int, help="epochs per call, the first dropped (default: 12 digits, 5 MLP)"
    )
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--profile", action="store_true", help="profile even if within the target")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s), {sys.platform}"
    )
    with tempfile.TemporaryDirectory(prefix="nndsl-bench-train-") as d:
        tmp = Path(d)
        preps = [prepare(t, tmp, i) for i, t in enumerate(tasks(tmp))]
        slow = []
        for p in preps:
            gap = bench_task(p, tmp, args.rounds, args.epochs or p.task.epochs)
            if gap > TARGET or args.profile:
                slow.append((p, gap))
        for p, gap in slow:
            profile(p, tmp, args.epochs or p.task.epochs, gap)


if __name__ == "__main__":
    main()
