"""Pure: choosing and showing archived entries (`list`, `info`), from their manifests."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from pstore_archiver.analysis import analyze_entry
from pstore_archiver.errors import NothingFound, UsageError
from pstore_archiver.manifest import Manifest
from pstore_archiver.terminal import escape, escape_line
from pstore_archiver.times import format_time_ns, utc_from_ns
from pstore_archiver.typing_lite import TYPE_CHECKING
from pstore_archiver.units import format_size

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

COLUMNS = ("TIME", "ID", "BACKEND", "KIND", "DUMP", "PARTS", "PROCESS", "SUMMARY")
# One backend, two names: the kernel calls the EFI backend `efi` before 6.2 and `efi_pstore`
# since (commit 893c5f1de620), and pstore-blk.rst spells `pstore_blk` as `pstore-blk`.
# Manifests and journal fields keep the kernel's name; queries compare this word.
_BACKEND_WORDS = {"efi_pstore": "efi", "pstore-blk": "pstore_blk"}


def backend_word(backend: str | None) -> str | None:
    """The one word queries use for a backend, whichever name the kernel gave it."""
    return _BACKEND_WORDS.get(backend, backend) if backend else backend


def same_backend(backend: str | None, wanted: str) -> bool:
    return backend_word(backend) == backend_word(wanted)


class Filters(NamedTuple):
    since: datetime | None = None
    until: datetime | None = None
    reason: str | None = None
    backend: str | None = None
    kind: str | None = None
    last: int | None = None  # -n N: the newest N


def select(manifests: Sequence[Manifest], filters: Filters) -> list[Manifest]:
    """The manifests that match, oldest first (newest last, like `coredumpctl list`)."""
    chosen = [manifest for manifest in manifests if _matches(manifest, filters)]
    if filters.last is not None:
        chosen = chosen[-filters.last :] if filters.last else []
    return chosen


def _matches(manifest: Manifest, filters: Filters) -> bool:
    crash_time = crash_time_of(manifest)
    if filters.since and crash_time < filters.since:
        return False
    if filters.until and crash_time > filters.until:
        return False
    if filters.reason and (manifest.reason or "").lower() != filters.reason.lower():
        return False
    if filters.backend and not same_backend(manifest.backend, filters.backend):
        return False
    return not (filters.kind and manifest.kind != filters.kind)


def crash_time_of(manifest: Manifest) -> datetime:
    return utc_from_ns(manifest.crash_time_ns)


class DamagedEntry(Protocol):
    entry_id: str
    reason: str


def resolve(
    manifests: Sequence[Manifest], wanted: str | None, damaged: Sequence[DamagedEntry] = ()
) -> Manifest:
    """An entry by id, by unique id prefix, or the newest when `wanted` is None.  An id
    that names a damaged entry says why it cannot be shown."""
    exact = [m for m in manifests if m.entry_id == wanted]
    if exact:
        return exact[0]
    for entry in damaged:
        if entry.entry_id == wanted:
            raise NothingFound(f"{wanted}: damaged entry: {entry.reason}")
    if not manifests:
        raise NothingFound("the archive has no entries")
    if wanted is None:
        return manifests[-1]
    matches = [m for m in manifests if m.entry_id.startswith(wanted)]
    if not matches:
        raise NothingFound(f"no entry matches {wanted!r}", hint="see: pstore-archiver list")
    if len(matches) > 1:
        shown = ", ".join(m.entry_id for m in matches[:5])
        more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
        raise UsageError(f"{wanted!r} matches {len(matches)} entries: {shown}{more}")
    return matches[0]


def parts_cell(manifest: Manifest) -> str:
    parts = [r for r in manifest.records if r.part is not None]
    if not parts:
        return "-"
    return f"{len(parts)}{'!' if manifest.missing_parts else ''}"


def dump_cell(manifest: Manifest) -> str:
    return f"{manifest.reason}#{manifest.oopscount}" if manifest.reason else "-"


def local_time(manifest: Manifest) -> str:
    return format_local(crash_time_of(manifest))


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
                m.entry_id,
                m.backend or "-",
                m.kind or "-",
                dump_cell(m),
                parts_cell(m),
                m.process or "-",
                m.summary or "-",
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


class EntryInfo(NamedTuple):
    """Everything `info` says about one entry: rendered for people or as JSON."""

    manifest: Manifest
    path: str
    size_bytes: int
    call_trace: tuple[str, ...]
    same_signature: tuple[str, ...]  # the ids of the other entries with its signature
    log_tail: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            **self.manifest.to_json(),
            "path": self.path,
            "size": self.size_bytes,
            "call_trace": list(self.call_trace),
            "same_signature": list(self.same_signature),
            "log_tail": list(self.log_tail),
        }

    def render(self) -> str:
        return render_info(self)


def describe(
    manifest: Manifest,
    others: Sequence[Manifest],
    log_tail: bytes,
    path: str,
    size_bytes: int,
    lines: int,
) -> EntryInfo:
    """`info` of an entry: its manifest, the call trace of its log (analysed again: the
    manifest keeps no trace), its last `lines` lines, the entries with its signature."""
    analysis = analyze_entry(manifest.kind, log_tail)
    text = log_tail.decode("utf-8", errors="replace")
    same = [
        m.entry_id
        for m in others
        if manifest.signature
        and m.signature == manifest.signature
        and m.entry_id != manifest.entry_id
    ]
    return EntryInfo(
        manifest=manifest,
        path=path,
        size_bytes=size_bytes,
        call_trace=analysis.call_trace if analysis else (),
        same_signature=tuple(same),
        log_tail=tuple(text.splitlines()[-lines:] if lines > 0 else ()),
    )


def render_info(info: EntryInfo) -> str:
    """Everything about one entry, for people (`info`)."""
    manifest = info.manifest
    fields = [
        ("Entry", manifest.entry_id),
        ("Crash time", f"{local_time(manifest)} ({format_time_ns(manifest.crash_time_ns)})"),
        ("Kind", manifest.kind),
        ("Backend", manifest.backend),
        ("Dump", dump_cell(manifest) if manifest.reason else None),
        ("Parts", _parts_text(manifest)),
        ("Summary", manifest.summary),
        ("Function", manifest.function),
        ("Process", _process_text(manifest)),
        ("Kernel", manifest.kernel_release),
        ("Tainted", manifest.tainted),
        ("Hardware", manifest.hardware),
        ("Signature", manifest.signature),
        ("Seen before", _same_text(info.same_signature) if manifest.signature else None),
        (
            "Archived",
            f"{manifest.archived_at} on {manifest.hostname} (boot {manifest.boot_id})",
        ),
        ("Storage", f"{info.path} ({format_size(info.size_bytes)})"),
    ]
    width = max(len(name) for name, _ in fields)
    lines = [
        f"{name.rjust(width)}: {escape(str(value))}" for name, value in fields if value is not None
    ]
    lines.append(f"{'Records'.rjust(width)}:")
    for record in manifest.records:
        part = f"Part{record.part} " if record.part is not None else ""
        truncated = ", decoded text cut" if record.truncated else ""
        lines.append(
            escape(
                f"{'':{width}}  {part}{record.name} ({record.size} bytes, "
                f"sha256 {record.sha256[:16]}…{truncated})"
            )
        )
    if info.call_trace:
        lines.extend(["", "Call trace:", *(f"  {escape(frame)}" for frame in info.call_trace)])
    if info.log_tail:
        lines.extend(["", f"Last {len(info.log_tail)} lines of the log:"])
        lines.extend(escape_line(line) for line in info.log_tail)
    return "\n".join(lines)


def _parts_text(manifest: Manifest) -> str | None:
    parts = [r for r in manifest.records if r.part is not None]
    if not parts:
        return None
    missing = manifest.missing_parts
    more = max(manifest.missing_count - len(missing), 0)
    listed = ", ".join(map(str, missing)) + (f" and {more} more" if more else "")
    gaps = f", missing: {listed}" if missing else ", complete"
    return f"{len(parts)}{gaps}"


def _process_text(manifest: Manifest) -> str | None:
    if not manifest.process:
        return None
    pid = manifest.pid
    return f"{manifest.process} (pid {pid})" if pid is not None else manifest.process


def _same_text(others: Sequence[str]) -> str:
    if not others:
        return "no other entry has this signature"
    return f"{len(others)} other entr{'y' if len(others) == 1 else 'ies'}: {', '.join(others)}"
