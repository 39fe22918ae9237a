"""How every command writes a number, so the same quantity reads the same in `stat`, `top`, `status`,
`proxy-status` and the demo.

The rules: percentages (success rates, shares) with 1 decimal (`99.5%`); rates per second with 1
decimal (`12.3`); latencies in milliseconds with 1 decimal (`4.1ms`); durations with 1 decimal and a
unit (`2.8 s`, `1.5 min`, `24.0 h`); counts as integers; times as UTC RFC 3339 to the second
(`2026-12-04T18:46:58Z`). A missing value is `-`.
"""

from __future__ import annotations

from datetime import UTC, datetime


def percent(fraction: float | None) -> str:
    return "-" if fraction is None else f"{100 * fraction:.1f}%"


def rate(per_second: float | None) -> str:
    return "-" if per_second is None else f"{per_second:.1f}"


def millis(value_ms: float | None) -> str:
    return "-" if value_ms is None else f"{value_ms:.1f}ms"


def count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def timestamp(value: str | datetime | None) -> str:
    """An ISO 8601 time (any offset, any sub-second digits) as `2026-12-04T18:46:58Z`; text left as is
    if it is not a time."""
    if not value:
        return "-"
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
