"""The report and the envelope on their own, from hand-made JSON: no benchmark runs here.

Other engineers' JSON shapes are not known in advance, so the report must render anything (older
JSON without the envelope included) without a traceback; the envelope must be strict JSON.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from bench.dataplane import loadgen

from bench import envelope, report

REPO = Path(__file__).resolve().parents[2]

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MACHINE = {"cpu_model": "test cpu", "cores": 2, "kernel": "Linux", "python": "3.11", "envoy": "1.40.0"}


def test_envelope_is_strict_json_in_the_mode_s_own_file(tmp_path: Path) -> None:
    run = envelope.Run("identity", quick=True, started_at="2026-01-01T00:00:00+00:00", machine=MACHINE)
    figures = {"benchmark": "identity", "when": "then", "cpu_s": math.nan, "runs": [1.5, math.inf]}
    target = envelope.target("issue 1,000 leaves (CPU s)", "< 1 s", 0.3, None, note="extrapolated")
    path = envelope.write(run, tmp_path, figures, [target])
    assert path == tmp_path / "identity-quick.json"
    data = json.loads(path.read_text(), parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert data == {
        "benchmark": "identity",
        "mode": "quick",
        "started_at": "2026-01-01T00:00:00+00:00",
        "machine": MACHINE,
        "targets": [
            {
                "name": "issue 1,000 leaves (CPU s)",
                "target": "< 1 s",
                "measured": 0.3,
                "met": None,
                "note": "extrapolated",
            }
        ],
        "figures": {"cpu_s": None, "runs": [1.5, None]},  # the envelope's own keys are not repeated
    }
    full = envelope.Run("identity", quick=False, machine=MACHINE)
    assert envelope.write(full, tmp_path, {}, []).name == "identity.json"


def test_report_takes_mode_machine_and_verdicts_from_the_envelope(tmp_path: Path) -> None:
    quick = envelope.Run("identity", quick=True, started_at="2026-01-02T03:04:05+00:00", machine=MACHINE)
    envelope.write(
        quick,
        tmp_path,
        {"book": {"leaves": 100}},
        [
            envelope.target("issue + rotate 1,000 leaves (CPU s)", "< 1.0 s", 0.296, None),
            envelope.target("never measured", "< 1 s", None, None),
        ],
    )
    full = envelope.Run("startup", quick=False, started_at="2026-01-02T00:00:00+00:00", machine=MACHINE)
    envelope.write(
        full,
        tmp_path,
        {"demo": {"first_ok_s": 7.5}},
        [
            envelope.target("demo: first 200 (s)", "< 5.0 s", 7.5, False, runs=3),
        ],
    )
    assert report.main(["--results-dir", str(tmp_path), "--prefer", "quick"]) == 0
    text = (tmp_path / "REPORT.md").read_text()
    assert "From `identity-quick.json` (quick, 2026-01-02T03:04:05+00:00); ran on: cpu_model test cpu" in text
    assert "| issue + rotate 1,000 leaves (CPU s) | 0.296 | < 1.0 s | not judged" in text
    assert "| never measured | – | < 1 s | not run |  |" in text
    assert "| demo: first 200 (s) | 7.500 | < 5.0 s | **NOT met** | runs: 3 |" in text
    assert "book.leaves | 100" in text and "demo.first_ok_s | 7.5" in text  # the figures, generically
    assert "From `startup.json` (full," in text


def test_a_target_this_run_could_not_measure_says_so_and_why(tmp_path: Path) -> None:
    run = envelope.Run("identity", quick=False, started_at="2026-01-02T00:00:00+00:00", machine=MACHINE)
    why = "the load generator lagged on smimesh: it released 900 of the asked 1000 req/s (< 95%)"
    target = envelope.target("smimesh: added p50", "<= 1.10", 1.3, None, not_measurable=why)
    envelope.write(run, tmp_path, {}, [target])
    assert report.main(["--results-dir", str(tmp_path)]) == 0
    line = next(x for x in (tmp_path / "REPORT.md").read_text().splitlines() if "smimesh: added p50" in x)
    assert "**not measurable in this run**" in line and why in line and "NOT met" not in line


def test_the_runner_names_the_benchmarks_it_knows() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "no_such_bench"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2 and "no benchmark named no_such_bench" in done.stderr
    assert "validate" in done.stderr and "Traceback" not in done.stderr


def test_report_renders_unknown_and_broken_results(tmp_path: Path) -> None:
    """Other engineers' JSON shapes are unknown in advance: shown generically, never a traceback."""
    startup = {
        "benchmark": "startup",
        "mode": "full",
        "demo": {"first_ok_s": 7.5},
        "target_s": 5.0,
        "meets_target": False,
    }
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
    scale = {
        "benchmark": "scale",
        "results": [
            {"services": 10, "proxies": p, "policy": "sparse", "cpu": {"total_s": p / 1000}}
            for p in (100, 1000)
        ],
    }
    medians = {
        "sotw": {"mode": "sotw", "proxies": 100, "all_acked_s": 0.2},
        "delta": {"mode": "delta", "proxies": 1000, "all_acked_s": 1.2},
    }
    propagation = {"target_s": 1.0, "median": medians}
    (tmp_path / "scale.json").write_text(json.dumps(scale))
    (tmp_path / "propagation-quick.json").write_text(json.dumps(propagation))
    assert report.main(["--results-dir", str(tmp_path), "--prefer", "quick"]) == 0
    text = (tmp_path / "REPORT.md").read_text()
    assert "![scale.png](plots/scale.png)" in text and "| 1 | 10 | 1000 | sparse | 1.000 |" in text
    assert "![propagation.png](plots/propagation.png)" in text
    assert "| sotw | – | 100 | 0.200 | 1.000 | not judged (fewer proxies) |" in text  # the target is at 1,000
    assert "| delta | – | 1000 | 1.200 | 1.000 | **NOT met** |" in text
    assert "From `propagation-quick.json` (quick," in text
    for name in ("scale.png", "propagation.png"):
        assert (tmp_path / "plots" / name).read_bytes()[:8] == PNG_MAGIC


def test_a_report_written_elsewhere_keeps_its_plots_beside_it(tmp_path: Path) -> None:
    """`--out` elsewhere must not write into the results directory (the committed one, say)."""
    results, elsewhere = tmp_path / "results", tmp_path / "elsewhere"
    results.mkdir()
    elsewhere.mkdir()
    scale = {
        "results": [
            {"services": 10, "proxies": p, "policy": "sparse", "cpu": {"total_s": p / 1000}}
            for p in (100, 1000)
        ]
    }
    (results / "scale.json").write_text(json.dumps(scale))
    assert report.main(["--results-dir", str(results), "--out", str(elsewhere / "REPORT.md")]) == 0
    assert "![scale.png](plots/scale.png)" in (elsewhere / "REPORT.md").read_text()
    assert (elsewhere / "plots" / "scale.png").read_bytes()[:8] == PNG_MAGIC
    assert sorted(p.name for p in results.iterdir()) == ["scale.json"]


def test_scale_shows_each_change_and_the_fits_and_propagation_an_unmeasurable_run(tmp_path: Path) -> None:
    change = {"cpu_s": 0.05, "regenerated": 3, "expected": 3, "outside_expected": 0, "runs": []}
    row = {
        "services": 10000, "proxies": 1000, "policy": "sparse", "sidecars": 1000,
        "cpu": {"total_s": 12.5}, "rss_mb": {"peak": 900.0}, "changes": {"endpoint": change},
    }  # fmt: skip
    pair = {"from": [1000, 1000], "to": [10000, 1000], "exponent": 0.1}
    fits = {"sparse": {"endpoint": {"vs_services": [pair], "vs_proxies": []}}}
    scale = {
        "path": "secured",
        "changes": {"endpoint": "(b) one endpoint added"},
        "results": [row],
        "fits": fits,
    }
    why = "not measurable in this run: other work took up to 0.80 cores"
    medians = {
        "secured/sotw": {"mode": "secured sotw", "proxies": 1000, "all_acked_s": 0.4, "not_measurable": why}
    }
    (tmp_path / "scale.json").write_text(json.dumps(scale))
    (tmp_path / "propagation.json").write_text(json.dumps({"target_s": 0.5, "median": medians}))
    assert report.main(["--results-dir", str(tmp_path)]) == 0
    text = (tmp_path / "REPORT.md").read_text()
    assert "| 10000 x 1000, sparse | 1000 | 12.500 | 900.000 | 0.050, 3 / 3 |" in text
    assert "| sparse | endpoint | 0.1 (1000x1000 -> 10000x1000) |  |" in text
    assert "| secured sotw | – | 1000 | 0.400 | 0.500 | **not measurable in this run** |" in text
