"""Benchmark of the Lightning target against the plain target: the training epochs of the
generated Lightning train.py over those of the generated plain train.py, on the same spec.

Run from the repository root (Lightning must be installed: `pip install -e ".[lightning]"`):

    .venv/bin/python bench/bench_lightning.py [--rounds 5] [--epochs 3] [--threads 1]

It prints ratios measured in this one run (median epoch time of the Lightning target over that
of the plain target), never bare absolute times as the result.  Nothing is asserted.

The task is `samples/digits_cnn.nn` as written (DigitsCNN, 1,438 training rows, batch 64, AdamW,
label smoothing, cosine schedule, gradient clipping, accuracy, early stopping, best and last
checkpoints, validation every epoch).  `nndsl generate` writes both targets into a temporary
folder (through `generate_files(..., target=...)`), and both are imported as modules of this
process and called as `train(["--data", ..., "--out", <temp dir>, "--epochs", K, "--quiet"])`:

- `plain`: the generated train.py (its own loop over on-device tensors, templates/train.py.j2).
- `lightning`: the generated Lightning train.py: `Trainer.fit` of lit_model.py's LitDigitsCNN,
  with loaders of whole batches sliced from the tensors (the plain target's seeded
  permutation; a DataLoader only under DDP), the loss and accuracy summed per step and logged
  once per epoch, and Lightning's callbacks, logger and checkpointing.

Both train on the same batches in the same order from the same initial weights (the Lightning
target shuffles like the plain one), so their per-epoch training losses must agree: this is
printed as a check that both do the same work.

What is timed is the epoch: for the plain loop the `time` column of its metrics.csv (from the
top of its epoch loop to after validation, before the scheduler step, metrics.csv and the
checkpoints); for Lightning the same stretch, from the LightningModule's `on_train_epoch_start`
to the start of its `on_train_epoch_end` (training steps and validation; the epoch's logging,
the scheduler step, the checkpoints and the logger's writes come after it), read by a subclass
of the generated module rather than by a callback, which would add its own dispatch to every
step.  Each call trains K epochs; the first epoch
of each call is a warm-up and is dropped.  The two targets alternate within each round, in a
rotating order; the ratio is the median over all kept epochs, on the process's CPU time (robust
to other jobs on the machine) and on wall time.  The fixed cost of a call outside its epochs is
printed in epochs: for Lightning building the Trainer, the sanity-check validation, checkpoints
and logs; for the plain script checkpoints, metrics.csv and its loss/accuracy plot (curves.png).

Two last lines split the overhead: the time to iterate the Lightning target's training
loader once (no model), as a share of a plain epoch, so the data pipeline can be told apart
from Lightning's own machinery; and Lightning's own loop, measured on a model that costs nothing
(one parameter) with the same Trainer settings and the same manual optimization as the generated
module (`manual_backward`, `optimizer.step()`, `self.clip_gradients` in
`on_before_optimizer_step`, the scheduler in `on_train_epoch_end`, the same callbacks), minus the
same epoch as a plain loop: the cost per step of Lightning's hook dispatch, progress tracking and
result bookkeeping, which no generated code can remove while it trains with `Trainer.fit`
(bench/README.md names where it goes).

A third variant, `loop`, is timed in the same rotation: the generated module whose training
step is the plain train.py's, line for line (`PlainSteps`), under the same Trainer.  Its ratio
over the plain target is Lightning's loop around the model's real work (beside the model's
kernels Lightning's per-step Python runs with cold caches, about twice what the null model
shows); the generated target over it is what the generated step pays for Lightning's API.

Threads: `--threads 1` by default (torch.set_num_threads), as in bench_train.py: on a machine
with few cores shared with other jobs, OpenMP threads waiting for each other make epochs slower
at random.  Both targets run the same kernels either way.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import importlib.util
import io
import itertools
import logging
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from nndsl.check import check_file  # noqa: E402
from nndsl.codegen import generate_files  # noqa: E402

SPEC = ROOT / "samples" / "digits_cnn.nn"
VARIANTS = ("plain", "lightning", "loop")


def now() -> tuple[float, float]:
    """(wall clock, CPU time of the process) in seconds."""
    return time.perf_counter(), time.process_time()


def _exec_file(name: str, path: Path, deps: dict[str, object]):
    """Import `path` as module `name`; `deps` stand in for the modules it imports by name
    (`model`, `lit_model`) while it is executed."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    saved = {k: sys.modules.get(k) for k in deps}
    sys.modules.update(deps)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
    return module


def generate(tmp: Path) -> dict[str, Path]:
    checked = check_file(str(SPEC))
    assert checked.ok, checked.diagnostics
    models = [m for m, inst in checked.models.items() if inst is not None]
    folders = {}
    for variant, target in (("plain", "pytorch"), ("lightning", "lightning")):
        folder = tmp / variant
        folder.mkdir()
        for name, content in generate_files(checked, models, target=target).items():
            if isinstance(content, bytes):
                (folder / name).write_bytes(content)
            else:
                (folder / name).write_text(content)
        folders[variant] = folder
    return folders


class PlainClocks:
    """Stands in for the `time` module inside the plain train module: `perf_counter()` returns
    the real wall clock (so metrics.csv is unchanged) and notes the process CPU time read at the
    same moment.  The plain loop reads the clock twice per epoch (top of the epoch, after
    validation), so the notes give each epoch's CPU time; they are checked against metrics.csv."""

    def __init__(self) -> None:
        self.log: list[tuple[float, float]] = []

    def __getattr__(self, name: str):
        return getattr(time, name)

    def perf_counter(self) -> float:
        wall, cpu = now()
        self.log.append((wall, cpu))
        return wall

    def epochs(self, run_dir: Path) -> list[tuple[float, float]]:
        with open(run_dir / "metrics.csv", newline="") as fh:
            walls = [float(r["time"]) for r in csv.DictReader(fh)]
        log, self.log = self.log, []
        pairs = list(zip(log[0::2], log[1::2]))
        if len(log) != 2 * len(walls) or any(
            abs((b[0] - a[0]) - w) > 1e-6 for (a, b), w in zip(pairs, walls)
        ):
            print("   warning: the plain loop's clock reads do not pair up with metrics.csv")
            return [(w, w) for w in walls]
        return [(w, b[1] - a[1]) for (a, b), w in zip(pairs, walls)]


def train_losses(run_dir: Path) -> list[float]:
    """Per-epoch train_loss of a metrics.csv (Lightning's has separate train and val rows)."""
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [float(r["train_loss"]) for r in csv.DictReader(fh) if r.get("train_loss")]


def load_lightning(folder: Path, tag: str, plain_steps: bool = False):
    """(the train module of the Lightning target in `folder`, its epochs' marks): the generated
    module replaced in it by a subclass that notes (wall, CPU) at the start and the end of
    every epoch.  With `plain_steps`, the subclass also takes its training step from the plain
    train.py (see `PlainSteps`)."""
    lit_model_py = _exec_file(f"bench_{tag}_model_py", folder / "model.py", {})
    lit_utils = _exec_file(f"bench_{tag}_utils", folder / "training_utils.py", {})
    lit_model = _exec_file(
        f"bench_{tag}_lit_model",
        folder / "lit_model.py",
        {"model": lit_model_py, "training_utils": lit_utils},
    )
    module = _exec_file(
        f"bench_{tag}_train",
        folder / "train.py",
        {"model": lit_model_py, "lit_model": lit_model, "training_utils": lit_utils},
    )
    marks: list[tuple[float, float]] = []
    name = next(k for k in vars(lit_model) if k.startswith("Lit"))
    generated = getattr(lit_model, name)

    class PlainSteps(generated):
        """The generated module whose training step is the plain train.py's, line for line
        (`loss.backward()`, `clip_grad_norm_`, the torch optimizer's own `step` and
        `zero_grad`), not Lightning's (`manual_backward`, `LightningOptimizer.step` with its
        closure and hooks, `clip_gradients` in `on_before_optimizer_step`): the same
        numbers, and Lightning's loop, loaders, hooks, logging and callbacks around them as
        around the generated step.  So it tells Lightning's loop around the model's work
        from what the generated step pays for going through Lightning's API."""

        def configure_optimizers(self):
            config = super().configure_optimizers()
            self.torch_optimizer = config["optimizer"]  # not Lightning's wrapper of it
            return config

        def training_step(self, batch, batch_idx: int) -> None:
            x, y = batch
            out = self(x)
            loss = lit_model.compute_loss(out, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.parameters(), lit_model.CLIP_GRAD_NORM)
            self.torch_optimizer.step()
            self.torch_optimizer.zero_grad(set_to_none=True)
            self.log_batch("train_", loss, out, y)

    if plain_steps:
        generated = PlainSteps

    class Timed(generated):
        """The generated module, its epoch timed from its own epoch hooks (a timing
        callback would add a dispatch to every step): after the callbacks'
        `on_train_epoch_start`, before the epoch's logging and scheduler step."""

        def on_train_epoch_start(self) -> None:
            marks.append(now())
            super().on_train_epoch_start()

        def on_train_epoch_end(self) -> None:
            marks.append(now())
            super().on_train_epoch_end()

    setattr(module, name, Timed)
    return module, marks


class Bench:
    def __init__(self, folders: dict[str, Path], tmp: Path) -> None:
        self.tmp = tmp
        self.data = {v: folders[v] / "data.npz" for v in ("plain", "lightning")}
        plain_model = _exec_file("bench_plain_model", folders["plain"] / "model.py", {})
        utils = _exec_file("bench_plain_utils", folders["plain"] / "training_utils.py", {})
        self.plain = _exec_file(
            "bench_plain_train",
            folders["plain"] / "train.py",
            {"model": plain_model, "training_utils": utils},
        )
        self.clocks = PlainClocks()
        self.plain.time = self.clocks
        self.lits = {v: load_lightning(folders[v], v) for v in folders if v != "plain"}
        self.lits["loop"] = load_lightning(folders["lightning"], "loop", plain_steps=True)
        self.lit = self.lits["lightning"][0]
        self.data["loop"] = self.data["lightning"]
        if "reference" in folders:
            self.data["reference"] = folders["reference"] / "data.npz"

    def run(self, variant: str, epochs: int, run_dir: Path):
        """([(wall, cpu) per epoch], training losses, wall time of the whole call)."""
        argv = ["--data", str(self.data[variant]), "--out", str(run_dir), "--epochs", str(epochs)]
        sink = io.StringIO()
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            if variant == "plain":
                self.plain.train(argv + ["--quiet"])
            else:
                module, marks = self.lits[variant]
                marks.clear()
                module.train(argv + ["--quiet"])
        wall = time.perf_counter() - t0
        if variant == "plain":
            times = self.clocks.epochs(run_dir)
        else:
            m = self.lits[variant][1]
            times = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(m[0::2], m[1::2])]
        return times, train_losses(run_dir), wall


def dataloader_share(bench: Bench, plain_epoch_cpu: float) -> float:
    """CPU time of one pass over the Lightning target's training loader (no model), as a
    share of a plain epoch."""
    loader = bench.lit.build_loaders(str(bench.data["lightning"]), 64, 0)[0]
    out = []
    for i in range(6):
        t0 = time.process_time()
        for _ in loader:
            pass
        if i:
            out.append(time.process_time() - t0)
    return statistics.median(out) / plain_epoch_cpu


def lightning_own_cost(bench: Bench, rounds: int = 5) -> tuple[float, int]:
    """(CPU seconds per epoch, steps per epoch) that Lightning's loop adds by itself: an epoch
    of a model that costs nothing (one parameter, loss `w.sum()`) over the Lightning target's
    own loaders, run by a Trainer configured as the generated one (gradient clipping, an
    epoch scheduler, a checkpoint, early stopping, the CSV logger, the loss logged once per
    epoch), minus the same epoch written as a plain loop (forward, backward, clipping, step,
    zero_grad; validation under no_grad).  Median over `rounds` calls of 3 epochs (the
    first dropped).  What the Lightning target costs beyond this is not Lightning's."""
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    train, val, _ = bench.lit.build_loaders(str(bench.data["lightning"]), 64, 0)
    marks: list[float] = []

    class Null(L.LightningModule):  # timed as the generated module is timed
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.automatic_optimization = False  # as the generated module steps

        def on_train_epoch_start(self) -> None:
            marks.append(time.process_time())

        def training_step(self, batch, batch_idx) -> None:
            optimizer = self.optimizers()
            self.manual_backward(self.w.sum())
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        def on_before_optimizer_step(self, optimizer) -> None:
            self.clip_gradients(optimizer, gradient_clip_val=1.0, gradient_clip_algorithm="norm")

        def on_train_epoch_end(self) -> None:
            marks.append(time.process_time())
            self.log("train_loss", self.w.detach().sum(), sync_dist=True)
            self.lr_schedulers().step()

        def validation_step(self, batch, batch_idx) -> None:
            pass

        def on_validation_epoch_end(self) -> None:
            self.log("val_loss", self.w.detach().sum(), sync_dist=True)

        def configure_optimizers(self):
            optimizer = torch.optim.AdamW(self.parameters(), lr=3e-3)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=30)
            return {"optimizer": optimizer, "lr_scheduler": scheduler}

    def lightning_epochs(folder: Path) -> list[float]:
        marks.clear()
        trainer = L.Trainer(
            max_epochs=3,
            accelerator="cpu",
            devices=1,
            callbacks=[
                EarlyStopping(monitor="val_loss", patience=5),
                ModelCheckpoint(dirpath=folder, filename="last", enable_version_counter=False),
            ],
            logger=CSVLogger(folder, name="", version=""),
            enable_progress_bar=False,
            enable_model_summary=False,
        )
        sink = io.StringIO()
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            trainer.fit(Null(), train, val)
        return [b - a for a, b in zip(marks[0::2], marks[1::2])][1:]

    def plain_epochs() -> list[float]:
        w = torch.nn.Parameter(torch.zeros(1))
        optimizer = torch.optim.AdamW([w], lr=3e-3)
        out = []
        for _ in range(3):
            t0 = time.process_time()
            for _x, _y in train:
                loss = w.sum()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([w], 1.0)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                for _x, _y in val:
                    w.sum()
            out.append(time.process_time() - t0)
        return out[1:]

    lit, plain = [], []
    for r in range(rounds):
        lit += lightning_epochs(bench.tmp / f"null-{r}")
        plain += plain_epochs()
    return statistics.median(lit) - statistics.median(plain), len(train) + len(val)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (after a warm-up)")
    ap.add_argument("--epochs", type=int, default=3, help="epochs per call (first dropped)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument(
        "--reference",
        metavar="DIR",
        help="another Lightning target of samples/digits_cnn.nn (say, generated by an older "
        "commit) timed alternately with this one",
    )
    args = ap.parse_args()
    if args.reference and not (Path(args.reference) / "lit_model.py").is_file():
        ap.error(f"--reference: no lit_model.py in {args.reference}")
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (the first epoch of each call is dropped)")
    try:
        import lightning
    except ImportError:
        sys.exit("bench_lightning.py needs PyTorch Lightning: pip install lightning")
    torch.set_num_threads(args.threads)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, lightning "
        f"{lightning.__version__}, {torch.get_num_threads()} thread(s), {sys.platform}"
    )
    with tempfile.TemporaryDirectory(prefix="nndsl-bench-lightning-") as d:
        tmp = Path(d)
        folders = generate(tmp)
        variants = VARIANTS
        if args.reference:
            folders["reference"] = Path(args.reference).resolve()
            variants = VARIANTS + ("reference",)
        bench = Bench(folders, tmp)
        kept = {(v, c): [] for v in variants for c in ("wall", "cpu")}
        per_round: dict[str, list[float]] = {k: [] for k in ("cpu", "wall", "reference", "loop")}
        outside: dict[str, list[float]] = {v: [] for v in variants}
        losses: dict[str, list[float]] = {}
        # every order of the variants in turn (with three, one after another in a fixed
        # rotation favours one of them)
        orders = list(itertools.permutations(variants))
        for r in range(args.rounds + 1):  # round 0: warm-up, not counted
            order = orders[r % len(orders)]
            medians = {}
            for v in order:
                times, loss, wall = bench.run(v, args.epochs, tmp / f"run-{r}-{v}")
                losses[v] = loss
                if len(times) != args.epochs:
                    sys.exit(f"{v}: {len(times)} epochs timed, expected {args.epochs}")
                if r == 0:
                    continue
                kept[v, "wall"] += [t[0] for t in times[1:]]
                kept[v, "cpu"] += [t[1] for t in times[1:]]
                medians[v] = (
                    statistics.median(t[1] for t in times[1:]),
                    statistics.median(t[0] for t in times[1:]),
                )
                outside[v].append((wall - sum(t[0] for t in times)) / medians[v][1])
            if r:
                per_round["cpu"].append(medians["lightning"][0] / medians["plain"][0])
                per_round["wall"].append(medians["lightning"][1] / medians["plain"][1])
                per_round["loop"].append(medians["loop"][0] / medians["plain"][0])
                if args.reference:
                    per_round["reference"].append(medians["reference"][0] / medians["plain"][0])
        med = {k: statistics.median(x) for k, x in kept.items()}
        cpu = med["lightning", "cpu"] / med["plain", "cpu"]
        wall = med["lightning", "wall"] / med["plain", "wall"]
        n = len(kept["plain", "cpu"])
        print(
            f"== {SPEC.name}: epoch time of the Lightning target over the plain target, median "
            f"of {n} epochs each ({args.rounds} interleaved rounds x {args.epochs - 1} epochs; "
            "the first epoch of each call dropped) =="
        )
        print(
            f"   CPU time {cpu:.3f}x   wall {wall:.3f}x   per-round CPU ratios "
            f"{min(per_round['cpu']):.3f} .. {max(per_round['cpu']):.3f}"
        )
        if args.reference:
            ref = med["reference", "cpu"] / med["plain", "cpu"]
            print(
                f"   reference ({args.reference}): CPU time {ref:.3f}x   per-round CPU ratios "
                f"{min(per_round['reference']):.3f} .. {max(per_round['reference']):.3f}; "
                f"this code / reference {cpu / ref:.3f}"
            )
        loop = med["loop", "cpu"] / med["plain", "cpu"]
        print(
            f"   Lightning's loop around train.py's own step (the generated module, its "
            f"training step the plain one's): CPU time {loop:.3f}x   per-round "
            f"{min(per_round['loop']):.3f} .. {max(per_round['loop']):.3f}; the generated "
            f"step (manual_backward, LightningOptimizer.step, clip_gradients) over it "
            f"{cpu / loop:.3f}x"
        )
        for v in variants:
            print(
                f"   {v:<10} outside the epochs, per call: "
                f"{statistics.median(outside[v]):.1f} epochs' wall time"
            )
        diff = max(
            abs(a - b) / max(abs(b), 1e-12)
            for v in ("lightning", "loop")
            for a, b in zip(losses[v], losses["plain"])
        )
        same = (
            "yes"
            if diff < 1e-4
            and len(losses["lightning"]) == len(losses["loop"]) == len(losses["plain"])
            else "NO"
        )
        print(
            f"   same per-epoch training loss in both targets (and the loop): {same} "
            f"(max relative difference {diff:.1e})"
        )
        share = dataloader_share(bench, med["plain", "cpu"])
        print(
            f"   of which the loader (batches sliced from the tensors, no model): "
            f"{share:.1%} of a plain epoch's CPU time, Lightning's own machinery the rest "
            f"(~{cpu - 1 - share:+.1%})"
        )
        own, steps = lightning_own_cost(bench)
        print(
            f"   Lightning's own loop (a model that costs nothing, the same Trainer settings): "
            f"{own * 1e3:.1f} ms CPU per epoch, {own / steps * 1e6:.0f} us per step "
            f"({steps} steps) = {own / med['plain', 'cpu']:.1%} of a plain epoch's CPU time"
        )
        print(f"Lightning / plain = {cpu:.3f} CPU time, {wall:.3f} wall per epoch (digits)")


if __name__ == "__main__":
    main()
