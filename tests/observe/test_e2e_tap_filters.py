"""`smimesh tap --to SERVICE` and `--path REGEX` against real traffic through `smimesh up`.

caller sends a known pattern to `web` (split 50/50 over web-v1 and web-v2) while three taps of
caller run: one with `--path '^/books/'`, one with `--to web-v2`, one with both `--to web-v1` and
`--path '/books/[0-3]$'`. Each tap shows exactly the requests its filter accepts, each once, and
nothing else (the backend that really answered is known from the reply's body).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from smimesh.testing.observe_world import Mesh, Stream, eventually, make_world, tap_switch

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(300)]
PATTERN = [f"/books/{i}" for i in range(7)] + ["/health"] * 3
FILTERS: dict[str, tuple[str, ...]] = {
    "books": ("--path", "^/books/"),
    "to-v2": ("--to", "web-v2"),
    "v1-low-books": ("--to", "web-v1.shop", "--path", "/books/[0-3]$"),
}


def _wanted(name: str, path: str, backend: str) -> bool:
    if name == "books":
        return path.startswith("/books/")
    if name == "to-v2":
        return backend == "web-v2"
    return backend == "web-v1" and re.search("/books/[0-3]$", path) is not None


def _send(mesh: Mesh, paths: list[str]) -> list[tuple[str, str]]:
    """(path, workload that answered) per request, through caller's sidecar."""
    answered = []
    with httpx.Client(proxy=mesh.proxy("caller-0"), timeout=10) as client:
        for path in paths:
            reply = client.get(f"http://web.shop{path}")
            assert reply.status_code == 200, (path, reply.status_code, reply.text)
            answered.append((path, reply.json()["workload"]))
    return answered


def test_tap_filters_by_destination_and_path(tmp_path: Path) -> None:
    make_world(tmp_path / "shop")
    mesh = Mesh(tmp_path / "shop", tmp_path / "run", tmp_path / "contexts.json").start()
    taps: dict[str, Stream] = {}
    try:
        mesh.wait_ready(expected_instances=4)
        taps = {
            name: Stream(mesh, "tap", "caller", "-n", "shop", "-o", "json", *f) for name, f in FILTERS.items()
        }
        eventually(lambda: all(t.listening() for t in taps.values()), 30, what="the taps in place", mesh=mesh)
        eventually(lambda: tap_switch(mesh, "caller-0") == "100", 30, what="caller tapped", mesh=mesh)
        answered = _send(mesh, PATTERN)
        for i in range(50):  # the split is random: until every filter has something to show
            if all(any(_wanted(n, p, who) for p, who in answered) for n in FILTERS):
                break
            answered += _send(mesh, [f"/books/{i % 4}"])
        assert {who for _, who in answered} == {"web-v1", "web-v2"}, answered

        for name, tap in taps.items():
            expected = sorted((p, f"shop/{who}") for p, who in answered if _wanted(name, p, who))

            def shown(tap: Stream = tap, count: int = len(expected)) -> list[dict[str, Any]] | None:
                found = tap.events()
                return found if len(found) >= count else None

            events = eventually(shown, 30, what=f"tap {name} shows its requests", mesh=mesh)
            assert sorted((e["path"], e["backend"]) for e in events) == expected, (name, events)
            assert {(e["direction"], e["status"]) for e in events} == {("outbound", 200)}
    finally:
        for tap in taps.values():
            tap.stop()
        mesh.stop()
