"""`nndsl run`: the same training as the generated train.py, the samples reach their goals, every
LANGUAGE.md example runs or builds, and every fault is a one-line error before or during training.

`nndsl run` is called in this process (`nndsl.cli.main`), with one torch thread, so that its
numbers can be compared exactly with the generated script's (see tests/fixtures/train/runlib.py).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

import nndsl
from nndsl import dims
from nndsl.cli import main


def _runlib():
    path = Path(__file__).parent / "fixtures" / "train" / "runlib.py"
    if "nndsl_test_runlib" not in sys.modules:
        spec = importlib.util.spec_from_file_location("nndsl_test_runlib", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["nndsl_test_runlib"] = module
        spec.loader.exec_module(module)
    return sys.modules["nndsl_test_runlib"]


runlib = _runlib()
SAMPLES = runlib.SAMPLES
FIXTURES = runlib.FIXTURES
LANGUAGE_MD = runlib.ROOT.parent / "shared" / "LANGUAGE.md"


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread, as the generated scripts get (exact comparisons; speed)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def nndsl_run(capsys, *argv: str) -> tuple[int, str, str]:
    """`nndsl run ARGV` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---- 3. nndsl run and python train.py train identically ---------------------------------------


@pytest.mark.parametrize("sample", ["digits_cnn", "iris", "autoencoder"])
def test_run_equals_the_generated_script(sample: str, tmp_path: Path, capsys) -> None:
    script = runlib.generated_run(sample, 2) / "run" / "metrics.csv"
    code, out, err = nndsl_run(
        capsys, str(SAMPLES / f"{sample}.nn"), "--epochs", "2", "--out", str(tmp_path), "--quiet"
    )
    assert code == 0, out + err
    got = runlib.losses(tmp_path / "metrics.csv")
    assert len(got) == 2
    assert got == runlib.losses(script)  # every loss and metric, bit for bit
    # and the run folder holds what the script's does, plus the data it trained on
    for name in ("last.pt", "config.json", "curves.png", "data.npz"):
        assert (tmp_path / name).is_file(), name
    weights = runlib.checkpoint(tmp_path / "last.pt")["model"]
    assert runlib.same_weights(weights, runlib.checkpoint(script.parent / "last.pt")["model"]) == []


def test_python_api_trains_like_run(tmp_path: Path) -> None:
    program = nndsl.load(SAMPLES / "iris.nn")
    history = program.train(epochs=2, out=tmp_path, quiet=True)
    script = runlib.generated_run("iris", 2) / "run" / "metrics.csv"
    assert [{k: v for k, v in row.items() if k != "time"} for row in history] == runlib.losses(
        script
    )


# ---- 4. the samples reach their goals ---------------------------------------------------------


@runlib.slow("the sample's whole schedule, 30 epochs")
def test_digits_sample_reaches_95_percent(tmp_path: Path, capsys) -> None:
    """The whole schedule of samples/digits_cnn.nn (30 epochs, or fewer by early stopping):
    about 10 s with one thread."""
    code, out, err = nndsl_run(capsys, str(SAMPLES / "digits_cnn.nn"), "--out", str(tmp_path))
    assert code == 0, out + err
    rows = runlib.metrics(tmp_path / "metrics.csv")
    assert 1 <= len(rows) <= 30
    assert max(r["val_accuracy"] for r in rows) >= 0.95
    assert rows[-1]["val_accuracy"] >= 0.95
    best = runlib.checkpoint(tmp_path / "best.pt")
    assert max(r["val_accuracy"] for r in rows) == best["state"]["best"]
    assert "done after" in out and "best val_accuracy" in out


def test_iris_sample_stops_through_stop_when(tmp_path: Path, capsys) -> None:
    code, out, err = nndsl_run(capsys, str(SAMPLES / "iris.nn"), "--out", str(tmp_path))
    assert code == 0, out + err
    rows = runlib.metrics(tmp_path / "metrics.csv")
    assert len(rows) < 100
    assert rows[-1]["val_accuracy"] >= 0.95
    assert all(r["val_accuracy"] < 0.95 for r in rows[:-1])  # it stopped at the first one
    assert "stop_when was reached" in out


# ---- 5. every LANGUAGE.md example ---------------------------------------------------------------


def _normalise(text: str) -> str:
    """Comments dropped, white space collapsed, and none next to a bracket (`nndsl fmt` may
    split an over-long call over lines)."""
    text = re.sub(r"\s+", " ", re.sub(r"#[^\n]*", "", text))
    return re.sub(r" ?([()\[\]]) ?", r"\1", text).strip()


def _examples() -> list[tuple[str, str]]:
    """(sample file, example text) for every ```nn block of LANGUAGE.md; without LANGUAGE.md
    (a checkout without ../shared) every sample stands for itself."""
    samples = {p.name: p.read_text() for p in SAMPLES.glob("*.nn") if p.name != "blocks.nn"}
    if not LANGUAGE_MD.is_file():
        return sorted(samples.items())
    out = []
    # `## ` sections; one marked `<!-- planned -->` belongs to an open issue: its examples count
    # once a sample holds them
    for section in re.split(r"^## ", LANGUAGE_MD.read_text(), flags=re.M):
        planned = "<!-- planned -->" in section
        for block in re.findall(r"```nn\n(.*?)```", section, re.S):
            if block.lstrip().startswith("error") or "model" not in block and "block" not in block:
                continue
            homes = [n for n, t in samples.items() if _normalise(block) in _normalise(t)]
            if planned and not homes:
                continue
            assert homes, f"no sample holds this LANGUAGE.md example:\n{block}"
            out.append((homes[0], block))
    return out


EXAMPLES = _examples()
TRAINED = sorted({name for name, text in EXAMPLES if re.search(r"^train\b", text, re.M)})
MODELS = sorted(
    {(name, m) for name, text in EXAMPLES for m in re.findall(r"^model (\w+)", text, re.M)}
)


def test_the_examples_with_a_train_section() -> None:
    assert TRAINED == ["autoencoder.nn", "digits_cnn.nn", "iris.nn"]


@pytest.mark.parametrize("sample", TRAINED)
def test_language_example_trains_one_epoch(sample: str, tmp_path: Path, capsys) -> None:
    code, out, err = nndsl_run(
        capsys, str(SAMPLES / sample), "--epochs", "1", "--out", str(tmp_path), "--quiet"
    )
    assert code == 0, out + err
    rows = runlib.metrics(tmp_path / "metrics.csv")
    assert len(rows) == 1 and rows[0]["train_loss"] == rows[0]["train_loss"]  # not NaN


SYMBOLS = {"B": 2, "T": 5}


@pytest.mark.parametrize("sample,model", MODELS, ids=[f"{s[:-3]}-{m}" for s, m in MODELS])
def test_language_example_model_builds_and_runs(sample: str, model: str, monkeypatch) -> None:
    """`nndsl.load(path).build(name)` gives a module whose forward pass has the checker's shape."""
    import torch

    monkeypatch.syspath_prepend(str(SAMPLES))  # mypkg, for the mixer example
    program = nndsl.load(SAMPLES / sample)
    net = program.build(model).eval()
    inst = program.checked.models[model]
    inputs = []
    for _, v in inst.inputs:
        shape = [dims.evaluate(d, SYMBOLS) for d in v.type.shape]
        if v.type.is_float:
            inputs.append(torch.randn(shape))
        else:
            inputs.append(torch.randint(0, 50, shape))
    assert sum(p.numel() for p in net.parameters()) == inst.total_params()
    with torch.no_grad():
        out = net(*inputs)
    outs = out if isinstance(out, tuple) else (out,)
    expected = [tuple(dims.evaluate(d, SYMBOLS) for d in t.shape) for t in inst.output_types()]
    assert [tuple(o.shape) for o in outs] == expected


# ---- 6. faults: one line, exit code 1, no traceback ---------------------------------------------


def _spec(tmp_path: Path, data: str, optimizer: str = "Adam(lr=0.01)", inputs: int = 4) -> Path:
    path = tmp_path / "spec.nn"
    path.write_text(
        f"""model Net {{
    input x: [B, {inputs}]
    Linear(8) -> relu -> Linear(3)
}}

train {{
    data       = {data}
    loss       = CrossEntropyLoss()
    optimizer  = {optimizer}
    epochs     = 2
    batch_size = 16
}}
"""
    )
    return path


def _csv(path: Path, columns: int, rows: int = 30) -> Path:
    header = [f"f{i}" for i in range(columns)] + ["species"]
    lines = [",".join(header)]
    for r in range(rows):
        lines.append(",".join(f"{(r * 7 + c) % 10 / 10 + r % 3}" for c in range(columns)))
        lines[-1] += f",kind{r % 3}"
    path.write_text("\n".join(lines) + "\n")
    return path


def _one_error(code: int, out: str, err: str) -> str:
    assert code == 1, out + err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nndsl: error: "), err
    return lines[0][len("nndsl: error: ") :]


def _data_error(code: int, out: str, err: str, spec: Path, at: str) -> tuple[str, str | None]:
    """(message, hint) of the one error of a run refused for its data, after checking that it
    is shown like a check error: `--> spec:7:COL` on the train section's `data` line, that
    line quoted, and carets under `at` (the option value it is about, or the whole source)."""
    assert code == 1, out + err
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: "), err
    line = spec.read_text().splitlines()[6]  # `    data       = ...`
    col = line.index(at) + 1
    assert lines[1].strip() == f"--> {spec}:7:{col}", err
    assert lines[3].strip() == f"7 | {line}".strip(), err
    assert lines[4].rstrip().endswith("| " + " " * (col - 1) + "^" * len(at)), err
    hints = [ln.strip()[len("= hint: ") :] for ln in lines[5:] if ln.strip().startswith("= hint")]
    assert len(hints) <= 1 and sum(ln.startswith("error") for ln in lines) == 1, err
    return lines[0][len("error: ") :], (hints[0] if hints else None)


def test_nan_loss_names_epoch_and_step(tmp_path: Path, capsys) -> None:
    spec = _spec(tmp_path, "iris()", optimizer="SGD(lr=1e30)")
    message = _one_error(*nndsl_run(capsys, str(spec), "--out", str(tmp_path / "run")))
    assert re.fullmatch(
        r"the loss became NaN or infinite in epoch 1, step \d+; try a lower learning rate "
        r"or gradient clipping \(clip_grad_norm\)",
        message,
    ), message


def test_infinite_data_is_refused(tmp_path: Path, capsys) -> None:
    """Data that would make the loss infinite (a value beyond float32) never reaches training."""
    csv = _csv(tmp_path / "big.csv", 4)
    lines = csv.read_text().splitlines()
    lines[3] = "1e39," + lines[3].split(",", 1)[1]
    csv.write_text("\n".join(lines) + "\n")
    spec = _spec(tmp_path, 'csv("big.csv", target="species")')
    run = nndsl_run(capsys, str(spec), "--out", str(tmp_path / "run"))
    message, _ = _data_error(*run, spec, '"big.csv"')
    assert "big.csv" in message and "line 4" in message, message


def test_missing_csv(tmp_path: Path, capsys) -> None:
    _csv(tmp_path / "flowers.csv", 4)
    spec = _spec(tmp_path, 'csv("flower.csv", target="species")')
    run = nndsl_run(capsys, str(spec), "--out", str(tmp_path / "run"))
    message, hint = _data_error(*run, spec, '"flower.csv"')
    assert "file not found" in message and "flower.csv" in message
    assert hint == "did you mean 'flowers.csv'?"
    assert not (tmp_path / "run").exists()  # nothing started


@pytest.mark.parametrize(
    "content,words",
    [
        ("f0,f1,f2,f3,species\n1,2,3,4,a\n1,2,3\n", ["line 3", "expected 5 fields"]),
        ("f0,f1,f2,f3,species\n1,2,x,4,a\n1,2,3,4,b\n", ["line 2", "'x'"]),
        ("", ["empty"]),
        (
            'f0,f1,f2,f3,species\n1,2,3,4,"a\n1,2,3,4,b\n',
            ["line 2", "a quote opened in this row is never closed"],
        ),
    ],
    ids=["ragged", "not a number", "empty", "open quote"],
)
def test_malformed_csv(content: str, words: list[str], tmp_path: Path, capsys) -> None:
    (tmp_path / "flowers.csv").write_text(content)
    spec = _spec(tmp_path, 'csv("flowers.csv", target="species")')
    run = nndsl_run(capsys, str(spec), "--out", str(tmp_path / "run"))
    message, _ = _data_error(*run, spec, '"flowers.csv"')
    assert "flowers.csv" in message
    for word in words:
        assert word in message, message


def test_wrong_target_column_suggests_the_right_one(tmp_path: Path, capsys) -> None:
    _csv(tmp_path / "flowers.csv", 4)
    spec = _spec(tmp_path, 'csv("flowers.csv", target="specis")')
    run = nndsl_run(capsys, str(spec), "--out", str(tmp_path / "run"))
    message, hint = _data_error(*run, spec, '"specis"')  # at the column asked for
    assert "no column 'specis'" in message and hint and "did you mean 'species'?" in hint


def test_data_that_does_not_fit_the_model_is_refused_before_training(
    tmp_path: Path, capsys
) -> None:
    _csv(tmp_path / "flowers.csv", 5)
    spec = _spec(tmp_path, 'csv("flowers.csv", target="species")')
    code, out, err = nndsl_run(capsys, str(spec), "--out", str(tmp_path / "run"))
    message, _ = _data_error(code, out, err, spec, 'csv("flowers.csv", target="species")')
    assert message == (
        'model `Net` takes [B, 4], but the data of `csv("flowers.csv")` gives [B, 5]: '
        "30 samples of shape [5]"
    )
    assert "epoch" not in out  # refused before training started
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_class_labels_beyond_the_model_outputs_are_refused(tmp_path: Path, capsys) -> None:
    csv = _csv(tmp_path / "flowers.csv", 4)
    csv.write_text(csv.read_text().replace(",kind2", ",kind2").replace(",kind0\n", ",kind3\n", 1))
    spec = _spec(tmp_path, 'csv("flowers.csv", target="species")')
    run = nndsl_run(capsys, str(spec), "--out", str(tmp_path / "run"))
    message, _ = _data_error(*run, spec, 'csv("flowers.csv", target="species")')
    assert message.startswith('the data of `csv("flowers.csv")` has class labels up to 3, ')
    assert "outputs 3 class scores" in message


def test_float_data_into_an_integer_model_is_refused(tmp_path: Path, capsys) -> None:
    import numpy as np

    x = np.linspace(0, 9, 120, dtype=np.float32).reshape(30, 4)
    np.savez(tmp_path / "d.npz", x=x, y=np.arange(30) % 3)
    spec = tmp_path / "tokens.nn"
    spec.write_text(
        """model Tok {
    input t: long[B, 4]
    Embedding(10, 8) -> mean(dim=1) -> Linear(3)
}

train {
    data      = npz("d.npz")
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=0.01)
    epochs    = 1
}
"""
    )
    run = nndsl_run(capsys, str(spec), "--out", str(tmp_path / "run"))
    assert _data_error(*run, spec, '"d.npz"') == (
        "npz(): the model takes integer ids (long), but the inputs hold fractional values",
        "store token ids as integers, or declare a float input",
    )


@pytest.mark.parametrize("case", ["missing", "corrupt"])
def test_resume_from_a_bad_checkpoint(case: str, tmp_path: Path, capsys) -> None:
    path = tmp_path / "last.pt"
    if case == "corrupt":
        path.write_bytes(b"\x80\x02 not really a checkpoint")
    message = _one_error(
        *nndsl_run(
            capsys, str(SAMPLES / "iris.nn"), "--resume", str(path), "--out", str(tmp_path / "r")
        )
    )
    if case == "missing":
        assert message == f"no checkpoint at {path}"
    else:
        assert message == (
            f"cannot read the checkpoint {path}: the file is damaged (cut short?) or is not a "
            "checkpoint of this training script"
        )


def test_epochs_0_is_wrong_usage(tmp_path: Path, capsys) -> None:
    """Exit code 1, as for every usage error of the command line."""
    code, out, err = nndsl_run(capsys, str(SAMPLES / "iris.nn"), "--epochs", "0")
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == ["nndsl: error: --epochs must be at least 1"]


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--lr", "-1", "--lr must be a positive number"),
        ("--lr", "0", "--lr must be a positive number"),
        ("--lr", "nan", "--lr must be a positive number"),
        ("--lr", "inf", "--lr must be a positive number"),
        ("--seed", str(2**32), "--seed must be between 0 and 2**32 - 1"),
        ("--seed", "-1", "--seed must be between 0 and 2**32 - 1"),
    ],
)
def test_out_of_range_flags_are_wrong_usage(flag, value, message, tmp_path: Path, capsys) -> None:
    """`--lr -1` and a seed torch cannot take reached training and ended in a traceback."""
    out = str(tmp_path / "r")
    code, _, err = nndsl_run(capsys, str(SAMPLES / "iris.nn"), flag, value, "--out", out)
    assert code == 1 and "Traceback" not in err
    assert err.strip().splitlines() == [f"nndsl: error: {message}"]
    assert not (tmp_path / "r").exists()


def test_run_without_a_train_section(tmp_path: Path, capsys) -> None:
    code, out, err = nndsl_run(capsys, str(SAMPLES / "resnet.nn"))
    assert _one_error(code, out, err) == "resnet.nn has no train section to run"


def test_python_api_raises_nndsl_error(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "iris()", optimizer="SGD(lr=1e30)")
    with pytest.raises(nndsl.NndslError, match="NaN or infinite in epoch 1"):
        nndsl.load(spec).train(out=tmp_path / "run", quiet=True)
