"""Envoy's RBAC decision, as the simulator needs it: principals and permissions of the policies smimesh
generates (`xds.rbac`), evaluated for one peer identity and one request.

`decide(rbac, peer, headers)` returns the name of the first policy (sorted, like Envoy's map order is
irrelevant to the result) that allows the request, or None when none does. Only the matchers smimesh
generates are modelled; anything else raises `NotImplementedError`, so a generator change cannot pass
silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from envoy.config.rbac.v3 import rbac_pb2

from smimesh.testing.matchers import header_matches, string_matches


def _principal(principal: rbac_pb2.Principal, peer: str | None) -> bool:
    kind = principal.WhichOneof("identifier")
    if kind == "any":
        return True
    if kind == "authenticated":
        return peer is not None and string_matches(principal.authenticated.principal_name, peer)
    raise NotImplementedError(f"RBAC principal {kind}")


def _permission(permission: rbac_pb2.Permission, headers: Mapping[str, str]) -> bool:
    kind = permission.WhichOneof("rule")
    if kind == "any":
        return True
    if kind == "header":
        return header_matches(permission.header, headers)
    if kind == "url_path":
        return string_matches(permission.url_path.path, headers.get(":path", "/").split("?", 1)[0])
    if kind == "and_rules":
        return all(_permission(p, headers) for p in permission.and_rules.rules)
    if kind == "or_rules":
        return any(_permission(p, headers) for p in permission.or_rules.rules)
    raise NotImplementedError(f"RBAC permission {kind}")


def decide(rules: rbac_pb2.RBAC, peer: str | None, headers: Mapping[str, str]) -> str | None:
    """The allowing policy's name, or None (denied). ALLOW rules only: smimesh never generates DENY."""
    if rules.action != rbac_pb2.RBAC.ALLOW:
        raise NotImplementedError(f"RBAC action {rules.action}")
    for name in sorted(rules.policies):
        policy = rules.policies[name]
        if any(_principal(p, peer) for p in policy.principals) and any(
            _permission(p, headers) for p in policy.permissions
        ):
            return str(name)
    return None


def unpacked(config: Any, cls: Any) -> Any:
    """The message of type `cls` packed in `config` (an Any), or None when it holds another type."""
    if not config.Is(cls.DESCRIPTOR):
        return None
    message = cls()
    config.Unpack(message)
    return message
