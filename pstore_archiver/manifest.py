"""Pure: the `entry.json` manifest of an archived entry (DESIGN §3, schema 1)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any, NamedTuple

from pstore_archiver.analysis import Analysis
from pstore_archiver.dumps import Entry

SCHEMA = 1
MANIFEST_NAME = "entry.json"
DMESG_NAME = "dmesg.txt"


class Origin(NamedTuple):
    """When and where an entry was archived."""

    archived_at_ns: int
    boot_id: str | None
    machine_id: str | None
    hostname: str | None


def format_time_ns(time_ns: int) -> str:
    """ISO 8601 UTC with microseconds: `2026-11-26T19:36:04.000000Z`."""
    seconds, rest_ns = divmod(time_ns, 10**9)
    stamp = datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=rest_ns // 1000)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """The inverse of format_time_ns (fromisoformat: strptime is 20 times slower)."""
    if not text.endswith("Z"):
        raise ValueError(f"not a UTC time: {text!r}")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=timezone.utc)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_manifest(
    entry_id: str, entry: Entry, origin: Origin, analysis: Analysis | None
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "id": entry_id,
        "kind": entry.kind,
        "backend": entry.backend,
        "reason": entry.reason,
        "count": entry.oopscount,
        "crash_time": format_time_ns(entry.crash_time_ns),
        "archived_at": format_time_ns(origin.archived_at_ns),
        "boot_id": origin.boot_id,
        "machine_id": origin.machine_id,
        "hostname": origin.hostname,
        "complete": not entry.missing_parts,
        "missing_parts": list(entry.missing_parts),
        "records": [
            {
                "name": record.name.name,
                "part": record.header.part if record.header else None,
                "size": len(record.data),
                "sha256": sha256_hex(record.data),
                "mtime": format_time_ns(record.mtime_ns),
                "compressed": record.name.compressed,
                "decoded": record.decoded,
            }
            for record in entry.records
        ],
        "summary": analysis.summary if analysis else None,
        "function": analysis.function if analysis else None,
        "process": analysis.process if analysis else None,
        "pid": analysis.pid if analysis else None,
        "kernel_release": analysis.kernel_release if analysis else None,
        "tainted": analysis.tainted if analysis else None,
        "hardware": analysis.hardware if analysis else None,
        "signature": analysis.signature if analysis else None,
    }


def render_manifest(manifest: dict[str, Any]) -> bytes:
    """JSON with one key per line and one record per line: readable, and written by the
    C encoder (json's indent= falls back to a pure-Python encoder ten times slower)."""
    lines = []
    for key, value in manifest.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join(f"    {_dump(item)}" for item in value)
            text = f"[\n{items}\n  ]"
        else:
            text = _dump(value)
        lines.append(f'  "{key}": {text}')  # our own keys: nothing to escape
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


_LITERALS = {None: "null", True: "true", False: "false"}


def _dump(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return _LITERALS[value]
    if type(value) is int:
        return str(value)
    return json.dumps(value, ensure_ascii=False)
