"""`smimesh proxy-config WORKLOAD|INSTANCE [--type T] [-o json|yaml]`: a sidecar's config as Envoy holds it.

The control plane reads the sidecar's Envoy admin `/config_dump`. The default output is a table of
the names in it (the bootstrap's node and admin address, listeners, routes with their domains and
each route's match and clusters with their split weights, clusters, endpoints with addresses,
secrets); `--type bootstrap` prints the bootstrap the sidecar started with as YAML (without the
build details Envoy adds); `-o json|yaml` prints the config_dump sections themselves.
In a cluster (`--kubeconfig`/`--context`) NAME is a pod (in `-n` or the context's namespace), whose
admin, on the pod's loopback, is read through the API server's `pods/portforward` as istioctl does
(`cli/_cluster_sidecars.py`): the user needs `get` on `pods` and `create` on `pods/portforward`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import click

from smimesh.cli import numbers
from smimesh.cli._client import client_options, emit, open_client, table
from smimesh.cli._cluster import cluster_options, context_namespace, wanted
from smimesh.cli._cluster_sidecars import PodSidecars
from smimesh.sources.kubernetes.kubeconfig import load_cluster

TYPES = ["listeners", "routes", "clusters", "endpoints", "secrets", "bootstrap"]


def _address(socket: dict[str, Any]) -> str:
    address = socket.get("socket_address", {})
    return f"{address.get('address', '')}:{address.get('port_value', '')}"


def _listeners(section: dict[str, Any]) -> Iterator[list[str]]:
    for entry in section.get("static_listeners", []):
        listener = entry.get("listener", {})
        yield ["listener", listener.get("name", ""), _address(listener.get("address", {})), "static"]
    for entry in section.get("dynamic_listeners", []):
        listener = (entry.get("active_state") or {}).get("listener", {})
        state = "active" if entry.get("active_state") else "warming/error"
        where = _address(listener.get("address", {}))
        yield ["listener", entry.get("name", ""), where, state + _error(entry)]


def _routes(section: dict[str, Any]) -> Iterator[list[str]]:
    """A row per virtual host (its domains), then a row per route: match → cluster(s), with split weights."""
    for entry in section.get("dynamic_route_configs", []):
        config = entry.get("route_config", {})
        for host in config.get("virtual_hosts", []):
            domains = ",".join(host.get("domains", []))
            yield ["route", f"{config.get('name', '')}/{host.get('name', '')}", domains, ""]
            for route in host.get("routes", []):
                where = f"{_match(route.get('match', {}))} → {_target(route)}"
                yield ["", f"  {route.get('name', '')}", where, ""]


def _match(match: dict[str, Any]) -> str:
    for key in ("prefix", "path", "path_separated_prefix"):
        if key in match:
            text = f"{key} {match[key]}"
            break
    else:
        regex = (match.get("safe_regex") or {}).get("regex")
        text = f"regex {regex}" if regex is not None else "any"
    headers = [h.get("name", "") for h in match.get("headers", [])]
    return text + (f" + headers {','.join(headers)}" if headers else "")


def _target(route: dict[str, Any]) -> str:
    action = route.get("route") or {}
    if "weighted_clusters" in action:
        clusters = action["weighted_clusters"].get("clusters", [])
        total = sum(int(c.get("weight", 0)) for c in clusters) or 1
        weights = [(c.get("name", ""), int(c.get("weight", 0))) for c in clusters]
        return ", ".join(f"{name} weight {w} ({numbers.percent(w / total)})" for name, w in weights)
    if "cluster" in action:
        return str(action["cluster"])
    if "direct_response" in route:
        return f"answer {route['direct_response'].get('status', '')}"
    return "redirect" if "redirect" in route else "-"


def _clusters(section: dict[str, Any]) -> Iterator[list[str]]:
    for key, state in (("static_clusters", "static"), ("dynamic_active_clusters", "active")):
        for entry in section.get(key, []):
            cluster = entry.get("cluster", {})
            yield ["cluster", cluster.get("name", ""), cluster.get("type", "EDS"), state]


def _endpoints(section: dict[str, Any]) -> Iterator[list[str]]:
    for key in ("static_endpoint_configs", "dynamic_endpoint_configs"):
        for entry in section.get(key, []):
            config = entry.get("endpoint_config", {})
            for group in config.get("endpoints", []):
                for endpoint in group.get("lb_endpoints", []):
                    where = _address(endpoint.get("endpoint", {}).get("address", {}))
                    status = endpoint.get("health_status", "")
                    yield ["endpoint", config.get("cluster_name", ""), where, status]


def _secrets(section: dict[str, Any]) -> Iterator[list[str]]:
    for entry in section.get("dynamic_active_secrets", []):
        yield ["secret", entry.get("name", ""), "", entry.get("version_info", "")]


def _error(entry: dict[str, Any]) -> str:
    details = (entry.get("error_state") or {}).get("details")
    return f" ({details})" if details else ""


def _bootstrap(section: dict[str, Any]) -> Iterator[list[str]]:
    bootstrap = section.get("bootstrap", {})
    ads = (bootstrap.get("dynamic_resources") or {}).get("ads_config", {})
    xds = [s.get("envoy_grpc", {}).get("cluster_name", "") for s in ads.get("grpc_services", [])]
    admin = _address((bootstrap.get("admin") or {}).get("address", {}))
    node = bootstrap.get("node", {})
    yield ["bootstrap", node.get("id", ""), f"admin {admin}", f"xDS via {', '.join(xds) or '-'}"]


def readable_bootstrap(config: dict[str, Any]) -> dict[str, Any]:
    """The bootstrap the sidecar started with, without what Envoy adds about its own build."""
    for section in config.get("configs", []):
        if "bootstrap" in section:
            bootstrap = dict(section["bootstrap"])
            node = bootstrap.get("node", {})
            node = {k: v for k, v in node.items() if not k.startswith(("user_agent", "extensions"))}
            return {**bootstrap, "node": node}
    return {}


REDACTED = "[redacted]"


def redacted(dump: Any) -> Any:
    """The dump with every `authorization` header value replaced (a pod's sidecar carries its
    service-account token in its bootstrap: the xDS stream's metadata, the telemetry cluster's
    header). Envoy itself already redacts private keys (`[redacted]`)."""
    if isinstance(dump, list):
        return [redacted(item) for item in dump]
    if not isinstance(dump, dict):
        return dump
    if str(dump.get("key", "")).lower() == "authorization" and "value" in dump:
        return {**dump, "value": REDACTED}
    return {key: redacted(value) for key, value in dump.items()}


ROWS = {
    "BootstrapConfigDump": _bootstrap,
    "ListenersConfigDump": _listeners,
    "RoutesConfigDump": _routes,
    "ClustersConfigDump": _clusters,
    "EndpointsConfigDump": _endpoints,
    "SecretsConfigDump": _secrets,
}


def rows_of(config: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    for section in config.get("configs", []):
        kind = str(section.get("@type", "")).rsplit(".", 1)[-1]
        rows.extend(ROWS.get(kind, lambda _: iter(()))(section))
    return rows


@click.command("proxy-config")
@click.argument("name")
@click.option("--type", "config_type", type=click.Choice(TYPES), default=None, help="Only this part.")
@click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table")
@click.option(
    "-n", "--namespace", default=None, help="In a cluster: the pod's namespace (default: the context's)."
)
@client_options
@cluster_options
def command(
    name: str, config_type: str | None, output: str, namespace: str | None, api_addr: str, token: str | None
) -> None:
    """Show the config a sidecar holds, read from its Envoy admin endpoint.

    \b
    Examples:
      smimesh proxy-config bookstore-v1            # first instance of the workload
      smimesh proxy-config bookstore-v1-0 --type clusters -o yaml
      smimesh proxy-config bookbuyer --type routes     # each route, with its split weights
      smimesh proxy-config bookbuyer --type bootstrap  # the bootstrap, as YAML
      smimesh proxy-config web-7d9f-x2 -n shop --kubeconfig ~/.kube/config   # a pod, via port-forward
    """
    answer = _read(name, config_type, namespace, api_addr, token)
    answer["config"] = redacted(answer["config"])
    if output != "table":
        emit(answer["config"], output)
        return
    if config_type == "bootstrap":
        emit(readable_bootstrap(answer["config"]), "yaml")
        return
    rows = rows_of(answer["config"])
    if not rows:
        click.echo(f"{answer['proxy']}: nothing of that type in its config", err=True)
        return
    table(["TYPE", "NAME", "ADDRESS / DOMAINS / KIND", "STATE"], rows)


def _read(name: str, config_type: str | None, namespace: str | None, api_addr: str, token: str | None) -> Any:
    cluster = wanted()
    if cluster:  # a pod's admin, through pods/portforward
        pod_namespace = namespace or context_namespace() or "default"
        return PodSidecars(load_cluster(*cluster)).config(f"{name}.{pod_namespace}", config_type)
    with open_client(api_addr, token) as client:
        return client.proxy_config(name, config_type)
