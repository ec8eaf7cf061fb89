"""The command line (DESIGN §4) and its exit codes (DESIGN §5), mapped here and nowhere else."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, NamedTuple

from pstore_archiver import __version__
from pstore_archiver.diagnostics import log
from pstore_archiver.errors import (
    ArchiverError,
    ArchiveUnwritable,
    ConfigError,
    LockHeld,
    NothingFound,
    UsageError,
    describe_os_error,
)

EXIT_OK = 0
EXIT_LEFT_OR_NOTHING = 1
EXIT_USAGE = 2
EXIT_ARCHIVE_UNWRITABLE = 73
EXIT_LOCKED = 75
EXIT_CONFIG = 78
EPILOG = """\
ENTRY is an entry id, a unique prefix of one, or nothing for the newest entry.

exit status:
  0   done: everything in the store is archived (or there was nothing)
  1   something was left in the store (it is safe there), or a query found nothing
  2   usage error
  73  the archive cannot be written (missing, read-only, full); nothing was unlinked
  75  another run holds the archive's lock
  78  the configuration is invalid; nothing was touched

files:
  /etc/pstore-archiver.toml, /etc/pstore-archiver.toml.d/*.toml   configuration
  /var/lib/pstore-archiver/<entry>/entry.json, dmesg.txt, records  the archive
"""
EXIT_STATUS: dict[type[ArchiverError], int] = {
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
        overrides["source"] = {"path": str(args.source)}
    if args.archive is not None:
        overrides["archive"] = {"path": str(args.archive)}
    return load_config(args.config, overrides)


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


# --- run ---------------------------------------------------------------------------------


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would be archived; touch nothing"
    )
    parser.add_argument(
        "--no-unlink", action="store_true", help="archive, but leave the records in the store"
    )
    parser.add_argument("--json", action="store_true", help="print the run report as JSON")


def verb_run(args: argparse.Namespace) -> int:
    from pstore_archiver.journal import Sink
    from pstore_archiver.service import RunOptions, read_origin, run_once

    config = config_of(args)
    sink = Sink(
        use_journal=config.journal_enabled,
        attach_text=config.attach_text,
        max_attach_bytes=config.max_attach_bytes,
    )
    options = RunOptions(dry_run=args.dry_run, unlink=config.unlink and not args.no_unlink)
    report = run_once(config, options, sink, read_origin(time.time_ns()))
    if args.json:
        print_json(report.to_json())
    elif not os.environ.get("JOURNAL_STREAM"):  # under systemd the journal has it all
        _print_run_report(report)
    if report.error:
        log.error("%s", report.error)
        return EXIT_ARCHIVE_UNWRITABLE
    return EXIT_LEFT_OR_NOTHING if report.left else EXIT_OK


def _print_run_report(report: Any) -> None:
    verb = "would archive" if report.dry_run else "archived"
    for entry in report.entries:
        missing = entry["missing_parts"]
        gaps = f" (parts missing: {', '.join(map(str, missing))})" if missing else ""
        print(f"{verb} {len(entry['records'])} record(s) as {entry['path']}{gaps}")
    for name in report.already_archived:
        print(f"already archived: {name}")
    for left in report.left:
        print(f"left in {report.source}: {left['name']}: {left['reason']}")
    if not report.entries and not report.already_archived and not report.left:
        print(f"nothing to archive in {report.source}")


# --- config ------------------------------------------------------------------------------


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check",
        action="store_true",
        help="only validate: exit 0 when valid, 78 with the errors otherwise",
    )
    parser.add_argument("--json", action="store_true", help="print the configuration as JSON")


def verb_config(args: argparse.Namespace) -> int:
    config = config_of(args)
    if args.check:
        print("configuration is valid")
        return EXIT_OK
    values = config.as_dict()
    if args.json:
        print_json({"values": values, "origins": dict(config.origins)})
        return EXIT_OK
    for section, keys in values.items():
        print(f"[{section}]")
        for key, value in keys.items():
            origin = config.origins.get(f"{section}.{key}", "")
            print(f"{key} = {json.dumps(value)}  # {origin}")
        print()
    return EXIT_OK


# --- list, info, dump ----------------------------------------------------------------------


def open_archive(args: argparse.Namespace) -> tuple[Any, Any]:
    from pstore_archiver.archive import Archive

    config = config_of(args)
    return config, Archive(config.archive_path)


def parse_since_until(value: str | None, option: str, now: datetime) -> datetime | None:
    from pstore_archiver.timespec import parse_time_spec

    if value is None:
        return None
    try:
        return parse_time_spec(value, now)
    except ValueError as e:
        raise UsageError(f"{option}: {e}") from e


def add_list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", dest="last", type=int, metavar="N", help="only the newest N")
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="crashes at or after TIME: 2026-11-26, '2026-11-26 19:30', today, "
        "yesterday, -2h, '1 week ago'",
    )
    parser.add_argument("--until", metavar="TIME", help="crashes at or before TIME")
    parser.add_argument("--reason", metavar="R", help="Panic, Oops, Emergency, Shutdown, ...")
    parser.add_argument("--backend", metavar="B", help="erst, efi, efi_pstore, ramoops, ...")
    parser.add_argument("--kind", metavar="K", help="dmesg, console, pmsg, ftrace, ...")
    parser.add_argument("--json", action="store_true", help="print the manifests as a JSON array")


def verb_list(args: argparse.Namespace) -> int:
    from pstore_archiver.query import Filters, render_table, select, table_rows

    if args.last is not None and args.last < 0:
        raise UsageError(f"-n {args.last}: expected a number of entries, 0 or more")
    now = datetime.now(timezone.utc)
    filters = Filters(
        since=parse_since_until(args.since, "--since", now),
        until=parse_since_until(args.until, "--until", now),
        reason=args.reason,
        backend=args.backend,
        kind=args.kind,
        last=args.last,
    )
    if filters.since and filters.until and filters.since > filters.until:
        raise UsageError(f"--since {args.since!r} is after --until {args.until!r}")
    _, archive = open_archive(args)
    manifests = select([e.manifest for e in archive.entries()], filters)
    if args.json:
        print_json(manifests)
    elif manifests:
        width = os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else 10**6
        print(render_table(table_rows(manifests), width))
    else:
        log.info("No archived entries match in %s.", archive.path)
    return EXIT_OK if manifests else EXIT_LEFT_OR_NOTHING


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


def entry_text(archive: Any, manifest: dict[str, Any]) -> bytes:
    """The reassembled log of a dump, or the (single) record's bytes."""
    from pstore_archiver.manifest import DMESG_NAME

    folder = archive.path / manifest["id"]
    if (folder / DMESG_NAME).exists():
        return bytes((folder / DMESG_NAME).read_bytes())
    records = manifest.get("records") or []
    return b"".join((folder / r["name"]).read_bytes() for r in records)


def verb_info(args: argparse.Namespace) -> int:
    from pstore_archiver.analysis import analyze_log
    from pstore_archiver.query import render_info, resolve

    _, archive = open_archive(args)
    entries = archive.entries()
    manifest = resolve([e.manifest for e in entries], args.entry)
    size = next(e.size_bytes for e in entries if e.entry_id == manifest["id"])
    text = entry_text(archive, manifest).decode("utf-8", errors="replace")
    trace = analyze_log(text).call_trace if manifest.get("kind") in ("dmesg", "console") else ()
    tail = text.splitlines()[-args.lines :] if args.lines > 0 else []
    signature = manifest.get("signature")
    same = [
        e.entry_id
        for e in entries
        if signature and e.manifest.get("signature") == signature and e.entry_id != manifest["id"]
    ]
    path = str(archive.path / manifest["id"])
    if args.json:
        print_json(
            {
                **manifest,
                "path": path,
                "size": size,
                "call_trace": list(trace),
                "same_signature": same,
                "log_tail": tail,
            }
        )
    else:
        print(render_info(manifest, path, trace, tail, same, size))
    return EXIT_OK


def add_dump_arguments(parser: argparse.ArgumentParser) -> None:
    add_entry_argument(parser)
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of standard output"
    )


def verb_dump(args: argparse.Namespace) -> int:
    from pstore_archiver.query import resolve

    _, archive = open_archive(args)
    manifest = resolve([e.manifest for e in archive.entries()], args.entry)
    data = entry_text(archive, manifest)
    if args.output is None:
        try:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except BrokenPipeError:  # `pstore-archiver dump | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    try:
        args.output.write_bytes(data)
    except OSError as e:
        raise ArchiverError(f"{args.output}: cannot write: {describe_os_error(e)}") from e
    log.info("Wrote %s (%d bytes) to %s.", manifest["id"], len(data), args.output)
    return EXIT_OK


# --- status, vacuum ----------------------------------------------------------------------


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the status as JSON")


def verb_status(args: argparse.Namespace) -> int:
    from pstore_archiver.status import read_status, render_status

    config, archive = open_archive(args)
    status = read_status(config, archive)
    if args.json:
        print_json(status)
    else:
        print(render_status(status))
    healthy = status["backend"] is not None and not status["store"]["records"]
    return EXIT_OK if healthy else EXIT_LEFT_OR_NOTHING


def add_vacuum_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-entries", type=int, metavar="N", help="keep at most N entries")
    parser.add_argument("--max-use", metavar="SIZE", help="keep the archive under SIZE (e.g. 256M)")
    parser.add_argument("--max-age", metavar="AGE", help="remove entries older than AGE (e.g. 90d)")
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
    except ValueError as e:
        raise UsageError(f"vacuum: {e}") from e
    return limits


def verb_vacuum(args: argparse.Namespace) -> int:
    from pstore_archiver.journal import Sink
    from pstore_archiver.service import apply_retention, plan_retention

    config, archive = open_archive(args)
    limits = vacuum_limits(args, config)
    now_s = time.time()
    if not archive.path.is_dir():
        log.info("No archive at %s: nothing to remove.", archive.path)
        return EXIT_OK
    if args.dry_run:
        removals = plan_retention(archive, limits, set(), now_s)
    else:
        # stdout lists each removal; without journald, don't repeat them on stderr
        sink = Sink(use_journal=config.journal_enabled, stream=io.StringIO())
        with archive.locked(create=False) as archive_fd:
            removals = apply_retention(archive, archive_fd, limits, set(), sink, now_s)
    verb = "would remove" if args.dry_run else "removed"
    for removal in removals:
        print(f"{verb} {removal.entry_id} ({removal.size_bytes} bytes): {removal.reason}")
    if not removals:
        log.info("Nothing to remove: the archive is within its limits.")
    return EXIT_OK


VERBS = (
    Verb("run", verb_run, "Archive every record in the store", add_run_arguments),
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
)
VERBS_BY_NAME = {verb.name: verb for verb in VERBS}


def build_parser() -> argparse.ArgumentParser:
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
        type=Path,
        metavar="FILE",
        help="main configuration file (default: $PSTORE_ARCHIVER_CONFIG or "
        "/etc/pstore-archiver.toml; drop-ins in FILE.d/*.toml)",
    )
    parser.add_argument(
        "--source", type=Path, metavar="DIR", help="the pstore directory (default: /sys/fs/pstore)"
    )
    parser.add_argument(
        "--archive",
        type=Path,
        metavar="DIR",
        help="the archive directory (default: /var/lib/pstore-archiver)",
    )
    verbs = parser.add_subparsers(dest="verb", metavar="COMMAND", required=True)
    for verb in VERBS:
        sub = verbs.add_parser(verb.name, help=verb.help, description=verb.help, allow_abbrev=False)
        verb.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    log.configure(os.environ)
    args = build_parser().parse_args(argv)
    try:
        return VERBS_BY_NAME[args.verb].run(args)
    except ArchiverError as e:
        for line in str(e).splitlines():
            log.error("%s", line)
        return next((EXIT_STATUS[c] for c in type(e).__mro__ if c in EXIT_STATUS), 1)
