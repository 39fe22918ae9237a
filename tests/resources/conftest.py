"""Fixtures for the resource layer's tests: a loader of inline YAML, and the SMI examples directory."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from smimesh.resources import LoadResult, load_text
from smimesh.testing.smi_data import smi_examples_dir

EXAMPLES = smi_examples_dir()

LoadYaml = Callable[..., LoadResult]


@pytest.fixture
def load() -> LoadYaml:
    """`load(text, source="test.yaml", **kwargs)`: load dedented YAML as if it were a file."""

    def _load(text: str, source: str = "test.yaml", **kwargs: Any) -> LoadResult:
        return load_text(textwrap.dedent(text).lstrip("\n"), source, **kwargs)

    return _load


@pytest.fixture
def examples_dir() -> Path:
    if not EXAMPLES.is_dir():
        pytest.skip(f"{EXAMPLES} is not present")
    return EXAMPLES
