"""The file source with real files and a real watch (watchfiles/inotify)."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

import pytest

from smimesh.diagnostics import Diagnostic
from smimesh.sources.files import FileSource
from smimesh.sources.store import ResourceStore

SERVICES = """\
apiVersion: v1
kind: Service
metadata: {name: bookstore, namespace: shop}
spec: {selector: {app: bookstore}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: bookstore-v1, namespace: shop}
spec: {selector: {app: bookstore, version: v1}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: bookstore-v2, namespace: shop}
spec: {selector: {app: bookstore, version: v2}, ports: [{name: http, port: 80}]}
"""


def split(v1: int, v2: int, name: str = "bookstore") -> str:
    return f"""\
apiVersion: split.smi-spec.io/v1alpha4
kind: TrafficSplit
metadata: {{name: {name}, namespace: shop}}
spec:
  service: bookstore
  backends:
  - {{service: bookstore-v1, weight: {v1}}}
  - {{service: bookstore-v2, weight: {v2}}}
"""


def service(name: str) -> str:
    return (
        "apiVersion: v1\nkind: Service\n"
        f"metadata: {{name: {name}, namespace: shop}}\nspec: {{ports: [{{port: 80}}]}}\n"
    )


class Reports:
    def __init__(self) -> None:
        self.batches: list[list[Diagnostic]] = []

    def __call__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.batches.append(list(diagnostics))

    @property
    def all(self) -> list[Diagnostic]:
        return [d for batch in self.batches for d in batch]


@pytest.fixture
def mesh_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "mesh"
    directory.mkdir()
    (directory / "services.yaml").write_text(SERVICES)
    (directory / "split.yaml").write_text(split(90, 10))
    return directory


def names(store: ResourceStore) -> set[str]:
    return {s.key.name for s in store.items()}


def weights(store: ResourceStore) -> list[int]:
    found = [s for s in store.items() if s.key.kind == "TrafficSplit"]
    return [b.weight for b in found[0].resource.spec.backends] if found else []


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Poll until `condition` holds (a generous limit: correctness, not speed, is tested here)."""
    deadline = asyncio.get_running_loop().time() + 10.0
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def watching(mesh_dir: Path) -> AsyncIterator[tuple[ResourceStore, FileSource, Reports]]:
    store, reports = ResourceStore(), Reports()
    source = FileSource(mesh_dir, store, report=reports, run_dir=mesh_dir / "run")
    assert [d for d in await source.load() if d.is_error] == []
    task = asyncio.create_task(source.run())
    await asyncio.sleep(0.6)  # let the watch start and its first catch-up rescan pass
    try:
        yield store, source, reports
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_initial_load_ignores_hidden_swap_backup_and_run_dir(mesh_dir: Path) -> None:
    (mesh_dir / ".git").mkdir()
    (mesh_dir / ".git" / "a.yaml").write_text(service("from-git"))
    (mesh_dir / ".smimesh").mkdir()
    (mesh_dir / ".smimesh" / "b.json").write_text('{"apiVersion": "v1", "kind": "Service"}')
    (mesh_dir / "run").mkdir()
    (mesh_dir / "run" / "c.yaml").write_text(service("from-run-dir"))
    (mesh_dir / ".split.yaml.swp").write_text(service("from-swap"))
    (mesh_dir / "split.yaml~").write_text(service("from-backup"))
    (mesh_dir / "#split.yaml#").write_text(service("from-autosave"))
    (mesh_dir / "4913").write_text(service("from-vim-probe"))
    (mesh_dir / "notes.txt").write_text("not a manifest")
    store = ResourceStore()
    problems = await FileSource(mesh_dir, store, run_dir=mesh_dir / "run").load()
    assert [d for d in problems if d.is_error] == []
    assert names(store) == {"bookstore", "bookstore-v1", "bookstore-v2"}
    origins = {s.origin for s in store.items()}
    assert origins == {str(mesh_dir / "services.yaml"), str(mesh_dir / "split.yaml")}


async def test_initial_load_takes_valid_objects_of_a_bad_file_and_reports_the_rest(mesh_dir: Path) -> None:
    (mesh_dir / "mixed.yaml").write_text(
        service("good") + "---\n" + "apiVersion: v1\nkind: Service\nspec: 3\n"
    )
    store = ResourceStore()
    problems = await FileSource(mesh_dir, store).load()
    assert "good" in names(store)
    bad = [d for d in problems if d.is_error]
    assert bad and all(d.location.file.endswith("mixed.yaml") and d.location.line for d in bad)


async def test_edit_is_applied_and_wakes_subscribers(watching, mesh_dir: Path) -> None:
    store, _, _ = watching
    changes = store.subscribe()
    first = await changes.__anext__()
    (mesh_dir / "split.yaml").write_text(split(50, 50))
    change = await asyncio.wait_for(changes.__anext__(), 10)
    assert change.generation > first.generation
    assert weights(store) == [50, 50]


async def test_atomic_rename_save_is_applied(watching, mesh_dir: Path) -> None:
    store, _, _ = watching
    temporary = mesh_dir / ".split.yaml.tmp-editor"
    temporary.write_text(split(0, 100))
    os.replace(temporary, mesh_dir / "split.yaml")
    await eventually(lambda: weights(store) == [0, 100], "the renamed-in split")


async def test_swap_and_backup_files_are_ignored_while_watching(watching, mesh_dir: Path) -> None:
    store, _, reports = watching
    for junk in (".split.yaml.swp", "split.yaml~", "4913", ".#split.yaml", "#split.yaml#"):
        (mesh_dir / junk).write_text(service("junk"))
    (mesh_dir / "extra.yaml").write_text(service("extra"))  # a real change, to know the batch passed
    await eventually(lambda: "extra" in names(store), "the real file")
    await asyncio.sleep(0.3)
    assert "junk" not in names(store)
    assert reports.all == []


async def test_invalid_edit_keeps_last_good_and_reports_file_and_line(watching, mesh_dir: Path) -> None:
    store, _, reports = watching
    generation = store.generation
    (mesh_dir / "split.yaml").write_text(split(50, 50).replace("weight: 50}", "weight: -5}", 1))
    await eventually(lambda: any(d.code == "SM7105" for d in reports.all), "the last-good note")
    assert weights(store) == [90, 10], "the last good version stays in force"
    assert store.generation == generation
    errors = [d for d in reports.all if d.is_error]
    assert errors and errors[0].location.file == str(mesh_dir / "split.yaml")
    assert errors[0].location.line == 7, errors[0].format()
    (mesh_dir / "split.yaml").write_text(split(60, 40))
    await eventually(lambda: weights(store) == [60, 40], "the fixed file")


async def test_half_written_file_then_completed(watching, mesh_dir: Path) -> None:
    store, _, _ = watching
    text = split(30, 70)
    with (mesh_dir / "split.yaml").open("w") as handle:
        handle.write(text[: len(text) // 2])
        handle.flush()
        await asyncio.sleep(0.05)
        handle.write(text[len(text) // 2 :])
    await eventually(lambda: weights(store) == [30, 70], "the completed file")


async def test_deleting_a_file_deletes_its_objects(watching, mesh_dir: Path) -> None:
    store, _, _ = watching
    (mesh_dir / "split.yaml").unlink()
    await eventually(lambda: "bookstore" in names(store) and weights(store) == [], "the split gone")


async def test_new_directory_and_its_removal(watching, mesh_dir: Path) -> None:
    store, _, _ = watching
    sub = mesh_dir / "team.v2"  # a dot in a directory's name must not hide it
    sub.mkdir()
    (sub / "more.yaml").write_text(service("team-svc"))
    await eventually(lambda: "team-svc" in names(store), "the file in a new directory")
    moved = mesh_dir.parent / "elsewhere"
    shutil.move(sub, moved)
    await eventually(lambda: "team-svc" not in names(store), "the moved-away directory's objects gone")


async def test_cross_file_reference_problems_reported_once(watching, mesh_dir: Path) -> None:
    store, _, reports = watching
    (mesh_dir / "canary.yaml").write_text(
        split(1, 1, name="canary").replace("service: bookstore\n", "service: nope\n")
    )

    def about_canary() -> int:
        return sum(d.code.startswith("SM4") and d.object.name == "canary" for d in reports.all)

    await eventually(lambda: about_canary() > 0, "the dangling root reported")
    count = about_canary()
    (mesh_dir / "extra.yaml").write_text(service("extra"))
    await eventually(lambda: "extra" in names(store), "another change")
    await asyncio.sleep(0.2)
    assert about_canary() == count, [d.format() for d in reports.all]
