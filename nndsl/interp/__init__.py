"""The interpreter: turns Python source for a spec's modules and training loop into live modules,
in memory, without writing files.

The sources are registered with `linecache`, so tracebacks and debuggers show their real lines;
`model` is importable by the training module exactly as it is by a generated `train.py` next to
a generated `model.py`.  The forward pass is plain PyTorch: no per-call overhead from the IR.
"""

from __future__ import annotations

import linecache
import sys
import types
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Iterator


def _module(name: str, filename: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)  # noqa: S102  (our own generated source, never spec text)
    return module


@contextmanager
def _as_model(module: types.ModuleType) -> Iterator[None]:
    """Make `from model import X` resolve to `module` while the training module is imported."""
    saved = sys.modules.get("model")
    sys.modules["model"] = module
    try:
        yield
    finally:
        if saved is None:
            sys.modules.pop("model", None)
        else:
            sys.modules["model"] = saved


def load(sources: Mapping[str, str], tag: str) -> dict[str, types.ModuleType]:
    """Modules from generated sources: "model" and, if present, "train" (the training script).
    `tag` names them in tracebacks (`<nndsl digits_cnn.nn: model.py>`)."""
    out: dict[str, types.ModuleType] = {}
    model = _module(
        f"nndsl_model_{abs(hash(tag))}", f"<nndsl {tag}: model.py>", sources["model.py"]
    )
    out["model"] = model
    for name, source in sources.items():
        if name == "model.py" or not name.endswith(".py"):
            continue
        with _as_model(model):
            out[name[:-3]] = _module(
                f"nndsl_{name[:-3]}_{abs(hash(tag))}", f"<nndsl {tag}: {name}>", source
            )
    return out
