"""What one benchmark run measured, and the figures derived from it (cost per record, the
log-log slope of growth).  Pure: no I/O."""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import Any

from timing import Series
from tools import Tool
from workloads import BootStore, Mix

GROWTH_FROM, GROWTH_TO = 1_000, 10_000  # the slope's sizes (Mix.MIXED)


class Query(enum.Enum):
    """The query commands timed over the archive of one-entry records."""

    LIST_COLD = "list (cold: no .index.json)"
    LIST = "list (warm)"
    LIST_JSON = "list --json (warm)"
    INFO = "info (newest, warm)"

    @property
    def args(self) -> tuple[str, ...]:
        return {
            Query.LIST_COLD: ("list",),
            Query.LIST: ("list",),
            Query.LIST_JSON: ("list", "--json"),
            Query.INFO: ("info",),
        }[self]

    @property
    def cold(self) -> bool:
        """Run with no .index.json: the index is rebuilt."""
        return self is Query.LIST_COLD

    @property
    def command(self) -> str:
        return " ".join(self.args)


class FleetQuery(enum.Enum):
    """The fleet commands timed over systemd-journal-remote's files (bench/fleet_top.py)."""

    TOP = "top"
    CRASHES = "crashes"

    @property
    def command(self) -> str:
        return f"{self.value} -D DIR"


@dataclass
class Results:
    machine: dict[str, str]
    command: str
    started: str
    boot: dict[BootStore, dict[Tool, Series]] = field(default_factory=dict)
    importtime: dict[str, Any] = field(default_factory=dict)
    scale: dict[Mix, dict[int, dict[Tool, Series]]] = field(default_factory=dict)
    scale_entries: dict[Mix, dict[int, int]] = field(default_factory=dict)
    query: dict[Query, Series] = field(default_factory=dict)
    query_build: Series | None = None
    query_entries: int = 0
    fleet: dict[FleetQuery, Series] = field(default_factory=dict)
    fleet_rows: dict[FleetQuery, int] = field(default_factory=dict)  # rows of `--json`
    fleet_messages: int = 0  # crash messages in the journal files, re-sends included
    fleet_machines: int = 0
    fleet_directory: str = ""
    profiles: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    journal: dict[str, int] = field(default_factory=dict)  # received, sent; empty: no journald
    variant: str = ""  # "": the real thing; else what this comparison run changed
    rss_reps: int = 2
    journald: bool = False  # a journald listened to every run

    def mixed(self) -> dict[int, dict[Tool, Series]]:
        return self.scale.get(Mix.MIXED, {})


def slope(n1: int, t1: float, n2: int, t2: float) -> float:
    if t1 <= 0 or t2 <= 0:
        return float("nan")
    return math.log(t2 / t1) / math.log(n2 / n1)


def empty_store_run(results: Results, tool: Tool) -> float:
    """The fixed cost of a run (start-up, nothing to archive), from the boot measurements."""
    group = results.boot.get(BootStore.EMPTY)
    return group[tool].min_s if group and tool in group else 0.0


def growth(results: Results, tool: Tool, mix: Mix = Mix.MIXED) -> dict[str, float]:
    """Per-record cost at each size (minus the empty-store run) and the log-log slopes."""
    fixed = empty_store_run(results, tool)
    out: dict[str, float] = {"fixed_s": fixed}
    sizes = results.scale.get(mix, {})
    for n, group in sizes.items():
        out[f"per_record_ms_{n}"] = max(group[tool].median_s - fixed, 0.0) / n * 1000
    if GROWTH_FROM in sizes and GROWTH_TO in sizes:
        t1, t2 = sizes[GROWTH_FROM][tool].min_s, sizes[GROWTH_TO][tool].min_s
        out["slope_1k_10k_raw"] = slope(GROWTH_FROM, t1, GROWTH_TO, t2)
        out["slope_1k_10k_net"] = slope(GROWTH_FROM, t1 - fixed, GROWTH_TO, t2 - fixed)
    return out
