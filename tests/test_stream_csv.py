"""Streamed CSV files: rows found by their byte offsets, read a batch at a time (CsvRows of the
generated train.py), the same numbers as the rows read one by one and as the file loaded whole."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from test_streaming import generated, runlib

SPEC = """model T {{
    input x: [B, {features}]
    Linear(8) -> relu -> Linear({outputs})
}}

train {{
    model = T
    data = csv("t.csv", {options})
    loss = {loss}
    optimizer = Adam(lr=1e-2)
    epochs = {epochs}
    batch_size = {batch}
}}
"""


def write_rows(path: Path, rows: int, *, crlf=False, quotes=False, bom=False, sep=",") -> None:
    """A CSV file of three numeric features, a class label (a word) and a real value; a blank
    line, cells with spaces around them, some quoted cells (`quotes`)."""
    rng = np.random.default_rng(rows)
    x = rng.normal(size=(rows, 3)) * [1, 100, 1e-3]
    end = "\r\n" if crlf else "\n"
    lines = [] if bom else [sep.join(["a", "b", "c", "label", "value"])]
    for i, (a, b, c) in enumerate(x):
        label = ["no", "yes", "maybe"][int(a > 0) + int(a > 1)]
        cells = [f"{a:.6g}", f" {b:.4f}", f"{c:.7e} ", label, f"{a * b:.3f}"]
        if quotes and i % 7 == 3:
            cells[1], cells[3] = f'"{b:.4f}"', f'"{label}"'
        lines.append(sep.join(cells))
    lines.insert(min(5, len(lines)), "")
    text = end.join(lines) + end
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())


def script_for(
    folder: Path, options: str, *, loss="CrossEntropyLoss()", outputs=3, features=4, **kw
):
    spec = folder / "s.nn"
    spec.write_text(
        SPEC.format(
            features=features,
            outputs=outputs,
            options=options,
            loss=loss,
            epochs=kw.get("epochs", 1),
            batch=kw.get("batch", 16),
        )
    )
    out = runlib.generate(spec, folder / "out")
    return generated(out), out


CASES = {
    "classes": ('target="label", stream=true, val_split=0.25', {}),
    "normalized": ('target="label", stream=true, normalize=true, test_split=0.1', {}),
    "crlf, quotes": ('target="label", stream=true', {"crlf": True, "quotes": True}),
    "regression": ('target="value", features=["a", "c"], stream=true', {"sep": ";"}),
    "no header, bom": ("target=3, header=false, stream=true", {"bom": True}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_batch_is_the_rows_read_one_by_one(tmp_path: Path, case: str) -> None:
    import torch

    options, layout = CASES[case]
    write_rows(tmp_path / "t.csv", 203, **layout)
    if "sep" in layout:
        options += f', delimiter="{layout["sep"]}"'
    regression = "value" in options
    script, out = script_for(
        tmp_path,
        options,
        loss="MSELoss()" if regression else "CrossEntropyLoss()",
        outputs=1 if regression else 3,
        features=2 if regression else 4,
    )
    data = script.utils.load_stream(str(out / "data.json"), script.CsvRows)
    for split in ("train", "val", "test"):
        if split not in data:
            continue
        rows = data[split]
        fast, parse = [], rows.batch
        rows.batch = lambda cells: fast.append(1) or parse(cells)
        for start in range(0, len(rows), 37):
            keys = [(i, 0) for i in range(start, min(start + 37, len(rows)))][::-1]
            x, y = rows.__getitems__(keys)
            one_by_one = torch.utils.data.default_collate([rows[k] for k in keys])
            assert x.dtype == one_by_one[0].dtype and y.dtype == one_by_one[1].dtype
            assert torch.equal(x, one_by_one[0]) and torch.equal(y, one_by_one[1])
        assert fast or layout.get("quotes")  # (a quoted cell: that batch read row by row)


def test_the_streamed_rows_are_the_file_loaded_whole(tmp_path: Path) -> None:
    """Without normalisation the splits hold exactly the arrays of the in-memory path."""
    import torch

    from nndsl.data import sources

    write_rows(tmp_path / "t.csv", 301, quotes=True)
    options = 'target="label", stream=true, val_split=0.2, test_split=0.1'
    script, out = script_for(tmp_path, options)
    data = script.utils.load_stream(str(out / "data.json"), script.CsvRows)
    whole = sources.prepare(
        sources.csv(str(tmp_path / "t.csv"), target="label"),
        val_split=0.2,
        test_split=0.1,
        seed=data["stream"]["split"]["seed"],
    )
    for split in ("train", "val", "test"):
        rows = data[split]
        x, y = rows.__getitems__([(i, 0) for i in range(len(rows))])
        assert torch.equal(x, torch.from_numpy(getattr(whole, f"{split}_x")))
        assert torch.equal(y, torch.from_numpy(getattr(whole, f"{split}_y")))


@pytest.mark.parametrize("change", ["a word", "a byte that is not UTF-8"])
def test_a_changed_row_is_a_clear_error(tmp_path: Path, change: str) -> None:
    write_rows(tmp_path / "t.csv", 40)
    script, out = script_for(tmp_path, 'target="label", stream=true')
    text = (tmp_path / "t.csv").read_text()
    first = text.splitlines()[1]
    broken = first.split(",")
    broken[0] = "x" * len(broken[0])
    raw = text.replace(first, ",".join(broken), 1).encode()
    if change != "a word":
        raw = text.encode().replace(first.encode(), b"\xff" + first.encode()[1:], 1)
    (tmp_path / "t.csv").write_bytes(raw)
    data = script.utils.load_stream(str(out / "data.json"), script.CsvRows)
    rows = data["train"]
    with pytest.raises(RuntimeError, match="is not what nndsl read"):
        rows.__getitems__([(i, 0) for i in range(len(rows))])


def offsets_by_hand(data: bytes, skip_header: bool) -> list[int]:
    """Where each non-blank line starts (a line of only spaces, tabs and "\\r" is blank; so
    is a BOM)."""
    found, at = [], 0
    for line in data.split(b"\n"):
        if line.removeprefix(b"\xef\xbb\xbf" if at == 0 else b"").strip(b" \t\r"):
            found.append(at)
        at += len(line) + 1
    return found[1:] if skip_header else found


@pytest.mark.parametrize("seed", range(6))
def test_line_offsets_across_blocks(tmp_path: Path, seed: int) -> None:
    from nndsl.runtime.training_utils import line_offsets

    rng = np.random.default_rng(seed)
    pieces = [b"1,2\n", b"3,4\r\n", b"\n", b"\r\n", b"x" * int(rng.integers(1, 5000)), b"5\r"]
    pieces += [b" \t \n", b" " * int(rng.integers(1, 3000)), b"\t\r\n", b" 6 "]
    data = b"".join(pieces[i] for i in rng.integers(0, len(pieces), 2000 + 300 * seed))
    if seed % 3 == 0:
        data = b"\xef\xbb\xbf" + data
    if seed % 2:
        data = data.rstrip(b"\n")
    (tmp_path / "f.csv").write_bytes(data)
    for skip in (False, True):
        expected = offsets_by_hand(data, skip)
        got = line_offsets(tmp_path / "f.csv", skip, len(expected))
        assert got is not None and got.tolist() == expected
        assert line_offsets(tmp_path / "f.csv", skip, len(expected) + 1) is None
        assert line_offsets(tmp_path / "f.csv", skip, len(expected) - 1) is None


@runlib.slow("three training processes")
def test_resume_after_sigkill_is_exact_on_a_streamed_csv(tmp_path: Path) -> None:
    write_rows(tmp_path / "t.csv", 3000)
    options = 'target="label", stream=true, workers=1, val_split=0.2'
    # five epochs, the kill in the third: a busy machine cannot end the run before the kill
    _, folder = script_for(tmp_path, options, epochs=5, batch=4)

    def start(*args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [runlib.PYTHON, "train.py", "--quiet", *args],
            cwd=folder,
            env=runlib.ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    reference, killed = start("--out", "reference"), start("--out", "killed")
    try:
        deadline = time.monotonic() + 300
        while runlib.checkpoint_epoch(folder / "killed" / "last.pt") != 2:
            assert time.monotonic() < deadline and killed.poll() is None, killed.communicate()
            time.sleep(0.01)
        # into epoch 3, about a third of an epoch (judged from epoch 2's duration, so that a busy
        # machine does not let epoch 3 end first)
        time.sleep(min(runlib.metrics(folder / "killed" / "metrics.csv")[-1]["time"] / 3, 2.0))
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=60) == -signal.SIGKILL
        assert reference.wait(timeout=300) == 0, reference.communicate()
    finally:
        for p in (reference, killed):
            if p.poll() is None:
                p.kill()
            p.communicate()
    resumed = start("--out", "killed", "--resume", "killed/last.pt")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    ref = runlib.checkpoint(folder / "reference" / "last.pt")
    got = runlib.checkpoint(folder / "killed" / "last.pt")
    assert runlib.same_weights(ref["model"], got["model"]) == []
    assert runlib.losses(folder / "killed" / "metrics.csv") == runlib.losses(
        folder / "reference" / "metrics.csv"
    )


# ---- the streamed file against the file loaded whole, on tricky files

HEADER = b"a,b,y\n"
TRICKY: dict[str, bytes] = {
    "plain": HEADER + b"1,2,0\n3,4,1\n5,6,0\n",
    "crlf and blank lines": b"a,b,y\r\n1,2,0\r\n\r\n3,4,1\r\n\n\n5,6,0\r\n",
    "lines of spaces and tabs": HEADER + b"1,2,0\n   \n3,4,1\n\t \r\n5,6,0\n \n",
    "bom": b"\xef\xbb\xbf" + HEADER + b"1,2,0\n3,4,1\n",
    "bom, no header": b"\xef\xbb\xbf1,2,0\n3,4,1\n5,6,1\n",
    "no final line break": HEADER + b"1,2,0\n3,4,1",
    "a final lone CR": HEADER + b"1,2,0\n3,4,1\r",
    "quoted numbers": HEADER + b'"1"," 2 ","0"\n3,4,1\n',
    "quoted labels with commas and quotes": HEADER + b'1,2,"x,y"\n3,4,"say ""hi"""\n5,6,z\n',
    "spaces around cells": HEADER + b" 1 ,\t2, 0 \n3 , 4,1  \n",
    "underscores and signs": HEADER + b"1_0,+2,0\n-3,4e-3,1\n.5,6.,0\n",
    "integer and real targets": HEADER + b"1,2,1\n3,4,1.5\n5,6,-2\n",
    "words as labels": HEADER + b"1,2,cat\n3,4,nan\n5,6,dog\n",
    "other delimiter": b"a;b;y\n1,5;2;0\n3;4;1\n",
    # refused by both
    "quote never closed, last row": HEADER + b'1,2,0\n3,4,"1\n',
    "quote never closed, mid-file": HEADER + b'1,2,0\n"3,4,1\n5,6,0\n',
    "text after a closing quote": HEADER + b'1,"2"3,0\n3,4,1\n',
    "a line that is an empty quoted field": HEADER + b'1,2,0\n""\n3,4,1\n',
    "a line of no-break spaces": HEADER + b"1,2,0\n\xc2\xa0\n3,4,1\n",
    "trailing comma": HEADER + b"1,2,0,\n3,4,1\n",
    "trailing comma in the header": b"a,b,y,\n1,2,0,\n3,4,1,\n",
    "missing cell": HEADER + b"1,2,0\n3,1\n",
    "extra cell": HEADER + b"1,2,0\n3,4,1,9\n",
    "empty feature": HEADER + b"1,,0\n3,4,1\n",
    "empty target": HEADER + b"1,2,\n3,4,1\n",
    "word feature": HEADER + b"1,two,0\n3,4,1\n",
    "NaN feature": HEADER + b"1,nan,0\n3,4,1\n",
    "infinite feature": HEADER + b"1,-inf,0\n3,4,1\n",
    "huge feature": HEADER + b"1,2e39,0\n3,4,1\n",
    "NaN target": HEADER + b"1,2,0.5\n3,4,nan\n",
    "infinite target": HEADER + b"1,2,0.5\n3,4,-inf\n",
    "huge target": HEADER + b"1,2,0.5\n3,4,1e39\n",
    "a 400-digit integer target": HEADER + b"1,2,1\n3,4," + b"9" * 400 + b"\n",
    "a 400-digit regression target": HEADER + b"1,2,1\n3,4," + b"9" * 400 + b"\n",
    "NUL byte": HEADER + b"1,2\x00,0\n3,4,1\n",
    "a quote never closed in a long file": HEADER + b'1,"2,0\n' + b"3,4,1\n" * 40_000,
    "latin-1": HEADER + b"1,2,caf\xe9\n3,4,1\n",
    "header only": HEADER,
    "empty": b"",
    "blank lines only": b"\n  \n\r\n",
    "duplicate column": b"a,a,y\n1,2,0\n3,4,1\n",
    # refused by the streamed file only (one row per line), with a hint to load it whole
    "quoted line break": HEADER + b'1,2,"0\n"\n3,4,1\n',
    "lone CR line breaks": b"a,b,y\r1,2,0\r3,4,1\r",
}
OPTIONS: dict[str, dict] = {
    "other delimiter": {"delimiter": ";"},
    "a 400-digit regression target": {"task": "regression"},
}
STREAM_ONLY_REFUSALS = ("quoted line break", "lone CR line breaks")


def _random_csv(rng: np.random.Generator) -> bytes:
    """A valid or invalid CSV file of two features and a target, from tricky pieces."""
    numbers = ["1", " 2.5 ", "-3e-2", '"4"', "1_000", "+7", ".5", "0x1", "", "nan", "1e39"]
    labels = ["0", "1", "cat", '"a,b"', '"q""q"', " 2 ", "1.5", "inf", ""]
    end = [b"\n", b"\r\n"][int(rng.integers(2))]
    lines = [b"a,b,y"] if rng.random() < 0.8 else []
    for _ in range(int(rng.integers(1, 12))):
        roll = rng.random()
        if roll < 0.08:
            lines.append(rng.choice([b"", b"  ", b"\t", b'""', b'"open']))
            continue
        cells = [str(rng.choice(numbers[:7] if rng.random() < 0.9 else numbers)) for _ in "ab"]
        cells.append(str(rng.choice(labels[:5] if rng.random() < 0.85 else labels)))
        if rng.random() < 0.05:
            cells.append("9" if rng.random() < 0.5 else "")
        lines.append(",".join(cells).encode())
    body = end.join(lines) + (end if rng.random() < 0.8 else b"")
    return (b"\xef\xbb\xbf" if rng.random() < 0.2 else b"") + body


@pytest.fixture(scope="module")
def csv_rows_class(tmp_path_factory):
    """The CsvRows class of a generated train.py and its training_utils."""
    folder = tmp_path_factory.mktemp("csvrows")
    write_rows(folder / "t.csv", 20)
    script, _ = script_for(folder, 'target="label", stream=true')
    return script.CsvRows, script.utils


def _read_whole(path: Path, options: dict):
    from nndsl.data import sources

    data = sources.csv(str(path), target="y", **options)
    return data.x, data.y, data.task, data.class_names


def _read_streamed(path: Path, options: dict, rows_class, utils, folder: Path):
    """The file's rows as training streams them, in file order: through data.json,
    line_offsets and CsvRows (a batch at once and one by one: the same)."""
    import json

    import torch

    from nndsl.data.streaming import csv_manifest

    meta = csv_manifest(
        {"path": str(path), "target": "y", **options}, seed=0, base_dir=folder, data_dir=None
    )
    (folder / "data.json").write_text(json.dumps(meta))
    rows = utils.load_stream(str(folder / "data.json"), rows_class)["train"]
    keys = [(int(i), 0) for i in np.argsort(rows.offsets)]
    x, y = rows.__getitems__(keys)
    one_by_one = torch.utils.data.default_collate([rows[k] for k in keys])
    assert torch.equal(x, one_by_one[0]) and torch.equal(y, one_by_one[1])
    y = y.numpy()
    if meta["task"] == "classification":
        y = y.astype(np.int64)
    return x.numpy(), y, meta["task"], tuple(meta["class_names"]) or None


def _read_inputs(path: Path, options: dict) -> np.ndarray:
    """The features as `predict` reads a CSV file a chunk at a time (sources.CsvInputs)."""
    from nndsl.data.sources import CsvInputs

    options = {k: v for k, v in options.items() if k != "task"}  # (inputs only)
    chunks = list(CsvInputs(path, target="y", **options).chunks(size=2))
    return np.concatenate(chunks) if chunks else np.zeros((0, 2), np.float32)


def _differential(
    path: Path, name: str, options: dict, rows_class, utils, *, same_line: bool = True
) -> None:
    from nndsl.data.errors import DataError

    outcomes = []
    for read in (
        lambda: _read_whole(path, options),
        lambda: _read_streamed(path, options, rows_class, utils, path.parent),
        lambda: _read_inputs(path, options),
    ):
        try:
            outcomes.append(read())
        except DataError as exc:
            outcomes.append(exc)
    whole, streamed, inputs = outcomes
    line = re.search(r"\bline \d+", getattr(whole, "message", ""))
    for got in (streamed, inputs):
        if isinstance(got, DataError):  # refused: the file named (and the whole file's line)
            assert str(path) in got.message, got.message
            if same_line and line is not None:
                assert line.group() in got.message, f"{got.message}\n(whole: {whole})"
    if name in STREAM_ONLY_REFUSALS:
        assert not isinstance(whole, DataError) and isinstance(streamed, DataError)
        assert "stream=false" in (streamed.hint or "")
        assert np.array_equal(whole[0], inputs), name  # (predict reads it as the whole file)
        return
    if isinstance(whole, DataError):
        assert str(path) in whole.message, whole.message
        assert isinstance(streamed, DataError), f"{name}: only the whole file is refused: {whole}"
        return
    assert not isinstance(streamed, DataError), f"{name}: only the streamed file is refused"
    assert not isinstance(inputs, DataError), f"{name}: CsvInputs refuses: {inputs}"
    x, y, task, class_names = whole
    sx, sy, stask, sclass_names = streamed
    assert (task, class_names) == (stask, sclass_names), name
    assert x.dtype == sx.dtype and np.array_equal(x, sx), name
    assert y.dtype == sy.dtype and np.array_equal(y, sy), name
    assert np.array_equal(x, inputs), name


@pytest.mark.parametrize("name", list(TRICKY))
def test_the_streamed_file_and_the_whole_file_agree(name: str, csv_rows_class, tmp_path) -> None:
    """The same rows accepted, with the same values; a file refused by one is refused by the
    other, naming the file and its line (except a row over several lines, which only the
    whole file reads)."""
    path = tmp_path / "t.csv"
    path.write_bytes(TRICKY[name])
    _differential(path, name, OPTIONS.get(name, {}), *csv_rows_class)


@pytest.mark.parametrize("seed", range(3))
def test_random_tricky_files_agree(seed: int, csv_rows_class, tmp_path) -> None:
    rng = np.random.default_rng(seed)
    for k in range(40):
        path = tmp_path / f"r{k}.csv"
        path.write_bytes(_random_csv(rng))
        # (the readers check a file's rows in another order: the first problem each
        # finds may be another)
        _differential(path, f"random {seed}/{k}", {}, *csv_rows_class, same_line=False)
