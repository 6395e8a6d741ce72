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

UTILS = "training_utils.py"  # the helper module of the training scripts


def _module(name: str, filename: str, source: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__file__ = filename
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)  # noqa: S102  (our own generated source, never spec text)
    return module


@contextmanager
def _as_modules(modules: Mapping[str, types.ModuleType]) -> Iterator[None]:
    """Make `from model import X` (and `from training_utils import Y`) resolve to these modules
    while the training module is imported."""
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def load(sources: Mapping[str, str], tag: str) -> dict[str, types.ModuleType]:
    """Modules from generated sources: "model", and, if present, "training_utils" and the
    training scripts ("train", "train_long").
    `tag` names them in tracebacks (`<nndsl digits_cnn.nn: model.py>`)."""
    out: dict[str, types.ModuleType] = {}
    model = _module(
        f"nndsl_model_{abs(hash(tag))}", f"<nndsl {tag}: model.py>", sources["model.py"]
    )
    out["model"] = model
    helpers = {"model": model}
    if UTILS in sources:
        helpers["training_utils"] = out["training_utils"] = _module(
            f"nndsl_training_utils_{abs(hash(tag))}", f"<nndsl {tag}: {UTILS}>", sources[UTILS]
        )
    for name, source in sources.items():
        if name in ("model.py", UTILS) or not name.endswith(".py"):
            continue
        with _as_modules(helpers):
            out[name[:-3]] = _module(
                f"nndsl_{name[:-3]}_{abs(hash(tag))}", f"<nndsl {tag}: {name}>", source
            )
    return out
