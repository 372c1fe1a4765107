"""``since``/``until`` values: a datetime, or text like "1h", "30m", "7d" (ago), or ISO 8601."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Final

from tracelens.errors import StoreError

_RELATIVE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*(?:ago)?\s*$")
_UNIT_SECONDS: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

TimeLike = datetime | str | None


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '1h', '7d', '2w', '250ms' -> timedelta; StoreError otherwise."""
    match = _RELATIVE.match(text)
    if match is None:
        msg = f"invalid duration {text!r} (expected a number and a unit: ms, s, m, h, d or w, e.g. '1h', '7d')"
        raise StoreError(msg)
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_time(value: TimeLike, now: datetime | None = None) -> datetime | None:
    """An aware UTC datetime for ``value`` (naive datetimes are taken as UTC). Relative text
    means that long before ``now``; "now" is now; anything else must be ISO 8601."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    now = now or datetime.now(UTC)
    text = value.strip()
    if text.lower() == "now":
        return now
    if _RELATIVE.match(text):
        return now - parse_duration(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        msg = f"invalid time {value!r} (expected e.g. '1h', '30m', '7d' ago or ISO 8601 like 2026-01-31T12:00:00Z)"
        raise StoreError(msg) from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_ns(moment: datetime) -> int:
    """Nanoseconds since the epoch (exact: no float rounding for modern dates)."""
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000
