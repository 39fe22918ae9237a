"""The reader: documents with a line for every field path, sources, limits and refusals as diagnostics."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest

from smimesh.resources.document import format_path
from smimesh.resources.reader import read_paths, read_text
from smimesh.settings import Settings

MULTI = """\
apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app.kubernetes.io/name: web}
spec:
  ports:
  - name: http
    port: 80
---
# a comment-only document is skipped
---
apiVersion: v1
kind: Service
metadata: {name: api}
"""


def codes(result: object) -> list[str]:
    return [d.code for d in result.diagnostics]  # type: ignore[attr-defined]


def test_every_field_path_has_its_line() -> None:
    result = read_text(MULTI, "m.yaml")
    web, api = result.documents
    assert web.line_of(["spec", "ports", 0, "port"]) == 9
    assert web.line_of(["spec", "ports", 0]) == 8
    assert web.line_of(["metadata", "labels", "app.kubernetes.io/name"]) == 5
    assert web.line_of(["spec", "ports", 0, "targetPort"]) == 8  # absent: nearest ancestor
    assert (api.index, api.line, api.line_of(["metadata", "name"])) == (2, 13, 15)
    assert result.diagnostics == []


def test_format_path_quotes_keys_that_are_not_plain() -> None:
    assert format_path(["spec", "rules", 0, "matches", 1]) == "spec.rules[0].matches[1]"
    assert (
        format_path(["metadata", "labels", "app.kubernetes.io/name"])
        == 'metadata.labels["app.kubernetes.io/name"]'
    )
    assert format_path([]) == ""


def test_yaml_scalars_resolve_like_safe_load_but_timestamps_stay_text() -> None:
    doc = read_text("a: 0x10\nb: yes\nc: ~\nd: 1.5\ne: 2020-01-01T00:00:00Z\nf: '8080'\n").documents[0]
    assert doc.data == {"a": 16, "b": True, "c": None, "d": 1.5, "e": "2020-01-01T00:00:00Z", "f": "8080"}


def test_json_files_are_read_as_json_with_lines() -> None:
    text = '{\n\t"apiVersion": "v1",\n\t"kind": "Service",\n\t"spec": {"weight": 1e3, "on": true}\n}\n'
    doc = read_text(text, "svc.json").documents[0]
    assert doc.data["spec"] == {"weight": 1000.0, "on": True}
    assert doc.line_of(["spec", "weight"]) == 4


def test_merge_keys_and_small_aliases_are_allowed() -> None:
    doc = read_text("base: &b {app: web}\nlabels: {<<: *b, tier: front}\n").documents[0]
    assert doc.data["labels"] == {"app": "web", "tier": "front"}


def test_lists_are_expanded_into_items_with_their_own_lines() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- kind: Service\n  metadata: {name: a}\n- kind: Service\n  metadata: {name: b}\n"
    )
    docs = read_text(text).documents
    assert [d.data["metadata"]["name"] for d in docs] == ["a", "b"]
    assert docs[1].line == 6 and docs[1].line_of(["metadata", "name"]) == 7
    assert docs[1].prefix == ("items", 1)


def test_a_syntax_error_does_not_hide_later_documents() -> None:
    text = "a: 1\n---\nb: [1\nc: 2\n---\nd: 4\n---\ne: 5\n"
    result = read_text(text, "x.yaml")
    assert [d.data for d in result.documents] == [{"a": 1}, {"d": 4}, {"e": 5}]
    (problem,) = result.diagnostics
    assert (problem.code, problem.location.document, problem.location.line) == ("SM1005", 1, 4)
    assert [d.index for d in result.documents] == [0, 2, 3]


@pytest.mark.parametrize(
    ("text", "code", "line"),
    [
        ("k: 1\nk: 2\n", "SM1009", 2),
        ("a: &a [x]\nb: *zz\n", "SM1006", 2),
        ("a: &a [*a]\n", "SM1006", 1),
        ("a: !!python/object:os.system x\n", "SM1008", 1),
        ("a: !Ref x\n", "SM1008", 1),
        ("? [a]\n: b\n", "SM1008", 1),
        ("a: " + "1" * 5000 + "\n", "SM1008", 1),
        ("a:\n  b: " + "[" * 100 + "]" * 100 + "\n", "SM1007", 2),
        ("- 1\n- 2\n", "SM1010", 1),
        ("just text\n", "SM1010", 1),
        ("apiVersion: v1\nkind: List\nitems: 3\n", "SM1011", 3),
    ],
)
def test_refusals_are_diagnostics_with_lines(text: str, code: str, line: int) -> None:
    result = read_text(text, "x.yaml")
    assert [(d.code, d.location.line) for d in result.diagnostics] == [(code, line)]


def test_a_billion_laughs_is_refused_quickly() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(9)]
    started = time.perf_counter()
    result = read_text("\n".join(levels) + "\n")
    assert codes(result) == ["SM1006"]
    assert time.perf_counter() - started < 5  # generous: the point is "does not hang", not speed


def test_alias_count_limit_comes_from_settings() -> None:
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * 11) + "]\n"
    assert codes(read_text(text, settings=Settings(max_yaml_aliases=10))) == ["SM1006"]
    assert codes(read_text(text, settings=Settings(max_yaml_aliases=11))) == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"apiVersion: v1\x00\n", "SM1002"),
        (b"name: caf\xe9\n", "SM1002"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "SM1002"),
    ],
)
def test_binary_and_bad_encodings_are_diagnostics(raw: bytes, code: str) -> None:
    assert codes(read_text(raw)) == [code]


def test_utf8_bom_and_utf16_are_read() -> None:
    assert read_text("\ufeffa: 1\n".encode()).documents[0].data == {"a": 1}
    assert read_text("a: é\n".encode("utf-16")).documents[0].data == {"a": "é"}


def test_directories_are_walked_recursively_skipping_noise(tmp_path: Path) -> None:
    (tmp_path / "sub" / ".hidden").mkdir(parents=True)
    for name in (
        "a.yaml",
        "sub/b.yml",
        "sub/c.JSON",
        "notes.txt",
        ".a.yaml.swp",
        "a.yaml~",
        "#a.yaml#",
        ".hidden.yaml",
        "sub/.hidden/d.yaml",
    ):
        (tmp_path / name).write_text('{"kind": "X"}\n' if name.lower().endswith("json") else "kind: X\n")
    result = read_paths([str(tmp_path)])
    assert sorted(Path(d.source).relative_to(tmp_path).as_posix() for d in result.documents) == [
        "a.yaml",
        "sub/b.yml",
        "sub/c.JSON",
    ]


def test_missing_paths_empty_directories_and_size_limits(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 200 + "\n")
    (tmp_path / "empty").mkdir()
    result = read_paths(
        [str(tmp_path / "nope.yaml"), str(tmp_path / "empty"), str(big)], Settings(max_file_bytes=100)
    )
    assert codes(result) == ["SM1001", "SM1012", "SM1003"]
    assert result.diagnostics[1].severity.value == "warning"


def test_too_many_documents_stops_reading() -> None:
    result = read_text("---\na: 1\n" * 5, settings=Settings(max_documents=3))
    assert len(result.documents) == 3 and codes(result) == ["SM1004"]


def test_stdin_is_read_for_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"kind: X\n---\nkind: Y\n")))
    result = read_paths(["-"])
    assert [(d.source, d.data["kind"]) for d in result.documents] == [("<stdin>", "X"), ("<stdin>", "Y")]
