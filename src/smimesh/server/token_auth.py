"""xDS authentication in a cluster: the sidecar's projected service-account token, checked by TokenReview.

Owns `TokenReviewAuthenticator(review, identity_of=, audience="smimesh")`, a server hook. The sidecar
sends `authorization: Bearer <token>` as gRPC initial metadata on its ADS stream; the token is the
pod's projected service-account token for the audience `smimesh` (bound to the pod). The hook asks the
API server (`review(token, [audience])`, a TokenReview) and lets the stream through only if the token is
authenticated **for that audience**, names a service account (`system:serviceaccount:<ns>:<sa>`) and a
pod (`authentication.kubernetes.io/pod-name`), and the stream's node id is that pod's
(`<pod>.<namespace>`), whose service account, when the mesh knows the pod, is the token's. Everything
else — no token, an unknown, expired or another audience's token, a token of a deleted pod, another
pod's token, a TokenReview that fails — is refused (PERMISSION_DENIED) and logged; the stream then gets
nothing. As with the local credential, a stream only ever serves its own node's snapshot, so an
authenticated sidecar gets its own pod's config and its own service account's certificate only.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from smimesh.server.hooks import Metadata, ServerHooks
from smimesh.server.xds_auth import Refusal

log = logging.getLogger(__name__)

AUTH_HEADER = "authorization"
POD_NAME = "authentication.kubernetes.io/pod-name"
SA_PREFIX = "system:serviceaccount:"
Review = Callable[[str, list[str]], Awaitable[Mapping[str, Any]]]
IdentityOf = Callable[[str], tuple[str, str] | None]  # node id -> (namespace, service account) or None


def bearer_token(metadata: Metadata) -> str:
    for key, value in metadata:
        if key.lower() == AUTH_HEADER:
            text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


class TokenReviewAuthenticator(ServerHooks):
    """See the module docstring; `refusals` keeps the most recent refusals (newest last)."""

    def __init__(
        self, review: Review, *, identity_of: IdentityOf | None = None, audience: str = "smimesh"
    ) -> None:
        self._review = review
        self._identity_of = identity_of
        self.audience = audience
        self.refusals: deque[Refusal] = deque(maxlen=200)
        self.accepted = 0

    def authorize(self, node_id: str, peer: str, metadata: Metadata) -> bool:
        return self._refuse(node_id, peer, "this server checks tokens asynchronously only")

    async def authorize_async(self, node_id: str, peer: str, metadata: Metadata) -> bool:
        token = bearer_token(metadata)
        if not token:
            return self._refuse(node_id, peer, "no service-account token (authorization: Bearer ...)")
        try:
            status = await self._review(token, [self.audience])
        except Exception as exc:  # fail closed: no answer is no access
            return self._refuse(node_id, peer, f"TokenReview failed: {type(exc).__name__}: {exc}")
        problem = self._problem(node_id, status)
        if problem:
            return self._refuse(node_id, peer, problem)
        self.accepted += 1
        return True

    def _problem(self, node_id: str, status: Mapping[str, Any]) -> str | None:
        if not status.get("authenticated"):
            return f"the API server refused the token: {status.get('error', 'not authenticated')}"
        if self.audience not in (status.get("audiences") or []):
            return f"the token is not for the audience {self.audience!r}"
        user = status.get("user") or {}
        username = str(user.get("username", ""))
        if not username.startswith(SA_PREFIX) or username.count(":") != 3:
            return f"the token is not a service account's ({username!r})"
        namespace, account = username[len(SA_PREFIX) :].split(":")
        pods = (user.get("extra") or {}).get(POD_NAME) or []
        if not pods:
            return "the token is not bound to a pod (use a projected service-account token)"
        expected = f"{pods[0]}.{namespace}"
        if node_id != expected:
            return f"a token of pod {namespace}/{pods[0]} cannot fetch the config of node {node_id!r}"
        known = self._identity_of(node_id) if self._identity_of is not None else None
        if known is not None and known != (namespace, account):
            return (
                f"the token's service account {namespace}/{account} is not the pod's ({known[0]}/{known[1]})"
            )
        return None

    def _refuse(self, node_id: str, peer: str, reason: str) -> bool:
        log.warning("xDS: refused a stream from %s claiming node %r: %s", peer or "?", node_id, reason)
        self.refusals.append(Refusal(time.time(), node_id, peer, reason))
        return False
