"""A control plane reduced to its API and durable store, for the kill -9 test (run as a script).

argv: path of the sqlite file. Prints the bound API port, then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from smimesh.api.app import create_app
from smimesh.api.serve import ApiServer
from smimesh.sources.store import ResourceStore


async def main(path: Path) -> None:
    store, _ = await ResourceStore.open(path)
    server = ApiServer(create_app(store, token="durable-test"), "127.0.0.1:0")
    print(await server.start(), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
