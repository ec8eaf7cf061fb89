"""Pure: the times `list --since/--until` accept, as journalctl and coredumpctl do."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from pstore_archiver.units import parse_duration

_RELATIVE = re.compile(r"(?:-\s*(?P<minus>.+)|(?P<ago>.+?)\s+ago|\+\s*(?P<plus>.+))")
_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
)


def parse_time_spec(text: str, now: datetime) -> datetime:
    """An aware datetime from `2026-11-26`, `2026-11-26 19:30`, ISO 8601 with a zone,
    `now`, `today`, `yesterday`, `tomorrow`, `-2h`, `2h ago`, `1 week ago`, `+1d`.
    Dates without a zone are local time, like journalctl.  Raises ValueError."""
    spec = text.strip()
    local_midnight = now.astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    named = {
        "now": now,
        "today": local_midnight,
        "yesterday": local_midnight - timedelta(days=1),
        "tomorrow": local_midnight + timedelta(days=1),
    }
    if spec.lower() in named:
        return named[spec.lower()]
    relative = _RELATIVE.fullmatch(spec)
    if relative:
        amount = relative.group("minus") or relative.group("ago") or relative.group("plus")
        try:
            seconds = parse_duration(amount.replace(" ", ""))
        except ValueError as e:
            raise ValueError(f"not a time: {text!r}: {e}") from e
        sign = 1 if relative.group("plus") else -1
        return now + sign * timedelta(seconds=seconds)
    return _parse_absolute(spec, text)


def _parse_absolute(spec: str, text: str) -> datetime:
    iso = spec.replace("Z", "+00:00") if spec.endswith("Z") else spec
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError:
        parsed = None
    if parsed is None:
        for form in _FORMATS:
            try:
                parsed = datetime.strptime(spec, form)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueError(
            f"not a time: {text!r}: expected e.g. '2026-11-26', '2026-11-26 19:30', "
            "'today', 'yesterday', '-2h' or '1 week ago'"
        )
    return parsed if parsed.tzinfo else parsed.astimezone()


def utc(time: datetime) -> datetime:
    return time.astimezone(timezone.utc)
