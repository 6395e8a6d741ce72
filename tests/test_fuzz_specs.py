"""Wrong specs a user plausibly writes, found by hand-written and mutation campaigns
(tests/test_fuzz.py and tests/test_fuzz_verbs.py cover random edits): each once crashed, printed
an internal name, or gave a diagnostic without a place.  Each case pins the place
(`FILE:LINE:COL`), the words of the message and of its hint, and exit code 1.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import stat
import sys
from pathlib import Path

import pytest

from nndsl.cli import main

sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

ROOT = Path(__file__).parent.parent


def _cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--color", "never", *argv])
    return code, out.getvalue() + err.getvalue()


def _model(line: str) -> str:
    return f"model M {{\n    input x: [B, 4]\n    {line}\n}}\n"


def diagnose(tmp_path: Path, text: str, verb: str = "check", *flags: str) -> str:
    """The output of a verb that must refuse the spec: exit 1, no traceback, nothing written."""
    spec = tmp_path / "spec.nn"
    spec.write_text(text, encoding="utf-8")
    before = sorted(p.name for p in tmp_path.iterdir())
    argv = [verb, str(spec), *flags]
    if verb == "generate":
        argv += ["-o", str(tmp_path / "out")]
    code, output = _cli(argv)
    assert code == 1, output
    assert "Traceback" not in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "a refused verb wrote"
    return output


def assert_at(output: str, where: str, *words: str) -> None:
    assert f"spec.nn:{where}\n" in output, output
    for w in words:
        assert w in output, (w, output)


# ---- modules outside the catalog ---------------------------------------------------------


@pytest.fixture
def with_module(tmp_path: Path) -> Path:
    """The samples' Python package `mypkg` next to the spec."""
    shutil.copytree(ROOT / "samples" / "mypkg", tmp_path / "mypkg")
    return tmp_path


@pytest.mark.parametrize(
    ("line", "col", "what"),
    [
        ("SwiGLU(Linear(3), 4)", 12, "not the layer `Linear`"),
        ("SwiGLU(4, [1, (Linear(3) -> relu)])", 15, "not a chain of layers"),
        ("SwiGLU(dim=relu, hidden=3)", 12, "not the function `relu`"),
    ],
)
def test_a_layer_as_argument_of_a_users_module(
    with_module: Path, line: str, col: int, what: str
) -> None:
    """It was passed to the class as the checker's own object: `LayerRef is not a Module`."""
    text = "from mypkg.layers import SwiGLU\n" + _model(line)
    output = diagnose(with_module, text)
    assert_at(output, f"4:{col}", "a module of your own code", what, "hint: layers as arguments")
    assert "LayerRef" not in output and "GroupV" not in output


def test_a_layer_as_argument_of_a_torch_module_outside_the_catalog(tmp_path: Path) -> None:
    output = diagnose(tmp_path, _model("SyncBatchNorm(Linear(3))"))
    assert_at(output, "3:19", "outside nndsl's catalog", "not the layer `Linear`")


@pytest.mark.parametrize(
    "name", ["ModuleList([Linear(3)])", "ModuleDict", "ParameterList()", "DataParallel(Linear(3))"]
)
def test_torch_containers_are_not_layers(tmp_path: Path, name: str) -> None:
    """They went to the meta-tensor run, which failed with torch's (or nndsl's) internals."""
    output = diagnose(tmp_path, _model(name))
    assert_at(output, "3:5", "is a container of torch.nn", "hint: write the layers as a chain")
    assert "running it" not in output


def test_adaptive_log_softmax_is_not_a_layer(tmp_path: Path) -> None:
    output = diagnose(tmp_path, _model("AdaptiveLogSoftmaxWithLoss(4, 3, [2])"))
    assert_at(output, "3:5", "takes the targets", "CrossEntropyLoss")


# ---- train sections ----------------------------------------------------------------------

NO_DATA = """model Net {
    input x: [B, 4]
    Linear(3)
}

train Long {
    loss = CrossEntropyLoss()
    optimizer = Adam(lr=0.1)
    epochs = 1
}
"""


@pytest.mark.parametrize("verb", ["generate", "run"])
def test_a_train_section_without_data(tmp_path: Path, verb: str) -> None:
    """`generate` and `run` said so without a place."""
    output = diagnose(tmp_path, NO_DATA, verb)
    assert_at(output, "6:1", "has no `data`", "hint: add a data source")
    assert "nndsl: error" not in output
    assert _cli(["check", str(tmp_path / "spec.nn")])[0] == 0  # (checking does not need data)


# ---- initialisers, parameters, numbers ---------------------------------------------------

# (body lines of a model on x: [B, 4], where, words): each passed `check` and then failed when
# the model was built (torch.nn.init raised), or carried a complex number or a nan along.
REFUSED = [
    ("param p: [4] = eye\n    x + p", "3:20", "`eye` needs a parameter of exactly 2 dimensions"),
    ("param p: [4, 4] = dirac\n    x @ p", "3:23", "`dirac` needs a parameter of 3 to 5"),
    ("param p: [8, 4, 3] = dirac(groups=3)\n    x", "3:26", "not divisible by `groups` = 3"),
    ("param p: [4] = orthogonal\n    x + p", "3:20", "at least 2 dimensions"),
    ("param p: [4] = kaiming_normal\n    x + p", "3:20", "hint: fan-based initialisers"),
    ("param p: [4, 4] = sparse(sparsity=2)\n    x @ p", "3:39", "between 0 and 1, not 2"),
    ("param p: [4] = uniform(a=1, b=0)\n    x + p", "3:35", "from `a` = 1 to `b` = 0 is empty"),
    ("param p: [4] = trunc_normal(a=2, b=-2)\n    x + p", "3:40", "is empty"),
    ("param p: [4] = normal(std=-1)\n    x + p", "3:31", "`std` must be at least 0"),
    ('param p: [4] = normal(std="a")\n    x + p', "3:31", 'not the string "a"'),
    ("param p: [4] = constant\n    x + p", "3:20", "`constant` needs `val`"),
    ("param p: long[4] = normal\n    x + p", "3:14", "only floating-point tensors"),
    ("param p: bool[4]\n    x + p", "3:14", "hint: declare it `float`"),
    (
        "init Linear.bias = eye()\n    Linear(3)",
        "3:24",
        "exactly 2 dimensions (a matrix), but `Linear.bias` is [3]",
    ),
    ("init Linear.bias = trunc_normal(a=1, b=0)\n    Linear(3)", "3:44", "is empty"),
    ("init Linear.weight = normal(std=-0.5)\n    Linear(3)", "3:37", "at least 0"),
    ('init Linear.weight = kaiming_normal(mode="fan_ot")\n    Linear(3)', "3:46", "fan_out"),
    ("Linear((-8) ** 0.5)", "3:12", "`(-8) ** 0.5` is not a real number"),
    ("x * (-1) ** 0.5", "3:9", "not a real number"),
    ("Linear(2 ** x.shape[0])", "3:17", "the exponent `x.shape[0]` is a size (B)"),
    ("Linear(x.shape[0] ** 0.5)", "3:26", "a size (B) can only be raised to a whole power"),
    ("Linear(2 ** 70)", "3:17", "the exponent 70 is too large"),
    ('Dropout(float("nan"))', "3:13", "`p` must be between 0 and 1, not nan"),
    ('LayerNorm(eps=float("nan"))', "3:15", "`eps` must be positive, not nan"),
    # declared twice, or never reached
    ("param p: [4]\n    param p: [4]\n    x + p", "4:5", "parameter `p` is declared twice"),
    ("return x\n    Linear(3)", "4:5", "a statement after `return` would never run"),
]


@pytest.mark.parametrize(("body", "where", "words"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_before_the_model_is_built(
    tmp_path: Path, body: str, where: str, words: str
) -> None:
    output = diagnose(tmp_path, _model(body))
    assert_at(output, where, words)
    assert output.count("error:") == 1, output  # no error follows from the first


@pytest.mark.parametrize(
    "text",
    [
        "model M {\n    input x: [B, 4], x: [B, 4]\n    x\n}\n",
        "block A {\n    input y, x, x\n    x\n}\nmodel M {\n    input x: [B, 4]\n    (x, x, x) -> A\n}\n",
    ],
)
def test_an_input_declared_twice(tmp_path: Path, text: str) -> None:
    """The second shadowed the first: `def forward(self, x, x2)` with `x` never read."""
    output = diagnose(tmp_path, text)
    assert "input `x` is declared twice" in output and "first declared at 2:" in output


def test_what_the_initialiser_checks_still_accept(tmp_path: Path) -> None:
    spec = tmp_path / "ok.nn"
    spec.write_text(
        _model(
            "param w: [4, 4] = eye\n    param k: [4, 4, 3] = dirac(groups=2)\n"
            "    param s: [4, 4] = sparse(0.5)\n    param u: double[4] = uniform(-1, 1)\n"
            "    init Linear.weight = trunc_normal(std=0.02, a=-0.04, b=0.04)\n"
            "    tie_me: Linear(4)\n    (x @ w + u.float()) -> tie_me\n    return x\n"
            "    init tie_me.bias = zeros()"
        ),
        encoding="utf-8",
    )
    code, output = _cli(["check", str(spec)])
    assert code == 0, output


# ---- blocks nested in blocks -------------------------------------------------------------


def _doubling(levels: int) -> str:
    """Block A0 uses A1 twice, which uses A2 twice, ...: 2**levels uses of the last block."""
    blocks = "".join(f"block A{i} {{\n    A{i + 1}() -> A{i + 1}()\n}}\n" for i in range(levels))
    return blocks + f"block A{levels} {{\n    Linear(4)\n}}\n" + _model("A0()")


def test_blocks_doubling_at_each_level_are_counted_once_per_instance(tmp_path: Path) -> None:
    """Parameters were counted by walking every use (exponential: minutes for 20 levels); the
    total is still the sum over every use."""
    import nndsl

    spec = tmp_path / "spec.nn"
    spec.write_text(_doubling(12), encoding="utf-8")
    program = nndsl.load(spec)
    assert program.checked.models["M"].total_params() == 2**12 * (4 * 4 + 4)


def test_blocks_doubling_past_the_instance_limit(tmp_path: Path) -> None:
    """30 levels are 2**30 modules: `check` took minutes, `summary` and `generate` never ended."""
    output = diagnose(tmp_path, _doubling(30))
    assert "would build 32,767 block instances, more than 20,000" in output
    assert "spec.nn:47:5\n" in output and "hint: each use of a block" in output


def test_torch_layer_imported_like_a_users_module(tmp_path: Path) -> None:
    """`from torch.nn import Linear` makes `Linear(3)` a module of the user's (nothing
    inferred): torch's TypeError alone did not say why."""
    text = "from torch.nn import Linear\n" + _model("Linear(3)")
    output = diagnose(tmp_path, text)
    assert_at(output, "4:5", "missing 1 required positional argument", "hint: torch.nn's layers")


def test_a_users_module_built_with_too_few_arguments(with_module: Path) -> None:
    output = diagnose(with_module, "from mypkg.layers import SwiGLU as S\n" + _model("S(4)"))
    assert_at(output, "4:5", "'hidden'", "hint: `S` is built with the arguments written here")


# ---- characters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "col", "hint"),
    [
        ("\ufeffLinear(3)", 5, "an invisible formatting character (U+FEFF): delete it"),
        ("Lin\u200bear(3)", 8, "an invisible formatting character (U+200B)"),
        ("Linear(3) # \u202e\n    -\u202e> relu", 6, "an invisible formatting character (U+202E)"),
        ("y\u0301 = x", 6, "a combining mark (U+0301)"),
        ("Linear\uff083\uff09", 11, "this is not the ASCII `(`: write `(`"),
        ("Linear(\u22123)", 12, "this is not the ASCII `-`: write `-`"),
        ("Linear(2\u00b2)", 13, "write a power with `**`: `x ** 2`"),
        ("Linear(3)\u2003-> relu", 14, "an unusual space (U+2003)"),
        ("\U0001f600 = x", 5, "outside strings and comments, a spec is written in ASCII"),
    ],
)
def test_characters_outside_ascii_get_a_hint(
    tmp_path: Path, line: str, col: int, hint: str
) -> None:
    output = diagnose(tmp_path, _model(line))
    where = "4:6" if "\u202e>" in line else f"3:{col}"
    assert_at(output, where, "unexpected character", "hint: " + hint)


# ---- flags and paths ---------------------------------------------------------------------


def test_generate_into_a_folder_under_a_file(tmp_path: Path) -> None:
    """Each file to write was said to `exist and not be a file`, four times."""
    spec = tmp_path / "iris.nn"
    shutil.copy(ROOT / "samples" / "iris.nn", spec)
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    code, output = _cli(["generate", str(spec), "-o", str(tmp_path / "afile" / "sub" / "d")])
    assert code == 1 and output.count("error") == 1, output
    assert "/sub/d`: `" in output and "afile` is a file, not a folder" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "iris.nn"]


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu", ""])
def test_run_refuses_an_unknown_device_before_starting(tmp_path: Path, device: str) -> None:
    """It printed `training ... in runs/...` first, then failed in the training script."""
    spec = tmp_path / "iris.nn"
    shutil.copy(ROOT / "samples" / "iris.nn", spec)
    code, output = _cli(["run", str(spec), "--device", device, "--out", str(tmp_path / "r")])
    assert code == 1 and "training" not in output, output
    assert f"unknown device {device!r}: use auto, cpu, cuda, cuda:N or mps" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris.nn"]


def test_a_users_module_that_exits(tmp_path: Path) -> None:
    """`sys.exit` in a user's module (importing it, or building it) ended `nndsl check` with
    the module's exit code and no message."""
    package = tmp_path / "fuzz_exiting_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "at_import.py").write_text("import sys\nsys.exit('bye')\n", encoding="utf-8")
    (package / "at_build.py").write_text(
        "import sys\nfrom torch import nn\n\n\nclass Quits(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        sys.exit(3)\n",
        encoding="utf-8",
    )
    output = diagnose(tmp_path, "from fuzz_exiting_pkg.at_import import X\n" + _model("X()"))
    assert_at(output, "1:40", "importing `fuzz_exiting_pkg.at_import` failed", "exit('bye')")
    text = "from fuzz_exiting_pkg.at_build import Quits\n" + _model("Quits()")
    output = diagnose(tmp_path, text)
    assert_at(output, "4:5", "it called exit(3)", "hint: `Quits` is built")


@pytest.mark.parametrize(
    ("loss", "what"),
    [
        ("TripletMarginLoss(margin=2)", "takes 3 tensors (anchor, positive, negative)"),
        ("CTCLoss()", "takes 4 tensors"),
        ("GaussianNLLLoss()", "(input, target, var)"),
        ("MarginRankingLoss()", "(input1, input2, target)"),
        ("CosineEmbeddingLoss()", "(input1, input2, target)"),
    ],
)
def test_a_torch_loss_that_takes_other_tensors(tmp_path: Path, loss: str, what: str) -> None:
    """`check` accepted them, and `run` ended with torch's TypeError and a traceback."""
    text = NO_DATA.replace("train Long {", "train {\n    data = iris()").replace(
        "CrossEntropyLoss()", loss
    )
    output = diagnose(tmp_path, text)
    assert_at(output, "8:12", what, "but a train section gives a loss two", "hint: write a loss")


@pytest.mark.parametrize(
    ("scheduler", "col", "words"),
    [
        ('ReduceLROnPlateau(mode="mx")', 40, 'is one of "min", "max", not the string "mx"'),
        ("MultiStepLR(milestones=3)", 40, "`milestones` is a list of whole numbers"),
        ('OneCycleLR(max_lr=0.1, anneal_strategy="cosine")', 56, "did you mean `cos`?"),
        ('CyclicLR(base_lr=0.001, max_lr=0.1, mode="exp")', 58, '"triangular", "triangular2"'),
    ],
)
def test_scheduler_words_and_lists(tmp_path: Path, scheduler: str, col: int, words: str) -> None:
    """Accepted by `check`; torch raised when `run` built the scheduler."""
    text = NO_DATA.replace("train Long {", "train {\n    data = iris()").replace(
        "    epochs = 1", f"    scheduler = {scheduler}\n    epochs = 1"
    )
    output = diagnose(tmp_path, text)
    assert_at(output, f"10:{col}", words)


# ---- number literals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "col", "message", "hint"),
    [
        # `\d` took any script's digits: `Linear(٣)` was Linear(3)
        ("\u0663", 12, "unexpected character", "this is the digit 3 of another script: write `3`"),
        ("1\u0969", 13, "unexpected character", "this is the digit 3 of another script: write `3`"),
        ("\uff13", 12, "unexpected character", "this is not the ASCII `3`: write `3`"),
        # `010` was 10 (an octal 8 in C; Python refuses it)
        ("010", 12, "an integer cannot begin with `0`: `010`", "write `10`"),
        ("0_1", 12, "cannot begin with `0`", "write `1`"),
        # a `_` Python refuses: the number was read as if it were not there
        ("1_", 12, "misplaced `_` in the number `1_`", "write `1`"),
        ("1__0", 12, "misplaced `_`", "write `1_0`"),
        ("1_.5", 12, "misplaced `_`", "write `1.5`"),
        ("2.5_", 12, "misplaced `_`", "write `2.5`"),
    ],
)
def test_number_literals_python_refuses(
    tmp_path: Path, value: str, col: int, message: str, hint: str
) -> None:
    output = diagnose(tmp_path, _model(f"Linear({value})"))
    assert_at(output, f"3:{col}", message, hint)
    assert output.count("error:") == 1 and hint in output.split("hint: ")[1], output


@pytest.mark.parametrize(
    ("value", "shown"),
    [("00", "not 0"), ("0_0", "not 0"), ("-1_000", "not -1000"), ("07.5", "`7.5`")],
)
def test_number_literals_python_accepts(tmp_path: Path, value: str, shown: str) -> None:
    """All zeros, digits grouped by `_` and a float's leading zeros are Python's numbers too
    (the value is then judged as a size: 0 is refused, 7.5 is not an integer)."""
    output = diagnose(tmp_path, _model(f"Linear({value})"))
    assert "cannot begin" not in output and "misplaced" not in output, output
    assert "`out_features` must be" in output and shown in output, output


def test_only_ascii_digits_make_numbers() -> None:
    """The lexer's INT and FLOAT (and the editor's grammar) take [0-9], not `\\d`."""
    from nndsl.syntax.parser import _lark

    patterns = {t.name: t.pattern.value for t in _lark().terminals if t.name in ("INT", "FLOAT")}
    assert len(patterns) == 2 and not any("\\d" in p for p in patterns.values()), patterns
    grammar = (ROOT / "editors" / "vscode" / "syntaxes" / "nndsl.tmLanguage.json").read_text()
    assert "\\\\d" not in grammar


# ---- values out of range: each with a hint -------------------------------------------------


def test_every_range_rule_has_a_hint() -> None:
    """A value out of range is said with what the argument is (`out_features` is a layer's
    size), not only with the range again."""
    from nndsl.catalog import ranges

    missing = []
    for family, (table, overrides) in ranges.FAMILIES.items():
        rules = [(arg, r) for arg, r in table.items()]
        rules += [(arg, r) for own in overrides.values() for arg, r in own.items() if r]
        for arg, r in rules:
            for one in r if isinstance(r, tuple) else (r,):
                if not one.hint and arg not in ranges.HINTS[family]:
                    missing.append((family, arg))
    assert not missing


@pytest.mark.parametrize(
    ("body", "where", "hint"),
    [
        ("Linear(0)", "3:12", "a layer's sizes are positive integers"),
        ("x.unsqueeze(1) -> Conv1d(8, 3, stride=0)", "3:36", "a stride is at least 1"),
        (
            "x.unsqueeze(1) -> Conv1d(8, 3, padding=-1)",
            "3:36",
            "the number of elements added on each side",
        ),
        ("LayerNorm(4, eps=0)", "3:18", "a small number added to avoid dividing by zero"),
        ("x.chunk(0)", "3:13", "the number of pieces"),
        ("x.split(0)", "3:5", "`split(n)` cuts pieces of n elements"),
        ("param p: [8, 4, 3] = dirac(groups=0)\n    x", "3:39", "the number of groups"),
    ],
)
def test_a_value_out_of_range_has_a_hint(tmp_path: Path, body: str, where: str, hint: str) -> None:
    assert_at(diagnose(tmp_path, _model(body)), where, "hint: " + hint)


def test_train_numbers_out_of_range_have_hints(tmp_path: Path) -> None:
    text = NO_DATA.replace("train Long {", "train {\n    data = iris(val_split=0.2)").replace(
        "    epochs = 1",
        "    scheduler = StepLR(step_size=0)\n    epochs = 0\n    batch_size = -1\n"
        "    early_stopping = EarlyStopping(patience=-1)",
    )
    output = diagnose(tmp_path, text)
    assert_at(output, "10:34", "hint: the number of epochs between two decays")
    assert "hint: the number of passes over the training data" in output
    assert "hint: the number of samples in each step" in output
    assert "hint: the number of epochs without improvement before training stops" in output


# ---- paths -------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["check", "summary", "generate", "run"])
def test_an_empty_spec_path(tmp_path: Path, verb: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`nndsl check ''` said "`.` is a directory" (the empty path, normalised, is the working
    directory)."""
    monkeypatch.chdir(tmp_path)
    code, output = _cli([verb, ""])
    assert code == 1 and "Traceback" not in output, output
    assert "error: the path of the spec is empty" in output and "directory" not in output
    assert "hint: name a `.nn` file" in output
    assert list(tmp_path.iterdir()) == []


# ---- generated data ----------------------------------------------------------------------


def test_random_data_too_large_for_its_classes(tmp_path: Path) -> None:
    """features x classes (the random map that makes the labels) was over the limit, and the
    message named only `n`."""
    text = (
        "model M {\n    input x: [B, 3, 224, 224]\n    flatten -> Linear(1000)\n}\n\n"
        "train {\n    data = random(shape=[3, 224, 224], classes=1000, n=4)\n"
        "    loss = CrossEntropyLoss()\n    optimizer = Adam(lr=0.1)\n    epochs = 1\n}\n"
    )
    output = diagnose(tmp_path, text, "run", "--out", str(tmp_path / "r"))
    assert_at(output, "7:48", "150,528 x 1,000 matrix (features x classes)")
    assert "hint: random data is for smoke tests: use fewer `classes`" in output
    assert "n=4) would be" not in output


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("x.shape[0] + 0.5", "a size (B) + the number `0.5` is not a size"),
        ("0.5 * x.shape[0]", "a size (B) * the number `0.5` is not a size"),
        ("x.shape[0] - 1.5", "a size (B) - the number `1.5` is not a size"),
    ],
)
def test_a_size_and_a_float(tmp_path: Path, expr: str, words: str) -> None:
    """`Sym * float` raised a TypeError out of the checker (found by mutating ResNet-50's
    `int(planes * (base_width / 64))`)."""
    output = diagnose(tmp_path, _model(f"Linear(int({expr}))"))
    assert_at(output, "3:16", words, "hint: sizes are whole numbers")


# ---- flags: empty values, outputs that are not files ---------------------------------------


@pytest.mark.parametrize(
    ("argv", "flag", "what"),
    [
        (["run", "iris.nn", "--out", ""], "--out", "path"),  # trained into the working folder
        (["run", "iris.nn", "--init-from", ""], "--init-from", "path"),  # was ignored
        (["run", "iris.nn", "--resume", ""], "--resume", "path"),  # "no checkpoint at "
        (["run", "iris.nn", "--train", ""], "--train", "name"),
        (["predict", "iris.nn", "", "--checkpoint", "ck.pt"], "INPUT", "path"),  # read `.`
        (["predict", "iris.nn", "a.csv", "--checkpoint", ""], "--checkpoint", "path"),
        (["evaluate", "iris.nn", "--checkpoint", ""], "--checkpoint", "path"),
        (["export", "iris.nn", "--checkpoint", "ck.pt", "--format", "onnx", "-o", ""], "-o/--out", "path"),
        (["export", "iris.nn", "--checkpoint", "ck.pt", "--format", "pt2", "-o", "m", "--model", ""], "--model", "name"),  # was ignored
        (["graph", "iris.nn", "-o", ""], "-o/--out", "path"),
        (["generate", "iris.nn", "-o", ""], "-o/--out", "path"),
        (["summary", "iris.nn", "--model", ""], "--model", "name"),
    ],
)  # fmt: skip
def test_an_empty_flag_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], flag: str, what: str
) -> None:
    """An empty value (an unset shell variable) was taken as the working folder, as no flag at
    all, or shown as an empty name."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "samples" / "iris.nn", tmp_path / "iris.nn")
    (tmp_path / "ck.pt").write_bytes(b"not a checkpoint")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, output = _cli(argv)
    assert code == 1 and "Traceback" not in output, output
    assert f"error: argument {flag}" in output and f"the {what} is empty" in output, output
    assert "hint: was a variable of the command line empty?" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["graph", "iris.nn", "-o", "fifo.svg"],
        ["export", "iris.nn", "--checkpoint", "ck.pt", "--format", "torchscript", "-o", "fifo"],
        ["predict", "iris.nn", "in.csv", "--checkpoint", "ck.pt", "-o", "fifo"],
    ],
)
def test_an_output_that_is_not_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    """The file was written beside the target and moved over it: `-o /dev/full`, run as root,
    replaced the device by a regular file."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "samples" / "iris.nn", tmp_path / "iris.nn")
    (tmp_path / "ck.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "in.csv").write_text("a,b,c,d\n1,2,3,4\n", encoding="utf-8")
    os.mkfifo(argv[argv.index("-o") + 1])
    before = sorted(p.name for p in tmp_path.iterdir())
    code, output = _cli(argv)
    assert code == 1 and "Traceback" not in output, output
    assert "it is not a regular file (a device, a pipe or a socket)" in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert stat.S_ISFIFO(os.lstat(argv[argv.index("-o") + 1]).st_mode)


def test_write_atomic_never_replaces_what_is_not_a_file(tmp_path: Path) -> None:
    from nndsl.safeio import replace_set, write_atomic

    os.mkfifo(tmp_path / "fifo")
    for write in (
        lambda: write_atomic(tmp_path / "fifo", "x"),
        lambda: replace_set(tmp_path, {"ok.py": "x", "fifo": "y"}),
    ):
        with pytest.raises(FileExistsError, match="not a regular file"):
            write()
        assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo"]


@pytest.mark.parametrize(
    ("make", "words"),
    [(os.mkdir, "is a folder, not a file"), (os.mkfifo, "is not a regular file")],
)
def test_a_checkpoint_that_is_not_a_file(tmp_path: Path, monkeypatch, make, words: str) -> None:
    """It was said to be missing ("no checkpoint at ck")."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "samples" / "iris.nn", tmp_path / "iris.nn")
    make("ck")
    for argv in (
        ["evaluate", "iris.nn", "--checkpoint", "ck"],
        ["run", "iris.nn", "--resume", "ck", "--out", "r"],
    ):
        code, output = _cli(argv)
        assert code == 1 and f"error: the checkpoint ck {words}" in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ck", "iris.nn"]


def test_a_graph_output_with_no_name(tmp_path: Path) -> None:
    """`-o $name.svg` with `name` unset: "cannot tell the format of .svg" did not say why."""
    spec = tmp_path / "iris.nn"
    shutil.copy(ROOT / "samples" / "iris.nn", spec)
    code, output = _cli(["graph", str(spec), "-o", str(tmp_path / ".svg")])
    assert code == 1 and "hint: it has no name before the suffix" in output, output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iris.nn"]


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ('Linear("3")', "write the number without quotes: `3`"),
        ("Linear(3.0)", "write `3`: sizes and counts are whole numbers"),
        ("Linear(true)", "`true` and `false` are not numbers here"),
        ("Linear(none)", "write a whole number"),
        ("Linear([3])", "write a single number"),
        ("x.unsqueeze(1) -> Conv1d(8, 2.5)", "sizes and counts are whole numbers"),
        ("x.unsqueeze(1) -> Conv1d(8, 3, stride=none)", "leave it out for its default"),
        ("x.unsqueeze(1) -> Conv1d(8, 3, bias=1)", "write `true` or `false`"),
        ("x.view(-1, 0)", "write every size here"),
        ("x.expand(-2, 4)", "-1 keeps a size"),
        ("x[::0]", "a step of 1 takes every element"),
        ("x[:, 5]", "valid indices are 0 to 3, or -4 to -1 from the end"),
        ("x.topk(99)", "`k` is from 0 to the size of the dimension"),
    ],
)
def test_a_value_of_the_wrong_kind_has_a_hint(tmp_path: Path, body: str, hint: str) -> None:
    """Each said what was wrong, and nothing of what to write."""
    output = diagnose(tmp_path, _model(body))
    assert "spec.nn:3:" in output and hint in output.split("hint: ", 1)[-1], output


# ---- train sections that checked and then failed at the first step -------------------------


@pytest.mark.parametrize(
    ("optimizer", "col", "words"),
    [
        ("SparseAdam(lr=0.01)", 17, "`SparseAdam` cannot train a model here"),
        ("LBFGS(lr=1)", 17, "`LBFGS` cannot train a model here"),
        ("Muon(lr=0.01)", 17, "`Muon` cannot train a model here"),
        ("Adam(lr=0.01, capturable=true)", 42, "`capturable=true` cannot be used here"),
        ("Adam(lr=0.01, differentiable=true)", 46, "`differentiable=true` cannot be used here"),
    ],
)
def test_an_optimizer_the_training_loop_cannot_drive(
    tmp_path: Path, optimizer: str, col: int, words: str
) -> None:
    """`check` accepted them; `run` ended with torch's traceback at the first step (a dense
    gradient for SparseAdam, no closure for LBFGS, a bias for Muon, CPU tensors for capturable,
    an in-place leaf for differentiable)."""
    text = NO_DATA.replace("train Long {", "train {\n    data = iris()").replace(
        "Adam(lr=0.1)", optimizer
    )
    output = diagnose(tmp_path, text)
    assert_at(output, f"9:{col}", words, "hint: ")


def test_a_device_the_machine_lacks_is_refused_at_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`device = cuda` on a machine without CUDA failed in the training script, after
    "training ... in ...", with a message naming the flag `--device`, not the spec's line."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    text = NO_DATA.replace("train Long {", "train {\n    data = iris()").replace(
        "    epochs = 1", "    epochs = 1\n    device = cuda"
    )
    output = diagnose(tmp_path, text, "run", "--out", str(tmp_path / "r"))
    assert_at(output, "11:5", "the device `cuda` is asked for, but CUDA is not available")
    assert "hint: train on the CPU: `device = cpu`" in output and "training" not in output
