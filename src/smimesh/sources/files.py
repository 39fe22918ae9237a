"""The file source: load every manifest under a directory into the store, then watch it.

Each manifest file is one origin of the store. On a change the file is loaded again and becomes
its origin's whole set (what vanished from it is deleted); a deleted file deletes its objects.
A file that comes back with errors changes nothing: its objects keep their last good version
(it might be half-written, or a typo mid-edit) and the problem is reported with file:line through
`report`, once the file has settled. At start-up there is no last good version, so a file's
valid objects are taken and its bad ones reported.

Ignored: hidden files and directories (`.git`, the run dir `.smimesh`, emacs `.#lock`), editor
swap and backup files (`*.swp`, `*~`, `#autosave#`, vim's `4913` probe), anything that is not
`.yaml`/`.yml`/`.json`, and the run directory wherever it is.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import watchfiles

from smimesh.diagnostics import Diagnostic, Location, has_errors
from smimesh.resources import LoadResult, load_paths, validate_references
from smimesh.settings import Settings
from smimesh.sources import codes
from smimesh.sources.store import ResourceStore

log = logging.getLogger(__name__)

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
# watchfiles groups events: it yields once no new event came for STEP ms (at most DEBOUNCE ms after
# the first). 30 ms covers an editor's write-rename-chmod burst and keeps a save well within the
# one-second budget from save to sidecar.
WATCH_STEP_MS = 30
WATCH_DEBOUNCE_MS = 300
# A file that fails to load is read once more after this pause before its errors are reported:
# most failures right after an event are a writer that has not finished yet.
SETTLE_S = 0.15
# How often the watcher thread checks for cancellation (and when the first catch-up rescan runs).
WATCH_TIMEOUT_MS = 500

Reporter = Callable[[Sequence[Diagnostic]], None]


def log_report(diagnostics: Sequence[Diagnostic]) -> None:
    for diagnostic in diagnostics:
        log.warning("%s", diagnostic.format())


class FileSource:
    """Loads `directory` into `store` (`await load()`), then keeps it in sync (`await run()`)."""

    def __init__(
        self,
        directory: Path,
        store: ResourceStore,
        *,
        settings: Settings | None = None,
        report: Reporter = log_report,
        run_dir: Path | None = None,
    ) -> None:
        self.directory = Path(directory).resolve()
        self._store = store
        self._settings = settings or Settings()
        self._report = report
        self._run_dir = run_dir.resolve() if run_dir is not None else None
        self._stats: dict[Path, tuple[int, int]] = {}
        self._reported: set[tuple[str, ...]] = set()

    # ---- which files ---------------------------------------------------------------------

    def is_manifest(self, path: Path) -> bool:
        """A file this source reads (by name and place; whether it exists is not checked)."""
        return path.suffix in MANIFEST_SUFFIXES and self._may_contain(path) and not _is_junk(path.name)

    def _may_contain(self, path: Path) -> bool:
        try:
            relative = path.relative_to(self.directory)
        except ValueError:
            return False
        if self._run_dir is not None and path.is_relative_to(self._run_dir):
            return False
        return not any(part.startswith(".") for part in relative.parts)

    def manifests(self, under: Path | None = None) -> list[Path]:
        """Every manifest file under `under` (default: the directory), sorted."""
        root = under or self.directory
        return sorted(path for path in _walk(root) if self.is_manifest(path))

    # ---- loading -------------------------------------------------------------------------

    async def load(self) -> list[Diagnostic]:
        """Initial load of every manifest (valid objects of bad files are taken). Returns problems."""
        diagnostics: list[Diagnostic] = []
        with self._store.batch():
            for path in self.manifests():
                diagnostics += await self._load_file(path, initial=True)
        return diagnostics + self._new_reference_problems()

    def _new_reference_problems(self) -> list[Diagnostic]:
        """Cross-object problems of everything in force that were not reported before.

        Files are loaded one by one (a file may refer to objects of another), so references are
        checked on the whole store instead; reporting only new ones keeps a save from repeating
        every standing problem.
        """
        found = validate_references(self._store.snapshot())
        current = {_identity(d): d for d in found}
        fresh = [d for identity, d in current.items() if identity not in self._reported]
        self._reported = set(current)
        return fresh

    async def _load_file(self, path: Path, *, initial: bool = False) -> list[Diagnostic]:
        result, stat = await asyncio.to_thread(self._read, path)
        if result is None:
            return await self._forget(path)
        if has_errors(result.diagnostics) and not initial:
            await asyncio.sleep(SETTLE_S)
            result, stat = await asyncio.to_thread(self._read, path)
            if result is None:
                return await self._forget(path)
            if has_errors(result.diagnostics):
                return [*result.diagnostics, self._kept(path)]
        self._stats[path] = stat
        return [*result.diagnostics, *await self._store.replace_origin(str(path), result.objects)]

    def _read(self, path: Path) -> tuple[LoadResult | None, tuple[int, int]]:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return None, (0, 0)
        result = load_paths([str(path)], settings=self._settings, references=False)
        return result, (stat.st_mtime_ns, stat.st_size)

    async def _forget(self, path: Path) -> list[Diagnostic]:
        self._stats.pop(path, None)
        if str(path) in self._store.origins():
            await self._store.remove_origin(str(path))
        return []

    def _kept(self, path: Path) -> Diagnostic:
        return Diagnostic(
            codes.LAST_GOOD_KEPT.code,
            f"{path.name} has errors: its objects keep their last good version until it is fixed",
            severity=codes.LAST_GOOD_KEPT.severity,
            location=Location(str(path)),
        )

    # ---- watching ------------------------------------------------------------------------

    async def run(self) -> None:
        """Watch the directory until cancelled; every batch of changes is applied, problems reported."""
        caught_up = False
        async for changes in watchfiles.awatch(
            self.directory,
            watch_filter=self._watch_filter,
            debounce=WATCH_DEBOUNCE_MS,
            step=WATCH_STEP_MS,
            rust_timeout=WATCH_TIMEOUT_MS,
            yield_on_timeout=True,
        ):
            paths = {Path(raw) for _, raw in changes}
            if not caught_up:
                # The watch is live from here on: catch up with edits made since load().
                caught_up, paths = True, paths | {self.directory}
            if paths:
                await self.apply_changes(paths)

    def _watch_filter(self, change: watchfiles.Change, raw: str) -> bool:
        path = Path(raw)
        if not self._may_contain(path) or _is_junk(path.name):
            return False
        # A directory (created, moved in, or gone with files we know) matters as much as a manifest.
        return self.is_manifest(path) or path.is_dir() or any(p.is_relative_to(path) for p in self._stats)

    async def apply_changes(self, paths: set[Path]) -> None:
        """Reload what changed under `paths` (files or directories) and report the problems."""
        diagnostics: list[Diagnostic] = []
        with self._store.batch():  # one batch of events, one change: no half-way states published
            for path in sorted(self._affected(paths)):
                try:
                    diagnostics += await self._load_file(path)
                except OSError as exc:
                    diagnostics.append(_unreadable(path, exc))
        diagnostics += self._new_reference_problems()
        if diagnostics:
            self._report(diagnostics)

    def _affected(self, paths: set[Path]) -> set[Path]:
        affected: set[Path] = set()
        for path in paths:
            if path.is_dir():
                affected.update(p for p in self.manifests(path) if self._changed(p))
                affected.update(p for p in self._stats if p.is_relative_to(path) and not p.exists())
            elif self.is_manifest(path):
                affected.add(path)
            else:  # a directory that is gone: everything known below it
                affected.update(p for p in self._stats if p.is_relative_to(path))
        return affected

    def _changed(self, path: Path) -> bool:
        try:
            stat = path.stat()
        except FileNotFoundError:
            return path in self._stats
        return self._stats.get(path) != (stat.st_mtime_ns, stat.st_size)


def _identity(d: Diagnostic) -> tuple[str, ...]:
    """What makes a problem the same problem (its hint may list things that changed since)."""
    return (d.code, str(d.object), d.path, str(d.value), d.location.file)


def _is_junk(name: str) -> bool:
    """Editor swap/backup/lock files and vim's write probe."""
    return (
        name.startswith((".", "#"))
        or name.endswith(("~", ".swp", ".swx", ".swo", ".bak", ".tmp", "#"))
        or name == "4913"
    )


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for filename in filenames:
            yield Path(dirpath) / filename


def _unreadable(path: Path, exc: OSError) -> Diagnostic:
    return Diagnostic(
        codes.FILE_UNREADABLE.code,
        f"cannot read {path.name}: {exc.strerror or exc}",
        location=Location(str(path)),
        hint="its objects keep their last good version until it can be read again",
    )
