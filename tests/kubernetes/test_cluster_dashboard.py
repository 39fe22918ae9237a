"""The dashboard of a cluster's controller in a real browser (Playwright driving Debian's chromium).

The controller runs against the test API server with real Envoy sidecars (`cluster_observe`);
`smimesh dashboard --kubeconfig` serves the page on a loopback port and forwards to the controller
through the API server's service proxy. The page must show the world's nodes and the shopper's edges
to the backends with the requests sent, tap the selected workload (its sidecar switched on over RTDS,
off again when the page stops), ask for nothing but the forwarder, and raise no console error; the
forwarder refuses anything but GET.
A screenshot goes to $SMIMESH_SCREENSHOTS (default: the test's tmp dir).
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.kubernetes.cluster_observe import Stream, eventually, observed_world, send, tap_runtime
from tests.kubernetes.kube_e2e import KubeWorld

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(300)]
CHROMIUM = Path(os.environ.get("SMIMESH_CHROMIUM", "/usr/bin/chromium"))
playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' (playwright)")
if not CHROMIUM.exists():
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium)", allow_module_level=True)
NODES = ["workload/shop/shopper", "workload/shop/web", "service/shop/web", "service/shop/web-v1"]
TAPPING = "() => document.querySelector('#tap-toggle').innerText.startsWith('Stop tap')"


def _requests(page: Any, edge_id: str) -> str:
    cells = page.locator(f'#edges tr[data-id="{edge_id}"] td').all_inner_texts()
    return cells[6] if len(cells) > 6 else ""


def _api_edges(origin: str) -> dict[str, tuple[str, str]]:
    path = "apis/metrics.smi-spec.io/v1alpha1/namespaces/shop/deployments/shopper/edges"
    body = httpx.get(origin + path, params={"window": "5m"}, timeout=10).json()
    found = {}
    for item in body["items"]:
        if item["edge"]["direction"] == "to":
            values = {m["name"]: m["value"] for m in item["metrics"]}
            found[item["edge"]["resource"]["name"]] = (values["success_count"], values["failure_count"])
    return found


def test_the_dashboard_of_a_cluster_in_a_browser(world: KubeWorld, tmp_path: Path) -> None:
    shots = Path(os.environ.get("SMIMESH_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    observed = observed_world(world)
    dashboard = Stream("dashboard", "--no-open", "--kubeconfig", str(world.kubeconfig))
    problems: list[str] = []
    blocked: list[str] = []
    try:
        address = eventually(
            lambda: next((line for line in dashboard.lines if line.startswith("http://")), None),
            30,
            "the address `smimesh dashboard` prints",
        )
        assert address.startswith("http://127.0.0.1:") and address.endswith("/dashboard/"), address
        origin = address.removesuffix("dashboard/")
        refused = httpx.post(origin + "api/v1/resources", content=b"kind: Service", timeout=10)
        assert refused.status_code == 405 and "read only" in refused.text  # the forwarder never writes
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1500, "height": 950})

            def only_the_forwarder(route: Any) -> None:
                if route.request.url.startswith(origin):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", only_the_forwarder)
            page = context.new_page()
            page.on(
                "console",
                lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(address)
            page.select_option("#window", "5m")
            page.wait_for_selector('#nodes tr[data-id="workload/shop/shopper"]', timeout=30_000)
            names = set(page.locator("#nodes tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)"))
            assert set(NODES) <= names, names

            sent = Counter(send(world, observed, "/books/1")[2] for _ in range(12))
            assert set(sent) <= {"web-v1-0", "web-v2-0"}, sent

            last: list[Any] = []

            def figures_shown() -> dict[str, str] | None:
                """The page's requests per edge shopper -> backend service: at least those sent (the warm-up
                requests count too), and together what the metrics API says shopper sent to workload web
                (both backends' pods are that workload) in the same window."""
                api = _api_edges(origin)
                shown: dict[str, str] = {}
                last[:] = [api, shown]
                for service in ("web-v1", "web-v2"):
                    shown[service] = _requests(page, f"traffic:workload/shop/shopper->service/shop/{service}")
                    if not shown[service].isdigit() or int(shown[service]) < sent[f"{service}-0"]:
                        return None
                total = str(sum(int(v) for v in shown.values()))
                return shown if api.get("web") == (total, "0") else None

            eventually(figures_shown, 40, "the shopper's edges with the requests sent")
            page.screenshot(path=str(shots / "dashboard-cluster.png"), full_page=True)

            # The tap of a selected workload, on the page: its pod's sidecar is switched on over RTDS.
            page.click('#nodes tr[data-id="workload/shop/shopper"]')
            page.wait_for_selector("#details h4", timeout=10_000)
            assert "shopper-0" in page.inner_text("#details")
            page.click("#tap-toggle:not([disabled])")
            page.wait_for_function(TAPPING)
            eventually(
                lambda: tap_runtime(observed.shopper) == "100" or None, 30, "shopper tapped from the page"
            )
            for _ in range(2):
                send(world, observed, "/books/tapped")
            page.wait_for_function("() => document.querySelectorAll('#tap li').length >= 2", timeout=20_000)
            assert "/books/tapped" in page.inner_text("#tap")
            page.click("#tap-toggle")
            eventually(
                lambda: tap_runtime(observed.shopper) in ("", "0") or None, 30, "tap off from the page"
            )
            browser.close()
        assert problems == [], problems
        assert blocked == [], blocked
    except (AssertionError, TimeoutError):
        print(world.logs())
        print("\n".join(dashboard.errors))
        print("last figures (metrics API, page):", locals().get("last"))
        raise
    finally:
        dashboard.stop()
