"""How Istio, Linkerd and Consul decide a request, written down as small evaluators over the exported
objects (these meshes cannot run here). Each function states the rules it follows and where they are
written; docs/migration.md quotes the same sources. Used by tests/export/test_access_equivalence.py.

A request is (source identity, destination pod or service, container port, method or None for a TCP
connection, path, headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import re2

from smimesh.mesh.gamma import precedence_key
from smimesh.mesh.model import Identity

Obj = dict[str, Any]


def _kind(objects: list[Obj], kind: str, api_prefix: str) -> list[Obj]:
    return [o for o in objects if o["kind"] == kind and o["apiVersion"].startswith(api_prefix)]


def _selects(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# --- Istio -------------------------------------------------------------------------------------------------
# istio.io/latest/docs/reference/config/security/authorization-policy/: "If there are no ALLOW policies for
# the workload, allow the request. If any of the ALLOW policies match the request, allow the request. Deny
# the request." A policy without `selector` applies to every workload of its namespace; a policy without
# rules (`spec: {}`) matches nothing. Within a rule, `from`, `to` and `when` are ANDed, the entries of each
# list ORed; string values match exactly, or as prefix `abc*`, suffix `*abc`, presence `*`. HTTP-only fields
# (methods, paths, hosts, request.headers) never match a TCP connection. Presence `*` needs a non-empty value.
def _istio_string(pattern: str, value: str | None) -> bool:
    if value is None:
        return False
    if pattern == "*":
        return value != ""  # "Presence match: * will match when value is not empty"
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return value == pattern


def _istio_operation(op: Obj, port: int, method: str | None, path: str, headers: Mapping[str, str]) -> bool:
    if "ports" in op and str(port) not in op["ports"]:
        return False
    http_fields = [f for f in ("methods", "paths", "hosts") if f in op]
    if method is None:
        return not http_fields
    checks = (("methods", method), ("paths", path), ("hosts", headers.get("host")))
    return all(any(_istio_string(p, value) for p in op[field]) for field, value in checks if field in op)


def _istio_rule(
    rule: Obj, principal: str, port: int, method: str | None, path: str, headers: Mapping[str, str]
) -> bool:
    sources = [f["source"] for f in rule.get("from", [])]
    if sources and not any(
        any(_istio_string(p, principal) for p in s.get("principals", ["*"])) for s in sources
    ):
        return False
    operations = [t["operation"] for t in rule.get("to", [])]
    if operations and not any(_istio_operation(o, port, method, path, headers) for o in operations):
        return False
    for condition in rule.get("when", []):
        name = condition["key"].removeprefix("request.headers[").removesuffix("]")
        if method is None or not any(_istio_string(v, headers.get(name)) for v in condition["values"]):
            return False
    return True


def istio_admits(
    objects: list[Obj],
    source: Identity,
    trust_domain: str,
    pod: tuple[str, Mapping[str, str]],
    port: int,
    method: str | None,
    path: str,
    headers: Mapping[str, str],
) -> bool:
    namespace, labels = pod
    policies = [
        p
        for p in _kind(objects, "AuthorizationPolicy", "security.istio.io/")
        if p["metadata"]["namespace"] == namespace
        and _selects(p["spec"].get("selector", {}).get("matchLabels", {}), labels)
        and p["spec"].get("action", "ALLOW") == "ALLOW"
    ]
    if not policies:
        return True
    principal = f"{trust_domain}/ns/{source.namespace}/sa/{source.service_account}"
    return any(
        _istio_rule(rule, principal, port, method, path, headers)
        for p in policies
        for rule in p["spec"].get("rules", [])
    )


# --- Linkerd -----------------------------------------------------------------------------------------------
# linkerd.io/2/reference/authorization-policy/: a Server selects a port of pods by labels; once a Server
# exists for a pod's port, traffic is denied unless an AuthorizationPolicy allows it; policies target a
# Server or a policy HTTPRoute of that Server, and require authentications (MeshTLSAuthentication: the
# client's mesh identity is one of `identities`). With routes on a Server, a request is handled by the one
# route whose match is best by Gateway API precedence (a request matching no route is refused, 404), and
# only that route's policies apply. A port without a Server follows the default policy: `deny`, as the
# export's SM8004 note asks. Path RegularExpression must match the whole path (linkerd2-proxy
# linkerd/http/route/src/http/match/path.rs: "Check that the regex is anchored at the start and end");
# PathPrefix is per path segment.
def gateway_match(match: Obj, method: str, path: str, headers: Mapping[str, str]) -> bool:
    kind, value = (
        (match.get("path") or {}).get("type", "PathPrefix"),
        (match.get("path") or {}).get("value", "/"),
    )
    if kind == "Exact" and path != value:
        return False
    if (
        kind == "PathPrefix"
        and value.rstrip("/")
        and not (path.rstrip("/") == value.rstrip("/") or path.startswith(value.rstrip("/") + "/"))
    ):
        return False
    if kind == "RegularExpression" and re2.fullmatch(value, path) is None:
        return False
    if match.get("method") and match["method"] != method:
        return False
    for header in match.get("headers") or ():
        got = headers.get(header["name"].lower())
        if got is None:
            return False
        if header.get("type", "Exact") == "Exact" and got != header["value"]:
            return False
        if header.get("type") == "RegularExpression" and re2.fullmatch(header["value"], got) is None:
            return False
    return True


def _linkerd_authorized(objects: list[Obj], namespace: str, target: tuple[str, str], identity: str) -> bool:
    authns = {
        a["metadata"]["name"]: a
        for a in _kind(objects, "MeshTLSAuthentication", "policy.linkerd.io/")
        if a["metadata"]["namespace"] == namespace
    }
    for policy in _kind(objects, "AuthorizationPolicy", "policy.linkerd.io/"):
        ref = policy["spec"]["targetRef"]
        if policy["metadata"]["namespace"] != namespace or (ref["kind"], ref["name"]) != target:
            continue
        required = [authns.get(r["name"]) for r in policy["spec"]["requiredAuthenticationRefs"]]
        if all(a is not None and identity in a["spec"].get("identities", []) for a in required):
            return True
    return False


def linkerd_admits(
    objects: list[Obj],
    identity: str,
    pod: tuple[str, Mapping[str, str]],
    port: int,
    method: str | None,
    path: str,
    headers: Mapping[str, str],
) -> bool:
    namespace, labels = pod
    servers = [
        s
        for s in _kind(objects, "Server", "policy.linkerd.io/")
        if s["metadata"]["namespace"] == namespace
        and s["spec"]["port"] == port
        and _selects(s["spec"]["podSelector"].get("matchLabels", {}), labels)
    ]
    if not servers:
        return False  # default-inbound-policy: deny
    server = servers[0]["metadata"]["name"]
    routes = [
        r
        for r in _kind(objects, "HTTPRoute", "policy.linkerd.io/")
        if r["metadata"]["namespace"] == namespace
        and any(p["name"] == server and p["kind"] == "Server" for p in r["spec"]["parentRefs"])
    ]
    if method is None or not routes:
        return method is None and _linkerd_authorized(objects, namespace, ("Server", server), identity)
    candidates = [
        (precedence_key(m), -index, route["metadata"]["name"])
        for index, route in enumerate(sorted(routes, key=lambda r: r["metadata"]["name"]))
        for rule in route["spec"]["rules"]
        for m in (rule.get("matches") or [{}])
        if gateway_match(m, method, path, headers)
    ]
    if not candidates:
        return False  # 404
    return _linkerd_authorized(objects, namespace, ("HTTPRoute", max(candidates)[2]), identity)


# --- Consul ------------------------------------------------------------------------------------------------
# developer.hashicorp.com/consul/docs/connect/config-entries/service-intentions: one ServiceIntentions per
# destination service (`*` = every service); the source entry naming the calling service wins over a `*`
# source, an exact destination over `*`; an entry has either `action` (L4) or `permissions` (L7), "the
# first permission to match in the list is terminal"; what matches no permission falls to the default
# intention behaviour (the export ends every list with a deny, and adds `*` -> `*` deny). HTTP matches:
# pathExact, pathPrefix (a string prefix), pathRegex (whole path), methods, and every header condition
# (present, exact, prefix, suffix, regex), ANDed.
def _consul_http(http: Obj, method: str, path: str, headers: Mapping[str, str]) -> bool:
    if "pathExact" in http and path != http["pathExact"]:
        return False
    if "pathPrefix" in http and not path.startswith(http["pathPrefix"]):
        return False
    if "pathRegex" in http and re2.fullmatch(http["pathRegex"], path) is None:
        return False
    if http.get("methods") and method not in http["methods"]:
        return False
    for header in http.get("header", []):
        got = headers.get(header["name"].lower())
        ok = got is not None and (
            header.get("present", False)
            or ("exact" in header and got == header["exact"])
            or ("prefix" in header and got.startswith(header["prefix"]))
            or ("suffix" in header and got.endswith(header["suffix"]))
            or ("regex" in header and re2.fullmatch(header["regex"], got) is not None)
        )
        if ok == header.get("invert", False):
            return False
    return True


def consul_admits(
    objects: list[Obj],
    source_service: str | None,
    namespace: str,
    destination: str,
    method: str | None,
    path: str,
    headers: Mapping[str, str],
) -> bool:
    entries = [o for o in _kind(objects, "ServiceIntentions", "consul.hashicorp.com/")]
    for dest_name in (destination, "*"):
        for entry in (e for e in entries if e["spec"]["destination"]["name"] == dest_name):
            for source in entry["spec"]["sources"]:
                if source["name"] not in (source_service, "*"):
                    continue
                if "action" in source:
                    return bool(source["action"] == "allow")
                if method is None:
                    return False  # L7 permissions never allow a plain TCP connection
                for permission in source["permissions"]:
                    if _consul_http(permission.get("http", {}), method, path, headers):
                        return bool(permission["action"] == "allow")
                return False
    return False  # default ACL policy: deny (what SMI says)
