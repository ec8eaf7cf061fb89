"""The report of a run: the tables of RESULTS.md, the README's Performance table and
latest.json.  Pure but for `update_readme`, which rewrites the README between its markers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from boot_namespace import DUMP_ARCHIVED
from results import FleetQuery, Query, Results, growth
from targets import FLEET_LIMIT_S, NLOGN_SLOPE_1K_10K, mib, ms, targets
from timing import Series
from tools import CONTENDERS, Tool
from workloads import BootStore, Mix

MiB = 1024 * 1024
README_BEGIN = "<!-- bench/run: performance table -->"
README_END = "<!-- bench/run: end -->"
LARGE = 1_000  # from this many records, every timed run is also an RSS run (under GNU time)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def verdict(met: bool | None) -> str:
    return "n/a" if met is None else ("**met**" if met else "**NOT met**")


def render(results: Results) -> str:
    m = results.machine
    out = [
        "# pstore-archiver benchmark",
        "",
        f"Command: `{results.command}` (from the repository root)",
        "",
    ]
    if results.variant:
        out += [f"**Comparison run, not the real conditions: {results.variant}.**", ""]
    out += [
        f"- date: {results.started}; took {results.elapsed_s:.0f} s",
        f"- machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, kernel {m['kernel']}",
        f"- python {m['python']} ({m['python_binary']}); systemd {m['systemd']}",
        f"- revision: {m['revision']}; work directory on {m['workdir_fs']}",
        f"- stores on {m.get('store_fs', '?')}; the archives of the scale runs and of the "
        f"queries on {m.get('scale_fs', '?')}",
        f"- pstore-archiver: {m['install']}; imported from {m.get('imported_from', '?')}",
        f"- Debian build: {m.get('debian', 'not measured')}",
        f"- isolation: {m['isolation']}",
        f"- journal: {render_journal(results)}",
        f"- at the start: {m['load_start']}; at the end: {m.get('load_end', '?')}",
        f"- other work on the machine during the run: {m.get('cpu_other', '?')}",
        "",
        "Wall time from spawn to exit of each child process (posix_spawn + wait4); CPU = user +",
        "system time of the child (from wait4), which other work on a busy machine inflates much",
        f"less than the wall time; peak RSS from {results.rss_reps} separate runs under GNU time "
        "(%M), the",
        f"largest shown (from {LARGE:,} records on, every run is timed under GNU time and gives",
        "its RSS too). Each run gets a fresh copy of the store and an empty archive, after a",
        "sync(). `pstore-archiver` is the installed console script, `python -m` the same install",
        "started as `python -m pstore_archiver`; `floor` = that venv's python running `-c pass`",
        "(with site, as pstore-archiver has it), `floor -S` = `-S -c pass` (no site); the Debian",
        "rows run the .deb's files with the system's /usr/bin/python3, against its own floor.",
        "",
    ]
    out += render_boot(results) + render_importtime(results) + render_scale(results)
    out += render_query(results) + render_fleet(results) + render_targets(results)
    out += ["## The README's Performance table", "", *readme_table(results), ""]
    out += render_profiles(results)
    if results.problems:
        out += ["## Problems seen", ""] + [f"- {p}" for p in results.problems] + [""]
    return "\n".join(out)


def render_journal(results: Results) -> str:
    j = results.journal
    if not j:
        return "no journald in this run"
    return (
        f"a private systemd-journald listened for every run and received "
        f"{j['archiver_dumps']:,} dump-archived messages from pstore-archiver "
        f"(MESSAGE_ID={DUMP_ARCHIVED}; {j['sent_archiver_dumps']:,} sent; "
        f"{j['archiver_all']:,} messages in all) and {j['systemd_pstore_records']:,} "
        f"per-record messages from systemd-pstore ({j['sent_systemd_pstore_records']:,} sent; "
        f"{j['systemd_pstore_all']:,} in all); journal files {j['journal_bytes'] / MiB:.0f} MiB"
    )


def said(verdicts: Mapping[str, bool | None], *keys: str) -> str:
    found = [verdicts.get(k) for k in keys]
    return "" if None in found else ("met" if all(found) else "NOT met")


def median_cell(group: Mapping[Tool, Series], tool: Tool) -> str:
    """The median wall time, and CPU time (what a busy machine inflates less)."""
    s = group.get(tool)
    return f"{ms(s.median_s)}; CPU {ms(s.cpu_median_s)}" if s is not None else ""


def readme_table(results: Results) -> list[str]:
    """The README's Performance table, from this run (empty cells where not measured)."""
    met = {t.key: t.met for t in targets(results)}
    rows = boot_rows(results, met) + scale_rows(results, met) + query_rows(results, met)
    rows += fleet_rows(results, met)
    m, it = results.machine, results.importtime
    build = m["install"].split(",")[0]
    journal = "a private journald listening" if results.journal else "no journald"
    imports = (
        f" Imports of the run path: {it['total_us'] / 1000:.0f} ms (the package's own modules "
        f"{it['package_self_us'] / 1000:.0f} ms)."
        if it
        else ""
    )
    return [
        *table(["measure", "pstore-archiver", "systemd-pstore", "target"], rows),
        "",
        f"Measured by `{results.command}` on {results.started}: {m['nproc']} CPUs ({m['cpu']}),",
        f"work directory on {m['workdir_fs']} (the archives of the scale runs and of the "
        f"queries on {m.get('scale_fs', '?')}); {build}, with {journal}; {m['load_start']}",
        f"at the start, other work during the run: {m.get('cpu_other', '?')}.{imports}",
    ]


def floor_row(group: Mapping[Tool, Series], tool: Tool, what: str, target: str) -> list[str]:
    ours, floor = group[tool].median_s, group[tool.floor].median_s
    return [
        what,  # two decimals: a ratio of 3.04 must not read "3.0x" beside "within 3x: NOT met"
        f"{ms(ours)} = {ours / floor:.2f}x its `python -c pass` ({ms(floor)}); "
        f"CPU {ms(group[tool].cpu_median_s)}",
        median_cell(group, Tool.SYSTEMD_PSTORE),
        target,
    ]


def boot_rows(results: Results, met: Mapping[str, bool | None]) -> list[list[str]]:
    boot = results.boot
    seed, empty = boot.get(BootStore.SEED_ERST, {}), boot.get(BootStore.EMPTY, {})
    efi = boot.get(BootStore.REAL_EFI, {})
    rows: list[list[str]] = []
    if seed:
        what = "`run` on the seed ERST store (5 records), median"
        rows.append(floor_row(seed, Tool.ARCHIVER, what, f"within 3x: {said(met, 'boot')}"))
    if seed and Tool.DEBIAN in seed:
        what = "the same, Debian's python3 with the .deb's files"
        rows.append(floor_row(seed, Tool.DEBIAN, what, f"within 3x: {said(met, 'boot:debian')}"))
    if empty:
        what = "`run` on an empty store, median"
        rows.append(floor_row(empty, Tool.ARCHIVER, what, f"within 2.5x: {said(met, 'empty')}"))
    if efi:
        what = "`run` on the real EFI 15-part store"
        rows.append(
            [what, median_cell(efi, Tool.ARCHIVER), median_cell(efi, Tool.SYSTEMD_PSTORE), ""]
        )
    if seed:
        rss = max(g[Tool.ARCHIVER].max_rss_mib for g in boot.values())
        theirs = max(g[Tool.SYSTEMD_PSTORE].max_rss_mib for g in boot.values())
        target = f"under 30 MiB: {said(met, 'rss')}"
        rows.append(["peak RSS on those stores", f"{mib(rss)} MiB", f"{mib(theirs)} MiB", target])
    return rows


def scale_rows(results: Results, met: Mapping[str, bool | None]) -> list[list[str]]:
    rows: list[list[str]] = []
    for mix in Mix:
        n = mix.target_size
        group = results.scale.get(mix, {}).get(n)
        if group is None:
            continue
        ours, theirs = group[Tool.ARCHIVER], group[Tool.SYSTEMD_PSTORE]
        entries = results.scale_entries.get(mix, {}).get(n, -1)
        target = f"no slower than systemd-pstore: {said(met, f'mix:{mix.value}')}"
        if mix is Mix.MIXED:
            target += f"; under 10 s: {said(met, '10k')}"
        rows.append(
            [
                f"{n:,} records, {mix.title} ({entries:,} entries), median / min",
                f"{ms(ours.median_s)} / {ms(ours.min_s)}",
                f"{ms(theirs.median_s)} / {ms(theirs.min_s)}",
                target,
            ]
        )
        copy = group.get(Tool.COPY_FLOOR)
        if copy is not None:
            rows.append(copy_floor_row(n, copy, theirs))
    if results.query_build is not None:
        what = f"{results.query_entries:,} records of one entry each"
        rows.append([what, ms(results.query_build.median_s), "", ""])
    ours_g, theirs_g = growth(results, Tool.ARCHIVER), growth(results, Tool.SYSTEMD_PSTORE)
    if "slope_1k_10k_net" in ours_g:
        rows.append(
            [
                "growth from 1,000 to 10,000 records (log-log slope)",
                f"{ours_g['slope_1k_10k_net']:.2f}",
                f"{theirs_g['slope_1k_10k_net']:.2f}",
                f"no worse than n log n ({NLOGN_SLOPE_1K_10K:.3f}): {said(met, 'growth')}",
            ]
        )
    return rows


def copy_floor_row(n: int, copy: Series, theirs: Series) -> list[str]:
    """The same store moved by bench/copy_floor.py: the floor under any Python `run`."""
    return [
        f"the same {n:,} records copied durably in Python, nothing else "
        "(bench/copy_floor.py), median / min",
        f"{ms(copy.median_s)} / {ms(copy.min_s)}",
        "",
        f"{copy.median_s / theirs.median_s:.2f}x systemd-pstore's median",
    ]


def query_rows(results: Results, met: Mapping[str, bool | None]) -> list[list[str]]:
    q, n = results.query, results.query_entries
    warm = (Query.LIST, Query.LIST_JSON, Query.INFO)
    rows: list[list[str]] = []
    if all(k in q for k in warm):
        rows.append(
            [
                f"`list` / `list --json` / `info` over {n:,} entries",
                " / ".join(f"{q[k].median_s * 1000:.0f}" for k in warm) + " ms",
                "(no such command)",
                f"within 1 s: {said(met, *(f'query:{k.name}' for k in warm))}",
            ]
        )
    if Query.LIST_COLD in q:
        rows.append(
            [
                f"`list` over {n:,} entries with no `.index.json` (rebuilt)",
                ms(q[Query.LIST_COLD].median_s),
                "",
                f"within 1 s: {said(met, f'query:{Query.LIST_COLD.name}')}",
            ]
        )
    return rows


def fleet_rows(results: Results, met: Mapping[str, bool | None]) -> list[list[str]]:
    n, machines = results.fleet_messages, results.fleet_machines
    rows: list[list[str]] = []
    for query, s in results.fleet.items():
        target = (
            f"under {FLEET_LIMIT_S:g} s: {said(met, 'fleet') or 'n/a (a smaller fleet)'}"
            if query is FleetQuery.TOP
            else ""
        )
        rows.append(
            [
                f"`{query.value} -D` over {n:,} crash messages from {machines:,} machines, "
                "median / best",
                f"{ms(s.median_s)} / {ms(s.min_s)}; CPU {ms(s.cpu_median_s)}",
                "(no such command)",
                target,
            ]
        )
    return rows


def render_boot(results: Results) -> list[str]:
    if not results.boot:
        return []
    reps = len(next(iter(next(iter(results.boot.values())).values())).samples)
    rows = []
    for store, group in results.boot.items():
        for tool, s in group.items():
            floor = group[tool.floor]
            rows.append(
                [
                    store.title,
                    tool.title,
                    ms(s.median_s),
                    ms(s.min_s),
                    f"{s.median_s / floor.median_s:.1f}x",
                    f"{s.min_s / floor.min_s:.1f}x",
                    ms(s.cpu_median_s),
                    mib(s.max_rss_mib),
                    ",".join(map(str, s.exit_codes)),
                ]
            )
    header = ["store", "command", "median", "min", "x its floor", "x floor (mins)"]
    header += ["CPU (median)", "peak RSS MiB", "exit"]
    return [f"## Boot path ({reps} repetitions, interleaved)", "", *table(header, rows), ""]


def render_importtime(results: Results) -> list[str]:
    it = results.importtime
    if not it:
        return []
    out = [
        f"## Import time of `run` (`-X importtime`, seed store, median of {it['reps']})",
        "",
        f"Total: {it['total_us'] / 1000:.1f} ms over {it['modules']} modules "
        f"(`python -c pass` alone: {it['floor_total_us'] / 1000:.1f} ms); the package's own "
        f"modules' self time: {it['package_self_us'] / 1000:.1f} ms. Depth 0 = imported by",
        "the program itself; *imported by* = the module whose import pulled it in.",
        "",
        "Top 10 by cumulative time:",
        "",
    ]
    header = ["module", "depth", "imported by", "cumulative ms", "self ms"]
    out += table(header, [import_row(m) for m in it["top_cumulative"]])
    out += ["", "Top 10 by own (self) time:", ""]
    out += table(header, [import_row(m) for m in it["top_self"]])
    return [*out, ""]


def import_row(m: Mapping[str, Any]) -> list[str]:
    parent = f"`{m['parent']}`" if m["parent"] else "-"
    cumulative, own = m["cumulative_us"] / 1000, m["self_us"] / 1000
    return [f"`{m['module']}`", str(m["depth"]), parent, f"{cumulative:.1f}", f"{own:.1f}"]


def render_scale(results: Results) -> list[str]:
    out: list[str] = []
    for mix, sizes in results.scale.items():
        out += render_mix(results, mix, sizes)
    return out


def render_mix(results: Results, mix: Mix, sizes: Mapping[int, Mapping[Tool, Series]]) -> list[str]:
    g_ours = growth(results, Tool.ARCHIVER, mix)
    g_theirs = growth(results, Tool.SYSTEMD_PSTORE, mix)
    entries = results.scale_entries.get(mix, {})
    rows = []
    for n, group in sizes.items():
        ours, theirs = group[Tool.ARCHIVER], group[Tool.SYSTEMD_PSTORE]
        rows.append(
            [
                f"{n:,}",
                f"{entries.get(n, -1):,}",
                str(len(ours.samples)),
                ms(ours.median_s),
                ms(ours.min_s),
                ms(ours.cpu_median_s),
                f"{g_ours[f'per_record_ms_{n}']:.2f}",
                mib(ours.max_rss_mib),
                ms(theirs.median_s),
                ms(theirs.min_s),
                ms(theirs.cpu_median_s),
                f"{g_theirs[f'per_record_ms_{n}']:.3f}",
                mib(theirs.max_rss_mib),
                f"{ours.median_s / theirs.median_s:.1f}x",
                median_cell(group, Tool.COPY_FLOOR),
            ]
        )
    header = [
        "records", "entries", "reps", "pstore-archiver median", "min", "CPU", "ms/record*",
        "peak RSS MiB", "systemd-pstore median", "min", "CPU", "ms/record*", "peak RSS MiB",
        "ratio (median)", "copy floor median**",
    ]  # fmt: skip
    out = [
        f"## Scale: `run` on n records, {mix.title}",
        "",
        f"{mix.description}; dump parts ~1.8 KB of the real EFI capture.",
        "*ms/record = (median - the empty-store run's min) / n.",
        "**bench/copy_floor.py on the same store, with the same python: copy each record, one "
        "syncfs, unlink; no parsing, no manifests, no journal. The least any Python `run` takes.",
        "",
        *table(header, rows),
        "",
    ]
    for tool, g in ((Tool.ARCHIVER, g_ours), (Tool.SYSTEMD_PSTORE, g_theirs)):
        if "slope_1k_10k_net" in g:
            out.append(
                f"- {tool.value}: log-log slope 1k -> 10k (min times) "
                f"{g['slope_1k_10k_raw']:.2f} raw, {g['slope_1k_10k_net']:.2f} net of the "
                f"empty-store run ({ms(g['fixed_s'])}); n log n would be "
                f"{NLOGN_SLOPE_1K_10K:.3f}, linear 1.0"
            )
    return [*out, ""]


def series_row(label: str, s: Series) -> list[str]:
    reps = str(len(s.samples))
    return [label, reps, ms(s.median_s), ms(s.min_s), ms(s.cpu_median_s), mib(s.max_rss_mib)]


def render_query(results: Results) -> list[str]:
    if not results.query:
        return []
    rows = []
    if results.query_build:
        rows.append(series_row(results.query_build.label, results.query_build))
    rows += [series_row(query.value, s) for query, s in results.query.items()]
    header = ["command", "reps", "median", "min", "CPU (median)", "peak RSS MiB"]
    title = f"## Queries over an archive of {results.query_entries:,} entries"
    return [title, "", *table(header, rows), ""]


def render_fleet(results: Results) -> list[str]:
    if not results.fleet:
        return []
    rows = [
        [
            f"`{query.command}`",
            str(len(s.samples)),
            ms(s.median_s),
            ms(s.min_s),
            ms(s.cpu_median_s),
            f"{results.fleet_rows.get(query, -1):,}",
        ]
        for query, s in results.fleet.items()
    ]
    header = ["command", "reps", "median", "best", "CPU (median)", "rows of `--json`"]
    return [
        f"## Fleet: {results.fleet_messages:,} crash messages from "
        f"{results.fleet_machines:,} machines",
        "",
        "systemd-journal-remote's files, one per machine, made by `bench/fleet_top.py` (1 crash",
        f"message in 100 sent twice; other entries between them): `{results.fleet_directory}`.",
        "After one warm-up run of each command; rows: signatures for `top`, crashes for `crashes`.",
        "",
        *table(header, rows),
        "",
    ]


def render_targets(results: Results) -> list[str]:
    rows = [[t.name, t.measured, verdict(t.met)] for t in targets(results)]
    return ["## Targets", "", *table(["target", "measured", "verdict"], rows), ""]


def render_profiles(results: Results) -> list[str]:
    out: list[str] = []
    for name, prof in results.profiles.items():
        out += [f"## cProfile: {name} (top 15 by cumulative time)", "", "```"]
        out.append(f"{'cumtime s':>10} {'tottime s':>10} {'calls':>9}  function")
        out += [profile_line(row) for row in prof["cumulative"]]
        out += ["```", "", "Top 15 by own time:", "", "```"]
        out += [profile_line(row) for row in prof["tottime"]]
        out += ["```", ""]
    return out


def profile_line(row: Mapping[str, Any]) -> str:
    times = f"{row['cumtime_s']:10.3f} {row['tottime_s']:10.3f}"
    return f"{times} {row['calls']:9d}  {row['function']}"


def tools_json(group: Mapping[Tool, Series]) -> dict[str, Any]:
    return {tool.value: s.to_json() for tool, s in group.items()}


def to_json(results: Results) -> dict[str, Any]:
    scale = {
        mix.value: {
            str(n): {"entries": results.scale_entries.get(mix, {}).get(n), **tools_json(g)}
            for n, g in sizes.items()
        }
        for mix, sizes in results.scale.items()
    }
    return {
        "command": results.command,
        "started": results.started,
        "elapsed_s": results.elapsed_s,
        "machine": results.machine,
        "boot": {store.value: tools_json(g) for store, g in results.boot.items()},
        "importtime": results.importtime,
        "scale": scale,
        "growth": {t.value: growth(results, t) for t in CONTENDERS} if results.scale else {},
        "query": {
            "entries": results.query_entries,
            "build": results.query_build.to_json() if results.query_build else None,
            **{query.value: s.to_json() for query, s in results.query.items()},
        },
        "fleet": fleet_json(results),
        "targets": [asdict(t) for t in targets(results)],
        "journal": results.journal,
        "variant": results.variant,
        "profiles": results.profiles,
        "problems": results.problems,
    }


def fleet_json(results: Results) -> dict[str, Any]:
    return {
        "messages": results.fleet_messages,
        "machines": results.fleet_machines,
        "directory": results.fleet_directory,
        **{
            query.value: {**s.to_json(), "rows": results.fleet_rows.get(query, -1)}
            for query, s in results.fleet.items()
        },
    }


def update_readme(readme: Path, block: Sequence[str]) -> bool:
    """Replace the table between README_BEGIN and README_END; False without the markers."""
    text = readme.read_text()
    if text.count(README_BEGIN) != 1 or text.count(README_END) != 1:
        return False
    head, rest = text.split(README_BEGIN)
    _, tail = rest.split(README_END)
    readme.write_text(head + README_BEGIN + "\n" + "\n".join(block) + "\n" + README_END + tail)
    return True
