"""The Lightning target (`nndsl generate --target lightning`): golden files, ruff, no nndsl,
torch or lightning import while generating, and, with Lightning installed, real training runs.

The golden copies live in tests/golden_lightning/<sample>/; after a deliberate change to the
generator, regenerate them with

    python -m pytest tests/test_lightning.py --update-golden

and review the diff.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.check import check_file
from nndsl.codegen import GenerateError, generate_files, lightning_files
from nndsl.codegen.output import seal

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
GOLDEN = Path(__file__).resolve().parent / "golden_lightning"
TRAINED = ["autoencoder", "digits_cnn", "iris"]  # the samples with a train section
UTILS_FILE = "training_utils.py"  # lit_model.py imports its metric sums

HAS_LIGHTNING = importlib.util.find_spec("lightning") is not None
needs_lightning = pytest.mark.skipif(
    not HAS_LIGHTNING,
    reason="PyTorch Lightning is not installed (pip install -e '.[lightning]')",
)


def _checked(spec: str, monkeypatch):
    monkeypatch.chdir(SAMPLES)  # paths in headers are relative to the samples folder
    checked = check_file(f"{spec}.nn")
    assert checked.ok, checked.diagnostics
    return checked, [m for m, inst in checked.models.items() if inst is not None]


def _generate(spec: str, monkeypatch, *, with_data: bool = False) -> dict:
    checked, models = _checked(spec, monkeypatch)
    return lightning_files(checked, models, with_data=with_data)


def _write(files: dict, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


def _spec(tmp_path: Path, monkeypatch, text: str) -> dict:
    """Lightning files of an inline spec (no data)."""
    path = tmp_path / "spec.nn"
    path.write_text(text)
    monkeypatch.chdir(tmp_path)
    checked = check_file("spec.nn")
    assert checked.ok, [d.message for d in checked.diagnostics]
    models = [m for m, inst in checked.models.items() if inst is not None]
    return lightning_files(checked, models, with_data=False)


# ---- generation -------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", TRAINED)
def test_golden(spec: str, monkeypatch, update_golden: bool) -> None:
    files = _generate(spec, monkeypatch)
    assert sorted(files) == ["lit_model.py", "model.py", "train.py", UTILS_FILE]
    # the plain target's helper module, verbatim: compared with the package's, not kept per sample
    package = ROOT / "nndsl" / "runtime" / UTILS_FILE
    assert files.pop(UTILS_FILE) == seal(package.read_text(encoding="utf-8"))
    folder = GOLDEN / spec
    if update_golden:
        if folder.exists():
            shutil.rmtree(folder)
        _write(files, folder)
        return
    assert sorted(p.name for p in folder.iterdir()) == sorted(files), "run with --update-golden"
    for name, text in files.items():
        assert (folder / name).read_text() == text, (
            f"{spec}/{name} differs from its golden copy (run with --update-golden)"
        )


@pytest.mark.parametrize("spec", TRAINED)
def test_model_py_and_data_are_the_plain_targets(spec: str, monkeypatch) -> None:
    checked, models = _checked(spec, monkeypatch)
    plain = generate_files(checked, models)
    lit = generate_files(checked, models, target="lightning")
    assert sorted(lit) == ["data.npz", "lit_model.py", "model.py", "train.py", UTILS_FILE]
    assert lit["model.py"] == plain["model.py"]
    assert lit[UTILS_FILE] == plain[UTILS_FILE]
    assert lit["data.npz"] == plain["data.npz"]


@pytest.mark.parametrize("spec", TRAINED)
def test_deterministic(spec: str, monkeypatch) -> None:
    assert _generate(spec, monkeypatch) == _generate(spec, monkeypatch)


@pytest.mark.parametrize("spec", TRAINED)
def test_ruff_clean_and_standalone(spec: str, monkeypatch, tmp_path: Path) -> None:
    files = _generate(spec, monkeypatch)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        imported = [
            line.split()[1].split(".")[0]
            for line in text.splitlines()
            if line.lstrip().startswith(("import ", "from "))
        ]
        assert "nndsl" not in imported, name
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    result = subprocess.run(
        [ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


_PROBE = """
import contextlib, io, json, sys
from nndsl.cli import main
out = sys.argv[1]
codes = []
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    for spec in sys.argv[2:]:
        codes.append(main(["generate", spec, "--target", "lightning", "-o", out + "/" + spec]))
heavy = [m for m in ("torch", "lightning", "pytorch_lightning") if m in sys.modules]
print(json.dumps([codes, heavy]))
"""


def test_generate_imports_neither_torch_nor_lightning(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, str(tmp_path), *(f"{s}.nn" for s in TRAINED)],
        capture_output=True,
        text=True,
        cwd=SAMPLES,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    codes, heavy = json.loads(proc.stdout)
    assert codes == [0, 0, 0]
    assert heavy == [], f"`nndsl generate --target lightning` imported {', '.join(heavy)}"
    for spec in TRAINED:
        names = sorted(p.name for p in (tmp_path / f"{spec}.nn").iterdir())
        assert names == ["data.npz", "lit_model.py", "model.py", "train.py", UTILS_FILE]


def test_cli_target_option(tmp_path: Path, monkeypatch) -> None:
    from nndsl.cli import main

    monkeypatch.chdir(SAMPLES)
    assert main(["generate", "iris.nn", "-o", str(tmp_path / "plain")]) == 0
    assert sorted(p.name for p in (tmp_path / "plain").iterdir()) == [
        "data.npz",
        "model.py",
        "train.py",
        "training_utils.py",
    ]
    assert main(["generate", "iris.nn", "--target", "lightning", "-o", str(tmp_path / "l")]) == 0
    assert (
        "class LitIrisMLP(IrisMLP, L.LightningModule):"
        in (tmp_path / "l" / "lit_model.py").read_text()
    )
    assert main(["generate", "iris.nn", "--target", "keras", "-o", str(tmp_path / "k")]) == 1


def test_callbacks_of_the_train_section(tmp_path: Path, monkeypatch) -> None:
    base = """
model Net {
    input x: [B, 4]
    Linear(8) -> relu -> Linear(3)
}

train {
    data       = iris(val_split=0.2)
    loss       = CrossEntropyLoss()
    optimizer  = Adam(lr=0.01)
    epochs     = 5
    metrics    = [accuracy, f1, top2]
    %s
}
"""
    # one comparison: Lightning's own EarlyStopping with a stopping threshold
    train = _spec(tmp_path, monkeypatch, base % "stop_when = 0.2 > val_loss")["train.py"]
    assert (
        'monitor="val_loss",\n            mode="min",\n            stopping_threshold=0.2' in train
    )
    assert "class StopWhen" not in train
    # the same monitor as early stopping: one callback with both
    train = _spec(
        tmp_path,
        monkeypatch,
        base % "stop_when = val_loss < 0.2\n    early_stopping = EarlyStopping(patience=2)",
    )["train.py"]
    assert train.count("EarlyStopping(") == 1
    assert "stopping_threshold=0.2" in train and "patience=2" in train
    # and / or: a small callback class
    files = _spec(
        tmp_path,
        monkeypatch,
        base % "stop_when = val_loss < 0.2 and val_f1 >= 0.9\n"
        "    checkpoint = Checkpoint(every=2, keep_best=val_top2)\n"
        "    scheduler = OneCycleLR(max_lr=0.1)",
    )
    train, lit = files["train.py"], files["lit_model.py"]
    assert "class StopWhen(EarlyStopping):" in train and "StopWhen()," in train
    assert 'm.get("val_loss", float("nan")) < 0.2' in train
    assert 'm.get("val_f1", float("nan")) >= 0.9' in train
    assert 'filename="best",\n            monitor="val_top2",\n            mode="max"' in train
    assert 'filename="last",\n            every_n_epochs=2' in train
    assert 'trainer.save_checkpoint(out_dir / "last.ckpt"' in train
    # a per-step scheduler steps with the optimizer, in training_step
    assert "optimizer.zero_grad(set_to_none=True)\n        self.lr_schedulers().step()" in lit
    assert "steps_per_epoch = self.trainer.estimated_stepping_batches // epochs" in lit


def test_plateau_scheduler_monitor_and_precision(tmp_path: Path, monkeypatch) -> None:
    spec = """
model AE {
    input x: [B, 1, 8, 8]
    flatten -> Linear(16) -> relu -> Linear(64) -> reshape(-1, 1, 8, 8)
}

train {
    data       = digits(target=input%s)
    loss       = MSELoss()
    optimizer  = Adam()
    scheduler  = ReduceLROnPlateau(patience=1)
    epochs     = 2
    metrics    = [mae, rmse]
    precision  = bf16
    accumulate = 2
    clip_grad_norm = 0.5
}
"""
    files = _spec(tmp_path, monkeypatch, spec % ", val_split=0.1")
    assert 'step(self.trainer.callback_metrics["val_loss"])' in files["lit_model.py"]
    assert 'self.parameters(), **({} if lr is None else {"lr": lr})' in files["lit_model.py"]
    train = files["train.py"]
    assert '"precision": "bf16-mixed"' in train
    lit = files["lit_model.py"]
    assert "ACCUMULATE = 2" in lit and "CLIP_GRAD_NORM = 0.5" in lit
    files = _spec(tmp_path, monkeypatch, spec % "")
    assert 'step(self.trainer.callback_metrics["train_loss"])' in files["lit_model.py"]


def test_model_name_and_constants(tmp_path: Path, monkeypatch) -> None:
    spec = """
const LIMIT = 0.2

model L {
    input x: [B, 4]
    Linear(8) -> relu -> Linear(3)
}

train {
    data       = iris(val_split=0.2)
    loss       = CrossEntropyLoss()
    optimizer  = Adam()
    epochs     = 1
    stop_when  = val_loss < LIMIT / 2
}
"""
    files = _spec(tmp_path, monkeypatch, spec)
    assert "from model import L as L_model" in files["lit_model.py"]
    assert "class LitL(L_model, L.LightningModule):" in files["lit_model.py"]
    assert "stopping_threshold=0.1," in files["train.py"]


def test_lightning_names_are_refused(tmp_path: Path, monkeypatch) -> None:
    spec = """
model Net {
    input x: [B, 4]
    device: Linear(8) -> relu -> Linear(3)
}

train {
    data       = iris()
    loss       = CrossEntropyLoss()
    optimizer  = Adam()
    epochs     = 1
}
"""
    with pytest.raises(GenerateError, match="`device` is a name that LightningModule uses"):
        _spec(tmp_path, monkeypatch, spec)


# ---- the generated code, run ------------------------------------------------------------------


def _run(folder: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", *args],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=timeout,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _epoch_values(path: Path, key: str) -> list[float]:
    """One value per epoch of a column of a Lightning metrics.csv (rows hold train or val)."""
    return [float(r[key]) for r in _rows(path) if r.get(key)]


def test_without_lightning_train_py_says_how_to_install(tmp_path: Path, monkeypatch) -> None:
    folder = _write(_generate("iris", monkeypatch, with_data=True), tmp_path / "gen")
    blocker = (
        "import runpy, sys\n"
        "sys.modules['lightning'] = None  # importing it raises ImportError\n"
        "sys.argv = ['train.py']\n"
        "runpy.run_path('train.py', run_name='__main__')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", blocker], capture_output=True, text=True, cwd=folder, timeout=300
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "pip install lightning" in proc.stderr
    assert "Traceback" not in proc.stderr


@needs_lightning
@pytest.mark.parametrize("spec", ["digits_cnn", "iris"])
def test_generated_project_trains(spec: str, monkeypatch, tmp_path: Path) -> None:
    folder = _write(_generate(spec, monkeypatch, with_data=True), tmp_path / "gen")
    run = tmp_path / "run"
    proc = _run(folder, "--epochs", "2", "--out", str(run), "--quiet")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (run / "metrics.csv").is_file() and (run / "last.ckpt").is_file()
    if spec == "digits_cnn":  # checkpoint = Checkpoint(every=1, keep_best=val_accuracy)
        assert (run / "best.ckpt").is_file()
    val_loss = _epoch_values(run / "metrics.csv", "val_loss")
    assert 1 <= len(val_loss) <= 2 and all(math.isfinite(v) for v in val_loss)
    assert len(_epoch_values(run / "metrics.csv", "train_accuracy")) == len(val_loss)
    assert "done after" in proc.stdout


@needs_lightning
def test_same_training_as_the_plain_target(monkeypatch, tmp_path: Path) -> None:
    """Same seed, same batches, same target shaping and metrics: the Lightning target's epochs
    are the plain train.py's."""
    checked, models = _checked("iris", monkeypatch)
    plain = _write(generate_files(checked, models), tmp_path / "plain")
    lit = _write(generate_files(checked, models, target="lightning"), tmp_path / "lit")
    a = _run(plain, "--epochs", "3", "--out", str(tmp_path / "run_plain"), "--quiet")
    b = _run(lit, "--epochs", "3", "--out", str(tmp_path / "run_lit"), "--quiet")
    assert a.returncode == 0 and b.returncode == 0, a.stderr[-2000:] + b.stderr[-2000:]
    expected = _rows(tmp_path / "run_plain" / "metrics.csv")
    for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        got = _epoch_values(tmp_path / "run_lit" / "metrics.csv", key)
        want = [float(r[key]) for r in expected]
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), key


def _imported(folder: Path):
    """The generated train.py of `folder` imported (with its lit_model.py, model.py and
    training_utils.py, taken out of sys.modules again)."""
    names = ("model", "lit_model", "training_utils")
    saved = {k: sys.modules.pop(k) for k in names if k in sys.modules}
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(
            f"lit_train_{id(folder)}", folder / "train.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
        for k in names:
            sys.modules.pop(k, None)
        sys.modules.update(saved)
    return module


@needs_lightning
@pytest.mark.parametrize(
    "flags, message, hint",
    [
        (["--epochs", "0"], "--epochs must be at least 1", None),
        (["--devices", "0"], "--devices must be at least 1", None),
        (["--lr", "nan"], "--lr must be a positive number", None),
        (
            ["--seed", "-1"],
            "--seed must be between 0 and 2**32 - 1",
            None,
        ),  # seed_everything's
        (["--seed", str(2**32)], "--seed must be between 0 and 2**32 - 1", None),
        (["--precision", "8"], "argument --precision: invalid choice: '8'", None),
        (
            ["--epcohs", "3"],
            "unrecognized arguments: --epcohs 3",
            "did you mean `--epochs`?",
        ),
        (
            ["--num-nodez", "2"],
            "unrecognized arguments: --num-nodez 2",
            "did you mean `--num-nodes`?",
        ),
        (  # a prefix is not the flag it begins: this one would have started DDP
            ["--num-node", "2"],
            "unrecognized arguments: --num-node 2",
            "did you mean `--num-nodes`?",
        ),
        (["--out"], "argument --out: expected one argument", None),
    ],
)
def test_a_bad_flag_exits_1_with_a_hint_as_the_plain_train_py(
    monkeypatch, tmp_path: Path, capsys, flags, message, hint
) -> None:
    """A wrong flag: exit code 1 (not argparse's 2), the usage, the error and a hint (the
    nearest flag), as the plain train.py (training_utils.FlagParser, shared)."""
    module = _imported(_write(_generate("iris", monkeypatch, with_data=True), tmp_path / "gen"))
    with pytest.raises(SystemExit) as exc:
        module.main([*flags, "--quiet"])
    assert exc.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("usage: ") and f"error: {message}" in err[-2], err
    expected = f"{hint} (run `" if hint else "= hint: run `"
    assert expected in err[-1] and " --help` for help" in err[-1], err
    assert not (tmp_path / "gen" / "runs").exists()


@needs_lightning
def test_an_accelerator_this_machine_lacks_is_an_error(monkeypatch, tmp_path: Path) -> None:
    """Lightning's refusal of --accelerator: a message and exit code 1, no traceback, no run
    folder."""
    folder = _write(_generate("iris", monkeypatch, with_data=True), tmp_path / "gen")
    proc = _run(folder, "--accelerator", "abacus", "--out", str(tmp_path / "run"), "--quiet")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "error: " in proc.stderr and "abacus" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


@needs_lightning
def test_resuming_another_models_checkpoint_is_an_error(monkeypatch, tmp_path: Path) -> None:
    """--resume with a Lightning checkpoint of another model: one line naming the tensor
    that differs, exit code 1, no run folder (it was load_state_dict's traceback)."""
    import torch

    folder = _write(_generate("iris", monkeypatch, with_data=True), tmp_path / "gen")
    ckpt = tmp_path / "other.ckpt"
    progress = {"epoch_progress": {"current": {"processed": 1}}}
    weights = {"fc1.weight": torch.zeros(32, 64), "fc1.bias": torch.zeros(32)}
    torch.save({"loops": {"fit_loop": progress}, "state_dict": weights}, ckpt)
    proc = _run(folder, "--resume", str(ckpt), "--out", str(tmp_path / "run"), "--quiet")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "error: cannot resume: the weights of" in proc.stderr
    assert "`fc1.weight` is [32, 64] in the file, [32, 4] in the model" in proc.stderr
    assert not (tmp_path / "run").exists()


@needs_lightning
def test_state_dict_loads_into_the_plain_model(monkeypatch, tmp_path: Path) -> None:
    import torch

    folder = _write(_generate("digits_cnn", monkeypatch), tmp_path / "gen")
    monkeypatch.syspath_prepend(str(folder))
    for name in ("model", "lit_model"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    try:
        import lit_model
        import model
    finally:
        for name in ("model", "lit_model"):
            sys.modules.pop(name, None)
    lit = lit_model.LitDigitsCNN()
    plain = model.DigitsCNN()
    assert list(lit.state_dict()) == list(plain.state_dict())
    assert [n for n, _ in lit.named_modules()] == [n for n, _ in plain.named_modules()]
    torch.manual_seed(1)
    for p in lit.parameters():
        p.data.normal_()
    plain.load_state_dict(lit.state_dict(), strict=True)
    lit.eval()
    plain.eval()
    x = torch.randn(5, 1, 8, 8)
    assert torch.equal(lit(x), plain(x))


# ---- self-describing .ckpt files: predict and evaluate ---------------------------------------

# the iris run of test_after_training.py (a val and a test split, normalised inputs)
from test_after_training import SPEC as HELD_OUT  # noqa: E402


@needs_lightning
@pytest.mark.slow
def test_ckpt_describes_its_run_for_predict_and_evaluate(tmp_path: Path, capsys) -> None:
    """A Lightning .ckpt holds the plain checkpoint's `about`; `nndsl evaluate` of it gives
    what the run's own `trainer.test` reported, `nndsl predict` of it (moved away from its
    run) what the same weights give as a plain checkpoint."""
    import numpy as np
    import torch

    import nndsl
    from nndsl.cli import main

    spec = tmp_path / "iris_small.nn"
    spec.write_text(HELD_OUT)
    program = nndsl.load(str(spec))
    checked, models = program.checked, list(program.models)
    plain = _write(generate_files(checked, models), tmp_path / "plain")
    lit = _write(generate_files(checked, models, target="lightning"), tmp_path / "lit")
    a = _run(plain, "--out", str(tmp_path / "run_plain"), "--quiet")
    b = _run(lit, "--out", str(tmp_path / "run_lit"), "--quiet")
    assert a.returncode == 0 and b.returncode == 0, a.stderr[-2000:] + b.stderr[-2000:]
    ckpt = tmp_path / "run_lit" / "last.ckpt"
    payload = torch.load(ckpt, weights_only=True)
    about = payload["about"]
    assert about == torch.load(tmp_path / "run_plain" / "last.pt", weights_only=True)["about"]
    assert about["model"] == "IrisMLP" and about["spec"]["text"] == HELD_OUT
    assert about["class_names"] == ["setosa", "versicolor", "virginica"]
    assert len(about["normalization"]["mean"]) == 4
    # evaluate: the test split's numbers of the run itself
    reported = json.loads((tmp_path / "run_lit" / "test_metrics.json").read_text())
    result = program.evaluate(ckpt, split="test")
    assert (
        sorted(result["metrics"]) == sorted(reported) == ["test_accuracy", "test_f1", "test_loss"]
    )
    for key, value in reported.items():
        assert result["metrics"][key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    # predict: the .ckpt, moved, reads as the plain checkpoint of the same weights and facts
    moved = tmp_path / "elsewhere" / "iris.ckpt"
    moved.parent.mkdir()
    shutil.copy(ckpt, moved)
    same = tmp_path / "same.pt"
    torch.save({"model": payload["state_dict"], "config": {}, "about": about}, same)
    rows = tmp_path / "rows.npz"
    np.savez(rows, x=np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], dtype=np.float32))
    got = program.predict(moved, rows)
    assert got == program.predict(same, rows)
    assert {r["class"] for r in got} <= set(about["class_names"])
    # the CLI takes it too
    out_csv = tmp_path / "pred.csv"
    assert (
        main(["predict", str(spec), "--checkpoint", str(moved), str(rows), "-o", str(out_csv)]) == 0
    )
    assert out_csv.read_text().count("\n") == 3
    assert main(["evaluate", str(spec), "--checkpoint", str(moved)]) == 0
    assert "test_accuracy" in capsys.readouterr().out


def test_lightning_checkpoint_payload_drops_a_model_prefix() -> None:
    from nndsl.after import lightning_payload

    plain = lightning_payload({"state_dict": {"fc.weight": 1}, "about": {"model": "M"}})
    assert plain == {"model": {"fc.weight": 1}, "config": {}, "about": {"model": "M"}}
    wrapped = lightning_payload({"state_dict": {"model.fc.weight": 1, "model.fc.bias": 2}})
    assert wrapped == {"model": {"fc.weight": 1, "fc.bias": 2}, "config": {}}


# ---- the optimizer step: manual optimization, as the plain train.py steps ----------------------

STEP_SPEC = """
model Net {
    input x: [B, 4]
    Linear(32) -> relu -> Dropout(0.2) -> Linear(3)
}

train {
    model      = Net
    data       = iris(%(split)s)
    loss       = CrossEntropyLoss()
    optimizer  = AdamW(lr=0.01)
    epochs     = 4
    metrics    = [accuracy]
    seed       = 3
%(extra)s
}
"""

STEP_CASES = {
    # batches of 16: 6 or 8 per epoch, so the last group of 3 is short (the optimizer steps)
    "accumulate-clip-per-step-scheduler": (
        "val_split=0.2",
        "    batch_size = 16\n    accumulate = 3\n    clip_grad_norm = 0.05\n"
        "    scheduler = OneCycleLR(max_lr=0.05)",
    ),
    "plateau-on-train-loss": (
        "",
        "    batch_size = 16\n    scheduler = ReduceLROnPlateau(patience=0, factor=0.3, threshold=0.5)",
    ),
    "plateau-on-val-loss-bf16": (
        "val_split=0.2",
        "    batch_size = 16\n    precision = bf16\n"
        "    scheduler = ReduceLROnPlateau(patience=0, factor=0.3, threshold=0.5)",
    ),
    "epoch-scheduler-clip": (
        "val_split=0.2",
        "    batch_size = 16\n    scheduler = StepLR(step_size=1, gamma=0.5)\n    clip_grad_norm = 0.1",
    ),
}


@needs_lightning
@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(STEP_CASES))
def test_optimizer_steps_as_in_the_plain_target(case: str, tmp_path: Path, monkeypatch) -> None:
    """Accumulation (with a short last group), clipping, per-step, per-epoch and plateau
    schedulers and bf16, stepped in the LightningModule: every epoch's numbers are the plain
    train.py's."""
    split, extra = STEP_CASES[case]
    (tmp_path / "spec.nn").write_text(STEP_SPEC % {"split": split, "extra": extra})
    monkeypatch.chdir(tmp_path)
    checked = check_file("spec.nn")
    assert checked.ok, [d.message for d in checked.diagnostics]
    plain = _write(generate_files(checked, ["Net"]), tmp_path / "plain")
    lit = _write(generate_files(checked, ["Net"], target="lightning"), tmp_path / "lit")
    a = _run(plain, "--out", str(tmp_path / "run_plain"), "--quiet")
    b = _run(lit, "--out", str(tmp_path / "run_lit"), "--quiet")
    assert a.returncode == 0 and b.returncode == 0, a.stderr[-2000:] + b.stderr[-2000:]
    expected = _rows(tmp_path / "run_plain" / "metrics.csv")
    assert len(expected) == 4
    keys = [k for k in expected[0] if k.startswith(("train_", "val_"))]
    assert len(keys) == (4 if split else 2)
    if "plateau" in case:  # the learning rate did drop, so the monitor reached the scheduler
        assert float(expected[-1]["lr"]) < 0.01
    for key in keys:
        got = _epoch_values(tmp_path / "run_lit" / "metrics.csv", key)
        want = [float(r[key]) for r in expected]
        assert got == pytest.approx(want, rel=1e-5, abs=1e-6), key


@needs_lightning
@pytest.mark.slow
def test_resumed_run_continues_exactly(tmp_path: Path, monkeypatch) -> None:
    """A run resumed from last.ckpt (weights, optimizer, a scheduler stepped per epoch) gives
    the epochs of one that was not interrupted: several batches per epoch in the resumed
    epoch's own order, and dropout drawing the masks it would have drawn."""
    split = "val_split=0.2"
    extra = "    batch_size = 16\n    scheduler = StepLR(step_size=1, gamma=0.5)"
    (tmp_path / "spec.nn").write_text(STEP_SPEC % {"split": split, "extra": extra})
    monkeypatch.chdir(tmp_path)
    checked = check_file("spec.nn")
    assert checked.ok
    lit = _write(generate_files(checked, ["Net"], target="lightning"), tmp_path / "lit")
    whole = _run(lit, "--out", str(tmp_path / "whole"), "--quiet")
    first = _run(lit, "--epochs", "2", "--out", str(tmp_path / "part"), "--quiet")
    assert whole.returncode == 0 and first.returncode == 0, whole.stderr[-2000:]
    ckpt = str(tmp_path / "part" / "last.ckpt")
    rest = _run(lit, "--resume", ckpt, "--out", str(tmp_path / "rest"), "--quiet")
    assert rest.returncode == 0, rest.stderr[-2000:]
    for key in ("train_loss", "val_loss", "val_accuracy"):
        want = _epoch_values(tmp_path / "whole" / "metrics.csv", key)
        got = _epoch_values(tmp_path / "part" / "metrics.csv", key)
        got += _epoch_values(tmp_path / "rest" / "metrics.csv", key)
        assert len(want) == 4 and got == pytest.approx(want, rel=1e-5, abs=1e-6), key
