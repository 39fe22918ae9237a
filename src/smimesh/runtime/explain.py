"""`smimesh explain` against a running mesh: the control plane's side of `GET /api/v1/explain`.

Owns `LiveExplainer(pipeline, store, security)`, the `explain(query)` the API calls: it answers
from the model the pipeline last generated the sidecars' config from (files and API-applied
objects alike), with the MeshConfig in force, so `explain` tells what the running mesh does, not
what some directory of manifests says. Its answer is `Explanation.to_dict()` plus `expected` (the
rows `explain --live` compares with the sidecars) and the store `generation` it saw.
In a cluster there are no Workload objects: `callers_from_instances` stands in the pods' workloads
(name, namespace, service account) as the callers `--from` names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from smimesh.errors import SmimeshError
from smimesh.mesh.explain_query import ExplainQuery, answer
from smimesh.resources.workload import Workload
from smimesh.xds.expectations import expected_sidecars


class LiveExplainer:
    """`explain(query) -> dict`; UsageError for a query the running mesh cannot resolve."""

    def __init__(
        self,
        pipeline: Any,
        store: Any,
        security: Any,
        callers: Callable[[], Sequence[Workload]] | None = None,
    ) -> None:
        self.pipeline, self.store, self.security = pipeline, store, security
        self.callers = callers or (lambda: self.store.snapshot().of_kind(Workload))

    def explain(self, query: ExplainQuery) -> dict[str, Any]:
        model = self.pipeline.model
        if model is None:
            raise SmimeshError("the control plane has not built the mesh yet", hint="try again in a second")
        workloads = self.callers()
        result = answer(model, workloads, query, self.security.modes, "in the running mesh")
        expected = expected_sidecars(model, result)
        return {**result.to_dict(), "expected": expected, "generation": self.store.generation}


def callers_from_instances(instances: Iterable[Any]) -> list[Workload]:
    """One Workload per (namespace, workload, service account) of the running instances (pods)."""
    seen = {(i.namespace, i.workload, i.service_account) for i in instances}
    return [
        Workload.model_validate(
            {
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"serviceAccount": account, "command": ["(pod)"]},
            }
        )
        for namespace, name, account in sorted(seen)
    ]
