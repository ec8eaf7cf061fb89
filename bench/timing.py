"""Spawning and timing: one child process, its wall and CPU time, its peak RSS.

Children start with posix_spawn and are reaped with wait4 (`spawn`); the peak RSS comes from
separate runs under GNU time (`spawn_rss`: see `spawn` for why not from wait4).  A `Series` is
the samples of one command on one input.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

GNU_TIME = "/usr/bin/time"


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
