"""Which resources the test API server serves: the built-in ones smimesh uses, plus every applied CRD.

Owns `ResourceType` (group, version, plural, kind, scope, and for a CRD its served/storage versions and
conversion settings) and `Catalog`: lookup by URL parts (group, version, plural) and by (apiVersion,
kind), and the discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/<g>/<v>`). Applying a CRD object
adds its versions; deleting it removes them (its objects are deleted by the server, as kube-apiserver does).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ResourceType:
    """One resource (e.g. `split.smi-spec.io` `trafficsplits`), served in `versions`, stored in `storage`."""

    group: str
    plural: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...]
    storage: str
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")
    crd: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        """What the object store keys this resource by (its objects are stored once, in `storage`)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str) -> str:
        return f"{self.group}/{version}" if self.group else version

    @property
    def storage_api_version(self) -> str:
        return self.api_version(self.storage)

    @property
    def conversion(self) -> Mapping[str, Any]:
        return (self.crd or {}).get("spec", {}).get("conversion") or {"strategy": "None"}

    def discovery_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        return entry


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    verbs: tuple[str, ...] | None = None,
) -> ResourceType:
    kwargs: dict[str, Any] = {"short_names": short}
    if verbs is not None:
        kwargs["verbs"] = verbs
    return ResourceType(group, plural, kind, namespaced, (version,), version, **kwargs)


BUILTIN: tuple[ResourceType, ...] = (
    _builtin("", "v1", "namespaces", "Namespace", namespaced=False, short=("ns",)),
    _builtin("", "v1", "services", "Service", short=("svc",)),
    _builtin("", "v1", "pods", "Pod", short=("po",)),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",)),
    _builtin("", "v1", "events", "Event", short=("ev",)),
    _builtin("", "v1", "secrets", "Secret"),
    _builtin("", "v1", "configmaps", "ConfigMap", short=("cm",)),
    _builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    _builtin("coordination.k8s.io", "v1", "leases", "Lease"),
    _builtin("events.k8s.io", "v1", "events", "Event", short=("ev",)),
    _builtin("apps", "v1", "deployments", "Deployment", short=("deploy",)),
    _builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",)),
    _builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", namespaced=False),
    _builtin(
        "rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False
    ),
    _builtin("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    _builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    _builtin(
        "authentication.k8s.io", "v1", "tokenreviews", "TokenReview", namespaced=False, verbs=("create",)
    ),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short=("crd", "crds"),
    ),
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        namespaced=False,
    ),
    _builtin(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        namespaced=False,
    ),
)


def from_crd(crd: Mapping[str, Any]) -> ResourceType:
    """The resource a CRD object defines (its served versions, its storage version)."""
    spec = crd["spec"]
    names = spec["names"]
    served = tuple(v["name"] for v in spec["versions"] if v.get("served", True))
    storage = next(v["name"] for v in spec["versions"] if v.get("storage"))
    return ResourceType(
        spec["group"],
        names["plural"],
        names["kind"],
        spec.get("scope", "Namespaced") == "Namespaced",
        served,
        storage,
        tuple(names.get("shortNames", ())),
        crd=crd,
    )


class Catalog:
    """The resources served now; thread-safe (CRDs come and go while clients discover)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._types: dict[str, ResourceType] = {t.id: t for t in BUILTIN}

    def add_crd(self, crd: Mapping[str, Any]) -> ResourceType:
        rtype = from_crd(crd)
        with self._lock:
            self._types[rtype.id] = rtype
        return rtype

    def remove(self, rid: str) -> None:
        with self._lock:
            self._types.pop(rid, None)

    def all(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def by_url(self, group: str, version: str, plural: str) -> ResourceType | None:
        rtype = self._get(f"{plural}.{group}" if group else plural)
        return rtype if rtype is not None and version in rtype.versions else None

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        return next(
            (t for t in self.all() if (t.group, t.kind) == (group, kind) and version in t.versions), None
        )

    def _get(self, rid: str) -> ResourceType | None:
        with self._lock:
            return self._types.get(rid)

    def group_versions(self) -> dict[str, list[str]]:
        """group -> served versions (the newest-stored first, as discovery's preferredVersion)."""
        found: dict[str, list[str]] = {}
        for rtype in self.all():
            if rtype.group:
                versions = found.setdefault(rtype.group, [])
                ordered = [rtype.storage, *(v for v in reversed(rtype.versions) if v != rtype.storage)]
                versions.extend(v for v in ordered if v not in versions)
        return found

    def in_group_version(self, group: str, version: str) -> Iterator[ResourceType]:
        return (t for t in self.all() if t.group == group and version in t.versions)


def api_versions() -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}],
    }


def group_list(catalog: Catalog) -> dict[str, Any]:
    groups = []
    for name, versions in sorted(catalog.group_versions().items()):
        entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        groups.append({"name": name, "versions": entries, "preferredVersion": entries[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def resource_list(catalog: Catalog, group: str, version: str) -> dict[str, Any] | None:
    found = sorted(catalog.in_group_version(group, version), key=lambda t: t.plural)
    if not found:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [t.discovery_entry() for t in found],
    }
