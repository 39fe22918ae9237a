"""Junk in, diagnostics out: whatever the input, loading returns diagnostics, never raises, never hangs.

Hypothesis feeds random text and bytes, random YAML structures, valid manifests with fields replaced by
junk (wrong types, huge values, deep nesting), alias bombs and deep nesting. Every run must finish within
the deadline and must not hit the loader's internal-error code (SM1900), which would mean a crash was
merely contained rather than understood.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smimesh.resources import LoadResult, load_text
from smimesh.resources.codes import INTERNAL

JUNK_SETTINGS = settings(
    max_examples=100, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow]
)

VALID = [
    {
        "apiVersion": "split.smi-spec.io/v1alpha4",
        "kind": "TrafficSplit",
        "metadata": {"name": "s"},
        "spec": {
            "service": "web",
            "matches": [{"kind": "HTTPRouteGroup", "name": "r"}],
            "backends": [{"service": "web-v1", "weight": 1}],
        },
    },
    {
        "apiVersion": "split.smi-spec.io/v1alpha1",
        "kind": "TrafficSplit",
        "metadata": {"name": "q"},
        "spec": {"service": "web", "backends": [{"service": "web-v1", "weight": "500m"}]},
    },
    {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "HTTPRouteGroup",
        "metadata": {"name": "r"},
        "spec": {"matches": [{"name": "a", "pathRegex": "/a", "methods": ["GET"], "headers": [{"x": "y"}]}]},
    },
    {
        "apiVersion": "specs.smi-spec.io/v1alpha4",
        "kind": "TCPRoute",
        "metadata": {"name": "t"},
        "spec": {"matches": {"ports": [80]}},
    },
    {
        "apiVersion": "access.smi-spec.io/v1alpha1",
        "kind": "TrafficTarget",
        "metadata": {"name": "t"},
        "destination": {"kind": "ServiceAccount", "name": "d", "port": 80},
        "specs": [{"kind": "HTTPRouteGroup", "name": "r", "matches": ["a"]}],
        "sources": [{"kind": "ServiceAccount", "name": "s"}],
    },
    {
        "apiVersion": "access.smi-spec.io/v1alpha3",
        "kind": "TrafficTarget",
        "metadata": {"name": "u"},
        "spec": {
            "destination": {"kind": "ServiceAccount", "name": "d"},
            "rules": [{"kind": "TCPRoute", "name": "t"}],
            "sources": [{"kind": "ServiceAccount", "name": "s"}],
        },
    },
    {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "labels": {"a": "b"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    },
    {
        "apiVersion": "smimesh.io/v1alpha1",
        "kind": "Workload",
        "metadata": {"name": "w"},
        "spec": {
            "serviceAccount": "w",
            "replicas": 2,
            "command": ["x"],
            "env": {"A": "b"},
            "ports": [{"name": "http", "containerPort": 8080}],
        },
    },
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**30, max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.just("9" * 5000),
    st.just("x" * 20_000),
    st.sampled_from(["500m", "1.5", "-1", "(?=x)", "*", "GET", "", "🙂", "\u0000"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def assert_contained(result: LoadResult) -> None:
    assert all(d.code != INTERNAL for d in result.diagnostics), [d.format() for d in result.diagnostics]
    for d in result.diagnostics:
        assert d.code.startswith("SM") and d.message


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@JUNK_SETTINGS
@given(st.text(max_size=400))
def test_random_text(text: str) -> None:
    assert_contained(load_text(text, "junk.yaml"))


@JUNK_SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes(raw: bytes) -> None:
    assert_contained(load_text(raw, "junk.yaml"))


@JUNK_SETTINGS
@given(st.text(alphabet=st.sampled_from(list("{}[]:,-?&*!|>'\"#%@` \n\tab1")), max_size=200))
def test_random_yaml_punctuation(text: str) -> None:
    assert_contained(load_text(text, "junk.yaml"))
    assert_contained(load_text(text, "junk.json"))


@JUNK_SETTINGS
@given(values)
def test_random_structures(data: Any) -> None:
    assert_contained(load_text(dump(data), "junk.yaml"))


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    """A valid manifest with one field (at any depth) replaced by junk, or one junk field added."""
    document = copy.deepcopy(draw(st.sampled_from(VALID)))
    path = draw(st.sampled_from(_paths(document)[1:]))
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    junk = draw(values)
    if draw(st.booleans()) and isinstance(parent, dict):
        parent[draw(st.text(min_size=1, max_size=10))] = junk
    else:
        parent[path[-1]] = junk
    return document


@JUNK_SETTINGS
@given(mutated())
def test_valid_manifests_with_junk_fields(document: Any) -> None:
    result = load_text(dump(document), "mutated.yaml")
    assert_contained(result)
    for d in result.diagnostics:
        if d.is_error and d.code.startswith(("SM2", "SM3")):
            assert d.location.line is not None and (d.object.kind or d.path == "kind"), d.format()


@JUNK_SETTINGS
@given(st.integers(1, 12), st.integers(1, 12))
def test_alias_bombs_are_refused_or_small(width: int, depth: int) -> None:
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, depth)]
    result = load_text("\n".join(lines) + "\n", "bomb.yaml")
    assert_contained(result)
    if width**depth > 1_000_000:
        assert "SM1006" in {d.code for d in result.diagnostics}


@JUNK_SETTINGS
@given(st.integers(1, 5000), st.sampled_from(["[", "{a: ", "- "]))
def test_deep_nesting_is_refused_at_the_limit(depth: int, opener: str) -> None:
    closer = {"[": "]", "{a: ": "}", "- ": ""}[opener]
    if opener == "- ":
        text = "".join("  " * i + "- \n" for i in range(depth)) + "  " * depth + "x\n"
    else:
        text = "a: " + opener * depth + "1" + closer * depth + "\n"
    result = load_text(text, "deep.yaml")
    assert_contained(result)
    if depth > 70:
        assert {d.code for d in result.diagnostics} & {"SM1007", "SM1005"}
