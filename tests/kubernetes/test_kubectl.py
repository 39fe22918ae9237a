"""The real kubectl (Debian package) against the test API server: create -f, get, get --watch, delete of
SMI objects written in older versions, stored as the hub version through the conversion webhook."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.kubernetes.kube_world import kubectl, meshed_namespace

from smimesh.testing.kubeapi import KubeApiServer
from smimesh.testing.kubeapi.mesh_webhooks import serving_webhooks

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")

OBJECTS = """\
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: web-split, namespace: shop}
spec:
  service: web
  backends: [{service: web-v1, weight: 90}, {service: web-v2, weight: 10}]
---
apiVersion: access.smi-spec.io/v1alpha1
kind: TrafficTarget
metadata: {name: web-access, namespace: shop}
destination: {kind: ServiceAccount, name: web, namespace: shop, port: 8080}
sources: [{kind: ServiceAccount, name: shopper, namespace: shop}]
specs: [{kind: HTTPRouteGroup, name: web-routes, matches: [all]}]
---
apiVersion: specs.smi-spec.io/v1alpha1
kind: HTTPRouteGroup
metadata: {name: web-routes, namespace: shop}
matches: [{name: all, pathRegex: "/.*", methods: ["*"]}]
"""
BAD = """\
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: bad, namespace: shop}
spec:
  service: web
  backends: [{service: web-v1, weight: 1}, {service: web-v1, weight: 2}]
"""


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[tuple[KubeApiServer, Path]]:
    with KubeApiServer() as api, serving_webhooks(api):
        meshed_namespace(api, "shop")
        yield api, api.write_kubeconfig(tmp_path / "kubeconfig", namespace="shop")


def test_kubectl_create_get_watch_delete_smi_objects(
    cluster: tuple[KubeApiServer, Path], tmp_path: Path
) -> None:
    api, config = cluster
    manifest = tmp_path / "objects.yaml"
    manifest.write_text(OBJECTS)
    created = kubectl(config, "create", "-f", str(manifest))
    assert created.returncode == 0, created.stderr
    assert "trafficsplit.split.smi-spec.io/web-split created" in created.stdout
    stored = api.api.store.get(("trafficsplits.split.smi-spec.io", "shop", "web-split"))
    assert stored is not None and stored["apiVersion"] == "split.smi-spec.io/v1alpha4"
    target = api.api.store.get(("traffictargets.access.smi-spec.io", "shop", "web-access"))
    assert target is not None and target["apiVersion"] == "access.smi-spec.io/v1alpha3"

    listed = kubectl(config, "get", "trafficsplits,traffictargets,httproutegroups")
    assert listed.returncode == 0, listed.stderr
    assert "web-split" in listed.stdout and "web-access" in listed.stdout and "web-routes" in listed.stdout
    old = kubectl(
        config,
        "get",
        "trafficsplits.v1alpha2.split.smi-spec.io",
        "web-split",
        "-o",
        "jsonpath={.apiVersion} {.spec.backends[1].weight}",
    )
    assert old.stdout == "split.smi-spec.io/v1alpha2 10", old.stderr

    refused = kubectl(config, "create", "-f", "-", stdin=BAD)
    assert refused.returncode == 1
    assert 'admission webhook "validate.smimesh.io" denied the request: SM3031' in refused.stderr

    deleted = kubectl(config, "delete", "-f", str(manifest))
    assert deleted.returncode == 0, deleted.stderr
    assert kubectl(config, "get", "trafficsplits", "-o", "name").stdout == ""


def test_kubectl_get_watch_sees_changes(cluster: tuple[KubeApiServer, Path]) -> None:
    _api, config = cluster
    env = dict(os.environ, KUBECONFIG=str(config), HOME=str(config.parent))
    watcher = subprocess.Popen(
        ["kubectl", "get", "trafficsplits", "--watch", "-o", "name"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # kubectl lists, then watches from the list's resourceVersion
        assert kubectl(config, "create", "-f", "-", stdin=OBJECTS.split("---")[0]).returncode == 0
        line = watcher.stdout.readline() if watcher.stdout else ""
        assert line.strip() == "trafficsplit.split.smi-spec.io/web-split"
    finally:
        watcher.terminate()
        watcher.communicate(timeout=30)
