"""The sidecar bootstrap flushes stats at the telemetry scrape interval (latency histograms on the
admin endpoint keep up with the counters), within the range Envoy accepts, and Envoy takes it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from smimesh.local.binaries import find_envoy
from smimesh.xds import build_bootstrap


def flush(seconds: float | None = None) -> str:
    extra = {} if seconds is None else {"stats_flush_interval_s": seconds}
    return str(build_bootstrap("a-0.ns", "a", "127.0.0.1", 1, 2, **extra)["stats_flush_interval"])


def test_the_default_is_the_default_scrape_interval() -> None:
    assert flush() == "1s"


@pytest.mark.parametrize(
    ("seconds", "duration"), [(0.5, "0.5s"), (2.25, "2.25s"), (0.0001, "0.001s"), (900.0, "300s")]
)
def test_the_interval_is_written_as_a_duration_envoy_accepts(seconds: float, duration: str) -> None:
    assert flush(seconds) == duration


@pytest.mark.envoy
def test_envoy_accepts_a_sub_second_flush_interval(tmp_path: Path) -> None:
    path = tmp_path / "bootstrap.json"
    path.write_text(
        json.dumps(build_bootstrap("a-0.ns", "a", "127.0.0.1", 1, 0, stats_flush_interval_s=0.25))
    )
    command = [str(find_envoy()), "--mode", "validate", "-c", str(path), "-l", "warning"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
