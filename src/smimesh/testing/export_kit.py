"""Helpers shared by the export tests (tests/export): export YAML text, read the report as plain data."""

from __future__ import annotations

from typing import Any

from smimesh.export import Output, export, is_pod_document, pod_group_of
from smimesh.resources import load_documents
from smimesh.resources.document import Document
from smimesh.resources.reader import read_text


def export_documents(documents: list[Document], target: str) -> Output:
    pods = [g for d in documents if is_pod_document(d.data) and (g := pod_group_of(d.data))]
    loaded = load_documents([d for d in documents if not is_pod_document(d.data)], references=False)
    return export(loaded.snapshot(), target, pods)


def export_yaml(text: str, target: str) -> Output:
    return export_documents(read_text(text, "<test>").documents, target)


def codes_of(out: Output) -> list[str]:
    return sorted(d.code for d in out.findings)


def report_data(out: Output) -> list[dict[str, Any]]:
    """The report without file locations (goldens must not depend on where the test runs)."""
    return [
        {k: v for k, v in e.to_dict().items() if k != "location"}
        for e in out.entries()
        if e.produced or e.findings
    ]


def hrg(name: str, matches: str, namespace: str = "ns") -> str:
    """An HTTPRouteGroup document; `matches` is its YAML flow list."""
    return (
        "apiVersion: specs.smi-spec.io/v1alpha4\nkind: HTTPRouteGroup\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\nspec: {{matches: {matches}}}\n"
    )


def tt(name: str, dest: str, sources: list[str], rules: str, namespace: str = "ns") -> str:
    """A TrafficTarget document from accounts of `namespace`; `rules` is its YAML flow list."""
    subjects = ", ".join(f"{{kind: ServiceAccount, name: {s}}}" for s in sources)
    return (
        "apiVersion: access.smi-spec.io/v1alpha3\nkind: TrafficTarget\n"
        f"metadata: {{name: {name}, namespace: {namespace}}}\n"
        f"spec: {{destination: {{kind: ServiceAccount, name: {dest}}}, sources: [{subjects}],"
        f" rules: {rules}}}\n"
    )


HTTP_PORTS = (80, 8080)  # the context's HTTP service port and container port (a TCPRoute on 8080 narrows it)


def context_for(documents: list[Document]) -> list[Document]:
    """Services and Workloads for every name an example's splits and targets mention but do not define.

    The spec examples hold SMI objects only; with this context every exporter has the Service ports
    and the pods it needs, so the goldens show real output instead of "nothing resolves" losses. Each
    service `x` selects `app: x` on port 80 (http) -> 8080, plus the example's TCPRoute/UDPRoute ports;
    each account `a` runs a Workload `a` with labels `app: a` and its own Service `a`.
    """
    data = [d.data for d in documents if isinstance(d.data, dict)]
    defined = {
        (o.get("metadata", {}).get("namespace", "default"), o["metadata"]["name"])
        for o in data
        if o.get("kind") == "Service" and "metadata" in o
    }
    wanted: dict[tuple[str, str], set[tuple[str, int]]] = {}
    extra = [
        ("tcp", p) for o in data if o.get("kind") == "TCPRoute" for p in _ports(o) if p not in HTTP_PORTS
    ]
    extra += [
        ("udp", p) for o in data if o.get("kind") == "UDPRoute" for p in _ports(o) if p not in HTTP_PORTS
    ]
    for obj in data:
        namespace = (obj.get("metadata") or {}).get("namespace", "default")
        for name in _names_used(obj):
            wanted.setdefault((namespace, name), set()).update(
                extra if obj.get("kind") == "TrafficTarget" else ()
            )
    text = "".join(
        _service_and_workload(ns, name, ports, (ns, name) in defined)
        for (ns, name), ports in sorted(wanted.items())
    )
    return read_text(text, "<context>").documents if text else []


def _ports(route: dict[str, Any]) -> list[int]:
    matches = (route.get("spec") or {}).get("matches") or {}
    return (
        [p for p in (matches.get("ports") or []) if isinstance(p, int)] if isinstance(matches, dict) else []
    )


def _names_used(obj: dict[str, Any]) -> list[str]:
    spec = obj.get("spec") or obj  # access v1alpha1 keeps destination and sources at the top level
    if obj.get("kind") == "TrafficSplit":
        return [str(spec.get("service"))] + [str(b.get("service")) for b in spec.get("backends") or []]
    if obj.get("kind") == "TrafficTarget":
        subjects = [spec.get("destination") or {}, *(spec.get("sources") or [])]
        return [str(s.get("name")) for s in subjects if s.get("name")]
    return []


def _service_and_workload(namespace: str, name: str, ports: set[tuple[str, int]], defined: bool) -> str:
    port_list = ", ".join(
        ["{name: http, port: 80, targetPort: 8080}"]
        + [
            f"{{name: {kind}-{p}, port: {p}, targetPort: {p}{', protocol: UDP' if kind == 'udp' else ''}}}"
            for kind, p in sorted(ports)
        ]
    )
    container = ", ".join(
        ["{name: http, containerPort: 8080}"]
        + [
            f"{{name: {kind}-{p}, containerPort: {p}{', protocol: UDP' if kind == 'udp' else ''}}}"
            for kind, p in sorted(ports)
        ]
    )
    service = (
        ""
        if defined
        else (
            f"---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {namespace}}}\n"
            f"spec: {{selector: {{app: {name}}}, ports: [{port_list}]}}\n"
        )
    )
    workload = f"spec: {{serviceAccount: {name}, command: [x], ports: [{container}]}}\n"
    return service + (
        "---\napiVersion: smimesh.io/v1alpha1\nkind: Workload\n"
        f"metadata: {{name: {name}, namespace: {namespace}, labels: {{app: {name}}}}}\n" + workload
    )
