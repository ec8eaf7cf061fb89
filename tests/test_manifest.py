"""The manifest's text form: valid JSON, one key per line, stable, and it round-trips."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from hypothesis import example, given
from hypothesis import strategies as st
from stores import fixture_records

from pstore_archiver.dumps import group
from pstore_archiver.manifest import (
    Origin,
    build_manifest,
    format_time_ns,
    parse_time,
    render_manifest,
)
from pstore_archiver.records import parse_record

GOLDEN_START = """{
  "schema": 1,
  "id": "20261126T193507Z-erst-panic1",
  "kind": "dmesg",
  "backend": "erst",
  "reason": "Panic",
  "count": 1,
  "crash_time": "2026-11-26T19:35:07.000000Z",
  "archived_at": "2026-11-26T20:00:00.000001Z",
  "boot_id": "b0",
  "machine_id": "m0",
  "hostname": "h\\u00e9" """


def test_manifest_text_is_stable_and_round_trips() -> None:
    records = [parse_record(f.name, f.data, f.mtime_ns) for f in fixture_records("erst-panic")]
    [entry] = group(records)
    origin = Origin(1795723200_000001000, "b0", "m0", "hé")
    manifest = build_manifest("20261126T193507Z-erst-panic1", entry, origin, None)
    text = render_manifest(manifest).decode()
    assert json.loads(text) == manifest
    assert text.startswith(GOLDEN_START.replace('\\u00e9" ', 'é",\n'))
    assert text.count("\n") == len(manifest) + len(manifest["records"]) + 3
    assert text.endswith('  "signature": null\n}\n')


@given(st.integers(0, 2**62))
@example(4_373_870_247_844_275_000)  # a float timestamp() rounds this one wrong
def test_times_round_trip_to_the_microsecond(time_ns: int) -> None:
    text = format_time_ns(time_ns)
    assert text.endswith("Z")
    since_epoch = parse_time(text) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert since_epoch // timedelta(microseconds=1) == time_ns // 1000
