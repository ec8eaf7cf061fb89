"""Pure: crashes as journals recorded them, across machines (`crashes`, `top`; DESIGN §4, §7).

Input is the fields of the journal entries that announce an archived kernel dump, from this
machine's journal or from the files systemd-journal-remote wrote for a fleet.  Shippers
deliver at least once and an archive can be imported again, so one crash may be announced
several times: rows are told apart by `PSTORE_CRASH_ID`, which depends only on the crash's
records (fleet-facts.md, "Duplicates").  Field values are what the sender claimed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

from pstore_archiver.query import format_local, same_backend
from pstore_archiver.terminal import escape
from pstore_archiver.typing_lite import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence


class Crash(NamedTuple):
    """One crash as one journal entry announced it."""

    crash_id: str
    crash_usec: int | None  # PSTORE_CRASH_TIMESTAMP: µs since the epoch
    machine_id: str | None
    hostname: str | None
    entry: str | None
    backend: str | None
    reason: str | None
    oopscount: str | None  # PSTORE_COUNT: the manifest's `count` (see manifest.py)
    signature: str | None
    summary: str | None
    kernel_release: str | None
    os_release: str | None

    @property
    def crash_time(self) -> datetime | None:
        return _time(self.crash_usec)


class Filters(NamedTuple):
    since: datetime | None = None
    until: datetime | None = None
    machine: str | None = None  # a machine id (or a prefix of one) or a host name
    signature: str | None = None
    reason: str | None = None
    backend: str | None = None  # efi and efi_pstore are one backend (query.backend_word)


# The fields read from each journal entry: what `top` and the filters use, and for
# `crashes` every field crash_from_fields reads.
TOP_FIELDS = (
    "_MACHINE_ID",
    "_HOSTNAME",
    "PSTORE_CRASH_ID",
    "PSTORE_CRASH_TIMESTAMP",
    "PSTORE_ENTRY",
    "PSTORE_REASON",
    "PSTORE_SIGNATURE",
    "PSTORE_SUMMARY",
    "PSTORE_KERNEL_RELEASE",
)
FIELDS = (*TOP_FIELDS, "PSTORE_BACKEND", "PSTORE_COUNT", "PSTORE_OS_RELEASE")


def crash_from_fields(fields: Mapping[str, str]) -> Crash:
    """A Crash from an entry's fields (all strings).  Without `PSTORE_CRASH_ID` (senders
    older than the field) the machine and entry id stand in for it."""
    machine_id = fields.get("_MACHINE_ID")
    entry = fields.get("PSTORE_ENTRY")
    identity = fields.get("PSTORE_CRASH_ID") or f"{machine_id or '?'}/{entry or '?'}"
    return Crash(
        crash_id=identity,
        crash_usec=_usec(fields.get("PSTORE_CRASH_TIMESTAMP")),
        machine_id=machine_id,
        hostname=fields.get("_HOSTNAME"),
        entry=entry,
        backend=fields.get("PSTORE_BACKEND"),
        reason=fields.get("PSTORE_REASON"),
        oopscount=fields.get("PSTORE_COUNT"),
        signature=fields.get("PSTORE_SIGNATURE"),
        summary=fields.get("PSTORE_SUMMARY"),
        kernel_release=fields.get("PSTORE_KERNEL_RELEASE"),
        os_release=fields.get("PSTORE_OS_RELEASE"),
    )


_MAX_USEC = 253402300800 * 10**6  # 10000-01-01: beyond what datetime shows


def _usec(value: str | None) -> int | None:
    """A timestamp as sent, or None for one that is not a time (a sender's clock far off)."""
    if value is None or not value.isdigit() or len(value) > 19:
        return None
    usec = int(value)
    return usec if usec < _MAX_USEC else None


def _time(usec: int | None) -> datetime | None:
    if usec is None:
        return None
    seconds, fraction = divmod(usec, 10**6)
    return datetime.fromtimestamp(seconds, timezone.utc).replace(microsecond=fraction)


def unique(crashes: Iterable[Crash]) -> list[Crash]:
    """Each crash once (the first announcement of it), oldest crash first."""
    seen: dict[str, Crash] = {}
    for crash in crashes:
        seen.setdefault(crash.crash_id, crash)
    return sorted(seen.values(), key=_order)


def _order(crash: Crash) -> tuple[int, str]:
    return (-1 if crash.crash_usec is None else crash.crash_usec, crash.crash_id)


def select(crashes: Sequence[Crash], filters: Filters) -> list[Crash]:
    if filters == Filters():
        return list(crashes)
    since, until = _usec_of(filters.since), _usec_of(filters.until)
    return [crash for crash in crashes if _matches(crash, filters, since, until)]


def _usec_of(moment: datetime | None) -> int | None:
    return None if moment is None else round(moment.timestamp() * 10**6)


def _matches(crash: Crash, filters: Filters, since: int | None, until: int | None) -> bool:
    if since is not None and (crash.crash_usec is None or crash.crash_usec < since):
        return False
    if until is not None and (crash.crash_usec is None or crash.crash_usec > until):
        return False
    if filters.machine and not (
        (crash.machine_id or "").startswith(filters.machine.replace("-", "").lower())
        or crash.hostname == filters.machine
    ):
        return False
    if filters.signature and crash.signature != filters.signature:
        return False
    if filters.backend and not same_backend(crash.backend, filters.backend):
        return False
    return not (filters.reason and (crash.reason or "").lower() != filters.reason.lower())


class SignatureCount(NamedTuple):
    """`top`: one row per crash signature."""

    signature: str | None
    crashes: int
    machines: int
    first_crash: datetime | None
    last_crash: datetime | None
    kernels: tuple[str, ...]
    summary: str | None  # of the newest crash


def top(crashes: Sequence[Crash]) -> list[SignatureCount]:
    """Crashes grouped by signature, the most frequent first (then the most recent)."""
    groups: dict[str | None, list[Crash]] = {}
    for crash in sorted(crashes, key=_order):
        groups.setdefault(crash.signature, []).append(crash)
    rows = [
        SignatureCount(
            signature=signature,
            crashes=len(members),
            machines=len({c.machine_id or c.hostname for c in members}),
            first_crash=members[0].crash_time,
            last_crash=members[-1].crash_time,
            kernels=tuple(sorted({c.kernel_release for c in members if c.kernel_release})),
            summary=members[-1].summary,
        )
        for signature, members in groups.items()
    ]
    return sorted(rows, key=lambda r: (-r.crashes, -_stamp(r.last_crash), r.signature or ""))


def _stamp(moment: datetime | None) -> float:
    return moment.timestamp() if moment else float("-inf")


CRASH_COLUMNS = ("TIME", "HOST", "MACHINE", "DUMP", "KERNEL", "SIGNATURE", "SUMMARY")
_SHORT_MACHINE_ID = 12  # hex digits, enough to tell a fleet's machines apart
TOP_COLUMNS = ("CRASHES", "MACHINES", "FIRST", "LAST", "KERNELS", "SIGNATURE", "SUMMARY")
_SHOWN_KERNELS = 2


def crash_rows(crashes: Sequence[Crash]) -> list[tuple[str, ...]]:
    """The cells of `crashes`, control characters escaped (senders claim what they like)."""
    return [
        tuple(
            escape(cell or "-")
            for cell in (
                format_local(c.crash_time) if c.crash_time else None,
                c.hostname,
                (c.machine_id or "")[:_SHORT_MACHINE_ID] or None,
                f"{c.reason}#{c.oopscount}" if c.reason else None,
                c.kernel_release,
                c.signature,
                c.summary,
            )
        )
        for c in crashes
    ]


def top_rows(counts: Sequence[SignatureCount]) -> list[tuple[str, ...]]:
    return [
        tuple(
            escape(cell or "-")
            for cell in (
                str(row.crashes),
                str(row.machines),
                _date(row.first_crash),
                _date(row.last_crash),
                _kernels(row.kernels),
                row.signature,
                row.summary,
            )
        )
        for row in counts
    ]


def _date(moment: datetime | None) -> str | None:
    return moment.astimezone().strftime("%Y-%m-%d") if moment else None


def _kernels(kernels: Sequence[str]) -> str | None:
    """`6.1.0-56-amd64,6.1.0-57-amd64 +3`: the newest releases first, by name."""
    newest = sorted(kernels, reverse=True)
    shown = ",".join(newest[:_SHOWN_KERNELS])
    more = len(newest) - _SHOWN_KERNELS
    return f"{shown} +{more}" if more > 0 else shown or None


def crash_json(crash: Crash) -> dict[str, str | None]:
    """One crash for `crashes --json`: every key, null where the journal had no value."""
    document = {"crash_id": crash.crash_id, "crash_time": _iso(crash.crash_time)}
    for key, value in crash._asdict().items():
        if key not in ("crash_id", "crash_usec"):
            document["count" if key == "oopscount" else key] = value
    return document


def top_json(row: SignatureCount) -> dict[str, object]:
    return {
        "signature": row.signature,
        "crashes": row.crashes,
        "machines": row.machines,
        "first_crash": _iso(row.first_crash),
        "last_crash": _iso(row.last_crash),
        "kernels": list(row.kernels),
        "summary": row.summary,
    }


def _iso(moment: datetime | None) -> str | None:
    """As entry.json writes times: `2026-11-26T19:36:04.000000Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None
