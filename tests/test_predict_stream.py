"""`nndsl predict` reads CSV and npz files a batch of 256 samples at a time: the rows equal those
of the files loaded whole (the model run on the same batches), and a bad row writes nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_after_training import by_hand, trained  # noqa: F401 (a fixture)

from nndsl.cli import main

COLUMNS = "sepal_length,sepal_width,petal_length,petal_width"


def flowers(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 4)) * [0.8, 0.4, 1.7, 0.7] + [5.8, 3.0, 3.7, 1.2]).round(3)


def write_csv(path, x: np.ndarray, *, quoted_row: int | None = None) -> None:
    lines = [COLUMNS]
    for i, row in enumerate(x):
        cells = [repr(float(v)) for v in row]
        if i == quoted_row:
            cells[2] = f'"{cells[2]}"'
        lines.append(",".join(cells))
    lines.insert(300, "")  # a blank line
    path.write_text("\n".join(lines) + "\n")


def whole_file_rows(program, run, x: np.ndarray) -> list[tuple[str, float]]:
    """(class, probability) of each sample: the whole array standardised, then the model on
    batches of 256 (as predict did when it loaded the files whole)."""
    data = np.load(run / "data.npz")
    names = [str(c) for c in data["class_names"]]
    z = ((x.astype(np.float32) - data["norm_mean"]) / data["norm_std"]).astype(np.float32)
    model = by_hand(program, run / "last.pt")
    out = []
    with torch.no_grad():
        for start in range(0, len(z), 256):
            probs = model(torch.from_numpy(z[start : start + 256])).float().softmax(1)
            p, i = probs.max(1)
            out += [(names[k], v) for k, v in zip(i.tolist(), p.tolist())]
    return out


def test_csv_and_npz_in_batches_equal_the_files_loaded_whole(trained, tmp_path):  # noqa: F811
    program, _, run = trained
    a, b = flowers(1000, 1), flowers(300, 2).astype(np.float32)
    write_csv(tmp_path / "a.csv", a, quoted_row=7)
    np.savez(tmp_path / "b.npz", x=b)
    np.savez(tmp_path / "f.npz", x=np.asfortranarray(b))  # (read whole)
    for inputs, x in (
        ([tmp_path / "a.csv"], a),
        ([tmp_path / "b.npz"], b),
        ([tmp_path / "f.npz"], b),
        ([tmp_path / "a.csv", tmp_path / "b.npz"], np.concatenate([a.astype(np.float32), b])),
    ):
        rows = program.predict(run / "last.pt", inputs)
        assert [(r["class"], r["probability"]) for r in rows] == whole_file_rows(program, run, x)


def test_cli_writes_the_same_rows_to_a_file_and_stdout(trained, tmp_path, capsys):  # noqa: F811
    program, spec, run = trained
    write_csv(tmp_path / "a.csv", flowers(600, 3))
    argv = ["predict", str(spec), str(tmp_path / "a.csv"), "--checkpoint", str(run / "last.pt")]
    assert main([*argv, "-o", str(tmp_path / "out.csv")]) == 0
    assert "(600 rows)" in capsys.readouterr().out
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed == (tmp_path / "out.csv").read_text()
    lines = printed.splitlines()
    assert lines[0] == "class,probability" and len(lines) == 601


@pytest.mark.parametrize("bad", ["n/a", ""])
def test_a_bad_row_late_in_the_file_writes_nothing(trained, tmp_path, capsys, bad):  # noqa: F811
    program, spec, run = trained
    write_csv(tmp_path / "a.csv", flowers(900, 4))
    lines = (tmp_path / "a.csv").read_text().splitlines()
    cells = lines[700].split(",")
    cells[1] = bad
    lines[700] = ",".join(cells)
    (tmp_path / "a.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.csv"
    argv = ["predict", str(spec), str(tmp_path / "a.csv"), "--checkpoint", str(run / "last.pt")]
    assert main([*argv, "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "line 701" in captured.err and "sepal_width" in captured.err
    assert "Traceback" not in captured.err
    assert not out.exists() and list(tmp_path.iterdir()) == [tmp_path / "a.csv"]
    assert main(argv) == 1
    assert capsys.readouterr().out == ""  # nothing printed before the error either


def test_a_damaged_npz_is_a_clear_error(trained, tmp_path, capsys):  # noqa: F811
    program, spec, run = trained
    np.savez(tmp_path / "b.npz", x=flowers(2000, 5).astype(np.float32))
    data = (tmp_path / "b.npz").read_bytes()
    (tmp_path / "b.npz").write_bytes(data[: len(data) // 2])
    argv = ["predict", str(spec), str(tmp_path / "b.npz"), "--checkpoint", str(run / "last.pt")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err


# ---- evaluate --data 'csv(...)': the file read batch by batch ----------------------------------

CSV_SPEC = """\
model M {
    input x: [B, 3]
    Linear(8) -> relu -> Linear(3)
}

train {
    model = M
    data = csv("train.csv", target="label", val_split=0.2, normalize=true)
    loss = CrossEntropyLoss()
    optimizer = Adam(lr=1e-2)
    epochs = 2
    batch_size = 32
    metrics = [accuracy]
}
"""


def labelled_rows(path, n: int, seed: int, classes=("low", "mid", "high")) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)) * [1, 10, 0.1]
    lines = ["a,b,c,label"]
    for a, b, c in x:
        k = min(len(classes) - 1, int(a > -0.3) + int(a > 0.6))
        lines.append(f"{a:.4f},{b:.3f},{c:.5f},{classes[k]}")
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.slow
def test_evaluate_other_csv_in_batches_equals_the_file_loaded_whole(tmp_path, monkeypatch):
    import nndsl
    from nndsl import after

    labelled_rows(tmp_path / "train.csv", 200, 1)
    labelled_rows(tmp_path / "other.csv", 700, 2, classes=("low", "mid"))
    (tmp_path / "s.nn").write_text(CSV_SPEC)
    program = nndsl.load(str(tmp_path / "s.nn"))
    program.train(out=tmp_path / "run", quiet=True)
    ckpt = tmp_path / "run" / "last.pt"
    calls = []
    streamed = after.streamed_other_data
    monkeypatch.setattr(after, "streamed_other_data", lambda *a: calls.append(1) or streamed(*a))
    cases = [('csv("other.csv", target="label")', None)]
    cases.append(('csv("other.csv", target="label", test_split=0.3)', "test"))
    # every row of a file with its own splits: streamed too, in the permutation's order
    cases.append(('csv("other.csv", target="label", val_split=0.2, test_split=0.3)', None))
    for source, split in cases:
        with monkeypatch.context() as m:
            m.setattr(after, "other_data", lambda *a: pytest.fail("the file was loaded whole"))
            got = program.evaluate(ckpt, data=source, split=split)
        assert calls.pop() and got["samples"] == (700 if split is None else 210)
        with monkeypatch.context() as m:
            m.setattr(after, "streamed_other_data", lambda *a: None)
            whole = program.evaluate(ckpt, data=source, split=split)
        assert got == whole
    with pytest.raises(nndsl.NndslError, match="class 'top', which the model was not trained"):
        labelled_rows(tmp_path / "bad.csv", 50, 3, classes=("low", "top"))
        program.evaluate(ckpt, data='csv("bad.csv", target="label")')
