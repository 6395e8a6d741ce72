"""The interpreter: turns Python source for a spec's modules and training loop into live modules,
in memory, without writing files.

The sources are registered with `linecache`, so tracebacks and debuggers show their real lines;
`model` is importable by the training module exactly as it is by a generated `train.py` next to
a generated `model.py`.  The forward pass is plain PyTorch: no per-call overhead from the IR.
training_utils.py, this package's nndsl/runtime/training_utils.py with its stamp filled in, is
not compiled again: its code comes from the package's bytecode cache, renamed.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import linecache
import re
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
    packaged = _packaged_code(source, filename)
    code = packaged or compile(source, filename, "exec")
    exec(code, module.__dict__)  # noqa: S102  (our own generated source, never spec text)
    stamp = _STAMP.search(source, 0, 2000)
    if packaged is not None and stamp and module.__doc__:  # the stamp, as in the source
        module.__doc__ = module.__doc__.replace("0" * 64, stamp.group(1), 1)
    return module


PACKAGED = "nndsl.runtime.training_utils"  # written beside every train.py, sealed
PACKAGED_DOC = '"""Support for the training scripts nndsl generates'
_STAMP = re.compile(r"nndsl-sha256: ([0-9a-f]{64})")


def _packaged_code(source: str, filename: str) -> types.CodeType | None:
    """The code of training_utils.py without compiling its 2,000 lines in every run: when
    `source` is this package's module with its stamp filled in (see codegen.output.seal), the
    module's bytecode (from its cache), with `filename` for tracebacks; otherwise None."""
    if not source.startswith(PACKAGED_DOC):
        return None
    spec = importlib.util.find_spec(PACKAGED)
    if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
        return None
    try:
        original = spec.loader.get_source(PACKAGED)
        stamp = _STAMP.search(source, 0, 2000)
        if original is None or stamp is None:
            return None
        if original.replace("0" * 64, stamp.group(1), 1) != source:
            return None
        code = spec.loader.get_code(PACKAGED)
    except (OSError, ImportError, SyntaxError, ValueError):
        return None
    return _renamed(code, filename) if code is not None else None


def _renamed(code: types.CodeType, filename: str) -> types.CodeType:
    """`code` and the code of its functions and classes, as if compiled from `filename`."""
    consts = tuple(
        _renamed(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


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
