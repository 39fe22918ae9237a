"""build_model: services, ports, protocols, endpoints, identities, splits, and what it drops (SM6xxx)."""

from __future__ import annotations

import pytest

from smimesh.mesh import Identity, Protocol, ServiceKey, build_model
from smimesh.mesh.protocols import protocol_of
from smimesh.resources import InputSnapshot, validate_references
from smimesh.testing.bookstore import bookstore_model, world, world_instances
from smimesh.testing.bookstore_edges import EDGE_CASES, edge_model

BOOKSTORE = ServiceKey("bookstore", "bookstore")


def codes(model: object) -> list[str]:
    return [d.code for d in model.diagnostics]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("name", "app_protocol", "transport", "expected"),
    [
        ("http", None, "TCP", Protocol.HTTP),
        ("web", None, "TCP", Protocol.HTTP),
        (None, None, "TCP", Protocol.HTTP),
        ("tcp-db", None, "TCP", Protocol.TCP),
        ("grpc-api", None, "TCP", Protocol.GRPC),
        ("udp-dns", None, "TCP", Protocol.UDP),
        ("dns", None, "UDP", Protocol.UDP),
        ("http-x", "tcp", "TCP", Protocol.TCP),
        ("x", "kubernetes.io/h2c", "TCP", Protocol.GRPC),
        ("tcp-x", "unheard-of", "TCP", Protocol.TCP),
    ],
)
def test_protocol_of(name: str | None, app_protocol: str | None, transport: str, expected: Protocol) -> None:
    assert protocol_of(name, app_protocol, transport) is expected


def test_endpoints_are_the_selected_instances_sidecar_ports() -> None:
    model = bookstore_model()
    port = model.services[BOOKSTORE].port(80)
    assert port is not None
    assert [e.node_id for e in port.endpoints] == [
        "bookstore-v1-0.bookstore",
        "bookstore-v1-1.bookstore",
        "bookstore-v2-0.bookstore",
    ]
    inbound = {i.node_id: i.inbound[0] for i in model.instances.values() if i.inbound}
    assert all(e.port == inbound[e.node_id].sidecar_port for e in port.endpoints)
    assert {e.identity for e in port.endpoints} == {Identity("bookstore", "bookstore")}


def test_target_port_by_name_and_by_number() -> None:
    model = edge_model("multiple_ports")
    catalog = model.services[ServiceKey("bookstore", "catalog")]
    by_port = {p.port: p for p in catalog.ports}
    assert by_port[8080].endpoints[0].container_port == 8080  # targetPort: web
    assert by_port[9000].endpoints[0].container_port == 9000  # targetPort: 9000
    assert by_port[50051].protocol is Protocol.GRPC


def test_unresolvable_target_port_is_a_diagnostic() -> None:
    extra = """
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: bookstore}
spec: {selector: {app: warehouse}, ports: [{name: http, port: 81, targetPort: metrics}]}
"""
    model = bookstore_model(extra)
    (diag,) = [d for d in model.diagnostics if d.code == "SM6001"]
    assert (
        diag.object.name == "broken" and diag.path == "spec.ports[0].targetPort" and diag.value == "metrics"
    )
    assert model.services[ServiceKey("bookstore", "broken")].ports[0].endpoints == ()


def test_spiffe_identity() -> None:
    assert (
        Identity("bookstore", "buyer").spiffe("example.org") == "spiffe://example.org/ns/bookstore/sa/buyer"
    )
    model = bookstore_model()
    assert model.trust_domain == "cluster.local"


def test_service_without_selector_has_no_endpoints() -> None:
    extra = """
apiVersion: v1
kind: Service
metadata: {name: external, namespace: bookstore}
spec: {ports: [{name: http, port: 80}]}
"""
    assert bookstore_model(extra).services[ServiceKey("bookstore", "external")].ports[0].endpoints == ()


def cross_object_codes(extra: str = "", replace: tuple[str, ...] = ()) -> list[str]:
    """The codes of the cross-object checks `validate`, `up` and the API share."""
    resources = InputSnapshot.from_resources(world(extra, replace=replace))
    return sorted(d.code for d in validate_references(resources))


def test_split_problems_have_one_code_each_from_the_shared_checks() -> None:
    """The model leaves bad split references out silently: the problem is reported once, as SM4xxx."""
    assert codes(edge_model("zero_weights")) == []
    assert codes(edge_model("missing_backends")) == []
    assert "SM4007" in cross_object_codes(*EDGE_CASES["zero_weights"])
    missing = cross_object_codes(*EDGE_CASES["missing_backends"])
    assert [c for c in missing if c in ("SM4005", "SM4006")] == ["SM4005", "SM4006"]
    assert codes(edge_model("root_self")) == ["SM6006"]
    split = edge_model("root_self").splits[(BOOKSTORE, 80)].unconditional
    assert split is not None and [b.is_root for b in split.backends] == [True, False]


def test_split_with_missing_root_or_missing_match_groups_applies_to_nothing() -> None:
    extra = """
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: ghost, namespace: bookstore}
spec: {service: nowhere, backends: [{service: bookstore-v1, weight: 1}]}
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: no-groups, namespace: bookstore}
spec:
  service: warehouse
  matches: [{kind: HTTPRouteGroup, name: missing}]
  backends: [{service: bookstore-v1, weight: 1}]
"""
    model = bookstore_model(extra)
    assert codes(model) == []
    assert [c for c in cross_object_codes(extra) if c in ("SM4003", "SM4004")] == ["SM4003", "SM4004"]
    assert (ServiceKey("bookstore", "warehouse"), 80) not in model.splits


def test_second_unconditional_split_is_ignored_and_conditional_ones_stack() -> None:
    extra = """
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: zzz-second, namespace: bookstore}
spec: {service: bookstore, backends: [{service: bookstore-v2, weight: 1}]}
"""
    model = bookstore_model(extra)
    assert codes(model) == []
    assert "SM4010" in cross_object_codes(extra)
    splits = model.splits[(BOOKSTORE, 80)]
    assert splits.unconditional is not None and splits.unconditional.name == "bookstore"


@pytest.mark.parametrize(
    ("root", "v1", "v2"),
    [
        ("bookstore.bookstore", "bookstore-v1.bookstore", "bookstore-v2"),
        ("bookstore.bookstore.svc", "bookstore-v1.bookstore.svc.cluster.local", "bookstore-v2.bookstore"),
        ("bookstore.bookstore.svc.cluster.local", "bookstore-v1", "bookstore-v2.bookstore.svc"),
    ],
)
def test_a_split_naming_services_as_osm_does_takes_effect_as_with_short_names(
    root: str, v1: str, v2: str
) -> None:
    """OSM's `service: bookstore.bookstore` (and the longer forms) name the split's own namespace."""
    qualified = f"""
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {{name: bookstore, namespace: bookstore}}
spec:
  service: {root}
  backends: [{{service: {v1}, weight: 90}}, {{service: {v2}, weight: 10}}]
"""
    model = bookstore_model(qualified, replace=["TrafficSplit/bookstore"])
    assert codes(model) == []
    assert model.splits == bookstore_model().splits


def test_duplicate_node_ids_keep_the_first() -> None:
    resources = world()
    instances = world_instances(resources)
    model = build_model(resources, [*instances, instances[0]])
    assert codes(model) == ["SM6014"] and len(model.instances) == len(instances)


def test_building_never_raises_on_an_empty_world() -> None:
    model = build_model([], [])
    assert model.services == {} and model.diagnostics == ()


def test_diagnostics_carry_the_file_location_from_an_input_snapshot() -> None:
    from smimesh.resources import load_text
    from smimesh.testing.bookstore import BOOKSTORE_YAML

    extra = """
---
apiVersion: v1
kind: Service
metadata: {name: odd, namespace: bookstore}
spec:
  selector: {app: warehouse}
  ports: [{name: http, port: 80, targetPort: nope}]
"""
    loaded = load_text(BOOKSTORE_YAML + extra, source="mesh.yaml")
    snapshot = InputSnapshot.from_objects(loaded.objects)
    model = build_model(snapshot, world_instances([o.resource for o in loaded.objects]))
    (diag,) = model.diagnostics
    assert diag.code == "SM6001" and diag.location.file == "mesh.yaml" and diag.location.line is not None
    assert "mesh.yaml:" in diag.format()
