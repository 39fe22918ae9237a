"""A streaming command in tests (`smimesh tap`, `smimesh dashboard`): its output lines as they come.

`CommandStream(argv, env)` starts the process and collects stdout (`lines`, `events()`: the JSON
objects among them) and stderr (`errors`) on two threads; `listening()` is true once a tap said on
stderr that the server has it in place; `stop()` ends the process (terminate, then kill), closes its pipes
and returns its stderr.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any


class CommandStream:
    def __init__(self, argv: Sequence[str], env: Mapping[str, str]) -> None:
        self.process = subprocess.Popen(
            list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(env)
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=_read, args=(self.process.stdout, self.lines), daemon=True),
            threading.Thread(target=_read, args=(self.process.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def listening(self) -> bool:
        """A tap says so on stderr once the server has it in place."""
        return any(line.startswith("tapping ") for line in list(self.errors))

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for reader in self._readers:
            reader.join(5)
        for pipe in (self.process.stdout, self.process.stderr):  # else left to the garbage collector
            if pipe is not None:
                pipe.close()
        return "\n".join(self.errors)


def _read(stream: IO[str] | None, into: list[str]) -> None:
    for line in stream or ():
        into.append(line.rstrip("\n"))
