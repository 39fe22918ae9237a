"""SDS on the ADS stream: who may ask for which secret, and a record of every refused ask.

Secrets travel like every other resource: the pipeline puts a sidecar's two secrets (its
identity's certificate and its trust bundle, `xds.secrets.secrets_for`) into that sidecar's own
snapshot, and a stream serves only its authenticated node's snapshot (`xds_auth.py`). So a proxy
that names another identity's secret simply gets nothing for it. `SecretGuard` (a server hook)
makes that visible: any SDS subscription to a name outside `allowed_secret_names(identity)` of the
node is logged and kept in `refusals`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from smimesh.identity.spiffe import SpiffeId
from smimesh.server.hooks import Request, ServerHooks, StreamInfo
from smimesh.server.xds_auth import Refusal
from smimesh.xds import type_urls
from smimesh.xds.secrets import OWN_CERTIFICATE, allowed_secret_names

log = logging.getLogger(__name__)

IdentityOf = Callable[[str], SpiffeId | None]


def requested_names(request: Request) -> list[str]:
    """The resource names a SotW or delta request asks for."""
    if hasattr(request, "resource_names_subscribe"):
        return list(request.resource_names_subscribe)
    return list(request.resource_names)


class SecretGuard(ServerHooks):
    """Logs and records SDS requests for secrets that are not the node's own."""

    def __init__(self, identity_of: IdentityOf) -> None:
        self._identity_of = identity_of
        self.refusals: deque[Refusal] = deque(maxlen=200)
        self._seen: set[tuple[int, str]] = set()  # every request repeats its names (ACKs): log each once

    def forbidden(self, node_id: str, names: list[str]) -> list[str]:
        identity = self._identity_of(node_id)
        allowed = allowed_secret_names(identity) | {OWN_CERTIFICATE} if identity is not None else frozenset()
        return sorted(set(names) - allowed - {"*"})

    def on_request(self, stream: StreamInfo, request: Request) -> None:
        if request.type_url != type_urls.SECRET:
            return
        for name in self.forbidden(stream.node_id, requested_names(request)):
            if (stream.stream_id, name) in self._seen:
                continue
            self._seen.add((stream.stream_id, name))
            log.warning(
                "SDS: node %r asked for secret %r, which is not its own: refused", stream.node_id, name
            )
            self.refusals.append(Refusal(time.time(), stream.node_id, stream.peer, f"secret {name}"))

    def on_stream_close(self, stream: StreamInfo) -> None:
        self._seen = {seen for seen in self._seen if seen[0] != stream.stream_id}
