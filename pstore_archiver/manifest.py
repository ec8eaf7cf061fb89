"""Pure: the `entry.json` manifest of an archived entry (DESIGN §3, schema 1)."""

from __future__ import annotations

import re

from pstore_archiver import json_lite
from pstore_archiver.dumps import Entry
from pstore_archiver.records import sha256_hash
from pstore_archiver.times import format_time_ns as format_time_ns  # the manifest's times
from pstore_archiver.times import ns_of_time
from pstore_archiver.times import parse_time as parse_time
from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # the analysis is imported only when a log is analysed
    from collections.abc import Iterable
    from typing import Any

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


CRASH_ID_VERSION = b"pstore-archiver crash id 2\n"


def crash_id(
    machine_id: str | None, backend: str | None, records: Iterable[tuple[str, str]]
) -> str:
    """`PSTORE_CRASH_ID` (DESIGN §7): 32 hex digits from the machine id, the backend and
    the records' names and SHA-256, so the same crash has the same id however often it is
    sent or imported; two crashes never share records (their times differ), and machines
    cloned from one image, whose stores may hold byte-identical records, differ by id."""
    digest = sha256_hash(CRASH_ID_VERSION)
    digest.update(f"{machine_id or ''}\n{backend or ''}\n".encode("utf-8", "surrogateescape"))
    for name, sha256 in sorted(records):
        digest.update(f"{name}\t{sha256}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:32]


# The dump header's `#count` is `count` in entry.json and PSTORE_COUNT in the journal (both
# contracts); inside the program it keeps the kernel's name, oopscount, because a NamedTuple
# field cannot be called `count` (it would hide tuple.count).


class ManifestRecord(NamedTuple):
    """One record of an entry, as `records` in entry.json lists it."""

    name: str
    part: int | None
    size: int
    sha256: str
    mtime: str | None = None
    compressed: bool = False
    decoded: bool = False
    truncated: bool = False  # its decoded `.enc.z` text was cut (absent in early archives)


class Manifest(NamedTuple):
    """`entry.json`, schema 1 (DESIGN §3): `to_json()` is the document, in its key order."""

    entry_id: str  # "id"
    kind: str
    backend: str | None
    reason: str | None
    oopscount: int | None  # "count"
    crash_time_ns: int  # "crash_time", written to the microsecond
    archived_at: str | None
    boot_id: str | None
    machine_id: str | None
    hostname: str | None
    os_release: str | None
    imported_from: str | None
    crash_id: str | None
    complete: bool
    missing_parts: tuple[int, ...]  # the lowest MAX_LISTED_MISSING
    missing_count: int
    records: tuple[ManifestRecord, ...]
    summary: str | None = None
    function: str | None = None
    process: str | None = None
    pid: int | None = None
    kernel_release: str | None = None
    tainted: str | None = None
    hardware: str | None = None
    signature: str | None = None

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"schema": SCHEMA, **dict(zip(_JSON_KEYS, self))}
        document["crash_time"] = format_time_ns(self.crash_time_ns)
        document["missing_parts"] = list(self.missing_parts)
        document["records"] = [record._asdict() for record in self.records]
        return document

    @classmethod
    def from_json(cls, raw: Any, path: str, entry_id: str | None = None) -> Manifest:
        """The manifest in `raw` (parsed JSON read from `path`), or ManifestError naming
        `path` and every problem.  With `entry_id`, the id must be it (the directory's
        name).  The queries and the run rely on what this checks: the id, the crash time a
        time, and every record a plain file name inside the entry."""
        crash_time_ns = _crash_time_ns(raw)
        problems = _problems(raw, entry_id, crash_time_ns)
        if problems or crash_time_ns is None:
            raise ManifestError(path, problems)
        return _manifest_of(raw, crash_time_ns)


_KEYS = {"entry_id": "id", "oopscount": "count", "crash_time_ns": "crash_time"}
_JSON_KEYS = tuple(_KEYS.get(field, field) for field in Manifest._fields)  # in field order


class ManifestError(ValueError):
    """A manifest that cannot be trusted: the file and every problem, on one line."""

    def __init__(self, path: str, problems: list[str]) -> None:
        super().__init__(f"{path}: {'; '.join(problems)}")
        self.problems = problems


def build_manifest(
    entry_id: str,
    entry: Entry,
    origin: Origin,
    analysis: Analysis | None,
    imported_from: str | None = None,
) -> Manifest:
    return Manifest(
        entry_id=entry_id,
        kind=entry.kind,
        backend=entry.backend,
        reason=entry.reason,
        oopscount=entry.oopscount,
        crash_time_ns=entry.crash_time_ns,
        archived_at=format_time_ns(origin.archived_at_ns),
        boot_id=origin.boot_id,
        machine_id=origin.machine_id,
        hostname=origin.hostname,
        os_release=origin.os_release,
        imported_from=imported_from,
        crash_id=crash_id(
            origin.machine_id, entry.backend, [(r.name.name, r.sha256) for r in entry.records]
        ),
        complete=not entry.missing_parts,
        missing_parts=entry.missing_parts[:MAX_LISTED_MISSING],
        missing_count=len(entry.missing_parts),
        records=tuple(
            ManifestRecord(
                name=record.name.name,
                part=record.header.part if record.header else None,
                size=record.size,
                sha256=record.sha256,
                mtime=format_time_ns(record.mtime_ns),
                compressed=record.name.compressed,
                decoded=record.decoded,
                truncated=record.truncated,
            )
            for record in entry.records
        ),
        **(_analysis_fields(analysis) if analysis else {}),
    )


# The keys of entry.json that the crash analysis fills in (null without one).
_ANALYSIS_KEYS = (
    "summary",
    "function",
    "process",
    "pid",
    "kernel_release",
    "tainted",
    "hardware",
    "signature",
)


def _analysis_fields(analysis: Analysis) -> dict[str, Any]:
    return {key: getattr(analysis, key) for key in _ANALYSIS_KEYS}


def render_manifest(manifest: Manifest) -> bytes:
    return render_document(manifest.to_json())


def render_document(document: dict[str, Any]) -> bytes:
    """JSON with one key per line and one object of a list per line (a manifest's records):
    readable, and written by the C encoder (json's indent= falls back to a pure-Python
    encoder ten times slower).  The keys are the program's own: nothing to escape."""
    lines = []
    for key, value in document.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            items = ",\n".join(f"    {_dump(item)}" for item in value)
            text = f"[\n{items}\n  ]"
        else:
            text = _dump(value)
        lines.append(f'  "{key}": {text}')
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode()


_LITERALS = {None: "null", True: "true", False: "false"}


def _dump(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return _LITERALS[value]
    if type(value) is int:
        return str(value)
    if type(value) is str and _needs_no_escape(value):
        return f'"{value}"'
    return dump_json(value)


def _needs_no_escape(text: str) -> bool:
    """Printable ASCII without a quote or backslash: JSON writes it as it is (most of a
    manifest's strings, which json.dumps would make 20 calls an entry)."""
    return text.isascii() and text.isprintable() and '"' not in text and "\\" not in text


def dump_json(value: Any, **options: Any) -> str:
    """json.dumps that keeps UTF-8 as it is, and writes a file name that is not UTF-8
    (Python's surrogate escapes, one per byte) as `\\udcXX` escapes, which read back
    as the same name."""
    text = json_lite.dumps(value, ensure_ascii=False, **options)
    try:
        text.encode()
    except UnicodeEncodeError:
        text = json_lite.dumps(value, ensure_ascii=True, **options)
    return text


_SHA256 = r"[0-9a-f]{64}"
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
_OPTIONAL_NUMBERS = ("count", "pid", "missing_count")
_RECORD_FLAGS = ("compressed", "decoded", "truncated")
_NOT_RECORD_NAMES = frozenset({"", ".", ".."}) | RESERVED_NAMES


def _crash_time_ns(raw: Any) -> int | None:
    try:
        return ns_of_time(parse_time(raw["crash_time"]))
    except (TypeError, ValueError, OverflowError, KeyError, IndexError):
        return None


def _problems(raw: Any, entry_id: str | None, crash_time_ns: int | None) -> list[str]:
    """Every reason not to trust `raw` (checked key by key with exact JSON types: an index
    of 10,000 entries is checked on every query)."""
    if type(raw) is not dict:
        return [f"{_json_type(raw)}, not an object"]
    get = raw.get
    problems = []
    if get("schema") != SCHEMA or type(get("schema")) is not int:
        problems.append(f"schema {get('schema')!r} is not {SCHEMA}")
    if type(get("id")) is not str:
        problems.append(f"id {get('id')!r} is not text")
    elif entry_id is not None and raw["id"] != entry_id:
        problems.append(f"id {raw['id']!r} is not the directory's name")
    if type(get("kind")) is not str:
        problems.append(f"kind {get('kind')!r} is not a word")
    if crash_time_ns is None:
        problems.append(f"crash_time {get('crash_time')!r} is not a time")
    for key in _OPTIONAL_TEXT:
        value = get(key)
        if value is not None and type(value) is not str:
            problems.append(f"{key} {value!r} is not text")
    for key in _OPTIONAL_NUMBERS:
        value = get(key)
        if value is not None and type(value) is not int:
            problems.append(f"{key} {value!r} is not a number")
    if type(get("complete", True)) is not bool:
        problems.append(f"complete {raw['complete']!r} is not true or false")
    missing = get("missing_parts", [])
    if type(missing) is not list or any(type(p) is not int for p in missing):
        problems.append("missing_parts is not a list of part numbers")
    records = get("records")
    if type(records) is not list:
        problems.append(f"records is {_json_type(records)}, not a list")
    else:
        for record in records:
            problems.extend(f"records: {problem}" for problem in _record_problems(record))
    return problems


def _record_problems(record: Any) -> list[str]:
    if type(record) is not dict:
        return [f"{_json_type(record)} is not a record"]
    get = record.get
    name = get("name")
    if type(name) is not str or name in _NOT_RECORD_NAMES or "/" in name or "\0" in name:
        return [f"name {name!r} is not a record's file name"]
    problems = []
    size = get("size")
    if type(size) is not int or size < 0:
        problems.append(f"{name}: size {size!r} is not a size")
    sha256 = get("sha256")
    if type(sha256) is not str or not re.fullmatch(_SHA256, sha256):
        problems.append(f"{name}: sha256 {sha256!r} is not a SHA-256 digest")
    part = get("part")
    if part is not None and type(part) is not int:
        problems.append(f"{name}: part {part!r} is not a number")
    mtime = get("mtime")
    if mtime is not None and type(mtime) is not str:
        problems.append(f"{name}: mtime {mtime!r} is not text")
    for key in _RECORD_FLAGS:
        if type(get(key, False)) is not bool:
            problems.append(f"{name}: {key} {record[key]!r} is not true or false")
    return problems


def _manifest_of(raw: dict[str, Any], crash_time_ns: int) -> Manifest:
    """A Manifest of a document `_problems` found sound; keys that early archives did not
    write yet take the value they stand for.  Positional: an index of 10,000 entries is
    read this way on every query."""
    get = raw.get
    missing = tuple(get("missing_parts", ()))
    missing_count = get("missing_count")
    return Manifest(
        raw["id"],
        raw["kind"],
        get("backend"),
        get("reason"),
        get("count"),
        crash_time_ns,
        get("archived_at"),
        get("boot_id"),
        get("machine_id"),
        get("hostname"),
        get("os_release"),
        get("imported_from"),
        get("crash_id"),
        get("complete", not missing),
        missing,
        len(missing) if missing_count is None else missing_count,
        tuple(_record_of(record) for record in raw["records"]),
        *(get(key) for key in _ANALYSIS_KEYS),
    )


def _record_of(raw: dict[str, Any]) -> ManifestRecord:
    get = raw.get
    return ManifestRecord(
        raw["name"],
        get("part"),
        raw["size"],
        raw["sha256"],
        get("mtime"),
        get("compressed", False),
        get("decoded", False),
        get("truncated", False),
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "true or false"}.get(
        type(value), "a number"
    )
