"""Read the announcements of archived kernel dumps back from journals (`crashes`, `top`).

The local journal by default, or the files of a directory such as systemd-journal-remote's
output (`-D`), or files named by a glob (`--file`), through python-systemd's reader, which
reads forwarded files with every field at full length (fleet-facts.md).  Only the fields
named by `crashes.FIELDS` (`TOP_FIELDS` for `top`) are read, as the strings journald
stores: `journal.Reader` would convert every field of every entry (the whole `PSTORE_TEXT`
too), which made `top` over a fleet's 100,000 messages cost 12 s of CPU (2.7 s now;
bench/fleet_top.py).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

from pstore_archiver.diagnostics import log
from pstore_archiver.errors import UsageError, describe_os_error
from pstore_archiver.journal import MessageId
from pstore_archiver.typing_lite import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

_LOCAL_ONLY = 1  # sd_journal_open()'s SD_JOURNAL_LOCAL_ONLY: this machine's journal


def read_dump_announcements(
    fields: Sequence[str], directory: str | None = None, pattern: str | None = None
) -> Iterator[dict[str, str]]:
    """The given fields of every dump-archived message (a field an entry does not have is
    left out; one sent twice gives its first value): the local journal's in journal order,
    else file by file."""
    if directory is None and pattern is None:
        yield from _announcements(_open(_LOCAL_ONLY, None, "the journal"), fields)
        return
    for path in _journal_files(directory) if directory is not None else _glob_files(pattern):
        try:
            reader = _open(0, [path], path)
        except UsageError as e:  # journalctl, too, ignores a file it cannot read
            log.warning("%s; skipped", e)
            continue
        yield from _announcements(reader, fields)


def _journal_files(name: str) -> list[str]:
    """The files sd-journal reads in a directory: `*.journal` and `*.journal~` there and
    in subdirectories named by a machine id (as /var/log/journal holds them).

    They are read one by one, not by one reader of the directory: a reader of many files
    compares every file's next entry at each step, which made `top` over a collector's
    1,000 files spend 4 s in stepping alone (bench/fleet_top.py).  Order does not matter
    here; duplicates across files are dropped by crash id like any other."""
    directory = Path(name)
    if not directory.is_dir():
        raise UsageError(f"{directory}: not a directory of journal files")
    found = []
    for where in (directory, *sorted(directory.glob(_MACHINE_ID_GLOB))):
        found += [str(p) for p in where.iterdir() if p.name.endswith((".journal", ".journal~"))]
    return sorted(found)


_MACHINE_ID_GLOB = "[0-9a-f]" * 32


def _glob_files(pattern: str | None) -> list[str]:
    files = sorted(glob.glob(pattern or ""))
    if not files:
        raise UsageError(f"--file {pattern!r}: no journal files match")
    return files


def _announcements(reader: Any, fields: Sequence[str]) -> Iterator[dict[str, str]]:
    try:
        reader.add_match(f"MESSAGE_ID={MessageId.dump_archived}".encode())
        get = reader._get
        while reader._next():
            entry = {}
            for name in fields:
                try:
                    value = get(name)
                except KeyError:  # not in this entry
                    continue
                entry[name] = value.decode("utf-8", errors="replace")
            yield entry
    finally:
        reader.close()


def _open(flags: int, files: list[str] | None, where: object) -> Any:
    # python-systemd's C reader (what journal.Reader wraps), without its conversions
    from systemd._reader import _Reader

    try:
        return _Reader(flags, None, files)
    except OSError as e:
        raise UsageError(f"{where}: cannot open the journal: {describe_os_error(e)}") from e
