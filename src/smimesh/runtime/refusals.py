"""What `smimesh up` says on its console when a sidecar refuses its config (a NACK), as it happens.

Owns `RefusalConsole`, an xDS server hook: the first refusal of a type by a sidecar, and each new
message, is one line naming the sidecar, the type, the version and Envoy's own text, and saying
whether it is resent (the refusal may pass) or waits for a fixed config; the acceptance that ends
it is one line too. Resends refused again with the same text say nothing more (`proxy-status`
shows the count and the next attempt).
"""

from __future__ import annotations

from collections.abc import Callable

from smimesh.server.hooks import ServerHooks, StreamInfo
from smimesh.server.retry import may_be_transient
from smimesh.xds import type_urls


class RefusalConsole(ServerHooks):
    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self._open: dict[tuple[str, str], tuple[str, int]] = {}  # (node, type) -> (message, refusals)

    def on_nack(self, stream: StreamInfo, type_url: str, version: str, message: str) -> None:
        key = (stream.node_id, type_url)
        last, count = self._open.get(key, ("", 0))
        self._open[key] = (message, count + 1)
        if message == last:
            return
        then = (
            "the refusal may be transient: resending with backoff"
            if may_be_transient(message)
            else "it keeps its last accepted config until the config is fixed"
        )
        self.say(
            f"sidecar {stream.node_id} refused {type_urls.short_name(type_url)} version "
            f"{version[:12]}: {message.strip()} -- {then} (see `smimesh proxy-status`)"
        )

    def on_ack(self, stream: StreamInfo, type_url: str, version: str) -> None:
        refused = self._open.pop((stream.node_id, type_url), None)
        if refused is not None:
            times = f"{refused[1]} refusal{'s' if refused[1] != 1 else ''}"
            self.say(
                f"sidecar {stream.node_id} accepted {type_urls.short_name(type_url)} version "
                f"{version[:12]} (after {times})"
            )
