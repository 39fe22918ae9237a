"""`--to gateway-api`: TrafficSplits as GAMMA HTTPRoutes; TrafficTargets reported (no standard yet)."""

from __future__ import annotations

from smimesh.diagnostics import ObjectRef
from smimesh.export import codes
from smimesh.export.output import Output
from smimesh.export.splits import export_splits
from smimesh.export.world import World


def export_gateway(world: World, out: Output) -> None:
    export_splits(world, out)
    for policy in world.model.policies:
        ref = ObjectRef("TrafficTarget", policy.namespace, policy.name)
        out.report(
            ref,
            codes.finding(
                codes.NO_GATEWAY_ACCESS,
                "Gateway API has no access-control standard: this TrafficTarget is not exported",
                ref,
                hint="export the same input with `--to istio` or `--to linkerd` for the policy",
            ),
        )
