"""xDS authentication: every sidecar proves which node it is before it gets any config.

Owns `NodeAuthenticator`, a server hook. The runtime writes a per-instance credential into each
sidecar's bootstrap (`bootstrap_metadata(node_id)`: gRPC initial metadata sent on the ADS stream);
the credential is an HMAC of the node id under a key only the control plane holds, so it proves
the node id and nothing else, and needs no table. A stream whose first request names a node the
credential was not made for (or carries none) is refused with PERMISSION_DENIED and logged; the
proxy then gets nothing. Because every stream serves only the snapshot of its authenticated node,
a proxy can only ever receive its own config and its own identity's secrets (see `sds.py`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass

from smimesh.server.hooks import Metadata, ServerHooks

log = logging.getLogger(__name__)

TOKEN_HEADER = "x-smimesh-node-token"
_KEEP_REFUSALS = 200


@dataclass(frozen=True, slots=True)
class Refusal:
    """One refused request, for the log, `smimesh status` and tests."""

    at: float
    node_id: str
    peer: str
    reason: str


class NodeAuthenticator(ServerHooks):
    """Checks each ADS stream's node token; keeps the most recent refusals."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        self.refusals: deque[Refusal] = deque(maxlen=_KEEP_REFUSALS)

    def token_for(self, node_id: str) -> str:
        return hmac.new(self._key, node_id.encode(), hashlib.sha256).hexdigest()

    def bootstrap_metadata(self, node_id: str) -> list[dict[str, str]]:
        """The `initial_metadata` of the sidecar's ADS `grpc_services` entry."""
        return [{"key": TOKEN_HEADER, "value": self.token_for(node_id)}]

    def authorize(self, node_id: str, peer: str, metadata: Metadata) -> bool:
        presented = [value for key, value in metadata if key.lower() == TOKEN_HEADER]
        if not presented:
            return self._refuse(node_id, peer, "no node credential")
        token = presented[0]
        text = token.decode(errors="replace") if isinstance(token, bytes) else token
        if not hmac.compare_digest(text, self.token_for(node_id)):
            return self._refuse(node_id, peer, "credential not issued for this node id")
        return True

    def _refuse(self, node_id: str, peer: str, reason: str) -> bool:
        log.warning("xDS: refused a stream from %s claiming node %r: %s", peer or "?", node_id, reason)
        self.refusals.append(Refusal(time.time(), node_id, peer, reason))
        return False
