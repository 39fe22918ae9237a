"""The hub models accept every valid shape of SMI, Service and Workload, and refuse structural mistakes
with a pydantic error whose `loc` uses the JSON (SMI) field names."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from smimesh.resources import registry
from smimesh.resources.access import TrafficTarget
from smimesh.resources.core import Service
from smimesh.resources.meta import ObjectMeta, ResourceKey
from smimesh.resources.metrics import TrafficMetrics
from smimesh.resources.specs import HTTPMatch, HTTPRouteGroup, TCPRoute, UDPRoute
from smimesh.resources.split import TrafficSplit
from smimesh.resources.workload import Workload

META = {"name": "x", "namespace": "ns"}


def doc(api: str, kind: str, spec: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": api, "kind": kind, "metadata": dict(META), **top}
    if spec is not None:
        out["spec"] = spec
    return out


def first_error(data: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    with pytest.raises(ValidationError) as caught:
        registry.decode(data)
    error = caught.value.errors()[0]
    return tuple(error["loc"]), error["type"]


TT_SPEC = {
    "destination": {"kind": "ServiceAccount", "name": "api", "namespace": "ns"},
    "rules": [
        {"kind": "HTTPRouteGroup", "name": "routes", "matches": ["api"]},
        {"kind": "TCPRoute", "name": "t"},
    ],
    "sources": [{"kind": "ServiceAccount", "name": "web"}],
}


def test_resource_key_is_hashable_and_prints_kind_namespace_name() -> None:
    target = registry.decode(doc("access.smi-spec.io/v1alpha3", "TrafficTarget", TT_SPEC))
    assert target.key == ResourceKey("TrafficTarget", "ns", "x")
    assert str(target.key) == "TrafficTarget/ns/x"
    assert {target.key: 1}[ResourceKey("TrafficTarget", "ns", "x")] == 1


def test_namespace_defaults_to_default() -> None:
    assert ObjectMeta(name="a").namespace == "default"


def test_pasted_server_metadata_is_tolerated() -> None:
    meta = ObjectMeta.model_validate(
        {
            "name": "a",
            "uid": "1234",
            "resourceVersion": "99",
            "generation": 3,
            "creationTimestamp": "2021-01-01T00:00:00Z",
            "managedFields": [{"manager": "kubectl"}],
        }
    )
    assert meta.generation == 3 and meta.creation_timestamp is not None


@pytest.mark.parametrize("field", ["generateName", "deletionTimestamp", "labelz"])
def test_unusable_metadata_fields_are_errors(field: str) -> None:
    data = doc("v1", "Service", {"ports": [{"port": 80}]})
    data["metadata"][field] = "x"
    assert first_error(data) == (("metadata", field), "extra_forbidden")


def test_traffic_target_hub_accepts_the_spec_example() -> None:
    target = registry.decode(doc("access.smi-spec.io/v1alpha3", "TrafficTarget", TT_SPEC))
    assert isinstance(target, TrafficTarget)
    assert [r.kind for r in target.spec.rules] == ["HTTPRouteGroup", "TCPRoute"]
    assert target.spec.rules[1].matches is None
    assert target.source_namespace(target.spec.sources[0]) == "ns"
    assert target.legacy_destination_port is None


@pytest.mark.parametrize(
    ("change", "loc", "error"),
    [
        (lambda s: s.update(rules=[]), ("spec", "rules"), "too_short"),
        (lambda s: s.update(sources=[]), ("spec", "sources"), "too_short"),
        (lambda s: s.pop("destination"), ("spec", "destination"), "missing"),
        (lambda s: s["rules"][0].update(kind="GRPCRoute"), ("spec", "rules", 0, "kind"), "literal_error"),
        (lambda s: s["sources"][0].update(kind="User"), ("spec", "sources", 0, "kind"), "literal_error"),
        (lambda s: s["destination"].update(port=8080), ("spec", "destination", "port"), "extra_forbidden"),
        (lambda s: s["rules"][0].update(matches="api"), ("spec", "rules", 0, "matches"), "list_type"),
    ],
)
def test_traffic_target_structural_errors(change: Any, loc: tuple[Any, ...], error: str) -> None:
    import copy

    spec = copy.deepcopy(TT_SPEC)
    change(spec)
    assert first_error(doc("access.smi-spec.io/v1alpha3", "TrafficTarget", spec)) == (loc, error)


def test_legacy_destination_port_annotation_is_read_and_fails_closed_when_damaged() -> None:
    data = doc("access.smi-spec.io/v1alpha3", "TrafficTarget", TT_SPEC)
    data["metadata"]["annotations"] = {"smimesh.io/conversion-destination-port": "8080"}
    assert TrafficTarget.model_validate(data).legacy_destination_port == 8080
    data["metadata"]["annotations"] = {"smimesh.io/conversion-destination-port": "eighty"}
    assert TrafficTarget.model_validate(data).legacy_destination_port == 0


def test_http_match_defaults_and_json_names() -> None:
    match = HTTPMatch.model_validate({"name": "all"})
    assert (match.path_regex, match.methods, match.headers) == (None, None, None)
    match = HTTPMatch.model_validate({"name": "m", "pathRegex": "/api/.*", "methods": ["GET", "*"]})
    assert match.path_regex == "/api/.*"
    assert match.to_dict() == {"name": "m", "pathRegex": "/api/.*", "methods": ["GET", "*"]}


@pytest.mark.parametrize(
    ("headers", "layout"),
    [
        ([{"user-agent": ".*Android.*"}, {"cookie": "a=b"}], "list"),
        ({"user-agent": ".*Android.*", "cookie": "a=b"}, "map"),
    ],
)
def test_headers_accept_both_layouts_and_write_back_what_was_read(headers: Any, layout: str) -> None:
    match = HTTPMatch.model_validate({"name": "m", "headers": headers})
    assert match.headers == {"user-agent": ".*Android.*", "cookie": "a=b"}
    assert match.headers_layout == layout
    assert match.to_dict()["headers"] == headers
    assert HTTPMatch.model_validate(match.to_dict()) == match


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ([{"a": "1", "b": "2"}], "header_entry"),
        ([{"a": "1"}, {"a": "2"}], "header_duplicate"),
        (["a"], "header_entry"),
        ("a: b", "dict_type"),
        ({"a": 1}, "string_type"),
    ],
)
def test_bad_headers_are_refused(headers: Any, error: str) -> None:
    data = doc(
        "specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", {"matches": [{"name": "m", "headers": headers}]}
    )
    loc, kind = first_error(data)
    assert loc[:4] == ("spec", "matches", 0, "headers") and kind == error


def test_methods_enum_is_enforced() -> None:
    data = doc(
        "specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", {"matches": [{"name": "m", "methods": ["get"]}]}
    )
    assert first_error(data) == (("spec", "matches", 0, "methods", 0), "literal_error")


def test_http_route_group_requires_matches_and_names() -> None:
    assert first_error(doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", {}))[0] == ("spec", "matches")
    data = doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", {"matches": [{"pathRegex": "/"}]})
    assert first_error(data) == (("spec", "matches", 0, "name"), "missing")


@pytest.mark.parametrize("cls", [TCPRoute, UDPRoute])
def test_port_routes(cls: type[TCPRoute] | type[UDPRoute]) -> None:
    route = registry.decode(doc(cls.API_VERSION, cls.KIND, {"matches": {"ports": [3306, 6446]}}))
    assert isinstance(route, cls) and route.ports == (3306, 6446)
    every = registry.decode(doc(cls.API_VERSION, cls.KIND, {"matches": {"ports": []}}))
    assert isinstance(every, cls) and every.ports == ()
    assert first_error(doc(cls.API_VERSION, cls.KIND, {"matches": {}})) == (
        ("spec", "matches", "ports"),
        "missing",
    )
    bad = doc(cls.API_VERSION, cls.KIND, {"matches": {"ports": [0]}})
    assert first_error(bad) == (("spec", "matches", "ports", 0), "greater_than_equal")
    text_port = doc(cls.API_VERSION, cls.KIND, {"matches": {"ports": ["80"]}})
    assert first_error(text_port) == (("spec", "matches", "ports", 0), "int_type")


def test_traffic_split_hub() -> None:
    spec = {
        "service": "website",
        "matches": [{"kind": "HTTPRouteGroup", "name": "ab-test"}],
        "backends": [{"service": "v1", "weight": 0}, {"service": "v2", "weight": 100}],
    }
    split = registry.decode(doc("split.smi-spec.io/v1alpha4", "TrafficSplit", spec))
    assert isinstance(split, TrafficSplit) and [b.weight for b in split.spec.backends] == [0, 100]
    spec["backends"] = [{"service": "v1", "weight": -1}]
    loc = ("spec", "backends", 0, "weight")
    assert first_error(doc("split.smi-spec.io/v1alpha4", "TrafficSplit", spec)) == (loc, "greater_than_equal")
    spec["backends"] = [{"service": "v1", "weight": 1.5}]
    assert first_error(doc("split.smi-spec.io/v1alpha4", "TrafficSplit", spec)) == (loc, "int_type")
    spec["backends"], spec["matches"] = [], [{"kind": "TCPRoute", "name": "t"}]
    loc = ("spec", "matches", 0, "kind")
    assert first_error(doc("split.smi-spec.io/v1alpha4", "TrafficSplit", spec)) == (loc, "literal_error")


def test_service_fields_and_tolerated_paste() -> None:
    spec = {
        "selector": {"app": "birds"},
        "type": "ClusterIP",
        "clusterIP": "10.0.0.1",
        "ports": [
            {"name": "http", "port": 8080, "targetPort": 8081},
            {"name": "grpc", "port": 9090, "targetPort": "grpc", "appProtocol": "grpc", "protocol": "TCP"},
            {"name": "dns", "port": 53, "protocol": "UDP"},
        ],
    }
    service = registry.decode(doc("v1", "Service", spec, status={"loadBalancer": {}}))
    assert isinstance(service, Service)
    assert [p.effective_target_port for p in service.spec.ports] == [8081, "grpc", 53]
    assert service.port_named("grpc") is not None and service.spec.ports[2].protocol == "UDP"


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "ClusterIP", "clusterIP": "None", "ports": [{"port": 80}]},
        {
            "type": "NodePort",
            "externalTrafficPolicy": "Local",
            "internalTrafficPolicy": "Cluster",
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080}],
        },
        {
            "type": "LoadBalancer",
            "loadBalancerIP": "203.0.113.7",
            "loadBalancerSourceRanges": ["10.0.0.0/8"],
            "loadBalancerClass": "example.com/lb",
            "allocateLoadBalancerNodePorts": False,
            "healthCheckNodePort": 32000,
            "externalTrafficPolicy": "Local",
            "externalIPs": ["198.51.100.1"],
            "publishNotReadyAddresses": True,
            "ipFamilies": ["IPv4"],
            "ipFamilyPolicy": "SingleStack",
            "trafficDistribution": "PreferClose",
            "ports": [{"port": 443, "nodePort": 31443, "appProtocol": "https"}],
        },
        {"type": "ExternalName", "externalName": "db.example.com"},
        {
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 600}},
            "ports": [{"port": 80}],
        },
    ],
    ids=["headless", "node-port", "load-balancer", "external-name", "client-ip"],
)
def test_service_accepts_every_type_and_field_of_the_v1_schema(spec: dict[str, Any]) -> None:
    service = registry.decode(doc("v1", "Service", {"selector": {"app": "web"}, **spec}))
    assert isinstance(service, Service) and service.spec.type == spec.get("type", "ClusterIP")
    selects = spec.get("type") != "ExternalName"
    assert service.endpoint_selector == ({"app": "web"} if selects else None)


@pytest.mark.parametrize(
    ("change", "loc", "error"),
    [
        ({"type": "Headless"}, ("spec", "type"), "literal_error"),
        ({"externalTrafficPolicy": "Nearest"}, ("spec", "externalTrafficPolicy"), "literal_error"),
        ({"ports": [{"port": 80, "nodePort": 70000}]}, ("spec", "ports", 0, "nodePort"), "less_than_equal"),
        ({"loadBalancerIPs": ["1.2.3.4"]}, ("spec", "loadBalancerIPs"), "extra_forbidden"),
        ({"ports": [{"port": 80, "protocol": "HTTP"}]}, ("spec", "ports", 0, "protocol"), "literal_error"),
        ({"ports": [{"port": 70000}]}, ("spec", "ports", 0, "port"), "less_than_equal"),
    ],
)
def test_service_refuses_what_the_v1_schema_does_not_have(
    change: dict[str, Any], loc: tuple[Any, ...], error: str
) -> None:
    assert first_error(doc("v1", "Service", {"ports": [{"port": 80}], **change})) == (loc, error)


def test_workload_defaults_and_limits() -> None:
    workload = registry.decode(doc("smimesh.io/v1alpha1", "Workload", {"command": ["python3", "app.py"]}))
    assert isinstance(workload, Workload)
    assert (workload.spec.replicas, workload.spec.service_account, workload.spec.env) == (1, "default", {})
    full = {
        "serviceAccount": "bookstore",
        "replicas": 0,
        "command": ["x"],
        "env": {"GREETING": "hi"},
        "ports": [{"name": "http", "containerPort": 8080}],
        "workingDir": "/tmp",
    }
    workload = registry.decode(doc("smimesh.io/v1alpha1", "Workload", full))
    assert isinstance(workload, Workload) and workload.spec.ports[0].container_port == 8080
    for change, loc, error in [
        ({"command": []}, ("spec", "command"), "too_short"),
        ({"replicas": -1}, ("spec", "replicas"), "greater_than_equal"),
        ({"env": {"PORT": 80}}, ("spec", "env", "PORT"), "string_type"),
    ]:
        assert first_error(doc("smimesh.io/v1alpha1", "Workload", {**full, **change})) == (loc, error)


def test_to_dict_writes_api_version_and_kind_first_and_round_trips() -> None:
    target = registry.decode(doc("access.smi-spec.io/v1alpha3", "TrafficTarget", TT_SPEC))
    data = target.to_dict()
    assert list(data)[:3] == ["apiVersion", "kind", "metadata"]
    assert registry.decode(data) == target


def test_decode_refuses_unknown_kinds_with_a_hint() -> None:
    with pytest.raises(registry.UnknownKindError) as caught:
        registry.decode({"apiVersion": "split.smi-spec.io/v9", "kind": "TrafficSplit"})
    assert "split.smi-spec.io/v1alpha4" in caught.value.hint
    with pytest.raises(LookupError) as missing:
        registry.decode({"kind": "TrafficSplit"})
    assert "apiVersion" in str(missing.value)
    with pytest.raises(registry.UnknownKindError) as typo:
        registry.decode({"apiVersion": "spec.smi-spec.io/v1alpha1", "kind": "TCPRoute"})
    assert "specs.smi-spec.io/v1alpha1" in typo.value.hint
    with pytest.raises(registry.UnknownKindError) as output:
        registry.decode({"apiVersion": "metrics.smi-spec.io/v1alpha1", "kind": "TrafficMetrics"})
    assert "metrics API" in output.value.hint


def test_registry_names() -> None:
    assert registry.hub_of("TrafficTarget") is TrafficTarget
    assert registry.is_hub(HTTPRouteGroup) and registry.plural("UDPRoute") == "udproutes"
    assert registry.short_names("TrafficSplit") == ("ts",)
    info = registry.info_of("htr")
    assert info is not None and info.kind == "HTTPRouteGroup" and info.list_kind == "HTTPRouteGroupList"
    assert ("v1", "Service") in registry.known()


def test_traffic_metrics_output_type() -> None:
    metrics = TrafficMetrics.model_validate(
        {
            "kind": "TrafficMetrics",
            "resource": {"kind": "Pod", "name": "foo", "namespace": "foobar"},
            "edge": {"direction": "to", "side": "client", "resource": {}},
            "timestamp": "2019-04-08T22:25:55Z",
            "window": "30s",
            "metrics": [{"name": "success_count", "value": "100"}],
        }
    )
    assert metrics.edge is not None and metrics.edge.direction == "to"


def test_models_are_hashable_by_content() -> None:
    spec = {"matches": [{"name": "m", "headers": {"a": "b"}}]}
    one = registry.decode(doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", spec))
    two = registry.decode(doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", spec))
    assert one == two and hash(one) == hash(two) and len({one, two}) == 1
    other = registry.decode(doc("specs.smi-spec.io/v1alpha4", "HTTPRouteGroup", {"matches": [{"name": "n"}]}))
    assert len({one, other}) == 2


@pytest.mark.parametrize(
    ("data", "loc", "error"),
    [
        (  # the Go v1alpha1 subject type allowed a port on sources; it never meant anything: refused
            doc(
                "access.smi-spec.io/v1alpha1",
                "TrafficTarget",
                destination={"kind": "ServiceAccount", "name": "a"},
                sources=[{"kind": "ServiceAccount", "name": "b", "port": 80}],
            ),
            ("sources", 0, "port"),
            "extra_forbidden",
        ),
        (
            doc(
                "access.smi-spec.io/v1alpha2",
                "TrafficTarget",
                {"destination": {"kind": "ServiceAccount", "name": "a", "port": "80"}},
            ),
            ("spec", "destination", "port"),
            "int_type",
        ),
        (
            doc(
                "split.smi-spec.io/v1alpha2",
                "TrafficSplit",
                {"service": "r", "backends": [{"service": "a", "weight": 1.5}]},
            ),
            ("spec", "backends", 0, "weight"),
            "int_type",
        ),
        (
            doc(
                "split.smi-spec.io/v1alpha2", "TrafficSplit", {"service": "r", "backends": [], "matches": []}
            ),
            ("spec", "matches"),
            "extra_forbidden",
        ),
        (
            doc("specs.smi-spec.io/v1alpha2", "TCPRoute", {"matches": {"ports": [80]}}),
            ("spec",),
            "extra_forbidden",
        ),
        (
            doc("specs.smi-spec.io/v1alpha3", "HTTPRouteGroup", matches=[{"name": "m"}]),
            ("spec",),
            "missing",
        ),
    ],
)
def test_older_versions_refuse_what_they_never_had(
    data: dict[str, Any], loc: tuple[Any, ...], error: str
) -> None:
    assert first_error(data) == (loc, error)


@pytest.mark.parametrize(
    "data",
    [
        doc(
            "access.smi-spec.io/v1alpha1",
            "TrafficTarget",
            destination={"kind": "ServiceAccount", "name": "a"},
        ),
        doc(
            "access.smi-spec.io/v1alpha2",
            "TrafficTarget",
            {"destination": {"kind": "ServiceAccount", "name": "a", "port": 8080}},
        ),
        doc("specs.smi-spec.io/v1alpha1", "TCPRoute"),
        doc("specs.smi-spec.io/v1alpha3", "TCPRoute", {}),
        doc("specs.smi-spec.io/v1alpha3", "TCPRoute"),
        doc("specs.smi-spec.io/v1alpha2", "HTTPRouteGroup", matches=[{"name": "m", "headers": {"a": "b"}}]),
        doc(
            "split.smi-spec.io/v1alpha1",
            "TrafficSplit",
            {"service": "r", "backends": [{"service": "a", "weight": "1500m"}]},
        ),
        doc(
            "split.smi-spec.io/v1alpha1",
            "TrafficSplit",
            {"service": "r", "backends": [{"service": "a", "weight": 1.5}]},
        ),
        doc(
            "split.smi-spec.io/v1alpha3",
            "TrafficSplit",
            {"service": "r", "backends": [], "matches": [{"kind": "HTTPRouteGroup", "name": "g"}]},
        ),
    ],
)
def test_older_versions_accept_their_shapes(data: dict[str, Any]) -> None:
    resource = registry.decode(data)
    assert data["apiVersion"] == resource.API_VERSION
    assert registry.decode(resource.to_dict()) == resource
