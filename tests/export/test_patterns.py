"""`export.patterns`: what it calls exact, a prefix or an alternation means exactly what the regex means.

The Istio and Consul exports rely on it to translate without a regex ("translate exactly or refuse"):
over generated regexes and values, the classified form accepts a value iff RE2 does, for paths
(`(?:re).*` full match, SMI's start-anchored path) and header values (full match).
"""

from __future__ import annotations

import re2
from hypothesis import given, settings
from hypothesis import strategies as st

from smimesh.export.patterns import Form, Pattern, classify, header_pattern, path_pattern

PIECES = ["/", "a", "b", "\\.", ".", ".*", "$", "^", "(", ")", "|", "[0-9]", "+", "\\-", "-"]
VALUES = st.text(alphabet="/ab.-0", max_size=6)


def _accepts(pattern: Pattern, value: str) -> bool:
    if pattern.form is Form.ANY:
        return True
    pieces = pattern.branches if pattern.form is Form.ALTERNATIVES else (pattern,)
    return any(value == p.literal if p.form is Form.EXACT else value.startswith(p.literal) for p in pieces)


def _compiles(regex: str) -> bool:
    try:
        re2.compile(regex)
    except re2.error:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=6).map("".join), st.lists(VALUES, min_size=1, max_size=8))
def test_simple_forms_mean_what_the_regex_means(regex: str, values: list[str]) -> None:
    if not _compiles(regex) or not _compiles(f"(?:{regex}).*"):
        return
    for end_open, wrapped in ((True, f"(?:{regex}).*"), (False, regex)):
        pattern = classify(regex, end_open=end_open)
        if not pattern.simple and pattern.form is not Form.ANY:
            continue  # a regex: kept as one where the target has regexes, refused where not
        for value in values:
            assert _accepts(pattern, value) == (re2.fullmatch(wrapped, value) is not None), (
                regex,
                value,
                pattern,
            )


def test_the_forms_users_write() -> None:
    assert path_pattern("/books") == Pattern(Form.PREFIX, "/books", regex="/books")
    assert path_pattern("/books.*").form is Form.PREFIX
    assert path_pattern("/books$") == Pattern(Form.EXACT, "/books", regex="/books$")
    assert path_pattern(".*").form is Form.ANY and path_pattern("").form is Form.ANY
    assert [p.literal for p in path_pattern("/a$|/b/.*").simple] == ["/a", "/b/"]
    assert path_pattern("/books/[0-9]+").form is Form.REGEX
    assert path_pattern("/api/v1\\.2").literal == "/api/v1.2"
    assert header_pattern("alice").form is Form.EXACT and header_pattern("al.*").form is Form.PREFIX
    assert header_pattern(".+").form is Form.REGEX  # Istio maps `.+` to presence itself
