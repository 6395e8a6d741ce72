"""Usage errors of the command line (an unknown verb or flag, a missing argument, a bad choice or
value): exit code 1, a one-paragraph message on stderr with a hint naming the nearest valid verb
or flag, no traceback; `--help` and `--version` still exit 0."""

from __future__ import annotations

import pytest

from nndsl.cli import main


def _usage(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["--color", "never", *argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, err


@pytest.mark.parametrize(
    ("argv", "message", "hint"),
    [
        (["chek", "a.nn"], "invalid choice: 'chek'", "did you mean `check`?"),
        (["sumary", "a.nn"], "invalid choice: 'sumary'", "did you mean `summary`?"),
        (["run", "a.nn", "--epochz", "3"], "unrecognized arguments: --epochz 3", "`--epochs`"),
        (["generate", "a.nn", "--forse"], "unrecognized arguments: --forse", "`--force`"),
        (["check", "a.nn", "--zzzzzz"], "unrecognized arguments", "`nndsl check` takes: "),
        (
            ["run", "a.nn", "--epochs", "abc"],
            "--epochs: invalid int value: 'abc'",
            "a whole number",
        ),
        (["run", "a.nn", "--lr", "fast"], "--lr: invalid float value: 'fast'", "takes a number"),
        (["evaluate", "a.nn"], "required: --checkpoint", "the usage line above"),
        (["check"], "required: FILE", "the usage line above"),
        (["generate", "a.nn", "--target", "lightnin"], "invalid choice", "`lightning`"),
        (["export", "a.nn", "--checkpoint", "c", "-o", "o", "--format", "onx"], "", "`onnx`"),
        (["--color", "sometimes", "check", "a.nn"], "invalid choice: 'sometimes'", "help"),
    ],
)
def test_usage_errors_exit_1_with_a_hint(capsys, argv, message, hint) -> None:
    code, err = _usage(capsys, *argv)
    assert code == 1, err
    lines = err.strip().splitlines()
    assert lines[0].startswith("usage: nndsl")
    error = next(line for line in lines if ": error: " in line)
    assert message in error, err
    assert lines[-1].startswith("  = hint: ") and hint in lines[-1], err
    assert "--help` for help" in lines[-1]


def test_no_verb_is_a_usage_error(capsys) -> None:
    code, err = _usage(capsys)
    assert code == 1
    assert "nndsl: error: no verb given" in err


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["--version"]])
def test_help_and_version_exit_0(capsys, argv) -> None:
    capsys.readouterr()
    assert main(argv) == 0
    assert capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "samples/iris.nn", "--epochs", "0"], "--epochs must be at least 1"),
        (["run", "samples/iris.nn", "--batch-size", "-4"], "--batch-size must be at least 1"),
        (["graph", "samples/iris.nn", "-o", "x.png"], "must end in .svg, .html or .dot"),
        (["graph", "samples/iris.nn", "-o", "x.svg", "--depth", "-1"], "--depth must be 0"),
    ],
)
def test_bad_flag_values_exit_1(capsys, argv, message) -> None:
    code, err = _usage(capsys, *argv)
    assert code == 1 and message in err, err


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "a.nn"],
        ["check", "a.nn", "b.nn", "check", ""],
        ["check", "--no-imports", "a.nn"],
        ["check", "a.nn", "--color", "never"],
        ["check", "-", "a.nn"],
        ["check", "--", "-a.nn"],
        ["--color", "always", "check", "a.nn"],
        ["summary", "a.nn"],
        ["check"],
    ],
)
def test_plain_check_reads_what_argparse_reads(argv) -> None:
    """`nndsl check FILE...` without flags is read without argparse (nndsl.cli.plain_check):
    the same arguments as argparse's, and any other command line is left to argparse."""
    from nndsl.cli import build_parser, plain_check

    plain = plain_check(argv)
    if plain is None:
        assert argv[:1] != ["check"] or len(argv) < 2 or any(w.startswith("-") for w in argv[1:])
        return
    assert vars(plain) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize("verb", ["generate", "graph"])
@pytest.mark.parametrize(
    ("text", "at", "excerpt", "hint"),
    [
        ("# blocks\nblock Act(x) {\n    relu\n}\n", "2:7", "block Act(x) {", "calls `Act`"),
        ("# nothing yet\n\n\n", "1:14", "# nothing yet", "declare a `model`"),
        ("", "1:1", "", "declare a `model`"),
    ],
)
def test_a_spec_without_a_model_is_a_located_error(
    tmp_path, capsys, verb, text, at, excerpt, hint
) -> None:
    """`generate` (and `graph`) of a spec without a model: an error at its first block, else
    at the end of its text, with the excerpt, a caret and a hint, like every diagnostic."""
    spec = tmp_path / "blocks.nn"
    spec.write_text(text)
    out = tmp_path / ("out" if verb == "generate" else "g.svg")
    code, err = _usage(capsys, verb, str(spec), "-o", str(out))
    assert code == 1 and not out.exists()
    assert err.startswith(f"error: {spec} has no model to "), err
    assert f"--> {spec}:{at}\n" in err, err
    assert f"| {excerpt}".rstrip() in err and "^" in err and "= hint: " in err and hint in err
