"""crashes/top over journal entries: duplicates dropped, filters, one row per signature."""

from __future__ import annotations

from datetime import datetime, timezone

from pstore_archiver.crashes import (
    Crash,
    Filters,
    crash_from_fields,
    select,
    top,
    unique,
)
from pstore_archiver.manifest import crash_id

MACHINE_A = "a" * 32
MACHINE_B = "b" * 32


def fields(n: int, machine: str, signature: str, **extra: str) -> dict[str, str]:
    return {
        "_MACHINE_ID": machine,
        "_HOSTNAME": f"host-{machine[0]}",
        "PSTORE_CRASH_ID": f"{n:032x}",
        "PSTORE_ENTRY": f"2026112{n}T000000Z-erst-panic1",
        "PSTORE_CRASH_TIMESTAMP": str((1795000000 + n * 86400) * 10**6),
        "PSTORE_REASON": "Panic",
        "PSTORE_COUNT": "1",
        "PSTORE_SIGNATURE": signature,
        "PSTORE_SUMMARY": f"Kernel panic {n}",
        "PSTORE_KERNEL_RELEASE": f"6.1.0-{n}-amd64",
        **extra,
    }


def test_crash_id_depends_on_the_records_only() -> None:
    records = [("dmesg-erst-2", "bb" * 32), ("dmesg-erst-1", "aa" * 32)]
    assert crash_id("erst", records) == crash_id("erst", list(reversed(records)))
    assert len(crash_id("erst", records)) == 32
    assert crash_id("erst", records) != crash_id("erst", records[:1])
    assert crash_id("erst", records) != crash_id("efi", records)


def test_fields_become_a_crash() -> None:
    crash = crash_from_fields(fields(1, MACHINE_A, "kernel-f-1"))
    assert crash.crash_time == datetime(2026, 11, 19, 11, 6, 40, tzinfo=timezone.utc)
    assert (crash.machine_id, crash.hostname, crash.signature) == (
        MACHINE_A,
        "host-a",
        "kernel-f-1",
    )


def test_without_a_crash_id_the_machine_and_entry_stand_in() -> None:
    old = fields(1, MACHINE_A, "s")
    del old["PSTORE_CRASH_ID"]
    assert crash_from_fields(old).crash_id == f"{MACHINE_A}/{old['PSTORE_ENTRY']}"


def test_nonsense_timestamps_give_no_time() -> None:
    for value in ("", "x", "-5", "9" * 40):
        assert crash_from_fields({"PSTORE_CRASH_TIMESTAMP": value}).crash_time is None


def test_duplicates_are_dropped_and_order_is_by_crash_time() -> None:
    first, second = fields(2, MACHINE_A, "s"), fields(1, MACHINE_B, "s")
    crashes = [crash_from_fields(f) for f in (first, second, first, first)]
    assert [c.crash_id for c in unique(crashes)] == [f"{1:032x}", f"{2:032x}"]


def test_filters() -> None:
    crashes = unique(
        crash_from_fields(f)
        for f in (
            fields(1, MACHINE_A, "s1"),
            fields(2, MACHINE_B, "s2", PSTORE_REASON="Oops"),
            fields(3, MACHINE_A, "s1"),
        )
    )
    day2 = datetime(2026, 11, 20, tzinfo=timezone.utc)

    def ids(filters: Filters) -> list[str]:
        return [c.crash_id[-1] for c in select(crashes, filters)]

    assert ids(Filters()) == ["1", "2", "3"]
    assert ids(Filters(since=day2)) == ["2", "3"]
    assert ids(Filters(until=day2)) == ["1"]
    assert ids(Filters(machine="bbbb")) == ["2"]
    assert ids(Filters(machine="host-a")) == ["1", "3"]
    assert ids(Filters(signature="s1")) == ["1", "3"]
    assert ids(Filters(reason="oops")) == ["2"]


def test_top_counts_machines_and_kernels_per_signature() -> None:
    crashes = unique(
        crash_from_fields(f)
        for f in (
            fields(1, MACHINE_A, "s1"),
            fields(2, MACHINE_B, "s2"),
            fields(3, MACHINE_A, "s1"),
            fields(4, MACHINE_B, "s1"),
        )
    )
    rows = top(crashes)
    assert [(r.signature, r.crashes, r.machines) for r in rows] == [("s1", 3, 2), ("s2", 1, 1)]
    s1 = rows[0]
    assert s1.kernels == ("6.1.0-1-amd64", "6.1.0-3-amd64", "6.1.0-4-amd64")
    assert (s1.first_crash, s1.last_crash) == (crashes[0].crash_time, crashes[-1].crash_time)
    assert s1.summary == "Kernel panic 4"


def test_top_of_nothing_is_empty() -> None:
    assert top([]) == []
    assert isinstance(crash_from_fields({}), Crash)
