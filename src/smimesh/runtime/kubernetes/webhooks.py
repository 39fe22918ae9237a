"""The webhooks' serving certificate: issued from the mesh CA, replaced at half its life while serving.

`ServingWebhooks(app, ca, addr, dns_names)`: `await start() -> port`, `async run()` (the rotation loop),
`rotate_now()`, `await stop()`. The caBundle the API server checks it with is the mesh CA's, kept in the
CRDs and the webhook configuration by the lease holder (`writes.py`), so a new serving certificate
needs no caBundle change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from smimesh.api.webhooks.serve import WebhookServer
from smimesh.identity.ca import CertificateAuthority
from smimesh.identity.serving import ServingCertificate, issue_serving


def service_names(service: str, namespace: str) -> list[str]:
    return [
        f"{service}.{namespace}.svc",
        f"{service}.{namespace}.svc.cluster.local",
        f"{service}.{namespace}",
    ]


class ServingWebhooks:
    def __init__(
        self,
        app: Any,
        ca: CertificateAuthority,
        addr: str,
        dns_names: Sequence[str],
        *,
        lifetime: timedelta = timedelta(days=7),
    ) -> None:
        self.server = WebhookServer(app, addr)
        self.ca, self.dns_names, self.lifetime = ca, list(dns_names), lifetime
        self.rotations = 0

    def _issue(self) -> ServingCertificate:
        return issue_serving(self.ca, self.dns_names, now=datetime.now(UTC), lifetime=self.lifetime)

    async def start(self) -> int:
        return await self.server.start(self._issue(), self.ca.chain_pem)

    def rotate_now(self) -> None:
        self.server.rotate(self._issue(), self.ca.chain_pem)
        self.rotations += 1

    async def run(self) -> None:
        while True:
            current = self.server.certificate
            due = current.renew_at(0.5) if current is not None else datetime.now(UTC)
            await asyncio.sleep(max(0.05, (due - datetime.now(UTC)).total_seconds()))
            self.rotate_now()

    async def stop(self) -> None:
        await self.server.stop()
