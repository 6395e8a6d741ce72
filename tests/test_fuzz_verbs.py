"""Robustness of every verb: mutated samples go through `check`, `summary`, `generate -o`,
`fmt --check` and the Python API (`nndsl.load`, `.build`), in-process.

For each input: exit codes are 0 or 1 and no traceback is printed; the API raises nothing but
`NndslError`; no verb runs longer than `PER_EXAMPLE_S`; nothing is written outside `-o` (the
folder holding the spec and its neighbours hashes the same before and after).

The mutations follow tests/test_fuzz.py (token edits near real specs), plus numbers swapped
for boundary values (0, -1, 2**31, 2**63 - 1, 10**30, thousands of digits), so the checks of
nndsl/limits.py are reached past the parser.  The default run is small (it adds well under 30
seconds to the suite); NNDSL_FUZZ_EXAMPLES=500 runs a longer campaign.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import signal
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nndsl
from nndsl.cli import main
from nndsl.errors import NndslError

sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

ROOT = Path(__file__).parent.parent
SAMPLES = sorted((ROOT / "samples").glob("*.nn")) + sorted(
    (ROOT / "tests" / "fixtures" / "sharing").glob("*.nn")  # label reuse, buffer, tie, init
)
SAMPLE_TEXTS = {p.name: p.read_text(encoding="utf-8") for p in SAMPLES}
EXAMPLES = int(os.environ.get("NNDSL_FUZZ_EXAMPLES", "20"))
MAX_BUILD_PARAMS = 20_000_000  # `.build()` only models this small (80 MB of float32)
PER_EXAMPLE_S = 20.0  # every verb together, for one input (a slow CI machine included)

_TOKEN_RE = re.compile(r"\s+|#[^\n]*|\"[^\"\n]*\"|[A-Za-z_]\w*|\d[\d_.eE]*|->|\*\*|//|[=!<>]=|.")
_INSERTS = list("()[]{},:=+-*/@%.<>!;#\n\t \r\x00") + [
    "->", "**", "...", "if", "else", "for", "in", "model", "block", "train", "input", "param",
    "return", "const", "import", "trainable", "none", "x", "Linear(3)", "relu", "+", "\r\n",
    "buffer b = ones(3)", "tie fc.weight = fc2.weight", "init Linear.weight = zeros()",
]  # fmt: skip
# Negative sizes are left to the value-range checks of layer arguments (and their own tests).
_NUMBERS = ["1", "2", "3", "2147483648", "9223372036854775807", "9223372036854775808",
            "1" + "0" * 30, "4" * 5000, "1e308", "1e999", "0.5", "100000"]  # fmt: skip


class _Overtime(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Interrupt the verbs (by SIGALRM in this thread) when they run over `seconds`."""

    def alarm(signum, frame):
        raise _Overtime(f"ran over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@st.composite
def mutated_sample(draw) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(SAMPLE_TEXTS)))
    tokens = _TOKEN_RE.findall(SAMPLE_TEXTS[name])
    numbers = [i for i, t in enumerate(tokens) if t[:1].isdigit()]
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["number", "number", "delete", "duplicate", "insert", "replace"]))
        if op == "number" and numbers:
            tokens[draw(st.sampled_from(numbers))] = draw(st.sampled_from(_NUMBERS))
            continue
        i = draw(st.integers(0, len(tokens) - 1))
        if op == "delete":
            tokens[i] = ""
        elif op == "duplicate":
            tokens[i] = tokens[i] * 2
        elif op == "insert":
            tokens[i] = draw(st.sampled_from(_INSERTS)) + tokens[i]
        else:
            tokens[i] = draw(st.sampled_from(_INSERTS))
    return name, "".join(tokens)


def _tree_hash(folder: Path, skip: set[Path]) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not any(p == s or s in p.parents for s in skip):
            if "__pycache__" in p.parts:
                continue
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _cli(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--color", "never", *argv])
    return code, out.getvalue() + err.getvalue()


@pytest.fixture(scope="module")
def folder():
    """The samples and their neighbours (imports, the Python package of mixer.nn)."""
    with tempfile.TemporaryDirectory() as d:
        work = Path(d) / "samples"
        shutil.copytree(ROOT / "samples", work, ignore=shutil.ignore_patterns("zoo", "__pycache__"))
        yield work


def check_all_verbs(name: str, text: str, folder: Path) -> None:
    spec = folder / f"fuzz_{name}"
    spec.write_bytes(text.encode("utf-8", "surrogatepass"))
    out = folder.parent / "out"
    shutil.rmtree(out, ignore_errors=True)
    before = _tree_hash(folder, {spec})
    with _time_limit(PER_EXAMPLE_S):
        for argv in (
            ["check", str(spec)],
            ["summary", str(spec)],
            ["generate", str(spec), "-o", str(out)],
            ["fmt", "--check", str(spec)],
        ):
            code, output = _cli(argv)
            assert code in (0, 1), f"{argv[0]} exited {code}:\n{output}"
            assert "Traceback" not in output, f"{argv[0]}:\n{output}"
            if argv[0] == "generate" and code == 1:
                assert not out.exists() or not any(out.iterdir()), "generate failed but wrote"
        try:
            program = nndsl.load(spec)
        except NndslError:
            program = None
        if program is not None:
            for model in program.models:
                n = program.checked.models[model].total_params()
                if not isinstance(n, int) or n > MAX_BUILD_PARAMS:
                    continue  # a real model too large to build here: torch would allocate it
                try:
                    program.build(model)
                except NndslError:
                    pass
    assert spec.read_bytes() == text.encode("utf-8", "surrogatepass"), "fmt --check wrote"
    assert _tree_hash(folder, {spec}) == before, "a verb wrote outside -o"


# The default run is derandomized (the same inputs every time, so the suite does not flake);
# a campaign (NNDSL_FUZZ_EXAMPLES set) draws new ones.
FUZZ = settings(
    deadline=None,
    max_examples=EXAMPLES,
    derandomize="NNDSL_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@FUZZ
@given(sample=mutated_sample())
def test_mutated_samples_through_every_verb(sample: tuple[str, str], folder: Path) -> None:
    check_all_verbs(*sample, folder)


@pytest.mark.parametrize("name", sorted(SAMPLE_TEXTS))
def test_unmutated_samples_through_every_verb(name: str, folder: Path) -> None:
    """The property holds for the samples themselves (and they all check)."""
    check_all_verbs(name, SAMPLE_TEXTS[name], folder)
    assert _cli(["check", str(folder / f"fuzz_{name}")])[0] == 0


# Inputs the campaigns found, kept as cases (each went wrong once: see the comment)
FOUND = {
    # generate counted a GRU's parameters layer by layer, symbolically: minutes for 100,000
    "rnn_layers": "model M {\n    input x: [B, T, 8]\n    out, h = x -> GRU(16, num_layers=100000,"
    " batch_first=true, bidirectional=true)\n    out -> Linear(2)\n}\n",
    # generate compared a block's input size with a float (`C == 0.5`) as sizes: a traceback
    "size_vs_float": "block R(out: int) {\n    input x: [B, C]\n    y = x -> Linear(out)\n"
    "    y + x if C == -0.0 or C != 0.5 else y\n}\nmodel M {\n    input x: [B, 4]\n"
    "    R(4) -> R(4)\n}\n",
    # generate compared a block's int parameter with `true` as sizes: dims.DimError escaped
    "size_vs_bool": "block Blk(stride: int = 1) {\n    input x\n"
    "    y = x if stride == true else x * 2\n    y\n}\nmodel M {\n    input x: [B, 4]\n"
    "    Blk(stride=2) -> Blk()\n}\n",
    # a size times a float (`planes * (base_width / 64)` with planes = B): Sym * float, a
    # TypeError out of check
    "size_times_float": "block Blk(planes: int, base_width: int = 64) {\n    input x\n"
    "    width = int(planes * (base_width / 64))\n    x -> Linear(width)\n}\n"
    "model M {\n    input x: [B, 4]\n    Blk(B)\n}\n",
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_found_cases_through_every_verb(name: str, folder: Path) -> None:
    check_all_verbs(f"{name}.nn", FOUND[name], folder)
