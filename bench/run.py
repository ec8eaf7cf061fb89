"""Benchmark pstore-archiver against systemd-pstore and the interpreter's own start-up.

    bench/run            # about 4-5 minutes on 2 cores
    bench/run --quick    # sizes up to 1,000, fewer repetitions

Every command runs as a child process on a fresh copy of the same store, timed from spawn to
exit (`os.posix_spawn` + `os.wait4`); its peak RSS comes from separate runs under GNU time
(see `spawn` for why not from wait4).  Results: a table on stdout and in bench/RESULTS.md
(committed), everything with the raw samples in bench/results/latest.json (ignored by git),
and a full run (not --quick) rewrites the Performance table of README.md.

Conditions (what users run, as at boot):

* pstore-archiver is an installed build: a wheel of the checkout installed, non-editable and
  with its dependencies, into a venv of its own outside the checkout (bench/installed.py), run
  through its console script `<venv>/bin/pstore-archiver` (what `ExecStart=` runs) from a
  work directory outside the checkout, with PSTORE_ARCHIVER_CONFIG naming a copy of the
  shipped conf/pstore-archiver.toml (every key commented out, as the packages install it:
  the defaults, and no host configuration).  Before measuring, `python -v` of that command shows
  that every module of the package comes from the venv (bench/installed.py).  The floor is
  that venv's python (`-c pass`, `-S -c pass`); `python -m pstore_archiver` is timed too.
* systemd-pstore runs as `/lib/systemd/systemd-pstore SRC DST`.
* As root, the whole benchmark re-runs itself as PID 1 of private mount and PID namespaces
  with a real systemd-journald listening on the standard sockets, pstore.conf =
  Storage=external, Unlink=yes and nothing of the host's /run (bench/boot_namespace.py).
  Each run's stdout and stderr are a journald stream with JOURNAL_STREAM set, as systemd
  gives a service; `journalctl --sync` after each run keeps journald's backlog out of the
  next run.  At the end the journal is read back: the count of pstore-archiver's
  dump-archived messages and of systemd-pstore's per-record messages must match what the
  runs sent.  Without root it runs as is (host configuration, host journald if any) and says so.
* Work directories are made under --workdir (default: the system temporary directory) and
  removed afterwards; the file system type is printed, since every fsync counts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import math
import os
import platform
import pstats
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

# bench/ is first on sys.path (this script's directory); tests/ is not a package: import
# its store builders and harness helpers the way pytest does (and mypy, via mypy_path)
sys.path.insert(0, str(REPO / "tests"))
import boot_namespace  # noqa: E402
import installed  # noqa: E402
import journald  # noqa: E402
import stores  # noqa: E402
import systemd_pstore  # noqa: E402
from boot_namespace import Journald  # noqa: E402
from installed import Install  # noqa: E402

DEV_PYTHON = REPO / ".venv" / "bin" / "python"  # runs this benchmark and pip, never measured
SYSTEMD_PSTORE = Path(systemd_pstore.SYSTEMD_PSTORE)
INSTALL_ENV = "PSTORE_BENCH_INSTALL"  # the Install, handed to the re-run in the namespace
README = REPO / "README.md"
README_BEGIN = "<!-- bench/run: performance table -->"
README_END = "<!-- bench/run: end -->"
RESULTS_DIR = BENCH / "results"
RESULTS_MD = BENCH / "RESULTS.md"
ISOLATED_ENV = "PSTORE_BENCH_ISOLATED"
GNU_TIME = "/usr/bin/time"
MiB = 1024 * 1024
RSS_REPS = 2  # runs under GNU time per case, for the peak RSS
LARGE = 1_000  # from this many records, every timed run is also an RSS run (under GNU time)
BASE_TIME = 1_795_000_000  # 2026-11-18: the synthetic crashes are 2 minutes apart from here
DUMP_SPACING_S = 120  # more than dumps.PART_GAP_NS: consecutive dumps never merge
LINES_PER_PART = 26  # the real EFI capture: 394 log lines in 15 parts of ~1.8 KB
# The scale store's mix, repeated: (backend or kind, records).  22 records, 5 entries a round.
MIX: tuple[tuple[str, int], ...] = (
    ("erst", 3),
    ("erst", 2),
    ("console", 1),
    ("pmsg", 1),
    ("efi", 15),
)
NLOGN_SLOPE_1K_10K = 1 + math.log10(math.log(10_000) / math.log(1_000))  # 1.125
SLOPE_TOLERANCE = 0.05  # noise allowance on top of n log n


# --- machine and environment -------------------------------------------------------------


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


def git_revision() -> str:
    head = command_output(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    if not head:
        return "unknown"
    dirty = command_output(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "pstore_archiver"]
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


def machine_info(workdir: Path, install: Install, isolation: str) -> dict[str, str]:
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
        "revision": git_revision(),
        "install": install.describe(),
        "isolation": isolation,
        "load_start": load(),
    }


def check_interpreter(install: Install) -> None:
    """The measured python must be an ELF binary (a shim script would add ~100 ms), and the
    console script must start it directly."""
    real = os.path.realpath(install.python)
    with open(real, "rb") as f:
        magic = f.read(4)
    if magic != b"\x7fELF":
        raise SystemExit(
            f"{install.python} -> {real} is not an ELF binary (a shim?); cannot time it"
        )
    with open(install.script, "rb") as f:
        shebang = f.readline().strip()
    if shebang != b"#!" + bytes(install.python):
        raise SystemExit(f"{install.script} starts {shebang!r}, not {install.python}")


# --- running one command -----------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall_s: float
    exit_code: int
    cpu_s: float = math.nan  # user + system time of the child and what it reaped (wait4)


def spawn(
    argv: Sequence[str],
    env: Mapping[str, str],
    stderr_path: Path | None = None,
    output_fd: int | None = None,
) -> Sample:
    """Run argv (an absolute path first) with stdin on /dev/null and stdout and stderr on
    output_fd (a journald stream) or /dev/null, stderr to a file if given; the wall time
    from spawn to reaping.

    The child's ru_maxrss is not used: posix_spawn starts it with vfork, and at execve
    the kernel folds the high-water mark of the mm it leaves (this benchmark's, ~19 MiB)
    into the child's maxrss.  `spawn_rss` measures it through a small launcher."""
    actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
    if output_fd is None:
        actions.append((os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0))
    else:
        actions.append((os.POSIX_SPAWN_DUP2, output_fd, 1))
    if stderr_path is not None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        actions.append((os.POSIX_SPAWN_OPEN, 2, str(stderr_path), flags, 0o644))
    elif output_fd is None:
        actions.append((os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0))
    else:
        actions.append((os.POSIX_SPAWN_DUP2, output_fd, 2))
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], list(argv), dict(env), file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return Sample(wall, os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime)


def spawn_rss(
    argv: Sequence[str], env: Mapping[str, str], scratch: Path, output_fd: int | None = None
) -> tuple[Sample, int]:
    """Run argv under GNU time, which forks it from its own small process, so that only
    the program's own pages count: the sample (wall time including GNU time's ~1 ms) and
    the peak RSS in KiB (-1 without /usr/bin/time)."""
    if not os.access(GNU_TIME, os.X_OK):
        return spawn(argv, env, output_fd=output_fd), -1
    report = scratch / "rss.txt"
    sample = spawn([GNU_TIME, "-f", "%M", "-o", str(report), *argv], env, output_fd=output_fd)
    try:
        return sample, int(report.read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return sample, -1


@dataclass
class Series:
    """The samples of one command on one input."""

    label: str
    samples: list[Sample] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)  # separate runs under GNU time

    @property
    def walls(self) -> list[float]:
        return [s.wall_s for s in self.samples]

    @property
    def median_s(self) -> float:
        return statistics.median(self.walls)

    @property
    def min_s(self) -> float:
        return min(self.walls)

    @property
    def cpu_median_s(self) -> float:
        """The median CPU time (user + system): unlike the wall time, it does not grow
        while other work on a busy machine keeps the program off the CPU."""
        return statistics.median(s.cpu_s for s in self.samples)

    @property
    def max_rss_mib(self) -> float:
        """The largest peak RSS seen; NaN when not measured."""
        return max(self.rss_kib) / 1024 if self.rss_kib and min(self.rss_kib) > 0 else math.nan

    @property
    def exit_codes(self) -> list[int]:
        return sorted({s.exit_code for s in self.samples})

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "median_s": self.median_s,
            "min_s": self.min_s,
            "cpu_median_s": self.cpu_median_s,
            "max_rss_mib": self.max_rss_mib,
            "exit_codes": self.exit_codes,
            "samples": [asdict(s) for s in self.samples],
            "rss_kib": self.rss_kib,
        }


class Runner:
    """Builds fresh stores and runs the contenders on them, each as a service would run."""

    def __init__(
        self,
        workdir: Path,
        install: Install,
        journal: Journald | None,
        editable: Install | None = None,
    ) -> None:
        self.workdir = workdir
        self.install = install
        self.journal = journal
        self.editable = editable  # also timed in the boot path, for comparison
        self.tools = (*TOOLS, *EDITABLE_TOOLS) if editable else TOOLS
        self.env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(workdir),
            "PSTORE_ARCHIVER_CONFIG": str(workdir / "pstore-archiver.toml"),
            "SYSTEMD_LOG_COLOR": "0",
        }
        if journal is None:  # its own log to stderr (/dev/null), not /dev/kmsg
            self.env["SYSTEMD_LOG_TARGET"] = "console"
        self.counter = 0
        self.site_packages = install.venv  # where the package was imported from: set by main
        self.problems: list[str] = []
        self.plans: dict[str, list[dict[str, Any]]] = {}  # store key -> dry-run entries
        # what the runs sent to the journal: pstore-archiver's dump-archived messages (one a
        # dump entry) and systemd-pstore's "PStore <name> moved to" messages (one a record)
        self.sent = {"archiver_dumps": 0, "systemd_pstore_records": 0}
        # the shipped configuration, as the packages install it: every key commented out
        shutil.copyfile(REPO / "conf" / "pstore-archiver.toml", workdir / "pstore-archiver.toml")

    def fresh(self, name: str) -> Path:
        self.counter += 1
        return self.workdir / f"{self.counter:05d}-{name}"

    def archiver(self, *args: str) -> list[str]:
        """The installed console script, as the unit's ExecStart= runs it."""
        return [str(self.install.script), *args]

    def command(self, tool: str, store: Path, archive: Path) -> list[str]:
        python = str(self.install.python)
        run = ["--source", str(store), "--archive", str(archive), "run"]
        if tool == "floor":
            return [python, "-c", "pass"]
        if tool == "floor -S":
            return [python, "-S", "-c", "pass"]
        if tool == "pstore-archiver":
            return self.archiver(*run)
        if tool == "python -m":
            return [python, "-m", "pstore_archiver", *run]
        if tool == "systemd-pstore":
            return [str(SYSTEMD_PSTORE), str(store), str(archive)]
        if tool == "editable" and self.editable is not None:
            return [str(self.editable.script), *run]
        if tool == "floor (.venv)" and self.editable is not None:
            return [str(self.editable.python), "-c", "pass"]
        raise ValueError(tool)

    def service(
        self, tool: str, argv: Sequence[str], mode: str = "time", stderr_path: Path | None = None
    ) -> tuple[Sample, int]:
        """Run argv as systemd runs a service: stdout and stderr on a journald stream, with
        JOURNAL_STREAM (when journald listens); then wait until journald has stored what it
        was sent, so that its work does not spill into the next run.  mode "time": timed
        directly (no RSS: -1); "rss": under GNU time."""
        fd, env = None, self.env
        if self.journal is not None:
            identifier = "python" if tool.startswith("floor") else IDENTIFIERS[tool]
            fd, stream = boot_namespace.journal_stream(identifier)
            env = {**self.env, "JOURNAL_STREAM": stream}
        try:
            if mode == "time":
                result = spawn(argv, env, stderr_path, fd), -1
            else:
                result = spawn_rss(argv, env, self.workdir, fd)
        finally:
            if fd is not None:
                os.close(fd)
        if self.journal is not None:
            self.journal.sync()
        return result

    def expect(self, tool: str, key: str, records: Sequence[stores.FakeRecord]) -> None:
        """Count the journal messages a run of tool on this store sends."""
        if tool in ARCHIVERS:
            plan = self.plan(key, records)
            self.sent["archiver_dumps"] += sum(1 for e in plan if e.get("kind") == "dmesg")
        elif tool == "systemd-pstore":
            self.sent["systemd_pstore_records"] += len(records)

    def plan(self, key: str, records: Sequence[stores.FakeRecord]) -> list[dict[str, Any]]:
        """The entries pstore-archiver makes of these records (`run --dry-run --json`, which
        sends nothing to the journal), once per store key."""
        if key in self.plans:
            return self.plans[key]
        store = stores.write_store(self.fresh("store"), records)
        argv = self.archiver("--source", str(store), "--archive", str(self.fresh("a")), "run")
        done = subprocess.run(
            [*argv, "--dry-run", "--json"],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            check=False,
        )
        shutil.rmtree(store)
        try:
            entries: list[dict[str, Any]] = json.loads(done.stdout)["entries"]
        except (ValueError, KeyError, TypeError):
            self.problems.append(
                f"{key}: `run --dry-run --json` exit {done.returncode}, "
                f"no entries: {done.stderr[-300:]!r}"
            )
            entries = []
        self.plans[key] = entries
        return entries

    def run_store(
        self,
        tool: str,
        key: str,
        records: Sequence[stores.FakeRecord],
        series: Series,
        mode: str = "time",
    ) -> None:
        """One fresh copy of the store, one run of `tool` on it, checked, cleaned up.
        mode "time": timed directly; "rss": under GNU time for the peak RSS only; "both":
        under GNU time, timed too (for runs of seconds, where its ~1 ms does not matter).
        The file system is synced first, so no run pays for an earlier one's writes."""
        store = stores.write_store(self.fresh("store"), records)
        archive = self.fresh("archive")
        argv = self.command(tool, store, archive)
        self.expect(tool, key, records)
        os.sync()
        sample, rss = self.service(tool, argv, "time" if mode == "time" else "rss")
        if mode != "time":
            series.rss_kib.append(rss)
        if mode != "rss":
            series.samples.append(sample)
        left = os.listdir(store)
        if not tool.startswith("floor") and (sample.exit_code != 0 or left):
            self.problems.append(
                f"{series.label}: exit {sample.exit_code}, {len(left)} records left in the store"
            )
        shutil.rmtree(store)
        shutil.rmtree(archive, ignore_errors=True)


# --- stores ------------------------------------------------------------------------------


def efi_part_number(name: str) -> int:
    return (int(name.rsplit("-", 1)[1]) // 1000) % 100


def capture_lines() -> list[bytes]:
    parts = sorted(stores.fixture_records("efi-panic"), key=lambda r: -efi_part_number(r.name))
    lines: list[bytes] = []
    for part in parts:
        lines += part.data.split(b"\n", 1)[1].splitlines(keepends=True)
    return lines


def mixed_store(total: int, lines: Sequence[bytes]) -> list[stores.FakeRecord]:
    """Exactly `total` records: the rounds of MIX (ERST Oops/Panic dumps of 3 and 2 parts,
    a ramoops console and pmsg record, a 15-part EFI panic), each dump ~1.8 KB a part from
    the real capture's newest lines, every dump 2 minutes after the previous one.  The
    last dump is cut to the records still wanted."""
    records: list[stores.FakeRecord] = []
    index = 0
    while len(records) < total:
        kind, parts = MIX[index % len(MIX)]
        parts = min(parts, total - len(records))
        when = BASE_TIME + index * DUMP_SPACING_S
        count = index % 999 + 1
        dump_lines = lines[-parts * LINES_PER_PART :]
        if kind == "efi":
            records += stores.efi_dump("Panic", count, dump_lines, parts, [when] * parts)
        elif kind == "erst":
            reason = "Oops" if parts == 3 else "Panic"
            datas = stores.split_dump(reason, count, dump_lines, parts)
            records += stores.erst_records(when, 1, datas, when)
        elif kind == "console":
            text = b"".join(dump_lines)
            records.append(stores.FakeRecord(f"console-ramoops-{index}", text, when))
        else:
            data = bytes(range(256)) * 4
            records.append(stores.FakeRecord(f"pmsg-ramoops-{index}", data, when))
        index += 1
    return records


def one_record_entries(total: int, lines: Sequence[bytes]) -> list[stores.FakeRecord]:
    """`total` records that become `total` entries: single-part ramoops dumps (3 in 4,
    with the real panic) and console records, a minute apart, distinct ids."""
    body = b"".join(lines[-LINES_PER_PART:])
    records = []
    for i in range(total):
        when = BASE_TIME + i * 60
        if i % 4 == 3:
            records.append(stores.FakeRecord(f"console-ramoops-{i}", body, when))
        else:
            data = f"Panic#{i % 999 + 1} Part1\n".encode() + body
            records.append(stores.FakeRecord(f"dmesg-ramoops-{i}", data, when))
    return records


# --- the measurements --------------------------------------------------------------------


@dataclass
class Results:
    machine: dict[str, str]
    command: str
    started: str
    boot: dict[str, dict[str, Series]] = field(default_factory=dict)  # store -> tool -> series
    importtime: dict[str, Any] = field(default_factory=dict)
    scale: dict[int, dict[str, Series]] = field(default_factory=dict)
    scale_entries: dict[int, int] = field(default_factory=dict)
    query: dict[str, Series] = field(default_factory=dict)
    query_build: Series | None = None
    query_entries: int = 0
    profiles: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    journal: dict[str, int] = field(default_factory=dict)  # received, sent; empty: no journald
    variant: str = ""  # "": the real thing; else what this comparison run changed


TOOLS = ("floor", "floor -S", "pstore-archiver", "python -m", "systemd-pstore")
EDITABLE_TOOLS = ("editable", "floor (.venv)")  # --editable: the development venv, to compare
CONTENDERS = ("pstore-archiver", "systemd-pstore")
ARCHIVERS = ("pstore-archiver", "python -m", "editable")
IDENTIFIERS = {
    "pstore-archiver": "pstore-archiver",
    "python -m": "pstore-archiver",
    "editable": "pstore-archiver",
    "systemd-pstore": "systemd-pstore",
}


def measure_boot(runner: Runner, reps: int, results: Results) -> None:
    """Empty store, the seed ERST store, the real 15-part EFI store; interleaved reps."""
    inputs: dict[str, list[stores.FakeRecord]] = {
        "empty store (0 records)": [],
        "seed ERST store (5 records)": stores.seed_erst_store(),
        "real EFI panic (15 records)": stores.fixture_records("efi-panic"),
    }
    for label, records in inputs.items():
        group = {tool: Series(f"{label}: {tool}") for tool in runner.tools}
        for tool in runner.tools:  # warm-up, not counted: byte-code caches, page cache
            runner.run_store(tool, label, records, Series("warm-up"))
        for _ in range(reps):
            for tool in runner.tools:
                runner.run_store(tool, label, records, group[tool])
        for _ in range(RSS_REPS):
            for tool in runner.tools:
                runner.run_store(tool, label, records, group[tool], mode="rss")
        results.boot[label] = group
        progress(f"boot: {label}: " + ", ".join(f"{t} {ms(s.median_s)}" for t, s in group.items()))


@dataclass(frozen=True)
class ImportRow:
    module: str
    depth: int  # 0: imported by the program itself; n: nested n imports deep
    self_us: int
    cumulative_us: int
    parent: str  # the module whose import pulled this one in ("" at depth 0)


def parse_importtime(text: str) -> list[ImportRow]:
    """The `-X importtime` lines, in order.  A module is printed after its children, so
    the parent of a line at depth d is the next line at depth d - 1."""
    parsed: list[tuple[str, int, int, int]] = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line.split(":", 1)[1].split("|", 2)
        name = name[1:] if name.startswith(" ") else name
        depth = (len(name) - len(name.lstrip(" "))) // 2
        parsed.append((name.strip(), depth, int(self_us), int(cumulative_us)))
    parents = [""] * len(parsed)
    waiting: list[int] = []  # rows whose parent is not printed yet
    for index, (name, depth, _, _) in enumerate(parsed):
        for child in [w for w in waiting if parsed[w][1] == depth + 1]:
            parents[child] = name
            waiting.remove(child)
        waiting.append(index)
    return [ImportRow(*row, parent) for row, parent in zip(parsed, parents)]


def measure_importtime(runner: Runner, reps: int, results: Results) -> None:
    """`-X importtime` of the run path on the seed store; per module, the median of reps."""
    records = stores.seed_erst_store()
    per_module: dict[str, list[ImportRow]] = {}
    totals: list[int] = []
    floor_totals: list[int] = []
    log = runner.workdir / "importtime.txt"
    python = str(runner.install.python)
    for _ in range(reps):
        store = stores.write_store(runner.fresh("store"), records)
        archive = runner.fresh("archive")
        argv = [python, "-X", "importtime", str(runner.install.script)]
        argv += ["--source", str(store), "--archive", str(archive), "run"]
        runner.expect("pstore-archiver", "seed ERST store (5 records)", records)
        runner.service("pstore-archiver", argv, stderr_path=log)
        rows = parse_importtime(log.read_text())
        totals.append(sum(r.self_us for r in rows))
        for row in rows:
            per_module.setdefault(row.module, []).append(row)
        runner.service("floor", [python, "-X", "importtime", "-c", "pass"], stderr_path=log)
        floor_totals.append(sum(r.self_us for r in parse_importtime(log.read_text())))
        shutil.rmtree(store)
        shutil.rmtree(archive, ignore_errors=True)
    modules = [
        ImportRow(
            name,
            rows[0].depth,
            int(statistics.median(r.self_us for r in rows)),
            int(statistics.median(r.cumulative_us for r in rows)),
            rows[0].parent,
        )
        for name, rows in per_module.items()
    ]
    modules.sort(key=lambda m: -m.cumulative_us)
    package = [m for m in modules if m.module.startswith("pstore_archiver")]
    results.importtime = {
        "reps": reps,
        "total_us": int(statistics.median(totals)),
        "floor_total_us": int(statistics.median(floor_totals)),
        "modules": len(modules),
        "package_self_us": sum(m.self_us for m in package),
        "top_cumulative": [asdict(m) for m in modules[:10]],
        "top_self": [asdict(m) for m in sorted(modules, key=lambda m: -m.self_us)[:10]],
        "all": [asdict(m) for m in modules],
    }
    progress(f"importtime: total {results.importtime['total_us'] / 1000:.1f} ms")


def scale_reps(n: int, base: int) -> int:
    if n >= 10_000:
        return max(1, min(base, 2))
    if n >= 1_000:
        return max(1, min(base, 5))
    return base


def measure_scale(runner: Runner, sizes: Sequence[int], reps: int, results: Results) -> None:
    lines = capture_lines()
    for n in sizes:
        records = mixed_store(n, lines)
        assert len(records) == n
        key = f"mixed store of {n} records"
        group = {tool: Series(f"{n} records: {tool}") for tool in CONTENDERS}
        large = n >= LARGE
        for _ in range(scale_reps(n, reps)):
            for tool in CONTENDERS:
                mode = "both" if large else "time"
                runner.run_store(tool, key, records, group[tool], mode=mode)
        if not large:
            for tool in CONTENDERS:
                runner.run_store(tool, key, records, group[tool], mode="rss")
        results.scale[n] = group
        results.scale_entries[n] = len(runner.plan(key, records))
        progress(f"scale: {n}: " + ", ".join(f"{t} {ms(s.median_s)}" for t, s in group.items()))


def measure_query(runner: Runner, n: int, reps: int, results: Results) -> Path:
    """Build an archive of n entries with one `run`, then time list (cold, warm, --json)
    and info; returns the archive (kept for the profile)."""
    records = one_record_entries(n, capture_lines())
    runner.expect("pstore-archiver", f"{n} one-entry records", records)
    store = stores.write_store(runner.fresh("store"), records)
    archive = runner.workdir / "archive-10k"
    build = Series(f"run: {n:,} records, one entry each")
    argv = runner.archiver("--source", str(store), "--archive", str(archive), "run")
    os.sync()
    sample, rss = runner.service("pstore-archiver", argv, "rss")  # one run: RSS and time
    build.samples.append(sample)
    build.rss_kib.append(rss)
    results.query_build = build
    results.query_entries = sum(1 for p in archive.iterdir() if not p.name.startswith("."))
    if os.listdir(store) or build.samples[0].exit_code != 0:
        runner.problems.append(f"{build.label}: exit {build.samples[0].exit_code}")
    shutil.rmtree(store)
    base = runner.archiver("--archive", str(archive))
    commands = {
        "list (cold: no .index.json)": [*base, "list"],
        "list (warm)": [*base, "list"],
        "list --json (warm)": [*base, "list", "--json"],
        "info (newest, warm)": [*base, "info"],
    }
    series = {label: Series(label) for label in commands}
    index = archive / ".index.json"
    for rep in range(reps + RSS_REPS):
        for label, argv in commands.items():
            if "cold" in label:
                index.unlink(missing_ok=True)
            if rep < reps:
                series[label].samples.append(spawn(argv, runner.env))
            else:
                series[label].rss_kib.append(spawn_rss(argv, runner.env, runner.workdir)[1])
    for s in series.values():
        if s.exit_codes != [0]:
            runner.problems.append(f"{s.label} over {n} entries: exit {s.exit_codes}")
    results.query = series
    progress(
        f"query over {results.query_entries} entries: "
        + ", ".join(f"{label} {ms(s.median_s)}" for label, s in series.items())
    )
    return archive


def profile(
    runner: Runner, args: Sequence[str], name: str, top: int, service: bool
) -> dict[str, list[dict[str, Any]]]:
    """cProfile of one child run of the console script with args (as a service: a `run`;
    else from a terminal); the top functions by cumulative and by own time."""
    out = runner.workdir / f"{name}.prof"
    argv = [str(runner.install.python), "-m", "cProfile", "-o", str(out), *runner.archiver(*args)]
    if service:
        runner.service("pstore-archiver", argv)
    else:
        spawn(argv, runner.env)
    stats = pstats.Stats(str(out), stream=io.StringIO())
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw = stats.stats  # type: ignore[attr-defined]
    prefixes = (f"{runner.site_packages}/", f"{REPO}/", f"{sys.base_prefix}/")
    rows: list[dict[str, Any]] = [
        {
            "function": f"{shorten(path, prefixes)}:{line}({func})",
            "calls": calls,
            "tottime_s": tottime,
            "cumtime_s": cumtime,
        }
        for (path, line, func), (_, calls, tottime, cumtime, _) in raw.items()
        if not is_wrapper(path, func, str(runner.install.script))
    ]
    return {
        "cumulative": sorted(rows, key=lambda r: -float(r["cumtime_s"]))[:top],
        "tottime": sorted(rows, key=lambda r: -float(r["tottime_s"]))[:top],
    }


def is_wrapper(path: str, func: str, script: str) -> bool:
    """Frames that only wrap the whole run (cProfile's exec, the console script)."""
    return (
        path in ("<string>", "<frozen runpy>", script)
        or path.endswith("pstore_archiver/__main__.py")
        or func == "<built-in method builtins.exec>"
    )


def shorten(path: str, prefixes: Sequence[str]) -> str:
    for prefix in prefixes:
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def measure_profiles(runner: Runner, n: int, archive: Path | None, results: Results) -> None:
    seed = "seed ERST store (5 records)"
    for key, name, records in (
        (
            f"mixed store of {n} records",
            f"run, {n:,} records (mixed store)",
            mixed_store(n, capture_lines()),
        ),
        (seed, f"run, {seed}", stores.seed_erst_store()),
    ):
        store = stores.write_store(runner.fresh("store"), records)
        target = runner.fresh("archive")
        runner.expect("pstore-archiver", key, records)
        args = ["--source", str(store), "--archive", str(target), "run"]
        results.profiles[name] = profile(runner, args, f"run-{runner.counter}", 15, service=True)
        shutil.rmtree(store)
        shutil.rmtree(target, ignore_errors=True)
    if archive is not None:
        (archive / ".index.json").unlink(missing_ok=True)
        args = ["--archive", str(archive), "list"]
        for state in ("cold", "warm"):
            results.profiles[f"list ({state}), {results.query_entries:,} entries"] = profile(
                runner, args, f"list-{state}", 15, service=False
            )
    progress("profiles done")


# --- reporting ---------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def slope(n1: int, t1: float, n2: int, t2: float) -> float:
    if t1 <= 0 or t2 <= 0:
        return float("nan")
    return math.log(t2 / t1) / math.log(n2 / n1)


def empty_store_run(results: Results, tool: str) -> float:
    """The fixed cost of a run (start-up, nothing to archive), from the boot measurements."""
    group = results.boot.get("empty store (0 records)")
    return group[tool].min_s if group else 0.0


def growth(results: Results, tool: str) -> dict[str, float]:
    """Per-record cost at each size (minus the empty-store run) and the log-log slopes."""
    fixed = empty_store_run(results, tool)
    out: dict[str, float] = {"fixed_s": fixed}
    for n, group in results.scale.items():
        out[f"per_record_ms_{n}"] = max(group[tool].median_s - fixed, 0.0) / n * 1000
    if 1_000 in results.scale and 10_000 in results.scale:
        t1, t2 = results.scale[1_000][tool].min_s, results.scale[10_000][tool].min_s
        out["slope_1k_10k_raw"] = slope(1_000, t1, 10_000, t2)
        out["slope_1k_10k_net"] = slope(1_000, t1 - fixed, 10_000, t2 - fixed)
    return out


@dataclass(frozen=True)
class Target:
    name: str
    measured: str
    met: bool | None  # None: not measured in this run
    key: str = ""  # for readme_table


def targets(results: Results) -> list[Target]:
    out: list[Target] = []
    seed = results.boot.get("seed ERST store (5 records)")
    if seed:
        floor, ours = seed["floor"].median_s, seed["pstore-archiver"].median_s
        floor_min, ours_min = seed["floor"].min_s, seed["pstore-archiver"].min_s
        out.append(
            Target(
                "`run` on the seed store within 3x `python -c pass` (medians)",
                f"{ms(ours)} vs floor {ms(floor)} = {ours / floor:.1f}x (limit {ms(3 * floor)});"
                f" mins: {ms(ours_min)} vs {ms(floor_min)} = {ours_min / floor_min:.1f}x",
                ours <= 3 * floor,
                "boot",
            )
        )
        rss = max(g["pstore-archiver"].max_rss_mib for g in results.boot.values())
        theirs = seed["systemd-pstore"].max_rss_mib
        out.append(
            Target(
                "peak RSS under 40 MiB (boot-path stores)",
                f"{mib(rss)} MiB (systemd-pstore {mib(theirs)} MiB)",
                None if math.isnan(rss) else rss < 40,
                "rss",
            )
        )
    if 10_000 in results.scale:
        t = results.scale[10_000]["pstore-archiver"]
        entries = results.scale_entries.get(10_000, -1)
        out.append(
            Target(
                f"10,000 records archived in under 10 s (mixed store: {entries:,} entries)",
                f"median {ms(t.median_s)}, min {ms(t.min_s)} (peak RSS {mib(t.max_rss_mib)} MiB)",
                t.median_s < 10,
                "10k",
            )
        )
        b = results.query_build
        if b is not None and results.query_entries >= 10_000:
            out.append(
                Target(
                    "10,000 records archived in under 10 s (worst case: one entry each)",
                    f"{ms(b.median_s)} (peak RSS {mib(b.max_rss_mib)} MiB)",
                    b.median_s < 10,
                )
            )
        g = growth(results, "pstore-archiver")
        net = g.get("slope_1k_10k_net", float("nan"))
        limit = NLOGN_SLOPE_1K_10K + SLOPE_TOLERANCE
        out.append(
            Target(
                "growth no worse than n log n (1k -> 10k)",
                f"log-log slope {net:.2f} net of the empty-store run "
                f"({g.get('slope_1k_10k_raw', float('nan')):.2f} raw); "
                f"n log n = {NLOGN_SLOPE_1K_10K:.3f}, limit {limit:.3f}",
                net <= limit,
                "growth",
            )
        )
    else:
        out.append(Target("10,000 records archived in under 10 s", "not measured (--quick)", None))
    if results.query:
        n = results.query_entries
        for label, s in results.query.items():
            out.append(
                Target(
                    f"{label.split(' (')[0]} over {n:,} entries within 1 s ({label})",
                    f"median {ms(s.median_s)}, min {ms(s.min_s)}",
                    s.median_s < 1,
                    f"query:{label}",
                )
            )
    return out


def mib(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**NOT met**")


def render(results: Results) -> str:
    m = results.machine
    out = [
        "# pstore-archiver benchmark",
        "",
        f"Command: `{results.command}` (from the repository root)",
        "",
    ]
    if results.variant:
        out += [f"**Comparison run, not the real conditions: {results.variant}.**", ""]
    out += [
        f"- date: {results.started}; took {results.elapsed_s:.0f} s",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, kernel {m['kernel']}",
        f"- python {m['python']} ({m['python_binary']}); systemd {m['systemd']}",
        f"- revision: {m['revision']}; work directory on {m['workdir_fs']}",
        f"- pstore-archiver: {m['install']}; imported from {m.get('imported_from', '?')}",
        f"- isolation: {m['isolation']}",
        f"- journal: {render_journal(results)}",
        f"- at the start: {m['load_start']}; at the end: {m.get('load_end', '?')}",
        f"- other work on the machine during the run: {m.get('cpu_other', '?')}",
        "",
        "Wall time from spawn to exit of each child process (posix_spawn + wait4); CPU = user +",
        "system time of the child (from wait4), which other work on a busy machine inflates much",
        f"less than the wall time; peak RSS from {RSS_REPS} separate runs under GNU time (%M), the",
        f"largest shown (from {LARGE:,} records on, every run is timed under GNU time and gives",
        "its RSS too). Each run gets a fresh copy of the store and an empty archive, after a",
        "sync(). `pstore-archiver` is the installed console script, `python -m` the same install",
        "started as `python -m pstore_archiver`; `floor` = that venv's python running `-c pass`",
        "(with site, as pstore-archiver has it), `floor -S` = `-S -c pass` (no site).",
        "",
    ]
    out += render_boot(results) + render_importtime(results) + render_scale(results)
    out += render_query(results) + render_targets(results)
    out += ["## The README's Performance table", "", *readme_table(results), ""]
    out += render_profiles(results)
    if results.problems:
        out += ["## Problems seen", ""] + [f"- {p}" for p in results.problems] + [""]
    return "\n".join(out)


def render_journal(results: Results) -> str:
    j = results.journal
    if not j:
        return "no journald in this run"
    return (
        f"a private systemd-journald listened for every run and received "
        f"{j['archiver_dumps']:,} dump-archived messages from pstore-archiver "
        f"(MESSAGE_ID={boot_namespace.DUMP_ARCHIVED}; {j['sent_archiver_dumps']:,} sent; "
        f"{j['archiver_all']:,} messages in all) and {j['systemd_pstore_records']:,} "
        f"per-record messages from systemd-pstore ({j['sent_systemd_pstore_records']:,} sent; "
        f"{j['systemd_pstore_all']:,} in all); journal files {j['journal_bytes'] / MiB:.0f} MiB"
    )


def readme_table(results: Results) -> list[str]:
    """The README's Performance table, from this run (empty cells where not measured)."""
    boot, scale = results.boot, results.scale
    seed = boot.get("seed ERST store (5 records)", {})
    efi = boot.get("real EFI panic (15 records)", {})
    met = {t.key: t.met for t in targets(results)}

    def said(*keys: str) -> str:
        verdicts = [met.get(k) for k in keys]
        return "" if None in verdicts else ("met" if all(verdicts) else "NOT met")

    def median(group: Mapping[str, Series], tool: str) -> str:
        """The median wall time, and CPU time (what a busy machine inflates less)."""
        s = group.get(tool)
        return f"{ms(s.median_s)}; CPU {ms(s.cpu_median_s)}" if s is not None else ""

    rows: list[list[str]] = []
    if seed:
        ours, floor = seed["pstore-archiver"].median_s, seed["floor"].median_s
        rows.append(
            [
                "`run` on the seed ERST store (5 records), median",
                f"{ms(ours)} = {ours / floor:.1f}x `python -c pass` ({ms(floor)}); "
                f"CPU {ms(seed['pstore-archiver'].cpu_median_s)}",
                median(seed, "systemd-pstore"),
                f"within 3x the floor: {said('boot')}",
            ]
        )
    if efi:
        rows.append(
            [
                "`run` on the real EFI 15-part store",
                median(efi, "pstore-archiver"),
                median(efi, "systemd-pstore"),
                "",
            ]
        )
    if seed:
        rss = max(g["pstore-archiver"].max_rss_mib for g in boot.values())
        theirs = max(g["systemd-pstore"].max_rss_mib for g in boot.values())
        rows.append(
            [
                "peak RSS on those stores",
                f"{mib(rss)} MiB",
                f"{mib(theirs)} MiB",
                f"under 40 MiB: {said('rss')}",
            ]
        )
    if 10_000 in scale:
        g = scale[10_000]
        o, t = g["pstore-archiver"], g["systemd-pstore"]
        entries = results.scale_entries.get(10_000, -1)
        rows.append(
            [
                f"10,000 records ({entries:,} entries), median / min",
                f"{ms(o.median_s)} / {ms(o.min_s)}",
                f"{ms(t.median_s)} / {ms(t.min_s)}",
                f"under 10 s: {said('10k')}",
            ]
        )
    if results.query_build is not None:
        rows.append(
            [
                f"{results.query_entries:,} records of one entry each",
                ms(results.query_build.median_s),
                "",
                "",
            ]
        )
    if 1_000 in scale and 10_000 in scale:
        ours_g, theirs_g = growth(results, "pstore-archiver"), growth(results, "systemd-pstore")
        rows.append(
            [
                "growth from 1,000 to 10,000 records (log-log slope)",
                f"{ours_g['slope_1k_10k_net']:.2f}",
                f"{theirs_g['slope_1k_10k_net']:.2f}",
                f"no worse than n log n ({NLOGN_SLOPE_1K_10K:.3f}): {said('growth')}",
            ]
        )
    q = results.query
    warm = ("list (warm)", "list --json (warm)", "info (newest, warm)")
    if all(k in q for k in warm):
        rows.append(
            [
                f"`list` / `list --json` / `info` over {results.query_entries:,} entries",
                " / ".join(f"{q[k].median_s * 1000:.0f}" for k in warm) + " ms",
                "(no such command)",
                f"within 1 s: {said(*(f'query:{k}' for k in warm))}",
            ]
        )
    cold = "list (cold: no .index.json)"
    if cold in q:
        rows.append(
            [
                f"`list` over {results.query_entries:,} entries with no `.index.json` (rebuilt)",
                ms(q[cold].median_s),
                "",
                f"within 1 s: {said(f'query:{cold}')}",
            ]
        )
    m, it = results.machine, results.importtime
    build = m["install"].split(",")[0]
    journal = "a private journald listening" if results.journal else "no journald"
    imports = (
        f" Imports of the run path: {it['total_us'] / 1000:.0f} ms (the package's own modules "
        f"{it['package_self_us'] / 1000:.0f} ms)."
        if it
        else ""
    )
    lines = [
        *table(["measure", "pstore-archiver", "systemd-pstore", "target"], rows),
        "",
        f"Measured by `{results.command}` on {results.started}: {m['nproc']} CPUs ({m['cpu']}),",
        f"work directory on {m['workdir_fs']}; {build}, with {journal}; {m['load_start']}",
        f"at the start, other work during the run: {m.get('cpu_other', '?')}.{imports}",
    ]
    return lines


NAMES = {
    "floor": "floor: `python -c pass`",
    "floor -S": "`python -S -c pass`",
    "pstore-archiver": "pstore-archiver (console script)",
    "python -m": "`python -m pstore_archiver`",
    "editable": "editable install (.venv/bin/pstore-archiver; comparison only)",
    "floor (.venv)": "`.venv/bin/python -c pass` (comparison only)",
}


def render_boot(results: Results) -> list[str]:
    if not results.boot:
        return []
    reps = len(next(iter(next(iter(results.boot.values())).values())).samples)
    rows = []
    for store, group in results.boot.items():
        floor, floor_min = group["floor"].median_s, group["floor"].min_s
        for tool, s in group.items():
            name = NAMES.get(tool, tool)
            rows.append(
                [
                    store,
                    name,
                    ms(s.median_s),
                    ms(s.min_s),
                    f"{s.median_s / floor:.1f}x",
                    f"{s.min_s / floor_min:.1f}x",
                    ms(s.cpu_median_s),
                    mib(s.max_rss_mib),
                    ",".join(map(str, s.exit_codes)),
                ]
            )
    header = ["store", "command", "median", "min", "x floor", "x floor (mins)", "CPU (median)"]
    header += ["peak RSS MiB", "exit"]
    return [f"## Boot path ({reps} repetitions, interleaved)", "", *table(header, rows), ""]


def render_importtime(results: Results) -> list[str]:
    it = results.importtime
    if not it:
        return []
    out = [
        f"## Import time of `run` (`-X importtime`, seed store, median of {it['reps']})",
        "",
        f"Total: {it['total_us'] / 1000:.1f} ms over {it['modules']} modules "
        f"(`python -c pass` alone: {it['floor_total_us'] / 1000:.1f} ms); the package's own "
        f"modules' self time: {it['package_self_us'] / 1000:.1f} ms. Depth 0 = imported by",
        "the program itself; *imported by* = the module whose import pulled it in.",
        "",
        "Top 10 by cumulative time:",
        "",
    ]
    header = ["module", "depth", "imported by", "cumulative ms", "self ms"]
    out += table(header, [import_row(m) for m in it["top_cumulative"]])
    out += ["", "Top 10 by own (self) time:", ""]
    out += table(header, [import_row(m) for m in it["top_self"]])
    return [*out, ""]


def import_row(m: dict[str, Any]) -> list[str]:
    parent = f"`{m['parent']}`" if m["parent"] else "-"
    cumulative, own = m["cumulative_us"] / 1000, m["self_us"] / 1000
    return [f"`{m['module']}`", str(m["depth"]), parent, f"{cumulative:.1f}", f"{own:.1f}"]


def render_scale(results: Results) -> list[str]:
    if not results.scale:
        return []
    rows = []
    g_ours, g_theirs = growth(results, "pstore-archiver"), growth(results, "systemd-pstore")
    for n, group in results.scale.items():
        ours, theirs = group["pstore-archiver"], group["systemd-pstore"]
        rows.append(
            [
                f"{n:,}",
                f"{results.scale_entries.get(n, -1):,}",
                str(len(ours.samples)),
                ms(ours.median_s),
                ms(ours.min_s),
                ms(ours.cpu_median_s),
                f"{g_ours[f'per_record_ms_{n}']:.2f}",
                mib(ours.max_rss_mib),
                ms(theirs.median_s),
                ms(theirs.min_s),
                ms(theirs.cpu_median_s),
                f"{g_theirs[f'per_record_ms_{n}']:.3f}",
                mib(theirs.max_rss_mib),
                f"{ours.median_s / theirs.median_s:.1f}x",
            ]
        )
    header = [
        "records", "entries", "reps", "pstore-archiver median", "min", "CPU", "ms/record*",
        "peak RSS MiB", "systemd-pstore median", "min", "CPU", "ms/record*", "peak RSS MiB",
        "ratio (median)",
    ]  # fmt: skip
    out = [
        "## Scale: `run` on stores of n records",
        "",
        "Mix repeated every 22 records: ERST Oops (3 parts), ERST Panic (2 parts), ramoops",
        "console, ramoops pmsg, EFI Panic (15 parts); dump parts ~1.8 KB of the real EFI capture.",
        "*ms/record = (median - the empty-store run's min) / n.",
        "",
        *table(header, rows),
        "",
    ]
    for tool, g in (("pstore-archiver", g_ours), ("systemd-pstore", g_theirs)):
        if "slope_1k_10k_net" in g:
            out.append(
                f"- {tool}: log-log slope 1k -> 10k (min times) {g['slope_1k_10k_raw']:.2f} raw, "
                f"{g['slope_1k_10k_net']:.2f} net of the empty-store run ({ms(g['fixed_s'])}); "
                f"n log n would be {NLOGN_SLOPE_1K_10K:.3f}, linear 1.0"
            )
    return [*out, ""]


def render_query(results: Results) -> list[str]:
    if not results.query:
        return []
    rows = []
    if results.query_build:
        b = results.query_build
        rows.append(
            [b.label, "1", ms(b.median_s), ms(b.min_s), ms(b.cpu_median_s), mib(b.max_rss_mib)]
        )
    for label, s in results.query.items():
        rows.append(
            [
                label,
                str(len(s.samples)),
                ms(s.median_s),
                ms(s.min_s),
                ms(s.cpu_median_s),
                mib(s.max_rss_mib),
            ]
        )
    header = ["command", "reps", "median", "min", "CPU (median)", "peak RSS MiB"]
    title = f"## Queries over an archive of {results.query_entries:,} entries"
    return [title, "", *table(header, rows), ""]


def render_targets(results: Results) -> list[str]:
    rows = [[t.name, t.measured, verdict(t.met)] for t in targets(results)]
    return ["## Targets", "", *table(["target", "measured", "verdict"], rows), ""]


def render_profiles(results: Results) -> list[str]:
    out: list[str] = []
    for name, prof in results.profiles.items():
        out += [f"## cProfile: {name} (top 15 by cumulative time)", "", "```"]
        out.append(f"{'cumtime s':>10} {'tottime s':>10} {'calls':>9}  function")
        out += [profile_line(row) for row in prof["cumulative"]]
        out += ["```", "", "Top 15 by own time:", "", "```"]
        out += [profile_line(row) for row in prof["tottime"]]
        out += ["```", ""]
    return out


def profile_line(row: dict[str, Any]) -> str:
    times = f"{row['cumtime_s']:10.3f} {row['tottime_s']:10.3f}"
    return f"{times} {row['calls']:9d}  {row['function']}"


def to_json(results: Results) -> dict[str, Any]:
    return {
        "command": results.command,
        "started": results.started,
        "elapsed_s": results.elapsed_s,
        "machine": results.machine,
        "boot": {k: {t: s.to_json() for t, s in g.items()} for k, g in results.boot.items()},
        "importtime": results.importtime,
        "scale": {
            str(n): {
                "entries": results.scale_entries.get(n),
                **{t: s.to_json() for t, s in g.items()},
            }
            for n, g in results.scale.items()
        },
        "growth": {t: growth(results, t) for t in CONTENDERS} if results.scale else {},
        "query": {
            "entries": results.query_entries,
            "build": results.query_build.to_json() if results.query_build else None,
            **{k: s.to_json() for k, s in results.query.items()},
        },
        "targets": [asdict(t) for t in targets(results)],
        "journal": results.journal,
        "variant": results.variant,
        "profiles": results.profiles,
        "problems": results.problems,
    }


# --- main --------------------------------------------------------------------------------


@contextmanager
def work_directory(parent: str | None, keep: bool) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pstore-bench-", dir=parent))
    try:
        yield path
    finally:
        if keep:
            progress(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="sizes up to 1,000; 3 repetitions")
    parser.add_argument("--reps", type=int, default=10, help="repetitions of the small cases")
    parser.add_argument("--workdir", help="where to make the work directory (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile runs")
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print only: leave RESULTS.md, README.md and results/ alone",
    )
    comparison = parser.add_argument_group("comparisons (not what users run)")
    comparison.add_argument(
        "--editable",
        action="store_true",
        help="also time the development venv's editable install (.venv) in the boot path",
    )
    comparison.add_argument(
        "--no-journald",
        action="store_true",
        help="no journald (an empty /run/systemd/journal, as the benchmark had before); "
        "writes only bench/results/no-journald.json",
    )
    return parser.parse_args(argv)


def prepare_install() -> Install:
    """The build to measure: the checkout's wheel, installed."""
    if not DEV_PYTHON.exists():
        raise SystemExit(f"{DEV_PYTHON} is missing: run scripts/setup first")
    progress("building a wheel of the checkout and installing it (non-editable) ...")
    try:
        install = installed.install_checkout(REPO, DEV_PYTHON, DEV_PYTHON)
    except (installed.InstallError, OSError) as exc:
        raise SystemExit(f"bench: {exc}") from None
    progress(f"measuring {install.describe()}")
    return install


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


def check_journal(journal: Journald, runner: Runner) -> dict[str, int]:
    """What the journal received, next to what the runs sent; a mismatch is a problem."""
    count = boot_namespace.count_journal(journal.directory)
    found = asdict(count)
    for key, sent in runner.sent.items():
        found[f"sent_{key}"] = sent
        if found[key] != sent:
            runner.problems.append(
                f"journal: {found[key]:,} {key} messages received, {sent:,} sent"
            )
    progress(f"journal: {found}")
    return found


def cpu_other(before: tuple[float, float], after: tuple[float, float], wall: float) -> str:
    other = (after[0] - before[0]) - (after[1] - before[1])
    return f"{max(other, 0.0):.0f} CPU-seconds by other processes in {wall:.0f} s " + (
        f"({max(other, 0.0) / wall:.2f} cores on average)" if wall > 0 else ""
    )


def update_readme(block: Sequence[str]) -> bool:
    """Replace the table between README_BEGIN and README_END; False without the markers."""
    text = README.read_text()
    if text.count(README_BEGIN) != 1 or text.count(README_END) != 1:
        return False
    head, rest = text.split(README_BEGIN)
    _, tail = rest.split(README_END)
    README.write_text(head + README_BEGIN + "\n" + "\n".join(block) + "\n" + README_END + tail)
    return True


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    inside = bool(os.environ.get(ISOLATED_ENV))
    if inside:
        install = Install.from_json(os.environ[INSTALL_ENV])
    else:
        install = prepare_install()
        if os.geteuid() == 0 and shutil.which("unshare") is not None:
            reason = journald.journald_available()
            if reason is not None:
                raise SystemExit(f"bench: cannot run a private journald here: {reason}")
            env = {**os.environ, ISOLATED_ENV: "1", INSTALL_ENV: install.to_json()}
            script = [sys.executable, str(Path(__file__).resolve()), *argv]
            return boot_namespace.rerun_in_namespace(script, env)
    check_interpreter(install)
    if not os.access(SYSTEMD_PSTORE, os.X_OK):
        raise SystemExit(f"{SYSTEMD_PSTORE} not found: install systemd")
    reps = min(args.reps, 3) if args.quick else args.reps
    sizes = (10, 100, 1_000) if args.quick else (10, 100, 1_000, 10_000)
    started = time.monotonic()
    command = "bench/run " + shlex.join(argv) if argv else "bench/run"
    variant = "no journald" if args.no_journald else ""
    with work_directory(args.workdir, args.keep) as workdir:
        os.chdir(workdir)  # not the checkout: `python -m` puts the cwd first on sys.path
        journal: Journald | None = None
        if inside:
            journal_dir = boot_namespace.prepare_namespace(workdir)
            if args.no_journald:
                boot_namespace.hide_journal()
            else:
                journal = Journald.start(journal_dir, workdir / "journald.log")
        try:
            editable = installed.editable_install(REPO) if args.editable else None
            runner = Runner(workdir, install, journal, editable)
            results = Results(
                machine=machine_info(workdir, install, describe_isolation(inside, journal)),
                command=command.strip(),
                started=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                variant=variant,
            )
            busy = cpu_busy()
            package = check_package(runner, runner.install)
            if editable is not None:
                check_package(runner, editable)
            results.machine["imported_from"] = str(package)
            runner.site_packages = package.parent
            measure_boot(runner, reps, results)
            measure_importtime(runner, min(reps, 5), results)
            measure_scale(runner, sizes, reps, results)
            query_n = 10_000 if not args.quick else 1_000
            archive = measure_query(runner, query_n, min(reps, 5), results)
            if not args.no_profile:
                measure_profiles(runner, sizes[-1], archive, results)
            if journal is not None:
                journal.stop()
                results.journal = check_journal(journal, runner)
            results.machine["cpu_other"] = cpu_other(busy, cpu_busy(), time.monotonic() - started)
        finally:
            if journal is not None:
                journal.kill()
        results.problems = runner.problems
        os.chdir(REPO)
    results.elapsed_s = time.monotonic() - started
    results.machine["load_end"] = load()
    text = render(results)
    print(text)
    if args.no_write:
        return 0
    RESULTS_DIR.mkdir(exist_ok=True)
    document = json.dumps(to_json(results), indent=2) + "\n"
    if variant:
        name = RESULTS_DIR / (variant.replace(" ", "-") + ".json")
        name.write_text(document)
        progress(f"comparison run: wrote {name} only")
        return 0
    (RESULTS_DIR / "latest.json").write_text(document)
    RESULTS_MD.write_text(text + "\n")
    progress(f"wrote {RESULTS_DIR / 'latest.json'} and {RESULTS_MD}")
    if not args.quick:
        if update_readme(readme_table(results)):
            progress(f"wrote the Performance table of {README}")
        else:
            progress(f"{README} has no {README_BEGIN} ... {README_END}: not updated")
    return 0


def check_package(runner: Runner, install: Install) -> Path:
    """The directory the console script of install imports pstore_archiver from
    (bench/installed.py checks that it is the install's, and nothing comes from the
    checkout unless the install is the editable one)."""
    store = stores.write_store(runner.fresh("store"), stores.seed_erst_store())
    args = ["--source", str(store), "--archive", str(runner.fresh("archive")), "run", "--dry-run"]
    try:
        package = installed.check_import_path(
            install, [str(install.script), *args], runner.env, runner.workdir, REPO
        )
    except installed.InstallError as exc:
        raise SystemExit(f"bench: {exc}") from None
    shutil.rmtree(store)
    progress(f"pstore_archiver is imported from {package}")
    return package


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
