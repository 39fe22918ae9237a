"""What a user asks `smimesh explain`, resolved against one mesh model: the same answer offline and live.

Owns `ExplainQuery` (the command's words: `--from`, `--to`, `-n`, METHOD, PATH, `-H`) and
`answer(model, workloads, query, modes)`, which resolves the caller among the Workloads and the
target among the model's Services and returns `mesh.explain.explain`'s `Explanation`. The CLI runs
it on a model built from files (`-f`); the control plane runs it on the model it generated the
sidecars' config from (`GET /api/v1/explain`). A mistake in the query (an unknown workload or
service, a port that is not a number, a bad header) is a `UsageError` with a hint listing what
exists, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from smimesh.errors import UsageError
from smimesh.mesh.explain import Explanation, explain
from smimesh.mesh.model import Identity, MeshModel, ServiceKey
from smimesh.mesh.modes import MeshModes
from smimesh.resources.workload import Workload


@dataclass(frozen=True, slots=True)
class ExplainQuery:
    """`--from SOURCE --to TARGET [-n NAMESPACE] [METHOD] [PATH] [-H 'Name: value']...`."""

    source: str
    target: str
    method: str = "GET"
    path: str = "/"
    headers: tuple[str, ...] = ()  # as typed: "Name: value"
    namespace: str | None = None


def parse_headers(values: Iterable[str]) -> dict[str, str]:
    """`-H 'Name: value'` options as a header map (names lowercased)."""
    headers = {}
    for value in values:
        name, sep, text = value.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"-H {value!r} is not 'Name: value'", hint="e.g. -H 'x-user: alice'")
        headers[name.strip().lower()] = text.strip()
    return headers


def resolve_source(workloads: Sequence[Workload], name: str, namespace: str | None, where: str) -> Identity:
    """The identity of the Workload `NS/NAME` (or `NAME` in `namespace`, or the only one so named)."""
    ns, _, short = name.rpartition("/")
    ns = ns or namespace or ""
    found = [w for w in workloads if w.metadata.name == short and (not ns or w.metadata.namespace == ns)]
    if len(found) != 1:
        known = ", ".join(sorted(f"{w.metadata.namespace}/{w.metadata.name}" for w in workloads)) or "none"
        what = "is ambiguous" if found else f"is not a Workload {where}"
        raise UsageError(f"--from {name!r} {what}", hint=f"use NAMESPACE/WORKLOAD; Workloads: {known}")
    return Identity(found[0].metadata.namespace, found[0].spec.service_account)


def resolve_target(
    model: MeshModel, text: str, caller_namespace: str, where: str
) -> tuple[ServiceKey, int | None]:
    """`SERVICE[.NS][:PORT]` as a Service of the model and an optional port."""
    host, _, port = text.partition(":")
    if port and not port.isdigit():
        raise UsageError(
            f"--to {text!r}: the port must be a number", hint="e.g. --to bookstore.bookstore:8080"
        )
    parts = host.split(".")
    key = ServiceKey(parts[1] if len(parts) > 1 else caller_namespace, parts[0])
    if model.service(key) is None:
        known = ", ".join(f"{k.name}.{k.namespace}" for k in sorted(model.services)) or "none"
        raise UsageError(
            f"--to {text!r}: no Service {key.name} in namespace {key.namespace} {where}",
            hint=f"Services: {known}",
        )
    return key, int(port) if port else None


def answer(
    model: MeshModel, workloads: Sequence[Workload], query: ExplainQuery, modes: MeshModes, where: str
) -> Explanation:
    """`explain` for the query; `where` says what was searched in errors ("in these manifests")."""
    identity = resolve_source(workloads, query.source, query.namespace, where)
    service, port = resolve_target(model, query.target, query.namespace or identity.namespace, where)
    if not query.path.startswith("/"):
        raise UsageError(f"PATH {query.path!r} must start with /", hint="e.g. smimesh explain ... GET /books")
    headers = parse_headers(query.headers)
    return explain(model, identity, service, port, query.method, query.path, headers, modes=modes)
