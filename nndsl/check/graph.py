"""What the checker learns about a model: instances of blocks, their modules and forward steps.

`infer.py` builds these by evaluating block bodies; `summary`, the code generator and the
interpreter read them.  A `BlockInstance` is one evaluation of a block or model declaration with
given parameter values and input types; its `modules` are the attributes its class creates in
`__init__` (named exactly as in `state_dict`), its `ops` the steps of `forward`, in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Any

from nndsl import ir
from nndsl.catalog.core import Args, FunctionEntry, LayerEntry, TensorT
from nndsl.dims import Dim
from nndsl.errors import Span
from nndsl.records import dataclass, field, replace


class _Kind(str, Enum):
    """A record's kind: an Enum whose members also compare equal to their names as strings
    (`op.kind == "module"` reads as before), printed as their value."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class SlotKind(_Kind):
    """What a `ModuleSlot` holds."""

    TORCH = "torch"  # a torch module of the catalog (`nn.Conv2d`)
    BLOCK = "block"  # an instance of a block of the spec
    PY = "py"  # a user's Python module (`from pkg import Name`)
    SEQUENTIAL = "sequential"  # an nn.Sequential of slots (labelled groups, repetitions)
    FUNCTION = "function"  # a function of one tensor as a small generated module


class OpKind(_Kind):
    """What a forward step (`Op`) does; see `Op`."""

    MODULE = "module"
    FUNCTION = "function"
    BINOP = "binop"
    UNARY = "unary"
    INDEX = "index"
    PARAM = "param"
    BUFFER = "buffer"
    MERGE = "merge"  # generic classes: `a if cond else b` with an undecided condition


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a tensor value came from, for notes: "`flatten` at 5:5 turned [B, 32, 2, 2] into [B, 128]"."""

    what: str
    span: Span | None
    before: TensorT | None = None


@dataclass(frozen=True, slots=True, eq=False)
class TensorV:
    """A tensor value flowing through forward: its static type and the op that made it.
    `path` picks an element of a tuple-valued op output (LSTM: out, (h, c))."""

    type: TensorT
    op: int  # index into BlockInstance.ops, -1 for block inputs
    origin: Origin
    path: tuple[int, ...] = ()
    input_index: int = -1


@dataclass(frozen=True, eq=False)
class ModuleSlot:
    """An attribute created in `__init__`: a torch module, a block instance, a user module, or an
    nn.Sequential of slots (labelled groups and repetitions)."""

    name: str
    kind: SlotKind
    type_name: str  # "Conv2d", a block's name, the user class, "Sequential"
    span: Span
    entry: LayerEntry | None = None
    args: Args | None = None  # torch: every constructor argument, inferred ones included
    user_args: tuple[str, ...] = ()  # parameters the user wrote positionally (in order)
    user_kwargs: tuple[str, ...] = ()  # parameters the user wrote by keyword
    instance: BlockInstance | None = None  # for blocks
    py_module: str | None = None  # for user modules: the Python module path
    py_args: tuple[Any, ...] = ()
    py_kwargs: tuple[tuple[str, Any], ...] = ()
    children: list[ModuleSlot] = field(default_factory=list)
    params: Dim = 0
    buffers: Dim = 0
    out_type: Any = None  # output type(s) of its (first) application
    in_type: Any = None
    from_function: str | None = None  # a function turned into its module form inside nn.Sequential
    function_op: Op | None = None  # kind "function": the call its generated module's forward makes
    when: Any = None  # generic classes: (condition, polarity) under which the module exists
    repeat: Any = None  # generic classes: a symbolic repetition count (children[0] is the template)

    def total_params(self, memo: dict[int, Dim] | None = None) -> Dim:
        """`memo`: the totals of the block instances already counted in this count (a block
        used twice is one instance: counting it again at each use would take exponential
        time in the depth of nested blocks)."""
        if self.kind is SlotKind.BLOCK and self.instance is not None:
            return self.instance.total_params(memo)
        if self.kind is SlotKind.SEQUENTIAL:
            total: Dim = 0
            for c in self.children:
                total = total + c.total_params(memo)
            return total
        return self.params


@dataclass(eq=False)
class ParamSlot:
    """`param pos: [1, 128, d] = normal(std=0.02)`: an nn.Parameter of the block itself."""

    name: str
    type: TensorT
    init: str | None  # torch.nn.init function name, None: zeros
    init_args: tuple[Any, ...] = ()
    init_kwargs: tuple[tuple[str, Any], ...] = ()
    span: Span | None = None

    @property
    def count(self) -> Dim:
        total: Dim = 1
        for d in self.type.shape:
            total = total * d
        return total


@dataclass(eq=False)
class BufferSlot:
    """`buffer scale = tensor([0.5])`: a tensor registered with `register_buffer`, made in
    `__init__` by `ops` (steps of their own, over compile-time values) whose result is `value`."""

    name: str
    type: TensorT
    ops: list[Op]
    value: Any  # TensorV, a value of `ops`
    persistent: bool = True
    span: Span | None = None

    @property
    def count(self) -> Dim:
        total: Dim = 1
        for d in self.type.shape:
            total = total * d
        return total


@dataclass(eq=False)
class TieSlot:
    """`tie lm_head.weight = wte.weight`: paths relative to the instance that ties them."""

    target: str
    source: str
    type: TensorT
    span: Span | None = None
    modules: tuple[ModuleSlot, ...] = ()  # the modules on both paths (for conditions)

    @property
    def count(self) -> Dim:
        total: Dim = 1
        for d in self.type.shape:
            total = total * d
        return total


@dataclass(eq=False)
class InitSlot:
    """`init Conv2d.weight = kaiming_normal(mode="fan_out")` (`layer_type` set) or
    `init fc.bias = zeros()` (`path` set): a torch.nn.init function applied after construction."""

    param: str
    function: str  # the torch.nn.init name: "kaiming_normal_"
    args: tuple[Any, ...] = ()
    kwargs: tuple[tuple[str, Any], ...] = ()
    layer_type: str | None = None
    path: str | None = None
    guard: bool = False  # some matching layer has no such parameter (`bias=false`)
    span: Span | None = None
    modules: tuple[ModuleSlot, ...] = ()  # the modules on the path (for conditions)


@dataclass(frozen=True, eq=False)
class Op:
    """One step of forward.

    kind:
      "module"   call a ModuleSlot (`target`) on `inputs` (tensors)
      "function" call a catalog FunctionEntry with `args` (tensors and compile-time values) and `kwargs`
      "binop"    `target` is the operator (+ - * / @ ...), args: two operands (tensors or scalars)
      "unary"    `target` is the operator, args: one tensor
      "index"    args: (tensor, index items); index items are ints, slices, None, Ellipsis, tensors
      "param"    read an nn.Parameter (`target` is the ParamSlot)
      "buffer"   read a registered buffer (`target` is the BufferSlot)
      "merge"    generic classes: `target` is the condition, args: the two sides' values
    """

    kind: OpKind
    target: Any
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...]
    out: Any  # TensorT or nested tuple of TensorT
    span: Span
    name_hint: str | None = None  # the name the spec gave the result, if any
    entry: FunctionEntry | None = None
    written: tuple[str, ...] = ()  # function ops: the parameters the user wrote, in order
    n_positional: int = 0  # ... of which the first n were written positionally
    when: Any = None  # generic classes: (condition, polarity) under which this step runs


@dataclass(frozen=True, slots=True)
class SliceV:
    start: Any
    stop: Any
    step: Any


@dataclass(frozen=True, eq=False)
class BlockInstance:
    decl: ir.BlockDecl
    params: dict[str, Any]
    inputs: list[tuple[str, TensorV]] = field(default_factory=list)
    modules: list[ModuleSlot] = field(default_factory=list)
    param_tensors: list[ParamSlot] = field(default_factory=list)
    buffer_tensors: list[BufferSlot] = field(default_factory=list)
    ties: list[TieSlot] = field(default_factory=list)
    inits: list[InitSlot] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)  # TensorV or tuples of them
    names: dict[tuple[int, tuple[int, ...]], str] = field(
        default_factory=dict
    )  # (op, path) → name given in the spec
    # loss blocks: the values `log` names, logged as metrics (`train_rec`, `val_kl`)
    logged: list[tuple[str, TensorV]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.decl.name

    def total_params(self, memo: dict[int, Dim] | None = None) -> Dim:
        memo = {} if memo is None else memo
        known = memo.get(id(self))
        if known is not None:
            return known
        total: Dim = 0
        for m in self.modules:
            total = total + m.total_params(memo)
        for p in self.param_tensors:
            total = total + p.count
        for t in self.ties:  # a tied parameter is one Parameter: counted once
            total = total - t.count
        memo[id(self)] = total
        return total

    def output_types(self) -> list[Any]:
        return [value_type(o) for o in self.outputs]


def walk_slots(slots):
    """Slots and, recursively, the children of nn.Sequential slots (not into block instances)."""
    for s in slots:
        yield s
        if s.kind is SlotKind.SEQUENTIAL:
            yield from walk_slots(s.children)


def value_type(v: Any) -> Any:
    if isinstance(v, TensorV):
        return v.type
    if isinstance(v, tuple):
        return tuple(value_type(x) for x in v)
    return v


def renew_slots(
    slots: list[ModuleSlot], changes: dict[int, dict[str, Any]], ops: list[Op], start: int = 0
) -> None:
    """Records are frozen: replace `slots[i]` by a copy with `changes[i]`, and make the steps of
    `ops[start:]` that call a replaced slot call its copy (a slot being built is called only by
    steps emitted since `start`)."""
    if not changes:
        return
    new: dict[int, ModuleSlot] = {}
    for i, fields in changes.items():
        old = slots[i]
        slots[i] = replace(old, **fields)
        new[id(old)] = slots[i]
    for j in range(start, len(ops)):
        op = ops[j]
        if op.kind is OpKind.MODULE and id(op.target) in new:
            ops[j] = replace(op, target=new[id(op.target)])


def numbered(children: list[ModuleSlot], ops: list[Op], start: int = 0) -> None:
    """The children of an nn.Sequential without a name of their own are named by their index."""
    renew_slots(
        children, {i: {"name": str(i)} for i, c in enumerate(children) if not c.name}, ops, start
    )


def iter_modules(inst: BlockInstance, prefix: str = "") -> Iterator[tuple[str, ModuleSlot, int]]:
    """Every module slot below an instance with its qualified name and depth."""

    def walk(slots, pre, depth):
        for s in slots:
            q = f"{pre}{s.name}"
            yield q, s, depth
            if s.kind is SlotKind.SEQUENTIAL:
                yield from walk(s.children, q + ".", depth + 1)
            elif s.kind is SlotKind.BLOCK and s.instance is not None:
                yield from walk(s.instance.modules, q + ".", depth + 1)

    yield from walk(inst.modules, prefix, 0)
