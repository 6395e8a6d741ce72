"""Fine-tuning (`init = weights(...)`, `freeze`, `lr_for`), `--resume` / `--init-from`, and
self-describing checkpoints.

The main test writes a plain PyTorch ResNet-18 (torchvision's structure and state_dict names),
saves its state_dict, loads it into samples/resnet.nn's ResNet18 (at 32x32 to stay fast) with
`init`, freezes everything but `fc`, trains one epoch with `nndsl run` and with the generated
train.py, and checks that only `fc` changed (the frozen BatchNorms' running statistics too).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import nndsl  # noqa: E402
from nndsl.cli import main  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _runlib():
    path = ROOT / "tests" / "fixtures" / "train" / "runlib.py"
    if "nndsl_test_runlib" not in sys.modules:
        spec = importlib.util.spec_from_file_location("nndsl_test_runlib", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["nndsl_test_runlib"] = module
        spec.loader.exec_module(module)
    return sys.modules["nndsl_test_runlib"]


# ---- a plain PyTorch ResNet-18 (torchvision's layout), written here --------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin: int, out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
            )

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        s = x if self.downsample is None else self.downsample(x)
        return torch.relu(y + s)


class PlainResNet18(nn.Module):
    def __init__(self, num_classes: int):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, 2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, 2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, 2), BasicBlock(512, 512))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def resnet_spec(folder: Path, train: str) -> Path:
    """samples/resnet.nn's BasicBlock and ResNet18, at 32x32, with a train section."""
    text = (ROOT / "samples" / "resnet.nn").read_text()
    text = text[: text.index("block Stage")].replace("[B, 3, 224, 224]", "[B, 3, 32, 32]")
    path = folder / "resnet_ft.nn"
    path.write_text(text + "\n" + train)
    return path


FINETUNE = """\
train {
    model     = ResNet18(num_classes=10)
    data      = random(shape=[3, 32, 32], classes=10, n=32, val_split=0.25)
    loss      = CrossEntropyLoss()
    optimizer = SGD(lr=0.01, momentum=0.9, lr_for=[fc: 0.05])
    epochs    = 1
    batch_size = 8
    init      = weights("pretrained.pth")
    freeze    = [conv1, bn1, layer1, layer2, layer3, layer4]
}
"""


def pretrained(folder: Path) -> dict:
    torch.manual_seed(3)
    plain = PlainResNet18(10)
    # BN statistics that differ from a fresh model's, as pretrained ones do
    for m in plain.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(100)
    state = plain.state_dict()
    torch.save(state, folder / "pretrained.pth")
    return {k: v.clone() for k, v in state.items()}


def only_fc_changed(before: dict, after: dict) -> None:
    assert set(before) == set(after)
    changed = sorted(k for k in before if not torch.equal(before[k], after[k]))
    assert changed == ["fc.bias", "fc.weight"], changed


@pytest.mark.slow
def test_finetune_resnet18_only_fc_changes(tmp_path):
    weights = pretrained(tmp_path)
    spec = resnet_spec(tmp_path, FINETUNE)
    program = nndsl.load(str(spec))
    assert set(program.build("ResNet18", num_classes=10).state_dict()) == set(weights)
    plan = program.checked.plans[None]
    assert plan.freeze == ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4")
    assert plan.lr_for == (("fc", 0.05),)
    # nndsl run
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    after = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    only_fc_changed(weights, after["model"])
    groups = after["optimizer"]["param_groups"]
    assert [g["lr"] for g in groups] == [0.05] and len(groups[0]["params"]) == 2
    # the generated train.py does the same
    runlib = _runlib()
    out = tmp_path / "gen"
    program.generate(out)
    source = (out / "train.py").read_text()
    assert "freeze(model, CONFIG[" in source and "keep_frozen_norms(net" in source
    assert "parameter_groups(model, CONFIG[" in source and "run.init_weights(model)" in source
    done = runlib.run_script(out, "--out", "r", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "init: 122 tensors from" in done.stdout
    script = torch.load(out / "r" / "last.pt", weights_only=True)
    only_fc_changed(weights, script["model"])
    # (the same training, up to the float rounding of another thread count)
    for k in weights:
        assert torch.allclose(script["model"][k], after["model"][k], atol=1e-5), k


def test_generated_code_appears_only_with_the_keys():
    from nndsl.codegen import train_sources

    checked = nndsl.load(str(ROOT / "samples" / "iris.nn")).checked
    source = next(iter(train_sources(checked, list(checked.models)).values()))[1]
    for word in ("freeze", "parameter_groups", "init_weights", "keep_frozen_norms", "lr_for"):
        assert word not in source, word


SMALL = """\
model Net {
    input x: [B, 4]
    body: Linear(16) -> BatchNorm1d -> relu
    fc: Linear(3)
}

train {
    data      = iris(val_split=0.2)
    loss      = CrossEntropyLoss()
    optimizer = SGD(lr=0.1, momentum=0.9)
    epochs    = 2
    batch_size = 16
    %s
}
"""


def small(tmp_path: Path, line: str, name: str = "net.nn") -> Path:
    path = tmp_path / name
    path.write_text(SMALL % line)
    return path


def errors(capsys, argv) -> str:
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 1, captured
    assert "Traceback" not in captured.err
    return captured.err


def test_freeze_bn_and_summary(tmp_path, capsys):
    spec = small(tmp_path, "freeze = [body, bn]")
    assert main(["summary", str(spec)]) == 0
    out = capsys.readouterr().out
    assert "Trainable params: 51" in out and "Non-trainable params: 112" in out
    assert main(["summary", str(spec), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)[0]
    assert data["trainable_params"] == 51 and data["non_trainable_params"] == 112
    program = nndsl.load(str(spec))
    program.train(out=tmp_path / "run", quiet=True)
    torch.manual_seed(0)  # the train section's seed: the model training started from
    fresh = program.modules()["train"].build_model().state_dict()
    after = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["model"]
    for key in ("body.weight", "body.bias", "bn.weight", "bn.running_mean", "bn.running_var"):
        assert torch.equal(after[key], fresh[key]), key
    assert not torch.equal(after["fc.weight"], fresh["fc.weight"])


@pytest.mark.parametrize(
    "line, message",
    [
        ("freeze = [bdy]", "model `Net` has no layer `bdy`"),
        ("freeze = [body, bn, fc]", "`freeze` leaves nothing of model `Net` to train"),
        ("freeze = body", "`freeze` is a list of layers"),
        ('init = weights("w.pt", strikt=false)', "`weights` has no option `strikt`"),
        ('init = load("w.pt")', "`init` is `weights(...)`"),
        ("init = weights()", "`weights` needs the path of a file"),
    ],
)
def test_bad_finetune_keys_are_located_errors(tmp_path, capsys, line, message):
    spec = small(tmp_path, line)
    err = errors(capsys, ["check", str(spec)])
    assert message in err and f"{spec.name}:13:" in err.replace(str(tmp_path) + "/", "")


def test_unknown_freeze_label_suggests(tmp_path, capsys):
    err = errors(capsys, ["check", str(small(tmp_path, "freeze = [bdy]"))])
    assert "did you mean `body`?" in err


def test_bad_lr_for(tmp_path, capsys):
    spec = small(tmp_path, "freeze = [body]")
    text = spec.read_text().replace("momentum=0.9", "momentum=0.9, lr_for=[fx: 0.1, body: 0.1]")
    spec.write_text(text)
    err = errors(capsys, ["check", str(spec)])
    assert "model `Net` has no layer `fx`" in err
    assert "`body` is frozen (`freeze`)" in err


def _weights(tmp_path: Path, name: str, change) -> None:
    program = nndsl.load(SMALL % "")
    state = program.build("Net").state_dict()
    change(state)
    torch.save(state, tmp_path / name)


def test_init_weights_mismatches_are_located_errors(tmp_path, capsys):
    _weights(tmp_path, "bad.pt", lambda s: s.update({"fc.weight": torch.zeros(5, 16)}))
    spec = small(tmp_path, 'init = weights("bad.pt", strict=false)')
    err = errors(capsys, ["run", str(spec), "--out", str(tmp_path / "r"), "--quiet"])
    assert "`fc.weight` is [5, 16] in the file, [3, 16] in the model" in err
    assert "net.nn:13:5" in err and 'weights("bad.pt"' in err
    assert not (tmp_path / "r").exists()

    _weights(tmp_path, "part.pt", lambda s: s.pop("fc.bias"))
    spec = small(tmp_path, 'init = weights("part.pt")', "strict.nn")
    err = errors(capsys, ["run", str(spec), "--out", str(tmp_path / "r"), "--quiet"])
    assert "missing keys fc.bias" in err and "strict=false" in err

    spec = small(tmp_path, 'init = weights("part.pt", strict=false)', "loose.nn")
    assert main(["run", str(spec), "--out", str(tmp_path / "r"), "--quiet", "--epochs", "1"]) == 0
    out = capsys.readouterr().out
    assert "missing from the file (kept as initialised): fc.bias" in out

    spec = small(tmp_path, 'init = weights("nothing.pt")', "none.nn")
    err = errors(capsys, ["run", str(spec), "--out", str(tmp_path / "r2"), "--quiet"])
    assert "no weights file at" in err and "none.nn:13:5" in err
    (tmp_path / "garbage.pt").write_bytes(b"not a torch file")
    spec = small(tmp_path, 'init = weights("garbage.pt")', "garbage.nn")
    err = errors(capsys, ["run", str(spec), "--out", str(tmp_path / "r2"), "--quiet"])
    assert "cannot read the weights file" in err


# ---- --resume and --init-from ---------------------------------------------------------------


def test_resume_semantics(tmp_path, capsys):
    spec = small(tmp_path, "")
    run = tmp_path / "run"
    assert main(["run", str(spec), "--out", str(run), "--quiet"]) == 0
    capsys.readouterr()
    # asking for no more epochs says so (exit 1), nothing trained
    err = errors(capsys, ["run", str(spec), "--out", str(run), "--resume", str(run / "last.pt")])
    assert "has already trained 2 epochs" in err and "--epochs N (N > 2)" in err
    assert "--init-from" in err
    # more epochs continue the run
    argv = ["run", str(spec), "--out", str(run), "--resume", str(run / "last.pt")]
    assert main([*argv, "--epochs", "3", "--quiet"]) == 0
    assert "epoch 3/3" in capsys.readouterr().out
    ckpt = torch.load(run / "last.pt", weights_only=True)
    assert ckpt["state"]["epoch"] == 3 and len(ckpt["state"]["history"]) == 3
    # --init-from: the weights only, a new run from epoch 1
    new = tmp_path / "new"
    argv = ["run", str(spec), "--out", str(new), "--init-from", str(run / "last.pt")]
    assert main([*argv, "--quiet", "--epochs", "1"]) == 0
    ckpt2 = torch.load(new / "last.pt", weights_only=True)
    assert ckpt2["state"]["epoch"] == 1


@pytest.mark.slow
def test_resume_semantics_of_the_generated_script(tmp_path):
    runlib = _runlib()
    out = tmp_path / "gen"
    nndsl.load(str(small(tmp_path, ""))).generate(out)
    assert runlib.run_script(out, "--out", "r", "--quiet").returncode == 0
    done = runlib.run_script(out, "--out", "r", "--resume", "r/last.pt", "--quiet")
    assert done.returncode == 1 and "has already trained 2 epochs" in done.stderr
    done = runlib.run_script(out, "--out", "r", "--resume", "r/last.pt", "--epochs", "3")
    assert done.returncode == 0, done.stderr
    done = runlib.run_script(out, "--out", "n", "--init-from", "r/last.pt", "--epochs", "1")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


# ---- self-describing checkpoints -------------------------------------------------------------


def test_checkpoint_describes_its_run(tmp_path):
    spec = small(tmp_path, "")
    program = nndsl.load(str(spec))
    program.train(out=tmp_path / "run", quiet=True, epochs=1)
    about = torch.load(tmp_path / "run" / "last.pt", weights_only=True)["about"]
    assert about["spec"]["text"] == spec.read_text()
    assert about["spec"]["path"] == str(spec.resolve())
    import hashlib

    assert about["spec"]["sha256"] == hashlib.sha256(spec.read_bytes()).hexdigest()
    assert about["model"] == "Net" and about["task"]["kind"] == "multiclass"
    assert about["inputs"] == [{"name": "x", "shape": ["B", 4], "dtype": "float32"}]
    assert about["class_names"] == ["setosa", "versicolor", "virginica"]
    assert about["preprocessing"] == {"normalize": False}


def test_checkpoint_of_another_spec_is_a_message(tmp_path, capsys):
    spec = small(tmp_path, "")
    nndsl.load(str(spec)).train(out=tmp_path / "run", quiet=True, epochs=1)
    other = tmp_path / "other.nn"
    other.write_text(spec.read_text().replace("Linear(16)", "Linear(8)"))
    (tmp_path / "x.npz").write_bytes(b"")
    import numpy as np

    np.savez(tmp_path / "x.npz", x=np.zeros((2, 4), dtype=np.float32))
    ckpt = str(tmp_path / "run" / "last.pt")
    err = errors(capsys, ["predict", str(other), str(tmp_path / "x.npz"), "--checkpoint", ckpt])
    assert "does not fit" in err and "trained from another spec" in err
    assert str(spec.resolve()) in err
    wide = tmp_path / "wide.nn"
    wide.write_text(
        spec.read_text()
        .replace("[B, 4]", "[B, 5]")
        .replace("iris(", "random(shape=[5], classes=3, ")
    )
    err = errors(capsys, ["evaluate", str(wide), "--checkpoint", ckpt])
    assert "it was trained with inputs x: [B, 4], the model here takes x: [B, 5]" in err


def test_moved_checkpoint_predicts_alone(tmp_path):
    """A checkpoint copied away from its run folder (no config.json) and a spec whose data
    cannot be read any more: the checkpoint's own statistics and class names are used."""
    import numpy as np

    data = tmp_path / "d.csv"
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 2.0, size=(60, 2))
    labels = np.where(x[:, 0] > 5.0, "high", "low")
    data.write_text("a,b,label\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(x, labels)))
    spec = tmp_path / "csv.nn"
    spec.write_text(
        """\
model M {
    input x: [B, 2]
    Linear(8) -> relu -> Linear(2)
}

train {
    data      = csv("d.csv", target="label", normalize=true, val_split=0.2)
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=0.05)
    epochs    = 15
}
"""
    )
    program = nndsl.load(str(spec))
    program.train(out=tmp_path / "run", quiet=True)
    elsewhere = tmp_path / "moved"
    elsewhere.mkdir()
    shutil.copy(tmp_path / "run" / "last.pt", elsewhere / "model.pt")
    new = tmp_path / "new.csv"
    new.write_text("a,b\n9.0,5.0\n1.0,5.0\n")
    expected = program.predict(tmp_path / "run" / "last.pt", new)
    data.unlink()  # the training data is gone: only the checkpoint can tell the statistics
    rows = program.predict(elsewhere / "model.pt", new)
    assert rows == expected
    assert [r["class"] for r in rows] == ["high", "low"]


def test_cli_help_names_init_from():
    done = subprocess.run(
        [sys.executable, "-m", "nndsl", "run", "--help"], capture_output=True, text=True
    )
    assert "--init-from" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("lightning") is None, reason="PyTorch Lightning is not installed"
)
def test_finetune_resnet18_lightning_target(tmp_path):
    """The same fine-tuning through `--target lightning`: the weights loaded with the same
    report, only `fc` trained (the frozen BatchNorms' statistics unchanged), its own learning
    rate, and the epoch's numbers those of `nndsl run`."""
    import csv

    weights = pretrained(tmp_path)
    spec = resnet_spec(tmp_path, FINETUNE)
    out = tmp_path / "lit"
    argv = ["generate", str(spec), "-o", str(out), "--target", "lightning"]
    assert main(argv) == 0
    done = subprocess.run(
        [sys.executable, "train.py", "--out", "r", "--quiet"],
        capture_output=True,
        text=True,
        cwd=out,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "init: 122 tensors from" in done.stdout
    ckpt = torch.load(out / "r" / "last.ckpt", weights_only=True)
    only_fc_changed(weights, ckpt["state_dict"])
    groups = ckpt["optimizer_states"][0]["param_groups"]
    assert [g["lr"] for g in groups] == [0.05] and len(groups[0]["params"]) == 2
    assert ckpt["about"]["model"] == "ResNet18"
    # the same epoch as nndsl run's
    assert main(["run", str(spec), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    with open(tmp_path / "run" / "metrics.csv", newline="") as fh:
        want = next(csv.DictReader(fh))
    with open(out / "r" / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for key in ("train_loss", "val_loss"):
        got = [float(r[key]) for r in rows if r[key]]
        assert got == pytest.approx([float(want[key])], rel=1e-5), key


def test_lightning_target_writes_fine_tuning(tmp_path, capsys, monkeypatch):
    """`init`, `freeze` and `lr_for` in the Lightning target's files (ruff-clean)."""
    monkeypatch.chdir(tmp_path)  # short paths in the files' headers
    spec = small(tmp_path, 'init = weights("w.pth", strict=false)\n    freeze = [body]')
    text = spec.read_text().replace("SGD(lr=0.1, momentum=0.9)", "SGD(lr=0.1, lr_for=[fc: 0.5])")
    spec.write_text(text)
    out = tmp_path / "out"
    assert main(["generate", spec.name, "-o", "out", "--target", "lightning"]) == 0
    lit = (out / "lit_model.py").read_text()
    assert 'FROZEN = ["body"]' in lit and 'LR_FOR = {"fc": 0.5}' in lit
    assert "parameter_groups(self, LR_FOR)" in lit and "def train(self" in lit
    script = (out / "train.py").read_text()
    assert '"strict": False' in script and "load_init_weights(" in script
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    checked = subprocess.run(
        [ruff, "check", "--no-cache", "--isolated", "--select", "E,F,W", str(out)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stdout
    # no fine-tuning key, none of its code
    plain = small(tmp_path, "", name="plain.nn")
    assert main(["generate", plain.name, "-o", "p", "--target", "lightning"]) == 0
    for name in ("lit_model.py", "train.py"):
        text = (tmp_path / "p" / name).read_text()
        for word in ("FROZEN", "LR_FOR", "parameter_groups", "load_init_weights", "def train(self"):
            assert word not in text, (name, word)
