"""A demo service: answers every GET with JSON saying which workload, instance and version answered.

Listens where the mesh says (HOST, PORT). With UPSTREAM_URL set (the bookstore), it first asks that
service (the warehouse) through the mesh: plain `urllib`, which honours HTTP_PROXY = its sidecar.
With ERROR_EVERY=N every Nth answer is a 500 (the canary demo's faulty release). Standard library only.
"""

import itertools
import json
import os
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ME = {
    "workload": os.environ.get("WORKLOAD_NAME", ""),
    "pod": os.environ.get("POD_NAME", ""),
    "version": os.environ.get("VERSION", ""),
}
ERROR_EVERY = int(os.environ.get("ERROR_EVERY", "0") or 0)
COUNTER = itertools.count(1)  # atomic under the GIL across the server's threads


def ask_upstream(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.loads(response.read())
    except Exception as error:  # any failure of the upstream is a 502 of ours
        return 0, str(error)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # else each keep-alive response waits ~40 ms for a delayed ACK

    def do_GET(self) -> None:
        status = 200
        body: dict[str, Any] = {**ME, "path": self.path}
        upstream = os.environ.get("UPSTREAM_URL")
        if upstream:
            upstream_status, body["upstream"] = ask_upstream(upstream)
            status = 200 if 200 <= upstream_status < 400 else 502
        if ERROR_EVERY and next(COUNTER) % ERROR_EVERY == 0:
            status, body["error"] = 500, f"injected: every {ERROR_EVERY}th answer fails"
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would drown the log


server = ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler)
server.daemon_threads = True
print(f"{ME['pod']} ({ME['version']}) listening on {os.environ['HOST']}:{os.environ['PORT']}", flush=True)
server.serve_forever()
