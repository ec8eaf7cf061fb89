"""Build pstore stores for tests: copies of the real captures, and hand-built records
written the way the kernel writes them (kernel-pstore-format.md §1, §2, §6)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# Real captures (Linux 6.1 in QEMU), byte-exact, with their README and MTIMES.
REAL = Path(__file__).resolve().parent / "data" / "real"


@dataclass(frozen=True)
class FakeRecord:
    name: str
    data: bytes
    mtime: float  # seconds since the epoch, as pstore sets it (the record time)

    @property
    def mtime_ns(self) -> int:
        """The mtime to the microsecond (the finest the captures have), without float noise."""
        return round(self.mtime * 10**6) * 1000


def fixture_dir(name: str) -> Path:
    """A real capture in tests/data/real."""
    if not (REAL / name).is_dir():
        raise FileNotFoundError(f"no real capture {name!r} in {REAL}")
    return REAL / name


def fixture_records(name: str) -> list[FakeRecord]:
    folder = fixture_dir(name)
    mtimes = {}
    for line in (folder / "MTIMES").read_text().splitlines():
        record_name, mtime = line.split("\t")
        mtimes[record_name] = float(mtime)
    return [FakeRecord(n, (folder / n).read_bytes(), mtimes[n]) for n in sorted(mtimes)]


def write_store(path: Path, records: Iterable[FakeRecord]) -> Path:
    """Write records into a directory the way pstore shows them: 0444, mtime = record time."""
    path.mkdir(parents=True, exist_ok=True)
    for record in records:
        target = path / record.name
        target.write_bytes(record.data)
        target.chmod(0o444)
        os.utime(target, ns=(record.mtime_ns, record.mtime_ns))
    return path


def copy_fixture(name: str, path: Path) -> Path:
    return write_store(path, fixture_records(name))


def log_lines(count: int, start: float = 0.0, label: str = "line") -> list[bytes]:
    """`count` kernel log lines `<6>[    1.000000] label N`, oldest first."""
    return [f"<6>[{start + i * 0.001:12.6f}] {label} {i}\n".encode() for i in range(count)]


def split_dump(reason: str, count: int, lines: Sequence[bytes], parts: int) -> list[bytes]:
    """The parts of one kmsg dump, Part1 first: Part1 holds the newest lines (§2.3)."""
    size = -(-len(lines) // parts)
    chunks = [lines[i : i + size] for i in range(0, len(lines), size)]
    chunks.reverse()  # newest chunk first
    return [
        f"{reason}#{count} Part{n}\n".encode() + b"".join(chunk)
        for n, chunk in enumerate(chunks, start=1)
    ]


def efi_id(timestamp: int, part: int, count: int) -> int:
    return (timestamp * 100 + part) * 1000 + count  # §6.1 generic_id


def efi_dump(
    reason: str,
    count: int,
    lines: Sequence[bytes],
    parts: int,
    timestamps: Sequence[int],
    backend: str = "efi",
) -> list[FakeRecord]:
    """An EFI dump; `timestamps[i]` is the wall-clock second Part(i+1) was written in."""
    return [
        FakeRecord(f"dmesg-{backend}-{efi_id(timestamps[i], i + 1, count)}", data, timestamps[i])
        for i, data in enumerate(split_dump(reason, count, lines, parts))
    ]


def erst_id(seed_seconds: int, sequence: int) -> int:
    return (seed_seconds << 32) + sequence  # §6.2


def erst_records(
    seed_seconds: int, first_sequence: int, datas: Sequence[bytes], mtime: int
) -> list[FakeRecord]:
    return [
        FakeRecord(f"dmesg-erst-{erst_id(seed_seconds, first_sequence + i)}", data, mtime)
        for i, data in enumerate(datas)
    ]


def seed_erst_store() -> list[FakeRecord]:
    """The five ERST files of the systemd-pstore study: `Oops#1` Part1-2 then `Panic#2`
    Part1-3 of one boot, ids 6319986351055831041..45 (seed 1471486490)."""
    oops_lines = log_lines(40, 1.0, "before oops")
    panic_lines = [*oops_lines, *log_lines(20, 5.0, "after oops")]
    oops = split_dump("Oops", 1, oops_lines, 2)
    panic = split_dump("Panic", 2, panic_lines, 3)
    return erst_records(1471486490, 1, [*oops, *panic], 1471486500)


def ramoops_console_pmsg_store() -> list[FakeRecord]:
    """ramoops with a dmesg zone, a console and a pmsg record (binary)."""
    return [
        FakeRecord(
            "dmesg-ramoops-0", b"Panic#1 Part1\n" + b"".join(log_lines(30)), 1700000000.123456
        ),
        FakeRecord("console-ramoops-0", b"ole line cut\n[    1.0] console text\n", 1700000100.0),
        FakeRecord("pmsg-ramoops-0", bytes(range(256)) * 4, 1700000100.0),
    ]


def copy_tree(source: Path, target: Path) -> None:
    shutil.copytree(source, target, symlinks=True)
