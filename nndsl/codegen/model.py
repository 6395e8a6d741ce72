"""Checked program → the classes of `model.py` (names, signatures, `__init__` and `forward` lines).

All decisions are made here, in Python; the template only lays the classes out.  Each block
becomes ONE class generated from its generic evaluation (see generic.py); a block that cannot be
expressed generically becomes one class per distinct use, named `Block_1`, `Block_2`, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nndsl import dims, ir
from nndsl.catalog import api
from nndsl.catalog.core import LAYERS, LayerValue, TensorT
from nndsl.check import Checked
from nndsl.check.functions import function_default
from nndsl.check.graph import (
    BlockInstance,
    BufferSlot,
    ModuleSlot,
    Op,
    SliceV,
    TensorV,
    walk_slots,
)
from nndsl.codegen.generic import (
    ListLoop,
    LoopCount,
    Opaque,
    Unsupported,
    generic_instance,
    readable,
)
from nndsl.codegen.pyexpr import Expr, Prec
from nndsl.codegen.pysrc import (
    NotExpressible,
    identifier,
    literal,
    modules_named,
    shape_comment,
    word,
)
from nndsl.dims import Sym
from nndsl.errors import display_path


@dataclass
class ClassCode:
    name: str
    decl: ir.BlockDecl
    doc: list[str]
    init_params: list[str]
    init_body: list[str]
    fwd_params: list[str]
    fwd_returns: str
    fwd_body: list[str]
    dim_params: list[tuple[int, int, str]] = field(default_factory=list)  # (input, dim, name)
    generic: bool = True
    imports: set[str] = field(default_factory=set)
    uses: list[str] = field(default_factory=list)  # "BasicBlock(64, 64) (73,984 parameters)"
    # the names `__init__` sets on `self`: submodules, parameters, buffers, stored arguments
    attributes: frozenset[str] = frozenset()
    methods: list[list[str]] = field(default_factory=list)  # more methods, lines of the class body
    # parameters passed to forward, not to __init__: sizes some use only knows when the model
    # runs (`Heads(x.shape[0])` makes `forward(self, x, n)`)
    fwd_args: tuple[str, ...] = ()
    base: str = "nn.Module"  # `nn.ModuleDict` for a block that is a loop over its modules


class ModelCode:
    """Everything `model.py` holds for a set of models."""

    def __init__(self, checked: Checked, models: list[str]):
        self.checked = checked
        self.program = checked.program
        self.symbols = checked.symbols
        self.models = models
        self.classes: dict[int, ClassCode] = {}  # id(decl) → generic class
        self.special: dict[int, ClassCode] = {}  # id(BlockInstance) → specialised class
        self.order: list[ClassCode] = []
        self.imports: set[str] = set()
        self.py_imports: dict[str, set[str]] = {}
        self.unsupported: dict[int, str] = {}
        self._names: set[str] = set()
        self.ordered_dict = False
        self.function_class: dict[str, tuple[str, list[str]]] = {}  # type → class, parameters
        self._instances: dict[int, list[BlockInstance]] = {}

    # ---- driving ------------------------------------------------------------------------------

    def build(self) -> None:
        roots = [self.checked.models[m] for m in self.models]
        roots += self._loss_roots()
        for inst in roots:
            self._collect(inst)
        self._function_classes()
        for decl_id in self._post_order(roots):
            decl = self._decl(decl_id)
            self._class_for(decl)

    def _loss_roots(self) -> list[BlockInstance]:
        """The loss blocks the train sections of these models train with (one class each)."""
        out: list[BlockInstance] = []
        for plan in self.checked.plans.values():
            custom = plan.custom_loss
            if plan.model in self.models and custom is not None and custom.kind == "block":
                if all(r.decl is not custom.instance.decl for r in out):
                    out.append(custom.instance)
        return out

    def _collect(self, inst: BlockInstance) -> None:
        lst = self._instances.setdefault(id(inst.decl), [])
        if any(i is inst for i in lst):
            return
        lst.append(inst)
        for slot in walk_slots(inst.modules):
            if slot.kind == "block" and slot.instance is not None:
                self._collect(slot.instance)

    def _function_classes(self) -> None:
        """A small class per function used as a module inside a group (torchvision's `Permute`):
        its constructor takes the arguments the uses write, its forward makes the call."""
        uses: dict[str, list[Op]] = {}
        for instances in self._instances.values():
            for inst in instances:
                for slot in walk_slots(inst.modules):
                    if slot.kind == "function" and slot.function_op is not None:
                        uses.setdefault(slot.type_name, []).append(slot.function_op)
        taken = set(self.symbols.blocks) | set(self.symbols.pymodules)
        for type_name in sorted(uses):
            ops = uses[type_name]
            entry = ops[0].entry
            assert entry is not None
            x = entry.tensor_params[0]
            params = [k for k, _ in ops[0].kwargs if k != x and any(k in op.written for op in ops)]
            for op in ops[1:]:
                params += [k for k in op.written if k != x and k not in params]
            name = type_name if type_name not in taken else type_name + "Module"
            self.function_class[type_name] = (name, params)
            imports = set(modules_named(entry.torch))
            init_params = []
            for k in params:
                if all(k in op.written for op in ops):
                    init_params.append(k)
                else:
                    init_params.append(f"{k}={literal(function_default(entry, k), None, imports)}")
            body = ["super().__init__()"] + [f"self.{k} = {k}" for k in params]
            call = self._function_call(entry, x, params)
            self.order.append(
                ClassCode(
                    name=name,
                    decl=ir.BlockDecl(kind="function", name=name, params=(), body=()),
                    doc=[
                        f"`{entry.name}` as a module, so that an nn.Sequential can hold it.",
                    ],
                    init_params=init_params,
                    init_body=body,
                    fwd_params=["x: Tensor"],
                    fwd_returns="Tensor",
                    fwd_body=[f"return {call}"],
                    attributes=frozenset(params),
                    imports=imports,
                )
            )

    @staticmethod
    def _function_call(entry, x: str, params: list[str]) -> str:
        args = [f"self.{k}" if k == entry.variadic else f"{k}=self.{k}" for k in params]
        args.sort(key=lambda a: "=" in a)  # the spread-out parameter (`dims`) first
        if entry.torch.startswith("."):
            return f"x{entry.torch}({', '.join(args)})"
        return f"{entry.torch}({', '.join(['x', *args])})"

    def function_module_call(self, slot: ModuleSlot, lit) -> str:
        name, params = self.function_class[slot.type_name]
        op = slot.function_op
        assert op is not None
        bound = dict(op.kwargs)
        written = [k for k in params if k in op.written]

        def value(v: Any) -> str:
            return lit(list(v) if isinstance(v, tuple) else v)

        if written == params[: len(written)]:
            args = [value(bound[k]) for k in written]
        else:
            args = [f"{k}={value(bound[k])}" for k in written]
        return f"{name}({', '.join(args)})"

    def _decl(self, decl_id: int) -> ir.BlockDecl:
        return self._instances[decl_id][0].decl

    def _post_order(self, roots: list[BlockInstance]) -> list[int]:
        """Declarations, children before parents, over the blocks every instance uses."""
        deps: dict[int, list[int]] = {}
        for decl_id, instances in self._instances.items():
            children: list[int] = []
            for inst in instances:
                for slot in walk_slots(inst.modules):
                    if slot.kind == "block" and slot.instance is not None:
                        child = id(slot.instance.decl)
                        if child not in children:
                            children.append(child)
            deps[decl_id] = children
        seen: list[int] = []

        def visit(decl_id: int) -> None:
            if decl_id in seen:
                return
            for child in deps.get(decl_id, []):
                visit(child)
            seen.append(decl_id)

        for r in roots:
            visit(id(r.decl))
        return seen

    def _class_for(self, decl: ir.BlockDecl) -> None:
        instances = self._instances[id(decl)]
        try:
            code = self._generic(decl, instances)
            self.classes[id(decl)] = code
            self.order.append(code)
        except (Unsupported, NotExpressible) as exc:
            self.unsupported[id(decl)] = readable(str(exc))
            for inst, name in _specialised_names(decl, instances, self.checked.models):
                code = _Emitter(self, inst, name, generic=False, rename={}, dim_syms={}).emit()
                code.doc.append(
                    f"Specialised for one use: `{decl.name}` cannot be one generic class because "
                    f"{readable(str(exc))}."
                )
                self.special[id(inst)] = code
                self.order.append(code)

    def _generic(self, decl: ir.BlockDecl, instances: list[BlockInstance]) -> ClassCode:
        if decl.kind == "model":
            gi, domain, _ = generic_instance(self.program, self.symbols, decl, None)
            dim_syms = _input_dim_symbols(gi)
            return _Emitter(
                self, gi, decl.name, generic=True, rename={}, dim_syms=dim_syms, computed=domain
            ).emit()
        fwd_args = self._forward_arguments(decl, instances)
        first = instances[0]
        ranks = [
            tuple(t.rank for _, t in ((n, v.type) for n, v in inst.inputs)) for inst in instances
        ]
        if len(set(ranks)) > 1:
            raise Unsupported("its uses give inputs of different ranks")
        types = []
        neutral: dict[str, tuple[int, int]] = {}
        for k, (name, value) in enumerate(first.inputs):
            shape = []
            for i in range(value.type.rank):
                s = f"{name}__{i}"
                neutral[s] = (k, i)
                shape.append(dims.sym(s))
            types.append(TensorT(tuple(shape), value.type.dtype))
        examples = {p.name: [inst.params.get(p.name) for inst in instances] for p in decl.params}
        gi, domain, _ = generic_instance(self.program, self.symbols, decl, types, examples)
        for value in domain.computed.values():
            if value.params & set(fwd_args):
                raise Unsupported(
                    "a value computed from a parameter that some use only knows when the model runs"
                )
        rename = _name_dims(gi, neutral, first, {p.name for p in decl.params}, domain.declared)
        return _Emitter(
            self,
            gi,
            decl.name,
            generic=True,
            rename=rename,
            dim_syms=neutral,
            computed=domain,
            fwd_args=fwd_args,
        ).emit()

    @staticmethod
    def _forward_arguments(decl: ir.BlockDecl, instances: list[BlockInstance]) -> tuple[str, ...]:
        """The integer parameters some use gives a size only known when the model runs (the
        checker's values hold symbols only for those): forward takes them.  Other parameters
        given such a value make the block one class per use."""
        out = []
        for p in decl.params:
            values = [inst.params.get(p.name) for inst in instances]
            runtime = next((v for v in values if _free_symbols(v)), None)
            if runtime is None:
                continue
            if isinstance(runtime, Sym) and (p.type is None or p.type.name == "int"):
                out.append(p.name)
                continue
            raise Unsupported(
                f"a use gives its parameter `{p.name}` the value `{_shown(runtime)}`, a size "
                "only known when the model runs"
            )
        return tuple(out)

    # ---- call sites ---------------------------------------------------------------------------

    def block_call(self, slot: ModuleSlot, lit) -> str:
        """`BasicBlock(64, 128, stride=2)`: the class's input sizes, then the arguments as written.
        `lit` writes a compile-time value as Python."""
        inst = slot.instance
        assert inst is not None
        code = self.classes.get(id(inst.decl))
        if code is None:
            special = self._special_for(inst)
            if special is None:
                raise NotExpressible(
                    f"it uses `{inst.decl.name}`, which is specialised for each use, with "
                    "arguments that depend on its own parameters"
                )
            return f"{special.name}()"
        in_types = slot.in_type if isinstance(slot.in_type, tuple) else (slot.in_type,)
        args = [lit(in_types[k].shape[i]) for k, i, _ in code.dim_params]
        args += [lit(inst.params[p]) for p in slot.user_args if p not in code.fwd_args]
        args += [f"{k}={lit(inst.params[k])}" for k in slot.user_kwargs if k not in code.fwd_args]
        return f"{code.name}({', '.join(args)})"

    def forward_arguments(self, slot: ModuleSlot) -> list[Any]:
        """The values a call of `slot` passes to its forward after the tensors."""
        if slot.kind == "sequential":
            if any(self.forward_arguments(c) for c in slot.children):
                raise NotExpressible(
                    "a block given a size only known when the model runs is inside a group"
                )
            return []
        if slot.kind != "block" or slot.instance is None:
            return []
        code = self.classes.get(id(slot.instance.decl))
        if code is None or not code.fwd_args:
            return []
        return [slot.instance.params[p] for p in code.fwd_args]

    def _special_for(self, inst: BlockInstance) -> ClassCode | None:
        if id(inst) in self.special:
            return self.special[id(inst)]
        key = _instance_key(inst)
        for other in self._instances.get(id(inst.decl), []):
            if _instance_key(other) == key and id(other) in self.special:
                return self.special[id(other)]
        return None

    def describe_uses(self) -> None:
        """Docstrings of generic block classes list the uses in this file.

        One pass over every slot of every instance, in order: each class's uses come out in
        the order of that walk, each distinct call once."""
        seen: dict[int, set[str]] = {}
        for decl_id in self._instances:
            code = self.classes.get(decl_id)
            if code is not None and code.decl.kind != "model":
                seen[decl_id] = set()
        if not seen:
            return
        for parent in self._instances.values():
            for p in parent:
                for slot in walk_slots(p.modules):
                    if slot.kind != "block" or slot.instance is None:
                        continue
                    decl_id = id(slot.instance.decl)
                    calls = seen.get(decl_id)
                    if calls is None:
                        continue
                    try:
                        call = self.block_call(slot, literal)
                    except NotExpressible:
                        continue
                    if call not in calls:
                        calls.add(call)
                        self.classes[decl_id].uses.append(
                            f"{call}: {_count(slot.instance.total_params())} parameters"
                        )


class _Emitter:
    """Writes one class from one instance (generic or concrete)."""

    def __init__(
        self,
        owner: ModelCode,
        inst: BlockInstance,
        name: str,
        *,
        generic: bool,
        rename: dict[str, str],
        dim_syms: dict[str, tuple[int, int]],
        computed=None,
        fwd_args: tuple[str, ...] = (),
    ):
        self.owner = owner
        self.imports: set[str] = set()  # the modules this class's code names (torch, F)
        self.fwd_args = fwd_args
        self.inst = inst
        self.name = name
        self.generic = generic
        self.rename = rename  # neutral symbol, or named computed value → final name
        # a value computed from parameters that has no name: its expression, written inline
        self.inline: dict[str, Expr] = {}
        self._layers_name: str | None = None  # the list `__init__` builds a group in
        self._named_layers: str | None = None  # the OrderedDict it builds a labelled group in
        self.loop_labels = dict(computed.loop_labels) if computed is not None else {}
        # the locals of `__init__` its lines read (constructor arguments, computed values)
        self.init_refs: set[str] = set()
        self.dim_syms = dim_syms  # input-dim symbol → (input, dim)
        self.params = [p.name for p in inst.decl.params] if generic else []
        self.stored: list[str] = []
        self.captured: dict[str, str] = {}  # input-dim symbol → forward local
        self.multiple_at: dict[str, tuple[int, int]] = {}  # see _multiple_in_inputs
        self.locals: set[str] = set()
        # values computed from parameters: named ones become locals of __init__, others inline
        self.computed_lines: list[tuple[str, str]] = []
        self.computed_named: set[str] = set()
        self.spec_names: dict[str, str] = dict(computed.dim_names) if computed is not None else {}
        self.computed_values: dict[str, Any] = dict(computed.computed) if computed else {}
        # what the opaque sizes of a generic evaluation stand for (a quotient by a parameter)
        self.quotients = computed.opaque_quotients if computed is not None else None
        self.unwritable: set[str] = set()  # computed values that read an unknown size
        # a `for` statement over `range` of a parameter: the class is a module container
        self.statement_loops = list(computed.statement_loops) if computed is not None else []
        self.loop_layer: str | None = None  # forward's local for the module of a step
        # the unknown sizes a loop's steps carry: why they cannot be written
        self.loose: dict[str, str] = dict(computed.loose) if computed is not None else {}
        # a computed value the spec names as a size of a tensor (`b, c, h, w = out.shape`'s
        # `h`): symbol → that size; forward reads it from the tensor (see `read_size`)
        self.shape_sizes: dict[str, Any] = (
            dict(computed.shape_sizes) if computed is not None else {}
        )
        self.current: int | None = None  # the step forward is writing
        self.size_reads: dict[str, str] = {}  # symbol → the local forward read it into
        # the tensors the step being written reads sizes of: key → (rank, dim → local)
        self.pending_reads: dict[tuple, tuple[int, dict[int, str]]] = {}
        # a tuple parameter's items, all in order: that parameter (`k`, not `(k[0], k[1])`)
        self.tuples: dict[tuple[str, ...], Opaque] = (
            dict(computed.tuples) if computed is not None else {}
        )
        if computed is not None:
            taken = set(self.params) | set(rename.values())
            for sym, value in computed.computed.items():
                name = computed.computed_names.get(sym)
                try:
                    expr = value.expr.bind(self.init_name)
                except NotExpressible:
                    # it reads an unknown size (the spatial size a loop's steps change): fine
                    # as long as nothing written reads it
                    self.unwritable.add(sym)
                    continue
                if name and name not in taken and name.isidentifier():
                    taken.add(name)
                    self.rename[sym] = name
                    self.computed_named.add(sym)
                    self.computed_lines.append((name, expr))
                else:
                    self.inline[sym] = expr

    # ---- names --------------------------------------------------------------------------------

    def quotient(self, sym: str, spell) -> Expr | None:
        """An opaque size that is a quotient by a parameter (`(H - 1) // stride + 1`'s
        `(H - 1) // stride`), written with `spell` for its symbols; None if it is not one."""
        parts = self.quotients.parts.get(sym) if self.quotients is not None else None
        if parts is None or parts[0] not in ("//", "/", "%"):
            return None
        op, a, b = parts
        return Expr.join(
            [
                Expr.dim(a).bind(spell).operand(Prec.ATOM),
                " % " if op == "%" else " // ",
                Expr.dim(b).bind(spell).operand(Prec.ATOM),
            ],
            Prec.ARITH,
        )

    def writable(self, d: Any) -> bool:
        return self.quotients is not None and self.quotients.writable(d)

    def init_name(self, sym: str) -> Expr:
        """A symbol in `__init__`: a constructor argument, a computed local, or the expression
        of a computed value without a name."""
        if dims.is_opaque_symbol(sym):
            quotient = self.quotient(sym, self.init_name)
            if quotient is None:
                raise NotExpressible(
                    self.loose.get(sym)
                    or "a layer's size cannot be written in terms of the block's parameters"
                )
            return quotient
        if sym in self.inline:
            return self.inline[sym]
        if sym.startswith("carry__") and sym not in self.rename:  # a loop's local, not named
            raise NotExpressible("a size carried from step to step is read outside its loop")
        if sym in self.unwritable:
            raise NotExpressible(
                "a layer's size cannot be written in terms of the block's parameters"
            )
        return Expr.local(self.rename.get(sym, sym))

    def in_init(self, expr: Expr) -> str:
        """The text of an expression of `__init__`, whose holes are bound there (the locals it
        reads are noted)."""
        bound = expr.bind(self.init_name)
        self.init_refs |= bound.refs
        return bound.text

    def attribute(self, sym: str) -> Expr:
        """A symbol in forward, as the attribute `__init__` stores it under (`self.out`)."""
        if sym in self.inline:
            return self.fwd_sym(sym)
        return Expr.code(f"self.{self.rename.get(sym, sym)}")

    def written_sizes(self) -> dict[str, str]:
        """The computed values without a name, as written (how shape comments show them)."""
        return {s: e.text for s, e in self.inline.items()}

    def store(self, sym: str) -> Expr:
        final = self.rename.get(sym, sym)
        if final not in self.stored:
            self.stored.append(final)
        return Expr.code(f"self.{final}")

    def fwd_sym(self, sym: str) -> Expr:
        if sym.startswith("carry__"):
            raise NotExpressible(
                "a size carried from step to step in `__init__` is used in forward"
            )
        if dims.is_opaque_symbol(sym):
            quotient = self.quotient(sym, self.fwd_sym)
            if quotient is None:
                raise NotExpressible("an unknown size is used in forward")
            return quotient
        if self.inst.decl.kind == "loss" and sym in self.dim_syms:
            return Expr.code(self.capture(sym))  # a loss class reads sizes from its inputs
        if sym in self.fwd_args:
            return Expr.code(sym)
        if sym in self.computed_named:
            local = self.read_size(sym)
            return Expr.code(local) if local is not None else self.store(sym)
        if sym.startswith("c__"):
            # computed from parameters and sizes, used in forward: written there from the stored
            # parameters and the input's sizes (`c // self.n_head`), as nanoGPT does
            value = self.computed_values.get(sym)
            if value is None:
                raise NotExpressible("a value computed from parameters is used in forward")
            for p in sorted(value.params - set(self.dim_syms)):  # sizes: fwd_sym below
                if not p.startswith("c__"):  # a computed value inside: fwd_sym below too
                    self.store(p)
            return value.expr.bind(self.fwd_sym)
        if sym in self.dim_syms and (
            self.inst.decl.kind == "model" or self.rename.get(sym, sym) not in self._init_symbols
        ):
            # a size of the input that __init__ does not need: read in forward (`x.shape[0]`),
            # so it follows the input (the batch size above all) and is no constructor argument
            return Expr.code(self.capture(sym))
        if sym in self.params or sym in self.rename:
            return self.store(sym)
        if sym in self.dim_syms or sym in self._model_dims():
            return Expr.code(self.capture(sym))
        multiple = self._multiple_in_inputs(sym)
        if multiple is not None:  # an input of `c*B` rows: `n // c`
            key, c = multiple
            return Expr.join([Expr.code(self.capture(key)), f" // {c}"], Prec.ARITH)
        raise NotExpressible(f"the size `{sym}` is only known when the model runs")

    def read_size(self, sym: str) -> str | None:
        """A computed value that the spec named as a size of a tensor (ShuffleNet's
        `b, c, h, w = out.shape`), used by a step of forward that takes that tensor: read from it
        there (`_, c, h, w = out.shape`, as torchvision's `channel_shuffle` does) rather than
        computed in `__init__` from the input's sizes (which would make them constructor
        arguments).  The local it is read into, or None."""
        if sym in self.size_reads:
            return self.size_reads[sym]
        size = self.shape_sizes.get(sym)
        if (
            size is None
            or self.current is None
            or not self.generic
            or self.inst.decl.kind != "block"
            or self.statement_loops
        ):
            return None
        op = self.inst.ops[self.current]
        if op.when:
            return None
        for t in _tensor_inputs(op):
            key = _key(t)
            if self.var.get(key) is None or key in self.held:
                continue
            for j, d in enumerate(t.type.shape):
                if dims.equal(d, size) is True:
                    local = identifier(self.rename.get(sym, sym), self.locals)
                    self.size_reads[sym] = local
                    self.pending_reads.setdefault(key, (t.type.rank, {}))[1][j] = local
                    return local
        return None

    def flush_reads(self) -> list[str]:
        """The lines that read the sizes the step just written needs (`read_size`)."""
        lines = []
        for key, (rank, read) in self.pending_reads.items():
            name = self.var[key]
            if len(read) == 1:
                ((j, local),) = read.items()
                lines.append(f"{local} = {name}.shape[{j}]")
                continue
            targets = [read.get(j, "_") for j in range(rank)]
            lines.append(f"{', '.join(targets)} = {name}.shape")
        self.pending_reads = {}
        return lines

    def _multiple_in_inputs(self, sym: str) -> tuple[str, int] | None:
        """A size that an input has only multiplied (a block given `x.reshape(4 * B, ...)`,
        specialised for that use): the key of that input size for `capture`, and the factor."""
        for k, (_, v) in enumerate(self.inst.inputs):
            for i, d in enumerate(v.type.shape):
                if not isinstance(d, Sym) or dims.free_symbols(d) != {sym}:
                    continue
                try:
                    c = dims.exact_div(d, dims.sym(sym))
                except dims.DimError:
                    continue
                if isinstance(c, int) and c > 0:
                    key = f"{sym}__times{c}"
                    self.spec_names.setdefault(key, "n")
                    self.multiple_at[key] = (k, i)
                    return key, c
        return None

    def _model_dims(self) -> dict[str, tuple[int, int]]:
        return _input_dim_symbols(self.inst)

    def capture(self, sym: str) -> str:
        if sym not in self.captured:
            name = self.spec_names.get(sym) or self.rename.get(sym, sym)
            self.captured[sym] = identifier(name, self.locals)
        return self.captured[sym]

    def name_forward_sizes(self) -> None:
        """A block's input size that only forward uses, and that the spec names
        (`b, t, f = x.shape`), is called so in forward and in its shape comments too, rather than
        by the generated name a constructor argument would have (`in_channels`)."""
        if not self.generic or self.inst.decl.kind != "block":
            return
        taken = set(self.params) | set(self.rename.values())
        for sym, name in self.spec_names.items():
            current = self.rename.get(sym)
            if (
                sym in self.dim_syms
                and current is not None
                and current not in self._init_symbols
                and name.isidentifier()
                and name not in taken
                and name not in RESERVED_NAMES
            ):
                self.rename[sym] = name
                taken.add(name)

    def capture_lines(self) -> list[str]:
        """`bn, n, c = x.shape` (or `bn = x.shape[0]` for one size): the sizes forward reads."""
        by_input: dict[int, dict[int, str]] = {}
        for sym, local in self.captured.items():
            k, i = self.dim_syms.get(sym) or self.multiple_at.get(sym) or self._model_dims()[sym]
            by_input.setdefault(k, {})[i] = local
        lines = []
        for k, read in sorted(by_input.items()):
            name = self.input_names[k]
            if len(read) == 1:
                ((i, local),) = read.items()
                lines.append(f"{local} = {name}.shape[{i}]")
                continue
            rank = self.inst.inputs[k][1].type.rank
            targets = [read.get(i, "_") for i in range(rank)]
            lines.append(f"{', '.join(targets)} = {name}.shape")
        return lines

    def fwd_literal(self, v: Any) -> str:
        return self.fwd_expr(v).text

    def fwd_expr(self, v: Any) -> Expr:
        """A compile-time value in forward."""
        if isinstance(v, Sym):
            if not (self.generic and self.writable(v)):
                if any(dims.is_opaque_symbol(n) for n in dims.free_symbols(v)):
                    raise NotExpressible("an unknown size is used in forward")
            return Expr.dim(v).bind(self.fwd_sym)
        if isinstance(v, Opaque):
            if v.params & set(self.fwd_args):
                raise NotExpressible(
                    "a value computed from a parameter that some use only knows when the model runs"
                )
            # each parameter stored (`self.out`), a value computed from them written out, a size
            # of the input read in forward
            return v.expr.bind(self.fwd_sym)
        if isinstance(v, (tuple, list)):
            whole = self.whole_tuple(v)
            if whole is not None:
                return self.fwd_expr(whole)
            return _display(v, [self.fwd_expr(x) for x in v])
        return _constant(v, self.imports)

    def whole_tuple(self, v: tuple | list) -> Opaque | None:
        """The tuple parameter whose items `v` holds, all and in order (None if none)."""
        if not isinstance(v, tuple) or not all(isinstance(x, Sym) for x in v):
            return None
        return self.tuples.get(tuple(map(str, v)))

    # ---- the class ----------------------------------------------------------------------------

    def emit(self) -> ClassCode:
        decl = self.inst.decl
        dim_params: list[tuple[int, int, str]] = []
        init_body = self.init()  # first: forward reads a size from its input unless init needs it
        self.name_forward_sizes()
        fwd = self.forward()
        init_params: list[str] = []
        order: list[str] = []  # the names of init_params
        if self.generic and decl.kind == "block":
            reads = self._init_reads()
            used = self._init_symbols | reads
            for sym, (k, i) in sorted(self.dim_syms.items(), key=lambda kv: kv[1]):
                final = self.rename.get(sym, sym)
                if final in reads and final not in self._init_symbols | set(self.stored):
                    self._known_when_built(k, i)
                if final in used or final in self.stored:
                    dim_params.append((k, i, final))
                    init_params.append(f"{final}: int")
                    order.append(final)
        if self.generic:
            for p in decl.params:
                if p.name in self.fwd_args:
                    continue
                ann = _annotation(p.type)
                default = ""
                if p.default is not None:
                    default = " = " + literal(self.owner_default(p), None, self.imports)
                init_params.append(f"{p.name}{ann}{default}")
                order.append(p.name)
        stored = sorted(self.stored, key=lambda n: order.index(n) if n in order else len(order))
        store_lines = [f"self.{s} = {s}" for s in stored]
        needed = self._needed_computed()
        computed_lines = [f"{n} = {e.text}" for n, e in needed]
        body = ["super().__init__()"] + computed_lines + store_lines + init_body
        fwd_params = [f"{n}: Tensor" for n in self.input_names]
        fwd_params += [f"{n}: int" for n in self.fwd_args]
        code = ClassCode(
            name=self.name,
            decl=decl,
            doc=self.doc(),
            init_params=init_params,
            init_body=body,
            fwd_params=fwd_params,
            fwd_returns=self.returns,
            fwd_body=fwd,
            dim_params=dim_params,
            generic=self.generic,
            attributes=frozenset(
                # a module container's modules are its items, not attributes
                [s.name for s in self.inst.modules if not self.statement_loops]
                + [p.name for p in self.inst.param_tensors]
                + [b.name for b in self.inst.buffer_tensors]
                + stored
            ),
            fwd_args=self.fwd_args,
            imports=self.imports,
            base=getattr(self, "base", "nn.Module"),
        )
        if self.inst.inits:
            code.methods.append(self.init_weights())
        return code

    def owner_default(self, p: ir.Param) -> Any:
        from nndsl.check.infer import Evaluator

        return Evaluator(self.owner.program, self.owner.symbols).const_expr(p.default)

    def doc(self) -> list[str]:
        decl = self.inst.decl
        where = f"{display_path(decl.span.file)}:{decl.name_span.line}"
        if decl.kind == "loss":
            logged = ", ".join(f"`{n}`" for n, _ in self.inst.logged)
            doc = [f"Loss block `{decl.name}` from {where}."]
            if logged:
                return doc + [
                    "The model's output(s), then the target(s) -> the loss,",
                    f"and the values it logs ({logged}).",
                ]
            return doc + ["The model's output(s), then the target(s) -> the loss."]
        if decl.kind != "model":
            return [f"Block `{decl.name}` from {where}."]
        concrete = self.owner.checked.models.get(decl.name) or self.inst
        ins = ", ".join(f"{n} {shape_comment(v.type)}" for n, v in concrete.inputs)
        outs = ", ".join(shape_comment(o) for o in concrete.output_types())
        return [
            f"Model `{decl.name}` from {where}: {_count(concrete.total_params())} parameters.",
            f"Input {ins} -> output {outs}.",
        ]

    def _needed_computed(self) -> list[tuple[str, Expr]]:
        """The computed values `__init__` writes as locals: a computed value is kept if
        `__init__` reads it: in a line, a stored attribute, or another value kept (forward reads
        `self.<name>`, stored)."""
        reads = self.init_refs | set(self.stored)
        needed: list[tuple[str, Expr]] = []
        for name, value in reversed(self.computed_lines):
            if name in reads:
                needed.insert(0, (name, value))
                reads |= value.refs
        return needed

    def _known_when_built(self, k: int, i: int) -> None:
        """Dimension `i` of input `k`, which a value computed in `__init__` reads, is known
        when the class is built at every use (not the batch size)."""
        for inst in self.owner._instances.get(id(self.inst.decl), []):
            if not isinstance(inst.inputs[k][1].type.shape[i], int):
                raise NotExpressible(
                    f"a value computed in `__init__` reads `{self.input_names[k]}.shape[{i}]`, "
                    "which some use only knows when the model runs"
                )

    def _init_reads(self) -> set[str]:
        """The names `__init__` reads: in its lines and in the computed values it writes (an
        input's size one of those reads, `pad = (ws - H % ws) % ws`, is a constructor argument)."""
        reads = set(self.init_refs)
        for _, value in self._needed_computed():
            reads |= value.refs
        return reads

    # ---- __init__ -----------------------------------------------------------------------------

    def init(self) -> list[str]:
        self._init_symbols: set[str] = set()
        if self.statement_loops:
            return self.container_init()
        lines: list[str] = []
        groups = _group_by_when(self.inst.modules)
        k = 0
        while k < len(groups):
            when, slots = groups[k]
            body = [line for s in slots for line in self.module_lines(s)]
            other = groups[k + 1][0] if k + 1 < len(groups) else ()
            both_sides = (
                when
                and other
                and other[:-1] == when[:-1]
                and other[-1] == (when[-1][0], not when[-1][1])
            )
            if when:  # as torchvision does: the attribute exists, None when the module doesn't
                lines.extend(_none_lines(slots, groups[k + 1][1] if both_sides else []))
            if both_sides:
                # the modules of both sides of one condition: `if ...: ... else: ...`
                lines.extend(_none_lines(groups[k + 1][1], slots))
                rest = [line for s in groups[k + 1][1] for line in self.module_lines(s)]
                cond, polarity = when[-1]
                then, orelse = (body, rest) if polarity else (rest, body)
                text = self.in_init(cond.expr)
                both = [f"if {text}:", *("    " + x for x in then), "else:"]
                both += ["    " + x for x in orelse]
                lines.extend(self.conditional(when[:-1], both, init=True))
                k += 2
                continue
            lines.extend(self.conditional(when, body, init=True))
            k += 1
        for p in self.inst.param_tensors:
            self.imports.add("torch")
            shape = ", ".join(self.init_literal(d) for d in p.type.shape)
            dtype = "" if p.type.dtype == "float32" else f", dtype=torch.{p.type.dtype}"
            maker = {"zeros_": "zeros", "ones_": "ones"}.get(p.init or "zeros_")
            if maker is not None and not p.init_args and not p.init_kwargs:
                lines.append(f"self.{p.name} = nn.Parameter(torch.{maker}({shape}{dtype}))")
            else:
                lines.append(f"self.{p.name} = nn.Parameter(torch.empty({shape}{dtype}))")
                args = [f"self.{p.name}"] + [self.init_literal(a) for a in p.init_args]
                args += [f"{k}={self.init_literal(v)}" for k, v in p.init_kwargs]
                lines.append(f"nn.init.{p.init}({', '.join(args)})")
        lines.extend(self.state_lines())
        return lines

    def container_init(self) -> list[str]:
        """`__init__` of a block whose body is a `for` over `range` of a parameter making one
        module per step (`StatementLoop`): a module container, as torchvision's `_DenseBlock`
        is an `nn.ModuleDict` (the same state_dict keys; forward loops over its modules)."""
        if len(self.statement_loops) != 1:
            raise NotExpressible("it has several `for` loops over `range` of a parameter")
        (loop,) = self.statement_loops
        mods = self.inst.modules
        if len(mods) != 1 or loop.slot != 0 or mods[0].when:
            raise NotExpressible(
                "it makes modules outside its `for` loop over `range` of a parameter, so it "
                "cannot be a container of the loop's modules"
            )
        if self.inst.param_tensors or self.inst.buffer_tensors or self.inst.inits:
            raise NotExpressible(
                "it has parameters or buffers besides the modules of its `for` loop over `range` "
                "of a parameter"
            )
        slot = mods[0]
        if slot.name not in self.loop_labels:
            raise NotExpressible(
                "the module of its `for` loop over `range` of a parameter has no label made from "
                "the loop's variable"
            )
        taken = set(self.params) | set(self.rename.values()) | set(self.dim_syms)
        taken |= {n for n, _ in self.computed_lines} | RESERVED_NAMES
        self.rename[loop.sym] = identifier(loop.var, taken)
        for sym, value in self.computed_values.items():  # written inline: with that name
            if sym in self.inline and loop.sym in value.params:
                self.inline[sym] = value.expr.bind(self.init_name)
        self.base = "nn.ModuleDict"
        bounds = ", ".join(self.init_literal(b) for b in loop.bounds)
        label = self.loop_label(slot.name)
        return [
            f"for {self.rename[loop.sym]} in range({bounds}):",
            f"    self[{label}] = {self.module_expr(slot)}",
        ]

    def state_lines(self) -> list[str]:
        """Buffers, tied parameters, and the call of `_init_weights` (sharing.py checked them)."""
        lines = []
        for b in self.inst.buffer_tensors:
            expr = _BufferExpr(self, b).value_expr(b.value)
            self.init_refs |= expr.refs
            made = expr.text
            option = "" if b.persistent else ", persistent=False"
            lines.append(f"self.register_buffer({literal(b.name)}, {made}{option})")
        for t in self.inst.ties:
            if any(m.when for m in t.modules):
                raise NotExpressible("`tie` names a layer that exists only under a condition")
            lines.append(f"self.{t.target} = self.{t.source}")
        if self.inst.inits:
            lines.append("self._init_weights()")
        return lines

    def init_weights(self) -> list[str]:
        """`_init_weights`, as torchvision and nanoGPT write it: initialisers by layer type in a
        loop over `self.modules()`, then those of single layers (which so win over their type's)."""
        by_type: dict[str, list[str]] = {}
        by_label: list[str] = []
        for i in self.inst.inits:
            args = [self.init_literal(a) for a in i.args]
            args += [f"{k}={self.init_literal(v)}" for k, v in i.kwargs]
            if i.layer_type is not None:
                call = f"nn.init.{i.function}({', '.join([f'm.{i.param}', *args])})"
                lines = [f"if m.{i.param} is not None:", "    " + call] if i.guard else [call]
                by_type.setdefault(i.layer_type, []).extend(lines)
            else:
                if any(m.when for m in i.modules):
                    raise NotExpressible("`init` names a layer that exists only under a condition")
                target = f"self.{i.path}.{i.param}"
                by_label.append(f"nn.init.{i.function}({', '.join([target, *args])})")
        body: list[str] = []
        if by_type:
            body.append("for m in self.modules():")
            for k, (layer_type, lines) in enumerate(by_type.items()):
                body.append(f"    {'if' if k == 0 else 'elif'} isinstance(m, nn.{layer_type}):")
                body.extend("        " + line for line in lines)
        body.extend(by_label)
        return ["def _init_weights(self) -> None:"] + ["    " + line for line in body]

    def init_literal(self, v: Any) -> str:
        """A compile-time value in `__init__` (in a line of its own or an argument)."""
        expr = self.init_expr(v)
        self.init_refs |= expr.refs
        return expr.text

    def init_expr(self, v: Any) -> Expr:
        for n in dims.free_symbols(v) if isinstance(v, Sym) else ():
            self._init_symbols.add(self.rename.get(n, n))
            if n in self.inline and n in self.computed_values:  # written inline: what it reads
                self._init_symbols |= {
                    self.rename.get(p, p) for p in self.computed_values[n].params
                }
            if n in self.fwd_args:
                raise NotExpressible(
                    f"the parameter `{n}` is needed in `__init__`, and some use only knows it "
                    "when the model runs"
                )
            # a size of a model's input, unless a parameter gives it (`input x: [B, c, H, W]`)
            model_dim = (
                self.inst.decl.kind == "model" and n in self.dim_syms and n not in self.params
            )
            if (
                model_dim
                or not self.generic
                or (n not in self.params and n not in self.dim_syms and not n.startswith("c__"))
            ):
                if dims.is_opaque_symbol(n) and not (self.generic and self.writable(v)):
                    raise NotExpressible(
                        self.loose.get(n)
                        or "a layer's size cannot be written in terms of the block's parameters"
                    )
                if n in self._model_dims():
                    raise NotExpressible(
                        f"a layer's size depends on `{n}`, which is only known when the model runs"
                    )
        if isinstance(v, Sym):
            if not (self.generic and self.writable(v)) and any(
                dims.is_opaque_symbol(n) for n in dims.free_symbols(v)
            ):
                raise NotExpressible(f"the size {dims.format_dim(v)} is not known statically")
            return Expr.dim(v).bind(self.init_name)
        if isinstance(v, Opaque):
            return v.expr.bind(self.init_name)
        if isinstance(v, (tuple, list)):
            whole = self.whole_tuple(v)
            if whole is not None:
                return self.init_expr(whole)
            return _display(v, [self.init_expr(x) for x in v])
        return _constant(v, self.imports)

    def conditional(self, when, body: list[str], *, init: bool) -> list[str]:
        if not when:
            return body
        lines = body
        for cond, polarity in reversed(when):
            if init:
                expr = cond.expr.bind(self.init_name)
                self.init_refs |= expr.refs
            else:
                expr = cond.expr.bind(self.attribute)
                for p in cond.params:
                    self.store(p)
            head = f"if {expr.text}:" if polarity else f"if not {_negated(expr).text}:"
            lines = [head] + ["    " + line for line in lines]
        return lines

    def module_expr(self, slot: ModuleSlot) -> str:
        if slot.kind == "torch":
            return self.torch_call(
                slot.type_name,
                slot.args or {},
                slot.entry.inferred if slot.entry else (),
                slot.user_args,
                slot.user_kwargs,
            )
        if slot.kind == "block":
            return self.owner.block_call(slot, self.init_literal)
        if slot.kind == "function":
            return self.owner.function_module_call(slot, self.init_literal)
        if slot.kind == "py":
            decl, imported = (
                self.owner.symbols.pymodules[slot.type_name]
                if slot.type_name in self.owner.symbols.pymodules
                else (None, None)
            )
            self.owner.py_imports.setdefault(slot.py_module or "", set()).add(slot.type_name)
            args = [self.init_literal(a) for a in slot.py_args] + [
                f"{k}={self.init_literal(v)}" for k, v in slot.py_kwargs
            ]
            return f"{slot.type_name}({', '.join(args)})"
        if slot.kind == "sequential" and any(isinstance(c.repeat, ListLoop) for c in slot.children):
            raise NotExpressible(
                "a `for` stage over a list parameter is in a group inside a group, which is "
                "written as one expression"
            )
        if slot.kind == "sequential" and _conditional_children(slot):
            # children that exist only under a condition, in a group inside a group
            parts = []
            for when, texts in self.sequential_runs(slot):
                if not when:
                    parts.extend(texts)
                    continue
                test = self.condition_text(when)
                parts.append(f"*([{', '.join(texts)}] if {test} else [])")
            return f"nn.Sequential({', '.join(parts)})"
        if slot.kind == "sequential":
            named = any(c.name != str(i) for i, c in enumerate(slot.children))
            parts = []
            for child in slot.children:
                self.name_loop(child)
                text = self.module_expr(child)
                if child.repeat is not None and named and child.name in self.loop_labels:
                    label = self.loop_label(child.name)
                    parts.append(self.repeated(child, f"({label}, {text})"))
                elif child.repeat is not None:
                    if named:
                        raise NotExpressible(
                            "a repetition by a parameter inside a group with named children"
                        )
                    parts.append(self.repeated(child, text))
                elif named:
                    parts.append(f"({literal(child.name)}, {text})")
                else:
                    parts.append(text)
            if named:
                self.owner.ordered_dict = True
                if len(parts) == 1 and parts[0].startswith("*[") and parts[0].endswith("]"):
                    # only children made in a loop: `OrderedDict((f"layer{i}", ...) for i in ...)`
                    return f"nn.Sequential(OrderedDict({parts[0][2:-1]}))"
                return f"nn.Sequential(OrderedDict([{', '.join(parts)}]))"
            return f"nn.Sequential({', '.join(parts)})"
        raise NotExpressible(f"unknown module kind {slot.kind}")

    def module_lines(self, slot: ModuleSlot) -> list[str]:
        """`self.<name> = <module>`.  A group some of whose children exist only under a
        condition (a `for` stage over `[e] if e != 1 else []`) is built as a list first, as
        torchvision builds its blocks: `layers.append(...)` under `if`, then
        `nn.Sequential(*layers)`."""
        if slot.kind == "sequential" and any(
            isinstance(c.repeat, LoopCount) and c.repeat.carries for c in slot.children
        ):
            return self.carried_range_lines(slot)
        if slot.kind != "sequential" or not _conditional_children(slot):
            return [f"self.{slot.name} = {self.module_expr(slot)}"]
        if any(c.name != str(i) for i, c in enumerate(slot.children)):
            return self.named_layers_lines(slot)
        if self._layers_name is None:
            taken = set(self.params) | set(self.rename.values()) | set(self.dim_syms)
            taken |= {n for n, _ in self.computed_lines} | RESERVED_NAMES
            self._layers_name = identifier("layers", taken)
            lines = [f"{self._layers_name}: list[nn.Module] = []"]
        else:
            lines = [f"{self._layers_name} = []"]
        layers = self._layers_name
        for when, texts in self.sequential_runs(slot):
            if len(texts) == 1 and isinstance(texts[0], _Lines):
                added = list(texts[0].lines)
            elif len(texts) == 1 and not texts[0].startswith("*"):
                added = [f"{layers}.append({texts[0]})"]
            elif len(texts) == 1:
                added = [f"{layers}.extend({texts[0][1:]})"]
            else:
                added = [f"{layers}.extend([{', '.join(texts)}])"]
            if when:
                added = [f"if {self.condition_text(when)}:"] + ["    " + x for x in added]
            lines.extend(added)
        lines.append(f"self.{slot.name} = nn.Sequential(*{layers})")
        return lines

    def named_layers_lines(self, slot: ModuleSlot) -> list[str]:
        """A group of labelled children some of which exist only under a condition, built as
        torchvision builds RegNet's `BottleneckTransform`: an `OrderedDict` filled in order,
        `layers["se"] = ...` under `if`, then `nn.Sequential(layers)`."""
        if any(c.repeat is not None for c in slot.children):
            raise NotExpressible(
                "a group with labelled children has a child that exists only under a condition "
                "and a child repeated"
            )
        taken = set(self.params) | set(self.rename.values()) | set(self.dim_syms)
        taken |= {n for n, _ in self.computed_lines} | RESERVED_NAMES
        if self._named_layers is None:
            self._named_layers = identifier("layers", taken | {self._layers_name} - {None})
            lines = [f"{self._named_layers}: OrderedDict[str, nn.Module] = OrderedDict()"]
        else:
            lines = [f"{self._named_layers} = OrderedDict()"]
        self.owner.ordered_dict = True
        layers = self._named_layers
        base = len(slot.when or ())
        runs: list[tuple[tuple, list[str]]] = []
        for child in slot.children:
            self.name_loop(child)
            line = f"{layers}[{literal(child.name)}] = {self.module_expr(child)}"
            when = tuple((child.when or ())[base:])
            if runs and runs[-1][0] == when:
                runs[-1][1].append(line)
            else:
                runs.append((when, [line]))
        for when, added in runs:
            if when:
                added = [f"if {self.condition_text(when)}:"] + ["    " + x for x in added]
            lines.extend(added)
        lines.append(f"self.{slot.name} = nn.Sequential({layers})")
        return lines

    def sequential_runs(self, slot: ModuleSlot) -> list[tuple[tuple, list[str]]]:
        """The children of a group with conditional children, as runs of their module
        expressions that exist under the same conditions (relative to the group's)."""
        if any(c.name != str(i) for i, c in enumerate(slot.children)):
            raise NotExpressible(
                "a group with labelled children has a child that exists only under a condition"
            )
        base = len(slot.when or ())
        runs: list[tuple[tuple, list[str]]] = []
        for child in slot.children:
            if isinstance(child.repeat, ListLoop):
                runs.append((tuple((child.when or ())[base:]), [_Lines(self.list_loop(child))]))
                continue
            self.name_loop(child)
            text = self.module_expr(child)
            if child.repeat is not None:
                text = self.repeated(child, text)
            when = tuple((child.when or ())[base:])
            if runs and runs[-1][0] == when and not isinstance(runs[-1][1][0], _Lines):
                runs[-1][1].append(text)
            else:
                runs.append((when, [text]))
        # one child on each side of a condition: `nn.Hardswish() if act == "HS" else nn.ReLU()`
        k = 0
        while k + 1 < len(runs):
            (w1, t1), (w2, t2) = runs[k], runs[k + 1]
            if (
                w1
                and w2
                and w1[:-1] == w2[:-1]
                and w1[-1][0] == w2[-1][0]
                and w1[-1][1] != w2[-1][1]
                and len(t1) == len(t2) == 1
                and isinstance(t1[0], str)
                and isinstance(t2[0], str)
                and not t1[0].startswith("*")
                and not t2[0].startswith("*")
            ):
                then, orelse = (t1[0], t2[0]) if w1[-1][1] else (t2[0], t1[0])
                test = self.condition_text(((w1[-1][0], True),))
                runs[k : k + 2] = [(w1[:-1], [f"{then} if {test} else {orelse}"])]
                if k and runs[k - 1][0] == runs[k][0] and isinstance(runs[k - 1][1][0], str):
                    runs[k - 1 : k + 1] = [(runs[k][0], runs[k - 1][1] + runs[k][1])]
                    k -= 1
                continue
            k += 1
        return runs

    def list_loop(self, child: ModuleSlot) -> list[str]:
        """The lines of `__init__` that append the child made by a `for` stage over a list
        parameter: `for k, c in settings:`, the child, then the sizes carried to the next step
        (`channels = c`), each set before the loop."""
        loop = child.repeat
        assert isinstance(loop, ListLoop) and self._layers_name is not None
        taken = set(self.params) | set(self.rename.values()) | set(self.dim_syms)
        taken |= {n for n, _ in self.computed_lines} | RESERVED_NAMES | {self._layers_name}
        for name, sym in loop.names:
            if sym not in self.rename:
                self.rename[sym] = identifier(name, taken)
        for sym, _, _, index, rank in loop.carries:
            if sym not in self.rename:
                word = "channels" if index == 1 and rank > 2 else "features"
                self.rename[sym] = identifier(word if index in (1, rank - 1) else "size", taken)
        lines = [f"{self.rename[sym]} = {self.init_literal(d)}" for sym, d, *_ in loop.carries]
        text = self.module_expr(child)
        target = self.loop_target(loop.target, loop.names, top=True)
        lines.append(f"for {target} in {self.in_init(loop.iterable.expr)}:")
        lines.append(f"    {self._layers_name}.append({text})")
        lines += [
            f"    {self.rename[sym]} = {self.init_literal(d)}" for sym, _, d, *_ in loop.carries
        ]
        return lines

    def loop_target(self, target: ir.Target, names, *, top: bool = False) -> str:
        if isinstance(target, ir.NameTarget):
            sym = dict(names)[target.id]
            return self.rename[sym]
        inner = ", ".join(self.loop_target(t, names) for t in target.items)
        return inner if top else f"({inner})"

    def carried_range_lines(self, slot: ModuleSlot) -> list[str]:
        """A group made by a `for` stage over `range` of a parameter whose steps carry a size
        from one to the next (`LoopCount.carries`), as torchvision's RegNet builds its stages:
        the size in a local set before the loop, each step appended to a list, then the local
        set to what the step gives (`channels = widths[i] if depths[i] > 0 else channels`)."""
        if len(slot.children) != 1 or _conditional_children(slot):
            raise NotExpressible(
                "a group with a `for` stage that carries a size from step to step has other "
                "children"
            )
        (child,) = slot.children
        loop = child.repeat
        assert isinstance(loop, LoopCount)
        taken = set(self.params) | set(self.rename.values()) | set(self.dim_syms)
        taken |= {n for n, _ in self.computed_lines} | RESERVED_NAMES
        carried = {sym for sym, *_ in loop.carries}
        for name, value in self.computed_lines:
            if value.refs & carried:
                raise NotExpressible("a named value computed in `__init__` reads a carried size")
        for sym, _, _, index, rank in loop.carries:
            word_ = "channels" if index == 1 and rank > 2 else "features"
            self.rename[sym] = identifier(word_ if index in (1, rank - 1) else "size", taken)
            taken.add(self.rename[sym])
        self.name_loop(child)
        self.rebind_inline(carried)
        named = child.name in self.loop_labels
        layers = identifier("stages" if named else "layers", taken | set(self.rename.values()))
        kind = "tuple[str, nn.Module]" if named else "nn.Module"
        lines = [f"{self.rename[sym]} = {self.init_literal(d)}" for sym, d, *_ in loop.carries]
        lines.append(f"{layers}: list[{kind}] = []")
        text = self.module_expr(child)
        if named:
            text = f"({self.loop_label(child.name)}, {text})"
        elif child.name != "0":
            raise NotExpressible("a child of a carried loop has a label not made from the loop")
        bounds = ", ".join(self.init_literal(b) for b in loop.bounds)
        lines.append(f"for {self.rename[loop.sym]} in range({bounds}):")
        lines.append(f"    {layers}.append({text})")
        lines += [
            f"    {self.rename[sym]} = {self.init_literal(d)}" for sym, _, d, *_ in loop.carries
        ]
        if named:
            self.owner.ordered_dict = True
            lines.append(f"self.{slot.name} = nn.Sequential(OrderedDict({layers}))")
        else:
            lines.append(f"self.{slot.name} = nn.Sequential(*{layers})")
        return lines

    def rebind_inline(self, syms: set[str]) -> None:
        """The computed values written inline that read `syms` (named since they were bound),
        bound again, in the order they were made (those they read first)."""
        reads = set(syms)
        for sym, value in self.computed_values.items():
            if value.params & reads:
                reads.add(sym)
                if sym in self.inline or sym in self.unwritable:
                    try:
                        self.inline[sym] = value.expr.bind(self.init_name)
                        self.unwritable.discard(sym)
                    except NotExpressible:
                        self.inline.pop(sym, None)
                        self.unwritable.add(sym)

    def name_loop(self, child: ModuleSlot) -> None:
        """The loop variable of a child made by a `for` stage over `range` of a parameter gets
        its name as written (unless a local of `__init__` has it)."""
        if not isinstance(child.repeat, LoopCount):
            return
        if child.repeat.sym not in self.rename:
            taken = set(self.params) | set(self.rename.values()) | set(self.dim_syms)
            taken |= {n for n, _ in self.computed_lines} | RESERVED_NAMES
            self.rename[child.repeat.sym] = identifier(child.repeat.var, taken)
            for sym, value in self.computed_values.items():  # written inline: with that name
                if sym in self.inline and child.repeat.sym in value.params:
                    self.inline[sym] = value.expr.bind(self.init_name)
        self.init_refs.discard(self.rename[child.repeat.sym])  # does the child read it?

    def loop_label(self, name: str) -> str:
        """A label made from the variable of a loop over a parameter, as an f-string."""
        text = ""
        for part in self.loop_labels[name]:
            if isinstance(part, Opaque):
                text += "{" + self.in_init(part.expr) + "}"
            else:
                text += part.replace("{", "{{").replace("}", "}}")
        return 'f"' + text + '"'

    def repeated(self, child: ModuleSlot, text: str) -> str:
        """`*[<child> for _ in range(n)]`: the copies of a child repeated by a parameter."""
        count = child.repeat
        if not isinstance(count, LoopCount):
            return f"*[{text} for _ in range({self.init_literal(count)})]"
        var = self.rename[count.sym]
        if var not in self.init_refs:  # the child's text does not read it (see `name_loop`)
            var = "_"
        bounds = ", ".join(self.init_literal(b) for b in count.bounds)
        return f"*[{text} for {var} in range({bounds})]"

    def condition_text(self, when: tuple) -> str:
        """The conditions of `when` (each with its polarity) as one test of `__init__`."""
        parts = []
        for cond, polarity in when:
            expr = cond.expr.bind(self.init_name)
            self.init_refs |= expr.refs
            if polarity:
                parts.append(expr.operand(Prec.AND).text if len(when) > 1 else expr.text)
            else:
                parts.append(f"not {_negated(expr).text}")
        return " and ".join(parts)

    def torch_call(self, name: str, args: dict, inferred, user_args, user_kwargs) -> str:
        return torch_call(name, args, inferred, user_args, user_kwargs, self.init_literal)

    def arg_value(self, v: Any) -> str:
        return _arg_value(v, self.init_literal)

    # ---- forward ------------------------------------------------------------------------------

    def forward(self) -> list[str]:
        inst = self.inst
        self.input_names = [identifier(n, self.locals) for n, _ in inst.inputs]
        self.locals.update(self.fwd_args)
        self.var: dict[tuple, str] = {}
        self.held: set[tuple] = set()  # the values held in attributes (`self.pos`), not locals
        for k, (n, v) in enumerate(inst.inputs):
            self.var[("in", k)] = self.input_names[k]
        uses, last = _uses(inst)
        _free_in_branches(inst.ops, last)
        self.uses, self.last = uses, last
        self.hints: dict[tuple, str] = {}
        locals_before, var_before = set(self.locals), dict(self.var)
        self.allocate_all()
        hints = self.merge_hints()
        if hints:  # again, each value that only a merge reads named as the merge's local
            self.locals, self.var, self.hints = set(locals_before), dict(var_before), hints
            self.allocate_all()
        body = self.loop_ops() if self.statement_loops else None
        if body is None:
            body = self.emit_ops(list(range(len(inst.ops))), 0)
        outs = [self.value(o) for o in inst.outputs]
        self.returns = (
            "Tensor"
            if len(outs) == 1 and isinstance(inst.outputs[0], TensorV)
            else _ret_type(inst.outputs)
        )
        if inst.logged:  # a loss block: the loss, and the values it logs by name
            logged = ", ".join(f"{literal(n)}: {self.value(v)}" for n, v in inst.logged)
            body.append(f"return {outs[0]}, {{{logged}}}")
            self.returns = "tuple[Tensor, dict[str, Tensor]]"
        else:
            body.append("return " + ", ".join(outs))
        return self.capture_lines() + body

    def allocate_all(self) -> None:
        """A local for each step's value."""
        live: dict[str, tuple] = {n: ("in", k) for k, n in enumerate(self.input_names)}
        self.held = set()
        self.lhs: dict[int, str] = {}
        forced = self.carried_names(live)
        for i, op in enumerate(self.inst.ops):
            if i in forced:
                self.carry_out(i, forced[i], live)
                continue
            self.allocate(i, op, live)

    def merge_hints(self) -> dict[tuple, str]:
        """The steps inside a side of a condition whose value only the merge after it reads,
        and that got another local than the merge's: step → the merge's local (so that the side
        writes `y = self.block(x)`, not `y2 = self.block(x)` then `y = y2`).  By the value's key
        (a step with several outputs: each output's)."""
        ops, hints = self.inst.ops, {}
        for m, op in enumerate(ops):
            if op.kind != "merge" or m not in self.lhs:
                continue
            target = self.lhs[m]
            for v in op.args:
                if not isinstance(v, TensorV) or v.op < 0:
                    continue
                key = (v.op, v.path)
                made = ops[v.op]
                if (
                    self.uses.get(key, 0) == 1
                    and key not in self.inst.names
                    and self.var.get(key) not in (None, target)
                    and len(made.when or ()) > len(op.when or ())
                    and made.kind not in ("param", "buffer", "index")
                ):
                    hints[key] = target
        return hints

    def carried_names(self, live: dict[str, tuple]) -> dict[int, tuple]:
        """The steps of a `for` loop over `range` of a parameter that give a carried value's
        next value (→ the key of its value before the loop, whose local they assign)."""
        forced: dict[int, tuple] = {}
        for loop in self.statement_loops:
            for before, op in loop.carried:
                if self.last.get(before, -1) >= loop.end:
                    raise NotExpressible(
                        "a value its `for` loop over `range` of a parameter rebinds is read after "
                        "the loop"
                    )
                forced[op] = before
                # the carried value lives to the loop's end: the next step reads it
                self.last[(op, ())] = max(self.last.get((op, ()), -1), loop.end)
        return forced

    def carry_out(self, i: int, before: tuple, live: dict[str, tuple]) -> None:
        name = self.var.get(before)
        holder = live.get(name) if name else None
        if (
            name is None
            or before in self.held
            or (holder not in (None, before) and self.last.get(holder, -1) > i)
        ):
            raise NotExpressible("a value carried from step to step has no local of its own")
        self.var[(i, ())] = name
        self.lhs[i] = name
        live[name] = (i, ())

    def loop_ops(self) -> list[str]:
        """forward of a module container: the steps before the loop, `for layer in
        self.values():` with the steps of one step of the loop, the steps after it."""
        (loop,) = self.statement_loops
        n = len(self.inst.ops)
        self.loop_layer = identifier("layer", self.locals | set(self.captured.values()))
        self.locals.add(self.loop_layer)
        inner = self.emit_ops(list(range(loop.start, loop.end)), 0)
        lines = self.emit_ops(list(range(loop.start)), 0)
        lines.append(f"for {self.loop_layer} in self.values():")
        lines += ["    " + line for line in inner or ["pass"]]
        return lines + self.emit_ops(list(range(loop.end, n)), 0)

    def allocate(self, i: int, op: Op, live: dict[str, tuple]) -> None:
        inst = self.inst
        if op.kind in ("param", "buffer"):
            self.var[(i, ())] = f"self.{op.target.name}"
            self.held.add((i, ()))
            return
        if op.kind == "index" and self.uses.get((i, ()), 0) == 1 and (i, ()) not in inst.names:
            self.var[(i, ())] = None  # inlined where used
            return
        out = op.out
        if isinstance(out, tuple):
            leaves = _leaf_paths(out)
            names = {}
            for path in leaves:
                key = (i, path)
                if self.uses.get(key, 0) == 0:
                    names[path] = "_"
                    continue
                pref = inst.names.get(key) or self.hints.get(key) or "h"
                names[path] = self.pick(pref, i, live, key)
                self.var[key] = names[path]
            self.lhs[i] = _pattern(out, names, ())
            return
        key = (i, ())
        pref = inst.names.get(key) or self.hints.get(key) or op.name_hint
        if (
            pref is None
            and inst.decl.kind == "loss"
            and any(isinstance(o, TensorV) and _key(o) == key for o in inst.outputs)
        ):
            pref = "loss"
        if pref is None:
            first = next(iter(_tensor_inputs(op)), None)
            if first is not None:
                fk = _key(first)
                name = self.var.get(fk)
                if name and fk not in self.held and self.last.get(fk, -1) <= i:
                    pref = name  # a local that is not read after this step: reused
        name = self.pick(pref or "h", i, live, key)
        self.var[key] = name
        self.lhs[i] = name

    def pick(self, pref: str, i: int, live: dict[str, tuple], key: tuple) -> str:
        base = word(pref)
        candidate, k = base, 2
        while True:
            holder = live.get(candidate)
            reserved = (
                candidate in RESERVED_NAMES
                or candidate in self.captured.values()
                or candidate in self.fwd_args
            )
            if not reserved and (
                holder is None
                or holder == key
                or self.last.get(holder, -1) <= i
                or self.exclusive(holder, i)
            ):
                live[candidate] = key
                self.locals.add(candidate)
                return candidate
            candidate = f"{base}{k}"
            k += 1

    def exclusive(self, holder: tuple, i: int) -> bool:
        """The value `holder` is made on the other side of a condition than step `i`: the two
        never live at once (each side gives the merge its value in the same local)."""
        if holder[0] == "in":
            return False
        a, b = self.inst.ops[holder[0]].when or (), self.inst.ops[i].when or ()
        for (cond_a, side_a), (cond_b, side_b) in zip(a, b):
            if cond_a != cond_b:
                return False
            if side_a != side_b:
                return True
        return False

    def value(self, v: Any) -> str:
        return self.value_expr(v).text

    def value_expr(self, v: Any) -> Expr:
        """A value of forward: a tensor by its local, a compile-time value as Python."""
        if isinstance(v, _Source):
            return v.expr
        if isinstance(v, _SelfTraining):
            return Expr.code("self.training")
        if isinstance(v, TensorV):
            key = _key(v)
            name = self.var.get(key)
            if name is None and v.op >= 0 and self.inst.ops[v.op].kind == "index":
                return self.index_expr(self.inst.ops[v.op])
            if name is None:
                raise NotExpressible("a value is used before it is computed")
            return Expr.code(name)
        if isinstance(v, (tuple, list)) and self.whole_tuple(v) is None:
            return _display(v, [self.value_expr(x) for x in v])
        return self.fwd_expr(v)

    def emit_ops(self, indices: list[int], depth: int) -> list[str]:
        ops = self.inst.ops
        lines: list[str] = []
        k = 0
        while k < len(indices):
            i = indices[k]
            op = ops[i]
            when = op.when or ()
            if len(when) > depth:
                cond = when[depth][0]
                group = []
                while (
                    k < len(indices)
                    and len(ops[indices[k]].when or ()) > depth
                    and (ops[indices[k]].when or ())[depth][0] == cond
                ):
                    group.append(indices[k])
                    k += 1
                merges = []
                while (
                    k < len(indices)
                    and ops[indices[k]].kind == "merge"
                    and ops[indices[k]].target == cond
                ):
                    merges.append(indices[k])
                    k += 1
                lines.extend(self.if_block(cond, group, merges, depth))
                continue
            if op.kind == "merge":  # a merge with empty branches on both sides
                lines.extend(self.if_block(op.target, [], [i], depth))
                k += 1
                continue
            lines.extend(self.op_lines(i, op))
            k += 1
        return lines

    def if_block(self, cond: Opaque, group: list[int], merges: list[int], depth: int) -> list[str]:
        ops = self.inst.ops
        then = [i for i in group if (ops[i].when or ())[depth][1]]
        orelse = [i for i in group if not (ops[i].when or ())[depth][1]]
        then_lines = self.emit_ops(then, depth + 1)
        else_lines = self.emit_ops(orelse, depth + 1)
        for m in merges:
            target = self.lhs.get(m) or self.var[(m, ())]
            tv, ev = ops[m].args
            if self.value(tv) != target:
                then_lines.append(f"{target} = {self.value(tv)}")
            if self.value(ev) != target:
                else_lines.append(f"{target} = {self.value(ev)}")
        present = self.present_test(cond, group, depth)
        if present is not None:  # TorchScript compiles only the side whose module exists
            name, polarity = present
            if polarity:
                then_text, else_text = f"self.{name} is not None", f"self.{name} is None"
            else:
                then_text, else_text = f"self.{name} is None", f"self.{name} is not None"
            if not then_lines and else_lines:
                return [f"if {else_text}:"] + ["    " + x for x in else_lines]
            text = then_text
        else:
            expr = cond.expr.bind(self.attribute)
            for p in sorted(cond.params):
                self.store(p)
            text = expr.text
            if not then_lines and else_lines:
                return [f"if not {_negated(expr).text}:"] + ["    " + x for x in else_lines]
        out = [f"if {text}:"] + ["    " + x for x in (then_lines or ["pass"])]
        if else_lines:
            out += ["else:"] + ["    " + x for x in else_lines]
        return out

    def present_test(self, cond: Opaque, group: list[int], depth: int) -> tuple[str, bool] | None:
        """A submodule made exactly when one side of `cond` runs and called on that side, with
        the polarity of that side: forward tests `self.<name> is None` rather than the condition,
        so that TorchScript, which compiles both sides, never sees a call of a missing module."""
        ops = self.inst.ops
        for polarity in (True, False):
            for i in group:
                op, when = ops[i], ops[i].when or ()
                if op.kind != "module" or when[depth][1] != polarity:
                    continue
                slot = op.target
                if (slot.when or ()) == when[: depth + 1] and not _on_both_sides(
                    slot, self.inst.modules
                ):
                    return slot.name, polarity
        return None

    def op_lines(self, i: int, op: Op) -> list[str]:
        """The line of a step, after those reading the sizes it needs from a tensor."""
        if op.kind in ("param", "buffer") or self.var.get((i, ())) is None and op.kind == "index":
            return []
        self.current = i
        rhs = self.op_expr(op).text
        out = _without_loop_index(op.out)
        comment = shape_comment(out, self.rename, self.written_sizes())
        if len(comment) > _COMMENT_ROOM and isinstance(out, tuple) and len(set(out)) == 1:
            # `q, k, v = x.unbind(0)`: one shape for all, so that the line fits ruff's 88 columns
            one = shape_comment(out[0], self.rename, self.written_sizes())
            comment = f"{len(out)} x {one}"
        line = f"{self.lhs[i]} = {rhs}  # {comment}"
        reads = self.flush_reads()
        self.current = None
        return [*reads, line]

    def op_expr(self, op: Op) -> Expr:
        if op.kind == "module":
            values = [self.value_expr(a) for a in op.args]
            if op.target.type_name == "MultiheadAttention" and values:  # `h -> ...`: self-attention
                values += values[-1:] * (3 - len(values))  # torch needs key and value
            values += [self.fwd_expr(v) for v in self.owner.forward_arguments(op.target)]
            if self.loop_layer is not None and op.target is self.inst.modules[0]:
                return _call(self.loop_layer, values)
            return _call(f"self.{op.target.name}", values)
        if op.kind == "function":
            return self.function_expr(op)
        if op.kind == "binop":
            a, b = op.args
            return Expr.join([self.operand(a), f" {op.target} ", self.operand(b)], Prec.ARITH)
        if op.kind == "unary":
            return Expr.join([op.target, self.operand(op.args[0])], Prec.ARITH)
        if op.kind == "index":
            return self.index_expr(op)
        raise NotExpressible(f"no code for a {op.kind} step")

    def operand(self, v: Any) -> Expr:
        """A value as an operand of an operator: bracketed unless it is atomic."""
        return self.value_expr(v).operand(Prec.ATOM)

    def index_expr(self, op: Op) -> Expr:
        base, idx = op.args
        items: list[str | Expr] = []
        for it in idx:
            if items:
                items.append(", ")
            if isinstance(it, SliceV):
                parts = ["" if x is None else self.fwd_expr(x) for x in (it.start, it.stop)]
                items += [parts[0], ":", parts[1]]
                if it.step is not None:
                    items += [":", self.fwd_expr(it.step)]
            elif it is Ellipsis:
                items.append("...")
            elif it is None:
                items.append("None")
            elif isinstance(it, TensorV):
                items.append(self.value_expr(it))
            else:
                items.append(self.fwd_expr(it))
        return Expr.join([self.operand(base), "[", *items, "]"])

    def function_expr(self, op: Op) -> Expr:
        entry = op.entry
        assert entry is not None
        bound = dict(op.kwargs)
        written = list(op.written)
        positional = written[: op.n_positional]
        keywords = written[op.n_positional :]
        order = _positional_params(entry)
        for k in entry.explicit:
            if k not in written and k in bound:
                if k in order and order.index(k) == len(positional):
                    positional.append(k)
                else:
                    keywords.append(k)
        # functional dropout & co. take `training`: it must follow the module's train/eval mode
        takes_training = entry.torch.startswith("F.") and "training" in api.param_names(
            api.functional_signature(entry.name)
        )
        if takes_training and "training" not in written:
            keywords.append("training")
            bound["training"] = _SelfTraining()
        for k in entry.training_only:  # `dropout_p=0.1 if self.training else 0.0`
            if k in written and bound.get(k):
                p = self.value_expr(bound[k]).operand(Prec.AND)
                bound[k] = _Source(Expr.join([p, " if self.training else 0.0"], Prec.OR))
        if entry.creates and self.input_names:  # made where the block's input lives
            keywords.append("device")
            bound["device"] = _Source(Expr.code(f"{self.input_names[0]}.device"))
        self.imports |= modules_named(entry.torch)
        if entry.torch.startswith("."):
            receiver = self.operand(bound[entry.tensor_params[0]])
            rest = [p for p in positional if p != entry.tensor_params[0]]
            args = self.call_args(entry, bound, rest, keywords)
            return _call(Expr.join([receiver, entry.torch]), args)
        return _call(entry.torch, self.call_args(entry, bound, positional, keywords))

    def call_args(self, entry, bound: dict, positional: list[str], keywords: list[str]) -> list:
        """`x, 2, dim=1`: positional values (a *args parameter spread out), then keywords."""
        args: list[Expr] = []
        for p in positional:
            v = bound[p]
            if p == entry.variadic and isinstance(v, tuple):
                args.extend(self.value_expr(x) for x in v)
            else:
                args.append(self.value_expr(v))
        args += [Expr.join([f"{k}=", self.value_expr(bound[k])]) for k in keywords]
        return args


class _BufferExpr(_Emitter):
    """Writes the steps that make a buffer as one expression of `__init__`, where compile-time
    values are the constructor's parameters (`torch.tril(torch.ones(n, n))`)."""

    def __init__(self, parent: _Emitter, slot: BufferSlot):
        self.__dict__.update(parent.__dict__)  # the parent's names and symbols
        self.inst = BlockInstance(decl=parent.inst.decl, params={}, ops=slot.ops)
        self.input_names = []  # made in __init__ on the CPU; a buffer moves with the model

    def value_expr(self, v: Any) -> Expr:
        if isinstance(v, TensorV):
            if v.op < 0:
                raise NotExpressible("a buffer is made from a value of forward")
            made = self.op_expr(self.inst.ops[v.op])  # `torch.meshgrid(a, b)[0]` for a path
            if not v.path:
                return made
            return Expr.join([made.operand(), *(f"[{i}]" for i in v.path)])
        if isinstance(v, tuple) and _whole_output(self.inst.ops, v):  # `stack(meshgrid(...))`
            return self.op_expr(self.inst.ops[v[0].op])
        if isinstance(v, (tuple, list)):
            return _display(v, [self.value_expr(x) for x in v])
        return self.init_expr(v)

    def fwd_expr(self, v: Any) -> Expr:
        return self.init_expr(v)


def _without_loop_index(t: Any) -> Any:
    """A step's type for its shape comment: a size that reads the variable of a loop of
    `__init__` (DenseNet's `growth_rate * i + in_channels`) is unknown in forward, `?`."""
    if isinstance(t, tuple):
        return tuple(_without_loop_index(x) for x in t)
    if not isinstance(t, TensorT) or not any(
        n.startswith("loop__") for d in t.shape for n in dims.free_symbols(d)
    ):
        return t
    shape = tuple(
        dims.opaque_symbol("loop", d, 0)
        if any(n.startswith("loop__") for n in dims.free_symbols(d))
        else d
        for d in t.shape
    )
    return TensorT(shape, t.dtype)


def _whole_output(ops: Any, v: tuple) -> bool:
    """Whether `v` holds the outputs of one step with several, in order (`meshgrid`'s tuple)."""
    if not v or not all(isinstance(x, TensorV) and x.op >= 0 for x in v):
        return False
    out = ops[v[0].op].out
    return (
        isinstance(out, tuple)
        and len(out) == len(v)
        and all(x.op == v[0].op and x.path == (i,) for i, x in enumerate(v))
    )


class _SelfTraining:
    """Stands for `self.training` in a functional dropout call."""


@dataclass(frozen=True)
class _Source:
    """An argument of a call in forward given as its Python expression (`x.device`)."""

    expr: Expr


def _call(function: str | Expr, args: list[Expr]) -> Expr:
    """`f(a, b)`."""
    parts: list[str | Expr] = [function, "("]
    for k, a in enumerate(args):
        parts += [", ", a] if k else [a]
    return Expr.join([*parts, ")"])


def _display(v: tuple | list, items: list[Expr]) -> Expr:
    """A tuple or list of values: `(a,)`, `(a, b)`, `[a, b]`."""
    parts: list[str | Expr] = ["[" if isinstance(v, list) else "("]
    for k, x in enumerate(items):
        parts += [", ", x] if k else [x]
    if isinstance(v, tuple) and len(items) == 1:
        parts.append(",")
    return Expr.join([*parts, "]" if isinstance(v, list) else ")"])


def _constant(v: Any, imports: set[str]) -> Expr:
    """A constant (a number, string, dtype) as Python; a negative number is an operation."""
    negative = isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0
    return Expr.code(literal(v, None, imports), Prec.ARITH if negative else Prec.ATOM)


def _negated(cond: Expr) -> Expr:
    """The operand of `not`: a comparison is bracketed too, for the reader (`not (a == b)`)."""
    return cond.bracketed() if cond.prec in (Prec.OR, Prec.AND, Prec.CMP) else cond


RESERVED_NAMES = {
    "self",
    "nn",
    "F",
    "torch",
    "Tensor",
    "super",
    "input",
    "len",
    "range",
    "type",
    "id",
    "sum",
    "min",
    "max",
    "abs",
}


def _positional_params(entry) -> list[str]:
    from nndsl.check.functions import function_signature

    return [n for n, k, d in function_signature(entry) if k == "pos_or_kw"]


def _free_in_branches(ops: list[Op], last: dict[tuple, int]) -> None:
    """A value that one side of a condition consumes, and that the other side (which runs no
    step) only passes on to the merge, is free after its last step on that side: forward writes
    `x = self.act(x)` under the `if`, rather than a new name and an `else: h = x`."""
    sites: dict[tuple, list[int]] = {}
    for i, op in enumerate(ops):
        for v in _tensor_inputs(op):
            sites.setdefault(_key(v), []).append(i)
    for m, op in enumerate(ops):
        if op.kind != "merge":
            continue
        depth = len(op.when or ())
        k = m - 1
        while k >= 0 and (
            (ops[k].kind == "merge" and ops[k].target == op.target)
            or (len(ops[k].when or ()) > depth and (ops[k].when or ())[depth][0] == op.target)
        ):
            k -= 1
        branch = [j for j in range(k + 1, m) if ops[j].kind != "merge"]
        sides = {(ops[j].when or ())[depth][1] for j in branch}
        if len(sides) != 1:
            continue
        (polarity,) = sides
        passed = op.args[1] if polarity else op.args[0]  # what the side without steps gives
        if not isinstance(passed, TensorV):
            continue
        key = _key(passed)
        later = [s for s in sites.get(key, []) if s > k]
        consumers = [s for s in later if s in branch]
        if not consumers or last.get(key) != max(later):
            continue

        def passes_on(s: int) -> bool:
            o = ops[s]
            if o.kind != "merge" or o.target != op.target:
                return False
            mine, other = (o.args[1], o.args[0]) if polarity else (o.args[0], o.args[1])
            return (
                isinstance(mine, TensorV)
                and _key(mine) == key
                and not (isinstance(other, TensorV) and _key(other) == key)
            )

        if all(s in consumers or passes_on(s) for s in later):
            last[key] = consumers[-1]


def _conditional_children(slot: ModuleSlot) -> bool:
    """Some child of this group exists only under a condition of its own, or is made in a loop
    over a list parameter: the group is built as a list in `__init__`."""
    base = len(slot.when or ())
    return any(len(c.when or ()) > base or isinstance(c.repeat, ListLoop) for c in slot.children)


@dataclass(frozen=True)
class _Lines:
    """Lines of `__init__` that add children to the list a group is built in."""

    lines: tuple[str, ...] | list[str]


def _specialised_names(decl: ir.BlockDecl, instances: list[BlockInstance], models: dict):
    """(instance, class name) of a block made one class per use: `Name_1`, `Name_2`, ...; a
    model's own instance keeps its name (`from model import FCNResNet50`) when another model
    also uses it with other arguments."""
    own = models.get(decl.name) if decl.kind == "model" else None
    k = 0
    for inst in instances:
        if len(instances) == 1 or inst is own:
            yield inst, decl.name
        else:
            k += 1
            yield inst, f"{decl.name}_{k}"


def _none_lines(slots: list[ModuleSlot], other_side: list[ModuleSlot]) -> list[str]:
    """`self.x = None` for the modules of one side of a condition, except those the other side
    makes under the same label (`block: A if c else block: B`): that attribute always exists."""
    made = {s.name for s in other_side}
    return [f"self.{s.name} = None" for s in slots if s.name not in made]


def _on_both_sides(slot: ModuleSlot, slots: list[ModuleSlot]) -> bool:
    """Whether the other side of `slot`'s innermost condition makes a module of its name: then
    `self.<name> is None` cannot tell the sides apart."""
    when = slot.when or ()
    flipped = when[:-1] + ((when[-1][0], not when[-1][1]),) if when else None
    return any(s.name == slot.name and (s.when or ()) == flipped for s in slots)


def _group_by_when(slots: list[ModuleSlot]):
    groups: list[tuple[Any, list[ModuleSlot]]] = []
    for s in slots:
        w = s.when or ()
        if groups and groups[-1][0] == w:
            groups[-1][1].append(s)
        else:
            groups.append((w, [s]))
    return groups


def _key(v: TensorV) -> tuple:
    return ("in", v.input_index) if v.op < 0 else (v.op, v.path)


def _tensor_inputs(op: Op):
    if op.kind in ("module", "merge"):
        yield from (a for a in op.args if isinstance(a, TensorV))
    elif op.kind == "function":
        for _, v in op.kwargs:
            if isinstance(v, TensorV):
                yield v
            elif isinstance(v, (list, tuple)):
                yield from (x for x in v if isinstance(x, TensorV))
    elif op.kind in ("binop", "unary"):
        yield from (a for a in op.args if isinstance(a, TensorV))
    elif op.kind == "index":
        yield op.args[0]
        yield from (x for x in op.args[1] if isinstance(x, TensorV))


def _uses(inst: BlockInstance) -> tuple[dict[tuple, int], dict[tuple, int]]:
    uses: dict[tuple, int] = {}
    last: dict[tuple, int] = {}
    for i, op in enumerate(inst.ops):
        for v in _tensor_inputs(op):
            k = _key(v)
            uses[k] = uses.get(k, 0) + 1
            last[k] = i
    end = len(inst.ops)

    def mark(o):
        if isinstance(o, TensorV):
            k = _key(o)
            uses[k] = uses.get(k, 0) + 1
            last[k] = end
        elif isinstance(o, tuple):
            for x in o:
                mark(x)

    for o in [*inst.outputs, *(v for _, v in inst.logged)]:
        mark(o)
    # an index step used once is written inline where it is used (`m[1] + m2[1]`): what it
    # reads must stay alive until there
    for i in range(len(inst.ops) - 1, -1, -1):
        op = inst.ops[i]
        if op.kind == "index" and uses.get((i, ()), 0) == 1 and (i, ()) not in inst.names:
            for v in _tensor_inputs(op):
                k = _key(v)
                last[k] = max(last.get(k, -1), last.get((i, ()), i))
    return uses, last


def _leaf_paths(t: Any, prefix: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    if isinstance(t, tuple):
        out = []
        for i, x in enumerate(t):
            out.extend(_leaf_paths(x, prefix + (i,)))
        return out
    return [prefix]


def _pattern(t: Any, names: dict, prefix: tuple[int, ...]) -> str:
    parts = []
    for i, x in enumerate(t):
        if isinstance(x, tuple):
            parts.append("(" + _pattern(x, names, prefix + (i,)) + ")")
        else:
            parts.append(names[prefix + (i,)])
    return ", ".join(parts)


def _ret_type(outputs: list[Any]) -> str:
    def one(o):
        if isinstance(o, tuple):
            return "tuple[" + ", ".join(one(x) for x in o) + "]"
        return "Tensor"

    if len(outputs) == 1:
        return one(outputs[0])
    return "tuple[" + ", ".join(one(o) for o in outputs) + "]"


def _annotation(t: ir.TypeRef | None) -> str:
    if t is None:
        return ": int"
    return f": {t}"


def _free_symbols(v: Any) -> frozenset[str]:
    if isinstance(v, Sym):
        return dims.free_symbols(v)
    if isinstance(v, (tuple, list)):
        return frozenset().union(*(_free_symbols(x) for x in v))
    return frozenset()


def _shown(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        inner = ", ".join(_shown(x) for x in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner})"
    return dims.format_dim(v) if isinstance(v, (int, Sym)) and not isinstance(v, bool) else repr(v)


def _count(n: Any) -> str:
    return f"{n:,}" if isinstance(n, int) else dims.format_dim(n)


def _instance_key(inst: BlockInstance):
    from nndsl.check.values import freeze

    return (id(inst.decl), freeze(inst.params), tuple(freeze(v.type) for _, v in inst.inputs))


# the room for a shape comment after `)` of a statement black splits, in a method's body
_COMMENT_ROOM = 88 - len("        )  # ")


def _input_dim_symbols(inst: BlockInstance) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for k, (_, v) in enumerate(inst.inputs):
        for i, d in enumerate(v.type.shape):
            if (
                isinstance(d, Sym)
                and len(dims.free_symbols(d)) == 1
                and dims.sym(next(iter(dims.free_symbols(d)))) == d
            ):
                out.setdefault(next(iter(dims.free_symbols(d))), (k, i))
    return out


_INFERRED_KIND = {
    "in_channels": "channels", "num_channels": "channels", "in_features": "features", "in1_features": "features",
    "in2_features": "features", "input_size": "features", "embed_dim": "features", "d_model": "features",
    "normalized_shape": "features",
}  # fmt: skip


def _name_dims(
    gi: BlockInstance,
    neutral: dict[str, tuple[int, int]],
    first: BlockInstance,
    params: set[str],
    declared: dict[str, str],
) -> dict[str, str]:
    """Readable names for a block's input-size symbols: `in_channels` for the channels of the
    first input, `skip_channels` for another's, `B`, `H`, `W` for sizes only shown in comments.
    A size the spec names (`input x: [B, H, W, C]`) that no layer gives a role keeps that name
    (dim 1 is `in_channels` or `in_features` unless the spec names it otherwise than `C`)."""
    kinds: dict[str, str] = {}
    for slot in walk_slots(gi.modules):
        if slot.kind == "torch" and slot.entry is not None and slot.args:
            rank = slot.in_type.rank if isinstance(slot.in_type, TensorT) else 0
            for key in slot.entry.inferred:
                v = slot.args.get(key)
                if isinstance(v, Sym) and str(v) in neutral and str(v) not in kinds:
                    kind = _INFERRED_KIND.get(key, "features")
                    if key == "num_features":
                        kind = "channels" if rank >= 3 else "features"
                    kinds[str(v)] = kind
    names: dict[str, str] = {}
    taken = set(params)
    input_names = [n for n, _ in first.inputs]
    # a [B, L, features] input (a sequence into Linear/LayerNorm): dim 1 is its length
    sequences = {k for s, (k, i) in neutral.items() if kinds.get(s) == "features" and i == 2}
    for sym, (k, i) in sorted(neutral.items(), key=lambda kv: kv[1]):
        rank = first.inputs[k][1].type.rank
        prefix = "in" if k == 0 else input_names[k]
        if sym in kinds:
            base = f"{prefix}_{kinds[sym]}"
        elif i == 0:
            base = "B"
        elif _own_name(declared.get(sym), i, rank, params):
            base = declared[sym]
        elif rank == 3 and i == 1 and k in sequences:
            base = "L" if k == 0 else f"L{k + 1}"
        elif rank >= 3 and i == 1:
            base = f"{prefix}_channels"
        elif rank == 2 and i == 1:
            base = f"{prefix}_features"
        else:
            letters = {4: "HW", 5: "DHW", 3: "L"}.get(rank, "")
            spatial = i - 2
            base = letters[spatial] if 0 <= spatial < len(letters) else f"d{i}"
            if k:
                base = f"{base}{k + 1}"
        name = base
        n = 2
        while name in taken and base != "B":
            name = f"{base}{n}"
            n += 1
        taken.add(name)
        names[sym] = name
    return names


_CHANNEL_NAMES = frozenset({"C", "c", "ch", "channels", "in_channels", "inp", "F", "features"})


def _own_name(name: str | None, i: int, rank: int, params: set[str]) -> bool:
    """Whether an input size is named as the spec names it rather than by its position."""
    if name is None or name in params or name in RESERVED_NAMES or not name.isidentifier():
        return False
    if i == 1 and rank >= 2:  # in_channels, in_features: unless the spec says otherwise
        return name not in _CHANNEL_NAMES
    return i > 1


def torch_call(name: str, args: dict, inferred, user_args, user_kwargs, lit=literal) -> str:
    """`nn.Conv2d(16, 32, 3, padding=1)`: a torch module's constructor call, the inferred and
    positional arguments first; `lit` writes a value (the generator's knows its symbols)."""
    sig = api.module_signature(name) or ()
    positional: list[str] = []
    for pname, kind, _ in sig:
        if kind != "pos_or_kw":
            break
        if (pname in inferred and pname not in user_kwargs) or pname in user_args:
            positional.append(pname)
        else:
            break
    keywords = [k for k in list(user_args) + list(user_kwargs) if k not in positional]
    parts = [_arg_value(args[p], lit) for p in positional] + [
        f"{k}={_arg_value(args[k], lit)}" for k in keywords
    ]
    return f"nn.{name}({', '.join(parts)})"


def _arg_value(v: Any, lit) -> str:
    if isinstance(v, LayerValue):
        entry = LAYERS.get(v.name)
        sig = api.module_signature(v.name) or ()
        inferred = entry.inferred if entry else ()
        pos_names = [p for p, k, d in sig if k == "pos_or_kw" and p not in inferred][
            : len(v.user_args)
        ]
        return torch_call(v.name, v.args, inferred, tuple(pos_names), v.user_kwargs, lit)
    return lit(v)
