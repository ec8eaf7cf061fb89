"""Pure: the `entry.json` manifest of an archived entry (DESIGN §3, schema 1)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pstore_archiver.dumps import Entry
from pstore_archiver.records import sha256_hash
from pstore_archiver.times import format_time_ns as format_time_ns  # the manifest's times
from pstore_archiver.times import parse_time as parse_time

if TYPE_CHECKING:  # the analysis is imported only when a log is analysed
    from pstore_archiver.analysis import Analysis

SCHEMA = 1
MANIFEST_NAME = "entry.json"
DMESG_NAME = "dmesg.txt"
RESERVED_NAMES = frozenset({MANIFEST_NAME, DMESG_NAME})  # an entry's own files
# `missing_parts` lists at most this many numbers (the lowest); `missing_count` says how
# many are missing in all.  The parts that are there are in `records`, so the whole set is
# always known: every number below the highest part that is not among them.
MAX_LISTED_MISSING = 64


class Origin(NamedTuple):
    """When and where an entry was archived."""

    archived_at_ns: int
    boot_id: str | None
    machine_id: str | None
    hostname: str | None
    os_release: str | None = None  # PRETTY_NAME of os-release(5) where it was archived


def sha256_hex(data: bytes) -> str:
    return sha256_hash(data).hexdigest()


CRASH_ID_VERSION = b"pstore-archiver crash id 1\n"


def crash_id(backend: str | None, records: Iterable[tuple[str, str]]) -> str:
    """`PSTORE_CRASH_ID` (DESIGN §7): 32 hex digits from the backend and the records' names
    and SHA-256, so the same crash has the same id however often it is sent or imported,
    and wherever; two crashes never share records (their times differ)."""
    digest = sha256_hash(CRASH_ID_VERSION)
    digest.update(f"{backend or ''}\n".encode("utf-8", "surrogateescape"))
    for name, sha256 in sorted(records):
        digest.update(f"{name}\t{sha256}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:32]


def build_manifest(
    entry_id: str,
    entry: Entry,
    origin: Origin,
    analysis: Analysis | None,
    imported_from: str | None = None,
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
        "os_release": origin.os_release,
        "imported_from": imported_from,
        "crash_id": crash_id(entry.backend, [(r.name.name, r.sha256) for r in entry.records]),
        "complete": not entry.missing_parts,
        "missing_parts": list(entry.missing_parts[:MAX_LISTED_MISSING]),
        "missing_count": len(entry.missing_parts),
        "records": [
            {
                "name": record.name.name,
                "part": record.header.part if record.header else None,
                "size": record.size,
                "sha256": record.sha256,
                "mtime": format_time_ns(record.mtime_ns),
                "compressed": record.name.compressed,
                "decoded": record.decoded,
                "truncated": record.truncated,
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
    return dump_json(value)


def dump_json(value: Any, **options: Any) -> str:
    """json.dumps that keeps UTF-8 as it is, and writes a file name that is not UTF-8
    (Python's surrogate escapes, one per byte) as `\\udcXX` escapes, which read back
    as the same name."""
    text = json.dumps(value, ensure_ascii=False, **options)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json.dumps(value, ensure_ascii=True, **options)
    return text


_SHA256 = re.compile(r"[0-9a-f]{64}")
_OPTIONAL_TEXT = (
    "backend",
    "reason",
    "archived_at",
    "boot_id",
    "machine_id",
    "hostname",
    "os_release",
    "imported_from",
    "crash_id",
    "summary",
    "function",
    "process",
    "kernel_release",
    "tainted",
    "hardware",
    "signature",
)


def check_manifest(manifest: Any, directory_name: str) -> str | None:
    """Why a manifest read from `<directory_name>/entry.json` cannot be trusted, or None.
    The queries and the run rely on what this checks: the id is the directory's name, the
    crash time a time, and every record a plain file name inside the entry."""
    if not isinstance(manifest, dict):
        return f"{MANIFEST_NAME} is {_json_type(manifest)}, not an object"
    if manifest.get("schema") != SCHEMA or isinstance(manifest.get("schema"), bool):
        return f"{MANIFEST_NAME}: schema {manifest.get('schema')!r} is not {SCHEMA}"
    entry_id = manifest.get("id")
    if entry_id != directory_name:
        return f"{MANIFEST_NAME}: id {entry_id!r} is not the directory's name"
    if not isinstance(manifest.get("kind"), str):
        return f"{MANIFEST_NAME}: kind {manifest.get('kind')!r} is not a word"
    try:
        parse_time(manifest.get("crash_time"))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return f"{MANIFEST_NAME}: crash_time {manifest.get('crash_time')!r} is not a time"
    for key in _OPTIONAL_TEXT:
        if not isinstance(manifest.get(key), (str, type(None))):
            return f"{MANIFEST_NAME}: {key} {manifest.get(key)!r} is not text"
    for key in ("count", "pid", "missing_count"):
        value = manifest.get(key)
        if value is not None and (type(value) is not int):
            return f"{MANIFEST_NAME}: {key} {value!r} is not a number"
    missing = manifest.get("missing_parts", [])
    if not isinstance(missing, list) or any(type(p) is not int for p in missing):
        return f"{MANIFEST_NAME}: missing_parts is not a list of part numbers"
    records = manifest.get("records")
    if not isinstance(records, list):
        return f"{MANIFEST_NAME}: records is {_json_type(records)}, not a list"
    for record in records:
        problem = _check_record(record)
        if problem:
            return f"{MANIFEST_NAME}: records: {problem}"
    return None


def _check_record(record: Any) -> str | None:
    if not isinstance(record, dict):
        return f"{_json_type(record)} is not a record"
    name = record.get("name")
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or "/" in name
        or "\0" in name
        or name in RESERVED_NAMES
    ):
        return f"name {name!r} is not a record's file name"
    size = record.get("size")
    if type(size) is not int or size < 0:
        return f"{name}: size {size!r} is not a size"
    if not isinstance(record.get("sha256"), str) or not _SHA256.fullmatch(record["sha256"]):
        return f"{name}: sha256 {record.get('sha256')!r} is not a SHA-256 digest"
    part = record.get("part")
    if part is not None and type(part) is not int:
        return f"{name}: part {part!r} is not a number"
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "true or false"}.get(
        type(value), "a number"
    )
