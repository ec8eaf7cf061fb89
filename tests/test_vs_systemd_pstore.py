"""Side by side with systemd-pstore (DESIGN §9 "Differential"; systemd-pstore.md §4-§7, §10).

Each test builds one store, copies it twice, gives one copy to the real
``/lib/systemd/systemd-pstore`` (run by tests/systemd_pstore.py in a private mount namespace)
and the other to ``pstore-archiver run``, and asserts both:

* what systemd-pstore observably does wrong, as a fact, for the two releases we meet: v252
  (Debian 12) and v257 (Debian 13), which groups dumps by other rules since v253
  (systemd-pstore.md §4a, §4b).  If the baseline ever changes (another systemd), the test fails
  and the README's comparison table must be revisited;
* that pstore-archiver gets the same store right (DESIGN §1, §3, §5).

pstore-archiver runs as a subprocess in the same kind of namespace (no journald socket: its
messages go to stderr, never to this machine's journal), with a configuration file of our own.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from stores import (
    FakeRecord,
    copy_tree,
    efi_dump,
    fixture_records,
    log_lines,
    seed_erst_store,
    write_store,
)
from systemd_pstore import (
    NamespacedRun,
    SystemdPstoreRun,
    Tmpfs,
    read_tree,
    require_systemd_pstore,
    run_in_namespace,
    run_systemd_pstore,
    systemd_pstore_version,
)

pytestmark = pytest.mark.root

OUR_TIMEOUT = 60.0
# No retention (the tiny tmpfs archive must not make it remove anything), journal on: with no
# socket in the namespace its messages take the stderr fallback.
OUR_CONFIG = '[retention]\nmax_use = "0"\nkeep_free = "0"\n'
HEADER = re.compile(rb"^(?P<reason>[A-Za-z]+)#(?P<count>[0-9]+) Part(?P<part>[0-9]+)$", re.M)
KERNEL_TIME = re.compile(rb"^<[0-9]+>\[ *([0-9]+\.[0-9]+)\]", re.M)
ARCHIVE_FULL_SIZE = "16k"  # four 4 KiB pages: one entry of the seed ERST store fits, not two


@pytest.fixture(autouse=True)
def _needs_systemd_pstore() -> None:
    require_systemd_pstore()


def groups_by_id_digits() -> bool:
    """v243-v252 group dumps by the record id minus its last six digits (Debian 12);
    v253 and later by backend rules: ERST id runs, EFI second and count (§4a, §4b)."""
    return systemd_pstore_version() < 253


# --- running pstore-archiver -----------------------------------------------------------


@dataclass(frozen=True)
class OurRun:
    run: NamespacedRun
    report: dict[str, Any]  # `run --json`
    archive: dict[str, bytes]
    store: dict[str, bytes]

    @property
    def returncode(self) -> int:
        return self.run.returncode

    def entries(self) -> list[str]:
        """The entry directories in the archive, in name order."""
        return sorted({p.split("/", 1)[0] for p in self.archive if "/" in p and p[0] != "."})

    def entry_tree(self) -> dict[str, bytes]:
        """The archive without its own top-level dot files (lock, index, ...)."""
        return {p: d for p, d in self.archive.items() if not p.startswith(".")}

    def entry_files(self, entry_id: str) -> dict[str, bytes]:
        prefix = entry_id + "/"
        return {p[len(prefix) :]: d for p, d in self.archive.items() if p.startswith(prefix)}

    def describe(self) -> str:
        listing = "\n".join(f"  {p} ({len(d)} B)" for p, d in self.archive.items())
        return f"{self.run.describe()}\narchive:\n{listing}\nstore left: {sorted(self.store)}"


def run_ours(store: Path, archive: Path, *args: str, archive_size: str | None = None) -> OurRun:
    """`pstore-archiver --source STORE --archive ARCHIVE run --json ARGS` in a private mount
    namespace; with archive_size, the archive is a fresh tmpfs of that size for the run."""
    config = archive.parent / "pstore-archiver.toml"
    config.write_text(OUR_CONFIG)
    mounts = []
    if archive_size is not None:
        archive.mkdir(parents=True, exist_ok=True)
        mounts.append(Tmpfs(archive, archive_size))
    env = {k: v for k, v in os.environ.items() if k not in ("JOURNAL_STREAM", "NOTIFY_SOCKET")}
    argv = [
        sys.executable, "-m", "pstore_archiver", "--config", str(config),
        "--source", str(store), "--archive", str(archive), "run", "--json", *args,
    ]  # fmt: skip
    result = run_in_namespace(argv, tmpfs=mounts, env=env, timeout=OUR_TIMEOUT)
    try:
        report: dict[str, Any] = json.loads(result.stdout)
    except ValueError as exc:
        raise AssertionError(f"run --json printed no JSON ({exc})\n{result.describe()}") from exc
    return OurRun(result, report, read_tree(archive), read_tree(store))


# --- stores and expectations -----------------------------------------------------------


@dataclass(frozen=True)
class Stores:
    records: list[FakeRecord]
    theirs: Path  # systemd-pstore's copy
    ours: Path  # pstore-archiver's copy

    def run_theirs(
        self, *, unlink: bool = True, archive_size: str | None = None
    ) -> SystemdPstoreRun:
        archive = self.theirs.parent / "archive"
        return run_systemd_pstore(self.theirs, archive, unlink=unlink, archive_size=archive_size)

    def run_ours(self, *args: str, archive_size: str | None = None) -> OurRun:
        return run_ours(self.ours, self.ours.parent / "archive", *args, archive_size=archive_size)


def two_copies(tmp_path: Path, records: Sequence[FakeRecord]) -> Stores:
    """Write the store once, then copy it (bytes, modes, mtimes) for each tool."""
    original = write_store(tmp_path / "original", records)
    theirs, ours = tmp_path / "systemd-pstore" / "store", tmp_path / "pstore-archiver" / "store"
    for copy in (theirs, ours):
        copy.parent.mkdir()
        copy_tree(original, copy)
    return Stores(list(records), theirs, ours)


def as_tree(records: Iterable[FakeRecord]) -> dict[str, bytes]:
    return {r.name: r.data for r in records}


def utc_id(seconds: float) -> str:
    """The time part of an entry id (DESIGN §3)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def headers(text: bytes) -> list[str]:
    """The `Reason#N PartM` lines in a text, in order."""
    return [m.group(0).decode() for m in HEADER.finditer(text)]


def separators(text: bytes) -> list[str]:
    """v252's `<file name>:` lines that precede each part in its dmesg.txt."""
    return re.findall(r"^(dmesg-\S+):$", text.decode(), re.M)


def expected_log(parts: Iterable[FakeRecord]) -> bytes:
    """The parts of one dump, PartN first (oldest text), each without its header line."""
    bodies = []
    for record in parts:
        match = HEADER.match(record.data)
        assert match, f"{record.name} does not start with a dump header"
        bodies.append((int(match["part"]), record.data[match.end() + 1 :]))
    return b"".join(body for _, body in sorted(bodies, reverse=True))


def assert_dump_entry(
    ours: OurRun, entry_id: str, parts: Sequence[FakeRecord], *, synthetic: bool = True
) -> None:
    """The entry holds exactly these records byte-exact, and a dmesg.txt that is their log
    in order, without headers, nothing missing.  For synthetic logs also: the kernel
    timestamps never go back (real early-boot logs may: TSC recalibration)."""
    files = ours.entry_files(entry_id)
    assert set(files) == {r.name for r in parts} | {"dmesg.txt", "entry.json"}, ours.describe()
    assert {n: d for n, d in files.items() if n.startswith("dmesg-")} == as_tree(parts)
    log = files["dmesg.txt"]
    assert log == expected_log(parts)
    assert headers(log) == []
    stamps = [float(t) for t in KERNEL_TIME.findall(log)]
    assert stamps, "dmesg.txt has no kernel log lines"
    if synthetic:
        assert stamps == sorted(stamps), "dmesg.txt is not oldest line first"
    manifest = json.loads(files["entry.json"])
    assert (manifest["id"], manifest["complete"], manifest["missing_parts"]) == (entry_id, True, [])


def assert_record_entry(ours: OurRun, entry_id: str, record: FakeRecord) -> None:
    files = ours.entry_files(entry_id)
    assert set(files) == {record.name, "entry.json"}, ours.describe()
    assert files[record.name] == record.data


# --- the cases ---------------------------------------------------------------------------


def test_erst_oops_and_panic_of_one_boot(tmp_path: Path) -> None:
    """ERST ids of one boot share their high digits: v252 keys on id minus 6 digits; v257
    puts a run of consecutive ids together.  Either way both dumps land in one group."""
    stores = two_copies(tmp_path, seed_erst_store())
    oops, panic = stores.records[:2], stores.records[2:]
    ids = [f"dmesg-erst-63199863510558310{n}" for n in (45, 44, 43, 42, 41)]

    theirs = stores.run_theirs()
    assert (theirs.returncode, theirs.store) == (0, {}), theirs.describe()
    group = "6319986351055" if groups_by_id_digits() else "6319986351055831045"
    assert theirs.top_level() == [group], theirs.describe()
    merged = theirs.archive[f"{group}/dmesg.txt"]
    assert headers(merged) == [
        "Panic#2 Part3", "Panic#2 Part2", "Panic#2 Part1", "Oops#1 Part2", "Oops#1 Part1",
    ]  # fmt: skip  # both dumps in one file, header lines kept
    assert separators(merged) == (ids if groups_by_id_digits() else [])

    ours = stores.run_ours()
    assert (ours.returncode, ours.store) == (0, {}), ours.describe()
    assert ours.entries() == ["20160818T021500Z-erst-oops1", "20160818T021500Z-erst-panic2"]
    assert [e["id"] for e in ours.report["entries"]] == ours.entries()
    assert_dump_entry(ours, "20160818T021500Z-erst-oops1", oops)
    assert_dump_entry(ours, "20160818T021500Z-erst-panic2", panic)


def test_efi_dump_written_across_a_ten_second_boundary(tmp_path: Path) -> None:
    """Every EFI part carries the second it was written in; v252's group key is that second
    divided by ten, v257's the second itself, so one Panic whose parts straddle
    1700000109/1700000110 is split either way."""
    lines = log_lines(150, 1.0, "efi panic")
    records = efi_dump("Panic", 1, lines, 15, [1700000109] * 7 + [1700000110] * 8)
    stores = two_copies(tmp_path, records)

    theirs = stores.run_theirs()
    assert (theirs.returncode, theirs.store) == (0, {}), theirs.describe()
    if groups_by_id_digits():
        newer, older = "170000010", "170000011"
    else:
        newer, older = "1700000109/001", "1700000110/001"
    assert theirs.top_level() == [newer.split("/")[0], older.split("/")[0]], theirs.describe()
    assert headers(theirs.archive[f"{newer}/dmesg.txt"]) == [
        f"Panic#1 Part{n}" for n in range(7, 0, -1)
    ]
    assert headers(theirs.archive[f"{older}/dmesg.txt"]) == [
        f"Panic#1 Part{n}" for n in range(15, 7, -1)
    ]

    ours = stores.run_ours()
    assert (ours.returncode, ours.store) == (0, {}), ours.describe()
    assert ours.entries() == ["20231114T221509Z-efi-panic1"]
    assert_dump_entry(ours, "20231114T221509Z-efi-panic1", records)
    assert ours.entry_files("20231114T221509Z-efi-panic1")["dmesg.txt"] == b"".join(lines)


@pytest.mark.parametrize("backend", ["efi", "efi_pstore"])
def test_efi_oops_and_panic_in_one_second(tmp_path: Path, backend: str) -> None:
    """panic_on_oops: Oops#1 and Panic#2 written in the same second.  v252 interleaves their
    parts; `dmesg-efi_pstore-` (kernels >= 6.2) gets v252's generic rule, the same result.
    v257 keys EFI on second and count, so it keeps the two apart (header lines kept)."""
    second = 1700000001
    oops_lines = log_lines(30, 1.0, "before oops")
    panic_lines = [*oops_lines, *log_lines(30, 5.0, "after oops")]
    oops = efi_dump("Oops", 1, oops_lines, 3, [second] * 3, backend=backend)
    panic = efi_dump("Panic", 2, panic_lines, 3, [second] * 3, backend=backend)
    stores = two_copies(tmp_path, [*oops, *panic])

    theirs = stores.run_theirs()
    assert (theirs.returncode, theirs.store) == (0, {}), theirs.describe()
    if groups_by_id_digits():
        assert theirs.top_level() == ["170000000"], theirs.describe()
        assert headers(theirs.archive["170000000/dmesg.txt"]) == [
            "Panic#2 Part3", "Oops#1 Part3", "Panic#2 Part2", "Oops#1 Part2",
            "Panic#2 Part1", "Oops#1 Part1",
        ]  # fmt: skip  # one part of each dump in turn
    else:
        assert theirs.top_level() == ["1700000001"], theirs.describe()
        for count, reason in ((1, "Oops"), (2, "Panic")):
            log = theirs.archive[f"1700000001/00{count}/dmesg.txt"]
            assert headers(log) == [f"{reason}#{count} Part{n}" for n in (3, 2, 1)]

    ours = stores.run_ours()
    assert (ours.returncode, ours.store) == (0, {}), ours.describe()
    stamp = utc_id(second)
    assert ours.entries() == [f"{stamp}-{backend}-oops1", f"{stamp}-{backend}-panic2"]
    assert_dump_entry(ours, f"{stamp}-{backend}-oops1", oops)
    assert_dump_entry(ours, f"{stamp}-{backend}-panic2", panic)
    manifest = json.loads(ours.entry_files(f"{stamp}-{backend}-panic2")["entry.json"])
    assert manifest["backend"] == backend


def ramoops_boot(label: str, crash_time: float, mount_time: float) -> list[FakeRecord]:
    """One boot's ramoops records: a Panic in zone 0 and the console of the boot before."""
    panic = b"Panic#1 Part1\n" + b"".join(log_lines(20, 1.0, f"boot {label} panic"))
    console = b"".join(log_lines(10, 0.5, f"boot {label} console"))
    return [
        FakeRecord("dmesg-ramoops-0", panic, crash_time),
        FakeRecord("console-ramoops-0", console, mount_time),  # no record time: mount time
    ]


def test_ramoops_records_of_two_boots(tmp_path: Path) -> None:
    """ramoops ids are zone numbers, so every boot brings the same names again."""
    boot_a = ramoops_boot("A", 1700000000.25, 1700000100)
    boot_b = ramoops_boot("B", 1700086400.75, 1700086500)
    stores = two_copies(tmp_path, boot_a)
    theirs_a, ours_a = stores.run_theirs(), stores.run_ours()
    assert (theirs_a.returncode, ours_a.returncode) == (0, 0), theirs_a.describe()
    write_store(stores.theirs, boot_b)  # the next boot: the kernel shows boot B's records
    write_store(stores.ours, boot_b)

    theirs = stores.run_theirs()
    assert (theirs.returncode, theirs.store) == (0, {}), theirs.describe()
    replaced = {  # boot A's copies replaced (COPY_REPLACE)
        "console-ramoops-0": boot_b[1].data,
        "dmesg-ramoops-0": boot_b[0].data,
    }
    if groups_by_id_digits():
        assert theirs.archive == {
            **replaced,
            "dmesg.txt": b"dmesg-ramoops-0:\n" + boot_a[0].data,  # stale: boot A's text
        }, theirs.describe()
        assert f"{stores.theirs.parent}/archive/dmesg.txt: File exists" in theirs.stderr
    else:  # v257 ignores ramoops in its dmesg pass: no log, and boot A's panic is lost too
        assert theirs.archive == replaced, theirs.describe()
        assert all(boot_a[0].data not in data for data in theirs.archive.values())
    assert all(boot_a[1].data not in data for data in theirs.archive.values())  # lost

    ours = stores.run_ours()
    assert (ours.returncode, ours.store) == (0, {}), ours.describe()
    expected = {
        f"{utc_id(1700000000)}-ramoops-panic1": boot_a[0],
        f"{utc_id(1700000100)}-ramoops-console": boot_a[1],
        f"{utc_id(1700086400)}-ramoops-panic1": boot_b[0],
        f"{utc_id(1700086500)}-ramoops-console": boot_b[1],
    }
    assert ours.entries() == sorted(expected), ours.describe()
    for entry_id, record in expected.items():
        if record.name.startswith("dmesg-"):
            assert_dump_entry(ours, entry_id, [record])
        else:
            assert_record_entry(ours, entry_id, record)


def test_twelve_ramoops_dump_zones(tmp_path: Path) -> None:
    """12 zones after 11 oopses and a panic: zone n holds dump count n+1.  v252 has no key
    for ids of 6 digits or fewer, so all go to the root, joined in reverse *byte* order;
    v257 does not reassemble ramoops at all."""
    zones = [
        FakeRecord(
            f"dmesg-ramoops-{n}",
            f"{'Oops' if n < 11 else 'Panic'}#{n + 1} Part1\n".encode()
            + b"".join(log_lines(5, 10.0 * n, f"zone {n}")),
            1700000000 + 10 * n,
        )
        for n in range(12)
    ]
    stores = two_copies(tmp_path, zones)

    theirs = stores.run_theirs()
    assert (theirs.returncode, theirs.store) == (0, {}), theirs.describe()
    if groups_by_id_digits():
        assert theirs.top_level() == sorted([*(z.name for z in zones), "dmesg.txt"])
        counts = [int(h.split("#")[1].split()[0]) for h in headers(theirs.archive["dmesg.txt"])]
        assert counts == [10, 9, 8, 7, 6, 5, 4, 3, 12, 11, 2, 1], theirs.describe()
    else:  # v257: "Unknown backend", the raw files in the root and no log at all
        assert theirs.top_level() == sorted(z.name for z in zones), theirs.describe()

    ours = stores.run_ours()
    assert (ours.returncode, ours.store) == (0, {}), ours.describe()
    expected = [
        f"{utc_id(z.mtime)}-ramoops-{'oops' if n < 11 else 'panic'}{n + 1}"
        for n, z in enumerate(zones)
    ]
    assert ours.entries() == expected, ours.describe()  # name order is numeric order
    assert [e["id"] for e in ours.report["entries"]] == expected
    for entry_id, zone in zip(expected, zones):
        assert_dump_entry(ours, entry_id, [zone])


def test_archive_full(tmp_path: Path) -> None:
    """A 16 KiB tmpfs as the archive for both, then a second run with room (the same archive
    directory, on disk)."""
    stores = two_copies(tmp_path, seed_erst_store())
    original = as_tree(stores.records)

    theirs = stores.run_theirs(archive_size=ARCHIVE_FULL_SIZE)
    archived = {p.rsplit("/", 1)[-1] for p in theirs.archive if "/dmesg-erst-" in p}
    assert theirs.returncode == 0, theirs.describe()  # errors, yet success
    assert theirs.store and len(theirs.store) < len(original), theirs.describe()  # some unlinked
    assert set(theirs.store) | archived == set(original)
    copy_errors = [line for line in theirs.stderr.splitlines() if "copy_file_atomic" in line]
    assert copy_errors and not any("No space" in line for line in copy_errors)  # no errno
    # failed dmesg records are retried into the archive root, away from their group:
    assert any(f"{stores.theirs.parent}/archive/dmesg-erst-" in line for line in copy_errors)
    theirs_again = stores.run_theirs()  # now with room
    assert (theirs_again.returncode, theirs_again.store) == (0, {}), theirs_again.describe()
    kept = sorted(theirs.store)
    if groups_by_id_digits():
        assert "6319986351055/dmesg.txt" not in theirs.archive  # the log: not written
        assert "dmesg.txt: No space left on device" in theirs.stderr
        log = theirs_again.archive["6319986351055/dmesg.txt"]
        assert separators(log) == kept[::-1]  # only the records left after the first run
        assert len(headers(log)) < len(original)  # the other parts' text is in no dmesg.txt
    else:
        # v257 appends every part's text to the log, copied or not; the records it could
        # not copy go to a group of their own the next time, with their text logged again.
        first_log = theirs.archive["6319986351055831045/dmesg.txt"]
        assert len(headers(first_log)) == len(original), theirs.describe()
        assert theirs_again.top_level() == ["6319986351055831042", "6319986351055831045"]
        again_log = theirs_again.archive["6319986351055831042/dmesg.txt"]
        assert set(headers(again_log)) <= set(headers(first_log))  # the same text twice
        assert kept == sorted(
            p.rsplit("/", 1)[-1]
            for p in theirs_again.archive
            if p.startswith("6319986351055831042/dmesg-erst-")
        )

    archive = stores.ours.parent / "archive"
    ours = stores.run_ours(archive_size=ARCHIVE_FULL_SIZE)
    assert ours.returncode == 73, ours.describe()
    error = ours.report["error"]
    assert str(archive) in error and "(ENOSPC)" in error, error
    assert any(str(archive) in line and "ENOSPC" in line for line in ours.run.stderr.splitlines())
    # 16 KiB are four 4 KiB pages: the first entry (two records, dmesg.txt, entry.json)
    # fits, the second does not.  Its records are freed; the other dump's stay.
    assert ours.entries() == ["20160818T021500Z-erst-oops1"], ours.describe()
    assert ours.store == as_tree(stores.records[2:])
    assert {r["name"] for r in ours.report["records_left"]} == set(ours.store)
    assert not any(".staging-" in p for p in ours.archive)
    for name, data in original.items():
        if name not in ours.store:  # unlinked: its copy is in a published entry
            holders = [e for e in ours.entries() if ours.entry_files(e).get(name) == data]
            assert len(holders) == 1 and "entry.json" in ours.entry_files(holders[0]), name
        else:
            assert ours.store[name] == data

    ours_again = stores.run_ours()  # with room: the archive directory is now on disk
    assert (ours_again.returncode, ours_again.store) == (0, {}), ours_again.describe()
    assert ours_again.entries() == ["20160818T021500Z-erst-oops1", "20160818T021500Z-erst-panic2"]
    union = {}
    for entry_id in ours_again.entries():
        union.update({n: d for n, d in ours_again.entry_files(entry_id).items() if "-erst-" in n})
    assert union == original
    assert_dump_entry(ours_again, "20160818T021500Z-erst-oops1", stores.records[:2])
    assert_dump_entry(ours_again, "20160818T021500Z-erst-panic2", stores.records[2:])


def inodes(root: Path) -> dict[str, int]:
    """Inode numbers of everything in the archive but its top-level dot files: a file
    written again (temporary file renamed over it) gets a new one."""
    return {
        p.relative_to(root).as_posix(): p.stat().st_ino
        for p in root.rglob("*")
        if not p.relative_to(root).as_posix().startswith(".")
    }


def test_unlink_no_run_twice(tmp_path: Path) -> None:
    """`Unlink=no` / `run --no-unlink`, then the next boot: the records are still there."""
    records = fixture_records("efi-panic")  # a real capture: 15 parts of one Panic
    stores = two_copies(tmp_path, records)
    original = as_tree(records)
    their_archive = stores.theirs.parent / "archive"

    first = stores.run_theirs(unlink=False)
    assert (first.returncode, first.store) == (0, original), first.describe()
    before = inodes(their_archive)
    second = stores.run_theirs(unlink=False)
    assert (second.returncode, second.store) == (0, original), second.describe()
    after = inodes(their_archive)
    raw = [p for p in before if "/dmesg-efi-" in p]
    assert len(raw) == len(records)
    assert all(after[p] != before[p] for p in raw)  # every record copied again
    [log_path] = [p for p in first.archive if p.endswith("/dmesg.txt")]
    if groups_by_id_digits():
        assert after[log_path] == before[log_path]  # not rewritten:
        assert f"{their_archive}/{log_path}: File exists" in second.stderr
    else:  # v257 appends to the log again: every part's text twice
        assert second.archive[log_path] == first.archive[log_path] * 2, second.describe()

    ours = stores.run_ours("--no-unlink")
    assert (ours.returncode, ours.store) == (0, original), ours.describe()
    [entry_id] = ours.entries()
    assert entry_id == f"{utc_id(records[0].mtime)}-efi-panic1"
    assert_dump_entry(ours, entry_id, records, synthetic=False)
    our_archive = stores.ours.parent / "archive"
    before = inodes(our_archive)
    again = stores.run_ours("--no-unlink")
    assert (again.returncode, again.store) == (0, original), again.describe()
    assert again.report["entries"] == [] and again.report["records_archived"] == []
    assert sorted(again.report["records_already_archived"]) == sorted(original)
    assert (again.entry_tree(), inodes(our_archive)) == (ours.entry_tree(), before)  # no change


def test_record_over_four_mib(tmp_path: Path) -> None:
    """A 5 MB console record (a large ramoops console zone)."""
    line_block = b"".join(log_lines(1000, 0.0, "console"))
    data = (line_block * (5_000_000 // len(line_block) + 1))[:5_000_000]
    record = FakeRecord("console-ramoops-0", data, 1700000100)
    stores = two_copies(tmp_path, [record])

    theirs = stores.run_theirs()
    assert theirs.returncode == 0, theirs.describe()
    assert (theirs.archive, theirs.store) == ({}, {record.name: data})  # skipped, left behind
    assert f"Failed to read file {stores.theirs}/{record.name}, skipping: File too large" in (
        theirs.stderr
    )

    ours = stores.run_ours()
    assert (ours.returncode, ours.store) == (0, {}), ours.describe()
    assert ours.entries() == [f"{utc_id(record.mtime)}-ramoops-console"]
    assert_record_entry(ours, ours.entries()[0], record)
