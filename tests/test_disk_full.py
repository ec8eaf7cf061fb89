"""A full and a read-only archive, for real (DESIGN §5: exit 73, nothing unlinked whose
copy is not durable; §9: "a tiny tmpfs for disk full").

Each test gets a private mount namespace (`unshare --mount --propagation private`) kept
open by a sleeping process: the tmpfs and the bind mounts live there only, the program runs
inside it (`nsenter`), and the test looks into it through /proc/PID/root.  The store stays
on the host's file system, so what the program unlinks is really gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from commands import run_command
from faults import check_done, check_safe, read_archive, staging_dirs
from stores import FakeRecord, fixture_records, seed_erst_store, write_store

import pstore_archiver

pytestmark = pytest.mark.root
PACKAGE_PARENT = Path(pstore_archiver.__file__).resolve().parents[1]
TIMEOUT = 60.0
# No retention (the tmpfs is tiny: keep_free would empty it) and never the host's journal.
CONFIG = '[retention]\nmax_use = "0"\nkeep_free = "0"\n\n[journal]\nenabled = false\n'
STORES = {
    "efi-15-parts": fixture_records("efi-panic"),
    "seed-erst": seed_erst_store(),
}


def unsupported() -> str | None:
    """Why the tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root: private mount namespaces, tmpfs and bind mounts"
    for tool in ("unshare", "nsenter", "mount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if probe.returncode:
        return f"unshare --mount does not work here: {probe.stderr.strip()}"
    return None


class MountNamespace:
    """A private mount namespace held by `sleep`: mount and run commands in it, see into
    it through /proc/PID/root.  Its mounts vanish with it."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "--", "sleep", "600"],
            stdin=subprocess.DEVNULL,
        )
        ours = os.readlink("/proc/self/ns/mnt")
        deadline = time.monotonic() + TIMEOUT
        while not self._ready(ours):  # unshare done and sleep exec'd: the mounts are private
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"unshare did not start (exit {self.proc.returncode})")
            time.sleep(0.01)

    def _ready(self, ours: str) -> bool:
        try:
            comm = Path(f"/proc/{self.proc.pid}/comm").read_text().strip()
            return comm == "sleep" and os.readlink(f"/proc/{self.proc.pid}/ns/mnt") != ours
        except OSError:
            return False

    def run(
        self, *argv: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        command = ["nsenter", f"--target={self.proc.pid}", "--mount", "--", *argv]
        return run_command(command, timeout=TIMEOUT, check=False, env=env)

    def mount(self, *args: str) -> None:
        done = self.run("mount", *args)
        assert done.returncode == 0, f"mount {' '.join(args)}: {done.stderr}"

    def path(self, path: Path) -> Path:
        """`path` as the namespace sees it."""
        return Path(f"/proc/{self.proc.pid}/root") / path.relative_to("/")

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=TIMEOUT)


@pytest.fixture
def namespace() -> Iterator[MountNamespace]:
    reason = unsupported()
    if reason is not None:
        pytest.skip(reason)
    ns = MountNamespace()
    try:
        yield ns
    finally:
        ns.close()


def archiver(ns: MountNamespace, store: Path, archive: Path) -> subprocess.CompletedProcess[str]:
    """`pstore-archiver run` inside the namespace."""
    config = store.parent / "pstore-archiver.toml"
    config.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PACKAGE_PARENT), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    return ns.run(
        sys.executable,
        "-m",
        "pstore_archiver",
        "--config",
        str(config),
        "--source",
        str(store),
        "--archive",
        str(archive),
        "run",
        env=env,
    )


def originals(records: list[FakeRecord]) -> dict[str, bytes]:
    return {r.name: r.data for r in records}


def assert_refused(run: subprocess.CompletedProcess[str], archive: Path, errname: str) -> None:
    """Exit 73, and one stderr line names the archive and the errno."""
    assert run.returncode == 73, run.stderr
    lines = [line for line in run.stderr.splitlines() if str(archive) in line and errname in line]
    assert lines, f"no line names {archive} and {errname}:\n{run.stderr}"


def assert_safe(records: list[FakeRecord], store: Path, seen: Path) -> None:
    """Every record in the store or in a complete entry; no staging left behind."""
    problems = check_safe(originals(records), store, seen)
    assert not problems, "\n".join(map(str, problems))
    assert not staging_dirs(seen)


def assert_done(
    records: list[FakeRecord], run: subprocess.CompletedProcess[str], store: Path, seen: Path
) -> None:
    assert run.returncode == 0, run.stderr
    problems = check_done(originals(records), store, seen)
    assert not problems, "\n".join(map(str, problems))


@pytest.mark.parametrize("name", STORES)
def test_full_tmpfs_refuses_then_archives_everything_once_there_is_room(
    name: str, namespace: MountNamespace, tmp_path: Path
) -> None:
    """12 KiB hold three pages: the first entry never fits, nothing is unlinked."""
    records = STORES[name]
    store = write_store(tmp_path / "pstore", records)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    namespace.mount("-t", "tmpfs", "-o", "size=12k,mode=0755", "tmpfs", str(mnt))
    archive = mnt / "archive"
    full = archiver(namespace, store, archive)
    assert_refused(full, archive, "(ENOSPC)")
    assert sorted(p.name for p in store.iterdir()) == sorted(r.name for r in records)
    assert_safe(records, store, namespace.path(archive))
    assert not read_archive(namespace.path(archive))[0]

    namespace.mount("-o", "remount,size=1m", str(mnt))
    assert_done(records, archiver(namespace, store, archive), store, namespace.path(archive))


def test_tmpfs_full_after_the_first_entry_keeps_the_rest(
    namespace: MountNamespace, tmp_path: Path
) -> None:
    """Room for the Oops entry (four pages) but not the Panic: the Oops records are
    archived and unlinked, the Panic records stay; exit 73 all the same."""
    records = STORES["seed-erst"]
    store = write_store(tmp_path / "pstore", records)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    namespace.mount("-t", "tmpfs", "-o", "size=16k,mode=0755", "tmpfs", str(mnt))
    archive = mnt / "archive"
    full = archiver(namespace, store, archive)
    assert_refused(full, archive, "(ENOSPC)")
    assert_safe(records, store, namespace.path(archive))
    entries = read_archive(namespace.path(archive))[0]
    assert list(entries) == ["20160818T021500Z-erst-oops1"]
    assert sorted(p.name for p in store.iterdir()) == sorted(
        r.name for r in records if r.name not in entries["20160818T021500Z-erst-oops1"]
    )

    namespace.mount("-o", "remount,size=1m", str(mnt))
    assert_done(records, archiver(namespace, store, archive), store, namespace.path(archive))


@pytest.mark.parametrize("exists", [True, False], ids=["archive-exists", "archive-missing"])
@pytest.mark.parametrize("name", STORES)
def test_read_only_archive_refuses_then_archives_everything_once_writable(
    name: str, exists: bool, namespace: MountNamespace, tmp_path: Path
) -> None:
    records = STORES[name]
    store = write_store(tmp_path / "pstore", records)
    parent = tmp_path / "var"
    archive = parent / "archive"
    archive.mkdir(parents=True, mode=0o700)
    if not exists:
        archive.rmdir()
    target = archive if exists else parent
    namespace.mount("--bind", str(target), str(target))
    namespace.mount("-o", "remount,bind,ro", str(target))
    refused = archiver(namespace, store, archive)
    assert_refused(refused, archive, "(EROFS)")
    assert sorted(p.name for p in store.iterdir()) == sorted(r.name for r in records)
    assert_safe(records, store, namespace.path(archive))
    assert not archive.exists() or not any(archive.iterdir())

    namespace.mount("-o", "remount,bind,rw", str(target))
    assert_done(records, archiver(namespace, store, archive), store, namespace.path(archive))


def test_a_large_batch_fills_the_disk_safely(namespace: MountNamespace, tmp_path: Path) -> None:
    """Forty ramoops zones: a batch this large is written without fsyncs and made
    durable by one syncfs (service.SYNCFS_ENTRIES). The tmpfs fills part
    way: whatever was not made durable stays in the store, exit 73; with room, the next
    run archives the rest once."""
    records = [
        FakeRecord(
            f"dmesg-ramoops-{zone}",
            f"Panic#{zone + 1} Part1\nzone {zone}\n".encode(),
            1700000000 + zone,
        )
        for zone in range(40)
    ]
    store = write_store(tmp_path / "pstore", records)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    namespace.mount("-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt))
    archive = mnt / "archive"
    full = archiver(namespace, store, archive)
    assert_refused(full, archive, "(ENOSPC)")
    assert_safe(records, store, namespace.path(archive))
    archived = read_archive(namespace.path(archive))[0]
    assert 0 < len(archived) < 40
    assert len(list(store.iterdir())) == 40 - len(archived)

    namespace.mount("-o", "remount,size=4m", str(mnt))
    assert_done(records, archiver(namespace, store, archive), store, namespace.path(archive))
