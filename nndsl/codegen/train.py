"""The train section → `train.py`, a standalone training script (also what `nndsl run` runs).

The script is rendered from the checker's TrainPlan only (templates/train.py.j2): the CONFIG
literal, the calls that build the model, loss, optimizer and scheduler, the `stop_when` test, and
a training loop that holds the code of the keys the section uses and nothing else.  What is the
same for every spec lives in nndsl/runtime/training_utils.py, which `generate` writes beside it.
"""

from __future__ import annotations

import ast
import os
from functools import lru_cache
from typing import Any

from nndsl.catalog import api
from nndsl.catalog.training import LOSSES, METRIC_FACTS, TENSOR_ARGS, TRANSFORMS, Task
from nndsl.codegen.output import PLACEHOLDER, seal
from nndsl.codegen.pysrc import RESERVED, identifier, literal
from nndsl.codegen.render import black_format, docstring, render
from nndsl.codegen.trainplan import (
    BoolOp,
    CallSpec,
    Compare,
    Condition,
    ListValue,
    TrainPlan,
    Word,
    data_file,
    script_name,
    spec_folder_from,
)
from nndsl.errors import display_path


class TrainCodeError(Exception):
    pass


def _value(v: Any) -> str:
    if isinstance(v, Word):
        return literal(v.name)
    if isinstance(v, CallSpec):
        raise TrainCodeError(f"`{v.name}(...)` cannot be an argument here")
    if isinstance(v, (list, ListValue)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, tuple):
        inner = ", ".join(_value(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return literal(v)


def _call(
    prefix: str,
    call: CallSpec,
    extra_first: list[str] | None = None,
    overrides: dict[str, str] | None = None,
) -> str:
    parts = list(extra_first or [])
    parts += [_value(a) for a in call.args]
    overrides = dict(overrides or {})
    for k, v in call.kwargs:
        parts.append(f"{k}={overrides.pop(k) if k in overrides else _value(v)}")
    parts += [f"{k}={v}" for k, v in overrides.items()]
    return f"{prefix}{call.name}({', '.join(parts)})"


def _optimizer(call: CallSpec, params: str = "params") -> str:
    """The optimizer's constructor call on `params` (the code that gives the parameters), the
    learning rate `lr` when it is not None."""
    sig = api.optimizer_signature(call.name) or ()
    names = [n for n, _, _ in sig]
    given = dict(call.kwargs)
    if "lr" in given:
        lr = f"{_value(given['lr'])} if lr is None else lr"
        return _call("torch.optim.", call, [params], {"lr": lr})
    if call.args and names and names[0] == "lr":
        first = f"{_value(call.args[0])} if lr is None else lr"
        rest = CallSpec(call.name, call.args[1:], call.kwargs)
        return _call("torch.optim.", rest, [params, first])
    # the optimizer's own default learning rate unless --lr is given
    return (
        f"torch.optim.{call.name}({params}{''.join(', ' + _value(a) for a in call.args)}"
        + "".join(f", {k}={_value(v)}" for k, v in call.kwargs)
        + ", **({} if lr is None else {'lr': lr}))"
    )


def _scheduler(call: CallSpec | None) -> str:
    return "None" if call is None else scheduler_code(call)[0]


def scheduler_code(call: CallSpec) -> tuple[str, frozenset[str]]:
    """The scheduler's constructor call, and the names it reads besides `optimizer` (`epochs`,
    `steps_per_epoch`: what the code around it must define)."""
    names: set[str] = set()
    return _scheduler_call(call, names), frozenset(names)


def _scheduler_call(call: CallSpec, names: set[str]) -> str:
    given = dict(call.kwargs)
    extra: dict[str, str] = {}
    if (
        call.name == "OneCycleLR"
        and "total_steps" not in given
        and not ("epochs" in given and "steps_per_epoch" in given)
    ):
        extra = {"epochs": "epochs", "steps_per_epoch": "steps_per_epoch"}
    if call.name == "CosineAnnealingLR" and "T_max" not in given and not call.args:
        extra = {"T_max": "epochs"}
    names.update(extra.values())
    params = [n for n, _, _ in api.scheduler_signature(call.name) or ()]
    # the spec's positional arguments follow the optimizer, which is torch's first parameter
    # except where the catalog keeps it as a later one (ChainedScheduler: by keyword)
    positional = [n for n in params if n != "optimizer"]
    keyword_optimizer = "optimizer" in params
    parts = [] if keyword_optimizer else ["optimizer"]
    parts += [
        _scheduler_arg(positional[i] if i < len(positional) else "", a, names)
        for i, a in enumerate(call.args)
    ]
    parts += [f"{k}={_scheduler_arg(k, v, names)}" for k, v in call.kwargs]
    parts += [f"{k}={v}" for k, v in extra.items()]
    if keyword_optimizer:
        parts.append("optimizer=optimizer")
    return f"torch.optim.lr_scheduler.{call.name}({', '.join(parts)})"


def _scheduler_arg(key: str, v: Any, names: set[str]) -> str:
    """`schedulers=[LinearLR(...), ...]` of SequentialLR and ChainedScheduler: schedulers of the
    same optimizer."""
    if key == "schedulers" and isinstance(v, (list, tuple)):
        if all(isinstance(x, CallSpec) for x in v):
            return "[" + ", ".join(_scheduler_call(x, names) for x in v) + "]"
    return _value(v)


def condition(c: Condition) -> str:
    """The plan's `stop_when` as Python: `val_accuracy >= 0.95` → `m.get("val_accuracy",
    float('nan')) >= 0.95`: quantities are metric keys (written as string literals, never as
    code); numbers (constants and arithmetic on them were evaluated by the checker) as values."""
    if isinstance(c, Compare):
        return f"{_side(c.left)} {c.op} {_side(c.right)}"
    if isinstance(c, BoolOp):
        return f"({condition(c.left)} {c.op} {condition(c.right)})"
    return f"not ({condition(c.operand)})"


def _side(v: Word | int | float) -> str:
    if isinstance(v, Word):
        return f"m.get({literal(v.name)}, float('nan'))"
    return literal(v)


def loss_call(call: CallSpec) -> str:
    """`nn.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0]))`: the loss, its list-valued
    weights as tensors (the training script moves the loss to the device)."""
    overrides = {}
    for key, v in call.kwargs:
        if key in TENSOR_ARGS:
            if isinstance(v, CallSpec) and v.name == "tensor" and len(v.args) == 1:
                v = v.args[0]
            if isinstance(v, (list, tuple)):
                overrides[key] = f"torch.tensor({_value(list(v))})"
    return _call("nn.", call, overrides=overrides)


def loss_expr(plan: TrainPlan, direct: bool) -> str:
    """The loss of a batch: a loss block takes every output of the model, then the targets."""
    custom = plan.custom_loss
    if custom is not None:
        targets = "*y" if plan.data_targets > 1 else "y"  # several targets: a tuple
        return f"criterion({'*out' if custom.several_outputs else 'out'}, {targets})"
    return "criterion(out, y)" if direct else "compute_loss(criterion, out, y)"


def loss_class_call(plan: TrainPlan) -> str:
    """How the script builds the loss: `nn.CrossEntropyLoss(...)`, or a loss block's class
    (imported from model.py) with the section's arguments."""
    if plan.custom_loss is not None:
        return _call("", CallSpec(model_alias(plan.loss.name), plan.loss.args, plan.loss.kwargs))
    return loss_call(plan.loss)


def task_config(task: Task | None) -> dict[str, Any] | None:
    return None if task is None else {"kind": task.kind, "decision": task.decision}


#: What `lower_is_better` of the scripts compares with: the loss and the metrics where lower is
#: better (from the catalog).
LOWER_IS_BETTER = ("loss", *(m.name for m in METRIC_FACTS.values() if m.lower_is_better))


def config_literal(plan: TrainPlan) -> str:
    es = None
    if plan.early_stopping is not None:
        e = plan.early_stopping
        es = {
            "monitor": e.monitor,
            "patience": e.patience,
            "mode": e.mode,
            "min_delta": e.min_delta,
        }
    cfg = {
        "model": plan.model,
        "epochs": plan.epochs,
        "batch_size": plan.batch_size,
        "seed": plan.seed,
        "device": plan.device,
        "precision": plan.precision,
        "clip_grad_norm": plan.clip_grad_norm,
        "accumulate": plan.accumulate,
        "metrics": list(plan.metrics),
        "early_stopping": es,
        "checkpoint": {
            "every": plan.checkpoint.every,
            "keep_best": plan.checkpoint.keep_best,
        },
        "task": task_config(plan.task),
        "data": _data_config(plan),
        "loss": _spec_text(plan, "loss"),
        "optimizer": _spec_text(plan, "optimizer"),
        "scheduler": _spec_text(plan, "scheduler"),
    }
    cfg.update(_finetune_config(plan))
    if plan.output_metrics:
        cfg["output_metrics"] = output_metrics_config(plan)
    return _py(cfg)


def output_metrics_config(plan: TrainPlan) -> list[dict[str, Any]]:
    """`metrics = [accuracy(digit)]`: each metric with the index of its output and target and
    how it reads the output; its column is `val_accuracy_digit` (the output's name)."""
    return [
        {
            "metric": m.metric,
            "name": m.output,
            "output": m.output_index,
            "target": m.target_index,
            "task": task_config(m.task),
        }
        for m in plan.output_metrics
    ]


def _finetune_config(plan: TrainPlan) -> dict[str, Any]:
    """The fine-tuning keys, in CONFIG only when the section uses them: `init` (the weights
    file's absolute path), `freeze` (state_dict prefixes), `lr_for` (prefix → learning rate)."""
    cfg: dict[str, Any] = {}
    if plan.init is not None:
        cfg["init"] = {"path": plan.init.resolved, "strict": plan.init.strict}
    if plan.freeze:
        cfg["freeze"] = list(plan.freeze)
    if plan.lr_for:
        cfg["lr_for"] = dict(plan.lr_for)
    return cfg


def _spec_text(plan: TrainPlan, key: str) -> str | None:
    call = getattr(plan, key)
    return None if call is None else _text(call)


def _text(v: Any) -> str:
    """A train value as the spec writes it: `Adam(lr=0.01)`, `[1.0, 2.0]`, `val_loss`."""
    if isinstance(v, Word):
        return v.name
    if isinstance(v, CallSpec):
        parts = [_text(a) for a in v.args] + [f"{k}={_text(x)}" for k, x in v.kwargs]
        return f"{v.name}({', '.join(parts)})"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_text(x) for x in v)
        listed = isinstance(v, (list, ListValue))
        return f"[{inner}]" if listed else f"({inner}{',' if len(v) == 1 else ''})"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    return literal(v)


def _data_config(plan: TrainPlan) -> dict[str, Any] | None:
    if plan.data is None:
        return None
    return {"source": plan.data.name, "options": {k: _plain(v) for k, v in plan.data.kwargs}}


def _plain(v: Any) -> Any:
    if isinstance(v, Word):
        return v.name
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, CallSpec):
        return _text(v)
    return v


def _py(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{literal(k)}: {_py(x)}" for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ", ".join(_py(x) for x in v) + "]"
    return literal(v)


#: The helper module every generated training script imports (nndsl/runtime/training_utils.py,
#: written beside it by `generate`, loaded in memory by `run`).
UTILS = "training_utils"

# losses whose targets are class indices: the script calls the loss on the output as it is
INDEX_TARGET_LOSSES = frozenset(n for n, f in LOSSES.items() if f.targets == "class")


def utils_source() -> str:
    """The text of training_utils.py (a module of this package, copied verbatim, sealed)."""
    return seal(_utils_text())


@lru_cache(maxsize=1)
def _utils_text() -> str:
    from importlib import resources

    return resources.files("nndsl.runtime").joinpath(UTILS + ".py").read_text(encoding="utf-8")


def _features(plan: TrainPlan) -> dict[str, Any]:
    """What the template writes for this plan: each train key's code only with the key."""
    scheduler = plan.scheduler
    inst = plan.instance
    single = inst is not None and len(getattr(inst, "output_types", lambda: ())()) == 1
    custom = plan.custom_loss
    direct = (plan.loss.name in INDEX_TARGET_LOSSES and single) or custom is not None
    early = plan.early_stopping is not None
    imports = ["Meter", "Run"]
    if early:
        imports.insert(0, "EarlyStopping")
    if not direct:
        imports.insert(0, "compute_loss")
    imports += ["TrainingError", "parse_flags"]
    if plan.freeze:
        imports += ["freeze", "keep_frozen_norms"]
    if plan.freeze or plan.lr_for:
        imports.append("parameter_groups")
    scaled = "loss" if plan.accumulate == 1 else f"(loss / {plan.accumulate})"
    fp16 = plan.precision == "fp16"
    return {
        "backward": f"scaler.scale({scaled}).backward()" if fp16 else f"{scaled}.backward()",
        "utils_imports": sorted(imports),
        "loss_expr": loss_expr(plan, direct),
        "x_arg": "*x" if plan.data_inputs > 1 else "x",  # several inputs: a tuple
        "loss_lhs": "loss, logged" if custom is not None and custom.logged else "loss",
        "logged_arg": ", logged" if custom is not None and custom.logged else "",
        "scheduler_call": _scheduler(scheduler) if scheduler is not None else None,
        "per_batch": plan.per_batch_scheduler,
        "plateau": scheduler is not None and scheduler.name == "ReduceLROnPlateau",
        "stop_when": condition(plan.stop_when) if plan.stop_when is not None else None,
        "early_stopping": early,
        "accumulate": plan.accumulate,
        "clip": None if plan.clip_grad_norm is None else literal(plan.clip_grad_norm),
        "fp16": plan.precision == "fp16",
        "autocast": {"bf16": "torch.bfloat16", "fp16": "torch.float16"}.get(plan.precision),
        "init": plan.init is not None,
        "freeze": bool(plan.freeze),
        "lr_for": bool(plan.lr_for),
    }


@lru_cache(maxsize=1)
def _script_names() -> frozenset[str]:
    """Every name a train.py defines or imports at module level (the template rendered with
    every feature on)."""
    placeholder = "NndslPlaceholderModel"
    names: set[str] = set()
    for source in ("image_folder", "csv"):
        names |= _rendered_names(placeholder, source)
    names.discard(placeholder)
    return frozenset(names)


def _rendered_names(placeholder: str, source: str) -> set[str]:
    """The module-level names of a train.py rendered with every feature on, its data
    streaming from `source`."""
    stream = {
        "source": source,
        "dataset": "ImageFiles" if source == "image_folder" else "CsvRows",
        "functions": ["random_crop", "hflip", "color_jitter", "resize", "normalize"]
        + ["gaussian_noise", "feature_dropout", "with_generator"],
        "steps": [],
        "torchvision": True,
        "tv_constants": [("TRAIN_TRANSFORMS", "v2.Identity()"), ("TRANSFORMS", "v2.Identity()")],
        "tv_random": True,
        "has_random": True,
        "skip_bad": True,
        "normalize": True,
        "mode": '"RGB"',
        "mode_name": "RGB",
        "size": [1, 1],
        "pil_size": "(1, 1)",
        "imports": [],
    }
    source = render(
        "train.py.j2",
        header="",
        model_import=placeholder,
        loss_import=None,
        utils_imports=[
            "EarlyStopping",
            "Meter",
            "Run",
            "compute_loss",
            "parse_flags",
            "TrainingError",
            "collate_readable",
            "data_error",
            "eight_bit",
            "freeze",
            "keep_frozen_norms",
            "parameter_groups",
        ],
        streaming=True,
        stream=stream,
        config="{}",
        model_call=placeholder + "()",
        loss_call="None",
        optimizer_call="None",
        data_file='"data.npz"',
        user_path='"."',
        loss_expr="criterion(out, y)",
        x_arg="x",
        loss_lhs="loss, logged",
        logged_arg=", logged",
        backward="loss.backward()",
        scheduler_call="None",
        per_batch=True,
        plateau=False,
        stop_when="False",
        early_stopping=True,
        accumulate=2,
        clip="1.0",
        fp16=True,
        autocast="torch.float16",
        init=True,
        freeze=True,
        lr_for=True,
    )
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def model_alias(model: str) -> str:
    """The name train.py gives the model class: its own, unless that would hide one of the
    script's names, a builtin or a module attribute (a model called `os`, `print`, `__file__`)."""
    taken = set(_script_names()) | set(RESERVED)
    dunder = model.startswith("__") and model.endswith("__")  # __file__, __builtins__, ...
    if model not in taken and not dunder:
        return model
    return identifier(f"{model}_model", taken)


def stream_context(plan: TrainPlan) -> dict[str, Any]:
    """What templates/stream_data.py.j2 writes for a streaming data source: the Dataset of the
    source (an image folder or a CSV file) with only the options it uses, its `augment` as
    calls with the spec's arguments (random ones under `if self.train`, one generator per
    sample), the transform functions they call, and what the script imports for it."""
    from nndsl.data.streaming import plan_options, transforms

    options = plan_options(plan)
    source = plan.data.name
    skip_bad = source == "image_folder" and _flag(options.get("skip_bad"))
    steps: list[tuple[bool, list[str], bool]] = []
    functions: list[str] = []
    made = False
    raw = list(options.get("augment") or [])
    tv = _TvConstants({plan.model, model_alias(plan.model), getattr(plan.loss, "name", "")})
    for item, t in zip(raw, transforms(raw, source)):
        name, random = t["name"], t["random"]
        if t.get("torchvision"):
            call = tv.add(item, random, merge=bool(steps) and steps[-1][0] == random)
            if call is None:  # joined the v2.Compose of the call before
                continue
            if random and "with_generator" not in functions:
                functions.append("with_generator")
            if steps and steps[-1][0] == random:
                steps[-1][1].append(call)
            else:
                steps.append((random, [call], random and not made))
                made = made or random
            continue
        args = [
            f"{k}={literal(tuple(t[k]) if isinstance(t[k], list) else t[k])}"
            for k in TRANSFORMS[name].params
        ]
        call = f"{name}(x, {', '.join([*args, 'generator=generator'] if random else args)})"
        tv.builtin()
        if name not in functions:
            functions.append(name)
        if steps and steps[-1][0] == random:
            steps[-1][1].append(call)
        else:
            steps.append((random, [call], random and not made))
            made = made or random
    size = options.get("size")
    if isinstance(size, int):
        size = [size, size]
    gray = _flag(options.get("grayscale"))
    return {
        "source": source,
        "dataset": "ImageFiles" if source == "image_folder" else "CsvRows",
        "functions": functions,
        "steps": steps,
        "has_random": made,
        "skip_bad": skip_bad,
        "normalize": _flag(options.get("normalize")),
        "mode": literal("L" if gray else "RGB"),
        "mode_name": "grayscale" if gray else "RGB",
        "size": list(size) if size else None,
        "pil_size": literal((size[1], size[0])) if size else None,
        "imports": [
            "data_error",
            *(["eight_bit"] if source == "image_folder" else []),
            *(["collate_readable"] if skip_bad else []),
        ],
        "torchvision": bool(tv.constants),
        "tv_constants": tv.constants,
        "tv_random": any(name.startswith("TRAIN_") for name, _ in tv.constants),
    }


class _TvConstants:
    """The torchvision.transforms.v2 transforms of `augment` as module-level constants of
    train.py, as a torchvision user writes them: consecutive ones of the same kind (random,
    for training data only, or not) in one `v2.Compose([...])`, named TRAIN_TRANSFORMS (random)
    or TRANSFORMS (then numbered)."""

    def __init__(self, taken: set[str]) -> None:
        self.taken = set(taken)
        self.constants: list[tuple[str, str]] = []  # (name, source)
        self.items: list[list[str]] = []  # the v2 calls of each constant
        self.last_random: bool | None = None  # the kind of the last constant, when it was last

    def add(self, item: Any, random: bool, merge: bool) -> str | None:
        """Add a transform; the statement that applies it, or None when it joined the
        constant of the transform before."""
        from nndsl.catalog.tv_transforms import transform_of

        source = _tv_source(transform_of(item))
        if merge and self.last_random is random and self.constants:
            self.items[-1].append(source)
            name = self.constants[-1][0]
            self.constants[-1] = (name, "v2.Compose([" + ", ".join(self.items[-1]) + "])")
            return None
        name = identifier("TRAIN_TRANSFORMS" if random else "TRANSFORMS", self.taken)
        self.constants.append((name, source))
        self.items.append([source])
        self.last_random = random
        return f"with_generator({name}, x, generator)" if random else f"{name}(x)"

    def builtin(self) -> None:
        """A built-in transform came between: the next v2 one starts a new constant."""
        self.last_random = None


def _tv_source(v: Any) -> str:
    """Python source of a v2 transform's call (a TvCall) or argument value."""
    from nndsl.catalog.tv_transforms import TvCall

    if isinstance(v, TvCall):
        args = [_tv_source(a) for a in v.args] + [f"{k}={_tv_source(a)}" for k, a in v.kwargs]
        return f"v2.{v.name}({', '.join(args)})"
    if isinstance(v, list):
        return "[" + ", ".join(_tv_source(i) for i in v) + "]"
    if isinstance(v, tuple):
        inner = ", ".join(_tv_source(i) for i in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    return literal(v)


def _flag(value: Any) -> bool:
    """A data source's yes/no option as the data reads it (checked there)."""
    return value is True


def _streams(plan: TrainPlan, spec_path: str) -> bool:
    from nndsl.data.streaming import plan_streams

    return plan_streams(plan, spec_path)


def train_source(
    plan: TrainPlan,
    spec_path: str,
    py_modules: tuple[str, ...] = (),
    *,
    formatted: bool = True,
    out_dir: str | os.PathLike | None = None,
) -> str:
    """train.py for a plan.  `py_modules`: the user's Python modules model.py imports; the
    script written to `out_dir` puts the spec's folder on `sys.path` so that they import (without
    `out_dir`, the docstring says what to set).  `formatted=False`: before black (the same code,
    for compiling in memory)."""
    alias = model_alias(plan.model)
    model_import = plan.model if alias == plan.model else f"{plan.model} as {alias}"
    loss_import = None
    custom = plan.custom_loss
    if custom is not None and custom.kind == "block":
        name = plan.loss.name
        loss_alias = model_alias(name)
        model_import += ", " + (name if loss_alias == name else f"{name} as {loss_alias}")
    elif custom is not None and custom.py_import is not None:
        module, cls, local = custom.py_import
        loss_alias = model_alias(local)
        loss_import = f"from {module} import {cls}" + (
            f" as {loss_alias}" if loss_alias != cls else ""
        )
    model_call = alias + "()"
    if plan.model_args is not None:
        args = plan.model_args
        model_call = _call("", CallSpec(alias, args.args, args.kwargs))
    spec = display_path(spec_path)
    section = f" (train section `{plan.name}`)" if plan.name else ""
    script = script_name(plan.name)
    lines = [
        f"{script}.py: training script generated by nndsl{section}.",
        f"Spec: {spec}",
        f"Run `python {script}.py --help` for its flags; under torchrun it trains with",
        f"DistributedDataParallel: `torchrun --nproc_per_node 2 {script}.py`.",
        f"What every spec shares (checkpoints, resume, Ctrl-C, torchrun) is in {UTILS}.py.",
    ]
    user_code = py_modules or (custom is not None and custom.py_import is not None)
    user_path = spec_folder_from(out_dir, spec_path) if user_code else None
    streaming = _streams(plan, spec_path)
    features = _features(plan)
    stream = stream_context(plan) if streaming else None
    if stream is not None:
        features["utils_imports"] = sorted([*features["utils_imports"], *stream["imports"]])
    if py_modules:
        names = ", ".join(py_modules)
        if user_path is not None:
            lines.append(f"model.py imports {names} from the spec's folder, put on sys.path below.")
        elif out_dir is not None:
            lines.append(f"model.py imports {names} from this folder (the spec's).")
        else:
            folder = os.path.dirname(spec) or "."
            lines.append(f"model.py imports {names}: run it with PYTHONPATH={folder} set.")
    if custom is not None and custom.py_import is not None:
        module = custom.py_import[0]
        if user_path is not None:
            lines.append(f"The loss comes from {module}, in the spec's folder, on sys.path below.")
        elif out_dir is not None:
            lines.append(f"The loss comes from {module}, in this folder (the spec's).")
        else:
            folder = os.path.dirname(spec) or "."
            lines.append(f"The loss comes from {module}: run it with PYTHONPATH={folder} set.")
    lines += [
        "Regenerate it with `nndsl generate` on that spec rather than editing it by hand.",
        PLACEHOLDER,
    ]
    source = render(
        "train.py.j2",
        header=docstring(lines, ""),
        model_import=model_import,
        loss_import=loss_import,
        config=config_literal(plan),
        model_call=model_call,
        loss_call=loss_class_call(plan),
        optimizer_call=_optimizer(plan.optimizer),
        data_file=literal(data_file(script, streaming)),
        user_path=literal(user_path) if user_path is not None else None,
        streaming=streaming,
        stream=stream,
        **features,
    )
    return seal(black_format(source) if formatted else source)
