"""CI smoke test of the whole benchmark suite: `python -m bench --quick --results-dir <tmp>`.

Runs the documented command for real (every bench_*.py in quick mode: Envoy, `smimesh up`, the ADS
fleet, wrk when installed) into a temporary directory, then checks that every benchmark wrote a
well-formed JSON with the envelope, that the report lists every section from those files, and that
the committed results under bench/results/ were not touched. It asserts the shape of what was
written, never a timing: the < 3 min budget of the quick mode is measured by hand (bench/README.md).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import report

REPO = Path(__file__).resolve().parents[2]

BENCHMARKS = sorted(p.stem.removeprefix("bench_") for p in (REPO / "bench").glob("bench_*.py"))
COMMITTED = REPO / "bench" / "results"
SUITE_TIMEOUT_S = 600  # generous: a budget for a hung process, not a performance assertion
MACHINE_KEYS = {"cpu_model", "cores", "kernel", "python", "envoy"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

pytestmark = [pytest.mark.envoy, pytest.mark.slow, pytest.mark.timeout(SUITE_TIMEOUT_S + 60)]


def _fingerprints() -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(COMMITTED.glob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """(results directory, fingerprints of bench/results/ before the run) after one quick run."""
    results = tmp_path_factory.mktemp("results")
    before = _fingerprints()
    command = [sys.executable, "-m", "bench", "--quick", "--results-dir", str(results)]
    done = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=SUITE_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return results, before


def _strict(text: str) -> Any:
    """JSON as a strict parser reads it: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def _check_target(target: Any) -> None:
    assert isinstance(target, dict) and {"name", "target", "measured", "met"} <= set(target), target
    assert isinstance(target["name"], str) and target["name"], target
    assert target["met"] in (True, False, None), target
    measured = target["measured"]
    assert measured is None or isinstance(measured, str | bool) or math.isfinite(measured), target


def check_envelope(data: Any, name: str, mode: str) -> None:
    """The envelope every result JSON carries (bench/envelope.py)."""
    assert isinstance(data, dict), data
    assert {"benchmark", "mode", "started_at", "machine", "targets", "figures"} <= set(data), list(data)
    assert data["benchmark"] == name and data["mode"] == mode
    assert datetime.datetime.fromisoformat(data["started_at"]).tzinfo is not None, data["started_at"]
    assert set(data["machine"]) >= MACHINE_KEYS, data["machine"]
    assert isinstance(data["targets"], list) and data["targets"], f"{name}: no target stated"
    for target in data["targets"]:
        _check_target(target)
    assert isinstance(data["figures"], dict) and data["figures"], f"{name}: no figures"


@pytest.mark.parametrize("name", BENCHMARKS)
def test_every_benchmark_writes_its_quick_envelope(suite: tuple[Path, dict[str, str]], name: str) -> None:
    results, _ = suite
    path = results / f"{name}-quick.json"
    assert path.is_file(), sorted(p.name for p in results.iterdir())
    check_envelope(_strict(path.read_text()), name, "quick")
    assert not (results / f"{name}.json").exists()  # a quick run never writes the full run's file


def test_report_lists_every_section_from_this_run(suite: tuple[Path, dict[str, str]]) -> None:
    results, _ = suite
    text = (results / "REPORT.md").read_text()
    for title in report.SECTIONS.values():
        assert f"## {title}" in text
    for name in BENCHMARKS:
        assert f"From `{name}-quick.json` (quick," in text, name
    for broken in ("**not run**", "**unreadable**", "renderer failed", "Traceback"):
        assert broken not in text
    plots = [line.split("(plots/")[1].rstrip(")") for line in text.splitlines() if "](plots/" in line]
    assert plots
    for picture in plots:
        assert (results / "plots" / picture).read_bytes()[:8] == PNG_MAGIC


def test_committed_results_are_left_alone(suite: tuple[Path, dict[str, str]]) -> None:
    _, before = suite
    assert _fingerprints() == before


DATAPLANE_PATHS = (
    "direct",
    "static-envoy-mtls",
    "static-envoy-plain",
    "static-envoy-mtls-split",
    "smimesh",
    "smimesh-split",
)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_rate(result: dict[str, Any], rate: int) -> None:
    assert result["rate"] == rate and result["sent"] > 0, result
    assert result["completed"] >= 1, result
    assert all(_number(result["latency_ms"][k]) for k in ("p50", "p90", "p99", "p99.9", "max")), result
    assert result["latency_ms"]["p50"] <= result["latency_ms"]["p99"] <= result["latency_ms"]["max"], result


def _check_path(name: str, path: dict[str, Any], rates: list[int]) -> None:
    try:
        assert "skipped" not in path
        for rate in rates:
            _check_rate(path["rates"][str(rate)], rate)
        expected_roles = 0 if name == "direct" else 2
        assert len({r.split(":")[0] for r in path["proxies"]}) == expected_roles
        if expected_roles:
            assert all(_number(v) and v >= 0 for v in path["rates"]["1000"]["cpu_s_per_1000"].values())
            assert all(mb > 0 for mb in path["rss_mb"].values())
    except (AssertionError, KeyError) as failure:
        raise AssertionError(f"path {name}: {failure!r}\n{json.dumps(path, indent=1)[:4000]}") from None


def test_quick_dataplane_measured_every_path(suite: tuple[Path, dict[str, str]]) -> None:
    """The data plane's own figures: every path ran at every rate, with its proxies and their cost."""
    results, _ = suite
    data = json.loads((results / "dataplane-quick.json").read_text())
    figures = data["figures"]
    assert set(figures["placement"]) >= {"load_generator", "backend", "proxies", "why"}
    assert list(figures["paths"]) == list(DATAPLANE_PATHS)
    for name, path in figures["paths"].items():
        _check_path(name, path, figures["plan"]["rates"])
    assert figures["paths"]["static-envoy-mtls"]["had"]["mtls"] is True
    assert figures["paths"]["static-envoy-plain"]["had"]["mtls"] is False
    assert figures["paths"]["smimesh-split"]["had"]["split"] is True
    assert figures["paths"]["static-envoy-mtls-split"]["had"]["split"] is True
    split_targets = [t for t in figures["targets"] if t["id"].startswith("smimesh-split.")]
    assert {t["reference"] for t in split_targets} == {"static-envoy-mtls-split"}
    assert set(figures["added_over_direct_ms"]) == set(DATAPLANE_PATHS) - {"direct"}
    assert [t["id"] for t in data["targets"]] == [t["id"] for t in figures["targets"]]
