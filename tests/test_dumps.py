"""dumps.py: grouping records into entries and rendering the reassembled log."""

from __future__ import annotations

import random
import zlib

from hypothesis import given, settings
from hypothesis import strategies as st
from stores import (
    FakeRecord,
    efi_dump,
    erst_records,
    fixture_records,
    log_lines,
    seed_erst_store,
    split_dump,
)

from pstore_archiver.dumps import Entry, group, render_dmesg
from pstore_archiver.records import Record, parse_record


def parse(fakes: list[FakeRecord]) -> list[Record]:
    return [parse_record(f.name, f.data, f.mtime_ns) for f in fakes]


def describe(entries: list[Entry]) -> list[tuple[str, list[str]]]:
    return [(e.what, [r.name.name for r in e.records]) for e in entries]


def test_seed_erst_oops_and_panic_of_one_boot_are_two_entries() -> None:
    entries = group(parse(seed_erst_store()))
    assert describe(entries) == [
        ("oops1", ["dmesg-erst-6319986351055831042", "dmesg-erst-6319986351055831041"]),
        ("panic2", [f"dmesg-erst-631998635105583104{i}" for i in (5, 4, 3)]),
    ]


def test_render_puts_the_oldest_part_first_without_headers() -> None:
    lines = log_lines(30)
    fakes = erst_records(1471486490, 1, split_dump("Panic", 1, lines, 3), 1471486500)
    [entry] = group(parse(fakes))
    assert render_dmesg(entry) == b"".join(lines)


def test_real_erst_oops_panic_capture() -> None:
    entries = group(parse(fixture_records("erst-oops-panic")))
    assert [(e.reason, e.oopscount, len(e.records), e.missing_parts) for e in entries] == [
        ("Oops", 1, 2, ()),
        ("Panic", 2, 2, ()),
    ]
    text = render_dmesg(entries[1])
    assert text.startswith(b"<5>[    0.000000] Linux version 6.1.0-56-amd64")
    assert (
        text.rstrip()
        .splitlines()[-2]
        .endswith(b"Kernel panic - not syncing: sysrq triggered crash")
    )
    assert b"Part1" not in text and b"Part2" not in text


def test_real_efi_15_part_capture_is_one_chronological_dump() -> None:
    [entry] = group(parse(fixture_records("efi-panic")))
    assert [r.header.part for r in entry.records if r.header] == list(range(15, 0, -1))
    text = render_dmesg(entry)
    bodies = {r.header.part: r.text.split(b"\n", 1)[1] for r in entry.records if r.header}
    offsets = [text.find(bodies[part]) for part in range(15, 0, -1)]
    assert offsets[0] == 0 and offsets == sorted(offsets) and -1 not in offsets
    assert text.startswith(b"<6>[    0.000000] ACPI: INT_SRC_OVR")
    assert b"Kernel panic - not syncing: sysrq triggered crash" in text[-3000:]
    assert len(text) == sum(len(b) for b in bodies.values())
    assert b"Panic#1" not in text


def test_efi_dump_across_a_second_boundary_is_one_entry() -> None:
    stamps = [1700000109] * 7 + [1700000110] * 8
    fakes = efi_dump("Panic", 1, log_lines(150), 15, stamps)
    [entry] = group(parse(fakes))
    assert len(entry.records) == 15 and entry.missing_parts == ()
    assert render_dmesg(entry) == b"".join(log_lines(150))


def test_efi_oops_and_panic_in_the_same_second_are_not_interleaved() -> None:
    oops = efi_dump("Oops", 1, log_lines(30, label="oops"), 3, [1700000001] * 3)
    panic = efi_dump("Panic", 2, log_lines(30, label="panic"), 3, [1700000001] * 3)
    entries = group(parse(oops + panic))
    assert [(e.what, len(e.records)) for e in entries] == [("oops1", 3), ("panic2", 3)]
    assert render_dmesg(entries[0]) == b"".join(log_lines(30, label="oops"))
    assert render_dmesg(entries[1]) == b"".join(log_lines(30, label="panic"))


def test_same_panic1_from_two_boots_is_two_entries() -> None:
    erst_a = erst_records(1700000000, 1, split_dump("Panic", 1, log_lines(20), 2), 1700000000)
    erst_b = erst_records(1700000600, 1, split_dump("Panic", 1, log_lines(20), 2), 1700000600)
    efi_a = efi_dump("Panic", 1, log_lines(20), 2, [1700000000, 1700000001])
    efi_b = efi_dump("Panic", 1, log_lines(20), 2, [1700000300, 1700000300])
    entries = group(parse(erst_a + erst_b + efi_a + efi_b))
    assert sorted((e.backend or "", e.crash_time_ns // 10**9, len(e.records)) for e in entries) == [
        ("efi", 1700000000, 2),
        ("efi", 1700000300, 2),
        ("erst", 1700000000, 2),
        ("erst", 1700000600, 2),
    ]


def test_ramoops_zones_are_one_entry_each_in_numeric_order() -> None:
    fakes = [
        FakeRecord(
            f"dmesg-ramoops-{zone}", f"Panic#{zone + 1} Part1\nzone {zone}\n".encode(), 1700000000
        )
        for zone in range(12)
    ]
    entries = group(parse(fakes))
    assert [e.records[0].name.name for e in entries] == [f"dmesg-ramoops-{z}" for z in range(12)]


def test_real_ramoops_oops_and_panic() -> None:
    entries = group(parse(fixture_records("ramoops-oops-panic")))
    assert [(e.backend, e.reason, e.oopscount) for e in entries] == [
        ("ramoops", "Oops", 1),
        ("ramoops", "Panic", 2),
    ]


def test_missing_parts_are_found_and_marked() -> None:
    parts = split_dump("Panic", 1, log_lines(50), 5)
    fakes = erst_records(1700000000, 1, parts, 1700000000)
    del fakes[2]  # Part3
    del fakes[0]  # Part1
    [entry] = group(parse(fakes))
    assert entry.missing_parts == (1, 3)
    text = render_dmesg(entry).decode()
    assert "[pstore-archiver: Part 3 missing]\n" in text
    assert text.endswith("[pstore-archiver: Part 1 missing]\n")


def test_decoded_enc_z_part_joins_its_dump() -> None:
    parts = split_dump("Panic", 1, log_lines(20), 2)
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    fakes = [
        FakeRecord(
            "dmesg-efi-170000000001001.enc.z",
            compressor.compress(parts[0]) + compressor.flush(),
            1700000000,
        ),
        FakeRecord("dmesg-efi-170000000002001", parts[1], 1700000000),
    ]
    [entry] = group(parse(fakes))
    assert render_dmesg(entry) == b"".join(log_lines(20))


def test_records_without_header_empty_or_binary_are_entries_of_their_own() -> None:
    fakes = [
        FakeRecord("dmesg-erst-1", b"", 1),
        FakeRecord("dmesg-erst-2", b"\xff\xfe\x00binary", 2),
        FakeRecord("dmesg-efi-3.enc.z", b"\x01\x02", 3),
        FakeRecord("console-ramoops-0", b"console", 4),
        FakeRecord("pmsg-ramoops-0", bytes(range(256)), 5),
        FakeRecord("weird-name", b"x", 6),
    ]
    entries = group(parse(fakes))
    assert describe(entries) == [
        ("dmesg", ["dmesg-erst-1"]),
        ("dmesg", ["dmesg-erst-2"]),
        ("dmesg", ["dmesg-efi-3.enc.z"]),
        ("console", ["console-ramoops-0"]),
        ("pmsg", ["pmsg-ramoops-0"]),
        ("unknown", ["weird-name"]),
    ]
    assert all(not e.is_dump for e in entries)


def test_entry_ids_name_time_backend_and_what() -> None:
    entries = group(parse([*seed_erst_store(), FakeRecord("console-ramoops-0", b"c", 1795721764)]))
    assert [e.base_id for e in entries] == [
        "20160818T021500Z-erst-oops1",
        "20160818T021500Z-erst-panic2",
        "20261126T193604Z-ramoops-console",
    ]


def test_part_cut_mid_line_does_not_glue_to_the_next_part() -> None:
    fakes = erst_records(
        1700000000, 1, [b"Panic#1 Part1\nnewest\n", b"Panic#1 Part2\ncut mid-li"], 1
    )
    [entry] = group(parse(fakes))
    assert render_dmesg(entry) == b"cut mid-li\nnewest\n"


# --- properties -------------------------------------------------------------------------


def all_fixture_and_seed_records() -> list[FakeRecord]:
    names = ["erst-oops-panic", "efi-panic", "ramoops-oops-panic", "erst-panic", "ramoops-panic"]
    return [r for n in names for r in fixture_records(n)] + seed_erst_store()


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), keep=st.lists(st.booleans(), min_size=60, max_size=60))
def test_grouping_loses_nothing_and_ignores_listing_order(seed: int, keep: list[bool]) -> None:
    fakes = [f for f, k in zip(all_fixture_and_seed_records(), keep) if k]
    records = parse(fakes)
    entries = group(records)
    assert sorted(r.name.name for e in entries for r in e.records) == sorted(f.name for f in fakes)
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    assert group(shuffled) == entries


def test_pstore_blk_total_line_is_not_part_of_the_log() -> None:
    data = b"Panic: Total 16 times\nPanic#1 Part1\n<0>[    1.000000] Kernel panic\n"
    [entry] = group(parse([FakeRecord("dmesg-pstore_blk-0", data, 1700000000)]))
    assert (entry.backend, entry.reason, entry.oopscount) == ("pstore_blk", "Panic", 1)
    assert render_dmesg(entry) == b"<0>[    1.000000] Kernel panic\n"
