"""Conversion between every version pair, the lossy fields and their annotations, and exact quantities."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from smimesh.diagnostics import lookup as lookup_code
from smimesh.errors import ConversionError
from smimesh.resources import registry
from smimesh.resources.access import TrafficTarget
from smimesh.resources.convert import convert, losses, to_hub
from smimesh.resources.meta import Resource
from smimesh.resources.quantity import QuantityError, format_milli, milli_value, parse_quantity
from smimesh.resources.specs import HTTPRouteGroup, TCPRoute
from smimesh.resources.split import TrafficSplit

META = {"name": "x", "namespace": "ns"}


def decode(api: str, kind: str, **fields: Any) -> Resource:
    return registry.decode({"apiVersion": api, "kind": kind, "metadata": dict(META), **fields})


def annotations(resource: Resource) -> dict[str, str]:
    return resource.metadata.annotations


# --- quantities -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "milli"),
    [
        ("1", 1000),
        (1, 1000),
        ("1000m", 1000),
        ("500m", 500),
        ("1.5", 1500),
        ("2", 2000),
        ("10m", 10),
        ("0m", 0),
        (".5", 500),
        ("0.5m", Fraction(1, 2)),
        ("2k", 2_000_000),
        ("1Ki", 1_024_000),
        ("1e3", 1_000_000),
        ("1E-3", 1),
        ("1500u", Fraction(3, 2)),
        ("-1", -1000),
    ],
)
def test_quantity_milli_values_are_exact(text: str | int, milli: Fraction | int) -> None:
    assert milli_value(text) == milli


@pytest.mark.parametrize("text", ["", "m", "1.2.3", "1 m", "1mm", "0x10", "1e999", "1" * 100, "Ki"])
def test_quantity_refuses_what_is_not_one(text: str) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(text)


@pytest.mark.parametrize("value", [True, 1.5, None, [1]])
def test_quantity_refuses_other_types(value: Any) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(value)


@pytest.mark.parametrize(
    ("milli", "text"), [(1000, "1"), (500, "500m"), (0, "0"), (1500, "1500m"), (20000, "20")]
)
def test_format_milli_is_the_inverse_of_milli_value(milli: int, text: str) -> None:
    assert format_milli(milli) == text
    assert milli_value(text) == milli


# --- TrafficTarget ----------------------------------------------------------------------------------

DESTINATION = {"kind": "ServiceAccount", "name": "api", "namespace": "ns"}
SOURCES = [{"kind": "ServiceAccount", "name": "web"}]
RULES = [{"kind": "HTTPRouteGroup", "name": "routes", "matches": ["metrics"]}]


def hub_target(**spec: Any) -> TrafficTarget:
    target = decode(
        TrafficTarget.API_VERSION,
        "TrafficTarget",
        spec={"destination": DESTINATION, "rules": RULES, "sources": SOURCES, **spec},
    )
    assert isinstance(target, TrafficTarget)
    return target


@pytest.mark.parametrize("version", ["access.smi-spec.io/v1alpha1", "access.smi-spec.io/v1alpha2"])
def test_destination_port_travels_in_an_annotation(version: str) -> None:
    destination = {**DESTINATION, "port": 8080}
    if version.endswith("v1alpha1"):
        old = decode(version, "TrafficTarget", destination=destination, specs=RULES, sources=SOURCES)
    else:
        old = decode(
            version, "TrafficTarget", spec={"destination": destination, "rules": RULES, "sources": SOURCES}
        )
    hub = to_hub(old)
    assert isinstance(hub, TrafficTarget)
    assert hub.legacy_destination_port == 8080
    assert annotations(hub) == {"smimesh.io/conversion-destination-port": "8080"}
    assert hub.spec.rules[0].matches == ["metrics"] and "port" not in hub.to_dict()["spec"]["destination"]
    back = convert(hub, version)
    assert back == old and annotations(back) == {}


def test_v1alpha1_specs_become_rules_and_back() -> None:
    old = decode(
        "access.smi-spec.io/v1alpha1", "TrafficTarget", destination=DESTINATION, specs=RULES, sources=SOURCES
    )
    hub = convert(old, TrafficTarget.API_VERSION)
    assert hub == hub_target()
    assert convert(hub, "access.smi-spec.io/v1alpha1").to_dict()["specs"] == RULES


def test_between_two_older_versions_goes_through_the_hub() -> None:
    old = decode(
        "access.smi-spec.io/v1alpha1",
        "TrafficTarget",
        destination={**DESTINATION, "port": 80},
        specs=RULES,
        sources=SOURCES,
    )
    middle = convert(old, "access.smi-spec.io/v1alpha2")
    assert middle.to_dict()["spec"]["destination"]["port"] == 80
    assert convert(middle, "access.smi-spec.io/v1alpha1") == old


def test_udp_route_rules_cannot_go_down_to_v1alpha2() -> None:
    hub = hub_target(rules=[*RULES, {"kind": "UDPRoute", "name": "dns"}])
    with pytest.raises(ConversionError) as caught:
        convert(hub, "access.smi-spec.io/v1alpha2")
    diagnostic = caught.value.diagnostics[0]
    assert (diagnostic.code, diagnostic.path, diagnostic.value) == (
        "SM5002",
        "spec.rules[1].kind",
        "UDPRoute",
    )


def test_old_target_without_rules_is_refused_by_the_hub() -> None:
    old = decode(
        "access.smi-spec.io/v1alpha2", "TrafficTarget", spec={"destination": DESTINATION, "sources": SOURCES}
    )
    with pytest.raises(ConversionError) as caught:
        to_hub(old)
    assert caught.value.diagnostics[0].code == "SM5003"
    assert caught.value.diagnostics[0].path == "spec.rules"


def test_port_field_and_annotation_that_disagree_are_refused() -> None:
    meta = {**META, "annotations": {"smimesh.io/conversion-destination-port": "9090"}}
    spec = {"destination": {**DESTINATION, "port": 8080}, "rules": RULES, "sources": SOURCES}
    old = registry.decode(
        {"apiVersion": "access.smi-spec.io/v1alpha2", "kind": "TrafficTarget", "metadata": meta, "spec": spec}
    )
    with pytest.raises(ConversionError) as caught:
        to_hub(old)
    assert caught.value.diagnostics[0].code == "SM5005"


def test_damaged_port_annotation_refuses_down_conversion() -> None:
    hub = hub_target().with_annotations({"smimesh.io/conversion-destination-port": "http"})
    with pytest.raises(ConversionError) as caught:
        convert(hub, "access.smi-spec.io/v1alpha2")
    assert caught.value.diagnostics[0].code == "SM5004"


# --- HTTPRouteGroup / TCPRoute ----------------------------------------------------------------------

MATCHES = [
    {
        "name": "android",
        "pathRegex": "/api/.*",
        "methods": ["GET"],
        "headers": [{"user-agent": ".*Android.*"}],
    },
    {"name": "insiders", "headers": {"cookie": "type=insider"}},
    {"name": "all"},
]


def hub_routes() -> HTTPRouteGroup:
    group = decode(HTTPRouteGroup.API_VERSION, "HTTPRouteGroup", spec={"matches": MATCHES})
    assert isinstance(group, HTTPRouteGroup)
    return group


@pytest.mark.parametrize(
    ("version", "where"),
    [
        ("specs.smi-spec.io/v1alpha2", "top"),
        ("specs.smi-spec.io/v1alpha3", "spec"),
        ("specs.smi-spec.io/v1alpha4", "spec"),
    ],
)
def test_route_groups_with_headers_convert_losslessly(version: str, where: str) -> None:
    hub = hub_routes()
    old = convert(hub, version)
    data = old.to_dict()
    matches = data["matches"] if where == "top" else data["spec"]["matches"]
    assert matches == MATCHES  # both header layouts written back as read
    assert convert(old, HTTPRouteGroup.API_VERSION) == hub


def test_headers_wait_in_an_annotation_for_v1alpha1() -> None:
    hub = hub_routes()
    old = convert(hub, "specs.smi-spec.io/v1alpha1")
    assert all("headers" not in m for m in old.to_dict()["matches"])
    kept = annotations(old)["smimesh.io/conversion-headers"]
    assert (
        '"android":[{"user-agent":".*Android.*"}]' in kept and '"insiders":{"cookie":"type=insider"}' in kept
    )
    back = convert(old, HTTPRouteGroup.API_VERSION)
    assert back == hub and annotations(back) == {}
    assert [m.headers_layout for m in back.spec.matches if m.headers] == ["list", "map"]  # type: ignore[attr-defined]


def test_headers_of_a_vanished_match_refuse_up_conversion() -> None:
    meta = {**META, "annotations": {"smimesh.io/conversion-headers": '{"gone": {"a": "b"}}'}}
    old = registry.decode(
        {
            "apiVersion": "specs.smi-spec.io/v1alpha1",
            "kind": "HTTPRouteGroup",
            "metadata": meta,
            "matches": [{"name": "all"}],
        }
    )
    with pytest.raises(ConversionError) as caught:
        to_hub(old)
    assert caught.value.diagnostics[0].code == "SM5004"


@pytest.mark.parametrize("second", [{"name": "m", "headers": {"b": "2"}}, {"name": "m"}])
def test_duplicate_match_names_with_headers_cannot_go_to_v1alpha1(second: dict[str, Any]) -> None:
    twice = [{"name": "m", "headers": {"a": "1"}}, second]
    hub = decode(HTTPRouteGroup.API_VERSION, "HTTPRouteGroup", spec={"matches": twice})
    with pytest.raises(ConversionError) as caught:
        convert(hub, "specs.smi-spec.io/v1alpha1")
    assert caught.value.diagnostics[0].code == "SM5002"


def test_v1alpha1_route_group_has_no_headers_field() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        decode(
            "specs.smi-spec.io/v1alpha1", "HTTPRouteGroup", matches=[{"name": "m", "headers": [{"a": "b"}]}]
        )


@pytest.mark.parametrize(
    "version", ["specs.smi-spec.io/v1alpha1", "specs.smi-spec.io/v1alpha2", "specs.smi-spec.io/v1alpha3"]
)
def test_old_tcp_routes_mean_every_port_and_ports_travel_in_an_annotation(version: str) -> None:
    old = decode(version, "TCPRoute", **({"spec": {}} if version.endswith("3") else {}))
    hub = to_hub(old)
    assert isinstance(hub, TCPRoute) and hub.ports == () and annotations(hub) == {}
    narrow = decode(TCPRoute.API_VERSION, "TCPRoute", spec={"matches": {"ports": [3306, 6446]}})
    down = convert(narrow, version)
    assert annotations(down) == {"smimesh.io/conversion-ports": '{"ports":[3306,6446]}'}
    assert convert(down, TCPRoute.API_VERSION) == narrow
    assert annotations(convert(hub, version)) == {}


def test_udp_route_has_only_the_hub_version() -> None:
    route = decode("specs.smi-spec.io/v1alpha4", "UDPRoute", spec={"matches": {"ports": [53]}})
    with pytest.raises(ConversionError) as caught:
        convert(route, "specs.smi-spec.io/v1alpha3")
    assert caught.value.diagnostics[0].code == "SM5001"


# --- TrafficSplit -----------------------------------------------------------------------------------

SPLIT_MATCHES = [{"kind": "HTTPRouteGroup", "name": "ab-test"}]


def test_quantity_weights_convert_by_milli_value() -> None:
    backends = [{"service": "v1", "weight": 1}, {"service": "v2", "weight": "500m"}]
    old = decode("split.smi-spec.io/v1alpha1", "TrafficSplit", spec={"service": "root", "backends": backends})
    hub = to_hub(old)
    assert isinstance(hub, TrafficSplit)
    assert [b.weight for b in hub.spec.backends] == [1000, 500]  # 2:1, not the Go SDK's 1:500


def test_sub_milli_weights_scale_every_weight_to_keep_ratios_exact() -> None:
    backends = [
        {"service": "a", "weight": "1"},
        {"service": "b", "weight": "0.5m"},
        {"service": "c", "weight": 1.5},
    ]
    hub = to_hub(
        decode("split.smi-spec.io/v1alpha1", "TrafficSplit", spec={"service": "root", "backends": backends})
    )
    assert isinstance(hub, TrafficSplit)
    assert [b.weight for b in hub.spec.backends] == [2000, 1, 3000]


@pytest.mark.parametrize("weight", ["-1", "abc", True, "1e99"])
def test_bad_quantity_weights_are_validation_errors(weight: Any) -> None:
    from pydantic import ValidationError

    backends = [{"service": "a", "weight": weight}]
    with pytest.raises(ValidationError) as caught:
        decode("split.smi-spec.io/v1alpha1", "TrafficSplit", spec={"service": "root", "backends": backends})
    assert caught.value.errors()[0]["loc"][:4] == ("spec", "backends", 0, "weight")


def test_integer_weights_go_down_as_quantities_with_the_same_milli_value() -> None:
    hub = decode(
        TrafficSplit.API_VERSION,
        "TrafficSplit",
        spec={"service": "r", "backends": [{"service": "a", "weight": 90}, {"service": "b", "weight": 2000}]},
    )
    old = convert(hub, "split.smi-spec.io/v1alpha1")
    assert [b["weight"] for b in old.to_dict()["spec"]["backends"]] == ["90m", "2"]
    assert convert(old, TrafficSplit.API_VERSION) == hub


@pytest.mark.parametrize("version", ["split.smi-spec.io/v1alpha1", "split.smi-spec.io/v1alpha2"])
def test_split_matches_travel_in_an_annotation(version: str) -> None:
    hub = decode(
        TrafficSplit.API_VERSION,
        "TrafficSplit",
        spec={"service": "r", "matches": SPLIT_MATCHES, "backends": [{"service": "a", "weight": 1}]},
    )
    old = convert(hub, version)
    assert "matches" not in old.to_dict()["spec"]
    assert annotations(old) == {
        "smimesh.io/conversion-matches": '[{"kind":"HTTPRouteGroup","name":"ab-test"}]'
    }
    assert convert(old, TrafficSplit.API_VERSION) == hub


def test_damaged_matches_annotation_refuses_up_conversion() -> None:
    meta = {**META, "annotations": {"smimesh.io/conversion-matches": '[{"kind": "TCPRoute"}]'}}
    old = registry.decode(
        {
            "apiVersion": "split.smi-spec.io/v1alpha2",
            "kind": "TrafficSplit",
            "metadata": meta,
            "spec": {"service": "r", "backends": []},
        }
    )
    with pytest.raises(ConversionError) as caught:
        to_hub(old)
    assert caught.value.diagnostics[0].code == "SM5004"


def test_split_v1alpha3_is_the_hub_schema() -> None:
    spec = {"service": "r", "matches": SPLIT_MATCHES, "backends": [{"service": "a", "weight": 1}]}
    old = decode("split.smi-spec.io/v1alpha3", "TrafficSplit", spec=spec)
    assert to_hub(old).to_dict()["spec"] == spec


# --- generic ----------------------------------------------------------------------------------------


def test_converting_to_the_own_version_returns_the_same_object() -> None:
    hub = hub_target()
    assert convert(hub, hub.API_VERSION) is hub
    service = decode("v1", "Service", spec={"ports": [{"port": 80}]})
    assert convert(service, "v1") is service


def test_every_conversion_code_is_registered_with_an_explanation() -> None:
    for code in ("SM5001", "SM5002", "SM5003", "SM5004", "SM5005"):
        info = lookup_code(code)
        assert info is not None and len(info.explanation) > 80


# --- what readers of the target version lose: every lossy field, every version pair -----------------
# (kind, the object with its lossy field in a version that has it, the versions that have the field)
LOSSY = {
    "TrafficSplit": (
        {
            "apiVersion": "split.smi-spec.io/v1alpha4",
            "spec": {
                "service": "web",
                "backends": [{"service": "v2", "weight": 1}],
                "matches": SPLIT_MATCHES,
            },
        },
        ("split.smi-spec.io/v1alpha3", "split.smi-spec.io/v1alpha4"),
        "spec.matches",
        "every request for the root service",
    ),
    "TrafficTarget": (
        {
            "apiVersion": "access.smi-spec.io/v1alpha2",
            "spec": {"destination": {**DESTINATION, "port": 8080}, "rules": RULES, "sources": SOURCES},
        },
        ("access.smi-spec.io/v1alpha1", "access.smi-spec.io/v1alpha2"),
        "spec.destination.port",
        "every port",
    ),
    "TCPRoute": (
        {"apiVersion": "specs.smi-spec.io/v1alpha4", "spec": {"matches": {"ports": [3306]}}},
        ("specs.smi-spec.io/v1alpha4",),
        "spec.matches.ports",
        "covers every port",
    ),
    "HTTPRouteGroup": (
        {"apiVersion": "specs.smi-spec.io/v1alpha4", "spec": {"matches": MATCHES}},
        ("specs.smi-spec.io/v1alpha2", "specs.smi-spec.io/v1alpha3", "specs.smi-spec.io/v1alpha4"),
        "spec.matches[].headers",
        "whatever their headers",
    ),
}
PAIRS = [
    (kind, source, target)
    for kind in LOSSY
    for source in registry.versions_of(kind)
    for target in registry.versions_of(kind)
]


@pytest.mark.parametrize(
    ("kind", "source", "target"), PAIRS, ids=[f"{k}-{s[-8:]}-{t[-8:]}" for k, s, t in PAIRS]
)
def test_every_field_a_target_version_cannot_express_is_named_with_what_its_readers_do(
    kind: str, source: str, target: str
) -> None:
    data, defined_in, path, consequence = LOSSY[kind]
    full = registry.decode({**data, "kind": kind, "metadata": dict(META)})
    written = convert(full, source)  # in a version without the field it waits in its annotation
    converted = convert(written, target)
    lost = losses(converted)
    if target in defined_in:
        assert lost == [] and annotations(converted) == {}
        assert to_hub(converted) == to_hub(full)  # the field is back where every reader sees it
        return
    (warning,) = lost
    assert (warning.code, warning.severity.value, warning.path) == ("SM5006", "warning", path)
    assert target in warning.message and consequence in warning.message, warning.message
    assert all(version.rpartition("/")[2] in warning.expected for version in defined_in)
    assert to_hub(converted) == to_hub(full)  # smimesh itself still reads it back
    (refusal,) = losses(converted, strict=True)
    assert (refusal.code, refusal.severity.value, refusal.path) == ("SM5002", "error", path)


def test_an_object_without_lossy_fields_converts_to_every_version_without_a_warning() -> None:
    plain = decode(
        "split.smi-spec.io/v1alpha4",
        "TrafficSplit",
        spec={"service": "web", "backends": [{"service": "a", "weight": 1}]},
    )
    for version in registry.versions_of("TrafficSplit"):
        assert losses(convert(plain, version)) == []
