"""What an SMI regex means in the plainer match languages of the export targets.

SMI `pathRegex` is start-anchored and end-open on the path (`(?:re).*` must match the whole path,
SPEC-DIGEST A3); header values are full matches (A4). Most targets have exact and prefix matches
that say the same thing without a regex, and some (Istio authorization) have nothing else, so
each regex is classified once here:

- `ANY`: matches every value (no condition);
- `EXACT`: one literal value;
- `PREFIX`: every value starting with a literal (a string prefix, not a path-segment prefix);
- `ALTERNATIVES`: a top-level `a|b|c` whose branches are each one of the above;
- `REGEX`: anything else (kept as a regex where the target has one, refused where not).

The parser is deliberately small: a literal is a run of ordinary characters or escaped
punctuation; anything it does not understand is `REGEX`, which is never wrong, only less portable.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

_META = set(".^$*+?()[]{}|\\")


class Form(enum.StrEnum):
    ANY = "any"
    EXACT = "exact"
    PREFIX = "prefix"
    ALTERNATIVES = "alternatives"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class Pattern:
    """A classified regex: its form, the literal (EXACT/PREFIX), the branches, and the regex itself."""

    form: Form
    literal: str = ""
    branches: tuple[Pattern, ...] = ()
    regex: str = ""

    @property
    def simple(self) -> tuple[Pattern, ...]:
        """The non-regex pieces (one, or each branch); empty when some piece is a regex."""
        pieces = self.branches if self.form is Form.ALTERNATIVES else (self,)
        return () if any(p.form is Form.REGEX for p in pieces) else pieces


def literal_of(text: str) -> str | None:
    """The literal a regex fragment spells (escapes undone), or None when it holds a metacharacter."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            nxt = text[index + 1 : index + 2]
            if not nxt or nxt.isalnum():  # \d, \w, \b ... are classes, not characters
                return None
            out.append(nxt)
            index += 2
            continue
        if char in _META:
            return None
        out.append(char)
        index += 1
    return "".join(out)


def _split_top_level(regex: str) -> list[str]:
    """`a|b` split at bars outside groups/classes; one element when there is no top-level bar."""
    parts, depth, start, index, in_class = [], 0, 0, 0, False
    while index < len(regex):
        char = regex[index]
        if char == "\\":
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(regex[start:index])
            start = index + 1
        index += 1
    parts.append(regex[start:])
    return parts


def _unwrap(regex: str) -> str:
    """`(?:x)` or `(x)` around the whole regex removed (only when the group spans it all)."""
    for opener in ("(?:", "("):
        inner = regex[len(opener) : -1]
        if (
            regex.startswith(opener)
            and regex.endswith(")")
            and not regex.endswith("\\)")
            and _balanced(inner)
        ):
            return inner
    return regex


def _balanced(text: str) -> bool:
    depth = 0
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            index += 2
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            return False
        index += 1
    return depth == 0


def _one(regex: str, end_open: bool) -> Pattern:
    body = regex[1:] if regex.startswith("^") else regex
    if body in ("", ".*"):
        return (
            Pattern(Form.ANY, regex=regex)
            if end_open or body == ".*"
            else Pattern(Form.EXACT, "", regex=regex)
        )
    if body.endswith("$") and not body.endswith("\\$"):
        literal = literal_of(body[:-1])
        return (
            Pattern(Form.EXACT, literal, regex=regex)
            if literal is not None
            else Pattern(Form.REGEX, regex=regex)
        )
    if body.endswith(".*") and not body.endswith("\\.*"):
        literal = literal_of(body[:-2])
        if literal is not None:
            return (
                Pattern(Form.ANY, regex=regex)
                if literal == ""
                else Pattern(Form.PREFIX, literal, regex=regex)
            )
    literal = literal_of(body)
    if literal is None:
        return Pattern(Form.REGEX, regex=regex)
    return Pattern(Form.PREFIX if end_open else Form.EXACT, literal, regex=regex)


def classify(regex: str, *, end_open: bool) -> Pattern:
    """Classify an SMI regex: `end_open` for paths (start-anchored prefix), False for header values."""
    regex = _unwrap(regex)
    branches = _split_top_level(regex)
    if len(branches) == 1:
        return _one(regex, end_open)
    pieces = tuple(_one(_unwrap(b), end_open) for b in branches)
    if any(p.form is Form.ANY for p in pieces):
        return Pattern(Form.ANY, regex=regex)
    return Pattern(Form.ALTERNATIVES, branches=pieces, regex=regex)


def path_pattern(path_regex: str) -> Pattern:
    return classify(path_regex, end_open=True) if path_regex else Pattern(Form.ANY)


def header_pattern(value_regex: str) -> Pattern:
    return classify(value_regex, end_open=False)


def anchored_path_regex(path_regex: str) -> str:
    """The SMI path regex as a regex that means the same under full-match and search semantics."""
    return f"^(?:{path_regex}).*$"


def anchored_value_regex(value_regex: str) -> str:
    """A header regex (SMI: full match) that means the same under full-match and search semantics."""
    return f"^(?:{value_regex})$"
