"""`smimesh up --ingress 127.0.0.1:PORT` end to end: real Envoy, real backends, external requests.

The ingress routes by the Ingress manifests' hosts and paths, as identity
smimesh-system/smimesh-ingress over mTLS: a backend answers only when a TrafficTarget or an
IngressBackend allows that identity (otherwise the destination's RBAC answers 403).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest

from smimesh.testing import workloads
from smimesh.testing.net import free_port
from smimesh.testing.up import Mesh, eventually, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

PY, SERVE = sys.executable, str(workloads.HERE)


def _app(name: str) -> str:
    return f"""
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: shop, labels: {{app: {name}}}}}
spec:
  serviceAccount: {name}
  command: [{PY}, {SERVE}, serve]
  ports: [{{name: http, containerPort: 8080}}]
---
apiVersion: v1
kind: Service
metadata: {{name: {name}, namespace: shop}}
spec:
  selector: {{app: {name}}}
  ports: [{{name: http, port: 80, targetPort: http}}]
"""


INGRESS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: shop}
spec:
  rules:
  - host: shop.local
    http:
      paths:
      - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}
      - {path: /admin, pathType: Prefix, backend: {service: {name: admin, port: {name: http}}}}
      - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
  - http:
      paths:
      - {path: /web, pathType: Exact, backend: {service: {name: web, port: {number: 80}}}}
"""
WEB_ALLOWED = """
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: everything, namespace: shop}
spec:
  matches: [{name: all, pathRegex: ".*", methods: ["*"]}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: ingress-to-web, namespace: shop}
spec:
  destination: {kind: ServiceAccount, name: web, namespace: shop}
  rules: [{kind: HTTPRouteGroup, name: everything}]
  sources: [{kind: ServiceAccount, name: smimesh-ingress, namespace: smimesh-system}]
"""
API_ALLOWED = """
apiVersion: policy.openservicemesh.io/v1alpha1
kind: IngressBackend
metadata: {name: api, namespace: shop}
spec:
  backends:
  - name: api
    port: {number: 80, protocol: http}
  sources:
  - {kind: AuthenticatedPrincipal, name: smimesh-ingress.smimesh-system.cluster.local}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mesh, str]]:
    root = tmp_path_factory.mktemp("ingress")
    directory = root / "mesh"
    directory.mkdir()
    for name in ("web", "api", "admin"):
        write(directory / f"{name}.yaml", _app(name))
    write(directory / "ingress.yaml", INGRESS)
    write(directory / "web-allowed.yaml", WEB_ALLOWED)
    write(directory / "api-allowed.yaml", API_ALLOWED)
    address = f"127.0.0.1:{free_port()}"
    up = Mesh(directory, root / "run", root / "contexts.json", extra_args=["--ingress", address]).start()
    try:
        up.wait_ready(expected_instances=4, timeout=120)
        yield up, f"http://{address}"
    finally:
        up.stop()


def _get(base: str, path: str, host: str) -> httpx.Response:
    return httpx.get(base + path, headers={"Host": host}, timeout=10)


def _pod(answer: httpx.Response) -> str:
    return str(answer.json()["pod"]) if answer.status_code == 200 else f"status {answer.status_code}"


def test_external_requests_are_routed_by_host_and_path(mesh: tuple[Mesh, str]) -> None:
    up, base = mesh
    eventually(
        lambda: _get(base, "/", "shop.local").status_code == 200, 30, what="the ingress serving", mesh=up
    )
    assert _pod(_get(base, "/", "shop.local")) == "web-0"
    assert _pod(_get(base, "/api/books?x=1", "shop.local:8080")) == "api-0"  # port stripped, query kept
    assert _pod(_get(base, "/api", "shop.local")) == "api-0"
    assert _pod(_get(base, "/apis", "shop.local")) == "web-0"  # Prefix matches whole path segments
    assert _pod(_get(base, "/web", "elsewhere.local")) == "web-0"  # the any-host rule, Exact
    missing = _get(base, "/web/more", "elsewhere.local")
    assert missing.status_code == 404 and "smimesh ingress: no Ingress rule matches" in missing.text


def test_a_backend_nothing_allows_the_ingress_to_reach_is_denied(mesh: tuple[Mesh, str]) -> None:
    up, base = mesh
    denied = _get(base, "/admin", "shop.local")
    assert denied.status_code == 403 and "access denied by the mesh" in denied.text, denied.text
    # without its IngressBackend the api is denied too, and allowed again when it comes back
    api_allowed = up.directory / "api-allowed.yaml"
    api_allowed.unlink()
    eventually(lambda: _get(base, "/api", "shop.local").status_code == 403, 30, what="api denied", mesh=up)
    write(api_allowed, API_ALLOWED)
    eventually(lambda: _get(base, "/api", "shop.local").status_code == 200, 30, what="api allowed", mesh=up)
