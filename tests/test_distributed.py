"""Training under torchrun: DistributedDataParallel with two CPU processes (gloo).

Slow by nature (two processes that each import torch, and a rendezvous): about 10 s per test on
an idle 2-core machine.  Set NNDSL_SKIP_SLOW=1 to skip them in a quick local loop.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest


def _runlib():
    path = Path(__file__).parent / "fixtures" / "train" / "runlib.py"
    if "nndsl_test_runlib" not in sys.modules:
        spec = importlib.util.spec_from_file_location("nndsl_test_runlib", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["nndsl_test_runlib"] = module
        spec.loader.exec_module(module)
    return sys.modules["nndsl_test_runlib"]


runlib = _runlib()

pytestmark = [
    runlib.slow("two torch processes and a rendezvous per test"),
    pytest.mark.skipif(
        not __import__("torch").distributed.is_available(),
        reason="this torch build has no torch.distributed",
    ),
]

TORCHRUN = [runlib.PYTHON, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--standalone"]


def _torchrun(args: list[str], cwd: Path, tmp: Path) -> subprocess.CompletedProcess:
    env = {**runlib.ENV, "TMPDIR": str(tmp)}
    tmp.mkdir(exist_ok=True)
    result = subprocess.run(
        TORCHRUN + args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result


def _load_model(folder: Path, name: str):
    spec = importlib.util.spec_from_file_location(f"ddp_model_{id(folder)}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)()


def test_generated_script_under_torchrun(tmp_path: Path) -> None:
    import numpy as np
    import torch

    folder = runlib.generate(runlib.SAMPLES / "digits_cnn.nn", tmp_path / "gen")
    result = _torchrun(
        ["train.py", "--epochs", "1", "--out", "ddp", "--quiet"], folder, tmp_path / "tmp"
    )
    assert result.stdout.count("epoch 1/1") == 1  # only rank 0 reports
    run = folder / "ddp"
    rows = runlib.metrics(run / "metrics.csv")
    assert len(rows) == 1
    ckpt = runlib.checkpoint(run / "last.pt")
    model = _load_model(folder, "DigitsCNN")
    model.load_state_dict(ckpt["model"])  # rank 0's checkpoint is a plain state_dict

    # The validation metrics were computed by both processes, each on half the batches, and
    # added up: they are the metrics of the saved model on the whole validation set.
    data = np.load(folder / "data.npz")
    x, y = torch.from_numpy(data["val_x"]), torch.from_numpy(data["val_y"])
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    model.eval()
    total, correct = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(x), 64):
            out = model(x[i : i + 64])
            total += float(criterion(out, y[i : i + 64])) * len(out)
            correct += int((out.argmax(1) == y[i : i + 64]).sum())
    assert rows[0]["val_accuracy"] == correct / len(x)
    assert rows[0]["val_loss"] == pytest.approx(total / len(x), rel=1e-5)


def test_nndsl_run_under_torchrun(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = _torchrun(
        ["-m", "nndsl", "run", str(runlib.SAMPLES / "iris.nn"), "--epochs", "1", "--out", str(out)],
        runlib.ROOT,
        tmp_path / "tmp",
    )
    assert result.stdout.count("training ") == 1 and result.stdout.count("epoch 1/1") == 1
    assert len(runlib.metrics(out / "metrics.csv")) == 1
    assert runlib.checkpoint(out / "last.pt")["state"]["epoch"] == 1
    assert list((tmp_path / "tmp").glob("nndsl-*.npz")) == []  # each process's data copy is gone


def test_a_process_without_validation_batches(tmp_path: Path) -> None:
    """15 validation samples make one batch of 64: the second process evaluates none, so it has
    no sums of accuracy or F1 yet; the processes still add up the same sums (it crashed: the
    sums' keys differed between them), and the numbers are those of the whole validation set."""
    import nndsl

    spec = tmp_path / "tiny.nn"
    spec.write_text(
        """model Net {
    input x: [B, 4]
    Linear(8) -> relu -> Linear(3)
}

train {
    data       = iris(val_split=0.1)
    loss       = CrossEntropyLoss()
    optimizer  = Adam(lr=0.01)
    epochs     = 2
    batch_size = 64
    metrics    = [accuracy, f1]
}
"""
    )
    out = tmp_path / "run"
    _torchrun(["-m", "nndsl", "run", str(spec), "--out", str(out)], runlib.ROOT, tmp_path / "tmp")
    rows = runlib.metrics(out / "metrics.csv")
    assert len(rows) == 2
    alone = nndsl.load(spec).evaluate(out / "last.pt", split="val")  # one process, every batch
    assert alone["samples"] == 15
    for key in ("val_accuracy", "val_f1"):
        assert rows[-1][key] == pytest.approx(alone["metrics"][key], abs=1e-12), key
    assert rows[-1]["val_loss"] == pytest.approx(alone["metrics"]["val_loss"], rel=1e-5)
