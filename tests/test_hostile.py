"""Issue 9: hostile records, paths and archives never stop a run.

The promise, checked class by class (each table holds the issue's example and more of its
kind): every record is archived byte-exact and unlinked, or left in the store with a
reason; no run and no query ends in a traceback; exit codes are the README's; nothing the
program did not create is deleted, moved or rewritten; a record is unlinked only on
evidence read from the archive itself, and only the very file that was read.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from stores import FakeRecord, write_store

from pstore_archiver import archive as archive_module
from pstore_archiver import config as config_module
from pstore_archiver.cli import main
from pstore_archiver.dumps import GAP_LINES
from pstore_archiver.records import MAX_PART

TIME = 1_700_000_000
OK = FakeRecord("dmesg-erst-6319986351055831041", b"Panic#1 Part1\n<0>[ 1.0] fine\n", TIME)


class Ran:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err


def pa(capsys: pytest.CaptureFixture[str], *argv: str) -> Ran:
    """The CLI in-process; a traceback fails the test by itself."""
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def run(capsys: pytest.CaptureFixture[str], store: Path, archive: Path, *args: str) -> Ran:
    return pa(capsys, "--source", str(store), "--archive", str(archive), "run", *args)


def entries(archive: Path) -> list[str]:
    return sorted(p.name for p in archive.iterdir() if not p.name.startswith("."))


def manifest(archive: Path, entry: str) -> Any:
    return json.loads((archive / entry / "entry.json").read_bytes())


def archived_copies(archive: Path, name: str) -> list[bytes]:
    return [
        (archive / e / name).read_bytes() for e in entries(archive) if (archive / e / name).exists()
    ]


# --- 1. one record never stops the run: bounded work per record ------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"Oops#1 Part999999999\nx\n",  # a billion missing-part markers
        b"Oops#1 Part3000000\nx\n",  # a 29-byte record became a 139 MB entry
        f"Oops#1 Part{MAX_PART + 1}\nx\n".encode(),  # just beyond what a kernel writes
        b"Oops#1 Part0\nx\n",  # parts start at 1 (kernel-pstore-format.md 6.1)
        b"Oops#" + b"9" * 5000 + b" Part1\nx\n",  # beyond Python's int-parsing limit
        b"Oops#2147483648 Part1\nx\n",  # beyond a C int (%d)
        b"Oops#-2147483649 Part1\nx\n",
        b"O" * 40 + b"#1 Part1\nx\n",  # a reason no kernel writes
        b"Panic: Total 99999999999 times\nPanic#1 Part1\nx\n",  # pstore_blk's line, beyond int
    ],
    ids=lambda d: d[:24].decode(errors="replace"),
)
def test_an_implausible_header_is_archived_as_it_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, data: bytes
) -> None:
    store, archive = tmp_path / "s", tmp_path / "a"
    odd = FakeRecord("dmesg-erst-6319986351055831042", data, TIME)
    write_store(store, [OK, odd])
    done = run(capsys, store, archive)
    assert done.code == 0, done.err
    assert list(store.iterdir()) == []
    assert archived_copies(archive, odd.name) == [data]
    [entry] = [e for e in entries(archive) if (archive / e / odd.name).exists()]
    document = manifest(archive, entry)
    assert document["reason"] is None and document["records"][0]["part"] is None
    assert sum(f.stat().st_size for f in (archive / entry).iterdir()) < len(data) + 4096
    assert (archive / ".index.json").stat().st_size < 16384


def test_a_large_gap_is_one_line_and_a_bounded_manifest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, archive = tmp_path / "s", tmp_path / "a"
    parts = [
        FakeRecord(
            f"dmesg-erst-{(1471486490 << 32) + n}", f"Panic#1 Part{part}\n{part}\n".encode(), TIME
        )
        for n, part in enumerate([1, 2, MAX_PART], start=1)
    ]
    write_store(store, parts)
    assert run(capsys, store, archive).code == 0
    [entry] = entries(archive)
    text = (archive / entry / "dmesg.txt").read_bytes()
    marker = f"[pstore-archiver: Parts 3-{MAX_PART - 1} missing ({MAX_PART - 3} parts)]"
    assert text == f"{MAX_PART}\n{marker}\n2\n1\n".encode()
    document = manifest(archive, entry)
    assert document["complete"] is False
    assert document["missing_count"] == MAX_PART - 3
    assert document["missing_parts"] == list(range(3, 3 + 64))
    assert (archive / entry / "entry.json").stat().st_size < 4096


def test_a_short_gap_is_one_line_a_part(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    store, archive = tmp_path / "s", tmp_path / "a"
    last = GAP_LINES + 2  # Parts 2..GAP_LINES+1 missing: each on its own line
    parts = [
        FakeRecord(
            f"dmesg-erst-{(1471486490 << 32) + n}", f"Panic#1 Part{part}\n{part}\n".encode(), TIME
        )
        for n, part in enumerate([1, last], start=1)
    ]
    write_store(store, parts)
    assert run(capsys, store, archive).code == 0
    [entry] = entries(archive)
    text = (archive / entry / "dmesg.txt").read_text()
    assert [f"[pstore-archiver: Part {p} missing]" for p in range(last - 1, 1, -1)] == [
        line for line in text.splitlines() if line.startswith("[")
    ]


def test_a_decompression_bomb_is_cut_and_the_record_kept(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(b"Panic#1 Part1\n" + b"A" * (256 << 20)) + compressor.flush()
    store, archive = tmp_path / "s", tmp_path / "a"
    bomb = FakeRecord("dmesg-efi-170000000001001.enc.z", data, TIME)
    write_store(store, [bomb])
    assert run(capsys, store, archive).code == 0
    [entry] = entries(archive)
    assert (archive / entry / bomb.name).read_bytes() == data  # the raw record, byte-exact
    text = (archive / entry / "dmesg.txt").read_bytes()
    assert len(text) <= 3 << 20 + 200  # 3 x max(size, 1 MiB): kernel-pstore-format.md 1.5
    assert text.endswith(
        f"[pstore-archiver: {bomb.name}: decompressed text cut at {3 << 20} bytes]\n".encode()
    )
    [record] = manifest(archive, entry)["records"]
    assert (record["decoded"], record["truncated"]) == (True, True)


# --- 2. nothing that is not the program's own is touched -------------------------------------


FOREIGN_FILES = ["report.tmp", ".report.tmp", ".index.json.tmp", ".pstore-archiver-tmp-x"]
FOREIGN_DIRS = [".staging-x", ".removing-x", ".pstore-archiver-staging-123", "notes"]


def test_names_that_are_not_the_programs_own_are_left_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, archive = tmp_path / "s", tmp_path / "a"
    archive.mkdir()
    for name in FOREIGN_FILES:
        (archive / name).write_text("keep\n")
    for name in FOREIGN_DIRS:
        (archive / name).mkdir()
        (archive / name / "inside").write_text("keep\n")
    ours = f".pstore-archiver-staging-{'ab' * 16}"  # what an interrupted run leaves
    (archive / ours).mkdir()
    (archive / ours / OK.name).write_bytes(b"half")
    link = f".pstore-archiver-removing-{'cd' * 16}"
    os.symlink(tmp_path / "elsewhere", archive / link)  # our name, but not our kind of file
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x").write_text("keep\n")
    write_store(store, [OK])
    done = run(capsys, store, archive)
    assert done.code == 0, done.err
    assert not (archive / ours).exists()
    assert all((archive / name).read_text() == "keep\n" for name in FOREIGN_FILES)
    assert all((archive / name / "inside").read_text() == "keep\n" for name in FOREIGN_DIRS)
    assert (archive / link).is_symlink() and (tmp_path / "elsewhere" / "x").exists()
    assert f"removed {ours}" in done.err


# What the error says for each case of the test below.
PATH_ERRORS = {
    "empty-source": "source.path is empty",
    "empty-archive": "archive.path is empty",
    "equal": "are the same directory",
    "archive-inside": "is inside source.path",
    "source-inside": "is inside archive.path",
    "via-symlink": "is inside source.path",
}


@pytest.mark.parametrize("how", list(PATH_ERRORS))
@pytest.mark.parametrize("where", ["command line", "file", "environment"])
def test_empty_equal_or_nested_paths_are_configuration_errors(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    where: str,
) -> None:
    store = tmp_path / "s"
    write_store(store, [OK])
    (tmp_path / "link").symlink_to(store)
    source, archive = {
        "empty-source": ("", str(tmp_path / "a")),
        "empty-archive": (str(store), ""),
        "equal": (str(store), str(store) + "/"),
        "archive-inside": (str(store), str(store / "a")),
        "source-inside": (str(store), str(tmp_path)),
        "via-symlink": (str(store), str(tmp_path / "link" / "a")),
    }[how]
    monkeypatch.chdir(store)  # `--source ""` once made the current directory the store
    before = sorted(os.listdir(store))
    if where == "command line":
        argv = ["--source", source, "--archive", archive]
    else:
        config = tmp_path / "c.toml"
        config.write_text(
            f"[source]\npath = {json.dumps(source)}\n[archive]\npath = {json.dumps(archive)}\n"
        )
        if where == "file":
            argv = ["--config", str(config)]
        else:
            monkeypatch.setenv("PSTORE_ARCHIVER_CONFIG", str(config))
            argv = []
    for verb in (["config", "--check"], ["run"], ["status"], ["list"]):
        done = pa(capsys, *argv, *verb)
        assert done.code == 78, (verb, done.err)
        assert PATH_ERRORS[how] in done.err, (verb, done.err)
    assert sorted(os.listdir(store)) == before
    assert not (tmp_path / "a").exists()


def test_a_nul_byte_in_a_path_is_caught_by_config_check(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[archive]\npath = "/tmp/a\\u0000b"\n')
    for verb in (["config", "--check"], ["run"]):
        done = pa(capsys, "--config", str(config), *verb)
        assert done.code == 78 and "NUL" in done.err
    done = pa(capsys, "--source", "/tmp/x\0y", "--archive", str(tmp_path / "a"), "run")
    assert done.code == 78 and "NUL" in done.err


# --- 3, 4. unlink only on evidence from the archive, only the file that was read -------------


def first_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> tuple[Path, Path, str]:
    store, archive = tmp_path / "s", tmp_path / "a"
    write_store(store, [OK])
    assert run(capsys, store, archive).code == 0
    [entry] = entries(archive)
    return store, archive, entry


@pytest.mark.parametrize("damage", ["copy deleted", "copy altered", "copy a link", "manifest lies"])
def test_a_record_already_archived_is_unlinked_only_if_its_copy_is_there(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, damage: str
) -> None:
    store, archive, entry = first_run(capsys, tmp_path)
    copy = archive / entry / OK.name
    if damage == "copy deleted":
        copy.unlink()
    elif damage == "copy altered":
        copy.write_bytes(OK.data.upper())  # same size, other bytes
    elif damage == "copy a link":
        copy.unlink()
        (tmp_path / "elsewhere").write_bytes(OK.data)
        copy.symlink_to(tmp_path / "elsewhere")
    else:
        document = manifest(archive, entry)
        document["records"][0]["sha256"] = "0" * 64
        (archive / entry / "entry.json").write_text(json.dumps(document))
    write_store(store, [OK])  # the same record back in the store
    done = run(capsys, store, archive)
    assert done.code == 0, done.err
    assert list(store.iterdir()) == []  # unlinked: but only after a new, verified copy
    assert OK.data in archived_copies(archive, OK.name)
    assert len(entries(archive)) == 2


def test_the_index_alone_is_never_evidence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, archive, entry = first_run(capsys, tmp_path)
    other = FakeRecord("dmesg-erst-6319986351055831099", b"Panic#1 Part1\nother\n", TIME)
    index = json.loads((archive / ".index.json").read_text())
    records = index["entries"][entry]["manifest"]["records"]
    records.append(
        {
            **records[0],
            "name": other.name,
            "sha256": hashlib.sha256(other.data).hexdigest(),
        }
    )
    (archive / ".index.json").write_text(json.dumps(index))
    write_store(store, [other])
    assert run(capsys, store, archive).code == 0
    assert archived_copies(archive, other.name) == [other.data]


def test_a_record_replaced_after_the_read_is_not_unlinked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the read and the unlink (here: while the archive is synced) another file
    takes the record's name, as in a plain directory used as the store."""
    store, archive = tmp_path / "s", tmp_path / "a"
    write_store(store, [OK])
    sync = archive_module.Archive.sync

    def replace_then_sync(self: Any, dir_fd: int) -> None:
        (store / OK.name).unlink()
        (store / OK.name).write_bytes(b"Panic#1 Part1\nnot read yet\n")
        sync(self, dir_fd)

    monkeypatch.setattr(archive_module.Archive, "sync", replace_then_sync)
    done = run(capsys, store, archive)
    assert done.code == 1
    assert (store / OK.name).read_bytes() == b"Panic#1 Part1\nnot read yet\n"
    assert "the file there changed since it was read: not removed" in done.out
    monkeypatch.undo()
    assert run(capsys, store, archive).code == 0  # the next run archives the new one
    assert sorted(archived_copies(archive, OK.name)) == sorted(
        [OK.data, b"Panic#1 Part1\nnot read yet\n"]
    )


def test_a_large_record_replaced_before_its_copy_stays(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record too large to hold is read twice (scan, copy); a different file at the
    second read is not archived under the first one's hash, nor unlinked."""
    from pstore_archiver import store as store_module

    store, archive = tmp_path / "s", tmp_path / "a"
    big = FakeRecord("console-ramoops-0", b"x" * (2 << 20), TIME)
    write_store(store, [OK, big])
    read_chunks = store_module.Source.read_chunks

    def replaced(self: Any, found: Any) -> Any:
        (store / big.name).unlink()
        (store / big.name).write_bytes(b"y" * (2 << 20))
        return read_chunks(self, found)

    monkeypatch.setattr(store_module.Source, "read_chunks", replaced)
    done = run(capsys, store, archive)
    assert done.code == 1
    assert (store / big.name).read_bytes() == b"y" * (2 << 20)
    assert "changed since it was read" in done.out
    assert archived_copies(archive, OK.name) == [OK.data]
    assert archived_copies(archive, big.name) == []


# --- 5, 7. damaged manifests and copied entries ----------------------------------------------


DAMAGE = {
    "empty object": b"{}",
    "a list": b"[]",
    "null": b"null",
    "no crash time": b'{"id": "x", "crash_time": null}',
    "not JSON": b"{broken",
    "not UTF-8": b'{"id": "\xff"}',
    "deep": b"[" * 100000,
    "a record outside": None,  # a record name that climbs out of the entry
    "wrong types": None,
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_entry_is_reported_and_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, damage: str
) -> None:
    store, archive, entry = first_run(capsys, tmp_path)
    document = manifest(archive, entry)
    if damage == "a record outside":
        document["records"][0]["name"] = "../../etc/passwd"
        data = json.dumps(document).encode()
    elif damage == "wrong types":
        document.update(summary=5, records=[{"name": OK.name, "size": "1", "sha256": 3}])
        data = json.dumps(document).encode()
    else:
        data = DAMAGE[damage] or b""
    (archive / entry / "entry.json").write_bytes(data)  # replaced by hand: the index notices
    # The only entry is damaged: nothing to list or show (1), nothing to remove (0); what
    # status exits with depends on this host's pstore backend.
    for argv, code in (
        (["list"], 1),
        (["list", "--json"], 1),
        (["info"], 1),
        (["info", entry], 1),
        (["dump", entry], 1),
        (["status"], None),
        (["status", "--json"], None),
        (["vacuum", "--max-entries", "1", "--keep-newest", "0"], 0),
    ):
        done = pa(capsys, "--archive", str(archive), *argv)
        assert done.code in ((0, 1) if code is None else (code,)), (argv, done.err)
        if argv[0] in ("list", "vacuum", "info", "dump"):
            assert entry in done.err and "damaged" in done.err, (argv, done.err)
    status = json.loads(pa(capsys, "--archive", str(archive), "status", "--json").out)
    assert [d["id"] for d in status["archive"]["damaged"]] == [entry]
    assert (archive / entry).is_dir()  # never removed
    new = FakeRecord("dmesg-erst-6319986351055831050", b"Panic#1 Part1\nlater\n", TIME + 60)
    write_store(store, [new])
    done = run(capsys, store, archive)  # runs keep archiving
    assert done.code == 0 and list(store.iterdir()) == []
    assert f"damaged entry, skipped: {entry}" in done.out


def test_a_copied_entry_is_not_the_entry_twice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _store, archive, entry = first_run(capsys, tmp_path)
    shutil.copytree(archive / entry, archive / f"{entry}.bak", symlinks=True)  # cp -a
    listed = json.loads(pa(capsys, "--archive", str(archive), "list", "--json").out)
    assert [m["id"] for m in listed] == [entry]
    done = pa(
        capsys, "--archive", str(archive), "vacuum", "--max-entries", "1", "--keep-newest", "0"
    )
    assert done.code == 0 and (archive / entry).is_dir() and (archive / f"{entry}.bak").is_dir()
    assert "is not the directory's name" in done.err


def test_the_index_notices_an_edited_manifest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _store, archive, entry = first_run(capsys, tmp_path)
    path = archive / entry / "entry.json"
    document = manifest(archive, entry)
    document["summary"] = "edited by hand"
    info = path.stat()
    path.write_text(json.dumps(document))
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))  # even with the mtime put back
    listed = json.loads(pa(capsys, "--archive", str(archive), "list", "--json").out)
    assert listed[0]["summary"] == "edited by hand"


# --- 6. a record's own problem is that record's, never the archive's (exit 73) --------------


@pytest.mark.parametrize("name", ["entry.json", "dmesg.txt"])
def test_a_record_named_like_an_entrys_own_file_stays_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    store, archive = tmp_path / "s", tmp_path / "a"
    later = FakeRecord("dmesg-erst-6319986351055831050", b"Panic#1 Part1\nlater\n", TIME + 60)
    write_store(store, [FakeRecord(name, b"x\n", TIME), OK, later])
    for _ in range(2):  # run after run: the others are archived, this one says why
        done = run(capsys, store, archive)
        assert done.code == 1
        assert [p.name for p in store.iterdir()] == [name]
        assert f"{name}: its name is one of an entry's own files" in done.out
    assert len(entries(archive)) == 2


def test_long_names_give_short_entry_ids(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, archive = tmp_path / "s", tmp_path / "a"
    long = FakeRecord("dmesg-" + "b" * 230 + "-1", b"Panic#1 Part1\nx\n", TIME)
    write_store(store, [long, OK])
    assert run(capsys, store, archive).code == 0
    assert all(len(e) < 100 for e in entries(archive))
    assert archived_copies(archive, long.name) == [long.data]


def test_many_records_of_one_second_and_one_dump_of_many_parts(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Work grows with the records, not with their square: 500 entries of one base id
    (around names already taken), and a dump of 500 parts."""
    store, archive = tmp_path / "s", tmp_path / "a"
    archive.mkdir()
    base = "20231114T221320Z-unknown-unknown"
    for taken in (base, f"{base}-3"):
        (archive / taken).mkdir()  # not entries (no manifest): still names taken
    same = [FakeRecord(f"odd-{i}", b"x", TIME) for i in range(500)]
    parts = [
        FakeRecord(f"dmesg-erst-{(1471486490 << 32) + i}", f"Panic#1 Part{i}\n{i}\n".encode(), TIME)
        for i in range(1, 501)
    ]
    write_store(store, [*same, *parts])
    assert run(capsys, store, archive).code == 0
    names = set(entries(archive))
    assert {f"{base}-{n}" for n in range(2, 503) if n != 3} <= names
    [dump] = [e for e in names if e.endswith("-erst-panic1")]
    assert len(manifest(archive, dump)["records"]) == 500


def test_an_entry_the_file_system_refuses_holds_back_only_itself(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name the archive's file system refuses (ENAMETOOLONG, EILSEQ on a UTF-8-only file
    system): simulated here, as this machine's file systems take every name a store can
    hold; the error is the kernel's own, raised where the kernel would raise it."""
    refused = FakeRecord("dmesg-erst-6319986351055831060", b"Panic#2 Part1\nrefused\n", TIME)
    later = FakeRecord("dmesg-erst-6319986351055831070", b"Panic#3 Part1\nlater\n", TIME + 60)
    store, archive = tmp_path / "s", tmp_path / "a"
    write_store(store, [OK, refused, later])
    write_new = archive_module.write_stream

    def picky(dir_fd: int, name: str, *args: Any, **options: Any) -> Any:
        if name == refused.name:
            raise OSError(errno.EILSEQ, os.strerror(errno.EILSEQ), name)
        return write_new(dir_fd, name, *args, **options)

    monkeypatch.setattr(archive_module, "write_stream", picky)
    done = run(capsys, store, archive, "--json")
    assert done.code == 1
    report = json.loads(done.out)
    assert [left["name"] for left in report["records_left"]] == [refused.name]
    assert report["records_left"][0]["entry"].endswith("-erst-panic2")
    assert "refuses the name" in report["records_left"][0]["reason"]
    assert [p.name for p in store.iterdir()] == [refused.name]
    assert len(entries(archive)) == 2


# --- 9. configuration errors are one line and 78 ---------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[retention]\nmax_use = 1.5\n",
        "[retention]\nmax_use = [1]\n",
        "[retention]\nmax_use = nan\n",
        "[retention]\nmax_use = 1979-05-27\n",
        "[retention]\nmax_use = " + "9" * 400 + "\n",
        '[retention]\nmax_use = "' + "9" * 400 + '"\n',
        '[retention]\nmax_age = "' + "9" * 400 + 'd"\n',
        "[retention]\nmax_age = 1979-05-27T07:32:00Z\n",
        "[retention]\nkeep_newest = -1\n",
        "[retention]\nkeep_newest = 1.5\n",
        "[journal]\nmax_attach = inf\n",
        "[retention]\nmax_entries = " + "9" * 5000 + "\n",
    ],
)
def test_bad_values_are_one_line_and_78(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str
) -> None:
    config = tmp_path / "c.toml"
    config.write_text(text)
    for verb in (["config", "--check"], ["run"], ["list"]):
        done = pa(capsys, "--config", str(config), *verb)
        assert done.code == 78, (verb, done.err)
        assert str(config) in done.err


def test_unreadable_configuration_files_are_78(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases: dict[str, Path] = {}
    (tmp_path / "bytes.toml").write_bytes(b"[retention]\nmax_use = '\xff'\n")
    cases["not UTF-8"] = tmp_path / "bytes.toml"
    (tmp_path / "main.toml").write_text("")
    (tmp_path / "main.toml.d").mkdir()
    (tmp_path / "main.toml.d" / "10-gone.toml").symlink_to(tmp_path / "nowhere")
    cases["dangling drop-in"] = tmp_path / "main.toml"
    (tmp_path / "dir.toml").mkdir()
    cases["a directory"] = tmp_path / "dir.toml"
    cases["missing"] = tmp_path / "nope.toml"
    for why, path in cases.items():
        for argv in (["--config", str(path), "config", "--check"], ["--config", str(path), "run"]):
            done = pa(capsys, *argv)
            assert done.code == 78, (why, done.err)
        monkeypatch.setenv("PSTORE_ARCHIVER_CONFIG", str(path))  # the same as --config
        assert pa(capsys, "config", "--check").code == 78, why
        monkeypatch.delenv("PSTORE_ARCHIVER_CONFIG")


def test_a_fifo_as_configuration_does_not_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pstore_archiver",
            "--config",
            str(tmp_path / "fifo"),
            "config",
            "--check",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 78 and "not a regular file" in done.stderr


# --- 10, 13. queries and the smaller breaks of the contract ----------------------------------


def test_an_archive_that_is_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    for argv in (["list"], ["info"], ["dump"], ["status"], ["vacuum", "--max-entries", "1"]):
        done = pa(capsys, "--archive", str(tmp_path / "file"), *argv)
        assert done.code == 1, (argv, done.err)
        assert (
            f"{tmp_path / 'file'}: cannot read the archive: Not a directory (ENOTDIR)" in done.err
        )
    store = write_store(tmp_path / "s", [OK])
    assert run(capsys, store, tmp_path / "file").code == 73


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--since", "1000000y ago"],
        ["list", "--until", "+1000000y"],
        ["list", "--since", "9" * 400 + "s ago"],
        ["vacuum", "--max-use", "9" * 400],
        ["vacuum", "--max-age", "9" * 400 + "y"],
        ["vacuum", "--keep-newest", "-1"],
        ["info", "--lines", "-5"],
        ["list", "-n", "-1"],
    ],
)
def test_bad_query_values_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: list[str]
) -> None:
    _store, archive, _ = first_run(capsys, tmp_path)
    done = pa(capsys, "--archive", str(archive), *argv)
    assert done.code == 2 and done.err.count("\n") == 1, done.err


def test_since_takes_a_negative_relative_time(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    _store, archive, entry = first_run(capsys, tmp_path)
    assert pa(capsys, "--archive", str(archive), "list", "--since", "-2h").code == 1  # 2023
    done = pa(capsys, "--archive", str(archive), "list", "--json", "--since", "-100000d")
    assert [m["id"] for m in json.loads(done.out)] == [entry]
    assert pa(capsys, "--archive", str(archive), "list", "--until", "-1h", "--json").code == 0


PIPED = [
    ["list"],
    ["list", "--json"],
    ["info"],
    ["status"],
    ["config"],
    ["vacuum", "--max-entries", "1", "--keep-newest", "0", "--dry-run"],
    ["run", "--dry-run"],
    ["run", "--json"],
    ["dump"],
    ["import", "--dry-run"],
]


@pytest.mark.parametrize("argv", PIPED, ids=" ".join)
def test_a_reader_that_went_away_ends_quietly(tmp_path: Path, argv: list[str]) -> None:
    """`... | head -1` with the reader gone before anything is written: EPIPE at once."""
    store = write_store(
        tmp_path / "s",
        [
            OK,
            *[
                FakeRecord(
                    f"dmesg-erst-{(1471486490 << 32) + i}",
                    f"Panic#{i} Part1\nx\n".encode(),
                    TIME + i,
                )
                for i in range(2, 9)
            ],
        ],
    )
    archive = tmp_path / "a"
    assert main(["--source", str(store), "--archive", str(archive), "run", "--no-unlink"]) == 0
    read_end, write_end = os.pipe()
    os.close(read_end)
    if argv[0] == "import":  # what systemd-pstore left: one record archived already
        argv = ["import", str(write_store(tmp_path / "sp", [OK])), *argv[1:]]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pstore_archiver",
            "--source",
            str(store),
            "--archive",
            str(archive),
            *argv,
        ],
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )
    os.close(write_end)
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr


def test_a_full_stdout_is_one_line(tmp_path: Path) -> None:
    store, archive = tmp_path / "s", tmp_path / "a"
    write_store(store, [OK])
    assert main(["--source", str(store), "--archive", str(archive), "run"]) == 0
    for argv in (["dump"], ["list"], ["info"], ["status", "--json"]):
        with open("/dev/full", "w") as full:
            done = subprocess.run(
                [sys.executable, "-m", "pstore_archiver", "--archive", str(archive), *argv],
                stdout=full,
                stderr=subprocess.PIPE,
                text=True,
                timeout=60,
                check=False,
            )
        assert done.returncode == 1, done.stderr
        assert (
            done.stderr
            == "pstore-archiver: standard output: cannot write: No space left on device (ENOSPC)\n"
        )


def test_an_explicit_store_must_exist_the_default_may_not(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "a"
    done = pa(capsys, "--source", str(tmp_path / "nonexistent"), "--archive", str(archive), "run")
    assert done.code == 78 and "does not exist" in done.err
    assert pa(capsys, "--source", str(tmp_path / "nonexistent"), "config", "--check").code == 78
    (tmp_path / "file").write_text("x")
    done = pa(capsys, "--source", str(tmp_path / "file"), "--archive", str(archive), "run")
    assert done.code == 78
    assert done.err == (
        f"pstore-archiver: (command line): source.path = {str(tmp_path / 'file')!r}: is not a "
        "directory (expected the pstore directory)\n"
    )
    # the default store (here a missing directory standing for /sys/fs/pstore): a notice, 0
    monkeypatch.setitem(config_module.DEFAULTS, "source", {"path": str(tmp_path / "no-pstore")})
    done = pa(capsys, "--archive", str(archive), "run")
    assert done.code == 0 and "no pstore mounted there" in done.err
    assert pa(capsys, "--archive", str(archive), "config", "--check").code == 0


def test_run_json_is_printed_on_every_exit_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    import fcntl

    store = write_store(tmp_path / "s", [OK])
    outcomes = {}
    archive = tmp_path / "a"
    archive.mkdir()
    with open(archive / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        outcomes[75] = run(capsys, store, archive, "--json")
    outcomes[73] = run(capsys, store, tmp_path / "no" / "parent", "--json")
    outcomes[78] = pa(
        capsys, "--source", str(store), "--archive", str(store / "x"), "run", "--json"
    )
    write_store(store, [FakeRecord("entry.json", b"x", TIME)])
    outcomes[1] = run(capsys, store, archive, "--json")
    (store / "entry.json").unlink()
    outcomes[0] = run(capsys, store, archive, "--json")
    for code, done in outcomes.items():
        assert done.code == code, done.err
        document = json.loads(done.out)
        assert document["exit_status"] == code
        assert (document["error"] is not None) == (code in (73, 75, 78)), document
        assert "records_left" in document and "entries" in document


def test_bookkeeping_is_0600_and_the_archive_0700(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, archive = tmp_path / "s", tmp_path / "a"
    archive.mkdir(mode=0o755)
    write_store(store, [OK])
    assert run(capsys, store, archive).code == 0
    assert stat.S_IMODE(archive.stat().st_mode) == 0o700
    for name in (".index.json", ".last-run.json", ".lock"):
        assert stat.S_IMODE((archive / name).stat().st_mode) == 0o600, name
    shared = tmp_path / "someone-elses-directory"
    shared.mkdir(mode=0o755)
    (shared / "someone-elses-file").write_text("x")  # not an archive: its mode stays
    write_store(store, [OK])
    done = run(capsys, store, shared)
    assert done.code == 0 and stat.S_IMODE(shared.stat().st_mode) == 0o755
    assert "lets other users read crash logs" in done.err


# --- 11. terminal escapes -----------------------------------------------------------------------


def test_control_characters_are_escaped_for_the_terminal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    hostile = (
        b"Panic#1 Part1\n"
        b"<0>[    2.000000] Kernel panic - not syncing: \x1b[2Jboom\n"
        b"<4>[    2.000001] CPU: 0 PID: 1 Comm: \x1b]0;pwned\x07ev\xc2\x9bil Not tainted 6.1.0 #1\n"
    )
    store, archive = tmp_path / "s", tmp_path / "a"
    name = "dmesg-erst-\x1b[31m-6319986351055831041"
    write_store(
        store,
        [
            FakeRecord("dmesg-erst-6319986351055831041", hostile, TIME),
            FakeRecord(name, b"\x1b[2J", TIME),
        ],
    )
    outputs = [run(capsys, store, archive)]
    for argv in (["list"], ["info"], ["info", "--lines", "5"], ["status"]):
        outputs.append(pa(capsys, "--archive", str(archive), *argv))
    for done in outputs:
        for text in (done.out, done.err):
            assert not any(c in text for c in "\x1b\x07\x9b"), text
    listed = pa(capsys, "--archive", str(archive), "list").out
    assert "\\x1b]0;pwned\\x07ev\\x9bil" in listed and "\\x1b[2Jboom" in listed
    raw = pa(capsys, "--archive", str(archive), "list", "--json").out
    waiting = write_store(
        tmp_path / "waiting", [FakeRecord("a\nWaiting: 0 records\x1b[A", b"x", TIME)]
    )
    status = pa(capsys, "--source", str(waiting), "--archive", str(archive), "status").out
    assert "a\\nWaiting: 0 records\\x1b[A (1 bytes)" in status  # one line, escaped
    assert [line for line in status.splitlines() if line.startswith("Waiting")] == [
        "Waiting: 1 records, 1B  (run: pstore-archiver run)"
    ]
    summaries = {m["summary"] for m in json.loads(raw)}  # JSON carries the data as it is
    assert "Kernel panic - not syncing: \x1b[2Jboom" in summaries


# --- 12. free-space pressure never empties the archive -------------------------------------------


def test_keep_newest_is_a_floor_and_removals_are_reported(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    store, archive = tmp_path / "s", tmp_path / "a"
    config = tmp_path / "c.toml"
    config.write_text(
        '[retention]\nkeep_free = "1P"\nmax_use = "1"\nmax_entries = 1\nmax_age = "1s"\n'
    )
    base = ["--config", str(config), "--source", str(store), "--archive", str(archive)]
    for i in range(8):
        write_store(
            store,
            [
                FakeRecord(
                    f"dmesg-erst-{(1471486490 << 32) + i}",
                    f"Panic#{i} Part1\nx\n".encode(),
                    TIME + i,
                )
            ],
        )
        done = pa(capsys, *base, "run", "--json")
        assert done.code == 0
    report = json.loads(done.out)
    assert len(entries(archive)) == 5  # never fewer than keep_newest (5)
    assert report["entries_removed"] and report["removals"][0]["reason"]
    write_store(store, [FakeRecord("dmesg-erst-1", b"Panic#9 Part1\nx\n", TIME + 100)])
    text = pa(capsys, *base, "run").out
    assert "removed " in text and "older than max_age" in text
    assert len(entries(archive)) == 5
    done = pa(capsys, *base, "vacuum", "--keep-newest", "2")
    assert done.code == 0 and len(entries(archive)) == 2
    assert done.out.count("removed ") == 3


def test_an_archive_failure_blames_the_right_entry(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second of three entries fails for want of space (simulated: the real thing is
    tests/test_disk_full.py): its records name it; the third's say they were not tried."""
    records = [
        FakeRecord(
            f"dmesg-erst-{(1471486490 << 32) + i}", f"Panic#{i} Part1\nx\n".encode(), TIME + i
        )
        for i in (1, 2, 3)
    ]
    store, archive = tmp_path / "s", tmp_path / "a"
    write_store(store, records)
    write_new = archive_module.write_stream

    def full(dir_fd: int, name: str, *args: Any, **options: Any) -> Any:
        if name == records[1].name:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), name)
        return write_new(dir_fd, name, *args, **options)

    monkeypatch.setattr(archive_module, "write_stream", full)
    done = run(capsys, store, archive, "--json")
    assert done.code == 73
    left = {item["name"]: item for item in json.loads(done.out)["records_left"]}
    assert set(left) == {records[1].name, records[2].name}
    assert left[records[1].name]["entry"].endswith("-erst-panic2")
    assert "cannot write " in left[records[1].name]["reason"]
    assert left[records[2].name]["entry"].endswith("-erst-panic3")  # its own, never tried
    assert "not archived: the archive failed first" in left[records[2].name]["reason"]
