"""CustomResourceDefinitions (`apiextensions.k8s.io/v1`) for every SMI kind, generated from the models.

Every version of a kind is served, with its own structural `openAPIV3Schema` derived from that version's
pydantic model; the hub is the storage version; conversion between versions is a webhook (the layouts
differ between versions, so `strategy: None` cannot serve them; SPEC-DIGEST §7). Names, short names,
list kinds and printer columns are the published ones (`registry.KINDS`).

Deliberate departures from the published schemas are listed, with a reason each, in
tests/resources/test_crds.py; the most visible is HTTPRouteGroup `headers`, which is
`x-kubernetes-preserve-unknown-fields` so that both layouts (list of one-entry maps, or a map) reach
smimesh, which normalises them.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from smimesh.resources import registry
from smimesh.resources.meta import Resource

HEADERS_SCHEMA: dict[str, Any] = {
    "description": "Header name -> regex: a list of one-entry maps (as published) or a plain map.",
    "x-kubernetes-preserve-unknown-fields": True,
}
# (model class name, JSON field) -> schema written instead of the one derived from the type.
OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {("HTTPMatch", "headers"): HEADERS_SCHEMA}
_DROPPED = ("title", "default", "description")


@dataclass(frozen=True, slots=True)
class WebhookService:
    """Where the API server sends ConversionReviews: the smimesh control plane's conversion endpoint."""

    name: str = "smimesh-webhook"
    namespace: str = "smimesh-system"
    path: str = "/convert"
    port: int = 443


def openapi_schema(model: type[Resource]) -> dict[str, Any]:
    """The structural openAPIV3Schema of one version (apiVersion, kind, metadata as Kubernetes has them)."""
    js = model.model_json_schema(by_alias=True, mode="validation")
    defs = js.get("$defs", {})
    schema = _structural(js, defs, model.__name__)
    standard = {"apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"}}
    schema["properties"] = standard | {k: v for k, v in schema["properties"].items() if k not in standard}
    required = [name for name in schema.get("required", []) if name != "metadata"]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    return schema


def _structural(node: dict[str, Any], defs: dict[str, Any], owner: str) -> dict[str, Any]:
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        return _structural(defs[name], defs, name)
    if "anyOf" in node:
        return _union([n for n in node["anyOf"] if n.get("type") != "null"], defs, owner)
    if "const" in node:
        return {"type": "string", "enum": [node["const"]]}
    out = {key: value for key, value in node.items() if key not in _DROPPED and key not in _NESTED}
    if "properties" in node:
        out["properties"] = {
            field: OVERRIDES.get((owner, field)) or _structural(sub, defs, owner)
            for field, sub in node["properties"].items()
        }
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = _structural(node["additionalProperties"], defs, owner)
    if "items" in node:
        out["items"] = _structural(node["items"], defs, owner)
    if out.get("additionalProperties") is False:
        del out["additionalProperties"]  # extra="forbid"; structural schemas prune unknown fields instead
    return _ordered(out)


def _ordered(schema: dict[str, Any]) -> dict[str, Any]:
    """Keys in the order people write them: type first, then properties, then the constraints."""
    first = [key for key in ("type", "properties", "required", "items") if key in schema]
    return {key: schema[key] for key in [*first, *(k for k in schema if k not in first)]}


_NESTED = ("properties", "items", "additionalProperties", "$defs")


def _union(options: list[dict[str, Any]], defs: dict[str, Any], owner: str) -> dict[str, Any]:
    if len(options) == 1:
        return _structural(options[0], defs, owner)
    if {option.get("type") for option in options} == {"integer", "string"}:
        return {"x-kubernetes-int-or-string": True}
    return {"x-kubernetes-preserve-unknown-fields": True}


def version_entry(model: type[Resource], storage: bool) -> dict[str, Any]:
    info = registry.KINDS[model.KIND]
    entry: dict[str, Any] = {
        "name": model.API_VERSION.rpartition("/")[2],
        "served": True,
        "storage": storage,
        "schema": {"openAPIV3Schema": openapi_schema(model)},
    }
    if info.printer_columns:
        entry["additionalPrinterColumns"] = [
            {"name": name, "type": "string", "jsonPath": path} for name, path in info.printer_columns
        ]
    return entry


def crd_for(kind: str, webhook: WebhookService | None = None) -> dict[str, Any]:
    """The CRD of one kind: every version served, the hub stored, conversion by webhook."""
    info = registry.KINDS[kind]
    service = webhook or WebhookService()
    versions = [registry.lookup(api, kind) for api in registry.versions_of(kind)]
    names: dict[str, Any] = {
        "kind": kind,
        "listKind": info.list_kind,
        "plural": info.plural,
        "singular": info.singular,
    }
    if info.short_names:
        names["shortNames"] = list(info.short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{info.plural}.{info.group}"},
        "spec": {
            "group": info.group,
            "scope": "Namespaced",
            "names": names,
            "versions": [version_entry(m, registry.is_hub(m)) for m in versions if m is not None],
            "conversion": _conversion(service),
        },
    }


def _conversion(service: WebhookService) -> dict[str, Any]:
    reference = {
        "name": service.name,
        "namespace": service.namespace,
        "path": service.path,
        "port": service.port,
    }
    return {
        "strategy": "Webhook",
        "webhook": {"conversionReviewVersions": ["v1"], "clientConfig": {"service": reference}},
    }


def smi_kinds() -> list[str]:
    return [kind for kind, info in registry.KINDS.items() if info.is_smi]


def all_crds(webhook: WebhookService | None = None) -> list[dict[str, Any]]:
    return [crd_for(kind, webhook) for kind in smi_kinds()]


def to_yaml(crds: list[dict[str, Any]]) -> str:
    """Multi-document YAML, keys in the order written (Kubernetes style)."""
    return yaml.safe_dump_all(crds, sort_keys=False, explicit_start=True, width=120)


def flagger_crds() -> list[dict[str, Any]]:
    """Flagger's own CRDs (Canary, MetricTemplate, AlertProvider), shipped unchanged (data/README.md),
    so `flagger.app/v1beta1` objects are served and validated on a cluster exactly as Flagger's are."""
    text = resources.files("smimesh.resources").joinpath("data/flagger-crd.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


OSM_KINDS = ("Egress",)  # OSM kinds the controller watches on a cluster, served by OSM's own CRD


def osm_crds() -> list[dict[str, Any]]:
    """OSM's Egress CRD, shipped unchanged (data/README.md): `policy.openservicemesh.io/v1alpha1`
    Egress objects are served and validated on a cluster as OSM's CRD does, and the controller
    watches them (egress policy for pods)."""
    text = resources.files("smimesh.resources").joinpath("data/osm-egress-crd.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]
