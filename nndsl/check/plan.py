"""A checked train section as one frozen `TrainPlan`: the only reading of a train section.

The checker (nndsl/check/train.py) validates a section and, when it has no errors, builds its plan
here and stores it in `Checked.plans`; code generation (both targets), `nndsl run` and the Python
API read only the plan.  Values are plain Python: numbers, strings, tuples, `ListValue` for the
spec's lists, `Word` for bare names (`auto`, `val_loss`), `CallSpec` for calls.  `stop_when` is
compiled into a small condition tree (`Compare`, `BoolOp`, `Not`) of quantities and numbers.

The values come from the checker's own reading (`TrainChecker.plan_value`, passed to `build` as
`read`): this module arranges what the checker read and never evaluates an expression itself, so
what `check` accepts is what the plan holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from nndsl import ir
from nndsl.catalog.training import (
    CHECKPOINT_ARGS,
    DEFAULTS,
    EARLY_STOPPING_ARGS,
    INIT_ARGS,
    LR_FOR,
    PER_BATCH_SCHEDULERS,
    Task,
)
from nndsl.errors import Span


class PlanError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Word:
    """A bare name in a train value: `auto`, `val_loss`, `input`."""

    name: str

    def __str__(self) -> str:
        return self.name


class ListValue(tuple):
    """A list of the spec (`[1.0, 2.0]`): a tuple, written back as a list."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class CallSpec:
    name: str
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    span: Span | None = field(default=None, compare=False)

    def kw(self) -> dict[str, Any]:
        return dict(self.kwargs)


@dataclass(frozen=True, slots=True)
class Compare:
    """`val_accuracy >= 0.95`: each side a quantity (Word) or a number."""

    left: Word | int | float
    op: str
    right: Word | int | float


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "and" / "or"
    left: Condition
    right: Condition


@dataclass(frozen=True, slots=True)
class Not:
    operand: Condition


Condition = Union[Compare, BoolOp, Not]


@dataclass(frozen=True, slots=True)
class EarlyStopping:
    monitor: str
    patience: int
    mode: str  # min, max or auto
    min_delta: float


@dataclass(frozen=True, slots=True)
class Checkpoint:
    every: int
    keep_best: str | None


@dataclass(frozen=True, slots=True)
class CustomLoss:
    """A loss that is not a torch.nn loss: a loss block of the spec (`kind` "block"), called on
    every output of the model followed by every target, giving the loss, and with `logged`
    names, a dict of the scalars it logs (`train_rec`, `val_kl`)."""

    kind: str  # "block", or "python": a loss class of the user's code
    outputs: tuple[str, ...]  # the model's outputs, by name (`return recon, mu, logvar`)
    targets: tuple[str, ...]  # the data's targets, by name
    logged: tuple[str, ...] = ()
    # the checked instance of the loss block (its inputs' types; codegen writes its class)
    instance: Any = field(default=None, compare=False, repr=False)
    # kind "python": (module, class name, local name) of `from module import Class as local`
    py_import: tuple[str, str, str] | None = None

    @property
    def several_outputs(self) -> bool:
        return len(self.outputs) > 1


@dataclass(frozen=True, slots=True)
class OutputMetric:
    """`accuracy(digit)` in `metrics`: a metric of one output of the model (by its name in
    `return digit, parity`) against one target (the data's array of the same name, else the
    target at the output's position, else the only one); its column is `val_accuracy_digit`."""

    metric: str
    output: str
    output_index: int
    target: str
    target_index: int
    task: Task

    @property
    def column(self) -> str:
        return f"{self.metric}_{self.output}"


@dataclass(frozen=True, slots=True)
class InitWeights:
    """`init = weights("resnet18.pth", strict=false)`: weights loaded before training."""

    path: str  # as the spec writes it
    resolved: str  # absolute (a relative path is relative to the spec's folder)
    strict: bool  # missing or unexpected keys are errors (shape mismatches always are)


@dataclass(frozen=True, slots=True)
class TrainPlan:
    """A train section, resolved and checked."""

    name: str | None
    model: str
    model_args: CallSpec | None
    data: CallSpec | None
    loss: CallSpec
    optimizer: CallSpec
    scheduler: CallSpec | None
    epochs: int
    batch_size: int
    metrics: tuple[str, ...]
    early_stopping: EarlyStopping | None
    stop_when: Condition | None
    checkpoint: Checkpoint
    clip_grad_norm: float | None
    accumulate: int
    precision: str
    seed: int
    device: str
    task: Task | None = None
    # fine-tuning: weights loaded before training, the state_dict prefixes not trained, and
    # learning rates of their own for some prefixes (torch parameter groups)
    init: InitWeights | None = None
    freeze: tuple[str, ...] = ()
    lr_for: tuple[tuple[str, float], ...] = ()
    # the model's checked instance with the section's arguments (inputs, output types)
    instance: Any = field(default=None, compare=False, repr=False)
    spans: tuple[tuple[str, Span], ...] = field(default=(), compare=False, repr=False)
    # a loss block (`loss = VAELoss(beta=0.5)`): how the loss is called and what it logs
    custom_loss: CustomLoss | None = None
    # metrics of named outputs (`accuracy(digit)`); `metrics` holds the others
    output_metrics: tuple[OutputMetric, ...] = ()
    # how many input and target arrays the data gives (`npz(x=["left", "right"])`)
    data_inputs: int = 1
    data_targets: int = 1

    @property
    def per_batch_scheduler(self) -> bool:
        return self.scheduler is not None and self.scheduler.name in PER_BATCH_SCHEDULERS

    @property
    def data_options(self) -> dict[str, Any]:
        return self.data.kw() if self.data else {}

    @property
    def has_val(self) -> bool:
        """Whether the data holds out a validation split (`val_split=` above 0)."""
        split = self.data_options.get("val_split", 0)
        return isinstance(split, (int, float)) and not isinstance(split, bool) and split > 0

    def span(self, key: str) -> Span | None:
        return dict(self.spans).get(key)


#: The checker's reading of a train value as the plan holds it (`TrainChecker.plan_value`):
#: numbers, strings, tuples, ListValue, Word, CallSpec; PlanError for what is none of these.
Reader = Callable[[ir.Expr], Any]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def condition(e: ir.Expr, read: Reader) -> Condition:
    """`stop_when`'s expression as a Condition; its quantities and numbers as `read` reads them."""
    if isinstance(e, ir.Paren) and isinstance(e.expr, (ir.Compare, ir.BoolOp, ir.UnaryOp)):
        return condition(e.expr, read)
    if isinstance(e, ir.Compare):
        return Compare(_side(e.left, read), e.op, _side(e.right, read))
    if isinstance(e, ir.BoolOp):
        return BoolOp(e.op, condition(e.left, read), condition(e.right, read))
    if isinstance(e, ir.UnaryOp) and e.op == "not":
        return Not(condition(e.operand, read))
    raise PlanError(
        "stop_when is a comparison of a metric with a number, such as `val_loss < 0.05`"
    )


def _side(e: ir.Expr, read: Reader) -> Word | int | float:
    try:
        v = read(e)
    except PlanError:
        v = None
    if isinstance(v, str):
        return Word(v)  # `"val_accuracy" > 0.9`: the checker takes a quoted quantity too
    if isinstance(v, Word) or _number(v):
        return v
    raise PlanError(
        "stop_when is a comparison of a metric with a number, such as `val_loss < 0.05`"
    )


def _call(v: Any) -> CallSpec:
    if isinstance(v, CallSpec):
        return v
    if isinstance(v, Word):
        return CallSpec(v.name)
    raise PlanError("expected a call such as `Adam(lr=1e-3)`")


def _word(v: Any) -> Any:
    return v.name if isinstance(v, Word) else v


def _bound(call: CallSpec, defaults: dict[str, Any]) -> dict[str, Any]:
    """The arguments of `EarlyStopping(...)` or `Checkpoint(...)` by name over their defaults,
    positional ones in the order of `defaults` (the order the checker binds them in)."""
    out = dict(defaults)
    out.update(zip(defaults, (_word(a) for a in call.args)))
    out.update((k, _word(v)) for k, v in call.kwargs)
    return out


def dotted(e: ir.Expr) -> str | None:
    """A layer named in `freeze` or `lr_for`: `layer1`, `layer4.conv1`, or a string
    `"layer1.0"` (a state_dict prefix); None for anything else."""
    if isinstance(e, ir.Name):
        return e.id
    if isinstance(e, ir.Attribute):
        head = dotted(e.value)
        return None if head is None else f"{head}.{e.attr}"
    if isinstance(e, ir.Str) and isinstance(e.value, str):
        return e.value
    return None


def split_lr_for(e: ir.Expr) -> tuple[ir.Expr, ir.Keyword | None]:
    """The optimizer call without its `lr_for=[...]` option (which is not torch's), and that
    option."""
    if not isinstance(e, ir.Call):
        return e, None
    found = next((k for k in e.kwargs if k.name == LR_FOR), None)
    if found is None:
        return e, None
    rest = tuple(k for k in e.kwargs if k is not found)
    return ir.Call(func=e.func, args=e.args, kwargs=rest, span=e.span), found


def _init(v: Any, base_dir: str | None) -> InitWeights:
    import os

    call = _call(v)
    kw = {**INIT_ARGS, **dict(call.kwargs)}
    path = call.args[0] if call.args else kw.pop("path", None)
    if not isinstance(path, str):
        raise PlanError('init is `weights("file.pth")`')
    resolved = path if os.path.isabs(path) or base_dir is None else os.path.join(base_dir, path)
    return InitWeights(path, os.path.abspath(resolved), bool(kw["strict"]))


def build(
    train: ir.TrainDecl,
    models: list[str],
    read: Reader,
    *,
    task: Task | None = None,
    instance: Any = None,
    custom_loss: CustomLoss | None = None,
    base_dir: str | None = None,
    output_metrics: tuple[OutputMetric, ...] = (),
    data_arrays: tuple[int, int] = (1, 1),
) -> TrainPlan:
    """The plan of a train section the checker found no error in.  `read`: the checker's reading
    of a value (see `Reader`); `models`: the file's models (the default when `model` is absent)."""
    entries: dict[str, ir.TrainEntry] = {}
    for entry in train.entries:
        entries.setdefault(entry.key, entry)

    def get(key: str, default: Any = None) -> Any:
        e = entries.get(key)
        return default if e is None else read(e.value)

    model_v = get("model")
    if model_v is None:
        if len(models) != 1:
            raise PlanError("the train section must name its model")
        model, model_args = models[0], None
    else:
        call = _call(model_v)
        model, model_args = call.name, (call if (call.args or call.kwargs) else None)
    data = get("data")
    early = None
    if "early_stopping" in entries:
        es = _bound(_call(get("early_stopping")), EARLY_STOPPING_ARGS)
        early = EarlyStopping(str(es["monitor"]), es["patience"], str(es["mode"]), es["min_delta"])
    ck = {**CHECKPOINT_ARGS}
    if "checkpoint" in entries:
        ck = _bound(_call(get("checkpoint")), CHECKPOINT_ARGS)
    clip = get("clip_grad_norm")
    stop = entries.get("stop_when")
    optimizer, lr_for = entries["optimizer"].value, None
    if isinstance(optimizer, ir.Call):
        optimizer, lr_for = split_lr_for(optimizer)
    groups: list[tuple[str, float]] = []
    if lr_for is not None and isinstance(lr_for.value, ir.ListExpr):
        for item in lr_for.value.items:
            if isinstance(item, ir.Labeled):
                groups.append((item.label, float(read(item.expr))))
    frozen = []
    if "freeze" in entries:
        items = entries["freeze"].value
        for item in items.items if isinstance(items, ir.ListExpr) else (items,):
            name = dotted(item)
            if name is not None:
                frozen.append(name)
    return TrainPlan(
        name=train.name,
        model=model,
        model_args=model_args,
        data=_call(data) if data is not None else None,
        loss=_call(get("loss")),
        optimizer=_call(read(optimizer)),
        scheduler=_call(get("scheduler")) if "scheduler" in entries else None,
        epochs=int(get("epochs")),
        batch_size=int(get("batch_size", DEFAULTS["batch_size"])),
        metrics=tuple(str(_word(m)) for m in get("metrics", ()) if not isinstance(m, CallSpec)),
        early_stopping=early,
        stop_when=condition(stop.value, read) if stop is not None else None,
        checkpoint=Checkpoint(int(ck["every"] or 1), ck["keep_best"] or None),
        clip_grad_norm=clip,
        accumulate=int(get("accumulate", 1)),
        precision=str(_word(get("precision", DEFAULTS["precision"]))),
        seed=int(get("seed", DEFAULTS["seed"])),
        device=str(_word(get("device", DEFAULTS["device"]))),
        task=task,
        init=_init(get("init"), base_dir) if "init" in entries else None,
        freeze=tuple(frozen),
        lr_for=tuple(groups),
        instance=instance,
        spans=tuple((k, e.span) for k, e in entries.items()),
        custom_loss=custom_loss,
        output_metrics=output_metrics,
        data_inputs=data_arrays[0],
        data_targets=data_arrays[1],
    )
