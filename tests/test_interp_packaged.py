"""`nndsl run` loads training_utils.py from the package's bytecode instead of compiling its
text in every run (nndsl.interp._packaged_code): the module it gets is the one compiling the
sealed text gives (same code, tracebacks naming the in-memory file at the right lines, the
stamped docstring), and any other text, even one character off, is compiled as it is."""

from __future__ import annotations

import traceback

import pytest

pytest.importorskip("torch")

from nndsl import interp  # noqa: E402
from nndsl.codegen.output import seal  # noqa: E402
from nndsl.codegen.train import utils_source  # noqa: E402

MODEL = "import torch\nfrom torch import nn\n"


def _functions(module) -> dict:
    return {
        name: value.__code__
        for name, value in vars(module).items()
        if callable(value) and hasattr(value, "__code__")
    }


def test_packaged_code_is_the_compiled_text() -> None:
    source = utils_source()
    assert interp._packaged_code(source, "<x>") is not None
    loaded = interp.load({"model.py": MODEL, "training_utils.py": source}, "t.nn")
    module = loaded["training_utils"]
    compiled: dict = {}
    exec(compile(source, "<nndsl t.nn: training_utils.py>", "exec"), compiled)  # noqa: S102
    assert module.__doc__ == compiled["__doc__"] and "0" * 64 not in module.__doc__
    ours = _functions(module)
    assert len(ours) > 50 and all(name in compiled for name in ours)
    for name, code in ours.items():
        other = compiled[name].__code__
        assert code.co_code == other.co_code and code.co_firstlineno == other.co_firstlineno
        assert code.co_filename == "<nndsl t.nn: training_utils.py>"
    method = module.Run.finish.__code__
    assert method.co_filename == "<nndsl t.nn: training_utils.py>"


def test_tracebacks_show_the_in_memory_lines() -> None:
    loaded = interp.load({"model.py": MODEL, "training_utils.py": utils_source()}, "t.nn")
    try:
        loaded["training_utils"].nice_ticks(0.0, 1.0, "x")  # a str where an int goes
    except TypeError as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
    assert frame.filename == "<nndsl t.nn: training_utils.py>"
    assert frame.line == utils_source().splitlines()[frame.lineno - 1].strip()


def test_other_texts_are_compiled_as_they_are() -> None:
    source = utils_source()
    edited = source.replace("LOWER_IS_BETTER = (", "LOWER_IS_BETTER = ('edited', ", 1)
    assert edited != source
    assert interp._packaged_code(edited, "<x>") is None
    loaded = interp.load({"model.py": MODEL, "training_utils.py": edited}, "t.nn")
    assert loaded["training_utils"].LOWER_IS_BETTER[0] == "edited"
    start = source.index("nndsl-sha256: ") + len("nndsl-sha256: ")
    unsealed = source.replace(source[start : start + 64], "0" * 64)
    assert seal(unsealed) == source
    assert interp._packaged_code(unsealed, "<x>") is not None  # the package's own text
