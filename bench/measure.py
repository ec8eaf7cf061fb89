"""The measurements: a Runner that runs each tool on fresh copies of a store as a service
would run it, and the phases of a benchmark run (`PHASES`), each filling its part of the
Results.

Stores are written under `Runner.store_root`: as root, a tmpfs of its own mounted in the
benchmark's private mount namespace (as /sys/fs/pstore always is a file system of its own, so
nothing can be renamed out of it), the archive on the work directory's file system; in the
scale phase and for the archive the queries read (10,000 records of one entry each), as root,
on a new ext4 file system made for each (`ArchiveFs`): this
machine's work directory may be an ext4 without a journal, where ext4 skips the inodes
deleted in the last minutes when it allocates one, so a run there is slowed by the runs
before it (5,100 records took 3.2, then 7.2, then 11.4 s, one after the other).
"""

from __future__ import annotations

import enum
import io
import json
import os
import pstats
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import boot_namespace
import fleet_top
import importtime
import stores
import systemd_pstore
from boot_namespace import Journald
from debian import DebianBuild
from installed import Install
from results import FleetQuery, Query, Results
from targets import ms
from timing import Sample, Series, spawn, spawn_rss
from tools import DEBIAN_TOOLS, EDITABLE_TOOLS, INSTALLED_TOOLS, SCALE_TOOLS, Mode, Tool
from workloads import ArchiveFs, BootStore, Mix, Scope, capture_lines, one_record_entries

SYSTEMD_PSTORE = Path(systemd_pstore.SYSTEMD_PSTORE)
COPY_FLOOR = Path(__file__).resolve().with_name("copy_floor.py")
FRESH_FS_BYTES = 1 << 30  # sparse; mkfs's default inode ratio gives it 65,536 inodes
LARGE = 1_000  # from this many records, every timed run is also an RSS run (under GNU time)
PROFILE_TOP = 15
FLEET_REPS = 5  # each fleet command runs for seconds on a full run


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


class Runner:
    """Builds fresh stores and runs the tools on them, each as a service would run."""

    def __init__(
        self,
        workdir: Path,
        store_root: Path,
        install: Install,
        journal: Journald | None,
        debian: DebianBuild | None = None,
        editable: Install | None = None,
    ) -> None:
        self.workdir = workdir
        self.store_root = store_root
        self.install = install
        self.journal = journal
        self.debian = debian
        self.editable = editable  # also timed in the boot path, for comparison
        self.tools: tuple[Tool, ...] = INSTALLED_TOOLS
        self.tools += DEBIAN_TOOLS if debian else ()
        self.tools += EDITABLE_TOOLS if editable else ()
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
        self.query_archive: Path | None = None  # the archive of one-entry records, once built
        self.scale_fs = ArchiveFs.WORKDIR  # where the scale phase's archives go: set by main
        self.lasting = ExitStack()  # what later phases still read: closed when all are done

    def fresh(self, name: str) -> Path:
        self.counter += 1
        return self.workdir / f"{self.counter:05d}-{name}"

    def fresh_store(self, records: Sequence[stores.FakeRecord]) -> Path:
        self.counter += 1
        return stores.write_store(self.store_root / f"{self.counter:05d}-store", records)

    @contextmanager
    def archive_parent(self, fs: ArchiveFs) -> Iterator[Path]:
        """Where a run's archive goes: the work directory, or a file system made for
        this run alone, removed after it."""
        if fs is ArchiveFs.WORKDIR:
            yield self.workdir
            return
        image, target = str(self.fresh("ext4.img")), str(self.fresh("ext4"))
        boot_namespace.fresh_ext4(image, target, FRESH_FS_BYTES)
        try:
            yield Path(target)
        finally:
            boot_namespace.remove_ext4(image, target)

    def lasting_parent(self, fs: ArchiveFs) -> Path:
        """`archive_parent` for an archive that later phases read too: removed by
        `self.lasting.close()`."""
        return self.lasting.enter_context(self.archive_parent(fs))

    def archiver(self, *args: str) -> list[str]:
        """The installed console script, as the unit's ExecStart= runs it."""
        return [str(self.install.script), *args]

    def command(self, tool: Tool, store: Path, archive: Path) -> list[str]:
        python = str(self.install.python)
        run = ["--source", str(store), "--archive", str(archive), "run"]
        commands: dict[Tool, Callable[[], list[str]]] = {
            Tool.FLOOR: lambda: [python, "-c", "pass"],
            Tool.FLOOR_S: lambda: [python, "-S", "-c", "pass"],
            Tool.ARCHIVER: lambda: self.archiver(*run),
            Tool.PYTHON_M: lambda: [python, "-m", "pstore_archiver", *run],
            Tool.SYSTEMD_PSTORE: lambda: [str(SYSTEMD_PSTORE), str(store), str(archive)],
            Tool.COPY_FLOOR: lambda: [python, str(COPY_FLOOR), str(store), str(archive)],
        }
        if self.debian is not None:
            deb = self.debian
            commands[Tool.DEBIAN] = lambda: [str(deb.script), *run]
            commands[Tool.DEBIAN_FLOOR] = lambda: [str(deb.python), "-c", "pass"]
        if self.editable is not None:
            dev = self.editable
            commands[Tool.EDITABLE] = lambda: [str(dev.script), *run]
            commands[Tool.EDITABLE_FLOOR] = lambda: [str(dev.python), "-c", "pass"]
        return commands[tool]()

    def service(
        self,
        tool: Tool,
        argv: Sequence[str],
        mode: Mode = Mode.TIME,
        stderr_path: Path | None = None,
    ) -> tuple[Sample, int]:
        """Run argv as systemd runs a service: stdout and stderr on a journald stream, with
        JOURNAL_STREAM (when journald listens); then wait until journald has stored what it
        was sent, so that its work does not spill into the next run.  Mode.TIME: timed
        directly (no RSS: -1); else under GNU time."""
        fd, env = None, self.env
        if self.journal is not None:
            fd, stream = boot_namespace.journal_stream(tool.identifier)
            env = {**self.env, "JOURNAL_STREAM": stream}
        try:
            if mode.under_gnu_time:
                result = spawn_rss(argv, env, self.workdir, fd)
            else:
                result = spawn(argv, env, stderr_path, fd), -1
        finally:
            if fd is not None:
                os.close(fd)
        if self.journal is not None:
            self.journal.sync()
        return result

    def expect(self, tool: Tool, key: str, records: Sequence[stores.FakeRecord]) -> None:
        """Count the journal messages a run of tool on this store sends."""
        if tool.is_archiver:
            plan = self.plan(key, records)
            self.sent["archiver_dumps"] += sum(1 for e in plan if e.get("kind") == "dmesg")
        elif tool is Tool.SYSTEMD_PSTORE:
            self.sent["systemd_pstore_records"] += len(records)

    def plan(self, key: str, records: Sequence[stores.FakeRecord]) -> list[dict[str, Any]]:
        """The entries pstore-archiver makes of these records (`run --dry-run --json`, which
        sends nothing to the journal), once per store key."""
        if key in self.plans:
            return self.plans[key]
        store = self.fresh_store(records)
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
        tool: Tool,
        key: str,
        records: Sequence[stores.FakeRecord],
        series: Series,
        mode: Mode = Mode.TIME,
        fs: ArchiveFs = ArchiveFs.WORKDIR,
    ) -> None:
        """One fresh copy of the store, one run of `tool` on it, checked, cleaned up.
        The file system is synced first, so no run pays for an earlier one's writes."""
        store = self.fresh_store(records)
        with self.archive_parent(fs) as parent:
            archive = parent / self.fresh("archive").name
            argv = self.command(tool, store, archive)
            self.expect(tool, key, records)
            os.sync()
            sample, rss = self.service(tool, argv, mode)
            shutil.rmtree(archive, ignore_errors=True)
        if mode.under_gnu_time:
            series.rss_kib.append(rss)
        if mode.timed:
            series.samples.append(sample)
        left = os.listdir(store)
        if not tool.is_floor and (sample.exit_code != 0 or left):
            self.problems.append(
                f"{series.label}: exit {sample.exit_code}, {len(left)} records left in the store"
            )
        shutil.rmtree(store)


def measure_boot(runner: Runner, scope: Scope, results: Results, reps: int) -> None:
    """Empty store, the seed ERST store, the real 15-part EFI store; interleaved reps."""
    for store in BootStore:
        records = store.records()
        group = {tool: Series(f"{store.title}: {tool.value}") for tool in runner.tools}
        for tool in runner.tools:  # warm-up, not counted: byte-code caches, page cache
            runner.run_store(tool, store.value, records, Series("warm-up"))
        for _ in range(reps):
            for tool in runner.tools:
                runner.run_store(tool, store.value, records, group[tool])
        for _ in range(scope.rss_reps):
            for tool in runner.tools:
                runner.run_store(tool, store.value, records, group[tool], Mode.RSS)
        results.boot[store] = group
        timings = ", ".join(f"{t.value} {ms(s.median_s)}" for t, s in group.items())
        progress(f"boot: {store.title}: {timings}")


def measure_importtime(runner: Runner, scope: Scope, results: Results, reps: int) -> None:
    """`-X importtime` of the run path on the seed store; per module, the median of reps."""
    records = BootStore.SEED_ERST.records()
    runs: list[list[importtime.ImportRow]] = []
    floor_totals: list[int] = []
    log = runner.workdir / "importtime.txt"
    python = str(runner.install.python)
    for _ in range(min(reps, 5)):
        store = runner.fresh_store(records)
        archive = runner.fresh("archive")
        argv = [python, "-X", "importtime", str(runner.install.script)]
        argv += ["--source", str(store), "--archive", str(archive), "run"]
        runner.expect(Tool.ARCHIVER, BootStore.SEED_ERST.value, records)
        runner.service(Tool.ARCHIVER, argv, stderr_path=log)
        runs.append(importtime.parse_importtime(log.read_text()))
        runner.service(Tool.FLOOR, [python, "-X", "importtime", "-c", "pass"], stderr_path=log)
        floor_totals.append(importtime.total_us(importtime.parse_importtime(log.read_text())))
        shutil.rmtree(store)
        shutil.rmtree(archive, ignore_errors=True)
    results.importtime = importtime.summarize(runs, floor_totals)
    progress(f"importtime: total {results.importtime['total_us'] / 1000:.1f} ms")


def scale_reps(n: int, base: int) -> int:
    if n >= 10_000:
        return max(1, min(base, 2))
    if n >= LARGE:
        return max(1, min(base, 5))
    return base


def measure_scale(runner: Runner, scope: Scope, results: Results, reps: int) -> None:
    lines = capture_lines()
    for mix in Mix:
        for n in scope.sizes(mix):
            measure_mix(runner, mix, n, lines, results, reps)


def measure_mix(
    runner: Runner, mix: Mix, n: int, lines: Sequence[bytes], results: Results, reps: int
) -> None:
    records = mix.records(n, lines)
    key = f"{mix.title} of {n} records"
    group = {tool: Series(f"{n} records, {mix.title}: {tool.value}") for tool in SCALE_TOOLS}
    large = n >= LARGE
    for _ in range(scale_reps(n, reps)):
        for tool in SCALE_TOOLS:
            mode = Mode.BOTH if large else Mode.TIME
            runner.run_store(tool, key, records, group[tool], mode, runner.scale_fs)
    if not large:
        for tool in SCALE_TOOLS:
            runner.run_store(tool, key, records, group[tool], Mode.RSS, runner.scale_fs)
    results.scale.setdefault(mix, {})[n] = group
    results.scale_entries.setdefault(mix, {})[n] = len(runner.plan(key, records))
    timings = ", ".join(f"{t.value} {ms(s.median_s)}" for t, s in group.items())
    progress(f"scale: {key}: {timings}")


def measure_query(runner: Runner, scope: Scope, results: Results, reps: int) -> None:
    """Build an archive of n entries with one `run` (on a file system of its own, as the
    scale runs' are), then time list (cold, warm, --json) and info; the archive is kept for
    the profiles."""
    n = scope.query_entries
    records = one_record_entries(n, capture_lines())
    runner.expect(Tool.ARCHIVER, f"{n} one-entry records", records)
    store = runner.fresh_store(records)
    archive = runner.lasting_parent(runner.scale_fs) / "archive-queries"
    build = Series(f"run: {n:,} records, one entry each")
    argv = runner.archiver("--source", str(store), "--archive", str(archive), "run")
    os.sync()
    sample, rss = runner.service(Tool.ARCHIVER, argv, Mode.BOTH)  # one run: RSS and time
    build.samples.append(sample)
    build.rss_kib.append(rss)
    results.query_build = build
    results.query_entries = sum(1 for p in archive.iterdir() if not p.name.startswith("."))
    if os.listdir(store) or sample.exit_code != 0:
        runner.problems.append(f"{build.label}: exit {sample.exit_code}")
    shutil.rmtree(store)
    time_queries(runner, archive, min(reps, 5), scope.rss_reps, results)
    runner.query_archive = archive


def time_queries(runner: Runner, archive: Path, reps: int, rss_reps: int, results: Results) -> None:
    base = runner.archiver("--archive", str(archive))
    series = {query: Series(query.value) for query in Query}
    index = archive / ".index.json"
    for rep in range(reps + rss_reps):
        for query in Query:
            if query.cold:
                index.unlink(missing_ok=True)
            argv = [*base, *query.args]
            if rep < reps:
                series[query].samples.append(spawn(argv, runner.env))
            else:
                series[query].rss_kib.append(spawn_rss(argv, runner.env, runner.workdir)[1])
    for s in series.values():
        if s.exit_codes != [0]:
            entries = results.query_entries
            runner.problems.append(f"{s.label} over {entries} entries: exit {s.exit_codes}")
    results.query = series
    timings = ", ".join(f"{q.value} {ms(s.median_s)}" for q, s in series.items())
    progress(f"query over {results.query_entries} entries: {timings}")


def profile(
    runner: Runner, args: Sequence[str], name: str, service: bool
) -> dict[str, list[dict[str, Any]]]:
    """cProfile of one child run of the console script with args (as a service: a `run`;
    else from a terminal); the top functions by cumulative and by own time."""
    out = runner.workdir / f"{name}.prof"
    argv = [str(runner.install.python), "-m", "cProfile", "-o", str(out), *runner.archiver(*args)]
    if service:
        runner.service(Tool.ARCHIVER, argv)
    else:
        spawn(argv, runner.env)
    stats = pstats.Stats(str(out), stream=io.StringIO())
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, Any]]
    raw = stats.stats  # type: ignore[attr-defined]
    prefixes = (f"{runner.site_packages}/", f"{sys.base_prefix}/")
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
        "cumulative": sorted(rows, key=lambda r: -float(r["cumtime_s"]))[:PROFILE_TOP],
        "tottime": sorted(rows, key=lambda r: -float(r["tottime_s"]))[:PROFILE_TOP],
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


def measure_profiles(runner: Runner, scope: Scope, results: Results, reps: int) -> None:
    n = scope.sizes(Mix.MIXED)[-1]
    seed = BootStore.SEED_ERST
    cases = (
        (f"{Mix.MIXED.title} of {n} records", Mix.MIXED.records(n, capture_lines())),
        (seed.value, seed.records()),
    )
    for key, records in cases:
        store = runner.fresh_store(records)
        target = runner.fresh("archive")
        runner.expect(Tool.ARCHIVER, key, records)
        args = ["--source", str(store), "--archive", str(target), "run"]
        results.profiles[f"run, {key}"] = profile(runner, args, f"run-{runner.counter}", True)
        shutil.rmtree(store)
        shutil.rmtree(target, ignore_errors=True)
    archive = runner.query_archive
    if archive is not None:
        (archive / ".index.json").unlink(missing_ok=True)
        args = ["--archive", str(archive), "list"]
        for state in ("cold", "warm"):  # the first run rebuilds .index.json, the second reads it
            name = f"list ({state}), {results.query_entries:,} entries"
            results.profiles[name] = profile(runner, args, f"list-{state}", False)
    progress("profiles done")


def measure_fleet(runner: Runner, scope: Scope, results: Results, reps: int) -> None:
    """`top -D DIR` and `crashes -D DIR` of the installed build over a fleet's
    systemd-journal-remote files (bench/fleet_top.py makes them once and caches them):
    one warm-up run of each (the page cache), then reps of each, interleaved."""
    messages, machines = scope.fleet
    shape = fleet_top.FleetShape(machines=machines, messages=messages)
    progress(f"fleet: the journal files of {messages:,} crash messages from {machines:,} machines")
    directory = fleet_top.fleet_journals(shape)
    series = {query: Series(query.command) for query in FleetQuery}
    for rep in range(1 + min(reps, FLEET_REPS)):
        for query in FleetQuery:
            sample = spawn(runner.archiver(query.value, "-D", str(directory)), runner.env)
            if rep > 0:
                series[query].samples.append(sample)
    results.fleet = series
    documents = {query: fleet_json(runner, query, directory) for query in FleetQuery}
    results.fleet_rows = {query: len(rows) for query, rows in documents.items()}
    results.fleet_messages, results.fleet_machines = messages, machines
    results.fleet_directory = str(directory)
    check_fleet(runner, series, documents)
    timings = ", ".join(f"{q.value} {ms(s.median_s)}" for q, s in series.items())
    progress(f"fleet: {timings}")


def fleet_json(runner: Runner, query: FleetQuery, directory: Path) -> list[dict[str, Any]]:
    """The rows of `query --json`: signatures for top, crashes for crashes."""
    argv = runner.archiver(query.value, "-D", str(directory), "--json")
    done = subprocess.run(argv, env=runner.env, capture_output=True, check=False)
    try:
        rows: list[dict[str, Any]] = json.loads(done.stdout)
    except ValueError:
        runner.problems.append(f"fleet: {query.command} --json: exit {done.returncode}")
        return []
    return rows


def check_fleet(
    runner: Runner,
    series: Mapping[FleetQuery, Series],
    documents: Mapping[FleetQuery, list[dict[str, Any]]],
) -> None:
    """Every run exited 0, and `top` counted the crashes `crashes` listed."""
    for query, s in series.items():
        if s.exit_codes != [0]:
            runner.problems.append(f"fleet: {query.command}: exit {s.exit_codes}")
    counted = sum(int(row["crashes"]) for row in documents[FleetQuery.TOP])
    listed = len(documents[FleetQuery.CRASHES])
    if counted != listed or listed == 0:
        runner.problems.append(f"fleet: top counted {counted:,} crashes, crashes listed {listed:,}")


class Phase(enum.Enum):
    """The parts of a benchmark run, in order.  A new workload is a member here and a
    function in PHASES."""

    BOOT = "boot"
    IMPORTTIME = "importtime"
    SCALE = "scale"
    QUERY = "query"
    FLEET = "fleet"
    PROFILES = "profiles"

    def wanted(self, scope: Scope, profiles: bool) -> bool:
        return self is not Phase.PROFILES or (profiles and scope.profiles)


Measure = Callable[[Runner, Scope, Results, int], None]
PHASES: Mapping[Phase, Measure] = {
    Phase.BOOT: measure_boot,
    Phase.IMPORTTIME: measure_importtime,
    Phase.SCALE: measure_scale,
    Phase.QUERY: measure_query,
    Phase.FLEET: measure_fleet,
    Phase.PROFILES: measure_profiles,
}
