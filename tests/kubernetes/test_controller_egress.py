"""`smimesh controller --egress auto|policy|open`: the cluster's mesh-wide egress switch, read in the
config the controller generates for an injected pod's sidecar (its `outbound_capture` listener) while
the mesh holds no Egress at all."""

from __future__ import annotations

from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from tests.kubernetes.kube_e2e import KubeWorld

from smimesh.runtime.kubernetes.controller import KubeController
from smimesh.sources.kubernetes.cluster import INJECTED
from smimesh.testing.net import wait_until
from smimesh.xds import type_urls

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web-0", "namespace": "shop", "annotations": {INJECTED: "true"}},
    "spec": {"serviceAccountName": "web", "containers": [{"name": "app"}]},
    "status": {"phase": "Running", "podIP": "10.0.0.7", "podIPs": [{"ip": "10.0.0.7"}]},
}


def _capture(controller: KubeController) -> dict[str, Any] | None:
    """The pod's capture listener as the controller generates it now (None: the pod is not in yet)."""
    model = controller.pipeline.model
    if model is None or "web-0.shop" not in model.instances:
        return None
    config = controller.security.generate(controller.security.proxy_view(model, "web-0.shop"))
    listener = next(m for m in config[type_urls.LISTENER] if m.name == "outbound_capture")
    return MessageToDict(listener, preserving_proto_field_name=True)


def _default_cluster(capture: dict[str, Any]) -> str:
    """Where a connection to an address outside the mesh goes when no egress rule takes it."""
    chains = capture.get("filter_chains", [])
    chain = capture.get("default_filter_chain") or (chains[-1] if chains else {})
    return str(chain["filters"][0]["typed_config"]["cluster"])


@pytest.mark.parametrize(
    ("egress", "cluster"), [("auto", "passthrough"), ("policy", "blackhole"), ("open", "passthrough")]
)
def test_the_egress_switch_decides_a_pods_external_calls_with_no_egress(
    world: KubeWorld, egress: str, cluster: str
) -> None:
    replica = world.start_replica("replica-a", egress=egress)
    world.api.create(POD)
    wait_until(lambda: replica.call(_capture) is not None, 60, what="the pod's config")
    capture = replica.call(_capture)
    assert _default_cluster(capture) == cluster
    # auto: the listener of before egress policy; policy/open: the egress listener (no rule to match)
    has_default = "default_filter_chain" in capture
    assert has_default == (egress != "auto")
