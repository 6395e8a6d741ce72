"""The catalog's vocabulary: static tensor types, catalog entries, argument binding.

A catalog entry is the ONE place a layer or function is described: which constructor arguments
are inferred from the input, the positional order of the rest (torch's own signature, from the
API snapshot), argument types, the shape rule and the parameter count.  The checker, the code
generator and the interpreter all read entries; none of them special-cases a layer.

Values handled here are compile-time values: `int | Sym` dimensions, floats, bools, strings,
None, tuples of those, and `LayerValue`s for layers passed to layers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nndsl import dims
from nndsl.catalog import api
from nndsl.dims import Dim, Sym
from nndsl.errors import Hinted
from nndsl.records import dataclass, field

FLOAT_DTYPES = ("float32", "float64", "float16", "bfloat16")
INT_DTYPES = ("int64", "int32", "int16", "int8", "uint8")

# Spellings a spec may use for a dtype → torch's name
DTYPE_ALIASES = {
    "float": "float32", "float32": "float32", "float64": "float64", "double": "float64",
    "half": "float16", "float16": "float16", "bfloat16": "bfloat16",
    "long": "int64", "int64": "int64", "int": "int32", "int32": "int32", "int16": "int16",
    "int8": "int8", "uint8": "uint8", "bool": "bool",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TensorT:
    """The static type of a tensor: a symbolic shape and a dtype."""

    shape: tuple[Dim, ...]
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES

    def __str__(self) -> str:
        text = dims.format_shape(self.shape)
        return text if self.dtype in ("float32",) else f"{_short_dtype(self.dtype)}{text}"

    def with_shape(self, shape: Sequence[Dim]) -> TensorT:
        return TensorT(tuple(shape), self.dtype)


@dataclass(frozen=True, slots=True)
class ScalarT(TensorT):
    """A Python number where torch takes a tensor (`idx * 2`, `where(m, x, 0.0)`): a 0-d type
    that, in type promotion, only decides the kind (integer or float), never the width."""


@dataclass(frozen=True, slots=True)
class DType:
    """A dtype written as a value (`zeros(3, dtype=long)`); `name` is torch's (`int64`)."""

    name: str

    def __str__(self) -> str:
        return _short_dtype(self.name)


def _short_dtype(dtype: str) -> str:
    return {"int64": "long", "float64": "double"}.get(dtype, dtype)


# The output of a layer: a tensor or a (nested) tuple of tensors (LSTM: out, (h, c)).
Out = Any


class ShapeError(Exception):
    """A shape rule's complaint, in the user's terms.  `arg` names the argument at fault, if any,
    so that the diagnostic can point at it."""

    def __init__(self, message: str, *, hint: str | None = None, arg: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.arg = arg


class Args(dict):
    """Bound constructor / call arguments: torch parameter name → compile-time value.

    `opaque_quotients`: the arithmetic mode of the evaluation that binds them, passed to
    `dims`' divisions.  False (the checker): dividing a size by a symbol is an error.  True
    (the code generator's symbolic evaluation of a block, whose strides and groups are symbols):
    it gives an opaque size, and an input without a batch dimension is accepted as the checker,
    with the real sizes, has already decided.  A copy (`Args(a, k=v)`) keeps the mode."""

    opaque_quotients: bool = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if args and isinstance(args[0], Args) and args[0].opaque_quotients:
            self.opaque_quotients = args[0].opaque_quotients

    def int(self, name: str) -> Dim:
        v = self[name]
        if isinstance(v, bool) or not isinstance(v, (int, Sym)):
            raise ShapeError(
                f"`{name}` must be an integer, not {describe(v)}",
                arg=name,
                hint=_type_hint("int", v, has_default=False),
            )
        return v

    def ints(self, name: str, n: int, *, one: bool = True) -> tuple[Dim, ...]:
        """An int or a tuple of `n` ints (kernel_size, stride, padding ...); with `one`, also a
        tuple of one int, which torch repeats (it does for pooling, and convolutions' strides,
        but not for every argument of every layer)."""
        v = self[name]
        if isinstance(v, (int, Sym)) and not isinstance(v, bool):
            return (v,) * n
        if (
            isinstance(v, (tuple, list))
            and (len(v) == n or one and len(v) == 1)
            and all(isinstance(x, (int, Sym)) and not isinstance(x, bool) for x in v)
        ):
            return tuple(v) * (n if len(v) == 1 else 1)
        raise ShapeError(
            f"`{name}` must be an integer or a tuple of {n} integers, not {describe(v)}", arg=name
        )


@dataclass(frozen=True, slots=True)
class LayerValue:
    """A layer written as a value (an argument of another layer): `TransformerEncoderLayer(...)`."""

    name: str
    args: Args = field(compare=False)
    user_args: tuple = ()
    user_kwargs: tuple = ()


def describe(v: object) -> str:
    if isinstance(v, bool):
        return f"the boolean `{'true' if v else 'false'}`"
    if isinstance(v, (int, Sym)):
        return f"the integer `{dims.format_dim(v)}`"
    if isinstance(v, float):
        return f"the number `{v}`"
    if isinstance(v, str):
        return f'the string "{v}"'
    if v is None:
        return "`none`"
    if isinstance(v, tuple):
        return "a tuple"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, TensorT):
        return f"a tensor {v}"
    if isinstance(v, LayerValue):
        return f"the layer `{v.name}`"
    if isinstance(getattr(v, "type", None), TensorT):  # a tensor value of the checker
        return f"a tensor {v.type}"  # type: ignore[attr-defined]
    return _describe_other(v)


_LAYER_KINDS = {"torch": "the layer", "block": "the block", "py": "the module", "function": "the function"}  # fmt: skip


def _describe_other(v: object) -> str:
    """The checker's other values (layers, groups of layers, values of the code generator's
    symbolic evaluation) in the words of the spec, never by their class names."""
    kind, name = getattr(v, "kind", None), getattr(v, "name", None)
    if isinstance(kind, str) and isinstance(name, str) and kind in _LAYER_KINDS:
        return f"{_LAYER_KINDS[kind]} `{name}`"
    if getattr(v, "label", None) is not None and hasattr(v, "item"):
        return f"the labelled layer `{v.label}`"  # type: ignore[attr-defined]
    if hasattr(v, "count") and hasattr(v, "item"):
        return "a repeated layer"
    if hasattr(v, "items") and hasattr(v, "node"):
        return "a chain of layers"
    if getattr(v, "is_layer_value", False):
        return "a layer"
    if getattr(v, "is_opaque", False):
        return "a value known only when the block is built"
    if isinstance(v, dict):
        return "a dictionary"
    return "a value of another kind"


# ---------------------------------------------------------------------------------------------
# Entries
# ---------------------------------------------------------------------------------------------


def _zero(args: Args) -> Dim:
    return 0


@dataclass(frozen=True, slots=True)
class LayerEntry:
    """A `torch.nn` module known to the catalog."""

    name: str
    shape: Callable[[Args, tuple[TensorT, ...]], Out]
    params: Callable[[Args], Dim] = _zero
    buffers: Callable[[Args], Dim] = _zero
    inferred: tuple[str, ...] = ()  # constructor parameters taken from the input
    infer: Callable[[tuple[TensorT, ...]], dict[str, Any]] | None = None
    expects: str = ""  # the input layout in words, for messages: "[B, C, H, W]"
    ranks: tuple[int, ...] | None = None  # accepted input ranks (batched), None: any
    dtype: str = "float"  # "float", "long" or "any"
    inputs: tuple[str, ...] = ("input",)  # forward's tensor arguments
    required_inputs: int = 1
    types: Mapping[str, str] = field(default_factory=dict)  # argument type overrides
    layer_args: tuple[str, ...] = ()  # constructor arguments that are layers
    stateful: bool = True  # has parameters or train/eval behaviour (always a module)

    @property
    def signature(self) -> api.Signature:
        return api.module_signature(self.name) or ()


@dataclass(frozen=True, slots=True)
class FunctionEntry:
    """A stateless function: `relu` → `F.relu(x)`, `cat` → `torch.cat([...], dim=1)`."""

    name: str  # as written in a spec
    torch: str  # the call in generated code: "F.relu", "torch.cat", ".view" (a Tensor method)
    shape: Callable[[Args, tuple[TensorT, ...]], Out]
    params: tuple[str, ...] = ()  # positional parameters after the tensor input(s)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    tensor_params: tuple[str, ...] = ("input",)  # parameters holding tensors
    tensor_list: bool = False  # the first tensor parameter is a list of tensors (cat, stack)
    variadic: str | None = None  # a *args parameter taking the remaining positionals (view(*shape))
    dtype: str = "float"  # what its input must be: "float", "any"
    keywords: tuple[str, ...] = ()  # extra keyword-only parameters accepted
    expects: str = ""
    types: Mapping[str, str] = field(default_factory=dict)
    # defaults that differ from torch's, so generated code writes them
    explicit: tuple[str, ...] = ()
    # the parameters as a spec writes them, when torch's own signature does not say it (several
    # overloads, a builtin without one): used instead of the API snapshot
    signature: tuple = ()
    # makes a tensor from sizes or values (arange, zeros, tensor ...): called where it is
    # written, and generated code places the result on the device of the block's first input
    creates: bool = False
    # parameters that take a tensor or a Python number (a 0-d operand, as in `where(m, x, 0.0)`)
    scalars: tuple[str, ...] = ()
    # picks the entry of another overload from the arguments (`max(x, y)` is elementwise)
    overload: Callable[[Sequence[Any], Mapping[str, Any]], FunctionEntry | None] | None = None
    # arguments that only apply in training mode (generated code writes `p if self.training else 0.0`)
    training_only: tuple[str, ...] = ()


LAYERS: dict[str, LayerEntry] = {}
FUNCTIONS: dict[str, FunctionEntry] = {}


def layer(entry: LayerEntry) -> LayerEntry:
    assert entry.name not in LAYERS, entry.name
    LAYERS[entry.name] = entry
    return entry


def function(entry: FunctionEntry) -> FunctionEntry:
    assert entry.name not in FUNCTIONS, entry.name
    FUNCTIONS[entry.name] = entry
    return entry


# ---------------------------------------------------------------------------------------------
# Binding the arguments a user wrote to torch's parameters
# ---------------------------------------------------------------------------------------------


@dataclass
class BindProblem:
    message: str
    hint: str | None = None
    arg: int | str | None = None  # index of a positional argument or name of a keyword


def bind(
    signature: api.Signature,
    inferred: Sequence[str],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
    *,
    what: str,
    skip: Sequence[str] = (),
    extra_keywords: Sequence[str] = (),
) -> tuple[Args, list[BindProblem]]:
    """Match positional arguments to the signature's parameters that are not inferred, then
    keywords; fill defaults.  Inferred parameters may be given as keywords (checked later)."""
    problems: list[BindProblem] = []
    params = [(n, k, d) for n, k, d in signature if n not in skip]
    positional = [n for n, k, d in params if k == "pos_or_kw" and n not in inferred]
    var_pos = next((n for n, k, d in params if k == "var_pos"), None)
    names = {n for n, k, d in params if k in ("pos_or_kw", "kw_only")} | set(extra_keywords)
    out = Args()
    for i, value in enumerate(args):
        if i < len(positional):
            out[positional[i]] = value
        elif var_pos is not None:
            out.setdefault(var_pos, ())
            out[var_pos] = out[var_pos] + (value,)
        else:
            n = len(positional)
            problems.append(
                BindProblem(
                    f"{what} takes at most {n} positional argument{'s' if n != 1 else ''}, but {len(args)} were given",
                    hint=_positional_hint(positional, inferred),
                    arg=i,
                )
            )
            break
    for key, value in kwargs.items():
        if key not in names:
            close = api.suggest(key, sorted(names))
            hint = (
                f"did you mean `{close[0]}`?"
                if close
                else (
                    "it takes: "
                    + ", ".join(n for n, k, d in params if k in ("pos_or_kw", "kw_only"))
                    if names
                    else f"{what} takes no arguments"
                )
            )
            problems.append(BindProblem(f"{what} has no argument `{key}`", hint=hint, arg=key))
            continue
        if key in out:
            problems.append(
                BindProblem(f"{what} got `{key}` twice: by position and by keyword", arg=key)
            )
            continue
        out[key] = value
    for n, k, d in params:
        if n in out or k in ("var_pos", "var_kw"):
            continue
        if d == api.REQUIRED:
            if n in inferred:
                continue
            problems.append(
                BindProblem(f"{what} needs `{n}`", hint=_positional_hint(positional, inferred))
            )
        elif d != api.OBJECT:
            out[n] = d
        else:
            out[n] = None
    return out, problems


def _positional_hint(positional: Sequence[str], inferred: Sequence[str]) -> str:
    text = "its positional arguments are: " + (", ".join(positional) or "none")
    if inferred:
        text += f" ({', '.join(inferred)} {'is' if len(inferred) == 1 else 'are'} inferred from the input)"
    return text


_WHOLE = ("int", "ints", "int?", "padding", "dims")


def _type_hint(kind: str, value: Any, has_default: bool = True) -> str | None:
    """What to write instead of `value` for a parameter of `kind`, when it can be told."""
    if isinstance(value, str) and kind != "str":
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return f"write the number without quotes: `{value.strip()}`" if number == number else None
    if isinstance(value, bool):
        return "`true` and `false` are not numbers here: write a number" if kind != "bool" else None
    if isinstance(value, float) and kind in _WHOLE:
        if value.is_integer():
            return f"write `{int(value)}`: sizes and counts are whole numbers"
        return "sizes and counts are whole numbers"
    if isinstance(value, int) and kind == "bool":
        return "write `true` or `false`"
    if value is None:
        return "leave it out for its default" if has_default else "write a whole number"
    if isinstance(value, (list, tuple)) and kind in ("int", "float"):
        return "write a single number"
    return None


def check_type(name: str, value: Any, default: Any, declared: str | None) -> Hinted | None:
    """A complaint if `value` does not fit the parameter's type (declared, or guessed from torch's
    default value); None if it fits."""
    if getattr(value, "is_opaque", False):  # a generic class's parameter: checked at each use
        return None
    kind = declared or _kind_of_default(default)
    if kind is None or kind == "any" or (value is None and default is None):
        return None
    ok = _fits(value, kind)
    if ok:
        return None
    return Hinted(
        f"`{name}` must be {_KIND_WORDS.get(kind, kind)}, not {describe(value)}",
        _type_hint(kind, value),
    )


_KIND_WORDS = {
    "int": "an integer",
    "float": "a number",
    "bool": "`true` or `false`",
    "str": "a string",
    "ints": "an integer or a tuple of integers",
    "padding": 'an integer, a tuple of integers, "same" or "valid"',
    "int?": "an integer or `none`",
    "float?": "a number or `none`",
    "layer": "a layer",
    "dims": "an integer or a tuple of integers",
}


def _kind_of_default(default: Any) -> str | None:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str) and default not in (api.REQUIRED, api.OBJECT):
        return "str"
    return None


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, Sym)) and not isinstance(v, bool)


def _fits(v: Any, kind: str) -> bool:
    if kind == "int":
        return _is_int(v)
    if kind == "float":
        return _is_int(v) or isinstance(v, float)
    if kind == "bool":
        return isinstance(v, bool)
    if kind == "str":
        return isinstance(v, str)
    if kind in ("ints", "dims"):
        return _is_int(v) or (isinstance(v, (tuple, list)) and all(_is_int(x) for x in v))
    if kind == "padding":
        return _fits(v, "ints") or v in ("same", "valid")
    if kind == "int?":
        return v is None or _is_int(v)
    if kind == "float?":
        return v is None or _is_int(v) or isinstance(v, float)
    if kind == "layer":
        return isinstance(v, LayerValue)
    return True


# ---------------------------------------------------------------------------------------------
# Shape arithmetic shared by entries
# ---------------------------------------------------------------------------------------------


def prod(values: Sequence[Dim]) -> Dim:
    out: Dim = 1
    for v in values:
        out = out * v
    return out


def conv_out(
    length: Dim, k: Dim, s: Dim, p: Dim, d: Dim, *, ceil: bool = False, opaque: bool = False
) -> Dim:
    """Output length of a convolution or pooling window, as torch computes it (`opaque`: see
    `Args.opaque_quotients`)."""
    span = length + 2 * p - d * (k - 1) - 1
    if ceil:
        out = dims.floordiv(span + s - 1, s, opaque=opaque) + 1
        if (
            isinstance(out, int)
            and isinstance(length, int)
            and isinstance(p, int)
            and isinstance(s, int)
        ):
            if (out - 1) * s >= length + p:  # the last window must start inside the input
                out -= 1
        return out
    return dims.floordiv(span, s, opaque=opaque) + 1


def positive(value: Dim, what: str, arg: str | None = None) -> Dim:
    if isinstance(value, int) and value <= 0:
        raise ShapeError(
            f"{what} would be {value}",
            arg=arg,
            hint="the input is too small for this kernel, stride and padding",
        )
    return value


def norm_dim(dim: int, rank: int, what: str = "dim", *, scalar_ok: bool = False) -> int:
    """`dim` in [0, rank).  With `scalar_ok`, a 0-d tensor takes dim 0 or -1 as torch allows
    (the result, 0, must then not be used to index its empty shape)."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise ShapeError(f"`{what}` must be an integer", arg=what)
    if rank == 0 and scalar_ok and dim in (0, -1):
        return 0
    if not -rank <= dim < rank:
        raise ShapeError(
            f"`{what}`={dim} is out of range for a tensor of rank {rank}",
            arg=what,
            hint=f"valid values are {-rank} to {rank - 1}",
        )
    return dim % rank


def broadcast(a: TensorT, b: TensorT, op: str = "+") -> TensorT:
    """Numpy/torch broadcasting of two shapes."""
    ra, rb = a.shape[::-1], b.shape[::-1]
    out: list[Dim] = []
    for i in range(max(len(ra), len(rb))):
        x = ra[i] if i < len(ra) else 1
        y = rb[i] if i < len(rb) else 1
        if x == 1:
            out.append(y)
        elif y == 1:
            out.append(x)
        else:
            eq = dims.equal(x, y)
            if eq is False:
                raise ShapeError(f"shapes {a} and {b} cannot be broadcast for `{op}`")
            out.append(x)
    return TensorT(tuple(out[::-1]), result_type(a, b))


_INT_ORDER = ("bool", "uint8", "int8", "int16", "int32", "int64")
_FLOAT_ORDER = ("float16", "bfloat16", "float32", "float64")


def promote_types(a: str, b: str) -> str:
    """torch.promote_types for the dtypes the catalog knows: floats win over integers, the
    wider wins within a kind (float16 with bfloat16 gives float32, uint8 with int8 int16)."""
    if a == b:
        return a
    if (a in _FLOAT_ORDER) != (b in _FLOAT_ORDER):
        return a if a in _FLOAT_ORDER else b
    if a in _FLOAT_ORDER:
        if {a, b} == {"float16", "bfloat16"}:
            return "float32"
        return max(a, b, key=_FLOAT_ORDER.index)
    if {a, b} == {"uint8", "int8"}:
        return "int16"
    known = [d for d in (a, b) if d in _INT_ORDER]
    return max(known, key=_INT_ORDER.index) if len(known) == 2 else a


def _category(dtype: str) -> int:
    return 0 if dtype == "bool" else 2 if dtype in _FLOAT_ORDER else 1


def result_type(*types: TensorT) -> str:
    """torch.result_type: tensors with dimensions decide first, then 0-d tensors, then Python
    numbers (`ScalarT`); a lower priority group only matters when its kind (bool < integer <
    float) is higher, and Python numbers then give torch's default (int64, float32)."""
    groups: list[list[TensorT]] = [[], [], []]
    for t in types:
        groups[2 if isinstance(t, ScalarT) else 1 if t.rank == 0 else 0].append(t)
    dtype: str | None = None
    for g, members in enumerate(groups):
        if not members:
            continue
        best = members[0].dtype
        for t in members[1:]:
            best = promote_types(best, t.dtype)
        if g == 2:
            best = ("bool", "int64", "float32")[max(_category(t.dtype) for t in members)]
        if dtype is None or _category(best) > _category(dtype):
            dtype = best
    return dtype or "float32"


def same_shape(a: TensorT) -> TensorT:
    return a


def isqrt_exact(n: int) -> int | None:
    r = math.isqrt(n)
    return r if r * r == n else None


def arithmetic_type(op: str, a: TensorT, b: TensorT) -> TensorT:
    """The type of `a op b` for `+ - * / // % **` (one side may be a Python number): the
    broadcast shape, and torch's dtype: integers stay integers (`idx * 2` is long), `/` is a
    true division (float), a bool tensor cannot be subtracted."""
    out = broadcast(a, b, op)
    if (
        op == "-"
        and "bool" in (a.dtype, b.dtype)
        and not (isinstance(a, ScalarT) and isinstance(b, ScalarT))
    ):
        raise ShapeError(
            f"`-` cannot subtract with a bool tensor ({a if a.dtype == 'bool' else b})",
            hint="convert it first, as in `mask.float()` or `mask.long()`",
        )
    if op in ("//", "%", "**") and out.dtype == "bool":
        raise ShapeError(
            f"`{op}` is not defined for two bool tensors",
            hint="convert them first, as in `mask.long()`",
        )
    if op == "/" and out.dtype not in FLOAT_DTYPES:
        return TensorT(out.shape, "float32")
    return out
