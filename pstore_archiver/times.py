"""Pure: record times as the archive writes them, for any time a file system can hold.

A record's time is its mtime, which a crashing boot with a wrong clock can set anywhere a
64-bit count of nanoseconds reaches (kernel-pstore-format.md §1.6, §8.13), while
`datetime` covers only the years 1 to 9999.  Times outside that range are shown clamped
to its ends; the copy in the archive keeps the record's own mtime as far as the file
system allows.
"""

from __future__ import annotations

from datetime import datetime, timezone

_FIRST_S = -62135596800  # 0001-01-01T00:00:00Z
_LAST_S = 253402300799  # 9999-12-31T23:59:59Z
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def utc_from_ns(time_ns: int) -> datetime:
    """The UTC time of `time_ns` (ns since the epoch), clamped to the years 1 to 9999."""
    seconds, rest_ns = divmod(time_ns, 10**9)
    if seconds < _FIRST_S:
        return datetime(1, 1, 1, tzinfo=timezone.utc)
    if seconds > _LAST_S:
        return datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    stamp = datetime.fromtimestamp(seconds, timezone.utc)
    return stamp.replace(microsecond=rest_ns // 1000)


def format_time_ns(time_ns: int) -> str:
    """ISO 8601 UTC with microseconds: `2026-11-26T19:36:04.000000Z` (four-digit years)."""
    t = utc_from_ns(time_ns)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond:06d}Z"
    )


def format_stamp_ns(time_ns: int) -> str:
    """The compact form entry ids start with: `20261126T193604Z`."""
    t = utc_from_ns(time_ns)
    return f"{t.year:04d}{t.month:02d}{t.day:02d}T{t.hour:02d}{t.minute:02d}{t.second:02d}Z"


def parse_time(text: str) -> datetime:
    """The inverse of format_time_ns (fromisoformat: strptime is 20 times slower).
    Raises ValueError for anything else."""
    if not isinstance(text, str) or not text.endswith("Z") or len(text) > 40:
        raise ValueError(f"not a UTC time: {text!r}")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


def ns_of_time(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware time, exactly (no float on the way)."""
    since = moment - _EPOCH
    return ((since.days * 86400 + since.seconds) * 10**6 + since.microseconds) * 1000
