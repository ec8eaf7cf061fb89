"""`pstore-archiver import`: what systemd-pstore left, archived as `run` archives a store.

The layouts of this machine's real systemd-pstore (v252 on Debian 12, v257 on Debian 13) come
from running it on the real captures (tests/systemd_pstore.py); the v253+ layout
(`<timestamp>/<count>/`, `dmesg.txt` appended, `.#<name><hex>` temporaries) is also built by
hand as systemd-pstore.md §4b-§5 describes it, so that it is tested on either release.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from journald import require_journald, run_with_journald
from stores import (
    FakeRecord,
    efi_dump,
    fixture_records,
    log_lines,
    seed_erst_store,
    write_store,
)
from systemd_pstore import require_systemd_pstore, run_systemd_pstore, systemd_pstore_version

from pstore_archiver import service
from pstore_archiver.cli import main
from pstore_archiver.journal import MessageId

ARCHIVER = [sys.executable, "-m", "pstore_archiver"]


def entries(archive: Path) -> dict[str, set[str]]:
    """{entry id: its records' names}."""
    found = {}
    for entry in sorted(archive.iterdir()):
        if not entry.name.startswith("."):
            document = json.loads((entry / "entry.json").read_text())
            found[entry.name] = {r["name"] for r in document["records"]}
    return found


def crash_ids(archive: Path) -> dict[str, str]:
    """{entry id: its crash_id} (PSTORE_CRASH_ID)."""
    return {
        entry.name: json.loads((entry / "entry.json").read_text())["crash_id"]
        for entry in archive.iterdir()
        if not entry.name.startswith(".")
    }


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path below root: a file's bytes, None for a directory."""
    return {
        str(p.relative_to(root)): None if p.is_dir() else p.read_bytes()
        for p in sorted(root.rglob("*"))
    }


TOLD: list[str] = []  # what the last import said on stderr


def imported(
    capsys: pytest.CaptureFixture[str], archive: Path, *argv: str
) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["--archive", str(archive), "import", *argv, "--json"])
    captured = capsys.readouterr()
    TOLD[:] = [captured.err]
    report: dict[str, Any] = json.loads(captured.out)
    return code, report


def run_store(tmp_path: Path, records: list[FakeRecord]) -> dict[str, set[str]]:
    """The entries `run` makes of the same records: what import must make too."""
    store, archive = tmp_path / "run-store", tmp_path / "run-archive"
    write_store(store, records)
    assert main(["--source", str(store), "--archive", str(archive), "run"]) == 0
    return entries(archive)


REAL = ["erst-oops-panic", "efi-panic", "ramoops-oops-panic", "erst-panic"]


def their_directories() -> tuple[str, str, bool]:
    """Where this machine's systemd-pstore puts the real ERST Oops + Panic and the real EFI
    panic, and whether it writes a dmesg.txt into its root (for the ramoops records)."""
    if systemd_pstore_version() < 253:  # id minus six digits; EFI by 10-second window
        return "7712566249095", "179572190", True
    # an ERST run of ids by its highest id; EFI by second and count; ramoops "unknown"
    return "7712566249095430148", "1795721909/001", False


@pytest.mark.root
def test_import_what_the_real_systemd_pstore_left(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    require_systemd_pstore()
    records = [r for name in REAL for r in fixture_records(name)] + seed_erst_store()
    store = write_store(tmp_path / "pstore", records)
    theirs = tmp_path / "var-lib-systemd-pstore"
    done = run_systemd_pstore(store, theirs)
    assert done.returncode == 0, done.describe()
    erst_directory, efi_directory, root_log = their_directories()
    top = set(done.top_level())
    assert {erst_directory, efi_directory.split("/")[0]} <= top, top
    assert ("dmesg.txt" in top) == root_log, top
    left_by_them = tree(theirs)
    archive = tmp_path / "archive"

    code, report = imported(capsys, archive, str(theirs))
    assert code == 0 and report["exit_status"] == 0, report
    assert entries(archive) == run_store(tmp_path, records)  # grouped as run groups
    # the same crash has the same id, archived by run or imported (DESIGN §7 PSTORE_CRASH_ID)
    assert crash_ids(archive) == crash_ids(tmp_path / "run-archive")
    for record in records:  # byte-exact, with the crash time
        [copy] = archive.glob(f"*/{record.name}")
        assert copy.read_bytes() == record.data and copy.stat().st_mtime_ns == record.mtime_ns
    assert {i["name"].rsplit("/", 1)[-1] for i in report["records_ignored"]} == {"dmesg.txt"}
    panic = json.loads((archive / "20261126T193604Z-erst-panic2" / "entry.json").read_text())
    assert panic["imported_from"] == os.path.join(theirs, erst_directory)
    efi = json.loads((archive / "20261126T193829Z-efi-panic1" / "entry.json").read_text())
    assert efi["imported_from"] == os.path.join(theirs, efi_directory)
    assert efi["complete"] is True and efi["summary"].startswith("Kernel panic")
    assert tree(theirs) == left_by_them  # the originals are kept
    assert "PSTORE_IMPORTED_FROM=" + os.path.join(theirs, erst_directory) in TOLD[0]

    code, again = imported(capsys, archive, str(theirs))  # idempotent
    assert code == 0 and again["entries"] == [] and again["records_archived"] == []
    assert len(again["records_already_archived"]) == len(records)

    code, removed = imported(capsys, archive, str(theirs), "--remove")
    assert code == 0 and sorted(removed["records_unlinked"]) == sorted(
        str(Path(p))
        for p in left_by_them
        if p.rsplit("/", 1)[-1].startswith("dmesg-") and not p.endswith("dmesg.txt")
    )
    assert tree(theirs) == {  # only the records went: dmesg.txt and the directories stay
        path: data
        for path, data in left_by_them.items()
        if data is None or path.endswith("dmesg.txt")
    }
    assert removed["directories_removed"] == []
    assert imported(capsys, archive, str(theirs))[0] == 0
    assert len(entries(archive)) == len(run_store(tmp_path / "again", records))


@pytest.mark.root
def test_a_dump_systemd_pstore_split_is_one_entry_again(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """v252 groups EFI parts by a 10-second window, v253+ by the second: either way a dump
    across a boundary lands in two directories (systemd-pstore.md §4a, §4b); the import
    joins it by its headers."""
    require_systemd_pstore()
    records = efi_dump("Panic", 1, log_lines(150), 15, [1700000109] * 7 + [1700000110] * 8)
    store = write_store(tmp_path / "pstore", records)
    theirs = tmp_path / "theirs"
    assert run_systemd_pstore(store, theirs).returncode == 0
    split = ["170000010", "170000011"]
    if systemd_pstore_version() >= 253:
        split = ["1700000109", "1700000110"]
    assert sorted(os.listdir(theirs)) == split
    archive = tmp_path / "archive"
    code, _ = imported(capsys, archive, str(theirs))
    assert code == 0
    [(entry, names)] = entries(archive).items()
    assert names == {r.name for r in records}
    document = json.loads((archive / entry / "entry.json").read_text())
    assert document["complete"] is True and document["imported_from"] == str(theirs)
    assert (archive / entry / "dmesg.txt").read_bytes() == b"".join(log_lines(150))


def v254_layout(root: Path, dmesg_txt: bool = True) -> list[FakeRecord]:
    """What systemd-pstore v253+ leaves (systemd-pstore.md §4b, §5): EFI parts in
    `<timestamp>/<count>/`, ERST runs in `<highest id>/`, other records in the root,
    dmesg.txt appended in each group (Storage=external), a temporary of copy_file_atomic."""
    efi = efi_dump("Panic", 1, log_lines(30), 3, [1700000001, 1700000001, 1700000002])
    erst = seed_erst_store()
    console = FakeRecord("console-ramoops-0", b"console of the last boot\n", 1700000003)
    for record in efi:
        stamp = record.name.rsplit("-", 1)[1][:-5]
        write_store(root / stamp / "001", [record])
    write_store(root / "6319986351055831045", erst)
    write_store(root, [console])
    if dmesg_txt:
        for folder in (root / "1700000001" / "001", root / "6319986351055831045"):
            (folder / "dmesg.txt").write_bytes(
                b"".join((folder / n).read_bytes() for n in sorted(os.listdir(folder)))
            )
    (root / ".#console-ramoops-0a1b2c3d4e5f60718").write_bytes(b"half a co")
    return [*efi, *erst, console]


def test_import_the_v253_layout(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    records = v254_layout(theirs)
    before = tree(theirs)
    archive = tmp_path / "archive"
    code, report = imported(capsys, archive, str(theirs))
    assert code == 0, report
    assert entries(archive) == run_store(tmp_path, records)
    ignored = {i["name"]: i["reason"] for i in report["records_ignored"]}
    assert ".#console-ramoops-0a1b2c3d4e5f60718" in ignored
    assert "temporary file of systemd-pstore" in ignored[".#console-ramoops-0a1b2c3d4e5f60718"]
    assert tree(theirs) == before
    code, report = imported(capsys, archive, str(theirs), "--remove")
    assert code == 0 and len(report["records_unlinked"]) == len(records)
    after = tree(theirs)
    assert not any(Path(p).name.startswith(("dmesg-", "console-")) for p in after)
    assert {p for p in after if Path(p).name == "dmesg.txt"} == {
        "1700000001/001/dmesg.txt",
        "6319986351055831045/dmesg.txt",
    }
    # the EFI dump's Part3 (second 1700000002) was alone in its directories: emptied, gone
    assert report["directories_removed"] == ["1700000002/001", "1700000002"]
    assert "1700000001/001" in after and ".#console-ramoops-0a1b2c3d4e5f60718" in after


def test_remove_takes_only_emptied_directories(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    theirs = tmp_path / "theirs"
    v254_layout(theirs, dmesg_txt=False)  # Storage=journal on v254 writes no dmesg.txt
    (theirs / "empty-before").mkdir()
    (theirs / "1700000001" / "002").mkdir()  # empty, but not emptied by the import
    code, report = imported(capsys, tmp_path / "archive", str(theirs), "--remove")
    assert code == 0
    assert sorted(os.listdir(theirs)) == [
        ".#console-ramoops-0a1b2c3d4e5f60718",
        "1700000001",
        "empty-before",
    ]
    assert os.listdir(theirs / "1700000001") == ["002"]
    assert sorted(report["directories_removed"]) == sorted(
        ["1700000001/001", "1700000002/001", "1700000002", "6319986351055831045"]
    )


def test_import_knows_what_run_archived(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Both tools saw the same records (systemd-pstore first, then the switch): the
    records are archived once; with --remove, systemd-pstore's copies go."""
    records = fixture_records("erst-panic")
    store, archive = write_store(tmp_path / "pstore", records), tmp_path / "archive"
    assert main(["--source", str(store), "--archive", str(archive), "run", "--no-unlink"]) == 0
    theirs = write_store(tmp_path / "theirs" / "7712566004282", records)
    code, report = imported(capsys, archive, str(theirs.parent), "--remove")
    assert code == 0 and report["entries"] == [] and len(report["records_unlinked"]) == 2
    assert len(entries(archive)) == 1 and report["directories_removed"] == ["7712566004282"]


def test_remove_needs_the_copy_in_the_archive(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    records = fixture_records("erst-panic")
    theirs = write_store(tmp_path / "theirs" / "7712566004282", records)
    archive = tmp_path / "archive"
    assert imported(capsys, archive, str(theirs.parent))[0] == 0
    [entry] = entries(archive)
    (archive / entry / records[0].name).unlink()  # the copy is gone
    code, report = imported(capsys, archive, str(theirs.parent), "--remove")
    assert code == 0 and report["records_archived"] == [f"7712566004282/{records[0].name}"]
    assert [r for c in map(archive.glob, [f"*/{records[0].name}"]) for r in c]  # archived again
    assert not theirs.exists()


@pytest.mark.parametrize("where", ["equal", "inside", "holding"])
def test_the_import_directory_and_the_archive_are_apart(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, where: str
) -> None:
    theirs = write_store(tmp_path / "theirs", fixture_records("erst-panic"))
    archive = {"equal": theirs, "inside": theirs / "a", "holding": tmp_path}[where]
    capsys.readouterr()
    assert main(["--archive", str(archive), "import", str(theirs)]) == 78
    assert "import" in capsys.readouterr().err
    assert sorted(os.listdir(theirs)) == sorted(r.name for r in fixture_records("erst-panic"))


def test_missing_directories(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "archive"
    assert main(["--archive", str(archive), "import", str(tmp_path / "nope")]) == 78
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["--archive", str(archive), "import", str(tmp_path / "file")]) == 78
    assert f"import {str(tmp_path / 'file')!r}: is not a directory (expected what" in (
        capsys.readouterr().err
    )
    monkeypatch.setattr(service, "DEFAULT_IMPORT_PATH", tmp_path / "var-lib-systemd-pstore")
    assert main(["--archive", str(archive), "import"]) == 0  # nothing left by systemd-pstore
    assert "left nothing to import" in capsys.readouterr().err
    assert not archive.exists()


def test_dry_run_touches_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    theirs = tmp_path / "theirs"
    v254_layout(theirs)
    before = tree(theirs)
    code, report = imported(capsys, tmp_path / "archive", str(theirs), "--dry-run", "--remove")
    assert code == 0 and len(report["entries"]) == 4 and report["records_unlinked"] == []
    assert tree(theirs) == before and not (tmp_path / "archive").exists()


@pytest.mark.root
def test_imported_entries_tell_journald_where_they_came_from(tmp_path: Path) -> None:
    require_journald()
    theirs = write_store(tmp_path / "theirs" / "7712566004282", fixture_records("erst-panic"))
    archive = tmp_path / "archive"
    result = run_with_journald(
        [*ARCHIVER, "--archive", str(archive), "import", str(theirs.parent)], tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr
    [panic] = result.query(f"MESSAGE_ID={MessageId.dump_archived}")
    assert panic["PSTORE_IMPORTED_FROM"] == str(theirs)
    assert f"(imported from {theirs})" in panic["MESSAGE"]
    [summary] = result.query(f"MESSAGE_ID={MessageId.run_summary}")
    assert summary["PSTORE_IMPORTED_FROM"] == str(theirs.parent)
    assert not (archive / ".last-run.json").exists()  # `status` shows the boot runs only
