"""The data a training run uses, as one `.npz` file: what `train.py` and `nndsl run` both read.

`nndsl generate` writes it next to train.py; `nndsl run` writes it into the run folder.  Both
therefore train on exactly the same arrays, prepared once by `nndsl.data.load`.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from nndsl.data.sources import Split, load


def arrays(split: Split, float_targets: bool | None = None) -> dict[str, np.ndarray]:
    """The arrays of a split, with the dtypes training wants: the inputs as prepared (float32,
    or int64 token ids), int64 class labels, float32 values.  `float_targets`: whether the loss
    takes class labels as 0/1 floats (BCEWithLogitsLoss, BCELoss); by default only regression
    targets are floats."""
    as_float = split.task != "classification" or bool(float_targets)

    def ys(a: np.ndarray) -> np.ndarray:
        return a.astype(np.float32) if as_float else a.astype(np.int64)

    out = {"train_x": split.train_x, "train_y": ys(split.train_y)}
    for name in ("val", "test"):
        x, y = getattr(split, f"{name}_x"), getattr(split, f"{name}_y")
        if x is not None and y is not None and len(x):
            out[f"{name}_x"] = x
            out[f"{name}_y"] = ys(y)
    # several inputs or targets: "train_x1", "val_y1", ... (targets other than the first are
    # taken by a loss block as the data gives them: int64 class labels, float32 values)
    out.update(split.more or {})
    out["task"] = np.array(split.task)
    out["num_classes"] = np.array(split.num_classes or 0)
    if split.class_names:
        out["class_names"] = np.array(split.class_names, dtype=str)
    if split.norm_stats is not None:
        out["norm_mean"] = split.norm_stats.mean
        out["norm_std"] = split.norm_stats.std
    for i, stats in enumerate(split.more_norm, 1):
        if stats is not None:
            out[f"norm_mean{i}"] = stats.mean
            out[f"norm_std{i}"] = stats.std
    return out


def prepare(
    name: str,
    options: Mapping[str, object],
    *,
    seed: int,
    base_dir: Path,
    task: str | None = None,
    float_targets: bool | None = None,
    x_dtype: str | Sequence[str] = "float32",
) -> tuple[Split, dict[str, np.ndarray]]:
    split = load(name, options, seed=seed, base_dir=base_dir, task=task, x_dtype=x_dtype)
    return split, arrays(split, float_targets)


# the member of a written archive holding the sha256 of all the others: it marks the file as
# written by nndsl (and unchanged since), so `generate` knows it may replace it
STAMP = "nndsl_sha256"


def _npy(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)
    return out.getvalue()


def _digest(members: Mapping[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(members):
        h.update(name.encode("utf-8") + b"\0" + str(len(members[name])).encode() + b"\0")
        h.update(members[name])
    return h.hexdigest()


def to_bytes(data: Mapping[str, np.ndarray], level: int = 6) -> bytes:
    """An .npz archive (readable by `np.load`) whose bytes depend only on the arrays: entries in a
    fixed order with a fixed timestamp, so generating twice gives identical files.  It also holds
    `nndsl_sha256`, the digest of the other entries (see `stamp_status`).  `level`: zlib's
    compression level (1: about five times faster than 6, for a file about a third larger)."""
    members = {f"{name}.npy": _npy(data[name]) for name in sorted(data) if name != STAMP}
    members[f"{STAMP}.npy"] = _npy(np.array(_digest(members)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, members[name], compresslevel=level)
    return buf.getvalue()


def stamp_status(path: str) -> str:
    """ "generated" (an archive nndsl wrote, unchanged), "edited" (written by nndsl, changed
    since) or "foreign" (anything else, also an unreadable file)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if f"{STAMP}.npy" not in names or len(names) > 1000:
                return "foreign"
            members = {n: zf.read(n) for n in names}
        stamp = members.pop(f"{STAMP}.npy")
        value = np.lib.format.read_array(io.BytesIO(stamp), allow_pickle=False)
        return "generated" if str(value) == _digest(members) else "edited"
    except Exception:  # (not an archive, or a damaged one: not ours to replace)
        return "foreign"
