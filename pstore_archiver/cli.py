"""The command line (DESIGN §4) and its exit codes (DESIGN §5), mapped here and nowhere else."""

from __future__ import annotations

import codecs
import gc
import io
import os
import sys
import time

from pstore_archiver import __version__
from pstore_archiver.diagnostics import log
from pstore_archiver.errors import (
    ArchiverError,
    ArchiveUnreadable,
    ArchiveUnwritable,
    ConfigError,
    LockHeld,
    NothingFound,
    UsageError,
    describe_os_error,
)
from pstore_archiver.terminal import escape
from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # argparse, json, datetime, typing: off `run`'s start-up (bench/RESULTS.md)
    import argparse
    from collections.abc import Sequence
    from datetime import datetime
    from typing import Any, Callable

EXIT_OK = 0
EXIT_LEFT_OR_NOTHING = 1
EXIT_USAGE = 2
EXIT_ARCHIVE_UNWRITABLE = 73
EXIT_LOCKED = 75
EXIT_CONFIG = 78
EPILOG = """\
ENTRY is an entry id, a unique prefix of one, or nothing for the newest entry.
TIME is 2026-11-26, '2026-11-26 19:30', ISO 8601 with a zone, today, yesterday,
-2h (also --since -2h) or '1 week ago'.

exit status:
  0   done: everything in the store is archived (or there was nothing)
  1   something was left in the store (it is safe there), or a query found nothing
      (or could not read the archive, or write its output)
  2   usage error
  73  the archive cannot be written (missing, read-only, full); nothing was unlinked
  75  another run holds the archive's lock
  78  the configuration is invalid (a key, a value, a path); nothing was touched

files:
  /etc/pstore-archiver.toml, /etc/pstore-archiver.toml.d/*.toml   configuration
  /var/lib/pstore-archiver/<entry>/entry.json, dmesg.txt, records  the archive
  /var/lib/systemd/pstore                                          what import reads

environment:
  PSTORE_ARCHIVER_CONFIG   the main configuration file, as --config (it must exist)
  SYSTEMD_LOG_LEVEL        debug, info, warning, err: how much goes to stderr
"""
EXIT_STATUS: dict[type[ArchiverError], int] = {
    ArchiveUnreadable: EXIT_LEFT_OR_NOTHING,
    ConfigError: EXIT_CONFIG,
    ArchiveUnwritable: EXIT_ARCHIVE_UNWRITABLE,
    LockHeld: EXIT_LOCKED,
    NothingFound: EXIT_LEFT_OR_NOTHING,
    UsageError: EXIT_USAGE,
}


class Verb(NamedTuple):
    name: str
    run: Callable[[argparse.Namespace], int]
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]


def config_of(args: argparse.Namespace) -> Any:
    """The configuration, with --source and --archive applied over the files."""
    from pstore_archiver.config import load_config

    overrides: dict[str, dict[str, Any]] = {}
    if args.source is not None:
        overrides["source"] = {"path": args.source}
    if args.archive is not None:
        overrides["archive"] = {"path": args.archive}
    return load_config(args.config, overrides)


class Output:
    """Standard output for a command: text for people (control characters escaped by
    the caller), JSON, or raw bytes.  A reader that went away (`| head -1`) ends the
    output quietly; any other failure to write (`> /dev/full`) is one line and exit 1."""

    def __init__(self) -> None:
        self.closed = False

    def text(self, text: str) -> None:
        """One or more whole lines."""
        self.write(text + "\n")

    def write(self, text: str) -> None:
        self._write(lambda: sys.stdout.write(text))

    def json(self, document: Any) -> None:
        from pstore_archiver.manifest import dump_json

        self.text(dump_json(document, indent=2))

    def raw(self, data: bytes) -> None:
        self._write(lambda: sys.stdout.buffer.write(data))

    def flush(self) -> None:
        self._write(sys.stdout.flush)

    def _write(self, write: Callable[[], object]) -> None:
        if self.closed:
            return
        try:
            write()
        except BrokenPipeError:
            self._close()
        except OSError as e:
            self._close()
            raise ArchiverError(f"standard output: cannot write: {describe_os_error(e)}") from e

    def _close(self) -> None:
        """Nothing more goes out; at exit, Python's flush of stdout must not fail again."""
        self.closed = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


out = Output()


def print_json(document: Any) -> None:
    out.json(document)


# --- run, import -------------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be archived; touch nothing"
    )
    parser.add_argument(
        "--no-unlink", action="store_true", help="archive, but leave the records in the store"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the run report as JSON (on every exit status but 2, a usage error)",
    )


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        nargs="?",
        metavar="DIR",
        help="what systemd-pstore left (default: /var/lib/systemd/pstore)",
    )
    parser.add_argument(
        "--remove",
        action="store_true",
        help="remove each record once its copy in the archive is durable and verified "
        "(never dmesg.txt, temporary files, or a directory that is not left empty)",
    )
    parser.add_argument("--dry-run", action="store_true", help="show what would be imported")
    parser.add_argument(
        "--json", action="store_true", help="print the import report as JSON (as run --json)"
    )


def _sink(config: Any) -> Any:
    from pstore_archiver.journal import Sink

    return Sink(
        use_journal=config.journal_enabled,
        text=config.journal_text,
        max_attach_bytes=config.max_attach_bytes,
    )


def verb_run(args: argparse.Namespace) -> int:
    from pstore_archiver.archive import Archive
    from pstore_archiver.service import RunOptions, check_source, limits_of, read_origin, run_once
    from pstore_archiver.store import Store

    def transact() -> Any:
        config = config_of(args)
        check_source(config)
        options = RunOptions(dry_run=args.dry_run, unlink=config.unlink and not args.no_unlink)
        store, archive = Store(config.source_path), Archive(config.archive_path)
        origin = read_origin(time.time_ns())
        return run_once(store, archive, limits_of(config), options, _sink(config), origin)

    return _transact(args, transact)


def verb_import(args: argparse.Namespace) -> int:
    from pstore_archiver.archive import Archive
    from pstore_archiver.service import RunOptions, import_once, limits_of, read_origin

    def transact() -> Any:
        config = config_of(args)
        directory = args.directory
        if directory is not None:
            _check_import_directory(directory, config)
        options = RunOptions(dry_run=args.dry_run, unlink=args.remove)
        archive, origin = Archive(config.archive_path), read_origin(time.time_ns())
        return import_once(directory, archive, limits_of(config), options, _sink(config), origin)

    return _transact(args, transact)


def _check_import_directory(directory: str, config: Any) -> None:
    from pstore_archiver.config import check_distinct

    if not directory or "\0" in directory:
        raise ConfigError(f"import {directory!r}: expected a directory")
    check_distinct(
        f"import {directory!r}",
        directory,
        f"archive.path = {config.archive_path!r}",
        config.archive_path,
    )


def _transact(args: argparse.Namespace, transact: Callable[[], Any]) -> int:
    """Run a transaction (run, import); its report as text or JSON, on every outcome."""
    try:
        report = transact()
    except ArchiverError as e:
        code = exit_status_of(e)
        if args.json:
            print_json({**_empty_report(args), "error": str(e), "exit_status": code})
        raise
    if report.error:
        log.error("%s", report.error)
        code = EXIT_ARCHIVE_UNWRITABLE
    else:
        code = EXIT_LEFT_OR_NOTHING if report.left else EXIT_OK
    if args.json:
        print_json({**report.to_json(), "exit_status": code})
    elif not os.environ.get("JOURNAL_STREAM"):  # under systemd the journal has it all
        _print_run_report(report)
    return code


def _empty_report(args: argparse.Namespace) -> dict[str, Any]:
    """The report of a run that stopped before it began (the paths as given, if any)."""
    from pstore_archiver.service import DEFAULT_IMPORT_PATH, RunReport

    directory = getattr(args, "directory", None)
    if args.verb == "run":
        source, imported = args.source, None
    else:
        source = imported = directory or DEFAULT_IMPORT_PATH
    report = RunReport(source or "", args.archive or "", args.dry_run, imported).to_json()
    return {**report, "source": source, "archive": args.archive}


def _print_run_report(report: Any) -> None:
    verb = "would archive" if report.dry_run else "archived"
    for entry in report.entries:
        missing = entry["missing_parts"]
        more = entry["missing_count"] - len(missing)
        listed = ", ".join(map(str, missing)) + (f" and {more} more" if more > 0 else "")
        gaps = f" (parts missing: {listed})" if missing else ""
        out.text(escape(f"{verb} {len(entry['records'])} record(s) as {entry['path']}{gaps}"))
    for name in report.already_archived:
        out.text(escape(f"already archived: {name}"))
    for left in report.left:
        blamed = f" (entry {left.entry})" if left.entry else ""
        out.text(escape(f"left in {report.source}: {left.name}: {left.reason}{blamed}"))
    for ignored in report.ignored:
        out.text(escape(f"not a record, left alone: {ignored['name']}: {ignored['reason']}"))
    for removal in report.removals:
        out.text(escape(f"removed {removal['id']} ({removal['bytes']} bytes): {removal['reason']}"))
    for damaged in report.damaged:
        out.text(escape(f"damaged entry, skipped: {damaged['id']}: {damaged['reason']}"))
    if not (report.entries or report.already_archived or report.left or report.ignored):
        out.text(escape(f"nothing to archive in {report.source}"))


# --- config ------------------------------------------------------------------------------


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="only validate: exit 0 when valid, 78 with the errors otherwise",
    )
    parser.add_argument("--json", action="store_true", help="print the configuration as JSON")


def verb_config(args: argparse.Namespace) -> int:
    import json

    config = config_of(args)
    if args.check:
        from pstore_archiver.service import check_source

        check_source(config)  # what a run would refuse, config --check refuses
        out.text("configuration is valid")
        return EXIT_OK
    values = config.as_dict()
    if args.json:
        print_json({"values": values, "origins": dict(config.origins)})
        return EXIT_OK
    for section, keys in values.items():
        out.text(f"[{section}]")
        for key, value in keys.items():
            origin = config.origins.get(f"{section}.{key}", "")
            out.text(escape(f"{key} = {json.dumps(value)}  # {origin}"))
        out.text("")
    return EXIT_OK


# --- list, info, dump ----------------------------------------------------------------------


def open_archive(args: argparse.Namespace) -> tuple[Any, Any]:
    from pstore_archiver.archive import Archive

    config = config_of(args)
    return config, Archive(config.archive_path)


def crash_window(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    """--since and --until (add_crash_filters) as times; a window that ends before it
    starts is a usage error."""
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    since = parse_since_until(args.since, "--since", now)
    until = parse_since_until(args.until, "--until", now)
    if since and until and since > until:
        raise UsageError(f"--since {args.since!r} is after --until {args.until!r}")
    return since, until


def parse_since_until(value: str | None, option: str, now: datetime) -> datetime | None:
    from pstore_archiver.timespec import parse_time_spec

    if value is None:
        return None
    try:
        return parse_time_spec(value, now)
    except (ValueError, OverflowError) as e:
        raise UsageError(f"{option}: {e}") from e


def add_crash_filters(parser: argparse.ArgumentParser) -> None:
    """--since, --until, --reason and --backend, as list, crashes and top take them."""
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="crashes at or after TIME: 2026-11-26, '2026-11-26 19:30', today, "
        "yesterday, -2h, '1 week ago'",
    )
    parser.add_argument("--until", metavar="TIME", help="crashes at or before TIME")
    parser.add_argument("--reason", metavar="R", help="Panic, Oops, Emergency, Shutdown, ...")
    parser.add_argument(
        "--backend",
        metavar="B",
        help="erst, efi, ramoops, pstore_blk, ... (efi also finds efi_pstore, "
        "pstore_blk also pstore-blk)",
    )


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", dest="last", type=int, metavar="N", help="only the newest N")
    add_crash_filters(parser)
    parser.add_argument("--kind", metavar="K", help="dmesg, console, pmsg, ftrace, ...")
    parser.add_argument("--json", action="store_true", help="print the manifests as a JSON array")


def verb_list(args: argparse.Namespace) -> int:
    from pstore_archiver.query import Filters, render_table, select, table_rows

    if args.last is not None and args.last < 0:
        raise UsageError(f"-n {args.last}: expected a number of entries, 0 or more")
    since, until = crash_window(args)
    filters = Filters(
        since=since,
        until=until,
        reason=args.reason,
        backend=args.backend,
        kind=args.kind,
        last=args.last,
    )
    _, archive = open_archive(args)
    manifests = select([e.manifest for e in archive.entries()], filters)
    report_damaged(archive)
    if args.json:
        print_json([manifest.to_json() for manifest in manifests])
    elif manifests:
        out.text(render_table(table_rows(manifests), terminal_width()))
    else:
        log.info("No archived entries match in %s.", archive.path)
    return EXIT_OK if manifests else EXIT_LEFT_OR_NOTHING


def report_damaged(archive: Any) -> None:
    """Entries whose manifest cannot be trusted: named on stderr, with why."""
    for damaged in archive.damaged():
        log.warning(
            "%s: damaged entry, skipped: %s",
            os.path.join(archive.path, damaged.entry_id),
            damaged.reason,
        )


def add_entry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "entry",
        nargs="?",
        metavar="ENTRY",
        help="an entry id or a unique prefix of one (default: the newest)",
    )


def add_info_arguments(parser: argparse.ArgumentParser) -> None:
    add_entry_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the manifest and more as JSON")
    parser.add_argument(
        "--lines",
        type=int,
        default=20,
        metavar="N",
        help="how many of the log's last lines to show (default: 20)",
    )


def verb_info(args: argparse.Namespace) -> int:
    from pstore_archiver.analysis import ANALYSIS_BYTES
    from pstore_archiver.query import describe, resolve

    if args.lines < 0:
        raise UsageError(f"--lines {args.lines}: expected a number of lines, 0 or more")
    _, archive = open_archive(args)
    entries = archive.entries()
    report_damaged(archive)
    manifests = [e.manifest for e in entries]
    manifest = resolve(manifests, args.entry, archive.damaged())
    entry_id = manifest.entry_id
    info = describe(
        manifest,
        manifests,
        archive.read_log_tail(entry_id, ANALYSIS_BYTES),  # the crash is at the log's end
        path=os.path.join(archive.path, entry_id),
        size_bytes=next(e.size_bytes for e in entries if e.entry_id == entry_id),
        lines=args.lines,
    )
    if args.json:
        print_json(info.to_json())
    else:
        out.text(info.render())
    return EXIT_OK


def add_dump_arguments(parser: argparse.ArgumentParser) -> None:
    add_entry_argument(parser)
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write to FILE instead of standard output"
    )


def verb_dump(args: argparse.Namespace) -> int:
    from pstore_archiver.query import resolve
    from pstore_archiver.terminal import escape_line

    _, archive = open_archive(args)
    manifests = [e.manifest for e in archive.entries()]
    report_damaged(archive)
    manifest = resolve(manifests, args.entry, archive.damaged())
    if args.output is None:
        # to a terminal, the log's control characters are escaped; to a file or a pipe,
        # the bytes go out as they are
        decoder = None
        if sys.stdout.isatty():
            decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        for chunk in archive.read_log(manifest.entry_id):
            if decoder is not None:
                text = decoder.decode(chunk)
                out.write("\n".join(escape_line(line) for line in text.split("\n")))
            else:
                out.raw(chunk)
            if out.closed:  # `pstore-archiver dump | head`
                break
        out.flush()
        return EXIT_OK
    size = 0
    try:
        with open(args.output, "wb") as f:
            for chunk in archive.read_log(manifest.entry_id):
                f.write(chunk)
                size += len(chunk)
    except OSError as e:
        raise ArchiverError(f"{args.output}: cannot write: {describe_os_error(e)}") from e
    log.info("Wrote %s (%d bytes) to %s.", manifest.entry_id, size, args.output)
    return EXIT_OK


# --- status, vacuum ----------------------------------------------------------------------


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def verb_status(args: argparse.Namespace) -> int:
    from pstore_archiver.status import read_status, render_status

    config, archive = open_archive(args)
    status = read_status(config, archive)
    if args.json:
        print_json(status.to_json())
    else:
        out.text(render_status(status))
    return EXIT_OK if status.healthy else EXIT_LEFT_OR_NOTHING


def add_vacuum_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-entries", type=int, metavar="N", help="keep at most N entries")
    parser.add_argument("--max-use", metavar="SIZE", help="keep the archive under SIZE (e.g. 256M)")
    parser.add_argument("--max-age", metavar="AGE", help="remove entries older than AGE (e.g. 90d)")
    parser.add_argument(
        "--keep-newest",
        type=int,
        metavar="N",
        help="never remove the newest N entries (default: retention.keep_newest, 5)",
    )
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed")


def vacuum_limits(args: argparse.Namespace, config: Any) -> Any:
    from pstore_archiver.service import limits_of
    from pstore_archiver.units import parse_duration, parse_size

    limits = limits_of(config)
    try:
        if args.max_entries is not None:
            if args.max_entries < 0:
                raise ValueError(f"expected 0 or more, got {args.max_entries}")
            limits = limits._replace(max_entries=args.max_entries)
        if args.max_use is not None:
            limits = limits._replace(max_use_bytes=parse_size(args.max_use))
        if args.max_age is not None:
            limits = limits._replace(max_age_seconds=parse_duration(args.max_age))
        if args.keep_newest is not None:
            if args.keep_newest < 0:
                raise ValueError(f"--keep-newest: expected 0 or more, got {args.keep_newest}")
            limits = limits._replace(keep_newest=args.keep_newest)
    except ValueError as e:
        raise UsageError(f"vacuum: {e}") from e
    return limits


def verb_vacuum(args: argparse.Namespace) -> int:
    from pstore_archiver.journal import Sink
    from pstore_archiver.service import apply_retention, plan_retention

    config, archive = open_archive(args)
    limits = vacuum_limits(args, config)
    now_s = time.time()
    if not os.path.lexists(archive.path):
        log.info("No archive at %s: nothing to remove.", archive.path)
        return EXIT_OK
    archive.entries()  # an archive that cannot be read says so before it is locked
    if args.dry_run:
        removals = plan_retention(archive, limits, set(), now_s)
    else:
        # stdout lists each removal; without journald, don't repeat them on stderr
        sink = Sink(use_journal=config.journal_enabled, stream=io.StringIO())
        with archive.locked(create=False) as archive_fd:
            removals = apply_retention(archive, archive_fd, limits, set(), sink, now_s)
    report_damaged(archive)
    verb = "would remove" if args.dry_run else "removed"
    for removal in removals:
        out.text(
            escape(f"{verb} {removal.entry_id} ({removal.size_bytes} bytes): {removal.reason}")
        )
    if not removals:
        log.info("Nothing to remove: the archive is within its limits.")
    return EXIT_OK


# --- crashes, top: what the journal recorded, on this machine or a fleet's -------------------


def add_crashes_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "-D",
        "--directory",
        metavar="DIR",
        help="read the journal files in DIR (e.g. systemd-journal-remote's "
        "/var/log/journal/remote) instead of the local journal",
    )
    source.add_argument(
        "--file", metavar="GLOB", help="read the journal files GLOB names (quote it)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array")
    add_crash_filters(parser)
    parser.add_argument(
        "--machine", metavar="M", help="only this machine: a machine id (or a prefix) or host name"
    )
    parser.add_argument("--signature", metavar="S", help="only crashes with this signature")


def journal_crashes(args: argparse.Namespace, fields: Sequence[str]) -> list[Any]:
    """Each crash the journal announced once, oldest first, filtered as asked; only the
    given fields of each message are read."""
    from pstore_archiver.crashes import Filters, crash_from_fields, select, unique
    from pstore_archiver.journal_reader import read_dump_announcements

    since, until = crash_window(args)
    filters = Filters(
        since=since,
        until=until,
        machine=args.machine,
        signature=args.signature,
        reason=args.reason,
        backend=args.backend,
    )
    announced = read_dump_announcements(fields, args.directory, args.file)
    return select(unique(crash_from_fields(values) for values in announced), filters)


def terminal_width() -> int:
    return os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 10**6


def verb_crashes(args: argparse.Namespace) -> int:
    from pstore_archiver.crashes import CRASH_COLUMNS, FIELDS, crash_json, crash_rows
    from pstore_archiver.query import render_table

    crashes = journal_crashes(args, FIELDS)
    if args.json:
        print_json([crash_json(crash) for crash in crashes])
    elif crashes:
        out.text(render_table(crash_rows(crashes), terminal_width(), CRASH_COLUMNS))
    else:
        log.info("No kernel crashes in the journal match.")
    return EXIT_OK if crashes else EXIT_LEFT_OR_NOTHING


def verb_top(args: argparse.Namespace) -> int:
    from pstore_archiver.crashes import TOP_COLUMNS, TOP_FIELDS, top, top_json, top_rows
    from pstore_archiver.query import render_table

    counts = top(journal_crashes(args, TOP_FIELDS))
    if args.json:
        print_json([top_json(row) for row in counts])
    elif counts:
        out.text(render_table(top_rows(counts), terminal_width(), TOP_COLUMNS))
    else:
        log.info("No kernel crashes in the journal match.")
    return EXIT_OK if counts else EXIT_LEFT_OR_NOTHING


VERBS = (
    Verb("run", verb_run, "Archive every record in the store", add_run_arguments),
    Verb(
        "import",
        verb_import,
        "Archive the records systemd-pstore left (after switching from it); originals kept",
        add_import_arguments,
    ),
    Verb("list", verb_list, "List archived entries, newest last", add_list_arguments),
    Verb(
        "info",
        verb_info,
        "Show one entry: metadata, summary, call trace, log tail",
        add_info_arguments,
    ),
    Verb(
        "dump",
        verb_dump,
        "Write an entry's reassembled log (raw bytes for other records)",
        add_dump_arguments,
    ),
    Verb(
        "status",
        verb_status,
        "Show the backend, records waiting in the store, and the archive",
        add_status_arguments,
    ),
    Verb(
        "vacuum",
        verb_vacuum,
        "Remove the oldest entries until the retention limits hold",
        add_vacuum_arguments,
    ),
    Verb(
        "config",
        verb_config,
        "Show the effective configuration and where each value comes from",
        add_config_arguments,
    ),
    Verb(
        "crashes",
        verb_crashes,
        "List kernel crashes as the journal recorded them, this machine's or a fleet's, each once",
        add_crashes_arguments,
    ),
    Verb(
        "top",
        verb_top,
        "Count crashes per signature: machines, first and last crash, kernels",
        add_crashes_arguments,
    ),
)
VERBS_BY_NAME = {verb.name: verb for verb in VERBS}


def build_parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="pstore-archiver",
        description="Move kernel crash records out of pstore into a durable archive, "
        "reassembled into one log per crash, and query that archive.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="main configuration file (default: $PSTORE_ARCHIVER_CONFIG or "
        "/etc/pstore-archiver.toml; drop-ins in FILE.d/*.toml)",
    )
    parser.add_argument(
        "--source",
        metavar="DIR",
        help="the pstore directory (default: /sys/fs/pstore; a directory named must exist)",
    )
    parser.add_argument(
        "--archive",
        metavar="DIR",
        help="the archive directory (default: /var/lib/pstore-archiver)",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb in VERBS:
        sub = verbs.add_parser(verb.name, help=verb.help, description=verb.help, allow_abbrev=False)
        verb.add_arguments(sub)
    return parser


# Options whose value may start with "-" (`--since -2h`): argparse would take it for an
# option, so "--since -2h" is read as "--since=-2h".
_DASH_VALUES = frozenset({"--since", "--until"})


def join_dash_values(argv: Sequence[str]) -> list[str]:
    joined: list[str] = []
    words = iter(argv)
    for word in words:
        if word in _DASH_VALUES:
            value = next(words, None)
            if value is not None and value.startswith("-") and value != "--":
                joined.append(f"{word}={value}")
                continue
            joined.append(word)
            if value is not None:
                joined.append(value)
            continue
        joined.append(word)
        if word == "--":
            joined.extend(words)
    return joined


def exit_status_of(error: ArchiverError) -> int:
    return next((EXIT_STATUS[c] for c in type(error).__mro__ if c in EXIT_STATUS), 1)


# `run`'s own options, and the global options that take a value (`build_parser`).
_RUN_FLAGS = {"--dry-run": "dry_run", "--no-unlink": "no_unlink", "--json": "json"}
_GLOBAL_VALUES = {"--config": "config", "--source": "source", "--archive": "archive"}


def parse_run_words(words: Sequence[str]) -> argparse.Namespace | None:
    """`[--config F] [--source D] [--archive D] run [--dry-run] [--no-unlink] [--json]`,
    the boot's command line, read without building the argparse parser (its import and
    construction are a tenth of a boot run); None for anything else (another command,
    --help, an error), which `build_parser` reads, with its messages."""
    from types import SimpleNamespace

    values: dict[str, Any] = {"config": None, "source": None, "archive": None}
    values.update(dict.fromkeys(_RUN_FLAGS.values(), False))
    position = 0
    while position < len(words) and words[position] != "run":
        name, equals, value = words[position].partition("=")
        if not equals:
            position += 1
            value = words[position] if position < len(words) else "-"
        if name not in _GLOBAL_VALUES or value.startswith("-"):
            return None
        values[_GLOBAL_VALUES[name]] = value
        position += 1
    if position == len(words) or any(word not in _RUN_FLAGS for word in words[position + 1 :]):
        return None
    values.update({_RUN_FLAGS[word]: True for word in words[position + 1 :]})
    return SimpleNamespace(verb="run", **values)  # type: ignore[return-value]


def main(argv: Sequence[str] | None = None) -> int:
    """The program (no `argv`: `sys.argv`, then `leave`), or one command in-process."""
    if argv is None:
        # The cyclic garbage collector stays off in the program: its collections during
        # the imports cost a boot run 1-2 ms, and it would find little (a run makes no
        # reference cycles per record: 10,000 records peak at the same RSS either way).
        gc.disable()
    code = run_command(sys.argv[1:] if argv is None else argv)
    if argv is None:
        leave(code)
    return code


def leave(code: int) -> int:
    """End the process without the interpreter's shutdown (freeing every module and
    object: 6-8 ms of a boot run).  Nothing is lost: every archive file was fsynced and
    closed before this, and journald has each message once `sendv` returned; only the
    standard streams hold buffered text, flushed here.  If that fails, or a profiler or
    coverage tool is watching (it writes its data at exit), the ordinary exit does it."""
    if observed():
        return code
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return code
    os._exit(code)


def observed() -> bool:
    """Whether a profiler, tracer or coverage tool watches this process."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        return True
    monitoring = getattr(sys, "monitoring", None)  # Python 3.12+: cProfile, coverage
    return monitoring is not None and any(monitoring.get_tool(i) for i in range(6))


def run_command(words: Sequence[str]) -> int:
    log.configure(os.environ)
    out.closed = False
    args = parse_run_words(words) or build_parser().parse_args(join_dash_values(words))
    try:
        code = VERBS_BY_NAME[args.verb].run(args)
        out.flush()
        return code
    except ArchiverError as e:
        for line in str(e).splitlines():
            log.error("%s", line)
        return exit_status_of(e)
    except OSError as e:  # the environment failed where nothing named it: still one line
        where = f"{os.fsdecode(e.filename)}: " if e.filename is not None else ""
        log.error("%s%s", where, describe_os_error(e))
        return EXIT_LEFT_OR_NOTHING
