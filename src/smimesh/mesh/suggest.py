"""Policy from observed traffic: the smallest SMI objects that allow exactly the calls that were seen.

Owns `ObservedCall` (source identity, destination identity, method, path) and `suggest(calls)`, the
manifests `smimesh policy suggest` prints, grouped per destination identity:

- one HTTPRouteGroup `observed-<destination account>` in the destination's namespace, with one match
  per (path, methods) some source used: `pathRegex` is the path (without its query) escaped and
  anchored at both ends (`/books$`: the same under `pathRegexMatch: start` and `full`), `methods`
  the methods that source used on it;
- one TrafficTarget per set of sources that used the same matches, naming only those matches, so a
  source is allowed what it was seen doing and nothing another source did.

TCP connections (logged on audit ports) become, per destination, one TCPRoute per set of container
ports some sources used and one TrafficTarget per such set of sources, separate from the HTTP ones.

Nothing wider is ever suggested: no wildcard path, no method a source did not use. A path that was
never seen is therefore denied once the namespace enforces (the point of the exercise).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from smimesh.mesh.explain import escape_regex, resource_name
from smimesh.mesh.model import Identity

_ROUTES = "specs.smi-spec.io/v1alpha4"
_ACCESS = "access.smi-spec.io/v1alpha3"


@dataclass(frozen=True, slots=True, order=True)
class ObservedCall:
    source: Identity
    destination: Identity
    method: str  # "" for a TCP connection
    path: str  # without the query string
    port: int = 0  # the destination's container port (what a TCPRoute names)
    protocol: str = "http"  # or "tcp": a connection, allowed by a TCPRoute of its port


def _account(identity: Identity) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": identity.service_account, "namespace": identity.namespace}


def _match_names(
    per_source: dict[Identity, dict[str, set[str]]],
) -> tuple[dict[tuple[str, tuple[str, ...]], str], dict[Identity, tuple[str, ...]]]:
    """Name each distinct (path, methods) and list, per source, the names of the ones it used."""
    names: dict[tuple[str, tuple[str, ...]], str] = {}
    used: dict[Identity, tuple[str, ...]] = {}
    for source, paths in sorted(per_source.items()):
        mine = []
        for path, methods in sorted(paths.items()):
            key = (path, tuple(sorted(methods)))
            if key not in names:
                base = resource_name("-".join(m.lower() for m in key[1]), path.strip("/") or "root")
                names[key] = f"{base[:56]}-{len(names) + 1}"
            mine.append(names[key])
        used[source] = tuple(sorted(mine))
    return names, used


def _route_group(
    name: str, destination: Identity, names: dict[tuple[str, tuple[str, ...]], str]
) -> dict[str, Any]:
    matches = [
        {"name": match, "pathRegex": f"{escape_regex(path)}$", "methods": list(methods)}
        for (path, methods), match in sorted(names.items(), key=lambda item: item[1])
    ]
    return {
        "apiVersion": _ROUTES,
        "kind": "HTTPRouteGroup",
        "metadata": {"name": name, "namespace": destination.namespace},
        "spec": {"matches": matches},
    }


def _targets(
    group: str, destination: Identity, used: dict[Identity, tuple[str, ...]]
) -> list[dict[str, Any]]:
    by_matches: dict[tuple[str, ...], list[Identity]] = {}
    for source, matches in used.items():
        by_matches.setdefault(matches, []).append(source)
    targets = []
    for index, (matches, sources) in enumerate(sorted(by_matches.items(), key=lambda i: sorted(i[1]))):
        who = sources[0].service_account if len(sources) == 1 else f"group-{index + 1}"
        targets.append(
            {
                "apiVersion": _ACCESS,
                "kind": "TrafficTarget",
                "metadata": {
                    "name": resource_name("observed", who, "to", destination.service_account),
                    "namespace": destination.namespace,
                },
                "spec": {
                    "destination": _account(destination),
                    "rules": [{"kind": "HTTPRouteGroup", "name": group, "matches": list(matches)}],
                    "sources": [_account(s) for s in sorted(sources)],
                },
            }
        )
    return targets


def _tcp_objects(destination: Identity, per_source: dict[Identity, set[int]]) -> list[dict[str, Any]]:
    """One TCPRoute per set of ports some sources used, one TrafficTarget per such set of sources. Kept
    apart from the HTTP TrafficTargets: a TCPRoute rule beside HTTP rules would narrow those to its ports."""
    by_ports: dict[tuple[int, ...], list[Identity]] = {}
    for source, used in per_source.items():
        by_ports.setdefault(tuple(sorted(used)), []).append(source)
    documents: list[dict[str, Any]] = []
    for ports, sources in sorted(by_ports.items()):
        route = resource_name("observed", destination.service_account, "tcp", *map(str, ports))
        who = sources[0].service_account if len(sources) == 1 else "group-" + "-".join(map(str, ports))
        metadata = {"name": route, "namespace": destination.namespace}
        documents.append(
            {
                "apiVersion": _ROUTES,
                "kind": "TCPRoute",
                "metadata": metadata,
                "spec": {"matches": {"ports": list(ports)}},
            }
        )
        documents.append(
            {"apiVersion": _ACCESS, "kind": "TrafficTarget",
             "metadata": {"name": resource_name("observed", who, "to", destination.service_account, "tcp"),
                          "namespace": destination.namespace},
             "spec": {"destination": _account(destination), "rules": [{"kind": "TCPRoute", "name": route}],
                      "sources": [_account(s) for s in sorted(sources)]}}
        )  # fmt: skip
    return documents


def suggest(calls: Iterable[ObservedCall]) -> list[dict[str, Any]]:
    """The manifests (plain data, ready for YAML) allowing exactly `calls`, per destination in order."""
    per_destination: dict[Identity, dict[Identity, dict[str, set[str]]]] = {}
    tcp: dict[Identity, dict[Identity, set[int]]] = {}
    for call in calls:
        if call.protocol == "tcp":
            tcp.setdefault(call.destination, {}).setdefault(call.source, set()).add(call.port)
            continue
        paths = per_destination.setdefault(call.destination, {}).setdefault(call.source, {})
        paths.setdefault(call.path.split("?", 1)[0] or "/", set()).add(call.method.upper())
    documents: list[dict[str, Any]] = []
    for destination, per_source in sorted(per_destination.items()):
        group = resource_name("observed", destination.service_account)
        names, used = _match_names(per_source)
        documents.append(_route_group(group, destination, names))
        documents.extend(_targets(group, destination, used))
    for destination, ports in sorted(tcp.items()):
        documents.extend(_tcp_objects(destination, ports))
    return documents
