"""Property: for random TrafficTargets and random requests, `explain` says what the real sidecars do.

One `smimesh up`; each hypothesis example rewrites the access manifests and waits until the
destination sidecar enforces them (a per-example probe route becomes reachable for a dedicated
prober identity), then sends each drawn request through the caller's real sidecar and compares
200 / 403 with `explain`'s verdict computed from the very same manifests.
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smimesh.mesh.explain import explain
from smimesh.mesh.model import Identity, ServiceKey
from smimesh.testing.access_e2e import Mesh, eventually, get, http_workload, write
from smimesh.testing.access_world import model_of

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

SOURCES = ["client", "other"]
PATHS = ["/", "/a", "/a/b", "/ab", "/b1", "/c"]
REGEXES = ["", "/a", "/a/b", "/b.*", "/[ab]", "/a$"]

match = st.fixed_dictionaries(
    {
        "methods": st.sampled_from([["GET"], ["POST"], ["*"], ["GET", "PUT"]]),
        "pathRegex": st.sampled_from(REGEXES),
    },
    optional={"headers": st.sampled_from([{"x-k": "v1|v2"}, {"x-k": "v1"}])},
)
target = st.fixed_dictionaries(
    {
        "sources": st.lists(st.sampled_from(SOURCES), min_size=1, max_size=2, unique=True),
        "matches": st.lists(match, min_size=1, max_size=2),
        "all": st.booleans(),
    }
)
request = st.tuples(
    st.sampled_from(SOURCES),
    st.sampled_from(["GET", "POST", "PUT"]),
    st.sampled_from(PATHS),
    st.sampled_from([None, "v1", "v3"]),
)


def _documents(targets: list[dict[str, object]], probe: int) -> list[dict[str, object]]:
    docs: list[dict[str, object]] = []
    specs = [
        *targets,
        {
            "sources": ["prober"],
            "matches": [{"methods": ["GET"], "pathRegex": f"/probe-{probe}$"}],
            "all": True,
        },
    ]
    for index, spec in enumerate(specs):
        name = f"t{index}"
        matches = [{"name": f"m{i}", **m} for i, m in enumerate(spec["matches"])]  # type: ignore[arg-type]
        for m in matches:
            if not m["pathRegex"]:
                del m["pathRegex"]
        docs.append(
            {
                "apiVersion": "specs.smi-spec.io/v1alpha4",
                "kind": "HTTPRouteGroup",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {"matches": matches},
            }
        )
        rule: dict[str, object] = {"kind": "HTTPRouteGroup", "name": name}
        if not spec["all"]:
            rule["matches"] = ["m0"]
        docs.append(
            {
                "apiVersion": "access.smi-spec.io/v1alpha3",
                "kind": "TrafficTarget",
                "metadata": {"name": name, "namespace": "shop"},
                "spec": {
                    "destination": {"kind": "ServiceAccount", "name": "web", "namespace": "shop"},
                    "rules": [rule],
                    "sources": [
                        {"kind": "ServiceAccount", "name": s, "namespace": "shop"} for s in spec["sources"]
                    ],
                },
            }
        )  # type: ignore[union-attr]
    return docs


WORKLOADS = [http_workload(n) for n in ("web", "client", "other", "prober")]


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Mesh:
    tmp = tmp_path_factory.mktemp("property")
    directory = tmp / "mesh"
    directory.mkdir()
    write(directory / "workloads.yaml", "\n---\n".join(WORKLOADS))
    running = Mesh(directory, tmp / "run", tmp / "contexts.json").start()
    try:
        running.wait_ready(expected_instances=4)
        yield running
    finally:
        assert running.stop() == 0


PROBES = iter(range(1, 1_000_000))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(targets=st.lists(target, max_size=2), requests=st.lists(request, min_size=3, max_size=5))
def test_explain_agrees_with_envoy(
    mesh: Mesh, targets: list[dict[str, object]], requests: list[tuple]
) -> None:
    probe = next(PROBES)
    text = yaml.safe_dump_all(_documents(targets, probe))
    write(mesh.directory / "access.yaml", text)
    prober = mesh.proxy("prober-0")
    eventually(
        lambda: get(prober, f"http://web.shop/probe-{probe}").status_code == 200,
        15,
        what=f"policy {probe} in force",
        mesh=mesh,
    )
    model = model_of(*WORKLOADS, text)
    for source, method, path, header in requests:
        headers = {"x-k": header} if header else {}
        verdict = explain(
            model, Identity("shop", source), ServiceKey("shop", "web"), 80, method, path, headers
        )
        status = get(mesh.proxy(f"{source}-0"), f"http://web.shop{path}", method, headers).status_code
        assert status in (200, 403)
        assert (status == 200) is verdict.allowed, (
            source,
            method,
            path,
            headers,
            status,
            verdict.verdict.reason,
            text,
        )
