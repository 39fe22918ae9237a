"""Smoke test of the benchmark suite: the quick data-plane run and the report are well-formed.

Runs the real thing (backend, static Envoy pair, `smimesh up` with sidecars, wrk) in quick mode into
a temporary results directory, then the report over it. Asserts the shape of what was written —
every path present, every rate measured, every section listed — and never a timing.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # `bench` is a top-level package of the repository, not of smimesh
from bench.dataplane import loadgen  # noqa: E402

from bench import report  # noqa: E402

PATHS = ("direct", "static-envoy-mtls", "static-envoy-plain", "smimesh", "smimesh-split")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def quick_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("results")
    command = [sys.executable, "-m", "bench.bench_dataplane", "--quick", "--results-dir", str(results)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return results


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_rate(result: dict[str, Any], rate: int) -> None:
    assert result["rate"] == rate and result["sent"] > 0, result
    assert result["completed"] >= 1, result
    assert all(_number(result["latency_ms"][k]) for k in ("p50", "p90", "p99", "p99.9", "max")), result
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"], result


@pytest.mark.envoy
@pytest.mark.slow
def test_quick_dataplane_json_is_well_formed(quick_results: Path) -> None:
    data = json.loads((quick_results / "dataplane-quick.json").read_text())
    assert data["benchmark"] == "dataplane" and data["mode"] == "quick"
    assert {"cpu_model", "cores", "kernel", "python", "envoy"} <= set(data["machine"])
    assert set(data["placement"]) >= {"load_generator", "backend", "proxies", "why"}
    assert list(data["paths"]) == list(PATHS)
    for name, path in data["paths"].items():
        _check_path(name, path, data["plan"]["rates"])
    assert data["paths"]["static-envoy-mtls"]["had"]["mtls"] is True
    assert data["paths"]["static-envoy-plain"]["had"]["mtls"] is False
    assert data["paths"]["smimesh-split"]["had"]["split"] is True
    assert set(data["added_over_direct_ms"]) == set(PATHS) - {"direct"}
    for target in data["targets"]:
        assert {"id", "what", "value", "target", "met", "reference", "caveat"} <= set(target)
        assert target["met"] in (True, False, None)
    assert data["meets_target"] in (True, False, None)


def _check_path(name: str, path: dict[str, Any], rates: list[int]) -> None:
    try:
        assert "skipped" not in path
        for rate in rates:
            _check_rate(path["rates"][str(rate)], rate)
        if shutil.which("wrk"):
            assert path["max"]["requests_per_s"] > 0 and path["max"]["socket_errors"] >= 0
        expected_roles = 0 if name == "direct" else 2
        assert len({r.split(":")[0] for r in path["proxies"]}) == expected_roles
        if expected_roles:
            assert all(_number(v) and v >= 0 for v in path["rates"]["1000"]["cpu_s_per_1000"].values())
            assert all(mb > 0 for mb in path["rss_mb"].values())
    except (AssertionError, KeyError) as failure:
        raise AssertionError(f"path {name}: {failure!r}\n{json.dumps(path, indent=1)[:4000]}") from None


@pytest.mark.envoy
@pytest.mark.slow
def test_report_lists_every_section_and_plots(quick_results: Path) -> None:
    assert report.main(["--results-dir", str(quick_results), "--prefer", "quick"]) == 0
    text = (quick_results / "REPORT.md").read_text()
    for title in report.SECTIONS.values():
        assert f"## {title}" in text
    assert "dataplane-quick.json" in text
    assert all(field in text for field in ("cpu_model", "cores", "kernel", "python", "envoy"))
    for missing in set(report.SECTIONS) - {"dataplane"}:
        assert f"no `{missing}.json`" in text  # only the data plane ran here: the rest are "not run"
    plots = [line.split("(plots/")[1].rstrip(")") for line in text.splitlines() if "](plots/" in line]
    assert plots
    for name in plots:
        assert (quick_results / "plots" / name).read_bytes()[:8] == PNG_MAGIC


def test_report_renders_unknown_and_broken_results(tmp_path: Path) -> None:
    """Other engineers' JSON shapes are unknown in advance: shown generically, never a traceback."""
    startup = {"benchmark": "startup", "mode": "full", "demo": {"first_ok_s": 7.5}, "target_s": 5.0,
               "meets_target": False}
    (tmp_path / "startup.json").write_text(json.dumps(startup))
    (tmp_path / "metrics-quick.json").write_text("{not json")
    (tmp_path / "surprise.json").write_text(json.dumps({"runs": [{"name": "a", "x": 1}], "met": True}))
    (tmp_path / "propagation.json").write_text(json.dumps({"runs": "not a list", "target_s": 1}))
    assert report.main(["--results-dir", str(tmp_path)]) == 0
    text = (tmp_path / "REPORT.md").read_text()
    assert "demo.first_ok_s | 7.5" in text and "**NOT met**" in text
    assert "**unreadable**: metrics-quick.json" in text
    assert "## Other: surprise" in text and "| # | name | x |" in text and "| 0 | a | 1 |" in text
    assert "**met**" in text
    assert "## B2 · Propagation" in text and "target_s | 1" in text
    assert "**not run**: no `dataplane.json`" in text


def test_wrk_output_is_parsed() -> None:
    output = """Running 2s test @ http://127.0.0.1:1/
  Latency Distribution
     50%  313.00us
     75%  151.56ms
     90%    1.20ms
     99%    2.05s
  44324 requests in 3.08s, 46.71MB read
  Socket errors: connect 0, read 2, write 1, timeout 0
  Non-2xx or 3xx responses: 7
Requests/sec:  14380.71
"""
    parsed = loadgen.parse_wrk(output)
    assert parsed["requests_per_s"] == 14380.71 and parsed["requests"] == 44324
    assert parsed["latency_ms"] == {"p50": 0.313, "p90": 1.2, "p99": 2050.0}
    assert parsed["socket_errors"] == 3 and parsed["non_2xx"] == 7


def test_percentiles_follow_the_nearest_rank_definition() -> None:
    values = [i / 1000 for i in range(1, 1001)]  # 1..1000 ms
    summary = loadgen.summary_ms(values)
    assert (summary["p50"], summary["p90"], summary["p99"], summary["max"]) == (500.0, 900.0, 990.0, 1000.0)


def test_scale_and_propagation_get_plots_beside_their_tables(tmp_path: Path) -> None:
    scale = {"benchmark": "scale", "results": [
        {"services": 10, "proxies": p, "policy": "sparse", "cpu": {"total_s": p / 1000}} for p in (100, 1000)
    ]}
    propagation = {"target_s": 1.0, "median": {"sotw": {"mode": "sotw", "proxies": 100, "all_acked_s": 0.2}}}
    (tmp_path / "scale.json").write_text(json.dumps(scale))
    (tmp_path / "propagation-quick.json").write_text(json.dumps(propagation))
    assert report.main(["--results-dir", str(tmp_path), "--prefer", "quick"]) == 0
    text = (tmp_path / "REPORT.md").read_text()
    assert "![scale.png](plots/scale.png)" in text and "| 1 | 10 | 1000 | sparse | 1.000 |" in text
    assert "![propagation.png](plots/propagation.png)" in text
    assert "| sotw | – | 100 | 0.200 | 1.000 | **met** |" in text
    assert "From `propagation-quick.json` (quick," in text
    for name in ("scale.png", "propagation.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == PNG_MAGIC
