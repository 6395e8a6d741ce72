"""What makes a run self-describing: the facts about a train section that every checkpoint holds.

`data_bytes` stores them in the prepared data (`about`, one JSON text), the training script reads
them with the data and writes them into each checkpoint (`payload["about"]`, with the class
names and normalisation statistics of the data), so a checkpoint says which spec trained it (its
text, sha256 and path), which model with which arguments, its inputs' shapes and dtypes, how the
inputs were prepared and what the task is: `predict`, `evaluate` and `export` use a checkpoint
moved anywhere, and refuse one of another spec with a message.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from nndsl import dims

#: the version of the `about` facts (a later nndsl reads older ones)
VERSION = 1


def spec_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def run_facts(checked, plan) -> dict[str, Any]:
    """The facts of a train section's runs (plain JSON values)."""
    from nndsl.codegen.train import _text

    root = checked.program.root
    text = checked.program.sources.get(root, "")
    inputs = []
    inst = plan.instance
    for name, value in getattr(inst, "inputs", ()) or ():
        t = value.type
        shape = [d if isinstance(d, int) else dims.format_dim(d) for d in t.shape]
        inputs.append({"name": name, "shape": shape, "dtype": t.dtype})
    options = dict(plan.data.kwargs) if plan.data is not None else {}
    preprocessing: dict[str, Any] = {"normalize": bool(options.get("normalize", False))}
    if plan.data is not None and plan.data.name == "image_folder":
        size = options.get("size")
        preprocessing["image_size"] = list(size) if isinstance(size, (tuple, list)) else size
        preprocessing["grayscale"] = bool(options.get("grayscale", False))
    path = root if root.startswith("<") else os.path.abspath(root)
    return {
        "version": VERSION,
        "spec": {"path": path, "sha256": spec_sha256(text), "text": text},
        "train": plan.name,
        "model": plan.model,
        "model_args": _text(plan.model_args) if plan.model_args is not None else None,
        "inputs": inputs,
        "data": None if plan.data is None else _text(plan.data),
        "preprocessing": preprocessing,
        "task": None
        if plan.task is None
        else {"kind": plan.task.kind, "decision": plan.task.decision},
        "loss": plan.loss.name if plan.loss is not None else None,
    }


def facts_json(checked, plan) -> str:
    return json.dumps(run_facts(checked, plan), sort_keys=True)
