"""Read the announcements of archived kernel dumps back from journals (`crashes`, `top`).

The local journal by default, or the files of a directory such as systemd-journal-remote's
output (`-D`), or files named by a glob (`--file`), through python-systemd's
`journal.Reader`, which reads forwarded files with every field at full length
(fleet-facts.md).  Values come back as strings, as journald stores them.
"""

from __future__ import annotations

import glob
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pstore_archiver.errors import UsageError, describe_os_error
from pstore_archiver.journal import MessageId


def read_dump_announcements(
    directory: Path | None = None, pattern: str | None = None
) -> Iterator[dict[str, str]]:
    """The fields of every dump-archived message, in journal order."""
    from systemd import journal  # heavy import: only the fleet commands read journals

    try:
        if directory is not None:
            if not directory.is_dir():
                raise UsageError(f"{directory}: not a directory of journal files")
            reader = journal.Reader(path=str(directory))
        elif pattern is not None:
            files = sorted(glob.glob(pattern))
            if not files:
                raise UsageError(f"--file {pattern!r}: no journal files match")
            reader = journal.Reader(files=files)
        else:
            reader = journal.Reader()
    except OSError as e:
        where = directory if directory is not None else pattern
        raise UsageError(f"{where}: cannot open the journal: {describe_os_error(e)}") from e
    with reader:
        reader.add_match(MESSAGE_ID=MessageId.dump_archived.value)
        for entry in reader:
            yield {name: _as_text(value) for name, value in entry.items()}


def _as_text(value: Any) -> str:
    """journald's string for a value python-systemd converted (UUIDs, times, numbers)."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, datetime):
        return str(int(value.timestamp() * 10**6))
    if isinstance(value, list):  # a field sent more than once: the first value
        return _as_text(value[0]) if value else ""
    return str(value)
