"""The manifest: its text form pinned whole (schema 1, DESIGN §3), read back as the same
value, and one error naming the file and every problem for one that cannot be trusted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from stores import fixture_records

from pstore_archiver.analysis import analyze_entry
from pstore_archiver.dumps import group, render_dmesg
from pstore_archiver.manifest import (
    Manifest,
    ManifestError,
    Origin,
    _dump,
    build_manifest,
    dump_json,
    format_time_ns,
    parse_time,
    render_manifest,
)
from pstore_archiver.records import parse_record

GOLDEN = Path(__file__).resolve().parent / "data" / "manifest-schema-1.json"
ENTRY_ID = "20261126T193507Z-erst-panic1"


def golden_manifest() -> Manifest:
    """The manifest of the real ERST panic, analysis filled in, archived on host `hé`."""
    records = [parse_record(f.name, f.data, f.mtime_ns) for f in fixture_records("erst-panic")]
    [entry] = group(records)
    origin = Origin(1795723200_000001000, "b0", "m0", "hé", "Debian GNU/Linux 13 (trixie)")
    analysis = analyze_entry(entry.kind, render_dmesg(entry))
    assert analysis is not None and analysis.signature is not None
    return build_manifest(ENTRY_ID, entry, origin, analysis)


def test_the_whole_schema_1_text_is_pinned() -> None:
    """entry.json as users and their tools read it: every key, in this order, this form.
    A change here is a change of the on-disk contract (DESIGN §3, README)."""
    assert render_manifest(golden_manifest()).decode() == GOLDEN.read_text(encoding="utf-8")


def test_the_golden_file_reads_back_as_the_same_value() -> None:
    raw = json.loads(GOLDEN.read_bytes())
    manifest = Manifest.from_json(raw, str(GOLDEN), ENTRY_ID)
    assert manifest == golden_manifest()
    assert manifest.to_json() == raw
    assert manifest.oopscount == raw["count"] == 1
    assert manifest.crash_time_ns // 1000 == 1795721707_000000  # PSTORE_CRASH_TIMESTAMP


def test_an_early_manifest_without_the_later_keys_is_read() -> None:
    """Archives written before `missing_count`, `imported_from`, `os_release`, `crash_id`
    and a record's `truncated` existed."""
    raw = json.loads(GOLDEN.read_bytes())
    for key in ("missing_count", "imported_from", "os_release", "crash_id"):
        del raw[key]
    for record in raw["records"]:
        del record["truncated"]
    manifest = Manifest.from_json(raw, "entry.json")
    assert (manifest.missing_count, manifest.imported_from, manifest.crash_id) == (0, None, None)
    assert not any(record.truncated for record in manifest.records)


def test_one_error_names_the_file_and_every_problem() -> None:
    raw = json.loads(GOLDEN.read_bytes())
    raw.update(id="elsewhere", count="1", summary=5, crash_time="yesterday")
    raw["records"][0].update(size=-1, sha256="x")
    with pytest.raises(ManifestError) as caught:
        Manifest.from_json(raw, "/a/x/entry.json", ENTRY_ID)
    name = raw["records"][0]["name"]
    assert str(caught.value) == (
        "/a/x/entry.json: id 'elsewhere' is not the directory's name; "
        "crash_time 'yesterday' is not a time; summary 5 is not text; "
        f"count '1' is not a number; records: {name}: size -1 is not a size; "
        f"records: {name}: sha256 'x' is not a SHA-256 digest"
    )
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "raw, problem",
    [
        ([], "a list, not an object"),
        ({"schema": True}, "schema True is not 1"),
        ({"records": [{"name": "../x"}]}, "records: name '../x' is not a record's file name"),
        ({"records": [{"name": "dmesg.txt"}]}, "name 'dmesg.txt' is not a record's file name"),
    ],
)
def test_hostile_documents_are_refused(raw: object, problem: str) -> None:
    with pytest.raises(ManifestError, match=r"^entry\.json: ") as caught:
        Manifest.from_json(raw, "entry.json")
    assert problem in str(caught.value)


@given(st.integers(0, 2**62))
@example(4_373_870_247_844_275_000)  # a float timestamp() rounds this one wrong
def test_times_round_trip_to_the_microsecond(time_ns: int) -> None:
    text = format_time_ns(time_ns)
    assert text.endswith("Z")
    since_epoch = parse_time(text) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert since_epoch // timedelta(microseconds=1) == time_ns // 1000


@given(st.text())
@example('plain "quoted"')
@example("back\\slash")
@example("\x7f\x1f\x00 é \udcff")
def test_manifest_strings_are_written_as_json_writes_them(text: str) -> None:
    """`render_manifest` writes plain ASCII strings itself, the rest through json.dumps:
    both give the same text (and reading it back gives the string)."""
    assert _dump(text) == dump_json(text)
    assert json.loads(_dump(text)) == text
