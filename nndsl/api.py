"""The Python API.

    import nndsl
    program = nndsl.load("samples/digits_cnn.nn")      # or the text of a spec
    model = program.build("DigitsCNN")                  # an nn.Module, same as the generated class
    program.generate("out/")                            # model.py, train.py, data.npz
    history = program.train(epochs=5)                   # per-epoch metrics

Mistakes in a spec raise `nndsl.NndslError`, which carries every diagnostic.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from nndsl.errors import Diagnostic, Hinted, NndslError, error
from nndsl.safeio import write_atomic


class Program:
    """A checked spec."""

    def __init__(self, checked) -> None:
        self.checked = checked
        self._modules: dict | None = None

    @property
    def path(self) -> str:
        return self.checked.program.root

    @property
    def models(self) -> list[str]:
        return [m for m, inst in self.checked.models.items() if inst is not None]

    @property
    def diagnostics(self):
        return list(self.checked.diagnostics)

    @property
    def trains(self) -> list[str | None]:
        return [t.name for t in self.checked.symbols.root_trains]

    def _generated(self) -> dict:
        from nndsl.codegen import GenerateError, generate_files

        try:
            return generate_files(self.checked, self.models, with_data=False, formatted=False)
        except GenerateError as exc:
            raise NndslError([error(str(exc), None)]) from None

    def generated_sources(self) -> dict[str, str]:
        """The generated Python sources by file name ("model.py", "train.py", ...), not
        formatted, without the prepared data."""
        return {k: v for k, v in self._generated().items() if isinstance(v, str)}

    def modules(self) -> dict:
        """The in-memory modules of the generated sources ("model", "train", ...)."""
        if self._modules is None:
            from nndsl import interp

            self._modules = interp.load(self.generated_sources(), os.path.basename(self.path))
        return self._modules

    def build(self, model: str | None = None, **params: Any):
        """An nn.Module for `model` (default: the only model), with optional parameters."""
        name = self._pick(model)
        return getattr(self.modules()["model"], name)(**params)

    def generate(self, out_dir: str | os.PathLike, *, force: bool = False) -> list[Path]:
        """Write model.py (and the training scripts and their data) into `out_dir`, as
        `nndsl generate` does: files nndsl did not generate, and generated files that were
        changed since, are replaced only with `force=True`; the spec's own files never."""
        from nndsl.codegen import GenerateError, generate_files
        from nndsl.codegen.output import Refused, write_generated

        try:
            files = generate_files(self.checked, self.models, out_dir=out_dir)
        except GenerateError as exc:
            raise generate_failure(exc, self.checked) from None
        try:
            return write_generated(self.checked, out_dir, files, force=force)
        except Refused as exc:
            raise NndslError([error(line, None) for line in str(exc).splitlines()]) from None
        except (OSError, ValueError) as exc:
            raise NndslError([error(f"cannot write to {out_dir}: {_reason(exc)}", None)]) from None

    def train(
        self,
        section: str | None = None,
        *,
        epochs: int | None = None,
        device: str | None = None,
        out: str | os.PathLike | None = None,
        resume: str | os.PathLike | None = None,
        batch_size: int | None = None,
        lr: float | None = None,
        seed: int | None = None,
        quiet: bool = False,
        force: bool = False,
        resume_weights: str | os.PathLike | None = None,
        init_from: str | os.PathLike | None = None,
    ) -> list[dict]:
        """Train as the spec's train section says (flags override it); returns the history.
        A run folder that holds another run is refused unless `resume` or `force`.
        `resume`: continue a run (a finished one with more `epochs`); `init_from` (also
        `resume_weights`): a new run from a checkpoint's weights, with a fresh optimizer."""
        resume_weights = init_from if init_from is not None else resume_weights
        created: list[Path] = []
        module, data_path, out_dir = self.prepare_run(
            section,
            out,
            replace=force or resume is not None,
            init=resume is None and resume_weights is None,
            created=created,
        )
        argv = ["--data", str(data_path), "--out", str(out_dir)]
        if force:
            argv.append("--force")
        for flag, value in (
            ("--epochs", epochs),
            ("--device", device),
            ("--resume", resume),
            ("--resume-weights", resume_weights),
            ("--batch-size", batch_size),
            ("--lr", lr),
            ("--seed", seed),
        ):
            if value is not None:
                argv += [flag, str(value)]
        if quiet:
            argv.append("--quiet")
        utils = self.modules()["training_utils"]
        results = utils.results_in(out_dir)
        try:
            return module.train(argv)
        except utils.TrainingError as exc:
            discard_unstarted_run(utils, out_dir, results, created)
            raise NndslError([error(str(exc), None)]) from None
        except KeyboardInterrupt:
            discard_unstarted_run(utils, out_dir, results, created)
            raise
        finally:
            discard_run_data(data_path, out_dir)

    def export(
        self,
        checkpoint: str | os.PathLike,
        out: str | os.PathLike,
        format: str = "torchscript",
        *,
        model: str | None = None,
    ) -> dict:
        """Export a checkpoint's model to `out` as "torchscript", "onnx" or "pt2"
        (torch.export), verified: the exported file's outputs on a random batch must equal
        the PyTorch model's (rtol=1e-4, atol=1e-5), else NndslError and nothing written."""
        from nndsl.after import export

        return export(self, checkpoint, out, format, model=model)

    def evaluate(
        self,
        checkpoint: str | os.PathLike,
        *,
        split: str | None = None,
        section: str | None = None,
        data: str | None = None,
    ) -> dict:
        """The train section's loss and metrics (and a confusion matrix for classification)
        of a checkpoint on the held-out `split` ("test", else "val"), its data prepared as
        training prepared it.  `data`: another data source (`'csv("new.csv")'`), checked
        as in the train section, standardised with the training's statistics; without
        `split`, all its samples ("all")."""
        from nndsl.after import evaluate

        return evaluate(self, checkpoint, split=split, section=section, data=data)

    def predict(
        self,
        checkpoint: str | os.PathLike,
        inputs,
        *,
        top: int = 1,
        section: str | None = None,
    ) -> list[dict]:
        """One row per sample of `inputs` (a path or a list of paths: npz or CSV files, image
        files, folders of images), preprocessed as training did (normalisation; the images'
        size and grayscale): the class name and its probability (the `top` K), or the
        regression values; image rows start with their `file`."""
        from nndsl.after import predict

        return predict(self, checkpoint, inputs, top=top, section=section)

    def prepare_run(
        self,
        section: str | None,
        out: str | os.PathLike | None,
        *,
        replace: bool = False,
        init: bool = True,
        created: list[Path] | None = None,
        device: str | None = None,
    ):
        """(training module, data file, run folder) for a train section.  A run folder that
        holds another run is refused (nothing written) unless `replace`.  `init`: the weights
        of the section's `init` are compared with the model first (errors at its line).
        `device`: the device asked for on the command line (else the section's), which must
        be there.
        `created`: a list to which the folders and the data file this adds are appended
        (what `discard_unstarted_run` removes when the run fails before any result)."""
        from nndsl.codegen import GenerateError, data_bytes, train_sources
        from nndsl.codegen.trainplan import data_file, script_name

        scripts = (
            train_sources(self.checked, self.models, formatted=False)
            if self.checked.symbols
            else {}
        )
        if not scripts:
            raise NndslError(
                [error(f"{os.path.basename(self.path)} has no train section to run", None)]
            )
        key = script_name(section)
        if key not in scripts:
            if section is None:
                key = next(iter(scripts))
            else:
                names = ", ".join(
                    s[len("train_") :] if s != "train" else "(unnamed)" for s in scripts
                )
                raise NndslError([error(f"no train section `{section}` (sections: {names})", None)])
        plan, _ = scripts[key]
        missing = _device_missing(device or plan.device)
        if missing:
            at = None if device else plan.span("device")
            hint = "train on the CPU: " + ("--device cpu" if device else "`device = cpu`")
            raise NndslError([error(missing, at, hint=hint)], self.checked.program.sources)
        from nndsl.data.streaming import plan_streams

        streaming = plan_streams(plan, self.path)
        try:
            data = data_bytes(self.checked, plan, streaming=streaming, level=1)
            sample = stream_sample(self, key, data, plan) if streaming else data
        except GenerateError as exc:
            raise generate_failure(exc, self.checked) from None
        from nndsl.check.multidata import arrays_mismatch

        located = arrays_mismatch(plan, sample)  # several inputs or targets: at `data`
        if located is not None:
            raise NndslError([error(located, plan.span("data"))], self.checked.program.sources)
        problem = data_mismatch(self.checked, plan, sample)
        if problem is not None:
            from nndsl.data.errors import data_span

            raise NndslError(
                [error(problem, data_span(self.checked, plan), hint=problem.hint)],
                self.checked.program.sources,
            )
        if init and plan.init is not None:
            self._check_init(plan, key)
        world = int(os.environ.get("WORLD_SIZE", "1"))
        stem = Path(self.path).stem
        if out is None:
            run_id = os.environ.get("TORCHELASTIC_RUN_ID") if world > 1 else None
            out = Path("runs") / f"{stem}-{run_id or time.strftime('%Y%m%d-%H%M%S')}"
        out_dir = Path(out)
        rank = int(os.environ.get("RANK", "0"))
        module = self.modules()[key]
        utils = self.modules()["training_utils"]
        if not replace and rank == 0 and utils.holds_run(out_dir):  # (train.py's own test)
            raise NndslError(
                [
                    error(
                        f"{out_dir} holds another run; choose another --out, continue it with "
                        f"--resume {out_dir / 'last.pt'}, or replace it with --force",
                        None,
                    )
                ]
            )
        try:
            if world > 1:
                # every process reads its own copy; the run folder is rank 0's (train.py)
                data_path = Path(tempfile.gettempdir()) / (
                    f"nndsl-{stem}-{os.getpid()}-rank{rank}" + (".json" if streaming else ".npz")
                )
            else:
                made = utils.missing_folders(out_dir)
                out_dir.mkdir(parents=True, exist_ok=True)
                data_path = out_dir / data_file(key, streaming)
                _refuse_input(self.checked, data_path)
                if created is not None:
                    created += [p for p in [data_path] if not p.exists()] + made
            write_atomic(data_path, data)
        except OSError as exc:
            raise NndslError(
                [error(f"cannot write the run folder {out_dir}: {_reason(exc)}", None)]
            ) from None
        return module, data_path, out_dir

    def _check_init(self, plan, script: str) -> None:
        """`init = weights(...)`: the file's tensors against the model (names and shapes),
        before anything is written; a problem is an error at the `init` line."""
        utils = self.modules()["training_utils"]
        try:
            weights = utils.read_weights(plan.init.resolved)
            problem = utils.weights_problem(
                plan.init.path, weights, self.modules()[script].build_model(), plan.init.strict
            )
        except utils.TrainingError as exc:
            problem = str(exc)
        if problem is not None:
            raise NndslError([error(problem, plan.span("init"))], self.checked.program.sources)

    def _pick(self, model: str | None) -> str:
        if model is None:
            if len(self.models) != 1:
                raise NndslError(
                    [error(f"say which model to build: {', '.join(self.models) or 'none'}", None)]
                )
            return self.models[0]
        if model not in self.models:
            raise NndslError(
                [error(f"no model `{model}` (models: {', '.join(self.models) or 'none'})", None)]
            )
        return model


def generate_failure(exc: Exception, checked) -> NndslError:
    """A GenerateError as NndslError: a data source's problem (a file not there, a column it
    lacks, damaged contents) at its place in the spec's `data` value, with its hint; anything
    else unlocated."""
    from nndsl.codegen import DataSourceError, NoDataError

    if isinstance(exc, NoDataError):
        located = _no_data(exc, checked)
        if located is not None:
            return NndslError([located], checked.program.sources)
    if isinstance(exc, DataSourceError):
        from nndsl.data.errors import diagnostic

        located = diagnostic(exc.error, checked, exc.plan)
        if located.span is not None:
            return NndslError([located], checked.program.sources)
    return NndslError([error(str(exc), None)])


def _no_data(exc, checked) -> Diagnostic | None:
    """A train section without `data`, at its `train` keyword (None: not in the spec's file)."""
    from nndsl.errors import Span

    symbols = checked.symbols
    decl = next(
        (t for t in (symbols.root_trains if symbols else ()) if t.name == exc.plan.name), None
    )
    if decl is None:
        return None
    s = decl.span
    return error(
        str(exc),
        Span(s.file, s.line, s.col, s.line, s.col + len("train")),
        hint="add a data source to the section, e.g. `data = iris(val_split=0.2)`, "
        '`data = csv("table.csv", target="label")` or `data = npz("arrays.npz", x="x", y="y")`',
    )


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _refuse_input(checked, path: Path) -> None:
    """A run never writes its data copy over a file the spec reads (`--out` at the spec's data)."""
    from nndsl.codegen.output import spec_inputs

    files, trees = spec_inputs(checked)
    real = os.path.realpath(path)
    if real in files or any(real == t or real.startswith(t.rstrip(os.sep) + os.sep) for t in trees):
        raise NndslError(
            [
                error(
                    f"the run would write its data to {path}, a file the spec reads; "
                    "choose another run folder (--out DIR)",
                    None,
                )
            ]
        )


def stream_sample(program: Program, script: str, data: bytes, plan=None) -> bytes:
    """The first training (and validation) sample of streaming data, decoded and transformed
    as training reads them, as .npz bytes: what `data_mismatch` checks against the model.
    A sample that cannot be read is a DataSourceError of the train section `plan` (shown at
    its `data` value: the file, or `augment` for a transform that does not fit)."""
    import numpy as np

    from nndsl.codegen import DataSourceError
    from nndsl.data.errors import DataError
    from nndsl.data.snapshot import to_bytes

    def failure(message: str, option: str | None = None) -> DataSourceError:
        return DataSourceError(f"data: {message}", DataError(message, option=option), plan)

    utils = program.modules()["training_utils"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.json"
        path.write_bytes(data)
        try:
            splits = utils.load_stream(str(path), stream_dataset(program.modules()[script]))
            arrays: dict[str, np.ndarray] = {}
            for split in ("train", "val", "test"):
                dataset = splits.get(split)
                item = None
                for i in range(min(len(dataset), 16) if dataset is not None else 0):
                    item = dataset[(i, 0)]
                    if item is not None:
                        break
                if item is not None:
                    arrays[f"{split}_x"] = item[0][None].numpy()
                    arrays[f"{split}_y"] = np.asarray(item[1])[None]
        except utils.TrainingError as exc:
            raise failure(str(exc)) from None
        except RuntimeError as exc:
            error = utils.stream_error(exc)
            if error is None:
                raise failure(_sample_failure(exc), "augment") from None
            raise failure(str(error)) from None
        except Exception as exc:  # a transform of `augment` that does not fit the samples
            raise failure(_sample_failure(exc), "augment") from None
    meta = splits["stream"]
    arrays["task"] = np.array("classification")
    arrays["num_classes"] = np.array(meta["num_classes"])
    return to_bytes(arrays)


def _sample_failure(exc: BaseException) -> str:
    """The message of a first sample that cannot be read and transformed (a transform of
    `augment` that does not fit the data, such as a `normalize` with one value per channel
    for another number of channels)."""
    return (
        "the first samples cannot be prepared as training prepares them "
        f"(the transforms of `augment`?): {type(exc).__name__}: {exc}"
    )


def stream_dataset(module):
    """The Dataset class of a streaming train.py (nndsl/codegen/train.py, stream_context)."""
    return module.ImageFiles if hasattr(module, "ImageFiles") else module.CsvRows


def discard_run_data(data_path: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Remove a process's private copy of the data (under torchrun) once training is over;
    `data.npz` inside the run folder stays."""
    path = Path(data_path)
    if path.parent.resolve() != Path(out_dir).resolve():
        try:
            path.unlink()
        except OSError:
            pass


def discard_unstarted_run(utils, out_dir: Path, results: dict, created: list[Path]) -> None:
    """After a run that failed before it wrote any result (the result files of `out_dir` are
    still `results`, training_utils.results_in): remove what preparing it added, `created`
    (its data copy, then the folders made for it, while they are empty).  The training
    script has already put its own files back as it found them (Run.undo_start)."""
    if utils.results_in(out_dir) != results:
        return  # a checkpoint or metrics.csv: the data copy stays beside them (--resume)
    for path in created:
        try:
            if path.is_dir() and not path.is_symlink():
                path.rmdir()  # (not empty: an OSError, kept with the folders above it)
            else:
                path.unlink()
        except OSError:
            return


def _device_missing(name: str) -> str | None:
    """Why the device `name` (cuda, cuda:N, mps) cannot be used on this machine, or None."""
    kind = name.split(":", 1)[0]
    if kind not in ("cuda", "mps"):
        return None
    import torch

    if kind == "cuda" and not torch.cuda.is_available():
        return f"the device `{name}` is asked for, but CUDA is not available on this machine"
    mps = getattr(torch.backends, "mps", None)
    if kind == "mps" and not (mps is not None and mps.is_available()):
        return f"the device `{name}` is asked for, but MPS is not available on this machine"
    return None


def data_mismatch(checked, plan, data: bytes) -> Hinted | None:
    """Why the prepared data cannot train the plan's model, or None when it fits.

    The checker already compares the bundled and generated sources with the model statically;
    files (csv, npz, image folders) are only known once read, so this compares the prepared
    arrays with the model's input type (rank, fixed sizes, float or integer) and with what the
    loss needs (class labels below the number of class scores, or targets with as many values
    as the output), before any training starts.
    """
    import io

    import numpy as np

    from nndsl import dims

    inst = plan.instance  # the checked model, with the train section's arguments
    if inst is None or not getattr(inst, "inputs", None):
        return None
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        x, y = arrays["train_x"], arrays["train_y"]
    except Exception:  # (not ours to judge: train.py reports unreadable data)
        return None
    if len(inst.inputs) != 1 or "train_x1" in arrays.files:
        return None  # several inputs: nndsl.check.multidata.arrays_mismatch
    name = plan.model
    source = "the data"
    if plan.data is not None:
        first = plan.data.args[0] if plan.data.args else dict(plan.data.kwargs).get("path")
        shown = f'"{first}"' if isinstance(first, str) else ("..." if plan.data.kwargs else "")
        source = f"`{plan.data.name}({shown})`"
    if len(inst.inputs) != 1:
        names = ", ".join(n for n, _ in inst.inputs)
        return Hinted(
            f"model `{name}` takes {len(inst.inputs)} inputs ({names}), but the data of "
            f"{source} gives one: {_data_shape(x)}",
            "give the data one input array per input of the model",
        )
    t = inst.inputs[0][1].type
    sample = tuple(int(d) for d in x.shape[1:])
    env: dict[str, int] = {}
    fits = len(t.shape) == len(sample) + 1
    if fits:
        for d, n in zip(t.shape[1:], sample):
            if isinstance(d, int):
                fits = fits and d == n
            elif dims.free_symbols(d) and d == dims.sym(next(iter(dims.free_symbols(d)))):
                symbol = next(iter(dims.free_symbols(d)))
                fits = fits and env.setdefault(symbol, n) == n
    if not fits:
        return Hinted(
            f"model `{name}` takes {t}, but the data of {source} gives {_data_shape(x)}: "
            f"{len(x)} sample{'' if len(x) == 1 else 's'} of shape {list(sample)}",
            f"declare the input with the data's shape (`input {inst.inputs[0][0]}: "
            f"{_data_shape(x)}`), or give data whose samples fit {t}",
        )
    if t.is_float != (x.dtype.kind == "f"):
        kind = "floating-point values" if x.dtype.kind == "f" else f"integers ({x.dtype})"
        return Hinted(
            f"model `{name}` takes {t}, but the data of {source} gives {kind}",
            "declare the input `long[...]` for integer ids (an Embedding's tokens), `float[...]` "
            "(the default) for values",
        )
    outs = inst.output_types()
    loss = plan.loss.name if plan.loss is not None else None
    if len(outs) != 1 or not hasattr(outs[0], "shape") or loss is None:
        return None
    out = outs[0]
    try:
        out_shape = [dims.evaluate(d, {**env, **_batch(t, len(x))}) for d in out.shape]
    except Exception:  # (a size the data does not determine: nothing to compare)
        return None
    from nndsl.check.train import BINARY_LOSSES, CLASS_LABEL_LOSSES, REGRESSION_LOSSES

    per_out = out_shape[1:]
    target = list(y.shape[1:])
    if loss in CLASS_LABEL_LOSSES:
        if y.dtype.kind in "iu":
            if len(per_out) < 1 or target != per_out[1:]:
                return Hinted(
                    f"{loss} needs one score per class, [B, C{', ...' if target else ''}], for "
                    f"the class labels of {source} ({_data_shape(y)}), but `{name}` outputs {out}",
                    "end the model with one score per class (such as `Linear(classes)`)",
                )
            labels = [int(a.max()) for a in (y, arrays.get("val_y")) if a is not None and a.size]
            if labels and max(labels) >= per_out[0]:
                return Hinted(
                    f"the data of {source} has class labels up to {max(labels)}, but `{name}` "
                    f"outputs {per_out[0]} class score{'' if per_out[0] == 1 else 's'} "
                    f"({out}); {loss} needs at least "
                    f"{max(labels) + 1}",
                    f"end the model with {max(labels) + 1} class scores, or check the data's "
                    "labels (class indices count from 0)",
                )
        elif target != per_out:
            return Hinted(
                f"{loss} needs class labels or class probabilities shaped like the output "
                f"({out}), but the data of {source} gives real-valued targets {_data_shape(y)}",
                "for real-valued targets use a regression loss such as MSELoss()",
            )
    elif loss in REGRESSION_LOSSES or loss in BINARY_LOSSES:
        if int(np.prod(target, dtype=np.int64)) != int(np.prod(per_out, dtype=np.int64)):
            return Hinted(
                f"{loss} compares `{name}`'s output {out} with the targets of {source}, "
                f"{_data_shape(y)}, but they have different sizes",
                "make the model output as many values per sample as each target holds",
            )
    return None


def _batch(t, n: int) -> dict[str, int]:
    """The batch symbol of an input type, bound to a batch size (for evaluating the output)."""
    from nndsl import dims

    first = t.shape[0]
    if isinstance(first, int):
        return {}
    return {s: min(n, 2) for s in dims.free_symbols(first)}


def _data_shape(a) -> str:
    dtype = "" if a.dtype.kind == "f" else ("long" if a.dtype.name == "int64" else a.dtype.name)
    return dtype + "[" + ", ".join(["B", *(str(int(d)) for d in a.shape[1:])]) + "]"


def load(
    path_or_text: str | bytes | os.PathLike,
    *,
    name: str = "<spec>.nn",
    imports: bool | None = None,
) -> Program:
    """Check a spec file (or spec text) and return the Program; raise NndslError on errors.

    `imports=False` never imports the Python modules the spec names (`from pkg import Name`),
    for specs you do not trust: their outputs are then not checked.  Default: they are imported,
    unless the environment variable NNDSL_NO_IMPORTS is 1."""
    from nndsl.check import check_file

    if not isinstance(path_or_text, (str, bytes, os.PathLike)):
        raise NndslError(
            [
                error(
                    f"nndsl.load takes a path or the text of a spec, not {type(path_or_text).__name__}",
                    None,
                )
            ]
        )
    text = None
    try:
        path = os.fsdecode(path_or_text)
    except (TypeError, ValueError) as exc:
        raise NndslError([error(f"not a usable path: {exc}", None)]) from None
    if ("{" in path or "\n" in path) and not _is_file(path):
        text, path = path, name
    elif "\x00" in path:
        raise NndslError([error(f"not a usable path: {path!r} contains a NUL character", None)])
    elif not path.strip():
        raise NndslError([error("nndsl.load was given an empty path", None)])
    checked = check_file(path, text, imports=imports)
    if not checked.ok:
        raise NndslError(checked.diagnostics, checked.program.sources)
    return Program(checked)


def _is_file(path: str) -> bool:
    try:
        return os.path.exists(path)
    except (OSError, ValueError):  # a NUL, a name too long for the system
        return False
