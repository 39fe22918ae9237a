"""Golden-file fixture for the generator tests: `pytest --update-golden` (the option is registered in the
root conftest so it works from anywhere) or `SMIMESH_UPDATE_GOLDEN=1` rewrites the goldens; and
`worlds`, the secured config of every world in `WORLDS`, built once for the session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smimesh.testing.bookstore_edges import EDGE_CASES
from smimesh.testing.golden import Golden
from smimesh.testing.secured import SECURED_MODES, SecuredWorld, world_resources

GOLDEN_DIR = Path(__file__).parent / "golden"


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    update = bool(request.config.getoption("--update-golden"))
    return Golden(GOLDEN_DIR, update or os.environ.get("SMIMESH_UPDATE_GOLDEN") == "1")


WORLDS = [("bookstore", mode) for mode in SECURED_MODES] + [(case, "strict") for case in EDGE_CASES]


@pytest.fixture(scope="session")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], SecuredWorld]:
    """Every (world, mode) pair once: a CA per pair (run dirs are not shared)."""
    return {
        (name, mode): SecuredWorld(
            tmp_path_factory.mktemp(f"{name}-{mode}"), world_resources(name), SECURED_MODES[mode]
        )
        for name, mode in WORLDS
    }
