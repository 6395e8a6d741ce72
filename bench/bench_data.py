"""Streaming data: `nndsl run` on an image folder and on a large CSV file against a hand-written
Dataset/DataLoader script, same workers, same run.

Run from the repository root:

    .venv/bin/python bench/bench_data.py [--images 20000] [--rows 1000000] [--workers 2]
                                         [--batch 256] [--threads 1] [--repeat N]
                                         [--keep DIR]

It creates, in a temporary folder, an image folder of `--images` 32x32 PNGs (10 classes) and a
CSV file of `--rows` rows (8 numeric features and a class label), and the same data doubled
(the images hard-linked under new names, the CSV's rows written twice).  For each data set it
runs, as fresh processes:

- `nndsl run` on a spec reading it with `stream=true, workers=W` (one epoch, no validation);
- a hand-written script as a careful PyTorch user writes it: a `Dataset` that decodes one PNG
  with Pillow (or reads one CSV row at its byte offset), `DataLoader(batch_size, shuffle=True,
  num_workers=W, persistent_workers=True)`, the same network, Adam and cross-entropy.

It prints per run: peak RSS (of the process and its workers, from `wait4`), time from process
start to the first training batch, and the epoch's time (with `--repeat N`, N runs of each,
alternately, then the best of each: shortest epoch and first batch, smallest peak RSS, with the
epochs' range); then the ratios: nndsl / hand-written epoch time, nndsl's peak memory with the
data doubled / with the data, and the `generate` output folder's size for both. Time to the
first batch of `nndsl run` includes checking the spec, compiling its sources and the pass over
the data that `generate` makes (listing and digesting the folder; for the CSV file, validating
every row); it is measured by a hook the benchmark puts on `Run.train_batches` (nndsl itself
has none). Nothing is asserted."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable

IMAGE_SPEC = """\
model Net {{
    input x: [B, 3, 32, 32]
    Conv2d(8, 3, stride=2, padding=1) -> relu -> flatten -> Linear(10)
}}

train {{
    model = Net
    data = image_folder("{path}", stream=true, workers={workers})
    loss = CrossEntropyLoss()
    optimizer = Adam(lr=1e-3)
    epochs = 1
    batch_size = {batch}
    device = cpu
}}
"""

CSV_SPEC = """\
model Net {{
    input x: [B, 8]
    Linear(32) -> relu -> Linear(10)
}}

train {{
    model = Net
    data = csv("{path}", target="label", stream=true, workers={workers})
    loss = CrossEntropyLoss()
    optimizer = Adam(lr=1e-3)
    epochs = 1
    batch_size = {batch}
    device = cpu
}}
"""

# `nndsl run`, with a hook that prints when the first training batch is there
NNDSL = """\
import sys, time
import nndsl.api as api

START = float(sys.argv[1])
prepare = api.Program.prepare_run


def prepare_run(self, *args, **kwargs):
    module, data_path, out_dir = prepare(self, *args, **kwargs)
    run = self.modules()["training_utils"].Run
    batches = run.train_batches

    def timed(run_self, meter):
        first = True
        for item in batches(run_self, meter):
            if first:
                print(f"bench_first_batch {time.time() - START:.3f}", flush=True)
                first = False
            yield item

    run.train_batches = timed
    return module, data_path, out_dir


api.Program.prepare_run = prepare_run
from nndsl.cli import main

sys.exit(main(sys.argv[2:]))
"""

HAND = """\
import csv, sys, time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

START = float(sys.argv[1])
kind, path, workers, batch = sys.argv[2], Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.manual_seed(0)


class Images(Dataset):
    def __init__(self, root):
        classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        self.items = [
            (str(f), label)
            for label, c in enumerate(classes)
            for f in sorted((root / c).iterdir())
        ]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        name, label = self.items[i]
        with Image.open(name) as im:
            x = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.uint8).copy())
        return x.permute(2, 0, 1).float().div_(255), label


class Rows(Dataset):
    def __init__(self, file):
        self.file, self.offsets, self.handle = file, [], None
        with open(file, "rb") as fh:
            fh.readline()
            at = fh.tell()
            for line in fh:
                self.offsets.append(at)
                at += len(line)
        self.offsets = np.array(self.offsets, dtype=np.int64)

    def __len__(self):
        return len(self.offsets)

    def __getitem__(self, i):
        if self.handle is None:
            self.handle = open(self.file, "rb")
        self.handle.seek(int(self.offsets[i]))
        row = next(csv.reader([self.handle.readline().decode()]))
        return torch.tensor([float(v) for v in row[:-1]]), int(row[-1])


if kind == "images":
    data = Images(path)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16 * 16, 10)
    )
else:
    data = Rows(path)
    net = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 10))
loader = DataLoader(
    data, batch_size=batch, shuffle=True, num_workers=workers, persistent_workers=workers > 0
)
optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
criterion = nn.CrossEntropyLoss()
started = time.perf_counter()
for step, (x, y) in enumerate(loader):
    if step == 0:
        print(f"bench_first_batch {time.time() - START:.3f}", flush=True)
    loss = criterion(net(x), y)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
print(f"bench_epoch {time.perf_counter() - started:.3f}", flush=True)
"""


def make_images(root: Path, n: int) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"c{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:07d}.png", compress_level=1)


def double_images(src: Path, dst: Path) -> None:
    for folder in sorted(src.iterdir()):
        (dst / folder.name).mkdir(parents=True, exist_ok=True)
        for f in folder.iterdir():
            for copy in ("a", "b"):
                os.link(f, dst / folder.name / f"{copy}{f.name}")


def make_csv(path: Path, rows: int) -> None:
    import numpy as np

    rng = np.random.default_rng(rows)
    with open(path, "w") as fh:
        fh.write(",".join(f"f{i}" for i in range(8)) + ",label\n")
        done = 0
        while done < rows:
            n = min(100_000, rows - done)
            x = rng.normal(size=(n, 8))
            labels = rng.integers(0, 10, n)
            lines = [
                ",".join(f"{v:.4f}" for v in row) + f",{label}\n" for row, label in zip(x, labels)
            ]
            fh.writelines(lines)
            done += n


def double_csv(src: Path, dst: Path) -> None:
    """The rows of `src` twice, under its header."""
    with open(src, "rb") as fh, open(dst, "wb") as out:
        header = fh.readline()
        out.write(header)
        for _ in range(2):
            fh.seek(len(header))
            shutil.copyfileobj(fh, out, 1 << 24)


def measure(cmd: list[str], cwd: Path, env: dict) -> dict:
    """Run `cmd` (its first argument after the script is the start time); peak RSS of it and
    its waited children (wait4), its first_batch/epoch lines."""
    start = time.time()
    cmd = [c if c != "START" else f"{start:.6f}" for c in cmd]
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    out = proc.stdout.read().decode()
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out}\n{err}")
    result = {"rss_mib": usage.ru_maxrss / 1024, "wall": time.time() - start}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        if key in ("bench_first_batch", "bench_epoch"):
            result[key.removeprefix("bench_")] = float(value)
    return result


def best(results: list[dict]) -> dict:
    """The best of repeated runs: the shortest epoch and first batch, the smallest peak RSS
    (each the least disturbed by the other jobs of a shared machine), and the epochs' range."""
    epochs = [r["epoch"] for r in results]
    return {
        "epoch": min(epochs),
        "first_batch": min(r.get("first_batch", float("nan")) for r in results),
        "rss_mib": min(r["rss_mib"] for r in results),
        "spread": f"{min(epochs):.2f}-{max(epochs):.2f} s",
    }


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each, alternately; the best is compared"
    )
    parser.add_argument("--keep", type=Path, default=None, help="keep the data here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="nndsl-bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(args.threads),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("WORLD_SIZE", None)
    try:
        t = time.perf_counter()
        sets = {}
        if args.images:
            if not (work / "images").exists():
                make_images(work / "images", args.images)
                double_images(work / "images", work / "images2")
            sets["images"] = ("images", work / "images", work / "images2", IMAGE_SPEC)
        if args.rows:
            if not (work / "t.csv").exists():
                make_csv(work / "t.csv", args.rows)
                double_csv(work / "t.csv", work / "t2.csv")
            sets["csv"] = ("csv", work / "t.csv", work / "t2.csv", CSV_SPEC)
        print(
            f"data: {args.images:,} PNGs of 32x32 and a CSV of {args.rows:,} rows, and both "
            f"doubled; made in {time.perf_counter() - t:.0f}s; workers={args.workers}, "
            f"batch {args.batch}, {args.threads} thread(s)"
        )
        (work / "nndsl_run.py").write_text(NNDSL)
        (work / "hand.py").write_text(HAND)
        print(f"{'data':<14}{'tool':<14}{'peak RSS MiB':>14}{'first batch s':>15}{'epoch s':>10}")
        for name, (kind, one, two, spec_text) in sets.items():
            rows = {}
            for size, path in (("x1", one), ("x2", two)):
                spec = work / f"{name}_{size}.nn"
                spec.write_text(
                    spec_text.format(path=path.name, workers=args.workers, batch=args.batch)
                )
                out = work / f"run_{name}_{size}"
                runs: dict[str, list[dict]] = {"nndsl run": [], "hand-written": []}
                for _ in range(args.repeat):  # alternately, as fresh processes
                    shutil.rmtree(out, ignore_errors=True)
                    nndsl = measure(
                        [PYTHON, "nndsl_run.py", "START", "run", spec.name, "--out", str(out)]
                        + ["--quiet", "--force"],
                        work,
                        env,
                    )
                    with open(out / "metrics.csv") as fh:
                        nndsl["epoch"] = float(fh.read().splitlines()[1].split(",")[-1])
                    hand = measure(
                        [PYTHON, "hand.py", "START", kind, str(path), str(args.workers)]
                        + [str(args.batch)],
                        work,
                        env,
                    )
                    for tool, r in (("nndsl run", nndsl), ("hand-written", hand)):
                        runs[tool].append(r)
                        print(
                            f"{name + ' ' + size:<14}{tool:<14}{r['rss_mib']:>14.0f}"
                            f"{r.get('first_batch', float('nan')):>15.2f}{r['epoch']:>10.2f}",
                            flush=True,
                        )
                nndsl, hand = best(runs["nndsl run"]), best(runs["hand-written"])
                gen = work / f"gen_{name}_{size}"
                shutil.rmtree(gen, ignore_errors=True)
                subprocess.run(
                    [PYTHON, "-m", "nndsl", "generate", spec.name, "-o", str(gen)],
                    cwd=work,
                    env=env,
                    check=True,
                    capture_output=True,
                )
                rows[size] = (nndsl, hand, folder_size(gen))
                if args.repeat > 1:
                    for tool, r in (("nndsl run", nndsl), ("hand-written", hand)):
                        print(
                            f"{name + ' ' + size:<14}{tool:<14}{r['rss_mib']:>14.0f}"
                            f"{r.get('first_batch', float('nan')):>15.2f}{r['epoch']:>10.2f}"
                            f"  best of {args.repeat} (epoch {r['spread']})"
                        )
            (n1, h1, g1), (n2, h2, g2) = rows["x1"], rows["x2"]
            print(
                f"  {name}: epoch time nndsl / hand-written: {n1['epoch'] / h1['epoch']:.2f} (x1)"
                f", {n2['epoch'] / h2['epoch']:.2f} (x2); nndsl peak RSS x2 / x1: "
                f"{n2['rss_mib'] / n1['rss_mib']:.3f} (hand-written {h2['rss_mib'] / h1['rss_mib']:.3f})"
                f"; generate output: {g1:,} bytes (x1), {g2:,} bytes (x2)"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
