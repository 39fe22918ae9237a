"""Flagger's webhooks: who is called when, with which JSON payload, and what their answer means.

Payload (Flagger's `CanaryWebhookPayload`): `{"name", "namespace", "phase", "checksum", "metadata"}`;
event hooks get `metadata` = `{"eventMessage", "eventType", "timestamp"}`. A hook succeeds when it
answers 200-202 within its `timeout` (default 10 s), after up to `retries` retries. Gates
(confirm-rollout, confirm-traffic-increase, confirm-promotion) hold the analysis while closed; a
`rollback` hook that succeeds rolls the canary back; pre-rollout and rollout failures are failed
checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from smimesh.resources.canary import Canary, Webhook
from smimesh.resources.durations import parse_duration

DEFAULT_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class HookResult:
    ok: bool
    detail: str  # the status code, or the transport error


def payload(canary: Canary, phase: str, checksum: str, metadata: dict[str, str] | None) -> dict[str, Any]:
    return {
        "name": canary.metadata.name,
        "namespace": canary.metadata.namespace,
        "phase": phase,
        "checksum": checksum,
        "metadata": dict(metadata or {}),
    }


def event_metadata(message: str, warning: bool) -> dict[str, str]:
    return {
        "eventMessage": message,
        "eventType": "Warning" if warning else "Normal",
        "timestamp": str(int(time.time() * 1000)),
    }


class HookCaller:
    """Calls hooks with one shared HTTP client (`close()` at the end)."""

    def __init__(self) -> None:
        self._client = httpx.AsyncClient(trust_env=False)  # hooks are called directly, not via a proxy

    async def close(self) -> None:
        await self._client.aclose()

    async def call(self, hook: Webhook, body: dict[str, Any]) -> HookResult:
        timeout = parse_duration(hook.timeout) if hook.timeout else DEFAULT_TIMEOUT_S
        result = HookResult(False, "not called")
        for _ in range((hook.retries or 0) + 1):
            result = await self._once(hook, body, timeout_s=timeout)
            if result.ok:
                break
        return result

    async def _once(self, hook: Webhook, body: dict[str, Any], *, timeout_s: float) -> HookResult:
        try:
            answer = await self._client.post(hook.url, json=body, timeout=timeout_s)
        except httpx.HTTPError as error:
            return HookResult(False, f"{type(error).__name__}: {error}")
        return HookResult(200 <= answer.status_code <= 202, f"status {answer.status_code}")


def hooks_of(canary: Canary, kind: str) -> list[Webhook]:
    return [hook for hook in canary.spec.analysis.webhooks if hook.kind == kind]
