"""Fixtures for the network-namespace tests: a `NetLab` per test, removed at the end, also on failure."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from smimesh.testing.netns import NetLab, leftovers, root_reason
from smimesh.testing.pod_world import PROBE

SMIMESH = [sys.executable, "-m", "smimesh.cli.main"]
needs_root = pytest.mark.skipif(bool(root_reason()), reason=root_reason() or "root")


@pytest.fixture
def lab() -> Iterator[NetLab]:
    with NetLab() as built:
        yield built
    assert leftovers(built.prefix) == [], "a network namespace outlived its test"


def serve(lab: NetLab, netns: str, port: int, label: str, uid: int | None = None) -> None:
    process = lab.run(netns, [*PROBE, "serve", str(port), label], uid=uid, stdout=subprocess.PIPE)
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"listening", f"{label} did not start"


def connect(lab: NetLab, netns: str, host: str, port: int, uid: int | None = None) -> str:
    return lab.exec(netns, [*PROBE, "connect", host, str(port)], uid=uid).stdout.strip()
