"""Golden-file fixture for the generator tests: `pytest --update-golden` (the option is registered in the
root conftest so it works from anywhere) or `SMIMESH_UPDATE_GOLDEN=1` rewrites the goldens."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smimesh.testing.golden import Golden

GOLDEN_DIR = Path(__file__).parent / "golden"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    update = bool(request.config.getoption("--update-golden"))
    return Golden(GOLDEN_DIR, update or os.environ.get("SMIMESH_UPDATE_GOLDEN") == "1")
