"""Resilience end to end: `smimesh up` with real Envoy sidecars, OSM Retry / UpstreamTrafficSetting and
smimesh ResiliencePolicy manifests, and scripted backends (`testing.workloads serve`).

One mesh serves every test of this module (starting one is the slow part). Requests go through the
client workload's sidecar (its HTTP_PROXY), so each crosses the caller's and the destination's Envoy
with mTLS and RBAC on, as a workload's own requests do. Counts come from the answers and from the
sidecars' own Envoy stats (admin `/stats`).
"""

from __future__ import annotations

import socket
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from smimesh.testing import manifests, workloads
from smimesh.testing.up import Mesh, eventually, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

PY, SERVE = sys.executable, str(workloads.HERE)
# Tolerance of the timeout checks: the 504 comes no earlier than the configured time (less 50 ms: the
# timers of Envoy and of this process are not the same clock tick), and well before the backend would
# have answered (it sleeps 5 s). The upper slack is for a loaded 2-core machine.
EARLY_S, SLACK_S = 0.05, 2.0


def _backend(name: str, app: str, env: str = "{}", replicas: int = 1) -> str:
    return f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: res, labels: {{app: {app}}}}}
spec:
  serviceAccount: backend
  replicas: {replicas}
  command: [{PY}, {SERVE}, serve]
  env: {env}
  ports: [{{name: http, containerPort: 8080}}]
"""


def _service(name: str, app: str) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: res}}
spec:
  selector: {{app: {app}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


ACCESS = manifests.documents(
    manifests.idle_client("res"),
    manifests.everything("res"),
    manifests.allow("client-to-backends", "res", "backend"),
)

POLICIES = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {name: flaky, namespace: res}
spec:
  source: {kind: ServiceAccount, name: client, namespace: res}
  destinations: [{kind: Service, name: flaky, namespace: res}]
  retryPolicy: {retryOn: 5xx, perTryTimeout: 2s, numRetries: 3, retryBackoffBaseInterval: 5ms}
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {name: per-try, namespace: res}
spec:
  source: {kind: ServiceAccount, name: client, namespace: res}
  destinations: [{kind: Service, name: per-try, namespace: res}]
  retryPolicy: {retryOn: 5xx, perTryTimeout: 500ms, numRetries: 1, retryBackoffBaseInterval: 5ms}
---
apiVersion: smimesh.io/v1alpha1
kind: ResiliencePolicy
metadata: {name: slow, namespace: res}
spec:
  service: slow
  requestTimeout: 1s
---
apiVersion: smimesh.io/v1alpha1
kind: ResiliencePolicy
metadata: {name: pool, namespace: res}
spec:
  service: pool
  outlierDetection: {consecutive5xx: 3, interval: 500ms, baseEjectionTime: 3s, maxEjectionPercent: 50}
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: narrow, namespace: res}
spec:
  host: narrow.res.svc.cluster.local
  connectionSettings:
    tcp: {maxConnections: 1}
    http: {maxRequests: 1, maxPendingRequests: 1, maxRequestsPerConnection: 1}
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: limited, namespace: res}
spec:
  host: limited.res.svc.cluster.local
  rateLimit:
    local:
      http: {requests: 5, unit: minute, responseHeadersToAdd: [{name: x-smimesh-limited, value: "yes"}]}
  httpRoutes:
  - path: /special
    rateLimit: {local: {requests: 2, unit: hour, responseStatusCode: 503}}
"""


ECHO = f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: echo, namespace: res, labels: {{app: echo}}}}
spec:
  serviceAccount: echo
  command: [{PY}, {SERVE}, echo]
  ports: [{{name: tcp-echo, containerPort: 7000}}]
---
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: res}}
spec:
  selector: {{app: echo}}
  ports: [{{name: tcp-echo, port: 7000, targetPort: tcp-echo}}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {{name: echo-port, namespace: res}}
spec: {{matches: {{ports: [7000]}}}}
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {{name: client-to-echo, namespace: res}}
spec:
  destination: {{kind: ServiceAccount, name: echo, namespace: res}}
  rules: [{{kind: TCPRoute, name: echo-port}}]
  sources: [{{kind: ServiceAccount, name: client, namespace: res}}]
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {{name: echo, namespace: res}}
spec:
  host: echo
  rateLimit: {{local: {{tcp: {{connections: 2, unit: hour}}}}}}
"""


def _world(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    write(directory / "access.yaml", ACCESS)
    write(
        directory / "flaky.yaml",
        _backend("flaky", "flaky", "{FAIL_PATTERN: ffss}") + "---" + _service("flaky", "flaky"),
    )
    plain = [_backend("plain", "plain")] + [_service(n, "plain") for n in ("slow", "per-try", "narrow")]
    write(directory / "plain.yaml", "---".join(plain))
    pool = [
        _backend("pool-good", "pool", replicas=2),
        _backend("pool-bad", "pool", "{FAIL_IF_EXISTS: bad.flag}"),
        _service("pool", "pool"),
    ]
    write(directory / "pool.yaml", "---".join(pool))
    write(directory / "limited.yaml", _backend("limited", "limited") + "---" + _service("limited", "limited"))
    write(directory / "policies.yaml", POLICIES)
    write(directory / "echo.yaml", ECHO)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("resilience")
    _world(root / "mesh")
    up = Mesh(root / "mesh", root / "run", root / "contexts.json").start()
    try:
        up.wait_ready(expected_instances=8, timeout=120)
        assert "error" not in up.output().lower(), up.output()[-3000:]
        yield up
    finally:
        up.stop()


def _client(mesh: Mesh, timeout: float = 10.0) -> httpx.Client:
    return httpx.Client(proxy=mesh.proxy("client-0"), timeout=timeout)


def _stats(mesh: Mesh, instance: str, prefix: str) -> dict[str, int]:
    admin = next(r["admin"] for r in mesh.instances() if r["instance"] == instance)
    text = httpx.get(f"http://{admin}/stats", params={"filter": prefix}, timeout=5).text
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(": ")
        if value.strip().isdigit():
            found[name] = int(value)
    return found


def test_retry_turns_a_backend_failing_every_other_pair_into_success(mesh: Mesh) -> None:
    statuses: Counter[int] = Counter()
    with _client(mesh) as client:
        for _ in range(200):
            statuses[client.get("http://flaky.res/").status_code] += 1
    assert statuses[200] / sum(statuses.values()) >= 0.99, statuses
    stats = _stats(mesh, "client-0", "outbound|res|flaky|80")
    # 200 requests over a fail,fail,succeed,succeed backend: half of the answers needed 2 retries
    assert stats["cluster.outbound|res|flaky|80.upstream_rq_retry"] >= 150, stats
    assert stats["cluster.outbound|res|flaky|80.upstream_rq_retry_success"] >= 75, stats


def test_non_idempotent_methods_are_not_retried_by_default(mesh: Mesh) -> None:
    with _client(mesh) as client:
        statuses = Counter(client.post("http://flaky.res/").status_code for _ in range(40))
    assert statuses[503] >= 10 and statuses[200] >= 10, statuses  # the backend's own pattern, unretried


def _timed(mesh: Mesh, url: str) -> tuple[int, float]:
    with _client(mesh) as client:
        started = time.monotonic()
        status = client.get(url).status_code
        return status, time.monotonic() - started


def test_per_try_timeout_answers_504_after_each_try_timed_out(mesh: Mesh) -> None:
    status, elapsed = _timed(mesh, "http://per-try.res/?delay=5")
    # two tries of 500 ms each (numRetries: 1), then the gateway timeout
    assert status == 504 and 1.0 - EARLY_S <= elapsed < 1.0 + SLACK_S, (status, elapsed)
    stats = _stats(mesh, "client-0", "outbound|res|per-try|80")
    assert stats["cluster.outbound|res|per-try|80.upstream_rq_per_try_timeout"] >= 2, stats


def test_request_timeout_answers_504_at_the_configured_time(mesh: Mesh) -> None:
    status, elapsed = _timed(mesh, "http://slow.res/?delay=5")
    assert status == 504 and 1.0 - EARLY_S <= elapsed < 1.0 + SLACK_S, (status, elapsed)
    ok, _ = _timed(mesh, "http://slow.res/?delay=0.1")
    assert ok == 200


def test_circuit_breaker_rejects_excess_concurrent_requests_with_503(mesh: Mesh) -> None:
    def one(_: int) -> tuple[int, str]:
        with _client(mesh) as client:
            answer = client.get("http://narrow.res/?delay=1")
            return answer.status_code, answer.headers.get("x-envoy-overloaded", "")

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(one, range(8)))
    statuses = Counter(status for status, _ in answers)
    assert statuses[200] >= 1 and statuses[503] >= 1, statuses
    assert all(flag == "true" for status, flag in answers if status == 503), answers
    stats = _stats(mesh, "client-0", "outbound|res|narrow|80.upstream_rq_pending_overflow")
    assert stats["cluster.outbound|res|narrow|80.upstream_rq_pending_overflow"] == statuses[503], (
        stats,
        statuses,
    )


def test_local_rate_limit_answers_429_beyond_n_per_unit_and_per_path_its_own_status(mesh: Mesh) -> None:
    with _client(mesh) as client:
        answers = [client.get("http://limited.res/") for _ in range(8)]
        special = [client.get("http://limited.res/special").status_code for _ in range(4)]
    assert [a.status_code for a in answers] == [200] * 5 + [429] * 3
    assert answers[-1].headers.get("x-smimesh-limited") == "yes"
    assert special == [200, 200, 503, 503]  # its own bucket (2 per hour), its own status
    stats = _stats(mesh, "limited-0", "http_local_rate_limit")
    assert stats.get("inbound_http.http_local_rate_limit.rate_limited") == 3, stats
    assert stats.get("inbound_http_route0.http_local_rate_limit.rate_limited") == 2, stats


def test_outlier_detection_ejects_a_failing_replica_and_takes_it_back(mesh: Mesh) -> None:
    flag = mesh.directory / "bad.flag"
    flag.write_text("fail\n")
    try:
        with _client(mesh) as client:

            def ejected() -> bool:
                client.get("http://pool.res/")
                stats = _stats(mesh, "client-0", "outbound|res|pool|80.outlier_detection")
                return stats.get("cluster.outbound|res|pool|80.outlier_detection.ejections_active") == 1

            eventually(ejected, 30, what="the failing replica ejected", mesh=mesh)
            answered = Counter(client.get("http://pool.res/").json()["pod"] for _ in range(30))
            assert set(answered) == {"pool-good-0", "pool-good-1"}, (
                answered
            )  # every answer a 200 from a good one
    finally:
        flag.unlink()
    with _client(mesh) as client:

        def back() -> bool:
            answer = client.get("http://pool.res/")
            return answer.status_code == 200 and answer.json()["pod"] == "pool-bad-0"

        eventually(back, 30, what="the replica taken back after the ejection time", mesh=mesh)
    stats = _stats(mesh, "client-0", "outbound|res|pool|80.outlier_detection")
    assert stats["cluster.outbound|res|pool|80.outlier_detection.ejections_enforced_consecutive_5xx"] >= 1


def _echo(address: str) -> str:
    """The echo's answer, or "" when the connection is closed without one. A connection closed while our
    bytes are still unread ends in a reset rather than an end of stream: closed all the same."""
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        try:
            connection.sendall(b"hello\n")
            return connection.makefile().readline().strip()
        except (ConnectionResetError, BrokenPipeError):
            return ""


def test_local_rate_limit_of_tcp_connections_closes_those_beyond_n_per_unit(mesh: Mesh) -> None:
    address = next(r for r in mesh.instances() if r["instance"] == "client-0")["tcp_upstreams"][
        "echo.res:7000"
    ]
    answers = [_echo(address) for _ in range(4)]
    assert answers == ["echo-0 hello", "echo-0 hello", "", ""], answers  # closed: no answer
    stats = _stats(mesh, "echo-0", "local_rate_limit")
    assert stats.get("local_rate_limit.inbound_tcp-echo.rate_limited") == 2, stats
