"""Ablation of the data plane: the static mTLS pair plus one part of what smimesh generates, by name.

    static-envoy-mtls+rbac              the pair with the server's RBAC filter and per-route policy
    static-envoy-mtls+rbac+admit        ... the per-match route admitting its caller, RBAC off on it
    static-envoy-mtls+rbac+route-stats  ... with the per-match route's stats as generated before issue 10
    static-envoy-mtls+rbac+in-log       ... and the server's two request/denial logs
    static-envoy-mtls+all               every part below: a static replica of smimesh's two sidecars

Each part copies, as JSON, exactly what a live `smimesh up` sidecar carries (its /config_dump for the
benchmark's mesh: `bench/dataplane/mesh_path.py`), so an A/B of the pair against the pair + one part
(`python -m bench.ab_dataplane --paths direct,static-envoy-mtls,static-envoy-mtls+rbac`) prices that
part alone, under the same noise. What is left between the replica (`+all`) and `smimesh` is what a
static config cannot show (SDS, EDS, ADS, the control plane's stats scrape: `+scrape` emulates the
latter with the same request every second).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from google.protobuf import json_format

from bench.dataplane import certs, procs, static_envoy
from bench.dataplane.paths import START_TIMEOUT_S, Target, _start_envoys, backend
from smimesh.telemetry.scrape import STAT_FILTER
from smimesh.testing.net import free_port, wait_for_port
from smimesh.xds import access_log

PREFIX = "static-envoy-mtls+"
AL = "type.googleapis.com/envoy.extensions.access_loggers."
RBAC = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3."
_RBAC_META = "%DYNAMIC_METADATA(envoy.filters.http.rbac:"


@dataclass
class Pair:
    """The two bootstraps and the extra Envoy flags a part may change, and a scrape to emulate."""

    client: dict[str, Any]
    server: dict[str, Any]
    flags: list[str] = field(default_factory=list)
    scrape: bool = False

    def manager(self, role: str) -> dict[str, Any]:
        config = self.client if role == "client" else self.server
        chain = config["static_resources"]["listeners"][0]["filter_chains"][0]
        return dict(chain["filters"][0]["typed_config"])


def _set_manager(pair: Pair, role: str, manager: dict[str, Any]) -> None:
    config = pair.client if role == "client" else pair.server
    config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"] = manager


def _generated_log(direction: str, port_name: str = "") -> dict[str, Any]:
    """The request log smimesh generates for an HTTP connection manager, as JSON."""
    log = access_log.request_log(direction, port_name)
    return json_format.MessageToDict(log, preserving_proto_field_name=True)


def _denied(key: str) -> dict[str, Any]:
    matcher = {
        "filter": "envoy.filters.http.rbac",
        "path": [{"key": key}],
        "value": {"string_match": {"exact": "denied"}},
    }
    return {"metadata_filter": {"matcher": matcher, "match_if_key_not_found": False}}


def _denial_line(filters: list[dict[str, Any]], text: str) -> dict[str, Any]:
    return {
        "name": "envoy.access_loggers.stdout",
        "filter": {"or_filter": {"filters": filters}},
        "typed_config": {
            "@type": AL + "stream.v3.StdoutAccessLog",
            "log_format": {"text_format_source": {"inline_string": text}},
        },
    }


def out_log(pair: Pair) -> None:
    """The client's always-on outbound log as smimesh generates it (tap, or the caller's own denial)."""
    manager = pair.manager("client")
    manager["access_log"] = [_generated_log(access_log.OUTBOUND)]
    _set_manager(pair, "client", manager)


def out_log_cel(pair: Pair) -> None:
    """The same log as before issue 10's fix: the CEL expression asked on every request."""
    log = _generated_log(access_log.OUTBOUND)
    tapped, gated = log["filter"]["or_filter"]["filters"]
    log["filter"]["or_filter"]["filters"] = [tapped, gated["and_filter"]["filters"][-1]]
    manager = pair.manager("client")
    manager["access_log"] = [log]
    _set_manager(pair, "client", manager)


def out_routes(pair: Pair) -> None:
    """The client's HTTP_PROXY listener: codec AUTO, absolute URLs, named domains, a 403 catch-all."""
    manager = pair.manager("client")
    manager.pop("codec_type")
    manager["http_protocol_options"] = {"allow_absolute_url": True}
    names = ["web", "web.bench", "web.bench.svc", "web.bench.svc.cluster.local"]
    named = {
        "name": "bench|web|80",
        "domains": ["backend", *names, *(f"{n}:80" for n in names)],
        "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "server"}, "name": "default"}],
    }
    deny = {
        "status": 403,
        "body_format": {"text_format_source": {"inline_string": "denied %REQ(:AUTHORITY)%\n"}},
    }
    catch_all = {
        "name": "unknown_host",
        "domains": ["*"],
        "routes": [{"match": {"prefix": "/"}, "direct_response": deny, "name": "unknown_host"}],
    }
    manager["route_config"] = {"name": "outbound_http", "virtual_hosts": [named, catch_all]}
    _set_manager(pair, "client", manager)


_ROUTE = "HTTPRouteGroup/bench/everything#all"
_ROUTE_CLUSTER = "backend-r"  # stands for `local_app|http|<route>`: the per-match copy of the app cluster


def rbac(pair: Pair) -> None:
    """The server's RBAC: deny-all filter, the policy per route, the per-match route to its own cluster."""
    policy = {
        "permissions": [{"url_path": {"path": {"safe_regex": {"regex": "(?:.*).*"}}}}],
        "principals": [{"authenticated": {"principal_name": {"exact": certs.spiffe_uri("client")}}}],
    }
    per_route = {
        "@type": RBAC + "RBACPerRoute",
        "rbac": {"rules": {"policies": {"TrafficTarget/bench/client-to-web": policy}}},
    }
    routes = [
        {
            "match": {"safe_regex": {"regex": "(?:.*).*"}},
            "route": {"cluster": _ROUTE_CLUSTER},
            "name": _ROUTE,
        },
        {"match": {"prefix": "/"}, "route": {"cluster": "backend"}, "name": "app"},
    ]
    vhost = {
        "name": "inbound|http",
        "domains": ["*"],
        "routes": routes,
        "typed_per_filter_config": {"envoy.filters.http.rbac": per_route},
    }
    manager = pair.manager("server")
    manager["stat_prefix"] = "inbound_http"
    manager["route_config"] = {"name": "inbound|http", "virtual_hosts": [vhost]}
    deny_all = {"name": "envoy.filters.http.rbac", "typed_config": {"@type": RBAC + "RBAC", "rules": {}}}
    manager["http_filters"] = [deny_all, *manager["http_filters"]]
    _set_manager(pair, "server", manager)
    clusters = pair.server["static_resources"]["clusters"]
    copy = json.loads(json.dumps(next(c for c in clusters if c["name"] == "backend")))
    copy["name"] = copy["load_assignment"]["cluster_name"] = _ROUTE_CLUSTER
    clusters.append(copy)


def _edit_vhost(pair: Pair, edit: Callable[[dict[str, Any]], None]) -> None:
    """Apply `edit` to the server's one virtual host (after `rbac`: `static-envoy-mtls+rbac+<edit>`)."""
    manager = pair.manager("server")
    vhost = json.loads(json.dumps(manager["route_config"]["virtual_hosts"][0]))
    edit(vhost)
    manager["route_config"] = {"name": "inbound|http", "virtual_hosts": [vhost]}
    _set_manager(pair, "server", manager)


def admit(pair: Pair) -> None:
    """After `rbac`: the per-match route admits the caller by the XFCC the server sets from its
    certificate and turns RBAC off on itself, as generated since 2026-12-05 (xds/route_stats.py)."""
    manager = pair.manager("server")
    manager["forward_client_cert_details"] = "SANITIZE_SET"
    manager["set_current_client_cert_details"] = {"uri": True}
    _set_manager(pair, "server", manager)
    caller = {"suffix": ";URI=" + certs.spiffe_uri("client")}
    rbac_off = {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig", "disabled": True}

    def edit(vhost: dict[str, Any]) -> None:
        route = vhost["routes"][0]
        route["match"]["headers"] = [{"name": "x-forwarded-client-cert", "string_match": caller}]
        route["typed_per_filter_config"] = {"envoy.filters.http.rbac": rbac_off}
        vhost["request_headers_to_remove"] = ["x-forwarded-client-cert"]

    _edit_vhost(pair, edit)


def _per_route_rbac(vhost: dict[str, Any]) -> dict[str, Any]:
    rules: dict[str, Any] = vhost["typed_per_filter_config"]["envoy.filters.http.rbac"]["rbac"]
    return rules  # the vhost's own (edited in place)


def rbac_any(pair: Pair) -> None:
    """The policy's permission `any` instead of a path regex `.*` (what it means)."""

    def edit(vhost: dict[str, Any]) -> None:
        for policy in _per_route_rbac(vhost)["rules"]["policies"].values():
            policy["permissions"] = [{"any": True}]

    _edit_vhost(pair, edit)


def rule_stats(pair: Pair) -> None:
    """With `track_per_rule_stats` (a counter per policy), as generated before issue 10 dropped it."""
    _edit_vhost(pair, lambda v: _per_route_rbac(v).update(track_per_rule_stats=True))


def route_stats(pair: Pair) -> None:
    """The per-match route counted by its `stat_prefix` on the app cluster, as before issue 10."""
    _edit_vhost(pair, lambda v: v["routes"][0].update(stat_prefix=_ROUTE, route={"cluster": "backend"}))


def route_prefix(pair: Pair) -> None:
    """The per-match route matching prefix `/` instead of the regex `.*` (what it means)."""
    _edit_vhost(pair, lambda v: v["routes"][0].update(match={"prefix": "/"}))


def in_log(pair: Pair) -> None:
    """The server's request log (tap, or a denial) and its denial line, and the 403 body mapper."""
    denial = (
        "smimesh rbac: result=" + _RBAC_META + "enforced_engine_result)% peer=%DOWNSTREAM_PEER_URI_SAN%\n"
    )
    shadow = _denied("audit.shadow_engine_result")
    manager = pair.manager("server")
    manager["access_log"] = [
        _generated_log(access_log.INBOUND, "http"),
        _denial_line([_denied("enforced_engine_result"), shadow], denial),
    ]
    is_403 = {
        "status_code_filter": {
            "comparison": {"value": {"default_value": 403, "runtime_key": "smimesh.denied_status"}}
        }
    }
    body = {"content_type": "text/plain", "text_format_source": {"inline_string": "smimesh: access denied\n"}}
    manager["local_reply_config"] = {"mappers": [{"filter": is_403, "body_format_override": body}]}
    _set_manager(pair, "server", manager)


def flush_1s(pair: Pair) -> None:
    """Stats flushed every second (smimesh's scrape interval) instead of Envoy's 5 s."""
    for config in (pair.client, pair.server):
        config["stats_flush_interval"] = "1s"


def runtime(pair: Pair) -> None:
    """The layered runtime with an admin layer (`smimesh tap`) and the connection limit."""
    static = {"overload": {"global_downstream_max_connections": 50000}}
    layers = [{"name": "static", "static_layer": static}, {"name": "admin", "admin_layer": {}}]
    for config in (pair.client, pair.server):
        config["layered_runtime"] = {"layers": layers}


def flags(pair: Pair) -> None:
    """smimesh's Envoy flags: 1 s drain, access-log files flushed every 200 ms."""
    pair.flags += ["--drain-time-s", "1", "--file-flush-interval-msec", "200"]


def scrape(pair: Pair) -> None:
    """The control plane's stats scrape: the same filtered request to each admin every second."""
    pair.scrape = True


PARTS: dict[str, Callable[[Pair], None]] = {
    "out-log": out_log,
    "out-log-cel": out_log_cel,
    "out-routes": out_routes,
    "rbac": rbac,
    "admit": admit,
    "rbac-any": rbac_any,
    "rule-stats": rule_stats,
    "route-stats": route_stats,
    "route-prefix": route_prefix,
    "in-log": in_log,
    "flush-1s": flush_1s,
    "runtime": runtime,
    "flags": flags,
    "scrape": scrape,
}


# `all`: a static replica of the two sidecars
REPLICA = ("out-log", "out-routes", "rbac", "admit", "in-log", "flush-1s", "runtime", "flags", "scrape")


def parts_of(name: str) -> list[str]:
    """`static-envoy-mtls+a+b` -> ["a", "b"] (`all`: every part); a KeyError names an unknown part."""
    chosen = name.removeprefix(PREFIX).split("+")
    chosen = list(REPLICA) if chosen == ["all"] else chosen
    for part in chosen:
        if part not in PARTS:
            raise KeyError(f"unknown part {part!r} (known: {', '.join(PARTS)}, all)")
    return chosen


@contextmanager
def _scraping(admins: list[int], every_s: float = 1.0) -> Iterator[None]:
    stop = threading.Event()
    params = {"format": "json", "filter": STAT_FILTER, "histogram_buckets": "detailed", "usedonly": ""}

    def loop() -> None:
        with httpx.Client(timeout=2) as client:
            while not stop.wait(every_s):
                for port in admins:
                    client.get(f"http://127.0.0.1:{port}/stats", params=params)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@contextmanager
def ablated_pair(name: str, where: procs.Placement, work: Path) -> Iterator[Target]:
    """The static mTLS pair with the named parts of smimesh's config added (see the module doc)."""
    ca, client_leaf, server_leaf = certs.issue_pair()
    with backend(where, work) as backend_port:
        ports = {k: free_port() for k in ("client_listen", "client_admin", "server_listen", "server_admin")}
        ports["backend"] = backend_port
        pair = Pair(
            static_envoy.client_bootstrap(ports, ca, client_leaf),
            static_envoy.server_bootstrap(ports, ca, server_leaf),
        )
        for part in parts_of(name):
            PARTS[part](pair)
        started = _start_envoys({"server": pair.server, "client": pair.client}, where, work, name, pair.flags)
        try:
            for role in ("server", "client"):
                wait_for_port(ports[f"{role}_listen"], timeout=START_TIMEOUT_S)
            admins = [ports["client_admin"], ports["server_admin"]] if pair.scrape else []
            with _scraping(admins) if admins else contextlib.nullcontext():
                proxies = {role: p.pid for role, p in started.items()}
                yield Target(name, "127.0.0.1", ports["client_listen"], "web.bench", proxies)
        finally:
            for process in started.values():
                procs.stop(process)
