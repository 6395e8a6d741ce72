"""Every file `nndsl generate` writes is already in black's style: `black` on the whole file
(the command's default mode, with its safety checks) leaves it byte-identical.  For every spec
of samples/, samples/zoo/, tests/families/ and tests/hidden_zoo/, both targets (model.py,
train.py, nndsl_utils.py; lit_model.py and the Lightning train.py), and for two generated
specs of many blocks (the shapes bench/bench_generate.py measures).

Black formats each file once, as a whole (nndsl.codegen.render.black_format): this test is
what keeps any other way of formatting (and every template) honest.
"""

from __future__ import annotations

from pathlib import Path

import black
import pytest

from nndsl.check import check_file
from nndsl.codegen import generate_files

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(
    [
        *(ROOT / "samples").glob("*.nn"),
        *(ROOT / "samples" / "zoo").glob("*.nn"),
        *(ROOT / "tests" / "families").glob("*.nn"),
        *(ROOT / "tests" / "hidden_zoo").glob("*.nn"),
    ]
)


def _bench():
    """bench/bench_generate.py, whose spec writers (`spec`, `chain_spec`) these tests use."""
    import importlib.util

    path = ROOT / "bench" / "bench_generate.py"
    module_spec = importlib.util.spec_from_file_location("bench_generate", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


BENCH = _bench()


def _many_blocks(n: int) -> str:
    """n parametrized blocks, each used twice."""
    return BENCH.spec(n)


def _nested_chain(n: int) -> str:
    """n blocks, each using the one before it."""
    return BENCH.chain_spec(n)


def _unchanged_by_black(text: str) -> bool:
    try:
        black.format_file_contents(text, fast=False, mode=black.Mode())
    except black.NothingChanged:
        return True
    return False


def _generated(spec: Path) -> dict[str, str]:
    checked = check_file(str(spec))
    assert checked.ok, [d.message for d in checked.diagnostics if d.is_error][:3]
    models = [m for m, inst in checked.models.items() if inst is not None]
    out: dict[str, str] = {}
    for target in ("pytorch", "lightning"):
        files = generate_files(checked, models, target=target, with_data=False, out_dir="out")
        out.update({f"{target}/{k}": v for k, v in files.items() if k.endswith(".py")})
    return out


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_black_leaves_generated_files_unchanged(spec: Path) -> None:
    files = _generated(spec)
    assert "pytorch/model.py" in files
    changed = [name for name, text in files.items() if not _unchanged_by_black(text)]
    assert not changed, f"black reformats {changed}"


@pytest.mark.parametrize(
    "name, text", [("many_blocks", _many_blocks(12)), ("chain", _nested_chain(12))]
)
def test_black_leaves_generated_model_of_many_blocks_unchanged(name, text, tmp_path) -> None:
    spec = tmp_path / f"{name}.nn"
    spec.write_text(text, encoding="utf-8")
    files = _generated(spec)
    assert list(files) == ["pytorch/model.py", "lightning/model.py"]
    assert files["pytorch/model.py"].count("\nclass ") == 13
    assert _unchanged_by_black(files["pytorch/model.py"])


def test_nested_chain_builds_with_the_checkers_parameter_count(tmp_path) -> None:
    """A chain of nested generic classes (what bench_generate.py times) is still correct: one
    class per block, each calling the one before, building the checker's parameter count.
    """
    import importlib.util

    import torch

    spec = tmp_path / "chain.nn"
    spec.write_text(_nested_chain(12), encoding="utf-8")
    checked = check_file(str(spec))
    source = generate_files(checked, ["Chain"], with_data=False)["model.py"]
    assert "self.b10 = B10(in_channels, c)" in source
    (tmp_path / "model.py").write_text(source, encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location("chain_model", tmp_path / "model.py")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    model = module.Chain()
    assert sum(p.numel() for p in model.parameters()) == checked.models["Chain"].total_params()
    assert model(torch.zeros(2, 4, 8, 8)).shape == (2, 10)
