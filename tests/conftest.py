"""Shared pytest configuration.

Golden files: the expected output of error fixtures (`tests/fixtures/errors/**/<name>.expected`)
is compared byte for byte.  After a deliberate change to a message, regenerate them with

    python -m pytest tests/test_errors_golden.py --update-golden

and review the diff of the `.expected` files before committing.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="rewrite the golden .expected files from the current output instead of comparing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))
