"""`smimesh up DIR` end to end: a TrafficSplit is honoured, edits and scaling are live, bad edits are refused.

Real `smimesh up`, real Envoy sidecars, real workload processes on loopback. Statistical checks use
Pearson's chi-square with p > 0.001 (a correct mesh fails one run in a thousand).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from smimesh.testing.up import (
    Mesh,
    Traffic,
    backend,
    chi_square_p,
    eventually,
    make_shop,
    send,
    split,
    write,
)

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

URL = "http://web.shop/"
SAMPLE = 400


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Mesh]:
    make_shop(tmp_path / "shop", v1=80, v2=20)
    mesh = Mesh(tmp_path / "shop", tmp_path / "run", tmp_path / "contexts.json").start()
    try:
        mesh.wait_ready(expected_instances=3)
        yield mesh
    finally:
        assert mesh.stop() == 0, mesh.output()[-3000:]
    assert "nothing left running" in mesh.output()


def share_of_v2(mesh: Mesh, proxy: str) -> float:
    versions, _, _ = send(proxy, URL, 40)
    return versions["v2"] / max(1, sum(versions.values()))


def test_split_edit_scale_and_bad_edit(shop: Mesh) -> None:
    proxy = shop.proxy("client-0")

    versions, _, statuses = send(proxy, URL, SAMPLE)
    assert statuses == {200: SAMPLE}, statuses
    assert chi_square_p([versions["v1"], versions["v2"]], [80, 20]) > 0.001, versions

    # editing the split file shifts the ratio, live
    write(shop.directory / "split.yaml", split(10, 90))
    eventually(lambda: share_of_v2(shop, proxy) > 0.7, 10, what="the new split to apply", mesh=shop)
    versions, _, statuses = send(proxy, URL, SAMPLE)
    assert statuses == {200: SAMPLE}
    assert chi_square_p([versions["v1"], versions["v2"]], [10, 90]) > 0.001, versions

    # an invalid edit is reported with file:line and the previous split stays in force
    (shop.directory / "split.yaml").write_text(split(10, 90).replace("weight: 90", "weight: -5"))
    eventually(
        lambda: "split.yaml:" in shop.output() and "weight" in shop.output(),
        10,
        what="the diagnostic for the bad edit",
        mesh=shop,
    )
    versions, _, _ = send(proxy, URL, SAMPLE)
    assert chi_square_p([versions["v1"], versions["v2"]], [10, 90]) > 0.001, versions

    # scaling replicas adds endpoints that receive traffic, and scaling down removes them, without a
    # single failed request: a new replica gets traffic once it serves (readiness gate), a leaving one
    # only after every caller's sidecar has dropped it (make-before-break)
    with Traffic(proxy, URL) as traffic:
        write(shop.directory / "web-v2.yaml", backend("web-v2", "v2", replicas=3))
        shop.wait_ready(expected_instances=5)
        eventually(
            lambda: {"web-v2-1", "web-v2-2"} <= set(traffic.pods),
            15,
            what="traffic on new replicas",
            mesh=shop,
        )
        write(shop.directory / "web-v2.yaml", backend("web-v2", "v2", replicas=1))
        eventually(lambda: len(shop.instances("web-v2")) == 1, 15, what="scale down", mesh=shop)
        time.sleep(1.0)
    assert set(traffic.statuses) == {200}, (traffic.statuses, shop.output()[-2000:])
    assert {"web-v1-0", "web-v2-0", "web-v2-1", "web-v2-2"} <= set(traffic.pods), traffic.pods
    _, pods, statuses = send(proxy, URL, 60)
    assert set(pods) <= {"web-v1-0", "web-v2-0"} and statuses == {200: 60}, (pods, statuses)


def test_the_client_workload_itself_reaches_the_backends(shop: Mesh) -> None:
    """The client process, using only HTTP_PROXY from its environment, gets answers from both versions."""
    import json

    stats_file = shop.directory / "client-stats.out"

    def seen() -> dict[str, int] | None:
        stats = json.loads(stats_file.read_text())
        return stats["by_version"] if stats["ok"] >= 10 else None

    by_version = eventually(seen, 30, what="the client's own requests", mesh=shop)
    assert set(by_version) <= {"v1", "v2"} and sum(by_version.values()) >= 10
