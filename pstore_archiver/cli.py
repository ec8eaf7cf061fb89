"""The command line (DESIGN §4) and its exit codes (DESIGN §5), mapped here and nowhere else."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pstore_archiver import __version__
from pstore_archiver.errors import (
    ArchiverError,
    ArchiveUnwritable,
    ConfigError,
    LockHeld,
    NothingFound,
    UsageError,
)

EXIT_OK = 0
EXIT_LEFT_OR_NOTHING = 1
EXIT_USAGE = 2
EXIT_ARCHIVE_UNWRITABLE = 73
EXIT_LOCKED = 75
EXIT_CONFIG = 78
EXIT_STATUS: dict[type[ArchiverError], int] = {
    ConfigError: EXIT_CONFIG,
    ArchiveUnwritable: EXIT_ARCHIVE_UNWRITABLE,
    LockHeld: EXIT_LOCKED,
    NothingFound: EXIT_LEFT_OR_NOTHING,
    UsageError: EXIT_USAGE,
}
LOG_LEVELS = {"debug": 10, "info": 20, "notice": 20, "warning": 30, "err": 40, "crit": 50}
log = logging.getLogger("pstore-archiver")


@dataclass(frozen=True)
class Verb:
    name: str
    run: Callable[[argparse.Namespace], int]
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]


def load_config(args: argparse.Namespace) -> Any:
    from pstore_archiver.config import load_config as load

    overrides: dict[str, dict[str, Any]] = {}
    if args.source is not None:
        overrides["source"] = {"path": str(args.source)}
    if args.archive is not None:
        overrides["archive"] = {"path": str(args.archive)}
    return load(args.config, overrides)


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

    config = load_config(args)
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
    config = load_config(args)
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


VERBS = (
    Verb("run", verb_run, "Archive every record in the store", add_run_arguments),
    Verb("config", verb_config, "Show the effective configuration", add_config_arguments),
)
VERBS_BY_NAME = {verb.name: verb for verb in VERBS}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pstore-archiver",
        description="Move kernel crash records out of pstore into a durable archive, "
        "reassembled into one log per crash, and query that archive.",
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


def setup_logging() -> None:
    """Diagnostics: one line each on stderr, at the level $SYSTEMD_LOG_LEVEL asks for."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("pstore-archiver: %(message)s"))
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(LOG_LEVELS.get(os.environ.get("SYSTEMD_LOG_LEVEL", "info"), logging.INFO))


def main(argv: Sequence[str] | None = None) -> int:
    setup_logging()
    args = build_parser().parse_args(argv)
    try:
        return VERBS_BY_NAME[args.verb].run(args)
    except ArchiverError as e:
        for line in str(e).splitlines():
            log.error("%s", line)
        return next((EXIT_STATUS[c] for c in type(e).__mro__ if c in EXIT_STATUS), 1)
