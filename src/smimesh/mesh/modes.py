"""Mesh modes: how strictly the mesh enforces access control and mTLS, mesh-wide and per namespace.

Owns `MeshModes` (frozen, hashable: generators cache on it) and the `smimesh.io/v1alpha1
MeshConfig` document that sets it. A user writes one MeshConfig file and points `smimesh up` at
it (`--mesh-config FILE`, or `SMIMESH_MESH_CONFIG=FILE`):

    apiVersion: smimesh.io/v1alpha1
    kind: MeshConfig
    metadata: {name: mesh}
    spec:
      trafficPolicy: smi        # smi (default deny: only TrafficTargets allow) | open (all allowed)
      mtls: strict              # strict (plaintext refused) | permissive (mTLS or plaintext accepted)
      namespaces:
        legacy: {mtls: permissive, audit: true}   # audit: would-be denials allowed, logged, counted
      pathRegexMatch: start     # start (SMI: pathRegex matches the start of the path) | full (OSM)
      tcpRouteAdmitsHttp: false # true: a TCPRoute-only TrafficTarget admits HTTP on its ports (L4)
      egress: policy            # policy (only hosts an Egress names) | open (any external host)

Without a file the mesh is `smi` + `strict` everywhere, no audit, the SMI readings of access rules.
A bad file never half-applies: `parse_mesh_config` returns diagnostics (file:line, field path,
value found, expected) and the defaults; the caller refuses to start with errors (a running
`smimesh up` keeps its last good modes).
"""

from __future__ import annotations

import enum
import types
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from smimesh.diagnostics import Diagnostic, Location, ObjectRef, Severity, register
from smimesh.mesh.model import AccessSemantics
from smimesh.mesh.osm_mesh_config import API_VERSIONS as OSM_API_VERSIONS
from smimesh.mesh.osm_mesh_config import osm_fields

API_VERSION = "smimesh.io/v1alpha1"
KIND = "MeshConfig"

BAD_MESH_CONFIG = register(
    "SM6101",
    "Invalid MeshConfig",
    Severity.ERROR,
    """The MeshConfig file (given to `smimesh up --mesh-config` or in SMIMESH_MESH_CONFIG) has a field
    with a value smimesh does not understand. The mesh does not start with a half-understood security
    configuration, and a running mesh keeps its last good modes after a bad edit of the file: fix the
    field named in the message. Accepted: spec.trafficPolicy smi|open,
    spec.mtls strict|permissive, spec.namespaces.<ns>.mtls strict|permissive, spec.namespaces.<ns>.audit
    true|false, spec.pathRegexMatch start|full, spec.tcpRouteAdmitsHttp true|false,
    spec.egress policy|open.""",
)


class TrafficPolicyMode(enum.StrEnum):
    SMI = "smi"  # default deny: only TrafficTargets allow
    OPEN = "open"  # every workload in the mesh may reach every other one


class PathRegexMatch(enum.StrEnum):
    START = "start"  # SMI: the regex matches from the start of the path, the rest may be anything
    FULL = "full"  # OSM: the regex must match the entire path


class EgressMode(enum.StrEnum):
    POLICY = "policy"  # a workload reaches only the external hosts an Egress names for it
    OPEN = "open"  # any external host (through the sidecar's dynamic forward proxy)


class MtlsMode(enum.StrEnum):
    STRICT = "strict"  # an inbound listener refuses plaintext
    PERMISSIVE = "permissive"  # an inbound listener accepts mTLS and plaintext (for onboarding)


@dataclass(frozen=True, slots=True, order=True)
class NamespaceMode:
    namespace: str
    mtls: MtlsMode | None = None  # None: the mesh-wide default
    audit: bool = False


@dataclass(frozen=True, slots=True)
class MeshModes:
    traffic_policy: TrafficPolicyMode = TrafficPolicyMode.SMI
    mtls: MtlsMode = MtlsMode.STRICT
    namespaces: tuple[NamespaceMode, ...] = ()
    path_regex_match: PathRegexMatch = PathRegexMatch.START
    tcp_route_admits_http: bool = False
    egress: EgressMode = EgressMode.POLICY
    # Pods' egress by policy even while the mesh holds no Egress (`smimesh controller --egress policy`);
    # False: pods pass external traffic through until the first Egress exists (`auto`).
    egress_enforced: bool = False
    leaf_lifetime_s: float | None = None  # from an OSM MeshConfig's serviceCertValidityDuration

    @property
    def open(self) -> bool:
        return self.traffic_policy is TrafficPolicyMode.OPEN

    @property
    def semantics(self) -> AccessSemantics:
        """The access-rule readings the model is built with (`build_model(semantics=...)`)."""
        full = self.path_regex_match is PathRegexMatch.FULL
        return AccessSemantics(path_regex_full=full, tcp_route_admits_http=self.tcp_route_admits_http)

    def _namespace(self, namespace: str) -> NamespaceMode | None:
        return next((n for n in self.namespaces if n.namespace == namespace), None)

    def mtls_for(self, namespace: str) -> MtlsMode:
        found = self._namespace(namespace)
        return found.mtls if found is not None and found.mtls is not None else self.mtls

    def audit(self, namespace: str) -> bool:
        found = self._namespace(namespace)
        return found is not None and found.audit

    @property
    def audit_namespaces(self) -> frozenset[str]:
        """The namespaces in audit mode: every caller sees their services (`mesh.visibility`)."""
        return frozenset(n.namespace for n in self.namespaces if n.audit)

    def describe(self, namespace: str) -> dict[str, Any]:
        """What `smimesh status` shows for one namespace."""
        return {
            "namespace": namespace,
            "traffic_policy": self.traffic_policy.value,
            "mtls": self.mtls_for(namespace).value,
            "audit": self.audit(namespace),
        }


DEFAULT_MODES = MeshModes()

# `smimesh controller --egress`: the cluster has no MeshConfig, so its egress switch is a flag.
CLUSTER_EGRESS = types.MappingProxyType(
    {
        "auto": DEFAULT_MODES,  # by policy once the mesh holds any Egress; before that, pods pass through
        "policy": replace(DEFAULT_MODES, egress_enforced=True),  # only what an Egress names, always
        "open": replace(DEFAULT_MODES, egress=EgressMode.OPEN),  # any external host
    }
)


class _Problems:
    """Collects diagnostics for one file, locating each field path by the YAML node it came from."""

    def __init__(self, source: str, lines: Mapping[tuple[str, ...], int]) -> None:
        self.source, self.lines, self.found = source, lines, list[Diagnostic]()

    def add(self, path: tuple[str, ...], message: str, value: object, expected: str) -> None:
        line = self.lines.get(path) or self.lines.get(path[:-1])
        self.found.append(
            Diagnostic(
                BAD_MESH_CONFIG.code,
                message,
                location=Location(self.source, line),
                object=ObjectRef(KIND, name="mesh"),
                path=".".join(path),
                value=repr(value),
                expected=expected,
                hint=f"see `smimesh explain-code {BAD_MESH_CONFIG.code}`",
            )
        )


def _node_lines(node: yaml.Node | None, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], int]:
    lines: dict[tuple[str, ...], int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, str(key.value))
            lines[child] = key.start_mark.line + 1
            lines.update(_node_lines(value, child))
    return lines


def _enum(problems: _Problems, path: tuple[str, ...], value: object, cls: type[enum.StrEnum]) -> Any:
    choices = [m.value for m in cls]
    if isinstance(value, str) and value in choices:
        return cls(value)
    problems.add(path, f"{path[-1]} must be one of {', '.join(choices)}", value, " | ".join(choices))
    return None


def _namespace_mode(problems: _Problems, name: str, raw: object) -> NamespaceMode | None:
    path = ("spec", "namespaces", name)
    if not isinstance(raw, Mapping):
        problems.add(path, "a namespace entry must be a mapping", raw, "{mtls: ..., audit: ...}")
        return None
    for key in set(raw) - {"mtls", "audit"}:
        problems.add((*path, str(key)), f"unknown field {key!r}", raw[key], "mtls | audit")
    mtls = _enum(problems, (*path, "mtls"), raw["mtls"], MtlsMode) if "mtls" in raw else None
    audit = _flag(problems, (*path, "audit"), raw.get("audit", False))
    return NamespaceMode(name, mtls, audit)


def _flag(problems: _Problems, path: tuple[str, ...], value: object) -> bool:
    if isinstance(value, bool):
        return value
    problems.add(path, f"{path[-1]} must be true or false", value, "true | false")
    return False


_SPEC_FIELDS = ("trafficPolicy", "mtls", "namespaces", "pathRegexMatch", "tcpRouteAdmitsHttp", "egress")


def _spec(problems: _Problems, spec: Mapping[str, Any]) -> MeshModes:
    for key in set(spec) - set(_SPEC_FIELDS):
        problems.add(("spec", str(key)), f"unknown field {key!r}", spec[key], " | ".join(_SPEC_FIELDS))
    policy = _enum(problems, ("spec", "trafficPolicy"), spec.get("trafficPolicy", "smi"), TrafficPolicyMode)
    mtls = _enum(problems, ("spec", "mtls"), spec.get("mtls", "strict"), MtlsMode)
    raw_namespaces = spec.get("namespaces") or {}
    if not isinstance(raw_namespaces, Mapping):
        problems.add(("spec", "namespaces"), "namespaces must be a mapping", raw_namespaces, "{ns: {...}}")
        raw_namespaces = {}
    namespaces = [_namespace_mode(problems, str(n), raw) for n, raw in raw_namespaces.items()]
    path_match = _enum(
        problems, ("spec", "pathRegexMatch"), spec.get("pathRegexMatch", "start"), PathRegexMatch
    )
    return MeshModes(
        policy or TrafficPolicyMode.SMI,
        mtls or MtlsMode.STRICT,
        tuple(sorted(n for n in namespaces if n is not None)),
        path_match or PathRegexMatch.START,
        _flag(problems, ("spec", "tcpRouteAdmitsHttp"), spec.get("tcpRouteAdmitsHttp", False)),
        _enum(problems, ("spec", "egress"), spec.get("egress", "policy"), EgressMode) or EgressMode.POLICY,
    )


def parse_mesh_config(text: str, source: str = "<mesh-config>") -> tuple[MeshModes, list[Diagnostic]]:
    """The modes a MeshConfig document sets, and every problem found (defaults when there are errors)."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problems = _Problems(source, {(): line} if line else {})
        problems.add((), f"not valid YAML: {getattr(error, 'problem', error)}", text[:40], "a YAML mapping")
        return DEFAULT_MODES, problems.found
    problems = _Problems(source, _node_lines(node))
    if not isinstance(data, Mapping):
        problems.add(
            (), "a MeshConfig must be a YAML mapping", data, f"apiVersion: {API_VERSION}, kind: {KIND}"
        )
        return DEFAULT_MODES, problems.found
    if data.get("apiVersion") in OSM_API_VERSIONS and data.get("kind") == KIND:
        return _osm(problems, data.get("spec"))
    if data.get("apiVersion") != API_VERSION or data.get("kind") != KIND:
        found = f"{data.get('apiVersion')} {data.get('kind')}"
        problems.add(("kind",), "not a MeshConfig", found, f"apiVersion: {API_VERSION}, kind: {KIND}")
    spec = data.get("spec") or {}
    if not isinstance(spec, Mapping):
        problems.add(("spec",), "spec must be a mapping", spec, "{trafficPolicy, mtls, namespaces}")
        spec = {}
    modes = _spec(problems, spec)
    return (DEFAULT_MODES if problems.found else modes), problems.found


def _osm(problems: _Problems, spec: object) -> tuple[MeshModes, list[Diagnostic]]:
    """OSM's MeshConfig (mesh/osm_mesh_config.py); warnings alone do not stop it applying."""
    fields, warnings = osm_fields(problems, spec if isinstance(spec, Mapping) else {})
    if problems.found:
        return DEFAULT_MODES, problems.found + warnings
    if "traffic_policy" in fields:
        fields["traffic_policy"] = TrafficPolicyMode(fields["traffic_policy"])
    if "egress" in fields:
        fields["egress"] = EgressMode(fields["egress"])
    return MeshModes(**fields), warnings


def load_mesh_config(path: Path) -> tuple[MeshModes, list[Diagnostic]]:
    """`parse_mesh_config` of a file; an unreadable file is one diagnostic too."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problems = _Problems(str(path), {})
        problems.add((), f"cannot read the MeshConfig file: {error}", str(path), "a readable YAML file")
        return DEFAULT_MODES, problems.found
    return parse_mesh_config(text, str(path))


def summary(modes: MeshModes) -> str:
    """One line naming the modes in force, e.g. `trafficPolicy smi, mtls strict, audit in legacy`."""
    parts = [f"trafficPolicy {modes.traffic_policy.value}", f"mtls {modes.mtls.value}"]
    parts += [f"mtls {n.mtls.value} in {n.namespace}" for n in modes.namespaces if n.mtls is not None]
    audited = [n.namespace for n in modes.namespaces if n.audit]
    if audited:
        parts.append(f"audit in {', '.join(audited)}")
    return ", ".join(parts + _switch_changes(DEFAULT_MODES, modes, with_old=False))


def _switch_changes(old: MeshModes, new: MeshModes, *, with_old: bool = True) -> list[str]:
    """The access-semantics switches that differ (`pathRegexMatch start -> full`)."""
    found = []
    if old.path_regex_match != new.path_regex_match:
        before = f"{old.path_regex_match.value} -> " if with_old else ""
        found.append(f"pathRegexMatch {before}{new.path_regex_match.value}")
    if old.tcp_route_admits_http != new.tcp_route_admits_http:
        before = f"{str(old.tcp_route_admits_http).lower()} -> " if with_old else ""
        found.append(f"tcpRouteAdmitsHttp {before}{str(new.tcp_route_admits_http).lower()}")
    return found


def changes(old: MeshModes, new: MeshModes) -> list[str]:
    """What differs between two sets of modes, one phrase per setting (`trafficPolicy smi -> open`)."""
    found = []
    if old.traffic_policy != new.traffic_policy:
        found.append(f"trafficPolicy {old.traffic_policy.value} -> {new.traffic_policy.value}")
    if old.mtls != new.mtls:
        found.append(f"mtls {old.mtls.value} -> {new.mtls.value}")
    for namespace in sorted({n.namespace for n in (*old.namespaces, *new.namespaces)}):
        before, after = old.describe(namespace), new.describe(namespace)
        for key in ("mtls", "audit"):
            if before[key] != after[key]:
                found.append(f"{namespace}: {key} {_word(before[key])} -> {_word(after[key])}")
    if old.egress != new.egress:
        found.append(f"egress {old.egress.value} -> {new.egress.value}")
    if old.leaf_lifetime_s != new.leaf_lifetime_s:
        found.append(
            f"certificate lifetime {old.leaf_lifetime_s or 'default'} -> {new.leaf_lifetime_s or 'default'} s"
        )
    return found + _switch_changes(old, new)


def _word(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
