"""The generated train.py as a standalone script: it trains, writes its files, and resumes exactly
after a crash (SIGKILL) or a Ctrl-C (SIGINT).

Every run here is a real `python train.py` process next to the generated model.py and data.npz,
with one thread (see tests/fixtures/train/runlib.py).
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import time
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
RESUME_SPEC = runlib.FIXTURES / "resume.nn"


# ---- 1. python train.py --epochs 2 ------------------------------------------------------------


@pytest.mark.parametrize("sample", ["digits_cnn", "iris"])
def test_generated_script_trains_and_writes_its_files(sample: str) -> None:
    folder = runlib.generated_run(sample, 2)
    run = folder / "run"
    rows = runlib.metrics(run / "metrics.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["train_loss"] < rows[0]["train_loss"], rows
    with open(run / "metrics.csv") as fh:
        lines = fh.read().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch,train_loss,")
    for name in ("last.pt", "config.json", "curves.png"):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = json.loads((run / "config.json").read_text())
    assert config["flags"]["epochs"] == 2
    # last.pt is a plain checkpoint of the generated model (loadable without nndsl)
    ckpt = runlib.checkpoint(run / "last.pt")
    assert ckpt["state"]["epoch"] == 2 and len(ckpt["state"]["history"]) == 2
    spec = importlib.util.spec_from_file_location(f"gen_model_{sample}", folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, config["model"])()
    model.load_state_dict(ckpt["model"])


# ---- 2. exact resume after SIGKILL and after Ctrl-C -------------------------------------------


# slow: five train.py processes (about 20 s of CPU), though they run two or three at a time
SLOW = runlib.slow("five training processes for the resume tests")


@pytest.fixture(scope="module")
def resume_runs(tmp_path_factory) -> dict:
    """Three runs of tests/fixtures/train/resume.nn (3 epochs of 180 small steps each), started
    together:

    - `reference`: uninterrupted;
    - `killed`: SIGKILL during epoch 3, then `--resume killed/last.pt --epochs 3`;
    - `interrupted`: SIGINT during epoch 3, then `--resume interrupted/interrupted.pt`.

    Returns the folders, plus the interrupted processes' outcomes.
    """
    import torch  # noqa: F401  (imported now, not on the first poll while the runs go on)

    folder = runlib.generate(RESUME_SPEC, tmp_path_factory.mktemp("resume"))

    def start(out: str) -> subprocess.Popen:
        return subprocess.Popen(
            [runlib.PYTHON, "train.py", "--epochs", "3", "--out", out, "--quiet"],
            cwd=folder,
            env=runlib.ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    reference, killed, interrupted = start("reference"), start("killed"), start("interrupted")
    outcome: dict = {"folder": folder}
    try:
        # Both runs are watched together (they progress side by side): once a run's epoch-2
        # checkpoint is on disk, epoch 3 is under way.  SIGKILL at once; Ctrl-C when epoch 3 is
        # about a third done (judged from epoch 2's duration).
        watched = {"killed": killed, "interrupted": interrupted}
        sigint_at = None
        deadline = time.monotonic() + 300
        while watched:
            assert time.monotonic() < deadline, f"no epoch 2 from {sorted(watched)}"
            for name, proc in list(watched.items()):
                assert proc.poll() is None, f"{name} ended (exit {proc.returncode}) too early"
                if name == "interrupted" and sigint_at is not None:
                    if time.monotonic() >= sigint_at:
                        proc.send_signal(signal.SIGINT)
                        del watched[name]
                    continue
                if runlib.checkpoint_epoch(folder / name / "last.pt") != 2:
                    continue
                if name == "killed":
                    proc.send_signal(signal.SIGKILL)
                    del watched[name]
                else:
                    epoch_time = runlib.metrics(folder / name / "metrics.csv")[-1]["time"]
                    sigint_at = time.monotonic() + min(epoch_time / 3, 2.0)
            time.sleep(0.01)
        for name, proc in (("killed", killed), ("interrupted", interrupted)):
            out, err = proc.communicate(timeout=120)
            outcome[name] = (proc.returncode, out, err)
        out, err = reference.communicate(timeout=300)
        assert reference.returncode == 0, out + err
    finally:
        for p in (reference, killed, interrupted):
            if p.poll() is None:
                p.kill()
                p.communicate()

    outcome["killed_metrics_rows"] = len(runlib.metrics(folder / "killed" / "metrics.csv"))
    outcome["interrupted_state"] = runlib.checkpoint(folder / "interrupted" / "interrupted.pt")[
        "state"
    ]
    resumes = [
        subprocess.Popen(
            [runlib.PYTHON, "train.py", "--resume", ckpt, "--epochs", "3", "--out", out, "--quiet"],
            cwd=folder,
            env=runlib.ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ckpt, out in (
            ("killed/last.pt", "killed"),
            ("interrupted/interrupted.pt", "interrupted"),
        )
    ]
    for name, p in zip(("killed_resume", "interrupted_resume"), resumes):
        out, err = p.communicate(timeout=300)
        outcome[name] = (p.returncode, out, err)
    return outcome


def _assert_same_as_reference(folder: Path, run: str) -> None:
    ref = runlib.checkpoint(folder / "reference" / "last.pt")
    got = runlib.checkpoint(folder / run / "last.pt")
    assert got["state"]["epoch"] == 3
    assert runlib.same_weights(ref["model"], got["model"]) == []
    # the optimizer continues identically too (Adam moments, step counts)
    assert all(
        runlib.same_weights(a, b) == []
        for a, b in zip(ref["optimizer"]["state"].values(), got["optimizer"]["state"].values())
    )
    ref_rows = runlib.losses(folder / "reference" / "metrics.csv")
    got_rows = runlib.losses(folder / run / "metrics.csv")
    assert got_rows == ref_rows


@SLOW
def test_sigkill_during_epoch_3_then_resume_is_exact(resume_runs) -> None:
    code, _, err = resume_runs["killed"]
    assert code == -signal.SIGKILL, err
    assert resume_runs["killed_metrics_rows"] == 2  # killed inside epoch 3
    code, out, err = resume_runs["killed_resume"]
    assert code == 0, out + err
    assert out.startswith("epoch 3/3"), out  # it continued, it did not start over
    _assert_same_as_reference(resume_runs["folder"], "killed")


@SLOW
def test_ctrl_c_exits_cleanly_and_writes_interrupted_pt(resume_runs) -> None:
    code, out, err = resume_runs["interrupted"]
    assert code == 130, out + err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert "interrupted in epoch 3, step" in out
    assert "--resume" in out and "interrupted.pt" in out
    state = resume_runs["interrupted_state"]
    assert state["epoch"] == 2  # two epochs done, the third in progress
    assert state["partial"] is not None and state["partial"]["step"] > 0  # mid-epoch


@SLOW
def test_resume_from_interrupted_pt_is_exact(resume_runs) -> None:
    code, out, err = resume_runs["interrupted_resume"]
    assert code == 0, out + err
    assert out.startswith("epoch 3/3"), out
    _assert_same_as_reference(resume_runs["folder"], "interrupted")


# ---- faults of the script itself ----------------------------------------------------------------


def test_damaged_checkpoint_is_a_one_line_error(tmp_path: Path) -> None:
    folder = runlib.generated_run("iris", 2)
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint\n")
    result = runlib.run_script(folder, "--resume", str(tmp_path / "garbage.pt"), "--quiet")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: cannot read the checkpoint {tmp_path / 'garbage.pt'}: the file is damaged "
        "(cut short?) or is not a checkpoint of this training script"
    ]


def _main(folder: Path, *args: str) -> int:
    """The generated script's `main(argv)`, in this process (the same source as train.py)."""
    import nndsl

    module = nndsl.load(runlib.SAMPLES / "iris.nn").modules()["train"]
    return module.main(["--data", str(folder / "data.npz"), "--quiet", *args])


@pytest.mark.parametrize(
    "case",
    ["missing", "cut short", "not a checkpoint", "another model", "a directory"],
)
def test_bad_checkpoints_are_one_line_errors(case: str, tmp_path: Path, capsys) -> None:
    folder = runlib.generated_run("iris", 2)
    last = folder / "run" / "last.pt"
    path, message = {
        "missing": (tmp_path / "nope.pt", "error: no checkpoint at"),
        "cut short": (tmp_path / "cut.pt", "the file is damaged (cut short?)"),
        "not a checkpoint": (folder / "run" / "metrics.csv", "the file is damaged"),
        "another model": (tmp_path / "other.pt", "is not a checkpoint of this training script"),
        "a directory": (tmp_path, "is a folder, not a file"),
    }[case]
    if case == "cut short":
        path.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    if case == "another model":
        import torch

        torch.save({"weight": torch.zeros(3)}, path)
    assert _main(folder, "--resume", str(path), "--out", str(tmp_path / "out")) == 1
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def test_checkpoint_of_another_architecture(tmp_path: Path, capsys) -> None:
    digits = runlib.generated_run("digits_cnn", 2)
    iris = runlib.generated_run("iris", 2)
    code = _main(iris, "--resume", str(digits / "run" / "last.pt"), "--out", str(tmp_path))
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not fit this model" in err[0], err


@pytest.mark.parametrize(
    "flags, message, hint",
    [
        (["--epochs", "0"], "--epochs must be at least 1", None),
        (["--batch-size", "-4"], "--batch-size must be at least 1", None),
        (["--lr", "nan"], "--lr must be a positive number", None),
        (["--seed", str(2**64)], "--seed must be between 0 and 2**32 - 1", None),
        (["--epochs", "two"], "argument --epochs: invalid int value: 'two'", None),
        (["--epcohs", "3"], "unrecognized arguments: --epcohs 3", "did you mean `--epochs`?"),
        # a prefix is not the flag it begins (`--num-node 2` would have started DDP)
        (["--epoch", "3"], "unrecognized arguments: --epoch 3", "did you mean `--epochs`?"),
        (["--out"], "argument --out: expected one argument", None),
    ],
)
def test_a_bad_flag_exits_1_with_a_hint_as_nndsl_does(capsys, flags, message, hint) -> None:
    """The generated script's wrong usage: exit code 1 (not argparse's 2), as every other
    error of the script and of `nndsl` itself (tests/test_cli_usage.py), with the usage
    line, the error and a hint."""
    import nndsl
    from nndsl.cli import main

    module = nndsl.load(runlib.SAMPLES / "iris.nn").modules()["train"]
    with pytest.raises(SystemExit) as exc:
        module.main([*flags, "--quiet"])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: ") and f"error: {message}" in err[-2], err
    expected = f"{hint} (run `" if hint else "= hint: run `"
    assert expected in err[-1] and " --help` for help" in err[-1], err
    assert main(["run", str(runlib.SAMPLES / "iris.nn"), *flags]) == 1  # nndsl run: the same
    assert message.split(": ")[-1] in capsys.readouterr().err


# ---- the generator's shortcut --------------------------------------------------------------------
