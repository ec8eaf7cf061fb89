"""Pure: record times as the archive writes them, for any time a file system can hold.

A record's time is its mtime, which a crashing boot with a wrong clock can set anywhere a
64-bit count of nanoseconds reaches (kernel-pstore-format.md §1.6, §8.13), while
`datetime` covers only the years 1 to 9999.  Times outside that range are shown clamped
to its ends; the copy in the archive keeps the record's own mtime as far as the file
system allows.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # datetime: only to read a time back (its import is a boot run's cost)
    from datetime import datetime

_FIRST_S = -62135596800  # 0001-01-01T00:00:00Z
_LAST_S = 253402300799  # 9999-12-31T23:59:59Z
_FIRST = (1, 1, 1, 0, 0, 0, 0)
_LAST = (9999, 12, 31, 23, 59, 59, 999999)


def utc_fields(time_ns: int) -> tuple[int, int, int, int, int, int, int]:
    """Year, month, day, hour, minute, second and microsecond of `time_ns` (ns since the
    epoch) in UTC, clamped to the years 1 to 9999."""
    seconds, rest_ns = divmod(time_ns, 10**9)
    if seconds < _FIRST_S:
        return _FIRST
    if seconds > _LAST_S:
        return _LAST
    t = time.gmtime(seconds)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, rest_ns // 1000)


def format_time_ns(time_ns: int) -> str:
    """ISO 8601 UTC with microseconds: `2026-11-26T19:36:04.000000Z` (four-digit years)."""
    year, month, day, hour, minute, second, microsecond = utc_fields(time_ns)
    return (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{microsecond:06d}Z"
    )


def format_stamp_ns(time_ns: int) -> str:
    """The compact form entry ids start with: `20261126T193604Z`."""
    year, month, day, hour, minute, second, _ = utc_fields(time_ns)
    return f"{year:04d}{month:02d}{day:02d}T{hour:02d}{minute:02d}{second:02d}Z"


def parse_time(text: str) -> datetime:
    """The inverse of format_time_ns (fromisoformat: strptime is 20 times slower).
    Raises ValueError for anything else."""
    if not isinstance(text, str) or not text.endswith("Z") or len(text) > 40:
        raise ValueError(f"not a UTC time: {text!r}")
    from datetime import datetime, timezone

    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)
