"""Benchmark pstore-archiver against systemd-pstore and the interpreter's own start-up.

    bench/run            # about 5-6 minutes on 2 cores
    bench/run --quick    # sizes up to 1,000, fewer repetitions
    bench/run --smoke    # one repetition of tiny stores, results to a temporary directory (CI)

The one command; the parts, by role (see bench/README.md):

* installed.py, debian.py: the builds users run (a wheel in a venv; the .deb's files with the
  system's python3); boot_namespace.py: boot conditions (private namespaces, a journald);
* tools.py: what is run (Tool) and how (Mode); timing.py: spawning and timing;
* workloads.py: the stores (BootStore, Mix) and how much of them (Scope);
* measure.py: the Runner and the phases of a run; importtime.py: `-X importtime` parsing;
* results.py, targets.py, report.py: what was measured, the targets, the tables.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

# bench/ is first on sys.path (this script's directory); tests/ is not a package: import
# its store builders and harness helpers the way pytest does (and mypy, via mypy_path)
sys.path.insert(0, str(REPO / "tests"))
import boot_namespace  # noqa: E402
import debian  # noqa: E402
import installed  # noqa: E402
import journald  # noqa: E402
import machine  # noqa: E402
import report  # noqa: E402
import stores  # noqa: E402
from boot_namespace import Journald  # noqa: E402
from installed import Install  # noqa: E402
from measure import PHASES, SYSTEMD_PSTORE, Runner, progress  # noqa: E402
from results import Results  # noqa: E402
from workloads import ArchiveFs, Scope  # noqa: E402

DEV_PYTHON = REPO / ".venv" / "bin" / "python"  # runs this benchmark and pip, never measured
INSTALL_ENV = "PSTORE_BENCH_INSTALL"  # the Install, handed to the re-run in the namespace
DEB_ENV = "PSTORE_BENCH_DEB"  # the .deb to measure, handed to the re-run ("": none)
ISOLATED_ENV = "PSTORE_BENCH_ISOLATED"
README = REPO / "README.md"
RESULTS_DIR = BENCH / "results"
STORE_TMPFS_SIZE = "256m"  # 10,000 records of ~1.8 KB, with room


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
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="sizes up to 1,000; 3 repetitions")
    size.add_argument(
        "--smoke",
        action="store_true",
        help="one repetition of tiny stores, no profiles, no .deb unless --deb; writes only "
        "into --out (default: a new temporary directory), never RESULTS.md or README.md",
    )
    parser.add_argument("--reps", type=int, default=10, help="repetitions of the small cases")
    parser.add_argument("--workdir", help="where to make the work directory (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile runs")
    parser.add_argument(
        "--out", help="write RESULTS.md and latest.json into this directory instead"
    )
    parser.add_argument(
        "--no-write",
        action="store_true",
        help="print only: leave RESULTS.md, README.md and results/ alone",
    )
    deb = parser.add_mutually_exclusive_group()
    deb.add_argument(
        "--deb", help="the .deb to measure (default: built with `packaging/build deb`)"
    )
    deb.add_argument("--no-deb", action="store_true", help="do not measure the Debian build")
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


def scope_of(args: argparse.Namespace) -> Scope:
    if args.smoke:
        return Scope.SMOKE
    return Scope.QUICK if args.quick else Scope.FULL


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


def prepare_deb(args: argparse.Namespace, root: bool) -> str:
    """The .deb to measure ("" for none): --deb, or one built now (as root, not --smoke)."""
    if args.no_deb or not root or (args.smoke and not args.deb):
        return ""
    if args.deb:
        return str(Path(args.deb).resolve())
    progress("building the .deb (packaging/build deb) ...")
    try:
        return str(debian.build_deb(REPO))
    except debian.DebianError as exc:
        raise SystemExit(f"bench: {exc}") from None


def lay_out_deb(deb: str) -> debian.DebianBuild | None:
    """In the namespace: the .deb unpacked and laid over the system's dist-packages."""
    if not deb:
        return None
    try:
        build = debian.unpack(Path(deb))
        debian.lay_out(build)
    except debian.DebianError as exc:
        raise SystemExit(f"bench: {exc}") from None
    machine.check_interpreter(build.python, build.script)
    progress(f"measuring {build.describe()}")
    return build


def store_file_system(workdir: Path, inside: bool) -> Path:
    """Where the stores are written: as root, a tmpfs of its own (as /sys/fs/pstore is), so
    that nothing can be renamed from a store into the archive."""
    root = workdir / "pstore"
    root.mkdir()
    if inside:
        boot_namespace.tmpfs(str(root), f"size={STORE_TMPFS_SIZE}")
    return root


def scale_file_system(runner: Runner, inside: bool) -> ArchiveFs:
    """A new ext4 for each scale run's archive where one can be made (as root, with
    mkfs.ext4 and loop devices: tried once here), else the work directory's."""
    if not inside or shutil.which("mkfs.ext4") is None:
        return ArchiveFs.WORKDIR
    try:
        with runner.archive_parent(ArchiveFs.FRESH_EXT4):
            pass
    except (boot_namespace.NamespaceError, OSError) as exc:
        progress(f"scale and query archives on the work directory: no new ext4 here ({exc})")
        return ArchiveFs.WORKDIR
    return ArchiveFs.FRESH_EXT4


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


def check_package(runner: Runner, install: Install) -> Path:
    """The directory the console script of install imports pstore_archiver from
    (bench/installed.py checks that it is the install's, and nothing comes from the
    checkout unless the install is the editable one)."""
    store = runner.fresh_store(stores.seed_erst_store())
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


def rerun_as_root(argv: Sequence[str], args: argparse.Namespace, install: Install) -> int:
    """Re-run this script as PID 1 of private namespaces, the builds handed over."""
    reason = journald.journald_available()
    if reason is not None:
        raise SystemExit(f"bench: cannot run a private journald here: {reason}")
    env = {
        **os.environ,
        ISOLATED_ENV: "1",
        INSTALL_ENV: install.to_json(),
        DEB_ENV: prepare_deb(args, root=True),
    }
    script = [sys.executable, str(Path(__file__).resolve()), *argv]
    return boot_namespace.rerun_in_namespace(script, env)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    inside = bool(os.environ.get(ISOLATED_ENV))
    if inside:
        install = Install.from_json(os.environ[INSTALL_ENV])
    else:
        install = prepare_install()
        if os.geteuid() == 0 and shutil.which("unshare") is not None:
            return rerun_as_root(argv, args, install)
    machine.check_interpreter(install.python, install.script)
    if not os.access(SYSTEMD_PSTORE, os.X_OK):
        raise SystemExit(f"{SYSTEMD_PSTORE} not found: install systemd")
    scope = scope_of(args)
    started = time.monotonic()
    command = ("bench/run " + shlex.join(argv)).strip()
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
            results = measure(args, scope, command, workdir, inside, install, journal)
        finally:
            if journal is not None:
                journal.kill()
        os.chdir(REPO)
    results.elapsed_s = time.monotonic() - started
    results.machine["load_end"] = machine.load()
    return write(args, scope, results)


def measure(
    args: argparse.Namespace,
    scope: Scope,
    command: str,
    workdir: Path,
    inside: bool,
    install: Install,
    journal: Journald | None,
) -> Results:
    started = time.monotonic()
    deb = lay_out_deb(os.environ.get(DEB_ENV, "") if inside else "")
    editable = installed.editable_install(REPO) if args.editable else None
    store_root = store_file_system(workdir, inside)
    # the shipped configuration, as the packages install it: every key commented out
    shutil.copyfile(REPO / "conf" / "pstore-archiver.toml", workdir / "pstore-archiver.toml")
    runner = Runner(workdir, store_root, install, journal, deb, editable)
    runner.scale_fs = scale_file_system(runner, inside)
    isolation = machine.describe_isolation(inside, journal)
    results = Results(
        machine=machine.machine_info(REPO, workdir, install, isolation),
        command=command,
        started=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        variant="no journald" if args.no_journald else "",
        rss_reps=scope.rss_reps,
        journald=journal is not None,
    )
    results.machine["store_fs"] = machine.filesystem_of(store_root)
    results.machine["scale_fs"] = runner.scale_fs.value
    results.machine["debian"] = deb.describe() if deb else "not measured"
    busy = machine.cpu_busy()
    package = check_package(runner, runner.install)
    if editable is not None:
        check_package(runner, editable)
    results.machine["imported_from"] = str(package)
    runner.site_packages = package.parent
    reps = scope.reps(args.reps)
    with runner.lasting:
        for phase, run_phase in PHASES.items():
            if phase.wanted(scope, not args.no_profile):
                run_phase(runner, scope, results, reps)
    if journal is not None:
        journal.stop()
        results.journal = check_journal(journal, runner)
    wall = time.monotonic() - started
    results.machine["cpu_other"] = machine.cpu_other(busy, machine.cpu_busy(), wall)
    results.problems = runner.problems
    return results


def write(args: argparse.Namespace, scope: Scope, results: Results) -> int:
    """Print the report; write it where it belongs (nothing into the repository unless the
    scope writes there and no --out is given)."""
    text = report.render(results)
    print(text)
    if args.no_write:
        return 0
    out = Path(args.out) if args.out else None
    if out is None and not scope.writes_repository:
        out = Path(tempfile.mkdtemp(prefix="pstore-bench-results-"))
    document = json.dumps(report.to_json(results), indent=2) + "\n"
    if results.variant:
        target = (out or RESULTS_DIR) / (results.variant.replace(" ", "-") + ".json")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(document)
        progress(f"comparison run: wrote {target} only")
        return 0
    results_dir, results_md = (
        (out, out / "RESULTS.md") if out else (RESULTS_DIR, BENCH / "RESULTS.md")
    )
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "latest.json").write_text(document)
    results_md.write_text(text + "\n")
    progress(f"wrote {results_dir / 'latest.json'} and {results_md}")
    if scope is Scope.FULL and out is None:
        if report.update_readme(README, report.readme_table(results)):
            progress(f"wrote the Performance table of {README}")
        else:
            progress(f"{README} has no {report.README_BEGIN} ... {report.README_END}: not updated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
