"""The source side: find records, read them safely, remove only the very files read.

Two kinds of source hand records to the same run: the pstore directory (`Store`, normally
/sys/fs/pstore: a flat directory of records) and what systemd-pstore left in
/var/lib/systemd/pstore (`SystemdPstoreDir`, for `import`).  A record is read without
following links, to EOF (`st_size` lies for ftrace, kernel-pstore-format.md §1.6), in
bounded pieces: its hash, size and first bytes always, its whole bytes only when small.
It is removed only if the file there is still the one that was read (device, inode, size,
mtime and ctime), checked right before the unlink.
"""

from __future__ import annotations

import errno
import os
import re
import stat

from pstore_archiver.errors import StoreError, describe_os_error
from pstore_archiver.records import Record, RecordReader
from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterator

READ_CHUNK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
BACKEND_PARAMETER = "/sys/module/pstore/parameters/backend"
MOUNTINFO = "/proc/self/mountinfo"
# A record of at most this size is held in memory from the scan to its copy; larger ones
# are streamed from the store again (and checked to be the same file).  All the records
# held at once stay within the budget, so memory stays bounded whatever the store holds.
HOLD_RECORD_BYTES = 1 << 20
HOLD_BUDGET_BYTES = 64 << 20

# What systemd-pstore leaves besides records (systemd-pstore.md §3, §4): its join of a
# dump's parts, and the temporary files of copy_file_atomic (`.#<name><16 hex digits>`).
SYSTEMD_DMESG_NAME = "dmesg.txt"
_SYSTEMD_TEMPORARY = r"\.#.+[0-9a-f]{16}"
# systemd-pstore nests at most two levels (v253+: `<timestamp>/<count>/`); a little more is
# read, deeper directories are reported.
MAX_IMPORT_DEPTH = 4


class Identity(NamedTuple):
    """Which file a record was read from: what must still hold before it is removed."""

    device: int
    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> Identity:
        return cls(info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class Found(NamedTuple):
    """A record found in a source: what it says, where it is, which file it was."""

    record: Record  # record.origin: the path relative to the source
    path: str
    identity: Identity


class Skipped(NamedTuple):
    """A name in a source that is not archived, and why."""

    name: str
    reason: str


class Scan(NamedTuple):
    found: list[Found]
    left: list[Skipped]  # not archived, kept where it is (a run exits 1)
    ignored: list[Skipped]  # not a record at all (systemd-pstore's own files)


class RecordUnreadable(Exception):
    """A record cannot be read again for its copy, or is not the file that was read."""


def describe_type(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    )
    return next((text for test, text in kinds if test(mode)), "not a regular file")


class _Budget:
    def __init__(self, total_bytes: int) -> None:
        self.left_bytes = total_bytes

    def hold_bytes(self) -> int:
        return min(HOLD_RECORD_BYTES, self.left_bytes)


class Source:
    """Where records come from; `Store` and `SystemdPstoreDir` say how they are laid out."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def scan(self, hold_budget_bytes: int = HOLD_BUDGET_BYTES) -> Scan:
        try:
            dir_fd = os.open(self.path, _DIR_FLAGS)
        except OSError as e:
            raise StoreError(f"{self.path}: cannot open: {describe_os_error(e)}") from e
        scan = Scan([], [], [])
        try:
            self._scan_dir(dir_fd, "", scan, _Budget(hold_budget_bytes), 0)
        finally:
            os.close(dir_fd)
        return scan

    def _scan_dir(self, dir_fd: int, prefix: str, scan: Scan, budget: _Budget, depth: int) -> None:
        try:
            names = sorted(os.listdir(dir_fd))
        except OSError as e:
            scan.left.append(Skipped(prefix or ".", f"cannot list: {describe_os_error(e)}"))
            return
        for name in names:
            origin = prefix + name
            try:
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError as e:
                scan.left.append(Skipped(origin, f"cannot read: {describe_os_error(e)}"))
                continue
            if stat.S_ISDIR(info.st_mode) and self._descend(name, origin, scan, depth):
                self._scan_subdir(dir_fd, name, origin, scan, budget, depth + 1)
                continue
            if stat.S_ISDIR(info.st_mode):
                continue
            ignored = self._ignore(name)
            if ignored:
                scan.ignored.append(Skipped(origin, ignored))
                continue
            try:
                scan.found.append(self._read(dir_fd, name, origin, info, budget))
            except RecordUnreadable as e:
                scan.left.append(Skipped(origin, str(e)))

    def _scan_subdir(
        self, dir_fd: int, name: str, origin: str, scan: Scan, budget: _Budget, depth: int
    ) -> None:
        try:
            sub_fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as e:
            scan.left.append(Skipped(origin, f"cannot open: {describe_os_error(e)}"))
            return
        try:
            self._scan_dir(sub_fd, origin + "/", scan, budget, depth)
        finally:
            os.close(sub_fd)

    def _descend(self, name: str, origin: str, scan: Scan, depth: int) -> bool:
        """Whether to read a subdirectory; if not, it is reported here."""
        scan.left.append(Skipped(origin, "a directory, not a record"))
        return False

    def _ignore(self, name: str) -> str | None:
        """Why a file is no record at all, or None."""
        return None

    def _read(
        self, dir_fd: int, name: str, origin: str, info: os.stat_result, budget: _Budget
    ) -> Found:
        if stat.S_ISLNK(info.st_mode):
            raise RecordUnreadable("a symbolic link, not a record: not followed")
        if not stat.S_ISREG(info.st_mode):
            raise RecordUnreadable(f"not a regular file ({describe_type(info.st_mode)})")
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise RecordUnreadable("a symbolic link, not a record: not followed") from e
            raise RecordUnreadable(f"cannot read: {describe_os_error(e)}") from e
        try:
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != (info.st_dev, info.st_ino):
                raise RecordUnreadable("replaced while being read: read again next time")
            if not stat.S_ISREG(opened.st_mode):
                raise RecordUnreadable(f"not a regular file ({describe_type(opened.st_mode)})")
            reader = RecordReader(name, budget.hold_bytes(), opened.st_size)
            for chunk in _chunks(fd):
                reader.feed(chunk)
            after = os.fstat(fd)
        except OSError as e:
            raise RecordUnreadable(f"cannot read: {describe_os_error(e)}") from e
        finally:
            os.close(fd)
        identity = Identity.of(opened)
        if Identity.of(after) != identity:
            raise RecordUnreadable("changed while being read: read again next time")
        record = reader.finish(opened.st_mtime_ns, origin)
        if record.data is not None:
            budget.left_bytes -= record.size
        return Found(record, os.path.join(self.path, origin), identity)

    def read_chunks(self, found: Found) -> Iterator[bytes]:
        """The bytes of a record again, for its copy, from the very file that was read;
        RecordUnreadable when they cannot be read or the file is another one now."""
        try:
            fd = os.open(found.path, _OPEN_FLAGS)
        except OSError as e:
            raise RecordUnreadable(f"cannot read: {describe_os_error(e)}") from e
        try:
            try:
                if Identity.of(os.fstat(fd)) != found.identity:
                    raise RecordUnreadable("changed since it was read: read again next time")
                yield from _chunks(fd)
            except OSError as e:
                raise RecordUnreadable(f"cannot read: {describe_os_error(e)}") from e
        finally:
            os.close(fd)

    def remove(self, found: Found) -> str | None:
        """Unlink a record that is archived, if the file there is still the one that was
        read; None when it is gone, else why it stays.  A record already gone (ENOENT,
        a race on 6.x, §3.6) counts as removed; EPERM is nvram, which cannot erase."""
        try:
            now = os.stat(found.path, follow_symlinks=False)
        except FileNotFoundError:
            return None
        except OSError as e:
            return f"archived, but cannot be checked before the unlink: {describe_os_error(e)}"
        if Identity.of(now) != found.identity:
            return "archived, but the file there changed since it was read: not removed"
        try:
            os.unlink(found.path)
        except FileNotFoundError:
            return None
        except OSError as e:
            return f"archived, but unlink failed: {describe_os_error(e)}"
        return None

    def tidy(self, removed: list[Found]) -> list[str]:
        """After records were removed: what else the source lets go of (nothing here)."""
        return []


class Store(Source):
    """The pstore directory (normally /sys/fs/pstore): every file in it is a record.
    `backend_parameter` and `mountinfo` say where the kernel tells which backend is
    registered and what is mounted (other files in tests)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        backend_parameter: str = BACKEND_PARAMETER,
        mountinfo: str = MOUNTINFO,
    ) -> None:
        super().__init__(path)
        self.backend_parameter = backend_parameter
        self.mountinfo = mountinfo

    def backend(self) -> str | None:
        """The registered pstore backend; None when none is."""
        return read_backend(self.backend_parameter)

    def is_pstore_mount(self) -> bool:
        """Whether the store is where a pstore file system is mounted."""
        return filesystem_type(self.path, self.mountinfo) == "pstore"


class SystemdPstoreDir(Source):
    """What systemd-pstore left (normally /var/lib/systemd/pstore; systemd-pstore.md §3-5):
    records in the root and in `<key>/` (v252) or `<timestamp>/<count>/` (v253+)
    directories, beside its own `dmesg.txt` joins and `.#<name><hex>` temporary files,
    which are no records and are never touched."""

    def _descend(self, name: str, origin: str, scan: Scan, depth: int) -> bool:
        if depth + 1 > MAX_IMPORT_DEPTH:
            scan.left.append(Skipped(origin, "a directory deeper than systemd-pstore writes"))
            return False
        return True

    def _ignore(self, name: str) -> str | None:
        if name == SYSTEMD_DMESG_NAME:
            return "systemd-pstore's own join of a dump's parts, not a record"
        if re.fullmatch(_SYSTEMD_TEMPORARY, name, re.DOTALL):
            return "a temporary file of systemd-pstore, not a record"
        return None

    def tidy(self, removed: list[Found]) -> list[str]:
        """Remove the directories that removing these records left empty, deepest first
        (never the source itself, never one that holds anything else); their names."""
        candidates: set[str] = set()
        for found in removed:
            parent = os.path.dirname(found.record.origin)
            while parent:
                candidates.add(parent)
                parent = os.path.dirname(parent)
        gone = []
        for relative in sorted(candidates, key=lambda p: (-p.count("/"), p)):
            try:
                os.rmdir(os.path.join(self.path, relative))
            except OSError:
                continue  # not empty (dmesg.txt, another record), or not ours to judge
            gone.append(relative)
        return gone


def _chunks(fd: int) -> Iterator[bytes]:
    while chunk := os.read(fd, READ_CHUNK):
        yield chunk


def read_backend(parameter: str = BACKEND_PARAMETER) -> str | None:
    """The registered pstore backend; None when none is (`(null)`, §4) or pstore is absent."""
    try:
        with open(parameter, encoding="utf-8", errors="replace") as f:
            value = f.read().strip()
    except OSError:
        return None
    return None if value in ("", "(null)") else value


def filesystem_type(path: str, mountinfo: str = MOUNTINFO) -> str | None:
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
