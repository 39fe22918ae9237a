"""The repository's habits (issue 10, item 7): warnings fail tests, nothing points outside the repo, and no
test file edits sys.path (shared harnesses live in `smimesh.testing`; pyproject puts the repo root on it).

The upstream data the tests compare with is vendored in tests/data/upstream with its provenance; no
file reads from, or sends a reader to, a folder beside the clone or a path on one machine.
"""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
import warnings
from pathlib import Path

import pytest

from smimesh.testing.smi_data import UPSTREAM_DIR, upstream_dir

REPO = Path(__file__).resolve().parents[1]
PROJECTS = ("smi", "osm", "flagger", "gateway-api", "istio", "linkerd", "consul")
OUTSIDE = re.compile(r"\.\./shared\b|/work/|[\"']shared[\"']\s*/")


def test_a_warning_in_a_test_is_an_error() -> None:
    with pytest.raises(DeprecationWarning):
        warnings.warn("deprecated", DeprecationWarning, stacklevel=1)


def test_an_unclosed_resource_is_an_error() -> None:
    """pyproject's filterwarnings has no exception for ResourceWarning (leaks are fixed, not shown)."""
    with pytest.raises(ResourceWarning):
        warnings.warn("unclosed <socket.socket fd=3>", ResourceWarning, stacklevel=1)


def test_starlettes_test_client_imports_without_a_deprecation() -> None:
    import starlette.testclient

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(starlette.testclient)


def _tracked_text_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "src", "tests", "bench", "docs", "scripts", ".ci", "README.md", "pyproject.toml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    skip = (UPSTREAM_DIR, Path(__file__).resolve())
    paths = [REPO / p for p in listed if p.endswith((".py", ".md", ".sh", ".toml", ".yaml", ".yml", "run"))]
    return [p for p in paths if p.is_file() and not any(p == s or s in p.parents for s in skip)]


def test_no_file_points_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in _tracked_text_files()
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("project", PROJECTS)
def test_vendored_upstream_data_says_where_it_came_from(project: str) -> None:
    folder = upstream_dir(project)
    indexes = [folder / "INDEX.md"] if (folder / "INDEX.md").is_file() else sorted(folder.glob("*/INDEX.md"))
    assert indexes and list(folder.rglob("*.yaml"))
    for index in indexes:
        assert re.search(r"commit|@ `[0-9a-f]{7,}", index.read_text()), index
    assert f"`{project}/" in (UPSTREAM_DIR / "README.md").read_text()  # its licence row


def _sys_path_lines(source: str) -> list[int]:
    """Lines that read or change `sys.path` (`sys.path...` or `from sys import path`)."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if (
            isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys"
        )
        or (
            isinstance(node, ast.ImportFrom)
            and node.module == "sys"
            and any(a.name == "path" for a in node.names)
        )
    ]


def test_the_sys_path_check_finds_an_edit() -> None:
    source = "import sys\nfrom sys import path\nsys.path.insert(0, 'x')\nprint(sys.argv)\n"
    assert _sys_path_lines(source) == [2, 3]


def test_no_test_file_touches_sys_path() -> None:
    """A harness shared by tests is a module of `smimesh.testing`, imported like any other package."""
    found = [
        f"{path.relative_to(REPO)}:{line}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        for line in _sys_path_lines(path.read_text(encoding="utf-8"))
    ]
    assert not found, "sys.path edited in: " + ", ".join(found)
