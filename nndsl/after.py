"""After training: a checkpoint's model exported (TorchScript, ONNX, torch.export) or evaluated.

`Program.export` and `Program.evaluate` (nndsl/api.py) and the `export` / `evaluate` verbs
(nndsl/cli.py) call these.  Every failure is an `NndslError` with a one-line message.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nndsl.errors import NndslError, error
from nndsl.safeio import refuse_special, unreadable, write_atomic

FORMATS = ("torchscript", "onnx", "pt2")
# exported outputs must equal the PyTorch model's within these tolerances (torch.allclose)
RTOL, ATOL = 1e-4, 1e-5
EXAMPLE_BATCH, CHECK_BATCH = 2, 3
# a symbolic size other than the batch (a sequence length, an image side) in example inputs
OTHER_SIZE = 8


def fail(message: str) -> NndslError:
    return NndslError([error(message, None)])


def generate_failure(exc: Exception, checked) -> NndslError:
    """nndsl.api.generate_failure: a data source's problem at its place in the spec."""
    from nndsl.api import generate_failure as located

    return located(exc, checked)


def _with_data_note(exc: NndslError, source: str) -> NndslError:
    """`exc`'s errors, each noting that the spec was read with `--data SOURCE` (their place
    is in the train section as evaluate rewrote it)."""
    from nndsl.errors import Diagnostic, Note

    note = Note(f"the train section as read with --data {source}")
    errors = [
        Diagnostic(d.severity, d.message, d.span, (*d.notes, note), d.hint)
        for d in exc.diagnostics
        if d.is_error
    ]
    return NndslError(errors, exc.sources)


@dataclass
class Trained:
    """A checkpoint's weights loaded into the spec's model (eval mode)."""

    model: Any  # nn.Module
    name: str  # the model's name in the spec
    instance: Any  # the checked model (its input types)
    section: str | None  # the train section the checkpoint came from (None: none matched)
    script: str | None  # the training module's key in Program.modules()
    config: dict  # the checkpoint's config (the training script's CONFIG), or {}
    about: dict  # what the checkpoint says about its run (nndsl/codegen/about.py), or {}


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The payload of a checkpoint (or a bare state_dict, as {"model": ...})."""
    import torch

    path = os.fspath(path)
    why = unreadable(path, "checkpoint")
    if why:
        raise fail(why)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except PermissionError as exc:
        raise fail(f"cannot read the checkpoint {path}: {exc.strerror}") from None
    except Exception:  # torch.load raises many types for a damaged or foreign file
        raise fail(
            f"cannot read the checkpoint {path}: the file is damaged or is not a checkpoint"
        ) from None
    if isinstance(payload, dict) and isinstance(payload.get("model"), dict):
        return payload
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        return lightning_payload(payload)
    if isinstance(payload, dict) and payload and all(isinstance(k, str) for k in payload):
        return {"model": payload, "config": {}}
    raise fail(f"{path} holds no model weights")


def lightning_payload(payload: dict) -> dict:
    """A Lightning checkpoint (`.ckpt`: `state_dict`, `about` from the Lightning target's
    train.py) as a plain one: the model's weights under "model" (a `model.` prefix, as a
    LightningModule that holds the model as `self.model` gives, taken off), no config."""
    weights = payload["state_dict"]
    if weights and all(isinstance(k, str) and k.startswith("model.") for k in weights):
        weights = {k[len("model.") :]: v for k, v in weights.items()}
    about = payload.get("about")
    return {"model": weights, "config": {}, **({"about": about} if about is not None else {})}


def load_trained(
    program, checkpoint: str | os.PathLike, model: str | None = None, section: str | None = None
) -> Trained:
    """Build the checkpoint's model (the train section's, with its arguments, when the
    checkpoint names it), load the weights, switch to eval mode."""
    from nndsl.codegen.trainplan import script_name

    payload = read_checkpoint(checkpoint)
    config = payload.get("config") if isinstance(payload.get("config"), dict) else {}
    about = payload.get("about") if isinstance(payload.get("about"), dict) else {}
    modules = program.modules()
    utils = modules.get("training_utils")
    if utils is None:  # a spec without a train section: the same module, from the package
        from nndsl.runtime import training_utils as utils
    trained_name = config.get("model") if isinstance(config.get("model"), str) else None
    if trained_name is None and isinstance(about.get("model"), str):
        trained_name = about["model"]
    sections = [s for s in program.trains if script_name(s) in modules]
    if section is not None and section not in sections:
        names = ", ".join(s or "(unnamed)" for s in sections) or "none"
        raise fail(f"no train section `{section}` (sections: {names})")
    chosen, found = None, False
    for s in [section] if section is not None else sections:
        plan = program.checked.plans.get(s)
        if plan is None:
            continue
        if (model is None or plan.model == model) and (
            trained_name is None or plan.model == trained_name or section is not None
        ):
            chosen, found = s, True
            break
    if found:
        plan = program.checked.plans[chosen]
        script = script_name(chosen)
        name, instance = plan.model, plan.instance
        net = modules[script].build_model()
    else:
        script = None
        name = program._pick(model or (trained_name if trained_name in program.models else None))
        instance = program.checked.models[name]
        net = program.build(name)
    other_spec = _other_spec(program, about)
    inputs_problem = _inputs_problem(about, instance)
    if inputs_problem is not None and trained_name in (None, name):
        raise fail(
            f"the checkpoint {checkpoint} does not fit model `{name}`: {inputs_problem}"
            + other_spec
        )
    try:
        utils.check_fits(os.fspath(checkpoint), payload, net, None, None)
        net.load_state_dict(payload["model"])
    except utils.TrainingError as exc:
        trained_for = (
            f"; it was trained for model `{trained_name}`"
            if trained_name and trained_name != name
            else ""
        )
        raise fail(f"{exc} (model `{name}`{trained_for}){other_spec}") from None
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise fail(
            f"the checkpoint {checkpoint} does not fit model `{name}`: {utils.first_line(exc)}"
            + other_spec
        ) from None
    net.eval()
    return Trained(net, name, instance, chosen, script, config, about)


def _other_spec(program, about: dict) -> str:
    """`; it was trained from another spec, PATH` when the checkpoint's spec (its sha256) is
    not this one, else ""."""
    from nndsl.codegen.about import spec_sha256

    spec = about.get("spec") if isinstance(about.get("spec"), dict) else None
    if not spec or not isinstance(spec.get("sha256"), str):
        return ""
    here = program.checked.program
    if spec["sha256"] == spec_sha256(here.sources.get(here.root, "")):
        return ""
    where = spec.get("path") if isinstance(spec.get("path"), str) else "unknown"
    return f"; it was trained from another spec ({where})"


def _inputs_problem(about: dict, instance) -> str | None:
    """How the inputs the checkpoint was trained with differ from the model's here (None:
    they agree, or the checkpoint does not say)."""
    from nndsl import dims

    saved = about.get("inputs")
    if not isinstance(saved, list) or not saved:
        return None
    here = [
        (
            n,
            [d if isinstance(d, int) else dims.format_dim(d) for d in v.type.shape],
            v.type.dtype,
        )
        for n, v in instance.inputs
    ]
    theirs = [(i.get("name"), i.get("shape"), i.get("dtype")) for i in saved if isinstance(i, dict)]
    if [(s, d) for _, s, d in theirs] == [(s, d) for _, s, d in here]:
        return None

    def show(items) -> str:
        return ", ".join(
            f"{n}: {'' if d == 'float32' else str(d) + ' '}[{', '.join(map(str, s or []))}]"
            for n, s, d in items
        )

    return f"it was trained with inputs {show(theirs)}, the model here takes {show(here)}"


def example_inputs(instance, batch: int) -> tuple:
    """Random inputs of the model's declared types: the batch symbol bound to `batch`, other
    symbolic sizes to OTHER_SIZE; integer inputs (`long[...]`) hold 0s and 1s."""
    import torch

    from nndsl import dims

    inputs = []
    for name, value in instance.inputs:
        t = value.type
        env: dict[str, int] = {}
        first = t.shape[0] if t.shape else None
        if first is not None and not isinstance(first, int):
            env.update({s: batch for s in dims.free_symbols(first)})
        for d in t.shape[1:]:
            if not isinstance(d, int):
                env.update({s: OTHER_SIZE for s in dims.free_symbols(d) if s not in env})
        try:
            shape = [d if isinstance(d, int) else dims.evaluate(d, env) for d in t.shape]
        except Exception:
            raise fail(f"cannot make an example of input `{name}` ({t}) to export with") from None
        if t.is_float:
            dtype = getattr(torch, t.dtype or "float32", torch.float32)
            inputs.append(torch.randn(*shape, dtype=dtype))
        else:
            dtype = getattr(torch, t.dtype or "int64", torch.int64)
            inputs.append(torch.randint(0, 2, shape, dtype=dtype))
    return tuple(inputs)


def batch_dynamic(instance) -> bool:
    """Whether every input's first size is the batch symbol (so the batch can vary)."""
    return all(v.type.shape and not isinstance(v.type.shape[0], int) for _, v in instance.inputs)


def _outputs(out) -> list:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _outputs(o)]
    if isinstance(out, dict):
        return [t for k in sorted(out) for t in _outputs(out[k])]
    return []


def export(
    program,
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    fmt: str,
    *,
    model: str | None = None,
) -> dict:
    """Export the checkpoint's model to `out` (atomically) and verify it; returns what was
    checked: {"format", "path", "batch", "max_abs_diff", "rtol", "atol"}."""
    import torch

    if fmt not in FORMATS:
        raise fail(f"unknown export format `{fmt}` (formats: {', '.join(FORMATS)})")
    try:
        refuse_special(out)  # (before the work: what it would replace is not a file)
    except OSError as exc:
        raise fail(f"cannot write {os.fspath(out)!s}: {exc.strerror}") from None
    if fmt == "onnx":
        for package in ("onnx", "onnxruntime"):
            try:
                __import__(package)
            except ImportError:
                raise fail(
                    f"exporting to ONNX needs the `{package}` package: "
                    "pip install 'nndsl[onnx]' (or: pip install onnx onnxruntime)"
                ) from None
    trained = load_trained(program, checkpoint, model)
    net = trained.model
    dynamic = batch_dynamic(trained.instance)
    with torch.random.fork_rng():  # the caller's random state is left as it was
        torch.manual_seed(0)
        example = example_inputs(trained.instance, EXAMPLE_BATCH)
        check = example_inputs(trained.instance, CHECK_BATCH if dynamic else EXAMPLE_BATCH)
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise fail(f"cannot write {out}: no folder {parent}")
    if not os.access(parent, os.W_OK):
        raise fail(f"cannot write {out}: the folder {parent} is not writable")
    suffix = {"torchscript": ".pt", "onnx": ".onnx", "pt2": ".pt2"}[fmt]
    with tempfile.TemporaryDirectory(prefix="nndsl-export-") as folder:
        tmp = os.path.join(folder, "model" + suffix)
        try:
            with torch.no_grad():
                expected = _outputs(net(*check))
            got = _export_and_run(net, example, check, tmp, fmt, dynamic, trained.instance)
        except NndslError:
            raise
        except Exception as exc:  # torch's exporters raise many kinds
            raise fail(f"cannot export `{trained.name}` to {fmt}: {_first_line(exc)}") from None
        worst = _compare(got, expected, fmt, len(check[0]) if check else 0)
        try:
            write_atomic(out, Path(tmp).read_bytes())
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise fail(f"cannot write {out}: {reason}") from None
    return {
        "format": fmt,
        "path": str(out),
        "model": trained.name,
        "batch": int(check[0].shape[0]) if check else 0,
        "max_abs_diff": worst,
        "rtol": RTOL,
        "atol": ATOL,
    }


def _compare(got: list, expected: list, fmt: str, batch: int) -> float:
    """The largest absolute difference of the exported model's outputs from the PyTorch
    model's; an error (nothing written) when they are not allclose(rtol=RTOL, atol=ATOL)."""
    import torch

    if len(got) != len(expected):
        raise fail(
            f"the exported {fmt} model gives {len(got)} outputs, the PyTorch model "
            f"{len(expected)}; nothing written"
        )
    worst = 0.0
    for g, e in zip(got, expected):
        g = torch.as_tensor(g)
        same_shape = tuple(g.shape) == tuple(e.shape)
        diff = float((g.to(e.dtype) - e).abs().max()) if same_shape and e.numel() else 0.0
        if not same_shape or not torch.allclose(g.to(e.dtype), e, rtol=RTOL, atol=ATOL):
            shown = (
                f"largest difference {diff:.3g}"
                if same_shape
                else (f"shape {list(g.shape)}, not {list(e.shape)}")
            )
            raise fail(
                f"the exported {fmt} model's outputs differ from the PyTorch model's on a "
                f"random batch of {batch} ({shown}; allowed rtol={RTOL}, atol={ATOL}); "
                "nothing written"
            )
        worst = max(worst, diff)
    return worst


def _first_line(exc: BaseException) -> str:
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _export_and_run(net, example, check, tmp: str, fmt: str, dynamic: bool, instance) -> list:
    """Write the exported model to `tmp`, load it back, run it on `check`."""
    import torch

    if fmt == "torchscript":
        with torch.no_grad():
            scripted = torch.jit.trace(net, example, check_trace=False)
        scripted.save(tmp)
        loaded = torch.jit.load(tmp, map_location="cpu")
        with torch.no_grad():
            return _outputs(loaded(*check))
    if fmt == "pt2":
        shapes = None
        if dynamic:
            batch = torch.export.Dim("batch")
            shapes = tuple({0: batch} for _ in example)
        program = torch.export.export(net, example, dynamic_shapes=shapes)
        torch.export.save(program, tmp)
        loaded = torch.export.load(tmp)
        with torch.no_grad():
            return _outputs(loaded.module()(*check))
    # onnx
    import onnxruntime

    names = [n for n, _ in instance.inputs]
    axes = {n: {0: "batch"} for n in names} if dynamic else None
    # the fused fast path of nn.TransformerEncoder (eval mode) has no ONNX form: the
    # exporter traces the plain operations instead (the same numbers)
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with torch.no_grad():
            torch.onnx.export(
                net,
                example,
                tmp,
                input_names=names,
                dynamic_axes=axes,
                dynamo=False,
            )
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
    session = onnxruntime.InferenceSession(tmp, providers=["CPUExecutionProvider"])
    feeds = {i.name: x.numpy() for i, x in zip(session.get_inputs(), check)}
    return [torch.from_numpy(o) for o in session.run(None, feeds)]


def evaluate(
    program,
    checkpoint: str | os.PathLike,
    *,
    split: str | None = None,
    section: str | None = None,
    data: str | None = None,
) -> dict:
    """The train section's loss and metrics of the checkpoint's weights on a held-out split
    (default: test when the data has one, else val), computed by the training script's own
    `evaluate` on the data prepared as training prepared it (same source, seed, splits and
    normalisation): the numbers training reported for that split with those weights.

    `data`: another data source, written as in the train section (`csv("new.csv",
    target="y")`), checked like it (errors at the expression); its samples are standardised
    with the training's statistics and its class names read as the training's classes.
    Without `split`, every sample of it is evaluated (split "all").

    Returns {"split", "samples", "metrics": {"<split>_loss": ..., ...}, "class_names",
    "confusion"}: `confusion[i][j]` counts the samples of class i predicted as j
    (classification tasks with one label per sample; otherwise None)."""
    import torch

    from nndsl.codegen import GenerateError, data_bytes

    if split not in (None, "test", "val"):
        raise fail(f"--split must be test or val, not {split}")
    trained = load_trained(program, checkpoint, None, section)
    if trained.script is None:
        raise fail(
            f"{os.path.basename(program.path)} has no train section for model "
            f"`{trained.name}`: there is no data to evaluate on"
        )
    plan = program.checked.plans[trained.section]
    source, data = data, None
    modules = program.modules()
    module, utils = modules[trained.script], modules["training_utils"]
    streamed = None
    if source is not None:
        # a CSV file is read batch by batch (its script's CsvRows), else loaded whole
        streamed = streamed_other_data(program, trained, checkpoint, source, split)
        if streamed is not None:
            data, split, module = streamed
        else:
            data, split = other_data(program, trained, checkpoint, source, split)
    from nndsl.data.streaming import plan_streams

    # data that streams from its files is read batch by batch, as training read it
    streaming = streamed is not None or (data is None and plan_streams(plan, program.path))
    try:
        data = data if data is not None else data_bytes(program.checked, plan, streaming=streaming)
    except GenerateError as exc:
        raise generate_failure(exc, program.checked) from None
    import random

    import numpy as np

    from nndsl.api import stream_dataset

    reading = (module.data_loader, stream_dataset(module)) if streaming else ()
    states = random.getstate(), np.random.get_state()  # Run seeds them: restored below
    with tempfile.TemporaryDirectory(prefix="nndsl-evaluate-") as folder:
        path = os.path.join(folder, "data.json" if streaming else "data.npz")
        write_atomic(path, data)
        args = module.parse_args(["--data", path, "--device", "cpu", "--quiet"])
        evaluation = utils.Run(args, module.CONFIG, *reading)
        evaluation.curves = False
        try:
            with torch.random.fork_rng(), evaluation as run:
                if split is None:
                    split = "test" if run.has("test") else "val"
                # --data: all its samples (the "test" split of streamed data)
                part = split if split != "all" else "test" if streamed else "train"
                if not run.has(part):
                    where = "--data" if source is not None else "the train section"
                    raise fail(
                        f"the data of {where} has no {split} split to evaluate on "
                        f"(set {split}_split in its `data`)"
                    )
                net = trained.model.to(run.device)
                criterion = module.build_loss().to(run.device)
                metrics = module.evaluate(run, net, criterion, part)
                if part != split:
                    metrics = {f"{split}_{k[len(part) + 1 :]}": v for k, v in metrics.items()}
                confusion = _confusion(net, run, part, module.CONFIG.get("task"))
                samples = run.count(part)
                names = run.data.get("class_names")
        except utils.TrainingError as exc:
            raise fail(str(exc)) from None
        finally:
            random.setstate(states[0])
            np.random.set_state(states[1])
    return {
        "split": split,
        "samples": samples,
        "metrics": metrics,
        "class_names": names,
        "confusion": confusion,
    }


def other_data(
    program, trained: Trained, checkpoint, source: str, split: str | None
) -> tuple[bytes, str]:
    """(prepared data, split) for `evaluate --data SOURCE`: the train section checked again
    with `data = SOURCE` (its errors located in SOURCE), the data prepared without its own
    normalisation, then standardised with the training's statistics; labels read as the
    training's classes; without `split` every sample is in the "all" split."""
    import dataclasses
    import io

    import numpy as np

    from nndsl.codegen import GenerateError, data_bytes
    from nndsl.data.snapshot import to_bytes

    checked = _checked_with_data(program, trained.section, source)
    plan = checked.plans.get(trained.section)
    if plan is None or plan.data is None:
        raise fail(f"--data {source}: not a data source")
    kwargs = tuple((k, v) for k, v in plan.data.kwargs if k != "normalize")
    plan = dataclasses.replace(plan, data=dataclasses.replace(plan.data, kwargs=kwargs))
    try:
        raw = np.load(io.BytesIO(data_bytes(checked, plan)), allow_pickle=False)
    except GenerateError as exc:
        raise _with_data_note(generate_failure(exc, checked), source) from None
    from nndsl.api import data_mismatch

    arrays = {k: raw[k] for k in raw.files if k != "nndsl_sha256"}
    if "train_x1" in arrays or "train_y1" in arrays:
        raise fail(
            f"--data {source}: evaluating on other data with several input or target arrays "
            "is not supported yet; evaluate on the train section's own split (without --data)"
        )

    def located(message: str, hint: str | None = None) -> NndslError:
        return _at_data(checked, plan, source, message, hint)

    problem = data_mismatch(checked, plan, to_bytes(arrays))
    if problem is not None:
        raise located(problem, problem.hint)
    prep = preprocessing(program, trained, checkpoint)
    parts = [p for p in ("train", "val", "test") if f"{p}_x" in arrays]
    names = arrays.get("class_names")
    trained_names = prep["class_names"]
    if names is not None and trained_names:
        index = {str(n): i for i, n in enumerate(trained_names)}
        unknown = [str(n) for n in names if str(n) not in index]
        if unknown:
            raise located(
                f"the data has the class '{unknown[0]}', which the model was not trained on",
                hint=f"its classes: {', '.join(map(str, trained_names))}",
            )
        mapping = np.array([index[str(n)] for n in names], dtype=np.int64)
        for p in parts:
            y = arrays[f"{p}_y"]
            if y.dtype.kind in "iu":
                arrays[f"{p}_y"] = mapping[y]
        arrays["class_names"] = np.array([str(n) for n in trained_names], dtype=str)
        arrays["num_classes"] = np.array(len(trained_names))
    if prep["mean"] is not None:
        for p in parts:
            x = arrays[f"{p}_x"]
            mean, std = channel_stats(prep, x.ndim)
            arrays[f"{p}_x"] = ((x - mean) / std).astype(x.dtype)
        arrays["norm_mean"], arrays["norm_std"] = prep["mean"], prep["std"]
    if split is None:  # every sample, in the order of the split's permutation (test first)
        split = "all"
        arrays["train_x"] = np.concatenate([arrays.pop(f"{p}_x") for p in reversed(parts)])
        arrays["train_y"] = np.concatenate([arrays.pop(f"{p}_y") for p in reversed(parts)])
    return to_bytes(arrays), split


def _at_data(checked, plan, source: str, message: str, hint: str | None = None) -> NndslError:
    """An error at the --data expression (in the train section as evaluate read it)."""
    from nndsl.data.errors import data_span

    at = data_span(checked, plan)
    if at is None:
        return fail(f"--data: {message}" + (f" ({hint})" if hint else ""))
    failure = NndslError([error(message, at, hint=hint)], checked.program.sources)
    return _with_data_note(failure, source)


def _streaming_script(
    program, checked, plan, options: dict, normalize: bool, source: str
) -> tuple[dict, str]:
    """(data.json's facts, train.py's source) of a training script that streams `plan`'s data
    source with `options` (what `evaluate --data` reads it through)."""
    import dataclasses
    import json

    from nndsl.codegen import GenerateError, data_bytes, model_code
    from nndsl.codegen.train import train_source
    from nndsl.data.streaming import STAMP

    def with_options(**more) -> Any:
        kwargs = tuple(options.items()) + tuple(more.items())
        return dataclasses.replace(plan, data=dataclasses.replace(plan.data, kwargs=kwargs))

    try:
        meta = json.loads(data_bytes(checked, with_options(stream=True), streaming=True))
        script = with_options(stream=True, normalize=normalize)
        py_modules = model_code(checked, program.models, formatted=False).py_modules
        code = train_source(script, checked.program.root, py_modules, formatted=False)
    except GenerateError as exc:
        raise _with_data_note(generate_failure(exc, checked), source) from None
    meta.pop(STAMP, None)
    return meta, code


def streamed_other_data(
    program, trained: Trained, checkpoint, source: str, split: str | None
) -> tuple[bytes, str, Any] | None:
    """(data.json, split, training module) for `evaluate --data 'csv(...)'`: the file read
    batch by batch by the CsvRows of the training script made for it (memory independent of
    the file's size), the same numbers as `other_data` (labels read as the training's
    classes, features standardised with the training's statistics; without `split`, all
    its rows, in the order of its split's permutation).  None for another source
    (`other_data` then)."""
    import json

    checked = _checked_with_data(program, trained.section, source)
    plan = checked.plans.get(trained.section)
    if plan is None or plan.data is None:
        raise fail(f"--data {source}: not a data source")
    if plan.data.name == "image_folder":
        return streamed_other_images(program, trained, checkpoint, source, split, checked, plan)
    if plan.data.name != "csv":
        return None
    options = {k: v for k, v in plan.data.kwargs if k not in ("normalize", "stream")}
    target = options.get("target")
    if target is None or (isinstance(target, str) and target == "input"):
        return None
    prep = preprocessing(program, trained, checkpoint)
    normalize = prep["mean"] is not None

    meta, code = _streaming_script(program, checked, plan, options, normalize, source)
    t = trained.instance.inputs[0][1].type
    features = len(meta["features"])
    if len(t.shape) != 2 or (isinstance(t.shape[1], int) and t.shape[1] != features):
        raise _at_data(
            checked,
            plan,
            source,
            f"model `{trained.name}` takes {t}, but the data has {features} features",
        )
    names, trained_names = meta["class_names"], prep["class_names"]
    if meta["task"] == "classification" and trained_names:
        known = [str(n) for n in trained_names]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise _at_data(
                checked,
                plan,
                source,
                f"the data has the class '{unknown[0]}', which the model was not trained on",
                hint=f"its classes: {', '.join(known)}",
            )
        parse = {"int": int, "float": float, "str": str}[meta["label_kind"]]
        try:
            [parse(n) for n in known]
        except ValueError:
            meta["label_kind"] = "str"
        meta["class_names"], meta["num_classes"] = known, len(known)
    if normalize:
        meta["normalization"] = {
            "mean": [float(v) for v in prep["mean"]],
            "std": [float(v) for v in prep["std"]],
        }
    if split is None:  # every sample, in the file's shuffled order (other_data's), one split
        split = "all"
        n = meta["rows"]
        meta["split"] = {**meta["split"], "val": 0, "test": n}
        meta["samples"] = {"train": 0, "val": 0, "test": n}
    sources = program.generated_sources()
    sources[f"{trained.script}.py"] = code
    from nndsl import interp

    module = interp.load(sources, os.path.basename(program.path))[trained.script]
    return json.dumps(meta).encode("utf-8"), split, module


#: what an image folder of `evaluate --data` takes from the training's when it does not say
IMAGE_PREPARATION = ("size", "grayscale", "augment")


def streamed_other_images(
    program, trained: Trained, checkpoint, source: str, split: str | None, checked, plan
) -> tuple[bytes, str, Any] | None:
    """(data.json, split, training module) for `evaluate --data 'image_folder(...)'`: the
    images read batch by batch by the `ImageFiles` of a training script made for them, as
    training read its validation images (memory independent of the number of images): the
    training's `size`, `grayscale` and `augment` unless the source gives its own (the
    deterministic transforms; the random ones are for training data only), standardised with
    the training's statistics, labels read as the training's classes.  The numbers of the
    images loaded whole (`other_data`).  None for all the images of train/, val/ and test/
    folders, or for `target=input` (`other_data` then)."""
    import json

    import numpy as np

    from nndsl.data import DataError
    from nndsl.data.streaming import digest, list_images

    options = {k: v for k, v in plan.data.kwargs if k not in ("normalize", "stream")}
    if options.get("target") is not None:
        return None
    own = program.checked.plans[trained.section].data
    same_transforms(program, trained, program.checked.plans[trained.section])
    if own is not None and own.name == "image_folder":
        trained_options = dict(own.kwargs)
        for key in IMAGE_PREPARATION:
            if key not in options and key in trained_options:
                options[key] = trained_options[key]
    prep = preprocessing(program, trained, checkpoint)
    normalize = prep["mean"] is not None

    meta, code = _streaming_script(program, checked, plan, options, normalize, source)

    def located(message: str, hint: str | None = None) -> NndslError:
        return _at_data(checked, plan, source, message, hint)

    if split is None and meta["layout"] != "classes":
        if options.get("augment"):  # (other_data would leave its transforms out)
            raise located(
                "evaluating every image of train/, val/ and test/ folders with `augment` "
                "transforms is not supported yet",
                hint="evaluate one of them: --split val or --split test",
            )
        return None  # (train/, val/, test/ folders: all their images, other_data)
    root = Path(meta["root"])
    names, trained_names = list(meta["class_names"]), prep["class_names"]
    if trained_names:
        known = tuple(str(n) for n in trained_names)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise located(
                f"the data has the class '{unknown[0]}', which the model was not trained on",
                hint=f"its classes: {', '.join(known)}",
            )
        # the listing read with the training's classes: their indices, their digest
        for key, listing in meta["listing"].items():
            try:
                _, files, labels = list_images(root / key if key else root, known)
            except DataError as exc:
                raise located(exc.message, exc.hint) from None
            listing["digest"] = digest(files, labels)
        meta["class_names"], meta["num_classes"] = list(known), len(known)
    meta["normalization"] = (
        {
            "mean": [float(v) for v in np.ravel(prep["mean"])],
            "std": [float(v) for v in np.ravel(prep["std"])],
        }
        if normalize
        else None
    )
    if split is None:  # every image, in the shuffled order of the whole-load path, one split
        split = "all"
        n = sum(listing["count"] for listing in meta["listing"].values())
        meta["split"] = {**meta["split"], "val": 0, "test": n}
        meta["samples"] = {"train": 0, "val": 0, "test": n}
    sources = program.generated_sources()
    sources[f"{trained.script}.py"] = code
    from nndsl import interp

    module = interp.load(sources, os.path.basename(program.path))[trained.script]
    _check_first_image(trained, module, meta, root, located)
    return json.dumps(meta).encode("utf-8"), split, module


def _check_first_image(trained: Trained, module, meta: dict, root: Path, located) -> None:
    """An error at --data when its first image, prepared by `module`'s ImageFiles as a
    validation image, does not fit the model's input (before anything is evaluated)."""
    import numpy as np

    from nndsl.data import DataError
    from nndsl.data.streaming import list_images

    key = next(iter(meta["listing"]))
    folder = root / key if key else root
    try:
        _, files, _ = list_images(folder, tuple(meta["class_names"]))
    except DataError:  # (evaluating lists it again and reports it)
        return
    if not files:
        return
    dataset = module.ImageFiles(folder, np.array([files[0].encode()]), np.zeros(1), meta, False)
    try:
        item = dataset[(0, 0)]
    except Exception:  # (evaluating reads it again and reports it)
        return
    if item is None:
        return
    shape = list(item[0].shape)
    t = trained.instance.inputs[0][1].type
    if len(shape) + 1 != len(t.shape) or any(
        isinstance(d, int) and d != n for d, n in zip(t.shape[1:], shape)
    ):
        raise located(
            f"model `{trained.name}` takes {t}, but the images of the data, prepared as "
            f"training prepared its validation images, are {shape} ({folder / files[0]})",
            hint="size=(height, width) resizes them",
        )


def channel_stats(prep: dict, ndim: int) -> tuple:
    """(mean, std) of `preprocessing` shaped for samples of `ndim` dimensions: streamed images
    store one value per channel, [C], applied to [n, C, H, W] as [C, 1, 1]."""
    mean, std = prep["mean"], prep["std"]
    if ndim == 4 and mean.ndim == 1:
        return mean.reshape(-1, 1, 1), std.reshape(-1, 1, 1)
    return mean, std


_TRAINING_ONLY = ("stop_when", "early_stopping", "checkpoint", "scheduler")


def _checked_with_data(program, section: str | None, source: str):
    """The spec checked again with `data = SOURCE` in the train section; its errors (in
    SOURCE, shown in place) raise NndslError.  The keys that steer training and watch its
    validation (`stop_when`, `early_stopping`, `checkpoint`, `scheduler`) are left out (blanked,
    so every other place keeps its line and column): evaluating reads none of them, and other
    data without a validation split is no error for them."""
    from nndsl.check import check_file

    here = program.checked.program
    text = here.sources.get(here.root)
    decl = next((t for t in program.checked.symbols.root_trains if t.name == section), None)
    plan = program.checked.plans.get(section)
    if text is None or decl is None or plan is None:
        raise fail("--data needs the spec's train section")
    if "\n" in source or "\r" in source:
        raise fail("--data is one data source expression, on one line")
    lines = text.splitlines(keepends=True)

    def offset(line: int, col: int) -> int:
        return sum(len(x) for x in lines[: line - 1]) + col - 1

    for key in _TRAINING_ONLY:
        where = plan.span(key)
        if where is not None:
            start, end = offset(where.line, where.col), offset(where.end_line, where.end_col)
            blank = "".join(c if c in "\r\n" else " " for c in text[start:end])
            text = text[:start] + blank + text[end:]
    span = plan.span("data")  # where the checker read `data = ...`
    if span is not None:
        start, end = offset(span.line, span.col), offset(span.end_line, span.end_col)
        new = text[:start] + f"data = {source}" + text[end:]
    else:  # a section without `data`: one more line before its closing brace
        end = offset(decl.span.end_line, decl.span.end_col) - 1
        new = text[:end] + f"    data = {source}\n" + text[end:]
    checked = check_file(here.root, new, imports=here.run_python)
    if not checked.ok:
        raise _with_data_note(NndslError(checked.diagnostics, checked.program.sources), source)
    return checked


def _confusion(net, run, split: str, task: dict | None) -> list[list[int]] | None:
    """Rows: true classes; columns: predicted classes; decided as the metrics decide
    (argmax of class scores; a logit above 0 or a probability above 0.5 for yes/no)."""
    import torch

    kind = (task or {}).get("kind")
    decision = (task or {}).get("decision")
    if kind not in ("multiclass", "binary"):
        return None
    matrix = None
    with torch.no_grad():
        for _, x, y in run.eval_batches(net, split):
            out = net(*x) if isinstance(x, tuple) else net(x)  # (several inputs)
            out = out[0] if isinstance(out, (tuple, list)) else out
            y = y[0] if isinstance(y, tuple) else y  # several targets: the first
            if decision == "argmax":
                c, pred = out.shape[1], out.argmax(1)
            else:
                c = 2
                pred = (out > (0.0 if decision == "logit" else 0.5)).long()
                y = y.reshape(pred.shape) if y.numel() == pred.numel() else y
            y = y.long()
            if y.shape != pred.shape:
                return None
            counts = torch.bincount(
                (y.reshape(-1) * c + pred.reshape(-1)).cpu(), minlength=c * c
            ).reshape(c, c)
            matrix = counts if matrix is None else matrix + counts
    return matrix.tolist() if matrix is not None else None


def preprocessing(program, trained: Trained, checkpoint: str | os.PathLike) -> dict:
    """How training prepared its inputs: {"mean", "std" (None: no normalisation),
    "class_names", "from"}: from the run folder's config.json next to the checkpoint, else
    recomputed by preparing the train section's data as training did (deterministic)."""
    import json

    import numpy as np

    about = trained.about
    if "normalization" in about and "class_names" in about:  # a self-describing checkpoint
        norm = about["normalization"]
        return {
            "mean": np.asarray(norm["mean"], dtype=np.float32) if norm else None,
            "std": np.asarray(norm["std"], dtype=np.float32) if norm else None,
            "class_names": about["class_names"],
            "preprocessing": about.get("preprocessing") or {},
            "from": str(checkpoint),
        }
    config_file = Path(checkpoint).parent / "config.json"
    try:
        saved = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        saved = None
    if (
        isinstance(saved, dict)
        and saved.get("model") == trained.name
        and "normalization" in saved
        and "class_names" in saved
    ):
        norm = saved["normalization"]
        return {
            "mean": np.asarray(norm["mean"], dtype=np.float32) if norm else None,
            "std": np.asarray(norm["std"], dtype=np.float32) if norm else None,
            "class_names": saved["class_names"],
            "preprocessing": _plan_preprocessing(program, trained),
            "from": str(config_file),
        }
    if trained.script is None:
        return {
            "mean": None,
            "std": None,
            "class_names": None,
            "preprocessing": {},
            "from": None,
        }
    import io

    from nndsl.codegen import GenerateError, data_bytes

    try:
        data = data_bytes(program.checked, program.checked.plans[trained.section])
    except GenerateError as exc:
        raise generate_failure(exc, program.checked) from None
    arrays = np.load(io.BytesIO(data), allow_pickle=False)
    has_norm = "norm_mean" in arrays.files and "norm_std" in arrays.files
    return {
        "mean": arrays["norm_mean"] if has_norm else None,
        "std": arrays["norm_std"] if has_norm else None,
        "class_names": (
            [str(c) for c in arrays["class_names"]] if "class_names" in arrays.files else None
        ),
        "preprocessing": _plan_preprocessing(program, trained),
        "from": "the train section's data",
    }


def _plan_preprocessing(program, trained: Trained) -> dict:
    """The image options of the train section's data (for a checkpoint that does not say)."""
    plan = program.checked.plans.get(trained.section) if trained.script else None
    if plan is None or plan.data is None or plan.data.name != "image_folder":
        return {}
    options = plan.data.kw()
    size = options.get("size")
    return {
        "image_size": list(size) if isinstance(size, (tuple, list)) else size,
        "grayscale": bool(options.get("grayscale", False)),
    }


def image_files(path: Path) -> list[Path]:
    """An image file, or the images of a folder and its subfolders (sorted; hidden entries
    left out)."""
    from nndsl.data.sources import IMAGE_SUFFIXES

    if not path.is_dir():
        return [path]
    try:
        found = sorted(
            f
            for f in path.rglob("*")
            if f.is_file()
            and f.suffix.lower() in IMAGE_SUFFIXES
            and not any(part.startswith(".") for part in f.relative_to(path).parts)
        )
    except OSError as exc:
        raise fail(f"cannot list {path}: {exc.strerror or exc}") from None
    if not found:
        raise fail(f"{path} holds no images (.png, .jpg, .jpeg, .bmp, .gif, .webp, .tif)")
    return found


def read_samples(program, trained: Trained, inputs, prep: dict):
    """(samples, the file of each sample or None): the samples of npz / CSV files, or of
    image files and folders of images, prepared as training prepared its images (the
    saved size and grayscale; one channel when the model takes one).  The samples are read
    a chunk at a time when predict asks for them (`Samples`): the memory used does not grow
    with the files' sizes."""
    from nndsl.data.sources import IMAGE_SUFFIXES

    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not paths:
        raise fail("no input to predict")
    images: list[Path] = []
    parts: list[tuple[Path, Samples]] = []
    for path in map(Path, paths):
        if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
            if not path.exists():
                raise fail(f"no input file {path}")
            images += image_files(path)
        else:
            parts.append((path, read_inputs(program, trained, path)))
    if images and parts:
        raise fail("give either images or data files (.npz, .csv) to predict, not both")
    if parts:
        shapes = {a.sample_shape for _, a in parts}
        if len(shapes) > 1:
            raise fail(
                "the input files hold samples of different shapes: "
                + ", ".join(f"{p} {list(a.sample_shape)}" for p, a in parts)
            )
        samples = parts[0][1] if len(parts) == 1 else Joined([a for _, a in parts])
        shown = ", ".join(str(p) for p, _ in parts)
        return image_arrays(program, trained, samples, prep, shown) or samples, None
    streamed = streamed_images(program, trained, images, prep)
    if streamed is not None:
        return streamed, [str(f) for f in images]
    options = prep.get("preprocessing") or {}
    t = trained.instance.inputs[0][1].type
    gray = options.get("grayscale")
    if gray is None:  # not trained on image files: the model's channels decide
        gray = len(t.shape) == 4 and t.shape[1] == 1
    return ImageFiles(images, options.get("image_size"), bool(gray)), [str(f) for f in images]


class Samples:
    """Samples to predict on, read a chunk at a time: `sample_shape` (one sample's),
    `ndim` (of the samples' array), `batches(size)` (arrays of `size` samples, the last
    maybe fewer) and `count()` (how many; for a message, it may read the file)."""

    sample_shape: tuple[int, ...] = ()
    ndim = 1
    normalized = False  # True: standardised already (as training's Dataset does it)

    def batches(self, size: int):
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError


class ArraySamples(Samples):
    """An array held whole (a small file, or one numpy cannot read in parts)."""

    def __init__(self, array) -> None:
        self.array = array
        self.ndim = array.ndim
        self.sample_shape = tuple(array.shape[1:])

    def batches(self, size: int):
        for start in range(0, len(self.array), size):
            yield self.array[start : start + size]

    def count(self) -> int:
        return len(self.array) if self.array.ndim else 0


class NpzSamples(Samples):
    """The array `name` of an npz file, read from the archive `size` samples at a time."""

    def __init__(self, path: str, name: str, shape: tuple, dtype) -> None:
        self.path, self.name, self.dtype = path, name, dtype
        self.shape = shape
        self.ndim = len(shape)
        self.sample_shape = tuple(shape[1:])

    def batches(self, size: int):
        import zipfile

        import numpy as np

        per = int(np.prod(self.sample_shape, dtype=np.int64)) * self.dtype.itemsize
        try:
            with zipfile.ZipFile(self.path) as archive, archive.open(self.name) as fh:
                _npy_header(fh)
                for start in range(0, self.shape[0], size):
                    n = min(size, self.shape[0] - start)
                    data = fh.read(n * per) if per else b""
                    if len(data) != n * per:
                        raise ValueError("the array is cut short")
                    yield np.frombuffer(data, dtype=self.dtype).reshape(n, *self.sample_shape)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise fail(f"cannot read {self.path}: {_first_line(exc)}") from None

    def count(self) -> int:
        return self.shape[0]


def _npy_header(fh) -> tuple | None:
    """(shape, fortran_order, dtype) of an .npy stream, read up to its data; None for a
    format version this does not read in parts."""
    import numpy as np

    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(fh)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(fh)
    return None


def read_npz(path: str) -> Samples:
    """The samples of an npz file (its array `x`, or its only array), read in parts from the
    archive when it can be (a C-ordered array of numbers), else whole."""
    import zipfile

    import numpy as np

    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.namelist()
            names = [m.removesuffix(".npy") for m in members]
            name = "x" if "x" in names else names[0] if len(names) == 1 else None
            if name is not None:
                member = members[names.index(name)]
                with archive.open(member) as fh:
                    header = _npy_header(fh) if member.endswith(".npy") else None
                if header is not None:
                    shape, fortran, dtype = header
                    # (anything else is read whole: _samples says what is wrong with it)
                    if shape and shape[0] and not fortran and dtype.kind in "biuf":
                        return NpzSamples(path, member, tuple(shape), dtype)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        pass  # (np.load says what is wrong)
    try:
        arrays = np.load(path, allow_pickle=False)
        names = list(arrays.files)
        if "x" in names or len(names) == 1:
            name = "x" if "x" in names else names[0]
            return ArraySamples(_samples(path, name, np.asarray(arrays[name])))
    except NndslError:
        raise
    except Exception as exc:  # numpy raises many kinds for a damaged file
        raise fail(f"cannot read {path}: {_first_line(exc)}") from None
    raise fail(f"{path} holds {', '.join(names) or 'no arrays'}: name the inputs `x`")


class CsvSamples(Samples):
    """The feature columns of a CSV file (sources.CsvInputs), read `size` rows at a time."""

    def __init__(self, inputs) -> None:
        self.inputs = inputs
        self.ndim = 2
        self.sample_shape = (len(inputs.inputs),)

    def batches(self, size: int):
        from nndsl.data import DataError

        try:
            yield from self.inputs.chunks(size)
        except DataError as exc:
            raise fail(str(exc)) from None

    def count(self) -> int:
        from nndsl.data import DataError

        try:
            return self.inputs.count()
        except DataError as exc:
            raise fail(str(exc)) from None


class Joined(Samples):
    """The samples of several files, one after the other, in batches of `size` across them."""

    def __init__(self, parts: list[Samples]) -> None:
        self.parts = parts
        self.ndim, self.sample_shape = parts[0].ndim, parts[0].sample_shape

    def batches(self, size: int):
        import numpy as np

        held: list = []
        n = 0
        for part in self.parts:
            for batch in part.batches(size):
                held.append(batch)
                n += len(batch)
                while n >= size:
                    joined = np.concatenate(held) if len(held) > 1 else held[0]
                    yield joined[:size]
                    held, n = [joined[size:]], n - size
        if n:
            yield np.concatenate(held)

    def count(self) -> int:
        return sum(part.count() for part in self.parts)


class ImageFiles:
    """Image files to predict on, decoded a chunk at a time when sliced (`read_images`): the
    memory used does not grow with their number.  `shape` is [n, C, H, W], from the first."""

    ndim = 4
    normalized = False

    def __init__(self, files: list[Path], size, gray: bool) -> None:
        self.files, self.size, self.gray = files, size, gray
        self.shape = (len(files), *self.read(files[:1]).shape[1:])

    def __len__(self) -> int:
        return len(self.files)

    def read(self, files: list[Path]):
        from nndsl.data import DataError
        from nndsl.data.sources import read_images

        try:
            x = read_images(files, self.size, self.gray)
        except DataError as exc:
            hint = f" ({exc.hint})" if getattr(exc, "hint", None) else ""
            raise fail(f"{exc.message}{hint}") from None
        if hasattr(self, "shape") and x.shape[1:] != self.shape[1:]:
            h, w = self.shape[2:]
            raise fail(
                f"the images are not all {w}x{h} (width x height) like {self.files[0]} "
                f"(one in {files[0]} .. {files[-1]} is not): images without a training "
                "`size=` must all have the same size"
            )
        return x

    def __getitem__(self, part: slice):
        return self.read(self.files[part])

    @property
    def sample_shape(self) -> tuple:
        return tuple(self.shape[1:])

    def batches(self, size: int):
        for start in range(0, len(self.files), size):
            yield self.read(self.files[start : start + size])

    def count(self) -> int:
        return len(self.files)


def streamed_images(program, trained: Trained, files: list[Path], prep: dict):
    """`files` prepared by the training script's own Dataset (its `ImageFiles`, as it
    prepares validation images: decoded, converted, resized, the deterministic transforms
    of `augment`, standardised; never the random ones) when the train section's data is a
    streaming image folder; None otherwise (its images were prepared by `read_images`)."""
    found = _image_stream(program, trained, prep)
    if found is None:
        return None
    plan, module, normalization = found
    return DatasetImages(
        program,
        trained,
        plan,
        module.ImageFiles,
        program.modules()["training_utils"],
        files,
        normalization,
    )


def _image_stream(program, trained: Trained, prep: dict):
    """(plan, training module, normalisation statistics for its ImageFiles) when the train
    section's data is a streaming image folder (its `augment` the checkpoint's: else an
    error at the spec's data); None otherwise."""
    import numpy as np

    from nndsl.data.streaming import plan_options, plan_streams

    plan = program.checked.plans.get(trained.section) if trained.script else None
    if plan is None or plan.data is None or plan.data.name != "image_folder":
        return None
    if not plan_streams(plan, program.path):
        return None
    module = program.modules()[trained.script]
    if not hasattr(module, "ImageFiles"):
        return None
    same_transforms(program, trained, plan)
    options = plan_options(plan)
    normalization = None
    if options.get("normalize"):
        if prep["mean"] is None:
            raise fail(
                "the checkpoint does not hold the training images' statistics "
                "(normalize=true): predict with the checkpoint of a run of this spec"
            )
        normalization = {
            "mean": [float(v) for v in np.ravel(prep["mean"])],
            "std": [float(v) for v in np.ravel(prep["std"])],
        }
    return plan, module, normalization


def image_arrays(program, trained: Trained, samples: Samples, prep: dict, shown: str):
    """The samples of .npz (or CSV) files read as images when the model was trained on an
    image folder (`ImageArrays`), None for a model trained on other data."""
    plan = program.checked.plans.get(trained.section) if trained.script else None
    if plan is None or plan.data is None or plan.data.name != "image_folder":
        return None
    from nndsl.data.streaming import plan_options

    options = plan_options(plan)
    found = _image_stream(program, trained, prep)
    dataset = None
    if found is not None:
        _, module, normalization = found
        # ImageFiles made for no file: its `prepare` for arrays decoded already
        data = {"normalization": normalization, "float_targets": False, "image_size": [0, 0]}
        dataset = module.ImageFiles(Path(os.sep), [], [], data, False)
    gray = options.get("grayscale")
    t = trained.instance.inputs[0][1].type
    if gray is None:
        gray = len(t.shape) == 4 and t.shape[1] == 1
    return ImageArrays(samples, shown, dataset, _size_pair(options.get("size")), bool(gray))


class ImageArrays(Samples):
    """The samples of .npz files for a model trained on an image folder, read as its images
    were read: arrays of images [n, C, H, W] (C: 1 with `grayscale`, else 3), of 8-bit
    pixels (0..255) or of floats in [0, 1] (as decoded: scaled, not standardised), of the
    training's `size` when it has one.  For a streaming folder the training script's
    `ImageFiles.prepare` then prepares them as it prepares a decoded validation image (the
    deterministic transforms of `augment`, never the random ones; the standardisation);
    else predict standardises them.  Anything else is refused, saying what is expected."""

    ndim = 4

    def __init__(self, samples: Samples, shown: str, dataset, size, gray: bool) -> None:
        self.samples, self.shown, self.dataset = samples, shown, dataset
        self.size, self.channels = size, 1 if gray else 3
        self.normalized = dataset is not None and hasattr(dataset, "prepare")
        first = next(iter(samples.batches(1)), None)
        if first is None:
            raise fail(f"{shown} holds no samples")
        self.sample_shape = tuple(self.read(first).shape[1:])

    def read(self, batch):
        """A batch of arrays as the model takes them."""
        import numpy as np
        import torch

        pixels = self.pixels(np.asarray(batch))
        if not self.normalized:
            return pixels
        out = []
        for x in pixels:
            try:
                out.append(self.dataset.prepare(torch.from_numpy(x), 0, 0).numpy())
            except Exception as exc:  # a transform's own failure on this image
                raise fail(
                    f"cannot prepare the images of {self.shown} as training prepared its "
                    f"images: {type(exc).__name__}: {_first_line(exc)}"
                ) from None
        if len({x.shape for x in out}) > 1:
            raise fail(f"the images of {self.shown} are not all prepared to one shape")
        return np.stack(out)

    def pixels(self, batch):
        """float32 images in [0, 1] from a batch of the arrays, or an error saying why not."""
        import numpy as np

        expected = (
            f"a model trained on images takes .npz arrays of images [n, {self.channels}, H, W]"
            + (f" of {self.size[1]}x{self.size[0]} (width x height)" if self.size else "")
            + ": 8-bit pixels (uint8, 0..255) or floats in [0, 1], as image files decode "
            "(not standardised: predict standardises them as training did)"
        )
        shape = list(batch.shape[1:])
        if batch.ndim != 4 or batch.shape[1] != self.channels:
            raise fail(f"{self.shown} holds samples of shape {shape}; {expected}")
        if self.size is not None and list(batch.shape[2:]) != self.size:
            raise fail(
                f"{self.shown} holds images of {batch.shape[3]}x{batch.shape[2]}; {expected} "
                "(training decoded its images to that size)"
            )
        if batch.dtype == np.uint8:
            return batch.astype(np.float32) / np.float32(255.0)
        low, high = (float(batch.min()), float(batch.max())) if batch.size else (0.0, 0.0)
        if batch.dtype.kind in "iu" and 0 <= low and high <= 255:
            return batch.astype(np.float32) / np.float32(255.0)  # (8-bit values)
        if batch.dtype.kind == "f" and 0 <= low and high <= 1:
            return batch.astype(np.float32)
        raise fail(f"{self.shown} holds {batch.dtype} values from {low:g} to {high:g}; {expected}")

    def batches(self, size: int):
        for batch in self.samples.batches(size):
            yield self.read(batch)

    def count(self) -> int:
        return self.samples.count()


def same_transforms(program, trained: Trained, plan) -> None:
    """An error at the spec's data when its `augment` transforms are not those the
    checkpoint was trained with (a checkpoint of a streaming run records them): new samples
    would be prepared otherwise than its validation data."""
    import json

    from nndsl.data import DataError
    from nndsl.data.errors import data_span
    from nndsl.data.streaming import plan_options, transforms

    recorded = (trained.about.get("preprocessing") or {}).get("transforms")
    if recorded is None or plan.data is None:
        return
    try:
        now = transforms(plan_options(plan).get("augment"), plan.data.name)
    except DataError as exc:
        raise fail(exc.message) from None
    if json.loads(json.dumps(now)) == recorded:
        return
    message = (
        "the spec's `augment` is not the one the checkpoint was trained with: its samples "
        "would be prepared otherwise than training prepared its validation data"
    )
    checked = program.checked
    at = data_span(checked, plan, "augment")
    trained_with = ", ".join(t["name"] for t in recorded) or "none"
    hint = f"use the spec that trained it (its transforms: {trained_with})"
    if at is None:
        raise fail(f"{message} ({hint})")
    raise NndslError([error(message, at, hint=hint)], checked.program.sources)


class DatasetImages(Samples):
    """Image files prepared by a streaming training script's `ImageFiles` Dataset (made with
    train=False: the validation split's preparation), a batch at a time when predict asks:
    the memory used does not grow with their number.  Each sample is checked against the
    model's input (and the first sample), with a message naming the file."""

    ndim = 4
    normalized = True

    def __init__(
        self, program, trained: Trained, plan, dataset, utils, files: list[Path], normalization
    ) -> None:
        from nndsl.data.streaming import plan_options

        self.program, self.trained, self.plan = program, trained, plan
        self.dataset, self.utils = dataset, utils
        self.files = files
        self.size = _size_pair(plan_options(plan).get("size"))
        self.normalization = normalization
        self.first: tuple | None = None
        self.sample_shape = tuple(self.read(files[:1]).shape[1:])

    def read(self, files: list[Path]):
        """The prepared images of `files`, [n, C, H, W] float32."""
        import numpy as np

        names = np.array([os.fsencode(os.path.abspath(f)) for f in files], dtype=bytes)
        meta = {"normalization": self.normalization, "float_targets": False}
        out = []
        for i, file in enumerate(files):
            # [height, width] the Dataset expects from the decoder: the training's `size`
            # (the decoder resizes to it), else this file's own (the images of a training
            # folder all have one size; new images may differ: the transforms decide)
            header = _image_header_size(file)  # (an unreadable file: its own message)
            size = self.size or header
            data = {**meta, "image_size": list(size)}  # the keys of data.json it reads
            one = self.dataset(Path(os.sep), names[i : i + 1], np.zeros(1, np.int64), data, False)
            try:
                item = one[(0, 0)]
            except RuntimeError as exc:
                problem = self.utils.stream_error(exc)
                if problem is None:
                    raise fail(f"cannot prepare the image {file}: {_first_line(exc)}") from None
                raise fail(str(problem)) from None
            except Exception as exc:  # a transform's own failure on this image
                raise fail(
                    f"cannot prepare the image {file} as training prepared its images: "
                    f"{type(exc).__name__}: {_first_line(exc)}"
                ) from None
            if item is None:  # (skip_bad: predict names the file instead)
                raise fail(f"cannot read the image {file}")
            x = item[0].numpy()
            self.check(file, x.shape, size)
            out.append(x)
        return np.stack(out)

    def check(self, file: Path, shape: tuple, size: list[int]) -> None:
        """An error at the spec's data (naming `file`) when the prepared image does not fit
        the model's input or has another shape than the first."""
        t = self.trained.instance.inputs[0][1].type
        fits = len(shape) + 1 == len(t.shape) and all(
            not isinstance(d, int) or d == n for d, n in zip(t.shape[1:], shape)
        )
        if self.first is None and fits:
            self.first = (file, shape)
            return
        if fits and shape == self.first[1]:
            return
        h, w = size
        against = (
            f"model `{self.trained.name}` takes {t}"
            if not fits
            else f"{self.first[0]} gives {list(self.first[1])}"
        )
        hint = None
        if self.size is None:
            decoded = (self.trained.about.get("preprocessing") or {}).get("decoded_size")
            trained_on = (
                f"{decoded[1]}x{decoded[0]}"
                if isinstance(decoded, list) and len(decoded) == 2
                else "the size the model was trained on"
            )
            hint = (
                f"give images of {trained_on}, or let the data resize them: "
                "size=(height, width), or a resize in augment"
            )
        raise self.located(
            f"{file} is {w}x{h} (width x height); prepared as the train section's data "
            f"prepares validation images it is {list(shape)}, but {against}",
            hint,
        )

    def located(self, message: str, hint: str | None) -> NndslError:
        from nndsl.data.errors import data_span

        checked = self.program.checked
        at = data_span(checked, self.plan)
        if at is None:
            return fail(message + (f" ({hint})" if hint else ""))
        return NndslError([error(message, at, hint=hint)], checked.program.sources)

    def batches(self, size: int):
        for start in range(0, len(self.files), size):
            yield self.read(self.files[start : start + size])

    def count(self) -> int:
        return len(self.files)


def _size_pair(size) -> list[int] | None:
    if size is None:
        return None
    return [int(size), int(size)] if isinstance(size, int) else [int(v) for v in size]


def _image_header_size(file: Path) -> list[int]:
    """[height, width] of an image, from its header."""
    from nndsl.data.sources import _pillow

    try:
        with _pillow().open(file) as picture:
            width, height = picture.size
    except Exception as exc:  # Pillow raises many types for a bad file
        raise fail(f"cannot read the image {file}: {type(exc).__name__}: {exc}") from None
    return [height, width]


def read_inputs(program, trained: Trained, path: str | os.PathLike) -> Samples:
    """The samples of an npz (its array `x`, or its only array) or CSV file (numeric
    columns; the training CSV's target column is left out when present), read in parts."""
    from nndsl.data import DataError, sources

    path = os.fspath(path)
    why = unreadable(path, "input file")
    if why:
        raise fail(why)
    if path.lower().endswith(".npz"):
        return read_npz(path)
    if path.lower().endswith(".csv"):
        options: dict = {}
        target = None
        plan = program.checked.plans.get(trained.section) if trained.script else None
        if plan is not None and plan.data is not None and plan.data.name == "csv":
            kw = dict(plan.data.kwargs)
            if isinstance(kw.get("features"), (tuple, list)):
                options["features"] = list(kw["features"])
            for key in ("delimiter", "header"):
                if key in kw:
                    options[key] = kw[key]
            if isinstance(kw.get("target"), str):
                target = kw["target"]  # left out when the file has it
        try:
            return CsvSamples(
                sources.CsvInputs(path, target=target, target_optional=True, **options)
            )
        except DataError as exc:
            raise fail(str(exc)) from None
    raise fail(
        f"cannot read {path}: predict reads .npz and .csv files, image files (.png, .jpg, "
        "...) and folders of images"
    )


def _samples(path: str, name: str, array):
    """`array` (the inputs of an .npz file) when it holds samples of numbers, else why not."""
    if array.dtype.kind not in "biuf":
        raise fail(f"{path}: the array '{name}' holds {array.dtype} values, not numbers")
    if array.ndim == 0:
        raise fail(f"{path}: the array '{name}' is a single value, not samples (no sample axis)")
    if array.shape[0] == 0:
        raise fail(f"{path}: the array '{name}' holds no samples")
    return array


def predict(
    program,
    checkpoint: str | os.PathLike,
    inputs,
    *,
    top: int = 1,
    section: str | None = None,
) -> list[dict]:
    """One row per sample of `inputs` (a path or a list of paths: npz or CSV files, or image
    files and folders of images), preprocessed as training did: for classification the
    predicted class (its name) and its probability (`top` K of them: class_2,
    probability_2, ...), for regression the output values (value, or value_0, ...); for
    images, first the `file`."""
    return [
        row
        for rows in predict_batches(program, checkpoint, inputs, top=top, section=section)
        for row in rows
    ]


def predict_batches(
    program,
    checkpoint: str | os.PathLike,
    inputs,
    *,
    top: int = 1,
    section: str | None = None,
):
    """`predict`'s rows, a list per batch of 256 samples: the files are read a batch at a
    time, so the memory used does not grow with their size."""
    import numpy as np
    import torch

    if top < 1:
        raise fail("--top must be at least 1")
    trained = load_trained(program, checkpoint, None, section)
    if len(trained.instance.inputs) != 1:
        raise fail(f"model `{trained.name}` takes several inputs; predict gives it one")
    prep = preprocessing(program, trained, checkpoint)
    x, files = read_samples(program, trained, inputs, prep)
    t = trained.instance.inputs[0][1].type
    sample = list(x.sample_shape)
    fits = x.ndim == len(t.shape) and all(
        not isinstance(d, int) or d == n for d, n in zip(t.shape[1:], sample)
    )
    if not fits or x.ndim == 0:
        shown = (
            os.fspath(inputs)
            if isinstance(inputs, (str, os.PathLike))
            else ", ".join(map(os.fspath, inputs))
        )
        raise fail(
            f"model `{trained.name}` takes {t}, but {shown} gives {x.count()} "
            f"sample{'' if x.count() == 1 else 's'} of shape {sample}"
        )

    def prepared(part) -> np.ndarray:
        if not t.is_float:
            return part.astype(np.int64)
        part = part.astype(np.float32)
        if prep["mean"] is not None and not x.normalized:
            mean, std = channel_stats(prep, part.ndim)
            part = ((part - mean) / std).astype(np.float32)
        return part

    task = trained.config.get("task") or {}
    if not task and trained.script is not None:
        plan_task = program.checked.plans[trained.section].task
        task = {"kind": plan_task.kind, "decision": plan_task.decision} if plan_task else {}
    plan = program.checked.plans.get(trained.section) if trained.script else None
    loss = plan.loss.name if plan is not None and plan.loss is not None else None
    loss = loss or trained.about.get("loss")
    done = 0
    for part in x.batches(256):
        # a batch at a time: the files are read (image files decoded) here
        with torch.no_grad():
            out = _outputs(trained.model(torch.from_numpy(prepared(part))))[0].float()
        rows = _prediction_rows(out, task, prep["class_names"], top, loss)
        if files is not None:  # images: which file each row is
            rows = [{"file": f, **row} for f, row in zip(files[done:], rows)]
        done += len(rows)
        yield rows


def write_predictions(
    program,
    checkpoint: str | os.PathLike,
    inputs,
    out: str | os.PathLike | None,
    *,
    top: int = 1,
    section: str | None = None,
) -> int:
    """`nndsl predict`: the rows of `predict` as CSV, written a batch at a time to a
    temporary file, then to `out` (atomically) or to stdout: the memory used does not grow
    with the inputs, and nothing is written when a sample cannot be read.  Returns the rows."""
    import shutil
    import sys
    import tempfile

    from nndsl.safeio import default_mode

    count = 0
    folder = os.path.dirname(os.path.abspath(out)) if out is not None else None
    try:
        if out is not None:
            refuse_special(out)
        if folder is not None:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=".nndsl-predict-", suffix=".csv")
            buffer = os.fdopen(fd, "w+", encoding="utf-8", newline="")
        else:
            tmp, buffer = None, tempfile.TemporaryFile("w+", encoding="utf-8", newline="")
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise fail(f"cannot write {os.fspath(out)}: {reason}") from None
    try:
        with buffer:
            for rows in predict_batches(program, checkpoint, inputs, top=top, section=section):
                text = rows_csv(rows)
                buffer.write(text if count == 0 else text[text.index("\n") + 1 :])
                count += len(rows)
            if count == 0:
                buffer.write(rows_csv([]))
            buffer.flush()
            if tmp is None:
                buffer.seek(0)
                shutil.copyfileobj(buffer, sys.stdout)
            else:
                os.fsync(buffer.fileno())
        if tmp is not None:
            os.chmod(tmp, default_mode())
            os.replace(tmp, out)
            tmp = None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise fail(f"cannot write {os.fspath(out)}: {reason}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return count


def _prediction_rows(out, task: dict, names, top: int, loss: str | None) -> list[dict]:
    """A row per sample: the `top` classes and their probabilities, or the output values."""
    rows: list[dict] = []
    kind, decision = task.get("kind"), task.get("decision")
    if kind in ("multiclass", "binary") and decision == "argmax" and out.ndim == 2:
        # CrossEntropyLoss trains class scores (logits), NLLLoss log-probabilities
        probs = out.exp() if loss == "NLLLoss" else out.softmax(1)
        k = min(top, out.shape[1])
        values, indices = probs.topk(k, dim=1)
        for p_row, i_row in zip(values.tolist(), indices.tolist()):
            row: dict = {}
            for j, (p, i) in enumerate(zip(p_row, i_row)):
                suffix = "" if j == 0 else f"_{j + 1}"
                row["class" + suffix] = names[i] if names and i < len(names) else str(i)
                row["probability" + suffix] = p
            rows.append(row)
        return rows
    if kind == "binary" and out.reshape(len(out), -1).shape[1] == 1:
        p1 = out.reshape(-1)
        p1 = p1.sigmoid() if decision == "logit" else p1
        for p in p1.tolist():
            i = int(p > 0.5)
            name = names[i] if names and len(names) == 2 else str(i)
            rows.append({"class": name, "probability": p if i else 1 - p})
        return rows
    flat = out.reshape(len(out), -1).tolist()
    for values in flat:
        if len(values) == 1:
            rows.append({"value": values[0]})
        else:
            rows.append({f"value_{j}": v for j, v in enumerate(values)})
    return rows


def rows_csv(rows: list[dict]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    fields = list(rows[0]) if rows else ["class", "probability"]
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()
