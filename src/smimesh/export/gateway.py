"""`--to gateway-api`: TrafficSplits as GAMMA HTTPRoutes; TrafficTargets reported (no standard yet), or,
with `policy`, exported in the Istio or Linkerd form beside the routes (both meshes read GAMMA routes)."""

from __future__ import annotations

from smimesh.diagnostics import ObjectRef
from smimesh.export import codes
from smimesh.export.istio import export_istio_access
from smimesh.export.linkerd import export_linkerd_access
from smimesh.export.output import Output
from smimesh.export.splits import export_splits
from smimesh.export.world import World

POLICY_FORMS = {"istio": export_istio_access, "linkerd": export_linkerd_access}


def export_gateway(world: World, out: Output, policy: str | None = None) -> None:
    export_splits(world, out)
    if policy is not None:
        POLICY_FORMS[policy](world, out)
        return
    for target in world.model.policies:
        ref = ObjectRef("TrafficTarget", target.namespace, target.name)
        out.report(
            ref,
            codes.finding(
                codes.NO_GATEWAY_ACCESS,
                "Gateway API has no access-control standard: this TrafficTarget is not exported",
                ref,
                hint="add `--policy istio` or `--policy linkerd` for the policy in that mesh's form",
            ),
        )
