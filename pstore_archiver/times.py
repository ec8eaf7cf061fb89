"""Pure: record times as the archive writes them, for any time a file system can hold.

A record's time is its mtime, which a crashing boot with a wrong clock can set anywhere a
64-bit count of nanoseconds reaches (kernel-pstore-format.md §1.6, §8.13), while
`datetime` covers only the years 1 to 9999.  Times outside that range are shown clamped
to its ends; the copy in the archive keeps the record's own mtime as far as the file
system allows.
"""

from __future__ import annotations

from pstore_archiver.typing_lite import TYPE_CHECKING

if TYPE_CHECKING:  # datetime: only to read a time back (its import is a boot run's cost)
    from datetime import datetime

_FIRST_S = -62135596800  # 0001-01-01T00:00:00Z
_LAST_S = 253402300799  # 9999-12-31T23:59:59Z
_FIRST = (1, 1, 1, 0, 0, 0, 0)
_LAST = (9999, 12, 31, 23, 59, 59, 999999)
_DAY_S = 86400


def utc_fields(time_ns: int) -> tuple[int, int, int, int, int, int, int]:
    """Year, month, day, hour, minute, second and microsecond of `time_ns` (ns since the
    epoch) in UTC, clamped to the years 1 to 9999."""
    seconds, rest_ns = divmod(time_ns, 10**9)
    if seconds < _FIRST_S:
        return _FIRST
    if seconds > _LAST_S:
        return _LAST
    days, second_of_day = divmod(seconds, _DAY_S)
    hour, rest_s = divmod(second_of_day, 3600)
    return (*civil_from_days(days), hour, rest_s // 60, rest_s % 60, rest_ns // 1000)


def utc_from_ns(time_ns: int) -> datetime:
    """The UTC time of `time_ns` (ns since the epoch), clamped to the years 1 to 9999."""
    from datetime import datetime, timezone

    return datetime(*utc_fields(time_ns), tzinfo=timezone.utc)


def civil_from_days(days: int) -> tuple[int, int, int]:
    """The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's algorithm)."""
    era, day_of_era = divmod(days + 719468, 146097)
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36524 - day_of_era // 146096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    shifted_month = (5 * day_of_year + 2) // 153  # March = 0
    day = day_of_year - (153 * shifted_month + 2) // 5 + 1
    month = shifted_month + 3 if shifted_month < 10 else shifted_month - 9
    return year_of_era + era * 400 + (month <= 2), month, day


def days_from_civil(year: int, month: int, day: int) -> int:
    """The inverse of `civil_from_days`."""
    year -= month <= 2
    era, year_of_era = divmod(year, 400)
    day_of_year = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146097 + day_of_era - 719468


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


def timestamp_s(text: str) -> float:
    """`parse_time(text).timestamp()`, without importing datetime for a time written by
    `format_time_ns` (the check: written again, it reads the same)."""
    if isinstance(text, str) and len(text) == 27 and text[:4].isdigit():
        try:
            days = days_from_civil(int(text[:4]), int(text[5:7]), int(text[8:10]))
            seconds = days * _DAY_S + int(text[11:13]) * 3600 + int(text[14:16]) * 60
            microseconds = (seconds + int(text[17:19])) * 10**6 + int(text[20:26])
        except ValueError:
            microseconds = None
        if microseconds is not None and format_time_ns(microseconds * 1000) == text:
            return microseconds / 10**6  # as timedelta.total_seconds() rounds
    return parse_time(text).timestamp()


def parse_time(text: str) -> datetime:
    """The inverse of format_time_ns (fromisoformat: strptime is 20 times slower).
    Raises ValueError for anything else."""
    if not isinstance(text, str) or not text.endswith("Z") or len(text) > 40:
        raise ValueError(f"not a UTC time: {text!r}")
    from datetime import datetime, timezone

    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


def ns_of_time(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware time, exactly (no float on the way)."""
    from datetime import datetime, timezone

    since = moment - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return ((since.days * 86400 + since.seconds) * 10**6 + since.microseconds) * 1000
