"""`smimesh tap` and `smimesh policy suggest` against a cluster (`--kubeconfig`): the controller on the
test API server, real Envoy sidecars sending their request logs to it over gRPC (authenticated with
their pod's token), the CLI reaching the controller through the API server's service proxy.

- tap: while shopper and web are tapped, their sidecars' `smimesh.tap` runtime value is 100 (set by the
  controller in their RTDS layer), every request of a known pattern appears once in shopper's tap
  (outbound: path, status, web's SPIFFE id, the backend that really answered) and once in web's
  (inbound: shopper's SPIFFE id, allowed, the HTTPRouteGroup match); when the taps stop, the value
  is gone again (the filter's default, 0 %, applies);
- policy suggest: in a namespace in audit mode with no TrafficTarget, shopper's calls are logged and
  the suggestion is a TrafficTarget from shopper to web with the routes that were called.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.kubernetes.cluster_observe import (
    SHOPPER_ID,
    WEB_ID,
    Observed,
    Stream,
    eventually,
    observed_world,
    send,
    smimesh,
    tap_runtime,
)
from tests.kubernetes.kube_e2e import KubeWorld

from smimesh.testing.net import wait_until

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(300)]
PATTERN = [f"/books/{i}" for i in range(8)] + ["/health"] * 2


def _events(stream: Stream, direction: str, count: int) -> list[dict[str, Any]] | None:
    found = [e for e in stream.events() if e.get("direction") == direction and e.get("path") != "/warmup"]
    return found if len(found) >= count else None


def _tapped(world: KubeWorld, observed: Observed, *values: str) -> bool:
    return all(tap_runtime(pod) in values for pod in observed.pods)


def test_tap_on_a_cluster_shows_each_request_once(world: KubeWorld) -> None:
    observed = observed_world(world)
    kube = ["--kubeconfig", str(world.kubeconfig)]
    assert _tapped(world, observed, "", "0"), "nobody taps yet: the request logs are off"
    taps = [Stream("tap", w, "-n", "shop", "-o", "json", *kube) for w in ("shopper", "web")]
    try:
        wait_until(lambda: all(t.listening() for t in taps), 30, what="the taps in place")
        wait_until(lambda: _tapped(world, observed, "100"), 30, what="the sidecars tapped over RTDS")
        sent = [send(world, observed, path) for path in PATTERN]
        assert all(status == 200 for _, status, _ in sent), sent
        outbound = eventually(lambda: _events(taps[0], "outbound", len(PATTERN)), 30, what="shopper's tap")
        assert sorted((e["path"], e["status"], e["backend"]) for e in outbound) == sorted(
            (path, 200, f"shop/{pod.rsplit('-', 1)[0]}") for path, _, pod in sent
        )
        assert {(e["peer"], e["workload"], e["instance"]) for e in outbound} == {
            (WEB_ID, "shopper", "shopper-0")
        }
        inbound = eventually(lambda: _events(taps[1], "inbound", len(PATTERN)), 30, what="web's tap")
        assert sorted((e["path"], e["status"], e["instance"]) for e in inbound) == sorted(
            (path, 200, pod) for path, _, pod in sent
        )
        assert {(e["peer"], e["verdict"], e["route"]) for e in inbound} == {
            (SHOPPER_ID, "allowed", "HTTPRouteGroup/shop/web-routes#all")
        }
        assert observed.replica.call(lambda c: c.request_logs.refused) == 0
    except (AssertionError, TimeoutError):
        print(world.logs())
        raise
    finally:
        for tap in taps:
            tap.stop()
    # Off: the key is gone from the sidecars' RTDS layer (the filter's default, 0 %, applies again).
    wait_until(
        lambda: _tapped(world, observed, "", "0"), 30, what="the taps switched off when nobody listens"
    )


def test_policy_suggest_on_a_cluster_prints_the_traffic_target(world: KubeWorld) -> None:
    observed = observed_world(world, audit=True)
    kube = ["--kubeconfig", str(world.kubeconfig)]
    sent = [send(world, observed, path) for path in PATTERN]
    assert all(status == 200 for _, status, _ in sent), sent  # audit: logged, not denied

    def suggested() -> list[dict[str, Any]] | None:
        result = smimesh("policy", "suggest", "-n", "shop", "--window", "10m", *kube)
        assert result.returncode == 0, result.stderr
        documents = [d for d in yaml.safe_load_all(result.stdout) if d]
        return documents if any(d["kind"] == "TrafficTarget" for d in documents) else None

    try:
        documents = eventually(suggested, 30, what="policy suggest from the calls logged in audit mode")
    except TimeoutError:
        print(world.logs())
        raise
    targets = [d for d in documents if d["kind"] == "TrafficTarget"]
    assert len(targets) == 1, documents
    target = targets[0]
    assert target["spec"]["destination"] == {"kind": "ServiceAccount", "name": "web", "namespace": "shop"}
    assert target["spec"]["sources"] == [{"kind": "ServiceAccount", "name": "shopper", "namespace": "shop"}]
    groups = [d for d in documents if d["kind"] == "HTTPRouteGroup"]
    paths = {m.get("pathRegex", "") for g in groups for m in g["spec"]["matches"]}
    assert any("books" in p for p in paths) and any("health" in p for p in paths), groups
