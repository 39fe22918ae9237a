"""Who may do what on the test API server: a small stand-in for RBAC, for users a test restricts.

kube-apiserver authorizes each request by (user, verb, resource[/subresource], namespace). Here a test
gives a user a bearer token and the only rules it holds: `api.restrict_user(token, "alice",
["get pods"])`; a request with that token for anything else is `403 Forbidden` with kube-apiserver's
message. Requests without a restricted token are allowed, as before (the test kit's admin): no Role
or RoleBinding object is evaluated, and no verb but those of the request methods (`get list watch
create update patch delete`) exists.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass

from smimesh.testing.kubeapi.objects import ApiError


@dataclass(frozen=True, slots=True)
class Access:
    """One request as authorization sees it."""

    verb: str
    resource: str  # plural, or plural/subresource
    namespace: str
    name: str = ""
    group: str = ""


def verb_of(method: str, named: bool, watching: bool) -> str:
    if method == "GET":
        return "get" if named else ("watch" if watching else "list")
    return {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, "")


class Authorizer:
    """See the module docstring."""

    def __init__(self) -> None:
        self._users: dict[str, tuple[str, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def restrict_user(self, token: str, user: str, rules: Iterable[str]) -> None:
        with self._lock:
            self._users[token] = (user, frozenset(rules))

    def check(self, authorization: str, access: Access) -> None:
        token = authorization.removeprefix("Bearer ").strip()
        with self._lock:
            user, rules = self._users.get(token, ("", frozenset()))
        if not user or f"{access.verb} {access.resource}" in rules:
            return
        raise _forbidden(user, access)


def _forbidden(user: str, access: Access) -> ApiError:
    plural = access.resource.split("/")[0]
    subject = f'{plural} "{access.name}"' if access.name else plural
    where = f' in the namespace "{access.namespace}"' if access.namespace else " at the cluster scope"
    message = (
        f'{subject} is forbidden: User "{user}" cannot {access.verb} resource "{access.resource}" '
        f'in API group "{access.group}"{where}'
    )
    return ApiError(403, "Forbidden", message, {"name": access.name, "kind": plural})
