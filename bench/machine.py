"""The machine, its load and the measured interpreter, described for the report."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from boot_namespace import Journald
from installed import Install

MiB = 1024 * 1024


def read_text(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def cpu_model() -> str:
    for line in read_text("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def mem_total() -> str:
    for line in read_text("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / MiB:.1f} GiB"
    return "unknown"


def filesystem_of(path: Path) -> str:
    """The type of the mount holding path (the longest mount point prefix)."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    for line in read_text("/proc/self/mounts").splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return f"{kind} ({best})"


def command_output(argv: Sequence[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


def git_revision(repo: Path) -> str:
    head = command_output(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"])
    if not head:
        return "unknown"
    dirty = command_output(
        ["git", "-C", str(repo), "status", "--porcelain", "--", "pstore_archiver"]
    )
    return f"{head} + uncommitted changes in pstore_archiver/" if dirty else head


def load() -> str:
    """The load averages and the I/O pressure: other work on the machine skews timings."""
    average = " ".join(read_text("/proc/loadavg").split()[:3])
    pressure = read_text("/proc/pressure/io").split("\n")[0].split()
    some = next((p.split("=")[1] for p in pressure if p.startswith("avg60=")), "?")
    return f"load {average}, I/O pressure (some, avg60) {some}%"


def cpu_busy() -> tuple[float, float]:
    """Seconds of CPU time the whole machine spent busy (not idle, not waiting for I/O) since
    boot, and this process's and its reaped children's (journald's included) share of it."""
    fields = read_text("/proc/stat").split("\n")[0].split()[1:]
    ticks = [int(f) for f in fields[:8]]
    busy = (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")
    t = os.times()
    return busy, t.user + t.system + t.children_user + t.children_system


def machine_info(repo: Path, workdir: Path, install: Install, isolation: str) -> dict[str, str]:
    systemd = command_output(["dpkg-query", "-W", "-f", "${Version}", "systemd"])
    python = install.python
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu_model(),
        "memory": mem_total(),
        "python": command_output([str(python), "-c", "import sys; print(sys.version.split()[0])"]),
        "python_binary": f"{python} -> {os.path.realpath(python)}",
        "kernel": platform.release(),
        "systemd": systemd or command_output(["systemctl", "--version"]).split("\n")[0],
        "workdir_fs": filesystem_of(workdir),
        "revision": git_revision(repo),
        "install": install.describe(),
        "isolation": isolation,
        "load_start": load(),
    }


def check_interpreter(python: Path, script: Path) -> None:
    """The measured python must be an ELF binary (a shim script would add ~100 ms), and the
    console script must start it directly."""
    real = os.path.realpath(python)
    with open(real, "rb") as f:
        magic = f.read(4)
    if magic != b"\x7fELF":
        raise SystemExit(f"{python} -> {real} is not an ELF binary (a shim?); cannot time it")
    with open(script, "rb") as f:
        shebang = f.readline().strip()
    if not shebang.startswith(b"#!") or shebang[2:].strip() != bytes(python):
        raise SystemExit(f"{script} starts {shebang!r}, not {python}")


def describe_isolation(inside: bool, journal: Journald | None) -> str:
    if not inside:
        return "none (not root): the host's pstore.conf and journald socket, if any, are used"
    where = (
        "private mount and PID namespaces: a fresh /run and /etc/systemd, pstore.conf = "
        "Storage=external Unlink=yes, no drop-ins; "
    )
    if journal is None:
        return where + "no journald (/run/systemd/journal empty)"
    return where + (
        "a private systemd-journald on the standard sockets, each run's stdout and stderr "
        "a journald stream (JOURNAL_STREAM set), `journalctl --sync` after each run"
    )


def cpu_other(before: tuple[float, float], after: tuple[float, float], wall: float) -> str:
    other = (after[0] - before[0]) - (after[1] - before[1])
    return f"{max(other, 0.0):.0f} CPU-seconds by other processes in {wall:.0f} s " + (
        f"({max(other, 0.0) / wall:.2f} cores on average)" if wall > 0 else ""
    )
