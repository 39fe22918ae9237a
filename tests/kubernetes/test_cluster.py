"""Pods, EndpointSlices and Namespaces become mesh instances and modes (pure translation)."""

from __future__ import annotations

import json

from smimesh.mesh.model import InboundPort, ServiceKey, TcpUpstream
from smimesh.mesh.modes import MtlsMode, NamespaceMode
from smimesh.sources.kubernetes import cluster


def ns(name: str, **labels: str) -> dict:
    return {"metadata": {"name": name, "labels": labels}}


def pod(
    name: str,
    *,
    ns_: str = "shop",
    ip: str = "10.0.0.1",
    phase: str = "Running",
    ready: bool = True,
    annotations: dict | None = None,
) -> dict:
    return {
        "metadata": {
            "name": name,
            "namespace": ns_,
            "labels": {"app": "web"},
            "annotations": {k: json.dumps(v) for k, v in (annotations or {}).items()},
        },
        "spec": {
            "serviceAccountName": "web-sa",
            "containers": [
                {"name": "app", "ports": [{"name": "http", "containerPort": 8080}, {"containerPort": 9090}]}
            ],
        },
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def slice_(name: str, service: str, family: str, endpoints: list[tuple[str, bool, str]]) -> dict:
    return {
        "metadata": {"name": name, "namespace": "shop", "labels": {cluster.SERVICE_NAME: service}},
        "addressType": family,
        "endpoints": [
            {
                "addresses": [addr],
                "conditions": {"ready": ready},
                "targetRef": {"kind": "Pod", "name": p, "namespace": "shop"},
            }
            for addr, ready, p in endpoints
        ],
    }


MESHED = ns("shop", **{cluster.MONITORED: "smimesh"})


def test_a_running_pod_is_an_instance_with_its_annotated_ports() -> None:
    p = pod(
        "web-1",
        annotations={
            cluster.PORTS: {"http": {"sidecar": 18080, "app": 18081}},
            cluster.OUTBOUND_PORT: 18001,
            cluster.ADMIN_PORT: 18000,
            cluster.TCP_UPSTREAMS: {"db.shop:5432": 15432},
        },
    )
    inst = cluster.pod_instance(p)
    assert inst is not None
    assert (inst.node_id, inst.service_account, inst.host, inst.workload) == (
        "web-1.shop",
        "web-sa",
        "10.0.0.1",
        "web",
    )
    assert inst.inbound == (InboundPort("http", 8080, 18081, 18080), InboundPort("9090", 9090, 9090, 15101))
    assert (inst.outbound_http_port, inst.admin_port) == (18001, 18000)
    assert inst.tcp_upstreams == (TcpUpstream("shop", "db", 5432, 15432),)
    assert cluster.pod_instance(pod("x", phase="Pending")) is None
    assert cluster.pod_instance(pod("x", ip="")) is None


def test_only_pods_of_meshed_namespaces_count() -> None:
    found = cluster.instances([pod("a"), pod("b", ns_="other")], [], [MESHED, ns("other")], "smimesh")
    assert [i.node_id for i in found] == ["a.shop"]
    assert (
        cluster.instances([pod("a")], [], [ns("shop", **{cluster.MONITORED: "another-mesh"})], "smimesh")
        == []
    )


def test_slices_merge_per_service_skip_not_ready_and_carry_both_families() -> None:
    slices = [
        slice_("web-a", "web", "IPv4", [("10.0.0.1", True, "a"), ("10.0.0.2", False, "b")]),
        slice_("web-b", "web", "IPv6", [("fd00::1", True, "a")]),
        slice_("db-a", "db", "IPv4", [("10.0.0.9", True, "c")]),
    ]
    assert cluster.ready_endpoints(slices) == {
        ServiceKey("shop", "db"): ["10.0.0.9"],
        ServiceKey("shop", "web"): ["10.0.0.1", "fd00::1"],
    }
    pods = [pod("a"), pod("b", ip="10.0.0.2"), pod("c", ip="10.0.0.9"), pod("d", ip="10.0.0.4", ready=False)]
    found = {i.name: i for i in cluster.instances(pods, slices, [MESHED], "smimesh")}
    assert found["a"].labels and found["c"].labels
    assert found["b"].labels == ()  # listed, but not ready in any slice: published without labels
    assert found["d"].labels == ()  # in no slice, and its Ready condition is False


def test_namespace_labels_set_modes() -> None:
    labelled = ns(
        "legacy",
        **{cluster.MONITORED: "smimesh", cluster.MTLS_LABEL: "permissive", cluster.AUDIT_LABEL: "true"},
    )
    assert cluster.namespace_mode(labelled) == NamespaceMode("legacy", MtlsMode.PERMISSIVE, True)
    assert cluster.namespace_mode(MESHED) is None
    assert cluster.namespace_mode(ns("x", **{cluster.MTLS_LABEL: "bogus"})) is None
