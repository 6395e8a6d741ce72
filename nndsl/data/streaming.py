"""The streaming data path: file sources read item by item by DataLoader workers.

Small data keeps the fast path (`nndsl.data.snapshot`: every array in one `data.npz`, batches
sliced from device tensors).  An image folder with `stream=true`, with `augment=[...]`, or with
at least `STREAM_IMAGES_FROM` images (nndsl/catalog/training.py) is not loaded: `generate` and
`nndsl run` write a small `data.json` instead, which says where the images are (relative to the
data.json), how many there are and a digest of their names (so a changed folder is noticed),
the class names, how the images are decoded (size, grayscale), the split (sizes and seed: the
same permutation as the in-memory path), the transforms and the normalisation statistics.  The
training script (nndsl/runtime/training_utils.py, `load_stream`) lists the folder again and
decodes each image when a batch needs it.  The memory used does not grow with the images'
pixels: only the list of names is held.

No torch here: `check`, `summary` and `generate` stay torch-free.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nndsl.catalog.training import (
    DEFAULT_WORKERS,
    STREAM_CSV_BYTES_FROM,
    STREAM_DATA_OPTIONS,
    STREAM_IMAGES_FROM,
    TRANSFORMS,
    transform_problem,
    transforms_for,
)
from nndsl.data.errors import DataError
from nndsl.data.sources import (
    IMAGE_SUFFIXES,
    _bool,
    _image_size,
    _int,
    _pillow,
    eight_bit,
    prepare,
)

FORMAT = "nndsl-stream-1"
STAMP = "nndsl_sha256"


def _words(value: Any) -> Any:
    """A plan value as plain data: names become strings, calls (transforms) {name, args}."""
    name = getattr(value, "name", None)
    if isinstance(name, str) and hasattr(value, "kwargs"):
        return {"name": name, "args": [_words(a) for a in value.args], "kwargs": dict(value.kwargs)}
    if isinstance(name, str):
        return name
    if isinstance(value, (list, tuple)):
        return [_words(v) for v in value]
    return value


def streams(name: str, options: Mapping[str, Any], base_dir: Path) -> bool:
    """Whether the data source `name(**options)` takes the streaming path (see the module
    docstring).  A folder that cannot be listed does not stream: loading it reports why."""
    if name not in STREAM_DATA_OPTIONS:
        return False
    stream = options.get("stream")
    if isinstance(stream, bool):
        return stream
    if name == "image_folder":
        if options.get("augment"):
            return True
        root = _root(options, base_dir)
        try:
            return _count_images(root, STREAM_IMAGES_FROM) >= STREAM_IMAGES_FROM
        except OSError:
            return False
    if name == "csv":
        if options.get("augment"):
            return True
        try:
            return _root(options, base_dir).stat().st_size >= STREAM_CSV_BYTES_FROM
        except OSError:
            return False
    return False


def _root(options: Mapping[str, Any], base_dir: Path) -> Path:
    path = Path(os.fspath(options.get("path", ""))).expanduser()
    return path if path.is_absolute() else base_dir / path


def _count_images(root: Path, enough: int) -> int:
    """The images under `root` (its class folders, or train/val/test/class), stopping at
    `enough`."""
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        n += sum(
            1
            for f in filenames
            if not f.startswith(".") and os.path.splitext(f)[1].lower() in IMAGE_SUFFIXES
        )
        if n >= enough:
            break
    return n


def list_images(
    root: Path, known: tuple[str, ...] | None = None
) -> tuple[tuple[str, ...], list[str], list[int]]:
    """(classes, file names relative to `root`, labels) of a folder with one subfolder per
    class, in the order `image_folder` reads them (classes sorted, files sorted by name).  The
    training script lists a folder the same way (training_utils.list_images)."""
    try:
        classes = sorted(
            d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")
        )
        if known is not None:
            unknown = [c for c in classes if c not in known]
            if unknown:
                raise DataError(
                    f"image_folder(): {root} has the class '{unknown[0]}', which train/ does "
                    "not have",
                    hint=f"the classes of train/ are: {', '.join(known)}",
                )
            classes = [c for c in known if (root / c).is_dir()]
        files: list[str] = []
        labels: list[int] = []
        order = known if known is not None else tuple(classes)
        for name in classes:
            found = sorted(
                f.name
                for f in (root / name).iterdir()
                if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in IMAGE_SUFFIXES
            )
            if not found and known is None:
                raise DataError(
                    f"image_folder(): the class folder '{name}' has no images ({root / name})",
                    hint=f"image files end in {', '.join(sorted(IMAGE_SUFFIXES))}; remove the "
                    "folder, or put its images in it",
                )
            files += [f"{name}/{f}" for f in found]
            labels += [order.index(name)] * len(found)
    except OSError as exc:
        raise DataError(f"image_folder(): cannot list {root}: {exc.strerror or exc}") from None
    if known is None and not classes:
        raise DataError(
            f"image_folder(): {root} has no class subfolders",
            hint="put the images of each class in their own subfolder, e.g. cats/ and dogs/",
        )
    return tuple(order), files, labels


def digest(files: Iterable[str], labels: Iterable[int]) -> str:
    """The digest of a folder's listing (names and labels), as the training script computes
    it (training_utils.listing_digest)."""
    h = hashlib.sha256()
    for f, label in zip(files, labels):
        h.update(f"{label}\0{f}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def transforms(value: Any, source: str = "image_folder") -> list[dict[str, Any]]:
    """`augment=[...]` of the data source `source` as data.json holds it: [{"name": ...,
    <param>: value, ...}, ...] with every parameter (defaults filled in), each checked (the
    checker reports the same, located; this is for the Python API)."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise DataError(f"option 'augment' of {source}() must be a list of transforms")
    own = transforms_for(source)
    out = []
    for item in value:
        tv = _tv_transform(item) if source == "image_folder" else None
        if tv is not None:
            out.append(tv)
            continue
        item = _words(item)
        if isinstance(item, str):
            item = {"name": item, "args": [], "kwargs": {}}
        if not isinstance(item, dict):
            raise DataError(f"{source}(): {item!r} is not a transform")
        name, args, kwargs = item["name"], list(item["args"]), dict(item["kwargs"])
        problem = transform_problem(name, args, kwargs)
        if problem is None and name not in own:
            problem = f"'{name}' is not a transform of {source}() (those are: {', '.join(own)})"
        if problem is not None:
            raise DataError(f"{source}(): augment: {problem}".replace("`", "'"))
        t = TRANSFORMS[name]
        bound = dict(zip(t.params[t.required :], t.defaults))
        bound.update(zip(t.params, args))
        bound.update(kwargs)
        if "size" in bound:
            size = bound["size"]
            bound["size"] = [size, size] if isinstance(size, int) else list(size)
        out.append({"name": name, "random": t.random, **bound})
    return out


def _tv_transform(item: Any) -> dict[str, Any] | None:
    """A torchvision.transforms.v2 transform of `augment` as data.json holds it ({"name",
    "torchvision": true, "random", "args", "kwargs"}), built once by torchvision to check it;
    None for one of nndsl's own transforms."""
    from nndsl.catalog import tv_transforms as tv

    call = tv.transform_of(item)
    if not isinstance(call, tv.TvCall) or call.name in TRANSFORMS or not tv.looks_like(call.name):
        return None
    try:
        if not tv.installed():
            raise tv.TvProblem(
                f"'{call.name}' is a torchvision.transforms.v2 transform, which needs torchvision "
                "(not installed)"
            )
        tv.build(call, tv.v2_module())
    except tv.TvProblem as p:
        raise DataError(f"image_folder(): augment: {p.message}".replace("`", "'")) from None
    return {
        "name": call.name,
        "torchvision": True,
        "random": tv.is_random(call),
        **tv.to_data(call),
    }


def image_manifest(
    options: Mapping[str, Any],
    *,
    seed: int,
    base_dir: Path,
    data_dir: Path | None,
    task: str | None = None,
    float_targets: bool = False,
) -> dict[str, Any]:
    """The data.json of a streaming image folder (see the module docstring).  `data_dir`: the
    folder the data.json is written to (the folder path is stored relative to it), None for an
    absolute path."""
    unknown = set(options) - {
        "path",
        "size",
        "grayscale",
        "val_split",
        "test_split",
        "normalize",
        "task",
        "target",
        *STREAM_DATA_OPTIONS["image_folder"],
    }
    if unknown:
        raise DataError(f"image_folder() has no option '{sorted(unknown)[0]}'")
    if "path" not in options:
        raise DataError(
            "image_folder() needs the option 'path'", hint="write image_folder(path=...)"
        )
    root = _root(options, base_dir)
    size = _image_size(options.get("size"))
    gray = _bool("image_folder", "grayscale", options.get("grayscale", False))
    workers = _int("image_folder", "workers", options.get("workers", DEFAULT_WORKERS), minimum=0)
    skip_bad = _bool("image_folder", "skip_bad", options.get("skip_bad", False))
    normalize = _bool("image_folder", "normalize", options.get("normalize", False))
    wanted = options.get("task") or task
    if wanted in ("regression", "multilabel"):
        raise DataError(
            f"image_folder(): a streaming image folder holds class labels, not task={wanted!r}",
            hint="use a classification loss, or stream=false to load the images whole",
        )
    if options.get("target") is not None:
        raise DataError(
            "image_folder(): target=input needs the images loaded whole",
            hint="write stream=false (and leave out augment)",
        )
    try:
        if not root.is_dir():
            kind = "is a file, not a folder" if root.exists() else "does not exist"
            raise DataError(f"image_folder(): {root} {kind}")
        subfolders = {d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")}
    except OSError as exc:
        raise DataError(f"image_folder(): cannot list {root}: {exc.strerror or exc}") from None
    given = "train" in subfolders and subfolders <= {"train", "val", "test"}
    listing: dict[str, dict[str, Any]] = {}
    if given:
        classes, files, labels = list_images(root / "train")
        listing["train"] = {"count": len(files), "digest": digest(files, labels)}
        for part in ("val", "test"):
            if part in subfolders:
                _, f2, l2 = list_images(root / part, classes)
                if not f2:  # (as image_folder refuses it: a split of no samples)
                    raise _empty_split(root / part)
                listing[part] = {"count": len(f2), "digest": digest(f2, l2)}
    else:
        classes, files, labels = list_images(root)
        listing[""] = {"count": len(files), "digest": digest(files, labels)}
    if not files:
        raise DataError(f"image_folder(): {root} has no images in its class folders")
    # the split: the in-memory path's own rules and permutation (sources.prepare), checked on
    # a stand-in of the samples' indices
    index = np.arange(len(files), dtype=np.int64)[:, None]
    from nndsl.data.sources import Dataset

    split = prepare(
        Dataset(
            x=index,
            y=np.asarray(labels, dtype=np.int64),
            task="classification",
            num_classes=len(classes),
            name="image_folder",
        ),
        val_split=options.get("val_split", 0.0),
        test_split=options.get("test_split", 0.0),
        seed=seed,
        x_dtype="int64",
        given={
            part: Dataset(
                x=np.zeros((listing[part]["count"], 1), np.int64),
                y=np.zeros(listing[part]["count"], np.int64),
                task="classification",
                num_classes=len(classes),
                name="image_folder",
            )
            for part in ("val", "test")
            if part in listing and listing[part]["count"]
        },
    )
    counts = {
        "train": len(split.train_y),
        "val": 0 if split.val_y is None else len(split.val_y),
        "test": 0 if split.test_y is None else len(split.test_y),
    }
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "source": "image_folder",
        "root": _stored_path(root, data_dir),
        "layout": "splits" if given else "classes",
        "listing": listing,
        "split": {
            "seed": seed,
            "val": 0 if given else counts["val"],
            "test": 0 if given else counts["test"],
        },
        "samples": counts,
        "class_names": list(classes),
        "num_classes": len(classes),
        "float_targets": bool(float_targets),
        "mode": "L" if gray else "RGB",
        "size": list(size) if size else None,
        "image_size": list(size)
        if size
        else _first_size((root / "train" if given else root) / files[0]),
        "transforms": transforms(options.get("augment")),
        "workers": workers,
        "skip_bad": skip_bad,
        "normalization": None,
    }
    if normalize:
        train_files = files if given else [files[int(i)] for i in split.train_x[:, 0]]
        folder = root / "train" if given else root
        manifest["normalization"] = image_stats(folder, train_files, manifest)
    return manifest


def _empty_split(folder: Path) -> DataError:
    """The error of a given split's folder (val/, test/) without images, as image_folder's."""
    try:
        classes = any(d.is_dir() and not d.name.startswith(".") for d in folder.iterdir())
    except OSError as exc:
        return DataError(f"image_folder(): cannot list {folder}: {exc.strerror or exc}")
    if not classes:
        return DataError(
            f"image_folder(): {folder} has no class subfolders",
            hint="put the images of each class in their own subfolder, e.g. cats/ and dogs/",
        )
    return DataError(f"image_folder(): {folder} has no images in its class folders")


def _stored_path(path: Path, data_dir: Path | None) -> str:
    absolute = os.path.abspath(path)
    if data_dir is None:
        return absolute
    try:
        return os.path.relpath(absolute, os.path.abspath(data_dir))
    except ValueError:  # another drive (Windows)
        return absolute


def _first_size(path: Path) -> list[int]:
    """[height, width] of an image, from its header (every image must have it without `size`)."""
    image = _pillow()
    try:
        with image.open(path) as picture:
            width, height = picture.size
    except Exception as exc:  # pillow raises many types for bad files
        raise DataError(
            f"image_folder(): cannot read the image {path}: {type(exc).__name__}: {exc}",
            hint="remove or replace the file, or pass size=(height, width)",
        ) from None
    return [height, width]


def decode(path: Path, mode: str, size: list[int] | None) -> np.ndarray:
    """One image as uint8 [H, W, C] (C = 1 or 3), converted and resized as the training
    script decodes it (ImageFiles in the generated train.py)."""
    image = _pillow()
    with image.open(path) as picture:
        picture = eight_bit(image, picture).convert(mode)
        if size is not None:
            picture = picture.resize((size[1], size[0]), image.Resampling.BILINEAR)
        array = np.asarray(picture, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def image_stats(folder: Path, files: list[str], manifest: Mapping[str, Any]) -> dict[str, list]:
    """Per-channel mean and standard deviation of the training images (in [0, 1], as decoded),
    in one pass that holds one image at a time; a standard deviation of 0 becomes 1."""
    channels = 1 if manifest["mode"] == "L" else 3
    total = np.zeros(channels, np.float64)
    squares = np.zeros(channels, np.float64)
    count = 0
    for name in files:
        try:
            array = decode(folder / name, manifest["mode"], manifest["size"])
        except Exception as exc:  # pillow raises many types for bad files
            if manifest["skip_bad"]:
                continue
            raise DataError(
                f"image_folder(): cannot read the image {folder / name}: "
                f"{type(exc).__name__}: {exc}",
                hint="remove or replace the file, or write skip_bad=true to skip unreadable images",
            ) from None
        pixels = array.reshape(-1, channels).astype(np.float64) / 255.0
        total += pixels.sum(0)
        squares += (pixels * pixels).sum(0)
        count += pixels.shape[0]
    if not count:
        raise DataError(f"image_folder(): no training image of {folder} could be read")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    std[std == 0] = 1.0
    return {"mean": [float(m) for m in mean], "std": [float(s) for s in std]}


def manifest(
    name: str,
    options: Mapping[str, Any],
    *,
    seed: int,
    base_dir: Path,
    data_dir: Path | None,
    task: str | None = None,
    float_targets: bool = False,
) -> dict[str, Any]:
    """The data.json of a streaming source."""
    opts = {k: _words(v) if k != "augment" else v for k, v in options.items()}
    if name == "image_folder":
        return image_manifest(
            opts,
            seed=seed,
            base_dir=base_dir,
            data_dir=data_dir,
            task=task,
            float_targets=float_targets,
        )
    if name == "csv":
        return csv_manifest(
            opts,
            seed=seed,
            base_dir=base_dir,
            data_dir=data_dir,
            task=task,
            float_targets=float_targets,
        )
    raise DataError(f"{name}() does not stream", hint="write stream=false")


def to_bytes(manifest: Mapping[str, Any]) -> bytes:
    """data.json's bytes, with the digest of the rest (so `generate` knows it wrote it)."""
    body = {k: v for k, v in manifest.items() if k != STAMP}
    text = json.dumps(body, indent=2, sort_keys=True)
    stamped = {**body, STAMP: hashlib.sha256(text.encode("utf-8")).hexdigest()}
    return (json.dumps(stamped, indent=2, sort_keys=True) + "\n").encode("utf-8")


def stamp_status(path: str) -> str:
    """ "generated", "edited" or "foreign", as `snapshot.stamp_status` for a data.json."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(10_000_001)
        if len(data) > 10_000_000:
            return "foreign"
        value = json.loads(data.decode("utf-8"))
        if not isinstance(value, dict) or value.get("format") != FORMAT or STAMP not in value:
            return "foreign"
        return "generated" if to_bytes(value) == data else "edited"
    except Exception:  # (unreadable, not JSON: not ours to replace)
        return "foreign"


# ---- CSV files


def csv_manifest(
    options: Mapping[str, Any],
    *,
    seed: int,
    base_dir: Path,
    data_dir: Path | None,
    task: str | None = None,
    float_targets: bool = False,
) -> dict[str, Any]:
    """The data.json of a streaming CSV file: the columns and how to read them, found in one
    pass over the file that holds one row at a time (the rules of `sources.csv`: the header,
    numeric features, the target's task and class names), the split, and with normalize=true
    the features' statistics over the training rows (a second pass).  The training script
    finds each row by its byte offset (CsvRows in the generated train.py), so a row must be one line."""
    from nndsl.data.sources import (
        _FLOAT32_MAX,
        _check_file,
        _int_text,
        _parse_number,
        _str,
        _task_option,
        csv_rows,
        utf8_lines,
    )

    if "path" not in options:
        raise DataError("csv() needs the option 'path'", hint="write csv(path=...)")
    file = _root(options, base_dir)
    sep = _str("csv", "delimiter", options.get("delimiter", ","))
    if len(sep) != 1 or sep in '\r\n"':
        raise DataError(f"option 'delimiter' of csv() must be a single character, got {sep!r}")
    header_opt = options.get("header")
    has_header = None if header_opt is None else _bool("csv", "header", header_opt)
    target = options.get("target")
    if isinstance(target, str) and target == "input":
        raise DataError(
            "csv(): target=input needs the file loaded whole", hint="write stream=false"
        )
    forced = _task_option("csv", options.get("task") or task)
    workers = _int("csv", "workers", options.get("workers", DEFAULT_WORKERS), minimum=0)
    normalize = _bool("csv", "normalize", options.get("normalize", False))
    features = options.get("features")
    wanted = [features] if isinstance(features, str) else features
    header: list[str] | None = None
    inputs: list[int] = []
    target_index: int | None = None
    n = 0
    all_int = all_float = True
    labels: set[Any] = set()
    not_finite: tuple[int, str] | None = None  # the first NaN or infinite target value
    too_large: tuple[int, str] | None = None  # the first one float32 cannot hold
    _check_file("csv", file)
    # the rows as the whole file's (sources.csv_rows), its lines split at \n only: as the
    # training script finds them (training_utils.line_offsets)
    for line, last, row in csv_rows(file, utf8_lines("csv", file), sep):
        if line != last:
            raise DataError(
                f"csv(): {file}, line {line}: a quoted field holds a line break (the row "
                f"ends on line {last}), but a streamed CSV file has one row per line",
                hint="write stream=false to load the file whole",
            )
        if header is None:
            cells = [c.strip() for c in row]
            numeric = all(_parse_number(c) is not None for c in cells)
            if has_header is True or (has_header is None and not numeric):
                header, has_header = cells, True
            else:
                header, has_header = [str(i) for i in range(len(row))], False
            inputs, target_index = _csv_columns(file, header, target, wanted)
            if has_header:
                continue
        if len(row) != len(header):
            raise DataError(
                f"csv(): {file}, line {line}: expected {len(header)} fields like the "
                f"first row, found {len(row)}",
                hint=f"check the delimiter (now {sep!r}) and quoting on that line",
            )
        for index in inputs:
            cell = row[index].strip()
            value = _parse_number(cell)
            if value is None or not math.isfinite(value) or abs(value) > _FLOAT32_MAX:
                what = "is empty" if not cell else f"has {cell!r}, not a finite number"
                raise DataError(
                    f"csv(): {file}, line {line}: column '{header[index]}' {what}",
                    hint="feature columns must hold numbers",
                )
        if target_index is not None:
            cell = row[target_index].strip()
            if not cell:
                raise DataError(
                    f"csv(): {file}, line {line}: the target column "
                    f"'{header[target_index]}' is empty"
                )
            if all_int:
                try:
                    int(cell)
                except ValueError:
                    all_int = False
            if all_float:
                number = _parse_number(cell)
                all_float = number is not None
                if number is not None and not abs(number) <= _FLOAT32_MAX:
                    if math.isfinite(number) or _int_text(cell):  # (an integer: only large)
                        too_large = too_large or (line, cell)
                    else:  # NaN or infinite
                        not_finite = not_finite or (line, cell)
            if len(labels) <= MAX_CLASSES:
                labels.add(cell)
        n += 1
    if header is None:
        raise DataError(f"csv(): {file} is empty", hint="the first line must name the columns")
    if not n:
        raise DataError(
            f"csv(): {file} has a header but no data rows",
            hint="the lines after the first hold the samples, one per line",
        )
    kind = "regression"
    class_names: list[str] = []
    label_kind = None
    if target_index is not None:
        regression = forced in ("regression", "multilabel") or (
            forced is None and all_float and not all_int
        )
        if forced in ("regression", "multilabel") and not (all_int or all_float):
            raise DataError(f"csv(): the target of {file} is not numeric, but task is regression")
        bad = None
        if all_float:  # numeric targets: NaN and infinity are neither values nor classes
            bad = not_finite or (too_large if regression else None)
        if bad is not None:
            line, cell = bad
            raise DataError(
                f"csv(): {file}, line {line}: the target column '{header[target_index]}' has "
                + repr(cell)
                + (", not a finite number" if bad is not_finite else ", which float32 cannot hold"),
                hint="remove the row, or give it a value",
            )
        if not regression:
            kind = "classification"
            if len(labels) > MAX_CLASSES:
                raise DataError(
                    f"csv(): the target of {file} has more than {MAX_CLASSES:,} distinct values",
                    hint='for real-valued targets write task="regression"',
                )
            label_kind = "int" if all_int else "float" if all_float else "str"
            parse = {"int": int, "float": float, "str": str}[label_kind]
            values = sorted({parse(v) for v in labels})
            class_names = [str(v) for v in values]
    else:
        raise DataError(
            f"csv(): {file}: name the target column with target=<column>",
            hint="target=input (an autoencoder) needs stream=false",
        )
    order_counts = _split_counts(n, options, seed)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "source": "csv",
        "path": _stored_path(file, data_dir),
        "bytes": file.stat().st_size,
        "rows": n,
        "delimiter": sep,
        "header": bool(has_header),
        "columns": len(header),
        "features": inputs,
        "feature_names": [header[i] for i in inputs],
        "target": target_index,
        "task": kind,
        "label_kind": label_kind,
        "class_names": class_names,
        "num_classes": len(class_names) if kind == "classification" else None,
        "float_targets": bool(float_targets) or kind == "regression",
        "split": {"seed": seed, "val": order_counts["val"], "test": order_counts["test"]},
        "samples": order_counts,
        "transforms": transforms(options.get("augment"), "csv"),
        "workers": workers,
        "normalization": None,
    }
    if normalize:
        manifest["normalization"] = _csv_stats(file, manifest)
    return manifest


#: Distinct target values a streamed CSV file may have as class labels.
MAX_CLASSES = 10_000


def _csv_columns(
    file: Path, header: list[str], target: Any, wanted: Any
) -> tuple[list[int], int | None]:
    """(feature column indices, target column index) as `sources.csv` picks them."""
    for i, name in enumerate(header):
        if not name:
            raise DataError(f"csv(): {file}: column {i + 1} of the header has no name")
    if len(set(header)) != len(header):
        raise DataError(f"csv(): {file}: the header names a column twice")

    def column(name: str, role: str) -> int:
        if name not in header:
            raise DataError(
                f"csv(): {file} has no column '{name}' (asked for as {role})",
                hint="its columns are: " + ", ".join(header),
            )
        return header.index(name)

    target_index: int | None = None
    if isinstance(target, int) and not isinstance(target, bool):
        if not -len(header) <= target < len(header):
            raise DataError(f"csv(): target={target} is not a column of {file}")
        target_index = target % len(header)
    elif target is not None:
        target_index = column(str(target).strip(), "target")
    if wanted is None:
        inputs = [i for i in range(len(header)) if i != target_index]
    else:
        if not isinstance(wanted, (list, tuple)) or not all(isinstance(w, str) for w in wanted):
            raise DataError("option 'features' of csv() must be a list of column names")
        inputs = [column(w.strip(), "a feature") for w in wanted]
        if target_index is not None and target_index in inputs:
            raise DataError("csv(): the target column is also listed in features")
        if len(set(inputs)) != len(inputs):
            raise DataError("csv(): option 'features' names a column twice")
    if not inputs:
        raise DataError(f"csv(): {file} has no columns left to use as features")
    return inputs, target_index


def _split_counts(n: int, options: Mapping[str, Any], seed: int) -> dict[str, int]:
    """The split's sizes, by `sources.prepare`'s rules (checked there, on a stand-in)."""
    from nndsl.data.sources import Dataset

    split = prepare(
        Dataset(
            x=np.zeros((n, 1), np.int64),
            y=np.zeros((n, 1), np.float32),
            task="regression",
            num_classes=None,
            name="csv",
        ),
        val_split=options.get("val_split", 0.0),
        test_split=options.get("test_split", 0.0),
        seed=seed,
        x_dtype="int64",
    )
    return {
        "train": len(split.train_x),
        "val": 0 if split.val_x is None else len(split.val_x),
        "test": 0 if split.test_x is None else len(split.test_x),
    }


def _csv_stats(file: Path, manifest: Mapping[str, Any]) -> dict[str, list]:
    """Mean and standard deviation of each feature over the training rows (the permutation's
    rows after the test and validation ones), one pass; a standard deviation of 0 becomes 1."""
    from nndsl.data.sources import csv_rows, utf8_lines

    n = manifest["rows"]
    order = np.random.default_rng(manifest["split"]["seed"]).permutation(n)
    training = np.zeros(n, dtype=bool)
    training[order[manifest["split"]["test"] + manifest["split"]["val"] :]] = True
    features = manifest["features"]
    total = np.zeros(len(features), np.float64)
    squares = np.zeros(len(features), np.float64)
    rows = csv_rows(file, utf8_lines("csv", file), manifest["delimiter"])
    if manifest["header"]:
        next(rows, None)
    for row_index, (_, _, row) in enumerate(rows):
        if training[row_index]:
            # as float32, the type the in-memory path computes its statistics from
            values = np.array([float(row[i]) for i in features], np.float32)
            values = values.astype(np.float64)
            total += values
            squares += values * values
    count = int(training.sum())
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean * mean, 0.0))
    std[std == 0] = 1.0
    return {"mean": [float(m) for m in mean], "std": [float(s) for s in std]}


# ---- the plan's side: which file a training script reads


def plan_options(plan: Any) -> dict[str, Any]:
    """The data options of a train plan, positional ones by name, names as strings."""
    from nndsl.catalog.training import DATA_SOURCES

    if plan.data is None:
        return {}
    options = {k: v if k == "augment" else _words(v) for k, v in plan.data.kwargs}
    if plan.data.args and plan.data.name in DATA_SOURCES:
        names = DATA_SOURCES[plan.data.name].positional
        options.update({n: _words(v) for n, v in zip(names, plan.data.args)})
    return options


def plan_streams(plan: Any, spec_path: str) -> bool:
    """Whether a train plan's data takes the streaming path (its script reads data.json)."""
    if plan.data is None:
        return False
    base = Path(os.path.dirname(os.path.abspath(spec_path)))
    return streams(plan.data.name, plan_options(plan), base)
