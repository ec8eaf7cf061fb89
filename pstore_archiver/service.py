"""One run as a transaction: lock, scan, group, publish, unlink, report.

The order is the promise (DESIGN §1): a record is unlinked from the store only after the
entry holding it is durable in the archive, and journald hears of an entry only then.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from pstore_archiver import journal
from pstore_archiver.analysis import Analysis, analyze_log
from pstore_archiver.archive import Archive, KnownRecord, NewFile, StoredEntry
from pstore_archiver.config import Config
from pstore_archiver.diagnostics import log
from pstore_archiver.dumps import Entry, group, render_dmesg
from pstore_archiver.errors import ArchiveUnwritable, describe_os_error
from pstore_archiver.journal import Field, MessageId, Sink
from pstore_archiver.manifest import (
    DMESG_NAME,
    MANIFEST_NAME,
    Origin,
    build_manifest,
    format_time_ns,
    parse_time,
    render_manifest,
    sha256_hex,
)
from pstore_archiver.records import Record, parse_record
from pstore_archiver.retention import Candidate, Limits, Removal, select_removals
from pstore_archiver.store import BACKEND_PARAMETER, Store, filesystem_type, read_backend


class RunOptions(NamedTuple):
    dry_run: bool = False
    unlink: bool = True


class RunReport:
    """What a run did; `--json` prints it, the exit status is derived from it."""

    def __init__(self, source: str, archive: str, dry_run: bool) -> None:
        self.source = source
        self.archive = archive
        self.dry_run = dry_run
        self.entries: list[dict[str, Any]] = []
        self.archived: list[str] = []
        self.unlinked: list[str] = []
        self.already_archived: list[str] = []
        self.left: list[dict[str, str]] = []
        self.removed: list[str] = []
        self.bytes_freed = 0
        self.error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "archive": self.archive,
            "dry_run": self.dry_run,
            "entries": self.entries,
            "records_archived": self.archived,
            "records_unlinked": self.unlinked,
            "records_already_archived": self.already_archived,
            "records_left": self.left,
            "entries_removed": self.removed,
            "bytes_freed": self.bytes_freed,
            "error": self.error,
        }


def read_origin(now_ns: int) -> Origin:
    return Origin(
        archived_at_ns=now_ns,
        boot_id=_read_id("/proc/sys/kernel/random/boot_id"),
        machine_id=_read_id("/etc/machine-id"),
        hostname=os.uname().nodename or None,
    )


def _read_id(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip().replace("-", "") or None
    except OSError:
        return None


def analyze(entry: Entry, dmesg: bytes | None) -> Analysis | None:
    """The crash analysis of a kernel log: a dump's reassembled text, or a console record."""
    if entry.kind not in ("dmesg", "console"):
        return None
    text = dmesg if dmesg is not None else entry.records[0].text
    return analyze_log(text.decode("utf-8", errors="replace"))


def run_once(config: Config, options: RunOptions, sink: Sink, origin: Origin) -> RunReport:
    store = Store(config.source_path)
    archive = Archive(config.archive_path)
    report = RunReport(str(store.path), str(archive.path), options.dry_run)
    if not store.path.is_dir():
        sink.send(
            MessageId.no_backend,
            5,
            f"{store.path}: no pstore mounted there; nothing to archive",
            {},
        )
        return report
    if filesystem_type(store.path) == "pstore" and read_backend() is None:
        sink.send(
            MessageId.no_backend,
            5,
            f"{store.path}: no pstore backend is registered ({BACKEND_PARAMETER} reads "
            "(null)), so the next crash will not be recorded; see: pstore-archiver status",
            {},
        )
    if options.dry_run:
        _plan(store, archive, report)
        return report
    with archive.locked() as archive_fd:
        for name in archive.remove_staging(archive_fd):
            log.info("%s: removed %s left by an interrupted run", archive.path, name)
        _Transaction(store, archive, archive_fd, options, sink, origin, report).archive_all()
        created = {entry["id"] for entry in report.entries}
        removals = apply_retention(
            archive, archive_fd, limits_of(config), created, sink, origin.archived_at_ns / 1e9
        )
        report.removed = [r.entry_id for r in removals]
        archive.write_last_run(
            {"finished_at": format_time_ns(origin.archived_at_ns), **report.to_json()}
        )
    _send_summary(sink, report)
    return report


def limits_of(config: Config) -> Limits:
    return Limits(
        max_entries=config.max_entries,
        max_use_bytes=config.max_use_bytes,
        keep_free_bytes=config.keep_free_bytes,
        max_age_seconds=config.max_age_seconds,
    )


def free_bytes(path: Path) -> int:
    info = os.statvfs(path)
    return info.f_bavail * info.f_frsize


def plan_retention(
    archive: Archive, limits: Limits, protected: set[str], now_s: float
) -> list[Removal]:
    candidates = [
        Candidate(
            entry.entry_id,
            parse_time(str(entry.manifest.get("crash_time"))).timestamp(),
            entry.size_bytes,
            entry.entry_id in protected,
        )
        for entry in archive.entries()
    ]
    return select_removals(candidates, limits, free_bytes(archive.path), now_s)


def apply_retention(
    archive: Archive,
    archive_fd: int,
    limits: Limits,
    protected: set[str],
    sink: Sink,
    now_s: float,
) -> list[Removal]:
    """Remove what the limits ask for, oldest first, never `protected` (this run's)."""
    removals = plan_retention(archive, limits, protected, now_s)
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
                Field.archive_path: str(archive.path / removal.entry_id),
            },
        )
    return done


def _scan(store: Store, report: RunReport) -> list[Record]:
    scan = store.scan()
    for bad in scan.unreadable:
        report.left.append({"name": bad.name, "reason": bad.reason})
    return [parse_record(f.name, f.data, f.mtime_ns) for f in scan.files]


def _plan(store: Store, archive: Archive, report: RunReport) -> None:
    records = _scan(store, report)
    known = archive.known_records() if archive.path.is_dir() else {}
    new = [r for r in records if (r.name.name, sha256_hex(r.data)) not in known]
    new_names = {r.name.name for r in new}
    report.already_archived = [r.name.name for r in records if r.name.name not in new_names]
    taken = set(archive.entry_ids())
    for entry in group(new):
        entry_id = archive.unique_id(entry.base_id, taken)
        report.entries.append(_entry_summary(entry_id, entry, archive.path / entry_id))


def _entry_summary(entry_id: str, entry: Entry, path: Path) -> dict[str, Any]:
    return {
        "id": entry_id,
        "kind": entry.kind,
        "backend": entry.backend,
        "reason": entry.reason,
        "count": entry.oopscount,
        "records": [r.name.name for r in entry.records],
        "missing_parts": list(entry.missing_parts),
        "path": str(path),
    }


# Entries renamed into place before one fsync of the archive directory makes them durable
# (and their records may be unlinked): one fsync per batch, not per entry.
BATCH_ENTRIES = 64


# A batch of at least this many entries is written from as many threads.
PARALLEL_ENTRIES = 8


class _Staged(NamedTuple):
    entry_id: str
    entry: Entry
    manifest: dict[str, Any]
    dmesg: bytes | None
    files: list[NewFile]


class _Transaction:
    """One locked run over the store: every step in the order DESIGN §1 promises."""

    def __init__(
        self,
        store: Store,
        archive: Archive,
        archive_fd: int,
        options: RunOptions,
        sink: Sink,
        origin: Origin,
        report: RunReport,
    ) -> None:
        self.store = store
        self.archive = archive
        self.archive_fd = archive_fd
        self.options = options
        self.sink = sink
        self.origin = origin
        self.report = report
        self.synced: set[str] = set()  # old entries made durable by this run

    def archive_all(self) -> None:
        records = _scan(self.store, self.report)
        for bad in self.report.left:
            self.sink.send(
                MessageId.records_kept,
                3,
                f"{self.store.path / bad['name']}: kept in the store: {bad['reason']}",
                {Field.records: bad["name"]},
            )
        known = self.archive.known_records()
        new: list[Record] = []
        for record in records:
            previous = known.get((record.name.name, sha256_hex(record.data)))
            if previous is None:
                new.append(record)
            else:
                self.handle_known(record, previous)
        taken = set(self.archive.entry_ids())
        entries = group(new)
        for start in range(0, len(entries), BATCH_ENTRIES):
            if not self.publish_batch(
                entries[start : start + BATCH_ENTRIES], entries[start:], taken
            ):
                return

    def publish_batch(self, batch: list[Entry], rest: list[Entry], taken: set[str]) -> bool:
        """Write and rename each entry (files and entry fsynced), fsync the archive once
        for all of them, and only then unlink and announce.  False when the archive
        failed: what was not made durable stays in the store, with `rest` after it."""
        prepared = [self.prepare(self.archive.unique_id(e.base_id, taken), e) for e in batch]
        written, failure = self.write(prepared)
        try:
            self.archive.sync(self.archive_fd)
        except ArchiveUnwritable as e:
            self.keep(rest, str(e))  # renamed but maybe not durable: the next run syncs them
            return False
        for item in written:
            self.finish(item)
        if failure is not None:
            done = {item.entry_id for item in written}
            failed = [item.entry for item in prepared if item.entry_id not in done]
            self.keep(failed + rest[len(batch) :], str(failure))
            return False
        return True

    def write(self, prepared: list[_Staged]) -> tuple[list[_Staged], ArchiveUnwritable | None]:
        """Publish the entries (without the archive's fsync); the ones written, and the
        first failure.  One at a time, stopping at a failure; a large batch from several
        threads, so the file system commits their fsyncs together."""
        if len(prepared) < PARALLEL_ENTRIES:
            written: list[_Staged] = []
            for item in prepared:
                failure = self.write_one(item)
                if failure is not None:
                    return written, failure
                written.append(item)
            return written, None
        from concurrent.futures import ThreadPoolExecutor  # only for thousands of records

        with ThreadPoolExecutor(max_workers=PARALLEL_ENTRIES) as pool:
            failures = list(pool.map(self.write_one, prepared))
        written = [item for item, failure in zip(prepared, failures) if failure is None]
        return written, next((f for f in failures if f is not None), None)

    def write_one(self, item: _Staged) -> ArchiveUnwritable | None:
        try:
            self.archive.publish(self.archive_fd, item.entry_id, item.files, sync_archive=False)
        except ArchiveUnwritable as e:
            return e
        return None

    def handle_known(self, record: Record, previous: KnownRecord) -> None:
        """A record whose name and bytes are already archived: an interrupted run of this
        boot, or a record the backend failed to erase (§3.6).  Never archived twice."""
        self.report.already_archived.append(record.name.name)
        if not self.options.unlink:
            return
        if previous.entry_id not in self.synced:
            try:
                self.archive.make_durable(self.archive_fd, previous.entry_id)
            except ArchiveUnwritable as e:
                self.report.error = str(e)
                self.report.left.append({"name": record.name.name, "reason": str(e)})
                return
            self.synced.add(previous.entry_id)
        if previous.boot_id != self.origin.boot_id:
            self.sink.send(
                MessageId.record_returned,
                4,
                f"{self.store.path / record.name.name} came back after being archived in "
                f"{previous.entry_id} (the backend did not erase it); removing it again",
                {Field.records: record.name.name, Field.entry: previous.entry_id},
            )
        self.unlink(record)

    def prepare(self, entry_id: str, entry: Entry) -> _Staged:
        """Everything the entry's directory will hold: the records, log and manifest."""
        dmesg = render_dmesg(entry) if entry.is_dump else None
        manifest = build_manifest(entry_id, entry, self.origin, analyze(entry, dmesg))
        files = [NewFile(r.name.name, r.data, r.mtime_ns) for r in entry.records]
        if dmesg is not None:
            files.append(NewFile(DMESG_NAME, dmesg))
        files.append(NewFile(MANIFEST_NAME, render_manifest(manifest)))
        return _Staged(entry_id, entry, manifest, dmesg, files)

    def finish(self, staged: _Staged) -> None:
        """For a durable entry: unlink its records, then tell the journal."""
        entry_id, entry, manifest, dmesg, files = staged
        self.archive.remember(StoredEntry(manifest, sum(len(f.data) for f in files)))
        entry_path = self.archive.path / entry_id
        self.report.entries.append(_entry_summary(entry_id, entry, entry_path))
        self.report.archived.extend(r.name.name for r in entry.records)
        if self.options.unlink:
            for record in entry.records:
                self.unlink(record)
        text = None
        if dmesg is not None and self.sink.attach_text:
            text = journal.cut_to_newest(dmesg, self.sink.max_attach_bytes)
        crash_time_usec = entry.crash_time_ns // 1000
        journal.send_entry_archived(self.sink, manifest, str(entry_path), crash_time_usec, text)

    def unlink(self, record: Record) -> None:
        error = self.store.unlink(record.name.name)
        if error is None:
            self.report.unlinked.append(record.name.name)
            self.report.bytes_freed += len(record.data)
            return
        reason = f"archived, but unlink failed: {describe_os_error(error)}"
        self.report.left.append({"name": record.name.name, "reason": reason})
        self.sink.send(
            MessageId.record_returned,
            4,
            f"{self.store.path / record.name.name}: {reason}; it stays in the store "
            "and will not be archived again",
            {Field.records: record.name.name},
        )

    def keep(self, entries: list[Entry], error: str) -> None:
        """The archive failed: these entries' records stay in the store, and we say so."""
        names = [r.name.name for entry in entries for r in entry.records]
        self.report.error = error
        self.report.left.extend({"name": name, "reason": error} for name in names)
        self.sink.send(
            MessageId.records_kept,
            3,
            f"{error}; {len(names)} records kept in {self.store.path}",
            {Field.records: " ".join(names), Field.error: error},
        )


def _send_summary(sink: Sink, report: RunReport) -> None:
    message = (
        f"pstore run: {len(report.entries)} entries created, {len(report.archived)} records "
        f"archived, {report.bytes_freed} bytes freed, {len(report.left)} records left in the store"
    )
    fields = {
        Field.entries_created: str(len(report.entries)),
        Field.records_archived: str(len(report.archived)),
        Field.records_unlinked: str(len(report.unlinked)),
        Field.records_left: str(len(report.left)),
        Field.bytes_freed: str(report.bytes_freed),
    }
    sink.send(MessageId.run_summary, 4 if report.left else 6, message, fields)
