"""A synthetic fleet of Envoy-like ADS clients in one process, for benchmarks and scale tests.

Owns `run_fleet()` and a small command line (`python -m smimesh.testing.ads_fleet`), so a benchmark
can run the fleet in a child process and measure the control plane on its own (CPU and memory of
the server are then not mixed with the clients'). Each client has its own gRPC channel and
connection (local subchannel pool), subscribes like Envoy (wildcard CDS/LDS, then the RDS/EDS
names they reference) and ACKs every response. The process prints `connected N` once every
stream is open and exits when its stdin closes. `--tokens FILE` (JSON: node id -> bearer token) sends
each client's token as `authorization` initial metadata, as a sidecar in a cluster does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from smimesh.testing.ads_client import AdsClient, Mode
from smimesh.xds import type_urls

_CHANNEL_OPTIONS: list[tuple[str, object]] = [("grpc.use_local_subchannel_pool", 1)]


async def start_fleet(
    address: str, node_ids: list[str], mode: Mode = "sotw", tokens: Mapping[str, str] | None = None
) -> list[AdsClient]:
    """Connect and subscribe one client per node id (each on its own connection; with its token if any)."""
    clients = []
    for node_id in node_ids:
        token = (tokens or {}).get(node_id)
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        client = AdsClient(
            node_id,
            address=address,
            mode=mode,
            follow=True,
            channel_options=_CHANNEL_OPTIONS,
            metadata=metadata,
        )
        await client.connect()
        await client.subscribe(type_urls.CLUSTER)
        await client.subscribe(type_urls.LISTENER)
        clients.append(client)
    return clients


async def stop_fleet(clients: list[AdsClient]) -> None:
    for client in clients:
        await client.close()


async def run_fleet(
    address: str, node_ids: list[str], mode: Mode, tokens: Mapping[str, str] | None = None
) -> None:
    clients = await start_fleet(address, node_ids, mode, tokens)
    print(f"connected {len(clients)}", flush=True)
    try:
        await asyncio.to_thread(sys.stdin.read)  # until the parent closes our stdin
    finally:
        await stop_fleet(clients)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--mode", choices=["sotw", "delta"], default="sotw")
    parser.add_argument("--tokens", type=Path, help="JSON file: node id -> bearer token")
    parser.add_argument("node_ids", nargs="+", help="one simulated proxy per node id")
    args = parser.parse_args()
    tokens = json.loads(args.tokens.read_text()) if args.tokens else None
    asyncio.run(run_fleet(args.address, args.node_ids, args.mode, tokens))


if __name__ == "__main__":
    main()
