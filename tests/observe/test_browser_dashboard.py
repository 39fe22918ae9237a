"""The dashboard in a real browser (Playwright driving Debian's chromium) against a running mesh.

The bookstore world (split 90/10, buyer allowed, thief not) runs under `smimesh up`; the test sends
every request itself, so every figure is known. The page must:
- show the world's nodes and edges, with figures equal to the metrics API's for the same window
  (and to what was sent);
- show a split edit without a reload (the time it took is printed; the 2 s target is measured in
  bench/bench_dashboard.py, not asserted here);
- show a denied edge once the thief has called;
- name the TrafficTarget that allows an edge clicked in the graph; answer the explain form;
- raise no console error (favicon included), load nothing but from the API (everything else is
  blocked and must not even be asked for), and show where the keyboard focus is.
Screenshots of these states go to $SMIMESH_SCREENSHOTS (default: the test's tmp dir).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from smimesh.testing.observe_world import Mesh, eventually, make_bookstore, set_split, smimesh, tap_switch

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(300)]
CHROMIUM = Path(os.environ.get("SMIMESH_CHROMIUM", "/usr/bin/chromium"))
playwright = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' (playwright)")
if not CHROMIUM.exists():
    pytest.skip(
        f"no chromium at {CHROMIUM} (apt-get install chromium; scripts/test.sh does)", allow_module_level=True
    )
PREFIX = "/apis/metrics.smi-spec.io/v1alpha1"
WORLD_NODES = [
    f"workload/bookstore/{w}" for w in ("buyer", "thief", "bookstore-v1", "bookstore-v2", "warehouse")
]
WORLD_NODES += [f"service/bookstore/{s}" for s in ("bookstore", "bookstore-v1", "bookstore-v2", "warehouse")]
SPLIT_V1 = "split:service/bookstore/bookstore->service/bookstore/bookstore-v1"
SPLIT_SHOWS_50 = (
    f"() => {{ const r = document.querySelector('#edges tr[data-id=\"{SPLIT_V1}\"]');"
    " return r && r.innerText.includes('50% ('); }"
)
MIDPOINT = """(id) => {
  const p = window.smimeshDashboard.cy.getElementById(id).renderedMidpoint();
  const box = document.querySelector('#graph').getBoundingClientRect();
  return {x: box.left + p.x, y: box.top + p.y}; }"""
SELECTED = "() => (window.smimeshDashboard.selected || {}).id || ''"
TAPPING = "() => document.querySelector('#tap-toggle').innerText.startsWith('Stop tap')"
IN_EDGES = "() => document.activeElement.closest('#edges tbody') !== null"
OUTLINE = """() => { const s = getComputedStyle(document.activeElement);
  return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"""
BUYER_V1 = "traffic:workload/bookstore/buyer->service/bookstore/bookstore-v1"


def _send(mesh: Mesh, instance: str, count: int) -> Counter[str]:
    answered: Counter[str] = Counter()
    with httpx.Client(proxy=mesh.proxy(instance), timeout=10) as client:
        for _ in range(count):
            reply = client.get("http://bookstore.bookstore/books")
            answered[reply.json()["workload"] if reply.status_code == 200 else str(reply.status_code)] += 1
    return answered


def _row(page: Any, edge_id: str) -> dict[str, str]:
    cells = page.locator(f'#edges tr[data-id="{edge_id}"] td').all_inner_texts()
    keys = ("from", "to", "kind", "rps", "success", "p99", "requests", "split")
    return dict(zip(keys, cells, strict=False))


def _api_edges(mesh: Mesh, workload: str) -> dict[str, tuple[str, str]]:
    body = httpx.get(f"http://{mesh.api}{PREFIX}/namespaces/bookstore/deployments/{workload}/edges",
                     params={"window": "5m"}, timeout=5).json()  # fmt: skip
    found = {}
    for item in body["items"]:
        if item["edge"]["direction"] == "to":
            values = {m["name"]: m["value"] for m in item["metrics"]}
            found[item["edge"]["resource"]["name"]] = (values["success_count"], values["failure_count"])
    return found


def test_dashboard_in_a_browser(tmp_path: Path) -> None:
    shots = Path(os.environ.get("SMIMESH_SCREENSHOTS", tmp_path / "screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    directory = tmp_path / "bookstore"
    make_bookstore(directory)
    mesh = Mesh(directory, tmp_path / "run", tmp_path / "contexts.json").start()
    problems: list[str] = []
    blocked: list[str] = []
    unauthenticated: list[str] = []
    try:
        mesh.wait_ready(expected_instances=5)
        token = (tmp_path / "run" / "token").read_text().strip()
        opened = smimesh(mesh, "dashboard", "--no-open", "--show-token")  # the address the CLI gives
        assert opened.returncode == 0, opened.stderr
        assert opened.stdout.strip() == f"http://{mesh.api}/dashboard/#token={token}"
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
            context = browser.new_context(viewport={"width": 1500, "height": 950})

            def only_the_api(route: Any) -> None:
                if route.request.url.startswith(f"http://{mesh.api}/"):
                    sent = route.request.headers.get("authorization")
                    if "/api/" in route.request.url and sent != f"Bearer {token}":
                        unauthenticated.append(route.request.url)  # the page must ask as the CLI does
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            context.route("**/*", only_the_api)
            page = context.new_page()
            page.on(
                "console",
                lambda m: (
                    problems.append(f"console {m.type}: {m.text}") if m.type in ("error", "warning") else None
                ),
            )
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.goto(opened.stdout.strip())
            page.select_option("#window", "5m")
            page.wait_for_selector('#nodes tr[data-id="workload/bookstore/thief"]', timeout=30_000)
            assert "token" not in page.url  # the token left the address bar

            # Nodes and edges of the world, with the figures of the metrics API.
            answered = _send(mesh, "buyer-0", 30)
            assert sum(answered.values()) == 30 and set(answered) <= {"bookstore-v1", "bookstore-v2"}

            def figures_agree() -> dict[str, Any] | None:
                api = _api_edges(mesh, "buyer")
                rows = {
                    w: _row(page, f"traffic:workload/bookstore/buyer->service/bookstore/{w}")
                    for w in answered
                }
                for workload, count in answered.items():
                    if api.get(workload) != (str(count), "0") or rows[workload].get("requests") != str(count):
                        return None
                return rows

            rows = eventually(figures_agree, 40, what="page figures equal to the metrics API's", mesh=mesh)
            assert rows["bookstore-v1"]["success"] == "100.0%"
            to_warehouse = "traffic:workload/bookstore/bookstore-v1->service/bookstore/warehouse"
            v1_calls = str(answered["bookstore-v1"])
            eventually(
                lambda: _row(page, to_warehouse).get("requests") == v1_calls, 30, what="v1 -> warehouse"
            )
            names = set(page.locator("#nodes tbody tr").evaluate_all("rows => rows.map(r => r.dataset.id)"))
            for node in WORLD_NODES:
                assert node in names
            share = round(100 * answered["bookstore-v1"] / 30, 1)
            split_row = _row(page, SPLIT_V1)
            assert split_row["split"] == f"90% (observed {share:g}%)", split_row
            page.screenshot(path=str(shots / "dashboard-bookstore.png"), full_page=True)

            # A split edit shows without a reload.
            page.evaluate("window.__noReload = true")
            started = time.monotonic()
            set_split(directory, 50, 50)
            page.wait_for_function(SPLIT_SHOWS_50, timeout=20_000)
            print(f"split edit visible on the page after {time.monotonic() - started:.2f} s")
            assert page.evaluate("window.__noReload") is True
            page.click(f'#edges tr[data-id="{SPLIT_V1}"]')  # its details show the split's history
            page.wait_for_selector(".split-history li:nth-child(2)", timeout=10_000)
            history = page.locator(".split-history li").all_inner_texts()
            assert "bookstore-v1 90" in history[0] and "bookstore-v1 50" in history[-1], history
            page.wait_for_function("() => document.querySelector('#details').innerText.includes('canary')")

            # A denied edge appears after the thief calls.
            assert set(_send(mesh, "thief-0", 3)) == {"403"}
            page.wait_for_selector(
                '#edges tr[data-kind="denied"][data-id^="denied:workload/bookstore/thief->"]', timeout=30_000
            )
            page.screenshot(path=str(shots / "dashboard-denied.png"), full_page=True)
            page.click('#edges tr[data-kind="denied"][data-id^="denied:workload/bookstore/thief->"]')
            page.click("#suggest")  # the page offers policy from observed traffic for a denied edge
            page.wait_for_selector("#suggestion pre", timeout=10_000)
            assert "observed-thief-to-bookstore" in page.inner_text("#suggestion pre")

            # Clicking an edge in the graph names the TrafficTarget that allows it.
            for _ in range(5):  # the layout may move while live updates arrive: aim again if it did
                point = page.evaluate(MIDPOINT, BUYER_V1)
                page.mouse.click(point["x"], point["y"])
                if page.evaluate(SELECTED) == BUYER_V1:
                    break
                time.sleep(0.5)
            assert page.evaluate(SELECTED) == BUYER_V1
            page.wait_for_selector("#details .allowing", timeout=10_000)
            assert "TrafficTarget/bookstore/buyer-to-bookstore" in page.inner_text("#details")

            # The explain form answers.
            page.fill("#explain input[name=from]", "bookstore/thief")
            page.fill("#explain input[name=to]", "bookstore.bookstore")
            page.fill("#explain input[name=path]", "/books")
            page.click("#explain button[type=submit]")
            page.wait_for_selector("#explain-result .explain-verdict", timeout=10_000)
            assert "denied" in page.inner_text("#explain-result .explain-verdict")
            page.fill("#explain input[name=from]", "bookstore/buyer")
            page.click("#explain button[type=submit]")
            page.wait_for_function(
                "() => document.querySelector('#explain-result').innerText.includes('buyer-to-bookstore')",
                timeout=10_000,
            )
            page.screenshot(path=str(shots / "dashboard-explain.png"), full_page=True)

            # Keyboard focus is visible: tab onto an edge row, Enter opens its details.
            page.focus("#search")
            for _ in range(60):  # from the search box to the first edge row, by keyboard only
                page.keyboard.press("Tab")
                if page.evaluate(IN_EDGES):
                    break
            assert page.evaluate(IN_EDGES), "Tab never reached the edges table"
            outline = page.evaluate(OUTLINE)
            assert outline[0] != "none" and outline[1] >= 2, outline
            page.keyboard.press("Enter")
            page.wait_for_selector("#details h3", timeout=10_000)

            # Resources in force, with their origin and YAML.
            page.click("#resources-load")
            page.wait_for_selector("#resources details", timeout=10_000)
            listed = page.inner_text("#resources")
            assert "TrafficSplit/bookstore/bookstore" in listed and "split.yaml" in listed

            # The tap stream of a selected workload, on the page.
            page.click('#nodes tr[data-id="workload/bookstore/buyer"]')
            page.wait_for_selector("#details h4", timeout=10_000)  # the workload's instances are shown
            assert "buyer-0" in page.inner_text("#details")
            page.click("#tap-toggle:not([disabled])")
            page.wait_for_function(TAPPING)
            eventually(lambda: tap_switch(mesh, "buyer-0") == "100", 30, what="buyer tapped from the page")
            _send(mesh, "buyer-0", 2)
            page.wait_for_function("() => document.querySelectorAll('#tap li').length >= 2", timeout=20_000)
            assert "/books" in page.inner_text("#tap")
            page.click("#tap-toggle")  # stop: the sidecar's request log goes off again
            eventually(lambda: tap_switch(mesh, "buyer-0") == "0", 30, what="tap off after the page stopped")
            browser.close()
        assert problems == [], problems
        assert blocked == [], blocked
        assert unauthenticated == [], unauthenticated
        if os.environ.get("SMIMESH_DOCS_SCREENSHOT"):
            shutil.copy(shots / "dashboard-denied.png", os.environ["SMIMESH_DOCS_SCREENSHOT"])
    finally:
        mesh.stop()
