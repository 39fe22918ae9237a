"""`smimesh up` on manifests written for Kubernetes and for other SMI meshes: they run as written.

Every Service `type` (NodePort with `nodePort`, LoadBalancer with its fields, headless ClusterIP) serves
traffic exactly as a plain ClusterIP does; an ExternalName Service is accepted with a warning that says
the mesh does not route it, and that is what a caller then sees (its own sidecar's 403 naming the
mesh). A TrafficSplit written as OSM writes it (v1alpha2, `service: web.shop`, backends
`web-v1.shop.svc.cluster.local`) takes effect as with short names; one naming another namespace is
refused with its field, and the good split stays in force.
Real `smimesh up`, real Envoy sidecars, real workload processes on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from smimesh.testing.up import Mesh, backend, chi_square_p, eventually, make_shop, send, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

SAMPLE = 200


def kubernetes_services(directory: Path) -> None:
    """The shop's Services as a cluster manifest would write them: every type, with its extra fields."""
    write(
        directory / "web.yaml",
        """
    apiVersion: v1
    kind: Service
    metadata: {name: web, namespace: shop}
    spec:
      type: NodePort
      externalTrafficPolicy: Local
      selector: {app: web}
      ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}]
    ---
    apiVersion: v1
    kind: Service
    metadata: {name: payments, namespace: shop}
    spec:
      type: ExternalName
      externalName: payments.example.com
      selector: {app: web}   # ignored for ExternalName, as on Kubernetes
      ports: [{name: http, port: 80}]
    """,
    )
    v1 = backend("web-v1", "v1").replace(
        "selector:", "type: LoadBalancer\n      loadBalancerSourceRanges: [10.0.0.0/8]\n      selector:"
    )
    write(directory / "web-v1.yaml", v1)
    v2 = backend("web-v2", "v2").replace("selector:", "clusterIP: None\n      selector:")
    write(directory / "web-v2.yaml", v2)


def osm_split(directory: Path, v1: int, v2: int) -> None:
    write(
        directory / "split.yaml",
        f"""
    apiVersion: split.smi-spec.io/v1alpha2
    kind: TrafficSplit
    metadata: {{name: web, namespace: shop}}
    spec:
      service: web.shop
      backends:
      - {{service: web-v1.shop.svc.cluster.local, weight: {v1}}}
      - {{service: web-v2.shop, weight: {v2}}}
    """,
    )


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Mesh]:
    make_shop(tmp_path / "shop")
    kubernetes_services(tmp_path / "shop")
    osm_split(tmp_path / "shop", v1=10, v2=90)
    mesh = Mesh(tmp_path / "shop", tmp_path / "run", tmp_path / "contexts.json").start()
    try:
        mesh.wait_ready(expected_instances=3)
        yield mesh
    finally:
        assert mesh.stop() == 0, mesh.output()[-3000:]


def test_kubernetes_service_types_and_an_osm_split_serve_as_written(shop: Mesh) -> None:
    proxy = shop.proxy("client-0")
    versions, _, statuses = eventually(
        lambda: (answer := send(proxy, "http://web.shop/", SAMPLE))[2] == {200: SAMPLE} and answer,
        30,
        what="every request to the NodePort root to succeed",
        mesh=shop,
    )
    # the root selects both versions (50:50 without a split): 10:90 is the OSM-style split at work
    assert chi_square_p([versions["v1"], versions["v2"]], [10, 90]) > 0.001, versions

    output = shop.output()
    assert "SM3025" in output and "payments.example.com" in output, output[-3000:]
    assert "SM2007" not in output and "SM2005" not in output, output[-3000:]
    _, _, statuses = send(proxy, "http://payments.shop/", 5)
    # no endpoint, so no caller sees it: the caller's own sidecar answers
    assert statuses == {403: 5}, statuses
    with httpx.Client(proxy=proxy, timeout=5) as client:
        body = client.get("http://payments.shop/").text
    assert body.startswith("smimesh: access denied") and "no instance of it runs" in body, body


def test_a_split_naming_another_namespace_is_refused_and_the_good_one_stays(shop: Mesh) -> None:
    proxy = shop.proxy("client-0")
    write(
        shop.directory / "split-foreign.yaml",
        """
    apiVersion: split.smi-spec.io/v1alpha2
    kind: TrafficSplit
    metadata: {name: web-other, namespace: shop}
    spec:
      service: web.bookstore.svc.cluster.local
      backends: [{service: web-v1, weight: 1}]
    """,
    )
    eventually(
        lambda: "SM3034" in shop.output() and "split-foreign.yaml:" in shop.output(),
        15,
        what="the diagnostic for the split of another namespace",
        mesh=shop,
    )
    assert "web.bookstore.svc.cluster.local" in shop.output()
    versions, _, statuses = send(proxy, "http://web.shop/", SAMPLE)
    assert statuses == {200: SAMPLE} and chi_square_p([versions["v1"], versions["v2"]], [10, 90]) > 0.001
