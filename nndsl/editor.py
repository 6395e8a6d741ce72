"""What an editor asks about a spec: shapes under the cursor, definitions, completions, symbols.

Pure Python over the checker's results (no language-server library): `nndsl lsp` (nndsl/lsp.py)
turns these answers into the Language Server Protocol.  Positions are 1-based (line, column),
like `Span`s.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass, field
from typing import Any

from nndsl import dims, ir
from nndsl.catalog import api
from nndsl.catalog.core import FUNCTIONS, LAYERS
from nndsl.catalog.training import (
    COMMON_DATA_OPTIONS,
    DATA_SOURCES,
    METRICS,
    STREAM_DATA_OPTIONS,
    TRAIN_KEYS,
)
from nndsl.check import Checked, check_file
from nndsl.check.graph import BlockInstance, ModuleSlot, Op, TensorV
from nndsl.check.summary import fmt_count, format_type
from nndsl.errors import Span
from nndsl.incremental import Session

KEYWORDS = (
    "model",
    "block",
    "train",
    "input",
    "param",
    "buffer",
    "tie",
    "init",
    "const",
    "import",
    "from",
    "for",
    "in",
    "return",
    "if",
    "else",
    "and",
    "or",
    "not",
    "true",
    "false",
    "none",
)


@dataclass
class Hover:
    span: Span
    lines: list[str]  # markdown paragraphs (one per distinct use)


@dataclass
class Analysis:
    """One check of a document and the indexes built from it."""

    path: str
    checked: Checked
    # file → span → hover texts (a dict as an ordered set: one per distinct use); built by
    # `build`, on the first hover (a re-check after an edit does not wait for it)
    _hovers: dict[str, dict[Span, dict[str, None]]] | None = None

    @property
    def hovers(self) -> dict[str, dict[Span, dict[str, None]]]:
        if self._hovers is None:
            self.build()
        assert self._hovers is not None
        return self._hovers

    # ---- hover ---------------------------------------------------------------------------------

    def hover(self, path: str, line: int, col: int) -> Hover | None:
        """The innermost span of `path` holding (line, col) that the checker knows about."""
        best: tuple[Span, dict[str, None]] | None = None
        for span, texts in self.hovers.get(_norm(path), {}).items():
            if _inside(span, line, col) and (best is None or _size(span) < _size(best[0])):
                best = (span, texts)
        if best is None:
            return None
        return Hover(best[0], list(best[1]))

    # ---- definitions ---------------------------------------------------------------------------

    def definition(self, path: str, text: str, line: int, col: int) -> Span | str | None:
        """Where the name under the cursor is declared (a Span), or the file an `import "..."`
        under the cursor names (a path)."""
        program = self.checked.program
        source = program.files.get(path) or program.files.get(_norm(path))
        if source is not None:
            for d in source.decls:
                if isinstance(d, ir.Import) and _inside(d.span, line, col):
                    target = os.path.normpath(os.path.join(os.path.dirname(path), d.path))
                    return target if os.path.isfile(target) else None
        word = word_at(text, line, col)
        if word is None:
            return None
        for decl in program.decls():
            if isinstance(decl, ir.BlockDecl) and decl.name == word:
                return decl.name_span
            if isinstance(decl, ir.ConstDecl) and decl.name == word:
                return decl.span
            if isinstance(decl, ir.TrainDecl) and decl.name == word:
                return decl.span
        return None

    # ---- index ---------------------------------------------------------------------------------

    def build(self) -> Analysis:
        if self._hovers is not None:
            return self
        self._hovers = {}
        seen: set[int] = set()
        for inst in self.checked.models.values():
            if inst is not None:
                self._instance(inst, seen)
        return self

    def _add(self, span: Span | None, text: str) -> None:
        if span is None or not span.line:
            return
        entries = self.hovers.setdefault(_norm(span.file), {})
        entries.setdefault(span, {}).setdefault(text)

    def _instance(self, inst: BlockInstance, seen: set[int]) -> None:
        if id(inst) in seen:
            return
        seen.add(id(inst))
        for name, value in inst.inputs:
            for item in _input_items(inst.decl):
                if item.name == name:
                    self._add(item.span, f"`{name}`: `{_type(value.type)}` (input of {inst.name})")
        for p in inst.param_tensors:
            self._add(
                p.span, f"parameter `{p.name}`: `{_type(p.type)}`, {fmt_count(p.count)} parameters"
            )
        named: dict[str, list[tuple[Span, Any]]] = {}
        for (op_index, _path), name in inst.names.items():
            op = inst.ops[op_index] if 0 <= op_index < len(inst.ops) else None
            if op is not None:
                named.setdefault(name, []).append((op.span, op.out))
        for op in inst.ops:
            self._op(op, inst, seen)
        self._names(inst, named)

    def _op(self, op: Op, inst: BlockInstance, seen: set[int]) -> None:
        out = f"`{_type(op.out)}`"
        if op.kind == "module":
            slot: ModuleSlot = op.target
            self._add(op.span, _slot_text(slot, op, inst))
            self._slot_children(slot, seen)
        elif op.kind == "function":
            name = op.entry.name if op.entry else str(op.target)
            torch = op.entry.torch if op.entry else name
            self._add(op.span, f"**{name}** → {out}  \n`{torch}` · no parameters")
        elif op.kind == "param":
            self._add(op.span, f"parameter `{op.target.name}` → {out}")
        elif op.kind == "buffer":
            self._add(op.span, f"buffer `{op.target.name}` → {out}")
        elif op.kind in ("binop", "unary"):
            self._add(op.span, f"`{op.target}` → {out}")
        elif op.kind == "index":
            self._add(op.span, f"indexing → {out}")

    def _slot_children(self, slot: ModuleSlot, seen: set[int]) -> None:
        if slot.kind == "block" and slot.instance is not None:
            self._instance(slot.instance, seen)
        for child in slot.children:
            self._add(child.span, _slot_text(child, None, None))
            self._slot_children(child, seen)

    def _names(self, inst: BlockInstance, named: dict[str, list[tuple[Span, Any]]]) -> None:
        """Every use of a named value in the block's body: the type it has there."""
        inputs = {name: value for name, value in inst.inputs}
        by_start = {
            n: sorted(((s.line, s.col), id(o), o) for s, o in defs) for n, defs in named.items()
        }
        by_end = {
            n: sorted(((s.end_line, s.end_col), id(o), o) for s, o in defs)
            for n, defs in named.items()
        }
        here = dict(self.hovers.get(_norm(inst.decl.span.file), {}))
        for node in _walk(inst.decl):
            if isinstance(node, ir.Labeled) and node.expr.span in here:
                for text in here[node.expr.span]:  # the label names the layer
                    self._add(node.label_span, text)
            if isinstance(node, (ir.Name, ir.NameTarget)) and (
                node.id in named or node.id in inputs
            ):
                t = None
                defs = by_start.get(node.id, ())
                where = (node.span.line, node.span.col)
                if isinstance(node, ir.NameTarget):
                    k = bisect.bisect_left([d[0] for d in defs], where)
                    t = defs[k][2] if k < len(defs) else None
                else:
                    ends = by_end.get(node.id, ())
                    k = bisect.bisect_right([d[0] for d in ends], where)
                    if k:
                        t = ends[k - 1][2]
                    elif node.id in inputs:
                        t = inputs[node.id].type
                if t is not None:
                    self._add(node.span, f"`{node.id}`: `{_type(t)}`")


def analyse(
    path: str, text: str | None = None, *, imports: bool = False, session: Session | None = None
) -> Analysis:
    """Check a document (its text as the editor holds it); what the checker learnt is indexed
    for hovers when the first hover asks.  `session`: a language server's Session
    (nndsl/incremental.py), which re-reads only what changed since its last check."""
    if session is not None:
        return Analysis(path, session.check(path, text, imports=imports))
    return Analysis(path, check_file(path, text, imports=imports))


# ---- hover texts ---------------------------------------------------------------------------


_TYPE_TEXT: dict[tuple, str] = {}  # (class, type) → its text: most ops share a few types


def _type(t: Any) -> str:
    """`format_type`, remembered (building the hover index formats thousands of types)."""
    try:
        key = (t.__class__, t)
        text = _TYPE_TEXT.get(key)
    except TypeError:  # not hashable
        return format_type(t)
    if text is None:
        if len(_TYPE_TEXT) > 4096:
            _TYPE_TEXT.clear()
        text = _TYPE_TEXT[key] = format_type(t)
    return text


def _slot_text(slot: ModuleSlot, op: Op | None, inst: BlockInstance | None) -> str:
    label = f" `{slot.name}`" if slot.name and not slot.name.isdigit() else ""
    head = f"**{slot.type_name}**{label}"
    if slot.in_type is not None:
        head += f": `{_type(slot.in_type)}` → `{_type(slot.out_type)}`"
    elif slot.out_type is not None:
        head += f" → `{_type(slot.out_type)}`"
    dtype = _dtype(slot.out_type)
    lines = [
        head,
        f"{fmt_count(slot.total_params())} parameters" + (f" · {dtype}" if dtype else ""),
    ]
    call = constructor(slot)
    if call:
        lines.append(f"```python\n{call}\n```")
    return "  \n".join(lines[:2]) + ("\n\n" + lines[2] if len(lines) > 2 else "")


def _dtype(t: Any) -> str | None:
    if hasattr(t, "dtype"):
        return t.dtype
    if isinstance(t, tuple) and t and hasattr(t[0], "dtype"):
        return t[0].dtype
    return None


def constructor(slot: ModuleSlot) -> str | None:
    """The Python the slot becomes: `nn.Conv2d(16, 32, 3, padding=1)`, `BasicBlock(64)`."""
    from nndsl.codegen.model import torch_call

    try:
        if slot.kind == "torch":
            entry = slot.entry
            return torch_call(
                slot.type_name,
                slot.args or {},
                entry.inferred if entry else (),
                slot.user_args,
                slot.user_kwargs,
            )
        if slot.kind == "block" and slot.instance is not None:
            from nndsl.codegen.pysrc import literal

            inst = slot.instance
            args = [
                f"{p.name}={literal(inst.params[p.name])}"
                for p in inst.decl.params
                if p.name in inst.params
            ]
            return f"{slot.type_name}({', '.join(args)})"
        if slot.kind == "sequential":
            return (
                "nn.Sequential("
                + ", ".join(constructor(c) or c.type_name for c in slot.children[:4])
                + (", ...)" if len(slot.children) > 4 else ")")
            )
    except Exception:  # a value generated code spells differently (symbolic sizes)
        return None
    return None


# ---- completion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    label: str
    kind: str  # "layer" | "function" | "keyword" | "argument" | "block" | "key" | "source" | ...
    detail: str = ""


def complete(text: str, line: int, col: int, checked: Checked | None = None) -> list[Completion]:
    """What may be written at (line, col) of `text`."""
    lines = text.split("\n")
    before = "\n".join(
        lines[: line - 1] + [lines[line - 1][: col - 1] if line <= len(lines) else ""]
    )
    section = _section(before)
    call = _open_call(before)
    if call is not None:
        return _arguments(call, checked)
    current = before.rsplit("\n", 1)[-1]
    if section == "train":
        m = re.match(r"\s*(\w+)\s*=\s*(\[?)[\w, ]*$", current)
        if m is None:
            if re.match(r"\s*\w*$", current):
                return [Completion(k.name, "key", k.description) for k in TRAIN_KEYS.values()]
            return []
        key = m.group(1)
        if key == "data":
            return [Completion(n, "source", "data source") for n in DATA_SOURCES]
        if key == "loss":
            return [Completion(n, "layer", "loss") for n in api.module_names() if api.is_loss(n)]
        if key == "optimizer":
            from nndsl.catalog import torch_api

            return [Completion(n, "function", "optimizer") for n in torch_api.OPTIMIZERS]
        if key == "scheduler":
            from nndsl.catalog import torch_api

            return [Completion(n, "function", "scheduler") for n in torch_api.SCHEDULERS]
        if key == "metrics":
            return [Completion(n, "value", "metric") for n in METRICS]
        if key == "model" and checked is not None:
            return [Completion(n, "block", "model") for n in checked.models]
        return []
    out = [Completion(n, "layer", "torch.nn." + n) for n in sorted(LAYERS)]
    out += [Completion(n, "function", FUNCTIONS[n].torch) for n in sorted(FUNCTIONS)]
    if checked is not None:
        for decl in checked.program.decls():
            if isinstance(decl, ir.BlockDecl):
                out.append(Completion(decl.name, "block", decl.kind))
            elif isinstance(decl, ir.ConstDecl):
                out.append(Completion(decl.name, "constant", "const"))
    out += [Completion(k, "keyword") for k in KEYWORDS]
    return out


def _section(before: str) -> str | None:
    """The kind of the top-level declaration the text before the cursor ends in."""
    heads = re.findall(r"^(model|block|train)\b", before, re.M)
    return heads[-1] if heads else None


def _open_call(before: str) -> str | None:
    """The name of the call whose parentheses the cursor is inside (at the top of them)."""
    depth = 0
    text = re.sub(r"#[^\n]*", "", before[-4000:])
    text = re.sub(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'", '""', text)
    for i in range(len(text) - 1, -1, -1):
        ch = text[i]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                if ch == "[":
                    return None
                m = re.search(r"([A-Za-z_]\w*)\s*$", text[:i])
                return m.group(1) if m else None
            depth -= 1
        elif ch in "{}":
            return None
    return None


def _arguments(call: str, checked: Checked | None) -> list[Completion]:
    """Keyword arguments of a call: torch's real signature for modules and functions, the
    options of a data source, the parameters of a block."""
    names: list[str] = []
    detail = call
    if call in DATA_SOURCES:
        names = [
            *DATA_SOURCES[call].options,
            *COMMON_DATA_OPTIONS,
            *STREAM_DATA_OPTIONS.get(call, ()),
        ]
        detail = f"data source {call}"
    elif api.module_signature(call) is not None:
        entry = LAYERS.get(call)
        inferred = entry.inferred if entry else ()
        names = [
            p
            for p, kind, _ in api.module_signature(call) or ()
            if kind in ("pos_or_kw", "kw_only") and p not in inferred
        ]
        detail = f"torch.nn.{call}"
    elif call in FUNCTIONS:
        entry = FUNCTIONS[call]
        sig = (
            entry.signature
            or api.functional_signature(call)
            or api.torch_function_signature(call)
            or ()
        )
        names = [
            p
            for p, kind, _ in sig
            if kind in ("pos_or_kw", "kw_only") and p not in entry.tensor_params
        ]
        names += [k for k in entry.keywords if k not in names]
        detail = entry.torch
    else:
        from nndsl.catalog import torch_api

        sig = torch_api.OPTIMIZERS.get(call) or torch_api.SCHEDULERS.get(call)
        if sig is not None:
            names = [
                p
                for p, kind, _ in sig
                if kind in ("pos_or_kw", "kw_only") and p not in ("params", "optimizer")
            ]
        elif checked is not None:
            for decl in checked.program.decls():
                if isinstance(decl, ir.BlockDecl) and decl.name == call:
                    names = [p.name for p in decl.params]
                    detail = f"{decl.kind} {call}"
    return [Completion(n + "=", "argument", detail) for n in names]


# ---- symbols -------------------------------------------------------------------------------


@dataclass
class Symbol:
    name: str
    kind: str  # "block" | "model" | "train" | "const" | "import" | "key"
    span: Span
    selection: Span
    children: list[Symbol] = field(default_factory=list)


def symbols(source: ir.SourceFile) -> list[Symbol]:
    out = []
    for d in source.decls:
        if isinstance(d, ir.BlockDecl):
            out.append(Symbol(d.name, d.kind, d.span, d.name_span))
        elif isinstance(d, ir.TrainDecl):
            keys = [Symbol(e.key, "key", e.span, e.key_span) for e in d.entries]
            out.append(
                Symbol("train" + (f" {d.name}" if d.name else ""), "train", d.span, d.span, keys)
            )
        elif isinstance(d, ir.ConstDecl):
            out.append(Symbol(d.name, "const", d.span, d.span))
        elif isinstance(d, ir.Import):
            out.append(Symbol(d.path, "import", d.span, d.span))
    return out


# ---- helpers -------------------------------------------------------------------------------


def word_at(text: str, line: int, col: int) -> str | None:
    lines = text.split("\n")
    if not 1 <= line <= len(lines):
        return None
    s = lines[line - 1]
    for m in re.finditer(r"[A-Za-z_]\w*", s):
        if m.start() <= col - 1 <= m.end():
            return m.group()
    return None


def _inside(span: Span, line: int, col: int) -> bool:
    return (span.line, span.col) <= (line, col) < (span.end_line, span.end_col) or (
        (span.line, span.col) <= (line, col) == (span.end_line, span.end_col)
    )


def _size(span: Span) -> tuple[int, int]:
    return (span.end_line - span.line, span.end_col - span.col)


def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _input_items(decl: ir.BlockDecl):
    for s in decl.body:
        if isinstance(s, ir.InputDecl):
            yield from s.items


def _walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(ir.children(n))


__all__ = [
    "Analysis",
    "Completion",
    "Hover",
    "Symbol",
    "analyse",
    "complete",
    "symbols",
    "word_at",
    "constructor",
    "dims",
    "TensorV",
]
