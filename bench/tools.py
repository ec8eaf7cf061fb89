"""What the benchmark runs: the contenders and the floors (Tool), and how a run is measured
(Mode).  Behaviour hangs on these members' properties, never on a label's wording."""

from __future__ import annotations

import enum


class Mode(enum.Enum):
    """How one run is measured."""

    TIME = "time"  # timed directly (posix_spawn + wait4)
    RSS = "rss"  # under GNU time, for the peak RSS only
    BOTH = "both"  # under GNU time and timed too: for runs of seconds, where its ~1 ms is noise

    @property
    def timed(self) -> bool:
        return self is not Mode.RSS

    @property
    def under_gnu_time(self) -> bool:
        return self is not Mode.TIME


class Tool(enum.Enum):
    """A command the benchmark times; the value is its key in latest.json."""

    FLOOR = "floor"  # the installed venv's python -c pass
    FLOOR_S = "floor -S"  # the same without site
    ARCHIVER = "pstore-archiver"  # the installed venv's console script
    PYTHON_M = "python -m"  # the same install, started as python -m pstore_archiver
    DEBIAN = "debian"  # the .deb's /usr/bin/pstore-archiver with the system's python3
    DEBIAN_FLOOR = "debian floor"  # the system's /usr/bin/python3 -c pass
    SYSTEMD_PSTORE = "systemd-pstore"
    COPY_FLOOR = "copy floor"  # bench/copy_floor.py with the installed venv's python
    EDITABLE = "editable"  # the development venv's console script (comparison only)
    EDITABLE_FLOOR = "floor (.venv)"  # the development venv's python -c pass (comparison only)

    @property
    def is_floor(self) -> bool:
        """Runs `python -c pass`: archives nothing, leaves the store alone."""
        return self in (Tool.FLOOR, Tool.FLOOR_S, Tool.DEBIAN_FLOOR, Tool.EDITABLE_FLOOR)

    @property
    def is_archiver(self) -> bool:
        """Runs pstore-archiver: sends one dump-archived message per dump entry."""
        return self in (Tool.ARCHIVER, Tool.PYTHON_M, Tool.DEBIAN, Tool.EDITABLE)

    @property
    def identifier(self) -> str:
        """SYSLOG_IDENTIFIER of its stdout stream, as its unit would set it."""
        if self.is_floor or self is Tool.COPY_FLOOR:
            return "python"
        return "systemd-pstore" if self is Tool.SYSTEMD_PSTORE else "pstore-archiver"

    @property
    def floor(self) -> Tool:
        """The floor it is compared with: the same interpreter's `-c pass`."""
        if self in (Tool.DEBIAN, Tool.DEBIAN_FLOOR):
            return Tool.DEBIAN_FLOOR
        if self in (Tool.EDITABLE, Tool.EDITABLE_FLOOR):
            return Tool.EDITABLE_FLOOR
        return Tool.FLOOR

    @property
    def title(self) -> str:
        return TITLES[self]


TITLES = {
    Tool.FLOOR: "floor: `python -c pass`",
    Tool.FLOOR_S: "`python -S -c pass`",
    Tool.ARCHIVER: "pstore-archiver (console script)",
    Tool.PYTHON_M: "`python -m pstore_archiver`",
    Tool.DEBIAN: "Debian: the .deb's /usr/bin/pstore-archiver, system python3",
    Tool.DEBIAN_FLOOR: "Debian floor: `/usr/bin/python3 -c pass`",
    Tool.SYSTEMD_PSTORE: "systemd-pstore",
    Tool.COPY_FLOOR: "copy floor: bench/copy_floor.py (copy, one syncfs, unlink; nothing else)",
    Tool.EDITABLE: "editable install (.venv/bin/pstore-archiver; comparison only)",
    Tool.EDITABLE_FLOOR: "`.venv/bin/python -c pass` (comparison only)",
}

INSTALLED_TOOLS = (Tool.FLOOR, Tool.FLOOR_S, Tool.ARCHIVER, Tool.PYTHON_M, Tool.SYSTEMD_PSTORE)
DEBIAN_TOOLS = (Tool.DEBIAN, Tool.DEBIAN_FLOOR)
EDITABLE_TOOLS = (Tool.EDITABLE, Tool.EDITABLE_FLOOR)
CONTENDERS = (Tool.ARCHIVER, Tool.SYSTEMD_PSTORE)  # compared at scale (targets, growth)
SCALE_TOOLS = (*CONTENDERS, Tool.COPY_FLOOR)  # what the scale runs time
