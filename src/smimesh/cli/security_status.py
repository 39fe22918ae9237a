"""What `smimesh status` and `smimesh up` show about security: modes per namespace, certificates.

Owns the rendering of the `security` section of `/api/v1/status` (from `runtime.identity.
MeshSecurity.status()`): the traffic policy, mTLS and audit mode of every namespace, and each
identity's certificate with its expiry and next renewal, plus the root CA's rotation state.
"""

from __future__ import annotations

from typing import Any

import click

from smimesh.cli import numbers
from smimesh.cli._client import table


def mode_line(security: dict[str, Any]) -> str:
    """One line for `smimesh up`'s summary."""
    audited = [n["namespace"] for n in security.get("namespaces", []) if n.get("audit")]
    permissive = [n["namespace"] for n in security.get("namespaces", []) if n.get("mtls") == "permissive"]
    extra = (f", audit in {', '.join(audited)}" if audited else "") + (
        f", permissive mTLS in {', '.join(permissive)}" if permissive else ""
    )
    return (
        f"security traffic policy {security.get('traffic_policy', '?')}, mTLS {security.get('mtls', '?')}"
        f"{extra}; {len(security.get('certificates', []))} identities with certificates"
    )


def show(security: dict[str, Any] | None) -> None:
    """The security tables of `smimesh status` (nothing when the mesh reports no security)."""
    if not security:
        return
    namespaces = security.get("namespaces", [])
    click.echo("")
    table(
        ["NAMESPACE", "TRAFFIC POLICY", "MTLS", "AUDIT"],
        [[n["namespace"], n["traffic_policy"], n["mtls"], "yes" if n["audit"] else "no"] for n in namespaces],
    )
    certificates = security.get("certificates", [])
    click.echo("")
    table(
        ["IDENTITY", "SERIAL", "EXPIRES", "IN", "RENEWS"],
        [
            [
                c["identity"],
                c["serial"][:12],
                numbers.timestamp(c["not_after"]),
                numbers.duration(c["expires_in_s"]),
                numbers.timestamp(c["renew_at"]),
            ]
            for c in certificates
        ],
    )
    root = security.get("root") or {}
    if root:
        click.echo(
            f"root CA {root.get('fingerprint', '?')[:16]}… "
            f"expires {numbers.timestamp(root.get('not_after'))}, "
            f"{root.get('phase', '?')}, {root.get('rotations', 0)} rotation(s)"
        )
