"""Fault injection for pstore-archiver runs, kept out of the package.

Every call by which the package changes the disk or the store (create, write, utime,
fsync, syncfs, mkdir, rename, unlink, rmdir, rmtree, and the reads of store records) goes
through an `Injector`: proxies stand in for `os` and `shutil` in every `pstore_archiver`
module, and for `archive.syncfs` and `archive.rmtree`.
The injector numbers the calls 1, 2, ... and at call N (before it happens) it can

* ``eio``:     raise OSError(EIO) once, as a failing disk does;
* ``enospc``:  raise OSError(ENOSPC) at N and at every later call that needs space;
* ``kill``:    raise `KillHere` (a BaseException: no ``except OSError`` cleanup runs) and
               keep raising it, as if the process had died there;
* ``sigkill``: SIGKILL its own process (the child of `child_main`).

A `Durability` model follows what the calls made durable: a file's bytes after its fsync,
a directory entry (create, mkdir, rename, unlink) after the fsync of its directory, and
everything on a file system after its syncfs.  A
`Watch` checks, at each unlink from the store and at each "archived as" message, that the
claim holds right then: the record's bytes are in a complete published entry, durable.
"""

from __future__ import annotations

import builtins
import errno
import hashlib
import importlib
import io
import json
import os
import pkgutil
import re
import runpy
import shutil
import signal
import stat
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

MANIFEST = "entry.json"
DMESG = "dmesg.txt"
STAGING_PREFIX = ".pstore-archiver-staging-"
LOCK = ".lock"
ENV_KILL_AT = "PSTORE_FAULTS_KILL_AT"
ENV_LOG = "PSTORE_FAULTS_LOG"
MODES = ("none", "eio", "enospc", "kill", "sigkill")
NEEDS_SPACE = frozenset({"create", "write", "mkdir", "fsync", "syncfs", "rename"})
ANNOUNCED = re.compile(r"^<\d+>pstore-archiver: .* archived as ([^\s:]+)")


class KillHere(BaseException):
    """The process 'dies' here: a BaseException, so only `finally` blocks run."""


@dataclass(frozen=True)
class Op:
    index: int  # 1-based, in the order of the run
    kind: str
    target: str

    def __str__(self) -> str:
        return f"#{self.index} {self.kind} {self.target}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"<fd {fd}>"


def full_path(path: Any, dir_fd: int | None = None) -> str:
    name = os.fsdecode(os.fspath(path))
    if dir_fd is None or os.path.isabs(name):
        return os.path.abspath(name)
    return os.path.join(fd_path(dir_fd), name)


Key = tuple[int, int]


def key_of(info: os.stat_result) -> Key:
    return info.st_dev, info.st_ino


class Durability:
    """What a power cut right now would keep, as POSIX promises it: a file's data and
    inode once fsynced; a name in a directory once that directory is fsynced."""

    def __init__(self) -> None:
        self.dirty_inodes: set[Key] = set()
        self.dirty_names: set[tuple[int, int, str]] = set()
        self.created: set[Key] = set()

    def name_changed(self, path: str) -> None:
        parent = key_of(os.stat(os.path.dirname(path)))
        self.dirty_names.add((*parent, os.path.basename(path)))

    def inode_created(self, info: os.stat_result) -> None:
        self.created.add(key_of(info))
        self.dirty_inodes.add(key_of(info))

    def inode_changed(self, info: os.stat_result) -> None:
        self.dirty_inodes.add(key_of(info))

    def synced(self, info: os.stat_result) -> None:
        key = key_of(info)
        self.dirty_inodes.discard(key)
        if stat.S_ISDIR(info.st_mode):
            self.dirty_names = {n for n in self.dirty_names if n[:2] != key}

    def filesystem_synced(self, device: int) -> None:
        self.dirty_inodes = {k for k in self.dirty_inodes if k[0] != device}
        self.dirty_names = {n for n in self.dirty_names if n[0] != device}

    def name_durable(self, path: Path) -> bool:
        """Whether `path`'s name in its directory would survive a power cut."""
        return (*key_of(os.stat(path.parent)), path.name) not in self.dirty_names

    def not_durable(self, entry: Path) -> list[str]:
        """Why `entry` (a directory in the archive) could vanish or be cut by a power cut."""
        reasons = []
        archive, entry_info = os.stat(entry.parent), os.stat(entry)
        if (*key_of(archive), entry.name) in self.dirty_names:
            reasons.append(f"its name in {entry.parent.name}/ was not fsynced")
        if key_of(entry_info) in self.dirty_inodes:
            reasons.append("the directory itself was not fsynced")
        if any(n[:2] == key_of(entry_info) for n in self.dirty_names):
            reasons.append("names inside it were not fsynced")
        for child in sorted(entry.iterdir()):
            if key_of(child.lstat()) in self.dirty_inodes:
                reasons.append(f"{child.name} was not fsynced")
        return reasons


@dataclass
class Injector:
    """Numbers the calls and injects the fault; one per test, re-armed per run."""

    mode: str = "none"
    at: int = 0
    ops: list[Op] = field(default_factory=list)
    model: Durability | None = None
    watch: Watch | None = None
    log: TextIO | None = None
    killed: Op | None = None
    active: bool = False  # count only while the package runs, not the test's own writes
    pid: int | None = None  # what os.getpid() says: each in-process run is a new process

    def arm(
        self,
        mode: str = "none",
        at: int = 0,
        model: Durability | None = None,
        watch: Watch | None = None,
        active: bool = True,
        pid: int | None = None,
    ) -> None:
        assert mode in MODES, mode
        self.mode, self.at, self.model, self.watch = mode, at, model, watch
        self.ops, self.killed, self.active, self.pid = [], None, active, pid

    def disarm(self) -> list[Op]:
        """Stop counting; the calls of the run."""
        ops = self.ops
        self.arm(active=False)
        return ops

    def step(self, kind: str, target: str) -> Op:
        """Count one call; raise (or die) if it is the one to fail.  Called before it."""
        if self.killed is not None:
            raise KillHere(f"already killed at {self.killed}")
        op = Op(len(self.ops) + 1, kind, target)
        self.ops.append(op)
        if self.log is not None:
            self.log.write(f"{op.index}\t{op.kind}\t{op.target}\n")
            self.log.flush()
        if self.mode == "none" or self.at <= 0:
            return op
        if op.index == self.at:
            if self.mode == "eio":
                raise OSError(errno.EIO, os.strerror(errno.EIO), target)
            if self.mode == "kill":
                self.killed = op
                raise KillHere(str(op))
            if self.mode == "sigkill":
                os.kill(os.getpid(), signal.SIGKILL)
                raise AssertionError("SIGKILL did not kill")  # pragma: no cover
        if self.mode == "enospc" and op.index >= self.at and kind in NEEDS_SPACE:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), target)
        return op


class OsProxy:
    """`os` for a package module: the same attributes, but the calls that change the
    disk or the store (and the reads of records) pass the injector first."""

    def __init__(self, injector: Injector) -> None:
        self._injector = injector

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def _model(self) -> Durability | None:
        return self._injector.model

    def getpid(self) -> int:
        return self._injector.pid if self._injector.active and self._injector.pid else os.getpid()

    def open(self, path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if not self._injector.active or not flags & os.O_CREAT:
            return os.open(path, flags, *args, **kwargs)
        full = full_path(path, kwargs.get("dir_fd"))
        existed = os.path.lexists(full)
        self._injector.step("create", full)
        fd = os.open(path, flags, *args, **kwargs)
        model = self._model()
        if model is not None and not existed:
            model.name_changed(full)
            model.inode_created(os.fstat(fd))
        return fd

    def read(self, fd: int, length: int) -> bytes:
        if self._injector.active:
            self._injector.step("read", fd_path(fd))
        return os.read(fd, length)

    def write(self, fd: int, data: Any) -> int:
        if not self._injector.active:
            return os.write(fd, data)
        self._injector.step("write", fd_path(fd))
        written = os.write(fd, data)
        model = self._model()
        if model is not None:
            model.inode_changed(os.fstat(fd))
        return written

    def utime(self, path: Any, *args: Any, **kwargs: Any) -> None:
        if not self._injector.active:
            return os.utime(path, *args, **kwargs)
        target = fd_path(path) if isinstance(path, int) else full_path(path, kwargs.get("dir_fd"))
        self._injector.step("utime", target)
        os.utime(path, *args, **kwargs)
        model = self._model()
        if model is not None:
            model.inode_changed(os.stat(path) if isinstance(path, int) else os.lstat(target))
        return None

    def fsync(self, fd: Any) -> None:
        self._sync(os.fsync, fd)

    def fdatasync(self, fd: Any) -> None:
        self._sync(os.fdatasync, fd)

    def _sync(self, call: Callable[[Any], None], fd: Any) -> None:
        if not self._injector.active:
            return call(fd)
        number = fd if isinstance(fd, int) else fd.fileno()
        self._injector.step("fsync", fd_path(number))
        call(fd)
        model = self._model()
        if model is not None:
            model.synced(os.fstat(number))
        return None

    def mkdir(self, path: Any, *args: Any, **kwargs: Any) -> None:
        if not self._injector.active:
            return os.mkdir(path, *args, **kwargs)
        full = full_path(path, kwargs.get("dir_fd"))
        self._injector.step("mkdir", full)
        os.mkdir(path, *args, **kwargs)
        model = self._model()
        if model is not None:
            model.name_changed(full)
            model.inode_created(os.lstat(full))
        return None

    def rename(self, src: Any, dst: Any, **kwargs: Any) -> None:
        self._rename(os.rename, src, dst, **kwargs)

    def replace(self, src: Any, dst: Any, **kwargs: Any) -> None:
        self._rename(os.replace, src, dst, **kwargs)

    def _rename(self, call: Callable[..., None], src: Any, dst: Any, **kwargs: Any) -> None:
        if not self._injector.active:
            return call(src, dst, **kwargs)
        old = full_path(src, kwargs.get("src_dir_fd"))
        new = full_path(dst, kwargs.get("dst_dir_fd"))
        self._injector.step("rename", f"{old} -> {new}")
        call(src, dst, **kwargs)
        model = self._model()
        if model is not None:
            model.name_changed(old)
            model.name_changed(new)
        return None

    def unlink(self, path: Any, **kwargs: Any) -> None:
        self._remove("unlink", os.unlink, path, **kwargs)

    def remove(self, path: Any, **kwargs: Any) -> None:
        self._remove("unlink", os.remove, path, **kwargs)

    def rmdir(self, path: Any, **kwargs: Any) -> None:
        self._remove("rmdir", os.rmdir, path, **kwargs)

    def _remove(self, kind: str, call: Callable[..., None], path: Any, **kwargs: Any) -> None:
        if not self._injector.active:
            return call(path, **kwargs)
        full = full_path(path, kwargs.get("dir_fd"))
        self._injector.step(kind, full)
        if self._injector.watch is not None:
            self._injector.watch.before_unlink(Path(full))
        call(path, **kwargs)
        model = self._model()
        if model is not None:
            model.name_changed(full)
        return None


class ShutilProxy:
    """`shutil` for a package module: `rmtree` is one counted call."""

    def __init__(self, injector: Injector) -> None:
        self._injector = injector

    def __getattr__(self, name: str) -> Any:
        return getattr(shutil, name)

    def rmtree(self, path: Any, *args: Any, **kwargs: Any) -> None:
        if not self._injector.active:
            return shutil.rmtree(path, *args, **kwargs)
        ignore_errors = bool(kwargs.get("ignore_errors", args[0] if args else False))
        full = full_path(path, kwargs.get("dir_fd"))
        try:
            self._injector.step("rmtree", full)
        except OSError:
            if ignore_errors:
                return None  # as rmtree(ignore_errors=True) does: it failed, silently
            raise
        shutil.rmtree(path, *args, **kwargs)
        model = self._injector.model
        if model is not None:
            model.name_changed(full)
        return None


class SyncfsProxy:
    """`archive.syncfs`: one counted call, after which the model holds the whole file
    system durable."""

    def __init__(self, injector: Injector, syncfs: Callable[[int], None]) -> None:
        self._injector = injector
        self._syncfs = syncfs

    def __call__(self, fd: int) -> None:
        if not self._injector.active:
            return self._syncfs(fd)
        self._injector.step("syncfs", fd_path(fd))
        self._syncfs(fd)
        model = self._injector.model
        if model is not None:
            model.filesystem_synced(os.fstat(fd).st_dev)
        return None


WRITE_MODES = frozenset("wax+")


def hooked_open(injector: Injector) -> Callable[..., Any]:
    """`open` (builtins, io, pathlib) that counts an open for writing as a create (a new
    file) or a write: bookkeeping written with `Path.write_bytes` gets its faults too."""
    real_open = io.open

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if not injector.active or isinstance(file, int) or not WRITE_MODES & set(mode):
            return real_open(file, mode, *args, **kwargs)
        full = full_path(file)
        existed = os.path.lexists(full)
        injector.step("write" if existed else "create", full)
        opened = real_open(file, mode, *args, **kwargs)
        if injector.model is not None:
            if not existed:
                injector.model.name_changed(full)
            injector.model.inode_created(os.fstat(opened.fileno()))  # written, never synced
        return opened

    return open_


def package_modules() -> list[ModuleType]:
    """Every module of the package, imported (but never `__main__`, which would run)."""
    import pstore_archiver

    for info in pkgutil.iter_modules(pstore_archiver.__path__):
        if info.name != "__main__":
            importlib.import_module(f"pstore_archiver.{info.name}")
    return [
        m
        for n, m in sorted(sys.modules.items())
        if n == "pstore_archiver" or n.startswith("pstore_archiver.")
    ]


def proxies(injector: Injector) -> list[tuple[object, str, object]]:
    """(module, attribute, proxy): `os` and `shutil` of every package module, `os` of
    pathlib (Path.unlink, .rename, .mkdir ...), and `open`.  All pass through unless the
    injector is active, so the test's own file work is neither counted nor faulted."""
    wanted: list[tuple[object, str, object]] = []
    for module in [*package_modules(), sys.modules[Path.unlink.__module__]]:
        if getattr(module, "os", None) is os:
            wanted.append((module, "os", OsProxy(injector)))
        if getattr(module, "shutil", None) is shutil and module.__name__ != "pathlib":
            wanted.append((module, "shutil", ShutilProxy(injector)))
    opener = hooked_open(injector)
    wanted += [(builtins, "open", opener), (io, "open", opener)]
    archive = importlib.import_module("pstore_archiver.archive")
    wanted.append((archive, "syncfs", SyncfsProxy(injector, archive.syncfs)))
    wanted.append((archive, "rmtree", ShutilProxy(injector).rmtree))  # imports shutil itself
    return wanted


# --- what the archive holds ---------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A broken promise; `tag` says which, so known bugs can be told from new ones."""

    tag: str
    text: str

    def __str__(self) -> str:
        return f"[{self.tag}] {self.text}"


def inspect_entry(entry: Path) -> tuple[dict[str, str], list[Problem]]:
    """The raw records of a published entry {name: sha256}, and what is wrong with it
    (a partial entry: no manifest, a record missing, extra or different)."""
    try:
        manifest = json.loads((entry / MANIFEST).read_bytes())
    except (OSError, ValueError) as e:
        return {}, [Problem("partial", f"{entry.name}: no readable {MANIFEST}: {e}")]
    problems = []
    files = {p.name: p.read_bytes() for p in entry.iterdir()}
    raw = {name: data for name, data in files.items() if name not in (MANIFEST, DMESG)}
    listed = {str(r["name"]): r for r in manifest.get("records", [])}
    if manifest.get("id") != entry.name:
        problems.append(Problem("partial", f"{entry.name}: manifest id {manifest.get('id')!r}"))
    if set(listed) != set(raw):
        problems.append(
            Problem(
                "partial",
                f"{entry.name}: manifest lists {sorted(listed)}, the directory holds {sorted(raw)}",
            )
        )
    if manifest.get("kind") == "dmesg" and DMESG not in files:
        problems.append(Problem("partial", f"{entry.name}: no {DMESG}"))
    for name in sorted(set(listed) & set(raw)):
        record = listed[name]
        if record.get("size") != len(raw[name]) or record.get("sha256") != sha256(raw[name]):
            problems.append(Problem("partial", f"{entry.name}/{name}: not the manifest's bytes"))
    return {name: sha256(data) for name, data in raw.items()}, problems


def read_archive(archive: Path) -> tuple[dict[str, dict[str, str]], list[Problem]]:
    """Published entries {id: {record name: sha256}} and the problems found: partial
    entries, stray files, a record (name and bytes) held by two entries.  Names starting
    with a dot are the program's own (lock, staging, index): not entries (DESIGN §3)."""
    entries: dict[str, dict[str, str]] = {}
    problems: list[Problem] = []
    if not archive.is_dir():
        return entries, problems
    for child in sorted(archive.iterdir()):
        if child.name.startswith("."):
            continue
        if not child.is_dir() or child.is_symlink():
            problems.append(Problem("stray", f"{child.name}: not an entry directory"))
            continue
        records, wrong = inspect_entry(child)
        problems.extend(wrong)
        if not wrong:
            entries[child.name] = records
    holders: dict[tuple[str, str], list[str]] = {}
    for entry_id, records in entries.items():
        for name, digest in records.items():
            holders.setdefault((name, digest), []).append(entry_id)
    problems.extend(
        Problem("twice", f"{name} archived twice: in {', '.join(ids)}")
        for (name, _), ids in sorted(holders.items())
        if len(ids) > 1
    )
    return entries, problems


def dot_names(archive: Path) -> set[str]:
    if not archive.is_dir():
        return set()
    return {p.name for p in archive.iterdir() if p.name.startswith(".")}


def staging_dirs(archive: Path) -> set[str]:
    return {name for name in dot_names(archive) if name.startswith(STAGING_PREFIX)}


def check_safe(originals: Mapping[str, bytes], store: Path, archive: Path) -> list[Problem]:
    """The promise at any instant: every record is still in the store, or its bytes are in
    a complete published entry; no partial entry is visible; nothing is archived twice.
    `originals` are keyed by their path in the store (a name, or `dir/name` for what
    systemd-pstore left)."""
    entries, problems = read_archive(archive)
    archived = {(name, digest) for records in entries.values() for name, digest in records.items()}
    for path, data in sorted(originals.items()):
        in_store = (store / path).is_file() and (store / path).read_bytes() == data
        if not in_store and (Path(path).name, sha256(data)) not in archived:
            problems.append(Problem("lost", f"{path}: gone from the store, in no complete entry"))
    return problems


def check_done(
    originals: Mapping[str, bytes],
    store: Path,
    archive: Path,
    expected: Mapping[str, set[str]] | None = None,
    expected_dot_names: set[str] | None = None,
) -> list[Problem]:
    """After a run to completion: the store is empty, every record's bytes are archived
    exactly once, in the entries an uninterrupted run makes, and no staging or other
    temporary is left (the dot names are those an uninterrupted run leaves)."""
    problems = check_safe(originals, store, archive)
    entries, _ = read_archive(archive)
    left = sorted(path for path in originals if os.path.lexists(store / path))
    if left:
        problems.append(Problem("left-in-store", f"left in the store: {left}"))
    problems.extend(
        Problem("leftover", f"{name}: staging left behind")
        for name in sorted(staging_dirs(archive))
    )
    if expected_dot_names is not None:
        extra = dot_names(archive) - expected_dot_names - staging_dirs(archive)
        if extra:
            problems.append(Problem("leftover-temp", f"left in the archive: {sorted(extra)}"))
    archived = Counter((n, d) for records in entries.values() for n, d in records.items())
    wanted = Counter((Path(path).name, sha256(data)) for path, data in originals.items())
    if archived != wanted:
        problems.append(
            Problem(
                "twice" if archived - wanted else "lost",
                f"archived {dict(archived - wanted)} too often, "
                f"{dict(wanted - archived)} too rarely",
            )
        )
    if expected is not None:
        got = {entry_id: set(records) for entry_id, records in entries.items()}
        if got != dict(expected):
            problems.append(
                Problem(
                    "entries", f"entries {got} differ from an uninterrupted run's {dict(expected)}"
                )
            )
    return problems


Inspection = tuple[dict[str, str], list[Problem]]


def entries_holding(
    archive: Path, name: str, digest: str, cache: dict[tuple[str, int, int, int], Inspection]
) -> list[Path]:
    """The complete entries holding the record; `cache` remembers what published entries
    (never changed after their rename) hold, by name, inode and mtime."""
    found = []
    for entry in sorted(archive.iterdir()) if archive.is_dir() else []:
        if entry.name.startswith(".") or not (entry / name).is_file():
            continue
        info = entry.stat()
        key = (entry.name, info.st_dev, info.st_ino, info.st_mtime_ns)
        if key not in cache:
            cache[key] = inspect_entry(entry)
        records, wrong = cache[key]
        if not wrong and records.get(name) == digest:
            found.append(entry)
    return found


class Watch:
    """Checks claims when they are made: an unlink from the store, an "archived as"."""

    def __init__(self, store: Path, archive: Path, model: Durability | None) -> None:
        self.store, self.archive, self.model = store.resolve(), archive, model
        self.problems: list[Problem] = []
        self.announced: list[tuple[int, str]] = []  # (run, entry id)
        self.run = 1
        self._inspected: dict[tuple[str, int, int, int], Inspection] = {}

    def _flag(self, tag: str, text: str) -> None:
        self.problems.append(Problem(tag, f"run {self.run}: {text}"))

    def before_unlink(self, path: Path) -> None:
        if self.store not in path.parents or path.is_dir():
            return
        digest = sha256(path.read_bytes())
        homes = entries_holding(self.archive, path.name, digest, self._inspected)
        if not homes:
            self._flag(
                "unsafe-unlink",
                f"{path.name} unlinked from the store before its bytes were in a complete entry",
            )
        elif self.model is not None:
            reasons = [self.model.not_durable(home) for home in homes]
            if all(reasons):
                self._flag(
                    f"not-durable-unlink-run{self.run}",
                    f"{path.name} unlinked while {homes[0].name} is not durable: "
                    + "; ".join(reasons[0]),
                )

    def on_line(self, line: str) -> None:
        match = ANNOUNCED.match(line)
        if match is None:
            return
        entry_id = match[1]
        self.announced.append((self.run, entry_id))
        entry = self.archive / entry_id
        if not entry.is_dir():
            self._flag("announce", f"announced {entry_id}, which is not there")
            return
        _, wrong = inspect_entry(entry)
        for problem in wrong:
            self._flag("announce", f"announced, but {problem.text}")
        reasons = self.model.not_durable(entry) if self.model is not None else []
        if reasons:
            self._flag(
                "not-durable-announce",
                f"announced {entry_id}, which is not durable: " + "; ".join(reasons),
            )


class Told(io.StringIO):
    """A stderr that hands each complete line to a callback as it is written."""

    def __init__(self, watch: Watch | None = None) -> None:
        super().__init__()
        self._watch = watch
        self._pending = ""

    def write(self, text: str) -> int:
        written = super().write(text)
        *lines, self._pending = (self._pending + text).split("\n")
        if self._watch is not None:
            for line in lines:
                self._watch.on_line(line)
        return written


def announced(text: str) -> list[str]:
    return [m[1] for m in map(ANNOUNCED.match, text.splitlines()) if m]


def unseen_paths(archive: Path, model: Durability) -> list[str]:
    """Files and directories in the archive that no counted call created: writes that went
    around the harness, so faults would never be injected there."""
    paths = [archive, *archive.rglob("*")] if archive.is_dir() else []
    return sorted(str(p) for p in paths if key_of(p.lstat()) not in model.created)


# --- the SIGKILL child --------------------------------------------------------------------


def child_main() -> None:
    """`python -c 'import faults; faults.child_main()' ARGS...`: `python -m pstore_archiver
    ARGS...`, killed by SIGKILL before call $PSTORE_FAULTS_KILL_AT (0: never); with
    $PSTORE_FAULTS_LOG, each call is logged there first ("index<TAB>kind<TAB>target")."""
    at = int(os.environ.get(ENV_KILL_AT, "0"))
    injector = Injector()
    injector.arm("sigkill" if at else "none", at)  # active from here to the end
    log_path = os.environ.get(ENV_LOG)
    if log_path:
        injector.log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - lives until exit
    for module, name, proxy in proxies(injector):
        setattr(module, name, proxy)
    from pstore_archiver import journal

    journal.JOURNAL_SOCKET = "/nonexistent/pstore-faults/no-journald"  # never the host's
    runpy.run_module("pstore_archiver", run_name="__main__", alter_sys=True)


def read_op_log(path: Path) -> list[Op]:
    ops = []
    for line in path.read_text(encoding="utf-8").splitlines():
        index, kind, target = line.split("\t", 2)
        ops.append(Op(int(index), kind, target))
    return ops
