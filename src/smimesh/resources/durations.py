"""Go-style duration text (`1s`, `250ms`, `1m30s`, `0`), as OSM's and smimesh's policy kinds write it.

Owns `parse_duration(text) -> float seconds` (raises ValueError with what was wrong) and
`duration_problem(text) -> str` ("" when valid) for the checks that report at a field path.
"""

from __future__ import annotations

import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
EXPECTED = "a duration such as 500ms, 2s or 1m30s (units ns, us, ms, s, m, h)"


def parse_duration(text: str) -> float:
    """Seconds in `text`; negative durations are refused (no policy field means one)."""
    if text == "0":
        return 0.0
    position, total = 0, 0.0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            raise ValueError(f"{text!r} is not a duration")
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not text:
        raise ValueError("the duration is empty")
    return total


def duration_problem(text: object) -> str:
    if not isinstance(text, str):
        return "a duration is text, e.g. '1s'"
    try:
        parse_duration(text)
    except ValueError as exc:
        return str(exc)
    return ""
