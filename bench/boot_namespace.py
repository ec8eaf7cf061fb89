"""Boot conditions for the benchmark: a private mount and PID namespace with a live journald.

As root the benchmark re-runs itself (`rerun_in_namespace`) as PID 1 of new mount and PID
namespaces (`unshare --mount --pid --fork --mount-proc --kill-child`).  There,
`prepare_namespace` lays out what a booting machine has and nothing of the host's:

* /run is a fresh tmpfs (the host's journald sockets, runtime drop-ins and the rest are out of
  sight), with an empty /run/systemd/journal for journald's sockets;
* /etc/systemd is a tmpfs holding only pstore.conf (Storage=external, Unlink=yes, as
  systemd-pstore ships) and journald.conf (tests/journald.py's: no rate limit, no forwarding),
  and every other pstore.conf.d and journald.conf.d directory is covered by an empty
  read-only tmpfs: these two files are the whole configuration;
* /run/log/journal is a bind mount of a directory of the work directory, so journald's files
  land on the file system the archive is written to, as /var/log/journal does on a booted
  machine;
* /etc/machine-id, if the host's is empty or invalid, is a random one.

`Journald.start` then starts the real /lib/systemd/systemd-journald there, as tests/journald.py
does (sd_notify READY=1 on a private socket), and both programs log to it: through
/run/systemd/journal/socket (their structured messages) and through a stdout stream connection
(`journal_stream`) that stands in for StandardOutput=journal, with JOURNAL_STREAM set as
systemd sets it for a service.  When the namespace's PID 1 (the benchmark) exits, the kernel
kills what is left in it, journald included; nothing on the host changes.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import journald
import systemd_pstore
from commands import CommandError, run_command

RUN = "/run"
ETC_SYSTEMD = "/etc/systemd"
MACHINE_ID = "/etc/machine-id"
JOURNAL_SOCKET_DIR = os.path.dirname(journald.JOURNAL_SOCKET)
JOURNAL_STDOUT = f"{JOURNAL_SOCKET_DIR}/stdout"
# systemd-pstore's own default configuration (pstore.conf as shipped).
PSTORE_CONFIG = "[PStore]\nStorage=external\nUnlink=yes\n"
STARTUP_TIMEOUT = 30.0  # journald's READY=1, on a busy machine
STOP_TIMEOUT = 60.0  # journald flushes and closes its files on SIGTERM
SYNC_TIMEOUT = 120.0  # journalctl --sync after 10,000 records with their FILE= payloads
# pstore-archiver's "a kmsg dump was archived" (DESIGN §7, units/pstore-archiver.catalog)
DUMP_ARCHIVED = "c060af52e3f04cf3bfa23f0f29a38cb5"


class NamespaceError(CommandError):
    """A mount, journald or journalctl failed; the message says which and shows its output."""


def rerun_in_namespace(argv: Sequence[str], env: Mapping[str, str]) -> int:
    """Run argv as PID 1 of new mount and PID namespaces; its exit status."""
    pid1 = ("--pid", "--fork", "--mount-proc", "--kill-child")
    cmd = ["unshare", "--mount", "--propagation", "private", *pid1, "--", *argv]
    return subprocess.run(cmd, env=dict(env), check=False).returncode


def mount(*args: str) -> None:
    run_command(["mount", *args], timeout=60, error=NamespaceError)


def tmpfs(target: str, *options: str) -> None:
    mount("-t", "tmpfs", "-o", ",".join(("mode=0755", *options)), "tmpfs", target)


def fresh_ext4(image: str, target: str, size_bytes: int) -> None:
    """A new ext4 file system, journal on (mkfs's defaults, as Debian's installer makes
    /var), in a sparse file of size_bytes, mounted at target through a loop device.  Its
    inode tables and journal are written now, not by ext4lazyinit during the runs."""
    with open(image, "wb") as f:
        f.truncate(size_bytes)
    lazy = "lazy_itable_init=0,lazy_journal_init=0"
    run_command(["mkfs.ext4", "-q", "-F", "-E", lazy, image], timeout=120, error=NamespaceError)
    os.mkdir(target)
    mount("-o", "loop", image, target)


def remove_ext4(image: str, target: str) -> None:
    """Unmount what fresh_ext4 mounted (the loop device goes with it) and delete it."""
    run_command(["umount", target], timeout=120, error=NamespaceError)
    os.rmdir(target)
    os.unlink(image)


def valid_machine_id(text: str) -> bool:
    value = text.strip()
    return len(value) == 32 and all(c in "0123456789abcdef" for c in value)


def prepare_namespace(work: Path) -> Path:
    """The mounts described above, in this (private) mount namespace; returns the directory
    that receives journald's files.  Only for PID 1 of a new PID namespace."""
    if os.getpid() != 1:
        raise NamespaceError("prepare_namespace: not PID 1 of a new PID namespace, refusing")
    if work.resolve().is_relative_to(RUN):
        raise NamespaceError(f"the work directory {work} would be hidden under {RUN}: --workdir")
    if not os.path.isdir(ETC_SYSTEMD):
        raise NamespaceError(f"{ETC_SYSTEMD} does not exist: install systemd (scripts/setup)")
    etc = work / "etc-systemd"
    etc.mkdir()
    (etc / os.path.basename(systemd_pstore.PSTORE_CONF)).write_text(PSTORE_CONFIG)
    (etc / os.path.basename(journald.JOURNALD_CONF)).write_text(journald.JOURNALD_CONFIG)
    # the drop-in directories first: one may be a link into /etc/systemd (hidden next)
    covered: set[str] = set()
    for dropins in (*systemd_pstore.PSTORE_DROPIN_DIRS, *journald.JOURNALD_DROPIN_DIRS):
        real = os.path.realpath(dropins)
        outside = not real.startswith((RUN + "/", ETC_SYSTEMD + "/"))
        if outside and os.path.isdir(real) and real not in covered:
            covered.add(real)
            tmpfs(real, "ro")
    tmpfs(ETC_SYSTEMD)
    for conf in etc.iterdir():
        shutil.copyfile(conf, Path(ETC_SYSTEMD) / conf.name)
    tmpfs(RUN)
    os.makedirs(JOURNAL_SOCKET_DIR)
    journal = work / "journal"
    journal.mkdir()
    os.makedirs(journald.RUNTIME_JOURNAL_DIR)
    mount("--bind", str(journal), journald.RUNTIME_JOURNAL_DIR)
    try:
        machine_id = Path(MACHINE_ID).read_text()
    except FileNotFoundError:
        raise NamespaceError(
            f"{MACHINE_ID} is missing: journald needs one (systemd-machine-id-setup)"
        ) from None
    if not valid_machine_id(machine_id):
        fake = work / "machine-id"
        fake.write_text(secrets.token_hex(16) + "\n")
        mount("--bind", str(fake), MACHINE_ID)
    return journal


def hide_journal() -> None:
    """For comparisons only: an empty /run/systemd/journal, as with no journald (the previous
    benchmark's condition).  Call after prepare_namespace."""
    tmpfs(JOURNAL_SOCKET_DIR)


@dataclass
class Journald:
    """A systemd-journald running in this namespace, and where its files are."""

    process: subprocess.Popen[bytes]
    directory: Path
    log: Path

    @classmethod
    def start(cls, directory: Path, log: Path) -> Journald:
        """Start journald (as tests/journald.py does) and wait for its READY=1."""
        name = f"pstore-bench-journald-{secrets.token_hex(8)}"
        env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "SYSTEMD_LOG_TARGET": "console",  # its own messages to its log, not /dev/kmsg
            "SYSTEMD_LOG_LEVEL": "info",
            "SYSTEMD_PROC_CMDLINE": "",  # systemd.journald.* on the host's command line: no
            "NOTIFY_SOCKET": "@" + name,
        }
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
            notify.bind("\0" + name)
            notify.settimeout(0.1)
            with open(log, "wb") as out:
                process = subprocess.Popen(
                    [journald.JOURNALD],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            self = cls(process, directory, log)
            try:
                self.wait_ready(notify)
            except BaseException:
                self.kill()
                raise
        return self

    def wait_ready(self, notify: socket.socket) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise NamespaceError(
                    f"{journald.JOURNALD} exited with status "
                    f"{self.process.returncode} at start:\n{self.log_text()}"
                )
            if time.monotonic() > deadline:
                raise NamespaceError(
                    f"{journald.JOURNALD} sent no READY=1 within "
                    f"{STARTUP_TIMEOUT:g} s:\n{self.log_text()}"
                )
            try:
                data = notify.recv(65536)
            except socket.timeout:
                continue
            if b"READY=1" in data.split(b"\n") and os.path.exists(journald.JOURNAL_SOCKET):
                return

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"

    def sync(self) -> None:
        """Return once journald has stored everything sent to it so far."""
        if self.process.poll() is not None:
            raise NamespaceError(
                f"{journald.JOURNALD} died (status {self.process.returncode}):\n{self.log_text()}"
            )
        run_command(["journalctl", "--sync"], timeout=SYNC_TIMEOUT, error=NamespaceError)

    def stop(self) -> None:
        """Sync, then SIGTERM (journald closes its files); its exit status must be 0."""
        self.sync()
        self.process.send_signal(signal.SIGTERM)
        try:
            status = self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise NamespaceError(
                f"{journald.JOURNALD} ignored SIGTERM for {STOP_TIMEOUT:g} s"
            ) from None
        if status != 0:
            raise NamespaceError(
                f"{journald.JOURNALD} exited with status {status}:\n{self.log_text()}"
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def journal_stream(identifier: str) -> tuple[int, str]:
    """A stream connection to journald, as systemd makes for a service's stdout and stderr
    (StandardOutput=journal): the socket (a file descriptor, close-on-exec) and the value of
    JOURNAL_STREAM for it.  The header is the one systemd's executor sends: identifier, unit,
    priority 6, level prefix on, no forwarding to syslog, kmsg or console."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(JOURNAL_STDOUT)
        sock.shutdown(socket.SHUT_RD)
        sock.sendall(f"{identifier}\n\n6\n1\n0\n0\n0\n".encode())
        st = os.fstat(sock.fileno())
    except OSError:
        sock.close()
        raise
    return sock.detach(), f"{st.st_dev}:{st.st_ino}"


@dataclass(frozen=True)
class JournalCount:
    """What the private journal received: pstore-archiver's dump-archived messages and
    systemd-pstore's per-record "PStore <name> moved to ..." messages."""

    archiver_dumps: int
    archiver_all: int
    systemd_pstore_records: int
    systemd_pstore_all: int
    journal_bytes: int


def count_journal(directory: Path) -> JournalCount:
    ours = journald.read_journal(
        directory, "--output-fields=MESSAGE_ID", "SYSLOG_IDENTIFIER=pstore-archiver"
    )
    theirs = journald.read_journal(
        directory, "--output-fields=MESSAGE", "SYSLOG_IDENTIFIER=systemd-pstore"
    )
    moved = [e for e in theirs if str(e.get("MESSAGE", "")).startswith("PStore ")]
    size = sum(p.stat().st_size for p in directory.rglob("*.journal*"))
    return JournalCount(
        archiver_dumps=sum(1 for e in ours if e.get("MESSAGE_ID") == DUMP_ARCHIVED),
        archiver_all=len(ours),
        systemd_pstore_records=len(moved),
        systemd_pstore_all=len(theirs),
        journal_bytes=size,
    )
