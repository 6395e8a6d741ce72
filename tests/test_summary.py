"""`nndsl summary`: parameter counts, the shapes LANGUAGE.md states, state_dict names, JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nndsl.check import check_file
from nndsl.check.summary import summarize
from nndsl.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def _summary(spec: str, model: str):
    checked = check_file(str(SAMPLES / spec))
    assert checked.ok, checked.diagnostics
    return summarize(checked.models[model], spec)


@pytest.mark.parametrize(
    "spec, model, count",
    [
        ("resnet.nn", "ResNet18", 11_689_512),
        ("resnet.nn", "ResNet34", 21_797_672),
        ("iris.nn", "IrisMLP", 1_315),
        ("digits_cnn.nn", "DigitsCNN", 6_186),
    ],
)
def test_parameter_counts_of_the_language_examples(spec: str, model: str, count: int) -> None:
    assert _summary(spec, model).total == count


def test_shapes_stated_in_language_md() -> None:
    digits = [
        r.output for r in _summary("digits_cnn.nn", "DigitsCNN").rows if r.type == "max_pool2d"
    ]
    assert digits == ["[B, 16, 4, 4]", "[B, 32, 2, 2]"]
    assert _summary("iris.nn", "IrisMLP").rows[-1].output == "[B, 3]"
    sentiment = _summary("sentiment.nn", "SentimentLSTM")
    lstm = next(r for r in sentiment.rows if r.type == "LSTM")
    assert lstm.output == "([B, T, 512], ([4, B, 256], [4, B, 256]))"  # out, (h, c)
    assert sentiment.rows[-1].output == "[B, 2]"
    unet = _summary("unet.nn", "UNet")
    assert unet.rows[-1].output == "[B, 2, 64, 64]"


def test_resnet18_summary_names_are_torchvision_state_dict_keys() -> None:
    rows = _summary("resnet.nn", "ResNet18").rows
    names = {r.name for r in rows if r.name}
    keys = (Path(__file__).parent / "data" / "torchvision_resnet18_keys.txt").read_text().split()
    owners = {k.rsplit(".", 1)[0] for k in keys}
    assert owners <= names
    leaf_modules = {
        r.name for r in rows if r.name and r.type not in ("input", "BasicBlock", "Sequential")
    }
    assert leaf_modules <= owners


def test_json_output(capsys, monkeypatch) -> None:
    monkeypatch.chdir(SAMPLES)
    assert main(["summary", "digits_cnn.nn", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data[0]["model"] == "DigitsCNN"
    assert data[0]["total_params"] == 6186
    assert data[0]["param_memory_bytes"] == 6186 * 4
    assert [r["name"] for r in data[0]["rows"] if r["name"]][:3] == ["x", "conv1", "bn1"]


def test_model_option_and_unknown_model(capsys, monkeypatch) -> None:
    monkeypatch.chdir(SAMPLES)
    assert main(["summary", "resnet.nn", "--model", "ResNet34"]) == 0
    out = capsys.readouterr().out
    assert "ResNet34" in out and "ResNet18" not in out
    assert main(["summary", "resnet.nn", "--model", "ResNet19"]) == 1
    assert "did you mean `ResNet18`" in capsys.readouterr().err


def test_summary_of_catalog_only_specs_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "from nndsl.cli import main\n"
        f"for spec in {[str(p) for p in sorted(SAMPLES.glob('*.nn')) if p.stem != 'mixer']!r}:\n"
        "    assert main(['summary', spec]) == 0, spec\n"
        "assert 'torch' not in sys.modules, 'summary imported torch'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize(
    "body, output",
    [
        # the first element of a layer's tuple: the last row shows the whole tuple
        ("out, h = x -> GRU(8, batch_first=true)\n    out", "[B, 5, 8]"),
        ("out, h = x -> GRU(8, batch_first=true)\n    h", "[1, B, 8]"),
        # an earlier value than the last step
        ("y = x -> Linear(6)\n    z = y -> relu\n    y", "[B, 5, 6]"),
    ],
)
def test_output_row_when_the_output_is_not_the_last_rows_value(body: str, output: str) -> None:
    checked = check_file("m.nn", f"model M {{\n    input x: [B, 5, 4]\n    {body}\n}}\n")
    assert checked.ok, checked.diagnostics
    rows = summarize(checked.models["M"], "m.nn").rows
    assert (rows[-1].name, rows[-1].type, rows[-1].output) == ("output", "output", output)


def test_no_output_row_when_the_last_row_is_the_output() -> None:
    checked = check_file("m.nn", "model M {\n    input x: [B, 4]\n    Linear(3) -> relu\n}\n")
    rows = summarize(checked.models["M"], "m.nn").rows
    assert [r.type for r in rows] == ["input", "Linear", "relu"]
