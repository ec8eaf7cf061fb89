"""One run as a transaction: lock, scan, group, publish, unlink, report.

The order is the promise (DESIGN §1): a record is unlinked from its source only after the
entry holding it is durable in the archive, and journald hears of an entry only then.
`run` and `import` are the same transaction over two kinds of source (`store.Store`, the
pstore directory; `store.SystemdPstoreDir`, what systemd-pstore left).

A record is removed from its source only on evidence read from the archive itself, and
only if the file there is still the one that was read (`Source.remove`):

* a record written by this run: the SHA-256 of the bytes that were written and fsynced,
  which must be the record's as read;
* a record the archive already holds (an interrupted run, an erase that failed): the
  entry's manifest, read now, lists it, and the copy beside it hashes to it.  The index
  only says where to look.

One odd record never holds the others back: a record that cannot be read, or whose entry
the archive's file system refuses (a name), stays where it is with a reason, and the
others are archived all the same.  Only a failure of the archive itself (full, read-only)
stops the run.
"""

from __future__ import annotations

import os

from pstore_archiver import journal
from pstore_archiver.archive import (
    Archive,
    EntryRefused,
    KnownRecord,
    Staging,
    StoredEntry,
    syncfs_available,
)
from pstore_archiver.config import Config, source_is_default
from pstore_archiver.diagnostics import log
from pstore_archiver.dumps import Entry, dmesg_plan, group
from pstore_archiver.errors import ArchiveUnwritable, ConfigError, describe_os_error
from pstore_archiver.journal import Field, MessageId, Sink
from pstore_archiver.manifest import (
    DMESG_NAME,
    MANIFEST_NAME,
    MAX_LISTED_MISSING,
    RESERVED_NAMES,
    Manifest,
    Origin,
    build_manifest,
    render_manifest,
)
from pstore_archiver.records import Record, decode_chunks
from pstore_archiver.retention import Candidate, Limits, Removal, select_removals
from pstore_archiver.store import (
    Found,
    RecordUnreadable,
    Source,
    Store,
    SystemdPstoreDir,
)
from pstore_archiver.times import format_time_ns
from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import Any, Union

DEFAULT_IMPORT_PATH = "/var/lib/systemd/pstore"


class RunOptions(NamedTuple):
    dry_run: bool = False
    unlink: bool = True  # `import`: --remove


class LeftRecord(NamedTuple):
    """A record left in the store, why, and the entry it belongs to if one was made."""

    name: str
    reason: str
    entry: str | None = None


class RunReport:
    """What a run did; `--json` prints it, the exit status is derived from it."""

    def __init__(
        self, source: str, archive: str, dry_run: bool, imported_from: str | None = None
    ) -> None:
        self.source = source
        self.archive = archive
        self.dry_run = dry_run
        self.imported_from = imported_from
        self.entries: list[dict[str, Any]] = []
        self.archived: list[str] = []
        self.unlinked: list[str] = []
        self.already_archived: list[str] = []
        self.left: list[LeftRecord] = []
        self.ignored: list[dict[str, str]] = []
        self.removed: list[str] = []
        self.removals: list[dict[str, Any]] = []
        self.damaged: list[dict[str, str]] = []
        self.directories_removed: list[str] = []
        self.bytes_freed = 0
        self.error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "archive": self.archive,
            "dry_run": self.dry_run,
            "imported_from": self.imported_from,
            "entries": self.entries,
            "records_archived": self.archived,
            "records_unlinked": self.unlinked,
            "records_already_archived": self.already_archived,
            "records_left": [left._asdict() for left in self.left],
            "records_ignored": self.ignored,
            "entries_removed": self.removed,
            "removals": self.removals,
            "entries_damaged": self.damaged,
            "directories_removed": self.directories_removed,
            "bytes_freed": self.bytes_freed,
            "error": self.error,
        }

    def leave(self, name: str, reason: str, entry: str | None = None) -> None:
        self.left.append(LeftRecord(name, reason, entry))


def read_origin(now_ns: int) -> Origin:
    return Origin(
        archived_at_ns=now_ns,
        boot_id=_read_id("/proc/sys/kernel/random/boot_id"),
        machine_id=_read_id("/etc/machine-id"),
        hostname=os.uname().nodename or None,
        os_release=read_os_release(),
    )


def read_os_release() -> str | None:
    """PRETTY_NAME from os-release(5): /etc/os-release, else /usr/lib/os-release."""
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read(64 << 10).splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip("\"'") or None
        return None
    return None


def _read_id(path: str) -> str | None:
    try:
        with open(path, "rb") as f:  # bytes: a text file would load the ascii codec (0.2 ms)
            return f.read(256).decode("ascii", "replace").strip().replace("-", "") or None
    except OSError:
        return None


def check_source(config: Config) -> None:
    """An explicitly named store that is not a directory is a configuration error; the
    default one missing means no pstore here (a notice, exit 0)."""
    if source_is_default(config):
        return
    if not os.path.isdir(config.source_path):
        problem = _why_not_a_directory(config.source_path)
        origin = config.origins.get("source.path", "(configuration)")
        raise ConfigError(
            f"{origin}: source.path = {config.source_path!r}: {problem} "
            "(expected the pstore directory)"
        )


def _why_not_a_directory(path: str) -> str:
    return "is not a directory" if os.path.exists(path) else "does not exist"


def run_once(
    store: Store, archive: Archive, limits: Limits, options: RunOptions, sink: Sink, origin: Origin
) -> RunReport:
    """`run`: archive what is in the pstore directory `store` into `archive`, then apply
    the retention `limits`."""
    report = RunReport(store.path, archive.path, options.dry_run)
    if not os.path.isdir(store.path):
        sink.send(
            MessageId.no_backend,
            5,
            f"{store.path}: no pstore mounted there; nothing to archive",
            {},
        )
        return report
    if store.is_pstore_mount() and store.backend() is None:
        sink.send(
            MessageId.no_backend,
            5,
            f"{store.path}: no pstore backend is registered ({store.backend_parameter} reads "
            "(null)), so the next crash will not be recorded; see: pstore-archiver status",
            {},
        )
    return _transact(store, archive, limits, options, sink, origin, report)


def import_once(
    directory: str | None,
    archive: Archive,
    limits: Limits,
    options: RunOptions,
    sink: Sink,
    origin: Origin,
) -> RunReport:
    """`import`: archive what systemd-pstore left in `directory` (by default
    /var/lib/systemd/pstore) into `archive`, keeping it unless `options.unlink` (--remove)."""
    path = directory if directory is not None else DEFAULT_IMPORT_PATH
    source = SystemdPstoreDir(path)
    report = RunReport(path, archive.path, options.dry_run, os.path.abspath(path))
    if not os.path.isdir(path):
        if directory is not None:
            problem = _why_not_a_directory(path)
            raise ConfigError(
                f"import {path!r}: {problem} (expected what systemd-pstore left, "
                f"e.g. {DEFAULT_IMPORT_PATH})"
            )
        log.info("%s: no such directory: systemd-pstore left nothing to import.", path)
        return report
    return _transact(source, archive, limits, options, sink, origin, report)


def _transact(
    source: Source,
    archive: Archive,
    limits: Limits,
    options: RunOptions,
    sink: Sink,
    origin: Origin,
    report: RunReport,
) -> RunReport:
    if options.dry_run:
        _Transaction(source, archive, -1, options, sink, origin, report).plan()
        return report
    with archive.locked() as archive_fd:
        for name in archive.remove_staging(archive_fd):
            log.info("%s: removed %s left by an interrupted run", archive.path, name)
        _Transaction(source, archive, archive_fd, options, sink, origin, report).archive_all()
        created = {entry["id"] for entry in report.entries}
        removals = apply_retention(
            archive, archive_fd, limits, created, sink, origin.archived_at_ns / 1e9
        )
        report.removed = [r.entry_id for r in removals]
        report.removals = [
            {"id": r.entry_id, "bytes": r.size_bytes, "reason": r.reason} for r in removals
        ]
        if report.imported_from is None:
            archive.write_last_run(
                {"finished_at": format_time_ns(origin.archived_at_ns), **report.to_json()}
            )
    _send_summary(sink, report)
    return report


def limits_of(config: Config) -> Limits:
    """The [retention] settings: Limits' fields are their Config attributes (a test
    holds the two to config.SETTINGS)."""
    return Limits(*(getattr(config, field) for field in Limits._fields))


def plan_retention(
    archive: Archive, limits: Limits, protected: set[str], now_s: float
) -> list[Removal]:
    candidates = [
        Candidate(
            entry.entry_id,
            entry.manifest.crash_time_ns / 10**9,
            entry.size_bytes,
            entry.entry_id in protected,
        )
        for entry in archive.entries()
    ]
    return select_removals(candidates, limits, archive.free_bytes(), now_s)


def apply_retention(
    archive: Archive,
    archive_fd: int,
    limits: Limits,
    protected: set[str],
    sink: Sink,
    now_s: float,
) -> list[Removal]:
    """Remove what the limits ask for, oldest first, never `protected` (this run's)
    nor the newest `limits.keep_newest`."""
    try:
        removals = plan_retention(archive, limits, protected, now_s)
    except OSError as e:
        log.warning("%s: retention skipped: %s", archive.path, describe_os_error(e))
        return []
    done = []
    for removal in removals:
        try:
            archive.remove_entry(archive_fd, removal.entry_id)
        except OSError as e:
            error = describe_os_error(e)
            log.warning("%s: cannot remove %s: %s", archive.path, removal.entry_id, error)
            continue
        done.append(removal)
        sink.send(
            MessageId.entry_removed,
            6,
            f"Removed {removal.entry_id} from {archive.path}: {removal.reason}",
            {
                Field.entry: removal.entry_id,
                Field.archive_path: os.path.join(archive.path, removal.entry_id),
            },
        )
    return done


def _entry_summary(entry_id: str, entry: Entry, path: str) -> dict[str, Any]:
    return {
        "id": entry_id,
        "kind": entry.kind,
        "backend": entry.backend,
        "reason": entry.reason,
        "count": entry.oopscount,
        "records": [r.origin for r in entry.records],
        "missing_parts": list(entry.missing_parts[:MAX_LISTED_MISSING]),
        "missing_count": len(entry.missing_parts),
        "path": path,
    }


# Entries renamed into place before one fsync of the archive directory makes them durable
# (and their records may be unlinked): one fsync per batch, not per entry.
BATCH_ENTRIES = 256

# A batch of at least this many entries is made durable by one syncfs (`publish_batch`),
# not by an fsync of each file and directory (six for an entry of three records).
SYNCFS_ENTRIES = 8


class _Published(NamedTuple):
    entry_id: str
    entry: Entry
    manifest: Manifest
    stored: StoredEntry
    journal_text: bytes | None
    frames: tuple[str, ...]  # the call trace, for PSTORE_FRAMES
    staging: Staging  # where it was written, to be made durable and renamed to entry_id


class _Refused(NamedTuple):
    """An entry not written for a reason of its own (a record, a name)."""

    entry_id: str
    entry: Entry
    reason: str


if TYPE_CHECKING:
    # What became of an entry of a batch: None when it was not attempted.
    _Result = Union[_Published, _Refused, ArchiveUnwritable, None]


class _Tail:
    """The newest `limit` bytes of what passes through, and how much passed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: list[bytes] = []
        self.kept = 0
        self.total = 0

    def through(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.total += len(chunk)
            self.chunks.append(chunk)
            self.kept += len(chunk)
            if self.kept > 2 * self.limit:
                joined = b"".join(self.chunks)[-self.limit :]
                self.chunks, self.kept = [joined], len(joined)
            yield chunk

    def data(self) -> bytes:
        return b"".join(self.chunks)[-self.limit :] if self.limit else b""


def _body_chunks(record: Record, staging: Staging) -> Iterator[bytes]:
    """A record's text without its header, from memory or from its copy in `staging`,
    decoded when it is an `.enc.z` that decodes."""
    if record.data is not None:
        yield record.body
        return
    chunks: Iterable[bytes] = staging.read_chunks(record.name.name)
    if record.decoding is not None:
        chunks = decode_chunks(chunks, record.decoding, record.text_cap)
    skip = record.header.body_offset if record.header else 0
    for chunk in chunks:
        if skip:
            cut = min(skip, len(chunk))
            chunk, skip = chunk[cut:], skip - cut
        if chunk:
            yield chunk


def dmesg_chunks(entry: Entry, staging: Staging) -> Iterator[bytes]:
    """The reassembled log of a dump (`dumps.dmesg_plan`), in pieces."""
    for piece in dmesg_plan(entry):
        if piece.record is None:
            yield piece.marker
            continue
        last = b""
        for chunk in _body_chunks(piece.record, staging):
            last = chunk[-1:]
            yield chunk
        if last and last != b"\n":
            yield b"\n"  # a part cut mid-line (§2.3): keep the next part on its own line


class Split(NamedTuple):
    """The records a source holds, by what the archive's index says of them."""

    reserved: list[Found]  # named like an entry's own files: never archived
    copies: dict[str, list[Found]]  # by the first's origin: the same name and bytes again
    candidates: list[tuple[Found, KnownRecord | None]]  # and where the index has it, if it does


def split_found(found: Sequence[Found], known: Mapping[tuple[str, str], KnownRecord]) -> Split:
    """Pure: the known/new split of `run`, `run --dry-run` and `import` alike, by name and
    SHA-256.  A candidate the index knows is only where to look (`Archive.holds_copy`)."""
    split = Split([], {}, [])
    first: dict[tuple[str, str], Found] = {}
    for each in found:
        record = each.record
        if record.name.name in RESERVED_NAMES:
            split.reserved.append(each)
            continue
        key = (record.name.name, record.sha256)
        if key in first:  # the same name and bytes twice (import): one copy is enough
            split.copies.setdefault(first[key].record.origin, []).append(each)
            continue
        first[key] = each
        split.candidates.append((each, known.get(key)))
    return split


class _Transaction:
    """One locked run over a source: every step in the order DESIGN §1 promises."""

    def __init__(
        self,
        source: Source,
        archive: Archive,
        archive_fd: int,
        options: RunOptions,
        sink: Sink,
        origin: Origin,
        report: RunReport,
    ) -> None:
        self.source = source
        self.archive = archive
        self.archive_fd = archive_fd
        self.options = options
        self.sink = sink
        self.origin = origin
        self.report = report
        self.found: dict[str, Found] = {}  # by record origin
        self.copies: dict[str, list[Found]] = {}  # more files with a record's name and bytes
        self.synced: set[str] = set()  # old entries made durable by this run
        self.removed: list[Found] = []

    @property
    def importing(self) -> bool:
        return self.report.imported_from is not None

    def imported_from(self, entry: Entry) -> str | None:
        """Where an imported entry's records were: the directory that holds them all
        (systemd-pstore's `<key>/`, or the import directory itself)."""
        if self.report.imported_from is None:
            return None
        parents = {os.path.dirname(r.origin) for r in entry.records}
        common = os.path.commonpath(sorted(parents)) if "" not in parents else ""
        return (
            os.path.join(self.report.imported_from, common) if common else self.report.imported_from
        )

    def select(self) -> list[Record]:
        """Scan the source; report what stays; settle what the archive already holds;
        return the records to archive."""
        scan = self.source.scan()
        for skipped in scan.left:
            self.report.leave(skipped.name, skipped.reason)
            self.sink.send(
                MessageId.records_kept,
                3,
                f"{os.path.join(self.source.path, skipped.name)}: kept in the store: "
                f"{skipped.reason}",
                {Field.records: skipped.name},
            )
        self.report.ignored = [{"name": s.name, "reason": s.reason} for s in scan.ignored]
        known = self.archive.known_records() if os.path.isdir(self.archive.path) else {}
        self.report.damaged = [
            {"id": d.entry_id, "reason": d.reason} for d in self.archive.damaged()
        ]
        self.found = {found.record.origin: found for found in scan.found}
        split = split_found(scan.found, known)
        for found in split.reserved:
            reason = (
                "its name is one of an entry's own files "
                f"({', '.join(sorted(RESERVED_NAMES))}): rename it to archive it"
            )
            self.report.leave(found.record.origin, reason)
        self.copies = split.copies
        new: list[Record] = []
        for found, previous in split.candidates:
            record = found.record
            if previous is not None:
                problem = self.archive.holds_copy(
                    previous.entry_id, record.name.name, record.size, record.sha256
                )
                if problem is None:
                    self.handle_known(found, previous)
                    continue
                log.warning(
                    "%s: the index says %s holds it, but %s: archiving it again",
                    found.path,
                    previous.entry_id,
                    problem,
                )
            new.append(record)
        return new

    def plan(self) -> None:
        """--dry-run: what a run would archive, touching nothing."""
        records = self.select()
        taken = self.archive.names()
        for entry in group(records):
            entry_id = self.archive.unique_id(entry.base_id, taken)
            self.report.entries.append(
                _entry_summary(entry_id, entry, os.path.join(self.archive.path, entry_id))
            )

    def archive_all(self) -> None:
        records = self.select()
        taken = self.archive.names()
        entries = group(records)
        for start in range(0, len(entries), BATCH_ENTRIES):
            if not self.publish_batch(
                entries[start : start + BATCH_ENTRIES], entries[start:], taken
            ):
                break
        self.report.directories_removed = self.source.tidy(self.removed)
        for directory in self.report.directories_removed:
            log.info(
                "%s: removed the directory, emptied by the import",
                os.path.join(self.source.path, directory),
            )

    def publish_batch(self, batch: list[Entry], rest: list[Entry], taken: set[str]) -> bool:
        """Make each entry of the batch durable under its name, fsync the archive once for
        all of them, and only then unlink and announce.  False when the archive failed:
        what was not made durable stays in the store, with `rest` after it."""
        planned = [(self.archive.unique_id(e.base_id, taken), e) for e in batch]
        by_syncfs = len(planned) >= SYNCFS_ENTRIES and syncfs_available(os.uname().release)
        results = self.publish_staged(self.write(planned), by_syncfs)
        later: list[tuple[str | None, Entry]] = [(None, e) for e in rest[len(batch) :]]
        for result in results:
            if isinstance(result, _Refused):
                self.refuse(result)
        try:
            self.archive.sync(self.archive_fd)
        except ArchiveUnwritable as e:
            # renamed but maybe not durable: the records stay; the next run syncs them
            kept = [(i, e) for (i, e), r in zip(planned, results) if not isinstance(r, _Refused)]
            self.keep(kept, str(e), str(e))
            self.keep(later, str(e), None)
            return False
        for result in results:
            if isinstance(result, _Published):
                self.finish(result)
        failures = [
            ((i, e), r) for (i, e), r in zip(planned, results) if isinstance(r, ArchiveUnwritable)
        ]
        if not failures:
            return True
        for item, failure in failures:
            self.keep([item], str(failure), str(failure))
        unattempted: list[tuple[str | None, Entry]] = [
            (i, e) for (i, e), r in zip(planned, results) if r is None
        ]
        self.keep(unattempted + later, str(failures[0][1]), None)
        return False

    def write(self, planned: list[tuple[str, Entry]]) -> list[_Result]:
        """Write the entries, staged, for `publish_staged`: for each, what became of it
        (None: not attempted, after the archive failed).  One at a time, stopping at a
        failure of the archive.  (Threads made a
        batch slower: with no fsync among the writes, nothing blocks long enough for
        another thread's Python work to overlap it, and they contend for the GIL.)"""
        results: list[_Result] = []
        for entry_id, entry in planned:
            result = self.write_one(entry_id, entry)
            results.append(result)
            if isinstance(result, ArchiveUnwritable):
                results.extend(None for _ in planned[len(results) :])
                break
        return results

    def publish_staged(self, results: list[_Result], by_syncfs: bool) -> list[_Result]:
        """The staged entries of a batch, made durable and renamed to their ids, in order,
        until the archive fails.  Each is fsynced (its files, then itself) before its
        rename, or, `by_syncfs`, all of them by one syncfs of the archive's file system.

        One syncfs is as durable as an fsync of each file and directory: it writes back every
        dirty page and inode of the file system, commits its journal and waits
        (syncfs(2)), so every file and every name inside the staging directories is on
        disk when it returns 0, and since Linux 5.8 it returns the write-back errors
        fsync would have (`syncfs_available`).  The renames change only the archive
        directory, whose fsync (`Archive.sync`, in `publish_batch`) comes before any
        record is unlinked; a crash before it leaves renamed entries that the next run
        syncs (`make_durable`) before it unlinks, or staging directories it removes."""
        staged = [r for r in results if isinstance(r, _Published)]
        try:
            if by_syncfs:
                self.archive.sync_filesystem(self.archive_fd)
        except ArchiveUnwritable as e:
            for published in staged:
                published.staging.discard()
            return [e if isinstance(r, _Published) else r for r in results]
        failed = False
        for index, result in enumerate(results):
            if not isinstance(result, _Published):
                continue
            if failed:  # the archive failed at an earlier entry: not attempted
                result.staging.discard()
                results[index] = None
                continue
            results[index] = self.rename(result, by_syncfs)
            failed = isinstance(results[index], ArchiveUnwritable)
        return results

    def rename(self, published: _Published, by_syncfs: bool) -> _Result:
        """A staged entry made durable (unless by syncfs) and renamed to its id (or not,
        and why)."""
        staging = published.staging
        try:
            staging.publish(published.entry_id, sync_files=not by_syncfs)
        except ArchiveUnwritable as e:
            staging.discard()
            return e
        except EntryRefused as e:
            staging.discard()
            return _Refused(published.entry_id, published.entry, str(e))
        return published

    def write_one(self, entry_id: str, entry: Entry) -> _Result:
        try:
            return self.write_entry(entry_id, entry)
        except ArchiveUnwritable as e:
            return e
        except (EntryRefused, RecordUnreadable) as e:
            return _Refused(entry_id, entry, str(e))

    def write_entry(self, entry_id: str, entry: Entry) -> _Published:
        """Everything the entry's directory holds (the records' copies, the log and the
        manifest), staged, to be published as `entry_id`."""
        from pstore_archiver.analysis import (  # only for an entry
            ANALYSIS_BYTES,
            KERNEL_LOG_KINDS,
            analyze_entry,
        )

        staging = self.archive.stage(self.archive_fd)
        try:
            size = 0
            for record in entry.records:
                size += self.copy_record(staging, record)
            text: bytes | None = None
            journal_text: bytes | None = None
            if entry.is_dump:
                tail = _Tail(max(ANALYSIS_BYTES, self.sink.max_attach_bytes))
                written = staging.write_stream(
                    DMESG_NAME, tail.through(dmesg_chunks(entry, staging))
                )
                size += written.size
                text = tail.data()
                journal_text = self.sink.attachment(text, written.size, self.origin.hostname)
            elif entry.kind in KERNEL_LOG_KINDS:
                record = entry.records[0]
                text = record.data
                if text is None:
                    text = staging.read_tail(record.name.name, ANALYSIS_BYTES)
            analysis = analyze_entry(entry.kind, text)
            manifest = build_manifest(
                entry_id, entry, self.origin, analysis, self.imported_from(entry)
            )
            document = render_manifest(manifest)
            written = staging.write(MANIFEST_NAME, document)
            size += written.size
        except Exception:
            staging.discard()
            raise
        stored = StoredEntry(manifest, size, written.key, document)
        frames = analysis.call_trace if analysis else ()
        return _Published(entry_id, entry, manifest, stored, journal_text, frames, staging)

    def copy_record(self, staging: Staging, record: Record) -> int:
        """Copy one record byte-exact (mtime = its time); the bytes written must be the
        ones that were read, by size and SHA-256: the evidence for its unlink.  A record
        held in memory is written from the very bytes that were hashed as they were read;
        one read again from the store is hashed again as it is written."""
        name = record.name.name
        if record.data is not None:
            staging.write(name, record.data, record.mtime_ns)
            return len(record.data)
        chunks = self.source.read_chunks(self.found[record.origin])
        written = staging.write_stream(name, chunks, record.mtime_ns, hashed=True)
        if (written.size, written.sha256) != (record.size, record.sha256):
            raise RecordUnreadable(f"{record.origin}: changed while being archived")
        return written.size

    def handle_known(self, found: Found, previous: KnownRecord) -> None:
        """A record whose name and bytes the archive holds (checked by `holds_copy`): an
        interrupted run of this boot, a record the backend failed to erase (§3.6), or one
        imported before.  Never archived twice."""
        record = found.record
        self.report.already_archived.append(record.origin)
        if not self.options.unlink or self.options.dry_run:
            return
        if previous.entry_id not in self.synced:
            try:
                self.archive.make_durable(self.archive_fd, previous.entry_id)
            except ArchiveUnwritable as e:
                self.report.error = str(e)
                self.report.leave(record.origin, str(e), previous.entry_id)
                return
            self.synced.add(previous.entry_id)
        if previous.boot_id != self.origin.boot_id and not self.importing:
            self.sink.send(
                MessageId.record_returned,
                4,
                f"{found.path} came back after being archived in "
                f"{previous.entry_id} (the backend did not erase it); removing it again",
                {Field.records: record.origin, Field.entry: previous.entry_id},
            )
        self.unlink(found, previous.entry_id)

    def finish(self, published: _Published) -> None:
        """For a durable entry: unlink its records, then tell the journal."""
        entry_id, entry, manifest, stored, journal_text, frames, _ = published
        self.archive.remember(stored)
        entry_path = os.path.join(self.archive.path, entry_id)
        self.report.entries.append(_entry_summary(entry_id, entry, entry_path))
        for record in entry.records:
            self.report.archived.append(record.origin)
            copies = self.copies.get(record.origin, [])
            self.report.already_archived.extend(c.record.origin for c in copies)
            if self.options.unlink:
                for found in [self.found[record.origin], *copies]:
                    self.unlink(found, entry_id)
        journal.send_entry_archived(self.sink, manifest, entry_path, journal_text, frames)

    def unlink(self, found: Found, entry_id: str) -> None:
        problem = self.source.remove(found)
        name = found.record.origin
        if problem is None:
            self.removed.append(found)
            self.report.unlinked.append(name)
            self.report.bytes_freed += found.record.size
            return
        self.report.leave(name, problem, entry_id)
        self.sink.send(
            MessageId.record_returned,
            4,
            f"{found.path}: {problem}; it stays in the store and will not be archived again",
            {Field.records: name, Field.entry: entry_id},
        )

    def origins(self, entry: Entry) -> list[str]:
        """Where an entry's records are, and the other copies of them a source held."""
        return [
            found.record.origin
            for record in entry.records
            for found in [self.found[record.origin], *self.copies.get(record.origin, [])]
        ]

    def refuse(self, refused: _Refused) -> None:
        """An entry that could not be written for a reason of its own: its records stay."""
        names = self.origins(refused.entry)
        for name in names:
            self.report.leave(name, refused.reason, refused.entry_id)
        self.sink.send(
            MessageId.records_kept,
            3,
            f"{refused.reason}; {len(names)} records kept in {self.source.path} "
            f"(entry {refused.entry_id} not written)",
            {
                Field.records: " ".join(names),
                Field.entry: refused.entry_id,
                Field.error: refused.reason,
            },
        )

    def keep(
        self, entries: Sequence[tuple[str | None, Entry]], error: str, blamed: str | None
    ) -> None:
        """The archive failed: these entries' records stay in the store, and we say so.
        `blamed` is the failure of their own entry; else they were not attempted."""
        if not entries:
            return
        self.report.error = error
        names = []
        for entry_id, entry in entries:
            reason = blamed or f"not archived: the archive failed first ({error})"
            for origin in self.origins(entry):
                names.append(origin)
                self.report.leave(origin, reason, entry_id)
        self.sink.send(
            MessageId.records_kept,
            3,
            f"{error}; {len(names)} records kept in {self.source.path}",
            {Field.records: " ".join(names), Field.error: error},
        )


def _send_summary(sink: Sink, report: RunReport) -> None:
    if report.imported_from is None:
        what, where = "run", "left in the store"
    else:
        what, where = f"import from {report.imported_from}", "not imported"
    message = (
        f"pstore {what}: {len(report.entries)} entries created, {len(report.archived)} records "
        f"archived, {report.bytes_freed} bytes freed, {len(report.left)} records {where}"
    )
    fields = {
        Field.entries_created: str(len(report.entries)),
        Field.records_archived: str(len(report.archived)),
        Field.records_unlinked: str(len(report.unlinked)),
        Field.records_left: str(len(report.left)),
        Field.bytes_freed: str(report.bytes_freed),
    }
    if report.imported_from is not None:
        fields[Field.imported_from] = report.imported_from
    sink.send(MessageId.run_summary, 4 if report.left else 6, message, fields)
