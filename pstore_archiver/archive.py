"""The destination side: durable publication of entries, the lock, lookup of what is there.

Only `write_new` and `publish` call fsync (STYLE 4.1): a file is written, flushed and
synced; an entry directory is built under a temporary name, synced, renamed, and the
archive directory synced, so an entry is either wholly there or not at all.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from pstore_archiver.diagnostics import log
from pstore_archiver.errors import ArchiveUnwritable, LockHeld, describe_os_error
from pstore_archiver.manifest import MANIFEST_NAME

LOCK_NAME = ".lock"
STAGING_PREFIX = ".staging-"
REMOVING_PREFIX = ".removing-"
INDEX_NAME = ".index.json"
LAST_RUN_NAME = ".last-run.json"
INDEX_VERSION = 1
TEMPORARY_SUFFIX = ".tmp"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class NewFile(NamedTuple):
    name: str
    data: bytes
    mtime_ns: int | None = None


class StoredEntry(NamedTuple):
    """An archived entry as the index knows it: its manifest and its size on disk."""

    manifest: dict[str, Any]
    size_bytes: int

    @property
    def entry_id(self) -> str:
        return str(self.manifest["id"])


class KnownRecord(NamedTuple):
    """A record already in the archive: which entry holds it, from which boot."""

    entry_id: str
    boot_id: str | None


def write_new(dir_fd: int, name: str, data: bytes, mtime_ns: int | None = None) -> None:
    """Create `name` (never replace), write, set mtime, fsync (borg's SyncFile)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if mtime_ns is not None:
            os.utime(fd, ns=(mtime_ns, mtime_ns))
        os.fsync(fd)
    finally:
        os.close(fd)


def write_replace(directory: Path, name: str, data: bytes) -> None:
    """Replace a small bookkeeping file (not a record) through a temporary name."""
    temporary = directory / (name + TEMPORARY_SUFFIX)
    try:
        temporary.write_bytes(data)
        os.replace(temporary, directory / name)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def fsync_dir(dir_fd: int) -> None:
    try:
        os.fsync(dir_fd)
    except OSError as e:
        if e.errno != errno.EINVAL:  # a file system that cannot sync directories
            raise


def _entry_order(entry: StoredEntry) -> tuple[str, int, str]:
    """Crash time, then the dump count (Oops#1 before Panic#2 of the same second)."""
    count = entry.manifest.get("count")
    return (
        str(entry.manifest.get("crash_time")),
        count if isinstance(count, int) else 0,
        entry.entry_id,
    )


class Archive:
    """The archive directory (normally /var/lib/pstore-archiver)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._published: dict[str, StoredEntry] = {}
        self._index: dict[str, StoredEntry] | None = None  # .index.json as last read or written

    def remember(self, entry: StoredEntry) -> None:
        """An entry this process made durable: the index takes it without reading it back."""
        self._published[entry.entry_id] = entry

    def _unwritable(self, what: str, error: OSError) -> ArchiveUnwritable:
        return ArchiveUnwritable(f"{self.path}: {what}: {describe_os_error(error)}")

    @contextmanager
    def locked(self, create: bool = True) -> Iterator[int]:
        """Open the archive (creating its last path component, mode 0700) and hold its
        exclusive lock; yields the directory fd."""
        if create:
            self._create()
        try:
            dir_fd = os.open(self.path, _DIR_FLAGS)
        except OSError as e:
            raise self._unwritable("cannot open the archive", e) from e
        try:
            lock_fd = self._open_lock(dir_fd)
            try:
                yield dir_fd
            finally:
                os.close(lock_fd)
        finally:
            os.close(dir_fd)

    def _create(self) -> None:
        """mkdir the archive, and fsync its parent so the new name survives a power cut."""
        try:
            os.mkdir(self.path, 0o700)
        except FileExistsError:
            return
        except OSError as e:
            raise self._unwritable("cannot create the archive directory", e) from e
        try:
            parent_fd = os.open(self.path.parent, _DIR_FLAGS)
            try:
                fsync_dir(parent_fd)
            finally:
                os.close(parent_fd)
        except OSError as e:
            raise self._unwritable("cannot sync the parent directory of the archive", e) from e

    def _open_lock(self, dir_fd: int) -> int:
        try:
            lock_fd = os.open(
                LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600, dir_fd=dir_fd
            )
        except OSError as e:
            raise self._unwritable("cannot create the lock file", e) from e
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            os.close(lock_fd)
            raise LockHeld(
                f"{self.path / LOCK_NAME}: held by another run",
                hint="see: systemctl status pstore-archiver.service",
            ) from e
        return lock_fd

    def remove_staging(self, dir_fd: int) -> list[str]:
        """Remove the temporaries of an interrupted run (never a published entry)."""
        removed = []
        try:
            for name in os.listdir(dir_fd):
                if name.startswith((STAGING_PREFIX, REMOVING_PREFIX)):
                    shutil.rmtree(self.path / name)
                    removed.append(name)
                elif name.endswith(TEMPORARY_SUFFIX):
                    os.unlink(name, dir_fd=dir_fd)
                    removed.append(name)
            if removed:
                fsync_dir(dir_fd)
        except OSError as e:
            raise self._unwritable("cannot remove what an interrupted run left", e) from e
        return removed

    def make_durable(self, dir_fd: int, entry_id: str) -> None:
        """fsync an entry that is already there: its files, itself and the archive.  A run
        killed after the rename but before the fsync of the archive leaves an entry that
        may exist in the page cache only; its records are unlinked only after this."""
        try:
            entry_fd = os.open(entry_id, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                for name in os.listdir(entry_fd):
                    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
                    file_fd = os.open(name, flags, dir_fd=entry_fd)
                    try:
                        os.fsync(file_fd)
                    finally:
                        os.close(file_fd)
                fsync_dir(entry_fd)
            finally:
                os.close(entry_fd)
            fsync_dir(dir_fd)
        except OSError as e:
            raise self._unwritable(f"cannot sync entry {entry_id}", e) from e

    def entry_ids(self) -> list[str]:
        try:
            with os.scandir(self.path) as listing:  # d_type: no stat per entry
                return sorted(e.name for e in listing if not e.name.startswith(".") and e.is_dir())
        except FileNotFoundError:
            return []

    def unique_id(self, base: str, taken: set[str]) -> str:
        """`base`, or `base-2`, `base-3`, ... if taken (DESIGN §3); adds it to `taken`."""
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}-{n}"
        taken.add(candidate)
        return candidate

    def publish(
        self, dir_fd: int, entry_id: str, files: Sequence[NewFile], sync_archive: bool = True
    ) -> None:
        """Make one entry durable: stage, fsync each file and the directory, rename,
        fsync the archive (or leave that to `sync`, for several entries at once).  On
        any failure the staging directory is removed again."""
        staging = f"{STAGING_PREFIX}{entry_id}"
        try:
            os.mkdir(staging, 0o700, dir_fd=dir_fd)
        except OSError as e:
            raise self._unwritable(f"cannot create {staging}", e) from e
        try:
            staged_fd = os.open(staging, _DIR_FLAGS, dir_fd=dir_fd)
            try:
                for new in files:
                    write_new(staged_fd, new.name, new.data, new.mtime_ns)
                fsync_dir(staged_fd)
            finally:
                os.close(staged_fd)
            os.rename(staging, entry_id, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            if sync_archive:
                fsync_dir(dir_fd)
        except OSError as e:
            shutil.rmtree(self.path / staging, ignore_errors=True)
            raise self._unwritable(f"cannot write entry {entry_id}", e) from e

    def sync(self, dir_fd: int) -> None:
        """fsync the archive directory: the renames of `publish(sync_archive=False)`."""
        try:
            fsync_dir(dir_fd)
        except OSError as e:
            raise self._unwritable("cannot sync the archive directory", e) from e

    def read_manifest(self, entry_id: str) -> dict[str, Any]:
        # plain strings, not Path objects: the index rebuild calls this 10,000 times
        with open(os.path.join(self.path, entry_id, MANIFEST_NAME), "rb") as f:
            manifest: dict[str, Any] = json.loads(f.read())
        return manifest

    def entries(self) -> list[StoredEntry]:
        """Every entry, oldest first, from `.index.json`; entries the index does not know
        yet are read from their manifests (the truth) and the index is rewritten."""
        ids = self.entry_ids()
        index = self._read_index()
        fresh = {i: index[i] for i in ids if i in index}
        for entry_id in ids:
            if entry_id not in fresh:
                loaded = self._published.get(entry_id) or self._load_entry(entry_id)
                if loaded is not None:
                    fresh[entry_id] = loaded
        if fresh.keys() != index.keys():
            self._write_index(fresh)
        return sorted(fresh.values(), key=_entry_order)

    def _load_entry(self, entry_id: str) -> StoredEntry | None:
        try:
            manifest = self.read_manifest(entry_id)
            with os.scandir(os.path.join(self.path, entry_id)) as files:
                size = sum(f.stat(follow_symlinks=False).st_size for f in files)
        except (OSError, ValueError) as e:
            log.warning(
                "%s: not an entry (no readable %s): %s", self.path / entry_id, MANIFEST_NAME, e
            )
            return None
        return StoredEntry(manifest, size)

    def _read_index(self) -> dict[str, StoredEntry]:
        if self._index is not None:  # a run asks twice (known records, then retention)
            return self._index
        try:
            with open(self.path / INDEX_NAME, "rb") as f:
                document = json.load(f)
            if document.get("version") != INDEX_VERSION:
                return {}
            self._index = {
                i: StoredEntry(e["manifest"], e["size"]) for i, e in document["entries"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return {}  # a cache: rebuilt from the manifests
        return self._index

    def _write_index(self, entries: dict[str, StoredEntry]) -> None:
        document = {
            "version": INDEX_VERSION,
            "entries": {
                i: {"manifest": e.manifest, "size": e.size_bytes} for i, e in entries.items()
            },
        }
        self._index = entries
        data = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            write_replace(self.path, INDEX_NAME, data)
        except OSError as e:  # read-only or full: queries still work, only slower
            log.debug("%s: index not written: %s", self.path / INDEX_NAME, e)

    def remove_entry(self, dir_fd: int, entry_id: str) -> None:
        """Remove an entry as a whole: renamed away first, so it never looks partial."""
        doomed = f"{REMOVING_PREFIX}{entry_id}"
        os.rename(entry_id, doomed, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        fsync_dir(dir_fd)
        shutil.rmtree(self.path / doomed)

    def write_last_run(self, report: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            write_replace(self.path, LAST_RUN_NAME, json.dumps(report, indent=2).encode())

    def read_last_run(self) -> dict[str, Any] | None:
        try:
            with open(self.path / LAST_RUN_NAME, "rb") as f:
                document: dict[str, Any] = json.load(f)
                return document
        except (OSError, ValueError):
            return None

    def known_records(self) -> dict[tuple[str, str], KnownRecord]:
        """(name, sha256) of every archived record, to recognise records that come back."""
        known = {}
        for manifest in (entry.manifest for entry in self.entries()):
            for record in manifest.get("records", []):
                key = (str(record.get("name")), str(record.get("sha256")))
                known[key] = KnownRecord(str(manifest.get("id")), manifest.get("boot_id"))
        return known
