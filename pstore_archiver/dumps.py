"""Pure grouping of records into entries, and rendering of the reassembled log.

One entry per kmsg dump (all the parts of one `Reason#count` of one boot) and one per
other record.  Section numbers refer to `kernel-pstore-format.md`.
"""

from __future__ import annotations

import re

from pstore_archiver.records import (
    EFI_BACKENDS,
    ERST_BACKEND,
    Record,
    decode_efi_id,
    decode_erst_id,
)
from pstore_archiver.times import format_stamp_ns
from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable, Sequence

# Parts of one EFI dump are written 1-3 s apart (fixtures README); dumps of two boots with
# the same Reason#count are minutes apart.  A larger gap between parts means another dump.
PART_GAP_NS = 30 * 10**9
_UNSAFE = r"[^A-Za-z0-9_.]+"
# Entry ids stay short whatever a name holds (a directory name is at most 255 bytes): the
# kernel's backend names are at most 10 characters, its kinds and reasons 14.
MAX_BACKEND_CHARS = 32
MAX_WHAT_CHARS = 48
# A gap of more missing parts than this is told in one line, not one line a part.
GAP_LINES = 8


class Entry(NamedTuple):
    """What becomes one directory of the archive."""

    kind: str
    backend: str | None
    reason: str | None
    oopscount: int | None  # the header's `#count`: manifest "count" (see manifest.py)
    records: tuple[Record, ...]  # dumps: oldest part (highest number) first
    missing_parts: tuple[int, ...]
    crash_time_ns: int

    @property
    def is_dump(self) -> bool:
        return self.reason is not None

    @property
    def what(self) -> str:
        if self.reason is None:
            return _safe(self.kind, MAX_WHAT_CHARS)
        count = self.oopscount or 0
        return _safe(
            f"{self.reason.lower()}{count if count >= 0 else f'n{-count}'}", MAX_WHAT_CHARS
        )

    @property
    def base_id(self) -> str:
        """The directory name before any `-N` suffix (DESIGN §3)."""
        backend = _safe(self.backend or "unknown", MAX_BACKEND_CHARS)
        return f"{format_stamp_ns(self.crash_time_ns)}-{backend}-{self.what}"


def _safe(word: str, max_chars: int) -> str:
    return re.sub(_UNSAFE, "_", word)[:max_chars] or "_"


def group(records: Iterable[Record]) -> list[Entry]:
    """Entries for all records, each record in exactly one, independent of input order."""
    entries: list[Entry] = []
    dumps: dict[Hashable, list[Record]] = {}
    for record in records:
        if record.name.kind == "dmesg" and record.header is not None:
            dumps.setdefault(_dump_key(record), []).append(record)
        else:
            entries.append(_single_entry(record))
    for parts in dumps.values():
        parts.sort(key=_write_order)
        entries.extend(_dump_entry(run) for run in _split_dumps(parts))
    return sorted(entries, key=_entry_order)


def _dump_key(record: Record) -> Hashable:
    assert record.header is not None
    boot = None
    if record.name.backend == ERST_BACKEND and record.name.id is not None:
        boot = decode_erst_id(record.name.id).seed_seconds  # §5.2: same seed, same boot
    return (record.name.backend, boot, record.header.reason, record.header.oopscount)


def _write_time_ns(record: Record) -> int:
    if record.name.backend in EFI_BACKENDS and record.name.id is not None:
        return decode_efi_id(record.name.id).timestamp * 10**9  # §6.1
    return record.mtime_ns


def _write_order(record: Record) -> tuple[int, int, int, str]:
    """The order in which the kernel wrote the parts: Part1 first (§2.3)."""
    assert record.header is not None
    if record.name.backend == ERST_BACKEND and record.name.id is not None:
        return (0, record.name.id, record.header.part, record.name.name)  # consecutive ids
    return (_write_time_ns(record), record.header.part, record.name.id or 0, record.name.name)


def _split_dumps(parts: Sequence[Record]) -> list[list[Record]]:
    """Cut the write-ordered parts of one key wherever a new dump starts: the part number
    does not grow (the kernel writes Part1, Part2, ... in turn) or too much time passed.
    Two files of one name never share an entry (copies gathered from several places)."""
    runs: list[list[Record]] = []
    names: set[str] = set()  # the names in the last run
    for record in parts:
        assert record.header is not None
        if runs:
            last = runs[-1][-1]
            assert last.header is not None
            same_dump = (
                record.header.part > last.header.part
                and (
                    record.name.backend == ERST_BACKEND
                    or _write_time_ns(record) - _write_time_ns(last) <= PART_GAP_NS
                )
                and record.name.name not in names
            )
            if same_dump:
                runs[-1].append(record)
                names.add(record.name.name)
                continue
        runs.append([record])
        names = {record.name.name}
    return runs


def _dump_entry(parts: list[Record]) -> Entry:
    by_part = sorted(parts, key=lambda r: -_part(r))
    numbers = {_part(r) for r in parts}
    missing = tuple(n for n in range(1, max(numbers)) if n not in numbers)
    first = next((r for r in parts if _part(r) == 1), parts[0])
    assert first.header is not None
    return Entry(
        kind="dmesg",
        backend=first.name.backend,
        reason=first.header.reason,
        oopscount=first.header.oopscount,
        records=tuple(by_part),
        missing_parts=missing,
        crash_time_ns=min(r.mtime_ns for r in parts) if 1 not in numbers else first.mtime_ns,
    )


def _part(record: Record) -> int:
    assert record.header is not None
    return record.header.part


def _single_entry(record: Record) -> Entry:
    return Entry(
        kind=record.name.kind,
        backend=record.name.backend,
        reason=None,
        oopscount=None,
        records=(record,),
        missing_parts=(),
        crash_time_ns=record.mtime_ns,
    )


def _entry_order(entry: Entry) -> tuple[int, str, int, int, str]:
    first = entry.records[-1].name  # Part1 of a dump
    return (
        entry.crash_time_ns,
        entry.backend or "",
        entry.oopscount or 0,
        first.id or 0,
        first.name,
    )


def missing_marker(part: int) -> bytes:
    return f"[pstore-archiver: Part {part} missing]\n".encode()


def missing_markers(newest: int, oldest: int) -> list[bytes]:
    """The marker lines for the missing parts `newest` down to `oldest` (newest >=
    oldest), in log order (highest part first): one line a part, or one line for a long
    gap, so a header such as `Part9999` costs one line, not thousands."""
    count = newest - oldest + 1
    if count <= 0:
        return []
    if count <= GAP_LINES:
        return [missing_marker(p) for p in range(newest, oldest - 1, -1)]
    return [f"[pstore-archiver: Parts {oldest}-{newest} missing ({count} parts)]\n".encode()]


def truncated_marker(record: Record) -> bytes:
    return (
        f"[pstore-archiver: {record.name.name}: decompressed text cut at "
        f"{record.text_cap} bytes]\n".encode()
    )


class Piece(NamedTuple):
    """One piece of a dump's reassembled log: a record's body, or a marker line."""

    record: Record | None
    marker: bytes = b""


def dmesg_plan(entry: Entry) -> list[Piece]:
    """The log of a dump, oldest line first: bodies of PartN ... Part1 without their
    headers (§5), marker lines where parts are missing, or a decoded text was cut.  A
    body that does not end in a newline gets one (a part cut mid-line, §2.3), so the next
    part starts on its own line; whoever writes the pieces adds it."""
    pieces: list[Piece] = []
    expected = None
    for record in entry.records:
        part = _part(record)
        if expected is not None:
            pieces.extend(Piece(None, m) for m in missing_markers(expected, part + 1))
        pieces.append(Piece(record))
        if record.truncated:
            pieces.append(Piece(None, truncated_marker(record)))
        expected = part - 1
    if expected is not None:
        pieces.extend(Piece(None, m) for m in missing_markers(expected, 1))
    return pieces


def render_dmesg(entry: Entry) -> bytes:
    """The reassembled log of a dump whose records are held in memory (`dmesg_plan`)."""
    chunks: list[bytes] = []
    for piece in dmesg_plan(entry):
        if piece.record is None:
            chunks.append(piece.marker)
            continue
        body = piece.record.body
        if body and not body.endswith(b"\n"):
            body += b"\n"  # a part cut mid-line (§2.3): keep the next part on its own line
        chunks.append(body)
    return b"".join(chunks)
