"""Benchmark pstore-archiver against systemd-pstore and the interpreter's own start-up.

    .venv/bin/python bench/run.py            # or: bench/run   (about 3-4 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # sizes up to 1,000, fewer repetitions

Every command runs as a child process on a fresh copy of the same store, timed from spawn to
exit (`os.posix_spawn` + `os.wait4`); its peak RSS comes from separate runs under GNU time
(see `spawn` for why not from wait4).  Results: a table on stdout and in bench/RESULTS.md
(committed), everything with the raw samples in bench/results/latest.json (ignored by git).

Conditions:

* pstore-archiver runs as `<venv python> -m pstore_archiver`, the venv's python being a link
  to the real interpreter binary (never a pyenv shim script), with PSTORE_ARCHIVER_CONFIG
  naming an empty file (no host configuration), no JOURNAL_STREAM, stdout and
  stderr to /dev/null; with no journald socket its messages go to stderr.
* systemd-pstore runs as `/lib/systemd/systemd-pstore SRC DST` with SYSTEMD_LOG_TARGET=console.
* As root, the whole benchmark re-runs itself in a private mount namespace (`unshare`) in
  which /run/systemd/journal is an empty tmpfs (nothing reaches the host's journal, both
  programs take their no-journald path) and /etc/systemd/pstore.conf says Storage=external,
  Unlink=yes with every pstore.conf.d hidden.  Without root it runs as is and says so.
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

# tests/ is not a package: import its store builders the way pytest does (and mypy, via
# mypy_path in pyproject.toml)
sys.path.insert(0, str(REPO / "tests"))
import stores  # noqa: E402
import systemd_pstore  # noqa: E402

VENV_PYTHON = REPO / ".venv" / "bin" / "python"
SYSTEMD_PSTORE = Path("/lib/systemd/systemd-pstore")
RESULTS_DIR = BENCH / "results"
RESULTS_MD = BENCH / "RESULTS.md"
ISOLATED_ENV = "PSTORE_BENCH_ISOLATED"
JOURNAL_DIR = Path("/run/systemd/journal")
PSTORE_CONF = Path("/etc/systemd/pstore.conf")
PSTORE_DROPIN_DIRS = systemd_pstore.PSTORE_DROPIN_DIRS  # every dir v252 reads drop-ins from
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


def machine_info(workdir: Path, python: Path) -> dict[str, str]:
    systemd = command_output(["dpkg-query", "-W", "-f", "${Version}", "systemd"])
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
        "isolation": (
            "private mount namespace: journal dir hidden, pstore.conf = Storage=external Unlink=yes"
            if os.environ.get(ISOLATED_ENV)
            else "none (not root): host pstore.conf and journald socket, if any, are used"
        ),
        "journald_socket": "present" if (JOURNAL_DIR / "socket").exists() else "absent",
        "load_start": load(),
    }


def check_interpreter(python: Path) -> None:
    """The venv's python must lead to an ELF binary: a shim script would add ~100 ms."""
    real = os.path.realpath(python)
    with open(real, "rb") as f:
        magic = f.read(4)
    if magic != b"\x7fELF":
        raise SystemExit(f"{python} -> {real} is not an ELF binary (a shim?); cannot time it")


# --- isolation ---------------------------------------------------------------------------


def isolate_and_rerun(argv: Sequence[str]) -> int | None:
    """As root, run this benchmark again in a private mount namespace; None when not root
    (or already inside), and the benchmark runs here."""
    if os.environ.get(ISOLATED_ENV) or os.geteuid() != 0 or shutil.which("unshare") is None:
        return None
    q = shlex.quote
    with tempfile.TemporaryDirectory(prefix="pstore-bench-ns-") as scratch:
        conf = Path(scratch, "pstore.conf")
        conf.write_text("[PStore]\nStorage=external\nUnlink=yes\n")
        lines = ["set -eu"]
        if JOURNAL_DIR.is_dir():
            lines.append(f"mount -t tmpfs -o mode=0755 tmpfs {q(str(JOURNAL_DIR))}")
        if PSTORE_CONF.is_file():
            lines.append(f"mount --bind {q(str(conf))} {q(str(PSTORE_CONF))}")
        elif PSTORE_CONF.parent.is_dir():
            lines.append(f"mount -t tmpfs -o mode=0755 tmpfs {q(str(PSTORE_CONF.parent))}")
            lines.append(f"cp {q(str(conf))} {q(str(PSTORE_CONF))}")
        lines += [
            f"for d in {' '.join(q(d) for d in PSTORE_DROPIN_DIRS)}; do",
            '  if [ -d "$d" ]; then mount -t tmpfs -o ro,mode=0755 tmpfs "$d"; fi',
            "done",
            'exec "$@"',
        ]
        script = "\n".join(lines) + "\n"
        cmd = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script]
        cmd += ["pstore-bench", sys.executable, str(Path(__file__).resolve()), *argv]
        return subprocess.run(cmd, env={**os.environ, ISOLATED_ENV: "1"}, check=False).returncode


# --- running one command -----------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall_s: float
    exit_code: int


def spawn(argv: Sequence[str], env: Mapping[str, str], stderr_path: Path | None = None) -> Sample:
    """Run argv (an absolute path first) with stdin, stdout and stderr on /dev/null (or
    stderr to a file); the wall time from spawn to reaping.

    The child's ru_maxrss is not used: posix_spawn starts it with vfork, and at execve
    the kernel folds the high-water mark of the mm it leaves (this benchmark's, ~19 MiB)
    into the child's maxrss.  `peak_rss_kib` measures it through a small launcher."""
    err = str(stderr_path) if stderr_path else os.devnull
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644),
    ]
    start = time.perf_counter()
    pid = os.posix_spawn(argv[0], list(argv), dict(env), file_actions=actions)
    _, status, _ = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    return Sample(wall, os.waitstatus_to_exitcode(status))


def spawn_rss(argv: Sequence[str], env: Mapping[str, str], scratch: Path) -> tuple[Sample, int]:
    """Run argv under GNU time, which forks it from its own small process, so that only
    the program's own pages count: the sample (wall time including GNU time's ~1 ms) and
    the peak RSS in KiB (-1 without /usr/bin/time)."""
    if not os.access(GNU_TIME, os.X_OK):
        return spawn(argv, env), -1
    report = scratch / "rss.txt"
    sample = spawn([GNU_TIME, "-f", "%M", "-o", str(report), *argv], env)
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
            "max_rss_mib": self.max_rss_mib,
            "exit_codes": self.exit_codes,
            "samples": [asdict(s) for s in self.samples],
            "rss_kib": self.rss_kib,
        }


class Runner:
    """Builds fresh stores and runs the three contenders on them."""

    def __init__(self, workdir: Path, python: Path) -> None:
        self.workdir = workdir
        self.python = python
        self.env = {
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(workdir),
            "PSTORE_ARCHIVER_CONFIG": str(workdir / "empty-config.toml"),
            "SYSTEMD_LOG_TARGET": "console",
            "SYSTEMD_LOG_COLOR": "0",
        }
        self.counter = 0
        self.problems: list[str] = []
        # a named configuration must exist; an empty one means the defaults
        (workdir / "empty-config.toml").write_text("# the defaults\n")

    def fresh(self, name: str) -> Path:
        self.counter += 1
        return self.workdir / f"{self.counter:05d}-{name}"

    def archiver(self, *args: str) -> list[str]:
        return [str(self.python), "-m", "pstore_archiver", *args]

    def command(self, tool: str, store: Path, archive: Path) -> list[str]:
        if tool == "floor":
            return [str(self.python), "-c", "pass"]
        if tool == "floor -S":
            return [str(self.python), "-S", "-c", "pass"]
        if tool == "pstore-archiver":
            return self.archiver("--source", str(store), "--archive", str(archive), "run")
        if tool == "systemd-pstore":
            return [str(SYSTEMD_PSTORE), str(store), str(archive)]
        raise ValueError(tool)

    def run_store(
        self, tool: str, records: Sequence[stores.FakeRecord], series: Series, mode: str = "time"
    ) -> None:
        """One fresh copy of the store, one run of `tool` on it, checked, cleaned up.
        mode "time": timed directly; "rss": under GNU time for the peak RSS only; "both":
        under GNU time, timed too (for runs of seconds, where its ~1 ms does not matter).
        The file system is synced first, so no run pays for an earlier one's writes."""
        store = stores.write_store(self.fresh("store"), records)
        archive = self.fresh("archive")
        argv = self.command(tool, store, archive)
        os.sync()
        if mode == "time":
            sample = spawn(argv, self.env)
        else:
            sample, rss = spawn_rss(argv, self.env, self.workdir)
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


TOOLS = ("floor", "floor -S", "pstore-archiver", "systemd-pstore")
CONTENDERS = ("pstore-archiver", "systemd-pstore")


def measure_boot(runner: Runner, reps: int, results: Results) -> None:
    """Empty store, the seed ERST store, the real 15-part EFI store; interleaved reps."""
    inputs: dict[str, list[stores.FakeRecord]] = {
        "empty store (0 records)": [],
        "seed ERST store (5 records)": stores.seed_erst_store(),
        "real EFI panic (15 records)": stores.fixture_records("efi-panic"),
    }
    for label, records in inputs.items():
        group = {tool: Series(f"{label}: {tool}") for tool in TOOLS}
        for tool in TOOLS:  # warm-up, not counted: byte-code caches, page cache
            runner.run_store(tool, records, Series("warm-up"))
        for _ in range(reps):
            for tool in TOOLS:
                runner.run_store(tool, records, group[tool])
        for _ in range(RSS_REPS):
            for tool in TOOLS:
                runner.run_store(tool, records, group[tool], mode="rss")
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
    for _ in range(reps):
        store = stores.write_store(runner.fresh("store"), records)
        archive = runner.fresh("archive")
        argv = [str(runner.python), "-X", "importtime", "-m", "pstore_archiver"]
        spawn([*argv, "--source", str(store), "--archive", str(archive), "run"], runner.env, log)
        rows = parse_importtime(log.read_text())
        totals.append(sum(r.self_us for r in rows))
        for row in rows:
            per_module.setdefault(row.module, []).append(row)
        spawn([str(runner.python), "-X", "importtime", "-c", "pass"], runner.env, log)
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
        group = {tool: Series(f"{n} records: {tool}") for tool in CONTENDERS}
        large = n >= LARGE
        for _ in range(scale_reps(n, reps)):
            for tool in CONTENDERS:
                runner.run_store(tool, records, group[tool], mode="both" if large else "time")
        if not large:
            for tool in CONTENDERS:
                runner.run_store(tool, records, group[tool], mode="rss")
        results.scale[n] = group
        results.scale_entries[n] = count_entries(runner, records)
        progress(f"scale: {n}: " + ", ".join(f"{t} {ms(s.median_s)}" for t, s in group.items()))


def count_entries(runner: Runner, records: Sequence[stores.FakeRecord]) -> int:
    """How many entries pstore-archiver makes of these records (a dry run)."""
    store = stores.write_store(runner.fresh("store"), records)
    argv = runner.archiver("--source", str(store), "--archive", str(runner.fresh("a")), "run")
    done = subprocess.run(
        [*argv, "--dry-run", "--json"], env=runner.env, capture_output=True, check=False
    )
    shutil.rmtree(store)
    try:
        return len(json.loads(done.stdout)["entries"])
    except (ValueError, KeyError):
        return -1


def measure_query(runner: Runner, n: int, reps: int, results: Results) -> Path:
    """Build an archive of n entries with one `run`, then time list (cold, warm, --json)
    and info; returns the archive (kept for the profile)."""
    store = stores.write_store(runner.fresh("store"), one_record_entries(n, capture_lines()))
    archive = runner.workdir / "archive-10k"
    build = Series(f"run: {n:,} records, one entry each")
    argv = runner.archiver("--source", str(store), "--archive", str(archive), "run")
    os.sync()
    sample, rss = spawn_rss(argv, runner.env, runner.workdir)  # one run: RSS and time
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
    runner: Runner, argv: Sequence[str], name: str, top: int
) -> dict[str, list[dict[str, Any]]]:
    """cProfile of one child run; the top functions by cumulative and by own time."""
    out = runner.workdir / f"{name}.prof"
    spawn([str(runner.python), "-m", "cProfile", "-o", str(out), *argv], runner.env)
    stats = pstats.Stats(str(out), stream=io.StringIO())
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw = stats.stats  # type: ignore[attr-defined]
    rows: list[dict[str, Any]] = [
        {
            "function": f"{shorten(path)}:{line}({func})",
            "calls": calls,
            "tottime_s": tottime,
            "cumtime_s": cumtime,
        }
        for (path, line, func), (_, calls, tottime, cumtime, _) in raw.items()
        if not is_wrapper(path, func)
    ]
    return {
        "cumulative": sorted(rows, key=lambda r: -float(r["cumtime_s"]))[:top],
        "tottime": sorted(rows, key=lambda r: -float(r["tottime_s"]))[:top],
    }


def is_wrapper(path: str, func: str) -> bool:
    """Frames that only wrap the whole run (cProfile's exec, runpy, __main__)."""
    return (
        path in ("<string>", "<frozen runpy>")
        or path.endswith("pstore_archiver/__main__.py")
        or func == "<built-in method builtins.exec>"
    )


def shorten(path: str) -> str:
    for prefix in (str(REPO) + "/", sys.prefix + "/", sys.base_prefix + "/"):
        if path.startswith(prefix):
            return path[len(prefix) :]
    return path


def measure_profiles(runner: Runner, n: int, archive: Path | None, results: Results) -> None:
    records = mixed_store(n, capture_lines())
    store = stores.write_store(runner.fresh("store"), records)
    target = runner.fresh("archive")
    argv = ["-m", "pstore_archiver", "--source", str(store), "--archive", str(target), "run"]
    results.profiles[f"run, {n:,} records (mixed store)"] = profile(runner, argv, "run", 15)
    shutil.rmtree(store)
    shutil.rmtree(target, ignore_errors=True)
    store = stores.write_store(runner.fresh("store"), stores.seed_erst_store())
    target = runner.fresh("archive")
    argv = ["-m", "pstore_archiver", "--source", str(store), "--archive", str(target), "run"]
    results.profiles["run, seed ERST store (5 records)"] = profile(runner, argv, "seed", 15)
    shutil.rmtree(store)
    shutil.rmtree(target, ignore_errors=True)
    if archive is not None:
        (archive / ".index.json").unlink(missing_ok=True)
        argv = ["-m", "pstore_archiver", "--archive", str(archive), "list"]
        results.profiles[f"list (cold), {results.query_entries:,} entries"] = profile(
            runner, argv, "list-cold", 15
        )
        argv = ["-m", "pstore_archiver", "--archive", str(archive), "list"]
        results.profiles[f"list (warm), {results.query_entries:,} entries"] = profile(
            runner, argv, "list-warm", 15
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
            )
        )
        rss = max(g["pstore-archiver"].max_rss_mib for g in results.boot.values())
        theirs = seed["systemd-pstore"].max_rss_mib
        out.append(
            Target(
                "peak RSS under 40 MiB (boot-path stores)",
                f"{mib(rss)} MiB (systemd-pstore {mib(theirs)} MiB)",
                None if math.isnan(rss) else rss < 40,
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
        f"- date: {results.started}; took {results.elapsed_s:.0f} s",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, kernel {m['kernel']}",
        f"- python {m['python']} ({m['python_binary']}); systemd {m['systemd']}",
        f"- revision: {m['revision']}; work directory on {m['workdir_fs']}",
        f"- isolation: {m['isolation']}; journald socket {m['journald_socket']}",
        f"- at the start: {m['load_start']}; at the end: {m.get('load_end', '?')}",
        "",
        "Wall time from spawn to exit of each child process (posix_spawn + wait4); peak RSS",
        f"from {RSS_REPS} separate runs under GNU time (%M), the largest shown; from"
        f" {LARGE:,} records",
        "on, every run is timed under GNU time and gives its RSS too. Each run gets a fresh copy",
        "of the store and an empty archive, after a sync(). `floor` = the venv python running",
        "`-c pass` (with site, as pstore-archiver has it), `floor -S` = `-S -c pass` (no site).",
        "",
    ]
    out += render_boot(results) + render_importtime(results) + render_scale(results)
    out += render_query(results) + render_targets(results) + render_profiles(results)
    if results.problems:
        out += ["## Problems seen", ""] + [f"- {p}" for p in results.problems] + [""]
    return "\n".join(out)


def render_boot(results: Results) -> list[str]:
    if not results.boot:
        return []
    reps = len(next(iter(next(iter(results.boot.values())).values())).samples)
    rows = []
    for store, group in results.boot.items():
        floor, floor_min = group["floor"].median_s, group["floor"].min_s
        for tool, s in group.items():
            name = {"floor": "floor: `python -c pass`", "floor -S": "`python -S -c pass`"}.get(
                tool, tool
            )
            rows.append(
                [
                    store,
                    name,
                    ms(s.median_s),
                    ms(s.min_s),
                    f"{s.median_s / floor:.1f}x",
                    f"{s.min_s / floor_min:.1f}x",
                    mib(s.max_rss_mib),
                    ",".join(map(str, s.exit_codes)),
                ]
            )
    header = ["store", "command", "median", "min", "x floor", "x floor (mins)", "peak RSS MiB"]
    header.append("exit")
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
                f"{g_ours[f'per_record_ms_{n}']:.2f}",
                mib(ours.max_rss_mib),
                ms(theirs.median_s),
                ms(theirs.min_s),
                f"{g_theirs[f'per_record_ms_{n}']:.3f}",
                mib(theirs.max_rss_mib),
                f"{ours.median_s / theirs.median_s:.1f}x",
            ]
        )
    header = [
        "records", "entries", "reps", "pstore-archiver median", "min", "ms/record*",
        "peak RSS MiB", "systemd-pstore median", "min", "ms/record*", "peak RSS MiB",
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
        rows.append([b.label, "1", ms(b.median_s), ms(b.min_s), mib(b.max_rss_mib)])
    for label, s in results.query.items():
        rows.append([label, str(len(s.samples)), ms(s.median_s), ms(s.min_s), mib(s.max_rss_mib)])
    header = ["command", "reps", "median", "min", "peak RSS MiB"]
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
        "--no-write", action="store_true", help="print only: leave RESULTS.md and results/ alone"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    rerun = isolate_and_rerun(argv)
    if rerun is not None:
        return rerun
    check_interpreter(VENV_PYTHON)
    if not os.access(SYSTEMD_PSTORE, os.X_OK):
        raise SystemExit(f"{SYSTEMD_PSTORE} not found: install systemd")
    reps = min(args.reps, 3) if args.quick else args.reps
    sizes = (10, 100, 1_000) if args.quick else (10, 100, 1_000, 10_000)
    started = time.monotonic()
    command = "bench/run " + shlex.join(argv) if argv else "bench/run"
    with work_directory(args.workdir, args.keep) as workdir:
        os.chdir(workdir)  # `-m` puts the cwd first on sys.path: not the checkout
        results = Results(
            machine=machine_info(workdir, VENV_PYTHON),
            command=command.strip(),
            started=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        )
        runner = Runner(workdir, VENV_PYTHON)
        measure_boot(runner, reps, results)
        measure_importtime(runner, min(reps, 5), results)
        measure_scale(runner, sizes, reps, results)
        query_n = 10_000 if not args.quick else 1_000
        archive = measure_query(runner, query_n, min(reps, 5), results)
        if not args.no_profile:
            measure_profiles(runner, sizes[-1], archive, results)
        results.problems = runner.problems
        os.chdir(REPO)
    results.elapsed_s = time.monotonic() - started
    results.machine["load_end"] = load()
    text = render(results)
    print(text)
    if not args.no_write:
        RESULTS_DIR.mkdir(exist_ok=True)
        document = json.dumps(to_json(results), indent=2) + "\n"
        (RESULTS_DIR / "latest.json").write_text(document)
        RESULTS_MD.write_text(text + "\n")
        progress(f"wrote {RESULTS_DIR / 'latest.json'} and {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
