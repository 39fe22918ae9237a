"""`smimesh capture` in real network namespaces: which TCP connections reach the sidecar's ports.

Stand-ins listen where the sidecar would (outbound 15001, inbound 15006, health 15020) and answer with
the original destination of each connection, so every assertion is about a real redirected packet.
"""

from __future__ import annotations

import pytest
from tests.pods.netlab_kit import SMIMESH, connect, lab, needs_root, serve

from smimesh.pods.capture import CHAINS
from smimesh.testing.netns import NetLab, leftovers

__all__ = ["lab"]
pytestmark = needs_root
APP_UID, PROXY_UID = 1000, 1337


def captured_pod(lab: NetLab, backend: str, *extra: str) -> tuple[str, str, str, str]:
    app, peer, other = lab.add_pod("app"), lab.add_pod("peer"), lab.add_pod("other")
    for port, label in ((15001, "OUTBOUND"), (15006, "INBOUND"), (15020, "HEALTH")):
        serve(lab, app.netns, port, label, uid=PROXY_UID)
    serve(lab, app.netns, 8080, "APP", uid=APP_UID)
    for port in (9090, 5432):
        serve(lab, peer.netns, port, f"PEER{port}")
    serve(lab, other.netns, 9090, "OTHER")
    done = lab.exec(app.netns, [*SMIMESH, "capture", "--iptables", backend, *extra])
    assert done.returncode == 0, done.stderr
    assert f"rules in force (iptables-{backend})" in done.stderr
    return app.netns, peer.ip, other.ip, app.ip


@pytest.mark.parametrize("backend", ["nft", "legacy"])
def test_outbound_and_inbound_tcp_reach_the_sidecar_and_the_exemptions_hold(
    lab: NetLab, backend: str
) -> None:
    pod, peer, other, app_ip = captured_pod(
        lab, backend, "--exclude-outbound-ports", "5432", "--exclude-outbound-cidrs", "198.18.0.4/32"
    )
    assert lab.pods["other"].ip == "198.18.0.4"
    # the app's outbound TCP lands on the outbound port, knowing where it was going
    assert connect(lab, pod, peer, 9090, uid=APP_UID).startswith("OUTBOUND local=")
    assert connect(lab, pod, peer, 9090, uid=APP_UID).endswith(f"original={peer}:9090")
    # even root in the app's container cannot bypass it: only the proxy's UID is exempt
    assert connect(lab, pod, peer, 9090, uid=0).startswith("OUTBOUND")
    assert connect(lab, pod, peer, 9090, uid=PROXY_UID).startswith("PEER9090")
    # loopback, an excluded port, an excluded CIDR
    assert connect(lab, pod, "127.0.0.1", 8080, uid=APP_UID).startswith("APP")
    assert connect(lab, pod, peer, 5432, uid=APP_UID).startswith("PEER5432")
    assert connect(lab, pod, other, 9090, uid=APP_UID).startswith("OTHER")
    # inbound from another pod: the app's port goes to the inbound port; the health port is not captured
    peer_ns = lab.pods["peer"].netns
    assert connect(lab, peer_ns, app_ip, 8080).endswith(f"original={app_ip}:8080")
    assert connect(lab, peer_ns, app_ip, 8080).startswith("INBOUND")
    assert connect(lab, peer_ns, app_ip, 15020).startswith("HEALTH")
    # the canary reaches the health port whoever sends it (how sidecar-ready proves capture)
    assert connect(lab, pod, "192.0.2.1", 15999, uid=PROXY_UID).startswith("HEALTH")


def nat_rules(lab: NetLab, pod: str, backend: str) -> str:
    return lab.exec(pod, [f"iptables-{backend}", "-t", "nat", "-S"]).stdout


@pytest.mark.parametrize("backend", ["nft", "legacy"])
def test_a_rerun_replaces_its_own_rules_and_remove_undoes_them(lab: NetLab, backend: str) -> None:
    pod, peer, _, _ = captured_pod(lab, backend, "--exclude-outbound-ports", "5432")
    first = nat_rules(lab, pod, backend)
    assert first.count("-j SMIMESH_OUTPUT") == 1 and "--dports 5432" in first
    rerun = lab.exec(pod, [*SMIMESH, "capture", "--iptables", backend])  # without the exclusion now
    assert rerun.returncode == 0, rerun.stderr
    second = nat_rules(lab, pod, backend)
    assert second.count("-j SMIMESH_OUTPUT") == 1 and second.count("-j SMIMESH_INBOUND") == 1
    assert "5432" not in second  # replaced, not added to
    assert connect(lab, pod, peer, 5432, uid=APP_UID).startswith("OUTBOUND")
    removed = lab.exec(pod, [*SMIMESH, "capture", "--remove", "--iptables", backend])
    assert removed.returncode == 0, removed.stderr
    assert not any(chain in nat_rules(lab, pod, backend) for chain in CHAINS)
    assert connect(lab, pod, peer, 9090, uid=APP_UID).startswith("PEER9090")


def test_auto_keeps_to_the_backend_already_in_use(lab: NetLab) -> None:
    pod = lab.add_pod("app").netns
    assert (
        lab.exec(
            pod, ["iptables-legacy", "-t", "nat", "-A", "OUTPUT", "-p", "udp", "-j", "ACCEPT"]
        ).returncode
        == 0
    )
    done = lab.exec(pod, [*SMIMESH, "capture"])
    assert done.returncode == 0 and "iptables-legacy" in done.stderr
    assert "SMIMESH_OUTPUT" not in nat_rules(lab, pod, "nft")


def test_without_the_capabilities_it_says_which_and_exits_1(lab: NetLab) -> None:
    pod = lab.add_pod("app").netns
    for backend in ("nft", "legacy"):
        done = lab.exec(pod, [*SMIMESH, "capture", "--iptables", backend], uid=APP_UID)
        assert done.returncode == 1
        assert "error: the kernel refused to change the nat table" in done.stderr
        assert "NET_ADMIN and NET_RAW" in done.stderr and "Traceback" not in done.stderr
    assert "SMIMESH" not in nat_rules(lab, pod, "nft")


def test_dry_run_prints_the_rules_and_bad_flags_are_usage_errors(lab: NetLab) -> None:
    pod = lab.add_pod("app").netns
    done = lab.exec(pod, [*SMIMESH, "capture", "--dry-run", "--exclude-inbound-ports", "9100"])
    assert done.returncode == 0 and "--dports 9100,15020 -j RETURN" in done.stdout
    assert "SMIMESH" not in nat_rules(lab, pod, "nft")  # nothing changed
    bad = lab.exec(pod, [*SMIMESH, "capture", "--exclude-outbound-ports", "5432,http"])
    assert bad.returncode == 2 and "expected port numbers" in bad.stderr


def test_the_lab_removes_its_namespaces_and_processes_after_a_failure() -> None:
    with pytest.raises(RuntimeError), NetLab() as failing:
        failing.add_pod("x")
        sleeper = failing.run(failing.pods["x"].netns, ["sleep", "60"])
        prefix = failing.prefix
        raise RuntimeError("the test failed here")
    assert leftovers(prefix) == []
    assert sleeper.poll() is not None
