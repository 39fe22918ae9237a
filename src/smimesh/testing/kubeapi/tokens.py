"""Service-account tokens the test API server issues, and the TokenReview API that checks them.

Like kube-apiserver's bound (projected) tokens: each names a namespace, service account, audiences, an
expiry and optionally the pod it was issued for. A review succeeds only if the token is known, not
expired, its pod (if bound) still exists with the same uid, and it shares an audience with the review's
`spec.audiences` (none asked = the API server's own audience). The answer carries
`user.username` = `system:serviceaccount:<ns>:<sa>` and `user.extra` with the pod name and uid, as
the real one does. Tokens here are opaque random strings, not JWTs (nobody but the API server reads them).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"
POD_NAME = "authentication.kubernetes.io/pod-name"
POD_UID = "authentication.kubernetes.io/pod-uid"


@dataclass(frozen=True, slots=True)
class Grant:
    namespace: str
    service_account: str
    audiences: tuple[str, ...]
    expires_at: float
    pod: str | None = None
    pod_uid: str | None = None

    @property
    def username(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.service_account}"


class TokenIssuer:
    """Issues tokens and answers TokenReviews; `pod_uid(ns, name)` says whether a bound pod still exists."""

    def __init__(self, pod_uid: Callable[[str, str], str | None]) -> None:
        self._lock = threading.Lock()
        self._grants: dict[str, Grant] = {}
        self._pod_uid = pod_uid

    def issue(
        self,
        namespace: str,
        service_account: str,
        *,
        pod: str | None = None,
        audiences: Sequence[str] = ("smimesh",),
        expires_in: float = 3600.0,
    ) -> str:
        token = secrets.token_urlsafe(32)
        uid = self._pod_uid(namespace, pod) if pod else None
        grant = Grant(namespace, service_account, tuple(audiences), time.time() + expires_in, pod, uid)
        with self._lock:
            self._grants[token] = grant
        return token

    def review(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """The `status` of a TokenReview for `spec` ({token, audiences})."""
        wanted = tuple(spec.get("audiences") or (API_AUDIENCE,))
        with self._lock:
            grant = self._grants.get(str(spec.get("token", "")))
        problem = self._problem(grant, wanted)
        if problem or grant is None:
            return {"authenticated": False, "error": problem or "invalid bearer token"}
        user: dict[str, Any] = {
            "username": grant.username,
            "uid": f"sa-{grant.namespace}-{grant.service_account}",
            "groups": [
                "system:serviceaccounts",
                f"system:serviceaccounts:{grant.namespace}",
                "system:authenticated",
            ],
        }
        if grant.pod:
            user["extra"] = {POD_NAME: [grant.pod], POD_UID: [grant.pod_uid or ""]}
        return {"authenticated": True, "user": user, "audiences": [a for a in wanted if a in grant.audiences]}

    def _problem(self, grant: Grant | None, wanted: tuple[str, ...]) -> str | None:
        if grant is None:
            return "invalid bearer token, token lookup failed"
        if time.time() > grant.expires_at:
            return "invalid bearer token, token has expired"
        if not set(wanted) & set(grant.audiences):
            return (
                "invalid bearer token, token audiences "
                + str(list(grant.audiences))
                + " is invalid for the target audiences "
                + str(list(wanted))
            )
        if grant.pod and self._pod_uid(grant.namespace, grant.pod) != grant.pod_uid:
            return f'invalid bearer token, pod "{grant.pod}" not found or recreated'
        return None
