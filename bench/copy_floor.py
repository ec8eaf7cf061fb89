"""The least a durable archiver written in Python can do: the scale runs' third contender.

    python copy_floor.py STORE ARCHIVE

It copies each record of STORE into ARCHIVE under its own name, makes the copies durable
with one syncfs of the archive's file system and an fsync of ARCHIVE, then unlinks the
records: what systemd-pstore does, plus the sync that pstore-archiver will not give up.
It reads no header, groups nothing, analyses nothing, writes no manifest or index and sends
nothing to the journal.  Its time is the floor under any Python `run` on the same store,
so the scale report can show how much of the gap to systemd-pstore the interpreter leaves
to close.  The syncs are pstore-archiver's own (`pstore_archiver.archive`, from the same
install), whose import adds about 10 ms to runs of most of a second.
"""

from __future__ import annotations

import os
import sys

from pstore_archiver.archive import fsync_dir, syncfs

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_READ_AT_MOST = 1 << 20  # a pstore record is far smaller


def copy_durably(store: str, archive: str) -> int:
    """Move every record of `store` into `archive` (one syncfs before any unlink); the
    number moved."""
    os.makedirs(archive, mode=0o700, exist_ok=True)
    names = sorted(os.listdir(store))
    for name in names:
        source = os.open(os.path.join(store, name), _READ)
        try:
            data = os.read(source, _READ_AT_MOST)
        finally:
            os.close(source)
        target = os.open(os.path.join(archive, name), _CREATE, 0o600)
        try:
            os.write(target, data)
        finally:
            os.close(target)
    archive_fd = os.open(archive, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        syncfs(archive_fd)
        fsync_dir(archive_fd)
    finally:
        os.close(archive_fd)
    for name in names:
        os.unlink(os.path.join(store, name))
    return len(names)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: copy_floor.py STORE ARCHIVE", file=sys.stderr)
        return 2
    copy_durably(*argv)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
