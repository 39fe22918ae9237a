"""`smimesh check [--pre]`: is the cluster ready for smimesh (--pre), is smimesh working in it?

Owns `run_checks(client, pre=, namespace=)` -> list of `Check(name, status, detail, hint)`; the CLI
renders them (`cli/kube_check.py`). Before install: the API server answers, is 1.29 or later, serves the
APIs smimesh uses. After install, also: the SMI CRDs serve every version smimesh knows with the hub
stored; the caBundle of the conversion webhook and of the validating webhook is the mesh CA's; the
conversion webhook answers with a valid certificate (a dry-run create in an older version, converted
by the API server through the webhook, stored nowhere); the Deployment's replicas are ready; the Lease
is held and recently renewed.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from smimesh.api.webhooks.config import WEBHOOK_CONFIG_NAME
from smimesh.resources import registry
from smimesh.resources.crd import all_crds
from smimesh.runtime.kubernetes.ca_secret import read_ca
from smimesh.runtime.kubernetes.controller import CA_SECRET, LEASE_NAME
from smimesh.runtime.kubernetes.manifests import NAME
from smimesh.sources.kubernetes.client import KubeApiError, KubeClient

MINIMUM = (1, 29)
REQUIRED_APIS = (
    "discovery.k8s.io/v1",
    "coordination.k8s.io/v1",
    "admissionregistration.k8s.io/v1",
    "authentication.k8s.io/v1",
    "apiextensions.k8s.io/v1",
)
OK, WARN, FAIL = "ok", "warning", "failed"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str = ""
    hint: str = ""


def _version(info: dict[str, Any]) -> tuple[int, int]:
    minor = re.match(r"\d+", str(info.get("minor", "0")))
    return int(info.get("major", 0)), int(minor.group()) if minor else 0


async def _api(client: KubeClient) -> list[Check]:
    try:
        info = await client.get("/version")
    except (KubeApiError, httpx.HTTPError) as exc:
        return [Check("API server reachable", FAIL, str(exc), "check --kubeconfig / --context")]
    found = [Check("API server reachable", OK, client.config.server)]
    version = _version(info)
    ok = version >= MINIMUM
    found.append(
        Check(
            "Kubernetes version",
            OK if ok else FAIL,
            str(info.get("gitVersion", version)),
            "" if ok else "smimesh supports Kubernetes 1.29 and later",
        )
    )
    groups = await client.get("/apis")
    served = {v["groupVersion"] for g in groups.get("groups") or [] for v in g.get("versions") or []}
    missing = [api for api in REQUIRED_APIS if api not in served]
    found.append(
        Check(
            "APIs smimesh uses",
            FAIL if missing else OK,
            ", ".join(missing) or "all served",
            "these are built into Kubernetes 1.29+: is this a full API server?" if missing else "",
        )
    )
    return found


async def _crds(client: KubeClient, bundle: str | None) -> list[Check]:
    found = []
    for wanted in all_crds():
        name = wanted["metadata"]["name"]
        try:
            crd = await client.get(f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        except KubeApiError as exc:
            found.append(Check(f"CRD {name}", FAIL, exc.message, "smimesh install | kubectl apply -f -"))
            continue
        served = {v["name"] for v in crd["spec"]["versions"] if v.get("served")}
        stored = [v["name"] for v in crd["spec"]["versions"] if v.get("storage")]
        want = {v["name"] for v in wanted["spec"]["versions"]}
        hub = next(v["name"] for v in wanted["spec"]["versions"] if v["storage"])
        problems = [f"not served: {', '.join(sorted(want - served))}"] if want - served else []
        problems += [f"stores {stored}, not {hub}"] if stored != [hub] else []
        client_config = ((crd["spec"].get("conversion") or {}).get("webhook") or {}).get("clientConfig") or {}
        if bundle is not None and client_config.get("caBundle") != bundle:
            problems.append(
                "conversion caBundle is not the mesh CA (the lease holder fixes it within seconds)"
            )
        found.append(
            Check(
                f"CRD {name}",
                FAIL if problems else OK,
                "; ".join(problems) or "every version served",
                "smimesh install | kubectl apply -f -" if problems else "",
            )
        )
    return found


async def _webhook_config(client: KubeClient, bundle: str | None) -> Check:
    path = f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{WEBHOOK_CONFIG_NAME}"
    try:
        config = await client.get(path)
    except KubeApiError as exc:
        return Check(
            "validating webhook configuration", FAIL, exc.message, "smimesh install | kubectl apply -f -"
        )
    bad = [
        h["name"]
        for h in config.get("webhooks") or []
        if (h.get("clientConfig") or {}).get("caBundle") != bundle
    ]
    return Check(
        "validating webhook configuration",
        FAIL if bad and bundle else OK,
        f"caBundle is not the mesh CA in {bad}" if bad and bundle else WEBHOOK_CONFIG_NAME,
    )


async def _conversion(client: KubeClient, namespace: str) -> Check:
    info = registry.KINDS["TrafficSplit"]
    older = registry.versions_of("TrafficSplit")[0]
    probe = {
        "apiVersion": older,
        "kind": "TrafficSplit",
        "metadata": {"name": "smimesh-check", "namespace": namespace},
        "spec": {"service": "smimesh-check", "backends": [{"service": "smimesh-check", "weight": 1}]},
    }
    path = f"/apis/{older}/namespaces/{namespace}/{info.plural}"
    try:
        await client.request("POST", path, body=probe, params={"dryRun": "All"})
    except (KubeApiError, httpx.HTTPError) as exc:
        return Check(
            "conversion webhook answers with a valid certificate",
            FAIL,
            str(exc),
            "is a controller replica ready? (kubectl -n smimesh-system get pods)",
        )
    return Check("conversion webhook answers with a valid certificate", OK, f"{older} -> stored version")


async def _replicas(client: KubeClient, namespace: str) -> list[Check]:
    found = []
    try:
        deploy = await client.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{NAME}")
        want, ready = deploy["spec"].get("replicas", 1), (deploy.get("status") or {}).get("readyReplicas", 0)
        found.append(
            Check(
                "control-plane replicas ready",
                OK if ready >= want else FAIL,
                f"{ready}/{want}",
                "" if ready >= want else f"kubectl -n {namespace} describe deployment {NAME}",
            )
        )
    except KubeApiError:
        found.append(
            Check(
                "control-plane replicas ready",
                WARN,
                f"no Deployment {namespace}/{NAME}",
                "fine if the controller runs outside the cluster (smimesh controller --kubeconfig)",
            )
        )
    found.append(await _lease(client, namespace))
    return found


async def _lease(client: KubeClient, namespace: str) -> Check:
    try:
        lease = await client.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{LEASE_NAME}")
    except KubeApiError:
        return Check("a replica holds the lease", FAIL, "no Lease yet", "is any controller replica running?")
    spec = lease.get("spec") or {}
    holder, renewed = spec.get("holderIdentity") or "", spec.get("renewTime") or ""
    age = (
        (
            datetime.now(UTC) - datetime.strptime(renewed, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        ).total_seconds()
        if renewed
        else float("inf")
    )
    fresh = holder and age <= float(spec.get("leaseDurationSeconds") or 15)
    return Check(
        "a replica holds the lease",
        OK if fresh else FAIL,
        f"{holder or 'nobody'}, renewed {age:.0f}s ago",
        "" if fresh else "the leader stopped renewing: are the replicas running?",
    )


async def run_checks(client: KubeClient, *, pre: bool, namespace: str = "smimesh-system") -> list[Check]:
    found = await _api(client)
    if pre or any(c.status == FAIL for c in found):
        return found
    ca = await read_ca(client, namespace, CA_SECRET)
    bundle = base64.b64encode(ca[0]).decode() if ca else None
    if ca is None:
        found.append(
            Check(
                "mesh CA Secret",
                WARN,
                f"no Secret {namespace}/{CA_SECRET} yet",
                "the controller creates it at its first start",
            )
        )
    found += await _crds(client, bundle)
    found.append(await _webhook_config(client, bundle))
    found.append(await _conversion(client, namespace))
    found += await _replicas(client, namespace)
    return found
