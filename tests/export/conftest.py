"""Fixtures of the export tests: golden files (`pytest --update-golden`) and the published CRD schemas."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from smimesh.export.schemas import SchemaSet
from smimesh.testing.golden import Golden
from smimesh.testing.smi_data import upstream_dir

GOLDEN_DIR = Path(__file__).parent / "golden"
SCHEMA_DIRS = {
    "gateway-api": ("gateway-api",),
    "istio": ("istio",),
    "linkerd": ("linkerd", "gateway-api"),  # splits are GAMMA HTTPRoutes
    "consul": ("consul",),
}


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    update = bool(request.config.getoption("--update-golden"))
    return Golden(GOLDEN_DIR, update or os.environ.get("SMIMESH_UPDATE_GOLDEN") == "1")


@pytest.fixture(scope="session")
def schemas() -> dict[str, SchemaSet]:
    return {t: SchemaSet.from_directory(*(upstream_dir(d) for d in dirs)) for t, dirs in SCHEMA_DIRS.items()}
