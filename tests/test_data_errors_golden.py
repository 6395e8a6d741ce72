"""Golden tests of data errors: every spec under `tests/fixtures/data_errors/<case>/main.nn`
reads a data file that is missing, malformed or does not fit the model, and what `nndsl run`
prints for it (`main.expected`, with the case's folder written as `<dir>`).

The error is shown like a check error: `main.nn:LINE:COL` at the option of the `data` value it
is about (the file, the column, the array), the line, carets and a hint.  `nndsl run` exits 1
before anything is written (no run folder), and `nndsl generate` reports the same error and
writes nothing.  Regenerate the expected files with

    python -m pytest tests/test_data_errors_golden.py --update-golden
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nndsl.cli import main

CASES = sorted(
    p.parent for p in (Path(__file__).parent / "fixtures" / "data_errors").glob("*/main.nn")
)


def test_there_are_cases() -> None:
    assert len(CASES) >= 8


def _stderr(capsys, folder: Path, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--color", "never", *argv])
    out, err = capsys.readouterr()
    return code, out, err.replace(str(folder.resolve()), "<dir>")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_data_error_output(
    case: Path, tmp_path: Path, monkeypatch, capsys, update_golden: bool
) -> None:
    monkeypatch.chdir(case)
    before = sorted(p.name for p in case.rglob("*") if p.name != "main.expected")
    code, out, err = _stderr(capsys, case, "run", "main.nn", "--out", str(tmp_path / "run"))
    assert code == 1, out + err
    assert "Traceback" not in err and out == ""
    assert not (tmp_path / "run").exists(), "a refused run wrote its folder"
    assert err.startswith("error: ") and "\n  --> main.nn:8:" in err  # at the `data` line
    expected = case / "main.expected"
    if update_golden:
        expected.write_text(err, encoding="utf-8")
    else:
        assert err == expected.read_text(encoding="utf-8")
    # generate prepares the same data: the same error, and nothing written
    code, out, gen_err = _stderr(capsys, case, "generate", "main.nn", "-o", str(tmp_path / "gen"))
    assert (code, out, gen_err) == (1, "", err)
    assert not (tmp_path / "gen").exists() or not any((tmp_path / "gen").iterdir())
    assert sorted(p.name for p in case.rglob("*") if p.name != "main.expected") == before
