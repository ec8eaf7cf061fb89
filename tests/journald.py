"""Test helper: run a command against a real, private ``systemd-journald``.

The command runs in new mount and PID namespaces (``unshare``) in which

* a fresh ``systemd-journald`` listens on the standard socket paths
  (``/run/systemd/journal/socket``, ``.../stdout``, ``.../dev-log`` and ``/dev/log``),
* its configuration is ours (no rate limit, no forwarding, no kmsg/audit reading),
* its journal files are written to ``<tmp_path>/journald-XXXX/journal`` through a bind
  mount on ``/run/log/journal`` (``Storage=volatile``), so they outlive the namespace,

and the messages are read back with ``journalctl --directory ... -o json --all``, the way a
user would read them.  :func:`run_without_journald` does the same without a journald (no
socket, or a stale socket nobody listens on) to test the fallback path.

Nothing is changed outside the namespaces: paths that do not exist on the host (e.g.
``/run/systemd/journal`` or ``/dev/log`` on a machine without systemd) are created on
tmpfs mounts laid over their parent directory inside the namespace, with the parent's
original entries bind-mounted back.  When the namespace's first process exits, the kernel
kills everything left in it, journald included.

This file is also the script that runs inside the namespaces (see ``_runner_main``), so it
only uses the standard library.
"""

from __future__ import annotations

import ctypes
import functools
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from commands import CommandError, run_command

__all__ = [
    "JOURNALD",
    "JournaldHarnessError",
    "JournaldRun",
    "journald_available",
    "read_journal",
    "require_journald",
    "run_with_journald",
    "run_without_journald",
]

JOURNALD = "/lib/systemd/systemd-journald"
JOURNAL_SOCKET_DIR = "/run/systemd/journal"
JOURNAL_SOCKET = f"{JOURNAL_SOCKET_DIR}/socket"
DEV_LOG_TARGET = f"{JOURNAL_SOCKET_DIR}/dev-log"
RUNTIME_JOURNAL_DIR = "/run/log/journal"
JOURNALD_CONF = "/etc/systemd/journald.conf"
# Every directory systemd 252 reads journald.conf drop-ins from (plus the split-usr one).
JOURNALD_DROPIN_DIRS = (
    "/etc/systemd/journald.conf.d",
    "/run/systemd/journald.conf.d",
    "/usr/local/lib/systemd/journald.conf.d",
    "/usr/lib/systemd/journald.conf.d",
    "/lib/systemd/journald.conf.d",
)

# Written over /etc/systemd/journald.conf inside the namespace; every drop-in directory
# is hidden, so this is the whole configuration.
JOURNALD_CONFIG = """\
[Journal]
Storage=volatile
SplitMode=none
Seal=no
RateLimitIntervalSec=0
RateLimitBurst=0
MaxLevelStore=debug
ForwardToSyslog=no
ForwardToKMsg=no
ForwardToConsole=no
ForwardToWall=no
ReadKMsg=no
Audit=no
"""

# Budgets (seconds) for the steps around the command itself.
STARTUP_TIMEOUT = 10.0
SYNC_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
# The outer unshare gets timeout + this; it covers all steps above plus slack.
OUTER_SLACK = STARTUP_TIMEOUT + SYNC_TIMEOUT + STOP_TIMEOUT + 15.0

DEBUG_ENV = "PSTORE_TEST_JOURNALD_DEBUG"  # set to 1 to run journald with log level debug


class JournaldHarnessError(CommandError):
    """The harness itself failed (namespace, mounts, journald, journalctl)."""


def _run(
    cmd: Sequence[str],
    *,
    timeout: float,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return run_command(cmd, timeout=timeout, check=check, env=env, error=JournaldHarnessError)


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "replace")
    except FileNotFoundError:
        return ""


@functools.cache
def journald_available() -> str | None:
    """None when a private journald can be run here, else the reason (for pytest.skip)."""
    if not sys.platform.startswith("linux"):
        return f"private journald needs Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return "private journald needs root (mount namespaces, tmpfs and bind mounts)"
    for tool in ("unshare", "journalctl"):
        if shutil.which(tool) is None:
            return f"{tool} not found in PATH"
    if not os.access(JOURNALD, os.X_OK):
        return f"{JOURNALD} not found or not executable (install systemd)"
    probe = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        "--",
        "true",
    ]
    try:
        _run(probe, timeout=15)
    except JournaldHarnessError as exc:
        return f"cannot create private mount/PID namespaces: {exc}"
    return None


def require_journald() -> None:
    """pytest.skip() the calling test when journald_available() gives a reason."""
    reason = journald_available()
    if reason is not None:
        import pytest

        pytest.skip(reason)


def read_journal(journal_dir: Path, *matches: str) -> list[dict[str, Any]]:
    """Entries that ``journalctl --directory journal_dir -o json --all MATCHES`` prints.

    Matches are passed verbatim, as a user would type them ("FIELD=value", "+", ...).
    Values are strings; a field that occurs several times in an entry is a list, and a
    non-UTF-8 value is a list of byte values (journalctl's JSON format).
    """
    if not any(journal_dir.rglob("*.journal")):
        raise JournaldHarnessError(f"no journal files under {journal_dir}")
    cmd = [
        "journalctl",
        "--directory",
        str(journal_dir),
        "-o",
        "json",
        "--all",
        "--no-pager",
        *matches,
    ]
    proc = _run(cmd, timeout=30)
    entries: list[dict[str, Any]] = []
    for line in proc.stdout.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise JournaldHarnessError(
                f"{shlex.join(cmd)} printed a line that is not JSON ({exc}): {line[:200]!r}"
            ) from exc
        if not isinstance(entry, dict):
            raise JournaldHarnessError(f"{shlex.join(cmd)} printed a non-object: {line[:200]!r}")
        entries.append(entry)
    return entries


@dataclass
class JournaldRun:
    """The outcome of run_with_journald()."""

    returncode: int
    stdout: str
    stderr: str
    entries: list[dict[str, Any]]  # every entry of the private journal, journald's own too
    journal_dir: Path  # the saved journal files (<machine-id>/system.journal)
    journald_log: str = field(default="", repr=False)  # journald's own stderr

    def query(self, *matches: str) -> list[dict[str, Any]]:
        """Run journalctl again on the saved journal with matches like "MESSAGE_ID=..."."""
        return read_journal(self.journal_dir, *matches)


@dataclass
class _NamespaceResult:
    work: Path
    returncode: int
    stdout: str
    stderr: str
    journald_log: str


def _run_in_namespace(
    mode: str,
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    tmp_path: Path,
    timeout: float,
    machine_id: str | None = None,
    hostname: str | None = None,
    journald_settings: str = "",
) -> _NamespaceResult:
    if isinstance(argv, str):
        raise TypeError("argv must be a sequence of strings, not a string")
    reason = journald_available()
    if reason is not None:
        raise JournaldHarnessError(f"cannot run a private journald here: {reason}")
    if machine_id is not None and not _valid_machine_id(machine_id):
        raise ValueError(f"machine_id must be 32 lowercase hex digits, not {machine_id!r}")
    tmp_path.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="journald-", dir=tmp_path)).resolve()
    config = {
        "mode": mode,
        "argv": [str(a) for a in argv],
        "env": dict(os.environ if env is None else env),
        "timeout": timeout,
        "work": str(work),
        "machine_id": machine_id,
        "hostname": hostname,
        "journald_settings": journald_settings,
        "debug": os.environ.get(DEBUG_ENV, "") not in ("", "0"),
    }
    config_path = work / "config.json"
    config_path.write_text(json.dumps(config))
    uts = ["--uts"] if hostname is not None else []
    cmd = [
        "unshare", "--mount", "--propagation", "private", *uts,
        "--pid", "--fork", "--mount-proc", "--kill-child",
        "--", sys.executable, "-E", "-s", str(Path(__file__).resolve()),
        "--namespace-runner", str(config_path),
    ]  # fmt: skip
    proc = _run(cmd, timeout=timeout + OUTER_SLACK, check=False)
    journald_log = _read_text(work / "journald.log")
    stdout = _read_text(work / "stdout")
    stderr = _read_text(work / "stderr")
    result_path = work / "result.json"
    if proc.returncode != 0 or not result_path.exists():
        raise JournaldHarnessError(
            f"namespace runner failed (status {proc.returncode}): {shlex.join(cmd)}\n"
            f"runner stderr:\n{proc.stderr}\n"
            f"journald log ({work / 'journald.log'}):\n{journald_log or '(empty)'}\n"
            f"command stdout:\n{stdout}\ncommand stderr:\n{stderr}"
        )
    result = json.loads(result_path.read_text())
    if result.get("timed_out"):
        raise subprocess.TimeoutExpired(list(argv), timeout, output=stdout, stderr=stderr)
    return _NamespaceResult(work, int(result["returncode"]), stdout, stderr, journald_log)


def run_with_journald(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    tmp_path: Path,
    timeout: float = 60,
    machine_id: str | None = None,
    hostname: str | None = None,
    journald_settings: str = "",
) -> JournaldRun:
    """Run argv next to a fresh systemd-journald in private mount and PID namespaces.

    journald listens on the standard paths; argv runs once journald reported READY=1,
    with env (default: this process's environment), stdin from /dev/null and its output
    captured.  Then ``journalctl --sync`` makes journald store everything sent so far,
    journald is stopped with SIGTERM, and the whole journal is read back with journalctl.
    The journal files stay in a fresh ``tmp_path/journald-*/journal`` directory.

    machine_id replaces /etc/machine-id inside the namespace (default: the host's, or a
    random one if the host has none); hostname gives the namespaces a UTS namespace of
    their own with that host name (journald stamps it on every entry as ``_HOSTNAME``);
    journald_settings are more ``[Journal]`` lines for journald.conf.  A non-zero exit
    status of argv is not an error (see returncode); exceeding timeout raises
    subprocess.TimeoutExpired; harness failures raise JournaldHarnessError with journald's
    log.
    """
    res = _run_in_namespace(
        "journald", argv, env, tmp_path, timeout, machine_id, hostname, journald_settings
    )
    journal_dir = res.work / "journal"
    try:
        entries = read_journal(journal_dir)
    except JournaldHarnessError as exc:
        raise JournaldHarnessError(f"{exc}\njournald log:\n{res.journald_log}") from exc
    return JournaldRun(
        returncode=res.returncode,
        stdout=res.stdout,
        stderr=res.stderr,
        entries=entries,
        journal_dir=journal_dir,
        journald_log=res.journald_log,
    )


def run_without_journald(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    tmp_path: Path,
    stale_socket: bool = False,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run argv in private namespaces where no journald is reachable.

    ``/run/systemd/journal`` is an empty tmpfs and ``/dev/log`` a dangling symlink to
    ``/run/systemd/journal/dev-log``, so connecting fails with ENOENT.  With
    stale_socket=True, ``socket``, ``stdout`` and ``dev-log`` exist there as unix sockets
    that nobody listens on (ECONNREFUSED), as after journald died.
    """
    mode = "stale" if stale_socket else "none"
    res = _run_in_namespace(mode, argv, env, tmp_path, timeout)
    return subprocess.CompletedProcess(list(argv), res.returncode, res.stdout, res.stderr)


# ---------------------------------------------------------------------------------------
# Inside the namespaces (run as: python -E -s journald.py --namespace-runner CONFIG).
# We are PID 1 of a new PID namespace with a private mount namespace and a fresh /proc.

_MS_RDONLY = 1
_MS_BIND = 4096
_MS_REC = 16384
_MNT_DETACH = 2


def _valid_machine_id(value: str) -> bool:
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


class _Mounter:
    """mount(2) wrapper that can create missing paths without touching the host."""

    def __init__(self, work: Path) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._work = work
        self._private: list[str] = []  # our tmpfs mounts: anything below is ours to change

    def mount(
        self, source: str, target: str, fstype: str | None, flags: int, data: str = ""
    ) -> None:
        rc: int = self._libc.mount(
            source.encode(),
            target.encode(),
            None if fstype is None else fstype.encode(),
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        )
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(
                err,
                f"mount({source!r}, {target!r}, {fstype!r}, {flags:#x}, {data!r}) failed: "
                f"{os.strerror(err)}",
            )

    def umount_detach(self, target: str) -> None:
        rc: int = self._libc.umount2(target.encode(), ctypes.c_int(_MNT_DETACH))
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"umount2({target!r}, MNT_DETACH) failed: {os.strerror(err)}")

    def tmpfs(self, target: str, mode: int = 0o755, flags: int = 0) -> None:
        self.mount("tmpfs", target, "tmpfs", flags, f"mode={mode:o}")
        self._private.append(target)

    def bind(self, source: str, target: str) -> None:
        self.mount(source, target, None, _MS_BIND | _MS_REC)

    def is_private(self, path: str) -> bool:
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self._private)

    def overlay_dir(self, directory: str, exclude: frozenset[str] = frozenset()) -> None:
        """Lay a tmpfs over directory, bind-mounting its entries (minus exclude) back."""
        st = os.stat(directory)
        save = tempfile.mkdtemp(prefix="save-", dir=self._work)
        self.bind(directory, save)
        try:
            self.mount(
                "tmpfs",
                directory,
                "tmpfs",
                0,
                f"mode={stat.S_IMODE(st.st_mode):o},uid={st.st_uid},gid={st.st_gid}",
            )
            self._private.append(directory)
            for name in sorted(os.listdir(save)):
                if name in exclude:
                    continue
                src = os.path.join(save, name)
                dst = os.path.join(directory, name)
                est = os.lstat(src)
                if stat.S_ISLNK(est.st_mode):
                    os.symlink(os.readlink(src), dst)
                    continue
                if stat.S_ISDIR(est.st_mode):
                    os.mkdir(dst)
                else:
                    os.close(os.open(dst, os.O_CREAT | os.O_WRONLY, 0o600))
                self.bind(src, dst)
        finally:
            self.umount_detach(save)
            os.rmdir(save)

    def ensure(self, path: str, *, directory: bool) -> None:
        """Make path exist in this namespace, creating it only on our own tmpfs mounts."""
        if os.path.lexists(path):
            return
        parent = os.path.dirname(path)
        self.ensure(parent, directory=True)
        if not self.is_private(parent):
            self.overlay_dir(parent)
        if directory:
            os.mkdir(path, 0o755)
        else:
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))

    def set_dev_log(self) -> None:
        """Make /dev/log a symlink to journald's dev-log socket, as systemd does."""
        try:
            current: str | None = os.readlink("/dev/log")
        except OSError:
            current = None
        if current == DEV_LOG_TARGET:
            return
        if not self.is_private("/dev"):
            self.overlay_dir("/dev", exclude=frozenset({"log"}))
        elif os.path.lexists("/dev/log"):
            os.unlink("/dev/log")
        os.symlink(DEV_LOG_TARGET, "/dev/log")


def _stale_socket(path: str) -> None:
    """Leave a unix socket file at path that nobody listens on."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)


def _set_hostname(name: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.sethostname(name.encode(), ctypes.c_size_t(len(name.encode()))) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"sethostname({name!r}) failed: {os.strerror(err)}")


def _setup_common(m: _Mounter, work: Path, machine_id: str | None) -> None:
    m.ensure(JOURNAL_SOCKET_DIR, directory=True)
    m.tmpfs(JOURNAL_SOCKET_DIR)
    m.set_dev_log()
    if machine_id is None:
        try:
            host_id = Path("/etc/machine-id").read_text().strip()
        except OSError:
            host_id = ""
        if not _valid_machine_id(host_id):
            machine_id = secrets.token_hex(16)
    if machine_id is not None:
        id_file = work / "machine-id"
        id_file.write_text(machine_id + "\n")
        m.ensure("/etc/machine-id", directory=False)
        m.mount(str(id_file), "/etc/machine-id", None, _MS_BIND)


def _setup_journald(m: _Mounter, work: Path, settings: str) -> None:
    seen: set[str] = set()
    for dropins in JOURNALD_DROPIN_DIRS:
        real = os.path.realpath(dropins)
        if os.path.isdir(real) and real not in seen:
            seen.add(real)
            m.mount("tmpfs", real, "tmpfs", _MS_RDONLY, "mode=755")
    conf = work / "journald.conf"
    conf.write_text(JOURNALD_CONFIG + settings)
    m.ensure(JOURNALD_CONF, directory=False)
    m.mount(str(conf), JOURNALD_CONF, None, _MS_BIND)
    journal = work / "journal"
    journal.mkdir(mode=0o755)
    m.ensure(RUNTIME_JOURNAL_DIR, directory=True)
    m.bind(str(journal), RUNTIME_JOURNAL_DIR)


def _wait_ready(journald: subprocess.Popen[bytes], notify: socket.socket, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if journald.poll() is not None:
            raise JournaldHarnessError(
                f"{JOURNALD} exited with status {journald.returncode} during startup; "
                f"its log:\n{_read_text(log)}"
            )
        if time.monotonic() > deadline:
            raise JournaldHarnessError(
                f"{JOURNALD} did not report READY=1 within {STARTUP_TIMEOUT:g}s; "
                f"its log:\n{_read_text(log)}"
            )
        try:
            data = notify.recv(65536)
        except socket.timeout:
            continue
        if b"READY=1" in data.split(b"\n") and os.path.exists(JOURNAL_SOCKET):
            return


def _stop(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM proc (journald flushes and closes its files on it), SIGKILL on timeout."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise JournaldHarnessError(
                f"{JOURNALD} ignored SIGTERM for {STOP_TIMEOUT:g}s and was killed"
            ) from None
    return proc.wait()


def _run_command(config: dict[str, Any], work: Path) -> dict[str, Any]:
    argv: list[str] = config["argv"]
    with open(work / "stdout", "wb") as out, open(work / "stderr", "wb") as err:
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=config["env"],
                timeout=config["timeout"],
                check=False,
            )
        except subprocess.TimeoutExpired:
            return {"returncode": None, "timed_out": True}
        except OSError as exc:
            raise JournaldHarnessError(f"cannot run {shlex.join(argv)}: {exc}") from exc
    return {"returncode": proc.returncode, "timed_out": False}


def _runner_journald(config: dict[str, Any], work: Path) -> dict[str, Any]:
    log = work / "journald.log"
    env = {
        "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
        "SYSTEMD_LOG_TARGET": "console",  # journald's own messages to stderr, not /dev/kmsg
        "SYSTEMD_LOG_LEVEL": "debug" if config["debug"] else "info",
        "SYSTEMD_PROC_CMDLINE": "",  # ignore systemd.journald.* on the host's command line
    }
    notify_name = f"pstore-test-journald-notify-{secrets.token_hex(8)}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind("\0" + notify_name)
        notify.settimeout(0.1)
        env["NOTIFY_SOCKET"] = "@" + notify_name
        with open(log, "wb") as log_file:
            journald = subprocess.Popen(
                [JOURNALD],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )
        try:
            _wait_ready(journald, notify, log)
            result = _run_command(config, work)
            if journald.poll() is not None:
                raise JournaldHarnessError(
                    f"{JOURNALD} died (status {journald.returncode}) while the command ran; "
                    f"its log:\n{_read_text(log)}"
                )
            # Returns once journald has written everything sent before it to the files.
            _run(["journalctl", "--sync"], timeout=SYNC_TIMEOUT)
            status = _stop(journald)
            if status != 0:
                raise JournaldHarnessError(
                    f"{JOURNALD} exited with status {status}; its log:\n{_read_text(log)}"
                )
        finally:
            if journald.poll() is None:
                journald.kill()
                journald.wait()
    return result


def _runner_main(args: list[str]) -> int:
    if len(args) != 2 or args[0] != "--namespace-runner":
        print("usage: journald.py --namespace-runner CONFIG.json", file=sys.stderr)
        return 2
    config: dict[str, Any] = json.loads(Path(args[1]).read_text())
    work = Path(config["work"])
    if os.getpid() != 1:
        print(
            "journald.py runner: not PID 1 of a new PID namespace, refusing to mount",
            file=sys.stderr,
        )
        return 2
    m = _Mounter(work)
    try:
        _setup_common(m, work, config["machine_id"])
        if config["hostname"] is not None:
            _set_hostname(config["hostname"])
        mode = config["mode"]
        if mode == "journald":
            _setup_journald(m, work, config["journald_settings"])
            result = _runner_journald(config, work)
        else:
            if mode == "stale":
                for name in ("socket", "stdout", "dev-log"):
                    _stale_socket(f"{JOURNAL_SOCKET_DIR}/{name}")
            result = _run_command(config, work)
    except (JournaldHarnessError, OSError) as exc:
        print(f"journald.py runner: {exc}", file=sys.stderr)
        return 1
    (work / "result.json").write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(_runner_main(sys.argv[1:]))
