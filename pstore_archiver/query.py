"""Pure: choosing and showing archived entries (`list`, `info`), from their manifests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from pstore_archiver.errors import NothingFound, UsageError
from pstore_archiver.manifest import parse_time
from pstore_archiver.terminal import escape, escape_line
from pstore_archiver.units import format_size

Manifest = dict[str, Any]
COLUMNS = ("TIME", "ID", "BACKEND", "KIND", "DUMP", "PARTS", "PROCESS", "SUMMARY")


class Filters(NamedTuple):
    since: datetime | None = None
    until: datetime | None = None
    reason: str | None = None
    backend: str | None = None
    kind: str | None = None
    last: int | None = None  # -n N: the newest N


def select(manifests: Sequence[Manifest], filters: Filters) -> list[Manifest]:
    """The manifests that match, oldest first (newest last, like `coredumpctl list`)."""
    chosen = []
    for manifest in manifests:
        crash_time = parse_time(str(manifest["crash_time"]))
        if filters.since and crash_time < filters.since:
            continue
        if filters.until and crash_time > filters.until:
            continue
        if filters.reason and str(manifest.get("reason") or "").lower() != filters.reason.lower():
            continue
        if filters.backend and manifest.get("backend") != filters.backend:
            continue
        if filters.kind and manifest.get("kind") != filters.kind:
            continue
        chosen.append(manifest)
    if filters.last is not None:
        chosen = chosen[-filters.last :] if filters.last else []
    return chosen


class DamagedEntry(Protocol):
    entry_id: str
    reason: str


def resolve(
    manifests: Sequence[Manifest], wanted: str | None, damaged: Sequence[DamagedEntry] = ()
) -> Manifest:
    """An entry by id, by unique id prefix, or the newest when `wanted` is None.  An id
    that names a damaged entry says why it cannot be shown."""
    exact = [m for m in manifests if m["id"] == wanted]
    if exact:
        return exact[0]
    for entry in damaged:
        if entry.entry_id == wanted:
            raise NothingFound(f"{wanted}: damaged entry: {entry.reason}")
    if not manifests:
        raise NothingFound("the archive has no entries")
    if wanted is None:
        return manifests[-1]
    matches = [m for m in manifests if str(m["id"]).startswith(wanted)]
    if not matches:
        raise NothingFound(f"no entry matches {wanted!r}", hint="see: pstore-archiver list")
    if len(matches) > 1:
        shown = ", ".join(str(m["id"]) for m in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise UsageError(f"{wanted!r} matches {len(matches)} entries: {shown}{more}")
    return matches[0]


def parts_cell(manifest: Manifest) -> str:
    records = manifest.get("records") or []
    parts = [r for r in records if r.get("part") is not None]
    if not parts:
        return "-"
    return f"{len(parts)}{'!' if manifest.get('missing_parts') else ''}"


def dump_cell(manifest: Manifest) -> str:
    return f"{manifest['reason']}#{manifest['count']}" if manifest.get("reason") else "-"


def local_time(manifest: Manifest) -> str:
    return format_local(parse_time(str(manifest["crash_time"])))


def format_local(moment: datetime) -> str:
    """`Thu 2026-11-26 19:36:04 UTC`: a time in the local zone, as coredumpctl shows it."""
    return moment.astimezone().strftime("%a %Y-%m-%d %H:%M:%S %Z")


def table_rows(manifests: Sequence[Manifest]) -> list[tuple[str, ...]]:
    """The cells of `list`, control characters escaped (a process name is anyone's)."""
    return [
        tuple(
            escape(cell)
            for cell in (
                local_time(m),
                str(m["id"]),
                str(m.get("backend") or "-"),
                str(m.get("kind") or "-"),
                dump_cell(m),
                parts_cell(m),
                str(m.get("process") or "-"),
                str(m.get("summary") or "-"),
            )
        )
        for m in manifests
    ]


def render_table(
    rows: Sequence[tuple[str, ...]], width: int, columns: tuple[str, ...] = COLUMNS
) -> str:
    """Columns sized to their contents; the last column cut to the terminal width."""
    every = [columns, *rows]
    widths = [max(len(row[i]) for row in every) for i in range(len(columns) - 1)]
    lines = []
    for row in every:
        head = " ".join(cell.ljust(w) for cell, w in zip(row, widths))
        line = f"{head} {row[-1]}"
        lines.append(line if len(line) <= width else line[: max(width - 1, len(head) + 2)] + "…")
    return "\n".join(lines)


def render_info(
    manifest: Manifest,
    entry_path: str,
    call_trace: Sequence[str],
    log_tail: Sequence[str],
    same_signature: Sequence[str],
    size_bytes: int,
) -> str:
    """Everything about one entry, for people (`info`)."""
    missing = manifest.get("missing_parts") or []
    fields = [
        ("Entry", manifest["id"]),
        ("Crash time", f"{local_time(manifest)} ({manifest['crash_time']})"),
        ("Kind", manifest.get("kind")),
        ("Backend", manifest.get("backend")),
        ("Dump", dump_cell(manifest) if manifest.get("reason") else None),
        ("Parts", _parts_text(manifest, missing)),
        ("Summary", manifest.get("summary")),
        ("Function", manifest.get("function")),
        ("Process", _process_text(manifest)),
        ("Kernel", manifest.get("kernel_release")),
        ("Tainted", manifest.get("tainted")),
        ("Hardware", manifest.get("hardware")),
        ("Signature", manifest.get("signature")),
        ("Seen before", _same_text(same_signature) if manifest.get("signature") else None),
        (
            "Archived",
            f"{manifest.get('archived_at')} on {manifest.get('hostname')} "
            f"(boot {manifest.get('boot_id')})",
        ),
        ("Storage", f"{entry_path} ({format_size(size_bytes)})"),
    ]
    width = max(len(name) for name, _ in fields)
    lines = [
        f"{name.rjust(width)}: {escape(str(value))}" for name, value in fields if value is not None
    ]
    lines.append(f"{'Records'.rjust(width)}:")
    for record in manifest.get("records") or []:
        part = f"Part{record['part']} " if record.get("part") is not None else ""
        truncated = ", decoded text cut" if record.get("truncated") else ""
        lines.append(
            escape(
                f"{'':{width}}  {part}{record['name']} ({record['size']} bytes, "
                f"sha256 {str(record['sha256'])[:16]}…{truncated})"
            )
        )
    if call_trace:
        lines.extend(["", "Call trace:", *(f"  {escape(frame)}" for frame in call_trace)])
    if log_tail:
        lines.extend(["", f"Last {len(log_tail)} lines of the log:"])
        lines.extend(escape_line(line) for line in log_tail)
    return "\n".join(lines)


def _parts_text(manifest: Manifest, missing: Sequence[int]) -> str | None:
    parts = [r for r in manifest.get("records") or [] if r.get("part") is not None]
    if not parts:
        return None
    count = manifest.get("missing_count")
    more = count - len(missing) if isinstance(count, int) and count > len(missing) else 0
    listed = ", ".join(map(str, missing)) + (f" and {more} more" if more else "")
    gaps = f", missing: {listed}" if missing else ", complete"
    return f"{len(parts)}{gaps}"


def _process_text(manifest: Manifest) -> str | None:
    if not manifest.get("process"):
        return None
    pid = manifest.get("pid")
    return f"{manifest['process']} (pid {pid})" if pid is not None else str(manifest["process"])


def _same_text(others: Sequence[str]) -> str:
    if not others:
        return "no other entry has this signature"
    return f"{len(others)} other entr{'y' if len(others) == 1 else 'ies'}: {', '.join(others)}"
