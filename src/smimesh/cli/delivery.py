"""How the CLI tells what did not reach the sidecars: refused configs, failed generation, held objects.

Owns the rendering of the `delivery` section of `/api/v1/status` (`runtime.app.MeshApp.status`)
for `smimesh status`, `smimesh proxy-status` and `smimesh apply`: one line per sidecar that
refused a config (Envoy's text, how often, whether it is resent), per sidecar whose config could
not be generated, and per object held back; and the one-line summary under `status`.
"""

from __future__ import annotations

from typing import Any

from smimesh.cli import numbers


def problem_lines(delivery: dict[str, Any] | None) -> list[str]:
    """Every delivery problem, one line each (none when everything reached every sidecar)."""
    delivery = delivery or {}
    lines = [_refused(item) for item in delivery.get("refused", [])]
    lines += [
        f"{node}: its config could not be generated ({why}); it keeps its last one"
        for node, why in sorted((delivery.get("generation_failed") or {}).items())
    ]
    lines += [
        f"{key} held back: its Envoy config cannot be generated ({why}); every sidecar has the rest"
        for key, why in sorted((delivery.get("held_back") or {}).items())
    ]
    return lines


def _refused(item: dict[str, Any]) -> str:
    resend = item.get("resend")
    then = (
        f"resend {resend['attempt']} at {numbers.timestamp(resend['at'])}"
        if resend
        else "waiting for a fixed config"
    )
    times = item.get("nacks", 1)
    return (
        f"{item['node_id']}: Envoy refused {item['type']} ({times} time{'s' if times != 1 else ''}, {then}): "
        f"{str(item.get('message', '')).strip()}"
    )


def summary_line(delivery: dict[str, Any] | None, security: dict[str, Any] | None) -> str:
    """`xDS: ...` under `smimesh status`: refusals (NACK), failed sidecars, held objects, and
    streams refused for lack of a valid node credential."""
    delivery = delivery or {}
    refused = {item["node_id"] for item in delivery.get("refused", [])}
    failed = delivery.get("generation_failed") or {}
    held = delivery.get("held_back") or {}
    unauthenticated = (security or {}).get("xds_refusals", 0)
    return (
        f"xDS: {len(refused)} sidecar(s) refusing config (NACK), {len(failed)} without generated "
        f"config, {len(held)} object(s) held back; {unauthenticated} unauthenticated stream(s) refused"
    )
