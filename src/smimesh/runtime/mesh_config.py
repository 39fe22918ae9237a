"""Live mesh modes: the MeshConfig file of `smimesh up --mesh-config` is watched, and a saved edit applies.

Owns `MeshConfigWatcher`: on every save of the file it is parsed again; valid modes that differ
from the ones in force go to `MeshSecurity.set_modes` and the pipeline is told (every sidecar's
view depends on the modes, so every one is recomputed and pushed), and the console names what
changed. A bad edit (or a deleted file) changes nothing: its problems are reported with file:line
and the last good modes stay in force, as for a bad manifest. The file is watched through its
directory because editors save by writing a new file and renaming it over the old one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import watchfiles

from smimesh.diagnostics import Diagnostic, has_errors
from smimesh.mesh.modes import MeshModes, changes, load_mesh_config, summary
from smimesh.sources.files import SETTLE_S, WATCH_DEBOUNCE_MS, WATCH_STEP_MS, WATCH_TIMEOUT_MS


class MeshConfigWatcher:
    """`await run()` until cancelled. `security` is a `runtime.identity.MeshSecurity`."""

    def __init__(
        self,
        path: Path,
        security: Any,
        changed: Callable[[], None],
        say: Callable[[str], None],
        report: Callable[[Sequence[Diagnostic]], None],
    ) -> None:
        self.path = path.resolve()
        self.security, self.changed, self.say, self.report = security, changed, say, report

    async def run(self) -> None:
        caught_up = False
        async for events in watchfiles.awatch(
            self.path.parent,
            watch_filter=lambda _change, raw: Path(raw).name == self.path.name,
            recursive=False,
            debounce=WATCH_DEBOUNCE_MS,
            step=WATCH_STEP_MS,
            rust_timeout=WATCH_TIMEOUT_MS,
            yield_on_timeout=True,
        ):
            if events or not caught_up:  # first pass: a save made before the watch was live
                caught_up = True
                await self.reload()

    async def reload(self) -> None:
        """Read the file again and apply it, or report why not (the modes in force stay)."""
        modes, problems = load_mesh_config(self.path)
        if has_errors(problems):  # most likely a writer that has not finished: look once more first
            await asyncio.sleep(SETTLE_S)
            modes, problems = load_mesh_config(self.path)
        if has_errors(problems):
            self.report(problems)
            self.say(
                f"{self.path.name} has errors: the last good mesh modes stay in force "
                f"({summary(self.security.modes)})"
            )
            return
        if problems:  # warnings only (an OSM MeshConfig's unmapped fields): said, and applied
            self.report(problems)
        self.apply(modes)

    def apply(self, modes: MeshModes) -> None:
        what = changes(self.security.modes, modes)
        if self.security.set_modes(modes):
            self.changed()
            self.say(f"mesh modes changed ({self.path.name}): {'; '.join(what)}")
