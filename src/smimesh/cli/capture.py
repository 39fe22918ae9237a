"""`smimesh capture`: the init step of a meshed pod, installing the nat rules of `pods.capture`.

Runs in the pod's network namespace (the `smimesh-capture` init container; in tests, `ip netns exec`).
Exit status: 0 rules in force, 1 the kernel or the missing capabilities refused (the message says which
and what to do), 2 wrong usage. `--dry-run` prints the rules without touching anything.
"""

from __future__ import annotations

import ipaddress

import click

from smimesh.errors import SmimeshError, UsageError
from smimesh.pods.capture import BACKENDS, CaptureError, CaptureSpec, choose_backend, install, remove, rules
from smimesh.pods.layout import PodLayout

DEFAULTS = PodLayout()


def _ports(value: str, flag: str) -> tuple[int, ...]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not all(p.isdigit() and 1 <= int(p) <= 65535 for p in parts):
        raise UsageError(f"{flag}: expected port numbers separated by commas, found {value!r}")
    return tuple(int(p) for p in parts)


def _cidrs(value: str) -> tuple[str, ...]:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    try:
        return tuple(str(ipaddress.ip_network(p, strict=False)) for p in parts)
    except ValueError as exc:
        raise UsageError(f"--exclude-outbound-cidrs: {exc}") from None


@click.command("capture")
@click.option("--outbound-port", type=int, default=DEFAULTS.outbound_port, show_default=True)
@click.option("--inbound-port", type=int, default=DEFAULTS.inbound_port, show_default=True)
@click.option("--health-port", type=int, default=DEFAULTS.health_port, show_default=True)
@click.option("--proxy-uid", type=int, default=DEFAULTS.proxy_uid, show_default=True, help="Exempt UID.")
@click.option("--exclude-outbound-ports", default="", metavar="P,P", help="Never captured outbound.")
@click.option("--exclude-inbound-ports", default="", metavar="P,P", help="Never captured inbound.")
@click.option("--exclude-outbound-cidrs", default="", metavar="CIDR,..", help="Destinations left alone.")
@click.option(
    "--iptables", "backend", type=click.Choice(["auto", *BACKENDS]), default="auto", show_default=True
)
@click.option("--dry-run", is_flag=True, help="Print the iptables-restore input; change nothing.")
@click.option("--remove", "undo", is_flag=True, help="Remove smimesh's rules from this namespace.")
def command(
    outbound_port: int,
    inbound_port: int,
    health_port: int,
    proxy_uid: int,
    exclude_outbound_ports: str,
    exclude_inbound_ports: str,
    exclude_outbound_cidrs: str,
    backend: str,
    dry_run: bool,
    undo: bool,
) -> None:
    """Send this network namespace's TCP through the sidecar (the init step of a meshed pod).

    Outbound TCP goes to the sidecar's outbound port and inbound TCP to its inbound port, except the
    sidecar's own UID, loopback, the health port and the exclusions. Needs the capabilities NET_ADMIN
    and NET_RAW in the namespace. Rerunning replaces smimesh's rules (idempotent).
    """
    layout = PodLayout(
        outbound_port=outbound_port, inbound_port=inbound_port, health_port=health_port, proxy_uid=proxy_uid
    )
    spec = CaptureSpec(
        layout,
        _ports(exclude_outbound_ports, "--exclude-outbound-ports"),
        _ports(exclude_inbound_ports, "--exclude-inbound-ports"),
        _cidrs(exclude_outbound_cidrs),
    )
    if dry_run:
        click.echo(rules(spec), nl=False)
        return
    try:
        chosen = choose_backend() if backend == "auto" else backend
        remove(chosen) if undo else install(spec, chosen)
    except CaptureError as exc:
        raise SmimeshError(exc.message, hint=exc.hint) from None
    click.echo(f"smimesh capture: rules {'removed' if undo else 'in force'} (iptables-{chosen})", err=True)
