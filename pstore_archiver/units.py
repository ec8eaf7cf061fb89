"""Pure: sizes and durations as systemd writes them (`256M` is 256 MiB, `90d`)."""

from __future__ import annotations

import re

_SIZE_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_DURATION_UNITS = {
    "": 1,
    "s": 1,
    "sec": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
    "M": 2629800,
    "month": 2629800,
    "months": 2629800,
    "y": 31557600,
    "year": 31557600,
    "years": 31557600,
}
_SIZE = re.compile(r"\s*([0-9]{1,30})(?:\.([0-9]{1,30}))?\s*([A-Za-z]*)\s*")
_DURATION_PART = re.compile(r"\s*([0-9]{1,30})(?:\.([0-9]{1,30}))?\s*([A-Za-z]*)")
# The largest size and duration taken: a byte count that fits a signed 64-bit number, and
# ten thousand years (beyond that, dates cannot be computed).
MAX_SIZE = 2**63 - 1
MAX_DURATION = 10_000 * 31557600


def _scaled(whole: str, fraction: str | None, unit: int) -> int:
    """whole.fraction x unit, exactly (no float: `1.5K` is 1536, 400 nines no inf)."""
    value = int(whole) * unit
    if fraction:
        value += int(fraction) * unit // 10 ** len(fraction)
    return value


def _type_error(raw: object, example: str) -> ValueError:
    return ValueError(f"expected a string such as {example!r} or a whole number, got {raw!r}")


def parse_size(raw: str | int) -> int:
    """Bytes from `1024`, `64K`, `256M`, `1.5G` (powers of 1024, as systemd's MaxUse=)."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise _type_error(raw, "256M")
    if isinstance(raw, int):
        if raw < 0:
            raise ValueError(f"a size cannot be negative: {raw}")
        if raw > MAX_SIZE:
            raise ValueError(f"a size of {raw} bytes is too large")
        return raw
    if not raw.strip():
        raise ValueError("empty size: expected a size such as '256M'")
    if raw.strip().startswith("-"):
        raise ValueError(f"a size cannot be negative: {raw!r}")
    match = _SIZE.fullmatch(raw)
    if not match:
        raise ValueError(f"not a size: {raw!r}: expected a number with K, M, G or T, e.g. '256M'")
    whole, fraction, unit = match.groups()
    unit_key = unit.upper().removesuffix("IB").removesuffix("B") if len(unit) > 1 else unit.upper()
    if unit_key not in _SIZE_UNITS:
        raise ValueError(f"unknown size unit {unit!r} in {raw!r}: use K, M, G or T")
    size = _scaled(whole, fraction, _SIZE_UNITS[unit_key])
    if size > MAX_SIZE:
        raise ValueError(f"{raw!r} is too large")
    return size


def parse_duration(raw: str | int) -> int:
    """Seconds from `0`, `3600`, `90d`, `12h`, `1w 2d`, `30min`."""
    if isinstance(raw, bool) or not isinstance(raw, (int, str)):
        raise _type_error(raw, "90d")
    if isinstance(raw, int):
        if raw < 0:
            raise ValueError(f"a duration cannot be negative: {raw}")
        if raw > MAX_DURATION:
            raise ValueError(f"a duration of {raw} seconds is too long (at most 10000 years)")
        return raw
    text = raw.strip()
    if not text:
        raise ValueError("empty duration: expected e.g. '90d' or '0'")
    if text.startswith("-"):
        raise ValueError(f"a duration cannot be negative: {raw!r}")
    total = 0
    position = 0
    while position < len(text):
        match = _DURATION_PART.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"not a duration: {raw!r}: expected e.g. '90d', '12h', '30min'")
        whole, fraction, unit = match.groups()
        if unit not in _DURATION_UNITS:
            raise ValueError(f"unknown time unit {unit!r} in {raw!r}: use s, min, h, d, w, M, y")
        total += _scaled(whole, fraction, _DURATION_UNITS[unit])
        if total > MAX_DURATION:
            raise ValueError(f"{raw!r} is too long (at most 10000 years)")
        position = match.end()
        while position < len(text) and text[position].isspace():
            position += 1
    return total


def format_size(size: int) -> str:
    """`1.5M`, `512B`: short, for tables."""
    for unit in ("T", "G", "M", "K"):
        if size >= _SIZE_UNITS[unit]:
            value = size / _SIZE_UNITS[unit]
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return f"{size}B"
