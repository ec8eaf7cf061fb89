"""Pure: which entries retention removes (DESIGN §6), oldest first."""

from __future__ import annotations

from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Sequence


class Limits(NamedTuple):
    max_entries: int = 0  # 0 = no limit, for all four
    max_use_bytes: int = 0
    keep_free_bytes: int = 0
    max_age_seconds: int = 0
    keep_newest: int = 0  # the floor: the newest N entries are never removed by any limit


class Candidate(NamedTuple):
    entry_id: str
    crash_time_s: float
    size_bytes: int
    protected: bool = False  # created by the current run: never removed


class Removal(NamedTuple):
    entry_id: str
    size_bytes: int
    reason: str  # which limit asked for it


def select_removals(
    entries: Sequence[Candidate], limits: Limits, free_bytes: int, now_s: float
) -> list[Removal]:
    """The entries to remove so that every limit holds, oldest (by crash time) first.
    The newest `limits.keep_newest` entries and the protected ones are never removed:
    limits that they alone break are left broken rather than touch them."""
    ordered = sorted(entries, key=lambda e: (e.crash_time_s, e.entry_id))
    count = len(ordered)
    used = sum(e.size_bytes for e in ordered)
    removable = ordered[: max(0, len(ordered) - limits.keep_newest)]
    removals: list[Removal] = []
    for entry in removable:
        if entry.protected:
            continue
        reason = _broken_limit(entry, limits, count, used, free_bytes, now_s)
        if reason is None:
            continue
        removals.append(Removal(entry.entry_id, entry.size_bytes, reason))
        count -= 1
        used -= entry.size_bytes
        free_bytes += entry.size_bytes
    return removals


def _broken_limit(
    entry: Candidate, limits: Limits, count: int, used: int, free: int, now_s: float
) -> str | None:
    if limits.max_age_seconds and now_s - entry.crash_time_s > limits.max_age_seconds:
        return f"older than max_age ({limits.max_age_seconds}s)"
    if limits.max_entries and count > limits.max_entries:
        return f"more than max_entries ({limits.max_entries})"
    if limits.max_use_bytes and used > limits.max_use_bytes:
        return f"archive uses more than max_use ({limits.max_use_bytes} bytes)"
    if limits.keep_free_bytes and free < limits.keep_free_bytes:
        return f"less than keep_free ({limits.keep_free_bytes} bytes) free"
    return None
