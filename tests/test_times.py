"""times.py formats and reads the archive's times without datetime; datetime is the
reference it must agree with, for any time a file system can hold."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pstore_archiver.times import format_stamp_ns, format_time_ns, parse_time, timestamp_s

INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
IN_RANGE = st.integers(min_value=-62135596800 * 10**9, max_value=253402300800 * 10**9 - 1)


def by_datetime(time_ns: int) -> datetime:
    """The reference: datetime's UTC time, clamped to the years 1 to 9999."""
    seconds, rest_ns = divmod(time_ns, 10**9)
    if seconds < -62135596800:
        return datetime(1, 1, 1, tzinfo=timezone.utc)
    if seconds > 253402300799:
        return datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc)
    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=rest_ns // 1000)


@given(st.one_of(INT64, IN_RANGE))
def test_times_are_formatted_as_datetime_formats_them(time_ns: int) -> None:
    t = by_datetime(time_ns)
    assert format_time_ns(time_ns) == t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").rjust(27, "0")
    assert format_stamp_ns(time_ns) == t.strftime("%Y%m%dT%H%M%SZ").rjust(16, "0")


@given(st.one_of(INT64, IN_RANGE))
def test_a_formatted_time_reads_back_as_datetime_reads_it(time_ns: int) -> None:
    text = format_time_ns(time_ns)
    assert timestamp_s(text) == parse_time(text).timestamp()


@pytest.mark.parametrize(
    "text",
    [
        "2026-02-29T00:00:00.000000Z",  # no such day
        "2026-13-01T00:00:00.000000Z",
        "2026-11-26T24:00:00.000000Z",
        "2026-11-26T19:36:04.00000xZ",
        "2026-11-26T19:36:04.000000",
        "",
    ],
)
def test_what_is_no_time_is_refused_as_parse_time_refuses_it(text: str) -> None:
    with pytest.raises(ValueError):
        parse_time(text)
    with pytest.raises(ValueError):
        timestamp_s(text)


@pytest.mark.parametrize("text", ["2026-11-26 19:36:04Z", "2026-11-26T19:36:04Z"])
def test_other_iso_forms_are_read_by_parse_time(text: str) -> None:
    assert timestamp_s(text) == parse_time(text).timestamp() == 1795721764.0
