"""`pstore-archiver run` end to end, on real directories (DESIGN §1, §3, §5)."""

from __future__ import annotations

import fcntl
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

import pytest
from stores import (
    FakeRecord,
    copy_fixture,
    fixture_dir,
    ramoops_console_pmsg_store,
    seed_erst_store,
    write_store,
)

import pstore_archiver
from pstore_archiver.archive import Archive, KnownRecord
from pstore_archiver.cli import build_parser, main, parse_run_words
from pstore_archiver.errors import LockHeld
from pstore_archiver.journal import Sink
from pstore_archiver.manifest import Origin
from pstore_archiver.records import parse_record
from pstore_archiver.retention import Limits
from pstore_archiver.service import RunOptions, run_once, split_found
from pstore_archiver.store import Found, Identity, Store

GOLDEN_MANIFEST = Path(__file__).resolve().parent / "data" / "manifest-schema-1.json"


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "pstore", tmp_path / "archive"


def run(store: Path, archive: Path, *args: str) -> int:
    return main(["--source", str(store), "--archive", str(archive), "run", *args])


def entries(archive: Path) -> list[str]:
    return sorted(p.name for p in archive.iterdir() if not p.name.startswith("."))


def manifest(archive: Path, entry: str) -> dict[str, object]:
    document: dict[str, object] = json.loads((archive / entry / "entry.json").read_text())
    return document


def test_real_erst_capture_is_archived_byte_exact_and_reassembled(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    copy_fixture("erst-panic", store)
    assert run(store, archive) == 0
    assert list(store.iterdir()) == []
    [entry] = entries(archive)
    assert entry == "20261126T193507Z-erst-panic1"
    for original in sorted(fixture_dir("erst-panic").glob("dmesg-*")):
        copy = archive / entry / original.name
        assert copy.read_bytes() == original.read_bytes()
        assert copy.stat().st_mtime == 1795721707.0  # the crash time, as in the store
        assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert stat.S_IMODE((archive / entry).stat().st_mode) == 0o700
    assert stat.S_IMODE(archive.stat().st_mode) == 0o700
    lines = (archive / entry / "dmesg.txt").read_bytes().splitlines()
    assert lines[0].startswith(b"<5>[    0.000000] Linux version 6.1.0-56-amd64")
    assert any(b"Kernel panic - not syncing: sysrq triggered crash" in line for line in lines[-60:])
    assert b"] Kernel Offset: " in lines[-1]  # the last line the panicking kernel printed
    document = manifest(archive, entry)
    assert (document["kind"], document["backend"], document["reason"], document["count"]) == (
        "dmesg",
        "erst",
        "Panic",
        1,
    )
    assert document["crash_time"] == "2026-11-26T19:35:07.000000Z"
    assert document["complete"] is True


def test_manifest_has_every_schema_key(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    copy_fixture("ramoops-panic", store)
    assert run(store, archive) == 0
    [entry] = entries(archive)
    document = manifest(archive, entry)
    golden = json.loads(GOLDEN_MANIFEST.read_bytes())  # tests/test_manifest.py pins it whole
    assert list(document) == list(golden)  # every key of schema 1, in its order
    records = document["records"]
    assert isinstance(records, list)
    [record] = records
    assert list(record) == list(golden["records"][0])
    assert record["mtime"] == "2026-11-26T19:42:31.477213Z"  # ramoops keeps microseconds


def test_seed_erst_store_gives_two_entries(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    write_store(store, seed_erst_store())
    assert run(store, archive) == 0
    assert entries(archive) == ["20160818T021500Z-erst-oops1", "20160818T021500Z-erst-panic2"]


def test_run_imports_none_of_typing_openssl_pathlib_contextlib_abc_json(
    dirs: tuple[Path, Path],
) -> None:
    """Off run's start-up (issue 11): `typing` (3 ms, typing_lite), hashlib's OpenSSL
    (3 ms, records' builtin SHA-256), pathlib (5 ms: it imports urllib.parse; paths
    are strings on the run path), contextlib (0.6 ms: errors.ignoring), collections.abc
    (0.15 ms: imported for annotations only, ruff's TC003) and json (1.9 ms: json_lite),
    also when a dump is analysed, and into an archive with an index and manifests."""
    store, archive = dirs
    write_store(store, ramoops_console_pmsg_store())
    assert run(store, archive) == 0
    (archive / ".index.json").unlink()  # read the manifests, then write the index again
    write_store(store, seed_erst_store())
    code = (
        "import sys; from pstore_archiver import cli, journal;"
        f" journal.JOURNAL_SOCKET = {str(store / 'no-journald-here')!r};"
        " cli.main(sys.argv[1:])"
    )
    argv = ["--source", str(store), "--archive", str(archive), "run"]
    before = imported_modules("pass")
    imported = imported_modules(code, *argv)
    assert "pstore_archiver.analysis" in imported  # a dump was analysed
    assert len(entries(archive)) == 5  # three from the first run
    assert (
        sorted(
            (imported - before)
            & {"typing", "hashlib", "_hashlib", "pathlib", "contextlib", "collections.abc", "json"}
        )
        == []
    )


def imported_modules(code: str, *argv: str) -> set[str]:
    """The modules `python -S -c CODE ARGV...` imports, from `-X importtime`.  Without
    site, as an installed build runs: the development venv's editable finder (a .pth
    file) would import pathlib and importlib.util (and on 3.9 typing) before our code;
    the package and its dependencies are found through PYTHONPATH instead."""
    package_root = os.path.dirname(os.path.dirname(pstore_archiver.__file__))
    paths = sysconfig.get_paths()
    search = [package_root, paths["purelib"], paths["platlib"]]
    done = subprocess.run(
        [sys.executable, "-S", "-X", "importtime", "-c", code, *argv],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(search)},
    )
    assert done.returncode == 0, done.stderr
    return {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }


def test_rerun_finds_nothing_and_creates_nothing(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    copy_fixture("erst-oops-panic", store)
    assert run(store, archive) == 0
    before = entries(archive)
    assert run(store, archive) == 0
    assert entries(archive) == before


def test_ramoops_zone_reused_by_the_next_boot_never_overwrites(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    write_store(store, [FakeRecord("dmesg-ramoops-0", b"Panic#1 Part1\nboot A\n", 1700000000)])
    assert run(store, archive) == 0
    write_store(store, [FakeRecord("dmesg-ramoops-0", b"Panic#1 Part1\nboot B\n", 1700000000)])
    assert run(store, archive) == 0
    assert entries(archive) == [
        "20231114T221320Z-ramoops-panic1",
        "20231114T221320Z-ramoops-panic1-2",
    ]
    texts = {(archive / e / "dmesg-ramoops-0").read_bytes() for e in entries(archive)}
    assert texts == {b"Panic#1 Part1\nboot A\n", b"Panic#1 Part1\nboot B\n"}


def run_in_boot(store: Path, archive: Path, boot_id: str) -> tuple[int, str]:
    """One run as if in the boot `boot_id`; returns (left behind, what was told)."""
    stream = io.StringIO()
    report = run_once(
        Store(store),
        Archive(archive),
        Limits(),
        RunOptions(),
        Sink(stream=stream),
        Origin(0, boot_id, None, None),
    )
    return len(report.left), stream.getvalue()


def mount_table(tmp_path: Path, store: Path, backend: str) -> Store:
    """The store as the kernel would show it mounted: a mountinfo line with `pstore` at
    `store`, and the pstore module's backend parameter reading `backend`."""
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:20 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
        f"40 22 0:35 / {os.path.realpath(store)} rw,nosuid shared:20 - pstore pstore rw\n"
    )
    parameter = tmp_path / "backend"
    parameter.write_text(backend + "\n")
    return Store(store, str(parameter), str(mountinfo))


@pytest.mark.parametrize(("backend", "warned"), [("(null)", True), ("erst", False)])
def test_a_pstore_mount_without_a_backend_is_reported(
    dirs: tuple[Path, Path], tmp_path: Path, backend: str, warned: bool
) -> None:
    store, archive = dirs
    copy_fixture("erst-panic", store)
    source = mount_table(tmp_path, store, backend)
    assert source.is_pstore_mount() and source.backend() == (None if warned else "erst")
    stream = io.StringIO()
    report = run_once(
        source,
        Archive(archive),
        Limits(),
        RunOptions(),
        Sink(stream=stream),
        Origin(0, None, None, None),
    )
    told = stream.getvalue()
    assert ("no pstore backend is registered" in told) is warned
    assert (f"({tmp_path / 'backend'} reads (null))" in told) is warned
    assert ("MESSAGE_ID=d6cd2ca7c7284a5dad7fe0227e215e10" in told) is warned
    assert report.left == [] and len(report.entries) == 1  # the records are archived all the same


def test_a_store_that_is_no_pstore_mount_is_not_asked_for_its_backend(
    dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    store, _ = dirs
    mounted = mount_table(tmp_path, tmp_path / "elsewhere", "(null)")
    assert not Store(store, mounted.backend_parameter, mounted.mountinfo).is_pstore_mount()


def test_record_that_comes_back_is_not_archived_twice(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    copy_fixture("erst-panic", store)
    run_in_boot(store, archive, "boot1")
    copy_fixture("erst-panic", store)  # the backend's erase failed (§3.6)
    left, told = run_in_boot(store, archive, "boot2")
    assert left == 0 and list(store.iterdir()) == []
    assert len(entries(archive)) == 1
    assert "came back after being archived in 20261126T193507Z-erst-panic1" in told
    assert "MESSAGE_ID=b01d3d22e0e04838ab32249b70516a78" in told


def test_interrupted_run_of_the_same_boot_finishes_quietly(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    copy_fixture("erst-panic", store)
    run_in_boot(store, archive, "boot1")
    copy_fixture("erst-panic", store)  # killed after publish, before unlink
    staging = archive / f".pstore-archiver-staging-{'0' * 32}"
    staging.mkdir()  # killed while staging
    (staging / "dmesg-erst-7712566004282294273").write_bytes(b"half a co")
    left, told = run_in_boot(store, archive, "boot1")
    assert left == 0 and list(store.iterdir()) == []
    assert entries(archive) == ["20261126T193507Z-erst-panic1"]
    assert not staging.exists()
    assert "came back" not in told


def test_dry_run_touches_nothing(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, archive = dirs
    copy_fixture("erst-oops-panic", store)
    assert run(store, archive, "--dry-run") == 0
    assert not archive.exists()
    assert len(list(store.iterdir())) == 4
    out = capsys.readouterr().out
    assert "would archive 2 record(s) as" in out and "-erst-panic2" in out


def test_no_unlink_archives_and_keeps_the_store(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    copy_fixture("erst-oops-panic", store)
    assert run(store, archive, "--no-unlink") == 0
    assert len(list(store.iterdir())) == 4
    assert len(entries(archive)) == 2
    assert run(store, archive, "--no-unlink") == 0  # a rerun adds nothing
    assert len(entries(archive)) == 2


def test_json_report(dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    store, archive = dirs
    copy_fixture("erst-oops-panic", store)
    capsys.readouterr()
    assert run(store, archive, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert [e["id"] for e in report["entries"]] == [
        "20261126T193604Z-erst-oops1",
        "20261126T193604Z-erst-panic2",
    ]
    assert len(report["records_archived"]) == 4 and len(report["records_unlinked"]) == 4
    assert report["records_left"] == [] and report["bytes_freed"] == 17759 + 12817 + 17759 + 15273


def test_missing_archive_parent_is_exit_73_and_nothing_unlinked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = copy_fixture("erst-panic", tmp_path / "pstore")
    assert run(store, tmp_path / "no" / "such" / "archive") == 73
    assert len(list(store.iterdir())) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}/no/such/archive: cannot create the archive directory: " in err
    assert "(ENOENT)" in err


def test_lock_held_is_exit_75(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    copy_fixture("erst-panic", store)
    archive.mkdir()
    with open(archive / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert run(store, archive) == 75
    assert len(list(store.iterdir())) == 2


def test_archive_lock_closes_what_it_opened(tmp_path: Path) -> None:
    """`Archive.locked` is a class, not a @contextmanager: its fds are closed on the way
    out, when the lock is held by another and when the body raises."""
    archive = Archive(tmp_path / "archive")
    before = sorted(os.listdir("/proc/self/fd"))
    with archive.locked() as dir_fd:
        assert os.path.samefile(f"/proc/self/fd/{dir_fd}", archive.path)
        with open(tmp_path / "archive" / ".lock", "w") as lock, pytest.raises(BlockingIOError):
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(tmp_path / "archive" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(LockHeld), archive.locked():
            pass
    with pytest.raises(RuntimeError), archive.locked():
        raise RuntimeError("in the body")
    assert sorted(os.listdir("/proc/self/fd")) == before


def test_invalid_config_is_exit_78_and_touches_nothing(
    dirs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, archive = dirs
    copy_fixture("erst-panic", store)
    config = tmp_path / "pstore-archiver.toml"
    config.write_text("[retention]\nmax_uze = '1G'\n")
    argv = ["--config", str(config), "--source", str(store), "--archive", str(archive), "run"]
    assert main(argv) == 78
    assert not archive.exists() and len(list(store.iterdir())) == 2
    assert f"{config}: retention.max_uze: unknown key" in capsys.readouterr().err


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[list[Path]]:
    """Files made immutable with chattr: unlink then fails with EPERM, as on nvram (§3.6)."""
    marked: list[Path] = []
    yield marked
    for path in marked:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_unlink_refused_keeps_the_copy_and_reports(
    dirs: tuple[Path, Path], immutable: list[Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, archive = dirs
    copy_fixture("erst-panic", store)
    record = store / "dmesg-erst-7712566004282294273"
    if (
        shutil.which("chattr") is None
        or subprocess.run(
            ["chattr", "+i", str(record)], capture_output=True, check=False
        ).returncode
    ):
        pytest.skip("chattr +i is not supported here (needs root and ext4/xfs/btrfs)")
    immutable.append(record)
    assert run(store, archive) == 1
    assert [p.name for p in store.iterdir()] == [record.name]
    [entry] = entries(archive)
    assert (archive / entry / record.name).read_bytes() == record.read_bytes()
    err = capsys.readouterr().err
    assert f"{record}: archived, but unlink failed: Operation not permitted (EPERM)" in err
    assert run(store, archive) == 1  # reported again, never archived twice
    assert len(entries(archive)) == 1


def test_links_and_special_files_are_reported_not_followed(
    dirs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store, archive = dirs
    copy_fixture("erst-panic", store)
    secret = tmp_path / "secret"
    secret.write_text("not a record")
    os.symlink(secret, store / "dmesg-erst-1")
    os.mkfifo(store / "console-ramoops-0")
    assert run(store, archive) == 1
    assert sorted(p.name for p in store.iterdir()) == ["console-ramoops-0", "dmesg-erst-1"]
    err = capsys.readouterr().err
    assert "dmesg-erst-1: kept in the store: a symbolic link, not a record: not followed" in err
    assert "console-ramoops-0: kept in the store: not a regular file" in err
    assert not any("secret" in p.name for p in archive.rglob("*"))


def test_empty_and_binary_records_are_archived_as_they_are(dirs: tuple[Path, Path]) -> None:
    store, archive = dirs
    write_store(
        store,
        [
            FakeRecord("dmesg-erst-5", b"", 1700000000),
            FakeRecord("pmsg-ramoops-0", bytes(range(256)), 1700000001),
            FakeRecord("strange-record", b"\xff\x00", 1700000002),
        ],
    )
    assert run(store, archive) == 0
    assert entries(archive) == [
        "20231114T221320Z-erst-dmesg",
        "20231114T221321Z-ramoops-pmsg",
        "20231114T221322Z-unknown-unknown",
    ]
    assert (archive / "20231114T221320Z-erst-dmesg" / "dmesg-erst-5").read_bytes() == b""
    assert (archive / "20231114T221321Z-ramoops-pmsg" / "pmsg-ramoops-0").read_bytes() == bytes(
        range(256)
    )


def test_messages_go_to_stderr_without_journald(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, archive = dirs
    copy_fixture("erst-panic", store)
    assert run(store, archive) == 0
    err = capsys.readouterr().err
    assert (
        "<2>pstore-archiver: Kernel Panic#1 from erst archived as 20261126T193507Z-erst-panic1"
        in err
    )
    assert "PSTORE_ENTRY=20261126T193507Z-erst-panic1" in err
    assert "<6>pstore-archiver: pstore run: 1 entries created, 2 records archived" in err


def test_a_part_that_cannot_be_read_leaves_a_marked_incomplete_entry(
    dirs: tuple[Path, Path],
) -> None:
    """The chosen behaviour when one part cannot be read (tests/test_faults.py ACCEPTED):
    the rest is archived at once, marked incomplete, and the late part gets its own entry."""
    store, archive = dirs
    copy_fixture("erst-panic", store)
    part2 = store / "dmesg-erst-7712566004282294274"
    data = part2.read_bytes()
    part2.unlink()
    os.mkfifo(part2)  # unreadable as a record: kept in the store, reported
    assert run(store, archive) == 1
    [entry] = entries(archive)
    document = manifest(archive, entry)
    assert document["complete"] is True  # Part1 alone: nothing above it is known
    part2.unlink()
    write_store(store, [FakeRecord(part2.name, data, 1795721707)])
    assert run(store, archive) == 0
    assert entries(archive) == [entry, f"{entry}-2"]
    late = manifest(archive, f"{entry}-2")
    assert (late["complete"], late["missing_parts"]) == (False, [1])
    assert (
        (archive / f"{entry}-2" / "dmesg.txt")
        .read_bytes()
        .endswith(b"[pstore-archiver: Part 1 missing]\n")
    )


def test_a_large_batch_is_archived_whole(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    store, archive = dirs
    zones = [
        FakeRecord(f"dmesg-ramoops-{z}", f"Panic#{z + 1} Part1\nzone {z}\n".encode(), 1700000000)
        for z in range(100)  # a batch made durable by one syncfs
    ]
    write_store(store, zones)
    assert run(store, archive) == 0
    assert list(store.iterdir()) == []
    assert len(entries(archive)) == 100
    for z in (0, 63, 64, 99):
        entry = f"20231114T221320Z-ramoops-panic{z + 1}"
        assert (archive / entry / "dmesg.txt").read_bytes() == f"zone {z}\n".encode()
    told = capsys.readouterr().err
    assert told.count("MESSAGE_ID=c060af52e3f04cf3bfa23f0f29a38cb5") == 100


RUN_COMMAND_LINES = [
    ["run"],
    ["run", "--json", "--dry-run", "--no-unlink", "--json"],
    ["--source", "/s", "--archive=/a", "--config", "c.toml", "run", "--no-unlink"],
    ["--source", "/s", "--source=/t", "run"],
    ["--source=", "--config=", "run"],
    ["--source", "run", "run"],
    ["--source=a=b", "run", "--dry-run"],
]
NOT_FAST = [
    [],
    ["run", "--help"],
    ["--version"],
    ["run", "--dry"],  # no abbreviations (allow_abbrev=False): argparse says so
    ["run", "--", "x"],
    ["run", "--json=yes"],
    ["--source", "-x", "run"],
    ["--source"],
    ["--sour", "/s", "run"],
    ["list", "run"],
    ["import", "--dry-run"],
    ["--source", "/s"],
]


@pytest.mark.parametrize("words", RUN_COMMAND_LINES)
def test_the_run_command_line_is_read_as_argparse_reads_it(words: list[str]) -> None:
    fast = parse_run_words(words)
    assert fast is not None
    assert vars(fast) == vars(build_parser().parse_args(words))


@pytest.mark.parametrize("words", NOT_FAST)
def test_anything_else_is_left_to_argparse(words: list[str]) -> None:
    assert parse_run_words(words) is None


def test_dry_run_and_run_agree_on_what_is_known_by_name_and_bytes(
    dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """A record named like an archived one but with other bytes is new to both."""
    store, archive = dirs
    write_store(store, [FakeRecord("dmesg-ramoops-0", b"Panic#1 Part1\nboot A\n", 1700000000)])
    assert run(store, archive, "--no-unlink") == 0
    (store / "dmesg-ramoops-0").chmod(0o644)
    write_store(store, [FakeRecord("console-ramoops-0", b"console\n", 1700000000)])
    capsys.readouterr()
    assert run(store, archive, "--dry-run", "--json") == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["records_already_archived"] == ["dmesg-ramoops-0"]
    assert [e["records"] for e in planned["entries"]] == [["console-ramoops-0"]]
    (store / "dmesg-ramoops-0").write_bytes(b"Panic#1 Part1\nboot B\n")
    assert run(store, archive, "--dry-run", "--json") == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["records_already_archived"] == []
    assert sorted(r for e in planned["entries"] for r in e["records"]) == [
        "console-ramoops-0",
        "dmesg-ramoops-0",
    ]
    assert run(store, archive, "--json") == 0
    done = json.loads(capsys.readouterr().out)
    assert sorted(done["records_archived"]) == sorted(
        r for e in planned["entries"] for r in e["records"]
    )
    assert len(entries(archive)) == 3


def found_record(origin: str, data: bytes) -> Found:
    name = origin.rsplit("/", 1)[-1]
    return Found(parse_record(name, data, 0, origin), f"/s/{origin}", Identity(0, 0, 0, 0, 0))


def test_split_found_by_name_and_bytes() -> None:
    found = [
        found_record("dmesg-erst-1", b"Panic#1 Part1\nA\n"),
        found_record("entry.json", b"{}"),
        found_record("dmesg-erst-2", b"Panic#1 Part1\nB\n"),
        found_record("k/dmesg-erst-1", b"Panic#1 Part1\nA\n"),  # a copy (import)
    ]
    known = {
        ("dmesg-erst-2", found[2].record.sha256): KnownRecord("e2", "boot"),
        ("dmesg-erst-1", "0" * 64): KnownRecord("e1", "boot"),  # the same name, other bytes
    }
    split = split_found(found, known)
    assert split.reserved == [found[1]]
    assert split.copies == {"dmesg-erst-1": [found[3]]}
    assert split.candidates == [(found[0], None), (found[2], KnownRecord("e2", "boot"))]


def program(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python ARGS...` with `config` as the configuration, no journald stream."""
    config.touch()
    env = {**os.environ, "PSTORE_ARCHIVER_CONFIG": str(config)}
    env.pop("JOURNAL_STREAM", None)
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, check=False
    )


def test_the_program_leaves_early_with_its_output_and_status(dirs: tuple[Path, Path]) -> None:
    """`leave` skips the interpreter's shutdown: what was printed still arrives, whole,
    and the exit status is the run's."""
    store, archive = dirs
    write_store(store, seed_erst_store())
    where = ["--source", str(store), "--archive", str(archive)]
    config = store.parent / "empty.toml"
    done = program(config, "-m", "pstore_archiver", *where, "run", "--json")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["records_unlinked"]) == 5
    assert "pstore run: 2 entries created" in done.stderr
    (store / "dmesg-erst-1").mkdir()  # not a record: left where it is, exit 1
    assert program(config, "-m", "pstore_archiver", *where, "run").returncode == 1


def test_a_profiled_run_still_writes_its_profile(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    """Under cProfile (as bench/run profiles it) the program exits the ordinary way, so
    the profiler writes its file."""
    store, archive = dirs
    write_store(store, seed_erst_store())
    out = tmp_path / "run.prof"
    where = ["--source", str(store), "--archive", str(archive)]
    profiled = ["-m", "cProfile", "-o", str(out), "-m", "pstore_archiver", *where, "run"]
    done = program(tmp_path / "empty.toml", *profiled)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0
