"""Robustness of the verbs that read data, checkpoints and flags: `run`, `generate`,
`evaluate`, `predict`, `export` (and `check`, `summary`, `fmt`, `graph` for bad paths), called
in-process through the command line's `main`.

- Malformed data files (CSV cut short, ragged, with a non-numeric or empty cell, empty, binary;
  npz cut short, with bytes flipped, with the wrong arrays; PNG cut short, empty, garbage) given
  to a spec's `data`, to `evaluate --data` and to `predict`.
- Bad flag values (negative sizes, words for numbers, paths that do not exist, folders instead
  of files, outputs under a file).
- Train sections with tokens deleted, inserted, replaced or swapped, through `run --epochs 1`.
- Data files mutated in kind rather than bytes, through `check` and `run` (fast, every run): a
  CSV streamed from its file (quotes across lines or never closed, lone carriage returns),
  npz arrays of odd dtypes and shapes, image folders with odd images (grayscale among RGB,
  16-bit, RGBA, empty or non-image files, other sizes, nested or empty class folders), loaded
  whole and streamed.

For each: the exit code is 0 (the input was still valid) or 1, never a traceback; a refused
`run`, `generate` or `evaluate --data` whose problem has a place in the spec shows it as
`FILE:LINE:COL`; and a refusal writes nothing (the working folder hashes the same).  The inputs
are drawn from seeded generators (the same every run); NNDSL_FUZZ_EXAMPLES=N draws N per seed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import re
import shutil
import signal
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from nndsl.cli import main

EXAMPLES = int(os.environ.get("NNDSL_FUZZ_EXAMPLES", "0"))
PER_CALL_S = 60.0  # one verb on one input (a slow machine included)

SPEC = """model Net {
    input x: [B, 4]
    Linear(8) -> relu -> Dropout(0.1) -> Linear(3)
}

train {
    data       = DATA
    loss       = CrossEntropyLoss(label_smoothing=0.1)
    optimizer  = AdamW(lr=0.01, weight_decay=1e-4)
    scheduler  = CosineAnnealingLR(T_max=2)
    epochs     = 1
    batch_size = 16
    metrics    = [accuracy, f1]
    early_stopping = EarlyStopping(patience=3)
    checkpoint = Checkpoint(every=1, keep_best=val_accuracy)
    clip_grad_norm = 1.0
    seed = 3
}
"""
DATA_LINE = 7  # of SPEC: where a data error is shown

IMAGE_SPEC = """model Net {
    input x: [B, 1, 8, 8]
    flatten -> Linear(2)
}

train {
    data       = image_folder("imgs", size=8, grayscale=true, val_split=0.25)
    loss       = CrossEntropyLoss()
    optimizer  = Adam(lr=0.01)
    epochs     = 1
    batch_size = 4
}
"""


class _Overtime(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    def alarm(signum, frame):
        raise _Overtime(f"ran over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with _time_limit(PER_CALL_S), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--color", "never", *argv])
    return code, out.getvalue() + err.getvalue()


def _tree(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file()
        else ""
        for p in sorted(folder.rglob("*"))
        if "__pycache__" not in p.parts
    }


def _csv_text(n: int = 40) -> str:
    lines = ["f0,f1,f2,f3,species"]
    for r in range(n):
        lines.append(
            ",".join(f"{(r * 7 + c) % 10 / 10 + r % 3:g}" for c in range(4)) + f",k{r % 3}"
        )
    return "\n".join(lines) + "\n"


X = np.random.RandomState(0).rand(40, 4).astype(np.float32)
Y = np.arange(40) % 3


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _png(seed: int) -> bytes:
    from PIL import Image

    pixels = (np.random.RandomState(seed).rand(8, 8, 3) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """Specs and their data."""
    w = tmp_path_factory.mktemp("fuzzdata")
    (w / "data.csv").write_text(_csv_text())
    (w / "data.npz").write_bytes(_npz(x=X, y=Y))
    (w / "csv.nn").write_text(
        SPEC.replace("DATA", 'csv("data.csv", target="species", val_split=0.25)')
    )
    (w / "npz.nn").write_text(SPEC.replace("DATA", 'npz("data.npz", val_split=0.25)'))
    for c in ("a", "b"):
        (w / "imgs" / c).mkdir(parents=True)
        for i in range(6):
            (w / "imgs" / c / f"{i}.png").write_bytes(_png(i + 10 * (c == "b")))
    (w / "img.nn").write_text(IMAGE_SPEC)
    (w / "adir").mkdir()
    (w / "afile.txt").write_text("not a spec, a checkpoint or a folder\n")
    return w


@pytest.fixture(scope="module")
def work(folder: Path) -> Path:
    """The specs and their data, and a checkpoint of each spec (trained one epoch)."""
    import torch

    torch.set_num_threads(1)
    w = folder
    for name in ("csv", "img"):
        code, out = _cli(["run", str(w / f"{name}.nn"), "--out", str(w / f"ck_{name}"), "--quiet"])
        assert code == 0, out
    return w


def _csv_mutants(rng: random.Random, n: int):
    base = _csv_text()
    raw = base.encode()
    lines = base.splitlines()
    yield "empty", b""
    yield "header only", lines[0].encode() + b"\n"
    yield "binary", bytes(rng.randrange(256) for _ in range(300))
    yield "latin-1", raw.replace(b"k1", b"k\xe91")
    yield "NUL", raw.replace(b",", b"\x00,", 2)
    for _ in range(n):
        op = rng.choice(
            ["cut", "ragged", "word", "empty cell", "open quote", "extra", "nan", "huge", "dup"]
            + ["quoted break", "lone CR", "blank", "BOM", "CRLF"]
        )
        if op == "cut":
            yield op, raw[: rng.randrange(1, len(raw))]
            continue
        if op in ("lone CR", "CRLF"):
            yield op, raw.replace(b"\n", b"\r" if op == "lone CR" else b"\r\n")
            continue
        if op == "BOM":
            yield op, b"\xef\xbb\xbf" + raw
            continue
        i = rng.randrange(1, len(lines))
        cells = lines[i].split(",")
        if op == "ragged":
            cells = cells[: rng.randrange(1, len(cells))]
        elif op == "word":
            cells[rng.randrange(5)] = rng.choice(["abc", "1,5", "0x1F", "--", "True"])
        elif op == "empty cell":
            cells[rng.randrange(5)] = ""
        elif op == "open quote":
            cells[rng.randrange(5)] = '"open'
        elif op == "extra":
            cells.append("9")
        elif op == "nan":
            cells[rng.randrange(4)] = rng.choice(["nan", "-inf", "inf"])
        elif op == "huge":
            cells[rng.randrange(4)] = rng.choice(["1e400", "3.5e38", "-1e39"])
        elif op == "quoted break":
            cells[4] = f'"{cells[4]}\n"'
        elif op == "blank":
            cells = [rng.choice(["", "   ", "\t", " \t "])]
        else:
            lines[0] = lines[0].replace("f1", "f0")
        mutated = list(lines)
        mutated[i] = ",".join(cells)
        yield op, ("\n".join(mutated) + "\n").encode()


def _npz_mutants(rng: random.Random, n: int):
    good = _npz(x=X, y=Y)
    for _ in range(n):
        op = rng.choice(["cut", "flip"])
        if op == "cut":
            yield op, good[: rng.randrange(1, len(good))]
        else:
            b = bytearray(good)
            for _ in range(rng.randint(1, 8)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            yield op, bytes(b)
    yield "empty", b""
    yield "binary", bytes(rng.randrange(256) for _ in range(200))
    yield "other names", _npz(a=X, b=Y)
    yield "wrong width", _npz(x=np.zeros((40, 5), np.float32), y=Y)
    yield "3-d", _npz(x=np.zeros((40, 2, 2), np.float32), y=Y)
    yield "NaN", _npz(x=np.full((40, 4), np.nan, np.float32), y=Y)
    yield "string labels", _npz(x=X, y=np.array(["a", "b"] * 20))
    yield "fractional labels", _npz(x=X, y=Y + 0.5)
    yield "lengths differ", _npz(x=X, y=Y[:10])
    yield "no samples", _npz(x=X[:0], y=Y[:0])
    yield "scalars", _npz(x=np.float32(1), y=np.int64(1))
    yield "strings", _npz(x=np.array([["a"] * 4] * 40), y=Y)
    yield "huge labels", _npz(x=X, y=Y * 10**12)
    yield "negative labels", _npz(x=X, y=Y - 5)
    one = io.BytesIO()
    np.save(one, X)
    yield "npy", one.getvalue()
    members = io.BytesIO()
    with zipfile.ZipFile(members, "w") as z:
        z.writestr("x.npy", b"garbage")
        z.writestr("y.npy", b"\x93NUMPY")
    yield "bad members", members.getvalue()


def _assert_refused_well(argv: list[str], code: int, output: str, spec: Path | None) -> None:
    assert code in (0, 1), f"{argv} exited {code}:\n{output}"
    assert "Traceback" not in output, f"{argv}:\n{output}"
    if code == 1 and spec is not None:
        assert re.search(rf"--> .*{re.escape(spec.name)}:{DATA_LINE}:\d+", output), (
            f"{argv}: not located at the data line:\n{output}"
        )


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_malformed_data_files(seed: int, work: Path, tmp_path: Path) -> None:
    rng = random.Random(seed)
    n = EXAMPLES or 5
    checkpoint = str(work / "ck_csv" / "last.pt")
    for kind, mutants in (
        ("csv", _csv_mutants(rng, n)),
        ("npz", _npz_mutants(rng, n)),
    ):
        data = work / f"data.{kind}"
        original = data.read_bytes()
        spec = work / f"{kind}.nn"
        for label, content in mutants:
            data.write_bytes(content)
            out = tmp_path / f"{kind}-{label}"
            other = 'csv("data.csv", target="species")' if kind == "csv" else 'npz("data.npz")'
            for argv, located in (
                (["run", str(spec), "--out", str(out / "run"), "--quiet"], spec),
                (["generate", str(spec), "-o", str(out / "gen")], spec),
                (
                    ["evaluate", str(work / "csv.nn"), "--checkpoint", checkpoint]
                    + ["--data", other],
                    work / "csv.nn",
                ),
                (["predict", str(work / "csv.nn"), str(data), "--checkpoint", checkpoint], None),
            ):
                before = _tree(work)
                code, output = _cli(argv)
                _assert_refused_well(argv, code, output, located)
                assert _tree(work) == before, f"{argv} ({label}) wrote into the spec's folder"
                if code == 1 and argv[0] == "run":
                    assert not (out / "run").exists(), f"refused run ({label}) left its folder"
        data.write_bytes(original)


@pytest.mark.slow
def test_malformed_images(work: Path, tmp_path: Path) -> None:
    rng = random.Random(7)
    image = work / "imgs" / "a" / "0.png"
    good = image.read_bytes()
    checkpoint = str(work / "ck_img" / "last.pt")
    spec = work / "img.nn"
    for label, content in (
        ("empty", b""),
        ("garbage", bytes(rng.randrange(256) for _ in range(100))),
        ("signature only", good[:8]),
        ("cut in the header", good[:40]),
        ("cut in half", good[: len(good) // 2]),
    ):
        image.write_bytes(content)
        for argv, located in (
            (["run", str(spec), "--out", str(tmp_path / "run"), "--quiet", "--force"], spec),
            (["generate", str(spec), "-o", str(tmp_path / "gen"), "--force"], spec),
            (["predict", str(spec), str(image), "--checkpoint", checkpoint], None),
            (["predict", str(spec), str(work / "imgs"), "--checkpoint", checkpoint], None),
        ):
            code, output = _cli(argv)
            _assert_refused_well(argv, code, output, None)
            if located is not None and code == 1 and "Traceback" not in output:
                # a file that cannot be decoded is a problem of the data (at `data` when it is
                # found while the data is prepared; training reports it with the file)
                assert "0.png" in output or "main" in output or ".nn:" in output, output
    image.write_bytes(good)


def _flag_cases(w: Path) -> list[list[str]]:
    spec, ck = str(w / "img.nn"), str(w / "ck_img" / "last.pt")
    folder, file = w / "adir", w / "afile.txt"
    new = w / "new"  # every output a case names lies under it: it must not appear
    imgs = str(w / "imgs")
    return [
        ["run", spec, "--epochs", "-3"],
        ["run", spec, "--epochs", "0"],
        ["run", spec, "--seed", "abc"],
        ["run", spec, "--batch-size", "0"],
        ["run", spec, "--lr", "-1"],
        ["run", spec, "--lr", "nan"],
        ["run", spec, "--device", "bogus", "--out", str(new / "r1")],
        ["run", spec, "--resume", str(folder), "--out", str(new / "r2")],
        ["run", spec, "--resume", str(file), "--out", str(new / "r3")],
        ["run", spec, "--init-from", str(file), "--out", str(new / "r4")],
        ["run", spec, "--init-from", str(w / "nope.pt"), "--out", str(new / "r5")],
        ["run", spec, "--out", str(file)],
        ["run", spec, "--out", str(file / "sub")],
        ["run", spec, "--train", "Nope", "--out", str(new / "r6")],
        ["run", str(folder)],
        ["run", str(w / "nope.nn")],
        ["run", str(file)],
        ["check", str(folder)],
        ["check", str(w / "nope.nn")],
        ["summary", str(folder)],
        ["summary", spec, "--model", "Nop"],
        ["generate", spec, "-o", str(file)],
        ["generate", spec, "-o", str(file / "x")],
        ["generate", str(folder), "-o", str(new / "g")],
        ["fmt", str(folder)],
        ["fmt", str(w / "nope.nn")],
        ["fmt", "--check", str(file)],
        ["graph", spec, "-o", str(folder)],
        ["graph", spec, "-o", str(file / "g.svg")],
        ["graph", spec, "-o", str(new / "g.png")],
        ["evaluate", spec, "--checkpoint", str(folder)],
        ["evaluate", spec, "--checkpoint", str(file)],
        ["evaluate", spec, "--checkpoint", str(w / "nope.pt")],
        ["evaluate", spec, "--checkpoint", ck, "--split", "test"],
        ["evaluate", spec, "--checkpoint", ck, "--split", "train"],
        ["evaluate", spec, "--checkpoint", ck, "--train", "Nope"],
        ["evaluate", spec, "--checkpoint", ck, "--data", "nope"],
        ["evaluate", spec, "--checkpoint", ck, "--data", ""],
        ["evaluate", spec, "--checkpoint", ck, "--data", "csv('nosuch.csv')"],
        ["evaluate", spec, "--checkpoint", ck, "--data", "iris()"],
        ["evaluate", spec, "--checkpoint", ck, "--data", 'image_folder("adir")'],
        ["evaluate", spec, "--checkpoint", ck, "--data", 'image_folder("afile.txt")'],
        ["evaluate", spec, "--checkpoint", ck, "--data", "csv(1)"],
        ["evaluate", spec, "--checkpoint", ck, "--data", 'csv("a\nb")'],
        ["predict", spec, str(folder), "--checkpoint", ck],
        ["predict", spec, str(file), "--checkpoint", ck],
        ["predict", spec, str(w / "nope.png"), "--checkpoint", ck],
        ["predict", spec, imgs, "--checkpoint", ck, "--top", "0"],
        ["predict", spec, imgs, "--checkpoint", ck, "--top", "-1"],
        ["predict", spec, imgs, "--checkpoint", ck, "--top", "x"],
        ["predict", spec, imgs, "--checkpoint", ck, "-o", str(folder)],
        ["predict", spec, imgs, "--checkpoint", ck, "-o", str(file / "x.csv")],
        ["predict", spec, imgs, "--checkpoint", ck, "-o", spec],
        ["predict", spec, imgs, "--checkpoint", ck, "-o", ck],
        ["export", spec, "--checkpoint", ck, "--format", "torchscript", "-o", str(folder)],
        ["export", spec, "--checkpoint", ck, "--format", "torchscript", "-o", str(file / "m")],
        ["export", spec, "--checkpoint", ck, "--format", "torchscript", "-o", ck],
        ["export", spec, "--checkpoint", ck, "--format", "keras", "-o", str(new / "m")],
        ["export", spec, "--checkpoint", str(file), "--format", "pt2", "-o", str(new / "m")],
        [
            "export",
            spec,
            "--checkpoint",
            ck,
            "--format",
            "pt2",
            "-o",
            str(new / "m"),
            "--model",
            "X",
        ],
        ["export", str(folder), "--checkpoint", ck, "--format", "pt2", "-o", str(new / "m")],
    ]


@pytest.mark.slow
def test_bad_flags_and_paths(work: Path) -> None:
    """Every case is wrong: exit 1, a message without a traceback, nothing written."""
    before = _tree(work)
    for argv in _flag_cases(work):
        code, output = _cli(argv)
        assert code == 1, f"{argv} exited {code}:\n{output}"
        assert "Traceback" not in output and "error" in output, f"{argv}:\n{output}"
        assert _tree(work) == before, f"{argv} wrote or removed a file"


_TOKEN_RE = re.compile(r"\s+|#[^\n]*|\"[^\"\n]*\"|[A-Za-z_]\w*|\d[\d_.eE]*|->|\*\*|//|[=!<>]=|.")
_INSERTS = list("()[]{},:=+-*/.\n") + [
    "0", "-1", "1e9", "1e-9", "true", "none", "x", '"data.csv"', '"nope.csv"', "val_split=0.9",
    'target="f0"', "1000000", "accuracy", "val_loss", "Adam(lr=0.1)", "MSELoss()",
]  # fmt: skip


def _mutated_train_section(rng: random.Random) -> str:
    tokens = _TOKEN_RE.findall(
        SPEC.replace("DATA", 'csv("data.csv", target="species", val_split=0.25, normalize=true)')
    )
    start = tokens.index("train")
    for _ in range(rng.randint(1, 2)):
        i = rng.randrange(start, len(tokens))
        op = rng.choice(["delete", "insert", "replace", "swap"])
        if op == "delete":
            tokens[i] = ""
        elif op == "insert":
            tokens[i] = rng.choice(_INSERTS) + tokens[i]
        elif op == "replace":
            tokens[i] = rng.choice(_INSERTS)
        else:
            j = rng.randrange(start, len(tokens))
            tokens[i], tokens[j] = tokens[j], tokens[i]
    return "".join(tokens)


@pytest.mark.parametrize("seed", [0, 1])
def test_mutated_train_sections_through_run(seed: int, folder: Path, tmp_path: Path) -> None:
    """A train section that does not check is refused by `run` at its place (as `check` shows
    it); one that checks trains, or is refused without a traceback (its data, a flag)."""
    rng = random.Random(seed)
    for k in range(EXAMPLES or 6):
        spec = folder / f"mutant{seed}_{k}.nn"
        spec.write_text(_mutated_train_section(rng))
        code, output = _cli(["run", str(spec), "--out", str(tmp_path / f"r{k}"), "--quiet"])
        assert code in (0, 1), f"{spec.read_text()}\nexited {code}:\n{output}"
        assert "Traceback" not in output, f"{spec.read_text()}\n{output}"
        if code == 1:
            checked, report = _cli(["check", str(spec)])
            if checked == 1:  # the spec's own errors: the same, located
                assert re.search(rf"--> .*{re.escape(spec.name)}:\d+:\d+", output), output
                first = report.splitlines()[0]
                assert first in output, f"run and check disagree:\n{report}\n---\n{output}"
        spec.unlink()
        shutil.rmtree(tmp_path / f"r{k}", ignore_errors=True)


# ---- data files mutated in kind: through `check` and `run --epochs 1` (fast)

IMAGE_SPECS = {  # the model's channels, the options of image_folder("imgs", ...)
    "whole, gray": (1, "size=8, grayscale=true, val_split=0.25"),
    "whole, rgb": (3, "val_split=0.25, normalize=true"),
    "streamed": (3, "size=8, stream=true, workers=0, val_split=0.25"),
}


def _odd_npz(rng: random.Random):
    """npz files of arrays with odd dtypes, shapes and names."""
    yield "object x", _npz(x=np.array([[1, "a", None, 2]] * 40, dtype=object), y=Y)
    yield "complex x", _npz(x=X.astype(np.complex64), y=Y)
    yield "structured x", _npz(x=np.zeros(40, dtype=[("a", "f4"), ("b", "f4")]), y=Y)
    yield "bool x", _npz(x=X > 0.5, y=Y)
    yield "float16 x", _npz(x=X.astype(np.float16), y=Y)
    yield "big-endian", _npz(x=X.astype(">f4"), y=Y.astype(">i8"))
    yield "int8 x", _npz(x=(X * 100).astype(np.int8), y=Y)
    yield "uint64 labels", _npz(x=X, y=Y.astype(np.uint64) + rng.choice([0, 2**63]))
    yield "bool labels", _npz(x=X, y=Y > 0)
    yield "one-hot labels", _npz(x=X, y=np.eye(3)[Y])
    yield "labels [n, 1, 1]", _npz(x=X, y=Y[:, None, None])
    yield "date labels", _npz(x=X, y=np.arange(40).astype("datetime64[D]"))
    yield "bytes labels", _npz(x=X, y=np.array([b"a", b"b"] * 20))
    yield "x [n]", _npz(x=X[:, 0], y=Y)
    yield "x [n, 4, 1]", _npz(x=X[:, :, None], y=Y)
    yield "other names", _npz(train_x=X, train_y=Y)
    header = io.BytesIO()  # an array whose header claims 10^12 values
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10**8, 10**4)}
    )
    members = io.BytesIO()
    with zipfile.ZipFile(members, "w") as z:
        z.writestr("x.npy", header.getvalue() + b"\0" * 64)
        labels = io.BytesIO()
        np.save(labels, Y)
        z.writestr("y.npy", labels.getvalue())
    yield "a huge header", members.getvalue()


def _huge_png() -> bytes:
    """A PNG whose header says 30000x30000 (its pixels never follow)."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))
    )


def _image_mutants(rng: random.Random):
    """(label, a function that changes the image folder `imgs` (two classes of six 8x8 RGB
    PNGs) in place)."""
    from PIL import Image

    def save(array, *path: str) -> Callable[[Path], None]:
        def change(root: Path) -> None:
            root.joinpath(*path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(root.joinpath(*path))

        return change

    def write(content: bytes, *path: str) -> Callable[[Path], None]:
        def change(root: Path) -> None:
            root.joinpath(*path).parent.mkdir(parents=True, exist_ok=True)
            root.joinpath(*path).write_bytes(content)

        return change

    pixels = np.random.RandomState(rng.randrange(100)).rand(8, 8, 4)
    good = _png(3)
    yield "gray among RGB", save((pixels[..., 0] * 255).astype(np.uint8), "a", "0.png")
    yield "16-bit", save((pixels[..., 0] * 65535).astype(np.uint16), "a", "1.png")
    yield "RGBA", save((pixels * 255).astype(np.uint8), "b", "2.png")
    yield "other size", save((np.ones((5, 9, 3)) * 9).astype(np.uint8), "b", "3.png")
    yield "zero bytes", write(b"", "a", rng.choice(["0.png", "new.png"]))
    yield "text as png", write(b"hello\n", "b", "0.png")
    yield "cut short", write(good[: rng.randrange(8, len(good) - 1)], "a", "4.png")
    yield "huge header", write(_huge_png(), "a", "5.png")
    yield "not an image", write(b"notes\n", "a", "notes.txt")
    yield "nested", save((pixels[..., :3] * 255).astype(np.uint8), "a", "deeper", "x.png")
    yield "empty class", lambda root: (root / "c").mkdir()
    yield "class without images", write(b"x", "c", "readme.md")
    yield "image beside the classes", write(good, "stray.png")
    yield "a folder named like an image", lambda root: (root / "a" / "d.png").mkdir()

    def splits(val: str) -> Callable[[Path], None]:
        def change(root: Path) -> None:
            for name in ("a", "b"):
                shutil.move(root / name, root / "train" / name)
                if val == "classes":
                    shutil.copytree(root / "train" / name, root / "val" / name)
                elif val == "empty classes":
                    (root / "val" / name).mkdir(parents=True)
            (root / "val").mkdir(exist_ok=True)

        return change

    yield "given splits", splits("classes")
    yield "given splits, val/ empty", splits("empty")
    yield "given splits, val/ classes empty", splits("empty classes")
    yield "names not ASCII", save((pixels[..., :3] * 255).astype(np.uint8), "b", "café.png")
    yield "a name not UTF-8", save((pixels[..., :3] * 255).astype(np.uint8), "b", "\udcff.png")


def _data_names(output: str, *names: str) -> bool:
    return any(name in output for name in names)


def test_data_mutated_in_kind_through_check_and_run(folder: Path, tmp_path: Path) -> None:
    """Each file is valid (exit 0) or refused (exit 1) without a traceback, by a message that
    names the file (the data file, the image or its folder); refused before training, a run
    writes no folder."""
    import torch

    torch.set_num_threads(1)
    rng = random.Random(11)
    cases: list[tuple[str, Path, Callable[[Path], None], tuple[str, ...]]] = []
    stream_spec = SPEC.replace("DATA", 'csv("data.csv", target="species", stream=true)')
    for label, content in _csv_mutants(rng, EXAMPLES or 6):
        cases.append((f"streamed csv: {label}", stream_spec, write_to("data.csv", content), ()))
    npz_spec = SPEC.replace("DATA", 'npz("data.npz", val_split=0.25)')
    for label, content in _odd_npz(rng):
        cases.append((f"npz: {label}", npz_spec, write_to("data.npz", content), ()))
    mutants = list(_image_mutants(rng))
    for label, change in mutants if EXAMPLES else rng.sample(mutants, 8):
        for name in sorted(IMAGE_SPECS) if EXAMPLES else [rng.choice(sorted(IMAGE_SPECS))]:
            channels, options = IMAGE_SPECS[name]
            spec = IMAGE_SPEC.replace("[B, 1, 8, 8]", f"[B, {channels}, 8, 8]")
            spec = spec.replace(
                '"imgs", size=8, grayscale=true, val_split=0.25', f'"imgs", {options}'
            )
            cases.append((f"images ({name}): {label}", spec, change, ("imgs",)))
    for k, (label, spec_text, change, names) in enumerate(cases):
        work = tmp_path / f"case{k}"
        work.mkdir()
        (work / "data.csv").write_text(_csv_text())
        (work / "data.npz").write_bytes(_npz(x=X, y=Y))
        shutil.copytree(folder / "imgs", work / "imgs")
        change(work / "imgs" if names else work)
        spec = work / "main.nn"
        spec.write_text(spec_text)
        for argv in (["check", str(spec)], ["run", str(spec), "--out", str(work / "run")]):
            code, output = _cli([*argv, "--quiet"] if argv[0] == "run" else argv)
            assert code in (0, 1), f"{label}: {argv[0]} exited {code}:\n{output}"
            assert "Traceback" not in output, f"{label}: {argv[0]}:\n{output}"
            if code == 1 and argv[0] == "run":
                assert _data_names(output, "data.csv", "data.npz", *names), f"{label}:\n{output}"
                started = (work / "run" / "config.json").exists()
                assert started or not (work / "run").exists(), f"{label}: refused run wrote"


def write_to(name: str, content: bytes) -> Callable[[Path], None]:
    def change(work: Path) -> None:
        (work / name).write_bytes(content)

    return change


# ---- data errors found by the second campaign: each with a hint ----------------------------

_NEEDS_A_HINT = [
    # (file name, its bytes, words of the message, words of the hint)
    ("t.npz", b"hello world" * 10, "it is not an .npz archive", "np.savez"),  # "pickled data"
    ("e.npz", b"", "it is not an .npz archive (it is empty)", "np.savez"),
    ("c.npz", _npz(x=X.astype(np.complex64), y=Y), "must be a numeric array", "real numbers"),
    ("l.npz", _npz(x=X, y=Y[:20]), "'x' has 40 samples but 'y' has 20", "one row per sample"),
    ("n.npz", _npz(x=X * np.nan, y=Y), "contains NaN or infinite values", "fill or drop"),
    ("z.npz", _npz(x=X[:0], y=Y[:0]), "holds no samples", "the first axis"),
    ("g.npz", _npz(x=X, y=Y - 1), "must not be negative", "indices counting from 0"),
    ("b.npz", _npz(x=X, y=Y + 10), "has class labels up to 12", "end the model with 13"),
    ("w.npz", _npz(x=X[:, :3], y=Y), "gives [B, 3]", "`input x: [B, 3]`"),
    ("s.csv", _csv_text().replace(",", ";").encode(), "no column 'species'", 'delimiter=";"'),
    ("d.csv", b"f0,f0,f2,f3,species\n1,2,3,4,a\n", "names the column 'f0' twice", "its own name"),
    ("h.csv", b"f0,f1,f2,f3,species\n", "has a header but no data rows", "one per line"),
    ("y.csv", _csv_text().encode() + b"1,2,3,4,\n", "the target column 'species' is empty", "drop"),
]


@pytest.mark.parametrize(("name", "data", "message", "hint"), _NEEDS_A_HINT)
def test_data_errors_have_a_hint(
    tmp_path: Path, name: str, data: bytes, message: str, hint: str
) -> None:
    (tmp_path / name).write_bytes(data)
    source = f'npz("{name}", ' if name.endswith(".npz") else f'csv("{name}", target="species", '
    spec = tmp_path / "s.nn"
    spec.write_text(SPEC.replace("DATA", source + "val_split=0.25)"))
    before = _tree(tmp_path)
    code, output = _cli(["run", str(spec), "--out", str(tmp_path / "r")])
    assert code == 1 and "Traceback" not in output, output
    assert f"s.nn:{DATA_LINE}:" in output and message in output, output
    assert "hint: " in output and hint in output.split("hint: ", 1)[1], output
    assert _tree(tmp_path) == before


# ---- the generated train.py's flags -------------------------------------------------------


@pytest.mark.parametrize("flag", ["--data", "--out", "--resume", "--init-from"])
def test_train_script_refuses_an_empty_path(flag: str, capsys) -> None:
    """`--out ''` and `--resume ''` were taken as no flag (a fresh run in runs/...)."""
    from nndsl.runtime import training_utils as tu

    config = {"epochs": 1, "batch_size": 2, "seed": 0, "device": "cpu"}
    with pytest.raises(SystemExit) as exc:
        tu.parse_flags([flag, ""], config, Path("data.npz"), None)
    assert exc.value.code != 0
    assert f"{flag}: the path is empty" in capsys.readouterr().err


def test_train_script_never_waits_on_a_pipe(tmp_path: Path) -> None:
    """`train.py --data FIFO` waited for a writer forever (np.load opened it); `--resume
    FIFO` was said to be missing."""
    from nndsl.runtime import training_utils as tu

    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "text").write_text("not an archive")
    with _time_limit(PER_CALL_S):
        for call, words in (
            (lambda: tu.load_data(str(tmp_path / "fifo"), None), "is not a regular file"),
            (lambda: tu.load_data(str(tmp_path), None), "is a folder, not a file"),
            (lambda: tu.load_data(str(tmp_path / "text"), None), "it is not an .npz archive"),
            (lambda: tu.load_weights(str(tmp_path / "fifo"), None), "is not a regular file"),
        ):
            with pytest.raises(tu.TrainingError, match=words):
                call()
