"""crashes/top over journal entries: duplicates dropped, filters, one row per signature."""

from __future__ import annotations

import json
import shlex
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from journald import require_journald, run_with_journald
from stores import copy_fixture, fixture_records, write_store

from pstore_archiver.cli import main
from pstore_archiver.crashes import (
    Crash,
    Filters,
    crash_from_fields,
    select,
    top,
    unique,
)
from pstore_archiver.journal import MessageId
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


def test_crash_id_depends_on_the_machine_and_the_records_only() -> None:
    records = [("dmesg-erst-2", "bb" * 32), ("dmesg-erst-1", "aa" * 32)]
    one = crash_id(MACHINE_A, "erst", records)
    assert one == crash_id(MACHINE_A, "erst", list(reversed(records)))
    assert len(one) == 32
    assert one != crash_id(MACHINE_A, "erst", records[:1])
    assert one != crash_id(MACHINE_A, "efi", records)
    assert one != crash_id(MACHINE_B, "erst", records)  # a clone's identical records


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


@pytest.mark.parametrize("wanted", ["efi", "efi_pstore"])
def test_crashes_and_top_take_efi_for_efi_pstore(wanted: str) -> None:
    crashes = unique(
        crash_from_fields(fields(n, MACHINE_A, "s", PSTORE_BACKEND=backend))
        for n, backend in ((1, "efi"), (2, "efi_pstore"), (3, "erst"))
    )
    chosen = select(crashes, Filters(backend=wanted))
    assert [c.backend for c in chosen] == ["efi", "efi_pstore"]
    assert [(r.signature, r.crashes) for r in top(chosen)] == [("s", 2)]


@pytest.mark.parametrize("wanted", ["pstore_blk", "pstore-blk"])
def test_crashes_take_pstore_blk_for_pstore_dash_blk(wanted: str) -> None:
    crashes = unique(
        crash_from_fields(fields(n, MACHINE_A, "s", PSTORE_BACKEND=backend))
        for n, backend in ((1, "pstore-blk"), (2, "pstore_blk"), (3, "ramoops"))
    )
    assert [c.backend for c in select(crashes, Filters(backend=wanted))] == [
        "pstore-blk",
        "pstore_blk",
    ]


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
    assert crash_from_fields({}) == Crash("?/?", *[None] * 11)


# --- against real journals -------------------------------------------------------------------


def archive_on_a_machine(tmp_path: Path, name: str, capture: str, machine_id: str) -> Path:
    """One machine's journal after a boot that archived `capture`, and after the same
    records were imported into a second archive (systemd-pstore's leftovers): the crash is
    announced twice, as a shipper's re-send would do.  Returns the journal file."""
    root = tmp_path / name
    store = copy_fixture(capture, root / "pstore")
    leftovers = write_store(root / "systemd-pstore" / "7712566249095", fixture_records(capture))
    archiver = shlex.join([sys.executable, "-m", "pstore_archiver"])
    script = (
        f"{archiver} --source {store} --archive {root / 'archive'} run && "
        f"{archiver} --archive {root / 'archive-2'} import {leftovers.parent}"
    )
    result = run_with_journald(["sh", "-c", script], tmp_path=root, machine_id=machine_id)
    assert result.returncode == 0, result.stderr
    assert len(result.query(f"MESSAGE_ID={MessageId.dump_archived}")) == 4  # 2 crashes, twice
    [journal_file] = result.journal_dir.rglob("*.journal")
    return journal_file


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory systemd-journal-remote (--split-mode=host) would fill for two
    machines: ERST's oops and panic on one, ramoops' on the other."""
    require_journald()
    tmp_path = tmp_path_factory.mktemp("fleet")
    remote = tmp_path / "remote"
    remote.mkdir()
    for name, capture, machine in (
        ("a", "erst-oops-panic", MACHINE_A),
        ("b", "ramoops-oops-panic", MACHINE_B),
    ):
        journal_file = archive_on_a_machine(tmp_path, name, capture, machine)
        shutil.copyfile(journal_file, remote / f"remote-host-{name}.journal")
    return remote


def pstore_archiver(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    return code, capsys.readouterr().out


@pytest.mark.root
def test_crashes_of_a_fleet_each_once(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = pstore_archiver(capsys, "crashes", "-D", str(fleet), "--json")
    assert code == 0
    crashes = json.loads(output)
    assert [(c["machine_id"], c["entry"]) for c in crashes] == [
        (MACHINE_A, "20261126T193604Z-erst-oops1"),
        (MACHINE_A, "20261126T193604Z-erst-panic2"),
        (MACHINE_B, "20261126T194331Z-ramoops-oops1"),
        (MACHINE_B, "20261126T194331Z-ramoops-panic2"),
    ]
    assert len({c["crash_id"] for c in crashes}) == 4
    assert crashes[0]["crash_time"] == "2026-11-26T19:36:04.000000Z"
    assert crashes[0]["summary"].startswith("BUG: kernel NULL pointer dereference")
    assert set(crashes[0]) == {
        "crash_id", "crash_time", "machine_id", "hostname", "entry", "backend", "reason",
        "count", "signature", "summary", "kernel_release", "os_release",
    }  # fmt: skip

    code, output = pstore_archiver(capsys, "crashes", "-D", str(fleet))
    assert code == 0
    lines = output.splitlines()
    assert lines[0].split() == [
        "TIME", "HOST", "MACHINE", "DUMP", "KERNEL", "SIGNATURE", "SUMMARY",
    ]  # fmt: skip
    assert len(lines) == 5 and "Oops#1" in lines[1] and "6.1.0-56-amd64" in lines[1]
    assert f" {MACHINE_A[:12]} " in lines[1] and f" {MACHINE_B[:12]} " in lines[4]


@pytest.mark.root
def test_top_counts_one_bug_on_two_machines(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both machines oopsed in labcrash and then panicked by sysrq: two signatures, each
    with two crashes on two machines; a tie goes to the more recent last crash."""
    code, output = pstore_archiver(capsys, "top", "-D", str(fleet), "--json")
    assert code == 0
    rows = json.loads(output)
    assert [(r["crashes"], r["machines"]) for r in rows] == [(2, 2), (2, 2)]
    panic, oops = rows
    assert panic["summary"] == "Kernel panic - not syncing: sysrq triggered crash"
    assert panic["signature"] == "kernel-panic-sysrq_triggered_crash-ce01363d"  # no stack
    assert oops["signature"] == "kernel-labcrash_init-897d0f9a"
    assert panic["last_crash"] > oops["last_crash"]  # ramoops' panic came 30 µs later
    assert (oops["first_crash"], oops["kernels"]) == (
        "2026-11-26T19:36:04.000000Z",
        ["6.1.0-56-amd64"],
    )

    code, output = pstore_archiver(capsys, "top", "-D", str(fleet))
    assert code == 0 and [line.split()[:2] for line in output.splitlines()[1:]] == [
        ["2", "2"],
        ["2", "2"],
    ]


@pytest.mark.root
def test_fleet_filters_and_sources(fleet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def entries(*argv: str) -> list[str]:
        code, output = pstore_archiver(capsys, "crashes", *argv, "--json")
        assert code == (0 if json.loads(output) else 1)
        return [c["entry"].split("-", 1)[1] for c in json.loads(output)]

    assert entries("-D", str(fleet), "--machine", MACHINE_B[:8]) == [
        "ramoops-oops1", "ramoops-panic2",
    ]  # fmt: skip
    assert entries("--file", str(fleet / "remote-host-a.journal")) == ["erst-oops1", "erst-panic2"]
    assert entries("--file", str(fleet / "*.journal"), "--reason", "panic") == [
        "erst-panic2", "ramoops-panic2",
    ]  # fmt: skip
    assert entries("-D", str(fleet), "--since", "2026-11-26 19:40Z") == [
        "ramoops-oops1", "ramoops-panic2",
    ]  # fmt: skip
    assert entries("-D", str(fleet), "--signature", "kernel-nothing-00000000") == []
    assert entries("-D", str(fleet), "--backend", "ramoops") == ["ramoops-oops1", "ramoops-panic2"]
    assert pstore_archiver(capsys, "crashes", "-D", str(fleet / "nope"))[0] == 2


@pytest.mark.root
def test_a_directory_laid_out_as_var_log_journal(
    fleet: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """-D reads what sd-journal reads in a directory: its files and those in
    subdirectories named by a machine id; other subdirectories and files are left, and a
    file that cannot be read is skipped with a warning."""
    (tmp_path / MACHINE_A).mkdir()
    shutil.copyfile(fleet / "remote-host-a.journal", tmp_path / MACHINE_A / "system.journal")
    (tmp_path / "remote").mkdir()
    shutil.copyfile(fleet / "remote-host-b.journal", tmp_path / "remote" / "b.journal")
    shutil.copyfile(fleet / "remote-host-b.journal", tmp_path / "b.journal.bak")
    (tmp_path / "remote-cut.journal").write_bytes(b"LPKSHHRH")  # a truncated file
    capsys.readouterr()
    assert main(["crashes", "-D", str(tmp_path), "--json"]) == 0
    output, errors = capsys.readouterr()
    assert {c["machine_id"] for c in json.loads(output)} == {MACHINE_A}
    assert f"{tmp_path / 'remote-cut.journal'}: cannot open the journal" in errors
    assert errors.rstrip().endswith("; skipped")  # as journalctl ignores it
