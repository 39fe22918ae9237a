"""Test helper: smimesh's webhooks served over TLS from a mesh CA and registered with a test API server.

`with serving_webhooks(api) as hooks:` starts the webhook app (`api.webhooks`) in a thread with its own
loop, routes the `smimesh-webhook` Service to it, and creates the SMI CRDs (conversion webhook) and the
ValidatingWebhookConfiguration with the CA's bundle. `hooks.rotate()` swaps in a new serving
certificate. The control plane does the same for real (`runtime/kubernetes`); this is for tests of
the API server and the webhooks alone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from smimesh.api.webhooks.app import create_webhook_app
from smimesh.api.webhooks.config import crds_with_bundle, validating_webhook
from smimesh.api.webhooks.serve import WebhookServer
from smimesh.identity.ca import CertificateAuthority, create_root
from smimesh.identity.serving import issue_serving
from smimesh.resources.crd import WebhookService
from smimesh.testing.kubeapi.server import KubeApiServer

SERVICE = WebhookService()


def service_dns(service: WebhookService = SERVICE) -> list[str]:
    return [
        f"{service.name}.{service.namespace}.svc",
        f"{service.name}.{service.namespace}.svc.cluster.local",
    ]


@dataclass
class RunningWebhooks:
    ca: CertificateAuthority
    server: WebhookServer
    loop: asyncio.AbstractEventLoop
    serials: list[int] = field(default_factory=list)

    def rotate(self) -> int:
        """Serve a newly issued certificate from now on; returns its serial."""
        cert = issue_serving(self.ca, service_dns(), now=datetime.now(UTC))
        self.loop.call_soon_threadsafe(self.server.rotate, cert)
        self.serials.append(cert.serial)
        return cert.serial


@contextmanager
def serving_webhooks(api: KubeApiServer, *, register: bool = True) -> Iterator[RunningWebhooks]:
    ca = create_root(trust_domain="cluster.local", now=datetime.now(UTC))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="webhooks-test", daemon=True)
    thread.start()
    server = WebhookServer(create_webhook_app())
    cert = issue_serving(ca, service_dns(), now=datetime.now(UTC))
    try:
        port = asyncio.run_coroutine_threadsafe(server.start(cert), loop).result(30)
        api.route_service(SERVICE.namespace, SERVICE.name, f"127.0.0.1:{port}")
        if register:
            for definition in crds_with_bundle(ca.certificate_pem, SERVICE):
                api.create(definition)
            api.create(validating_webhook(ca.certificate_pem, SERVICE))
        yield RunningWebhooks(ca, server, loop, [cert.serial])
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
