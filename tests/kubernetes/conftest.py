"""Fixtures of the Kubernetes tests: `world`, a test API server with smimesh installed (CRDs and the
validating webhook, no caBundle yet: the lease holder fills it in) and namespace `shop` meshed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.kubernetes.kube_e2e import KubeWorld
from tests.kubernetes.kube_world import meshed_namespace

from smimesh.testing.kubeapi import KubeApiServer


@pytest.fixture
def world(tmp_path: Path) -> Iterator[KubeWorld]:
    with KubeApiServer() as api:
        kube = KubeWorld(api, tmp_path)
        try:
            kube.install()
            meshed_namespace(api, "shop")
            yield kube
        finally:
            kube.close()
