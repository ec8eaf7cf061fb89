"""Test helper: run the real ``systemd-pstore`` (Debian 12: v252, Debian 13: v257) side by
side with us; :func:`systemd_pstore_version` says which one this machine has.

:func:`run_systemd_pstore` gives a store directory and an archive directory to
``/lib/systemd/systemd-pstore SOURCE ARCHIVE`` (the two positional arguments exist since
v244 and replace ``/sys/fs/pstore`` and ``/var/lib/systemd/pstore`` for every read, copy and
unlink, so neither needs a bind mount).  It runs in a private mount namespace
(``unshare --mount --propagation private``) in which

* ``/etc/systemd/pstore.conf`` is a generated file (``Storage=``, ``Unlink=``) bind-mounted
  over the host's (or, when the host has none, the only file on a tmpfs over
  ``/etc/systemd``), and every ``pstore.conf.d`` drop-in directory v252 reads is covered by
  an empty read-only tmpfs, so the generated file is the whole configuration;
* ``/run/systemd/journal``, when it exists, is covered by an empty tmpfs: the per-record
  journal messages are dropped (v252 counts that as success, systemd-pstore.md §6) instead
  of landing in the host's journal, and ``SYSTEMD_LOG_TARGET=console`` sends its own log to
  stderr instead of ``/dev/kmsg``;
* optionally, a directory (the archive) is covered by a tmpfs of a given size, to fill it
  up; what the program wrote there is copied back into the host directory before the
  namespace ends.

:func:`run_in_namespace` is the same machinery for any command (the tests run
pstore-archiver through it, under identical conditions).  Mounts exist only inside the
namespace: when its last process exits they are gone, and nothing on the host changes
except the directories the caller names.  :func:`run_cmd` is the one helper that runs
subprocesses here and in the tests; a failure shows ``shlex.join(cmd)`` and stderr.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from commands import CommandError, run_command

__all__ = [
    "SYSTEMD_PSTORE",
    "HarnessError",
    "NamespacedRun",
    "SystemdPstoreRun",
    "Tmpfs",
    "read_tree",
    "require_systemd_pstore",
    "run_cmd",
    "run_in_namespace",
    "run_systemd_pstore",
    "systemd_pstore_available",
    "systemd_pstore_version",
]

SYSTEMD_PSTORE = "/lib/systemd/systemd-pstore"
PSTORE_CONF = "/etc/systemd/pstore.conf"
# Every directory v252 reads pstore.conf drop-ins from (CONF_PATHS_NULSTR, plus split-usr /lib).
PSTORE_DROPIN_DIRS = (
    "/etc/systemd/pstore.conf.d",
    "/run/systemd/pstore.conf.d",
    "/usr/local/lib/systemd/pstore.conf.d",
    "/usr/lib/systemd/pstore.conf.d",
    "/lib/systemd/pstore.conf.d",
)
JOURNAL_DIR = "/run/systemd/journal"
# Exit status of the namespace script when a mount or copy of the harness failed; the
# command's own status is passed back through a file, so the two cannot be confused.
SETUP_FAILED = 125
NAMESPACE_SLACK = 20.0  # seconds for unshare, mounts and copies around the command


class HarnessError(CommandError):
    """The harness itself failed (namespace, mounts, the command's start or timeout)."""


def run_cmd(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return run_command(cmd, timeout=timeout, check=check, env=env, error=HarnessError)


@functools.cache
def systemd_pstore_available() -> str | None:
    """None when systemd-pstore can be run here in a private namespace, else why not."""
    if not sys.platform.startswith("linux"):
        return f"systemd-pstore needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "running systemd-pstore side by side needs root (mount namespaces, tmpfs)"
    if not os.access(SYSTEMD_PSTORE, os.X_OK):
        return f"{SYSTEMD_PSTORE} not found or not executable (install systemd)"
    for tool in ("unshare", "mount", "cp", "sh", "timeout"):
        if shutil.which(tool) is None:
            return f"{tool} not found in PATH (install util-linux / coreutils)"
    if not os.path.isdir(os.path.dirname(PSTORE_CONF)):
        return f"{os.path.dirname(PSTORE_CONF)} does not exist, nothing to mount over"
    try:
        run_cmd(["unshare", "--mount", "--propagation", "private", "--", "true"], timeout=15)
    except HarnessError as exc:
        return f"cannot create a private mount namespace: {exc}"
    return None


@functools.cache
def systemd_pstore_version() -> int:
    """The systemd release systemd-pstore belongs to (252 on Debian 12, 257 on Debian 13),
    from ``systemctl --version``: systemd-pstore itself has no version option."""
    output = run_cmd(["systemctl", "--version"], timeout=15).stdout
    words = output.split()
    if len(words) < 2 or words[0] != "systemd" or not words[1].isdigit():
        raise HarnessError(f"systemctl --version: unexpected output {output[:80]!r}")
    return int(words[1])


def require_systemd_pstore() -> None:
    """pytest.skip() the calling test when systemd_pstore_available() gives a reason."""
    reason = systemd_pstore_available()
    if reason is not None:
        import pytest

        pytest.skip(reason)


@dataclass(frozen=True)
class Tmpfs:
    """Cover `path` (an existing, empty host directory) with a tmpfs of `size` (mount's
    syntax: "16k", "1m") for the command; afterwards, what the command left there is
    copied (cp -a: modes and mtimes kept) into the host directory itself."""

    path: Path
    size: str
    mode: int = 0o700


@dataclass(frozen=True)
class NamespacedRun:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def describe(self) -> str:
        """For assertion messages: the command, its status and its output."""
        return (
            f"{shlex.join(self.argv)} -> status {self.returncode}\n"
            f"stdout:\n{self.stdout}\nstderr:\n{self.stderr}"
        )


def run_in_namespace(
    argv: Sequence[str | os.PathLike[str]],
    *,
    tmpfs: Sequence[Tmpfs] = (),
    pstore_conf: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> NamespacedRun:
    """Run argv in a private mount namespace with the journal socket directory hidden,
    each `tmpfs` laid over its directory, and (when given) `pstore_conf` as the whole
    systemd-pstore configuration.  The command's exit status is returned, not raised;
    HarnessError means the namespace could not be set up or the command timed out."""
    if isinstance(argv, (str, bytes)):
        raise TypeError("argv must be a sequence of arguments, not a string")
    command = [os.fspath(a) for a in argv]
    for t in tmpfs:
        if not t.path.is_dir() or any(t.path.iterdir()):
            raise HarnessError(f"{t.path}: a tmpfs mount point must be an existing empty dir")
    work = Path(tempfile.mkdtemp(prefix="pstore-ns-"))
    try:
        script = _namespace_script(work, tmpfs, pstore_conf)
        rc_file = work / "rc"
        cmd = [
            "unshare", "--mount", "--propagation", "private", "--",
            "sh", "-c", script, "pstore-ns", str(rc_file), str(timeout), *command,
        ]  # fmt: skip
        proc = run_cmd(cmd, timeout=timeout + NAMESPACE_SLACK, check=False, env=env)
        if proc.returncode != 0 or not rc_file.exists():
            raise HarnessError(
                f"namespace setup failed (status {proc.returncode}) for {shlex.join(command)}\n"
                f"script:\n{script}\nstderr:\n{proc.stderr}\nstdout:\n{proc.stdout}"
            )
        returncode = int(rc_file.read_text())
        if returncode == 124:  # timeout(1): the command did not finish in time
            raise HarnessError(
                f"{shlex.join(command)} timed out after {timeout:g}s\nstderr:\n{proc.stderr}"
            )
        return NamespacedRun(command, returncode, proc.stdout, proc.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # no mounts left: they died with the namespace


def _namespace_script(work: Path, tmpfs: Sequence[Tmpfs], pstore_conf: str | None) -> str:
    """The sh script run as the namespace's first process ($1 = rc file, $2 = timeout,
    the rest = the command)."""
    q = shlex.quote
    lines = [
        "set -eu",
        f'fail() {{ echo "pstore-ns: $*" >&2; exit {SETUP_FAILED}; }}',
        "rc_file=$1 limit=$2; shift 2",
        f"if [ -d {q(JOURNAL_DIR)} ]; then",
        f"  mount -t tmpfs -o mode=0755 tmpfs {q(JOURNAL_DIR)} || fail {q('hide ' + JOURNAL_DIR)}",
        "fi",
    ]
    if pstore_conf is not None:
        conf = work / "pstore.conf"
        conf.write_text(pstore_conf)
        etc = os.path.dirname(PSTORE_CONF)
        lines += [
            f"if [ -f {q(PSTORE_CONF)} ]; then",
            f"  mount --bind {q(str(conf))} {q(PSTORE_CONF)} || fail {q('bind ' + PSTORE_CONF)}",
            "else",
            f"  mount -t tmpfs -o mode=0755 tmpfs {q(etc)} || fail {q('tmpfs on ' + etc)}",
            f"  cp {q(str(conf))} {q(PSTORE_CONF)} || fail {q('write ' + PSTORE_CONF)}",
            "fi",
            f"for d in {' '.join(q(d) for d in PSTORE_DROPIN_DIRS)}; do",
            '  if [ -d "$d" ]; then',
            '    mount -t tmpfs -o ro,mode=0755 tmpfs "$d" || fail "hide $d"',
            "  fi",
            "done",
        ]
    saves = []
    for index, t in enumerate(tmpfs):
        keep = work / f"keep{index}"
        keep.mkdir()
        target = q(str(t.path))
        lines += [
            f"mount --bind {target} {q(str(keep))} || fail {q(f'bind {t.path}')}",
            f"mount -t tmpfs -o size={q(t.size)},mode={t.mode:04o} tmpfs {target}"
            f" || fail {q(f'tmpfs on {t.path}')}",
        ]
        saves.append(f"cp -a {target}/. {q(str(keep))}/ || fail {q(f'copy back {t.path}')}")
    lines += [
        "set +e",
        'timeout -k 5 "$limit" "$@"',
        "rc=$?",
        "set -e",
        *saves,
        'echo "$rc" > "$rc_file"',
    ]
    return "\n".join(lines) + "\n"


def read_tree(root: Path) -> dict[str, bytes]:
    """Every regular file under root (dot files too), as relative POSIX path -> bytes.
    Symbolic links are not followed; an empty dict when root does not exist."""
    tree: dict[str, bytes] = {}
    if not root.is_dir():
        return tree
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            path = Path(dirpath, name)
            if path.is_file() and not path.is_symlink():
                tree[path.relative_to(root).as_posix()] = path.read_bytes()
    return dict(sorted(tree.items()))


def pstore_conf_text(*, storage: str = "external", unlink: bool = True) -> str:
    return f"[PStore]\nStorage={storage}\nUnlink={'yes' if unlink else 'no'}\n"


@dataclass(frozen=True)
class SystemdPstoreRun:
    """What one systemd-pstore run did."""

    run: NamespacedRun
    archive: dict[str, bytes]  # the archive afterwards: relative path -> bytes
    store: dict[str, bytes]  # what is left in the store

    @property
    def returncode(self) -> int:
        return self.run.returncode

    @property
    def stderr(self) -> str:
        return self.run.stderr

    def top_level(self) -> list[str]:
        """The names directly in the archive (group directories and root files)."""
        return sorted({path.split("/", 1)[0] for path in self.archive})

    def describe(self) -> str:
        listing = "\n".join(f"  {p} ({len(d)} B)" for p, d in self.archive.items())
        return f"{self.run.describe()}\narchive:\n{listing}\nstore left: {sorted(self.store)}"


def run_systemd_pstore(
    store: Path,
    archive: Path,
    *,
    unlink: bool = True,
    storage: str = "external",
    archive_size: str | None = None,
    timeout: float = 30.0,
) -> SystemdPstoreRun:
    """Run systemd-pstore once on `store` with `archive` as its archive directory.

    With archive_size, the archive (created empty if missing) is a tmpfs of that size
    during the run, and what systemd-pstore managed to write there is copied into the
    host directory afterwards.  Raises HarnessError when it cannot run (call
    require_systemd_pstore() first to skip instead)."""
    reason = systemd_pstore_available()
    if reason is not None:
        raise HarnessError(f"cannot run {SYSTEMD_PSTORE} here: {reason}")
    mounts: list[Tmpfs] = []
    if archive_size is not None:
        archive.mkdir(parents=True, exist_ok=True)
        mounts.append(Tmpfs(archive, archive_size, 0o755))
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "LANG": "C.UTF-8",
        "SYSTEMD_LOG_TARGET": "console",  # its log to stderr, not the journal or /dev/kmsg
        "SYSTEMD_LOG_LEVEL": "info",
        "SYSTEMD_LOG_COLOR": "0",
        "SYSTEMD_LOG_LOCATION": "0",
    }
    result = run_in_namespace(
        [SYSTEMD_PSTORE, str(store), str(archive)],
        tmpfs=mounts,
        pstore_conf=pstore_conf_text(storage=storage, unlink=unlink),
        env=env,
        timeout=timeout,
    )
    return SystemdPstoreRun(result, read_tree(archive), read_tree(store))
