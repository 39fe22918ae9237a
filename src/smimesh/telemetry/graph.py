"""The topology the dashboard draws: workloads and services as nodes, what happened between them as edges.

Owns `build_graph(model, totals, window_s, denied, namespace=None) -> dict` (plain JSON data). Edges:

- `traffic` (caller workload -> destination service): from the callers' client-side series, the same
  numbers as the metrics API's `to` edges for the same window: requests, rps, success rate, p99 (ms),
  `health` (`ok` >= 99 % success, `warn` >= 95 %, `bad` below, `idle` without requests), and
  `policies`: the TrafficTargets letting the caller's identity reach the service's instances;
- `split` (root service -> backend service): the configured weight (percent of the split) and the
  observed share (percent of the requests the callers sent to the split's backends in the window);
- `denied` (caller workload -> destination workload): RBAC denials the destination's sidecars logged
  (`Observations`, verdict `denied`), with their count; `audit`: the same for audit mode's would-be
  denials (allowed, logged);
- `allowed` (caller workload -> service): a TrafficTarget lets the caller's identity reach the
  service's instances, and nothing was sent in the window (drawn faint);
- `backs` (service -> workload): the service selects that workload's instances.

Node ids are `workload/<ns>/<name>` and `service/<ns>/<name>`; with `namespace`, only edges touching
it and their nodes are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from smimesh.mesh.model import Identity, MeshModel, ServiceKey
from smimesh.telemetry.edges import OUTBOUND, Series
from smimesh.telemetry.quantiles import quantiles
from smimesh.telemetry.window import Totals


def workload_id(namespace: str, name: str) -> str:
    return f"workload/{namespace}/{name}"


def service_id(key: ServiceKey) -> str:
    return f"service/{key.namespace}/{key.name}"


def health(success: float, requests: float) -> str:
    if not requests:
        return "idle"
    rate = success / requests
    return "ok" if rate >= 0.99 else "warn" if rate >= 0.95 else "bad"


def _nodes(model: MeshModel) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    for instance in model.instances.values():
        node_id = workload_id(instance.namespace, instance.workload)
        node = nodes.setdefault(
            node_id,
            {"id": node_id, "kind": "workload", "namespace": instance.namespace, "name": instance.workload,
             "service_account": instance.service_account, "instances": 0},
        )  # fmt: skip
        node["instances"] += 1
    for key in model.services:
        nodes[service_id(key)] = {"id": service_id(key), "kind": "service", "namespace": key.namespace,
                                  "name": key.name}  # fmt: skip
    return nodes


def _traffic(model: MeshModel, totals: Mapping[Series, Totals], window_s: float) -> dict[str, dict[str, Any]]:
    grouped: dict[tuple[str, str], Totals] = {}
    for series, total in totals.items():
        instance = model.instances.get(series.instance)
        if series.direction != OUTBOUND or instance is None:
            continue
        namespace, _, name = series.target.partition("/")
        key = (workload_id(instance.namespace, instance.workload), service_id(ServiceKey(namespace, name)))
        grouped.setdefault(key, Totals()).add(total)
    return {f"traffic:{s}->{t}": _traffic_edge(s, t, total, window_s) for (s, t), total in grouped.items()}


def _traffic_edge(source: str, target: str, total: Totals, window_s: float) -> dict[str, Any]:
    requests = total.success + total.failure
    p99 = quantiles(total.bins, [0.99])[0] if requests else 0.0
    return {
        "id": f"traffic:{source}->{target}", "kind": "traffic", "source": source, "target": target,
        "requests": int(requests), "success": int(total.success), "failure": int(total.failure),
        "rps": round(requests / window_s, 2), "p99_ms": round(p99, 1),
        "success_rate": round(100 * total.success / requests, 1) if requests else None,
        "health": health(total.success, requests),
    }  # fmt: skip


def _received(edges: Iterable[dict[str, Any]]) -> dict[str, int]:
    into: dict[str, int] = {}
    for edge in edges:
        into[edge["target"]] = into.get(edge["target"], 0) + edge["requests"]
    return into


def _splits(model: MeshModel, received: Mapping[str, int]) -> dict[str, dict[str, Any]]:
    edges: dict[str, dict[str, Any]] = {}
    for splits in model.splits.values():
        for route in splits.routes:
            live = [b for b in route.backends if not b.is_root]
            weight_sum = sum(b.weight for b in route.backends) or 1
            observed_sum = sum(received.get(service_id(b.service), 0) for b in live) or 0
            for backend in live:
                source, target = service_id(splits.root), service_id(backend.service)
                seen = received.get(target, 0)
                edges[f"split:{source}->{target}"] = {
                    "id": f"split:{source}->{target}", "kind": "split", "source": source, "target": target,
                    "split": route.ref, "weight": round(100 * backend.weight / weight_sum, 1),
                    "observed_share": round(100 * seen / observed_sum, 1) if observed_sum else None,
                }  # fmt: skip
    return edges


def _backs(model: MeshModel) -> dict[str, dict[str, Any]]:
    edges: dict[str, dict[str, Any]] = {}
    for key, service in model.services.items():
        for node_id in {e.node_id for p in service.ports for e in p.endpoints}:
            instance = model.instances.get(node_id)
            if instance is not None:
                source, target = service_id(key), workload_id(instance.namespace, instance.workload)
                edges[f"backs:{source}->{target}"] = {
                    "id": f"backs:{source}->{target}",
                    "kind": "backs",
                    "source": source,
                    "target": target,
                }
    return edges


def _workloads_of(model: MeshModel) -> dict[Identity, set[str]]:
    found: dict[Identity, set[str]] = {}
    for instance in model.instances.values():
        found.setdefault(instance.identity, set()).add(workload_id(instance.namespace, instance.workload))
    return found


def _services_of(model: MeshModel) -> dict[Identity, list[ServiceKey]]:
    """Destination identity -> the services whose instances run as it (one pass, not one per policy)."""
    found: dict[Identity, list[ServiceKey]] = {}
    for key, service in model.services.items():
        for identity in service.identities:
            found.setdefault(identity, []).append(key)
    return found


def _allowed_unused(model: MeshModel, traffic: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    used = {(e["source"], e["target"]) for e in traffic.values() if e["requests"]}
    for splits in model.splits.values():  # sending to a split's backends is using its root
        backends = {service_id(b) for b in splits.backend_services}
        used |= {(caller, service_id(splits.root)) for caller, target in set(used) if target in backends}
    workloads, services_of = _workloads_of(model), _services_of(model)
    edges: dict[str, dict[str, Any]] = {}
    for policy in model.policies:
        services = services_of.get(policy.destination, [])
        for source in policy.sources:
            for caller in workloads.get(source, ()):
                for key in services:
                    target = service_id(key)
                    if (caller, target) not in used:
                        edges[f"allowed:{caller}->{target}"] = {
                            "id": f"allowed:{caller}->{target}", "kind": "allowed", "source": caller,
                            "target": target, "policy": policy.ref,
                        }  # fmt: skip
    return edges


def _denied(
    model: MeshModel, denied: Iterable[tuple[str, str, float]], kind: str = "denied"
) -> dict[str, dict[str, Any]]:
    """`denied`: (caller SPIFFE id, destination node id, count); `kind` `denied` or `audit` (would be)."""
    by_uri = {i.spiffe(model.trust_domain): ws for i, ws in _workloads_of(model).items()}
    edges: dict[str, dict[str, Any]] = {}
    for uri, node_id, count in denied:
        instance = model.instances.get(node_id)
        if instance is None:
            continue
        target = workload_id(instance.namespace, instance.workload)
        for caller in by_uri.get(uri, {f"identity/{uri}"}):
            edge = edges.setdefault(
                f"{kind}:{caller}->{target}",
                {"id": f"{kind}:{caller}->{target}", "kind": kind, "source": caller, "target": target,
                 "requests": 0, "peer": uri},
            )  # fmt: skip
            edge["requests"] += int(count)
    return edges


def _with_policies(model: MeshModel, edges: Mapping[str, dict[str, Any]]) -> None:
    """Name, on each traffic edge, the TrafficTargets that let the caller reach the service's instances."""
    identities = {workload_id(i.namespace, i.workload): i.identity for i in model.instances.values()}
    by_source: dict[Identity, list[Any]] = {}
    for policy in model.policies:
        for source in policy.sources:
            by_source.setdefault(source, []).append(policy)
    for edge in edges.values():
        namespace, _, name = edge["target"].removeprefix("service/").partition("/")
        service = model.services.get(ServiceKey(namespace, name))
        caller = identities.get(edge["source"])
        policies = by_source.get(caller, []) if caller is not None and service is not None else []
        allowed = service.identities if service is not None else frozenset()
        edge["policies"] = sorted({p.ref for p in policies if p.destination in allowed})


def build_graph(
    model: MeshModel,
    totals: Mapping[Series, Totals],
    window_s: float,
    denied: Iterable[tuple[str, str, float]],
    namespace: str | None = None,
    audited: Iterable[tuple[str, str, float]] = (),
) -> dict[str, Any]:
    nodes = _nodes(model)
    traffic = _traffic(model, totals, window_s)
    _with_policies(model, traffic)
    edges = {
        **_backs(model),
        **_allowed_unused(model, traffic),
        **traffic,
        **_splits(model, _received(traffic.values())),
        **_denied(model, denied),
        **_denied(model, audited, "audit"),
    }
    for edge in edges.values():  # a denied caller without a workload of the mesh
        for end in (edge["source"], edge["target"]):
            nodes.setdefault(
                end, {"id": end, "kind": "identity", "namespace": "", "name": end.split("/")[-1]}
            )
    if namespace:
        touching = {k for k, n in nodes.items() if n["namespace"] == namespace}
        edges = {k: e for k, e in edges.items() if e["source"] in touching or e["target"] in touching}
        ends = {end for e in edges.values() for end in (e["source"], e["target"])}
        nodes = {k: n for k, n in nodes.items() if n["namespace"] == namespace or k in ends}
    return {
        "window_s": window_s,
        "namespaces": sorted({n["namespace"] for n in _nodes(model).values()}),
        "nodes": sorted(nodes.values(), key=lambda n: n["id"]),
        "edges": sorted(edges.values(), key=lambda e: e["id"]),
    }
