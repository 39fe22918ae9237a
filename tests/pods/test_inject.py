"""Sidecar injection: `smimesh inject` output, the webhook's patch, the Kubernetes schemas, idempotence."""

from __future__ import annotations

import base64
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml

from smimesh.api.webhooks.app import create_webhook_app
from smimesh.api.webhooks.inject_config import mutating_webhook
from smimesh.pods import layout as lay
from smimesh.pods.inject import InjectConfig, inject_object
from smimesh.resources.crd import WebhookService
from smimesh.testing.kubeapi.patches import json_patch

SCHEMA_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
SMIMESH = [sys.executable, "-m", "smimesh.cli.main"]

POD_SPEC: dict[str, Any] = {
    "serviceAccountName": "web",
    "initContainers": [{"name": "migrate", "image": "busybox", "command": ["true"]}],
    "containers": [
        {
            "name": "web",
            "image": "nginx",
            "ports": [{"name": "http", "containerPort": 8080}],
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 3},
            "livenessProbe": {
                "httpGet": {"path": "/live", "port": 8080, "httpHeaders": [{"name": "X", "value": "1"}]}
            },
            "startupProbe": {"tcpSocket": {"port": 8080}},
        }
    ],
}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC}
SELECTOR = {"matchLabels": {"app": "web"}}


def workloads() -> list[dict[str, Any]]:
    meta = {"name": "web", "namespace": "shop"}
    job_template = {"metadata": TEMPLATE["metadata"], "spec": {**POD_SPEC, "restartPolicy": "Never"}}
    return [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {**meta, "labels": {"app": "web"}}, "spec": POD_SPEC},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {"selector": SELECTOR, "template": TEMPLATE},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": meta,
            "spec": {"selector": SELECTOR, "serviceName": "web", "template": TEMPLATE},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "DaemonSet",
            "metadata": meta,
            "spec": {"selector": SELECTOR, "template": TEMPLATE},
        },
        {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": {"template": job_template}},
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": meta,
            "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": job_template}}},
        },
    ]


def pod_spec_of(obj: dict[str, Any]) -> dict[str, Any]:
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def run_inject(tmp_path: Path, docs: list[dict[str, Any]], *extra: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "in.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return subprocess.run(
        [*SMIMESH, "inject", "-f", str(path), *extra], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("obj", workloads(), ids=lambda o: o["kind"])
def test_every_kind_is_injected_and_valid_for_every_supported_kubernetes(obj: dict[str, Any]) -> None:
    out = inject_object(obj)
    assert out.injected and not out.problems
    spec = pod_spec_of(out.obj)
    names = [c["name"] for c in spec["initContainers"]]
    assert names == [
        lay.CAPTURE_CONTAINER,
        lay.PROXY_CONTAINER,
        "migrate",
    ]  # capture, sidecar, then the app's
    proxy = spec["initContainers"][1]
    assert proxy["restartPolicy"] == "Always" and "startupProbe" in proxy
    assert proxy["securityContext"]["runAsUser"] == 1337
    capture = spec["initContainers"][0]
    assert capture["command"] == ["smimesh", "capture"]
    assert capture["securityContext"]["capabilities"]["add"] == ["NET_ADMIN", "NET_RAW"]
    token = next(v for v in spec["volumes"] if v["name"] == lay.TOKEN_VOLUME)
    assert token["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "smimesh"
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(out.obj, version, strict=True)  # raises on any schema error


def test_the_schema_check_is_strict_enough_to_catch_a_stray_field() -> None:
    out = inject_object(workloads()[0])
    out.obj["spec"]["initContainers"][1]["restartPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(out.obj, "1.29.0", strict=True)


def test_http_probes_go_through_the_health_port_and_keep_their_target() -> None:
    spec = pod_spec_of(inject_object(workloads()[0]).obj)
    app = spec["containers"][0]
    assert app["readinessProbe"] == {
        "httpGet": {"path": "/app-health/web/readiness", "port": 15020, "scheme": "HTTP"},
        "periodSeconds": 3,
    }
    assert app["livenessProbe"]["httpGet"]["httpHeaders"] == [{"name": "X", "value": "1"}]
    assert app["startupProbe"] == {"tcpSocket": {"port": 8080}}  # TCP probes unchanged
    env = {e["name"]: e for e in spec["initContainers"][1]["env"]}
    assert json.loads(env[lay.PROBES_ENV]["value"]) == {
        "/app-health/web/readiness": {"port": 8080, "path": "/healthz", "scheme": "HTTP"},
        "/app-health/web/liveness": {"port": 8080, "path": "/live", "scheme": "HTTP"},
    }
    pod = inject_object(workloads()[0]).obj
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == "15020"


def test_exclusion_annotations_become_capture_arguments() -> None:
    pod = copy.deepcopy(workloads()[0])
    pod["metadata"]["annotations"] = {
        lay.EXCLUDE_OUTBOUND_PORTS: "5432, 6379",
        lay.EXCLUDE_INBOUND_PORTS: "9100",
        lay.EXCLUDE_OUTBOUND_CIDRS: "169.254.169.254/32",
    }
    args = inject_object(pod).obj["spec"]["initContainers"][0]["args"]
    assert args[args.index("--exclude-outbound-ports") + 1] == "5432,6379"
    assert args[args.index("--exclude-inbound-ports") + 1] == "9100"
    assert args[args.index("--exclude-outbound-cidrs") + 1] == "169.254.169.254/32"


def test_cli_output_is_valid_idempotent_and_notes_host_network_on_stderr(tmp_path: Path) -> None:
    host = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "agent"},
        "spec": {"hostNetwork": True, "containers": [{"name": "a", "image": "x"}]},
    }
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"ports": [{"port": 80}]},
    }
    first = run_inject(tmp_path, [*workloads(), host, service])
    assert first.returncode == 0, first.stderr
    docs = list(yaml.safe_load_all(first.stdout))
    assert [d["kind"] for d in docs] == [
        "Pod",
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "Job",
        "CronJob",
        "Pod",
        "Service",
    ]
    assert docs[6] == host and docs[7] == service
    assert "Pod/agent" in first.stderr and "hostNetwork" in first.stderr
    assert all(lay.PROXY_CONTAINER in str(pod_spec_of(d)) for d in docs[:6])
    (tmp_path / "out.yaml").write_text(first.stdout)
    second = subprocess.run(
        [*SMIMESH, "inject", "-f", str(tmp_path / "out.yaml")], capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0
    assert second.stdout == first.stdout  # injecting an injected object changes nothing
    assert "already injected" in second.stderr


def test_a_bad_probe_port_is_reported_with_line_and_the_others_still_injected(tmp_path: Path) -> None:
    bad = copy.deepcopy(workloads()[0])
    bad["metadata"]["name"] = "bad"
    bad["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = "metrics"
    result = run_inject(tmp_path, [bad, workloads()[1]])
    assert result.returncode == 1
    docs = list(yaml.safe_load_all(result.stdout))
    assert docs[0] == bad  # unchanged
    assert lay.PROXY_CONTAINER in str(docs[1])
    assert "SM9001" in result.stderr and "spec.containers[0].readinessProbe.httpGet.port" in result.stderr
    assert "'metrics'" in result.stderr and "line " in result.stderr


async def admit(pod: dict[str, Any], operation: str = "CREATE") -> dict[str, Any]:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "u-1",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "namespace": "shop",
            "operation": operation,
            "object": pod,
        },
    }
    transport = httpx.ASGITransport(app=create_webhook_app())
    async with httpx.AsyncClient(transport=transport, base_url="https://webhook") as client:
        answer = await client.post("/mutate", json=review)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    assert body["kind"] == "AdmissionReview" and body["response"]["uid"] == "u-1"
    return body["response"]


async def test_webhook_patch_applied_equals_inject_output() -> None:
    pod = workloads()[0]
    response = await admit(pod)
    assert response["allowed"] and response["patchType"] == "JSONPatch"
    operations = json.loads(base64.b64decode(response["patch"]))
    assert json_patch(pod, operations) == inject_object(pod, InjectConfig()).obj
    pod_without_metadata_fields = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"generateName": "web-"},
        "spec": POD_SPEC,
    }
    response = await admit(pod_without_metadata_fields)
    operations = json.loads(base64.b64decode(response["patch"]))
    assert (
        json_patch(pod_without_metadata_fields, operations) == inject_object(pod_without_metadata_fields).obj
    )


async def test_webhook_leaves_injected_and_host_network_pods_alone_and_refuses_a_bad_one() -> None:
    injected = inject_object(workloads()[0]).obj
    response = await admit(injected)
    assert response["allowed"] and "patch" not in response
    assert response["warnings"] == ["smimesh: not injected: already injected"]
    host = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "h"},
        "spec": {"hostNetwork": True, "containers": []},
    }
    response = await admit(host)
    assert response["allowed"] and "patch" not in response and "hostNetwork" in response["warnings"][0]
    bad = copy.deepcopy(workloads()[0])
    bad["metadata"]["annotations"] = {lay.EXCLUDE_OUTBOUND_PORTS: "5432,http"}
    response = await admit(bad)
    assert not response["allowed"] and response["status"]["code"] == 400
    assert 'metadata.annotations["smimesh.io/exclude-outbound-ports"]' in response["status"]["message"]
    assert (await admit(workloads()[0], operation="UPDATE")) == {"uid": "u-1", "allowed": True}


@pytest.mark.parametrize("policy", ["Fail", "Ignore"])
def test_mutating_webhook_configuration_is_valid(policy: str) -> None:
    config = mutating_webhook(
        b"-----BEGIN CERTIFICATE-----\n",
        WebhookService("smimesh-webhook", "smimesh-system"),
        failure_policy=policy,
    )
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(config, version, strict=True)
    assert {w["failurePolicy"] for w in config["webhooks"]} == {policy}
    with pytest.raises(ValueError, match="failurePolicy"):
        mutating_webhook(b"", WebhookService("a", "b"), failure_policy="Maybe")


def test_install_prints_the_injector_with_its_failure_policy_and_uninstall_removes_it() -> None:
    from smimesh.runtime.kubernetes.manifests import InstallOptions, install_objects, uninstall_objects

    def injector(options: InstallOptions) -> dict[str, Any]:
        return next(o for o in install_objects(options, None) if o["kind"] == "MutatingWebhookConfiguration")

    default = injector(InstallOptions.parse([]))
    assert {w["failurePolicy"] for w in default["webhooks"]} == {"Fail"}
    assert {w["clientConfig"]["service"]["path"] for w in default["webhooks"]} == {"/mutate"}
    ignore = injector(InstallOptions.parse(["injectorFailurePolicy=Ignore", "namespace=mesh"]))
    assert {w["failurePolicy"] for w in ignore["webhooks"]} == {"Ignore"}
    kubernetes_validate.validate(ignore, "1.29.0", strict=True)
    deployment = next(
        o
        for o in install_objects(InstallOptions.parse(["namespace=mesh"]), None)
        if o["kind"] == "Deployment"
    )
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--proxy-xds-address") + 1] == "smimesh-controller.mesh.svc:15128"
    removed = uninstall_objects(InstallOptions.parse([]))
    assert removed[1] == {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": "smimesh-injector"},
    }
