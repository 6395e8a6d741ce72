"""Nothing lost, nothing run, nothing unbounded: specs that used to crash, hang or exhaust
memory get a located error (file:line:col and a caret), exit code 1 and no traceback, on every
verb.  Each test names the defect it pins down; the limits are those of nndsl/limits.py."""

from __future__ import annotations

import contextlib
import io
import re
import sys
from pathlib import Path

import pytest

from nndsl import limits
from nndsl.cli import main
from nndsl.syntax import parse
from nndsl.syntax.fmt import format_source

sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))

VERBS = ("check", "summary", "generate", "fmt")


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--color", "never", *argv])
    return code, out.getvalue() + err.getvalue()


def _argv(verb: str, path: Path) -> list[str]:
    if verb == "generate":
        return ["generate", str(path), "-o", str(path.parent / "out")]
    if verb == "fmt":
        return ["fmt", "--check", str(path)]
    return [verb, str(path)]


def _fails_at(tmp_path: Path, text: str | bytes, message: str, where: str, verbs=VERBS[:3]) -> str:
    """Every verb exits 1 without a traceback, with `message` located at `where` (line:col)."""
    path = tmp_path / "spec.nn"
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    output = ""
    for verb in verbs:
        code, output = _run(_argv(verb, path))
        assert code == 1, (verb, output)
        assert "Traceback" not in output, output
        assert message in output, (verb, output)
        assert f"spec.nn:{where}" in output, (verb, output)
        assert not (tmp_path / "out").exists(), "nothing is written for a spec with errors"
    return output


def _model(*lines: str) -> str:
    return "model M {\n    input x: [B, 4]\n" + "".join(f"    {x}\n" for x in lines) + "}\n"


# ---- parsing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["trainable", "train_x", "trainer_head", "train2"])
def test_names_that_start_with_train_are_names(name: str, tmp_path: Path) -> None:
    path = tmp_path / "spec.nn"
    path.write_text(_model(f"{name} = x -> relu", f"{name}: Linear(3)"), encoding="utf-8")
    for verb in VERBS:
        code, output = _run(_argv(verb, path))
        assert code == 0, (verb, output)


# Every keyword of the grammar, followed by letters, digits or `_`, is a name wherever a name goes.
KEYWORDS = sorted(
    {"model", "block", "const", "import", "from", "input", "param", "return", "for", "in"}
    | {"train", "if", "else", "or", "and", "not", "true", "false", "none", "as"}
)


@pytest.mark.parametrize("keyword", KEYWORDS)
def test_keywords_are_whole_words(keyword: str) -> None:
    for suffix in ("x", "_", "1", "able"):
        n = keyword + suffix
        texts = [
            f"model M {{\n    input x: [B, 4]\n    {n} = x\n    {n}: Linear(3)\n}}\n",
            f"const {n} = 3\nconst Z = {n} if {n} else {n}\n",
            f"model M {{\n    input {n}: [B, 4]\n    param {n}2: [4]\n    {n} + {n}2\n}}\n",
            f"block {n}({n}_p) {{\n    input x: [B, 4]\n    x\n}}\n",
            f"train {{\n    {n} = 1\n}}\n",
            f"model M {{\n    input x: [B, 4]\n    for {n} in [1] {{\n"
            f"        x = x -> f({n}=1)\n    }}\n    x\n}}\n",
        ]
        for text in texts:
            source, diags = parse(text, "k.nn")
            assert source is not None, (text, [d.message for d in diags])


def test_train_section_still_starts_with_train() -> None:
    for text in ("train {\n    epochs = 1\n}\n", "train{\n}\n", "train fast {\n}\n"):
        source, diags = parse(text, "t.nn")
        assert source is not None and type(source.decls[0]).__name__ == "TrainDecl", diags


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_ends_are_alike(newline: str, tmp_path: Path) -> None:
    text = "# a comment\nmodel M {\n    input x: [B, 4]\n\n    y = zzz  # c\n}\n"
    output = _fails_at(tmp_path, text.replace("\n", newline), "undefined name `zzz`", "5:9")
    assert " 5 |     y = zzz  # c" in output
    path = tmp_path / "spec.nn"
    source, _ = parse(path.read_bytes().decode("utf-8"), "spec.nn")
    assert source is not None  # the comment did not swallow the file
    assert len(source.decls) == 1 and [c.span.line for c in source.comments] == [1, 5]
    good = text.replace("zzz", "x").replace("\n", newline)
    path.write_bytes(good.encode())
    assert _run(["check", str(path)])[0] == 0
    assert _run(["fmt", str(path)])[0] == 0
    assert path.read_bytes() == good.replace(newline, "\n").encode()  # fmt writes `\n`


def test_cr_only_comment_does_not_swallow_the_file(tmp_path: Path) -> None:
    text = "# one comment\rmodel M {\r    input x: [B, 4]\r    y = zzz\r}\r"
    _fails_at(tmp_path, text, "undefined name `zzz`", "4:9")


def test_form_feed_and_unicode_separators_do_not_shift_lines(tmp_path: Path) -> None:
    text = "model M {\x0c\n    input x: [B, 4]  # \u2028 \x85\n    y = zzz\n}\n"
    output = _fails_at(tmp_path, text, "undefined name `zzz`", "3:9")
    assert " 3 |     y = zzz" in output


def test_fmt_keeps_one_element_tuples(tmp_path: Path) -> None:
    text = _model("out, (h, ) = x -> relu", "(g,) = x", "x")
    source, _ = parse(text, "t.nn")
    assert source is not None
    formatted = format_source(source, text)
    assert "out, (h,) = x -> relu" in formatted and "    (g,) = x" in formatted
    again, _ = parse(formatted, "t.nn")
    assert again == source


def test_nul_byte_is_located(tmp_path: Path) -> None:
    text = b"model M {\r\n    input x: [B, 4]\x00\r\n}\r\n"
    output = _fails_at(tmp_path, text, "contains a NUL character", "2:20", verbs=VERBS)
    assert "\u2400" in output  # shown, not written raw to the terminal


# ---- numbers and sizes -------------------------------------------------------------------------


def test_integer_literal_of_thousands_of_digits(tmp_path: Path) -> None:
    text = "const A = " + "7" * 5000 + "\n"
    output = _fails_at(tmp_path, text, "is too large", "1:11", verbs=VERBS)
    assert "5000 digits" in output


def test_leading_zeros_are_refused_not_counted_as_digits(tmp_path: Path) -> None:
    # a decimal integer may not begin with 0 (as in Python): 5,000 of them are that error,
    # not "too many digits"
    text = _model("x -> Linear(" + "0" * 5000 + "3)")
    output = _fails_at(tmp_path, text, "an integer cannot begin with `0`", "3:17")
    assert "too large" not in output


def test_run_refuses_a_huge_literal_before_training(tmp_path: Path) -> None:
    text = _model("x -> Linear(1" + "0" * 400 + ")")
    _fails_at(tmp_path, text, "is too large", "3:17", verbs=("run",))


@pytest.mark.parametrize(
    "stmt, message, col",
    [
        ("x -> Linear(1" + "0" * 30 + ")", "is too large", 17),
        ("x -> Linear(4611686018427387904 * 4)", "is too large", 17),
        ("x -> Linear(9223372036854775807)", "would have", 10),
        ("x -> Linear(2 ** 40) -> Linear(2 ** 40)", "would have", 29),
        ("y = x -> reshape(B, 2, 2) -> repeat(1, 4294967296, 4294967296)", "elements", 34),
    ],
)
def test_sizes_past_int64_are_located(stmt: str, message: str, col: int, tmp_path: Path) -> None:
    _fails_at(tmp_path, _model(stmt), message, f"3:{col}")


def test_huge_input_shape_is_located(tmp_path: Path) -> None:
    text = "model M {\n    input x: [B, 4294967296, 4294967296]\n    x\n}\n"
    _fails_at(tmp_path, text, "more than a tensor can hold", "2:11")


def test_parameter_tensor_used_as_a_size(tmp_path: Path) -> None:
    block = "block L(n) {\n    input x: [B, n]\n    x -> Linear(n)\n}\n"
    text = block + "model M {\n    input x: [B, 4]\n    param p: [4]\n    x -> L(n=p)\n}\n"
    _fails_at(tmp_path, text, "`L` is a layer", "8:14")
    _fails_at(tmp_path, _model("param p: [4]", "x -> Linear(p)"), "`Linear` is a layer", "4:17")
    _fails_at(tmp_path, _model("param p: [4]", "x[:, :p]"), "a slice bound must be", "4:11")


# ---- compile-time values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, message, where",
    [
        ("const A = [0] * 1000000000\n", "makes a list of 1,000,000,000 items", "1:11"),
        ("const A = (10 ** 18) ** 64\n", "is too large", "1:11"),
        ("const A = int(1e300)\n", "is too large", "1:11"),
        ("const A = sum([9223372036854775807] * 2)\n", "is too large", "1:11"),
        (_model("l = [1]", "for i in range(60) {", "    l = l + l", "}", "x"), "items", "5:13"),
        (_model("l = [1]", "for i in range(60) {", "    l = [l, l]", "}", "x"), "items", "5:13"),
        (_model('s = "ab"', "for i in range(60) {", "    s = s + s", "}", "x"), "string", "5:13"),
        (
            _model("l = [1]", "for i in range(5000) {", "    l = [l]", "}", "x"),
            "100 levels",
            "5:13",
        ),
        (
            _model("for i in range(10000) {", "    l = [0] * 100000", "}", "x -> Linear(3)"),
            None,
            None,
        ),
        (
            _model(
                "n = 0",
                "for i in range(10000) {",
                "    for j in range(10000) {",
                "        n = n + 1",
                "    }",
                "}",
                "x",
            ),  # fmt: skip
            f"more than {limits.MAX_STEPS:,} statements",
            "5:18",
        ),
    ],
)
def test_compile_time_values_are_bounded(text: str, message, where, tmp_path) -> None:
    if message is not None:
        _fails_at(tmp_path, text, message, where)
        return
    # within the limits, many large lists one after another: each is dropped when rebound
    path = tmp_path / "spec.nn"
    path.write_text(text, encoding="utf-8")
    assert _run(["check", str(path)])[0] == 0


# ---- work that must stay linear (timings live in bench/bench_limits.py) -----------------------


def test_unary_minus_chain_generates_one_line_per_sign(tmp_path: Path) -> None:
    path = tmp_path / "spec.nn"
    path.write_text(_model("y = " + "-" * 40 + "x", "y"), encoding="utf-8")
    code, output = _run(["generate", str(path), "-o", str(tmp_path / "out")])
    assert code == 0, output
    forward = (tmp_path / "out" / "model.py").read_text(encoding="utf-8").split("def forward")[1]
    assert len(re.findall(r"= -", forward)) == 40


def test_shared_operands_are_evaluated_once(tmp_path: Path) -> None:
    """Each operator of a generic class evaluates its operands once: a block whose parameter
    feeds a deep expression generates one step per operator."""
    inner = "x"
    for _ in range(24):
        inner = f"-({inner} * 2)"
    text = "block L(n) {\n    input x: [B, n]\n    " + inner + "\n}\n"
    text += "model M {\n    input x: [B, 4]\n    x -> L(4)\n}\n"
    path = tmp_path / "spec.nn"
    path.write_text(text, encoding="utf-8")
    code, output = _run(["generate", str(path), "-o", str(tmp_path / "out")])
    assert code == 0, output
    forward = (tmp_path / "out" / "model.py").read_text(encoding="utf-8").split("def forward")[1]
    assert len(re.findall(r"# \[", forward)) == 48  # 24 products and 24 negations


# ---- data ---------------------------------------------------------------------------------------


def _images(folder: Path, n: int = 2, size: tuple[int, int] = (6, 4)) -> None:
    image = pytest.importorskip("PIL.Image")
    for cls in ("a", "b"):
        (folder / cls).mkdir(parents=True)
        for i in range(n):
            image.new("RGB", size, (10, 20, 30)).save(folder / cls / f"{i}.png")


def _image_spec(size: int) -> str:
    return (
        f"model M {{\n    input x: [B, 3, {size}, {size}]\n    flatten -> Linear(2)\n}}\n"
        f'train {{\n    model = M\n    data = image_folder("imgs", size={size})\n'
        "    loss = CrossEntropyLoss()\n    optimizer = Adam(lr=1e-3)\n    epochs = 1\n}\n"
    )


def test_image_size_is_bounded_by_the_checker(tmp_path: Path) -> None:
    _images(tmp_path / "imgs")
    message = f"must be from 1 to {limits.MAX_IMAGE_SIDE:,} pixels per side"
    _fails_at(tmp_path, _image_spec(100000), message, "7:38")


def test_image_memory_is_estimated_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _images(tmp_path / "imgs")
    path = tmp_path / "spec.nn"
    path.write_text(_image_spec(16), encoding="utf-8")
    monkeypatch.setenv(limits.DATA_BYTES_ENV, "10000")  # 4 images of 3x16x16 float32: 12 KiB
    code, output = _run(["generate", str(path), "-o", str(tmp_path / "out")])
    assert code == 1 and "Traceback" not in output, output
    assert "more than the limit of 9.8 KiB" in output and limits.DATA_BYTES_ENV in output
    assert not (tmp_path / "out" / "data.npz").exists()
    monkeypatch.setenv(limits.DATA_BYTES_ENV, "20000")
    code, output = _run(["generate", str(path), "-o", str(tmp_path / "out")])
    assert code == 0, output


def test_image_header_is_checked_without_a_size(tmp_path: Path, monkeypatch) -> None:
    from nndsl.data.errors import DataError
    from nndsl.data.sources import SOURCES

    _images(tmp_path / "imgs", n=1, size=(60, 40))
    monkeypatch.setenv(limits.DATA_BYTES_ENV, "20000")  # one 60x40 RGB image: 28.1 KiB
    with pytest.raises(DataError, match=r"60x40\) would take 28.1 KiB"):
        SOURCES["image_folder"](path=tmp_path / "imgs")
    with pytest.raises(DataError, match="at most 8,192 pixels per side"):
        SOURCES["image_folder"](path=tmp_path / "imgs", size=(4, 9000))


def test_data_limit_env_falls_back_on_nonsense(monkeypatch: pytest.MonkeyPatch) -> None:
    for raw in ("", "abc", "-5", "0"):
        monkeypatch.setenv(limits.DATA_BYTES_ENV, raw)
        assert limits.max_data_bytes() == limits.DEFAULT_MAX_DATA_BYTES
    monkeypatch.setenv(limits.DATA_BYTES_ENV, "8_000_000_000")
    assert limits.max_data_bytes() == 8_000_000_000
