"""The table of invalid documents: each file in `invalid/` states the diagnostics it must produce.

A file's leading `# expect: CODE [PATH] [@LINE]` lines are the table. The test asserts each expected
diagnostic appears with exactly that code, field path and line, and that no other diagnostic of the
reading, schema or per-object families (SM1–SM3) appears; reference diagnostics (SM4) are compared
exactly only in files that expect one (the other files hold a single object, so references dangle).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import smimesh.resources.codes  # noqa: F401  (registers the codes checked below)
from smimesh.diagnostics import all_codes, lookup
from smimesh.resources import load_paths

INVALID = Path(__file__).parent / "invalid"
_EXPECT = re.compile(rb"^# expect: (SM\d{4})(?: ([^@\s].*?))?(?: @(\d+))?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Expected:
    code: str
    path: str
    line: int | None


def expectations(path: Path) -> list[Expected]:
    return [
        Expected(m[1].decode(), (m[2] or b"").decode(), int(m[3]) if m[3] else None)
        for m in _EXPECT.finditer(path.read_bytes())
    ]


CORPUS = sorted(INVALID.glob("*.yaml"))


# Codes about whole inputs rather than documents: covered by test_reader.py / test_load.py instead.
NOT_DOCUMENT_CODES = {"SM1001", "SM1003", "SM1004", "SM1012", "SM1900"}
# Codes in the SM1-SM4 ranges that other layers register: the loader never emits them for a document
# (SM3090, a name that cannot form a SPIFFE id, cannot pass the loader's DNS-1123 checks first).
OTHER_LAYERS_CODES = {"SM3090"}


def test_corpus_is_large_and_covers_every_check() -> None:
    assert len(CORPUS) >= 45
    covered = {e.code for path in CORPUS for e in expectations(path)}
    ours = {info.code for info in all_codes() if info.code[:3] in ("SM1", "SM2", "SM3", "SM4")}
    not_ours = NOT_DOCUMENT_CODES | OTHER_LAYERS_CODES
    assert ours - not_ours <= covered, sorted(ours - not_ours - covered)


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_invalid_document(path: Path) -> None:
    expected = expectations(path)
    assert expected, f"{path.name} has no `# expect:` line"
    result = load_paths([str(path)])
    got = {(d.code, d.path, d.location.line) for d in result.diagnostics}
    for want in expected:
        assert lookup(want.code) is not None, f"{want.code} is not a registered code"
        matches = {g for g in got if g[0] == want.code and g[1] == want.path}
        assert matches, f"{path.name}: no {want.code} at {want.path!r}; got {sorted(got, key=str)}"
        if want.line is not None:
            assert want.line in {g[2] for g in matches}, (
                f"{path.name}: {want.code} not on line {want.line}: {matches}"
            )
    strict_families = ("SM1", "SM2", "SM3") + (
        ("SM4",) if any(e.code.startswith("SM4") for e in expected) else ()
    )
    allowed = {(e.code, e.path) for e in expected}
    unexpected = {(c, p) for c, p, _ in got if c.startswith(strict_families) and (c, p) not in allowed}
    assert not unexpected, f"{path.name}: unexpected diagnostics {sorted(unexpected)}"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_every_diagnostic_is_complete(path: Path) -> None:
    """File, line, message and a hint always; the expected value too once the document was understood."""
    for d in load_paths([str(path)]).diagnostics:
        assert d.location.file == str(path)
        assert d.location.line is not None and d.location.line >= 1
        assert d.message and lookup(d.code) is not None
        assert d.hint, d.format()
        if d.code.startswith(("SM3", "SM4")) or d.code in ("SM2002", "SM2003", "SM2005", "SM2006", "SM2007"):
            assert d.path and d.expected, d.format()
