"""Data sources: where a spec's `data = digits(val_split=0.2)` gets its arrays.

Every source is a function of keyword options (plus the caller's `seed`) that returns a
`Dataset` of numpy arrays; `prepare` splits and normalises it into a `Split`, and `load` does
both for the compiler. The module is numpy-only: it never imports torch (the training runtime
makes tensors later); pillow and torchvision are imported only by the sources that need them.

Every mistake a user can make (a missing file, a malformed CSV, an unknown column or option, an
option of the wrong type, empty data) raises `DataError(message, hint)`.
"""

from __future__ import annotations

import csv as csvlib
import functools
import importlib.resources
import inspect
import io
import math
import numbers
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nndsl import limits
from nndsl.catalog.training import (
    COMMON_DATA_OPTIONS,
    DATA_SOURCES,
    STREAM_DATA_OPTIONS,
    TASK_OPTIONS,
)
from nndsl.data.errors import DataError, did_you_mean, suggest

__all__ = [
    "COMMON_OPTIONS",
    "SOURCES",
    "DataError",
    "Dataset",
    "NormStats",
    "Split",
    "load",
    "prepare",
    "source_names",
    "source_options",
]

TASKS = ("classification", "regression")

#: Options handled by `prepare` rather than by a source (a source with a `task` parameter also
#: receives `task`).
COMMON_OPTIONS = COMMON_DATA_OPTIONS

#: Suffixes `image_folder` reads (compared case-insensitively).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

_FLOAT32_MAX = float(np.finfo(np.float32).max)
# Generated data larger than this many elements is almost certainly a typo in `shape` or `n`.
_MAX_GENERATED = 1 << 27
_MAX_NOISE = 1e6


# --------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, eq=False)
class Dataset:
    """What a source returns: all samples, before splitting.

    `x` is float32 (or int64 for token ids) with the samples along axis 0. For classification
    `y` is int64 of shape [n] (or [n, H, W]: one class per pixel) holding class indices below
    `num_classes`; for regression `y` is float32 [n, k] (0/1 values for multi-label data) and
    `num_classes` is None.
    """

    x: np.ndarray
    y: np.ndarray
    task: str
    num_classes: int | None
    name: str
    class_names: tuple[str, ...] | None = None
    feature_names: tuple[str, ...] | None = None
    given: Mapping[str, Dataset] | None = None  # splits the source made itself: "val", "test"
    # several input or target arrays (`npz(x=["left", "right"], y=["digit", "parity"])`):
    # `x` and `y` are the first ones, these the others, in order; their names by position
    more_x: tuple[np.ndarray, ...] = ()
    more_y: tuple[np.ndarray, ...] = ()
    x_names: tuple[str, ...] | None = None
    y_names: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise DataError(f"{self.name}: unknown task {self.task!r}; expected one of {TASKS}")
        if (
            not isinstance(self.x, np.ndarray)
            or self.x.dtype not in (np.float32, np.int64)
            or self.x.ndim < 1
        ):
            raise DataError(
                f"{self.name}: x must be a float32 or int64 numpy array with a sample axis"
            )
        if not isinstance(self.y, np.ndarray) or self.y.ndim < 1:
            raise DataError(f"{self.name}: y must be a numpy array with a sample axis")
        if self.x.shape[0] == 0:
            raise DataError(f"{self.name}: the data set is empty (0 samples)")
        if self.x.shape[0] != self.y.shape[0]:
            raise DataError(
                f"{self.name}: x has {self.x.shape[0]} samples but y has {self.y.shape[0]}"
            )
        if self.task == "classification":
            if self.y.dtype != np.int64:
                raise DataError(f"{self.name}: class labels must be an int64 array")
            if not isinstance(self.num_classes, int) or self.num_classes < 1:
                raise DataError(f"{self.name}: classification needs num_classes >= 1")
            if self.y.min() < 0 or self.y.max() >= self.num_classes:
                raise DataError(
                    f"{self.name}: class labels must lie in 0..{self.num_classes - 1}, "
                    f"found {int(self.y.min())}..{int(self.y.max())}"
                )
        else:
            if self.y.dtype != np.float32:
                raise DataError(f"{self.name}: regression targets must be float32")
            if self.num_classes is not None:
                raise DataError(f"{self.name}: regression data has no num_classes")
        for array in (*self.more_x, *self.more_y):
            if not isinstance(array, np.ndarray) or array.dtype not in (np.float32, np.int64):
                raise DataError(f"{self.name}: every array must be float32 or int64")
            if array.ndim < 1 or array.shape[0] != self.x.shape[0]:
                raise DataError(
                    f"{self.name}: every array must have {self.x.shape[0]} samples, like the first"
                )

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass(frozen=True, eq=False)
class NormStats:
    """Standardisation statistics computed from the training split.

    `mean` and `std` have the shape of one sample with 1 on the averaged axes ([f] for
    [n, f] data, [1, f] for [n, t, f] sequences, [C, 1, 1] for [n, C, H, W] images), so
    `(x - mean) / std` broadcasts over a batch.
    """

    mean: np.ndarray
    std: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        """Standardise `x` (a batch) with these statistics, as float32."""
        return ((np.asarray(x, dtype=np.float32) - self.mean) / self.std).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Split:
    """A prepared data set: training and (optional) validation arrays plus metadata."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray | None
    val_y: np.ndarray | None
    task: str
    num_classes: int | None
    name: str
    norm_stats: NormStats | None
    class_names: tuple[str, ...] | None = None
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    # the other input and target arrays of several (Dataset.more_x, more_y), by their key in
    # the data file: "train_x1", "val_y1", ... (`train_x` and `train_y` are the first ones)
    more: Mapping[str, np.ndarray] | None = None
    more_norm: tuple[NormStats | None, ...] = ()  # the statistics of inputs 1, 2, ...
    x_names: tuple[str, ...] | None = None
    y_names: tuple[str, ...] | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample (x without the sample axis)."""
        return tuple(int(d) for d in self.train_x.shape[1:])

    @property
    def target_shape(self) -> tuple[int, ...]:
        """Shape of one target: () for class labels, [k] or the input shape for regression."""
        return tuple(int(d) for d in self.train_y.shape[1:])


# --------------------------------------------------------------------------------------------
# Option checking


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _bad_type(src: str, opt: str, value: object, expected: str) -> DataError:
    return DataError(
        f"option '{opt}' of {src}() must be {expected}, got {_show(value)} ({type(value).__name__})",
        option=opt,
    )


def _int(
    src: str,
    opt: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    if isinstance(value, bool) or isinstance(value, np.bool_):
        raise _bad_type(src, opt, value, "a whole number")
    if isinstance(value, numbers.Integral):
        result = int(value)
    elif (
        isinstance(value, numbers.Real)
        and float(value).is_integer()
        and abs(float(value)) <= 2.0**53
    ):
        result = int(value)
    else:
        raise _bad_type(src, opt, value, "a whole number")
    if minimum is not None and result < minimum:
        raise DataError(
            f"option '{opt}' of {src}() must be at least {minimum}, got {result}", option=opt
        )
    if maximum is not None and result > maximum:
        raise DataError(
            f"option '{opt}' of {src}() must be at most {maximum:,}, got {result:,}", option=opt
        )
    return result


def _float(
    src: str,
    opt: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    positive: bool = False,
) -> float:
    if isinstance(value, bool) or isinstance(value, np.bool_):
        raise _bad_type(src, opt, value, "a number")
    if not isinstance(value, numbers.Real):
        raise _bad_type(src, opt, value, "a number")
    result = float(value)
    if not math.isfinite(result):
        raise DataError(
            f"option '{opt}' of {src}() must be a finite number, got {result}", option=opt
        )
    if positive and result <= 0:
        raise DataError(
            f"option '{opt}' of {src}() must be greater than 0, got {result}", option=opt
        )
    if minimum is not None and result < minimum:
        raise DataError(
            f"option '{opt}' of {src}() must be at least {minimum}, got {result}", option=opt
        )
    if maximum is not None and result > maximum:
        raise DataError(
            f"option '{opt}' of {src}() must be at most {maximum:g}, got {result:g}", option=opt
        )
    return result


def _bool(src: str, opt: str, value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise _bad_type(src, opt, value, "true or false")


def _str(src: str, opt: str, value: object) -> str:
    if isinstance(value, str):
        return value
    raise _bad_type(src, opt, value, "a string")


def _path(src: str, opt: str, value: object) -> Path:
    if not isinstance(value, (str, os.PathLike)):
        raise _bad_type(src, opt, value, "a path string")
    text = os.fspath(value)
    if not isinstance(text, str) or not text.strip():
        raise DataError(f"option '{opt}' of {src}() must be a non-empty path", option=opt)
    if "\x00" in text:
        raise DataError(f"option '{opt}' of {src}() contains a NUL character", option=opt)
    return Path(text).expanduser()


def _dims(src: str, opt: str, value: object) -> tuple[int, ...]:
    """A shape: a positive int or a non-empty list/tuple of them."""
    items: Sequence[object]
    if isinstance(value, (list, tuple)):
        items = value
    elif isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        items = (value,)
    else:
        raise _bad_type(src, opt, value, "a whole number or a list of them, e.g. (1, 28, 28)")
    if not items:
        raise DataError(f"option '{opt}' of {src}() must have at least one dimension", option=opt)
    dims: list[int] = []
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Integral):
            raise _bad_type(src, opt, value, "whole numbers, e.g. (1, 28, 28)")
        if int(item) < 1:
            raise DataError(
                f"option '{opt}' of {src}() must have positive sizes, got {_show(value)}",
                option=opt,
            )
        dims.append(int(item))
    return tuple(dims)


# --------------------------------------------------------------------------------------------
# Registry

SourceFn = Callable[..., Dataset]

#: Every data source by the name a spec uses for it.
SOURCES: dict[str, SourceFn] = {}
_OPTIONS: dict[str, tuple[str, ...]] = {}
_PATH_OPTIONS: dict[str, tuple[str, ...]] = {}
_TAKES_TASK: dict[str, bool] = {}


def _source(name: str, *, paths: tuple[str, ...] = ()) -> Callable[[SourceFn], SourceFn]:
    """Register a source under `name`; `paths` are options resolved against the spec folder.

    The registered function checks option names itself (a DataError with a did-you-mean for
    unknown ones, and for missing required ones), takes the leading options positionally too,
    and validates `seed`.
    """

    def register(fn: SourceFn) -> SourceFn:
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "seed"]
        names = tuple(p.name for p in params if p.name != "task")
        entry = DATA_SOURCES.get(name)
        if entry is None or entry.options != names or entry.paths != paths:
            # the catalog is the one list the checker reads: a source must match it exactly
            raise RuntimeError(f"data source {name}() does not match its catalog entry {entry}")
        positional = tuple(
            p.name for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
        )
        required = tuple(p.name for p in params if p.default is inspect.Parameter.empty)
        takes_task = any(p.name == "task" for p in params)

        @functools.wraps(fn)
        def wrapper(*args: object, seed: int = 0, **options: object) -> Dataset:
            if len(args) > len(positional):
                raise DataError(
                    f"{name}() takes {len(positional)} positional option(s) but got {len(args)}",
                    hint=f"name the options, e.g. {name}({', '.join(f'{n}=...' for n in names[:2])})",
                )
            for opt, value in zip(positional, args):
                if opt in options:
                    raise DataError(f"option '{opt}' of {name}() is given twice")
                options[opt] = value
            for opt in options:
                if opt not in names and not (opt == "task" and takes_task):
                    raise _unknown_option(name, opt, names)
            for opt in required:
                if opt not in options:
                    raise DataError(
                        f"{name}() needs the option '{opt}'",
                        hint=f"write {name}({opt}=...)",
                    )
            return fn(seed=_int(name, "seed", seed, minimum=0), **options)

        SOURCES[name] = wrapper
        _OPTIONS[name] = names
        _PATH_OPTIONS[name] = paths
        _TAKES_TASK[name] = takes_task
        return wrapper

    return register


def _unknown_option(name: str, opt: str, names: tuple[str, ...]) -> DataError:
    if opt in COMMON_OPTIONS:
        return DataError(
            f"option '{opt}' is not an option of the source {name}() itself",
            hint=f"'{opt}' is applied by prepare()/load(), after {name}() has loaded the data",
        )
    valid = (*names, *COMMON_OPTIONS)
    guess = did_you_mean(opt, valid)
    listing = ", ".join(names) if names else "none of its own"
    hint = f"{name}() accepts {listing}; every source also accepts {', '.join(COMMON_OPTIONS)}"
    return DataError(
        f"{name}() has no option '{opt}'",
        hint=f"{guess} {hint}" if guess else hint,
    )


def source_names() -> list[str]:
    """The names of all data sources, sorted."""
    return sorted(SOURCES)


def source_options(name: str) -> tuple[str, ...]:
    """The options a source accepts itself (besides `seed` and the COMMON_OPTIONS)."""
    if name not in SOURCES:
        raise _unknown_source(name)
    return _OPTIONS[name]


def _unknown_source(name: object) -> DataError:
    return DataError(
        f"unknown data source {_show(name)}",
        hint=suggest(str(name), SOURCES, "the data sources are"),
    )


# --------------------------------------------------------------------------------------------
# Files


def _check_file(src: str, path: Path) -> None:
    try:
        if path.is_file():
            return
        if path.is_dir():
            raise DataError(f"{src}(): {path} is a folder, not a file")
        parent_names = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
    except OSError as exc:
        raise DataError(f"{src}(): cannot access {path}: {exc.strerror or exc}") from None
    guess = did_you_mean(path.name, parent_names)
    raise DataError(
        f"{src}(): file not found: {path}",
        hint=guess or "relative paths are resolved against the folder of the spec file",
    )


def _read_bytes(src: str, path: Path) -> bytes:
    _check_file(src, path)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{src}(): cannot read {path}: {exc.strerror or exc}") from None


def _read_text(src: str, path: Path) -> str:
    raw = _read_bytes(src, path)
    body = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = body.count(b"\n", 0, exc.start) + 1
        raise DataError(
            f"{src}(): {path} is not UTF-8 text: byte 0x{body[exc.start]:02x} on line {line} "
            "cannot be decoded",
            hint=_UTF8_HINT,
        ) from None


_UTF8_HINT = "save the file as UTF-8 (for example: iconv -f latin1 -t utf-8 in.csv > out.csv)"


def _bundled(filename: str) -> dict[str, np.ndarray]:
    resource = importlib.resources.files("nndsl.data").joinpath("files", filename)
    try:
        raw = resource.read_bytes()
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except Exception as exc:  # a broken installation, not a user mistake; still report it
        raise DataError(
            f"the bundled data file {filename} cannot be read ({type(exc).__name__}: {exc})",
            hint="reinstall nndsl; the file ships in nndsl/data/files/",
        ) from None


def _finite(src: str, what: str, array: np.ndarray) -> None:
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DataError(
            f"{src}(): {what} contains NaN or infinite values",
            hint="fill or drop the missing values before training (np.nan_to_num, or a mask)",
        )


def _labels_from_values(values: Sequence[Any]) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class indices for arbitrary sortable labels: sorted unique values get 0, 1, ..."""
    classes = sorted(set(values))
    index = {value: i for i, value in enumerate(classes)}
    y = np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))
    return y, tuple(str(c) for c in classes)


def _task_option(src: str, task: object) -> str | None:
    """The `task=` option, validated (one of TASK_OPTIONS) or None."""
    if task is None:
        return None
    value = _str(src, "task", task)
    if value not in TASK_OPTIONS:
        raise DataError(
            f"option 'task' of {src}() must be one of {', '.join(TASK_OPTIONS)}, got {value!r}",
            hint=did_you_mean(value, TASK_OPTIONS),
        )
    return value


def _data_task(task: str | None) -> str | None:
    """What a task asks of the targets: "classification" (class labels) or "regression"
    (values: real numbers, or 0/1 per label for multi-label data)."""
    if task is None:
        return None
    return "regression" if task in ("regression", "multilabel") else "classification"


# --------------------------------------------------------------------------------------------
# Bundled data sets


@_source("digits")
def digits(*, seed: int = 0) -> Dataset:
    """UCI optical handwritten digits (as shipped with scikit-learn): 1,797 8x8 images.

    x: float32 [1797, 1, 8, 8] in [0, 1] (pixel counts 0..16 divided by 16); y: int64 0..9.
    """
    arrays = _bundled("digits.npz")
    x = arrays["images"].astype(np.float32)[:, None, :, :] / np.float32(16.0)
    y = arrays["labels"].astype(np.int64)
    return Dataset(
        x=x,
        y=y,
        task="classification",
        num_classes=10,
        name="digits",
        class_names=tuple(str(d) for d in range(10)),
    )


@_source("iris")
def iris(*, seed: int = 0) -> Dataset:
    """Fisher's iris: 150 flowers, 4 measurements in cm, 3 species (50 each).

    x: float32 [150, 4]; y: int64 0..2 (setosa, versicolor, virginica).
    """
    arrays = _bundled("iris.npz")
    return Dataset(
        x=arrays["features"].astype(np.float32),
        y=arrays["labels"].astype(np.int64),
        task="classification",
        num_classes=3,
        name="iris",
        class_names=tuple(str(s) for s in arrays["class_names"]),
        feature_names=tuple(str(s) for s in arrays["feature_names"]),
    )


# --------------------------------------------------------------------------------------------
# Generated data sets


@_source("moons")
def moons(*, n: int = 1000, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles (like scikit-learn's make_moons), shuffled.

    Class 0 is the upper half circle of radius 1 around (0, 0); class 1 the lower one around
    (1, 0.5). Gaussian noise with standard deviation `noise` is added to both coordinates.
    x: float32 [n, 2]; y: int64 in {0, 1} (n // 2 of class 0, the rest class 1).
    """
    n = _int("moons", "n", n, minimum=2, maximum=_MAX_GENERATED // 2)
    sd = _float("moons", "noise", noise, minimum=0.0, maximum=_MAX_NOISE)
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    outer = np.stack([np.cos(t_out), np.sin(t_out)], axis=1)
    inner = np.stack([1.0 - np.cos(t_in), 0.5 - np.sin(t_in)], axis=1)
    x = np.concatenate([outer, inner])
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    order = rng.permutation(n)
    x = x[order] + sd * rng.standard_normal((n, 2))
    return Dataset(
        x=x.astype(np.float32),
        y=y[order],
        task="classification",
        num_classes=2,
        name="moons",
    )


@_source("spirals")
def spirals(
    *,
    n: int = 1000,
    classes: int = 2,
    noise: float = 0.1,
    turns: float = 1.5,
    seed: int = 0,
) -> Dataset:
    """`classes` interleaved spiral arms starting at the origin, shuffled.

    Point i of arm k (of m points) has t = (i + 0.5) / m, radius t and angle
    2π (turns·t + k / classes); Gaussian noise with standard deviation `noise` is added to
    both coordinates. Samples are divided as evenly as possible among the arms.
    x: float32 [n, 2] within about [-1, 1]; y: int64 0..classes-1.
    """
    k = _int("spirals", "classes", classes, minimum=2, maximum=1000)
    n = _int("spirals", "n", n, minimum=k, maximum=_MAX_GENERATED // 2)
    sd = _float("spirals", "noise", noise, minimum=0.0, maximum=_MAX_NOISE)
    rot = _float("spirals", "turns", turns, positive=True, maximum=1e6)
    rng = np.random.default_rng(seed)
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    for arm in range(k):
        m = n // k + (1 if arm < n % k else 0)
        t = (np.arange(m) + 0.5) / m
        angle = 2.0 * np.pi * (rot * t + arm / k)
        xs.append(np.stack([t * np.cos(angle), t * np.sin(angle)], axis=1))
        ys.append(np.full(m, arm, dtype=np.int64))
    x = np.concatenate(xs)
    y = np.concatenate(ys)
    order = rng.permutation(n)
    x = x[order] + sd * rng.standard_normal((n, 2))
    return Dataset(
        x=x.astype(np.float32),
        y=y[order],
        task="classification",
        num_classes=k,
        name="spirals",
    )


@_source("sine")
def sine(*, n: int = 1000, length: int = 32, noise: float = 0.0, seed: int = 0) -> Dataset:
    """Next-value regression on windows of sine waves.

    Sample i draws an angular frequency ω ~ U(π/16, π/4) radians per step (a period of 8 to
    32 steps) and a phase φ ~ U(0, 2π). Its input is the window
    x[i, t, 0] = sin(ω t + φ) + noise·ε  for t = 0 .. length-1 (ε standard normal), and its
    target the clean next value y[i, 0] = sin(ω·length + φ). With noise=0 the target is an
    exact function of the window, so a good sequence model drives the loss towards 0.
    x: float32 [n, length, 1] in [-1, 1] (plus noise); y: float32 [n, 1].
    """
    n = _int("sine", "n", n, minimum=1, maximum=_MAX_GENERATED)
    steps = _int("sine", "length", length, minimum=1, maximum=_MAX_GENERATED)
    sd = _float("sine", "noise", noise, minimum=0.0, maximum=_MAX_NOISE)
    if n * steps > _MAX_GENERATED:
        raise DataError(f"sine(n={n}, length={steps}) would be too large to generate")
    rng = np.random.default_rng(seed)
    omega = rng.uniform(np.pi / 16, np.pi / 4, size=(n, 1))
    phase = rng.uniform(0.0, 2.0 * np.pi, size=(n, 1))
    t = np.arange(steps + 1, dtype=np.float64)[None, :]
    wave = np.sin(omega * t + phase)
    x = wave[:, :steps] + sd * rng.standard_normal((n, steps))
    y = wave[:, steps:]
    return Dataset(
        x=x.astype(np.float32)[:, :, None],
        y=y.astype(np.float32),
        task="regression",
        num_classes=None,
        name="sine",
    )


@_source("random")
def random(
    *,
    shape: tuple[int, ...],
    classes: int | None = None,
    n: int = 256,
    seed: int = 0,
) -> Dataset:
    """Standard-normal inputs of any shape, for smoke tests.

    x: float32 [n, *shape]. The targets are a fixed random function of x so a model can
    actually fit them: with `classes` an int, y (int64 [n]) is the argmax of a random linear
    map of the flattened x; without it, y (float32 [n, 1]) is x times a random unit vector,
    so it has unit variance.
    """
    dims = _dims("random", "shape", shape)
    count = _int("random", "n", n, minimum=1, maximum=_MAX_GENERATED)
    k = None if classes is None else _int("random", "classes", classes, minimum=2, maximum=1 << 20)
    features = math.prod(dims)
    if count * features > _MAX_GENERATED:
        raise DataError(
            f"random(shape={dims}, n={count}) would be too large to generate: {count:,} samples "
            f"of {features:,} values are {count * features:,} numbers, more than "
            f"{_MAX_GENERATED:,}",
            hint="random data is for smoke tests: lower `n` or use a smaller `shape`",
            option="n",
        )
    if features * (k or 1) > _MAX_GENERATED:
        raise DataError(
            f"random(shape={dims}, classes={k}) would be too large to generate: its labels come "
            f"from a random {features:,} x {k:,} matrix (features x classes), "
            f"{features * k:,} numbers, more than {_MAX_GENERATED:,}",
            hint="random data is for smoke tests: use fewer `classes` or a smaller `shape`",
            option="classes",
        )
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, *dims), dtype=np.float32)
    flat = x.reshape(count, features)
    if k is None:
        weights = rng.standard_normal((features, 1))
        weights = (weights / np.linalg.norm(weights)).astype(np.float32)  # unit norm: var(y) = 1
        return Dataset(
            x=x,
            y=(flat @ weights).astype(np.float32),
            task="regression",
            num_classes=None,
            name="random",
        )
    weights = rng.standard_normal((features, k), dtype=np.float32)
    return Dataset(
        x=x,
        y=np.argmax(flat @ weights, axis=1).astype(np.int64),
        task="classification",
        num_classes=k,
        name="random",
    )


# --------------------------------------------------------------------------------------------
# Files: CSV and npz


def _parse_number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _feature_values(
    file: Path, header: list[str], inputs: list[int], rows: Sequence[tuple[int, list[str]]]
) -> np.ndarray:
    """float64 [len(rows), len(inputs)]: the feature cells of (line, row) pairs, each a finite
    number (else a DataError naming the line and column)."""
    x = np.empty((len(rows), len(inputs)), dtype=np.float64)
    for r, (line, row) in enumerate(rows):
        for c, index in enumerate(inputs):
            cell = row[index].strip()
            value = _parse_number(cell)
            if value is None or not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
                what = (
                    "is empty" if not cell else f"has {_show(cell)}, which is not a finite number"
                )
                raise DataError(
                    f"csv(): {file}, line {line}: column '{header[index]}' {what}",
                    hint="feature columns must hold numbers; pick numeric ones with features=[...]",
                )
            x[r, c] = value
    return x


#: What a blank line of a CSV file holds (besides nothing): it is left out.
CSV_BLANK = " \t\r\n"


def csv_rows(file: Path, lines: Iterable[str], sep: str) -> Iterator[tuple[int, int, list[str]]]:
    """(first line, last line, cells) of each row of the CSV text `lines` (its lines with their
    line breaks), parsed by the csv module with strict quoting (a quote left open is an error,
    not a field that swallows the rest of the file); a line that holds only spaces and tabs is
    left out.  The one reading of a CSV file's rows (the whole file, `CsvInputs`,
    the streamed file): a malformed row is a DataError naming the file and its line."""
    current = [""]

    def tracked() -> Iterator[str]:
        for text in lines:
            current[0] = text
            yield text

    reader = csvlib.reader(tracked(), delimiter=sep, strict=True)
    last = 0
    try:
        for row in reader:
            first, last = last + 1, reader.line_num
            if first == last and not current[0].strip(CSV_BLANK):
                continue
            yield first, last, row
    except csvlib.Error as exc:
        raise _malformed_csv(file, last + 1, str(exc)) from None


def _malformed_csv(file: Path, line: int, problem: str) -> DataError:
    quoting = 'a field that holds the delimiter or a quote is quoted whole: "a, b", "say ""hi"""'
    if "end of data" in problem:
        problem, hint = "a quote opened in this row is never closed", quoting
    elif "field larger than field limit" in problem:
        problem = (
            f"a field is longer than {csvlib.field_size_limit():,} characters "
            "(a quote opened in this row and never closed?)"
        )
        hint = quoting
    elif "new-line character seen in unquoted field" in problem:
        problem = "a carriage return (\\r) ends a row inside the line"
        hint = "end every line with \\n or \\r\\n (or load the file whole: stream=false)"
    else:
        hint = quoting
    return DataError(f"csv(): {file}, line {line}: malformed CSV: {problem}", hint=hint)


def utf8_lines(src: str, file: Path) -> Iterator[str]:
    """The lines of a text file (split at \\n only, each with its line break; a BOM left
    out), each decoded as UTF-8: a byte that is not is a DataError naming its line.  Memory
    holds one line at a time."""
    try:
        fh = open(file, "rb")
    except OSError as exc:
        raise DataError(f"{src}(): cannot read {file}: {exc.strerror or exc}") from None
    with fh:
        try:
            for n, raw in enumerate(fh, 1):
                if n == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    yield raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise DataError(
                        f"{src}(): {file} is not UTF-8 text: byte 0x{raw[exc.start]:02x} on "
                        f"line {n} cannot be decoded",
                        hint=_UTF8_HINT,
                    ) from None
        except OSError as exc:
            raise DataError(f"{src}(): cannot read {file}: {exc.strerror or exc}") from None


class CsvInputs:
    """The inputs of a CSV file as `csv(path, target=..., features=...)` reads them (its x,
    float32; the target column left out), read a chunk of rows at a time (`predict` on a
    large file): the same values and errors, memory that does not grow with the file.  The
    header and the columns are read when it is made (a DataError then); a bad row is a
    DataError when its chunk is read.  `target_optional`: a target that is not a column of
    the file is no error (every chosen column is then an input)."""

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        target: str | None = None,
        target_optional: bool = False,
        features: Sequence[str] | Sequence[Sequence[str]] | None = None,
        delimiter: str = ",",
        header: bool | None = None,
    ) -> None:
        from nndsl.data.streaming import _csv_columns

        self.file = _path("csv", "path", path)
        self.sep = _str("csv", "delimiter", delimiter)
        if len(self.sep) != 1 or self.sep in '\r\n"':
            raise DataError(
                f"option 'delimiter' of csv() must be a single character, got {self.sep!r}"
            )
        has_header = None if header is None else _bool("csv", "header", header)
        if isinstance(features, (list, tuple)) and all(
            isinstance(g, (list, tuple)) for g in features
        ):
            features = [name for group in features for name in group]
        self.header: list[str] = []
        self.data_starts = False  # whether the first row is data (no header)
        for _, row in self._rows():
            cells = [name.strip() for name in row]
            numeric = all(_parse_number(c) is not None for c in cells)
            if has_header is True or (has_header is None and not numeric):
                self.header = cells
            else:
                self.header, self.data_starts = [str(i) for i in range(len(row))], True
            break
        if not self.header:
            raise DataError(
                f"csv(): {self.file} is empty", hint="the first line must name the columns"
            )
        if target is not None and target.strip() not in self.header and target_optional:
            target = None
        self.inputs, _ = _csv_columns(self.file, self.header, target, features)

    def _rows(self):
        """(line, row) of the file's non-blank rows, the header too."""
        try:
            fh = open(self.file, encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise DataError(f"csv(): cannot read {self.file}: {exc.strerror or exc}") from None
        with fh:
            try:
                for line, _, row in csv_rows(self.file, fh, self.sep):
                    yield line, row
            except UnicodeDecodeError:
                for _ in utf8_lines("csv", self.file):  # (the error names the line)
                    pass
                raise DataError(f"csv(): {self.file} is not UTF-8 text") from None
            except OSError as exc:
                raise DataError(f"csv(): cannot read {self.file}: {exc.strerror or exc}") from None

    def chunks(self, size: int = 256):
        """float32 [<= size, len(inputs)] arrays of the data rows, in order."""
        rows: list[tuple[int, list[str]]] = []
        width = len(self.header)
        skip = not self.data_starts
        for line, row in self._rows():
            if skip:
                skip = False
                continue
            if len(row) != width:
                raise DataError(
                    f"csv(): {self.file}, line {line}: expected {width} fields like the "
                    f"first row, found {len(row)}",
                    hint=f"check the delimiter (now {self.sep!r}) and quoting on that line",
                )
            rows.append((line, row))
            if len(rows) == size:
                yield _feature_values(self.file, self.header, self.inputs, rows).astype(np.float32)
                rows = []
        if rows:
            yield _feature_values(self.file, self.header, self.inputs, rows).astype(np.float32)

    def count(self) -> int:
        """The data rows (one pass over the file)."""
        return sum(1 for _ in self._rows()) - (not self.data_starts)


@_source("csv", paths=("path",))
def csv(
    path: str,
    target: str | int | Sequence[str] | None = None,
    features: Sequence[str] | Sequence[Sequence[str]] | None = None,
    delimiter: str = ",",
    header: bool | None = None,
    task: str | None = None,
    *,
    seed: int = 0,
) -> Dataset:
    """A CSV file (read with the csv module, UTF-8, optional BOM).

    `header`: whether the first row names the columns; by default it does unless every cell
    of it is a number (then it is data). Without a header the columns are named by their
    index, "0", "1", ..., and `target` may be given as an index (negative counts from the end).
    `target` names the label column; `features` the input columns (default: all others).
    Feature values must be finite numbers. The target decides the task: integers or
    non-numeric strings are class labels (their sorted distinct values become classes 0, 1,
    ...; integers sort numerically), other numbers are regression targets. `task` decides
    instead: "regression" reads whole numbers as values, "classification" (also "multiclass",
    "binary") reads any values as class labels. Blank lines are skipped.

    Without a target (target=None, as `load` does for target=input) every chosen column is an
    input and y is an empty float32 [n, 0] array.
    x: float32 [n, f]; y: int64 [n] or float32 [n, 1].

    Several inputs: `features=[["a", "b"], ["c"]]`, one group of columns per input of the
    model, in order (float32 [n, 2] and [n, 1]).  Several targets: `target=["t", "u"]`, each
    column read on its own as above (the first decides the data's task); without `features`
    the inputs are the columns that are not targets.
    """
    file = _path("csv", "path", path)
    target_index_given: int | None = None
    target_name: str | None = None
    more_targets: list[str] = []
    if isinstance(target, int) and not isinstance(target, bool):
        target_index_given = target
    elif isinstance(target, (list, tuple)):
        names = [t.strip() for t in _names("csv", "target", list(target))]
        target_name, more_targets = names[0], names[1:]
    elif target is not None:
        target_name = _str("csv", "target", target).strip()
    has_header = None if header is None else _bool("csv", "header", header)
    sep = _str("csv", "delimiter", delimiter)
    if len(sep) != 1 or sep in '\r\n"':
        raise DataError(
            f"option 'delimiter' of csv() must be a single character, got {sep!r}",
            hint='for example delimiter=";" or delimiter="\\t"',
        )
    forced = _task_option("csv", task)
    wanted: list[str] | None = None
    groups: list[int] | None = None  # several inputs: the number of columns of each
    if (
        isinstance(features, (list, tuple))
        and features
        and all(isinstance(g, (list, tuple)) for g in features)
    ):
        lists = [_names("csv", "features", list(g)) for g in features]
        groups = [len(g) for g in lists]
        features = [name for g in lists for name in g]
    if features is not None:
        if isinstance(features, str):
            wanted = [features]
        elif isinstance(features, (list, tuple)) and all(isinstance(f, str) for f in features):
            wanted = [f.strip() for f in features]
        else:
            raise _bad_type("csv", "features", features, "a list of column names")
        if not wanted:
            raise DataError("option 'features' of csv() must name at least one column")

    text = _read_text("csv", file)
    header_row: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    for line, _, row in csv_rows(file, io.StringIO(text, newline=""), sep):
        if header_row is None:
            cells = [name.strip() for name in row]
            numeric = all(_parse_number(c) is not None for c in cells)
            if has_header is True or (has_header is None and not numeric):
                header_row = cells
                continue
            header_row = [str(i) for i in range(len(row))]
        if len(row) != len(header_row):
            raise DataError(
                f"csv(): {file}, line {line}: expected {len(header_row)} fields like the "
                f"first row, found {len(row)}",
                hint=f"check the delimiter (now {sep!r}) and quoting on that line",
            )
        rows.append((line, row))
    if header_row is None:
        raise DataError(f"csv(): {file} is empty", hint="the first line must name the columns")
    header = header_row
    for i, name in enumerate(header):
        if not name:
            raise DataError(
                f"csv(): {file}: column {i + 1} of the header has no name",
                hint="a trailing delimiter at the end of the header line makes an empty column",
            )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataError(
                f"csv(): {file}: the header names the column '{name}' twice",
                hint="give each column its own name in the first line",
            )
        seen.add(name)
    if not rows:
        raise DataError(
            f"csv(): {file} has a header but no data rows",
            hint="the lines after the first hold the samples, one per line",
        )

    def column(name: str, role: str) -> int:
        if name not in header:
            other = [c for c in ";\t|" if c != sep and len(header) == 1 and c in header[0]]
            hint = suggest(name, header, "its columns are")
            if other:  # one column whose name holds another delimiter: `a;b;c`
                hint = f"the file seems to separate its columns with {other[0]!r}: write " + (
                    f"delimiter={other[0]!r}".replace("'", '"')
                )
            raise DataError(
                f"csv(): {file} has no column '{name}' (asked for as {role})",
                hint=hint,
                option="target" if role == "target" else "features",
            )
        return header.index(name)

    target_index = None if target_name is None else column(target_name, "target")
    if target_index_given is not None:
        if not -len(header) <= target_index_given < len(header):
            raise DataError(
                f"csv(): target={target_index_given} is not a column of {file}, which has "
                f"{len(header)} columns",
                hint="columns count from 0; -1 is the last",
                option="target",
            )
        target_index = target_index_given % len(header)
        target_name = header[target_index]
    extra = [column(name, "target") for name in more_targets]
    if wanted is None:
        inputs = [i for i in range(len(header)) if i != target_index and i not in extra]
    else:
        inputs = [column(name, "a feature") for name in wanted]
        for t_index in (target_index, *extra):
            if t_index is not None and t_index in inputs:
                raise DataError(
                    f"csv(): the target column '{header[t_index]}' is also listed in features"
                )
        if len(set(inputs)) != len(inputs):
            raise DataError("csv(): option 'features' names a column twice")
    if not inputs:
        raise DataError(f"csv(): {file} has no columns left to use as features")

    x = _feature_values(file, header, inputs, rows)
    feature_names = tuple(header[i] for i in inputs)

    if target_index is None:
        return Dataset(
            x=x.astype(np.float32),
            y=np.empty((len(rows), 0), dtype=np.float32),
            task="regression",
            num_classes=None,
            name="csv",
            feature_names=feature_names,
        )

    def read_target(
        index: int, forced: str | None
    ) -> tuple[np.ndarray, str, int | None, tuple[str, ...] | None]:
        """One target column: class labels or values (as the docstring says); `task` (or
        the train section's) decides for the first target only."""
        name = header[index]
        cells = [row[index].strip() for _, row in rows]
        for (line, _), cell in zip(rows, cells):
            if not cell:
                raise DataError(
                    f"csv(): {file}, line {line}: the target column '{name}' is empty",
                    hint="every sample needs a target: fill it in, or drop the line",
                )
        ints = _all_ints(cells)
        floats = None if ints is not None else _all_floats(cells)
        kind = _data_task(forced) or ("regression" if floats is not None else "classification")
        # (every integer is a number too: float() of its text, as large as it is)
        numbers = floats if floats is not None else _all_floats(cells) if ints is not None else None
        if kind == "regression":
            if numbers is None:
                line, cell = next(
                    (ln, c) for (ln, _), c in zip(rows, cells) if _parse_number(c) is None
                )
                raise DataError(
                    f"csv(): {file}, line {line}: target {_show(cell)} is not a number, "
                    "but task is 'regression'"
                )
            _finite_targets(file, name, rows, cells, numbers, _FLOAT32_MAX)
            targets = np.asarray(numbers, dtype=np.float64)
            return targets.astype(np.float32)[:, None], "regression", None, None
        if ints is None and floats is not None:
            _finite_targets(file, name, rows, cells, floats, math.inf)
        labels: Sequence[Any] = (
            ints if ints is not None else floats if floats is not None else cells
        )
        y, class_names = _labels_from_values(labels)
        return y, "classification", len(class_names), class_names

    y, kind, num_classes, class_names = read_target(target_index, forced)
    xs = x.astype(np.float32)
    inputs_split: list[np.ndarray] = [xs]
    if groups is not None:
        bounds = np.cumsum(groups)[:-1]
        inputs_split = [np.ascontiguousarray(a) for a in np.split(xs, bounds, axis=1)]
    several = len(inputs_split) > 1 or bool(extra)
    return Dataset(
        x=inputs_split[0],
        y=y,
        task=kind,
        num_classes=num_classes,
        name="csv",
        class_names=class_names,
        feature_names=feature_names,
        more_x=tuple(inputs_split[1:]),
        more_y=tuple(read_target(i, None)[0] for i in extra),
        x_names=tuple(f"features{i + 1}" for i in range(len(inputs_split))) if several else None,
        y_names=tuple(header[i] for i in (target_index, *extra)) if several else None,
    )


def _finite_targets(
    file: Path,
    name: str,
    rows: Sequence[tuple[int, list[str]]],
    cells: Sequence[str],
    values: Sequence[float],
    limit: float,
) -> None:
    """A DataError at the first target value that is NaN, infinite or above `limit` (the
    largest float32 for regression targets)."""
    for (line, _), cell, value in zip(rows, cells, values):
        if not math.isfinite(value) or abs(value) > limit:
            raise DataError(
                f"csv(): {file}, line {line}: the target column '{name}' has {_show(cell)}, "
                + (
                    "which float32 cannot hold"
                    if math.isfinite(value) or _int_text(cell)
                    else "not a finite number"
                ),
                hint="remove the row, or give it a value",
            )


def _int_text(cell: str) -> bool:
    """Whether `cell` is an integer literal (of any size)."""
    try:
        int(cell)
    except ValueError:
        return False
    return True


def _all_ints(cells: Sequence[str]) -> list[int] | None:
    """The cells as ints when every one is an integer literal, else None."""
    values: list[int] = []
    for cell in cells:
        try:
            values.append(int(cell))
        except ValueError:
            return None
    return values


def _all_floats(cells: Sequence[str]) -> list[float] | None:
    """The cells as floats when every one is a number, else None."""
    values: list[float] = []
    for cell in cells:
        value = _parse_number(cell)
        if value is None:
            return None
        values.append(value)
    return values


def _npz_targets(
    src: str, name: str, y: np.ndarray, task: str | None = None
) -> tuple[np.ndarray, str, int | None, tuple[str, ...] | None]:
    kind = y.dtype.kind
    if _data_task(task) == "regression" and kind in "biuf":
        kind = "f"  # values (whole numbers too), or 0/1 per label
        y = y.astype(np.float64)
    elif _data_task(task) == "classification" and kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise DataError(
                f"{src}(): task={task!r} needs class labels, but '{name}' holds fractional values",
                hint='store one integer class index per sample, or use task="regression"',
            )
        kind = "i"
        y = y.astype(np.int64)
    if kind in "US":
        if y.ndim != 1:
            raise DataError(
                f"{src}(): string labels '{name}' must be one-dimensional, got shape {y.shape}"
            )
        labels, names = _labels_from_values([str(v) for v in y.tolist()])
        return labels, "classification", len(names), names
    if kind in "biu":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim == 2:
            raise DataError(
                f"{src}(): integer labels '{name}' have shape {y.shape}: one class index per "
                "sample is [n], one per pixel [n, H, W]",
                hint='for several yes/no labels per sample write task="multilabel"; for '
                'real-valued targets task="regression"',
            )
        if y.min() < 0:
            raise DataError(
                f"{src}(): class labels '{name}' must not be negative, found {int(y.min())}",
                hint="class labels are indices counting from 0; for real-valued targets write "
                'task="regression"',
            )
        if int(y.max()) >= 1 << 31:
            raise DataError(f"{src}(): class label {int(y.max())} in '{name}' is implausibly large")
        labels = y.astype(np.int64)
        return labels, "classification", int(labels.max()) + 1, None
    if kind == "f":
        _finite(src, f"'{name}'", y)
        if np.abs(y).max() > _FLOAT32_MAX:
            raise DataError(f"{src}(): '{name}' has values too large for float32")
        targets = y.astype(np.float32)
        return (targets[:, None] if targets.ndim == 1 else targets), "regression", None, None
    raise DataError(
        f"{src}(): '{name}' has unsupported dtype {y.dtype}; expected numbers or strings"
    )


def _names(src: str, opt: str, value: object) -> list[str]:
    """An option naming one array or column (a string) or several (a non-empty list of them)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        if len(set(value)) != len(value):
            raise DataError(
                f"option '{opt}' of {src}() names one twice: {_show(value)}", option=opt
            )
        return [str(v) for v in value]
    raise _bad_type(src, opt, value, 'a name or a list of names, e.g. ["left", "right"]')


def _npz_inputs(file: Path, key: str, xs: np.ndarray) -> np.ndarray:
    if xs.dtype.kind not in "biuf" or xs.ndim == 0:
        raise DataError(
            f"npz(): '{key}' must be a numeric array with a sample axis, got dtype {xs.dtype} "
            f"shape {xs.shape}",
            hint="inputs are integers or real numbers, one sample per row: "
            "np.savez(path, x=x.astype(np.float32), y=y)",
        )
    if xs.shape[0] == 0:
        raise DataError(
            f"npz(): {file} holds no samples ('{key}' is empty)",
            hint="the first axis of each array counts the samples",
        )
    _finite("npz", f"'{key}'", xs)
    if xs.dtype.kind == "f" and xs.size and float(np.abs(xs).max()) > _FLOAT32_MAX:
        raise DataError(f"npz(): '{key}' has values too large for float32")
    if xs.dtype.kind in "iu" and xs.size and int(np.abs(xs).max()) >= 1 << 62:
        raise DataError(f"npz(): '{key}' has integers too large for int64")
    data = xs.astype(np.int64 if xs.dtype.kind in "iu" else np.float32)
    return data[:, None] if data.ndim == 1 else data


@_source("npz", paths=("path",))
def npz(
    path: str,
    x: str | Sequence[str] = "x",
    y: str | Sequence[str] = "y",
    task: str | None = None,
    *,
    seed: int = 0,
) -> Dataset:
    """Arrays `x` and `y` from an .npz archive (np.savez / np.savez_compressed).

    Integer x (token ids) stays int64, other x becomes float32 (a 1-D x becomes [n, 1]); the
    model's declared input type decides what training uses (see `snapshot.arrays`). Integer or
    bool y are class labels (num_classes = max + 1; [n] per sample or [n, H, W] per pixel),
    string y are mapped to sorted classes, float y are regression targets ([n] becomes [n, 1]).
    `task="regression"` or `"multilabel"` reads integer y as values (0/1 per label for
    multi-label); `task="classification"` reads whole-number floats as class labels. Pickled
    (object) arrays are refused.

    `x` and `y` may each name several arrays (`x=["left", "right"]`, `y=["digit", "parity"]`):
    the model's inputs, in order, and the targets a loss block takes, in order.  The first
    target decides the data's task; each other target is read the same way on its own.
    """
    forced = _task_option("npz", task)
    file = _path("npz", "path", path)
    x_keys = _names("npz", "x", x)
    y_keys = _names("npz", "y", y)
    raw = _read_bytes("npz", file)  # np.load on a path can leak the handle of a bad file
    if not raw.startswith((b"PK", b"\x93NUMPY")):  # (np.load reads anything else as a pickle)
        raise DataError(
            f"npz(): cannot read {file}: it is not an .npz archive ("
            + ("it is empty)" if not raw else "it does not begin as a zip file does)"),
            hint="the file must be an archive written by np.savez or np.savez_compressed",
        )
    try:
        loaded = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:
        raise DataError(
            f"npz(): cannot read {file}: {type(exc).__name__}: {exc}",
            hint="the file must be an archive written by np.savez or np.savez_compressed",
        ) from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise DataError(
            f"npz(): {file} holds a single array, not an .npz archive",
            hint="save both arrays with np.savez(path, x=x, y=y)",
        )
    with loaded as archive:
        keys = list(archive.files)
        for key in (*x_keys, *y_keys):
            if key not in keys:
                raise DataError(
                    f"npz(): {file} has no array '{key}'",
                    hint=suggest(key, keys, "its arrays are"),
                    option="x" if key in x_keys else "y",
                )
        try:
            xs = [np.asarray(archive[k]) for k in x_keys]
            ys = [np.asarray(archive[k]) for k in y_keys]
        except Exception as exc:
            raise DataError(
                f"npz(): {file} is corrupt or unreadable: {type(exc).__name__}: {exc}",
                hint="the file must be an archive written by np.savez or np.savez_compressed",
            ) from None
    inputs = [_npz_inputs(file, k, a) for k, a in zip(x_keys, xs)]
    for key, ys_ in zip(y_keys, ys):
        if ys_.ndim == 0:
            raise DataError(
                f"npz(): '{key}' must have a sample axis, got a scalar",
                hint="the first axis of each array counts the samples",
            )
    for key, array in [*zip(x_keys, inputs), *zip(y_keys, ys)][1:]:
        if array.shape[0] != inputs[0].shape[0]:
            raise DataError(
                f"npz(): '{x_keys[0]}' has {inputs[0].shape[0]} samples but '{key}' has "
                f"{array.shape[0]}",
                hint="every array holds one row per sample, in the same order",
            )
    # the task (`task=`, or the train section's) decides how the first target is read
    targets = [
        _npz_targets("npz", k, a, forced if i == 0 else None)
        for i, (k, a) in enumerate(zip(y_keys, ys))
    ]
    labels, kind, num_classes, class_names = targets[0]
    several = len(x_keys) > 1 or len(y_keys) > 1
    return Dataset(
        x=inputs[0],
        y=labels,
        task=kind,
        num_classes=num_classes,
        name="npz",
        class_names=class_names,
        more_x=tuple(inputs[1:]),
        more_y=tuple(t[0] for t in targets[1:]),
        x_names=tuple(x_keys) if several else None,
        y_names=tuple(y_keys) if several else None,
    )


# --------------------------------------------------------------------------------------------
# Images and torchvision (optional dependencies, imported only here)


def _pillow() -> Any:
    try:
        from PIL import Image
    except ImportError:
        raise DataError(
            "image_folder() needs pillow, which is not installed",
            hint="pip install pillow",
        ) from None
    return Image


def _image_size(value: object) -> tuple[int, int] | None:
    if value is None:
        return None
    dims = _dims("image_folder", "size", value)
    if len(dims) not in (1, 2):
        raise DataError(
            f"option 'size' of image_folder() must be an int or (height, width), got {dims}"
        )
    if max(dims) > limits.MAX_IMAGE_SIDE:
        raise DataError(
            f"option 'size' of image_folder() must be at most {limits.MAX_IMAGE_SIDE:,} pixels "
            f"per side, got {_show(value)}"
        )
    return (dims[0], dims[0]) if len(dims) == 1 else (dims[0], dims[1])


def _check_image_memory(n: int, height: int, width: int, channels: int, what: str) -> None:
    """Refuse, before decoding, images whose float32 data would pass the data memory limit."""
    need = n * height * width * channels * 4
    limit = limits.max_data_bytes()
    if need > limit:
        raise DataError(
            f"image_folder(): {what} would take {_bytes(need)} in memory as float32, more than "
            f"the limit of {_bytes(limit)}",
            hint=f"pass a smaller size=(height, width), or raise the limit with the environment "
            f"variable {limits.DATA_BYTES_ENV} (in bytes)",
        )


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n} bytes"


@_source("image_folder", paths=("path",))
def image_folder(
    path: str,
    size: int | tuple[int, int] | None = None,
    grayscale: bool = False,
    *,
    seed: int = 0,
) -> Dataset:
    """A folder with one subfolder per class (sorted names become classes 0, 1, ...).

    Images (.png .jpg .jpeg .bmp .gif .webp .tif .tiff, sorted by name) are converted to RGB,
    or to one channel with grayscale=true, and resized to `size` = (H, W) or an int for
    square images (bilinear). Without `size` all images must have the same size. Hidden
    entries are ignored. Needs pillow.
    A folder whose subfolders are `train/` and `val/` and/or `test/` (each with one subfolder
    per class) holds given splits: the classes are those of `train/`, and `val/` and `test/`
    become the validation and test sets as they are.
    x: float32 [n, C, H, W] in [0, 1] with C = 3 or 1; y: int64.
    """
    root = _path("image_folder", "path", path)
    target_size = _image_size(size)
    gray = _bool("image_folder", "grayscale", grayscale)
    try:
        if not root.is_dir():
            kind = "is a file, not a folder" if root.exists() else "does not exist"
            raise DataError(f"image_folder(): {root} {kind}")
        subfolders = {d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    except OSError as exc:
        raise DataError(f"image_folder(): cannot list {root}: {exc.strerror or exc}") from None
    if "train" not in subfolders or not subfolders <= {"train", "val", "test"}:
        return _image_classes(root, target_size, gray)
    train = _image_classes(root / "train", target_size, gray)
    assert train.class_names is not None
    given = {
        split: _image_classes(root / split, target_size, gray, train.class_names)
        for split in ("val", "test")
        if split in subfolders
    }
    return Dataset(
        x=train.x,
        y=train.y,
        task=train.task,
        num_classes=train.num_classes,
        name="image_folder",
        class_names=train.class_names,
        given=given,
    )


def _image_classes(
    root: Path,
    target_size: tuple[int, int] | None,
    gray: bool,
    known: tuple[str, ...] | None = None,
) -> Dataset:
    """The images of a folder with one subfolder per class; `known`: the classes of the
    training folder, which a validation or test folder's classes must be among."""
    try:
        classes = sorted(
            d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
        )
        files = {
            name: sorted(
                f
                for f in (root / name).iterdir()
                if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES
            )
            for name in classes
        }
    except OSError as exc:
        raise DataError(f"image_folder(): cannot list {root}: {exc.strerror or exc}") from None
    if not classes:
        raise DataError(
            f"image_folder(): {root} has no class subfolders",
            hint="put the images of each class in their own subfolder, e.g. cats/ and dogs/",
        )
    if known is not None:
        unknown = [c for c in classes if c not in known]
        if unknown:
            raise DataError(
                f"image_folder(): {root} has the class '{unknown[0]}', which train/ does not have",
                hint=f"the classes of train/ are: {', '.join(known)}",
            )
        classes = list(known)
    for name in classes:
        if not files.get(name) and known is None:
            raise DataError(
                f"image_folder(): the class folder '{name}' has no images ({root / name})",
                hint=f"image files end in {', '.join(sorted(IMAGE_SUFFIXES))}; remove the "
                "folder, or put its images in it",
            )
    image = _pillow()
    channels = 1 if gray else 3
    count = sum(len(f) for f in files.values())
    if target_size is not None:
        _check_image_memory(
            count, *target_size, channels, f"{count:,} images of {target_size[1]}x{target_size[0]}"
        )
    pixels: list[np.ndarray] = []
    labels: list[int] = []
    first: Path | None = None
    for label, name in enumerate(classes):
        for file in files.get(name, ()):
            array = _decode_image(image, file, gray, target_size, count if first is None else 0)
            if pixels and array.shape != pixels[0].shape:
                raise DataError(
                    f"image_folder(): {file} is {array.shape[1]}x{array.shape[0]} but {first} is "
                    f"{pixels[0].shape[1]}x{pixels[0].shape[0]} (width x height)",
                    hint="pass size=(height, width) to resize every image",
                )
            first = first or file
            pixels.append(array)
            labels.append(label)
    if not pixels:
        raise DataError(f"image_folder(): {root} has no images in its class folders")
    stacked = np.stack(pixels)
    del pixels
    x = stacked[:, None] if gray else stacked.transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(x, dtype=np.float32)
    x /= np.float32(255.0)  # in place: one float32 copy of the data at a time
    return Dataset(
        x=x,
        y=np.asarray(labels, dtype=np.int64),
        task="classification",
        num_classes=len(classes),
        name="image_folder",
        class_names=tuple(classes),
    )


def _decode_image(
    image: Any, file: Path, gray: bool, target_size: tuple[int, int] | None, count: int = 0
) -> np.ndarray:
    """One image file as uint8 [H, W, 3] (or [H, W] with `gray`), resized (bilinear) to
    `target_size` = (height, width) when given.  `count`: refuse, from the first image's
    size, `count` images that would pass the memory limit (without a target size)."""
    channels = 1 if gray else 3
    try:
        with image.open(file) as picture:
            width, height = picture.size  # from the header: nothing decoded yet
            _check_image_memory(1, height, width, channels, f"{file} ({width}x{height})")
            if target_size is None and count:
                _check_image_memory(
                    count, height, width, channels, f"{count:,} images of {width}x{height}"
                )
            picture = eight_bit(image, picture).convert("L" if gray else "RGB")
            if target_size is not None:
                picture = picture.resize(
                    (target_size[1], target_size[0]), image.Resampling.BILINEAR
                )
            return np.asarray(picture, dtype=np.uint8)
    except DataError:
        raise
    except Exception as exc:  # pillow raises many types for bad files
        raise DataError(
            f"image_folder(): cannot read the image {file}: {type(exc).__name__}: {exc}"
        ) from None


# The same text as nndsl/runtime/training_utils.py's eight_bit (tests/test_streaming.py holds them
# equal): generated scripts cannot import nndsl, and taking it from training_utils here would
# import torch into `nndsl generate`, which decodes an image folder into data.npz without torch.
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


def read_images(
    files: list[Path], size: int | tuple[int, int] | None = None, grayscale: bool = False
) -> np.ndarray:
    """Image files prepared as image_folder() prepares them: float32 [n, C, H, W] in [0, 1]
    (C = 3, or 1 with `grayscale`), resized to `size` when given (else all must have one
    size)."""
    image = _pillow()
    target_size = _image_size(size)
    if target_size is not None:
        _check_image_memory(len(files), *target_size, 1 if grayscale else 3, "the images")
    pixels: list[np.ndarray] = []
    for i, file in enumerate(files):
        array = _decode_image(image, file, grayscale, target_size, len(files) if i == 0 else 0)
        if pixels and array.shape != pixels[0].shape:
            raise DataError(
                f"{file} is {array.shape[1]}x{array.shape[0]} but {files[0]} is "
                f"{pixels[0].shape[1]}x{pixels[0].shape[0]} (width x height)",
                hint="images without a training `size=` must all have the same size",
            )
        pixels.append(array)
    if not pixels:
        raise DataError("no images to read")
    stacked = np.stack(pixels)
    x = stacked[:, None] if grayscale else stacked.transpose(0, 3, 1, 2)
    x = np.ascontiguousarray(x, dtype=np.float32)
    x /= np.float32(255.0)
    return x


def _torchvision_module() -> Any:
    try:
        import torchvision as module
    except ImportError:
        raise DataError(
            "torchvision is not installed",
            hint="pip install torchvision (and a matching torch)",
        ) from None
    except Exception as exc:  # e.g. a torchvision built for another torch
        raise DataError(
            f"torchvision cannot be imported: {type(exc).__name__}: {exc}",
            hint="pip install torchvision (and a matching torch)",
        ) from None
    return module


def _images_to_nchw(data: np.ndarray) -> np.ndarray:
    if data.ndim == 3:  # [n, H, W]
        data = data[:, None]
    elif data.ndim == 4 and data.shape[1] not in (1, 3) and data.shape[-1] in (1, 3, 4):
        data = data.transpose(0, 3, 1, 2)  # [n, H, W, C] (channels-first has C = 1 or 3)
    if data.dtype == np.uint8:
        return np.ascontiguousarray(data, dtype=np.float32) / np.float32(255.0)
    return np.ascontiguousarray(data, dtype=np.float32)


@_source("torchvision", paths=("root",))
def torchvision(
    name: str,
    root: str = "data",
    download: bool = False,
    train: bool = True,
    *,
    seed: int = 0,
) -> Dataset:
    """A torchvision data set, e.g. torchvision(name="MNIST", download=true). Needs torchvision.

    Data sets with `data` and `targets` (MNIST, FashionMNIST, CIFAR10, ...) or `labels`
    (SVHN, STL10) attributes are converted directly; uint8 images become float32
    [n, C, H, W] in [0, 1]. `train` picks the training or test split (split="train"/"test"
    for data sets that use `split`).
    """
    dataset_name = _str("torchvision", "name", name)
    folder = _path("torchvision", "root", root)
    fetch = _bool("torchvision", "download", download)
    training = _bool("torchvision", "train", train)
    module = _torchvision_module()
    available = [n for n in dir(module.datasets) if n[:1].isupper()]
    if dataset_name not in available:
        raise DataError(
            f"torchvision has no data set '{dataset_name}'",
            hint=did_you_mean(dataset_name, available) or "see torchvision.datasets",
        )
    cls = getattr(module.datasets, dataset_name)
    try:
        params = inspect.signature(cls).parameters
        kwargs: dict[str, Any] = {"root": str(folder), "download": fetch}
        if "train" in params:
            kwargs["train"] = training
        elif "split" in params:
            kwargs["split"] = "train" if training else "test"
        ds = cls(**kwargs)
        data = getattr(ds, "data", None)
        targets = getattr(ds, "targets", None)
        if targets is None:
            targets = getattr(ds, "labels", None)
        if data is None or targets is None:
            images, labels = [], []
            for picture, label in ds:  # PIL images or arrays
                images.append(np.asarray(picture))
                labels.append(int(label))
            array, ys = np.stack(images), np.asarray(labels)
        else:
            array = data.numpy() if hasattr(data, "numpy") else np.asarray(data)
            ys = targets.numpy() if hasattr(targets, "numpy") else np.asarray(targets)
        x = _images_to_nchw(np.asarray(array))
        y = np.asarray(ys).astype(np.int64).reshape(-1)
        classes = getattr(ds, "classes", None)
        class_names = tuple(str(c) for c in classes) if classes is not None else None
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"torchvision.datasets.{dataset_name} could not be loaded: {type(exc).__name__}: {exc}",
            hint=None if fetch else "write download=true to fetch it into root",
        ) from None
    if x.ndim == 0 or y.size == 0 or len(x) != len(y):
        raise DataError(
            f"torchvision.datasets.{dataset_name} gave {len(x)} images and {y.size} labels"
        )
    return Dataset(
        x=x,
        y=y,
        task="classification",
        num_classes=max(len(class_names or ()), int(y.max()) + 1),
        name=f"torchvision.{dataset_name}",
        class_names=class_names or None,
    )


# --------------------------------------------------------------------------------------------
# Splitting and normalisation


def _stat_axes(ndim: int) -> tuple[int, ...]:
    """Axes averaged for normalisation: samples, plus time for [n, t, f], plus H, W for images."""
    if ndim <= 2:
        return (0,)
    if ndim == 3:
        return (0, 1)
    return (0, *range(2, ndim))


def _as_inputs(src: str, x: np.ndarray, dtype: str) -> np.ndarray:
    """x as the model's input type: float32, or int64 token ids (whole numbers only)."""
    if dtype == "int64":
        if x.dtype.kind == "f":
            if not np.isfinite(x).all() or (x != np.round(x)).any():
                raise DataError(
                    f"{src}(): the model takes integer ids (long), but the inputs hold "
                    "fractional values",
                    hint="store token ids as integers, or declare a float input",
                )
        return x.astype(np.int64)
    return x.astype(np.float32) if x.dtype != np.float32 else x


def _fraction(src: str, name: str, value: object) -> float:
    fraction = _float(src, name, value)
    if not 0.0 <= fraction < 1.0:
        what = "validation" if name == "val_split" else "the final test"
        raise DataError(
            f"option '{name}' of {src}() must be at least 0 and below 1, got {fraction}",
            hint=f"it is the fraction of samples held out for {what}, e.g. {name}=0.2",
            option=name,
        )
    return fraction


def prepare(
    dataset: Dataset,
    *,
    val_split: float = 0.0,
    test_split: float = 0.0,
    normalize: bool = False,
    target: str | None = None,
    seed: int = 0,
    x_dtype: str | Sequence[str] = "float32",
    given: Mapping[str, Dataset] | None = None,
) -> Split:
    """Shuffle, split and optionally standardise a data set.

    The permutation `np.random.default_rng(seed).permutation(n)` orders the samples; the
    first round(n * test_split) of it are the test set (held out: never trained on, never
    used for early stopping), the next round(n * val_split) the validation set, the rest (in
    permutation order) the training set. `given` holds splits the source already made
    ("val", "test": e.g. the val/ and test/ folders of an image folder): a given split is used
    as it is, and its fraction must then be 0. With normalize=true, x is standardised with the
    mean and standard deviation of the training split only (per feature; per channel for
    [n, C, H, W] images; per feature over time steps for [n, t, f] sequences); a standard
    deviation of 0 becomes 1. target="input" replaces y by a copy of the (normalised) x: an
    autoencoder's regression target. `x_dtype` is the model's input type: "float32", or "int64"
    for token ids.
    """
    if not isinstance(dataset, Dataset):
        raise DataError(f"prepare() needs a Dataset, got {type(dataset).__name__}")
    src = dataset.name
    # several inputs: one type per input (the model's declarations, in order)
    x_dtypes = [x_dtype] if isinstance(x_dtype, str) else list(x_dtype) or ["float32"]
    x_dtype = x_dtypes[0]
    given = dict(given or {})
    fraction = _fraction(src, "val_split", val_split)
    test_fraction = _fraction(src, "test_split", test_split)
    for name, value in (("val", fraction), ("test", test_fraction)):
        if name in given and value > 0:
            raise DataError(
                f"{src}() already has a {name} split (its {name}/ folder), so {name}_split="
                f"{value} would hold out a second one",
                hint=f"remove {name}_split, or the {name}/ folder",
            )
    if fraction + test_fraction >= 1.0:
        raise DataError(
            f"val_split={fraction} and test_split={test_fraction} leave no training samples"
        )
    standardise = _bool(src, "normalize", normalize)
    if target is not None and not (isinstance(target, str) and target == "input"):
        raise DataError(
            f"option 'target' of {src}() must be 'input' (to reconstruct x), got {_show(target)}",
            hint=None if "target" not in _OPTIONS.get(src, ()) else "or name a column of the data",
        )
    if x_dtype == "int64" and (standardise or target == "input"):
        raise DataError(
            f"{src}(): the model takes integer ids (long), which cannot be "
            + ("normalized" if standardise else "reconstructed as real values"),
            hint="remove normalize=true" if standardise else "declare a float input",
        )
    seed = _int(src, "seed", seed, minimum=0)
    n = len(dataset)
    if dataset.y.ndim == 2 and dataset.y.shape[1] == 0 and target != "input":
        columns = ", ".join(dataset.feature_names or ())
        raise DataError(
            f"{src}() has no target values",
            hint=f"name the target column with target=<column> (columns: {columns}), "
            "or write target=input to reconstruct the inputs",
        )
    n_test = round(n * test_fraction)
    n_val = round(n * fraction)
    for name, value, count in (
        ("val_split", fraction, n_val),
        ("test_split", test_fraction, n_test),
    ):
        if value > 0 and count == 0:
            what = "validation" if name == "val_split" else "test"
            raise DataError(
                f"{name}={value} of {n} samples leaves no {what} samples",
                hint=f"use a larger {name}, or {name}=0 for no {what} set",
            )
    if n_val + n_test >= n:
        raise DataError(f"val_split={fraction} of {n} samples leaves no training samples")
    order = np.random.default_rng(seed).permutation(n)
    test_idx, val_idx, train_idx = (
        order[:n_test],
        order[n_test : n_test + n_val],
        order[n_test + n_val :],
    )

    def inputs(x: np.ndarray) -> np.ndarray:
        return _as_inputs(src, x, x_dtype)

    parts: dict[str, tuple[np.ndarray, np.ndarray] | None] = {
        "train": (inputs(dataset.x[train_idx]), dataset.y[train_idx]),
        "val": (inputs(dataset.x[val_idx]), dataset.y[val_idx]) if n_val else None,
        "test": (inputs(dataset.x[test_idx]), dataset.y[test_idx]) if n_test else None,
    }
    for name, part in given.items():
        if part.x.shape[1:] != dataset.x.shape[1:]:
            raise DataError(
                f"{src}(): the {name} samples have shape {list(part.x.shape[1:])}, the training "
                f"samples {list(dataset.x.shape[1:])}"
            )
        parts[name] = (inputs(part.x), part.y)
    stats: NormStats | None = None
    if standardise:
        train_x = parts["train"][0]  # type: ignore[index]
        axes = _stat_axes(train_x.ndim)
        mean = train_x.mean(axis=axes, keepdims=True, dtype=np.float64)[0]
        std = train_x.std(axis=axes, keepdims=True, dtype=np.float64)[0]
        std[std == 0] = 1.0
        stats = NormStats(mean=mean.astype(np.float32), std=std.astype(np.float32))
        parts = {k: None if v is None else (stats.apply(v[0]), v[1]) for k, v in parts.items()}
    if target == "input":
        parts = {k: None if v is None else (v[0], v[0].copy()) for k, v in parts.items()}
    train, val, test = parts["train"], parts["val"], parts["test"]
    assert train is not None
    reconstruct = target == "input"
    more, more_norm = _more_arrays(
        dataset, {"train": train_idx, "val": val_idx, "test": test_idx}, standardise, x_dtypes
    )
    if more and reconstruct and dataset.more_x:
        raise DataError(
            f"{src}(): target=input reconstructs the input, but the data has "
            f"{1 + len(dataset.more_x)} input arrays",
            hint="name the targets instead, e.g. y=[...]",
        )
    return Split(
        train_x=train[0],
        train_y=train[1],
        val_x=None if val is None else val[0],
        val_y=None if val is None else val[1],
        test_x=None if test is None else test[0],
        test_y=None if test is None else test[1],
        task="regression" if reconstruct else dataset.task,
        num_classes=None if reconstruct else dataset.num_classes,
        name=src,
        norm_stats=stats,
        class_names=None if reconstruct else dataset.class_names,
        more=more or None,
        more_norm=more_norm,
        x_names=dataset.x_names,
        y_names=dataset.y_names,
    )


def _more_arrays(
    dataset: Dataset,
    index: Mapping[str, np.ndarray],
    standardise: bool,
    x_dtypes: Sequence[str],
) -> tuple[dict[str, np.ndarray], tuple[NormStats | None, ...]]:
    """The other input and target arrays of a data set with several, split by the same
    permutation as the first ones ("train_x1", "val_y1", ...); each float input array
    standardised with the statistics of its own training split."""
    src = dataset.name
    out: dict[str, np.ndarray] = {}
    stats_list: list[NormStats | None] = []
    for i, array in enumerate(dataset.more_x, 1):
        dtype = x_dtypes[i] if i < len(x_dtypes) else "float32"
        if dtype == "int64" and standardise:
            raise DataError(
                f"{src}(): input {i + 1} of the model takes integer ids (long), which cannot "
                "be normalized",
                hint="remove normalize=true",
            )
        split = {k: _as_inputs(src, array[idx], dtype) for k, idx in index.items() if len(idx)}
        stats = None
        if standardise:
            train_x = split["train"]
            axes = _stat_axes(train_x.ndim)
            mean = train_x.mean(axis=axes, keepdims=True, dtype=np.float64)[0]
            std = train_x.std(axis=axes, keepdims=True, dtype=np.float64)[0]
            std[std == 0] = 1.0
            stats = NormStats(mean=mean.astype(np.float32), std=std.astype(np.float32))
            split = {k: stats.apply(v) for k, v in split.items()}
        stats_list.append(stats)
        out.update({f"{k}_x{i}": v for k, v in split.items()})
    for i, array in enumerate(dataset.more_y, 1):
        out.update({f"{k}_y{i}": array[idx] for k, idx in index.items() if len(idx)})
    return out, tuple(stats_list)


# --------------------------------------------------------------------------------------------
# The compiler's entry point


def load(
    name: str,
    options: Mapping[str, object],
    *,
    seed: int,
    base_dir: Path,
    task: str | None = None,
    x_dtype: str | Sequence[str] = "float32",
) -> Split:
    """Load the source `name` with the spec's `options` and prepare it.

    `val_split`, `test_split`, `normalize` and `target` go to `prepare` (except that a source
    with its own `target` option, csv, gets `target` unless it is "input"); `task` goes to the
    sources that read files (it decides how their targets are read) and is checked against
    the labels of the others; the rest go to the source. `task` (the keyword) is the train
    section's task, used when the options do not say; `x_dtype` the model's input type.
    Relative paths are resolved against `base_dir`, the folder of the spec file.
    """
    if not isinstance(name, str) or name not in SOURCES:
        raise _unknown_source(name)
    if not isinstance(options, Mapping):
        raise DataError(f"the options of {name}() must be a mapping, got {type(options).__name__}")
    opts: dict[str, object] = {}
    for key, value in options.items():
        if not isinstance(key, str):
            raise DataError(f"{name}(): option names must be strings, got {_show(key)}")
        opts[key] = value
    if "seed" in opts:
        raise DataError(
            f"{name}() has no option 'seed'",
            hint="the data is shuffled and generated with the seed of the train section",
        )
    if any(
        d not in ("float32", "int64") for d in ([x_dtype] if isinstance(x_dtype, str) else x_dtype)
    ):
        raise DataError(f"x_dtype must be 'float32' or 'int64', got {_show(x_dtype)}")
    common: dict[str, Any] = {
        key: opts.pop(key) for key in ("val_split", "test_split", "normalize") if key in opts
    }
    for key in STREAM_DATA_OPTIONS.get(name, ()):
        # how the files are read when they stream (nndsl/data/streaming.py); loaded whole,
        # a data set is the same (augmentation needs the streaming path, which says so)
        opts.pop(key, None)
    wanted = _task_option(name, opts.pop("task")) if "task" in opts else _task_option(name, task)
    goal: Any = None
    if "target" in opts:
        value = opts["target"]
        if (isinstance(value, str) and value == "input") or "target" not in _OPTIONS[name]:
            goal = opts.pop("target")
    folder = Path(base_dir)
    for key in _PATH_OPTIONS[name]:
        value = opts.get(key)
        if (
            isinstance(value, (str, os.PathLike))
            and os.fspath(value)
            and "\x00" not in os.fspath(value)
        ):
            resolved = Path(os.fspath(value)).expanduser()
            opts[key] = resolved if resolved.is_absolute() else folder / resolved
    if _TAKES_TASK[name] and wanted is not None and goal is None:
        opts["task"] = wanted
    dataset = SOURCES[name](seed=seed, **opts)
    if (
        isinstance(goal, str)
        and goal == "input"
        and dataset.feature_names
        and "input" in dataset.feature_names
    ):
        if "target" in _OPTIONS[name]:
            raise DataError(
                f"target=input is ambiguous for {name}(): the data also has a column named 'input'",
                hint="target=input means 'reconstruct the inputs'; rename the column to use it "
                "as the target",
            )
    if goal is None and wanted is not None:
        dataset = _with_task(dataset, wanted)
    return prepare(
        dataset,
        val_split=common.get("val_split", 0.0),
        test_split=common.get("test_split", 0.0),
        normalize=common.get("normalize", False),
        target=goal,
        seed=seed,
        x_dtype=x_dtype,
        given=dataset.given,
    )


def _with_task(dataset: Dataset, task: str) -> Dataset:
    """The data set with its targets read as `task` asks: class labels become 0/1 values for a
    multi-label task or values for regression (bundled and generated sources, whose labels are
    numbered 0, 1, ...); real values cannot become class labels."""
    want = _data_task(task)
    if want == dataset.task:
        if task == "binary" and dataset.num_classes is not None and dataset.num_classes > 2:
            raise DataError(
                f"{dataset.name}(): a binary task needs two classes, but the data has "
                f"{dataset.num_classes}",
                hint="for several classes use CrossEntropyLoss with one score per class",
            )
        return dataset
    if want == "classification":
        raise DataError(
            f"{dataset.name}(): task={task!r} needs class labels, but the data has real-valued "
            "targets",
            hint='use task="regression", or data whose targets are class labels',
        )
    given = None
    if dataset.given:
        given = {k: _with_task(v, task) for k, v in dataset.given.items()}
    y = dataset.y.astype(np.float32)
    return Dataset(
        x=dataset.x,
        y=y[:, None] if y.ndim == 1 else y,
        task="regression",
        num_classes=None,
        name=dataset.name,
        feature_names=dataset.feature_names,
        given=given,
    )
