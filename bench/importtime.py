"""`python -X importtime` output: parsed into rows, and the rows of several runs summarised
(per module, the median).  Pure: no I/O."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

PACKAGE = "pstore_archiver"
TOP = 10


@dataclass(frozen=True)
class ImportRow:
    module: str
    depth: int  # 0: imported by the program itself; n: nested n imports deep
    self_us: int
    cumulative_us: int
    parent: str  # the module whose import pulled this one in ("" at depth 0)


def parse_importtime(text: str) -> list[ImportRow]:
    """The `-X importtime` lines, in order.  A module is printed after its children, so
    the parent of a line at depth d is the next line at depth d - 1."""
    parsed: list[tuple[str, int, int, int]] = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        self_us, cumulative_us, name = line.split(":", 1)[1].split("|", 2)
        name = name[1:] if name.startswith(" ") else name
        depth = (len(name) - len(name.lstrip(" "))) // 2
        parsed.append((name.strip(), depth, int(self_us), int(cumulative_us)))
    parents = [""] * len(parsed)
    waiting: list[int] = []  # rows whose parent is not printed yet
    for index, (name, depth, _, _) in enumerate(parsed):
        for child in [w for w in waiting if parsed[w][1] == depth + 1]:
            parents[child] = name
            waiting.remove(child)
        waiting.append(index)
    return [ImportRow(*row, parent) for row, parent in zip(parsed, parents)]


def total_us(rows: Sequence[ImportRow]) -> int:
    return sum(r.self_us for r in rows)


def summarize(runs: Sequence[Sequence[ImportRow]], floor_runs: Sequence[int]) -> dict[str, Any]:
    """Per module, the median over the runs; the top modules by cumulative and own time,
    the totals (the floor's: `python -X importtime -c pass`)."""
    per_module: dict[str, list[ImportRow]] = {}
    for rows in runs:
        for row in rows:
            per_module.setdefault(row.module, []).append(row)
    modules = [
        ImportRow(
            name,
            rows[0].depth,
            int(statistics.median(r.self_us for r in rows)),
            int(statistics.median(r.cumulative_us for r in rows)),
            rows[0].parent,
        )
        for name, rows in per_module.items()
    ]
    modules.sort(key=lambda m: -m.cumulative_us)
    package = [m for m in modules if m.module.startswith(PACKAGE)]
    return {
        "reps": len(runs),
        "total_us": int(statistics.median(total_us(rows) for rows in runs)),
        "floor_total_us": int(statistics.median(floor_runs)),
        "modules": len(modules),
        "package_self_us": sum(m.self_us for m in package),
        "top_cumulative": [asdict(m) for m in modules[:TOP]],
        "top_self": [asdict(m) for m in sorted(modules, key=lambda m: -m.self_us)[:TOP]],
        "all": [asdict(m) for m in modules],
    }
