"""`status`: is pstore working, is anything waiting, how full is the archive."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pstore_archiver.archive import Archive
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


def pending_records(store: Path) -> list[dict[str, Any]]:
    """Names and sizes of what waits in the store, without reading it."""
    try:
        names = sorted(os.listdir(store))
    except OSError:
        return []
    records = []
    for name in names:
        try:
            size = os.lstat(store / name).st_size
        except OSError:
            continue  # gone meanwhile
        records.append({"name": name, "size": size})
    return records


def read_status(config: Config, archive: Archive) -> dict[str, Any]:
    backend = read_backend()
    waiting = pending_records(config.source_path)
    entries = archive.entries() if os.path.lexists(archive.path) else []
    damaged = [{"id": d.entry_id, "reason": d.reason} for d in archive.damaged()]
    try:
        free: int | None = archive.free_bytes()
    except OSError:
        free = None
    return {
        "backend": backend,
        "backend_parameter": BACKEND_PARAMETER,
        "advice": None if backend else NO_BACKEND_ADVICE,
        "store": {
            "path": str(config.source_path),
            "exists": config.source_path.is_dir(),
            "filesystem": filesystem_type(config.source_path),
            "records": waiting,
            "bytes": sum(r["size"] for r in waiting),
        },
        "archive": {
            "path": str(archive.path),
            "exists": archive.path.is_dir(),
            "entries": len(entries),
            "bytes": sum(e.size_bytes for e in entries),
            "free_bytes": free,
            "newest": entries[-1].entry_id if entries else None,
            "damaged": damaged,
        },
        "retention": config.as_dict()["retention"],
        "last_run": archive.read_last_run() if archive.path.is_dir() else None,
    }


def render_status(status: dict[str, Any]) -> str:
    """The status for a terminal: every line escaped (names and reasons can hold anything),
    then the advice, which is ours, on a line of its own."""
    store, archive = status["store"], status["archive"]
    if status["backend"]:
        backend = f"{status['backend']} (registered)"
    else:
        backend = f"none ({status['backend_parameter']} says (null))"
    if not store["exists"]:
        mounted = "missing"
    elif store["filesystem"] == "pstore":
        mounted = "pstore mounted"
    else:
        mounted = f"not a pstore mount ({store['filesystem'] or 'a plain directory'})"
    waiting = store["records"]
    lines = [
        f"Backend: {backend}",
        f"Store:   {store['path']} ({mounted})",
        f"Waiting: {len(waiting)} records, {format_size(store['bytes'])}"
        + ("  (run: pstore-archiver run)" if waiting else ""),
        *(f"           {r['name']} ({r['size']} bytes)" for r in waiting[:10]),
    ]
    if len(waiting) > 10:
        lines.append(f"           ... and {len(waiting) - 10} more")
    free = archive["free_bytes"]
    lines += [
        f"Archive: {archive['path']}" + ("" if archive["exists"] else " (not created yet)"),
        f"         {archive['entries']} entries, {format_size(archive['bytes'])}, "
        + (f"{format_size(free)} free on its file system" if free is not None else "free unknown"),
    ]
    damaged = archive["damaged"]
    if damaged:
        lines.append(f"Damaged: {len(damaged)} entries, skipped (not listed, never removed):")
        lines.extend(f"           {d['id']}: {d['reason']}" for d in damaged[:10])
        if len(damaged) > 10:
            lines.append(f"           ... and {len(damaged) - 10} more")
    lines += [
        "Limits:  " + _limits_text(status["retention"]),
        "Last run: " + _last_run_text(status["last_run"]),
    ]
    text = [escape(line) for line in lines]
    if not status["backend"]:
        text.insert(1, f"  {status['advice']}")
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
