"""Benchmark `top` and `crashes` over a fleet's forwarded journals (issue 10, item 7).

    .venv/bin/python bench/fleet_top.py                  # 100,000 crash messages, 1,000 machines
    .venv/bin/python bench/fleet_top.py --machines 100 --messages 10000 --repeat 1
    .venv/bin/python bench/fleet_top.py --program .venv/bin/pstore-archiver   # another build

`bench/run` times the same commands as its fleet phase (bench/measure.py's `measure_fleet`,
over the files made here); this script is the quick way to time them alone.

The goal: `pstore-archiver top -D DIR` over 100,000 crash messages from 1,000 machines in
under 5 s.  DIR is what systemd-journal-remote (`--split-mode=host`) writes on a collector:
one `remote-<host>.journal` file per machine, each holding the machine's dump-archived
messages among its other messages.  The files are made without 1,000 journalds: each
machine's entries are written in the journal export format (with `_MACHINE_ID`, `_HOSTNAME`,
`_BOOT_ID` and `__REALTIME_TIMESTAMP`, as journal-upload sends them) and fed to
`systemd-journal-remote -o remote-<host>.journal -`, the program a collector runs.  A
crash's `PSTORE_TEXT` is the newest 4 KiB of a real Oops log (tests/data/real), its
timestamps shifted so that no two texts are the same; one message in a hundred is sent twice
(a restarted upload), so `top` must drop duplicates.

The files are cached under /var/tmp/pstore-archiver-bench/fleet-<key>, the key being a hash
of every input (the parameters, this generator's version, the log it starts from and
journal-remote's version); a generation is made in a temporary directory and renamed.

Measured: `pstore-archiver top -D DIR` and `pstore-archiver crashes -D DIR` (by default the
installed build bench/run measures: the checkout's wheel in a venv of its own, made or reused
by bench/installed.py; `--program` names another console script), output to /dev/null,
the wall time of each run (the best and the median of --repeat runs) and its CPU time
(user + system), printed with the command that produced them and the load average (on a
shared machine the wall time is the CPU time plus waiting).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import resource
import shlex
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

CHECKOUT = Path(__file__).resolve().parent.parent
DEV_PYTHON = CHECKOUT / ".venv" / "bin" / "python"  # builds the wheel; never measured
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
CACHE = Path("/var/tmp/pstore-archiver-bench")
GENERATOR_VERSION = "2"  # change when the generated entries change
LOG_SOURCE = CHECKOUT / "tests/data/real/erst-oops-panic/dmesg-erst-7712566249095430147"
DUMP_ARCHIVED = "c060af52e3f04cf3bfa23f0f29a38cb5"
RUN_SUMMARY = "762ec154cf524fe1866dda6363ba036e"
TEXT_BYTES = 4096
GOAL_SECONDS = 5.0


class FleetShape(NamedTuple):
    machines: int = 1000
    messages: int = 100_000  # dump-archived messages, re-sends included
    signatures: int = 200
    other_per_crash: int = 2  # the machines' other journal entries per crash message
    resend_every: int = 100  # every Nth message is sent twice
    seed: int = 10


# --- pure: the entries of one machine, in the journal export format -------------------------


def export_entry(fields: Sequence[tuple[str, str]]) -> bytes:
    """One entry of the journal export format: `KEY=value` lines; a value holding a
    newline as `KEY`, a little-endian 64-bit size, the bytes and a newline."""
    out = bytearray()
    for name, value in fields:
        data = value.encode()
        if b"\n" in data:
            out += name.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += name.encode() + b"=" + data + b"\n"
    return bytes(out) + b"\n"


def machine_id(index: int) -> str:
    return hashlib.sha256(f"fleet machine {index}".encode()).hexdigest()[:32]


def hostname(index: int) -> str:
    return f"node-{index:04d}"


def signature_name(index: int) -> str:
    return f"kernel-fleet_func_{index}-{hashlib.sha256(str(index).encode()).hexdigest()[:8]}"


_TIMESTAMP = re.compile(rb"\[ *(\d+)\.(\d{6})\]")


def crash_text(log_tail: bytes, shift_usec: int) -> str:
    """The log's newest TEXT_BYTES, as a sender cuts them, with every `[ seconds.usec]`
    moved by shift_usec so that each crash's text differs (as real logs do)."""

    def shifted(match: re.Match[bytes]) -> bytes:
        usec = int(match.group(1)) * 10**6 + int(match.group(2)) + shift_usec
        return b"[%5d.%06d]" % divmod(usec, 10**6)

    return _TIMESTAMP.sub(shifted, log_tail)[-TEXT_BYTES:].decode("utf-8", "replace")


def machine_entries(shape: FleetShape, index: int, log_tail: bytes) -> Iterator[bytes]:
    """Machine `index`'s entries, oldest first: its share of the crash messages (each at
    its own boot, archived 20 s after the crash), each after `other_per_crash` other
    messages; every `resend_every`-th crash message is sent again."""
    rng = random.Random(f"{shape.seed}/{index}")
    count = shape.messages // shape.machines + (index < shape.messages % shape.machines)
    mid, host = machine_id(index), hostname(index)
    start = 1_780_000_000 * 10**6  # 2026-05-28
    weights = [1 / (rank + 1) for rank in range(shape.signatures)]  # a few crash most
    sent = 0
    moment = start + rng.randrange(86_400 * 10**6)
    while sent < count:
        moment += rng.randrange(3_600 * 10**6, 4 * 86_400 * 10**6)
        boot = hashlib.md5(f"{index}/{moment}".encode()).hexdigest()
        archived = moment + 20 * 10**6
        common = [("_MACHINE_ID", mid), ("_HOSTNAME", host), ("_BOOT_ID", boot)]
        for other in range(shape.other_per_crash):
            yield export_entry(
                [("__REALTIME_TIMESTAMP", str(archived - 1000 + other)),
                 ("__MONOTONIC_TIMESTAMP", str(5_000_000 + other)), *common,
                 ("MESSAGE", f"systemd[1]: Started unit-{other}.service."),
                 ("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", "systemd"), ("_TRANSPORT", "journal")]
            )  # fmt: skip
        signature = rng.choices(range(shape.signatures), weights)[0]
        reason = "Panic" if signature % 3 == 0 else "Oops"
        entry = export_entry(
            [("__REALTIME_TIMESTAMP", str(archived)),
             ("__MONOTONIC_TIMESTAMP", "5100000"), *common,
             ("MESSAGE", f"Kernel {reason}#1 from erst archived as {sent}: fleet crash"),
             ("MESSAGE_ID", DUMP_ARCHIVED), ("PRIORITY", "2" if reason == "Panic" else "3"),
             ("SYSLOG_IDENTIFIER", "pstore-archiver"), ("_TRANSPORT", "journal"),
             ("_PID", "312"), ("_UID", "0"), ("_GID", "0"), ("_COMM", "pstore-archiver"),
             ("_SYSTEMD_UNIT", "pstore-archiver.service"),
             ("PSTORE_ENTRY", f"{index}-{sent}-erst-{reason.lower()}1"),
             ("PSTORE_KIND", "dmesg"), ("PSTORE_BACKEND", "erst"),
             ("PSTORE_REASON", reason), ("PSTORE_COUNT", "1"), ("PSTORE_PARTS", "2"),
             ("PSTORE_RECORDS", f"dmesg-erst-{moment}1 dmesg-erst-{moment}2"),
             ("PSTORE_ARCHIVE_PATH", f"/var/lib/pstore-archiver/{index}-{sent}"),
             ("PSTORE_CRASH_TIMESTAMP", str(moment)),
             ("PSTORE_SUMMARY", f"BUG: kernel NULL pointer dereference in fleet_func_{signature}"),
             ("PSTORE_FUNCTION", f"fleet_func_{signature}"), ("PSTORE_PROCESS", "kworker/0:1"),
             ("PSTORE_KERNEL_RELEASE", f"6.1.0-{50 + rng.randrange(6)}-amd64"),
             ("PSTORE_SIGNATURE", signature_name(signature)), ("PSTORE_SIGNATURE_VERSION", "1"),
             ("PSTORE_CRASH_ID", hashlib.sha256(f"{mid}/{moment}".encode()).hexdigest()[:32]),
             ("PSTORE_TAINT", "G"), ("PSTORE_OS_RELEASE", "Flatcar Container Linux 4230.2.3"),
             ("PSTORE_TEXT", crash_text(log_tail, moment % 10**9))]
        )  # fmt: skip
        yield entry
        sent += 1
        if sent < count and (index + sent) % shape.resend_every == 0:
            yield entry
            sent += 1


# --- the cached files ------------------------------------------------------------------------


def cache_key(shape: FleetShape) -> str:
    version = subprocess.run(
        [JOURNAL_REMOTE, "--version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    inputs = [GENERATOR_VERSION, repr(tuple(shape)), version, LOG_SOURCE.read_bytes().hex()]
    return hashlib.sha256("\n".join(inputs).encode()).hexdigest()[:16]


def fleet_journals(shape: FleetShape, cache: Path = CACHE) -> Path:
    """The directory of journal files for shape, made once and then reused."""
    target = cache / f"fleet-{cache_key(shape)}"
    if target.is_dir():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    log_tail = LOG_SOURCE.read_bytes()[-2 * TEXT_BYTES :]
    work = Path(tempfile.mkdtemp(prefix=".fleet-", dir=cache))
    started = time.monotonic()
    try:
        for index in range(shape.machines):
            stream = b"".join(machine_entries(shape, index, log_tail))
            subprocess.run(
                [JOURNAL_REMOTE, f"--output={work}/remote-{hostname(index)}.journal", "-"],
                input=stream, check=True, capture_output=True,
            )  # fmt: skip
        os.rename(work, target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    size = sum(f.stat().st_size for f in target.iterdir())
    print(
        f"generated {shape.machines} journal files, {size / 2**20:.0f} MiB, in "
        f"{time.monotonic() - started:.0f} s: {target}",
        file=sys.stderr,
    )
    return target


# --- measuring -------------------------------------------------------------------------------


class Timing(NamedTuple):
    command: str
    best: float  # wall seconds
    median: float
    samples: tuple[float, ...]
    cpu: tuple[float, ...]  # user + system seconds of each run
    rows: int  # the rows of `--json` output: signatures for top, crashes for crashes


def installed_script() -> str:
    """The console script of the checkout's wheel, installed as bench/run installs it."""
    sys.path.insert(0, str(CHECKOUT / "tests"))  # bench/installed.py uses tests/commands.py
    import installed  # here: only the standalone run builds an install

    try:
        install = installed.install_checkout(CHECKOUT, DEV_PYTHON, DEV_PYTHON)
    except (installed.InstallError, OSError) as exc:
        raise SystemExit(f"fleet_top: {exc}") from None
    print(f"timing {install.describe()}", file=sys.stderr)
    return str(install.script)


def time_command(argv: Sequence[str], repeat: int) -> Timing:
    samples, cpu = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    output = subprocess.run([*argv, "--json"], capture_output=True, check=True).stdout
    return Timing(
        shlex.join(argv), min(samples), statistics.median(samples), tuple(samples),
        tuple(cpu), len(json.loads(output)),
    )  # fmt: skip


DEFAULT_SHAPE = FleetShape()


def measure_fleet_top(
    program: str, shape: FleetShape = DEFAULT_SHAPE, repeat: int = 3
) -> list[Timing]:
    """Time `program top -D` and `program crashes -D` over the fleet's journal files."""
    directory = fleet_journals(shape)
    return [
        time_command([program, verb, "-D", str(directory)], repeat) for verb in ("top", "crashes")
    ]


def report(shape: FleetShape, timings: Sequence[Timing]) -> str:
    lines = [
        f"{shape.messages:,} crash messages (1 in {shape.resend_every} re-sent) from "
        f"{shape.machines:,} machines, {shape.signatures} signatures, "
        f"{shape.other_per_crash} other entries per crash message, one file per machine",
    ]
    for timing in timings:
        samples = " ".join(f"{s:.2f}" for s in timing.samples)
        cpu = " ".join(f"{s:.2f}" for s in timing.cpu)
        lines.append(
            f"  {timing.command}\n    wall: best {timing.best:.2f} s, median "
            f"{timing.median:.2f} s (runs: {samples}); CPU (user+sys): {cpu} s; "
            f"{timing.rows:,} rows"
        )
    top_time = timings[0].median  # as bench/targets.py judges it
    verdict = "met" if top_time < GOAL_SECONDS else "NOT met"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines.append(
        f"goal: top under {GOAL_SECONDS:g} s: {verdict} ({top_time:.2f} s median wall; "
        f"{os.cpu_count()} CPUs, load average {load})"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = DEFAULT_SHAPE
    parser.add_argument("--machines", type=int, default=defaults.machines)
    parser.add_argument("--messages", type=int, default=defaults.messages)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--program",
        help="the pstore-archiver console script to time (default: the checkout's wheel, "
        "installed non-editable as bench/run installs it)",
    )
    args = parser.parse_args(argv)
    shape = defaults._replace(machines=args.machines, messages=args.messages)
    program = args.program or installed_script()
    print(report(shape, measure_fleet_top(program, shape, args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
