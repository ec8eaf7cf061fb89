"""Peak memory of a run over a store with one huge record: a size bound, not a time bound.

Each command runs in a child process that reports its own peak resident size
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`, KiB on Linux) after it returned.  Linux
keeps ru_maxrss across execve (it would report the test runner's size), so the measured
process is a fresh fork of a small interpreter, whose count starts from its own.  The
records are 128 MiB and 48 MiB; a run that held a record whole (as it once did, reading
the whole store before writing anything) would peak above their sum.  The bound leaves
room for the interpreter and the pieces a streaming run holds: 1 MiB reads, the newest
1 MiB of a log for the analysis, the journal's attachment.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands import run_command

import pstore_archiver

PACKAGE_PARENT = Path(pstore_archiver.__file__).resolve().parents[1]
HUGE_DUMP_BYTES = 128 << 20
HUGE_CONSOLE_BYTES = 48 << 20
PEAK_BOUND_KIB = 80 << 10
CHILD = """\
import os, resource, sys
pid = os.fork()
if pid == 0:
    from pstore_archiver.cli import main
    code = main(sys.argv[1:])
    sys.stdout.flush()
    print(f"PEAK_KIB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr)
    sys.stderr.flush()
    os._exit(code)
sys.exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
"""


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """tmpfs when there is one: 400 MiB of writes and reads without touching a disk."""
    if not os.access("/dev/shm", os.W_OK | os.X_OK):
        yield tmp_path
        return
    with tempfile.TemporaryDirectory(prefix="pstore-memory-", dir="/dev/shm") as name:
        yield Path(name)


def write_huge(path: Path, header: bytes, size: int) -> None:
    line = b"<6>[    1.000000] a line of the log, again and again, to fill a huge record\n"
    block = line * ((1 << 20) // len(line))
    with open(path, "wb") as f:
        f.write(header)
        while f.tell() < size:
            f.write(block)
        f.write(b"<0>[    2.000000] Kernel panic - not syncing: the end of a huge log\n")
    os.utime(path, (1700000000, 1700000000))


def peak(*argv: str) -> tuple[int, int, str]:
    """(exit status, peak KiB, stdout) of `pstore-archiver ARGV` in a child."""
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env["PYTHONPATH"] = str(PACKAGE_PARENT)
    done = run_command([sys.executable, "-c", CHILD, *argv], timeout=600, check=False, env=env)
    [line] = [x for x in done.stderr.splitlines() if x.startswith("PEAK_KIB=")]
    return done.returncode, int(line.split("=")[1]), done.stdout


def test_a_huge_record_is_streamed_in_bounded_memory(scratch: Path) -> None:
    store, archive = scratch / "pstore", scratch / "archive"
    store.mkdir()
    dump = store / "dmesg-erst-7712566004282294273"
    write_huge(dump, b"Panic#1 Part1\n", HUGE_DUMP_BYTES)
    write_huge(store / "console-ramoops-0", b"", HUGE_CONSOLE_BYTES)
    config = scratch / "c.toml"
    config.write_text("[journal]\nenabled = false\n")  # messages to stderr, not this host's
    sizes = {p.name: p.stat().st_size for p in store.iterdir()}
    data = dump.read_bytes()

    code, run_kib, report = peak(
        "--config", str(config), "--source", str(store), "--archive", str(archive), "run", "--json"
    )
    assert code == 0, report
    assert run_kib < PEAK_BOUND_KIB, f"run peaked at {run_kib} KiB"
    assert sum(sizes.values()) > 2 * PEAK_BOUND_KIB * 1024  # the bound is below the records
    assert list(store.iterdir()) == []
    entries = {e["kind"]: Path(e["path"]) for e in json.loads(report)["entries"]}
    copy = entries["dmesg"] / dump.name
    assert copy.stat().st_size == sizes[dump.name] and copy.read_bytes() == data
    del data
    log = entries["dmesg"] / "dmesg.txt"
    assert log.stat().st_size == sizes[dump.name] - len(b"Panic#1 Part1\n")
    manifest = json.loads((entries["dmesg"] / "entry.json").read_text())
    assert manifest["summary"] == "Kernel panic - not syncing: the end of a huge log"

    for argv in (["list"], ["info"], ["dump", "-o", str(scratch / "out")], ["status"]):
        code, kib, _ = peak("--config", str(config), "--archive", str(archive), *argv)
        assert code in (0, 1) and kib < PEAK_BOUND_KIB, (argv, kib)
    assert (scratch / "out").stat().st_size in (log.stat().st_size, HUGE_CONSOLE_BYTES + 71)
