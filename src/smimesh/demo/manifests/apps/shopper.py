"""A demo client: calls a URL through the mesh in a loop and keeps score of who answered.

`urllib` sends `http://bookstore.bookstore/books` to HTTP_PROXY (this instance's sidecar), which
routes it by the TrafficSplit. Running totals go to .stats/<POD_NAME>.json, which `smimesh demo`
reads for its live view. Standard library only.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any

URL = sys.argv[1]
RATE = float(os.environ.get("RATE", "20"))  # requests per second
STATS = os.path.join(".stats", os.environ.get("POD_NAME", "shopper") + ".json")
totals: dict[str, Any] = {
    "requests": 0,
    "ok": 0,
    "failed": 0,
    "by_version": {},
    "by_status": {},
    "last_error": "",
}


def call() -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(URL, timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")[:200]
    except Exception as error:
        return 0, str(error)


def record(status: int, body: Any) -> None:
    totals["requests"] += 1
    totals["by_status"][str(status)] = totals["by_status"].get(str(status), 0) + 1
    if 200 <= status < 400 and isinstance(body, dict):
        totals["ok"] += 1
        version = body.get("version") or "?"
        totals["by_version"][version] = totals["by_version"].get(version, 0) + 1
    else:
        totals["failed"] += 1
        totals["last_error"] = f"{status or 'no answer'}: {str(body)[:160]}"


def save() -> None:
    os.makedirs(".stats", exist_ok=True)
    totals["updated"] = time.time()
    with open(STATS + ".tmp", "w") as handle:
        json.dump(totals, handle)
    os.replace(STATS + ".tmp", STATS)


last_save = 0.0
while True:
    started = time.monotonic()
    record(*call())
    if started - last_save > 0.2:
        save()
        last_save = started
    if totals["requests"] % 200 == 0:
        print(
            f"{totals['requests']} requests, {totals['ok']} ok, by version {totals['by_version']}", flush=True
        )
    time.sleep(max(0.0, 1.0 / RATE - (time.monotonic() - started)))
