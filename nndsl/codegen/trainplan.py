"""Names of what a train section generates.  The plan itself (`TrainPlan`) is built once, by the
checker (nndsl/check/plan.py), and stored in `Checked.plans`; it is re-exported here."""

from __future__ import annotations

import os
from pathlib import PurePath

from nndsl.check.plan import (  # noqa: F401  (re-exported)
    BoolOp,
    CallSpec,
    Checkpoint,
    Compare,
    Condition,
    EarlyStopping,
    ListValue,
    Not,
    PlanError,
    TrainPlan,
    Word,
)


def script_name(section: str | None) -> str:
    """The training script of a train section, without `.py`: `train` for the unnamed section,
    `train_quick` for `train Quick { }`."""
    return "train" if section is None else f"train_{section.lower()}"


def data_file(script: str, streaming: bool = False) -> str:
    """The prepared-data file of a training script (`train` → `data.npz`, `train_quick` →
    `data_quick.npz`; `data.json` for data that streams from the user's files, see
    nndsl/data/streaming.py): what `generate` writes next to it, what `run` writes into the run
    folder, and the script's `--data` default.  `generate` never writes it over a file the spec
    reads."""
    stem = "data" if script == "train" else "data_" + script[len("train_") :]
    return stem + (".json" if streaming else ".npz")


def spec_folder_from(out_dir: str | os.PathLike | None, spec_path: str) -> str | None:
    """The spec's folder relative to the folder the scripts are written to, in `/` form, for a
    script whose model imports the user's own Python modules (they live beside the spec): the
    script puts it on `sys.path`.  None when the scripts are not written to a folder (`nndsl
    run` compiles them in memory) or are written beside the spec."""
    if out_dir is None:
        return None
    rel = os.path.relpath(
        os.path.dirname(os.path.abspath(spec_path)), os.path.abspath(os.fspath(out_dir))
    )
    return None if rel == os.curdir else PurePath(rel).as_posix()
