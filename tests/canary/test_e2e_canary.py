"""Canaries end to end: `smimesh up` with real Envoy sidecars runs Flagger Canaries on its own metrics.

One mesh serves the module; each test releases a new revision of its own target Workload by saving
its file, as a user does, and watches the controller through the API and the traffic through the
client's sidecar. Intervals are 1-2 s to keep the tests short; every wait polls for a condition.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from smimesh.cli.main import cli as smimesh_cli
from smimesh.testing.canary import (
    CLIENT,
    NS,
    OPEN_MESH,
    Hooks,
    canary,
    command,
    live_weight,
    release,
    status,
    target,
    wait_phase,
)
from smimesh.testing.up import Mesh, Traffic, chi_square_p, eventually, write

pytestmark = [pytest.mark.envoy, pytest.mark.slow]

HEALTHY = """    interval: 2s
    threshold: 3
    maxWeight: 60
    stepWeight: 20
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 90}, interval: 2s}"""
FAILING = """    interval: 2s
    threshold: 2
    maxWeight: 60
    stepWeight: 20
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 95}, interval: 2s}
    - {name: request-duration, thresholdRange: {max: 300}, interval: 2s}"""
IDLE = """    interval: 1s
    threshold: 2
    stepWeight: 50
    metrics:
    - {name: request-success-rate, thresholdRange: {min: 99}, interval: 1s}"""
STICKY = """    interval: 1s
    threshold: 2
    maxWeight: 50
    stepWeight: 10
    sessionAffinity: {cookieName: canary, maxAge: 600}"""
MIRROR = """    interval: 1s
    threshold: 2
    maxWeight: 50
    stepWeight: 50
    mirror: true"""
BY_REVISION = """    interval: 1s
    threshold: 2
    maxWeight: 50
    stepWeight: 50"""
AB = """    interval: 1s
    threshold: 2
    iterations: 600
    match:
    - headers: {x-canary: {exact: always}}
    - headers: {cookie: {regex: '^(.*?;\\s*)?(canary=always)(;.*)?$'}}"""


def gated(url: str) -> str:
    hooks = [
        ("start", "confirm-rollout"),
        ("pre", "pre-rollout"),
        ("load", "rollout"),
        ("more", "confirm-traffic-increase"),
        ("promote", "confirm-promotion"),
        ("post", "post-rollout"),
        ("back", "rollback"),
        ("event", "event"),
    ]
    lines = "\n".join(
        f"    - {{name: {name}, type: {kind}, url: '{url}/{name}', timeout: 5s, metadata: {{cmd: {name}}}}}"
        for name, kind in hooks
    )
    return f"""    interval: 1s
    threshold: 2
    maxWeight: 40
    stepWeight: 20
    webhooks:
{lines}"""


@pytest.fixture(scope="module")
def hooks() -> Iterator[Hooks]:
    with Hooks() as server:
        yield server


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, hooks: Hooks) -> Iterator[tuple[Mesh, Path]]:
    root = tmp_path_factory.mktemp("canary")
    directory = root / "mesh"
    directory.mkdir()
    write(root / "mesh-config.yaml", OPEN_MESH)
    write(directory / "client.yaml", CLIENT)
    for name, analysis in [
        ("healthy", HEALTHY),
        ("failing", FAILING),
        ("idle", IDLE),
        ("ab", AB),
        ("sticky", STICKY),
        ("mirror", MIRROR),
        ("gated", gated(hooks.url)),
        ("byrev", BY_REVISION),
    ]:
        write(directory / f"{name}.yaml", target(name, "v1"))
        annotations = (
            "{smimesh.io/naming: revision, smimesh.io/on-no-data: pass}" if name == "byrev" else "{}"
        )
        write(directory / f"{name}-canary.yaml", canary(name, analysis, annotations))
    mesh = Mesh(
        directory, root / "run", root / "contexts.json", ["--mesh-config", str(root / "mesh-config.yaml")]
    )
    mesh.start()
    try:
        for name in ("healthy", "failing", "idle", "ab", "gated", "sticky", "mirror", "byrev"):
            wait_phase(mesh, name, "Initialized", timeout=120)
        # the client, seven primaries, and byrev-0 (by revision the Workload keeps running, renamed nothing)
        mesh.wait_ready(expected_instances=9, timeout=120)
        yield mesh, directory
    finally:
        mesh.stop()


def versions(mesh: Mesh, url: str, count: int, headers: dict[str, str] | None = None) -> Counter[str]:
    seen: Counter[str] = Counter()
    with httpx.Client(proxy=mesh.proxy("client-0"), timeout=10) as client:
        for _ in range(count):
            answer = client.get(url, headers=headers or {})
            seen[answer.json()["version"] if answer.status_code == 200 else str(answer.status_code)] += 1
    return seen


def test_flagger_objects_are_created_and_the_idle_target_is_scaled_to_zero(world: tuple[Mesh, Path]) -> None:
    mesh, _ = world
    names = {
        r.get("name") or r["metadata"]["name"]
        for r in httpx.get(f"http://{mesh.api}/api/v1/resources/Service").json()["items"]
    }
    assert {"healthy", "healthy-primary", "healthy-canary"} <= names
    assert not mesh.instances("healthy") and mesh.instances("healthy-primary")
    assert versions(mesh, f"http://healthy.{NS}/", 20) == Counter({"v1": 20})
    found = status(mesh, "healthy")
    assert found["conditions"][0]["type"] == "Promoted" and found["conditions"][0]["status"] == "True"
    listed = cli(mesh, "list")
    assert listed.exit_code == 0 and "healthy" in listed.output and "Initialized" in listed.output, (
        listed.output
    )
    shown = cli(mesh, "status", "healthy", "-o", "json")
    assert shown.exit_code == 0 and json.loads(shown.output) == status(mesh, "healthy")
    top = CliRunner().invoke(smimesh_cli, ["top", "--once", "--api-addr", mesh.api])
    assert top.exit_code == 0 and "Canaries" in top.output and "cd/healthy" in top.output, top.output


def test_healthy_canary_is_promoted_through_every_step_with_the_weights_in_traffic(
    world: tuple[Mesh, Path],
) -> None:
    mesh, directory = world
    url = f"http://healthy.{NS}/"
    with Traffic(mesh.proxy("client-0"), url):
        release(directory, "healthy", "v2")
        for weight in (20, 40, 60):
            eventually(
                lambda w=weight: status(mesh, "healthy")["canaryWeight"] == w,
                60,
                what=f"weight {weight}",
                mesh=mesh,
            )
            assert command(mesh, "healthy", "pause").status_code == 200
            eventually(
                lambda w=weight: live_weight(mesh, "healthy") == w, 30, what=f"{weight} % live", mesh=mesh
            )
            seen = versions(mesh, url, 300)
            # 4 sigma-ish: a chi-square p-value below 1e-4 would mean the split is not the weight
            assert chi_square_p([seen["v1"], seen["v2"]], [100 - weight, weight]) > 1e-4, (weight, seen)
            assert command(mesh, "healthy", "resume").status_code == 200
        found = wait_phase(mesh, "healthy", "Succeeded")
    assert found["failedChecks"] == 0 and found["lastPromotedSpec"] == found["lastAppliedSpec"]
    assert all(entry["result"] == "pass" for entry in found["history"][-3:]), found["history"]
    assert versions(mesh, url, 30) == Counter({"v2": 30})
    eventually(lambda: not mesh.instances("healthy"), 30, what="the canary scaled to 0", mesh=mesh)


def _failures(found: dict[str, object], metric: str) -> int:
    history = found["history"]
    assert isinstance(history, list)
    return sum(1 for entry in history if entry["metric"] == metric and entry["result"] == "fail")


def test_failing_canary_rolls_back_after_exactly_threshold_failed_checks(world: tuple[Mesh, Path]) -> None:
    mesh, directory = world
    url = f"http://failing.{NS}/"
    with Traffic(mesh.proxy("client-0"), url):
        release(directory, "failing", "v2", "FAIL_PATTERN: fs")  # every other answer a 503
        found = wait_phase(mesh, "failing", "Failed")
        assert found["failedChecks"] == 2 and found["canaryWeight"] == 0
        assert _failures(found, "request-success-rate") == 2, found["history"]
        release(directory, "failing", "v3", "DELAY_S: '0.5'")  # healthy answers, 500 ms late
        eventually(
            lambda: status(mesh, "failing")["phase"] == "Progressing", 30, what="v3 analysed", mesh=mesh
        )
        found = wait_phase(mesh, "failing", "Failed")
    assert found["failedChecks"] == 2 and _failures(found, "request-duration") == 2, found["history"]
    assert "Canary analysis failed" in found["conditions"][0]["message"]
    assert versions(mesh, url, 20) == Counter({"v1": 20}), "the primary still runs v1"
    _cli_shows_the_failure(mesh)


def _cli_shows_the_failure(mesh: Mesh) -> None:
    text = cli(mesh, "status", "failing")
    assert text.exit_code == 0 and "request-duration" in text.output and "<= 300" in text.output, text.output
    split = CliRunner().invoke(
        smimesh_cli, ["stat", "ts", "failing", "-n", NS, "--edges", "--api-addr", mesh.api]
    )
    assert split.exit_code == 0 and "service/cd/failing-canary" in split.output, split.output
    logs = CliRunner().invoke(smimesh_cli, ["logs", "canary-failing", "--run-dir", str(mesh.run_dir)])
    assert logs.exit_code == 0 and "Canary failed! Scaling down failing.cd" in logs.output, logs.output


def test_idle_canary_is_held_not_rolled_back_and_status_says_why(world: tuple[Mesh, Path]) -> None:
    mesh, directory = world
    release(directory, "idle", "v2")
    eventually(lambda: status(mesh, "idle")["canaryWeight"] == 50, 60, what="first step", mesh=mesh)
    eventually(lambda: "no data" in status(mesh, "idle")["message"], 30, what="held", mesh=mesh)
    time.sleep(4)  # four more intervals without traffic: nothing may move
    found = status(mesh, "idle")
    assert (found["phase"], found["canaryWeight"], found["failedChecks"]) == ("Progressing", 50, 0)
    assert "fewer than the 1 required" in found["message"] and "on-no-data: hold" in found["message"]
    assert cli(mesh, "set-weight", "idle", "30").exit_code == 0
    eventually(lambda: live_weight(mesh, "idle") == 30, 30, what="30 % live", mesh=mesh)
    assert cli(mesh, "abort", "idle", "-n", NS).exit_code == 0
    assert status(mesh, "idle")["phase"] == "Failed"
    refused = command(mesh, "idle", "promote")
    assert refused.status_code == 409 and "phase Failed" in refused.json()["error"]["message"]
    shown = cli(mesh, "promote", "idle")
    assert shown.exit_code == 1 and "phase Failed" in shown.output and "hint" in shown.output, shown.output


def cli(mesh: Mesh, *args: str) -> Result:
    token = (mesh.run_dir / "token").read_text().strip()
    return CliRunner().invoke(smimesh_cli, ["canary", *args, "--api-addr", mesh.api, "--token", token])


def test_ab_testing_by_header_and_cookie_is_exact(world: tuple[Mesh, Path]) -> None:
    mesh, directory = world
    url = f"http://ab.{NS}/"
    release(directory, "ab", "v2")
    eventually(lambda: status(mesh, "ab")["iterations"] >= 1, 60, what="A/B running", mesh=mesh)
    header = {"x-canary": "always"}
    eventually(
        lambda: versions(mesh, url, 1, header) == Counter({"v2": 1}), 30, what="A/B route live", mesh=mesh
    )
    assert versions(mesh, url, 50, header) == Counter({"v2": 50})
    assert versions(mesh, url, 50, {"cookie": "a=b; canary=always"}) == Counter({"v2": 50})
    assert versions(mesh, url, 50, {"cookie": "canary=never", "x-canary": "sometimes"}) == Counter({"v1": 50})
    assert status(mesh, "ab")["canaryWeight"] == 0
    assert command(mesh, "ab", "promote").status_code == 200
    wait_phase(mesh, "ab", "Succeeded")
    assert versions(mesh, url, 20) == Counter({"v2": 20})


def test_webhooks_are_called_with_flaggers_payload_and_honoured(
    world: tuple[Mesh, Path], hooks: Hooks
) -> None:
    mesh, directory = world
    hooks.open |= {"start": False, "promote": False, "back": False}
    release(directory, "gated", "v2")
    eventually(lambda: status(mesh, "gated")["phase"] == "Waiting", 30, what="gate closed", mesh=mesh)
    time.sleep(2)  # two intervals: a closed gate holds
    held = status(mesh, "gated")
    assert held["phase"] == "Waiting" and "waiting for approval start" in held["message"]
    hooks.open["start"] = True
    eventually(
        lambda: status(mesh, "gated")["phase"] == "WaitingPromotion", 60, what="promotion gate", mesh=mesh
    )
    assert status(mesh, "gated")["canaryWeight"] == 40
    hooks.open["back"] = True
    found = wait_phase(mesh, "gated", "Failed")
    assert "manual webhook" in " ".join(
        e["message"] for e in httpx.get(f"http://{mesh.api}/api/v1/canaries/{NS}/gated").json()["events"]
    )
    pre = hooks.received["pre"][0]
    assert pre == {
        "name": "gated",
        "namespace": NS,
        "phase": "Progressing",
        "checksum": found["lastAppliedSpec"],
        "metadata": {"cmd": "pre"},
    }
    assert len(hooks.received["pre"]) == 1 and hooks.received["load"] and hooks.received["more"]
    assert hooks.received["post"][-1]["phase"] == "Failed"
    assert any("Canary failed" in e["metadata"]["eventMessage"] for e in hooks.received["event"])
    hooks.open |= {"back": False, "promote": True}
    release(directory, "gated", "v3")
    wait_phase(mesh, "gated", "Succeeded")
    assert versions(mesh, f"http://gated.{NS}/", 10) == Counter({"v3": 10})


def test_session_affinity_keeps_a_client_on_the_canary(world: tuple[Mesh, Path]) -> None:
    mesh, directory = world
    url = f"http://sticky.{NS}/"
    release(directory, "sticky", "v2")
    eventually(
        lambda: status(mesh, "sticky")["canaryWeight"] >= 10, 60, what="the canary gets traffic", mesh=mesh
    )
    assert command(mesh, "sticky", "pause").status_code == 200
    cookie = status(mesh, "sticky")["sessionAffinityCookie"]
    assert cookie.startswith("canary=")
    with httpx.Client(proxy=mesh.proxy("client-0"), timeout=10) as client:  # keeps cookies, like a browser

        def reached_canary() -> bool:
            answer = client.get(url)
            return answer.json()["version"] == "v2" and cookie in answer.headers.get("set-cookie", "")

        eventually(reached_canary, 60, what="a first answer from the canary", mesh=mesh)
        assert client.cookies.get("canary") == cookie.split("=", 1)[1]
        seen = Counter(client.get(url).json()["version"] for _ in range(100))
    assert seen == Counter({"v2": 100}), seen
    assert versions(mesh, url, 50)["v1"] > 0, "a client without the cookie still gets the primary"
    assert command(mesh, "sticky", "resume").status_code == 200


def _received(mesh: Mesh, workload: str) -> float:
    """What the workload's own sidecars counted (server side) over the last minute."""
    path = f"/apis/metrics.smi-spec.io/v1alpha1/namespaces/{NS}/deployments/{workload}"
    item = httpx.get(f"http://{mesh.api}{path}", params={"window": "1m"}, timeout=10).json()
    values = {m["name"]: m["value"] for m in item["metrics"]}
    return float(values["success_count"]) + float(values["failure_count"])


def test_mirroring_sends_the_canary_a_copy_and_the_caller_only_the_primarys_answer(
    world: tuple[Mesh, Path],
) -> None:
    mesh, directory = world
    url = f"http://mirror.{NS}/"
    release(directory, "mirror", "v2")
    eventually(lambda: status(mesh, "mirror")["mirrored"], 60, what="the mirroring step", mesh=mesh)
    assert command(mesh, "mirror", "pause").status_code == 200
    found = status(mesh, "mirror")
    assert (found["phase"], found["canaryWeight"]) == ("Progressing", 0), found
    eventually(lambda: versions(mesh, url, 1) and _received(mesh, "mirror") > 0, 30, what="copies", mesh=mesh)
    before = _received(mesh, "mirror")
    assert versions(mesh, url, 50) == Counter({"v1": 50}), "the caller gets only the primary's answers"
    eventually(
        lambda: _received(mesh, "mirror") >= before + 50, 30, what="50 copies at the canary", mesh=mesh
    )
    assert command(mesh, "mirror", "resume").status_code == 200
    wait_phase(mesh, "mirror", "Succeeded")


def test_naming_by_revision_keeps_the_users_workload_as_the_stable_one(world: tuple[Mesh, Path]) -> None:
    mesh, directory = world
    url = f"http://byrev.{NS}/"
    assert not mesh.instances("byrev-primary") and mesh.instances("byrev")
    release(directory, "byrev", "v2")
    eventually(lambda: status(mesh, "byrev")["canaryWeight"] == 50, 60, what="weight 50", mesh=mesh)
    assert command(mesh, "byrev", "pause").status_code == 200
    pods = eventually(lambda: _both(pods_of(mesh, url, 60)), 60, what="both revisions answer", mesh=mesh)
    assert pods == {"byrev-0": "v1", "byrev-canary-0": "v2"}, pods
    assert command(mesh, "byrev", "resume").status_code == 200
    wait_phase(mesh, "byrev", "Succeeded")
    assert pods_of(mesh, url, 20) == {"byrev-0": "v2"}  # the user's Workload now runs the new revision
    eventually(lambda: not mesh.instances("byrev-canary"), 30, what="the canary gone", mesh=mesh)


def _both(pods: dict[str, str]) -> dict[str, str] | None:
    return pods if len(pods) == 2 else None


def pods_of(mesh: Mesh, url: str, count: int) -> dict[str, str]:
    with httpx.Client(proxy=mesh.proxy("client-0"), timeout=10) as client:
        answers = [client.get(url).json() for _ in range(count)]
    return {answer["pod"]: answer["version"] for answer in answers}
