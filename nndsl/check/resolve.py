"""Name resolution: every name of a program refers to something, and nothing is defined twice.

Runs after parsing and before shape inference.  It reports undefined values, layers, blocks and
constants (with a did-you-mean), duplicate definitions, misuse of values as layers, and the keys
of `train` sections.  The resulting `Symbols` table is what later passes look names up in.
"""

from __future__ import annotations

from collections.abc import Iterable

from nndsl import ir
from nndsl.catalog import api, torch_names
from nndsl.catalog.core import FUNCTIONS
from nndsl.catalog.functions import CASTS
from nndsl.errors import Diagnostic, Note, Span, error, source_lines, warning
from nndsl.records import dataclass, field
from nndsl.syntax.loader import Program

BUILTIN_FUNCTIONS = (
    "range", "len", "min", "max", "abs", "int", "float", "round", "sum", "zip", "enumerate",
)  # fmt: skip
SCALAR_TYPES = ("int", "float", "bool", "str")
_TORCH_PREFIXES = ("torch", "F", "nn", "functional")  # written as in Python, not in a spec
CONTAINER_TYPES = ("list", "tuple")
DTYPES = (
    "float", "float32", "float64", "double", "half", "float16", "bfloat16",
    "long", "int64", "int", "int32", "int16", "int8", "uint8", "bool",
)  # fmt: skip


@dataclass
class Symbols:
    """The top-level definitions of a program, by name."""

    blocks: dict[str, ir.BlockDecl] = field(default_factory=dict)  # blocks and models
    consts: dict[str, ir.ConstDecl] = field(default_factory=dict)
    pymodules: dict[str, tuple[ir.PyImport, ir.ImportedName]] = field(default_factory=dict)
    trains: list[ir.TrainDecl] = field(default_factory=list)
    root_trains: list[ir.TrainDecl] = field(default_factory=list)
    models: list[ir.BlockDecl] = field(default_factory=list)  # models of the root file, in order

    def definition(self, name: str):
        return self.blocks.get(name) or self.consts.get(name) or self.pymodules.get(name)


def is_layer_name(name: str) -> bool:
    return api.module_signature(name) is not None


def is_function_name(name: str) -> bool:
    return (
        api.functional_signature(name) is not None
        or api.torch_function_signature(name) is not None
        or name in FUNCTIONS
        or name in torch_names.FUNCTIONAL
        or name in torch_names.TORCH
        or name in torch_names.TENSOR
        or name in torch_names.REFUSED  # refused where it is used, with the reason
    )


def resolve(program: Program) -> tuple[Symbols, list[Diagnostic]]:
    r = _Resolver(program)
    r.run()
    return r.symbols, r.diags


class _Resolver:
    def __init__(self, program: Program):
        self.program = program
        self.symbols = Symbols()
        self.diags: list[Diagnostic] = []
        self.labels: set[str] = set()  # the labels of the block being resolved

    # ---- top level ----------------------------------------------------------------------------

    def run(self) -> None:
        firsts: dict[str, object] = {}
        for decl in self.program.decls():
            name_span = None
            names: list[tuple[str, object]] = []
            if isinstance(decl, ir.BlockDecl):
                names = [(decl.name, decl)]
                name_span = decl.name_span
            elif isinstance(decl, ir.ConstDecl):
                names = [(decl.name, decl)]
                name_span = self.const_name_span(decl)
            elif isinstance(decl, ir.PyImport):
                names = [(n.local, (decl, n)) for n in decl.names]
            for name, what in names:
                span = name_span or (what[1].span if isinstance(what, tuple) else what.span)
                if name in firsts:
                    first = firsts[name]
                    first_span = (
                        first[1].span
                        if isinstance(first, tuple)
                        else getattr(first, "name_span", None)
                        or (
                            self.const_name_span(first)
                            if isinstance(first, ir.ConstDecl)
                            else first.span
                        )
                    )
                    self.diags.append(
                        error(
                            f"`{name}` is defined twice",
                            span,
                            notes=[Note("first defined at {at}", first_span)],
                            hint="rename one of them",
                        )
                    )
                    continue
                firsts[name] = what
                if isinstance(what, ir.BlockDecl):
                    self.symbols.blocks[name] = what
                    if is_layer_name(name) or is_function_name(name):
                        self.diags.append(
                            warning(
                                f"{what.kind} `{name}` hides torch's `{name}` in this file", span
                            )
                        )
                elif isinstance(what, ir.ConstDecl):
                    self.symbols.consts[name] = what
                else:
                    self.symbols.pymodules[name] = what
            if isinstance(decl, ir.TrainDecl):
                self.symbols.trains.append(decl)
        root = self.program.root_file
        if root is not None:
            self.symbols.models = [
                d for d in root.decls if isinstance(d, ir.BlockDecl) and d.kind == "model"
            ]
            self.symbols.root_trains = [d for d in root.decls if isinstance(d, ir.TrainDecl)]

        for decl in self.program.decls():
            if isinstance(decl, ir.ConstDecl):
                self.expr(decl.value, Scope(self, None, {}), "value")
            elif isinstance(decl, ir.BlockDecl):
                self.block(decl)
        self.trains()

    def const_name_span(self, decl: ir.ConstDecl) -> Span:
        """The span of the name in `const NAME = ...` (the IR keeps only the declaration's)."""
        lines = source_lines(self.program.sources.get(decl.span.file, ""))
        line = [lines[decl.span.line - 1]] if 0 < decl.span.line <= len(lines) else []
        if line:
            start = decl.span.col - 1 + len("const")
            at = line[0].find(decl.name, start)
            if at >= 0 and not line[0][start:at].strip():
                col = at + 1
                return Span(
                    decl.span.file, decl.span.line, col, decl.span.line, col + len(decl.name)
                )
        return decl.span

    # ---- bodies -------------------------------------------------------------------------------

    def block(self, decl: ir.BlockDecl) -> None:
        scope = Scope(self, None, {})
        for p in decl.params:
            if p.type is not None:
                self.type_ref(p.type)
            if p.default is not None:
                self.expr(p.default, scope, "value")
            if p.name in scope.names:
                self.diags.append(error(f"parameter `{p.name}` is declared twice", p.span))
            scope.bind(p.name, "param")
        # labels name submodules; a label used again (`b -> tower`) applies the same module
        self.labels = {n.label for s in decl.body for n in ir.walk(s) if isinstance(n, ir.Labeled)}
        self._decl = decl
        self.body_order(decl)
        self.stmts(decl.body, scope, decl)

    def body_order(self, decl: ir.BlockDecl) -> None:
        """An input declared twice (the first could never be used), and a statement after a
        `return` (it would never run; `tie` and `init` declare, and may follow): errors."""
        inputs: dict[str, Span] = {}
        ended: Span | None = None
        for stmt in decl.body:
            if ended is not None and not isinstance(stmt, (ir.Tie, ir.InitStmt)):
                self.diags.append(
                    error(
                        "a statement after `return` would never run",
                        stmt.span,
                        notes=[Note("the body returns at {at}", ended)],
                        hint="`return` ends the body: move it after the last statement",
                    )
                )
                return
            if isinstance(stmt, ir.Return):
                ended = stmt.span
            elif isinstance(stmt, ir.InputDecl):
                for item in stmt.items:
                    if item.name in inputs:
                        self.diags.append(
                            error(
                                f"input `{item.name}` is declared twice",
                                item.span,
                                notes=[Note("first declared at {at}", inputs[item.name])],
                                hint="give each input its own name",
                            )
                        )
                    inputs.setdefault(item.name, item.span)

    def stmts(self, body: Iterable[ir.Stmt], scope: Scope, decl: ir.BlockDecl) -> None:
        for stmt in body:
            if isinstance(stmt, ir.InputDecl):
                for item in stmt.items:
                    if item.type is not None:
                        self.tensor_type(item.type, scope, new_symbols=True)
                    scope.bind(item.name, "input")
            elif isinstance(stmt, ir.ParamDecl):
                self.tensor_type(stmt.type, scope, new_symbols=False)
                if stmt.init is not None:
                    self.initializer(stmt.init, scope)
                scope.bind(stmt.name, "param_tensor")
            elif isinstance(stmt, ir.BufferDecl):
                self.expr(stmt.value, scope, "value")
                for o in stmt.options:
                    self.expr(o.value, scope, "value")
                scope.bind(stmt.name, "buffer")
            elif isinstance(stmt, ir.InitStmt):
                self.initializer(stmt.init, scope)
            elif isinstance(stmt, ir.Assign):
                self.expr(stmt.value, scope, "statement")
                self.bind_target(stmt.target, scope)
            elif isinstance(stmt, ir.ExprStmt):
                self.expr(stmt.value, scope, "statement")
            elif isinstance(stmt, ir.For):
                self.expr(stmt.iter, scope, "value")
                self.bind_target(stmt.target, scope)
                self.stmts(stmt.body, scope, decl)
            elif isinstance(stmt, ir.Return):
                for v in stmt.values:
                    self.expr(v, scope, "value")
            elif isinstance(stmt, ir.Log):
                for name, span in zip(stmt.names, stmt.name_spans):
                    self.name(ir.Name(id=name, span=span), scope, "value")

    def bind_target(self, target: ir.Target, scope: Scope) -> None:
        if isinstance(target, ir.NameTarget):
            scope.bind(target.id, "value")
        else:
            for t in target.items:
                self.bind_target(t, scope)

    def tensor_type(self, t: ir.TensorType, scope: Scope, *, new_symbols: bool) -> None:
        if t.dtype is not None and t.dtype not in DTYPES:
            self.diags.append(
                error(
                    f"unknown dtype `{t.dtype}`",
                    t.dtype_span or t.span,
                    hint=_did_you_mean(t.dtype, DTYPES)
                    or "use long for token ids, float for features",
                )
            )
        for dim in t.dims:
            for node in ir.walk(dim):
                if isinstance(node, ir.Name) and node.id not in scope.all_names():
                    if new_symbols:
                        scope.bind(node.id, "symbol")
                    else:
                        self.undefined(node, scope, "a dimension")
                elif isinstance(
                    node, (ir.Call, ir.Chain, ir.Labeled, ir.Str, ir.ListExpr, ir.TupleExpr)
                ):
                    self.diags.append(
                        error("a dimension is a number, a name or arithmetic on them", node.span)
                    )
                    break

    def initializer(self, init: ir.Expr, scope: Scope) -> None:
        call = init if isinstance(init, ir.Call) else None
        func = call.func if call else init
        if isinstance(func, ir.Name):
            if api.init_function(func.id) is None:
                self.diags.append(
                    error(
                        f"unknown initialiser `{func.id}`",
                        func.span,
                        hint=_did_you_mean(func.id, api.init_names())
                        or "known: " + ", ".join(api.init_names()),
                    )
                )
        else:
            self.diags.append(
                error("a parameter's initialiser is a call such as `normal(std=0.02)`", init.span)
            )
        if call:
            for a in call.args:
                self.expr(a, scope, "value")
            for k in call.kwargs:
                self.expr(k.value, scope, "value")

    def type_ref(self, t: ir.TypeRef) -> None:
        if t.name in SCALAR_TYPES:
            if t.args:
                self.diags.append(error(f"type `{t.name}` takes no arguments", t.span))
        elif t.name in CONTAINER_TYPES:
            for a in t.args:
                self.type_ref(a)
        else:
            self.diags.append(
                error(
                    f"unknown parameter type `{t.name}`",
                    t.span,
                    hint=_did_you_mean(t.name, SCALAR_TYPES + CONTAINER_TYPES)
                    or "parameters are int, float, bool, str, or list[...] / tuple[...] of those",
                )
            )

    # ---- expressions --------------------------------------------------------------------------

    def expr(self, e: ir.Expr, scope: Scope, role: str) -> None:
        """Resolve the names of `e`.  `role`: "statement" (may start a chain from the current value),
        "stage" (a chain stage after the first: a layer, block or function), "callee", "value"."""
        if isinstance(e, ir.Name):
            self.name(e, scope, role)
        elif isinstance(e, ir.Chain):
            for i, stage in enumerate(e.stages):
                self.expr(
                    stage,
                    scope,
                    role if i == 0 and role != "value" else ("value" if i == 0 else "stage"),
                )
        elif isinstance(e, ir.Labeled):
            for hole in e.holes:
                self.expr(hole, scope, "value")
            self.expr(e.expr, scope, "stage" if role in ("stage", "statement") else role)
        elif isinstance(e, ir.ForLayers):
            self.expr(e.iter, scope, "value")
            self.bind_target(e.target, scope)
            self.stmts(e.body, scope, getattr(self, "_decl", None))  # type: ignore[arg-type]
        elif isinstance(e, ir.Paren):
            self.expr(e.expr, scope, role)
        elif isinstance(e, ir.Call):
            if isinstance(e.func, ir.Name):
                self.name(e.func, scope, "callee")
            else:
                self.expr(e.func, scope, "value")
            for a in e.args:
                self.expr(a, scope, "value")
            for k in e.kwargs:
                self.expr(k.value, scope, "value")
        elif isinstance(e, ir.BinOp):
            # `Block(...) * n` repeats a layer: its left side may be a stage
            self.expr(
                e.left, scope, role if e.op == "*" and role in ("stage", "statement") else "value"
            )
            self.expr(e.right, scope, "value")
        elif isinstance(e, ir.Attribute):
            self.expr(e.value, scope, "value")
        elif isinstance(e, ir.IfExp):
            self.expr(e.cond, scope, "value")
            self.expr(e.then, scope, role)
            self.expr(e.orelse, scope, role)
        else:
            for child in ir.children(e):
                self.expr(child, scope, "value")  # type: ignore[arg-type]

    def name(self, n: ir.Name, scope: Scope, role: str) -> None:
        kind = scope.lookup(n.id)
        if kind is not None:
            if role in ("stage", "callee") and kind in ("value", "input", "param_tensor", "buffer"):
                what = {"callee": "called", "stage": "used as a chain stage"}[role]
                self.diags.append(
                    error(
                        f"`{n.id}` is a tensor value and cannot be {what}",
                        n.span,
                        hint="a chain stage is a layer, a block or a function; to combine values "
                        "write an expression such as `relu(a + b)`",
                    )
                )
            return
        if n.id in self.symbols.blocks or n.id in self.symbols.pymodules:
            return
        if n.id in self.symbols.consts:
            return
        if n.id in self.labels:
            return  # a submodule's label, applied again (the evaluator checks the order)
        if is_layer_name(n.id) or is_function_name(n.id):
            return
        if n.id in CASTS:  # `x.to(long)`
            return
        if role == "callee" and n.id in BUILTIN_FUNCTIONS:
            return
        self.undefined(n, scope, "a function" if role in ("stage", "callee") else "a name")

    def undefined(self, n: ir.Name, scope: Scope, what: str) -> None:
        values = list(scope.all_names())
        defs = list(self.symbols.blocks) + list(self.symbols.consts) + list(self.symbols.pymodules)
        if n.id[:1].isupper():
            pool = defs + list(api.module_names())
            kind = "layer or block"
        else:
            pool = values + defs + list(api.function_names())
            kind = "name"
        suggestion = api.suggest(n.id, pool)
        hint = f"did you mean `{suggestion[0]}`?" if suggestion else None
        if n.id in ("True", "False", "None"):  # Python's spelling of the literals
            hint = f"the literals are written `true`, `false` and `none`: `{n.id.lower()}`"
        if n.id in _TORCH_PREFIXES:  # `torch.flatten`, `F.relu`, `nn.Linear`
            hint = (
                "torch's functions and layers are written without a module prefix: "
                "`flatten`, `relu`, `Linear(10)`"
            )
        if hint is None and n.id[:1].isupper():
            hint = "layers are torch.nn modules (Conv2d, Linear, ...), blocks of this file, or imported with `from pkg import Name`"
        elif hint is None:
            hint = scope.describe()
        if kind != "name":
            message = f"unknown {kind} `{n.id}`"
        elif what == "a function":
            message = f"unknown function `{n.id}`"
        else:
            message = f"undefined name `{n.id}`"
        if n.id in ("True", "False", "None"):
            message = f"`{n.id}` is Python's spelling, not the language's"
        self.diags.append(error(message, n.span, hint=hint))

    # ---- train sections -----------------------------------------------------------------------

    def trains(self) -> None:
        names: dict[str | None, ir.TrainDecl] = {}
        for t in self.symbols.root_trains:
            if t.name in names:
                label = f"train section `{t.name}`" if t.name else "an unnamed train section"
                self.diags.append(
                    error(
                        f"{label} is defined twice",
                        _head(t),
                        notes=[Note("first defined at {at}", _head(names[t.name]))],
                        hint="name them: `train Long { ... }`",
                    )
                )
            names[t.name] = t
            self.train(t)

    def train(self, t: ir.TrainDecl) -> None:
        from nndsl.catalog.training import TRAIN_KEYS  # (a spec without train sections: not needed)

        seen: dict[str, ir.TrainEntry] = {}
        misspelt: set[str] = set()  # keys written, but misspelt (reported once, not as missing)
        for e in t.entries:
            if e.key not in TRAIN_KEYS:
                close = api.suggest(e.key, list(TRAIN_KEYS))
                misspelt.update(close[:1])
                if e.key in _ARGUMENT_KEYS:
                    owner, example = _ARGUMENT_KEYS[e.key]
                    hint = f"`{e.key}` is an argument of the {owner}: `{example}`"
                elif close:
                    hint = f"did you mean `{close[0]}`?"
                else:
                    hint = "known keys: " + ", ".join(TRAIN_KEYS)
                self.diags.append(error(f"unknown train key `{e.key}`", e.key_span, hint=hint))
                continue
            if e.key in seen:
                self.diags.append(
                    error(
                        f"train key `{e.key}` is given twice",
                        e.key_span,
                        notes=[Note("first given at {at}", seen[e.key].key_span)],
                    )
                )
                continue
            seen[e.key] = e
        missing = [
            k
            for k, spec in TRAIN_KEYS.items()
            if spec.required and k not in seen and k not in misspelt
        ]
        if len(missing) == 1:
            key = missing[0]
            self.diags.append(
                error(
                    f"the train section has no `{key}`",
                    _head(t),
                    hint=f"add `{key} = ...`: {TRAIN_KEYS[key].description}",
                )
            )
        elif missing:
            names = ", ".join(f"`{k}`" for k in missing[:-1]) + f" and `{missing[-1]}`"
            self.diags.append(
                error(
                    f"the train section is missing {names}",
                    _head(t),
                    hint="add them, e.g. "
                    + ", ".join(f"`{k} = {_TRAIN_EXAMPLES.get(k, '...')}`" for k in missing),
                )
            )
        if "model" in seen:
            self.train_model(seen["model"])
        elif len(self.symbols.models) != 1:
            which = ", ".join(m.name for m in self.symbols.models) or "none in this file"
            self.diags.append(
                error(
                    "the train section does not say which model to train",
                    _head(t),
                    hint=f"add `model = Name` (models: {which})",
                )
            )
        if "data" in seen:
            self.train_data(seen["data"])

    def train_model(self, e: ir.TrainEntry) -> None:
        v = e.value
        name = v.func if isinstance(v, ir.Call) else v
        if not isinstance(name, ir.Name):
            self.diags.append(
                error(
                    "`model` is the name of a model, optionally with arguments: `ResNet18(num_classes=10)`",
                    v.span,
                )
            )
            return
        decl = self.symbols.blocks.get(name.id)
        if decl is None:
            models = [m for m, d in self.symbols.blocks.items() if d.kind == "model"]
            close = api.suggest(name.id, models)
            self.diags.append(
                error(
                    f"unknown model `{name.id}`",
                    name.span,
                    hint=f"did you mean `{close[0]}`?"
                    if close
                    else "models: " + (", ".join(models) or "none"),
                )
            )
        elif decl.kind != "model":
            self.diags.append(
                error(
                    f"`{name.id}` is a block; a train section trains a model",
                    name.span,
                    hint=f"declare it with `model {name.id}` or wrap it in a model",
                )
            )

    def train_data(self, e: ir.TrainEntry) -> None:
        from nndsl.catalog.training import DATA_SOURCES

        v = e.value
        name = v.func if isinstance(v, ir.Call) else v
        if not isinstance(name, ir.Name):
            self.diags.append(
                error("`data` is a data source such as `digits(val_split=0.2)`", v.span)
            )
            return
        if name.id not in DATA_SOURCES:
            close = api.suggest(name.id, list(DATA_SOURCES))
            self.diags.append(
                error(
                    f"unknown data source `{name.id}`",
                    name.span,
                    hint=f"did you mean `{close[0]}`?"
                    if close
                    else "data sources: " + ", ".join(DATA_SOURCES),
                )
            )


class Scope:
    """The names bound in a body so far.  Blocks see their parameters and the file's constants."""

    def __init__(self, resolver: _Resolver, parent: Scope | None, names: dict[str, str]):
        self.resolver = resolver
        self.parent = parent
        self.names = names

    def bind(self, name: str, kind: str) -> None:
        self.names[name] = kind

    def lookup(self, name: str) -> str | None:
        if name in self.names:
            return self.names[name]
        if self.parent is not None:
            return self.parent.lookup(name)
        if name in self.resolver.symbols.consts:
            return "const"
        return None

    def ordered(self) -> list[tuple[str, str]]:
        """(name, kind) of every name bound in this body, outermost and earliest first."""
        out = self.parent.ordered() if self.parent is not None else []
        return out + list(self.names.items())

    def describe(self) -> str | None:
        """What is defined at this point, for a hint after an undefined name."""
        groups: dict[str, list[str]] = {}
        for name, kind in self.ordered():
            label = {"param": "parameter", "symbol": "dimension"}.get(kind, "value")
            if name not in groups.setdefault(label, []):
                groups[label].append(name)
        consts = list(self.resolver.symbols.consts)
        if consts:
            groups["constant"] = consts
        parts = []
        for label in ("value", "parameter", "constant"):
            names = groups.get(label, [])
            if names:
                shown = ", ".join(f"`{n}`" for n in names[:8]) + (", ..." if len(names) > 8 else "")
                parts.append(f"{label}{'s' if len(names) > 1 else ''} {shown}")
        return "known here: " + "; ".join(parts) if parts else None

    def all_names(self) -> set[str]:
        out = set(self.names)
        if self.parent is not None:
            out |= self.parent.all_names()
        return out | set(self.resolver.symbols.consts)


def _head(t: ir.TrainDecl) -> Span:
    """The `train` keyword of a train section: where to point at the whole section."""
    return Span(t.span.file, t.span.line, t.span.col, t.span.line, t.span.col + len("train"))


# Keys users write at the top of a train section that are arguments of one of its values.
_ARGUMENT_KEYS = {
    "lr": ("optimizer", "optimizer = Adam(lr=1e-3)"),
    "learning_rate": ("optimizer", "optimizer = Adam(lr=1e-3)"),
    "weight_decay": ("optimizer", "optimizer = AdamW(lr=1e-3, weight_decay=1e-2)"),
    "momentum": ("optimizer", "optimizer = SGD(lr=0.1, momentum=0.9)"),
    "betas": ("optimizer", "optimizer = Adam(lr=1e-3, betas=(0.9, 0.999))"),
    "val_split": ("data source", "data = digits(val_split=0.2)"),
    "normalize": ("data source", "data = digits(normalize=true)"),
    "label_smoothing": ("loss", "loss = CrossEntropyLoss(label_smoothing=0.1)"),
    "patience": ("early stopping", "early_stopping = EarlyStopping(monitor=val_loss, patience=5)"),
}

_TRAIN_EXAMPLES = {"loss": "CrossEntropyLoss()", "optimizer": "Adam(lr=1e-3)", "epochs": "10"}


def _did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = api.suggest(name, list(candidates))
    return f"did you mean `{close[0]}`?" if close else None
