"""Generate ``nndsl/catalog/torch_api.py``: a static snapshot of torch's public API signatures.

The compiler's ``check`` command must never import torch, yet it wants to validate layer,
functional, optimizer, scheduler and init names and their keyword arguments.  This script
imports torch once, at development time, and writes plain dict/tuple literals that the
catalog can read without torch.

Usage::

    .venv/bin/python tools/gen_torch_api.py               # rewrite the committed snapshot
    .venv/bin/python tools/gen_torch_api.py -o out.py     # write elsewhere (used by the tests)
    .venv/bin/python tools/gen_torch_api.py --stdout

The output is deterministic (sorted keys, torch's own parameter order, black-formatted), so
regenerating against the same torch gives identical bytes.

Each signature is a tuple of ``(param_name, kind, default)``:

* ``kind`` is one of ``"pos_or_kw"``, ``"kw_only"``, ``"var_pos"``, ``"var_kw"``;
* ``default`` is a Python literal (int, float, bool, str, None, or a tuple of those),
  ``"<required>"`` when the parameter has no default (always the case for ``*args`` and
  ``**kwargs``), or ``"<object>"`` when the default is not a plain literal (a function, a
  ``torch.memory_format``, a non-finite float, a list, ...).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import math
import re
import sys
import typing
from collections.abc import Callable, Iterable
from pathlib import Path

import black
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "nndsl" / "catalog" / "torch_api.py"
LINE_LENGTH = 100  # the project's [tool.ruff] line-length, so `ruff format` leaves it alone

REQUIRED = "<required>"
OBJECT = "<object>"

POS_OR_KW = "pos_or_kw"
KW_ONLY = "kw_only"
VAR_POS = "var_pos"
VAR_KW = "var_kw"

Param = tuple[str, str, object]
Signature = tuple[Param, ...]

_KIND = {
    # torch's public Python APIs have no positional-only parameters in the pinned version;
    # the generator asserts that below rather than inventing a fifth kind.
    inspect.Parameter.POSITIONAL_OR_KEYWORD: POS_OR_KW,
    inspect.Parameter.KEYWORD_ONLY: KW_ONLY,
    inspect.Parameter.VAR_POSITIONAL: VAR_POS,
    inspect.Parameter.VAR_KEYWORD: VAR_KW,
}

# torch.nn classes that are bases or deprecated shells rather than usable layers.
EXCLUDED_MODULES = {
    "Module": "the base class",
    "Container": "deprecated base, (*args, **kwargs)",
    "RNNBase": "base of RNN/LSTM/GRU (takes a `mode` string)",
    "RNNCellBase": "base of RNNCell/LSTMCell/GRUCell",
}

# Classified as containers although defined outside torch.nn.modules.container.
EXTRA_CONTAINERS = {"DataParallel"}

# Defined in torch.nn.modules.activation but not an activation function.
KIND_OVERRIDES = {"MultiheadAttention": "layer"}

# Imported helpers that live in torch.nn.functional's namespace but are not nn functions.
FUNCTIONAL_EXCLUDED = {
    "assert_int_or_pair",  # argument-checking helper defined in torch.nn.functional
    "boolean_dispatch",
    "handle_torch_function",
    "has_torch_function",
    "has_torch_function_unary",
    "has_torch_function_variadic",
}
FUNCTIONAL_MODULES = {"torch.nn.functional", "torch", "torch._C._nn", "torch._C._VariableFunctions"}

TORCH_FUNCTION_NAMES = (
    "cat concat stack flatten reshape view permute transpose squeeze unsqueeze mean sum amax "
    "amin max min matmul bmm mm einsum softmax log_softmax sigmoid tanh relu exp log sqrt abs "
    "clamp split chunk where zeros_like ones_like argmax argmin topk norm cumsum prod std var "
    "expand repeat roll flip gather narrow movedim tile outer masked_fill maximum minimum pow "
    "square rsqrt erf sin cos logsumexp contiguous randn_like rand_like"
).split()
TENSOR_METHODS = {"view", "expand", "repeat", "contiguous"}

INIT_FRIENDLY_REQUIRED = (
    "normal uniform zeros ones constant xavier_uniform xavier_normal kaiming_uniform "
    "kaiming_normal trunc_normal orthogonal eye dirac sparse"
).split()


class SignatureError(Exception):
    """A signature text could not be parsed."""


# --------------------------------------------------------------------------- defaults


def literal(value: object) -> object:
    """Return ``value`` if it is a plain literal we can write out, else ``"<object>"``."""
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if math.isfinite(value) else OBJECT
    if type(value) is tuple:
        items = tuple(literal(v) for v in value)
        return OBJECT if OBJECT in items else items
    return OBJECT


_ARITH = {ast.Add: float.__add__, ast.Sub: float.__sub__, ast.Mult: float.__mul__}


def _eval_constant(node: ast.AST) -> object:
    """Evaluate literals plus the constant arithmetic docstrings use (``lower=1./8``)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Tuple):
        return tuple(_eval_constant(elt) for elt in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval_constant(node.operand)
        if type(value) in (int, float):
            return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval_constant(node.left), _eval_constant(node.right)
        if type(left) in (int, float) and type(right) in (int, float):
            if isinstance(node.op, ast.Div) and right:
                return left / right
            if type(node.op) in _ARITH:
                result = _ARITH[type(node.op)](float(left), float(right))
                both_int = type(left) is int and type(right) is int
                return int(result) if both_int else result
    raise ValueError(f"not a constant: {ast.dump(node)}")


def literal_from_text(text: str) -> object:
    """Evaluate a default written in a docstring or schema (``1.``, ``'none'``, ``(1, 1)``)."""
    try:
        value = _eval_constant(ast.parse(text.strip(), mode="eval").body)
    except (ValueError, SyntaxError, RecursionError):
        return OBJECT
    return literal(value)


# --------------------------------------------------------------------------- inspect


def from_inspect(sig: inspect.Signature, drop_first: str | None = None) -> Signature:
    params = list(sig.parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    if drop_first is not None and params and params[0].name == drop_first:
        params = params[1:]
    out = []
    for p in params:
        if p.kind not in _KIND:
            raise SignatureError(f"unsupported parameter kind {p.kind} for {p.name}")
        default = REQUIRED if p.default is inspect.Parameter.empty else literal(p.default)
        out.append((p.name, _KIND[p.kind], default))
    return tuple(out)


def is_generic(sig: Signature) -> bool:
    """True for ``(*args, **kwargs)``-style signatures that say nothing useful."""
    return all(kind in (VAR_POS, VAR_KW) for _, kind, _ in sig) and len(sig) > 0


# --------------------------------------------------------------------------- text parsing


def _split_top_level(text: str, sep: str) -> list[str]:
    parts, depth, quote, cur = [], 0, None, []
    for ch in text:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_doc_params(text: str) -> tuple[Signature, bool]:
    """Parse ``input, weight, bias=None, *, out=None`` (optionally with annotations).

    Returns the signature and whether an ``Optional[...]`` annotation without a default was
    read as ``=None`` (torch's annotated docstrings leave that default out).
    """
    out: list[Param] = []
    kw_only = False
    implied_none = False
    for raw in _split_top_level(" ".join(text.split()), ","):
        piece = raw.strip()
        if not piece:
            continue
        if piece == "*":
            kw_only = True
            continue
        if piece == "/":
            raise SignatureError("positional-only marker")
        if piece.startswith("**"):
            out.append((_ident(piece[2:].split(":")[0]), VAR_KW, REQUIRED))
            continue
        if piece.startswith("*"):
            out.append((_ident(piece[1:].split(":")[0]), VAR_POS, REQUIRED))
            kw_only = True
            continue
        lhs, *rhs = _split_top_level(piece, "=")
        name, _, annotation = lhs.partition(":")
        if rhs:
            default = literal_from_text("=".join(rhs))
        elif annotation.strip().startswith("Optional["):
            default, implied_none = None, True
        else:
            default = REQUIRED
        out.append((_ident(name), KW_ONLY if kw_only else POS_OR_KW, default))
    return tuple(out), implied_none


def _ident(text: str) -> str:
    name = text.strip()
    if not name.isidentifier():
        raise SignatureError(f"not an identifier: {name!r}")
    return name


def doc_overloads(name: str, doc: str | None) -> list[tuple[str, str]]:
    """Every ``name(...) -> ret`` signature line of a docstring, as (params text, return)."""
    if not doc:
        return []
    head = re.compile(
        rf"^[ \t]*(?:\.\.[ \t]+(?:function|method)::[ \t]*)?(?:torch\.)?{re.escape(name)}\(",
        re.MULTILINE,
    )
    found = []
    for match in head.finditer(doc):
        start = i = match.end()
        depth, quote = 1, None
        while i < len(doc) and depth:
            ch = doc[i]
            if quote:
                if ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
            elif ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
            i += 1
        if depth:
            continue
        rest = doc[i:].split("\n", 1)[0].strip()
        ret = rest[2:].strip().rstrip(":").strip() if rest.startswith("->") else ""
        found.append((doc[start : i - 1], ret))
    return found


def parse_schema(schema: str, method: bool) -> Signature:
    """Parse an ATen schema: ``aten::relu(Tensor self) -> Tensor``.

    A Tensor ``self`` becomes ``input`` for ``torch.xxx`` functions (as torch's Python
    bindings do; a Scalar ``self`` keeps its name) and is dropped for Tensor methods.
    """
    args = schema[schema.index("(") + 1 : schema.rindex(") ->")]
    out: list[Param] = []
    kw_only = False
    for raw in _split_top_level(args, ","):
        piece = raw.strip()
        if not piece:
            continue
        if piece == "*":
            kw_only = True
            continue
        lhs, *rhs = _split_top_level(piece, "=")
        type_, name = lhs.rsplit(None, 1)
        if name == "self":
            if method:
                continue
            if type_.startswith("Tensor"):
                name = "input"
        default = literal_from_text("=".join(rhs)) if rhs else REQUIRED
        out.append((_ident(name), KW_ONLY if kw_only else POS_OR_KW, default))
    return tuple(out)


def schema_overloads(name: str, method: bool) -> list[Signature]:
    """The non-``out`` ATen overloads of ``aten::name``, in registration order."""
    found = []
    for schema in map(str, torch._C._jit_get_schemas_for_operator(f"aten::{name}")):
        overload = schema.split("(", 1)[0].partition(".")[2]
        if "out" in overload or "(a!)" in schema:
            continue
        try:
            found.append(parse_schema(schema, method))
        except SignatureError:
            continue
    return found


def align_with_schema(sig: Signature, schemas: list[Signature]) -> tuple[Signature, list[str]]:
    """Rename positional docstring parameters that the Python binding spells differently.

    Docstrings occasionally disagree with the binding (``one_hot(tensor, ...)`` is really
    ``one_hot(input, ...)``; ``Tensor.view(*shape)`` is really ``view(*size)``).  A positional
    name found in no ATen overload takes the name at the same position of the first overload
    that has one still unused.  Keyword-only extras of the binding (``requires_grad``) stay.
    """
    if not schemas:
        return sig, []
    known = {p for schema in schemas for p, _, _ in schema}
    taken = {p for p, _, _ in sig}
    fixed: list[Param] = []
    renames: list[str] = []
    for index, (name, kind, default) in enumerate(sig):
        if name not in known and kind in (POS_OR_KW, VAR_POS):
            for schema in schemas:
                positional = [p for p, k, _ in schema if k == POS_OR_KW]
                if index < len(positional) and positional[index] not in taken:
                    renames.append(f"{name}->{positional[index]}")
                    name = positional[index]
                    taken.add(name)
                    break
        fixed.append((name, kind, default))
    return tuple(fixed), renames


def from_schema(name: str, method: bool) -> Signature | None:
    found = schema_overloads(name, method)
    return found[0] if found else None


# --------------------------------------------------------------------------- resolution


class Resolver:
    """Turns callables into signatures, collecting notes about the non-obvious cases."""

    def __init__(self) -> None:
        self.notes: dict[str, str] = {}

    def note(self, key: str, text: str) -> None:
        self.notes[key] = f"{self.notes[key]}; {text}" if key in self.notes else text

    def callable_signature(
        self, key: str, name: str, obj: Callable[..., object], method: bool = False
    ) -> tuple[Signature | None, tuple[Signature, ...]]:
        """Return (chosen signature, every docstring overload) for a function or builtin."""
        dispatched = None
        if inspect.isfunction(obj):  # the registry is a WeakKeyDictionary
            dispatched = torch._jit_internal.boolean_dispatched.get(obj)
        if dispatched is not None:
            self.note(key, f"boolean_dispatch on {dispatched['arg_name']}, if_false signature")
            obj = dispatched["if_false"]

        inspected: Signature | None = None
        try:
            inspected = from_inspect(inspect.signature(obj))
        except (ValueError, TypeError):
            inspected = None

        overloads: list[Signature] = []
        returns: list[str] = []
        implied = False
        renames: list[str] = []
        schemas = schema_overloads(name, method) if inspected is None else []
        for params, ret in doc_overloads(name, obj.__doc__):
            try:
                sig, implied_none = parse_doc_params(params)
            except SignatureError:
                continue
            sig, renamed = align_with_schema(sig, schemas)
            renames += [r for r in renamed if r not in renames]
            implied = implied or implied_none
            overloads.append(sig)
            returns.append(ret)

        if inspected is not None and not (is_generic(inspected) and overloads):
            return inspected, ()

        if overloads:
            index = next((i for i, r in enumerate(returns) if "Tensor" in r), 0)
            parts = []
            if inspected is not None:
                parts.append(f"inspect gives {_render_generic(inspected)}")
            parts.append("docstring")
            if len(overloads) > 1:
                parts.append(f"overload {index + 1} of {len(overloads)}")
            if implied:
                parts.append("bare Optional[...] read as =None")
            if renames:
                parts.append("ATen names " + ", ".join(renames))
            self.note(key, "; ".join(parts))
            all_overloads = tuple(overloads) if len(overloads) > 1 else ()
            return overloads[index], all_overloads

        schema_sig = from_schema(name, method)
        if schema_sig is not None:
            renamed = "self dropped" if method else "self renamed input"
            self.note(key, f"no docstring; ATen schema, {renamed}")
            return schema_sig, ()

        if inspected is not None:
            return inspected, ()
        self.note(key, "no recoverable signature")
        return None, ()


def _render_generic(sig: Signature) -> str:
    stars = {VAR_POS: "*", VAR_KW: "**"}
    return "(" + ", ".join(stars[kind] + name for name, kind, _ in sig) + ")"


def public_classes(module: object) -> Iterable[tuple[str, type]]:
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if not name.startswith("_") and inspect.isclass(obj):
            yield name, obj


def class_signature(
    cls: type, drop_first: str | None = None, res: Resolver | None = None, key: str = ""
) -> Signature:
    init = cls.__init__
    if init is torch.nn.Module.__init__:
        # Modules without their own __init__ (Tanh, Sigmoid, ...) take no arguments.
        return ()
    sig = from_inspect(inspect.signature(cls), drop_first)
    if [kind for _, kind, _ in sig] == [VAR_POS, VAR_KW]:
        # RNN/LSTM/GRU declare `__init__(self, *args, **kwargs)` at runtime and spell out the
        # real parameters in a typing.overload; take the first overload that does.
        for overload in typing.get_overloads(init):
            candidate = from_inspect(inspect.signature(overload), drop_first)
            if not is_generic(candidate):
                if res is not None:
                    res.note(key, "runtime (*args, **kwargs); first typing.overload of __init__")
                return candidate
    return sig


# --------------------------------------------------------------------------- sections


def collect_modules(res: Resolver) -> tuple[dict[str, Signature], dict[str, str]]:
    nn = torch.nn
    modules: dict[str, Signature] = {}
    kinds: dict[str, str] = {}
    for name, cls in public_classes(nn):
        if not issubclass(cls, nn.Module) or name in EXCLUDED_MODULES:
            continue
        if inspect.isabstract(cls):
            continue
        modules[name] = class_signature(cls, res=res, key=f"MODULES.{name}")
        if name in KIND_OVERRIDES:
            kind = KIND_OVERRIDES[name]
        elif cls.__module__ == "torch.nn.modules.loss":
            kind = "loss"
        elif cls.__module__ == "torch.nn.modules.activation":
            kind = "activation"
        elif cls.__module__ == "torch.nn.modules.container" or name in EXTRA_CONTAINERS:
            kind = "container"
        else:
            kind = "layer"
        kinds[name] = kind
        if is_generic(modules[name]):
            res.note(f"MODULES.{name}", f"torch declares only {_render_generic(modules[name])}")
    return modules, kinds


def collect_functional(res: Resolver) -> tuple[dict[str, Signature | None], dict]:
    F = torch.nn.functional
    out: dict[str, Signature | None] = {}
    overloads: dict[str, tuple[Signature, ...]] = {}
    for name in sorted(dir(F)):
        obj = getattr(F, name)
        if name.startswith("_") or name in FUNCTIONAL_EXCLUDED or inspect.isclass(obj):
            continue
        if not callable(obj) or getattr(obj, "__module__", None) not in FUNCTIONAL_MODULES:
            continue
        sig, all_sigs = res.callable_signature(f"FUNCTIONAL.{name}", name, obj)
        out[name] = sig
        if all_sigs:
            overloads[name] = all_sigs
    return out, overloads


def collect_torch_functions(res: Resolver) -> tuple[dict[str, Signature | None], dict]:
    out: dict[str, Signature | None] = {}
    overloads: dict[str, tuple[Signature, ...]] = {}
    for name in sorted(TORCH_FUNCTION_NAMES):
        method = name in TENSOR_METHODS
        obj = getattr(torch.Tensor if method else torch, name)
        key = f"TORCH_FUNCTIONS.{name}"
        sig, all_sigs = res.callable_signature(key, name, obj, method=method)
        if method:
            detail = res.notes.pop(key, None)
            res.note(key, "Tensor method")
            if detail:
                res.note(key, detail)
        out[name] = sig
        if all_sigs:
            overloads[name] = all_sigs
    return out, overloads


def collect_optimizers(res: Resolver) -> dict[str, Signature]:
    optim = torch.optim
    out = {}
    for name, cls in public_classes(optim):
        if issubclass(cls, optim.Optimizer) and cls is not optim.Optimizer:
            out[name] = class_signature(cls, drop_first="params")
    return out


def collect_schedulers(res: Resolver) -> dict[str, Signature]:
    sched = importlib.import_module("torch.optim.lr_scheduler")
    bases = (sched.LRScheduler, sched.ReduceLROnPlateau)
    out = {}
    for name, cls in public_classes(sched):
        if cls.__module__ != sched.__name__ or cls is sched.LRScheduler:
            continue
        if issubclass(cls, bases):
            out[name] = class_signature(cls, drop_first="optimizer")
            if any(p == "optimizer" for p, _, _ in out[name]):
                res.note(f"SCHEDULERS.{name}", "optimizer is not the first parameter; kept")
    return out


def collect_init(res: Resolver) -> tuple[dict[str, Signature], dict[str, str]]:
    init = torch.nn.init
    funcs = {
        name: obj
        for name in sorted(dir(init))
        if not name.startswith("_")
        and inspect.isfunction(obj := getattr(init, name))
        and obj.__module__ == init.__name__
    }
    out: dict[str, Signature] = {}
    for name, obj in funcs.items():
        if not name.endswith("_") and f"{name}_" in funcs:
            continue  # deprecated alias of the in-place version
        out[name] = from_inspect(inspect.signature(obj), drop_first="tensor")
    friendly = {name[:-1]: name for name in out if name.endswith("_")}
    missing = set(INIT_FRIENDLY_REQUIRED) - set(friendly)
    if missing:
        raise SystemExit(f"torch.nn.init lacks expected initialisers: {sorted(missing)}")
    return out, friendly


# --------------------------------------------------------------------------- rendering


def torch_version() -> str:
    return torch.__version__.split("+", 1)[0]


def _dict(name: str, annotation: str, data: dict) -> str:
    body = ", ".join(f"{k!r}: {data[k]!r}" for k in sorted(data))
    return f"{name}: {annotation} = {{{body}}}\n\n"


def render() -> str:
    res = Resolver()
    modules, kinds = collect_modules(res)
    functional, functional_overloads = collect_functional(res)
    torch_functions, torch_overloads = collect_torch_functions(res)
    optimizers = collect_optimizers(res)
    schedulers = collect_schedulers(res)
    init_functions, init_names = collect_init(res)
    version = torch_version()

    src = [
        f"# Generated by tools/gen_torch_api.py from torch {version}. Do not edit.\n",
        "# Regenerate with: .venv/bin/python tools/gen_torch_api.py\n",
        '"""Static snapshot of torch\'s public API signatures; importing it never imports torch.\n'
        "\n"
        "A signature is a tuple of ``(param_name, kind, default)`` in torch's parameter order.\n"
        "``kind`` is one of ``pos_or_kw``, ``kw_only``, ``var_pos``, ``var_kw``.  ``default`` is\n"
        "a literal (int, float, bool, str, None, tuple of those), ``REQUIRED`` when there is no\n"
        "default (always for ``*args``/``**kwargs``), or ``OBJECT`` when the default is not a\n"
        "plain literal.  ``None`` in place of a signature means none could be recovered.\n"
        "``SIGNATURE_NOTES`` explains signatures that were not read straight from\n"
        "``inspect.signature`` (docstring parsing, overload choice, ATen schema fallback).\n"
        '"""\n\n',
        "Param = tuple[str, str, object]\n",
        "Signature = tuple[Param, ...]\n\n",
        f"TORCH_VERSION = {version!r}\n",
        f"REQUIRED = {REQUIRED!r}\n",
        f"OBJECT = {OBJECT!r}\n\n",
        "# Every public torch.nn.Module subclass, keyed by class name (constructor signature).\n",
        _dict("MODULES", "dict[str, Signature]", modules),
        '# "loss", "activation", "container" or "layer".\n',
        _dict("MODULE_KIND", "dict[str, str]", kinds),
        "# torch.nn.functional.<name>.\n",
        _dict("FUNCTIONAL", "dict[str, Signature | None]", functional),
        "# Every docstring overload where FUNCTIONAL holds only one of several.\n",
        _dict("FUNCTIONAL_OVERLOADS", "dict[str, tuple[Signature, ...]]", functional_overloads),
        "# torch.<name>, or torch.Tensor.<name> for view/expand/repeat/contiguous (no self).\n",
        _dict("TORCH_FUNCTIONS", "dict[str, Signature | None]", torch_functions),
        "# Every docstring overload where TORCH_FUNCTIONS holds only one of several.\n",
        _dict("TORCH_FUNCTION_OVERLOADS", "dict[str, tuple[Signature, ...]]", torch_overloads),
        "# torch.optim.<name>, without the leading `params`.\n",
        _dict("OPTIMIZERS", "dict[str, Signature]", optimizers),
        "# torch.optim.lr_scheduler.<name>, without the leading `optimizer`.\n",
        _dict("SCHEDULERS", "dict[str, Signature]", schedulers),
        "# torch.nn.init.<name>, without the leading `tensor`; deprecated aliases left out.\n",
        _dict("INIT_FUNCTIONS", "dict[str, Signature]", init_functions),
        "# Friendly initialiser name -> torch.nn.init function name.\n",
        _dict("INIT_TORCH_NAME", "dict[str, str]", init_names),
        '# "SECTION.name" -> how a signature was obtained, when not plainly by inspect.\n',
        _dict("SIGNATURE_NOTES", "dict[str, str]", res.notes),
    ]
    return black.format_str("".join(src), mode=black.Mode(line_length=LINE_LENGTH))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--stdout", action="store_true", help="print instead of writing")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8", newline="\n")
        print(f"wrote {args.output} ({len(text.encode())} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
