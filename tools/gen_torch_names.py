"""Generate ``nndsl/catalog/torch_names.py``: the names of torch's functions and Tensor methods
that a spec may call outside nndsl's own catalog (the checker infers them by running torch on
meta tensors, see ``nndsl/check/torchfn.py``).

Usage::

    .venv/bin/python tools/gen_torch_names.py            # rewrite the committed list
    .venv/bin/python tools/gen_torch_names.py --stdout   # print it (used by the tests)

The rule, applied to the installed torch (nothing is picked by hand except the refusals below):

* ``torch.<name>``: public, callable, not a class or module, and a tensor operation: one of
  torch's ATen operators (``torch._C._VariableFunctions``, defined with ``__module__ == "torch"``
  as builtins) or a function of ``torch.functional`` (``einsum``, ``meshgrid``, ``split``, ...);
* ``torch.nn.functional.<name>``: public functions defined by ``torch.nn.functional`` or bound
  to torch's operators there (the same rule as ``FUNCTIONAL`` in ``torch_api.py``);
* ``Tensor.<name>``: public methods (not properties) of ``torch.Tensor``.

Refused (written to ``REFUSED`` with the reason the checker reports): in-place forms (a trailing
``_``: a spec's values are never modified after they are made), and the few names whose job is a
side effect or leaves the tensor world (autograd hooks, storage, device moves, conversions to
Python or numpy, process-wide settings, backend-specific kernels).
"""

from __future__ import annotations

import argparse
import inspect
import sys
import textwrap
from pathlib import Path

import black
import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO_ROOT / "nndsl" / "catalog" / "torch_names.py"

FUNCTIONAL_EXCLUDED = {
    "assert_int_or_pair",
    "boolean_dispatch",
    "handle_torch_function",
    "has_torch_function",
    "has_torch_function_unary",
    "has_torch_function_variadic",
}
FUNCTIONAL_MODULES = {"torch.nn.functional", "torch", "torch._C._nn", "torch._C._VariableFunctions"}

SIDE_EFFECT, DEVICE, PYTHON, AUTOGRAD, BACKEND, DATA = (
    "side_effect", "device", "python", "autograd", "backend", "data"
)  # fmt: skip
REASONS = {
    SIDE_EFFECT: "it acts on state outside the model's values, which a spec does not do",
    DEVICE: "tensors follow the model's device; a spec never moves them",
    PYTHON: "it leaves the tensor world (Python or numpy values, memory, storage)",
    AUTOGRAD: "autograd hooks and gradients belong to training code, not to a model's forward",
    BACKEND: "it is a backend-specific kernel, not part of torch's portable API",
    DATA: "its result depends on the tensor's values, so it is not known before the model runs",
}

REFUSED_METHODS = {
    "backward": AUTOGRAD,
    "register_hook": AUTOGRAD,
    "register_post_accumulate_grad_hook": AUTOGRAD,
    "retain_grad": AUTOGRAD,
    "reinforce": AUTOGRAD,
    "cpu": DEVICE,
    "cuda": DEVICE,
    "ipu": DEVICE,
    "xpu": DEVICE,
    "mtia": DEVICE,
    "pin_memory": DEVICE,
    "record_stream": DEVICE,
    "numpy": PYTHON,
    "tolist": PYTHON,
    "item": DATA,
    "data_ptr": PYTHON,
    "const_data_ptr": PYTHON,
    "storage": PYTHON,
    "untyped_storage": PYTHON,
    "storage_type": PYTHON,
    "storage_offset": PYTHON,
    "is_shared": PYTHON,
    "is_pinned": PYTHON,
    "is_set_to": PYTHON,
    "module_load": PYTHON,
    "as_subclass": PYTHON,
    "new": PYTHON,
    "resize": SIDE_EFFECT,
    "resize_as": SIDE_EFFECT,
    "to_mkldnn": BACKEND,
}
# torch.<name> builtins that read files or buffers, script or configure the process
REFUSED_FUNCTIONS = {
    "from_file": PYTHON,
    "frombuffer": PYTHON,
    "from_numpy": PYTHON,
    "fork": SIDE_EFFECT,
    "wait": SIDE_EFFECT,
    "init_num_threads": SIDE_EFFECT,
    "clear_autocast_cache": SIDE_EFFECT,
    "compiled_with_cxx11_abi": PYTHON,
    "merge_type_from_type_comment": PYTHON,
    "unify_type_list": PYTHON,
    "typename": PYTHON,
}
REFUSED_PREFIXES = {
    "autocast_": SIDE_EFFECT,
    "import_ir_": PYTHON,
    "parse_": PYTHON,
    "set_": SIDE_EFFECT,
    "get_": SIDE_EFFECT,
    "cudnn_": BACKEND,
    "miopen_": BACKEND,
    "mkldnn_": BACKEND,
    "fbgemm_": BACKEND,
    "quantized_": BACKEND,
    "sym_": PYTHON,
}


def _refusal(name: str, exists) -> str | None:
    if name.endswith("_") and not name.endswith("__"):
        return "inplace"
    for prefix, why in REFUSED_PREFIXES.items():
        if name.startswith(prefix):
            return why
    return None


def torch_functions() -> tuple[list[str], dict[str, str]]:
    ok, refused = [], {}
    for name in sorted(dir(torch)):
        if name.startswith("_"):
            continue
        obj = getattr(torch, name)
        if inspect.isclass(obj) or inspect.ismodule(obj) or not callable(obj):
            continue
        module = getattr(obj, "__module__", None)
        aten = module == "torch" and inspect.isbuiltin(obj)
        if not (aten or module == "torch.functional"):
            continue
        why = REFUSED_FUNCTIONS.get(name) or _refusal(name, lambda n: hasattr(torch, n))
        if name.startswith(("is_", "are_")) and name.endswith("_enabled"):
            why = SIDE_EFFECT
        if why:
            refused[name] = why
        else:
            ok.append(name)
    return ok, refused


def functional_functions() -> tuple[list[str], dict[str, str]]:
    ok, refused = [], {}
    for name in sorted(dir(F)):
        obj = getattr(F, name)
        if name.startswith("_") or name in FUNCTIONAL_EXCLUDED or inspect.isclass(obj):
            continue
        if not callable(obj) or getattr(obj, "__module__", None) not in FUNCTIONAL_MODULES:
            continue
        why = _refusal(name, lambda n: hasattr(F, n))
        if why:
            refused[name] = why
        else:
            ok.append(name)
    return ok, refused


def tensor_methods() -> tuple[list[str], dict[str, str]]:
    ok, refused = [], {}
    for name in sorted(dir(torch.Tensor)):
        if name.startswith("_"):
            continue
        obj = inspect.getattr_static(torch.Tensor, name)
        if isinstance(obj, property) or not callable(getattr(torch.Tensor, name)):
            continue
        if type(obj).__name__ == "getset_descriptor":
            continue
        why = REFUSED_METHODS.get(name) or _refusal(name, lambda n: hasattr(torch.Tensor, n))
        if why:
            refused[name] = why
        else:
            ok.append(name)
    return ok, refused


def _names(title: str, var: str, names: list[str]) -> str:
    lines = textwrap.wrap(" ".join(names), width=92, break_on_hyphens=False)
    body = "".join(f"    {line}\n" for line in lines)
    return (
        f'# {title}\n_{var} = """\n{body}"""\n{var}: frozenset[str] = frozenset(_{var}.split())\n\n'
    )


def render() -> str:
    fns, r1 = torch_functions()
    fun, r2 = functional_functions()
    meth, r3 = tensor_methods()
    refused = {**r1, **r2, **r3}
    text = (
        "# Generated by tools/gen_torch_names.py from torch "
        f"{torch.__version__.split('+')[0]}. Do not edit.\n"
        "# Regenerate with: .venv/bin/python tools/gen_torch_names.py\n"
        '"""Names of torch\'s functions and Tensor methods a spec may call beyond nndsl\'s catalog.\n\n'
        "Importing this module never imports torch.  The checker infers these calls by running torch\n"
        'on meta tensors (``nndsl/check/torchfn.py``); the rule that picks them is in the generator.\n"""\n\n'
        f"TORCH_VERSION = {torch.__version__.split('+')[0]!r}\n\n"
        + _names("torch.<name>: torch's tensor operators.", "TORCH", fns)
        + _names("torch.nn.functional.<name>.", "FUNCTIONAL", fun)
        + _names("Tensor.<name>: methods (properties are not calls).", "TENSOR", meth)
        + "# Why a spec may not call a name torch has (REFUSED maps names to these keys).\n"
        + "REASONS: dict[str, str] = {\n"
        + "".join(f"    {k!r}: {v!r},\n" for k, v in REASONS.items())
        + "}\n\n"
        + "# Names torch has that a spec may not call (in-place forms are refused by their `_`).\n"
        + "REFUSED: dict[str, str] = {\n"
        + "".join(f"    {k!r}: {v!r},\n" for k, v in sorted(refused.items()))
        + "}\n"
    )
    return black.format_str(text, mode=black.Mode(line_length=100))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stdout", action="store_true")
    args = parser.parse_args(argv)
    text = render()
    if args.stdout:
        sys.stdout.write(text)
    else:
        DEFAULT_OUTPUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
