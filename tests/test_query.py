"""The query side: list, info, dump, status, vacuum (DESIGN §4, issue: ask the archive)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from stores import FakeRecord, copy_fixture, seed_erst_store, write_store

from pstore_archiver.cli import main
from pstore_archiver.retention import Candidate, Limits, select_removals
from pstore_archiver.timespec import parse_time_spec

NOW = datetime(2026, 11, 26, 20, 0, 0, tzinfo=timezone.utc)
DAY = 86400


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """An archive made by a real run over the real captures and the seed store."""
    store, archive = tmp_path / "pstore", tmp_path / "archive"
    for name in ("erst-oops-panic", "efi-panic", "ramoops-oops-panic"):
        copy_fixture(name, store)
    write_store(store, [*seed_erst_store(), FakeRecord("console-ramoops-0", b"con\n", 1795722000)])
    assert main(["--source", str(store), "--archive", str(archive), "run"]) == 0
    return archive


def cli(archive: Path, *argv: str) -> int:
    return main(["--archive", str(archive), *argv])


IDS = [
    "20160818T021500Z-erst-oops1",
    "20160818T021500Z-erst-panic2",
    "20261126T193604Z-erst-oops1",
    "20261126T193604Z-erst-panic2",
    "20261126T193829Z-efi-panic1",
    "20261126T194000Z-ramoops-console",
    "20261126T194331Z-ramoops-oops1",
    "20261126T194331Z-ramoops-panic2",
]


def test_list_is_a_table_newest_last(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(archive, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "TIME",
        "ID",
        "BACKEND",
        "KIND",
        "DUMP",
        "PARTS",
        "PROCESS",
        "SUMMARY",
    ]
    assert [line.split()[4] for line in lines[1:]] == IDS
    efi = next(line for line in lines if "efi-panic1" in line)
    assert " Panic#1 " in efi and " 15 " in efi and "Kernel panic - not syncing" in efi


def test_list_json_is_the_manifests(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(archive, "list", "--json") == 0
    manifests = json.loads(capsys.readouterr().out)
    assert [m["id"] for m in manifests] == IDS
    assert manifests[2] == json.loads((archive / IDS[2] / "entry.json").read_text())


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["-n", "2"], IDS[-2:]),
        (["-n", "0"], []),
        (["--reason", "panic"], [IDS[1], IDS[3], IDS[4], IDS[7]]),
        (["--backend", "ramoops"], IDS[5:]),
        (["--kind", "console"], [IDS[5]]),
        (["--since", "2026-11-26 19:38:00Z"], IDS[4:]),
        (["--since", "2026-11-26T19:40:00+00:00", "--until", "2026-11-26T19:43:00Z"], [IDS[5]]),
        (["--until", "2020-01-01"], IDS[:2]),
        (["--reason", "Oops", "--backend", "erst", "-n", "1"], [IDS[2]]),
    ],
)
def test_list_filters(
    archive: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: list[str]
) -> None:
    capsys.readouterr()
    assert cli(archive, "list", "--json", *argv) == (0 if expected else 1)
    assert [m["id"] for m in json.loads(capsys.readouterr().out)] == expected


@pytest.mark.parametrize(
    "names, wanted",
    [
        (("efi", "efi_pstore"), ("efi", "efi_pstore")),
        (("pstore_blk", "pstore-blk"), ("pstore_blk", "pstore-blk")),
    ],
)
def test_list_backend_takes_either_name_the_kernel_gave_it(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    names: tuple[str, str],
    wanted: tuple[str, str],
) -> None:
    store, archive = tmp_path / "pstore", tmp_path / "archive"
    records = [
        FakeRecord(f"dmesg-{name}-{n}", b"Panic#1 Part1\nx\n", 1795722000 + 60 * n)
        for n, name in enumerate([*names, "erst"], start=1)
    ]
    write_store(store, records)
    assert main(["--source", str(store), "--archive", str(archive), "run"]) == 0
    for backend in wanted:
        capsys.readouterr()
        assert cli(archive, "list", "--json", "--backend", backend) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [m["backend"] for m in listed] == list(names)  # the kernel's names, kept


def test_list_empty_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(tmp_path / "nothing", "list") == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "No archived entries match" in captured.err
    assert cli(tmp_path / "nothing", "list", "--json") == 1
    assert json.loads(capsys.readouterr().out) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--since", "yesterdayish"], "--since: not a time: 'yesterdayish'"),
        (["--since", "today", "--until=-2d"], "--since 'today' is after --until '-2d'"),
        (["-n", "-1"], "-n -1: expected a number of entries"),
    ],
)
def test_list_bad_input(
    archive: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli(archive, "list", *argv) == 2
    assert message in capsys.readouterr().err


def test_list_uses_and_repairs_its_index(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(archive, "list", "--json") == 0
    capsys.readouterr()
    index = json.loads((archive / ".index.json").read_text())
    assert sorted(index["entries"]) == IDS
    shutil.rmtree(archive / IDS[0])  # the index is stale now
    assert cli(archive, "list", "--json") == 0
    assert [m["id"] for m in json.loads(capsys.readouterr().out)] == IDS[1:]
    (archive / ".index.json").write_text("{broken")
    assert cli(archive, "list", "--json") == 0
    assert [m["id"] for m in json.loads(capsys.readouterr().out)] == IDS[1:]
    assert sorted(json.loads((archive / ".index.json").read_text())["entries"]) == IDS[1:]


def test_info_shows_everything(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(archive, "info", "20261126T193604Z-erst-o", "--lines", "2") == 0
    out = capsys.readouterr().out
    for expected in [
        "Entry: 20261126T193604Z-erst-oops1",
        "Summary: BUG: kernel NULL pointer dereference, address: 0000000000000000",
        "Function: labcrash_init",
        "Process: insmod (pid 186)",
        "Kernel: 6.1.0-56-amd64",
        "Tainted: OE",
        "Seen before: 1 other entry: 20261126T194331Z-ramoops-oops1",
        f"Storage: {archive / '20261126T193604Z-erst-oops1'}",
        "Part2 dmesg-erst-7712566249095430146 (12817 bytes",
        "Call trace:\n  do_one_initcall",
        "Last 2 lines of the log:",
        "---[ end trace 0000000000000000 ]---",
    ]:
        assert expected in out


def test_info_defaults_to_the_newest_and_has_json(
    archive: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert cli(archive, "info", "--json") == 0
    document = json.loads(capsys.readouterr().out)
    assert document["id"] == IDS[-1]
    assert document["path"] == str(archive / IDS[-1])
    # the same sysrq panic after an oops, on the erst machine
    assert document["same_signature"] == ["20261126T193604Z-erst-panic2"]
    assert len(document["log_tail"]) == 20


@pytest.mark.parametrize(
    "entry, code, message",
    [
        ("nope", 1, "no entry matches 'nope'"),
        ("2026", 2, "'2026' matches 6 entries: 20261126T193604Z-erst-oops1"),
    ],
)
def test_info_and_dump_bad_entry(
    archive: Path, capsys: pytest.CaptureFixture[str], entry: str, code: int, message: str
) -> None:
    for verb in ("info", "dump"):
        assert cli(archive, verb, entry) == code
        assert message in capsys.readouterr().err


def test_info_on_empty_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(tmp_path / "empty", "info") == 1
    assert "the archive has no entries" in capsys.readouterr().err


def test_dump_writes_the_log_or_the_raw_record(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    assert cli(archive, "dump", "20261126T193829Z-efi", "-o", str(out)) == 0
    assert out.read_bytes() == (archive / IDS[4] / "dmesg.txt").read_bytes()
    assert cli(archive, "dump", "20261126T194000Z-ramoops-console", "-o", str(out)) == 0
    assert out.read_bytes() == b"con\n"
    assert cli(archive, "dump", "-o", str(tmp_path / "no" / "dir" / "x")) == 1


def test_dump_to_stdout_through_a_pipe(archive: Path) -> None:
    env = {**os.environ}
    result = subprocess.run(
        f"'{sys.executable}' -m pstore_archiver --archive '{archive}' dump {IDS[3]} | head -n 1",
        shell=True,
        capture_output=True,
        env=env,
        check=True,
        timeout=60,
    )
    assert result.stdout.startswith(b"<5>[    0.000000] Linux version 6.1.0-56-amd64")
    assert b"Traceback" not in result.stderr


def test_status(archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "pstore"
    write_store(store, [FakeRecord("dmesg-erst-99", b"Panic#1 Part1\n", 1)])
    capsys.readouterr()
    assert main(["--source", str(store), "--archive", str(archive), "status", "--json"]) == 1
    status = json.loads(capsys.readouterr().out)
    assert status["store"]["records"] == [{"name": "dmesg-erst-99", "size": 14}]
    assert status["archive"]["entries"] == 8 and status["archive"]["newest"] == IDS[-1]
    assert status["last_run"]["records_left"] == []
    assert status["retention"]["keep_free"] == 0  # the tests' configuration
    assert main(["--source", str(store), "--archive", str(archive), "status"]) == 1
    out = capsys.readouterr().out
    assert "Waiting: 1 records, 14B  (run: pstore-archiver run)" in out
    assert f"Archive: {archive}\n         8 entries, " in out


def test_status_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--source", str(tmp_path / "none"), "--archive", str(tmp_path / "a"), "status"])
    out = capsys.readouterr().out
    assert f"Store:   {tmp_path / 'none'} (missing)" in out
    assert "(not created yet)" in out and "Last run: none recorded" in out
    backend = Path("/sys/module/pstore/parameters/backend")
    registered = backend.exists() and backend.read_text().strip() not in ("", "(null)")
    assert code == (0 if registered else 1)
    if not registered:
        assert "No pstore backend is registered, so the next crash will not be recorded" in out


@pytest.mark.root
def test_status_with_and_without_a_backend(tmp_path: Path) -> None:
    """A real bind mount over the kernel's parameter file, in a private mount namespace."""
    parameter = Path("/sys/module/pstore/parameters/backend")
    if os.geteuid() != 0 or not parameter.exists():
        pytest.skip("needs root and a kernel with pstore (/sys/module/pstore)")
    for value, code in (("erst\n", 0), ("(null)\n", 1)):
        fake = tmp_path / "backend"
        fake.write_text(value)
        argv = [
            sys.executable,
            "-m",
            "pstore_archiver",
            "--source",
            str(tmp_path / "empty"),
            "--archive",
            str(tmp_path / "a"),
            "status",
            "--json",
        ]
        script = f'mount --bind "{fake}" {parameter} && exec "$@"'
        result = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == code, result.stderr
        status = json.loads(result.stdout)
        assert status["backend"] == (None if code else "erst")
        assert (status["advice"] is None) == (code == 0)


def test_vacuum_dry_run_then_for_real(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert cli(archive, "vacuum", "--max-entries", "6", "--dry-run") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"would remove {i}" for i in IDS[:2]]
    assert all(line.endswith(" bytes): more than max_entries (6)") for line in lines)
    assert len([p for p in archive.iterdir() if not p.name.startswith(".")]) == 8
    assert cli(archive, "vacuum", "--max-entries", "6") == 0
    assert sorted(p.name for p in archive.iterdir() if not p.name.startswith(".")) == IDS[2:]
    assert cli(archive, "vacuum", "--max-use", "10Q") == 2
    assert "vacuum: unknown size unit 'Q'" in capsys.readouterr().err


def test_vacuum_max_age_counts_back_from_the_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Crashes 3 days, 1 day and 1 hour before now, whatever day the test runs on:
    `--max-age 2d` removes the first only."""
    store, archive = tmp_path / "pstore", tmp_path / "archive"
    now = int(time.time())
    crash_times = {"dmesg": now - 3 * DAY, "console": now - DAY, "pmsg": now - 3600}
    write_store(
        store,
        [
            FakeRecord("dmesg-ramoops-0", b"Panic#1 Part1\nx\n", crash_times["dmesg"]),
            FakeRecord("console-ramoops-0", b"c\n", crash_times["console"]),
            FakeRecord("pmsg-ramoops-0", b"p\n", crash_times["pmsg"]),
        ],
    )
    assert main(["--source", str(store), "--archive", str(archive), "run"]) == 0
    stamp = {kind: datetime.fromtimestamp(t, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
             for kind, t in crash_times.items()}  # fmt: skip
    old = f"{stamp['dmesg']}-ramoops-panic1"
    kept = [f"{stamp['console']}-ramoops-console", f"{stamp['pmsg']}-ramoops-pmsg"]
    assert entry_ids(archive) == sorted([old, *kept])
    capsys.readouterr()
    vacuum = ["vacuum", "--max-age", "2d", "--keep-newest", "0"]
    assert cli(archive, *vacuum, "--dry-run") == 0
    [line] = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        rf"would remove {old} \([0-9]+ bytes\): older than max_age \(172800s\)", line
    )
    assert cli(archive, *vacuum) == 0
    assert entry_ids(archive) == sorted(kept)


def entry_ids(archive: Path) -> list[str]:
    return sorted(p.name for p in archive.iterdir() if not p.name.startswith("."))


def test_retention_after_a_run_never_removes_what_the_run_created(tmp_path: Path) -> None:
    store, archive = tmp_path / "pstore", tmp_path / "archive"
    config = tmp_path / "c.toml"
    config.write_text("[retention]\nmax_entries = 1\nkeep_newest = 0\n")
    base = ["--config", str(config), "--source", str(store), "--archive", str(archive), "run"]
    copy_fixture("erst-oops-panic", store)
    assert main(base) == 0
    assert (
        len(os.listdir(archive)) - 3 == 2
    )  # both entries of this run stay (+ .lock, .index, .last-run)
    copy_fixture("erst-panic", store)
    assert main(base) == 0
    assert sorted(p.name for p in archive.iterdir() if not p.name.startswith(".")) == [
        "20261126T193507Z-erst-panic1",
    ]


def test_select_removals_by_each_limit() -> None:
    day = 86400.0
    entries = [Candidate(f"e{i}", i * day, 100) for i in range(5)]
    now = 5 * day
    assert [r.entry_id for r in select_removals(entries, Limits(max_entries=3), 10**9, now)] == [
        "e0",
        "e1",
    ]
    assert [
        r.entry_id for r in select_removals(entries, Limits(max_use_bytes=250), 10**9, now)
    ] == [
        "e0",
        "e1",
        "e2",
    ]
    assert [
        r.entry_id for r in select_removals(entries, Limits(keep_free_bytes=300), 100, now)
    ] == [
        "e0",
        "e1",
    ]
    assert [
        r.entry_id for r in select_removals(entries, Limits(max_age_seconds=int(2.5 * day)), 0, now)
    ] == [
        "e0",
        "e1",
        "e2",
    ]
    protected = [Candidate("new", 0, 100, protected=True), *entries]
    assert "new" not in [
        r.entry_id for r in select_removals(protected, Limits(max_entries=1), 0, now)
    ]
    assert select_removals(entries, Limits(), 0, now) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("now", NOW),
        ("-2h", NOW - timedelta(hours=2)),
        ("2h ago", NOW - timedelta(hours=2)),
        ("1 week ago", NOW - timedelta(weeks=1)),
        ("+1d", NOW + timedelta(days=1)),
        ("2026-11-26T19:30:00Z", datetime(2026, 11, 26, 19, 30, tzinfo=timezone.utc)),
        ("2026-11-26 19:30:00+01:00", datetime(2026, 11, 26, 18, 30, tzinfo=timezone.utc)),
    ],
)
def test_parse_time_spec(text: str, expected: datetime) -> None:
    assert parse_time_spec(text, NOW) == expected


def test_parse_time_spec_local_dates() -> None:
    today = parse_time_spec("today", NOW)
    assert today.astimezone().hour == 0 and today <= NOW
    assert parse_time_spec("yesterday", NOW) == today - timedelta(days=1)
    assert parse_time_spec("2026-11-26", NOW) == datetime(2026, 11, 26).astimezone()


@pytest.mark.parametrize("text", ["", "soon", "2026-13-45", "-2 fortnights", "12:00 yesterday"])
def test_parse_time_spec_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_time_spec(text, NOW)


@pytest.mark.parametrize(
    "verb",
    ["run", "import", "list", "info", "dump", "status", "vacuum", "config", "crashes", "top"],
)
def test_every_verb_has_help(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main([verb, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    usage, description, *_ = out.split("\n\n")
    assert usage.startswith(f"usage: pstore-archiver {verb} [-h]")
    assert description and not description.startswith(("options:", "optional arguments:"))


def test_dump_on_an_empty_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(tmp_path / "empty", "dump") == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "the archive has no entries" in captured.err


def test_vacuum_with_nothing_to_do(
    archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(tmp_path / "none", "vacuum", "--max-entries", "1") == 0
    assert "No archive at" in capsys.readouterr().err
    assert cli(archive, "vacuum", "--max-entries", "100", "--dry-run") == 0
    captured = capsys.readouterr()
    assert captured.out == "" and "Nothing to remove" in captured.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--max-age", "3 fortnights"], "vacuum: unknown time unit 'fortnights'"),
        (["--max-entries", "-1"], "vacuum: expected 0 or more, got -1"),
        (["--max-use=-5M"], "vacuum: a size cannot be negative"),
    ],
)
def test_vacuum_bad_input(
    archive: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert cli(archive, "vacuum", *argv) == 2
    assert message in capsys.readouterr().err
    assert len([p for p in archive.iterdir() if not p.name.startswith(".")]) == 8


def test_main_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    from pstore_archiver import cli

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    codes = {cli.EXIT_OK, cli.EXIT_USAGE, *cli.EXIT_STATUS.values()}
    assert all(f"\n  {code} " in out for code in codes), out


def test_the_index_written_after_a_run_matches_the_disk(archive: Path) -> None:
    index = json.loads((archive / ".index.json").read_text())["entries"]
    assert sorted(index) == IDS
    for entry_id, indexed in index.items():
        on_disk = sum(p.stat().st_size for p in (archive / entry_id).iterdir())
        assert indexed["size"] == on_disk
        assert indexed["manifest"] == json.loads((archive / entry_id / "entry.json").read_text())


@pytest.mark.parametrize("hostname", ["höst", "edited"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le"])
def test_the_index_holds_manifests_edited_by_hand(
    archive: Path, capsys: pytest.CaptureFixture[str], encoding: str, hostname: str
) -> None:
    """The index copies a manifest's own text where it can (UTF-8, from its "{"), else
    encodes the manifest again: either way the next list reads the index alone."""
    manifest_file = archive / IDS[0] / "entry.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["hostname"] = hostname
    manifest_file.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding=encoding)
    capsys.readouterr()
    assert cli(archive, "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["hostname"] for m in listed if m["id"] == IDS[0]] == [hostname]
    index_file = archive / ".index.json"
    assert json.loads(index_file.read_text())["entries"][IDS[0]]["manifest"] == manifest
    written = index_file.stat()
    assert cli(archive, "list", "--json") == 0
    assert json.loads(capsys.readouterr().out) == listed
    again = index_file.stat()
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_status_shows_limits_in_units(archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = archive.parent / "limits.toml"
    config.write_text('[retention]\nmax_use = "256M"\nkeep_free = 0\nmax_age = "90d"\n')
    capsys.readouterr()
    main(["--config", str(config), "--archive", str(archive), "status"])
    assert "Limits:  max_entries=none, max_use=256M, keep_free=none, max_age=90d" in (
        capsys.readouterr().out
    )
