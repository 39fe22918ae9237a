"""Issue 3 acceptance: the bookstore world, through the real control plane, served to real Envoys.

One world per xDS mode (SotW and delta, module-scoped): a ResourceStore holding the bookstore
manifests, the real Pipeline and XdsServer, an Envoy per bookstore instance started with the
generated bootstrap, and a backend process per serving instance that names itself in every answer.
Requests go where a workload's go: to its sidecar's outbound listener, as to an HTTP proxy
(absolute-form `GET http://bookstore.bookstore/`), then to the destination's sidecar and its app.
Statistical checks use Pearson's chi-square (1 degree of freedom) with p > 0.001.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import reduce
from http.client import HTTPConnection, HTTPException
from operator import getitem

import pytest

from smimesh.testing import bookstore
from smimesh.testing.net import wait_until
from smimesh.testing.xds_world import XDS_TYPES, World, split_yaml
from smimesh.xds import type_urls as T

pytestmark = [pytest.mark.envoy, pytest.mark.slow]
ROOT = "http://bookstore.bookstore/"
SAMPLE = 1000
Recorder = Callable[[str, object], None]  # pytest's record_property: figures land in --junitxml


@dataclass(frozen=True, slots=True)
class Answer:
    status: int  # 0: no HTTP answer at all (refused, reset, timed out)
    pod: str
    version: str
    text: str
    started: float
    ended: float


class Caller:
    """A workload's HTTP client: every request goes to its sidecar's outbound listener (keep-alive)."""

    def __init__(self, proxy_port: int) -> None:
        self.proxy_port = proxy_port
        self._connection: HTTPConnection | None = None

    def get(self, url: str) -> Answer:
        started = time.monotonic()
        try:
            self._connection = self._connection or HTTPConnection("127.0.0.1", self.proxy_port, timeout=10)
            self._connection.request("GET", url)  # absolute-form, Host taken from the URL
            response = self._connection.getresponse()
            status, body = response.status, response.read()
        except (OSError, HTTPException) as error:
            self.close()
            return Answer(0, "", "", repr(error), started, time.monotonic())
        try:
            who = json.loads(body)
        except ValueError:
            who = {}
        pod, version = (who.get("pod", ""), who.get("version", "")) if isinstance(who, dict) else ("", "")
        return Answer(status, pod, version, body.decode(errors="replace")[:300], started, time.monotonic())

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection = None


def outbound(world: World, node_id: str) -> Caller:
    return Caller(world.instance(node_id).outbound_http_port)


def chi_square_p(observed: list[int], weights: list[int]) -> float:
    """Pearson's chi-square p-value for two categories (1 d.o.f.): the survival function is erfc."""
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    return math.erfc(math.sqrt(statistic / 2))


class Traffic:
    """Callers sending continuously through the buyer's sidecar until the block ends; every answer kept."""

    def __init__(self, world: World, url: str, *, fast: int = 2, slow: int = 0) -> None:
        self.answers: list[Answer] = []
        self.slow: list[Answer] = []
        self._stop = threading.Event()
        port = world.instance(bookstore.BUYER).outbound_http_port
        plan = [(url, self.answers)] * fast + [(url + "?delay=0.4", self.slow)] * slow
        self._threads = [threading.Thread(target=self._run, args=(port, *p), daemon=True) for p in plan]

    def _run(self, port: int, url: str, into: list[Answer]) -> None:
        caller = Caller(port)
        while not self._stop.is_set():
            into.append(caller.get(url))
        caller.close()

    def __enter__(self) -> Traffic:
        for index, thread in enumerate(self._threads):
            thread.start()
            time.sleep(0.2 if index else 0)  # staggered, so a slow request is always in flight
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(15)

    def failures(self) -> list[Answer]:
        return [a for a in [*self.answers, *self.slow] if a.status != 200]


@pytest.fixture(scope="module", params=["sotw", "delta"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    built = World(tmp_path_factory.mktemp(f"xds-{request.param}"), delta=request.param == "delta")
    try:
        try:
            built.start()
        except TimeoutError as error:
            raise AssertionError(f"{error}\n{built.logs()}") from error
        yield built
    finally:
        built.close()


def test_generated_bootstrap_envoys_ack_every_type_without_a_nack(world: World) -> None:
    for node in world.nodes:
        proxy = world.cp.proxy(node)
        assert proxy.mode == world.mode, node
        snapshot = world.cp.snapshot(node)
        served = {t for t in XDS_TYPES if t in T.WILDCARD_TYPES or snapshot.entries(t)}
        assert set(proxy.types) == served and world.cp.converged(node), proxy.to_row()
        assert all(world.ledger.acks[(node, t)] >= 1 for t in served), (node, world.ledger.acks)
        _assert_envoy_holds_the_snapshot(world, node)
    everyone = {t for (_, t) in world.ledger.acks}
    assert everyone == set(XDS_TYPES), everyone  # every type, and every node for each type it uses
    assert world.ledger.nacks == []


DUMPED = {  # where /config_dump keeps each type's dynamic resources, and the path to their names
    T.LISTENER: ("ListenersConfigDump", "dynamic_listeners", ("name",)),
    T.CLUSTER: ("ClustersConfigDump", "dynamic_active_clusters", ("cluster", "name")),
    T.ROUTE: ("RoutesConfigDump", "dynamic_route_configs", ("route_config", "name")),
    T.ENDPOINT: ("EndpointsConfigDump", "dynamic_endpoint_configs", ("endpoint_config", "cluster_name")),
}


def _held_by_envoy(world: World, node: str) -> dict[str, set[str]]:
    """The names of the dynamic resources Envoy holds, by type, from its /config_dump."""
    dump = json.loads(world.admin(node, "/config_dump?include_eds"))
    sections = {c["@type"].rsplit(".", 1)[-1]: c for c in dump["configs"]}
    assert sections["BootstrapConfigDump"]["bootstrap"]["node"]["id"] == node  # the generated bootstrap
    held = {
        type_url: {reduce(getitem, path, item) for item in sections[kind].get(field, [])}
        for type_url, (kind, field, path) in DUMPED.items()
    }
    clusters = sections["ClustersConfigDump"].get("dynamic_active_clusters", [])
    inline = {c["cluster"]["name"] for c in clusters if c["cluster"].get("type") != "EDS"}
    held[T.ENDPOINT] -= inline  # Envoy lists a CDS cluster's own endpoints (local_app|*) there too
    return held


def _envoy_counters(world: World, node: str, pattern: str) -> dict[str, int]:
    text = world.admin(node, f"/stats?filter={pattern}")
    return {name: int(value) for name, value in (line.split(": ") for line in text.splitlines())}


def _assert_envoy_holds_the_snapshot(world: World, node: str) -> None:
    """Envoy's own view: every resource of the snapshot held, not one update rejected, connected."""
    snapshot = world.cp.snapshot(node)
    held = _held_by_envoy(world, node)
    for type_url in XDS_TYPES:
        assert held[type_url] == set(snapshot.entries(type_url)), (node, T.short_name(type_url))
    counters = _envoy_counters(world, node, "update_(rejected|success)$")
    assert not {k: v for k, v in counters.items() if k.endswith("rejected") and v}, (node, counters)
    for stat in ("listener_manager.lds.update_success", "cluster_manager.cds.update_success"):
        assert counters.get(stat, 0) >= 1, (node, stat, counters)
    assert _connected(world, node) == 1


def _ask(caller: Caller, url: str, times: int) -> list[Answer]:
    answers = [caller.get(url) for _ in range(times)]
    caller.close()
    return answers


def test_traffic_through_the_outbound_listener_reaches_the_right_backends(world: World) -> None:
    buyer = outbound(world, bookstore.BUYER)
    v1 = _ask(buyer, "http://bookstore-v1.bookstore/books", 20)
    assert {(a.status, a.pod) for a in v1} == {(200, "bookstore-v1-0"), (200, "bookstore-v1-1")}
    assert {a.text for a in v1} and all('"path": "/books"' in a.text for a in v1)
    v2 = _ask(buyer, "http://bookstore-v2/", 5)  # the bare name resolves in the caller's namespace
    assert {(a.status, a.pod, a.version) for a in v2} == {(200, "bookstore-v2-0", "v2")}
    fqdn = _ask(buyer, "http://bookstore.bookstore.svc.cluster.local:80/", 30)
    assert {a.status for a in fqdn} == {200} and {a.version for a in fqdn} <= {"v1", "v2"}
    # the buyer may not reach the warehouse (no TrafficTarget): its own sidecar answers 403, naming
    # the mesh and the host (real Envoy fills in the authority), and routes nowhere
    (hidden,) = _ask(buyer, "http://warehouse.bookstore/stock", 1)
    assert hidden.status == 403 and hidden.pod == ""
    assert (
        "at this workload's sidecar: no TrafficTarget lets its identity call warehouse.bookstore "
        in hidden.text
    )
    (stock,) = _ask(outbound(world, bookstore.BOOKSTORE_V1), "http://warehouse.bookstore/stock", 1)
    assert (stock.status, stock.pod) == (200, "warehouse-0")
    (nothing,) = _ask(outbound(world, bookstore.THIEF), ROOT, 1)
    assert nothing.status == 403 and "smimesh explain" in nothing.text


def _run_in_parallel(world: World, url: str, total: int, callers: int = 4) -> list[Answer]:
    answers: list[Answer] = []

    def send() -> None:
        answers.extend(_ask(outbound(world, bookstore.BUYER), url, total // callers))

    threads = [threading.Thread(target=send) for _ in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return answers


def test_a_90_10_split_lands_within_chi_square_tolerance(world: World, record_property: Recorder) -> None:
    world.set_split(90, 10)
    answers = _run_in_parallel(world, ROOT, SAMPLE)
    assert len(answers) == SAMPLE and Counter(a.status for a in answers) == {200: SAMPLE}
    versions = Counter(a.version for a in answers)
    assert set(versions) == {"v1", "v2"}, versions
    p = chi_square_p([versions["v1"], versions["v2"]], [90, 10])
    record_property("split", {**versions, "p": round(p, 4)})
    assert p > 0.001, versions
    pods = Counter((a.pod, a.version) for a in answers)
    assert set(pods) == {("bookstore-v1-0", "v1"), ("bookstore-v1-1", "v1"), ("bookstore-v2-0", "v2")}, pods


def test_a_weight_change_shows_on_the_next_requests_without_dropping_one(
    world: World, record_property: Recorder
) -> None:
    world.set_split(90, 10)
    with Traffic(world, ROOT, fast=2, slow=2) as traffic:
        wait_until(lambda: len(traffic.answers) >= 200, 30, what="traffic before the change")
        applied = time.monotonic()
        acked = world.set_split(10, 90)  # through the store, as `smimesh apply` does
        wait_until(
            lambda: sum(a.started > acked for a in traffic.answers) >= 400, 30, what="traffic after it"
        )
    assert traffic.failures() == [], traffic.failures()[:5]
    before = Counter(a.version for a in traffic.answers if a.ended < applied)
    after = Counter(a.version for a in traffic.answers if a.started > acked)
    assert chi_square_p([before["v1"], before["v2"]], [90, 10]) > 0.001, before
    assert chi_square_p([after["v1"], after["v2"]], [10, 90]) > 0.001, after
    assert chi_square_p([after["v1"], after["v2"]], [90, 10]) < 1e-9, after  # the change really shows
    spanning = [a for a in traffic.slow if a.started < applied and a.ended > acked]
    record_property("change", {"before": before, "after": after, "apply_to_ack_s": round(acked - applied, 3)})
    record_property("requests", {"all": len(traffic.answers) + len(traffic.slow), "in_flight": len(spanning)})
    assert spanning, "no request was in flight across the change"  # and none of them failed (above)


def test_envoy_serves_through_a_control_plane_restart_and_converges(
    world: World, record_property: Recorder
) -> None:
    world.set_split(90, 10)
    buyer = bookstore.BUYER
    with Traffic(world, ROOT, fast=2, slow=1) as traffic:
        wait_until(lambda: len(traffic.answers) >= 50, 30, what="traffic before the restart")
        world.stop_control_plane()
        down = time.monotonic()
        wait_until(lambda: _connected(world, buyer) == 0, 10, what="Envoy to notice the outage")
        time.sleep(1.5)  # Envoy runs on its last config while nothing answers on the xDS port
        served_while_down = [a for a in traffic.answers if a.started > down]
        restarted = time.monotonic()
        world.start_control_plane(bookstore.BOOKSTORE_YAML, split_yaml(0, 100))
        world.wait_converged(world.nodes, timeout=60)
        converged = time.monotonic()
        wait_until(lambda: sum(a.started > converged for a in traffic.answers) >= 100, 30, what="traffic")
    record_property("served_while_down", len(served_while_down))
    record_property("requests", len(traffic.answers) + len(traffic.slow))
    record_property("restart_to_converged_s", round(converged - restarted, 3))
    assert traffic.failures() == [], traffic.failures()[:5]
    assert len(served_while_down) >= 20 and {a.status for a in served_while_down} == {200}
    assert {a.pod for a in traffic.answers if a.started > converged} == {"bookstore-v2-0"}
    assert _connected(world, buyer) == 1 and world.cp.converged(buyer)
    assert world.cp.proxy(buyer).mode == world.mode
    assert world.ledger.nacks == []


def _connected(world: World, node: str) -> int:
    return _envoy_counters(world, node, "^control_plane.connected_state$")["control_plane.connected_state"]
