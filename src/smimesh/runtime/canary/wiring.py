"""How `smimesh up` assembles the canary controller for local mode (kept out of runtime/app.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from smimesh.runtime.canary.analysis import Analysis
from smimesh.runtime.canary.controller import CanaryController
from smimesh.runtime.canary.local_metrics import QueryMetrics
from smimesh.runtime.canary.local_target import LocalTarget, MaskedStore
from smimesh.runtime.canary.persist import StatusStore
from smimesh.runtime.canary.prometheus import PrometheusTemplates
from smimesh.runtime.canary.webhooks import HookCaller

STATUS_FILE = "canaries.sqlite3"


async def start_controller(
    store: Any,
    directory: Path,
    run_dir: Path,
    *,
    serving: Callable[[str], bool],
    metrics_query: Callable[[], Any],
    say: Callable[[str], None],
    prometheus_url: str | None = None,
) -> tuple[CanaryController, MaskedStore, list[Callable[[], Any]]]:
    """(controller, the reconciler's view of the store, closers); saved states already restored."""
    target = LocalTarget(store, directory, serving)
    hooks = HookCaller()
    templates = PrometheusTemplates(store, prometheus_url)
    analysis = Analysis(
        target, target, QueryMetrics(metrics_query), hooks, lambda *_: None, templates=templates
    )
    statuses = StatusStore(run_dir / STATUS_FILE)
    controller = CanaryController(store, analysis, statuses, log_dir=run_dir / "logs", say=say)
    await controller.restore()
    return controller, MaskedStore(store, target), [statuses.close, hooks.close]
