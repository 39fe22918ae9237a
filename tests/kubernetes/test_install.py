"""`smimesh install` / `uninstall`: strictly valid for every supported Kubernetes version (1.29 and later,
kubernetes-validate's schemas), least-privilege RBAC, HA shape, and kubectl create/delete of the output."""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions
from tests.kubernetes.kube_world import kubectl

from smimesh.resources.crd import all_crds, flagger_crds, osm_crds
from smimesh.runtime.kubernetes.manifests import InstallOptions, install_objects
from smimesh.testing.kubeapi import KubeApiServer

SMIMESH = [sys.executable, "-m", "smimesh"]
SUPPORTED = [v for v in all_versions() if tuple(int(p) for p in v.split(".")[:2]) >= (1, 29)]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SMIMESH, *args], capture_output=True, text=True, timeout=120, check=False)


def rendered(*args: str) -> list[dict]:
    return copy.deepcopy(_rendered(args))


@functools.cache
def _rendered(args: tuple[str, ...]) -> list[dict]:
    result = run("install", *args)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def test_supported_versions_are_1_29_and_later() -> None:
    assert SUPPORTED[0].startswith("1.29") and len(SUPPORTED) >= 9


@pytest.mark.parametrize("version", SUPPORTED)
@pytest.mark.parametrize("flags", [(), ("--ha",)], ids=["default", "ha"])
def test_every_object_is_strictly_valid(version: str, flags: tuple[str, ...]) -> None:
    for obj in rendered(*flags):
        kubernetes_validate.validate(obj, version, strict=True)  # raises with the field path


def test_ha_shape_and_default_shape() -> None:
    by_kind = {(o["kind"]): o for o in rendered("--ha")}
    deployment = by_kind["Deployment"]
    assert deployment["spec"]["replicas"] == 3
    assert "podAntiAffinity" in deployment["spec"]["template"]["spec"]["affinity"]
    assert by_kind["PodDisruptionBudget"]["spec"]["maxUnavailable"] == 1
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    plain = rendered("--set", "replicas=2", "--set", "namespace=mesh")
    assert "PodDisruptionBudget" not in {o["kind"] for o in plain}
    assert next(o for o in plain if o["kind"] == "Deployment")["spec"]["replicas"] == 2
    assert {o["metadata"].get("namespace") for o in plain if o["kind"] == "Service"} == {"mesh"}


def test_the_crds_are_smimesh_crds_with_the_ca_bundle() -> None:
    objects = rendered()
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    flagger = [c for c in crds if c["spec"]["group"] == "flagger.app"]
    assert flagger == flagger_crds()  # Flagger's own, unchanged: Canaries validate as Flagger's do
    secret = next(o for o in objects if o["kind"] == "Secret")
    osm = [c for c in crds if c["spec"]["group"] == "policy.openservicemesh.io"]
    assert osm == osm_crds()  # OSM's own Egress CRD, unchanged
    for crd, expected in zip([c for c in crds if c not in flagger + osm], all_crds(), strict=True):
        client = crd["spec"]["conversion"]["webhook"]["clientConfig"]
        assert client.pop("caBundle") == secret["data"]["tls.crt"]
        assert crd == expected
    webhook = next(o for o in objects if o["kind"] == "ValidatingWebhookConfiguration")["webhooks"][0]
    assert webhook["namespaceSelector"] == {"matchLabels": {"smimesh.io/monitored-by": "smimesh"}}
    assert webhook["clientConfig"]["caBundle"] == secret["data"]["tls.crt"]
    assert "Secret" not in {o["kind"] for o in rendered("--no-ca")}


CANARY_WRITES = {"canaries/status", "deployments", "services", "trafficsplits"}


def test_rbac_is_least_privilege() -> None:
    objects = rendered()
    cluster_role = next(o for o in objects if o["kind"] == "ClusterRole")
    role = next(o for o in objects if o["kind"] == "Role")
    for rule in cluster_role["rules"] + role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
        writes = set(rule["verbs"]) - {"get", "list", "watch"}
        canary_writes = set(rule["resources"]) <= CANARY_WRITES  # the canary controller: any target
        events = rule["resources"] == ["events"]  # bumped and deleted by the lease holder (digest names)
        if writes - {"create"} and not canary_writes and not events:  # update/patch only on named objects
            assert rule.get("resourceNames"), rule
    reads = {r for rule in cluster_role["rules"] for r in rule["resources"] if "watch" in rule["verbs"]}
    assert reads == {
        "services",
        "pods",
        "serviceaccounts",
        "namespaces",
        "endpointslices",
        "traffictargets",
        "httproutegroups",
        "tcproutes",
        "udproutes",
        "trafficsplits",
        "egresses",  # OSM's Egress: egress policy for pods
        "canaries",  # the canary controller (runtime/kubernetes/canaries.py): Canaries and their targets
        "metrictemplates",
        "deployments",
    }
    assert not any("secrets" in rule["resources"] for rule in cluster_role["rules"])  # only in its namespace
    secret_reads = [r for r in role["rules"] if "secrets" in r["resources"] and "get" in r["verbs"]]
    assert secret_reads == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": ["smimesh-ca"]}
    ]


def test_json_output_is_one_list() -> None:
    result = run("install", "-o", "json")
    document = json.loads(result.stdout)
    assert document["kind"] == "List" and len(document["items"]) == len(
        install_objects(InstallOptions(), (b"", b""))
    )


def test_bad_settings_are_usage_errors() -> None:
    result = run("install", "--set", "replicas=many")
    assert result.returncode == 2 and "replicas must be a number" in result.stderr


def test_kubectl_creates_the_install_and_deletes_the_uninstall(tmp_path: Path) -> None:
    with KubeApiServer() as api:
        config = api.write_kubeconfig(tmp_path / "kubeconfig")
        created = kubectl(config, "create", "-f", "-", stdin=run("install", "--ha").stdout)
        assert created.returncode == 0, created.stderr
        assert "deployment.apps/smimesh-controller created" in created.stdout
        assert (
            api.api.store.get(
                ("validatingwebhookconfigurations.admissionregistration.k8s.io", "", "smimesh-validation")
            )
            is not None
        )
        deleted = kubectl(config, "delete", "-f", "-", stdin=run("uninstall").stdout)
        assert deleted.returncode == 0, deleted.stderr
        assert api.api.store.get(("clusterroles.rbac.authorization.k8s.io", "", "smimesh-controller")) is None
        assert api.api.store.get(("deployments.apps", "smimesh-system", "smimesh-controller")) is None
        crd = ("customresourcedefinitions.apiextensions.k8s.io", "", "trafficsplits.split.smi-spec.io")
        assert api.api.store.get(crd) is not None  # kept unless --crds
        assert kubectl(config, "delete", "-f", "-", stdin=run("uninstall", "--crds").stdout).returncode in (
            0,
            1,
        )
        assert api.api.store.get(crd) is None


def test_the_egress_switch_reaches_the_controllers_args() -> None:
    def args(*flags: str) -> list[str]:
        deployment = next(o for o in rendered(*flags) if o["kind"] == "Deployment")
        return deployment["spec"]["template"]["spec"]["containers"][0]["args"]

    default, opened = args(), args("--set", "egress=open")
    assert default[default.index("--egress") + 1] == "auto"
    assert opened[opened.index("--egress") + 1] == "open"
    for obj in rendered("--set", "egress=open"):
        kubernetes_validate.validate(obj, SUPPORTED[-1], strict=True)
    bad = run("install", "--set", "egress=closed")
    assert bad.returncode == 2 and "egress=closed: not an egress mode" in bad.stderr
    assert "auto, policy, open" in bad.stderr
