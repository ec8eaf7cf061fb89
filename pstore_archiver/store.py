"""The source side: read the records of a pstore directory safely, and unlink them."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import NamedTuple

from pstore_archiver.errors import StoreError, describe_os_error

READ_CHUNK = 1 << 16
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
BACKEND_PARAMETER = "/sys/module/pstore/parameters/backend"
MOUNTINFO = "/proc/self/mountinfo"


class StoredFile(NamedTuple):
    name: str
    data: bytes
    mtime_ns: int


class Unreadable(NamedTuple):
    """A name in the store that is not archived, and why."""

    name: str
    reason: str


class Scan(NamedTuple):
    files: list[StoredFile]
    unreadable: list[Unreadable]


class Store:
    """The pstore directory (normally /sys/fs/pstore)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def scan(self) -> Scan:
        """Read every regular file to EOF (`st_size` lies for ftrace, §1.6), never
        following links.  Anything else is reported, never silently skipped."""
        try:
            dir_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise StoreError(f"{self.path}: cannot open the store: {describe_os_error(e)}") from e
        files: list[StoredFile] = []
        unreadable: list[Unreadable] = []
        try:
            for name in sorted(os.listdir(dir_fd)):
                try:
                    files.append(_read_file(dir_fd, name))
                except _NotARecord as e:
                    unreadable.append(Unreadable(name, str(e)))
                except OSError as e:
                    unreadable.append(Unreadable(name, f"cannot read: {describe_os_error(e)}"))
        finally:
            os.close(dir_fd)
        return Scan(files, unreadable)

    def unlink(self, name: str) -> OSError | None:
        """Remove one record; the error when the kernel refuses (EPERM on nvram, §3.6).
        A record already gone (ENOENT, a race on 6.x) counts as removed."""
        try:
            os.unlink(self.path / name)
        except FileNotFoundError:
            return None
        except OSError as e:
            return e
        return None


class _NotARecord(Exception):
    pass


def _read_file(dir_fd: int, name: str) -> StoredFile:
    try:
        fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _NotARecord("a symbolic link, not a record: not followed") from e
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _NotARecord("not a regular file")
        chunks = []
        while chunk := os.read(fd, READ_CHUNK):
            chunks.append(chunk)
        return StoredFile(name, b"".join(chunks), info.st_mtime_ns)
    finally:
        os.close(fd)


def read_backend(parameter: str = BACKEND_PARAMETER) -> str | None:
    """The registered pstore backend; None when none is (`(null)`, §4) or pstore is absent."""
    try:
        with open(parameter, encoding="utf-8", errors="replace") as f:
            value = f.read().strip()
    except OSError:
        return None
    return None if value in ("", "(null)") else value


def filesystem_type(path: Path, mountinfo: str = MOUNTINFO) -> str | None:
    """The type of the file system mounted exactly at `path`, or None."""
    target = os.path.realpath(path)
    found = None
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and fields[4] == target and " - " in line:
                    found = line.split(" - ", 1)[1].split()[0]  # the last mount wins
    except OSError:
        return None
    return found
