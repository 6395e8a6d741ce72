"""Streamed CSV files: rows found by their byte offsets, read a batch at a time (CsvRows of the
generated train.py), the same numbers as the rows read one by one and as the file loaded whole."""

from __future__ import annotations

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


def test_a_changed_row_is_a_clear_error(tmp_path: Path) -> None:
    write_rows(tmp_path / "t.csv", 40)
    script, out = script_for(tmp_path, 'target="label", stream=true')
    text = (tmp_path / "t.csv").read_text()
    first = text.splitlines()[1]
    broken = first.split(",")
    broken[0] = "x" * len(broken[0])
    (tmp_path / "t.csv").write_text(text.replace(first, ",".join(broken), 1))
    data = script.utils.load_stream(str(out / "data.json"), script.CsvRows)
    rows = data["train"]
    with pytest.raises(RuntimeError, match="is not what nndsl read"):
        rows.__getitems__([(i, 0) for i in range(len(rows))])


def offsets_by_hand(data: bytes, skip_header: bool) -> list[int]:
    """Where each non-blank line starts (a line of only "\\r" is blank)."""
    found, at = [], 0
    for line in data.split(b"\n"):
        if line not in (b"", b"\r"):
            found.append(at)
        at += len(line) + 1
    return found[1:] if skip_header else found


@pytest.mark.parametrize("seed", range(6))
def test_line_offsets_across_blocks(tmp_path: Path, seed: int) -> None:
    from nndsl.runtime.training_utils import line_offsets

    rng = np.random.default_rng(seed)
    pieces = [b"1,2\n", b"3,4\r\n", b"\n", b"\r\n", b"x" * int(rng.integers(1, 5000)), b"5\r"]
    data = b"".join(pieces[i] for i in rng.integers(0, len(pieces), 2000 + 300 * seed))
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
    _, folder = script_for(tmp_path, options, epochs=3, batch=4)

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
