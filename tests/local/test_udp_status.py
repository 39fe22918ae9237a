"""How `up` and `status` talk about UDP upstreams: their own status field, and a message naming both kinds."""

from __future__ import annotations

from smimesh.local.env import tcp_upstream_key, udp_upstream_key
from smimesh.local.ports import InstancePorts
from smimesh.local.supervisor import upstream_addresses
from smimesh.runtime.reconcile import new_upstreams_message

TCP = tcp_upstream_key("db", "data", 5432)
UDP = udp_upstream_key("stats", "data", 8125)
SAME_PORT_TCP = tcp_upstream_key("stats", "data", 8125)


def ports() -> InstancePorts:
    upstreams = {TCP: 30001, UDP: 30002, SAME_PORT_TCP: 30003}
    return InstancePorts(app={}, inbound={}, outbound_http=30000, admin=29999, tcp_upstreams=upstreams)


def test_udp_upstreams_have_their_own_field_without_the_suffix() -> None:
    shown = upstream_addresses(ports(), [TCP, UDP, SAME_PORT_TCP])
    assert shown == {
        "tcp_upstreams": {"db.data:5432": "127.0.0.1:30001", "stats.data:8125": "127.0.0.1:30003"},
        "udp_upstreams": {"stats.data:8125": "127.0.0.1:30002"},
    }


def test_only_the_current_upstream_keys_are_shown() -> None:
    assert upstream_addresses(ports(), [TCP]) == {
        "tcp_upstreams": {"db.data:5432": "127.0.0.1:30001"},
        "udp_upstreams": {},
    }


def test_the_new_upstream_message_names_the_kinds_that_appeared() -> None:
    tcp_only = new_upstreams_message([TCP])
    assert "SMIMESH_TCP_*" in tcp_only and "UDP" not in tcp_only and "(tcp_upstreams)" in tcp_only
    udp_only = new_upstreams_message([UDP])
    assert "SMIMESH_UDP_*" in udp_only and "SMIMESH_TCP" not in udp_only and "(udp_upstreams)" in udp_only
    both = new_upstreams_message([TCP, UDP])
    assert "SMIMESH_TCP_* / SMIMESH_UDP_* variables" in both and "(tcp_upstreams, udp_upstreams)" in both
    assert both.startswith(f"new non-HTTP upstream(s) {TCP}, {UDP}:")
