"""Equivalence under real traffic: the same client traffic through `smimesh up`, first with SMI
TrafficSplits, then — switched live, while requests flow — with the HTTPRoutes `smimesh export --to
gateway-api --from-mesh` produced from what the running mesh holds: every request lands on the same
backend (matched, unmatched, header and method matches, the catch-all back to the root), the
weighted shares are the same (Pearson chi-square, p > 0.001, against the weights and between the two
runs), and no request fails during the switch.

Two worlds, each its own mesh: the bookstore demo exactly as `smimesh demo` runs it (a 90/10 split,
access control: the buyer may GET /books, anything else is denied), and a world with header matches
in two shapes: `web`, an 80/20 split, and `api`, a header-matched split to v3, a method + path +
header split to v2, and no unconditional split (unmatched requests go to the root, which selects all
three versions).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from smimesh import demo
from smimesh.testing.up import WORKLOAD, Mesh, Traffic, backend, chi_square_p, eventually, write
from smimesh.xds import names

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

# Requests per case, by what the case expects (fewer where fewer already decide, to keep the suite short):
# an unequal split (90/10, 80/20) needs 300 for the chi-square tests to tell it from a wrong share; equal
# shares (the root's round robin) need 60 to show no endpoint is missing; one expected outcome needs 30.
SAMPLE, EQUAL_SAMPLE, ONE_OUTCOME_SAMPLE = 300, 60, 30
Case = tuple[str, str, str, dict[str, str]]  # name, method, url, headers

# --- the world with header matches -------------------------------------------------------------------------
HEADER_CASES: list[Case] = [
    ("web", "GET", "http://web.shop/books", {}),
    ("beta header", "GET", "http://api.shop/anything", {"x-beta": "yes"}),
    ("admin post", "POST", "http://api.shop/admin/users", {"x-beta": "no"}),
    ("admin get (method unmatched)", "GET", "http://api.shop/admin/users", {"x-beta": "no"}),
    ("admin prefix unmatched", "POST", "http://api.shop/adminx", {"x-beta": "no"}),
    ("no header (unmatched)", "GET", "http://api.shop/", {}),
]
ROOT_PODS = {"api-v1-0", "api-v2-0", "api-v3-0"}  # the api root's own endpoints (round robin)
HEADER_EXPECTED: dict[str, dict[str, int]] = {  # what the SMI objects mean: pod -> share
    "web": {"web-v1-0": 80, "web-v2-0": 20},
    "beta header": {"api-v3-0": 1},
    "admin post": {"api-v2-0": 1},
    **{
        name: dict.fromkeys(ROOT_PODS, 1)
        for name in ("admin get (method unmatched)", "admin prefix unmatched", "no header (unmatched)")
    },
}
SPLITS = """
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: web, namespace: shop}
spec:
  service: web
  backends: [{service: web-v1, weight: 80}, {service: web-v2, weight: 20}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: beta, namespace: shop}
spec: {matches: [{name: beta, headers: [{x-beta: "yes"}]}]}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: admin, namespace: shop}
spec: {matches: [{name: admin, pathRegex: "/admin/.*", methods: [POST], headers: [{x-beta: "no"}]}]}
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: api-beta, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  service: api
  matches: [{kind: HTTPRouteGroup, name: beta}]
  backends: [{service: api-v3, weight: 1}]
---
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {name: api-admin, namespace: shop, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  service: api
  matches: [{kind: HTTPRouteGroup, name: admin}]
  backends: [{service: api-v2, weight: 1}]
"""


def _header_world(directory: Path) -> None:
    directory.mkdir(parents=True)
    write(
        directory / "client.yaml",
        f"""
    apiVersion: smimesh.io/v1alpha1
    kind: Workload
    metadata: {{name: client, namespace: shop, labels: {{app: client}}}}
    spec: {{serviceAccount: client, command: [{sys.executable}, {WORKLOAD}, serve]}}
    """,
    )
    for root, versions in (("web", ("v1", "v2")), ("api", ("v1", "v2", "v3"))):
        write(
            directory / f"{root}.yaml",
            f"""
        apiVersion: v1
        kind: Service
        metadata: {{name: {root}, namespace: shop}}
        spec: {{selector: {{app: {root}}}, ports: [{{name: http, port: 80, targetPort: http}}]}}
        ---
        apiVersion: specs.smi-spec.io/v1alpha4
        kind: HTTPRouteGroup
        metadata: {{name: all-{root}, namespace: shop}}
        spec: {{matches: [{{name: all, pathRegex: ".*", methods: ["*"]}}]}}
        ---
        apiVersion: access.smi-spec.io/v1alpha3
        kind: TrafficTarget
        metadata: {{name: client-to-{root}, namespace: shop}}
        spec:
          destination: {{kind: ServiceAccount, name: {root}}}
          rules: [{{kind: HTTPRouteGroup, name: all-{root}}}]
          sources: [{{kind: ServiceAccount, name: client}}]
        """,
        )
        for version in versions:
            write(directory / f"{root}-{version}.yaml", backend(f"{root}-{version}", version, app=root))
    (directory / "split.yaml").write_text(SPLITS)


# --- the bookstore demo ------------------------------------------------------------------------------------
BOOKS = "http://bookstore.bookstore/books"
BOOKSTORE_CASES: list[Case] = [
    ("books", "GET", BOOKS, {}),
    ("books by POST (denied)", "POST", BOOKS, {}),
    ("another path (denied)", "GET", "http://bookstore.bookstore/admin", {}),
]
BOOKSTORE_EXPECTED = {
    "books": {"bookstore-v1-0": 90, "bookstore-v2-0": 10},
    "books by POST (denied)": {"status 403": 1},
    "another path (denied)": {"status 403": 1},
}


def _bookstore(directory: Path) -> None:
    shutil.copytree(Path(demo.__file__).parent / "manifests", directory)


@dataclass(frozen=True)
class World:
    build: Callable[[Path], None]
    instances: int
    client: str  # the instance whose sidecar sends the test traffic
    cases: list[Case]
    expected: dict[str, dict[str, int]]  # case -> pod (or "status N") -> weight
    routes: list[str]  # the HTTPRoutes the export must give
    gone: str  # an Envoy route name only the TrafficSplits produce
    keep: str  # what split.yaml holds besides the splits (kept when the splits go)


WORLDS = {
    "bookstore demo": World(
        _bookstore,
        5,
        "buyer-0",
        BOOKSTORE_CASES,
        BOOKSTORE_EXPECTED,
        ["bookstore-80"],
        names.split_route("bookstore", "bookstore", "*"),
        "",
    ),
    "header matches": World(
        _header_world,
        6,
        "client-0",
        HEADER_CASES,
        HEADER_EXPECTED,
        ["api-80", "web-80"],
        names.split_route("shop", "api-beta", "beta"),
        "\n---\n".join(d for d in SPLITS.split("---") if "HTTPRouteGroup" in d),
    ),
}


def _sample_size(weights: dict[str, int]) -> int:
    if len(weights) == 1:
        return ONE_OUTCOME_SAMPLE
    return EQUAL_SAMPLE if len(set(weights.values())) == 1 else SAMPLE


def _run_cases(proxy: str, world: World) -> dict[str, Counter[str]]:
    """Per case: which pod answered, `_sample_size` times (a refused request counts as 'status <n>')."""
    result: dict[str, Counter[str]] = {}
    with httpx.Client(proxy=proxy, timeout=5) as client:
        for name, method, url, headers in world.cases:
            pods: Counter[str] = Counter()
            for _ in range(_sample_size(world.expected[name])):
                answer = client.request(method, url, headers=headers)
                pods[
                    answer.json()["pod"] if answer.status_code == 200 else f"status {answer.status_code}"
                ] += 1
            result[name] = pods
    return result


def _homogeneity_p(a: Counter[str], b: Counter[str]) -> float:
    """p of Pearson's chi-square test that two samples come from one distribution (2 x k table)."""
    keys = sorted(set(a) | set(b))
    total_a, total_b = sum(a.values()), sum(b.values())
    statistic = 0.0
    for key in keys:
        column = a[key] + b[key]
        for observed, total in ((a[key], total_a), (b[key], total_b)):
            expected = column * total / (total_a + total_b)
            statistic += (observed - expected) ** 2 / expected
    freedom = len(keys) - 1
    if freedom == 0:
        return 1.0
    if freedom == 1:
        return math.erfc(math.sqrt(statistic / 2))
    assert freedom == 2, keys
    return math.exp(-statistic / 2)


def _check_smi_meaning(world: World, results: dict[str, Counter[str]]) -> None:
    for name, pods in results.items():
        weights = world.expected[name]
        assert set(pods) <= set(weights), (name, pods)
        if len(weights) > 1:
            assert chi_square_p([pods[p] for p in weights], list(weights.values())) > 0.001, (name, pods)


def _more_requests(traffic: Traffic, mesh: Mesh, count: int = 5) -> None:
    seen = sum(traffic.statuses.values())
    eventually(lambda: sum(traffic.statuses.values()) >= seen + count, 30, what="more requests", mesh=mesh)


def _routes_in_force(mesh: Mesh, client: str, world: World) -> bool:
    config = httpx.get(f"http://{mesh.api}/api/v1/proxies/{client}/config?type=routes", timeout=5).text
    return all(r in config for r in world.routes) and world.gone not in config


@pytest.mark.parametrize("name", WORLDS)
def test_smi_and_exported_httproutes_route_every_request_alike(name: str, tmp_path: Path) -> None:
    world = WORLDS[name]
    world.build(tmp_path / "world")
    mesh = Mesh(tmp_path / "world", tmp_path / "run", tmp_path / "contexts.json").start()
    try:
        mesh.wait_ready(expected_instances=world.instances, timeout=120)
        _compare(mesh, world, tmp_path)
    finally:
        assert mesh.stop() == 0, mesh.output()[-3000:]


def _compare(mesh: Mesh, world: World, tmp_path: Path) -> None:
    proxy = mesh.proxy(world.client)
    with_smi = _run_cases(proxy, world)
    _check_smi_meaning(world, with_smi)

    report = tmp_path / "report.json"
    command = [sys.executable, "-m", "smimesh", "export", "--to", "gateway-api", "--from-mesh"]
    command += ["--api-addr", mesh.api, "--report", str(report)]  # what the running mesh holds
    export = subprocess.run(command, capture_output=True, text=True, timeout=120, env=mesh.env)
    assert export.returncode == 0, export.stderr
    findings = [f for e in json.loads(report.read_text())["entries"] for f in e["findings"]]
    # the only losses: the TrafficTargets (no Gateway API access control; they stay SMI here)
    assert {f["code"] for f in findings if f["kind"] == "loss"} == {"SM8002"}, findings
    routes = list(yaml.safe_load_all(export.stdout))
    assert sorted(r["metadata"]["name"] for r in routes) == world.routes

    first_url = world.cases[0][2]
    with Traffic(proxy, first_url) as during_switch:
        _more_requests(during_switch, mesh)  # traffic flows before the switch ...
        write(mesh.directory / "routes.yaml", export.stdout)  # both in force: the HTTPRoutes win (SM6022)
        eventually(
            lambda: "SM6022" in mesh.output(), 20, what="the TrafficSplit + HTTPRoute warning", mesh=mesh
        )
        write(mesh.directory / "split.yaml", world.keep)  # the splits go; what else the file held stays
        eventually(
            lambda: _routes_in_force(mesh, world.client, world), 20, what="the routes in force", mesh=mesh
        )
        _more_requests(during_switch, mesh)  # ... and after it
    assert set(during_switch.statuses) == {200}, during_switch.statuses

    with_routes = _run_cases(proxy, world)
    _check_smi_meaning(world, with_routes)
    for name, _, _, _ in world.cases:
        smi, gateway = with_smi[name], with_routes[name]
        assert set(smi) == set(gateway), (name, smi, gateway)
        assert _homogeneity_p(smi, gateway) > 0.001, (name, smi, gateway)
