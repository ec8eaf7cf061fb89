"""The stores the benchmark runs on: pure builders of record lists, no I/O beyond reading the
test fixtures (the real EFI capture).

* `BootStore`: the boot path's stores (empty, the seed ERST store, the real 15-part EFI panic);
* `Mix`: the scale stores, by mix and size;
* `one_record_entries`: the worst case for the queries, one entry a record;
* `Scope`: how much of each a run does (full, --quick, --smoke);
* `ArchiveFs`: where a run's archive is written.

* `Scope.fleet`: how many crash messages from how many machines the fleet phase's journal
  files hold (bench/fleet_top.py makes them).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence

import stores

BASE_TIME = 1_795_000_000  # 2026-11-18: the synthetic crashes are 2 minutes apart from here
DUMP_SPACING_S = 120  # more than dumps.PART_GAP_NS: consecutive dumps never merge
LINES_PER_PART = 26  # the real EFI capture: 394 log lines in 15 parts of ~1.8 KB
# The mixed store, repeated: (backend or kind, records).  22 records, 5 entries a round.
MIXED_ROUND: tuple[tuple[str, int], ...] = (
    ("erst", 3),
    ("erst", 2),
    ("console", 1),
    ("pmsg", 1),
    ("efi", 15),
)


class BootStore(enum.Enum):
    """The stores of the boot path, each run by every tool."""

    EMPTY = "empty store (0 records)"
    SEED_ERST = "seed ERST store (5 records)"
    REAL_EFI = "real EFI panic (15 records)"

    @property
    def title(self) -> str:
        return self.value

    def records(self) -> list[stores.FakeRecord]:
        if self is BootStore.EMPTY:
            return []
        if self is BootStore.SEED_ERST:
            return stores.seed_erst_store()
        return stores.fixture_records("efi-panic")


class ArchiveFs(enum.Enum):
    """The file system a run's archive is written to (bench/measure.py's Runner)."""

    WORKDIR = "the work directory's file system"
    FRESH_EXT4 = "a new ext4 file system (journal on) for each run, on a loop device"


class Mix(enum.Enum):
    """The scale stores: what their records are, at each size."""

    MIXED = "mixed"  # ERST, ramoops and EFI dumps, in rounds of 22 records (MIXED_ROUND)
    ERST_THREE_PART = "erst-3part"  # ERST dumps of 3 parts each (issue 11: 5,100 / 1,700)

    @property
    def title(self) -> str:
        if self is Mix.MIXED:
            return "mixed store"
        return "ERST store of three-part dumps"

    @property
    def description(self) -> str:
        if self is Mix.MIXED:
            return (
                "repeated every 22 records: ERST Oops (3 parts), ERST Panic (2 parts), ramoops "
                "console, ramoops pmsg, EFI Panic (15 parts)"
            )
        return "ERST Oops dumps of 3 parts each, one every 2 minutes (n / 3 dumps)"

    @property
    def target_size(self) -> int:
        """The size at which pstore-archiver must be no slower than systemd-pstore."""
        return 10_000 if self is Mix.MIXED else 5_100

    def records(self, total: int, lines: Sequence[bytes]) -> list[stores.FakeRecord]:
        if self is Mix.MIXED:
            return mixed_store(total, lines)
        return erst_three_part_store(total, lines)


class Scope(enum.Enum):
    """How much a run measures: the whole benchmark, --quick or --smoke (CI)."""

    FULL = "full"
    QUICK = "quick"
    SMOKE = "smoke"

    def reps(self, asked: int) -> int:
        """Repetitions of the small cases."""
        return {Scope.FULL: asked, Scope.QUICK: min(asked, 3), Scope.SMOKE: 1}[self]

    @property
    def rss_reps(self) -> int:
        """Runs under GNU time per boot-path case, for the peak RSS."""
        return 1 if self is Scope.SMOKE else 2

    def sizes(self, mix: Mix) -> tuple[int, ...]:
        if mix is Mix.MIXED:
            full = {Scope.FULL: (10, 100, 1_000, 10_000), Scope.QUICK: (10, 100, 1_000)}
            return full.get(self, (22,))
        return {Scope.FULL: (5_100,), Scope.QUICK: (510,)}.get(self, (30,))

    @property
    def query_entries(self) -> int:
        return {Scope.FULL: 10_000, Scope.QUICK: 1_000, Scope.SMOKE: 20}[self]

    @property
    def fleet(self) -> tuple[int, int]:
        """The fleet `top` and `crashes` read: (crash messages, machines); issue 10's shape
        on a full run."""
        return {Scope.FULL: (100_000, 1_000), Scope.QUICK: (10_000, 100), Scope.SMOKE: (300, 3)}[
            self
        ]

    @property
    def profiles(self) -> bool:
        return self is not Scope.SMOKE

    @property
    def writes_repository(self) -> bool:
        """Whether its results go into RESULTS.md (and, on a full run, the README)."""
        return self is not Scope.SMOKE


def efi_part_number(name: str) -> int:
    return (int(name.rsplit("-", 1)[1]) // 1000) % 100


def capture_lines() -> list[bytes]:
    """The real EFI capture's log lines, oldest first."""
    parts = sorted(stores.fixture_records("efi-panic"), key=lambda r: -efi_part_number(r.name))
    lines: list[bytes] = []
    for part in parts:
        lines += part.data.split(b"\n", 1)[1].splitlines(keepends=True)
    return lines


def mixed_store(total: int, lines: Sequence[bytes]) -> list[stores.FakeRecord]:
    """Exactly `total` records: the rounds of MIXED_ROUND (ERST Oops/Panic dumps of 3 and 2
    parts, a ramoops console and pmsg record, a 15-part EFI panic), each dump ~1.8 KB a part
    from the real capture's newest lines, every dump 2 minutes after the previous one.  The
    last dump is cut to the records still wanted."""
    records: list[stores.FakeRecord] = []
    index = 0
    while len(records) < total:
        kind, parts = MIXED_ROUND[index % len(MIXED_ROUND)]
        parts = min(parts, total - len(records))
        when = BASE_TIME + index * DUMP_SPACING_S
        count = index % 999 + 1
        dump_lines = lines[-parts * LINES_PER_PART :]
        if kind == "efi":
            records += stores.efi_dump("Panic", count, dump_lines, parts, [when] * parts)
        elif kind == "erst":
            records += erst_dump(when, count, dump_lines, parts)
        elif kind == "console":
            text = b"".join(dump_lines)
            records.append(stores.FakeRecord(f"console-ramoops-{index}", text, when))
        else:
            data = bytes(range(256)) * 4
            records.append(stores.FakeRecord(f"pmsg-ramoops-{index}", data, when))
        index += 1
    return records


def erst_dump(when: int, count: int, lines: Sequence[bytes], parts: int) -> list[stores.FakeRecord]:
    """One ERST dump of `parts` records written at `when` (3 parts: an Oops, else a Panic)."""
    reason = "Oops" if parts == 3 else "Panic"
    return stores.erst_records(when, 1, stores.split_dump(reason, count, lines, parts), when)


def erst_three_part_store(total: int, lines: Sequence[bytes]) -> list[stores.FakeRecord]:
    """`total` ERST records in ceil(total / 3) dumps of 3 parts (the last one cut), ~1.8 KB a
    part from the real capture, 2 minutes apart: issue 11's 5,100 records in 1,700 dumps."""
    dump_lines = lines[-3 * LINES_PER_PART :]
    records: list[stores.FakeRecord] = []
    for index in range(math.ceil(total / 3)):
        when = BASE_TIME + index * DUMP_SPACING_S
        records += erst_dump(when, index % 999 + 1, dump_lines, 3)
    return records[:total]


def one_record_entries(total: int, lines: Sequence[bytes]) -> list[stores.FakeRecord]:
    """`total` records that become `total` entries: single-part ramoops dumps (3 in 4,
    with the real panic) and console records, a minute apart, distinct ids."""
    body = b"".join(lines[-LINES_PER_PART:])
    records = []
    for i in range(total):
        when = BASE_TIME + i * 60
        if i % 4 == 3:
            records.append(stores.FakeRecord(f"console-ramoops-{i}", body, when))
        else:
            data = f"Panic#{i % 999 + 1} Part1\n".encode() + body
            records.append(stores.FakeRecord(f"dmesg-ramoops-{i}", data, when))
    return records
