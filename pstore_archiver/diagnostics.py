"""Diagnostics: one line each on stderr, at the level $SYSTEMD_LOG_LEVEL asks for.

Structured events go to `journal`; this is for everything else.  A few lines in place of
`logging`, whose import (threading, traceback, string, weakref) costs the boot run ~7 ms.
"""

from __future__ import annotations

import sys

from pstore_archiver.terminal import escape
from pstore_archiver.typing_lite import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

LEVELS = {"debug": 10, "info": 20, "notice": 20, "warning": 30, "err": 40, "crit": 50}
PREFIX = "pstore-archiver: "


class Diagnostics:
    def __init__(self) -> None:
        self.threshold = LEVELS["info"]

    def configure(self, environ: Mapping[str, str]) -> None:
        self.threshold = LEVELS.get(environ.get("SYSTEMD_LOG_LEVEL", "info"), LEVELS["info"])

    def emit(self, level: int, message: str, *args: object) -> None:
        """One line on stderr, its control characters escaped (a record's name or text
        can hold any); a closed or broken stderr leaves nowhere to say anything."""
        if level >= self.threshold:
            text = escape(message % args if args else message)
            try:
                sys.stderr.write(PREFIX + text + "\n")
                sys.stderr.flush()
            except (BrokenPipeError, ValueError):
                pass

    def debug(self, message: str, *args: object) -> None:
        self.emit(LEVELS["debug"], message, *args)

    def info(self, message: str, *args: object) -> None:
        self.emit(LEVELS["info"], message, *args)

    def warning(self, message: str, *args: object) -> None:
        self.emit(LEVELS["warning"], message, *args)

    def error(self, message: str, *args: object) -> None:
        self.emit(LEVELS["err"], message, *args)


log = Diagnostics()
