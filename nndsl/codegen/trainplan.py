"""A train section resolved into plain values: what the training script is rendered from.

The checker (nndsl/check/train.py) reports mistakes; this module assumes a checked section and
turns it into a `TrainPlan` of Python values.  Bare names in values (`auto`, `val_loss`, `bf16`,
`input`) are words, kept as strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nndsl import ir
from nndsl.catalog.training import (
    CHECKPOINT_ARGS,
    DEFAULTS,
    EARLY_STOPPING_ARGS,
    PER_BATCH_SCHEDULERS,
)


class PlanError(Exception):
    pass


@dataclass(frozen=True)
class Word:
    """A bare name in a train value: `auto`, `val_loss`, `input`."""

    name: str


@dataclass(frozen=True)
class CallSpec:
    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()

    def kw(self) -> dict[str, Any]:
        return dict(self.kwargs)


@dataclass
class TrainPlan:
    name: str | None
    model: str
    model_args: CallSpec | None
    data: CallSpec | None
    loss: CallSpec
    optimizer: CallSpec
    scheduler: CallSpec | None
    epochs: int
    batch_size: int
    metrics: list[str]
    early_stopping: dict[str, Any] | None
    stop_when: ir.Expr | None
    checkpoint: dict[str, Any]
    clip_grad_norm: float | None
    accumulate: int
    precision: str
    seed: int
    device: str
    source: dict[str, str] = field(default_factory=dict)  # key → the spec's text, for comments
    consts: dict[str, Any] = field(default_factory=dict)  # the spec's constants (for stop_when)

    @property
    def per_batch_scheduler(self) -> bool:
        return self.scheduler is not None and self.scheduler.name in PER_BATCH_SCHEDULERS

    @property
    def data_options(self) -> dict[str, Any]:
        return self.data.kw() if self.data else {}


def script_name(section: str | None) -> str:
    """The training script of a train section, without `.py`: `train` for the unnamed section,
    `train_quick` for `train Quick { }`."""
    return "train" if section is None else f"train_{section.lower()}"


def data_file(script: str) -> str:
    """The prepared-data file of a training script (`train` → `data.npz`, `train_quick` →
    `data_quick.npz`): what `generate` writes next to it, what `run` writes into the run folder,
    and the script's `--data` default.  `generate` never writes it over a file the spec reads."""
    return ("data" if script == "train" else "data_" + script[len("train_") :]) + ".npz"


def value(e: ir.Expr, consts: dict[str, Any]) -> Any:
    """A train value as plain Python (words as Word)."""
    if isinstance(e, ir.Num):
        return e.value
    if isinstance(e, ir.Str):
        return e.value
    if isinstance(e, ir.Const):
        return e.value
    if isinstance(e, ir.Name):
        return consts[e.id] if e.id in consts else Word(e.id)
    if isinstance(e, ir.UnaryOp) and e.op == "-":
        v = value(e.operand, consts)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v
    if isinstance(e, ir.ListExpr):
        return [value(i, consts) for i in e.items]
    if isinstance(e, ir.TupleExpr):
        return tuple(value(i, consts) for i in e.items)
    if isinstance(e, ir.Paren):
        return value(e.expr, consts)
    if isinstance(e, ir.Call) and isinstance(e.func, ir.Name):
        return CallSpec(
            e.func.id,
            tuple(value(a, consts) for a in e.args),
            tuple((k.name, value(k.value, consts)) for k in e.kwargs),
        )
    if isinstance(e, ir.BinOp):
        left, right = value(e.left, consts), value(e.right, consts)
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)):
            return {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
                    "/": lambda a, b: a / b, "**": lambda a, b: a**b}.get(e.op, lambda a, b: None)(left, right)  # fmt: skip
    raise PlanError(f"cannot use `{e}` here")


def _call(v: Any) -> CallSpec:
    if isinstance(v, CallSpec):
        return v
    if isinstance(v, Word):
        return CallSpec(v.name)
    raise PlanError("expected a call such as `Adam(lr=1e-3)`")


def _word(v: Any) -> str:
    if isinstance(v, Word):
        return v.name
    return str(v)


def plan(train: ir.TrainDecl, models: list[str], consts: dict[str, Any]) -> TrainPlan:
    entries = {e.key: e for e in train.entries}

    def get(key: str, default: Any = None) -> Any:
        e = entries.get(key)
        return default if e is None else value(e.value, consts)

    model_v = get("model")
    if model_v is None:
        if len(models) != 1:
            raise PlanError("the train section must name its model")
        model, model_args = models[0], None
    else:
        call = _call(model_v)
        model, model_args = call.name, (call if (call.args or call.kwargs) else None)
    data = get("data")
    es = get("early_stopping")
    early = None
    if es is not None:
        early = dict(EARLY_STOPPING_ARGS)
        early.update({k: _word(v) if isinstance(v, Word) else v for k, v in _call(es).kwargs})
    ck = get("checkpoint")
    checkpoint = dict(CHECKPOINT_ARGS)
    if ck is not None:
        checkpoint.update({k: _word(v) if isinstance(v, Word) else v for k, v in _call(ck).kwargs})
    precision = get("precision", DEFAULTS["precision"])
    return TrainPlan(
        name=train.name,
        model=model,
        model_args=model_args,
        data=_call(data) if data is not None else None,
        loss=_call(get("loss")),
        optimizer=_call(get("optimizer")),
        scheduler=_call(get("scheduler")) if "scheduler" in entries else None,
        epochs=int(get("epochs")),
        batch_size=int(get("batch_size", DEFAULTS["batch_size"])),
        metrics=[_word(m) for m in get("metrics", [])],
        early_stopping=early,
        stop_when=entries["stop_when"].value if "stop_when" in entries else None,
        checkpoint=checkpoint,
        clip_grad_norm=get("clip_grad_norm"),
        accumulate=int(get("accumulate", 1)),
        precision=_word(precision),
        seed=int(get("seed", DEFAULTS["seed"])),
        device=_word(get("device", DEFAULTS["device"])),
        consts=dict(consts),
    )
