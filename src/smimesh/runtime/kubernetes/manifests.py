"""What `smimesh install` prints: every object the control plane needs in a cluster (Kubernetes 1.29+).

Owns `InstallOptions` (the `--set` keys, with defaults and checks) and `install_objects(options, ca)`:
the Namespace, the SMI CRDs (conversion webhook, caBundle = the mesh CA when generated), least-privilege
RBAC (read-only cluster-wide on what the informers watch; create TokenReviews; Events; update only
smimesh's own CRDs and webhook configuration; Leases and the CA Secret only in its namespace), the
ServiceAccount, the Deployment (probes, restricted security context; several replicas and anti-affinity
with `ha`), the Services (xDS, webhooks), a PodDisruptionBudget with `ha`, the CA Secret when generated,
and the ValidatingWebhookConfiguration scoped to meshed namespaces. `uninstall_objects(options)`: what
to delete (cluster-scoped objects included; the CRDs, which take every SMI object with them, only when
asked).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, fields, replace
from typing import Any

from smimesh import __version__
from smimesh.api.webhooks.config import (
    MONITORED_LABEL,
    WEBHOOK_CONFIG_NAME,
    crds_with_bundle,
    smi_groups,
    smi_plurals,
    validating_webhook,
)
from smimesh.api.webhooks.inject_config import FAILURE_POLICIES, mutating_webhook
from smimesh.errors import UsageError
from smimesh.mesh.modes import CLUSTER_EGRESS
from smimesh.resources.crd import WebhookService, all_crds, flagger_crds

NAME = "smimesh-controller"
PART_OF = {"app.kubernetes.io/part-of": "smimesh"}
SELECTOR = {"app.kubernetes.io/name": NAME}
Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class InstallOptions:
    namespace: str = "smimesh-system"
    image: str = f"ghcr.io/smimesh/smimesh:{__version__}"
    replicas: int = 1
    mesh: str = "smimesh"
    xdsPort: int = 15128
    webhookPort: int = 9443
    apiPort: int = 15080  # the read API the CLI reaches through the API server's service proxy
    leaseDuration: int = 15
    injectorFailurePolicy: str = (
        "Fail"  # the sidecar injector's webhook: Fail | Ignore (docs/kubernetes-pods.md)
    )
    egress: str = "auto"  # the controller's --egress: auto | policy | open
    ha: bool = False

    @classmethod
    def parse(cls, settings: list[str], *, ha: bool = False) -> InstallOptions:
        """`--set key=value` pairs over the defaults (`ha` means 3 replicas unless `replicas` is set)."""
        options = cls(ha=ha, replicas=3 if ha else 1)
        known = {f.name: f for f in fields(cls) if f.name != "ha"}
        for item in settings:
            key, sep, value = item.partition("=")
            if not sep or key not in known:
                raise UsageError(
                    f"--set {item!r}: unknown setting", hint=f"known: {', '.join(sorted(known))}"
                )
            kind = known[key].type
            try:
                parsed: Any = int(value) if kind in (int, "int") else value
            except ValueError:
                raise UsageError(
                    f"--set {item!r}: {key} must be a number", hint=f"e.g. --set {key}=3"
                ) from None
            options = replace(options, **{key: parsed})
        return options._checked()

    def _checked(self) -> InstallOptions:
        """The settings whose values are a closed set or a range (UsageError naming the one wrong)."""
        options = self
        if options.replicas < 1:
            raise UsageError("--set replicas must be at least 1")
        if options.injectorFailurePolicy not in FAILURE_POLICIES:
            raise UsageError(
                f"--set injectorFailurePolicy={options.injectorFailurePolicy}: not a failure policy",
                hint=f"one of {', '.join(FAILURE_POLICIES)} (Fail is the default: docs/kubernetes-pods.md)",
            )
        if options.egress not in CLUSTER_EGRESS:
            raise UsageError(
                f"--set egress={options.egress}: not an egress mode",
                hint=f"one of {', '.join(CLUSTER_EGRESS)} (see smimesh controller --help)",
            )
        return options

    @property
    def webhook(self) -> WebhookService:
        return WebhookService(namespace=self.namespace)


def _meta(name: str, namespace: str | None = None, **labels: str) -> Obj:
    meta: Obj = {"name": name, "labels": {**PART_OF, **labels}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _rule(groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None) -> Obj:
    rule: Obj = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


def rbac(options: InstallOptions) -> list[Obj]:
    crd_names = [d["metadata"]["name"] for d in all_crds(options.webhook)]
    cluster_rules = [
        _rule([""], ["services", "pods", "serviceaccounts", "namespaces"], ["get", "list", "watch"]),
        _rule(["discovery.k8s.io"], ["endpointslices"], ["get", "list", "watch"]),
        _rule(smi_groups(), smi_plurals(), ["get", "list", "watch"]),
        _rule(["policy.openservicemesh.io"], ["egresses"], ["get", "list", "watch"]),
        _rule(["authentication.k8s.io"], ["tokenreviews"], ["create"]),
        # Events of diagnostics (writes.py), kept as client-go's recorder keeps them: created, their
        # count bumped (patch), read back after a 409; deleted when the problem is gone. Their names are
        # digests in any namespace, so they cannot be listed by name.
        _rule([""], ["events"], ["create", "get", "list", "patch", "delete"]),
        # the canary controller (canaries.py): it reads Canaries and Deployments, writes their derived objects
        _rule(["flagger.app"], ["canaries", "metrictemplates"], ["get", "list", "watch"]),
        _rule(["flagger.app"], ["canaries/status"], ["get", "patch", "update"]),
        _rule(["apps"], ["deployments"], ["get", "list", "watch", "create", "update", "patch", "delete"]),
        _rule([""], ["services"], ["create", "update", "delete"]),
        _rule(["split.smi-spec.io"], ["trafficsplits"], ["create", "update", "delete"]),
        _rule(["apiextensions.k8s.io"], ["customresourcedefinitions"], ["get", "patch"], crd_names),
        _rule(
            ["admissionregistration.k8s.io"],
            ["validatingwebhookconfigurations"],
            ["get", "update"],
            [WEBHOOK_CONFIG_NAME],
        ),
    ]
    namespaced_rules = [
        _rule(["coordination.k8s.io"], ["leases"], ["create"]),
        _rule(["coordination.k8s.io"], ["leases"], ["get", "update"], [NAME]),
        _rule([""], ["secrets"], ["create"]),
        _rule([""], ["secrets"], ["get"], ["smimesh-ca"]),
    ]
    subject = [{"kind": "ServiceAccount", "name": NAME, "namespace": options.namespace}]
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta(NAME, options.namespace)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta(NAME),
            "rules": cluster_rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta(NAME),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
            "subjects": subject,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(NAME, options.namespace),
            "rules": namespaced_rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(NAME, options.namespace),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": subject,
        },
    ]


def _probe(path: str, port: int, period: int) -> Obj:
    return {
        "httpGet": {"path": path, "port": port, "scheme": "HTTPS"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }


def _container(options: InstallOptions) -> Obj:
    return {
        "name": "controller",
        "image": options.image,
        "args": [
            "controller",
            "--namespace",
            options.namespace,
            "--mesh",
            options.mesh,
            "--xds-addr",
            f"0.0.0.0:{options.xdsPort}",
            "--webhook-addr",
            f"0.0.0.0:{options.webhookPort}",
            "--api-addr",
            f"0.0.0.0:{options.apiPort}",
            "--state-dir",
            "/var/run/smimesh",
            "--lease-duration",
            str(options.leaseDuration),
            "--egress",
            options.egress,
            # what the sidecar injector puts in pods: this image, and this control plane's xDS Service
            "--proxy-image",
            options.image,
            "--proxy-xds-address",
            f"{NAME}.{options.namespace}.svc:{options.xdsPort}",
        ],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [
            {"name": "grpc-xds", "containerPort": options.xdsPort, "protocol": "TCP"},
            {"name": "https-webhook", "containerPort": options.webhookPort, "protocol": "TCP"},
            {"name": "http-api", "containerPort": options.apiPort, "protocol": "TCP"},
        ],
        "readinessProbe": _probe("/readyz", options.webhookPort, 5),
        "livenessProbe": _probe("/healthz", options.webhookPort, 10),
        "startupProbe": {**_probe("/healthz", options.webhookPort, 2), "failureThreshold": 30},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [
            {"name": "state", "mountPath": "/var/run/smimesh"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }


def deployment(options: InstallOptions) -> Obj:
    pod_spec: Obj = {
        "serviceAccountName": NAME,
        "containers": [_container(options)],
        "volumes": [{"name": "state", "emptyDir": {"medium": "Memory"}}, {"name": "tmp", "emptyDir": {}}],
    }
    if options.ha:
        term = {
            "weight": 100,
            "podAffinityTerm": {
                "labelSelector": {"matchLabels": SELECTOR},
                "topologyKey": "kubernetes.io/hostname",
            },
        }
        pod_spec["affinity"] = {
            "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term]}
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(NAME, options.namespace, **SELECTOR),
        "spec": {
            "replicas": options.replicas,
            "selector": {"matchLabels": SELECTOR},
            "template": {"metadata": {"labels": {**PART_OF, **SELECTOR}}, "spec": pod_spec},
        },
    }


def services(options: InstallOptions) -> list[Obj]:
    def svc(name: str, *ports: tuple[int, int, str]) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta(name, options.namespace),
            "spec": {
                "selector": SELECTOR,
                "ports": [
                    {"name": port_name, "port": port, "targetPort": target, "protocol": "TCP"}
                    for port, target, port_name in ports
                ],
            },
        }

    # `api` is the port the CLI's `--kubeconfig` commands reach through the service proxy (cli/_cluster.py).
    xds, api = (options.xdsPort, options.xdsPort, "grpc-xds"), (options.apiPort, options.apiPort, "api")
    return [svc(NAME, xds, api), svc(options.webhook.name, (443, options.webhookPort, "https-webhook"))]


def ca_secret(options: InstallOptions, ca: tuple[bytes, bytes]) -> Obj:
    data = {"tls.crt": base64.b64encode(ca[0]).decode(), "tls.key": base64.b64encode(ca[1]).decode()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": _meta("smimesh-ca", options.namespace),
        "data": data,
    }


def install_objects(options: InstallOptions, ca: tuple[bytes, bytes] | None) -> list[Obj]:
    """Every object, in apply order. `ca` = (cert, key) of a generated CA (None: the controller makes it)."""
    bundle = ca[0] if ca else b""
    objects: list[Obj] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(options.namespace)}]
    objects += crds_with_bundle(bundle, options.webhook)
    objects += flagger_crds()  # Canaries are served as Flagger's CRD defines them
    objects += rbac(options)
    if ca:
        objects.append(ca_secret(options, ca))
    objects += services(options)
    objects.append(deployment(options))
    if options.ha:
        objects.append(
            {
                "apiVersion": "policy/v1",
                "kind": "PodDisruptionBudget",
                "metadata": _meta(NAME, options.namespace),
                "spec": {"maxUnavailable": 1, "selector": {"matchLabels": SELECTOR}},
            }
        )
    objects.append(validating_webhook(bundle, options.webhook, mesh=options.mesh))
    failure = options.injectorFailurePolicy
    objects.append(mutating_webhook(bundle, options.webhook, mesh=options.mesh, failure_policy=failure))
    return objects


def uninstall_objects(options: InstallOptions, *, crds: bool = False) -> list[Obj]:
    """What to delete, references only (`kubectl delete -f -`), webhooks first."""
    everything = install_objects(replace(options, ha=True), None)
    order = [o for o in everything if o["kind"].endswith("WebhookConfiguration")]
    order += [o for o in everything if o["kind"] in ("ClusterRoleBinding", "ClusterRole")]
    if crds:
        order += [o for o in everything if o["kind"] == "CustomResourceDefinition"]
    order.append(next(o for o in everything if o["kind"] == "Namespace"))  # takes everything inside along
    return [
        {
            "apiVersion": o["apiVersion"],
            "kind": o["kind"],
            "metadata": {k: v for k, v in o["metadata"].items() if k in ("name", "namespace")},
        }
        for o in order
    ]


__all__ = ["MONITORED_LABEL", "InstallOptions", "install_objects", "uninstall_objects"]
