"""Serving the webhooks over TLS, with a certificate that can be replaced while serving.

`WebhookServer(app, addr)`: `await start(certificate) -> port`, `rotate(certificate)` (new handshakes
use the new certificate at once; open connections keep theirs: no request fails), `await stop()`.
The key reaches `ssl` through a 0600 temporary file deleted right after loading (Python's `ssl` reads
keys only from files); it is never kept on disk.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

from smimesh.api.serve import ApiServer
from smimesh.identity.serving import ServingCertificate


def load_into(context: ssl.SSLContext, certificate: ServingCertificate, chain: bytes = b"") -> None:
    with tempfile.TemporaryDirectory(prefix="smimesh-webhook-") as tmp:
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert.write_bytes(certificate.certificate_pem + chain)
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(certificate.private_key_pem)
        context.load_cert_chain(cert, key)


class WebhookServer:
    """`api.serve.ApiServer` over TLS with a context this object owns; see the module docstring."""

    def __init__(self, app: Any, addr: str = "127.0.0.1:0") -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._server = ApiServer(app, addr, ssl_context=self._context)
        self.certificate: ServingCertificate | None = None

    @property
    def port(self) -> int:
        return self._server.port

    def rotate(self, certificate: ServingCertificate, chain: bytes = b"") -> None:
        load_into(self._context, certificate, chain)
        self.certificate = certificate

    async def start(self, certificate: ServingCertificate, chain: bytes = b"") -> int:
        self.rotate(certificate, chain)
        return await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()
