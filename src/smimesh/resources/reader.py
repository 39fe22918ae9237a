"""Reading manifests: files, directories and stdin into `Document`s (see `document`) with their line maps.

Owns the boundary between bytes and data: size limits, encodings, which files a directory
contributes, multi-document YAML and JSON, `kind: List` expansion and the resulting diagnostics.
Nothing here raises for bad input: every problem becomes an SM1xxx `Diagnostic` and the other
documents are still read (after a syntax error, the rest of the file is re-read from the next `---`).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path as FsPath
from typing import Any

import yaml

from smimesh.diagnostics import Diagnostic, Location, Severity, lookup
from smimesh.resources import codes
from smimesh.resources.document import Document, ReadResult
from smimesh.resources.yaml_tree import Limits, ParsedDocument, TreeError, iter_documents
from smimesh.settings import Settings

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
_ENCODING_NAMES = {"utf-8-sig": "UTF-8", "utf-16": "UTF-16"}
_ITEM_HINT = "each item is a whole object with its own apiVersion, kind and metadata"
_SEPARATOR = re.compile(r"^---(?=\s|$)", re.MULTILINE)
IsListKind = Callable[[str, str], bool]


def default_is_list(api_version: str, kind: str) -> bool:
    return kind == "List" or kind.endswith("List")


def read_paths(
    paths: Iterable[str], settings: Settings | None = None, is_list: IsListKind = default_is_list
) -> ReadResult:
    """Read every manifest under `paths` (files, directories recursively, `-` for stdin)."""
    settings = settings or Settings()
    result = ReadResult()
    for path in paths:
        for source, raw, problem in _sources(path, settings):
            if problem is not None:
                result.diagnostics.append(problem)
            else:
                _read_into(result, raw, source, settings, is_list)
    return result


def read_text(
    text: str | bytes,
    source: str = "<api>",
    settings: Settings | None = None,
    is_list: IsListKind = default_is_list,
) -> ReadResult:
    result = ReadResult()
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    _read_into(result, raw, source, settings or Settings(), is_list)
    return result


# --- sources --------------------------------------------------------------------------------------
_Source = tuple[str, bytes, Diagnostic | None]


def _sources(path: str, settings: Settings) -> Iterable[_Source]:
    if path == STDIN:
        yield _limited("<stdin>", sys.stdin.buffer.read(settings.max_file_bytes + 1), settings)
        return
    fs_path = FsPath(path)
    if fs_path.is_dir():
        files = list(_manifest_files(fs_path))
        if not files:
            yield path, b"", _problem(codes.NOTHING_FOUND, f"no .yaml, .yml or .json files in {path}", path)
        for file in files:
            yield _read_file(file, settings)
        return
    yield _read_file(fs_path, settings)


def _manifest_files(directory: FsPath) -> Iterable[FsPath]:
    """Manifests under `directory`, sorted, skipping hidden entries, swap and backup files."""
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith((".", "#")) or entry.name.endswith("~"):
            continue
        if entry.is_dir() and not entry.is_symlink():
            yield from _manifest_files(entry)
        elif entry.is_file() and entry.suffix.lower() in MANIFEST_SUFFIXES:
            yield entry


def _read_file(path: FsPath, settings: Settings) -> _Source:
    name = str(path)
    try:
        with path.open("rb") as handle:
            return _limited(name, handle.read(settings.max_file_bytes + 1), settings)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return name, b"", _problem(codes.READ_FAILED, f"cannot read {name}: {reason}", name)


def _limited(name: str, raw: bytes, settings: Settings) -> _Source:
    if len(raw) > settings.max_file_bytes:
        return (
            name,
            b"",
            _problem(
                codes.TOO_LARGE,
                f"{name} is larger than {settings.max_file_bytes} bytes",
                name,
                hint="split it into several files, or raise SMIMESH_MAX_FILE_BYTES",
            ),
        )
    return name, raw, None


def _problem(
    code: str, message: str, source: str, line: int | None = None, index: int | None = None, hint: str = ""
) -> Diagnostic:
    return Diagnostic(code, message, codes_severity(code), Location(source, line, index), hint=hint)


def codes_severity(code: str) -> Severity:
    info = lookup(code)
    return info.severity if info is not None else Severity.ERROR


# --- text -> documents -------------------------------------------------------------------------------
def _decode(raw: bytes, source: str) -> tuple[str | None, Diagnostic | None]:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
        if b"\x00" in raw:
            line = raw[: raw.index(b"\x00")].count(b"\n") + 1
            return None, _problem(
                codes.NOT_TEXT,
                "NUL byte found: this looks like a binary file",
                source,
                line,
                hint="manifests are UTF-8 text: is this the right file?",
            )
    try:
        return raw.decode(encoding), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, _problem(
            codes.NOT_TEXT,
            f"not valid {_ENCODING_NAMES[encoding]} text (byte 0x{raw[exc.start]:02x} at offset {exc.start})",
            source,
            line,
            hint="save the file as UTF-8",
        )


def _read_into(result: ReadResult, raw: bytes, source: str, settings: Settings, is_list: IsListKind) -> None:
    text, problem = _decode(raw, source)
    if problem is not None or text is None:
        result.diagnostics.append(problem or _problem(codes.NOT_TEXT, "unreadable", source))
        return
    json_mode = source.lower().endswith(".json") or (
        source.startswith("<") and text.lstrip()[:1] in ("{", "[")  # stdin or the API: sniff JSON
    )
    if json_mode:
        text = text.replace("\t", " ")  # JSON allows tabs only as whitespace; YAML's scanner does not
    limits = Limits(settings.max_yaml_depth, settings.max_yaml_aliases)
    reader = _TextReader(result, source, settings, is_list)
    reader.run(text, limits, json_mode)


class _TextReader:
    """Turns one text into documents; after a syntax error, resumes at the next `---` separator."""

    def __init__(self, result: ReadResult, source: str, settings: Settings, is_list: IsListKind) -> None:
        self.result, self.source, self.settings, self.is_list = result, source, settings, is_list
        self.index = 0

    def run(self, text: str, limits: Limits, json_mode: bool) -> None:
        offset = 0
        while True:
            stopped_at = self._parse(text, limits, json_mode, offset)
            if stopped_at is None:
                return
            # Resume at the first `---` from the start of the bad line on (it may be the separator
            # itself), but never at the current chunk's own first separator: always make progress.
            error_line_start = _offset_of_line(text, stopped_at - offset - 1)
            resume = _SEPARATOR.search(text, max(error_line_start, 1))
            if resume is None:
                return
            offset += text.count("\n", 0, resume.start())
            text = text[resume.start() :]

    def _parse(self, text: str, limits: Limits, json_mode: bool, offset: int) -> int | None:
        """Parse until the end or the first bad document; return the bad line (absolute) or None."""
        try:
            for parsed in iter_documents(text, limits, json_mode=json_mode, line_offset=offset):
                if not self._accept(parsed):
                    return None
        except TreeError as exc:
            line = exc.line or offset + 1
            self._add(exc.code, exc.message, line, exc.hint)
            self.index += 1
            return line
        except yaml.YAMLError as exc:
            line = offset + _mark_line(exc)
            self._add(codes.SYNTAX, _syntax_message(exc), line, "check indentation, colons and quotes")
            self.index += 1
            return line
        return None

    def _accept(self, parsed: ParsedDocument | None) -> bool:
        if self.index >= self.settings.max_documents:
            self._add(
                codes.TOO_MANY_DOCUMENTS,
                f"more than {self.settings.max_documents} documents; the rest were not read",
                None,
            )
            return False
        if parsed is not None and parsed.data is not None:
            document = Document(parsed.data, self.source, self.index, parsed.lines, (), parsed.line)
            self._expand(document)
        self.index += 1
        return True

    def _expand(self, document: Document) -> None:
        data = document.data
        if not isinstance(data, dict):
            shape = "a list" if isinstance(data, list) else f"the value {str(data)[:40]!r}"
            self._add(
                codes.NOT_AN_OBJECT,
                f"the document is {shape}, not an object",
                document.line,
                "each document needs apiVersion, kind and metadata at the top level",
            )
            return
        api_version, kind = data.get("apiVersion"), data.get("kind")
        if not (isinstance(api_version, str) and isinstance(kind, str) and self.is_list(api_version, kind)):
            self.result.documents.append(document)
            return
        self._expand_items(document, data.get("items"))

    def _expand_items(self, document: Document, items: Any) -> None:
        if items is None:
            return
        if not isinstance(items, list):
            self._add(
                codes.BAD_LIST,
                "`items` of a List must be a list of objects",
                document.line_of(["items"]),
                _ITEM_HINT,
            )
            return
        for position, item in enumerate(items):
            prefix = ("items", position)
            if not isinstance(item, dict):
                self._add(
                    codes.BAD_LIST,
                    f"items[{position}] is not an object",
                    document.lines.get(prefix, document.line),
                    _ITEM_HINT,
                )
                continue
            self.result.documents.append(
                Document(
                    item,
                    self.source,
                    document.index,
                    document.lines,
                    prefix,
                    document.lines.get(prefix, document.line),
                )
            )

    def _add(self, code: str, message: str, line: int | None, hint: str = "") -> None:
        self.result.diagnostics.append(_problem(code, message, self.source, line, self.index, hint))


def _mark_line(exc: yaml.YAMLError) -> int:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    return int(mark.line) + 1 if mark is not None else 1


def _syntax_message(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    mark = getattr(exc, "problem_mark", None)
    text = " ".join(part for part in (context, problem) if part) or str(exc).splitlines()[0]
    if mark is not None:
        text += f" (column {mark.column + 1})"
    return text


def _offset_of_line(text: str, line: int) -> int:
    """Character offset just after the given 1-based line, so the search resumes beyond the error."""
    position = 0
    for _ in range(max(line, 1)):
        found = text.find("\n", position)
        if found < 0:
            return len(text)
        position = found + 1
    return position
