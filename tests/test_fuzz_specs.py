"""Wrong specs a user plausibly writes, found by hand-written and mutation campaigns
(tests/test_fuzz.py and tests/test_fuzz_verbs.py cover random edits): each once crashed, printed
an internal name, or gave a diagnostic without a place.  Each case pins the place
(`FILE:LINE:COL`), the words of the message and of its hint, and exit code 1.
"""

from __future__ import annotations

import contextlib
import io
import shutil
import sys
from pathlib import Path

import pytest

from nndsl.cli import main

sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

ROOT = Path(__file__).parent.parent


def _cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--color", "never", *argv])
    return code, out.getvalue() + err.getvalue()


def _model(line: str) -> str:
    return f"model M {{\n    input x: [B, 4]\n    {line}\n}}\n"


def diagnose(tmp_path: Path, text: str, verb: str = "check", *flags: str) -> str:
    """The output of a verb that must refuse the spec: exit 1, no traceback, nothing written."""
    spec = tmp_path / "spec.nn"
    spec.write_text(text, encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [verb, str(spec), *flags]
    if verb == "generate":
        argv += ["-o", str(tmp_path / "out")]
    code, output = _cli(argv)
    assert code == 1, output
    assert "Traceback" not in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "a refused verb wrote"
    return output


def assert_at(output: str, where: str, *words: str) -> None:
    assert f"spec.nn:{where}\n" in output, output
    for w in words:
        assert w in output, (w, output)


# ---- modules outside the catalog ---------------------------------------------------------


@pytest.fixture
def with_module(tmp_path: Path) -> Path:
    """The samples' Python package `mypkg` next to the spec."""
    shutil.copytree(ROOT / "samples" / "mypkg", tmp_path / "mypkg")
    return tmp_path


@pytest.mark.parametrize(
    ("line", "col", "what"),
    [
        ("SwiGLU(Linear(3), 4)", 12, "not the layer `Linear`"),
        ("SwiGLU(4, [1, (Linear(3) -> relu)])", 15, "not a chain of layers"),
        ("SwiGLU(dim=relu, hidden=3)", 12, "not the function `relu`"),
    ],
)
def test_a_layer_as_argument_of_a_users_module(
    with_module: Path, line: str, col: int, what: str
) -> None:
    """It was passed to the class as the checker's own object: `LayerRef is not a Module`."""
    text = "from mypkg.layers import SwiGLU\n" + _model(line)
    output = diagnose(with_module, text)
    assert_at(output, f"4:{col}", "a module of your own code", what, "hint: layers as arguments")
    assert "LayerRef" not in output and "GroupV" not in output


def test_a_layer_as_argument_of_a_torch_module_outside_the_catalog(tmp_path: Path) -> None:
    output = diagnose(tmp_path, _model("SyncBatchNorm(Linear(3))"))
    assert_at(output, "3:19", "outside nndsl's catalog", "not the layer `Linear`")


@pytest.mark.parametrize(
    "name", ["ModuleList([Linear(3)])", "ModuleDict", "ParameterList()", "DataParallel(Linear(3))"]
)
def test_torch_containers_are_not_layers(tmp_path: Path, name: str) -> None:
    """They went to the meta-tensor run, which failed with torch's (or nndsl's) internals."""
    output = diagnose(tmp_path, _model(name))
    assert_at(output, "3:5", "is a container of torch.nn", "hint: write the layers as a chain")
    assert "running it" not in output


def test_adaptive_log_softmax_is_not_a_layer(tmp_path: Path) -> None:
    output = diagnose(tmp_path, _model("AdaptiveLogSoftmaxWithLoss(4, 3, [2])"))
    assert_at(output, "3:5", "takes the targets", "CrossEntropyLoss")


# ---- train sections ----------------------------------------------------------------------

NO_DATA = """model Net {
    input x: [B, 4]
    Linear(3)
}

train Long {
    loss = CrossEntropyLoss()
    optimizer = Adam(lr=0.1)
    epochs = 1
}
"""


@pytest.mark.parametrize("verb", ["generate", "run"])
def test_a_train_section_without_data(tmp_path: Path, verb: str) -> None:
    """`generate` and `run` said so without a place."""
    output = diagnose(tmp_path, NO_DATA, verb)
    assert_at(output, "6:1", "has no `data`", "hint: add a data source")
    assert "nndsl: error" not in output
    assert _cli(["check", str(tmp_path / "spec.nn")])[0] == 0  # (checking does not need data)
