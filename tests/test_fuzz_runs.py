"""Whole stores and archives, generated (hypothesis), and the promise after every run.

Stores hold names as arbitrary bytes, headers with extreme numbers, mtimes from before
1970 to far past the year 9999 (on tmpfs, which keeps them), sizes from empty to above
what is held in memory, and every file type; archives hold damaged manifests and indexes,
copied entries and names that look like the program's own.  After every run and import:

* no traceback (an exception fails the example);
* the exit status is the README's: 0 exactly when nothing was left, else 1;
* every record is archived byte-exact in a sound entry and gone from the store, or still
  in the store, unchanged, and named with a reason in the report;
* the tree outside the program's own files is unchanged (snapshot before and after);
* the queries answer without a traceback, with their documented exit status.

Every counterexample found is kept as an @example (STYLE 6.3).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import stat
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pstore_archiver.cli import main
from pstore_archiver.manifest import Manifest, ManifestError
from pstore_archiver.records import MAX_PART

OWN = re.compile(
    rb"\.lock|\.index\.json|\.last-run\.json|\.pstore-archiver-(staging|removing|tmp)-[0-9a-f]{32}"
)
CONFIG = '[retention]\nmax_use = "0"\n'  # no retention: an old entry stays as it was
ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    """tmpfs when there is one: it keeps any mtime (ext4 clamps past 2446)."""
    base = "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else None
    with tempfile.TemporaryDirectory(prefix="pstore-fuzz-", dir=base) as name:
        yield Path(name)


# --- what a store may hold ----------------------------------------------------------------

TYPES = ["dmesg", "console", "pmsg", "ftrace", "mce", "powerpc-ofw", "type9", "unknown"]
BACKENDS = ["erst", "efi", "efi_pstore", "ramoops", "pstore_blk", "nvram", "b" * 60]
REASONS = ["Panic", "Oops", "Emergency", "Shutdown", "Restart", "X" * 33, "P"]

raw_names = st.binary(min_size=1, max_size=255).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
)
kernel_names = st.builds(
    lambda t, b, i, z: f"{t}-{b}-{i}{'.enc.z' if z else ''}".encode(),
    st.sampled_from(TYPES),
    st.sampled_from(BACKENDS),
    st.one_of(
        st.integers(-(2**63), 2**64 + 5),
        st.builds(lambda n: int("9" * n), st.integers(19, 120)),
        st.builds(lambda s: (1471486490 << 32) + s, st.integers(1, 12)),  # one boot's ERST
    ),
    st.booleans(),
)
numbers = st.one_of(
    st.integers(-3, 20),
    st.sampled_from([MAX_PART, MAX_PART + 1, 2**31, 2**32, 10**9]),
    st.builds(lambda n: int("9" * n), st.integers(11, 60)),
)
headers = st.builds(
    lambda r, c, p, total: (f"{r}: Total {c} times\n" if total else "") + f"{r}#{c} Part{p}\n",
    st.sampled_from(REASONS),
    numbers,
    numbers,
    st.booleans(),
)


@st.composite
def contents(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["binary", "dump", "dump", "deflate", "zlib", "large", "empty"]))
    body = draw(st.binary(max_size=120)) + b"\n" + b"<0>[ 1.0] Kernel panic - not syncing: x\n"
    if kind == "binary":
        return draw(st.binary(max_size=200))
    if kind == "empty":
        return b""
    text = draw(headers).encode() + body
    if kind == "deflate":
        squeeze = zlib.compressobj(6, zlib.DEFLATED, -15)
        return squeeze.compress(text) + squeeze.flush()
    if kind == "zlib":
        return zlib.compress(text)
    if kind == "large":  # above what is held in memory: streamed, read twice
        return text + b"<6>[ 0.1] filler\n" * ((1 << 20) // 17 + 100)
    return text


mtimes_s = st.one_of(
    st.integers(0, 2_000_000_000),
    st.sampled_from([-1, 0, 253402300799, 253402300800, 2**40, 2**62]),
)


class Item:
    def __init__(self, kind: str, name: bytes, data: bytes = b"", mtime_s: int = 0) -> None:
        self.kind, self.name, self.data, self.mtime_s = kind, name, data, mtime_s


@st.composite
def stores(draw: st.DrawFn) -> list[Item]:
    items: dict[bytes, Item] = {}
    for _ in range(draw(st.integers(0, 8))):
        name = draw(st.one_of(kernel_names, kernel_names, raw_names))
        kind = draw(st.sampled_from(["file"] * 8 + ["dir", "link", "dangling", "fifo", "device"]))
        items[name] = Item(kind, name, draw(contents()), draw(mtimes_s))
    return list(items.values())


def build_store(path: Path, items: list[Item]) -> None:
    path.mkdir()
    root = os.fsencode(path)
    outside = os.fsencode(path.parent / "outside")
    for item in items:
        target = os.path.join(root, item.name)
        if item.kind == "file":
            with open(target, "wb") as f:
                f.write(item.data)
            os.utime(target, ns=(item.mtime_s * 10**9, item.mtime_s * 10**9))
        elif item.kind == "dir":
            os.mkdir(target)
            with open(os.path.join(target, b"inside"), "wb") as f:
                f.write(item.data)
        elif item.kind == "link":
            os.symlink(outside, target)
        elif item.kind == "dangling":
            os.symlink(b"/nonexistent/pstore-fuzz", target)
        elif item.kind == "fifo":
            os.mkfifo(target)
        elif ROOT:
            os.mknod(target, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
        else:
            os.mkfifo(target)


# --- what an archive may hold -------------------------------------------------------------

JUNK = [b"{}", b"[]", b"null", b'{"id": "x", "crash_time": null}', b"{bad", b"\xff", b"[" * 5000]


@st.composite
def damages(draw: st.DrawFn) -> list[tuple[str, Any]]:
    return draw(
        st.lists(
            st.tuples(
                st.sampled_from(
                    ["manifest", "copy-gone", "bak", "index", "foreign", "link", "ours-lookalike"]
                ),
                st.integers(0, 10),
            ),
            max_size=5,
        )
    )


def damage_archive(archive: Path, damage: list[tuple[str, Any]], junk_index: int) -> None:
    entries = sorted(p for p in archive.iterdir() if not p.name.startswith("."))
    for what, n in damage:
        entry = entries[n % len(entries)] if entries else None
        if what == "manifest" and entry is not None and (entry / "entry.json").exists():
            (entry / "entry.json").write_bytes(JUNK[(n + junk_index) % len(JUNK)])
        elif what == "copy-gone" and entry is not None:
            copies = sorted(p for p in entry.iterdir() if p.name not in ("entry.json", "dmesg.txt"))
            if copies:
                copies[n % len(copies)].unlink()
        elif what == "bak" and entry is not None and not (archive / f"{entry.name}.bak").exists():
            shutil.copytree(entry, archive / f"{entry.name}.bak", symlinks=True)
        elif what == "index":
            (archive / ".index.json").write_bytes(JUNK[n % len(JUNK)])
        elif what == "foreign":
            (archive / f"report{n}.tmp").write_bytes(b"keep")
            (archive / f".staging-{n}").mkdir(exist_ok=True)
        elif what == "link":
            with contextlib.suppress(FileExistsError):
                (archive / f"20200101T000000Z-x-{n}").symlink_to(archive.parent / "outside")
        elif what == "ours-lookalike":
            (archive / f".pstore-archiver-staging-{n}").mkdir(exist_ok=True)


# --- the promise --------------------------------------------------------------------------


def snapshot(root: Path, skip_own: bool) -> dict[bytes, tuple[str, bytes]]:
    """Every path below root (as bytes): its type and its bytes or link target."""
    found: dict[bytes, tuple[str, bytes]] = {}
    base = os.fsencode(root)
    if not os.path.isdir(base):
        return found
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            relative = os.path.relpath(path, base)
            if skip_own and OWN.fullmatch(relative.split(b"/")[0]):
                continue
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[relative] = ("link", os.readlink(path))
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as f:
                    found[relative] = ("file", f.read())
            else:
                found[relative] = (stat.filemode(info.st_mode)[0], b"")
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
    return found


def sound_copies(archive: Path) -> dict[tuple[bytes, str], int]:
    """(name, sha256) -> in how many sound entries a byte-exact copy is."""
    held: dict[tuple[bytes, str], int] = {}
    if not archive.is_dir():
        return held
    for entry in archive.iterdir():
        if entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        try:
            manifest = json.loads((entry / "entry.json").read_bytes())
        except (OSError, ValueError, RecursionError):
            continue
        try:
            Manifest.from_json(manifest, str(entry / "entry.json"), entry.name)
        except ManifestError:
            continue
        for record in manifest["records"]:
            path = os.path.join(os.fsencode(entry), os.fsencode(record["name"]))
            with contextlib.suppress(OSError):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
                if digest == record["sha256"]:
                    key = (os.fsencode(record["name"]), digest)
                    held[key] = held.get(key, 0) + 1
    return held


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


SYSTEMD_OWN = re.compile(rb"dmesg\.txt|\.#.+[0-9a-f]{16}", re.DOTALL)


def check_promise(
    before: dict[bytes, tuple[str, bytes]],
    source: Path,
    archive: Path,
    archive_before: dict[bytes, tuple[str, bytes]],
    report: dict[str, Any],
    code: int,
    nested: bool,
    removing: bool,
) -> None:
    """The promise for one run (`nested`: an import, whose records may be in directories,
    beside systemd-pstore's own files)."""
    after = snapshot(source, skip_own=False)
    held = sound_copies(archive)
    assert all(item["reason"] for item in report["records_left"]), report
    assert code == (1 if report["records_left"] else 0), report
    left = {os.fsencode(item["name"]) for item in report["records_left"]}

    def reported(path: bytes) -> bool:  # the record, or a directory holding it, was left
        parts = path.split(b"/")
        return any(b"/".join(parts[:n]) in left for n in range(1, len(parts) + 1))

    for path, (kind, data) in before.items():
        name = path.rsplit(b"/", 1)[-1]
        record = kind == "file" and (nested or b"/" not in path)
        if nested and SYSTEMD_OWN.fullmatch(name):
            record = False
        if not record:
            if kind == "d" and path not in after:  # an import removes only what it emptied
                assert nested and removing, path
                assert not any(p.startswith(path + b"/") for p in after), path
            else:
                assert after.get(path) == (kind, data), path  # never touched
            continue
        digest = hashlib.sha256(data).hexdigest()
        if path in after:
            assert after[path] == (kind, data), path  # kept: unchanged
            assert reported(path) or (name, digest) in held, path  # and why
            assert not removing or reported(path), path
        else:
            assert removing and held.get((name, digest), 0) >= 1, path  # archived, then gone
    archive_after = snapshot(archive, skip_own=True)
    for path, value in archive_before.items():
        assert archive_after.get(path) == value, path  # nothing not its own changed


def queries(archive: Path) -> None:
    for argv in (
        ["list"],
        ["list", "--json"],
        ["info"],
        ["status", "--json"],
        ["vacuum", "--dry-run", "--max-entries", "1", "--keep-newest", "0"],
    ):
        code, _, _ = cli("--archive", str(archive), *argv)
        assert code in (0, 1), argv
    code, _, _ = cli("--archive", str(archive), "dump", "-o", str(archive.parent / "dumped"))
    assert code in (0, 1)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    store_items=stores(),
    earlier=st.one_of(st.none(), stores()),
    damage=damages(),
    junk=st.integers(0, 6),
    no_unlink=st.booleans(),
)
def test_runs_keep_the_promise(
    scratch: Path,
    store_items: list[Item],
    earlier: list[Item] | None,
    damage: list[tuple[str, Any]],
    junk: int,
    no_unlink: bool,
) -> None:
    root = Path(tempfile.mkdtemp(dir=scratch))
    try:
        (root / "outside").write_bytes(b"not a record")
        (root / "c.toml").write_text(CONFIG)
        archive = root / "archive"
        base = ["--config", str(root / "c.toml"), "--archive", str(archive)]
        if earlier is not None:  # an archive with a history, then damaged
            build_store(root / "earlier", earlier)
            assert cli(*base, "--source", str(root / "earlier"), "run")[0] in (0, 1)
            if archive.is_dir():
                damage_archive(archive, damage, junk)
        store = root / "store"
        build_store(store, store_items)
        before = snapshot(store, skip_own=False)
        archive_before = snapshot(archive, skip_own=True)
        extra = ["--no-unlink"] if no_unlink else []
        for _ in range(2):  # and again: nothing twice
            code, out, _ = cli(*base, "--source", str(store), "run", "--json", *extra)
            report = json.loads(out)
            check_promise(
                before, store, archive, archive_before, report, code, False, not no_unlink
            )
            fresh = {k: n for k, n in sound_copies(archive).items() if earlier is None}
            assert all(n == 1 for n in fresh.values()), fresh
        queries(archive)
    finally:
        shutil.rmtree(root)


@st.composite
def systemd_trees(draw: st.DrawFn) -> list[tuple[bytes, Item]]:
    """What systemd-pstore may have left: records in the root and in nested directories,
    its dmesg.txt joins and temporaries, and odd things."""
    placed = []
    for _ in range(draw(st.integers(0, 10))):
        folder = draw(st.sampled_from([b"", b"7712566249095", b"1700000001/001", b"a/b/c/d/e"]))
        item = draw(stores().filter(lambda s: len(s) > 0).map(lambda s: s[0]))
        if draw(st.integers(0, 5)) == 0:
            item.name = draw(st.sampled_from([b"dmesg.txt", b".#dmesg-efi-1a1b2c3d4e5f60718"]))
            item.kind = "file"
        placed.append((folder, item))
    return placed


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(tree=systemd_trees(), remove=st.booleans())
def test_imports_keep_the_promise(
    scratch: Path, tree: list[tuple[bytes, Item]], remove: bool
) -> None:
    root = Path(tempfile.mkdtemp(dir=scratch))
    try:
        (root / "outside").write_bytes(b"not a record")
        theirs = root / "theirs"
        theirs.mkdir()
        for folder, item in tree:
            path = theirs / os.fsdecode(folder) if folder else theirs
            path.mkdir(parents=True, exist_ok=True)
            target = os.path.join(os.fsencode(path), item.name)
            if item.name == b"x" or os.path.lexists(target) or os.path.lexists(path / "x"):
                continue  # one item a name
            build_store(path / "x", [item])
            os.rename(os.path.join(os.fsencode(path / "x"), item.name), target)
            (path / "x").rmdir()
        before = snapshot(theirs, skip_own=False)
        archive = root / "archive"
        argv = ["--archive", str(archive), "import", str(theirs), "--json"]
        for _ in range(2):
            code, out, _ = cli(*argv, *(["--remove"] if remove else []))
            check_promise(before, theirs, archive, {}, json.loads(out), code, True, remove)
            assert all(n == 1 for n in sound_copies(archive).values())
        queries(archive)
    finally:
        shutil.rmtree(root)


def test_the_promise_check_can_fail(scratch: Path) -> None:
    """The checks above are not vacuous: a lost record and a touched foreign file fail."""
    root = Path(tempfile.mkdtemp(dir=scratch))
    store, archive = root / "store", root / "archive"
    build_store(store, [Item("file", b"dmesg-erst-1", b"Panic#1 Part1\nx\n", 1700000000)])
    before = snapshot(store, skip_own=False)
    archive.mkdir()
    (archive / "foreign").write_bytes(b"keep")
    archive_before = snapshot(archive, skip_own=True)
    code, out, _ = cli("--source", str(store), "--archive", str(archive), "run", "--json")
    report = json.loads(out)
    check_promise(before, store, archive, archive_before, report, code, False, True)
    [copy] = archive.glob("*/dmesg-erst-1")
    copy.write_bytes(b"Panic#1 Part1\ny\n")  # the only copy no longer the record's bytes
    with pytest.raises(AssertionError):
        check_promise(before, store, archive, archive_before, report, code, False, True)
    copy.write_bytes(b"Panic#1 Part1\nx\n")
    (archive / "foreign").write_bytes(b"changed")
    with pytest.raises(AssertionError):
        check_promise(before, store, archive, archive_before, report, code, False, True)
    shutil.rmtree(root)
