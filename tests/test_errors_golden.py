"""Golden tests of diagnostics: every bad spec under `tests/fixtures/errors/` and what
`nndsl check` prints for it.

Layout (any depth below `errors/`, so categories such as `syntax/` and `semantic/` share it):

- `<name>.nn` is a fixture; its expected stderr is `<name>.expected` next to it.
- A folder holding a `main.nn` is one fixture of several files: `main.nn` is checked (expected
  output in `main.expected`), and the other `.nn` files of the folder are what it imports.

Each fixture is checked with the real command line, in-process, from the fixture's folder (so
paths print as the user would see them): `nndsl --color never check <name>.nn` must exit 1 and
print exactly the expected diagnostics on stderr.  Regenerate the expected files with

    python -m pytest tests/test_errors_golden.py --update-golden
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nndsl.cli import main

ERRORS = Path(__file__).parent / "fixtures" / "errors"


def _fixtures() -> list[Path]:
    out = []
    for path in sorted(ERRORS.rglob("*.nn")):
        if path.name != "main.nn" and (path.parent / "main.nn").exists():
            continue  # a helper file of a multi-file fixture
        out.append(path)
    return out


FIXTURES = _fixtures()


def _id(path: Path) -> str:
    rel = path.relative_to(ERRORS)
    return str(rel.parent if rel.name == "main.nn" else rel.with_suffix("")).replace("\\", "/")


def test_there_are_fixtures() -> None:
    assert len(FIXTURES) >= 35


def test_every_expected_file_has_its_fixture() -> None:
    orphans = [
        str(p.relative_to(ERRORS))
        for p in ERRORS.rglob("*.expected")
        if p.with_suffix(".nn") not in FIXTURES
    ]
    assert not orphans, f"expected files without a fixture (renamed or deleted?): {orphans}"


@pytest.mark.parametrize("spec", FIXTURES, ids=[_id(p) for p in FIXTURES])
def test_error_output(
    spec: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, update_golden: bool
) -> None:
    monkeypatch.chdir(spec.parent)
    code = main(["--color", "never", "check", spec.name])
    captured = capsys.readouterr()
    expected_file = spec.with_suffix(".expected")
    assert captured.out == "", "a failing check prints nothing on stdout"
    assert "Traceback" not in captured.err
    assert code == 1, f"expected exit code 1 for a bad spec, got {code}:\n{captured.err}"
    if update_golden:
        expected_file.write_text(captured.err, encoding="utf-8")
        return
    if not expected_file.exists():
        pytest.fail(
            f"no {expected_file.name} for {_id(spec)}: run "
            "`python -m pytest tests/test_errors_golden.py --update-golden` and review it"
        )
    assert captured.err == expected_file.read_text(encoding="utf-8")
