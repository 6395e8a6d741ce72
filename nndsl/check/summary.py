"""`nndsl summary`: one row per forward step of a model, nested blocks indented.

Rows are data (the CLI renders them as a table or JSON).  Module rows carry their qualified
name, exactly the `state_dict` prefix of their parameters; function rows have no name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nndsl import dims
from nndsl.catalog.core import TensorT
from nndsl.check.graph import BlockInstance, ModuleSlot, Op, TensorV
from nndsl.dims import Dim


@dataclass
class Row:
    name: str  # qualified state_dict name; "" for functions and operators
    type: str
    output: str
    params: Dim | None  # None: a step without parameters of its own (functions)
    depth: int

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "output": self.output,
            "params": _json_dim(self.params),
            "depth": self.depth,
        }


@dataclass
class Summary:
    model: str
    location: str
    rows: list[Row] = field(default_factory=list)
    total: Dim = 0
    buffers: Dim = 0
    frozen: Dim = 0  # parameters a train section's `freeze` leaves untrained
    frozen_by: str = ""  # which train section, with its `freeze` list

    def freeze(self, inst: BlockInstance, prefixes: tuple[str, ...], section: str | None) -> None:
        """Count the parameters `freeze = [...]` of a train section leaves untrained."""
        from nndsl.check.finetune import frozen_params

        self.frozen = frozen_params(inst, prefixes)
        where = f"train section `{section}`" if section else "the train section"
        self.frozen_by = f"`freeze = [{', '.join(prefixes)}]` of {where}"

    @property
    def memory_bytes(self) -> Dim:
        return self.total * 4

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "location": self.location,
            "rows": [r.as_json() for r in self.rows],
            "total_params": _json_dim(self.total),
            "trainable_params": _json_dim(self.total - self.frozen),
            "non_trainable_params": _json_dim(self.frozen),
            "buffers": _json_dim(self.buffers),
            "param_memory_bytes": _json_dim(self.memory_bytes),
        }


def _json_dim(d: Dim | None) -> int | str | None:
    if d is None or isinstance(d, int):
        return d
    return dims.format_dim(d)


def format_type(t: Any) -> str:
    if isinstance(t, TensorT):
        return str(t)
    if isinstance(t, tuple):
        return "(" + ", ".join(format_type(x) for x in t) + ")"
    return "?" if t is None else str(t)


def summarize(inst: BlockInstance, location: str) -> Summary:
    s = Summary(inst.name, location)
    for name, value in inst.inputs:
        s.rows.append(Row(name, "input", format_type(value.type), None, 0))
    _rows(inst, "", 0, s.rows)
    outputs = inst.output_types()
    if len(outputs) > 1:  # `return a, b`: show each output
        for i, t in enumerate(outputs):
            s.rows.append(Row(f"output {i}", "output", format_type(t), None, 0))
    elif outputs and not _is_last_step(inst):
        # the output is not what the last row shows: the input itself, an earlier value, or one
        # element of a step's tuple (`out, h = x -> GRU(8)` then `out`)
        s.rows.append(Row("output", "output", format_type(outputs[0]), None, 0))
    s.total = inst.total_params()
    s.buffers = _buffers(inst)
    return s


def _is_last_step(inst: BlockInstance) -> bool:
    """Whether the model's one output is the whole result of its last step that has a row."""
    out = inst.outputs[0] if inst.outputs else None
    last = max((i for i, op in enumerate(inst.ops) if op.kind in _ROW_KINDS), default=None)
    return isinstance(out, TensorV) and out.op == last and out.path == ()


_ROW_KINDS = ("module", "function", "param", "buffer", "binop", "unary", "index")


def _rows(
    inst: BlockInstance, prefix: str, depth: int, rows: list[Row], tied: dict | None = None
) -> None:
    tied = dict(tied or {})
    for t in inst.ties:  # a tied parameter is counted with its source only
        tied[prefix + t.target] = t.count
    uses: dict[int, int] = {}
    for op in inst.ops:
        if op.kind == "module":
            uses[id(op.target)] = uses.get(id(op.target), 0) + 1
    seen: dict[int, int] = {}
    for op in inst.ops:
        if op.kind == "module" and uses[id(op.target)] > 1:
            # a module applied several times (a label used again): its parameters once
            k = seen[id(op.target)] = seen.get(id(op.target), 0) + 1
            slot = op.target
            if k > 1:
                what = f"{slot.type_name} (shared, use {k} of {uses[id(slot)]})"
                rows.append(Row(prefix + slot.name, what, format_type(op.out), None, depth))
                continue
            start = len(rows)
            _slot_rows(slot, prefix, depth, rows, tied)
            rows[start].type += f" (shared, used {uses[id(slot)]}x)"
            continue
        _op_rows(op, prefix, depth, rows, tied)
    for t in inst.ties:
        rows.append(
            Row(prefix + t.target, f"tied to {prefix + t.source}", format_type(t.type), None, depth)
        )


def _op_rows(op: Op, prefix: str, depth: int, rows: list[Row], tied: dict | None = None) -> None:
    if op.kind == "module":
        _slot_rows(op.target, prefix, depth, rows, tied or {})
    elif op.kind == "buffer":
        slot = op.target
        what = "Buffer" if slot.persistent else "Buffer (not persistent)"
        rows.append(Row(prefix + slot.name, what, format_type(op.out), None, depth))
    elif op.kind == "function":
        rows.append(
            Row("", op.entry.name if op.entry else str(op.target), format_type(op.out), None, depth)
        )
    elif op.kind == "param":
        rows.append(
            Row(prefix + op.target.name, "Parameter", format_type(op.out), op.target.count, depth)
        )
    elif op.kind in ("binop", "unary"):
        rows.append(Row("", f"`{op.target}`", format_type(op.out), None, depth))
    elif op.kind == "index":
        rows.append(Row("", "index", format_type(op.out), None, depth))


def _slot_rows(
    slot: ModuleSlot, prefix: str, depth: int, rows: list[Row], tied: dict | None = None
) -> None:
    q = prefix + slot.name
    tied = tied or {}
    if slot.kind == "sequential":
        rows.append(Row(q, "Sequential", format_type(slot.out_type), slot.total_params(), depth))
        for child in slot.children:
            _slot_rows(child, q + ".", depth + 1, rows, tied)
    elif slot.kind == "block" and slot.instance is not None:
        rows.append(Row(q, slot.type_name, format_type(slot.out_type), slot.total_params(), depth))
        _rows(slot.instance, q + ".", depth + 1, rows, tied)
    else:
        params = slot.params
        for path, count in tied.items():
            if path.rsplit(".", 1)[0] == q:
                params = params - count
        rows.append(Row(q, slot.type_name, format_type(slot.out_type), params, depth))


def _buffers(inst: BlockInstance) -> Dim:
    total: Dim = 0

    def walk(slots):
        nonlocal total
        for s in slots:
            if s.kind == "sequential":
                walk(s.children)
            elif s.kind == "block" and s.instance is not None:
                total = total + _buffers(s.instance)
            else:
                total = total + s.buffers

    walk(inst.modules)
    for b in inst.buffer_tensors:
        total = total + b.count
    return total


def human_bytes(n: Dim) -> str:
    if not isinstance(n, int):
        return f"{dims.format_dim(n)} bytes"
    if n >= 1024**5:  # past a petabyte: whole gigabytes, without a float that could overflow
        return f"{n // 1024**3:,} GB"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1024
    return f"{n} B"


def fmt_count(d: Dim | None) -> str:
    if d is None:
        return ""
    if isinstance(d, int):
        return f"{d:,}"
    return dims.format_dim(d)


def render_table(s: Summary) -> str:
    header = ("Layer (state_dict name)", "Type", "Output shape", "Params")
    body = [
        ("  " * r.depth + (r.name or "·"), r.type, r.output, fmt_count(r.params)) for r in s.rows
    ]
    widths = [
        max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(header)
    ]
    line = "  ".join("-" * w for w in widths)
    out = [f"Model: {s.model}  ({s.location})", line]
    out.append(
        "  ".join(
            h.ljust(w) if i < 3 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))
        )
    )
    out.append(line)
    for b in body:
        out.append(
            "  ".join(
                c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(b, widths))
            ).rstrip()
        )
    out.append(line)
    out.append(f"Total params: {fmt_count(s.total)} ({human_bytes(s.memory_bytes)} as float32)")
    out.append(f"Trainable params: {fmt_count(s.total - s.frozen)}")
    frozen = f" (frozen by {s.frozen_by})" if s.frozen_by else ""
    out.append(f"Non-trainable params: {fmt_count(s.frozen)}{frozen}")
    if s.buffers:
        out.append(f"Buffers (not parameters): {fmt_count(s.buffers)}")
    return "\n".join(out)
