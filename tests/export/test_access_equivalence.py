"""The exported access policy admits exactly what `smimesh explain` admits (table-driven, per target).

For Istio, Linkerd and Consul (which cannot run here), every scenario below is exported and evaluated
over a generated set of requests — every source identity × method × path × header value, plus TCP
connections — with the target's own evaluation rules (`smimesh.testing.target_semantics`, cited there and in
docs/migration.md), and compared with `mesh.access.evaluate_access`, the function `smimesh explain`
and the RBAC generator share. Where the export reports no loss the decisions must be identical; where
it reports one, the target may only admit less (a loss narrows, never widens), and the report must say
so. Every target must be exact on most scenarios, so the test cannot pass by reporting losses.
"""

from __future__ import annotations

import itertools

import pytest

from smimesh.export import Output, export
from smimesh.export.world import World
from smimesh.mesh.access import evaluate_access
from smimesh.mesh.model import Identity, ServiceKey
from smimesh.resources import load_text
from smimesh.testing.export_kit import hrg as kit_hrg
from smimesh.testing.export_kit import tt as kit_tt
from smimesh.testing.target_semantics import consul_admits, istio_admits, linkerd_admits

BASE = """
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec: {selector: {app: db}, ports: [{name: tcp-db, port: 5432, targetPort: 5432}]}
""" + "".join(
    f"""---
apiVersion: smimesh.io/v1alpha1
kind: Workload
metadata: {{name: {name}, namespace: shop, labels: {{app: {name}}}}}
spec: {{serviceAccount: {name}, command: [x], ports: [{{name: p, containerPort: {port}}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}-svc, namespace: shop}}
spec: {{selector: {{app: {name}}}, ports: [{{name: {kind}, port: {port}, targetPort: {port}}}]}}
"""
    for name, port, kind in (
        ("api", 8080, "http"),
        ("db", 5432, "tcp-db"),
        ("client", 9000, "http"),
        ("admin", 9000, "http"),
        ("other", 9000, "http"),
    )
)


def hrg(name: str, matches: str) -> str:
    return kit_hrg(name, matches, "shop")


def tt(name: str, dest: str, sources: list[str], rules: str) -> str:
    return kit_tt(name, dest, sources, rules, "shop")


HTTP = "[{kind: HTTPRouteGroup, name: %s}]"
SCENARIOS: dict[str, list[str]] = {
    "bookstore": [
        hrg(
            "r",
            "[{name: books, pathRegex: /books, methods: [GET]},"
            " {name: buy, pathRegex: /buy, methods: [POST], headers: [{x-user: alice}]}]",
        ),
        tt("t", "api", ["client"], HTTP % "r"),
    ],
    "exact and alternation": [
        hrg("r", "[{name: a, pathRegex: '/books$|/admin/.*', methods: [GET, DELETE]}]"),
        tt("t", "api", ["client", "admin"], HTTP % "r"),
    ],
    "everything for admin, a prefix for client": [
        hrg("all", "[{name: all, pathRegex: '.*', methods: ['*']}]"),
        hrg("books", "[{name: b, pathRegex: /books.*}]"),
        tt("a", "api", ["admin"], HTTP % "all"),
        tt("c", "api", ["client"], HTTP % "books"),
    ],
    "header prefix and presence": [
        hrg(
            "r",
            "[{name: p, pathRegex: /, headers: [{x-user: 'al.*'}]},"
            " {name: q, pathRegex: /admin, methods: [POST], headers: [{x-user: '.*'}]}]",
        ),
        tt("t", "api", ["client"], HTTP % "r"),
    ],
    "a regex Istio cannot say": [
        hrg("r", "[{name: n, pathRegex: '/books/[0-9]+$'}, {name: ok, pathRegex: /admin}]"),
        tt("t", "api", ["client"], HTTP % "r"),
    ],
    "tcp port": [
        "apiVersion: specs.smi-spec.io/v1alpha4\nkind: TCPRoute\n"
        "metadata: {name: pg, namespace: shop}\nspec: {matches: {ports: [5432]}}\n",
        tt("t", "db", ["client"], "[{kind: TCPRoute, name: pg}]"),
    ],
    "overlapping targets": [
        hrg("books", "[{name: b, pathRegex: /books}]"),
        hrg("b", "[{name: b, pathRegex: /b}]"),
        tt("t1", "api", ["client"], HTTP % "books"),
        tt("t2", "api", ["admin"], HTTP % "b"),
    ],
}
SOURCES = [Identity("shop", s) for s in ("client", "admin", "other")]
METHODS = ["GET", "POST", "DELETE"]
PATHS = ["/", "/books", "/books/12", "/books/x", "/booksX", "/b", "/admin", "/admin/x", "/buy"]
HEADERS: list[dict[str, str]] = [{}, {"x-user": "alice"}, {"x-user": "bob"}, {"x-user": ""}]
TARGETS = ("istio", "linkerd", "consul")


def _world(scenario: str) -> tuple[World, Output, Output, Output]:
    text = BASE + "---\n" + "---\n".join(SCENARIOS[scenario])
    snapshot = load_text(text, scenario).snapshot()
    outs = tuple(export(snapshot, target) for target in TARGETS)
    return World.build(snapshot), *outs  # type: ignore[return-value]


def _pods(world: World, key: ServiceKey) -> list[tuple[int, tuple[str, dict[str, str]]]]:
    service = world.model.services[key]
    labels = {p.identity: dict(p.labels) for p in world.pods}
    return [
        (e.container_port, ("shop", labels[e.identity])) for port in service.ports for e in port.endpoints
    ]


def _decide(
    target: str,
    out: Output,
    world: World,
    source: Identity,
    key: ServiceKey,
    method: str | None,
    path: str,
    headers: dict[str, str],
) -> bool:
    if target == "consul":
        pure, _ = world.services_of(source)
        name = pure[0].name if pure else None
        return consul_admits(out.objects, name, key.namespace, key.name, method, path, headers)
    identity = f"{source.service_account}.{source.namespace}.serviceaccount.identity.linkerd.cluster.local"
    return all(
        istio_admits(out.objects, source, "cluster.local", pod, port, method, path, headers)
        if target == "istio"
        else linkerd_admits(out.objects, identity, pod, port, method, path, headers)
        for port, pod in _pods(world, key)
    )


def _requests() -> list[tuple[Identity, ServiceKey, int, str | None, str, dict[str, str]]]:
    http = [
        (s, ServiceKey("shop", "api"), 80, m, p, h)
        for s, m, p, h in itertools.product(SOURCES, METHODS, PATHS, HEADERS)
    ]
    tcp = [(s, ServiceKey("shop", "db"), 5432, None, "/", {}) for s in SOURCES]
    return [*http, *tcp]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_exported_policy_admits_what_explain_admits(scenario: str) -> None:
    world, *outs = _world(scenario)
    for target, out in zip(TARGETS, outs, strict=True):
        lossy = any(d.severity.value == "warning" for d in out.findings)
        wider, narrower = [], []
        for source, key, port, method, path, headers in _requests():
            smi = evaluate_access(world.model, source, key, port, method, path, headers).allowed
            got = _decide(target, out, world, source, key, method, path, headers)
            if got and not smi:
                wider.append((source, method, path, headers))
            elif smi and not got:
                narrower.append((source, method, path, headers))
        assert not wider, (target, scenario, wider[:5])
        assert lossy or not narrower, (target, scenario, narrower[:5])


# Where a target cannot say what SMI says (the report's losses), and nowhere else.
EXPECTED_LOSSES = {
    ("istio", "header prefix and presence"),  # `.*` -> presence `*`, which refuses an empty value
    ("istio", "a regex Istio cannot say"),  # no regex in Istio authorization: the match is left out
    ("linkerd", "overlapping targets"),  # one route authorizes a request
}


def test_losses_are_reported_exactly_where_a_target_differs() -> None:
    for scenario in SCENARIOS:
        world, *outs = _world(scenario)
        for target, out in zip(TARGETS, outs, strict=True):
            lossy = any(d.severity.value == "warning" for d in out.findings)
            differs = any(
                _decide(target, out, world, s, k, m, path, h)
                != evaluate_access(world.model, s, k, p, m, path, h).allowed
                for s, k, p, m, path, h in _requests()
            )
            assert lossy == differs == ((target, scenario) in EXPECTED_LOSSES), (
                target,
                scenario,
                lossy,
                differs,
            )


def test_most_scenarios_are_exact_on_every_target() -> None:
    exact = dict.fromkeys(TARGETS, 0)
    for scenario in SCENARIOS:
        _, *outs = _world(scenario)
        for target, out in zip(TARGETS, outs, strict=True):
            exact[target] += not any(d.severity.value == "warning" for d in out.findings)
    assert all(count >= len(SCENARIOS) - 3 for count in exact.values()), exact


def test_the_cases_exercise_both_verdicts() -> None:
    world, *_ = _world("bookstore")
    verdicts = {
        evaluate_access(world.model, s, k, p, m, path, h).allowed for s, k, p, m, path, h in _requests()
    }
    assert verdicts == {True, False}
