"""Diagnostics: one line each on stderr, at the level $SYSTEMD_LOG_LEVEL asks for.

Structured events go to `journal`; this is for everything else.  A few lines in place of
`logging`, whose import (threading, traceback, string, weakref) costs the boot run ~7 ms.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping

LEVELS = {"debug": 10, "info": 20, "notice": 20, "warning": 30, "err": 40, "crit": 50}
PREFIX = "pstore-archiver: "


class Diagnostics:
    def __init__(self) -> None:
        self.threshold = LEVELS["info"]

    def configure(self, environ: Mapping[str, str]) -> None:
        self.threshold = LEVELS.get(environ.get("SYSTEMD_LOG_LEVEL", "info"), LEVELS["info"])

    def emit(self, level: int, message: str, *args: object) -> None:
        if level >= self.threshold:
            sys.stderr.write(PREFIX + (message % args if args else message) + "\n")
            sys.stderr.flush()

    def debug(self, message: str, *args: object) -> None:
        self.emit(LEVELS["debug"], message, *args)

    def info(self, message: str, *args: object) -> None:
        self.emit(LEVELS["info"], message, *args)

    def warning(self, message: str, *args: object) -> None:
        self.emit(LEVELS["warning"], message, *args)

    def error(self, message: str, *args: object) -> None:
        self.emit(LEVELS["err"], message, *args)


log = Diagnostics()
