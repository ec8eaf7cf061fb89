"""`status`: is pstore working, is anything waiting, how full is the archive."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from pstore_archiver.archive import Archive, Damaged
from pstore_archiver.config import Config
from pstore_archiver.store import BACKEND_PARAMETER, filesystem_type, read_backend
from pstore_archiver.terminal import escape
from pstore_archiver.units import format_size

NO_BACKEND_ADVICE = (
    "No pstore backend is registered, so the next crash will not be recorded. "
    "On UEFI machines load efi_pstore (modprobe efi_pstore); on servers enable ACPI APEI/ERST "
    "in the firmware (and do not boot with erst_disable); on boards with reserved RAM "
    "configure ramoops (ramoops.mem_address=, ramoops.mem_size=) or pstore_blk; "
    "pstore.backend=NAME on the kernel command line picks one."
)


class Pending(NamedTuple):
    """A file waiting in the store: its name and size."""

    name: str
    size: int


class StoreStatus(NamedTuple):
    path: str
    exists: bool
    filesystem: str | None
    records: tuple[Pending, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            **self._asdict(),
            "records": [r._asdict() for r in self.records],
            "bytes": sum(r.size for r in self.records),
        }


class ArchiveStatus(NamedTuple):
    path: str
    exists: bool
    entries: int
    size_bytes: int
    free_bytes: int | None
    newest: str | None
    damaged: tuple[Damaged, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "exists": self.exists,
            "entries": self.entries,
            "bytes": self.size_bytes,
            "free_bytes": self.free_bytes,
            "newest": self.newest,
            "damaged": [{"id": d.entry_id, "reason": d.reason} for d in self.damaged],
        }


class Status(NamedTuple):
    """What `status` shows; `to_json()` is `status --json`."""

    backend: str | None
    store: StoreStatus
    archive: ArchiveStatus
    retention: dict[str, int]  # the retention section of the configuration
    last_run: dict[str, Any] | None  # .last-run.json as found: any document

    @property
    def healthy(self) -> bool:
        """A backend is registered and nothing waits in the store."""
        return self.backend is not None and not self.store.records

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "backend_parameter": BACKEND_PARAMETER,
            "advice": None if self.backend else NO_BACKEND_ADVICE,
            "store": self.store.to_json(),
            "archive": self.archive.to_json(),
            "retention": self.retention,
            "last_run": self.last_run,
        }


def pending_records(store: str) -> tuple[Pending, ...]:
    """Names and sizes of what waits in the store, without reading it."""
    try:
        names = sorted(os.listdir(store))
    except OSError:
        return ()
    records = []
    for name in names:
        try:
            size = os.lstat(os.path.join(store, name)).st_size
        except OSError:
            continue  # gone meanwhile
        records.append(Pending(name, size))
    return tuple(records)


def read_status(config: Config, archive: Archive) -> Status:
    entries = archive.entries() if os.path.lexists(archive.path) else []
    try:
        free: int | None = archive.free_bytes()
    except OSError:
        free = None
    return Status(
        backend=read_backend(),
        store=StoreStatus(
            path=config.source_path,
            exists=os.path.isdir(config.source_path),
            filesystem=filesystem_type(config.source_path),
            records=pending_records(config.source_path),
        ),
        archive=ArchiveStatus(
            path=archive.path,
            exists=os.path.isdir(archive.path),
            entries=len(entries),
            size_bytes=sum(e.size_bytes for e in entries),
            free_bytes=free,
            newest=entries[-1].entry_id if entries else None,
            damaged=tuple(archive.damaged()),
        ),
        retention=config.as_dict()["retention"],
        last_run=archive.read_last_run() if os.path.isdir(archive.path) else None,
    )


def render_status(status: Status) -> str:
    """The status for a terminal: every line escaped (names and reasons can hold anything),
    then the advice, which is ours, on a line of its own."""
    store, archive = status.store, status.archive
    if status.backend:
        backend = f"{status.backend} (registered)"
    else:
        backend = f"none ({BACKEND_PARAMETER} says (null))"
    if not store.exists:
        mounted = "missing"
    elif store.filesystem == "pstore":
        mounted = "pstore mounted"
    else:
        mounted = f"not a pstore mount ({store.filesystem or 'a plain directory'})"
    waiting = store.records
    lines = [
        f"Backend: {backend}",
        f"Store:   {store.path} ({mounted})",
        f"Waiting: {len(waiting)} records, {format_size(sum(r.size for r in waiting))}"
        + ("  (run: pstore-archiver run)" if waiting else ""),
        *(f"           {r.name} ({r.size} bytes)" for r in waiting[:10]),
    ]
    if len(waiting) > 10:
        lines.append(f"           ... and {len(waiting) - 10} more")
    free = archive.free_bytes
    lines += [
        f"Archive: {archive.path}" + ("" if archive.exists else " (not created yet)"),
        f"         {archive.entries} entries, {format_size(archive.size_bytes)}, "
        + (f"{format_size(free)} free on its file system" if free is not None else "free unknown"),
    ]
    damaged = archive.damaged
    if damaged:
        lines.append(f"Damaged: {len(damaged)} entries, skipped (not listed, never removed):")
        lines.extend(f"           {d.entry_id}: {d.reason}" for d in damaged[:10])
        if len(damaged) > 10:
            lines.append(f"           ... and {len(damaged) - 10} more")
    lines += [
        "Limits:  " + _limits_text(status.retention),
        "Last run: " + _last_run_text(status.last_run),
    ]
    text = [escape(line) for line in lines]
    if not status.backend:
        text.insert(1, f"  {NO_BACKEND_ADVICE}")
    return "\n".join(text)


def _limits_text(retention: dict[str, int]) -> str:
    """`max_entries=none, max_use=256M, keep_free=1.0G, max_age=90d` (0 means no limit)."""
    shown = {
        "max_entries": str(retention["max_entries"]),
        "max_use": format_size(retention["max_use"]),
        "keep_free": format_size(retention["keep_free"]),
        "max_age": f"{retention['max_age'] // 86400}d"
        if retention["max_age"] % 86400 == 0
        else f"{retention['max_age']}s",
    }
    limits = ", ".join(f"{k}={v if retention[k] else 'none'}" for k, v in shown.items())
    return f"{limits}; the newest {retention['keep_newest']} entries are always kept"


def _last_run_text(last: dict[str, Any] | None) -> str:
    if last is None:
        return "none recorded"

    def count(key: str) -> int:
        value = last.get(key)
        return len(value) if isinstance(value, list) else 0

    left = count("records_left")
    outcome = f"{left} records left in the store" if left else "everything archived"
    if last.get("error"):
        outcome = f"failed: {last['error']}"
    return (
        f"{last.get('finished_at')}: {count('entries')} entries created, "
        f"{count('records_archived')} records archived, {outcome}"
    )
