"""Several input and target arrays, and metrics of named outputs, in train sections.

`npz(x=["left", "right"], y=["digit", "parity"])` and `csv("f.csv", features=[["a", "b"], ["c"]],
target=["t", "u"])` give several input arrays (the model's inputs, by order) and several targets
(a loss block's inputs after the model's outputs, by order).  What a spec says is checked here
(the numbers of arrays against the model's inputs and the loss); their shapes and types are
known only once the files are read, and are compared before training (`nndsl.api.data_mismatch`).

`metrics = [accuracy(digit), accuracy(parity)]` measures named outputs of the model (the names
of its `return`) against targets: the data's array of the same name, else the target at the
output's position (as many targets as outputs), else the only target; `accuracy(digit, d)`
names the target too.  Their columns are `val_accuracy_digit`, `val_accuracy_parity`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nndsl import ir
from nndsl.catalog.core import TensorT
from nndsl.catalog.training import Task, metric, metric_kind
from nndsl.check.graph import BlockInstance, TensorV
from nndsl.errors import Note, Span

if TYPE_CHECKING:
    from nndsl.check.plan import OutputMetric
    from nndsl.check.train import TrainChecker, _Section


@dataclass(frozen=True, slots=True)
class DataArrays:
    """The arrays a data source gives, by name, when the spec says it (npz, csv)."""

    inputs: tuple[str, ...]
    targets: tuple[str, ...]
    several: bool  # the spec lists several inputs or targets (names are then the data's)


def data_arrays(source: str, values: dict[str, Any]) -> DataArrays | None:
    """The input and target arrays of `source(**values)`; None when an option is malformed
    (reported where it is checked)."""

    def names(v: Any, default: str) -> tuple[str, ...] | None:
        if v is None:
            return (default,)
        if isinstance(v, str):
            return (v,)
        if isinstance(v, (list, tuple)) and v and all(isinstance(s, str) for s in v):
            return tuple(v)
        return None

    if source == "npz":
        xs = names(values.get("x"), "x")
        y = values.get("y")
        ys = ("target",) if _reconstruct(values) else names(y, "y")
        if xs is None or ys is None:
            return None
        return DataArrays(xs, ys, len(xs) > 1 or len(ys) > 1)
    if source == "csv":
        features = values.get("features")
        groups: tuple[str, ...] | None = ("features",)
        if isinstance(features, (list, tuple)) and features:
            if all(isinstance(g, (list, tuple)) for g in features):
                groups = tuple(_group_name(g) for g in features)
            elif not all(isinstance(f, str) for f in features):
                groups = None
        target = values.get("target")
        if target is None or _reconstruct(values) or isinstance(target, (str, int)):
            ys = (str(target),) if isinstance(target, str) and not _reconstruct(values) else None
            ys = ys or ("target",)
        else:
            ys = names(target, "target")
        if groups is None or ys is None:
            return None
        return DataArrays(groups, ys, len(groups) > 1 or len(ys) > 1)
    return DataArrays(("x",), ("target",), False)


def _group_name(group: Any) -> str:
    return "[" + ", ".join(f'"{c}"' for c in group) + "]"


def _reconstruct(values: dict[str, Any]) -> bool:
    v = values.get("target")
    return getattr(v, "name", None) == "input"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


def check_data_fit(checker: TrainChecker, inst: BlockInstance, sec: _Section) -> None:
    """The numbers of input and target arrays the spec's data names, against the model's
    inputs and the loss (shapes and types are compared once the data is read)."""
    arrays = sec.data_arrays
    entry = sec.data_entry
    if arrays is None or entry is None or sec.data is not None:
        return  # bundled and generated sources: compared by shape in `input_fit`
    stream = _option_node(entry.value, "stream")
    if arrays.several and isinstance(stream, ir.Const) and stream.value is True:
        checker.error(
            "data read from its files while training (`stream=true`) gives one input array and "
            "one target; several are read whole",
            stream.span,
            hint="remove `stream=true`",
        )
    model = inst.decl.name
    model_note = Note(f"`{model}` is defined at {{at}}", inst.decl.name_span)
    x_node = _option_node(entry.value, "x") or _option_node(entry.value, "features")
    if len(arrays.inputs) != len(inst.inputs):
        names = ", ".join(n for n, _ in inst.inputs)
        source = _source_text(entry.value)
        given = ", ".join(arrays.inputs)
        example = ", ".join(f'"{n}"' for n, _ in inst.inputs)
        checker.error(
            f"model `{model}` takes {_plural(len(inst.inputs), 'input')} ({names}), but "
            f"`{source}` gives {_plural(len(arrays.inputs), 'input array')} ({given})",
            (x_node or entry.value).span,
            notes=[model_note],
            hint=f"name one array per input, in order: `x=[{example}]`"
            if _callee(entry.value) == "npz"
            else "give one group of feature columns per input, in order: `features=[[...], [...]]`",
        )
    if len(arrays.targets) > 1 and sec.loss_block is None and sec.loss_py is None:
        where = sec.loss_entry.value.span if sec.loss_entry is not None else entry.value.span
        checker.error(
            f"`{sec.loss or 'the loss'}` takes one target, but the data gives "
            f"{len(arrays.targets)} ({', '.join(arrays.targets)})",
            where,
            notes=[Note("the data is given at {at}", entry.value.span)],
            hint="train with a `loss` block whose inputs are the model's outputs, then every "
            "target (see docs/training.md)",
        )


def targets_count_problem(
    checker: TrainChecker, decl: ir.BlockDecl, n_outputs: int, declared: int, sec: _Section
) -> bool:
    """A loss block that declares another number of targets than the data gives: a located
    error (True when reported)."""
    arrays = sec.data_arrays
    if arrays is None or sec.data_entry is None or sec.data is not None:
        return False
    got = declared - n_outputs
    want = len(arrays.targets)
    if got == want or got < 1:
        return False
    span = next((s.span for s in decl.body if isinstance(s, ir.InputDecl)), decl.name_span)
    checker.error(
        f"loss block `{decl.name}` takes {_plural(got, 'target')} after the "
        f"{_plural(n_outputs, 'output')} of the model, but the data gives {want} "
        f"({', '.join(arrays.targets)})",
        span,
        notes=[Note("the data is given at {at}", sec.data_entry.value.span)],
        hint="its inputs are the model's outputs, then one per target, in the data's order",
    )
    return True


# ---- metrics of named outputs ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MetricItem:
    """`accuracy(digit)` or `accuracy(digit, digit_target)` as written in `metrics`."""

    metric: str
    output: str
    target: str | None
    span: Span
    output_span: Span
    target_span: Span | None


def metric_item(checker: TrainChecker, item: ir.Expr) -> MetricItem | None:
    """A metric of a named output, or None after reporting why it is malformed."""
    assert isinstance(item, ir.Call) and isinstance(item.func, ir.Name)
    name = item.func.id
    if metric_kind(name) is None:
        checker.unknown_metric(name, item.func.span)
        return None
    args = list(item.args)
    if item.kwargs or not 1 <= len(args) <= 2 or not all(isinstance(a, ir.Name) for a in args):
        checker.error(
            f"`{name}(...)` names an output of the model and, optionally, a target",
            item.span,
            hint=f"e.g. `{name}(digit)` for the output `digit` of `return digit, parity`",
        )
        return None
    out, *rest = args
    assert isinstance(out, ir.Name)
    target = rest[0] if rest else None
    return MetricItem(
        name,
        out.id,
        target.id if isinstance(target, ir.Name) else None,
        item.span,
        out.span,
        target.span if target is not None else None,
    )


def resolve_output_metrics(
    checker: TrainChecker, inst: BlockInstance, sec: _Section
) -> tuple[OutputMetric, ...]:
    """The metrics of named outputs, each with its output, target and task; a name the model
    (or the data) does not have is a located error."""
    from nndsl.check.lossblock import flat_outputs, output_names
    from nndsl.check.plan import OutputMetric

    items: list[MetricItem] = sec.output_metric_items
    if not items:
        return ()
    outs = flat_outputs(inst)
    if outs is None:
        return ()
    names = output_names(inst.decl, len(outs))
    targets = _target_names(sec, len(outs))
    model = inst.decl.name
    found: list[OutputMetric] = []
    for item in items:
        if item.output not in names:
            from nndsl.check.train import _did_you_mean

            guess = _did_you_mean(item.output, names)
            checker.error(
                f"model `{model}` has no output `{item.output}`",
                item.output_span,
                notes=[Note(f"`{model}` is defined at {{at}}", inst.decl.name_span)],
                hint=guess
                or f"its outputs are named by its `return`: {', '.join(f'`{n}`' for n in names)}",
            )
            continue
        oi = names.index(item.output)
        if item.target is not None:
            if item.target not in targets:
                checker.error(
                    f"the data has no target `{item.target}`",
                    item.target_span or item.span,
                    hint="its targets: " + ", ".join(f"`{t}`" for t in targets),
                )
                continue
            ti = targets.index(item.target)
        elif item.output in targets:
            ti = targets.index(item.output)
        elif len(targets) == len(names):
            ti = oi
        else:
            ti = 0
        task = output_task(inst, outs[oi], _target_type(checker, inst, sec, ti), sec, ti)
        if not _metric_fits(checker, item, task, names[oi]):
            continue
        found.append(OutputMetric(item.metric, item.output, oi, targets[ti], ti, task))
    return tuple(found)


def _target_names(sec: _Section, n_outputs: int) -> tuple[str, ...]:
    """The targets' names: the data's (`npz(y=["digit", "parity"])`), else the loss block's."""
    arrays = sec.data_arrays
    if arrays is not None and arrays.several:
        return arrays.targets
    loss = sec.loss_instance
    if loss is not None and len(loss.inputs) > n_outputs:
        return tuple(name for name, _ in loss.inputs[n_outputs:])
    return arrays.targets if arrays is not None else ("target",)


def _target_type(
    checker: TrainChecker, inst: BlockInstance, sec: _Section, index: int
) -> TensorT | None:
    from nndsl.check.lossblock import data_targets

    loss = sec.loss_instance
    n = len(inst.outputs)
    if loss is not None and len(loss.inputs) > n + index:
        v = loss.inputs[n + index][1]
        return v.type if isinstance(v, TensorV) else None
    given = data_targets(checker, inst, sec)
    if given is not None and index < len(given.types):
        return given.types[index]
    return None


def output_task(
    inst: BlockInstance, out: TensorV, target: TensorT | None, sec: _Section, index: int
) -> Task | None:
    """How an output is measured against its target: like the task of the first output
    (nndsl/check/lossblock.py `custom_task`), from the target's type when it is known."""
    from nndsl.check.train import _final_op

    facts = sec.data
    option = sec.task_option
    if index == 0 and facts is not None and facts.reconstruct:
        return Task("reconstruction")
    if target is not None:
        labels = not target.is_float
    else:
        labels = option not in (None, "regression") or (
            facts is not None and facts.task == "classification"
        )
    if option == "multilabel":
        return Task("multilabel", "logit")
    if not labels:
        return Task("regression")
    t = out.type
    classes = t.shape[1] if t.rank == 2 else None
    if isinstance(classes, int) and classes > 1:
        return Task("binary" if classes == 2 else "multiclass", "argmax")
    if t.rank == 1 or (t.rank == 2 and t.shape[1] == 1):
        last = _final_op(inst, out)
        sigmoid = last is not None and last[0] in ("sigmoid", "Sigmoid")
        return Task("binary", "probability" if sigmoid else "logit")
    return None


def _metric_fits(checker: TrainChecker, item: MetricItem, task: Task | None, output: str) -> bool:
    m = metric(item.metric)
    assert m is not None
    if task is None:
        checker.error(
            f"`{item.metric}({output})` cannot tell how to read the output `{output}`",
            item.span,
            hint="a classification metric needs class scores [B, C] or one logit per sample",
        )
        return False
    if task.kind not in m.tasks:
        from nndsl.check.train import METRICS_FOR_TASK

        fitting = [n for n, f in METRICS_FOR_TASK.items() if task.kind in f]
        checker.error(
            f"`{item.metric}` is a {metric_kind(item.metric)} metric, but the output "
            f"`{output}` is measured as {task.describe()}",
            item.span,
            hint="metrics for it: " + ", ".join(f"`{n}`" for n in fitting),
        )
        return False
    return True


def _option_node(node: ir.Expr, key: str) -> ir.Expr | None:
    if isinstance(node, ir.Call):
        for k in node.kwargs:
            if k.name == key:
                return k.value
    return None


def _callee(node: ir.Expr) -> str | None:
    if isinstance(node, ir.Call) and isinstance(node.func, ir.Name):
        return node.func.id
    return node.id if isinstance(node, ir.Name) else None


def _source_text(node: ir.Expr) -> str:
    from nndsl.check.lossblock import ir_text

    text = ir_text(node)
    return text if len(text) <= 50 else f"{_callee(node) or 'data'}(...)"


# ---- the data as read, against the model (before training) -------------------------------------


def arrays_mismatch(plan: Any, data: bytes) -> str | None:
    """Why the prepared arrays of a data source with several inputs or targets do not fit the
    plan's model (the number of arrays, each one's shape and type against the model's inputs,
    the targets against the loss block's declared targets), or None.  One input and one target
    are compared by `nndsl.api.data_mismatch`."""
    import io

    import numpy as np

    inst = plan.instance
    if inst is None or not getattr(inst, "inputs", None):
        return None
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        files = set(arrays.files)
        xs, ys = _series(arrays, files, "x"), _series(arrays, files, "y")
    except Exception:  # (not ours to judge: training reports unreadable data)
        return None
    if not xs or (len(xs) == 1 and len(ys) <= 1 and len(inst.inputs) == 1):
        return None
    options = plan.data.kw() if plan.data is not None else {}
    x_names = _listed(options.get("x") or options.get("features"), len(xs), "input")
    y_names = _listed(options.get("y") or options.get("target"), len(ys), "target")
    model = plan.model
    source = f"`{plan.data.name}(...)`" if plan.data is not None else "the data"
    if len(xs) != len(inst.inputs):
        names = ", ".join(n for n, _ in inst.inputs)
        return (
            f"model `{model}` takes {_plural(len(inst.inputs), 'input')} ({names}), but "
            f"{source} gives {_plural(len(xs), 'input array')} ({', '.join(x_names)})"
        )
    env: dict[str, int] = {}
    for (name, v), a, a_name in zip(inst.inputs, xs, x_names):
        problem = _fits(v.type, a, env)
        if problem is not None:
            return (
                f"input `{name}` of `{model}` is {v.type}, but the array {a_name} of {source} "
                f"is {_shown(a)} ({problem})"
            )
    custom = plan.custom_loss
    loss = getattr(custom, "instance", None)
    if custom is None or loss is None:
        return None
    declared = loss.inputs[len(custom.outputs) :]
    if len(declared) != len(ys):
        return (
            f"loss `{plan.loss.name}` takes {_plural(len(declared), 'target')} after the "
            f"model's outputs, but {source} gives {len(ys)} ({', '.join(y_names)})"
        )
    for (name, v), a, a_name in zip(declared, ys, y_names):
        if not isinstance(v, TensorV):
            continue
        problem = _fits(v.type, a, env)
        if problem is not None:
            return (
                f"target `{name}` of loss `{plan.loss.name}` is {v.type}, but the array "
                f"{a_name} of {source} is {_shown(a)} ({problem})"
            )
    return None


def _series(arrays: Any, files: set[str], role: str) -> list[Any]:
    key = f"train_{role}"
    if key not in files:
        return []
    out = [arrays[key]]
    while f"{key}{len(out)}" in files:
        out.append(arrays[f"{key}{len(out)}"])
    return out


def _listed(option: Any, n: int, what: str) -> list[str]:
    if isinstance(option, str):
        option = [option]
    if isinstance(option, (list, tuple)) and len(option) == n:
        return [f'"{o}"' if isinstance(o, str) else _group_name(o) for o in option]
    return [f"{what} {i + 1}" for i in range(n)]


def _shown(a: Any) -> str:
    kind = "" if a.dtype.kind == "f" else ("long" if a.dtype.name == "int64" else a.dtype.name)
    return kind + "[" + ", ".join(["B", *(str(int(d)) for d in a.shape[1:])]) + "]"


def _fits(t: TensorT, a: Any, env: dict[str, int]) -> str | None:
    """What differs between a declared type and an array of samples (its sizes after the
    batch; float or integer), None when it fits.  Named sizes bind on first use."""
    from nndsl import dims

    sample = [int(d) for d in a.shape[1:]]
    if len(t.shape) != len(sample) + 1:
        return f"{_plural(len(sample) + 1, 'dimension')}, not {len(t.shape)}"
    for i, (d, n) in enumerate(zip(t.shape[1:], sample), 1):
        if isinstance(d, int):
            if d != n:
                return f"size {n} in dimension {i}, not {d}"
        else:
            free = dims.free_symbols(d)
            if len(free) == 1 and d == dims.sym(next(iter(free))):
                symbol = next(iter(free))
                if env.setdefault(symbol, n) != n:
                    return f"{symbol} = {n} here, {env[symbol]} before"
    if t.is_float != (a.dtype.kind == "f"):
        return "floating-point values" if a.dtype.kind == "f" else "integers"
    return None
