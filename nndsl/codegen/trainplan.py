"""Names of what a train section generates.  The plan itself (`TrainPlan`) is built once, by the
checker (nndsl/check/plan.py), and stored in `Checked.plans`; it is re-exported here."""

from __future__ import annotations

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


def data_file(script: str) -> str:
    """The prepared-data file of a training script (`train` → `data.npz`, `train_quick` →
    `data_quick.npz`): what `generate` writes next to it, what `run` writes into the run folder,
    and the script's `--data` default.  `generate` never writes it over a file the spec reads."""
    return ("data" if script == "train" else "data_" + script[len("train_") :]) + ".npz"
