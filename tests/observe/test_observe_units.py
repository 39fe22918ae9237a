"""The pure parts of observing: request log lines, tailing, tap filters and queues, observations,
per-match routes, and `suggest` (exactly the calls seen, nothing wider)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from envoy.config.route.v3 import route_components_pb2 as rc

from smimesh.mesh.model import HttpMatch, Identity, Protocol
from smimesh.mesh.suggest import ObservedCall, suggest
from smimesh.telemetry.edges import (
    AUDITED,
    DENIED,
    ROUTE,
    Reading,
    Series,
    readings_from_sample,
    route_series,
)
from smimesh.telemetry.observations import Observations
from smimesh.telemetry.requests import LogTail, parse_line
from smimesh.telemetry.scrape import StatsSample
from smimesh.telemetry.tap import Subscription, TapFilter
from smimesh.xds.rbac import AccessRule, InboundAccess
from smimesh.xds.route_stats import per_match_routes

IN_LINE = json.dumps({
    "smimesh_request": "in", "port": "http", "start": "1700000000.250", "method": "GET",
    "path": "/books/1?x=2", "authority": "web.shop", "status": 403, "ms": 3, "peer": "spiffe://cluster.local/ns/shop/sa/thief",
    "route": "HTTPRouteGroup/shop/r#books", "cluster": "local_app|http", "flags": "-", "rbac": "denied",
    "audit": None,
})  # fmt: skip
OUT_LINE = json.dumps({
    "smimesh_request": "out", "port": "", "start": "1700000000.5", "method": "GET", "path": "/",
    "authority": "web.shop", "status": 200, "ms": 2, "peer": "spiffe://cluster.local/ns/shop/sa/web",
    "route": "split|shop|web|*", "cluster": "outbound|shop|web-v2|80", "rbac": None, "audit": None,
})  # fmt: skip


def test_request_lines_parse_and_other_lines_do_not() -> None:
    inbound = parse_line("web-v1-0.shop", IN_LINE)
    assert inbound is not None
    assert (inbound.direction, inbound.status, inbound.verdict, inbound.peer) == (
        "inbound",
        403,
        "denied",
        "spiffe://cluster.local/ns/shop/sa/thief",
    )
    outbound = parse_line("caller-0.shop", OUT_LINE)
    assert outbound is not None and (outbound.backend, outbound.verdict) == ("shop/web-v2", "")
    assert parse_line("x", "[2026-12-04][warning] smimesh_request is not json") is None
    assert parse_line("x", "smimesh rbac: inbound_http result=denied") is None


def test_a_tail_starts_at_the_end_keeps_partial_lines_and_follows_a_replaced_file(tmp_path: Path) -> None:
    log = tmp_path / "a.envoy.log"
    log.write_text(IN_LINE + "\n")
    tail = LogTail()
    assert tail.read({"n": log}) == []  # history is not replayed
    with log.open("a") as handle:
        handle.write("envoy says hi\n" + OUT_LINE[:20])
    assert tail.read({"n": log}) == []
    with log.open("a") as handle:
        handle.write(OUT_LINE[20:] + "\n")
    assert [e.direction for e in tail.read({"n": log})] == ["outbound"]
    log.write_text(IN_LINE + "\n")  # replaced by a shorter file: read from its start
    assert [e.direction for e in tail.read({"n": log})] == ["inbound"]


def test_tap_filters_and_a_slow_listener_loses_old_events_not_memory() -> None:
    outbound = parse_line("caller-0.shop", OUT_LINE)
    assert outbound is not None
    who = ("shop", "caller")
    assert TapFilter("shop", "caller").accepts(outbound, who)
    assert not TapFilter("shop", "other").accepts(outbound, who)
    assert TapFilter("shop", "caller", to="web").accepts(outbound, who)
    assert TapFilter("shop", "caller", to="web-v2.shop").accepts(outbound, who)  # the backend
    assert not TapFilter("shop", "caller", to="db").accepts(outbound, who)
    assert not TapFilter("shop", "caller", path=re.compile("^/books")).accepts(outbound, who)

    async def overflow() -> tuple[int, int]:
        subscription = Subscription(TapFilter("shop", "caller"), max_queue=3)
        for _ in range(5):
            subscription.put(outbound)
        return len(await subscription.take(0.1)), subscription.dropped

    assert asyncio.run(overflow()) == (3, 2)


def test_observations_are_bounded_and_windowed() -> None:
    event = parse_line("web-v1-0.shop", IN_LINE)
    assert event is not None
    store = Observations(max_calls=2)
    store.add([event, event])
    seen = store.seen(60, event.time + 1)
    assert list(seen.values()) == [2] and next(iter(seen)).path == "/books/1"
    assert store.seen(60, event.time + 3600) == {}
    for n in range(5):
        store.add([parse_line("web-v1-0.shop", IN_LINE.replace("/books/1", f"/p{n}"))])  # type: ignore[list-item]
    assert len(store.seen(60, event.time + 1)) == 2


def test_route_and_rbac_stats_become_their_own_series() -> None:
    series, what = route_series(
        "w-0.shop", "cluster.local_app|http|HTTPRouteGroup/shop/r%2Ev1#a%2Eb.upstream_rq_2xx"
    )  # type: ignore[misc]
    assert (series.direction, series.target, what) == (ROUTE, "http|HTTPRouteGroup/shop/r.v1#a.b", "2xx")
    plain = readings_from_sample(
        "w-0.shop", StatsSample({"cluster.local_app|http|HTTPRouteGroup/s/r#a.upstream_rq_5xx": 2})
    )
    assert plain == {
        Series(ROUTE, "w-0.shop", "http|HTTPRouteGroup/s/r#a"): Reading(failure=2, classes={"5xx": 2})
    }
    assert route_series("w-0.shop", "cluster.local_app|http.upstream_rq_2xx") is None  # the app route's own
    # Envoy's per-cluster `external.`/`internal.` copies are not the route's figures (counted twice)
    assert (
        route_series("w-0.shop", "cluster.local_app|http|HTTPRouteGroup/s/r#a.external.upstream_rq_2xx")
        is None
    )
    assert route_series("w-0.shop", "http.inbound_http.rbac.denied")[0].direction == DENIED  # type: ignore[index]
    assert route_series("w-0.shop", "inbound_db.rbac.denied")[0].target == "db"  # type: ignore[index]
    refused = route_series("w-0.shop", "listener.inbound_db.ssl.fail_verify_san")  # at the handshake
    assert refused is not None and (refused[0].direction, refused[0].target) == (DENIED, "db")
    assert route_series("w-0.shop", "http.inbound_http.rbac.audit.shadow_denied")[0].direction == AUDITED  # type: ignore[index]
    assert route_series("w-0.shop", "vhost.inbound|http.route.HTTPRouteGroup/s/r#a.upstream_rq_2xx") is None


def test_one_counted_route_per_match_then_the_app_route() -> None:
    books = HttpMatch("books", path_regex="/books", methods=("GET", "HEAD"))
    tagged = HttpMatch("tagged", headers=(("host", "web.*"),))
    access = InboundAccess(
        "http",
        Protocol.HTTP,
        (AccessRule("TrafficTarget/shop/t", ("spiffe://x",), (books, tagged), ("r", "r")),),
    )
    app = rc.Route(
        name="app", match=rc.RouteMatch(prefix="/"), route=rc.RouteAction(cluster="local_app|http")
    )
    routes = per_match_routes(app, access)
    assert [r.name for r in routes] == ["HTTPRouteGroup/shop/r#books", "HTTPRouteGroup/shop/r#tagged", "app"]
    # no stat_prefix (Envoy would build its stat names per request): counted by its own cluster instead
    assert (
        not routes[0].stat_prefix and routes[0].route.cluster == "local_app|http|HTTPRouteGroup/shop/r#books"
    )
    assert routes[2].route.cluster == "local_app|http"
    assert routes[0].match.safe_regex.regex == "(?:/books).*"
    assert routes[0].match.headers[0].string_match.safe_regex.regex == "(?:GET|HEAD)"
    assert routes[1].match.headers[0].name == ":authority"


def test_suggest_allows_each_source_exactly_what_it_did() -> None:
    web, a, b = Identity("shop", "web"), Identity("shop", "a"), Identity("other", "b")
    calls = [
        ObservedCall(a, web, "GET", "/books/1?x=1"),
        ObservedCall(a, web, "POST", "/books/1"),
        ObservedCall(b, web, "GET", "/health"),
        ObservedCall(a, Identity("shop", "db"), "GET", "/"),
    ]
    documents = suggest(calls)
    kinds = [(d["kind"], d["metadata"]["name"]) for d in documents]
    assert kinds == [
        ("HTTPRouteGroup", "observed-db"),
        ("TrafficTarget", "observed-a-to-db"),
        ("HTTPRouteGroup", "observed-web"),
        ("TrafficTarget", "observed-b-to-web"),  # sources in identity order: other/b before shop/a
        ("TrafficTarget", "observed-a-to-web"),
    ]
    group = {m["pathRegex"]: m for m in documents[2]["spec"]["matches"]}
    assert {p: m["methods"] for p, m in group.items()} == {"/books/1$": ["GET", "POST"], "/health$": ["GET"]}
    b_rule, a_rule = documents[3]["spec"]["rules"][0], documents[4]["spec"]["rules"][0]
    assert a_rule["matches"] == [group["/books/1$"]["name"]] and b_rule["matches"] == [
        group["/health$"]["name"]
    ]
    assert documents[3]["spec"]["sources"] == [{"kind": "ServiceAccount", "name": "b", "namespace": "other"}]


def test_suggest_keeps_tcp_apart_one_route_per_port_set() -> None:
    db, a, b = Identity("shop", "db"), Identity("shop", "a"), Identity("shop", "b")
    calls = [
        ObservedCall(a, db, "", "", 5432, "tcp"),
        ObservedCall(b, db, "", "", 5432, "tcp"),
        ObservedCall(b, db, "", "", 9187, "tcp"),
        ObservedCall(a, db, "GET", "/metrics"),
    ]
    documents = suggest(calls)
    routes = {d["metadata"]["name"]: d["spec"] for d in documents if d["kind"] == "TCPRoute"}
    assert routes == {
        "observed-db-tcp-5432": {"matches": {"ports": [5432]}},
        "observed-db-tcp-5432-9187": {"matches": {"ports": [5432, 9187]}},
    }
    targets = [d["spec"] for d in documents if d["kind"] == "TrafficTarget"]
    assert all(len({r["kind"] for r in t["rules"]}) == 1 for t in targets)  # never TCP beside HTTP rules
    tcp_a = next(t for t in targets if t["rules"][0]["name"] == "observed-db-tcp-5432")
    assert [s["name"] for s in tcp_a["sources"]] == ["a"]


DENIED_OUT_LINE = json.dumps({
    "smimesh_request": "out", "port": "", "start": "1700000001.0", "method": "GET", "path": "/books?x=1",
    "authority": "bookstore.bookstore", "status": 403, "ms": 0, "peer": None, "route": "unknown_host",
    "cluster": None, "rbac": None, "audit": None,
})  # fmt: skip


def test_a_denial_at_the_caller_is_attributed_to_the_service_its_host_names() -> None:
    """The thief's own sidecar answered 403: the denial counts on the edge thief -> bookstore, at
    the first endpoint instance of the service port it asked for (where it would have gone)."""
    from smimesh.telemetry.caller_denials import attribute
    from smimesh.telemetry.observations import caller_denials
    from smimesh.testing.bookstore import bookstore_model

    model = bookstore_model()
    event = parse_line("thief-0.bookstore", DENIED_OUT_LINE)
    assert event is not None and (event.direction, event.verdict, event.status) == ("outbound", "denied", 403)
    described, call = attribute(model, event)
    assert described.backend == "bookstore/bookstore" and call is not None
    assert (call.source, call.verdict, call.at_caller, call.path) == (
        "spiffe://cluster.local/ns/bookstore/sa/thief", "denied", True, "/books",
    )  # fmt: skip
    destination = model.instances[call.node_id]
    assert destination.workload.startswith("bookstore-v") and call.port in {
        p.name for p in destination.inbound
    }
    observations = Observations()
    observations.add([described])  # an outbound event is not an inbound call
    observations.add_call(call, described.time)
    assert caller_denials(observations.seen(60, described.time + 1)) == {call.node_id: 1.0}
    # a host that names no mesh service: nothing to attribute it to
    elsewhere = parse_line("thief-0.bookstore", DENIED_OUT_LINE.replace("bookstore.bookstore", "example.com"))
    assert elsewhere is not None and attribute(model, elsewhere) == (elsewhere, None)
    allowed = parse_line("caller-0.shop", OUT_LINE)
    assert allowed is not None and attribute(model, allowed) == (allowed, None)


def test_a_tcp_connection_refused_at_the_caller_is_attributed_to_its_service_port() -> None:
    from smimesh.telemetry.caller_denials import attribute
    from smimesh.testing.bookstore_edges import edge_model

    model = edge_model("tcp_ports")
    caller = next(n for n, i in model.instances.items() if i.workload == "buyer")
    (key,) = [k for k, s in model.services.items() if any(p.protocol.value == "tcp" for p in s.ports)][:1]
    port = next(p for p in model.services[key].ports if p.protocol.value == "tcp")
    line = json.dumps({"smimesh_request": "tcp_denied", "service": str(key), "port": str(port.port),
                       "start": "1700000002.0", "ms": 0, "flags": "UH"})  # fmt: skip
    event = parse_line(caller, line)
    assert event is not None and (event.direction, event.protocol, event.verdict) == (
        "outbound",
        "tcp",
        "denied",
    )
    described, call = attribute(model, event)
    assert described.backend == str(key) and call is not None and call.at_caller
    assert (call.method, call.path, call.verdict) == ("", "", "denied")
    assert call.port in {p.name for p in model.instances[call.node_id].inbound}
