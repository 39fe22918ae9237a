"""Where the API server is and how to authenticate to it: a kubeconfig file, or the pod's own account.

`load_cluster(path=None, context=None)`: `path` (else `$KUBECONFIG`'s first file, else
`~/.kube/config`), the given or current context; the cluster's `server`, `certificate-authority(-data)`,
`insecure-skip-tls-verify`, the user's `token`/`tokenFile` or client certificate, the context's
namespace. `in_cluster()`: `KUBERNETES_SERVICE_HOST/PORT` and the mounted service-account token and CA.
Problems are `SmimeshError`s with a hint (a missing file, an unknown context), never a traceback.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from smimesh.errors import SmimeshError

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    server: str
    token: str = ""
    token_file: str = ""
    ca_pem: bytes = b""
    client_cert_pem: bytes = b""
    client_key_pem: bytes = b""
    insecure: bool = False
    namespace: str = "default"
    context: str = ""

    def bearer(self) -> str:
        """The current token (a token file is re-read: projected tokens rotate)."""
        if self.token_file:
            return Path(self.token_file).read_text().strip()
        return self.token

    def verify(self) -> ssl.SSLContext | bool:
        """What an HTTPS client to the API server verifies with (httpx's `verify=`, or the context a
        WebSocket wraps its socket in): the cluster's CA (else the system's) and the user's client
        certificate, or False with `insecure-skip-tls-verify`."""
        if self.insecure:
            return False
        context = (
            ssl.create_default_context(cadata=self.ca_pem.decode())
            if self.ca_pem
            else ssl.create_default_context()
        )
        if self.client_cert_pem:
            with tempfile.TemporaryDirectory() as tmp:  # ssl loads a key pair from files only
                cert, key = Path(tmp, "c.pem"), Path(tmp, "k.pem")
                cert.write_bytes(self.client_cert_pem)
                key.touch(0o600)
                key.write_bytes(self.client_key_pem)
                context.load_cert_chain(cert, key)
        return context


def _default_path() -> Path:
    env = os.environ.get("KUBECONFIG", "")
    first = next((p for p in env.split(os.pathsep) if p), "")
    return Path(first) if first else Path.home() / ".kube" / "config"


def _named(entries: list[dict[str, Any]], name: str, what: str, path: Path) -> dict[str, Any]:
    for entry in entries or []:
        if entry.get("name") == name:
            return dict(entry.get(what) or {})
    known = ", ".join(str(e.get("name")) for e in entries or []) or "none"
    raise SmimeshError(f"{path}: no {what} named {name!r}", hint=f"{what}s in the file: {known}")


def _data(section: dict[str, Any], key: str, base: Path) -> bytes:
    if section.get(f"{key}-data"):
        return base64.b64decode(str(section[f"{key}-data"]))
    if section.get(key):
        return (base / str(section[key])).read_bytes()
    return b""


def load_cluster(path: Path | None = None, context: str | None = None) -> ClusterConfig:
    path = path or _default_path()
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SmimeshError(
            f"cannot read the kubeconfig {path}: {exc}", hint="give one with --kubeconfig, or set KUBECONFIG"
        ) from None
    name = context or config.get("current-context") or ""
    if not name:
        raise SmimeshError(f"{path} has no current context", hint="pass --context NAME")
    ctx = _named(config.get("contexts", []), name, "context", path)
    cluster = _named(config.get("clusters", []), ctx.get("cluster", ""), "cluster", path)
    user = _named(config.get("users", []), ctx.get("user", ""), "user", path) if ctx.get("user") else {}
    base = path.parent
    return ClusterConfig(
        server=str(cluster.get("server", "")).rstrip("/"),
        token=str(user.get("token", "")),
        token_file=str(base / user["tokenFile"]) if user.get("tokenFile") else "",
        ca_pem=_data(cluster, "certificate-authority", base),
        client_cert_pem=_data(user, "client-certificate", base),
        client_key_pem=_data(user, "client-key", base),
        insecure=bool(cluster.get("insecure-skip-tls-verify", False)),
        namespace=str(ctx.get("namespace") or "default"),
        context=name,
    )


def in_cluster() -> ClusterConfig:
    host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host or not (SA_DIR / "token").exists():
        raise SmimeshError(
            "not running in a pod (no KUBERNETES_SERVICE_HOST or service-account token)",
            hint="outside a cluster, pass --kubeconfig",
        )
    host = f"[{host}]" if ":" in host else host
    namespace = (SA_DIR / "namespace").read_text().strip() if (SA_DIR / "namespace").exists() else "default"
    return ClusterConfig(
        server=f"https://{host}:{port}",
        token_file=str(SA_DIR / "token"),
        ca_pem=(SA_DIR / "ca.crt").read_bytes(),
        namespace=namespace,
        context="in-cluster",
    )
