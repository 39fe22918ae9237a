"""Golden-file fixture for the generator tests: `pytest tests/xds --update-golden` rewrites the goldens.

(The option lives here, not in a root conftest, as the project asks; pytest only sees it when this
directory is on the command line, so `SMIMESH_UPDATE_GOLDEN=1` works from anywhere too.)
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smimesh.testing.golden import Golden

GOLDEN_DIR = Path(__file__).parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False, help="rewrite tests/xds/golden/*.yaml"
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    try:
        update = bool(request.config.getoption("--update-golden"))
    except ValueError:
        update = False
    return Golden(GOLDEN_DIR, update or os.environ.get("SMIMESH_UPDATE_GOLDEN") == "1")
