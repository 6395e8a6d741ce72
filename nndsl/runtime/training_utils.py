"""Support for the training scripts nndsl generates: training_utils.py.

`nndsl generate` writes this module, unchanged, beside each generated train.py.
The script holds the spec's own training loop; this module what is the same for
every spec: flags, torchrun (DistributedDataParallel) set-up, shuffled batches,
metric sums, checkpoints with the random state (exact `--resume` after Ctrl-C
or a crash), run folders, curves and the report.  It never imports nndsl.
nndsl-sha256: 0000000000000000000000000000000000000000000000000000000000000000
"""

from __future__ import annotations

import argparse
import base64
import csv
import gc
import io
import json
import math
import os
import random
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

# The loss and the metrics where lower is better (the others: higher is better); nndsl's
# catalog of metrics (nndsl/catalog/training.py) says the same, a test checks it.
LOWER_IS_BETTER = ("loss", "mae", "mse", "rmse")


class TrainingError(Exception):
    """A problem that stops training with a message (no traceback)."""


class FlagParser(argparse.ArgumentParser):
    """argparse, but a wrong flag exits with code 1, as every other error of the script
    (and of nndsl's command line) does, not argparse's 2; with a hint: the nearest flag,
    and how to get help.  A flag is written whole: a prefix (`--num-node 2`) is an
    unknown flag, not the flag it begins (which would start DDP)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        self.print_usage(sys.stderr)
        hint = f"run `{self.prog} --help` for help"
        guess = self.nearest_flag(message)
        if guess:
            hint = f"did you mean `{guess}`? ({hint})"
        self.exit(1, f"{self.prog}: error: {message}\n  = hint: {hint}\n")

    def nearest_flag(self, message: str) -> str | None:
        """The flag nearest to the first unknown one of an "unrecognized arguments"
        message, if one is near."""
        import difflib

        if not message.startswith("unrecognized arguments: "):
            return None
        flags = [f for a in self._actions for f in a.option_strings if f[:2] == "--"]
        for word in message.split(": ", 1)[1].split():
            if word.startswith("-"):
                near = difflib.get_close_matches(word.split("=", 1)[0], flags, 1, 0.5)
                return near[0] if near else None
        return None


def parse_flags(
    argv: list[str] | None, config: dict, data_file: Path, doc: str | None
) -> argparse.Namespace:
    """The script's flags; their defaults come from the train section (`config`)."""
    p = FlagParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    p.add_argument("--epochs", type=int, default=config["epochs"])
    p.add_argument("--batch-size", type=int, default=config["batch_size"])
    p.add_argument(
        "--lr", type=float, default=None, help="override the optimizer's learning rate"
    )
    p.add_argument("--seed", type=int, default=config["seed"])
    p.add_argument(
        "--device", default=config["device"], help="auto, cpu, cuda, cuda:N or mps"
    )
    p.add_argument(
        "--data", default=str(data_file), help="the prepared data (written by nndsl)"
    )
    p.add_argument(
        "--out", default=None, help="run folder (default: runs/<model>-<time>)"
    )
    p.add_argument("--resume", default=None, help="a checkpoint to continue from")
    p.add_argument(
        "--init-from",
        "--resume-weights",
        dest="resume_weights",
        default=None,
        metavar="CKPT",
        help="start a new run from the weights of a checkpoint (a fresh optimizer, "
        "epoch 1)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="train into a run folder that holds another run",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no progress bar, only a line per epoch"
    )
    args = p.parse_args(argv)
    check_flags(p, args)
    return args


def check_flags(
    p: argparse.ArgumentParser,
    args: argparse.Namespace,
    counts: tuple[str, ...] = ("epochs", "batch_size"),
) -> None:
    """The checks of the flags every generated train.py has (`p.error`: the usage, the
    message, exit 1): the `counts` at least 1, --lr a positive number, --seed one that
    numpy and Lightning's seed_everything take, no empty path."""
    for flag in counts:
        if getattr(args, flag) < 1:
            p.error(f"--{flag.replace('_', '-')} must be at least 1")
    if args.lr is not None and not 0 < args.lr < math.inf:  # (nan fails both)
        p.error("--lr must be a positive number")
    if not 0 <= args.seed < 2**32:
        p.error("--seed must be between 0 and 2**32 - 1")
    for flag in ("--data", "--out", "--resume", "--init-from"):
        value = getattr(
            args, "resume_weights" if flag == "--init-from" else flag[2:], None
        )
        if value == "":
            # (an unset shell variable: it would be taken as no flag at all)
            p.error(f"{flag}: the path is empty")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", local_rank)
        if (
            getattr(torch.backends, "mps", None) is not None
            and torch.backends.mps.is_available()
        ):
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise TrainingError(
            f"unknown device {name!r}: use auto, cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) is not None
        and torch.backends.mps.is_available()
    ):
        raise TrainingError("--device mps was asked for, but MPS is not available")
    if device.type not in ("cpu", "cuda", "mps"):
        raise TrainingError(
            f"device {name!r} is not supported: use auto, cpu, cuda, cuda:N or mps"
        )
    if device.type == "cuda" and not torch.cuda.is_available():
        raise TrainingError("--device cuda was asked for, but CUDA is not available")
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def setup_distributed() -> tuple[int, int, int]:
    """(rank, world size, local rank); starts the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend)
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def holds_run(folder: Path) -> bool:
    return any(
        (folder / name).exists() for name in ("metrics.csv", "last.pt", "config.json")
    )


# The files that hold what a run produced (config.json only describes the run): a run
# that fails before it writes one of them leaves its folder as it found it.
RESULT_FILES = (
    "metrics.csv",
    "last.pt",
    "best.pt",
    "interrupted.pt",
    "test_metrics.json",
    "curves.png",
)


def results_in(
    folder: Path, names: tuple[str, ...] = RESULT_FILES
) -> dict[str, tuple[int, int, int]]:
    """The result files of a run folder, each with what tells a rewritten file (inode,
    time and size: every file is replaced by a new one when written)."""
    found = {}
    for name in names:
        try:
            st = (folder / name).stat()
        except OSError:
            continue
        found[name] = (st.st_ino, st.st_mtime_ns, st.st_size)
    return found


def missing_folders(path: Path) -> list[Path]:
    """`path` and the folders above it that do not exist yet, deepest first: what
    creating it adds."""
    try:
        path = path.absolute()
        return [p for p in (path, *path.parents) if not p.exists()]
    except (OSError, ValueError):
        return []


def remove_empty(folders: list[Path]) -> None:
    """Remove `folders` (deepest first) while they are empty: a folder that holds
    anything stays, and so do the folders above it."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def unreadable_file(path: str, what: str) -> str | None:
    """Why `path` cannot be read as `what`, a regular file (None when it can): a folder,
    or a pipe or a device (reading one would wait for a writer, forever)."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        return f"cannot read the {what} {path}: {reason}"
    if stat.S_ISDIR(mode):
        return f"the {what} {path} is a folder, not a file"
    if not stat.S_ISREG(mode):
        return f"the {what} {path} is not a regular file (a device, a pipe or a socket)"
    return None


class FolderAsFound:
    """A run folder as a run found it, to leave it so when nothing comes of the run (a
    failure before it writes a result: an unreadable image in the first epoch).

    `kept`: the files the run writes before any result (config.json), restored as they
    were (or removed); `results`: the files that hold what a run produced, left alone
    once the run has written one of them.  (The Lightning train.py keeps metrics.csv,
    which Lightning's CSVLogger removes when a fit starts, and its result files.)
    """

    def __init__(
        self,
        folder: Path,
        kept: tuple[str, ...] = ("config.json",),
        results: tuple[str, ...] = RESULT_FILES,
    ) -> None:
        self.folder, self.names = folder, results
        self.folders = missing_folders(folder)
        self.results = results_in(folder, results)
        self.kept = {
            name: (folder / name).read_bytes() if (folder / name).is_file() else None
            for name in kept
        }

    def restore(self) -> None:
        """The folder as found, unless the run wrote a result (a result file removed
        is none written): the kept files restored or removed, the folders it created
        removed."""
        now = results_in(self.folder, self.names)
        if any(self.results.get(name) != st for name, st in now.items()):
            return
        try:
            for name, data in self.kept.items():
                path = self.folder / name
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    write_atomic(path, lambda fh, data=data: fh.write(data))
        except (OSError, TrainingError):
            return  # (the error that stopped the run is the one to report)
        remove_empty(self.folders)


def load_data(path: str, device: torch.device, dataset=None) -> dict:
    why = unreadable_file(path, "data file")
    if why:
        raise TrainingError(why)
    if path.endswith(".json"):
        # files read while training (see "streaming data"), by the script's Dataset
        return load_stream(path, dataset)
    try:
        raw = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        reason = "it is not an .npz archive" if "pickle" in str(exc) else exc
        raise TrainingError(f"cannot read the data file {path}: {reason}") from None
    data: dict = {
        k: torch.from_numpy(raw[k]).to(device)
        for k in raw.files
        if k.endswith(("_x", "_y"))
        or (k.rstrip("0123456789").endswith(("_x", "_y")) and k[-1].isdigit())
    }
    if "class_names" in raw.files:
        data["class_names"] = [str(c) for c in raw["class_names"]]
    if "norm_mean" in raw.files and "norm_std" in raw.files:
        data["normalization"] = {
            "mean": raw["norm_mean"].tolist(),
            "std": raw["norm_std"].tolist(),
        }
    # the spec, model, inputs and preprocessing of the run (nndsl wrote them)
    if "about" in raw.files:
        try:
            data["about"] = json.loads(str(raw["about"]))
        except ValueError:
            data["about"] = None
    if "train_x" not in data or "train_y" not in data:
        raise TrainingError(f"{path} has no train_x / train_y arrays")
    group_arrays(data, raw)
    return data


def group_arrays(data: dict, raw) -> None:
    """Several inputs or targets ("train_x1", "val_y1", ... beside "train_x"): a
    split's inputs become one tuple (x0, x1, ...), called as `model(*x)`, and its
    targets another."""
    for split in ("train", "val", "test"):
        for role in ("x", "y"):
            key, more = f"{split}_{role}", []
            while f"{key}{len(more) + 1}" in data:
                more.append(data.pop(f"{key}{len(more) + 1}"))
            if more and key in data:
                data[key] = (data[key], *more)
    i = 1
    while f"norm_mean{i}" in raw.files and f"norm_std{i}" in raw.files:
        data.setdefault("more_normalization", []).append(
            {"mean": raw[f"norm_mean{i}"].tolist(), "std": raw[f"norm_std{i}"].tolist()}
        )
        i += 1


def rows(a, index):
    """The rows `index` (indices or a slice) of a tensor, or of each of a tuple."""
    return tuple(t[index] for t in a) if isinstance(a, tuple) else a[index]


def samples(a) -> int:
    """The number of samples of a tensor, or of a tuple of them (several inputs)."""
    return int(first_output(a).shape[0])


# ---- streaming data (data.json) ------------------------------------------------------
# A data set too large to hold (an image folder of many files) is read from the user's
# files while training: a Dataset decodes one image when a batch needs it, DataLoader
# worker processes do it in parallel, and each process takes its share of an epoch's
# shuffled samples (DistributedSampler under torchrun).  data.json says where the files
# are and how to read them; nndsl wrote it (nndsl/data/streaming.py).

STREAM_FORMAT = "nndsl-stream-1"
# what a DataLoader worker's error message starts with: a worker raises a RuntimeError
# (a class every process can unpickle), `Run.read` turns it back into a TrainingError
DATA_ERROR = "training data: "
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def list_images(folder: Path, classes: list[str]) -> tuple[list[str], list[int]]:
    """The images of a folder with one subfolder per class: names relative to `folder`
    (classes in order, files sorted by name) and their class indices."""
    files: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        if not (folder / name).is_dir():
            continue
        found = sorted(
            f.name
            for f in (folder / name).iterdir()
            if f.is_file()
            and not f.name.startswith(".")
            and f.suffix.lower() in IMAGE_SUFFIXES
        )
        files += [f"{name}/{f}" for f in found]
        labels += [label] * len(found)
    return files, labels


def file_names(files: list[str]) -> np.ndarray:
    """File names as one array of bytes (UTF-8; a name that is not keeps its bytes): no
    Python object per name to copy into each worker (ImageFiles decodes them back)."""
    return np.array([f.encode("utf-8", "surrogateescape") for f in files], dtype=bytes)


def listing_digest(files: list[str], labels: list[int]) -> str:
    import hashlib

    h = hashlib.sha256()
    for f, label in zip(files, labels):
        h.update(f"{label}\0{f}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def data_error(message: str) -> RuntimeError:
    """The error of a Dataset that cannot read a sample (the script's ImageFiles or
    CsvRows): a RuntimeError (a class every process can unpickle), which `Run.read`
    turns back into a TrainingError with this message only."""
    return RuntimeError(DATA_ERROR + message)


def eight_bit(image: Any, picture: Any) -> Any:
    """A picture of more than 8 bits a pixel as 8-bit grayscale, read as its values
    mean (Pillow's `convert` would clip them at 255: a white image): 16-bit integers
    (mode "I;16", a 16-bit PNG or TIFF; or "I" holding 0..65535, as Pillow opens some
    16-bit files) keep their high byte; 32-bit floats (mode "F") in [0, 1] are scaled
    to 0..255.  Other values are refused (a ValueError: their range is unknown).  Any
    other picture as it is.  nndsl decodes images loaded whole with this same code."""
    if not picture.mode.startswith(("I", "F")):
        return picture
    pixels = np.asarray(picture)
    if picture.mode == "F":
        if pixels.size and not (np.nanmin(pixels) >= 0 and np.nanmax(pixels) <= 1):
            raise ValueError(
                f"its 32-bit float pixels go from {np.nanmin(pixels):g} to "
                f"{np.nanmax(pixels):g}; they are read as intensities in [0, 1] "
                "(convert it to 8 or 16 bits, or to floats in [0, 1])"
            )
        if np.isnan(pixels).any():
            raise ValueError("some of its 32-bit float pixels are not a number (NaN)")
        return image.fromarray(np.rint(pixels * 255).astype(np.uint8))
    if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
        raise ValueError(
            f"its 32-bit integer pixels go from {pixels.min()} to {pixels.max()}; "
            "they are read as 16-bit values, 0..65535 (convert it to 8 or 16 bits)"
        )
    return image.fromarray((pixels.astype(np.uint32) >> 8).astype(np.uint8))


def collate_readable(items: list):
    """A batch of the items that could be read (see ImageFiles: skip_bad)."""
    kept = [item for item in items if item is not None]
    if not kept:
        raise RuntimeError(
            f"{DATA_ERROR}no image of a batch could be read (see the warnings)"
        )
    return torch.utils.data.default_collate(kept)


class EpochSampler(torch.utils.data.DistributedSampler):
    """This process's share of an epoch's shuffled training samples: a permutation from
    the seed and the epoch (`set_epoch`), every world-th sample of it for each process,
    starting at `skip` (an epoch resumed after Ctrl-C).  It yields (sample, epoch)
    pairs: the transforms of a sample draw from both."""

    def __init__(self, dataset, world: int, rank: int, seed: int):
        super().__init__(
            dataset,
            num_replicas=world,
            rank=rank,
            shuffle=True,
            seed=seed,
            drop_last=True,
        )
        self.skip = 0

    def __iter__(self):
        # DistributedSampler's order and share, held as one tensor (8 bytes a sample)
        # rather than as its lists of Python ints
        generator = torch.Generator()
        generator.manual_seed(self.seed + self.epoch)
        order = torch.randperm(len(self.dataset), generator=generator)
        mine = order[: self.total_size][self.rank :: self.num_replicas]
        for start in range(self.skip, len(mine), 4096):
            for index in mine[start : start + 4096].tolist():
                yield (index, self.epoch)

    def __len__(self) -> int:
        return self.num_samples - self.skip


class EvalBatches(torch.utils.data.Sampler):
    """The batches of a split that a process evaluates, in order: every world-th."""

    def __init__(self, n: int, batch: int, world: int, rank: int):
        self.n, self.batch, self.world, self.rank = n, batch, world, rank

    def __iter__(self):
        for step in range(self.rank, math.ceil(self.n / self.batch), self.world):
            end = min((step + 1) * self.batch, self.n)
            yield [(i, 0) for i in range(step * self.batch, end)]

    def __len__(self) -> int:
        return len(range(self.rank, math.ceil(self.n / self.batch), self.world))


def whole(value, low: int = 0) -> bool:
    """Whether `value` is a whole number (not a bool) of at least `low`."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def finite(value) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def list_of(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(map(test, value))


def numbers_of(keys: tuple[str, ...]) -> Callable[[Any], bool]:
    """A test of a dict holding a whole number (0 or more) under each of `keys`."""
    return lambda value: isinstance(value, dict) and all(
        whole(value.get(k)) for k in keys
    )


def size_pair(value) -> bool:
    return (
        isinstance(value, list) and len(value) == 2 and all(whole(v, 1) for v in value)
    )


def statistics(value) -> bool:
    """None, or {"mean": [...], "std": [...]}: as many numbers, each std above 0."""
    if value is None:
        return True
    if not isinstance(value, dict):
        return False
    mean, std = value.get("mean"), value.get("std")
    return (
        list_of(finite)(mean)
        and list_of(lambda v: finite(v) and v > 0)(std)
        and len(mean) == len(std) > 0
    )


def one_of(*choices) -> Callable[[Any], bool]:
    return lambda value: value in choices and type(value) in map(type, choices)


# The entries of a data.json (nndsl writes them: nndsl/data/streaming.py) and what each
# must be, by source; `stream_meta_problem` checks them all when the file is loaded, so
# that a file edited by hand is refused at once, never in the middle of training.
STREAM_ENTRIES: dict[str, dict[str, tuple[Callable[[Any], bool], str]]] = {
    "any": {
        "workers": (whole, "a number of processes (0 or more)"),
        "class_names": (list_of(lambda v: isinstance(v, str)), "a list of names"),
        "float_targets": (one_of(True, False), "true or false"),
        "split": (numbers_of(("seed", "val", "test")), '{"seed", "val", "test"}'),
        "samples": (numbers_of(("train", "val", "test")), '{"train", "val", "test"}'),
        "normalization": (statistics, 'null or {"mean", "std"} (lists of numbers)'),
        "transforms": (list_of(lambda v: isinstance(v, dict)), "a list of transforms"),
        "about": (lambda v: v is None or isinstance(v, dict), "null or an object"),
    },
    "image_folder": {
        "root": (lambda v: isinstance(v, str), "a path"),
        "layout": (one_of("classes", "splits"), '"classes" or "splits"'),
        "listing": (
            lambda v: isinstance(v, dict)
            and set(v) <= {"", "train", "val", "test"}
            and all(
                isinstance(e, dict)
                and whole(e.get("count"))
                and isinstance(e.get("digest"), str)
                for e in v.values()
            ),
            'the folders\' {"count", "digest"}',
        ),
        "num_classes": (lambda v: whole(v, 1), "a number of classes (1 or more)"),
        "mode": (one_of("L", "RGB"), '"L" or "RGB"'),
        "size": (lambda v: v is None or size_pair(v), "null or [height, width]"),
        "image_size": (size_pair, "[height, width]"),
        "skip_bad": (one_of(True, False), "true or false"),
    },
    "csv": {
        "path": (lambda v: isinstance(v, str), "a path"),
        "bytes": (whole, "a size in bytes"),
        "rows": (whole, "a number of rows"),
        "delimiter": (
            lambda v: isinstance(v, str) and len(v) == 1 and v not in '\r\n"',
            "one character",
        ),
        "header": (one_of(True, False), "true or false"),
        "columns": (lambda v: whole(v, 1), "a number of columns (1 or more)"),
        "features": (
            lambda v: list_of(whole)(v) and len(v) > 0,
            "a list of column indices",
        ),
        "feature_names": (list_of(lambda v: isinstance(v, str)), "a list of names"),
        "target": (whole, "a column index"),
        "task": (one_of("classification", "regression"), "a task"),
        "label_kind": (
            one_of(None, "int", "float", "str"),
            'null, "int", "float", "str"',
        ),
        "num_classes": (
            lambda v: v is None or whole(v, 1),
            "null or a number of classes",
        ),
    },
}


def stream_meta_problem(meta: dict, dataset=None) -> str | None:
    """What is wrong with the entries of a data.json (one edited by hand: an entry
    missing, of another type, out of range, or at odds with another or with the script's
    `dataset` class), or None."""
    source = meta.get("source")
    if source not in ("image_folder", "csv"):
        return f'its "source" is {json.dumps(source)}, not "image_folder" or "csv"'
    for key, (test, what) in {
        **STREAM_ENTRIES["any"],
        **STREAM_ENTRIES[source],
    }.items():
        if key not in meta and key != "about":
            return f'it has no "{key}" entry'
        if key in meta and not test(meta[key]):
            shown = json.dumps(meta[key])
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            return f'its "{key}" is {shown}, not {what}'
    split, norm = meta["split"], meta["normalization"]
    if source == "csv":
        total, channels = meta["rows"], len(meta["features"])
        if max([*meta["features"], meta["target"]]) >= meta["columns"]:
            return 'its "features" or "target" name a column past "columns"'
        if meta["target"] in meta["features"]:
            return 'its "target" is one of its "features"'
        classes = meta["class_names"]
        if meta["task"] == "classification" and not (meta["label_kind"] and classes):
            return 'its classification "task" has no "label_kind" or "class_names"'
        regression = meta["task"] == "regression"
        if meta["num_classes"] != (None if regression else len(classes)):
            return 'its "num_classes" does not fit its "task" and "class_names"'
    else:
        key = "" if meta["layout"] == "classes" else "train"
        if key not in meta["listing"]:
            return f'its "listing" has no {json.dumps(key)} folder for its "layout"'
        total = meta["listing"][key]["count"]
        channels = 1 if meta["mode"] == "L" else 3
        if meta["num_classes"] != len(meta["class_names"]):
            return 'its "num_classes" is not the number of its "class_names"'
    if split["val"] + split["test"] > total:
        return 'its "split" takes more samples than there are'
    if norm is not None and len(norm["mean"]) != channels:
        return f'its "normalization" has {len(norm["mean"])} values, not {channels}'
    if norm is None and getattr(dataset, "standardises", False):
        return 'its "normalization" is null, but the script standardises with it'
    return None


def load_stream(path: str, dataset) -> dict:
    """The splits of a streaming data set (data.json): a `dataset` per split (the
    script's ImageFiles, made as ImageFiles(folder, names, labels, data, train))."""
    try:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainingError(f"cannot read the data file {path}: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != STREAM_FORMAT:
        raise TrainingError(f"{path} is not a data file written by nndsl")
    problem = stream_meta_problem(meta, dataset)
    if problem is not None:
        raise TrainingError(
            f"{path} is not the data file nndsl wrote (edited?): {problem}; "
            "run nndsl generate again"
        )
    try:
        if meta.get("source") == "csv":
            data = load_csv_stream(meta, Path(path).resolve().parent, dataset)
        else:
            data = load_image_stream(meta, Path(path).resolve().parent, dataset)
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # (a data.json edited by hand: an entry missing or of another type)
        raise TrainingError(
            f"{path} is not the data file nndsl wrote (edited?): "
            f"{type(exc).__name__}: {exc}; run nndsl generate again"
        ) from None
    data["about"] = meta.get("about")  # the run's facts (nndsl wrote them)
    return data


def load_image_stream(meta: dict, base: Path, dataset) -> dict:
    """The splits of a streaming image folder: a `dataset` per split (the script's
    ImageFiles), the folder listed again and checked against data.json's listing."""
    root = Path(os.path.normpath(base / meta["root"]))
    classes = list(meta["class_names"])
    parts: dict[str, tuple[Path, list[str], list[int]]] = {}
    for key, expected in meta["listing"].items():
        folder = root / key if key else root
        try:
            files, labels = list_images(folder, classes)
        except OSError as exc:
            raise TrainingError(f"cannot list the images of {folder}: {exc}") from None
        if len(files) != expected["count"] or (
            listing_digest(files, labels) != expected["digest"]
        ):
            raise TrainingError(
                f"the images of {folder} changed since nndsl prepared the data "
                f"({len(files)} files now, {expected['count']} then): "
                "run nndsl generate again"
            )
        parts[key] = (folder, files, labels)
    split: dict[str, tuple[Path, np.ndarray]] = {}
    if meta["layout"] == "classes":
        folder, files, labels = parts[""]
        order = np.random.default_rng(meta["split"]["seed"]).permutation(len(files))
        n_test, n_val = meta["split"]["test"], meta["split"]["val"]
        cuts = {
            "test": order[:n_test],
            "val": order[n_test : n_test + n_val],
            "train": order[n_test + n_val :],
        }
        names, targets = file_names(files), np.array(labels, dtype=np.int64)
        for key, idx in cuts.items():
            if len(idx):
                split[key] = (folder, names[idx], targets[idx])
    else:
        for key, (folder, files, labels) in parts.items():
            if files:
                split[key] = (
                    folder,
                    file_names(files),
                    np.array(labels, dtype=np.int64),
                )
    data: dict = {
        "stream": meta,
        "workers": int(meta["workers"]),
        "class_names": classes,
        "normalization": meta.get("normalization"),
    }
    for key, (folder, names, targets) in split.items():
        data[key] = dataset(folder, names, targets, meta, train=key == "train")
    return data


def line_offsets(path: Path, skip_header: bool, rows: int) -> np.ndarray | None:
    """The byte offset of each data row of a CSV file (one row per line; blank lines,
    which hold only spaces, tabs and their line break, and the header left out), found
    in one pass over 1 MiB blocks into one int64 array of the `rows` nndsl found (8
    bytes a row, nothing else grows with the file); None when the file holds another
    number of rows."""
    found = np.empty(rows + int(skip_header), np.int64)
    count = 0
    line_start = at = 0  # where the current line starts; where the block starts
    solid = False  # whether the current line holds more than blanks so far
    with open(path, "rb") as fh:
        while True:
            data = fh.read(1 << 20)
            if not data:
                break
            if at == 0 and data.startswith(b"\xef\xbb\xbf"):
                data = b"   " + data[3:]  # a BOM: blank (the offsets stay)
            block = np.frombuffer(data, dtype=np.uint8)
            ends = np.flatnonzero(block == 10)
            if len(ends):
                # the lines that end in the block: the first may start in an earlier one
                rows_here = np.empty(len(ends), dtype=bool)
                rows_here[0] = solid or bool(data[: ends[0]].strip(BLANKS))
                starts = ends[:-1] + 1
                # a line that starts with a blank byte (or is empty) may be blank: look
                first = block[np.minimum(starts, len(block) - 1)]
                maybe = (starts == ends[1:]) | np.isin(first, BLANK_BYTES)
                rows_here[1:] = ~maybe
                for i in np.flatnonzero(maybe).tolist():
                    rows_here[i + 1] = bool(data[starts[i] : ends[i + 1]].strip(BLANKS))
                keep = np.empty(len(ends), np.int64)
                keep[0], keep[1:] = line_start, starts + at
                keep = keep[rows_here]
                if count + len(keep) > len(found):
                    return None
                found[count : count + len(keep)] = keep
                count += len(keep)
                line_start = int(ends[-1]) + 1 + at
                solid = bool(data[int(ends[-1]) + 1 :].strip(BLANKS))
            else:
                solid = solid or bool(data.strip(BLANKS))
            at += len(block)
    if solid:  # a last line without a line break
        if count == len(found):
            return None
        found[count] = line_start
        count += 1
    if count != len(found):
        return None
    return found[1:] if skip_header else found


#: The bytes a blank line of a CSV file holds besides its \n: spaces, tabs, \r.
BLANKS = b" \t\r"
BLANK_BYTES = np.frombuffer(BLANKS, dtype=np.uint8)


def row_fields(path: Path, at: int, delimiter: str) -> int | None:
    """The number of fields of the CSV row at byte `at` of `path` (None: not a row)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(at)
            line = fh.readline(1 << 24).decode("utf-8", "replace")
        line = line.removeprefix("\ufeff")
        return len(next(csv.reader([line.rstrip("\r\n")], delimiter=delimiter)))
    except (OSError, ValueError, StopIteration, csv.Error):
        return None


def load_csv_stream(meta: dict, base: Path, dataset) -> dict:
    """The splits of a streaming CSV file: a `dataset` per split (the script's CsvRows,
    made as CsvRows(path, offsets, data, train)), each a part of one array of the rows'
    offsets, shuffled in place by the in-memory path's permutation (sources.prepare)."""
    path = Path(os.path.normpath(base / meta["path"]))
    try:
        size = path.stat().st_size
        offsets = (
            line_offsets(path, meta["header"], meta["rows"])
            if size == meta["bytes"]
            else None
        )
    except OSError as exc:
        raise TrainingError(f"cannot read {path}: {exc}") from None
    if offsets is not None and len(offsets):
        # its rows have the fields nndsl found (data.json's delimiter and columns)
        fields = row_fields(path, int(offsets[0]), meta["delimiter"])
        offsets = offsets if fields == meta["columns"] else None
    if offsets is None:
        raise TrainingError(
            f"{path} changed since nndsl prepared the data: run nndsl generate again"
        )
    # offsets[permutation(n)], without an array of n indices: the same swaps in place
    np.random.default_rng(meta["split"]["seed"]).shuffle(offsets)
    n_test, n_val = meta["split"]["test"], meta["split"]["val"]
    cuts = {
        "test": offsets[:n_test],
        "val": offsets[n_test : n_test + n_val],
        "train": offsets[n_test + n_val :],
    }
    data: dict = {
        "stream": meta,
        "workers": int(meta["workers"]),
        "class_names": list(meta["class_names"]) or None,
        "normalization": meta.get("normalization"),
    }
    for key, part in cuts.items():
        if len(part):
            data[key] = dataset(path, part, meta, train=key == "train")
    return data


def stream_error(exc: RuntimeError) -> TrainingError | None:
    """The TrainingError of a data error raised while reading a batch (in a DataLoader
    worker: its message only, the worker's traceback stays out); None for another error.
    """
    for line in reversed(str(exc).strip().splitlines()):
        line = line.removeprefix("RuntimeError: ")
        if line.startswith(DATA_ERROR):
            return TrainingError(line[len(DATA_ERROR) :])
    return None


def lower_is_better(name: str) -> bool:
    return name.split("_", 1)[-1] in LOWER_IS_BETTER


def improved(
    value: float, best: float | None, mode: str, min_delta: float = 0.0
) -> bool:
    if best is None:
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def mode_of(monitor: str, mode: str = "auto") -> str:
    if mode != "auto":
        return mode
    return "min" if lower_is_better(monitor) else "max"


class Meter:
    """Sums of an epoch's losses and metric statistics.

    They live on the device in tensors updated in place: a step allocates
    nothing and never waits for a device-to-host copy.  Counts are Python ints.
    """

    def __init__(
        self,
        metrics: list[str],
        task: dict | None,
        device: torch.device,
        steps: int,
        outputs: list[dict] | None = None,
    ):
        self.stats = MetricSums(metrics, task)
        # metrics of named outputs (`accuracy(digit)`): sums per output and target
        self.outputs = output_sums(outputs or [])
        self.device = device
        # each step's mean loss: the epoch's loss, and a NaN step, come from it
        self.step_loss = torch.zeros(max(steps, 1), dtype=torch.float64, device=device)
        self.step_size = [0] * max(steps, 1)
        self.n = 0
        self.steps = steps
        self.first_step = 0  # where a resumed epoch started
        # values a loss block logs (`log rec, kl`): their sums weighted by batch size
        self.logged: dict[str, torch.Tensor] = {}

    def update(
        self,
        step: int,
        loss: torch.Tensor,
        out,
        y: torch.Tensor,
        logged: dict[str, torch.Tensor] | None = None,
    ) -> None:
        """Add a batch: its mean loss, its outputs (the first, for several) and
        targets, and the values the loss logs."""
        n = samples(y)
        self.step_loss[step] = loss.detach()
        self.step_size[step] = n
        self.n += n
        self.stats.update(first_output(out).detach(), first_output(y))
        for stats, o, t, _ in self.outputs:
            stats.update(pick(out, o).detach(), pick(y, t))
        for name, value in (logged or {}).items():
            value = value.detach().to(torch.float64) * n
            total = self.logged.get(name)
            if total is None:
                self.logged[name] = value.clone()
            else:
                total.add_(value)

    def check_finite(self, epoch: int) -> None:
        """A TrainingError if a loss of this epoch was NaN or infinite (on any
        process)."""
        check_finite(self, self.first_step, self.steps, epoch)

    def first_bad_step(self, start: int, end: int) -> int | None:
        """The first step in [start, end) with a non-finite loss, on any process."""
        bad = ~torch.isfinite(self.step_loss[start:end])
        flag = torch.tensor([int(bad.any())], device=self.device)
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(flag)
        if not int(flag):
            return None
        where = bad.nonzero()
        return start + int(where[0]) if len(where) else start

    def totals(self) -> dict[str, torch.Tensor]:
        sizes = torch.tensor(self.step_size, dtype=torch.float64, device=self.device)
        out = {"loss": (self.step_loss * sizes).sum()}
        out.update(self.stats.sums)
        out.update({"logged_" + k: v for k, v in self.logged.items()})
        for g, (stats, *_) in enumerate(self.outputs):
            out.update({f"out{g}:{k}": v for k, v in stats.sums.items()})
            for key, value in stats.counts.items():
                out[f"out{g}:{key}"] = torch.tensor(
                    float(value), dtype=torch.float64, device=self.device
                )
        for key, value in {"n": self.n, **self.stats.counts}.items():
            out[key] = torch.tensor(
                float(value), dtype=torch.float64, device=self.device
            )
        if dist.is_available() and dist.is_initialized():
            agree_on_keys(out, self.device)
            for key in sorted(out):
                dist.all_reduce(out[key])
        return {k: v.cpu() for k, v in out.items()}

    def values(self, prefix: str) -> dict[str, float]:
        s = self.totals()
        out = {
            f"{prefix}loss": float(s["loss"] / s["n"]) if float(s["n"]) else math.nan
        }
        out.update(self.stats.values(s, prefix))
        for g, (stats, _, _, suffix) in enumerate(self.outputs):
            part = {
                k.split(":", 1)[1]: v for k, v in s.items() if k.startswith(f"out{g}:")
            }
            part["n"] = s["n"]
            out.update({k + suffix: v for k, v in stats.values(part, prefix).items()})
        for key in self.logged:
            out[prefix + key] = (
                float(s["logged_" + key] / s["n"]) if float(s["n"]) else math.nan
            )
        return out

    def state(self) -> dict:
        return {
            "step_loss": self.step_loss.cpu(),
            "step_size": list(self.step_size),
            "sums": {k: v.cpu() for k, v in self.stats.sums.items()},
            "counts": {"n": self.n, **self.stats.counts},
            "logged": {k: v.cpu() for k, v in self.logged.items()},
            "outputs": [
                {
                    "sums": {k: v.cpu() for k, v in g.sums.items()},
                    "counts": dict(g.counts),
                }
                for g, *_ in self.outputs
            ],
        }

    def load(self, state: dict) -> None:
        self.step_loss = state["step_loss"].to(self.device)
        self.step_size = list(state["step_size"])
        self.stats.sums = {k: v.to(self.device) for k, v in state["sums"].items()}
        self.logged = {k: v.to(self.device) for k, v in state.get("logged", {}).items()}
        counts = dict(state["counts"])
        self.n = counts.pop("n")
        self.stats.counts = counts
        for (stats, *_), saved in zip(self.outputs, state.get("outputs", [])):
            stats.sums = {k: v.to(self.device) for k, v in saved["sums"].items()}
            stats.counts = dict(saved["counts"])


def agree_on_keys(sums: dict[str, torch.Tensor], device: torch.device) -> None:
    """Give `sums` every key another process has (zeros of its shape), so that all
    processes add up the same tensors in the same order.

    The sums of metrics start at a process's first batch: one that got no batch of a
    split (a validation set of fewer batches than processes) has none of them.
    """
    shapes = {key: tuple(value.shape) for key, value in sums.items()}
    every: list = [None] * dist.get_world_size()
    dist.all_gather_object(every, shapes)
    for theirs in every:
        for key, shape in theirs.items():
            if key not in sums:
                sums[key] = torch.zeros(shape, dtype=torch.float64, device=device)


def output_sums(outputs: list[dict]) -> list[tuple]:
    """(MetricSums, output index, target index, column suffix) per named output and
    target that `metrics` measures (`accuracy(digit)`: {"metric": "accuracy",
    "output": 0, "target": 0, "name": "digit", "task": {...}}); the columns end in
    `_digit`."""
    groups: dict[tuple, tuple] = {}
    for m in outputs:
        key = (m["output"], m["target"], m["name"])
        if key not in groups:
            groups[key] = ([], m["task"])
        groups[key][0].append(m["metric"])
    return [
        (MetricSums(names, task), o, t, "_" + name)
        for (o, t, name), (names, task) in groups.items()
    ]


def pick(values, index: int):
    """One of several outputs or targets (a tuple); a single one is index 0."""
    return values[index] if isinstance(values, (tuple, list)) else values


class MetricSums:
    """The sums an epoch's metrics come from, for a task {"kind": ..., "decision": ...}.

    Predictions are the argmax of class scores, or a logit above 0 / a probability
    above 0.5 for yes/no outputs; they are counted per pixel for segmentation and per
    label for multi-label outputs.  The sums are device tensors updated in place.
    """

    def __init__(self, metrics: list[str], task: dict | None):
        self.metrics = metrics
        self.kind = task["kind"] if task else None
        self.decision = task["decision"] if task else None
        self.topk = [
            (m, int(m[3:])) for m in metrics if m.startswith("top") and m[3:].isdigit()
        ]
        self.classify = bool(metrics) and self.kind in (
            "multiclass",
            "binary",
            "multilabel",
        )
        self.regress = bool(metrics) and self.kind in ("regression", "reconstruction")
        self.scores = any(m in ("f1", "precision", "recall") for m in metrics)
        self.sums: dict[str, torch.Tensor] = {}
        self.counts = {"count": 0, "elems": 0}

    def add(self, key: str, value: torch.Tensor) -> None:
        total = self.sums.get(key)
        if total is None:
            self.sums[key] = value.detach().to(torch.float64).clone()
        else:
            total.add_(value.detach())

    def update(self, out: torch.Tensor, y: torch.Tensor) -> None:
        if self.classify:
            self.classified(out, y)
        if self.regress:
            n = y.shape[0]
            target = (
                y.reshape(out.shape)
                if y.shape != out.shape and y.numel() == out.numel()
                else y
            )
            diff = out.to(torch.float64) - target.to(torch.float64)
            self.add("abs", diff.abs().sum())
            self.add("sq", (diff * diff).sum())
            self.counts["elems"] += diff.numel()
            if "r2" in self.metrics:  # per output: sums of y, y^2 and squared errors
                t = target.to(torch.float64).reshape(n, -1)
                self.add("y", t.sum(0))
                self.add("y2", (t * t).sum(0))
                self.add("res", (diff * diff).reshape(n, -1).sum(0))

    def classified(self, out: torch.Tensor, y: torch.Tensor) -> None:
        if self.decision == "argmax":
            pred = out.argmax(1)
            for m, k in self.topk:
                hit = (
                    out.topk(min(k, out.shape[1]), dim=1).indices == y.unsqueeze(1)
                ).any(1)
                self.add(m, hit.sum())
        else:
            threshold = 0.0 if self.decision == "logit" else 0.5
            pred = (out > threshold).long()
            y = (
                y.reshape(out.shape)
                if y.shape != out.shape and y.numel() == out.numel()
                else y
            ).long()
        self.add("correct", (pred == y).sum())
        self.counts["count"] += y.numel()
        if not self.scores:
            return
        if self.kind == "multiclass":
            c = out.shape[1]
            idx = y.reshape(-1) * c + pred.reshape(-1)
            self.add("confusion", torch.bincount(idx, minlength=c * c).reshape(c, c))
        else:  # binary: the positive class (1); multi-label: each label (last dim)
            labels = y.shape[-1] if self.kind == "multilabel" else 1
            p, t = pred.reshape(-1, labels), y.reshape(-1, labels)
            self.add("tp", (p * t).sum(0))
            self.add("fp", (p * (1 - t)).sum(0))
            self.add("fn", ((1 - p) * t).sum(0))

    def values(self, s: dict[str, torch.Tensor], prefix: str) -> dict[str, float]:
        """The metrics from the summed statistics `s` (of every process)."""
        scores = classification_scores(s) if self.scores and self.classify else {}
        out = {}
        for m in self.metrics:
            value = math.nan
            if m == "accuracy" and "correct" in s:
                value = float(s["correct"] / s["count"])
            elif m.startswith("top") and m in s:
                value = float(s[m] / s["count"])
            elif m in ("mae", "mse", "rmse") and "abs" in s:
                mse = float(s["sq"] / s["elems"])
                value = {
                    "mae": float(s["abs"] / s["elems"]),
                    "mse": mse,
                    "rmse": math.sqrt(mse),
                }[m]
            elif m == "r2" and "res" in s:
                value = r2_score(s)
            elif m in scores:
                value = scores[m]
            out[f"{prefix}{m}"] = value
        return out


def classification_scores(s: dict[str, torch.Tensor]) -> dict[str, float]:
    """Precision, recall and F1.

    Multi-class: the mean over the classes that occur (as target or prediction)
    of each class's score; binary: of the positive class; multi-label: the mean
    over labels.  A score with nothing to count (no positive prediction, for
    precision) is 0.
    """
    if "confusion" in s:
        cm = s["confusion"]
        tp, predicted, actual = cm.diag(), cm.sum(0), cm.sum(1)
        present = (predicted + actual) > 0
        tp, fp, fn = (
            tp[present],
            (predicted - cm.diag())[present],
            (actual - cm.diag())[present],
        )
    elif "tp" in s:
        tp, fp, fn = s["tp"], s["fp"], s["fn"]
    else:
        return {}

    def ratio(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.where(b > 0, a / b.clamp(min=1), torch.zeros_like(a))

    return {
        "precision": float(ratio(tp, tp + fp).mean()),
        "recall": float(ratio(tp, tp + fn).mean()),
        "f1": float(ratio(2 * tp, 2 * tp + fp + fn).mean()),
    }


def r2_score(s: dict[str, torch.Tensor]) -> float:
    """The coefficient of determination of each output, averaged over the outputs.

    An output whose targets do not vary scores 1 when predicted exactly, else 0.
    """
    total = s["y2"] - s["y"] * s["y"] / s["n"]
    res = s["res"]
    r2 = torch.where(
        total > 0, 1 - res / total.clamp(min=1e-300), (res == 0).to(res.dtype)
    )
    return float(r2.mean())


def compute_loss(criterion: nn.Module, out, y: torch.Tensor) -> torch.Tensor:
    if isinstance(out, (tuple, list)):
        out = out[0]
    if isinstance(criterion, (nn.CrossEntropyLoss, nn.NLLLoss, nn.MultiMarginLoss)):
        return criterion(out, y)
    if not torch.is_floating_point(y):
        y = y.to(out.dtype)
    if y.shape != out.shape and y.numel() == out.numel():
        y = y.reshape(out.shape)
    return criterion(out, y)


def first_output(out):
    return out[0] if isinstance(out, (tuple, list)) else out


def save_checkpoint(
    path: Path,
    model: nn.Module,
    optimizer,
    scheduler,
    scaler,
    state: dict,
    config: dict,
    about: dict | None = None,
) -> None:
    """Write atomically: a crash while writing never leaves a broken checkpoint.

    `about` makes the checkpoint self-describing: the spec (text, sha256, path), the
    model, inputs, preprocessing, class names and task, so that it can be used without
    its run folder.
    """
    payload = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "state": state,
        "rng": {
            "python": random.getstate(),
            "numpy": numpy_rng_state(),
            "torch": torch.get_rng_state(),
            "cuda": (
                torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
            ),
        },
        "config": config,
        "about": about,
    }
    write_atomic(path, lambda fh: torch.save(payload, fh))


def write_atomic(path: Path, write) -> None:
    """Replace `path` with what `write(binary file)` writes, atomically.

    The data goes to a fresh temporary file in the same folder (a unique name, created
    exclusively: no existing file or symbolic link is ever opened), which then replaces
    `path`.  A failure (read-only folder, full disk) removes the temporary file and
    becomes a TrainingError.
    """
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
        tmp = None
    except (OSError, RuntimeError) as exc:
        # (torch.save reports a failed write as a RuntimeError)
        reason = (
            exc.strerror
            if isinstance(exc, OSError) and exc.strerror
            else first_line(exc)
        )
        raise TrainingError(f"cannot write {path}: {reason}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def numpy_rng_state() -> tuple:
    """numpy's RNG state as plain values (checkpoints load with `weights_only=True`)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return (kind, keys.tolist(), pos, has_gauss, cached)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def load_checkpoint(
    path: str, model: nn.Module, optimizer, scheduler, scaler, config: dict
) -> dict:
    """Restore what `save_checkpoint` wrote; a bad file is a TrainingError, not a crash.

    `weights_only=True`: a checkpoint holds tensors and plain values only, so loading
    one cannot run code from the file.
    """
    if not os.path.exists(path):
        raise TrainingError(f"no checkpoint at {path}")
    why = unreadable_file(path, "checkpoint")
    if why:
        raise TrainingError(why)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as exc:
        raise TrainingError(
            f"cannot read the checkpoint {path}: {exc.strerror}"
        ) from None
    except Exception:  # torch.load raises many types for a damaged or foreign file
        raise TrainingError(
            f"cannot read the checkpoint {path}: the file is damaged (cut short?) "
            "or is not a checkpoint of this training script"
        ) from None
    keys = ("model", "optimizer", "state", "rng")
    if not isinstance(payload, dict) or any(k not in payload for k in keys):
        raise TrainingError(
            f"{path} is not a checkpoint of this training script "
            "(use last.pt, best.pt or interrupted.pt of a run)"
        )
    check_fits(path, payload, model, optimizer, config)
    try:
        model.load_state_dict(payload["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise TrainingError(
            f"the checkpoint {path} does not fit this model: {first_line(exc)}"
        ) from None
    try:
        optimizer.load_state_dict(payload["optimizer"])
        if scheduler is not None and payload.get("scheduler") is not None:
            scheduler.load_state_dict(payload["scheduler"])
        if scaler is not None and payload.get("scaler") is not None:
            scaler.load_state_dict(payload["scaler"])
        rng = payload["rng"]
        random.setstate(rng["python"])
        kind, keys, *rest = rng["numpy"]
        np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        state = dict(payload["state"])
        _ = state["epoch"], state["history"]
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise TrainingError(
            f"the checkpoint {path} does not fit this training script "
            f"(optimizer, scheduler or state): {first_line(exc)}"
        ) from None
    problem = checkpoint_state_problem(state)
    if problem is not None:
        raise TrainingError(f"the checkpoint {path} is damaged: {problem}")
    return state


def check_fits(
    path: str, payload: dict, model: nn.Module, optimizer, config: dict | None = None
) -> None:
    """A checkpoint of another model or optimizer: a message saying what differs."""
    saved, here = payload.get("model"), model.state_dict()
    if isinstance(saved, dict):
        missing = [k for k in here if k not in saved]
        unexpected = [k for k in saved if k not in here]
        shapes = [
            f"{k} is {list(saved[k].shape)} there, {list(v.shape)} here"
            for k, v in here.items()
            if k in saved
            and hasattr(saved[k], "shape")
            and tuple(saved[k].shape) != tuple(v.shape)
        ]
        problems = []
        for what, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
                problems.append(f"{what} keys {', '.join(keys[:3])}{more}")
        if shapes:
            more = f" and {len(shapes) - 2} more" if len(shapes) > 2 else ""
            problems.append("; ".join(shapes[:2]) + more)
        if problems:
            raise TrainingError(
                f"the checkpoint {path} does not fit this model: " + "; ".join(problems)
            )
    if optimizer is None:
        return
    groups = (
        payload.get("optimizer", {}).get("param_groups")
        if isinstance(payload.get("optimizer"), dict)
        else None
    )
    current = optimizer.state_dict()["param_groups"]
    if isinstance(groups, list) and groups and isinstance(groups[0], dict):
        ignore = {"params", "initial_lr", "lr"}
        theirs = set(groups[0]) - ignore
        ours = set(current[0]) - ignore
        if theirs != ours or len(groups) != len(current):
            name = (payload.get("config") or {}).get("optimizer") or "another optimizer"
            raise TrainingError(
                f"the checkpoint {path} was trained with {name}, not "
                f"{(config or {}).get('optimizer')}: its optimizer state does not fit; "
                "to start "
                f"from its weights with a fresh optimizer, use --init-from {path}"
            )


def load_weights(path: str, model: nn.Module) -> None:
    """--init-from: the model's weights of a checkpoint (or of a state_dict)."""
    if not os.path.exists(path):
        raise TrainingError(f"no checkpoint at {path}")
    why = unreadable_file(path, "checkpoint")
    if why:
        raise TrainingError(why)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch.load raises many types for a damaged or foreign file
        raise TrainingError(
            f"cannot read the checkpoint {path}: damaged, or not a checkpoint"
        ) from None
    weights = payload.get("model", payload) if isinstance(payload, dict) else None
    if not isinstance(weights, dict):
        raise TrainingError(f"{path} holds no model weights")
    check_fits(path, {"model": weights}, model, None, None)
    try:
        model.load_state_dict(weights)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise TrainingError(
            f"the checkpoint {path} does not fit this model: {first_line(exc)}"
        ) from None


def read_weights(path: str) -> dict:
    """The tensors of a weights file: a state_dict (torchvision's `resnet18.pth`), a
    checkpoint of a run (its model) or a Lightning checkpoint (its `state_dict`)."""
    if not os.path.isfile(path):
        raise TrainingError(f"no weights file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch.load raises many types for a damaged or foreign file
        raise TrainingError(
            f"cannot read the weights file {path}: damaged, or not saved by torch.save"
        ) from None
    if isinstance(payload, dict) and isinstance(payload.get("model"), dict):
        payload = payload["model"]
    elif isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        payload = payload["state_dict"]
        if payload and all(k.startswith("model.") for k in payload):
            payload = {k[len("model.") :]: v for k, v in payload.items()}
    if not isinstance(payload, dict):
        raise TrainingError(f"{path} holds no weights (no state_dict)")
    weights = {
        k: v for k, v in payload.items() if isinstance(k, str) and torch.is_tensor(v)
    }
    if not weights:
        raise TrainingError(f"{path} holds no weights (no tensors)")
    return weights


def weights_problem(
    path: str, weights: dict, model: nn.Module, strict: bool
) -> str | None:
    """Why `weights` cannot initialise `model` (None: they can): a tensor whose shape
    differs (always), missing or unexpected keys (with `strict`), no key in common."""
    here = model.state_dict()
    shapes = [
        f"`{k}` is {list(weights[k].shape)} in the file, {list(v.shape)} in the model"
        for k, v in here.items()
        if k in weights and tuple(weights[k].shape) != tuple(v.shape)
    ]
    if shapes:
        more = f" (and {len(shapes) - 1} more)" if len(shapes) > 1 else ""
        return f"the weights of {path} do not fit the model: {shapes[0]}{more}"
    missing = [k for k in here if k not in weights]
    unexpected = [k for k in weights if k not in here]
    if len(missing) == len(here):
        shown = ", ".join(list(weights)[:3])
        return (
            f"no tensor of {path} belongs to the model: the file has {shown}, ...; the "
            f"model {', '.join(list(here)[:3])}, ..."
        )
    if strict and (missing or unexpected):
        parts = []
        for what, keys in (("missing", missing), ("unexpected", unexpected)):
            if keys:
                more = f" and {len(keys) - 3} more" if len(keys) > 3 else ""
                parts.append(f"{what} keys {', '.join(keys[:3])}{more}")
        return (
            f"the weights of {path} do not match the model: {'; '.join(parts)} "
            "(strict=false loads the rest)"
        )
    return None


def load_init_weights(path: str, model: nn.Module, strict: bool) -> str:
    """`init = weights(path, strict=...)`: load the tensors into the model; returns the
    report (what was loaded, what is missing from the file, what was left out of it)."""
    weights = read_weights(path)
    problem = weights_problem(path, weights, model, strict)
    if problem is not None:
        raise TrainingError(problem)
    result = model.load_state_dict(weights, strict=False)
    loaded = len(model.state_dict()) - len(result.missing_keys)
    lines = [f"init: {loaded} tensors from {path}"]
    for what, keys in (
        ("missing from the file (kept as initialised)", result.missing_keys),
        ("in the file but not in the model (ignored)", result.unexpected_keys),
    ):
        if keys:
            more = f" and {len(keys) - 8} more" if len(keys) > 8 else ""
            lines.append(f"  {what}: {', '.join(keys[:8])}{more}")
    return "\n".join(lines)


def covers(prefix: str, name: str) -> bool:
    """Whether a state_dict prefix (`layer1`) names `name` (`layer1.0.conv1.weight`)."""
    return name == prefix or name.startswith(prefix + ".")


def freeze(model: nn.Module, prefixes: list[str]) -> None:
    """`freeze`: the parameters under these prefixes are not trained."""
    for name, parameter in model.named_parameters():
        if any(covers(p, name) for p in prefixes):
            parameter.requires_grad_(False)


def keep_frozen_norms(net: nn.Module, prefixes: list[str]) -> None:
    """After `net.train()`: the frozen BatchNorms stay in eval mode, so that their
    running statistics do not change either."""
    model = net.module if isinstance(net, DistributedDataParallel) else net
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and any(
            covers(p, name) for p in prefixes
        ):
            module.eval()


def parameter_groups(model: nn.Module, lr_for: dict[str, float] | None = None) -> list:
    """What the optimizer trains: the parameters not frozen; with `lr_for`, torch
    parameter groups: the parameters under each prefix with its learning rate, the
    others (first) with the optimizer's."""
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not lr_for:
        return [p for _, p in trainable]
    groups: dict[str, list] = {prefix: [] for prefix in lr_for}
    rest = []
    for name, parameter in trainable:
        owner = max((q for q in lr_for if covers(q, name)), key=len, default=None)
        (rest if owner is None else groups[owner]).append(parameter)
    head = [{"params": rest}] if rest else []
    return head + [
        {"params": ps, "lr": lr_for[prefix]} for prefix, ps in groups.items() if ps
    ]


def checkpoint_state_problem(state: dict) -> str | None:
    """What is wrong with a checkpoint's training state (None: it is sound).

    Every field is checked before use: `epoch` counts the finished epochs, one row of
    `history` each, so a hand-edited epoch cannot skip or repeat training.
    """

    def count(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    history = state.get("history")
    if not isinstance(history, list) or not all(
        isinstance(row, dict) for row in history
    ):
        return "`history` is not a list of per-epoch rows"
    for i, row in enumerate(history):
        if row.get("epoch") != i + 1 or not all(
            isinstance(k, str) and number(v) for k, v in row.items()
        ):
            return f"row {i + 1} of `history` is not the metrics of epoch {i + 1}"
    epoch = state.get("epoch")
    if not count(epoch) or epoch != len(history):
        return f"`epoch` is {epoch!r}, but the history holds {len(history)} epochs"
    for key in ("step", "bad_epochs"):
        if key in state and not count(state[key]):
            return f"`{key}` is {state[key]!r}, not a count"
    for key in ("best", "stop_best"):
        if state.get(key) is not None and not number(state[key]):
            return f"`{key}` is {state[key]!r}, not a number"
    partial = state.get("partial")
    if partial is not None:
        meter = partial.get("meter") if isinstance(partial, dict) else None
        if not isinstance(meter, dict) or not count(partial.get("step")):
            return "`partial` (the interrupted epoch) is malformed"
        sizes, sums, counts = (
            meter.get("step_size"),
            meter.get("sums"),
            meter.get("counts"),
        )
        if (
            not isinstance(meter.get("step_loss"), torch.Tensor)
            or not isinstance(sizes, list)
            or not all(count(n) for n in sizes)
            or not isinstance(sums, dict)
            or not all(isinstance(v, torch.Tensor) for v in sums.values())
            or not isinstance(counts, dict)
            or not all(count(n) for n in counts.values())
            or partial["step"] > len(sizes)
        ):
            return "`partial` (the interrupted epoch) is malformed"
    return None


class Interrupt:
    """Ctrl-C during training.

    The first Ctrl-C asks training to stop after the current optimizer step, where
    everything (weights, optimizer, scheduler, random state and the epoch's partial
    metrics) is consistent: it is saved to interrupted.pt, and `--resume` with it
    continues exactly as if nothing had happened.  A second Ctrl-C stops at once.
    """

    def __init__(self, world: int) -> None:
        self.world = world
        self.asked = False
        self.checks = 0
        self.installed = False
        self.previous = None

    def __enter__(self) -> Interrupt:
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self.handler)
            self.installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self.installed:
            signal.signal(
                signal.SIGINT,
                (
                    self.previous
                    if self.previous is not None
                    else signal.default_int_handler
                ),
            )

    def handler(self, signum, frame) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True
        print(
            "\nstopping after this step (press Ctrl-C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

    def requested(self, device: torch.device, force: bool = False) -> bool:
        """Whether to stop here.  Under torchrun every process must stop at the same
        step, so they agree every 16th check (and whenever `force` is given)."""
        if self.world == 1:
            return self.asked
        self.checks += 1
        if not force and self.checks % 16:
            return False
        flag = torch.tensor([float(self.asked)], device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag.item())


def check_finite(meter: Meter, start: int, end: int, epoch: int) -> None:
    """Stop, naming epoch and step, if a loss of steps [start, end) was NaN or
    infinite (on any process)."""
    bad = meter.first_bad_step(start, end)
    if bad is None:
        return
    raise TrainingError(
        f"the loss became NaN or infinite in epoch {epoch + 1}, step {bad + 1}; try a "
        "lower learning rate or gradient clipping (clip_grad_norm)"
    )


# curves.png is drawn with numpy and written by zlib: no matplotlib, whose import alone
# costs a run about a second of CPU.

CURVE_COLORS = {"train": (0.122, 0.467, 0.706), "val": (1.0, 0.498, 0.055)}
CURVE_PANEL = (450, 350)  # one chart per metric: its width and height in pixels
INK = (0.1, 0.1, 0.1)  # text, frame and ticks

# The labels' glyphs: printable ASCII of DejaVu Sans at 13 px, 16 levels of coverage
# (written by tools/gen_curve_font.py in nndsl's repository, which gives the layout).
CURVE_FONT = (
    "c-rlle{2)i9l*bLKKt%`{&AS_D<t@W5ba3X7<JR8L6bw8sJ24vZmK#Fewc~BSV&CONrRAJSwm|{pk`=W"
    ")if-m?NlhE=?atEAUnVk0uvb|KpM2t7$+%UC&6*jb|vKYeRp<Z2*1|yM>p|wdA@t^d+&Yk^S(dc%M>#Q"
    "BCngqGc$QUk7si@(?ZVp9iF!Ex(vKHHj}i|BB!6K);5mIA!2xOIm!D}O>Sr#x$qVB;tW}w`MVrHk7wtR"
    "ntvQ6dBYqIZ@9;J+R8Fko}0_F**yOQwvee=JE^&OI2y}KJU1U-<jhZznv=*NsFmJE)Z_D5E|X_6IaX3t"
    "%2sud#+AgcU>OU~&LN*8Jf$irB^B0B<Jj4pK0|%9bHV~r<HgSA4eD25&F8_R@~C|4%d*4&M<3Iix}oCg"
    "&z>f%Os-U)$^CGq*~EJ$&Aj}76q$JxKp0Cs85-_@QGXVa7+av_8(<W!6_*{?ZmrKg-vDo$WLOGNdJc>("
    "U@p~z@Uw2SO#5-(>nZIV+`wL5xeiRQOI$EekAoz5Me)G0m^`Q`Qs%%1kU6mT_L=l;$APXLJA}7e-4Ief"
    "2HnBf#*lK+At=glNVx$&9PG;Vf~m?YRC%c*v%LTzHxx#P!Q{~eM_qyvlVQ<d3xvj+fj$_Ot%{=Dbc1Dm"
    "9l(bbU>F9w+zRa3{rKp_zNh65fCAvZ&=gpI2aKE_9@rZ1)wfzIruL;_Y`2KH1NHRfB3J=n+4u|yKd<Be"
    ";M-j{f$>SGSl9^6br6;;_HVN_0+c6sR7clm!@33z<m`ce*gjHanLnz^?#3!JrxsTErmRGnt|kaTf!pbu"
    "x-9^Yj|d1XfU;la%&$pd%zB@+9%+I%qA|qi^iBUv@XiXOOsO|Ol{w7y8E9Smz>FBzg@H~KO2$@jiUo3k"
    "BiqfQkx{42^2-EcWvT0~PR&0gj3rPE+s82;BJ2Cn3okGYmMN%-T}DeQ_86LqyTl2Mo8SWEOAL8r&j73e"
    "x?RO65S6H2(mOW+g^zWffggP0BX8(-c1rkDp=-zb&%iWA5S!rd0u^6v5~G=nk;Le`2x@Bw)fe62HhEBV"
    "O|F+3K^gr}0IV*%gAA-;bYB3j$>O%GgeqX$JAt`efW5|}W_cN6)JK?}q~@WUp4Q-Tn009v6}%9qYNJv}"
    "@#glIWmWad#Hp!wvr4M^zkkW!8a#&%waZi$a}deapld_a@t$&8rsE|*53Pb%r2@JaY79+~KM#FL#khIG"
    "8Vz;7hVx4Str2}11pI7am0RC^3&z7#0xT{Sqp=R?{a|`7!4Gzc)-C9ChHj|JsiqO*Go5F*T$SNZxH4Y&"
    "Npvmfdjxs;wGXl}Tx=rN_|t@j(V44Z%y&#+40<(;n+$J7w}nkFqNw$kh>^&Aj@Brd-%P`}1^<k7Pg}$j"
    "06{d;>Q3z2A(>^11O<q+NJ^@%JKwgXQhYaOov=4AZv5-aCS3kgwtr@I%;+W<v;3x#j#*c2y{8veLgU;<"
    "Q_qYrk!*9&37yyE#^@HeJGchBblSZcispx@2(BEkN2&dYaf3FCl`NtA5Ny~dLgl#?v#*KUS39hd*{$#M"
    "?QYO;5PJ*LL#Vxqu~afB$6zyZg~fIDjv1H1<b~NvJ34j91^mCoajVb#5<eyzdNUGc@d?NlL&{gokcKgT"
    "k)p&y%7|0aD>rZ!f^op1VVsloqo}vl^b(4i%h9QwsA^{jm!Ga3b&X@pcdQl--J68xP>(WnJu{|XLj=sS"
    "(Tz@>Ue>pQ`4>1?zR1M$C5Z5TIu6b(4>g1sTRXv2;$h<O&Iz#39fHCvFI*s!CxDI+rzRMUezVK8wy*AQ"
    "z+IBzb?61yAeLQ5jKWt7`hC+qxO60FC#dp|5!TsPGB*zCdzOQMPMu0IdL<6}hH+~|Re`Ftoh2BVxZMkV"
    "P$<EvDV5TKfvqx7#2U5o<Jej#hdlZWbj*RRisBAHZvA9yWNsv_@wJGC(fAi8>MhFCtPxX8(i#uoo70C?"
    "j2>c%{twaB4zs`S2Kwq{GzL`H=|YV9hFdVM92{){;Wwyx5zukWLL<DN>4y9)7Z8kXM-ih-*A1^VgLU3@"
    "ur78(fJkD{EI#SbFf!dmBKP+D;US=Ipw82}F@^wj5;3lJ{A%i+YpUfu$>2gRwM*!DhYY_<KoN$WIxP;T"
    "oEld+6&ou_fXe@#YNt%x?8T+20TnXlE;1g*Mq<T2Ej9vLBQyLCv}1G(p!-jbjpG=-I~{5(^95owzLAWL"
    "s*FA!fH@@EcM^;kknJ)PLCl?DT~`B`{52{@`ZE-ksc<?*YDC<UZjB;IF{(9c7+VgA6ByI2k>n+P7%{qZ"
    "aX7yZn5&)>XFxdU24RaANFXjpjOEGLh^DiG^}}0BOGRvbCDU_c;o=d{;f5!Pkz|w_G}>gQ<}h@=N$<g~"
    "gmK~G21Cb;FlHFIIHgQ_DWj9c6qBB*p&CeRJmO}sJ%ZNQG$~U{GsiKqJ*n2Hmmc%1@lCrz8Zc9@_5@Io"
    "+$EYd>U(Wynx8bO8|eWLREyajf-&1qFv8(<jP$VXUnDj*=BzWRv2ki$GB#=$oB5*?7^Oy=8XJjZGcZ0w"
    "+~_s#&5c79y5N9grynXZBA_3X=<~N_YNYjB%q)ur4gu8;7#nAO+TxT`+i%23%(4cvAMP6s7|-mAa(yM)"
    "H&O|v4U<r1%z+sO-*1N8emC3Yzjaek4NSXg&e*;$q+FBI_Klw-Fx)p@T$I8HrNtOuG>q`7hY60l2}XE!"
    "a0KB}eM~UsCK#cFD1aMLSmTBF983i8!WqiY30BFtt4Me1%F*i9w!f21O_NN$Bj&;{%I)8p!U#L^CNSdG"
    "*Hj&oi6mNMMa-r9^jNSZ4*9rbL5vwVPlX6kU{jfT`)!+`rFT0Fnu%+^{J@6@X;RaM7wHo5{%@K*ckiRF"
    "JoqU_#yxJq{pE_ZpO(pbxYCY|cP_ojA#nR0xHrbzO2;=ip6P0DKF9&RP`*c}Q~oawgXTqJ_mg^l>Pc;V"
    "dcFom66RD7!^7aQZ`oPcc;#V_NTZAU@6wmqze_VH|JT4cHom6CkN$`CP|JS+7OTIL"
)


class CurveFont:
    """CURVE_FONT decoded: per character its coverage (rows of the line height,
    values in [0, 1]), its offset from the pen and its advance, in pixels."""

    def __init__(self) -> None:
        data = zlib.decompress(base64.b85decode("".join(CURVE_FONT)))
        self.height = data[0]
        count = 127 - 32
        meta = np.frombuffer(data, np.uint8, count * 3, 2).reshape(count, 3)
        packed = np.frombuffer(data, np.uint8, offset=2 + count * 3)
        packed = packed.reshape(self.height, -1)
        strip = np.empty((self.height, packed.shape[1] * 2), np.float32)
        strip[:, 0::2] = packed >> 4
        strip[:, 1::2] = packed & 15
        strip /= 15
        self.glyphs: dict[str, tuple[np.ndarray, int, float]] = {}
        start = 0
        for code, (left, width, advance) in enumerate(meta.tolist(), 32):
            glyph = strip[:, start : start + width]
            self.glyphs[chr(code)] = (glyph, left - 8, advance / 4)
            start += width

    def glyph(self, char: str) -> tuple[np.ndarray, int, float]:
        return self.glyphs.get(char) or self.glyphs["?"]

    def width(self, text: str) -> float:
        return sum(self.glyph(char)[2] for char in text)


class Canvas:
    """An RGB picture (values in [0, 1], white at first) that shapes are blended onto by
    their coverage: anti-aliased lines, discs and text."""

    def __init__(self, width: int, height: int) -> None:
        self.pixels = np.ones((height, width, 3), np.float32)
        self.font = CurveFont()

    def blend(self, top: int, left: int, cover: np.ndarray, color, alpha=1.0) -> None:
        """`color` over the pixels from (top, left), as much as `cover` (clipped)."""
        height, width = self.pixels.shape[:2]
        y0, x0 = max(top, 0), max(left, 0)
        y1 = min(top + cover.shape[0], height)
        x1 = min(left + cover.shape[1], width)
        if y1 <= y0 or x1 <= x0:
            return
        cover = cover[y0 - top : y1 - top, x0 - left : x1 - left]
        rows, cols = np.nonzero(cover)  # (lines cover a few pixels of their area)
        a = cover[rows, cols, None] * np.float32(alpha)
        ink = np.asarray(color, np.float32)
        area = self.pixels[y0:y1, x0:x1]
        area[rows, cols] = area[rows, cols] * (1 - a) + a * ink

    def fill(self, x0: int, y0: int, x1: int, y1: int, color, alpha=1.0) -> None:
        """The pixels of columns [x0, x1) and rows [y0, y1)."""
        cover = np.ones((max(y1 - y0, 0), max(x1 - x0, 0)), np.float32)
        self.blend(y0, x0, cover, color, alpha)

    def frame(self, x0: int, y0: int, x1: int, y1: int, color) -> None:
        """A one-pixel outline just inside columns [x0, x1) and rows [y0, y1)."""
        self.fill(x0, y0, x1, y0 + 1, color)
        self.fill(x0, y1 - 1, x1, y1, color)
        self.fill(x0, y0 + 1, x0 + 1, y1 - 1, color)
        self.fill(x1 - 1, y0 + 1, x1, y1 - 1, color)

    def text(self, x: float, top: int, text: str, align: str = "left") -> None:
        """`text` from row `top` down; x is where it starts, its centre or its end."""
        x -= {"left": 0.0, "center": 0.5, "right": 1.0}[align] * self.font.width(text)
        for char in text:
            glyph, offset, advance = self.font.glyph(char)
            self.blend(top, round(x) + offset, glyph, INK)
            x += advance

    def png(self) -> bytes:
        """The picture as a PNG file (8-bit RGB, no filter, zlib level 1: a tenth of
        level 6's time for a file a third larger)."""
        height, width = self.pixels.shape[:2]
        rows = np.zeros((height, 1 + 3 * width), np.uint8)  # each row: filter 0, pixels
        rows[:, 1:] = (self.pixels.reshape(height, -1) * 255 + 0.5).astype(np.uint8)

        def chunk(kind: bytes, body: bytes) -> bytes:
            crc = zlib.crc32(kind + body).to_bytes(4, "big")
            return len(body).to_bytes(4, "big") + kind + body + crc

        header = (
            width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\0\0\0"
        )
        return (
            b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 1))
            + chunk(b"IEND", b"")
        )


def _cover(shape, boxes, reach: float, inside) -> np.ndarray:
    """The coverage in [0, 1] of shapes in an area of `shape` (rows, columns), each
    within `reach` of a box (x0, y0, x1, y1): `inside(box, px, py)` is how far (in
    pixels) the pixel centres px, py are inside the shape."""
    cover = np.zeros(shape, np.float32)
    height, width = shape
    for box in boxes:
        x0, y0, x1, y1 = box
        left = max(math.floor(min(x0, x1) - reach), 0)
        right = min(math.ceil(max(x0, x1) + reach) + 1, width)
        top = max(math.floor(min(y0, y1) - reach), 0)
        bottom = min(math.ceil(max(y0, y1) + reach) + 1, height)
        if right <= left or bottom <= top:
            continue
        px = np.arange(left, right, dtype=np.float32)[None, :] + 0.5
        py = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5
        here = cover[top:bottom, left:right]
        np.maximum(here, np.clip(inside(box, px, py) + 0.5, 0, 1), out=here)
    return cover


def line_cover(shape, points: list[tuple[float, float]], width: float) -> np.ndarray:
    """A polyline through `points` (x, y from the area's top left corner, in pixels),
    `width` pixels wide; a point with a NaN breaks it."""
    segments = [
        (*a, *b)
        for a, b in zip(points, points[1:])
        if not any(math.isnan(v) for v in (*a, *b))
    ]

    def inside(box, px, py):
        x0, y0, x1, y1 = box
        dx, dy = x1 - x0, y1 - y0
        length = dx * dx + dy * dy
        t = np.clip(((px - x0) * dx + (py - y0) * dy) / length, 0, 1) if length else 0
        return width / 2 - np.hypot(px - x0 - t * dx, py - y0 - t * dy)

    return _cover(shape, segments, width / 2 + 1, inside)


def disc_cover(shape, points: list[tuple[float, float]], radius: float) -> np.ndarray:
    """Discs of `radius` pixels at `points` (those without a NaN)."""
    centres = [(x, y, x, y) for x, y in points if not (math.isnan(x) or math.isnan(y))]

    def inside(box, px, py):
        return radius - np.hypot(px - box[0], py - box[1])

    return _cover(shape, centres, radius + 1, inside)


def axis_range(values: list[float], margin: float = 0.05) -> tuple[float, float]:
    """The span of the finite values, widened by `margin` of it on each side (a single
    value: by 5% of itself, or by 0.5 for zero)."""
    finite = [v for v in values if math.isfinite(v) and abs(v) <= 1e30]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    pad = (high - low) * margin if high > low else abs(low) * 0.05 or 0.5
    return low - pad, high + pad


def nice_ticks(
    low: float, high: float, most: int, integer: bool = False
) -> tuple[list[float], float]:
    """Round values in [low, high] at a step of 1, 2, 2.5 or 5 times a power of ten
    (at least 1 and never 2.5 for `integer`), the smallest step giving at most `most`;
    and the step."""
    raw = (high - low) / max(most - 1, 1)
    power = 10.0 ** math.floor(math.log10(raw))
    factors = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(power * f for f in factors if power * f >= raw * (1 - 1e-9))
    if integer:
        step = max(round(step), 1)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [k * step for k in range(first, last + 1)], step


def tick_label(value: float, step: float) -> str:
    """A tick's value with as many decimals as its step needs."""
    if abs(value) >= 1e6 or step < 1e-4:  # 1e+07, 2.5e-05 written 1e7, 2.5e-5
        digits = math.ceil(math.log10(max(abs(value), step) / step)) + 1
        digits = min(max(digits, 2), 15)
        text = f"{value:.{digits}g}"
        return text.replace("e+0", "e").replace("e-0", "e-").replace("e+", "e")
    exponent = math.floor(math.log10(step) + 1e-9)
    decimals = max(0, -exponent)
    if round(step / 10.0**exponent, 6) == 2.5 and exponent <= 0:
        decimals += 1
    return f"{value:.{decimals}f}"


def curve_keys(history: list[dict]) -> list[str]:
    """The metrics of the history's train_ and val_ columns, in order."""
    return sorted(
        {
            k.split("_", 1)[1]
            for row in history
            for k in row
            if k.startswith(("train_", "val_"))
        }
    )


def plot_curves(history: list[dict], path: Path) -> bool:
    """curves.png: one chart per metric (loss first) of its train and val values per
    epoch, with ticks, a grid and a legend; whether there was anything to draw."""
    keys = curve_keys(history)
    if not history or not keys:
        return False
    keys.sort(key=lambda k: k != "loss")
    width, height = CURVE_PANEL
    canvas = Canvas(width * len(keys), height)
    epochs = [float(row["epoch"]) for row in history]
    for i, key in enumerate(keys):
        series = {
            prefix: [float(row.get(f"{prefix}_{key}", math.nan)) for row in history]
            for prefix in CURVE_COLORS
        }
        draw_chart(canvas, i * width, key, epochs, series)
    image = canvas.png()
    write_atomic(path, lambda fh: fh.write(image))
    return True


def draw_chart(
    canvas: Canvas,
    left: int,
    title: str,
    epochs: list[float],
    series: dict[str, list[float]],
) -> None:
    """One metric's chart in the panel whose left edge is `left`: the title, the
    epochs across, the values up, a line with dots per series that has a finite value,
    a legend."""
    width, height = CURVE_PANEL
    line = canvas.font.height
    top, bottom = 8 + line + 6, height - (8 + 2 * line + 8)
    shown = {
        name: values
        for name, values in series.items()
        if any(map(math.isfinite, values))
    }
    y_low, y_high = axis_range([v for values in shown.values() for v in values])
    y_ticks, y_step = nice_ticks(y_low, y_high, max(2, (bottom - top) // 35))
    y_labels = [tick_label(v, y_step) for v in y_ticks]
    label_width = max(canvas.font.width(s) for s in y_labels) if y_labels else 0
    x0, x1 = left + 10 + math.ceil(label_width) + 8, left + width - 14
    x_low, x_high = axis_range(epochs)
    x_ticks, x_step = nice_ticks(x_low, x_high, max(2, (x1 - x0) // 50), integer=True)

    def to_x(epoch: float) -> float:
        return x0 + (epoch - x_low) / (x_high - x_low) * (x1 - x0)

    def to_y(value: float) -> float:
        if not math.isfinite(value) or abs(value) > 1e30:
            return math.nan
        return bottom - (value - y_low) / (y_high - y_low) * (bottom - top)

    grid = (0.9, 0.9, 0.9)
    for value in x_ticks:
        x = round(to_x(value))
        canvas.fill(x, top, x + 1, bottom, grid)
        canvas.fill(x, bottom, x + 1, bottom + 4, INK)
        canvas.text(x + 0.5, bottom + 6, tick_label(value, x_step), "center")
    for value, label in zip(y_ticks, y_labels):
        y = round(to_y(value))
        canvas.fill(x0, y, x1, y + 1, grid)
        canvas.fill(x0 - 4, y, x0, y + 1, INK)
        canvas.text(x0 - 6, y - line // 2, label, "right")
    area = (bottom - top, x1 - x0)  # inside the frame
    covers = {}
    for name, values in shown.items():
        points = [(to_x(e) - x0, to_y(v) - top) for e, v in zip(epochs, values)]
        cover = np.maximum(line_cover(area, points, 1.5), disc_cover(area, points, 2.5))
        covers[name] = cover
        canvas.blend(top, x0, cover, CURVE_COLORS[name])
    canvas.frame(x0, top, x1 + 1, bottom + 1, INK)
    canvas.text((x0 + x1) / 2, 8, title, "center")
    canvas.text((x0 + x1) / 2, bottom + 8 + line, "epoch", "center")
    if covers:
        draw_legend(canvas, (x0, top, x1, bottom), covers)


def draw_legend(canvas: Canvas, frame, covers: dict[str, np.ndarray]) -> None:
    """A box naming each series by a sample of its line, where it hides the least of
    them (the first of: upper right, upper left, lower left, lower right, right, left).
    """
    x0, y0, x1, y1 = frame  # the covers' area
    line = canvas.font.height
    box_w = 8 + 24 + 6 + math.ceil(max(map(canvas.font.width, covers))) + 8
    box_h = 4 + len(covers) * (line + 2) + 2
    inset = 6
    places = [
        (x1 - inset - box_w, y0 + inset),
        (x0 + inset, y0 + inset),
        (x0 + inset, y1 - inset - box_h),
        (x1 - inset - box_w, y1 - inset - box_h),
        (x1 - inset - box_w, (y0 + y1 - box_h) // 2),
        (x0 + inset, (y0 + y1 - box_h) // 2),
    ]
    total = sum(covers.values())
    hidden = []  # how much of the lines each place would hide
    for x, y in places:
        top, left = max(y - y0, 0), max(x - x0, 0)
        hidden.append(float(total[top : y - y0 + box_h, left : x - x0 + box_w].sum()))
    x, y = places[hidden.index(min(hidden))]
    canvas.fill(x, y, x + box_w, y + box_h, (1.0, 1.0, 1.0), alpha=0.85)
    canvas.frame(x, y, x + box_w, y + box_h, (0.8, 0.8, 0.8))
    for i, name in enumerate(covers):
        top = 4 + i * (line + 2)
        mid = top + line / 2
        sample = line_cover((box_h, box_w), [(8.0, mid), (32.0, mid)], 1.5)
        dot = disc_cover((box_h, box_w), [(20.0, mid)], 2.5)
        canvas.blend(y, x, np.maximum(sample, dot), CURVE_COLORS[name])
        canvas.text(x + 38, y + top, name)


def progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)


def epoch_line(row: dict, epochs: int) -> str:
    parts = [f"epoch {row['epoch']:>{len(str(epochs))}}/{epochs}"]
    for key, value in row.items():
        if key not in ("epoch", "lr", "time"):
            parts.append(f"{key} {value:.4f}")
    parts.append(f"{row['time']:.2f}s")
    return "  ".join(parts)


def write_metrics(path: Path, history: list[dict]) -> None:
    keys = list(dict.fromkeys(k for row in history for k in row))
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=keys)
    writer.writeheader()
    writer.writerows(history)
    write_atomic(path, lambda fh: fh.write(text.getvalue().encode("utf-8")))


def report(
    history: list[dict],
    times: list[float],
    stopped: str,
    out_dir: Path,
    plotted: bool,
    keep_best: str | None,
) -> None:
    last = history[-1]
    keep = keep_best or ("val_loss" if "val_loss" in last else "train_loss")
    values = [row.get(keep, math.nan) for row in history]
    best = (min if lower_is_better(keep) else max)(values)
    best_epoch = history[values.index(best)]["epoch"]
    print(f"done after {last['epoch']} epochs" + (f" ({stopped})" if stopped else ""))
    print(f"best {keep} {best:.4f} at epoch {best_epoch}")
    if times:
        print(f"{sum(times) / len(times):.2f}s per epoch")
    files = (
        "metrics.csv, last.pt"
        + (", best.pt" if (out_dir / "best.pt").exists() else "")
        + (", curves.png" if plotted else "")
    )
    print(f"files in {out_dir}: {files}")


class EarlyStopping:
    """`early_stopping` of a train section: stop when `monitor` has not improved by
    more than
    `min_delta` in `patience` epochs.  Its counters live in the run's checkpointed
    state."""

    def __init__(
        self,
        state: dict,
        monitor: str,
        patience: int,
        mode: str = "auto",
        min_delta: float = 0.0,
    ):
        self.state = state
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = mode_of(monitor, mode)

    def __call__(self, row: dict[str, float]) -> str:
        """After an epoch: why to stop ("" to go on)."""
        value = row.get(self.monitor, math.nan)
        if improved(value, self.state["stop_best"], self.mode, self.min_delta):
            self.state["stop_best"], self.state["bad_epochs"] = value, 0
            return ""
        self.state["bad_epochs"] += 1
        if self.state["bad_epochs"] >= self.patience:
            what = f"no {self.monitor} improvement in {self.patience} epochs"
            return f"early stopping: {what}"
        return ""


class Run:
    """One training run of a generated script: flags, processes, device, data, run
    folder,
    checkpoints and the state that makes `--resume` exact.

        with Run(parse_args(argv), CONFIG) as run:
            ...  # build the model, optimizer; run.start(...); train epoch by epoch

    Entering joins the torchrun process group, seeds every
    generator, picks
    the device and loads the data (in this order, so that a run is repeatable);
    leaving waits
    for every process and leaves the process group.
    """

    def __init__(
        self,
        args: argparse.Namespace,
        config: dict,
        data_loader: Callable[..., Any] | None = None,
        dataset: Callable[..., Any] | None = None,
    ) -> None:
        self.config = config
        # streaming data: the script's Dataset class, and its DataLoader
        # (dataset, batches, run) -> DataLoader
        self.dataset, self.data_loader = dataset, data_loader
        self.args = args
        self.epochs = self.args.epochs
        self.batch = self.args.batch_size
        self.state: dict = {
            "epoch": 0,
            "step": 0,
            "history": [],
            "best": None,
            "stop_best": None,
            "bad_epochs": 0,
            "partial": None,
        }
        self.epoch_times: list[float] = []
        self.stopped = ""
        self.model: nn.Module | None = None
        self.optimizer = self.scheduler = self.scaler = None
        self.bar = None
        self.curves = True  # False: no curves.png will be asked for (an evaluation)
        # what `start` found in the run folder, to leave it so when nothing comes of
        # the run (see `undo_start`); None: the folder was not claimed
        self.found: FolderAsFound | None = None

    def __enter__(self) -> Run:
        self.rank, self.world, self.local_rank = setup_distributed()
        self.main_process = self.rank == 0
        seed_everything(self.args.seed)
        self.device = pick_device(self.args.device, self.local_rank)
        if self.args.data.endswith(".json") and self.dataset is None:
            raise TrainingError(
                f"{self.args.data} describes data read from its files while training, "
                "which this script was not generated for: generate it again"
            )
        self.data = load_data(self.args.data, self.device, self.dataset)
        self.stream = self.data.get("stream")  # None: the arrays are on the device
        self.loaders: dict = {}
        for split in ("train", "val", "test"):
            if self.stream is not None and split in self.data:
                self.data[split].seed = self.args.seed
        # (after what can fail here: a failed start leaves Ctrl-C as it was)
        self.interrupt = Interrupt(self.world).__enter__()
        self.n_train = self.count("train") // self.world
        self.batches = math.ceil(self.n_train / self.batch)
        accumulate = self.config.get("accumulate", 1)
        self.steps_per_epoch = max(1, math.ceil(self.batches / accumulate))
        self.show = self.main_process and not self.args.quiet and sys.stdout.isatty()
        self.out_dir = (
            Path(self.args.out)
            if self.args.out
            else Path("runs")
            / f"{self.config['model']}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
        return self

    def __exit__(self, kind, exc, tb) -> None:
        self.loaders.clear()  # streaming: the DataLoader workers end here
        if kind is not None:
            self.undo_start()
        try:
            self.interrupt.__exit__(kind, exc, tb)
            if kind is None and self.world > 1:
                dist.barrier()  # no process leaves while another still writes its files
        finally:
            if self.world > 1 and dist.is_initialized():
                # The DDP wrapper sits in a reference cycle: free it while its process
                # group lives, not at exit (where gloo's threads can abort the process).
                gc.collect()
                dist.destroy_process_group()

    # ---- set-up
    # ---------------------------------------------------------------------------

    def distributed(self, model: nn.Module) -> nn.Module:
        """The model as the training steps call it: wrapped in DDP under torchrun."""
        return DistributedDataParallel(model) if self.world > 1 else model

    def scheduler_for(
        self, build: Callable[..., Any], optimizer, per_batch: bool = False
    ):
        """`build(optimizer, epochs, steps_per_epoch)`; a scheduler that cannot serve
        this run
        (too few steps planned) is a TrainingError."""
        try:
            scheduler = build(optimizer, self.epochs, self.steps_per_epoch)
        except (ValueError, TypeError) as exc:
            raise TrainingError(
                f"the scheduler cannot be built for this run: {first_line(exc)}"
            ) from None
        planned = getattr(scheduler, "total_steps", None)
        steps = self.epochs * self.steps_per_epoch
        if per_batch and isinstance(planned, int) and planned < steps:
            raise TrainingError(
                f"the scheduler is set for {planned} steps, but {self.epochs} epochs "
                f"of {self.steps_per_epoch} steps make {steps}: set "
                f"total_steps={steps} (or leave "
                "it out: nndsl fills it in), or train fewer epochs"
            )
        return scheduler

    def start(self, model: nn.Module, optimizer, scheduler=None, scaler=None) -> None:
        """Resume (`--resume`, `--init-from`), claim the run folder, write
        config.json."""
        self.model, self.optimizer, self.scheduler, self.scaler = (
            model,
            optimizer,
            scheduler,
            scaler,
        )
        args = self.args
        if args.resume:
            self.state = load_checkpoint(
                args.resume, model, optimizer, scheduler, scaler, self.config
            )
            done = self.state["epoch"]
            if done >= self.epochs:
                raise TrainingError(
                    f"{args.resume} has already trained {done} epochs, and "
                    f"--epochs {self.epochs} asks for no more: nothing to do; "
                    f"continue with --epochs N (N > {done}), or start a new run "
                    f"from its weights with --init-from {args.resume}"
                )
        elif args.resume_weights:
            load_weights(args.resume_weights, model)
        if (
            self.main_process
            and not (args.resume or args.force)
            and holds_run(self.out_dir)
        ):
            raise TrainingError(
                f"{self.out_dir} holds another run; choose another --out, "
                "continue it with "
                f"--resume {self.out_dir / 'last.pt'}, or replace it with --force"
            )
        if not self.main_process:
            return
        data = self.data
        resolved = {
            **self.config,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "seed": args.seed,
            "device": str(self.device),
            "lr": args.lr,
            "resumed_from": args.resume or args.resume_weights,
            "samples": {
                k: self.count(k) for k in ("train", "val", "test") if self.count(k)
            },
            "class_names": data.get("class_names"),
            "normalization": data.get("normalization"),
            "flags": vars(args),
        }
        try:
            self.found = FolderAsFound(self.out_dir)
            self.out_dir.mkdir(parents=True, exist_ok=True)
            text = json.dumps(resolved, indent=2, default=str) + "\n"
            write_atomic(
                self.out_dir / "config.json", lambda fh: fh.write(text.encode("utf-8"))
            )
        except OSError as exc:
            raise TrainingError(
                f"cannot write the run folder {self.out_dir}: {exc}"
            ) from None

    def undo_start(self) -> None:
        """After a failure before the run wrote any result (an unreadable image in the
        first epoch): its folder as `start` found it, config.json restored (or removed)
        and the folders it created removed; a run that wrote a result keeps them."""
        found, self.found = self.found, None
        if found is not None:
            found.restore()

    def init_weights(self, model: nn.Module) -> None:
        """`init = weights(...)` of the train section: the weights to start from (not
        when resuming, nor with --init-from, which bring their own)."""
        if self.args.resume or self.args.resume_weights:
            return
        init = self.config["init"]
        text = load_init_weights(init["path"], model, init["strict"])
        if self.main_process:
            print(text, flush=True)

    # ---- epochs and batches
    # ---------------------------------------------------------------

    @property
    def epoch(self) -> int:
        """Epochs finished so far (0-based index of the next one)."""
        return self.state["epoch"]

    @property
    def history(self) -> list[dict]:
        return self.state["history"]

    def has(self, split: str) -> bool:
        """Whether the data holds a non-empty split ("val", "test")."""
        return self.count(split) > 0

    def count(self, split: str) -> int:
        """The samples of a split ("train", "val", "test"; 0 when there is none)."""
        if self.stream is not None:
            return len(self.data[split]) if split in self.data else 0
        x = self.data.get(f"{split}_x")
        return 0 if x is None else samples(x)

    def meter(self, split: str) -> Meter:
        """Sums of the loss and metrics over this process's batches of a split."""
        steps = self.batches if split == "train" else len(self.eval_steps(split))
        return Meter(
            list(self.config["metrics"]),
            self.config["task"],
            self.device,
            steps,
            self.config.get("output_metrics"),
        )

    def train_batches(
        self, meter: Meter
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """(step, inputs, targets) of this epoch's shuffled training batches: a
        permutation
        from the seed and the epoch (the same on every process; each takes its
        share).  After
        an interrupted epoch is resumed it starts at the step where it stopped."""
        if self.stream is not None:
            yield from self.stream_train_batches(meter)
            return
        x, y = self.data["train_x"], self.data["train_y"]
        generator = torch.Generator().manual_seed(
            self.args.seed * 1_000_003 + self.epoch
        )
        n = self.n_train
        perm = torch.randperm(samples(x), generator=generator)[
            self.rank * n : (self.rank + 1) * n
        ].to(self.device)
        partial = self.state.get("partial")
        if partial is not None:
            meter.first_step = partial["step"]
            meter.load(partial["meter"])
            self.state["partial"] = None
        self.bar = progress(
            self.batches, self.show, f"epoch {self.epoch + 1}/{self.epochs}"
        )
        try:
            for step in range(meter.first_step, self.batches):
                idx = perm[step * self.batch : (step + 1) * self.batch]
                yield step, rows(x, idx), rows(y, idx)
                if self.bar is not None:
                    self.bar.update(1)
        finally:
            self.close_bar()
        meter.check_finite(self.epoch)

    def eval_steps(self, split: str) -> range:
        """The batches of a split this process evaluates: every world-th."""
        return range(self.rank, math.ceil(self.count(split) / self.batch), self.world)

    def eval_batches(
        self, model: nn.Module, split: str
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        """(i, inputs, targets) of this process's batches of a split, in order.

        Under torchrun each process takes every world-th batch and the sums are added
        up;
        the buffers (batch-norm statistics) are rank 0's first, so the numbers are
        those of
        the model rank 0 saves.
        """
        if self.world > 1:
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)
        if self.stream is not None:
            yield from self.stream_eval_batches(split)
            return
        xs, ys = self.data[f"{split}_x"], self.data[f"{split}_y"]
        b = self.batch
        for i, step in enumerate(self.eval_steps(split)):
            part = slice(step * b, (step + 1) * b)
            yield i, rows(xs, part), rows(ys, part)

    # ---- streaming data: DataLoaders over the user's files
    # ------------------------------------------------

    def loader(self, split: str):
        """The DataLoader of a split, made once (its worker processes live on)."""
        if split not in self.loaders:
            dataset = self.data[split]
            if split == "train":
                seed = self.args.seed * 1_000_003  # + the epoch: as the in-memory path
                sampler = EpochSampler(dataset, self.world, self.rank, seed)
                batches = torch.utils.data.BatchSampler(sampler, self.batch, False)
            else:
                batches = EvalBatches(len(dataset), self.batch, self.world, self.rank)
            self.loaders[split] = self.data_loader(dataset, batches, self)
        return self.loaders[split]

    def stream_train_batches(
        self, meter: Meter
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        loader = self.loader("train")
        sampler = loader.batch_sampler.sampler
        sampler.set_epoch(self.epoch)
        partial = self.state.get("partial")
        if partial is not None:
            meter.first_step = partial["step"]
            meter.load(partial["meter"])
            self.state["partial"] = None
        sampler.skip = meter.first_step * self.batch
        self.bar = progress(
            self.batches, self.show, f"epoch {self.epoch + 1}/{self.epochs}"
        )
        try:
            for step, (x, y) in enumerate(self.read(loader), start=meter.first_step):
                yield step, x, y
                if self.bar is not None:
                    self.bar.update(1)
        finally:
            self.close_bar()
        meter.check_finite(self.epoch)

    def stream_eval_batches(
        self, split: str
    ) -> Iterator[tuple[int, torch.Tensor, torch.Tensor]]:
        for i, (x, y) in enumerate(self.read(self.loader(split))):
            yield i, x, y

    def read(self, loader) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of a DataLoader, on the device; a worker's TrainingError (an
        unreadable image) with its message only."""
        batches = iter(loader)
        while True:
            try:
                x, y = next(batches)
            except StopIteration:
                return
            except RuntimeError as exc:
                error = stream_error(exc)
                if error is None:
                    raise
                raise error from None
            yield x.to(self.device, non_blocking=True), y.to(
                self.device, non_blocking=True
            )

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def step_boundary(self, step: int, accumulate: int) -> bool:
        """Whether the optimizer steps after `step` (every `accumulate` batches, and
        last)."""
        return (step + 1) % accumulate == 0 or step + 1 == self.batches

    # ---- Ctrl-C
    # ---------------------------------------------------------------------------

    def check_interrupt(self, meter: Meter, step: int) -> None:
        """After an optimizer step: on Ctrl-C, save the exact state (the epoch's
        partial sums
        included) to interrupted.pt and stop with KeyboardInterrupt (exit code 130)."""
        if self.interrupt.requested(self.device):
            self.close_bar()
            check_finite(meter, meter.first_step, step + 1, self.epoch)
            self.state["partial"] = {"step": step + 1, "meter": meter.state()}
            self.save_interrupted(f"epoch {self.epoch + 1}, step {step + 1}")

    def save_interrupted(self, where: str) -> None:
        if self.main_process:
            path = self.out_dir / "interrupted.pt"
            self.save(path)
            print(f"interrupted in {where}: wrote {path}", flush=True)
            print(f"continue with --resume {path}", flush=True)
        raise KeyboardInterrupt

    def save(self, path: Path) -> None:
        save_checkpoint(
            path,
            self.model,
            self.optimizer,
            self.scheduler,
            self.scaler,
            self.state,
            self.config,
            self.about(),
        )

    def about(self) -> dict:
        """What a checkpoint needs to be used anywhere: the facts nndsl stored with the
        data (spec, model, inputs, preprocessing, task), the class names and the
        normalisation statistics."""
        return {
            **(self.data.get("about") or {}),
            "class_names": self.data.get("class_names"),
            "normalization": self.data.get("normalization"),
        }

    # ---- after an epoch
    # -------------------------------------------------------------------

    def end_epoch(self, row: dict[str, float], stop: str = "") -> None:
        """Record an epoch: its row in the history, the line printed, metrics.csv and
        the
        checkpoints (last.pt; best.pt when `keep_best` improved); Ctrl-C between
        epochs."""
        self.history.append(row)
        self.epoch_times.append(row["time"])
        self.state["epoch"] = epoch = self.epoch + 1
        ckpt = self.config["checkpoint"]
        if self.main_process:
            print(epoch_line(row, self.epochs), flush=True)
            write_metrics(self.out_dir / "metrics.csv", self.history)
            keep = ckpt.get("keep_best")
            if keep:
                value = row.get(keep, math.nan)
                if not math.isnan(value) and improved(
                    value, self.state["best"], mode_of(keep)
                ):
                    self.state["best"] = value
                    self.save(self.out_dir / "best.pt")
            if (
                epoch % max(1, int(ckpt.get("every") or 1)) == 0
                or stop
                or epoch == self.epochs
            ):
                self.save(self.out_dir / "last.pt")
        if stop:
            self.stopped = stop
        elif epoch < self.epochs and self.interrupt.requested(self.device, force=True):
            self.save_interrupted(f"after epoch {epoch}")

    def test(self, metrics: dict[str, float]) -> None:
        """The test split's numbers: printed and written to test_metrics.json."""
        if self.main_process:
            print(
                "test: " + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()),
                flush=True,
            )
            text = json.dumps(metrics, indent=2) + "\n"
            write_atomic(
                self.out_dir / "test_metrics.json",
                lambda fh: fh.write(text.encode("utf-8")),
            )

    def finish(self) -> list[dict]:
        """curves.png and the report; returns the per-epoch history."""
        if self.main_process and self.history:
            plotted = self.curves and plot_curves(
                self.history, self.out_dir / "curves.png"
            )
            keep = self.config["checkpoint"].get("keep_best")
            report(
                self.history,
                self.epoch_times,
                self.stopped,
                self.out_dir,
                plotted,
                keep,
            )
        return self.history
