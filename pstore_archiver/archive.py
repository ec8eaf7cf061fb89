"""The destination side: durable publication of entries, the lock, lookup of what is there.

Only `Staging.publish`, `make_durable` and the syncs call fsync (STYLE 4.1): an entry's
files are written under a temporary directory name, then synced with it, the directory
renamed and the archive directory synced, so an entry is either wholly there or not at all.

The archive holds entries (directories named by their manifest's id) and the program's own
files, whose names start with a dot: `.lock`, `.index.json`, `.last-run.json`, and
temporaries named `.pstore-archiver-<what>-<32 random hex digits>`.  Only names of exactly
that form are ever cleaned up; anything else in the archive that is not an entry is left
alone, and an entry whose manifest is damaged is reported, never removed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import stat

from pstore_archiver import json_lite
from pstore_archiver.diagnostics import log
from pstore_archiver.errors import (
    ArchiveUnreadable,
    ArchiveUnwritable,
    LockHeld,
    describe_os_error,
    ignoring,
)
from pstore_archiver.manifest import (
    DMESG_NAME,
    MANIFEST_NAME,
    Manifest,
    ManifestError,
    render_document,
)
from pstore_archiver.records import sha256_hash
from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

LOCK_NAME = ".lock"
INDEX_NAME = ".index.json"
LAST_RUN_NAME = ".last-run.json"
INDEX_VERSION = 2
TEMPORARY_PREFIX = ".pstore-archiver-"
STAGING = "staging"  # an entry being built
REMOVING = "removing"  # an entry being removed by retention
TEMPORARY_FILE = "tmp"  # the next .index.json or .last-run.json
TEMPORARY_NAME = r"\.pstore-archiver-(staging|removing|tmp)-[0-9a-f]{32}"
READ_CHUNK = 1 << 20
# A manifest is a few KiB; one larger than this is not one we wrote.
MAX_MANIFEST_BYTES = 16 << 20
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_NEW_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# The file system refuses a name (too long, not valid in its encoding): a problem of that
# record or entry alone, not of the archive.
NAME_ERRNOS = frozenset({errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL})


def temporary_name(what: str) -> str:
    """A name the program alone makes: its prefix, what it is for, 128 random bits."""
    return f"{TEMPORARY_PREFIX}{what}-{os.urandom(16).hex()}"


class EntryRefused(Exception):
    """The archive's file system refuses something about one entry (a name): that entry's
    records stay where they are; the others are archived all the same."""


class FileKey(NamedTuple):
    """Which manifest file the index read: it notices one replaced or edited since."""

    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, info: os.stat_result) -> FileKey:
        return cls(info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


class StoredEntry(NamedTuple):
    """An archived entry as the index knows it: its manifest and its size on disk."""

    manifest: Manifest
    size_bytes: int
    key: FileKey | None = None
    # The manifest file's JSON text (UTF-8) when this process read or wrote it: the index
    # copies it as it is, instead of encoding the manifest again.
    document: bytes | None = None

    @property
    def entry_id(self) -> str:
        return self.manifest.entry_id


class Damaged(NamedTuple):
    """A directory in the archive that is not a sound entry, and why."""

    entry_id: str
    reason: str
    key: FileKey | None = None


class KnownRecord(NamedTuple):
    """A record already in the archive: which entry holds it, from which boot."""

    entry_id: str
    boot_id: str | None


class Written(NamedTuple):
    """What was written to a file: its size, the SHA-256 of its bytes (if asked for), its
    identity."""

    size: int
    sha256: str | None
    key: FileKey


def write_new(dir_fd: int, name: str, data: bytes, mtime_ns: int | None = None) -> Written:
    """Create `name` (never replace), write, set mtime; the caller makes it durable
    (`Staging.publish`, or `Archive.sync_filesystem`)."""
    return write_stream(dir_fd, name, [data], mtime_ns)


def write_stream(
    dir_fd: int,
    name: str,
    chunks: Iterable[bytes],
    mtime_ns: int | None = None,
    hashed: bool = False,
) -> Written:
    """`write_new` for bytes that arrive in pieces; with `hashed`, hashed as they are
    written: the hash of the bytes that are then made durable."""
    fd = os.open(name, _NEW_FLAGS, 0o600, dir_fd=dir_fd)
    digest = sha256_hash() if hashed else None
    size = 0
    try:
        for chunk in chunks:
            if digest is not None:
                digest.update(chunk)
            size += len(chunk)
            view = memoryview(chunk)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        if mtime_ns is not None:
            os.utime(fd, ns=(mtime_ns, mtime_ns))
        key = FileKey.of(os.fstat(fd))
    finally:
        os.close(fd)
    return Written(size, digest.hexdigest() if digest is not None else None, key)


def read_chunks(dir_fd: int, name: str) -> Iterator[bytes]:
    """The bytes of a file in a directory, in pieces, without following a link."""
    fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    try:
        while chunk := os.read(fd, READ_CHUNK):
            yield chunk
    finally:
        os.close(fd)


def read_tail(dir_fd: int, name: str, max_bytes: int) -> bytes:
    """The last `max_bytes` of a file (or all of it)."""
    fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size - max_bytes), os.SEEK_SET)
        tail = b""
        while chunk := os.read(fd, READ_CHUNK):
            tail = (tail + chunk)[-max_bytes:] if max_bytes else b""
        return tail
    finally:
        os.close(fd)


def syncfs_available(release: str) -> bool:
    """Whether `syncfs` can stand for the fsyncs of a batch: the C library has it, and a
    kernel of this release (`os.uname().release`) makes it return the file system's
    write-back errors (EIO, ENOSPC) as fsync does for one file: Linux 5.8 and later
    (commit 735e4ae5ba28); before, syncfs returned 0 all the same."""
    numbers = release.split("-", 1)[0].split(".")[:2]
    try:
        if tuple(int(n) for n in numbers) < (5, 8):
            return False
        import ctypes

        return hasattr(ctypes.CDLL(None), "syncfs")
    except (ValueError, ImportError, OSError):
        return False


def syncfs(fd: int) -> None:
    """syncfs(2): write back every dirty file and directory of the file system holding
    `fd`, commit its journal, and wait; OSError for a write-back error since `fd` was
    opened (see `syncfs_reports_errors`).  Python has no os.syncfs: ctypes, imported
    here, only for a batch large enough to pay for it (about 4 ms)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syncfs(fd) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))


def rmtree(path: str, ignore_errors: bool = False) -> None:
    """shutil.rmtree, imported here: only a run that removes something pays for shutil."""
    import shutil

    shutil.rmtree(path, ignore_errors=ignore_errors)


def fsync_dir(dir_fd: int) -> None:
    try:
        os.fsync(dir_fd)
    except OSError as e:
        if e.errno != errno.EINVAL:  # a file system that cannot sync directories
            raise


def fsync_files(dir_fd: int, names: Iterable[str]) -> None:
    """fsync each file `names` in a directory, then the directory itself."""
    for name in names:
        file_fd = os.open(name, _READ_FLAGS, dir_fd=dir_fd)
        try:
            os.fsync(file_fd)
        finally:
            os.close(file_fd)
    fsync_dir(dir_fd)


def _index_item(entry: StoredEntry | Damaged, key: FileKey) -> bytes:
    """An entry of `.index.json`: the manifest's own JSON text where it is known."""
    fields = ",".join(str(field) for field in key)
    if isinstance(entry, Damaged):
        return f'{{"damaged":{json_lite.dumps(entry.reason)},"key":[{fields}]}}'.encode()
    document = entry.document
    if document is None:
        document = json_lite.dumps(entry.manifest.to_json(), separators=(",", ":")).encode()
    return b'{"manifest":' + document + f',"size":{entry.size_bytes},"key":[{fields}]}}'.encode()


def _entry_order(entry: StoredEntry) -> tuple[int, int, str]:
    """Crash time (to the microsecond, as written), then the dump count (Oops#1 before
    Panic#2 of the same second)."""
    manifest = entry.manifest
    return (manifest.crash_time_ns // 1000, manifest.oopscount or 0, entry.entry_id)


class Staging:
    """An entry under construction: a directory with a temporary name in the archive.
    `publish` fsyncs the files written here and the directory (unless the caller has
    synced the whole file system), then renames it to the entry's id.  The fsyncs wait
    for `publish` rather than follow each write: a batch's entries are all written first,
    so that the file system can write them back together."""

    def __init__(self, archive: Archive, archive_fd: int) -> None:
        self.archive = archive
        self.archive_fd = archive_fd
        self.name = temporary_name(STAGING)
        self.written: list[str] = []  # the files to fsync at `publish`
        try:
            os.mkdir(self.name, 0o700, dir_fd=archive_fd)
        except OSError as e:
            raise archive.unwritable(f"cannot create {self.name}", e) from e
        try:
            self.fd = os.open(self.name, _DIR_FLAGS, dir_fd=archive_fd)
        except OSError as e:
            self.discard()
            raise archive.unwritable(f"cannot open {self.name}", e) from e

    def _failed(self, what: str, name: str, error: OSError) -> Exception:
        if error.errno in NAME_ERRNOS:
            return EntryRefused(
                f"{self.archive.path}: the file system refuses the name {name!r}: "
                f"{describe_os_error(error)}"
            )
        return self.archive.unwritable(f"cannot {what} {name}", error)

    def write(self, name: str, data: bytes, mtime_ns: int | None = None) -> Written:
        try:
            written = write_new(self.fd, name, data, mtime_ns)
        except OSError as e:
            raise self._failed("write", name, e) from e
        self.written.append(name)
        return written

    def write_stream(
        self, name: str, chunks: Iterable[bytes], mtime_ns: int | None = None, hashed: bool = False
    ) -> Written:
        """Write a file from pieces; errors while producing the pieces propagate as
        they are (a record that cannot be read is not the archive's failure)."""
        try:
            written = write_stream(self.fd, name, chunks, mtime_ns, hashed)
        except OSError as e:
            raise self._failed("write", name, e) from e
        self.written.append(name)
        return written

    def read_chunks(self, name: str) -> Iterator[bytes]:
        """A file written here, read back (to reassemble the log from the copies)."""
        try:
            yield from read_chunks(self.fd, name)
        except OSError as e:
            raise self.archive.unwritable(f"cannot read back {name}", e) from e

    def read_tail(self, name: str, max_bytes: int) -> bytes:
        try:
            return read_tail(self.fd, name, max_bytes)
        except OSError as e:
            raise self.archive.unwritable(f"cannot read back {name}", e) from e

    def publish(self, entry_id: str, sync_files: bool) -> None:
        """fsync the files and the directory (with `sync_files`; else the caller synced the
        file system), and rename it to `entry_id` (a name the caller found free under the
        lock); `Archive.sync` then makes the new name durable."""
        try:
            if sync_files:
                fsync_files(self.fd, self.written)
            os.close(self.fd)
            self.fd = -1
            os.rename(self.name, entry_id, src_dir_fd=self.archive_fd, dst_dir_fd=self.archive_fd)
        except OSError as e:
            raise self._failed("write entry", entry_id, e) from e

    def discard(self) -> None:
        """Remove the staging directory again (after a failure)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        rmtree(os.path.join(self.archive.path, self.name), ignore_errors=True)


class ArchiveLock:
    """The context of `Archive.locked`: a class rather than a @contextmanager, as importing
    contextlib costs every start of `run` about 0.6 ms."""

    def __init__(self, archive: Archive, create: bool) -> None:
        self.archive = archive
        self.create = create
        self.dir_fd = self.lock_fd = -1

    def __enter__(self) -> int:
        archive = self.archive
        if self.create:
            archive._create()
        try:
            self.dir_fd = os.open(archive.path, _DIR_FLAGS)
        except OSError as e:
            raise archive.unwritable("cannot open the archive", e) from e
        try:
            self.lock_fd = archive._open_lock(self.dir_fd)
            archive._tighten(self.dir_fd)
        except BaseException:
            self.__exit__()
            raise
        return self.dir_fd

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self.lock_fd >= 0:
                os.close(self.lock_fd)
        finally:
            os.close(self.dir_fd)
        self.dir_fd = self.lock_fd = -1


class Archive:
    """The archive directory (normally /var/lib/pstore-archiver)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._published: dict[str, StoredEntry] = {}
        self._index: dict[str, StoredEntry | Damaged] | None = None  # as last read/written
        self._damaged: list[Damaged] = []
        self._suffixes: dict[str, int] = {}  # unique_id: where the search for a base stopped

    def remember(self, entry: StoredEntry) -> None:
        """An entry this process made durable: the index takes it without reading it back."""
        self._published[entry.entry_id] = entry

    def unwritable(self, what: str, error: OSError) -> ArchiveUnwritable:
        return ArchiveUnwritable(f"{self.path}: {what}: {describe_os_error(error)}")

    def locked(self, create: bool = True) -> ArchiveLock:
        """`with archive.locked() as dir_fd`: the archive opened (its last path component
        created, mode 0700) with its exclusive lock held."""
        return ArchiveLock(self, create)

    def _create(self) -> None:
        """mkdir the archive, and fsync its parent so the new name survives a power cut."""
        try:
            os.mkdir(self.path, 0o700)
        except FileExistsError:
            return
        except OSError as e:
            raise self.unwritable("cannot create the archive directory", e) from e
        try:
            parent_fd = os.open(os.path.dirname(os.path.abspath(self.path)), _DIR_FLAGS)
            try:
                fsync_dir(parent_fd)
            finally:
                os.close(parent_fd)
        except OSError as e:
            raise self.unwritable("cannot sync the parent directory of the archive", e) from e

    def _tighten(self, dir_fd: int) -> None:
        """Make an existing archive 0700 (crash logs can hold secrets, DESIGN §3).  Only a
        directory that holds nothing but an archive's files is changed: a directory named
        by mistake keeps its mode, with a warning."""
        info = os.fstat(dir_fd)
        if not info.st_mode & 0o077:
            return
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid != os.geteuid() or not self._looks_like_an_archive(dir_fd):
            log.warning(
                "%s: mode %04o lets other users read crash logs; not changed, as the "
                "directory holds files that are not an archive's",
                self.path,
                mode,
            )
            return
        try:
            os.fchmod(dir_fd, mode & 0o700)
        except OSError as e:
            log.warning("%s: cannot make it 0700: %s", self.path, describe_os_error(e))

    def _looks_like_an_archive(self, dir_fd: int) -> bool:
        for name in os.listdir(dir_fd):
            if name in (LOCK_NAME, INDEX_NAME, LAST_RUN_NAME) or re.fullmatch(TEMPORARY_NAME, name):
                continue
            try:
                manifest = os.stat(f"{name}/{MANIFEST_NAME}", dir_fd=dir_fd)
            except OSError:
                return False
            if not stat.S_ISREG(manifest.st_mode):
                return False
        return True

    def _open_lock(self, dir_fd: int) -> int:
        try:
            lock_fd = os.open(
                LOCK_NAME,
                os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dir_fd,
            )
        except OSError as e:
            raise self.unwritable("cannot create the lock file", e) from e
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            os.close(lock_fd)
            raise LockHeld(
                f"{os.path.join(self.path, LOCK_NAME)}: held by another run",
                hint="see: systemctl status pstore-archiver.service",
            ) from e
        return lock_fd

    def remove_staging(self, dir_fd: int) -> list[str]:
        """Remove the temporaries of an interrupted run: only names of the form the
        program itself makes (TEMPORARY_NAME), of the type it makes them."""
        removed = []
        try:
            for name in os.listdir(dir_fd):
                if not name.startswith(TEMPORARY_PREFIX):  # most runs compile no pattern
                    continue
                match = re.fullmatch(TEMPORARY_NAME, name)
                if match is None:
                    continue
                info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
                if match[1] == TEMPORARY_FILE and stat.S_ISREG(info.st_mode):
                    os.unlink(name, dir_fd=dir_fd)
                elif match[1] != TEMPORARY_FILE and stat.S_ISDIR(info.st_mode):
                    rmtree(os.path.join(self.path, name))
                else:
                    continue
                removed.append(name)
            if removed:
                fsync_dir(dir_fd)
        except OSError as e:
            raise self.unwritable("cannot remove what an interrupted run left", e) from e
        return removed

    def make_durable(self, dir_fd: int, entry_id: str) -> None:
        """fsync an entry that is already there: its files, itself and the archive.  A run
        killed after the rename but before the fsync of the archive leaves an entry that
        may exist in the page cache only; its records are unlinked only after this."""
        try:
            entry_fd = os.open(entry_id, _DIR_FLAGS | os.O_NOFOLLOW, dir_fd=dir_fd)
            try:
                fsync_files(entry_fd, os.listdir(entry_fd))
            finally:
                os.close(entry_fd)
            fsync_dir(dir_fd)
        except OSError as e:
            raise self.unwritable(f"cannot sync entry {entry_id}", e) from e

    def names(self) -> set[str]:
        """Every name in the archive: a new entry takes none of them."""
        try:
            return set(os.listdir(self.path))
        except FileNotFoundError:
            return set()
        except OSError as e:
            raise self.unreadable(e) from e

    def unreadable(self, error: OSError) -> ArchiveUnreadable:
        return ArchiveUnreadable(
            f"{self.path}: cannot read the archive: {describe_os_error(error)}"
        )

    def entry_ids(self) -> list[str]:
        """The names of the entry directories: not starting with a dot, not links."""
        try:
            with os.scandir(self.path) as listing:  # d_type: no stat per entry
                return sorted(
                    e.name
                    for e in listing
                    if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
                )
        except FileNotFoundError:
            return []
        except OSError as e:
            raise self.unreadable(e) from e

    def unique_id(self, base: str, taken: set[str]) -> str:
        """`base`, or `base-2`, `base-3`, ... if taken (DESIGN §3); adds it to `taken`.
        Thousands of entries of one base (one second, one backend) cost no more than
        thousands of bases: the search for a base goes on where it stopped."""
        candidate, n = base, self._suffixes.get(base, 1)
        if n > 1:
            candidate = f"{base}-{n}"
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        self._suffixes[base] = n
        taken.add(candidate)
        return candidate

    def stage(self, dir_fd: int) -> Staging:
        return Staging(self, dir_fd)

    def sync_filesystem(self, dir_fd: int) -> None:
        """syncfs of the archive's file system: every file and directory written
        without `sync` is durable after it (not yet the names in the archive itself:
        see `sync`)."""
        try:
            syncfs(dir_fd)
        except OSError as e:
            raise self.unwritable("cannot sync the archive's file system", e) from e

    def sync(self, dir_fd: int) -> None:
        """fsync the archive directory: the renames of `publish(sync_archive=False)`."""
        try:
            fsync_dir(dir_fd)
        except OSError as e:
            raise self.unwritable("cannot sync the archive directory", e) from e

    def read_manifest(self, entry_id: str) -> tuple[Any, FileKey]:
        """The parsed JSON of an entry's manifest and the file's identity; OSError,
        ValueError (not JSON, not UTF-8, too large) when it cannot be read."""
        data, key = self._read_manifest_bytes(entry_id)
        return json_lite.loads(data), key

    def _read_manifest_bytes(self, entry_id: str) -> tuple[bytes, FileKey]:
        fd = os.open(os.path.join(self.path, entry_id, MANIFEST_NAME), _READ_FLAGS)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ValueError("not a regular file")
            if info.st_size > MAX_MANIFEST_BYTES:
                raise ValueError(f"{info.st_size} bytes: too large for a manifest")
            data = b""
            while len(data) <= MAX_MANIFEST_BYTES and (chunk := os.read(fd, READ_CHUNK)):
                data += chunk
        finally:
            os.close(fd)
        if len(data) > MAX_MANIFEST_BYTES:
            raise ValueError("too large for a manifest")
        return data, FileKey.of(info)

    def read_log(self, entry_id: str) -> Iterator[bytes]:
        """An entry's text, in pieces (a huge entry is never held whole): the reassembled
        log of a dump, or the records of any other entry (one, as a rule).  Raises
        ArchiveUnreadable naming the file that cannot be read."""
        folder = os.path.join(self.path, entry_id)
        for name in self._log_files(entry_id):
            try:
                dir_fd = os.open(folder, _DIR_FLAGS | os.O_NOFOLLOW)
                try:
                    yield from read_chunks(dir_fd, name)
                finally:
                    os.close(dir_fd)
            except OSError as e:
                problem = f"{folder}/{name}: cannot read: {describe_os_error(e)}"
                raise ArchiveUnreadable(problem) from e

    def read_log_tail(self, entry_id: str, max_bytes: int) -> bytes:
        """The newest `max_bytes` of an entry's text."""
        tail = b""
        for chunk in self.read_log(entry_id):
            tail = (tail + chunk)[-max_bytes:]
        return tail

    def _log_files(self, entry_id: str) -> list[str]:
        if os.path.lexists(os.path.join(self.path, entry_id, DMESG_NAME)):
            return [DMESG_NAME]
        where = os.path.join(self.path, entry_id, MANIFEST_NAME)
        try:
            raw, _ = self.read_manifest(entry_id)
            return [record.name for record in Manifest.from_json(raw, where, entry_id).records]
        except OSError as e:
            raise ArchiveUnreadable(f"{where}: cannot read: {describe_os_error(e)}") from e
        except (ValueError, RecursionError) as e:  # ManifestError names the file
            problem = str(e) if isinstance(e, ManifestError) else f"{where}: {e}"
            raise ArchiveUnreadable(problem) from e

    def entries(self) -> list[StoredEntry]:
        """Every sound entry, oldest first, from `.index.json` where the manifest file is
        the one the index read; the others are read from their manifests (the truth) and
        the index is rewritten.  Damaged entries are in `damaged()` afterwards."""
        index = self._read_index()
        fresh: dict[str, StoredEntry | Damaged] = {}
        reread = False
        for entry_id in self.entry_ids():
            known = index.get(entry_id)
            published = self._published.get(entry_id)
            # the manifest's key only to compare with one known: else it is read anyway
            key = None if known is None and published is None else self._manifest_key(entry_id)
            if key is not None and known is not None and known.key == key:
                fresh[entry_id] = known
                continue
            reread = True
            if published is not None and published.key == key:
                fresh[entry_id] = published
                continue
            fresh[entry_id] = self._load_entry(entry_id)
        if reread or fresh.keys() != index.keys():
            self._write_index(fresh)
        self._damaged = [e for e in fresh.values() if isinstance(e, Damaged)]
        good = [e for e in fresh.values() if isinstance(e, StoredEntry)]
        return sorted(good, key=_entry_order)

    def _manifest_key(self, entry_id: str) -> FileKey | None:
        try:
            where = os.path.join(self.path, entry_id, MANIFEST_NAME)
            return FileKey.of(os.stat(where, follow_symlinks=False))
        except OSError:
            return None

    def damaged(self) -> list[Damaged]:
        """The damaged entries the last `entries()` found, by id."""
        return sorted(self._damaged)

    def _load_entry(self, entry_id: str) -> StoredEntry | Damaged:
        try:
            data, key = self._read_manifest_bytes(entry_id)
            manifest, copyable = json_lite.loads_utf8(data)
        except FileNotFoundError:
            return Damaged(entry_id, f"no {MANIFEST_NAME}")
        except OSError as e:
            return Damaged(entry_id, f"{MANIFEST_NAME}: cannot read: {describe_os_error(e)}")
        except (ValueError, RecursionError) as e:
            return Damaged(entry_id, f"{MANIFEST_NAME}: not a JSON document ({e})")
        try:
            sound = Manifest.from_json(manifest, MANIFEST_NAME, entry_id)
        except ManifestError as e:
            return Damaged(entry_id, str(e), key)
        try:
            with os.scandir(os.path.join(self.path, entry_id)) as files:
                size = sum(f.stat(follow_symlinks=False).st_size for f in files)
        except OSError as e:
            return Damaged(entry_id, f"cannot list: {describe_os_error(e)}", key)
        return StoredEntry(sound, size, key, data if copyable else None)

    def _read_index(self) -> dict[str, StoredEntry | Damaged]:
        if self._index is not None:  # a run asks twice (known records, then retention)
            return self._index
        try:
            with open(os.path.join(self.path, INDEX_NAME), "rb") as f:
                document = json_lite.loads(f.read())
            if document.get("version") != INDEX_VERSION:
                return {}
            index: dict[str, StoredEntry | Damaged] = {}
            for entry_id, item in document["entries"].items():
                key = FileKey(*item["key"])
                if "damaged" in item:
                    index[entry_id] = Damaged(entry_id, str(item["damaged"]), key)
                else:
                    with ignoring(ManifestError):  # read again from the entry
                        manifest = Manifest.from_json(item["manifest"], INDEX_NAME, entry_id)
                        index[entry_id] = StoredEntry(manifest, int(item["size"]), key)
            self._index = index
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            return {}  # a cache: rebuilt from the manifests
        return self._index

    def _write_index(self, entries: dict[str, StoredEntry | Damaged]) -> None:
        items = [
            json_lite.dumps(entry_id).encode() + b":" + _index_item(entry, entry.key)
            for entry_id, entry in entries.items()
            if entry.key is not None  # else no manifest to key on: read again next time
        ]
        self._index = entries
        head = f'{{"version":{INDEX_VERSION},"entries":{{'.encode()
        data = head + b",".join(items) + b"}}"
        try:
            self.write_replace(INDEX_NAME, data)
        except OSError as e:  # read-only or full: queries still work, only slower
            log.debug("%s: index not written: %s", os.path.join(self.path, INDEX_NAME), e)

    def write_replace(self, name: str, data: bytes) -> None:
        """Replace a small bookkeeping file (0600, not a record) through a temporary."""
        temporary = temporary_name(TEMPORARY_FILE)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        dir_fd = os.open(self.path, _DIR_FLAGS)
        try:
            fd = os.open(temporary, flags, 0o600, dir_fd=dir_fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        except OSError:
            with ignoring(OSError):
                os.unlink(temporary, dir_fd=dir_fd)
            raise
        finally:
            os.close(dir_fd)

    def remove_entry(self, dir_fd: int, entry_id: str) -> None:
        """Remove an entry as a whole: renamed away first, so it never looks partial."""
        doomed = temporary_name(REMOVING)
        os.rename(entry_id, doomed, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        fsync_dir(dir_fd)
        rmtree(os.path.join(self.path, doomed))

    def write_last_run(self, report: dict[str, Any]) -> None:
        data = render_document(report)
        with ignoring(OSError):
            self.write_replace(LAST_RUN_NAME, data)

    def free_bytes(self) -> int:
        """What the archive's file system has free for it (statvfs: f_bavail)."""
        info = os.statvfs(self.path)
        return info.f_bavail * info.f_frsize

    def read_last_run(self) -> dict[str, Any] | None:
        try:
            with open(os.path.join(self.path, LAST_RUN_NAME), "rb") as f:
                document = json_lite.loads(f.read())
        except (OSError, ValueError, RecursionError):
            return None
        return document if isinstance(document, dict) else None

    def known_records(self) -> dict[tuple[str, str], KnownRecord]:
        """(name, sha256) of every archived record, by the index: where to look for a
        record that comes back.  Never evidence on its own (see `holds_copy`)."""
        known = {}
        for manifest in (entry.manifest for entry in self.entries()):
            for record in manifest.records:
                known[(record.name, record.sha256)] = KnownRecord(
                    manifest.entry_id, manifest.boot_id
                )
        return known

    def holds_copy(self, entry_id: str, name: str, size: int, sha256: str) -> str | None:
        """Whether entry `entry_id` holds a byte-exact copy of a record, read from the
        archive itself: its manifest (read now, not the index) lists the record with this
        size and SHA-256, and the copy beside it has that size and hashes to it.  None
        when it does; else what is wrong."""
        where = os.path.join(self.path, entry_id)
        try:
            manifest, _ = self.read_manifest(entry_id)
        except (OSError, ValueError, RecursionError) as e:
            return f"{where}: no readable {MANIFEST_NAME} ({e})"
        try:
            sound = Manifest.from_json(manifest, MANIFEST_NAME, entry_id)
        except ManifestError as e:
            return f"{where}: {e}"
        listed = [
            r for r in sound.records if r.name == name and r.size == size and r.sha256 == sha256
        ]
        if not listed:
            return f"{where}: {MANIFEST_NAME} does not list {name} with these bytes"
        digest = sha256_hash()
        copied = 0
        try:
            entry_fd = os.open(os.path.join(self.path, entry_id), _DIR_FLAGS | os.O_NOFOLLOW)
            try:
                for chunk in read_chunks(entry_fd, name):
                    digest.update(chunk)
                    copied += len(chunk)
            finally:
                os.close(entry_fd)
        except OSError as e:
            return f"{where}/{name}: cannot read the copy: {describe_os_error(e)}"
        if copied != size or digest.hexdigest() != sha256:
            return f"{where}/{name}: the copy is not the record's bytes"
        return None
