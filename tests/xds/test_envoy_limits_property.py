"""Property (issue 11): whatever numbers and regexes a world holds, either `validate` refuses it or Envoy
accepts every sidecar's config.

Random mutations of the bookstore world push every value a manifest passes to Envoy to and past its
limit: TrafficSplit weights (v1alpha4 integers and v1alpha1 quantities, each and their sum around
2^32), Service ports at the ends of 1-65535, and path and header regexes around RE2's program-size
limit (a conditional split puts them into the route table). Each example is loaded as `smimesh
validate` and the API load it; when that reports no error, the real Envoy binary checks every
sidecar's generated listeners, routes, clusters and endpoints in `--mode validate` (the static
bootstrap of `smimesh.testing.envoy_validate`: about 0.1 s per example, so 40 examples run in seconds).
Plain config is checked; the secured config's RBAC carries the same regexes, built by the same
`envoy_limits.envoy_path_regex`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from smimesh.diagnostics import has_errors
from smimesh.mesh import build_model
from smimesh.resources import load_text
from smimesh.testing import bookstore
from smimesh.testing.envoy_validate import static_bootstrap, validate_config

pytestmark = pytest.mark.envoy

LIMIT = 2**32 - 1
weights = st.one_of(
    st.sampled_from([0, 1, 90, 2**31 - 1, 2**31, LIMIT - 1, LIMIT, LIMIT + 1, 10**20]),
    st.integers(0, 2**31),
    st.integers(0, 2**33),
)
quantities = st.builds(
    lambda n, unit: f"{n}{unit}", st.integers(0, 5_000_000), st.sampled_from(["", "m", "k", "M"])
)
ports = st.sampled_from([1, 80, 8080, 65535])
# Regex pieces whose RE2 program grows at different rates: counted repetitions grow fastest.
atoms = st.one_of(
    st.builds(lambda n: f"[a-z0-9]{{1,{n}}}", st.integers(1, 16)),
    st.builds(lambda n: f"[0-9]{{{n}}}", st.integers(1, 24)),
    st.sampled_from(["books", "[^/]+", "(v1|v2|v3)", ".*", "\\d+"]),
)
regexes = st.lists(atoms, min_size=1, max_size=4).map("/".join)


def split_yaml(name: str, weights: list[object], version: str, matches: bool) -> str:
    backends = ", ".join(
        f"{{service: {svc}, weight: {w!r}}}" if isinstance(w, str) else f"{{service: {svc}, weight: {w}}}"
        for svc, w in zip(["bookstore-v1", "bookstore-v2"], weights, strict=True)
    )
    condition = "\n  matches: [{kind: HTTPRouteGroup, name: canary}]" if matches else ""
    return f"""
apiVersion: split.smi-spec.io/{version}
kind: TrafficSplit
metadata: {{name: {name}, namespace: bookstore}}
spec:
  service: bookstore
  backends: [{backends}]{condition}
"""


@st.composite
def worlds(draw: st.DrawFn) -> str:
    base = [doc for doc in bookstore.BOOKSTORE_YAML.split("\n---\n") if "kind: TrafficSplit" not in doc]
    port = draw(ports)
    base = [doc.replace("port: 80", f"port: {port}") for doc in base]
    legacy = draw(st.booleans())
    unconditional = split_yaml(
        "bookstore",
        draw(st.lists(quantities if legacy else weights, min_size=2, max_size=2)),
        "v1alpha1" if legacy else "v1alpha4",
        matches=False,
    )
    canary = split_yaml("canary", draw(st.lists(weights, min_size=2, max_size=2)), "v1alpha4", matches=True)
    path, header = draw(regexes), draw(regexes)
    group = f"""
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {{name: canary, namespace: bookstore}}
spec:
  matches:
  - {{name: canary, pathRegex: {path!r}, headers: [{{x-canary: {header!r}}}]}}
"""
    return "\n---\n".join([*base, unconditional, canary, group])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=worlds())
def test_validate_refuses_or_envoy_accepts_every_sidecar(tmp_path: Path, text: str) -> None:
    loaded = load_text(text, "world.yaml")
    errors = [d for d in loaded.diagnostics if d.is_error]
    if has_errors(loaded.diagnostics):
        event(f"validate refused: {' '.join(sorted({d.code for d in errors}))}")
        return
    event("validate accepted: Envoy checked")
    resources = loaded.snapshot().resources()
    model = build_model(loaded.snapshot(), bookstore.world_instances(resources))
    result = validate_config(static_bootstrap({"world": model}), tmp_path)
    note(text)
    assert result.returncode == 0, result.stderr[-3000:]
