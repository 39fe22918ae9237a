"""`smimesh tap WORKLOAD`: live requests through a workload's sidecars, like `linkerd viz tap`.

Streams `GET /api/v1/tap` (one JSON object per request) until Ctrl-C. The control plane switches
the request log of the workload's sidecars on while someone taps, and off again after
(`xds/access_log.py`); only requests that happen while tapping are shown. With `--kubeconfig` /
`--context` the stream comes from the cluster's controller, to which the pods' sidecars send their
request logs (`runtime/request_sources.py`).
"""

from __future__ import annotations

import json
from typing import Any

import click

from smimesh.cli._client import client_options, open_client
from smimesh.cli._cluster import cluster_options, context_namespace

COLUMNS = "{direction:3} {verdict:12} {status:>3} {latency:>7} {method:6} {path}  peer={peer}{extra}"


def _line(event: dict[str, Any]) -> str:
    extra = ""
    if event.get("route"):
        extra += f" route={event['route']}"
    if event.get("backend"):
        extra += f" backend={event['backend']}"
    return COLUMNS.format(
        direction="in" if event["direction"] == "inbound" else "out",
        verdict=event.get("verdict") or "-",
        status=event.get("status") or "-",
        latency=f"{event.get('latency_ms', 0):g}ms",
        method=event.get("method") or "-",
        path=f"{event.get('authority', '')}{event.get('path', '')}",
        peer=event.get("peer") or "-",
        extra=extra,
    )


@click.command("tap")
@click.argument("workload")
@click.option(
    "-n", "--namespace", default=None, help="Namespace of WORKLOAD (default: `default`, or the context's)."
)
@click.option("--to", "to", default="", help="Only requests WORKLOAD sends to this service (NAME[.NS]).")
@click.option("--path", default="", help="Only requests whose path matches this regular expression.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: one object per line per request.")  # fmt: skip
@click.option("--max-requests", type=int, default=0, hidden=True, help="Stop after this many (tests).")
@client_options
@cluster_options
def command(
    workload: str, namespace: str | None, to: str, path: str, output: str, max_requests: int, api_addr: str,
    token: str | None,
) -> None:  # fmt: skip
    """Stream the requests through WORKLOAD's sidecars as they happen (Ctrl-C stops).

    Each request shows its direction (in: received, out: sent), the RBAC verdict (inbound), status,
    latency, method, host and path, the peer's SPIFFE identity, the route (inbound: the
    HTTPRouteGroup match; outbound: the TrafficSplit route) and the backend that was sent to.

    \b
    Examples:
      smimesh tap bookstore-v1 -n bookstore
      smimesh tap bookbuyer -n bookbuyer --to bookstore --path '^/books' -o json
      smimesh tap web -n shop --context prod      # a pod's sidecars, through the cluster's controller
    """
    namespace = namespace or context_namespace() or "default"
    params = {"namespace": namespace, "workload": workload, "to": to, "path": path}
    seen, listening = 0, False
    with open_client(api_addr, token) as client:
        for line in client.stream_lines("/api/v1/tap", params):
            if not listening:  # the server's first line (a blank one) says the tap is in place
                click.echo(f"tapping {namespace}/{workload} (Ctrl-C to stop)", err=True)
                listening = True
            if not line.strip():
                continue  # heartbeat
            event = json.loads(line)
            if "dropped" in event:
                click.echo(f"warning: {event['dropped']} requests dropped (too fast to show)", err=True)
                continue
            click.echo(json.dumps(event) if output == "json" else _line(event))
            seen += 1
            if max_requests and seen >= max_requests:
                return
