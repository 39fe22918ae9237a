"""Hypothesis: generated valid hub resources round-trip through every version that can express them, and
those that cannot are refused cleanly (a ConversionError with a coded diagnostic, never anything else);
quantity weights keep their exact ratios."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smimesh.errors import ConversionError
from smimesh.resources import registry
from smimesh.resources.convert import convert, to_hub
from smimesh.resources.meta import Resource
from smimesh.resources.quantity import format_milli, milli_value
from smimesh.resources.specs import HTTP_METHODS
from smimesh.resources.split import TrafficSplit

PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.text("abcdefghij-", min_size=1, max_size=8)
labels = st.dictionaries(names, names, max_size=2)
ports = st.integers(1, 65535)
regexes = st.sampled_from(["/api/.*", ".*", "/metrics", "^/x$", ".*Android.*", "type=(a|b)"])


@st.composite
def metadata(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": draw(names), "namespace": draw(names)}
    if draw(st.booleans()):
        meta["labels"] = draw(labels)
    if draw(st.booleans()):
        meta["annotations"] = draw(
            st.dictionaries(st.sampled_from(["a.io/x", "note", "b"]), names, max_size=2)
        )
    return meta


@st.composite
def http_match(draw: st.DrawFn, name: str) -> dict[str, Any]:
    match: dict[str, Any] = {"name": name}
    if draw(st.booleans()):
        match["pathRegex"] = draw(regexes)
    if draw(st.booleans()):
        match["methods"] = draw(st.lists(st.sampled_from(HTTP_METHODS), max_size=3))
    if draw(st.booleans()):
        headers = draw(
            st.dictionaries(st.sampled_from(["user-agent", "cookie", "x-id", "host"]), regexes, min_size=1)
        )
        as_list = draw(st.booleans())
        match["headers"] = [{k: v} for k, v in headers.items()] if as_list else headers
    return match


@st.composite
def route_group(draw: st.DrawFn) -> dict[str, Any]:
    # Duplicate match names on purpose: SMI forbids them (A2 reports it), and conversion must cope.
    match_names = draw(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), min_size=1, max_size=4))
    matches = [draw(http_match(name)) for name in match_names]
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": draw(metadata()),
        "spec": {"matches": matches},
    }


@st.composite
def port_route(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    matches: dict[str, Any] = {"ports": draw(st.lists(ports, max_size=4))}
    if draw(st.integers(0, 5)) == 0:
        matches["name"] = draw(names)
    return {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": kind,
        "metadata": draw(metadata()),
        "spec": {"matches": matches},
    }


subjects = st.builds(
    lambda name, ns: {"kind": "ServiceAccount", "name": name, **({"namespace": ns} if ns else {})},
    names,
    st.one_of(st.none(), names),
)
rules = st.builds(
    lambda kind, name, matches: {
        "kind": kind,
        "name": name,
        **({"matches": matches} if matches is not None else {}),
    },
    st.sampled_from(["HTTPRouteGroup", "TCPRoute", "UDPRoute"]),
    names,
    st.one_of(st.none(), st.lists(names, max_size=3)),
)


@st.composite
def traffic_target(draw: st.DrawFn) -> dict[str, Any]:
    meta = draw(metadata())
    if draw(st.booleans()):  # a port restriction carried over from v1alpha1/v1alpha2
        meta.setdefault("annotations", {})["smimesh.io/conversion-destination-port"] = str(draw(ports))
    spec = {
        "destination": draw(subjects),
        "rules": draw(st.lists(rules, min_size=1, max_size=4)),
        "sources": draw(st.lists(subjects, min_size=1, max_size=3)),
    }
    return {
        "apiVersion": "access.smi-spec.io/v1alpha3",
        "kind": "TrafficTarget",
        "metadata": meta,
        "spec": spec,
    }


@st.composite
def traffic_split(draw: st.DrawFn) -> dict[str, Any]:
    backends = draw(
        st.lists(
            st.builds(lambda s, w: {"service": s, "weight": w}, names, st.integers(0, 10**7)),
            min_size=1,
            max_size=4,
        )
    )
    spec: dict[str, Any] = {"service": draw(names), "backends": backends}
    if draw(st.booleans()):
        spec["matches"] = draw(
            st.lists(st.builds(lambda n: {"kind": "HTTPRouteGroup", "name": n}, names), max_size=3)
        )
    return {
        "apiVersion": "split.smi-spec.io/v1alpha4",
        "kind": "TrafficSplit",
        "metadata": draw(metadata()),
        "spec": spec,
    }


hub_documents = st.one_of(
    route_group(), port_route("TCPRoute"), port_route("UDPRoute"), traffic_target(), traffic_split()
)


def cannot_express(hub: Resource, version: str) -> bool:
    """The cases an older version has no way to carry, as documented in codes_convert (SM5002)."""
    if hub.KIND == "TrafficTarget":
        return any(rule.kind == "UDPRoute" for rule in hub.spec.rules)  # type: ignore[attr-defined]
    if hub.KIND == "HTTPRouteGroup" and version.endswith("v1alpha1"):
        # headers wait in an annotation keyed by match name: a name shared by another match is ambiguous
        all_names = [m.name for m in hub.spec.matches]  # type: ignore[attr-defined]
        with_headers = {m.name for m in hub.spec.matches if m.headers is not None}  # type: ignore[attr-defined]
        return any(all_names.count(name) > 1 for name in with_headers)
    return False


@PROFILE
@given(hub_documents)
def test_hub_round_trips_through_every_version_or_is_refused_cleanly(doc: dict[str, Any]) -> None:
    hub = registry.decode(doc)
    assert registry.is_hub(type(hub))
    assert registry.decode(hub.to_dict()) == hub
    for version in registry.versions_of(hub.KIND):
        try:
            spoke = convert(hub, version)
        except ConversionError as refused:
            assert refused.diagnostics and refused.diagnostics[0].code == "SM5002"
            assert cannot_express(hub, version)
            continue
        assert version == spoke.API_VERSION
        assert to_hub(spoke) == hub
        assert registry.decode(spoke.to_dict()) == spoke


quantity_texts = st.one_of(
    st.integers(0, 10**6),
    st.integers(0, 10**6).map(lambda n: f"{n}m"),
    st.decimals(0, 1000, places=3, allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
    st.decimals(0, 10, places=6, allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f")),
)


@PROFILE
@given(st.lists(quantity_texts, min_size=1, max_size=5))
def test_quantity_weights_keep_exact_ratios(weights: list[str | int]) -> None:
    backends = [{"service": f"b{i}", "weight": w} for i, w in enumerate(weights)]
    doc = {
        "apiVersion": "split.smi-spec.io/v1alpha1",
        "kind": "TrafficSplit",
        "metadata": {"name": "s"},
        "spec": {"service": "root", "backends": backends},
    }
    hub = to_hub(registry.decode(doc))
    assert isinstance(hub, TrafficSplit)
    converted = [b.weight for b in hub.spec.backends]
    exact = [
        Fraction(Decimal(str(w))) * 1000
        for w in (x.removesuffix("m") if isinstance(x, str) else x for x in weights)
    ]
    exact = [
        e / 1000 if isinstance(w, str) and w.endswith("m") else e for e, w in zip(exact, weights, strict=True)
    ]
    for i in range(len(weights)):
        for j in range(len(weights)):
            assert converted[i] * exact[j] == converted[j] * exact[i]
    if all(e.denominator == 1 for e in exact):
        assert converted == [int(e) for e in exact]  # whole milli-values are taken as they are


def _milli_by_decimal(weight: str | int) -> Fraction:
    """The milli-value computed independently of quantity.py, with the standard library's Decimal."""
    text = str(weight)
    if text.endswith("m"):
        return Fraction(Decimal(text[:-1]))
    return Fraction(Decimal(text)) * 1000


@PROFILE
@given(st.integers(0, 10**12))
def test_format_milli_round_trips(milli: int) -> None:
    assert milli_value(format_milli(milli)) == milli
