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

from nndsl.errors import NndslError, error


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
            return generate_files(self.checked, self.models, with_data=False)
        except GenerateError as exc:
            raise NndslError([error(str(exc), None)]) from None

    def modules(self) -> dict:
        """The in-memory modules of the generated sources ("model", "train", ...)."""
        if self._modules is None:
            from nndsl import interp

            sources = {k: v for k, v in self._generated().items() if isinstance(v, str)}
            self._modules = interp.load(sources, os.path.basename(self.path))
        return self._modules

    def build(self, model: str | None = None, **params: Any):
        """An nn.Module for `model` (default: the only model), with optional parameters."""
        name = self._pick(model)
        return getattr(self.modules()["model"], name)(**params)

    def generate(self, out_dir: str | os.PathLike) -> list[Path]:
        from nndsl.codegen import GenerateError, generate_files

        try:
            files = generate_files(self.checked, self.models)
        except GenerateError as exc:
            raise NndslError([error(str(exc), None)]) from None
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for name, content in files.items():
            path = out / name
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content, encoding="utf-8")
            written.append(path)
        return written

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
    ) -> list[dict]:
        """Train as the spec's train section says (flags override it); returns the history."""
        module, data_path, out_dir = self.prepare_run(section, out)
        argv = ["--data", str(data_path), "--out", str(out_dir)]
        for flag, value in (
            ("--epochs", epochs),
            ("--device", device),
            ("--resume", resume),
            ("--batch-size", batch_size),
            ("--lr", lr),
            ("--seed", seed),
        ):
            if value is not None:
                argv += [flag, str(value)]
        if quiet:
            argv.append("--quiet")
        try:
            return module.train(argv)
        except module.TrainingError as exc:
            raise NndslError([error(str(exc), None)]) from None

    def prepare_run(self, section: str | None, out: str | os.PathLike | None):
        """(training module, data file, run folder) for a train section."""
        from nndsl.codegen import GenerateError, data_bytes, train_sources

        scripts = train_sources(self.checked, self.models) if self.checked.symbols else {}
        if not scripts:
            raise NndslError(
                [error(f"{os.path.basename(self.path)} has no train section to run", None)]
            )
        key = "train" if section is None else f"train_{section.lower()}"
        if key not in scripts:
            if section is None:
                key = next(iter(scripts))
            else:
                names = ", ".join(
                    s[len("train_") :] if s != "train" else "(unnamed)" for s in scripts
                )
                raise NndslError([error(f"no train section `{section}` (sections: {names})", None)])
        plan, _ = scripts[key]
        try:
            data = data_bytes(self.checked, plan)
        except GenerateError as exc:
            raise NndslError([error(str(exc), None)]) from None
        world = int(os.environ.get("WORLD_SIZE", "1"))
        stem = Path(self.path).stem
        if out is None:
            run_id = os.environ.get("TORCHELASTIC_RUN_ID") if world > 1 else None
            out = Path("runs") / f"{stem}-{run_id or time.strftime('%Y%m%d-%H%M%S')}"
        out_dir = Path(out)
        rank = int(os.environ.get("RANK", "0"))
        if world > 1:
            data_path = Path(tempfile.gettempdir()) / f"nndsl-{stem}-{os.getpid()}-rank{rank}.npz"
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            data_path = out_dir / "data.npz"
        data_path.write_bytes(data)
        return self.modules()[key], data_path, out_dir

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


def load(path_or_text: str | os.PathLike, *, name: str = "<spec>.nn") -> Program:
    """Check a spec file (or spec text) and return the Program; raise NndslError on errors."""
    from nndsl.check import check_file

    text = None
    path = str(path_or_text)
    if not os.path.exists(path) and ("{" in path or "\n" in path):
        text, path = path, name
    checked = check_file(path, text)
    if not checked.ok:
        raise NndslError(checked.diagnostics, checked.program.sources)
    return Program(checked)
