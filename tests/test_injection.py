"""A spec cannot inject code into the generated files.

Hostile identifiers (Python keywords, builtins, the names the generated files use themselves),
strings with quotes, backslashes, newlines and triple quotes, hostile file names, huge numbers and
infinities: each spec is either refused with a diagnostic, or generated into files that import
cleanly, run, do nothing else (a payload that would create a file never does), and hold every
string exactly as written.

Cases marked xfail are known bugs of the model generator (nndsl/codegen/model.py), which this
suite does not own: they fail strictly, so fixing one makes its test say so.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from nndsl import interp
from nndsl.check import check_file
from nndsl.codegen import GenerateError, generate_files

TRAIN = """
train {{
    model     = {model}
    data      = iris(val_split=0.2)
    loss      = CrossEntropyLoss()
    optimizer = Adam(lr=0.01)
    epochs    = 1
}}
"""


def nn_string(s: str) -> str:
    """A string literal of the .nn language holding exactly `s`."""
    for a, b in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        s = s.replace(a, b)
    return '"' + s.replace("\0", "\\0") + '"'


class Outcome:
    def __init__(self, text: str, path: str = "spec.nn") -> None:
        self.checked = check_file(path, text)
        self.errors = [d for d in self.checked.diagnostics if d.is_error]
        self.files: dict = {}
        self.modules: dict = {}
        if self.errors:
            return
        models = [m for m, inst in self.checked.models.items() if inst is not None]
        try:
            self.files = generate_files(self.checked, models, with_data=False)
        except GenerateError as exc:  # refused at generation: a message, no code
            self.errors = [exc]
            return
        sources = {k: v for k, v in self.files.items() if isinstance(v, str)}
        for name, source in sources.items():
            compile(source, name, "exec")  # valid Python, whatever went in
        self.modules = interp.load(sources, path)

    @property
    def refused(self) -> bool:
        return bool(self.errors)


def _assert_refused_cleanly(outcome: Outcome) -> None:
    for d in outcome.errors:
        message = getattr(d, "message", str(d))
        assert message and "Traceback" not in message and "internal" not in message.lower()


def _forward(module_class, *args):
    import torch

    net = module_class().eval()
    with torch.no_grad():
        return net(*args)


# ---- hostile identifiers ----------------------------------------------------------------------

# Every kind of name gets the keywords that parse as names in Python's eyes, the builtins and
# module attributes generated code relies on, and the names generated code imports; a model's
# name also goes into train.py, so it gets train.py's own module-level names too.
KEYWORDS = ["class", "lambda", "None", "True", "pass", "yield", "await", "match", "case", "type"]
PYTHON_NAMES = [
    "__import__", "__builtins__", "__class__", "__init__", "__file__", "__name__", "os", "self",
    "nn", "F", "torch", "Tensor", "OrderedDict", "super", "print", "exec", "forward",
]  # fmt: skip
SCRIPT_NAMES = ["sys", "np", "math", "dist", "CONFIG", "Meter", "main", "train", "model", "Path"]
NAMES = {kind: KEYWORDS + PYTHON_NAMES for kind in ("input", "dim", "label", "value", "block")}
NAMES.update(model=KEYWORDS + PYTHON_NAMES + SCRIPT_NAMES, param=PYTHON_NAMES, const=PYTHON_NAMES)

# (kind, name) pairs the model generator would get wrong; the checker refuses them now (the test
# accepts a refusal with a diagnostic), so none is expected to fail
KNOWN_BAD: dict[tuple[str, str], str] = {}


def _spec(kind: str, name: str) -> str:
    """A spec that uses `name` as a `kind` of name; its model M (or `name`) maps [B, 4] to [B, 3],
    through `relu` and `flatten` so that generated code refers to F and torch as well."""
    t = " -> relu -> flatten"
    model = "M"
    if kind == "model":
        model = name
        body = f"    input x: [B, 4]\n    Linear(3){t}\n"
    elif kind == "input":
        body = f"    input {name}: [B, 4]\n    Linear(3){t}\n"
    elif kind == "dim":
        body = f"    input x: [{name}, 4]\n    Linear(3){t}\n"
    elif kind == "label":
        body = f"    input x: [B, 4]\n    {name}: Linear(3){t}\n"
    elif kind == "value":
        body = f"    input x: [B, 4]\n    {name} = x -> Linear(3)\n    {name}{t}\n"
    elif kind == "block":
        pre = f"block {name}(k: int = 3) {{\n    Linear(k){t}\n}}\n\n"
        return pre + f"model M {{\n    input x: [B, 4]\n    {name}(3)\n}}\n"
    elif kind == "param":
        pre = f"block Blk({name}: int = 3) {{\n    Linear({name}){t}\n}}\n\n"
        return pre + "model M {\n    input x: [B, 4]\n    Blk(3)\n}\n"
    elif kind == "const":
        return f"const {name} = 3\n\nmodel M {{\n    input x: [B, 4]\n    Linear({name}){t}\n}}\n"
    else:
        raise AssertionError(kind)
    text = f"model {model} {{\n{body}}}\n"
    return text + TRAIN.format(model=model) if kind == "model" else text


KINDS = ["model", "input", "dim", "label", "value", "block", "param", "const"]
CASES = [
    pytest.param(
        kind,
        name,
        id=f"{kind}-{name}",
        marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BAD[kind, name])]
        if (kind, name) in KNOWN_BAD
        else [],
    )
    for kind in KINDS
    for name in NAMES[kind]
]


@pytest.mark.parametrize("kind,name", CASES)
def test_hostile_identifier(kind: str, name: str) -> None:
    import torch

    outcome = Outcome(_spec(kind, name))
    if outcome.refused:
        _assert_refused_cleanly(outcome)
        return
    model_module = outcome.modules["model"]
    model_name = name if kind == "model" else "M"
    out = _forward(getattr(model_module, model_name), torch.randn(2, 4))
    assert tuple(out.shape) == (2, 3)
    if kind != "model":
        return
    # the training script builds the same model, whatever it is called
    train = outcome.modules["train"]
    net = train.build_model()
    assert type(net).__name__ == model_name
    train.build_optimizer(net.parameters(), None)
    assert train.CONFIG["model"] == model_name


def test_model_class_named_like_a_script_name_is_imported_under_an_alias() -> None:
    for name in ("sys", "print", "CONFIG", "Meter", "time"):
        outcome = Outcome(_spec("model", name))
        assert not outcome.refused, outcome.errors
        text = outcome.files["train.py"]
        assert f"from model import {name} as {name}_model\n" in text
        assert outcome.modules["train"].sys.argv is not None  # `sys` still the module


# ---- hostile strings ---------------------------------------------------------------------------

SENTINEL = "nndsl-injection-sentinel"
STRINGS = [
    'a"b',
    "a'b",
    "back\\slash",
    "trailing\\",
    "new\nline",
    'tri"""ple',
    "tri'''ple",
    '"""',
    'end"',
    "\\n is not a newline",
    '"); __import__("pathlib").Path("' + SENTINEL + '").touch(); ("',
    '""" + __import__("pathlib").Path("' + SENTINEL + '").touch() + """',
    "{x} %s {{}}",
    "tab\there\rcarriage\0nul",
    "ünïcödé € 😀 \x01\x7f",
]


@pytest.fixture
def sentinel(tmp_path: Path, monkeypatch) -> Path:
    """Run in a scratch folder where a successful payload would create a file."""
    monkeypatch.chdir(tmp_path)
    return tmp_path / SENTINEL


@pytest.mark.parametrize("s", STRINGS)
def test_string_as_a_parameter_default(s: str, sentinel: Path) -> None:
    text = (
        f"block Blk(tag: str = {nn_string(s)}) {{\n    Linear(3)\n}}\n\n"
        "model M {\n    input x: [B, 4]\n    Blk()\n}\n"
    )
    outcome = Outcome(text)
    assert not outcome.refused, outcome.errors
    blk = outcome.modules["model"].Blk
    assert inspect.signature(blk.__init__).parameters["tag"].default == s
    import torch

    assert tuple(_forward(outcome.modules["model"].M, torch.randn(2, 4)).shape) == (2, 3)
    assert not sentinel.exists()


@pytest.mark.parametrize("s", STRINGS)
def test_string_as_a_model_argument_of_the_train_section(s: str, sentinel: Path) -> None:
    text = 'model M(tag: str = "x") {\n    input x: [B, 4]\n    Linear(3)\n}\n' + TRAIN.format(
        model=f"M(tag={nn_string(s)})"
    )
    outcome = Outcome(text)
    assert not outcome.refused, outcome.errors
    # build_model() returns M(tag=<the string>): read the argument back from the source
    source = inspect.getsource(outcome.modules["train"].build_model)
    call = ast.parse(source.strip()).body[0].body[-1].value
    assert ast.literal_eval(call.keywords[0].value) == s
    outcome.modules["train"].build_model()
    assert not sentinel.exists()


@pytest.mark.parametrize("s", STRINGS)
def test_string_as_a_layer_argument(s: str, sentinel: Path) -> None:
    """nn.Identity takes (and ignores) any arguments."""
    text = f"model M {{\n    input x: [B, 4]\n    Identity({nn_string(s)}) -> Linear(3)\n}}\n"
    outcome = Outcome(text)
    if outcome.refused:
        _assert_refused_cleanly(outcome)
        return
    import torch

    assert tuple(_forward(outcome.modules["model"].M, torch.randn(2, 4)).shape) == (2, 3)
    assert not sentinel.exists()


HOSTILE_FILE_NAMES = [
    'q"uote.nn',
    "a'b.nn",
    'tri"""ple.nn',
    "back\\slash.nn",
    "new\nline.nn",
    'end".nn',
    '"""; __import__("pathlib").Path("' + SENTINEL + '").touch(); """.nn',
]


@pytest.mark.parametrize("file_name", HOSTILE_FILE_NAMES)
def test_hostile_spec_file_name(file_name: str, sentinel: Path) -> None:
    """The spec's path is quoted in the generated docstrings; it stays a docstring."""
    sample = Path(__file__).resolve().parent.parent / "samples" / "iris.nn"
    Path(file_name).write_text(sample.read_text())
    outcome = Outcome(sample.read_text(), path=file_name)
    assert not outcome.refused, outcome.errors
    model, train = outcome.modules["model"], outcome.modules["train"]
    assert f"Spec: {file_name}\n" in model.__doc__
    assert f"Spec: {file_name}\n" in train.__doc__
    assert f"from {file_name}:" in inspect.getdoc(model.IrisMLP)
    train.parse_args([])  # argparse takes its description from the docstring
    assert not sentinel.exists()


@pytest.mark.parametrize("s", ['a"b', "back\\slash", 'x""".csv', "new\nline"])
def test_hostile_data_paths(s: str, sentinel: Path) -> None:
    """File names in data sources are read at generation time and never written into code."""
    name = f"{s}.csv"
    Path(name).write_text(
        "a,b,c,d,label\n" + "".join(f"{i},{i % 3},{i % 5},{i % 7},k{i % 3}\n" for i in range(30))
    )
    text = "model M {\n    input x: [B, 4]\n    Linear(3)\n}\n" + TRAIN.format(model="M").replace(
        "iris(val_split=0.2)", f'csv({nn_string(name)}, target="label")'
    )
    checked = check_file("spec.nn", text)
    assert checked.ok, checked.diagnostics
    files = generate_files(checked, ["M"])
    assert s not in files["train.py"] and s not in files["model.py"]
    assert len(files["data.npz"]) > 0
    assert not sentinel.exists()


# ---- numbers -------------------------------------------------------------------------------------


def test_huge_integers_are_exact_python_ints() -> None:
    big = 10**40 + 7
    text = f"model M {{\n    input x: [B, 4]\n    Linear({big})\n}}\n"
    outcome = Outcome(text)
    if outcome.refused:
        _assert_refused_cleanly(outcome)
        return
    assert str(big) in outcome.files["model.py"]  # written exactly (not built: far too big)


def test_infinite_and_nan_constants_compute_in_forward() -> None:
    import torch

    text = (
        "const BIG = 1e999\nconst NEG = -1e999\nconst NAN = 1e999 - 1e999\n\n"
        "model M {\n    input x: [B, 4]\n    a = x * BIG\n    b = x * NEG\n    c = x * NAN\n"
        "    cat([a, b, c], dim=1) -> Linear(3)\n}\n"
    )
    outcome = Outcome(text)
    if outcome.refused:
        _assert_refused_cleanly(outcome)
        return
    assert "float(" in outcome.files["model.py"] or "math." in outcome.files["model.py"]
    net = outcome.modules["model"].M()
    with torch.no_grad():
        out = net(torch.ones(2, 4))
    assert tuple(out.shape) == (2, 3)


def test_infinite_numbers_in_the_train_section() -> None:
    """A number that overflows a float, or an int past int64, is refused where it is written;
    huge ints up to int64 are fine."""
    text = "model M {\n    input x: [B, 4]\n    Linear(3)\n}\n" + TRAIN.format(model="M").replace(
        "epochs    = 1",
        "epochs    = 9223372036854775807\n"
        "    stop_when = val_loss < 1e300 and val_loss > -1e300 or val_loss < LIMIT",
    )
    outcome = Outcome("const LIMIT = 2 * 0.25\n" + text)
    assert not outcome.refused, outcome.errors
    train = outcome.modules["train"]
    assert train.CONFIG["epochs"] == 9223372036854775807
    assert train.stop_when({"val_loss": 3.0}) is True
    assert train.stop_when({"val_loss": float("nan")}) is False
    source = inspect.getsource(train.stop_when)
    assert "0.5" in source and "LIMIT" not in source  # the constant's value, not a metric key
    for huge in (
        "clip_grad_norm = 1e400",
        "optimizer = Adam(lr=1e999)",
        "seed = 123456789012345678901234567890",
    ):
        refused = Outcome(text.replace("    epochs", f"    {huge}\n    epochs", 1))
        messages = [getattr(e, "message", str(e)) for e in refused.errors]
        assert refused.refused and any("too large" in m for m in messages), huge


def test_metric_names_are_data_not_code() -> None:
    text = "model M {\n    input x: [B, 4]\n    Linear(3)\n}\n" + TRAIN.format(model="M").replace(
        "epochs    = 1",
        "epochs    = 1\n    stop_when = __import__ < 1",
    )
    outcome = Outcome(text)
    if outcome.refused:
        _assert_refused_cleanly(outcome)
        return
    train = outcome.modules["train"]
    assert train.stop_when({"__import__": 0.0}) is True
