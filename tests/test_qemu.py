"""The installed package on real kernels: Debian 13 guests in QEMU (tests/qemu_lab.py).

A trixie system (debootstrap minbase with systemd 257) with the .deb installed by apt, booted
with Debian 13's kernel (6.12) on each pstore backend: ERST (QEMU's acpi-erst device, NVRAM in
a file), EFI (OVMF, its variable store in a file, efi_pstore) and ramoops (1 MiB of reserved
RAM, the guest's RAM in a file).  A boot crashes (a panic, or an Oops then a panic); the next
boot must archive the records by itself (pstore-archiver.service at boot, systemd-pstore masked
and idle), log one journal message per dump with its fields and catalog text, and erase the
records: the boot after it finds the backend empty.  Each boot's store is listed before
pstore-archiver runs (tests/qemu/guest/pstore-test-watch.service), so "erased" is what the next
boot's kernel read from the NVRAM, the EFI variables or the RAM.

To save boots, the archiving boot of one case is the crash boot of the next.  Every boot's
wall time is printed (pytest -s shows it); under TCG on 2 cores one boot takes 25-60 s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import qemu_lab
from qemu_lab import Boot, Kernel, Machine

from pstore_archiver.journal import MessageId

pytestmark = [pytest.mark.qemu, pytest.mark.root]

PANIC = "Kernel panic - not syncing: sysrq triggered crash"
OOPS = "BUG: kernel NULL pointer dereference, address: 0000000000000000"
CRASH_MESSAGE = str(MessageId.dump_archived)
RUN_MESSAGE = str(MessageId.run_summary)
NAMES = {
    "erst": r"dmesg-erst-\d+",
    "efi": r"dmesg-efi_pstore-\d+",
    "ramoops": r"dmesg-ramoops-\d+",
}
BACKEND_IDS = {"erst": "erst", "efi": "efi_pstore", "ramoops": "ramoops"}


@dataclass(frozen=True)
class Lab:
    kernel: Kernel
    debian: Path  # the ext4 image with the .deb installed
    base: Path
    packages: qemu_lab.Packages


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    base = qemu_lab.trixie_base()
    k = qemu_lab.kernel(base)
    packages = qemu_lab.packages()
    yield Lab(k, qemu_lab.debian_image(base, k, packages.deb, packages.next_deb), base, packages)


# --- what a boot printed ----------------------------------------------------------------------


def sums(text: str) -> dict[str, str]:
    """ "sha256  name" lines -> {name: sha256}."""
    pairs = (line.split(None, 1) for line in text.splitlines() if line.strip())
    return {name.strip(): sha for sha, name in pairs}


def survey(boot: Boot) -> dict[str, str]:
    """The store as the kernel gave it at boot, before pstore-archiver ran."""
    return sums(boot["survey"])


def archive(boot: Boot, suffix: str = "") -> dict[str, str]:
    """{"ENTRY/FILE": sha256} of every file of the archive (dot files left out)."""
    return {path.removeprefix("./"): sha for path, sha in sums(boot["archive" + suffix]).items()}


def manifests(boot: Boot, suffix: str = "") -> dict[str, dict[str, Any]]:
    """{entry id: entry.json, plus "markers": marker lines in its dmesg.txt}."""
    out: dict[str, dict[str, Any]] = {}
    parts = re.split(r"^@entry (\S+) markers=(\d+)\n", boot["manifests" + suffix], flags=re.M)
    for entry_id, markers, body in zip(parts[1::3], parts[2::3], parts[3::3]):
        manifest = json.loads(body)
        manifest["markers"] = int(markers)
        out[entry_id] = manifest
    return out


def journal(boot: Boot, suffix: str = "") -> list[dict[str, str]]:
    lines = boot["journal" + suffix].splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def units(boot: Boot, suffix: str = "") -> dict[str, dict[str, str]]:
    return units_of(boot, "units" + suffix)


# --- checks -----------------------------------------------------------------------------------


def check_crash_boot(boot: Boot, backend: str) -> None:
    """The guest crashed where the step said, and the backend was registered."""
    assert "@@ crashing" in boot.channel, boot.tail()
    assert PANIC in boot.console, boot.tail()
    assert boot["survey-backend"].strip() == BACKEND_IDS[backend], boot.tail()


def check_archived_at_boot(
    boot: Boot,
    backend: str,
    expected: list[tuple[str, int, str, int]],
    release: str,
    enabled: str = "enabled",
) -> dict[str, dict[str, Any]]:
    """BOOT archived, by pstore-archiver.service at boot, exactly the records the kernel had in
    the store at boot, as the dumps EXPECTED: (reason, count, summary, marker lines).  Returns
    the new entries' manifests."""
    store = survey(boot)
    assert store, f"the store was empty at boot\n{boot.tail()}"
    assert all(re.fullmatch(NAMES[backend], name) for name in store), store
    # the unit ran at boot, and systemd-pstore (masked) did nothing
    unit = units(boot)
    ours, theirs = unit["pstore-archiver.service"], unit["systemd-pstore.service"]
    assert (ours["Result"], ours["ExecMainStatus"], ours["ConditionResult"]) == (
        "success",
        "0",
        "yes",
    ), ours
    assert int(ours["ExecMainStartTimestampMonotonic"]) > 0, ours
    assert ours["UnitFileState"] == enabled, ours
    assert (theirs["LoadState"], theirs["ExecMainStartTimestampMonotonic"]) == ("masked", "0")
    assert boot["systemd-pstore-journal"].strip() == "", boot["systemd-pstore-journal"]
    assert boot["systemd-pstore-dir"].strip() == ""
    # the journal: one message per dump, with its fields, from the unit; one run summary
    messages = [m for m in journal(boot) if m.get("SYSLOG_IDENTIFIER") == "pstore-archiver"]
    assert {m["_SYSTEMD_UNIT"] for m in messages} == {"pstore-archiver.service"}, messages
    assert len({m["_SYSTEMD_INVOCATION_ID"] for m in messages}) == 1, "more than one run"
    crashes = [m for m in messages if m.get("MESSAGE_ID") == CRASH_MESSAGE]
    (run,) = [m for m in messages if m.get("MESSAGE_ID") == RUN_MESSAGE]
    got = sorted((m["PSTORE_REASON"], int(m["PSTORE_COUNT"])) for m in crashes)
    assert got == sorted((r, c) for r, c, _, _ in expected), crashes
    assert (run["PSTORE_RECORDS_UNLINKED"], run["PSTORE_RECORDS_LEFT"]) == (str(len(store)), "0")
    assert sorted(n for m in crashes for n in m["PSTORE_RECORDS"].split()) == sorted(store)
    # the archive holds every record byte-exact, in the entry the message names
    files = archive(boot)
    entries = manifests(boot)
    for m in crashes:
        entry = m["PSTORE_ENTRY"]
        assert m["PSTORE_BACKEND"] == BACKEND_IDS[backend], m
        assert m["PSTORE_ARCHIVE_PATH"] == f"/var/lib/pstore-archiver/{entry}", m
        assert m["PSTORE_KERNEL_RELEASE"] == release, m
        assert m.get("PSTORE_MISSING_PARTS", "") in ("", "0"), m
        assert int(m["PSTORE_PARTS"]) == len(m["PSTORE_RECORDS"].split()), m
        for name in m["PSTORE_RECORDS"].split():
            assert files.get(f"{entry}/{name}") == store[name], f"{entry}/{name} differs"
        reason, count = m["PSTORE_REASON"], int(m["PSTORE_COUNT"])
        (summary, markers) = next((s, k) for r, c, s, k in expected if (r, c) == (reason, count))
        assert m["PSTORE_SUMMARY"] == summary, m
        assert entries[entry]["summary"] == summary and entries[entry]["complete"], entries[entry]
        assert entries[entry]["markers"] == markers, entries[entry]
    # journalctl -x shows the catalog's text for both messages
    text = boot["journal-x"]
    assert "Defined-By: pstore-archiver" in text, text[-3000:]
    for m in crashes:
        assert f"pstore-archiver info {m['PSTORE_ENTRY']}" in text, text[-3000:]
    # and the store is empty after the run
    assert sums(boot["store"]) == {}, boot["store"]
    return {m["PSTORE_ENTRY"]: entries[m["PSTORE_ENTRY"]] for m in crashes}


def check_erased(boot: Boot, previous: dict[str, str]) -> None:
    """The records archived in the previous boot are not in this boot's store: the unlink
    reached the backend.  (By name and content: ramoops reuses dmesg-ramoops-0.)"""
    left = set(survey(boot).items()) & set(previous.items())
    assert not left, f"still in the backend after archiving: {sorted(left)}"


def check_query(boot: Boot, entries: dict[str, dict[str, Any]]) -> None:
    """pstore-archiver list and info in the guest show the dumps."""
    assert boot.rcs["list"] == 0 and boot.rcs["info"] == 0, boot.tail()
    for entry_id, manifest in entries.items():
        (line,) = [line for line in boot["list"].splitlines() if entry_id in line]
        assert f"{manifest['reason']}#{manifest['count']}" in line, line
        assert manifest["summary"] in line, line
    newest = max(entries)
    assert f"Entry: {newest}" in boot["info"], boot["info"]


def check_not_on_critical_chain(boot: Boot) -> None:
    chain = boot["critical-chain"]
    assert "multi-user.target" in chain, chain
    assert "pstore" not in chain, chain


# --- the backends -----------------------------------------------------------------------------


def crash_and_archive(
    lab: Lab, backend: str, directory: Path, first: str, then: tuple[str, ...]
) -> tuple[Machine, Boot]:
    """Boot 1 crashes with FIRST (panic or oops-panic); boot 2 must archive it at boot, then
    runs THEN; returns the machine and boot 2."""
    hooks = ["ramoops"] if backend == "ramoops" else []
    machine = Machine(lab.kernel, lab.debian, backend, directory)
    crash = machine.boot([first], hooks=hooks, expect_crash=True)
    check_crash_boot(crash, backend)
    if backend == "efi":
        machine.snapshot(first)  # the store as the crash left it, for systemd-pstore
    second = machine.boot(["report", *then], expect_crash=any(s in CRASHES for s in then))
    check_archived_at_boot(second, backend, EXPECTED[first], lab.kernel.abi)
    if "timing" in then:
        check_not_on_critical_chain(second)
    if backend != "ramoops":  # ramoops never writes more than one part
        parts = [m["PSTORE_PARTS"] for m in journal(second) if m.get("MESSAGE_ID") == CRASH_MESSAGE]
        assert parts and all(int(n) > 1 for n in parts), parts
    return machine, second


CRASHES = ("panic", "oops-panic", "big")
EXPECTED = {
    "panic": [("Panic", 1, PANIC, 5)],
    "oops-panic": [("Oops", 1, OOPS, 5), ("Panic", 2, PANIC, 5)],
}


def test_erst_and_the_package_life_cycle(lab: Lab, tmp_path: Path) -> None:
    """ERST: a panic, archived at boot (also listed, shown, and off the critical chain); then
    an Oops and a panic, archived at the next boot, which finds the first panic's records
    erased from the NVRAM (the store holds only the new ones), then upgrades, removes and
    purges the package (check_life_cycle)."""
    machine, second = crash_and_archive(
        lab, "erst", tmp_path, "panic", ("timing", "query", "oops-panic")
    )
    check_query(second, manifests(second))
    third = machine.boot(["report", "lifecycle"])
    check_erased(third, survey(second))
    check_archived_at_boot(third, "erst", EXPECTED["oops-panic"], lab.kernel.abi)
    check_life_cycle(third)


def test_ramoops(lab: Lab, tmp_path: Path) -> None:
    """ramoops in reserved RAM: an Oops and a panic (zones 0 and 1), archived at boot; then a
    panic (zone 0 only); the next boot finds zone 1 empty and archives the panic; the last
    boot finds the RAM empty.  (Zone 0 is rewritten by every first dump of a boot, so only
    zone 1 and the last boot show the erase.)"""
    machine, second = crash_and_archive(lab, "ramoops", tmp_path, "oops-panic", ("panic",))
    third = machine.boot(["report"])
    check_erased(third, survey(second))
    assert set(survey(third)) == {"dmesg-ramoops-0"}, survey(third)
    check_archived_at_boot(third, "ramoops", EXPECTED["panic"], lab.kernel.abi)
    empty = machine.boot([])
    assert survey(empty) == {}


def check_life_cycle(boot: Boot) -> None:
    """In the guest, with apt and systemd running: installed (enabled, systemd-pstore masked);
    upgraded to a higher version built from the same tree (the edited conffile and the archive
    kept, still enabled); removed (systemd-pstore unmasked, conffile and archive kept); purged
    (configuration gone, the archive kept: crash records are the administrator's data)."""
    archived = boot["archive"]
    assert archived.strip(), "no archive to keep"
    edited = boot["conffile"].split()[0]
    assert boot["installed"].split()[1:] == ["install", "ok", "installed"], boot["installed"]
    assert boot["enabled"].split() == ["enabled", "enabled", "masked"], boot["enabled"]
    assert boot.rcs["upgrade"] == 0, boot["upgrade"]
    version = boot["upgraded"].split()
    assert version[0].startswith("99.0") and version[1:] == ["install", "ok", "installed"]
    assert boot["enabled-upgraded"].split() == ["enabled", "enabled", "masked"]
    assert boot["conffile-upgraded"].split()[0] == edited, "the edited conffile was replaced"
    assert boot["archive-upgraded"] == archived
    assert boot.rcs["remove"] == 0, boot["remove"]
    removed = boot["removed"].splitlines()
    assert removed[:2] == ["deinstall ok config-files", "/etc/pstore-archiver.toml"], removed
    assert boot["enabled-removed"].splitlines()[0] == "enabled", boot["enabled-removed"]
    assert boot["archive-removed"] == archived
    assert boot.rcs["purge"] == 0, boot["purge"]
    purged = boot["purged"].splitlines()
    assert "/etc/pstore-archiver.toml" not in purged, purged  # ls printed only errors
    assert any("cannot access '/etc/pstore-archiver.toml'" in line for line in purged), purged
    assert boot["enabled-purged"].strip() == "enabled", boot["enabled-purged"]
    assert boot["archive-purged"] == archived


def test_efi_power_cuts_and_systemd_pstore(lab: Lab, tmp_path: Path) -> None:
    """EFI (OVMF, efi_pstore): a panic archived at boot, then power cuts while a large store
    is archived, and the boot run's time against systemd-pstore's on the first panic."""
    machine, second = crash_and_archive(lab, "efi", tmp_path / "efi", "panic", ("timing", "big"))
    check_crash_boot(second, "efi")
    power_cuts(machine, survey(second))
    compare_with_systemd_pstore(lab, machine, second, tmp_path / "systemd-pstore")


def test_efi_late_records(lab: Lab, tmp_path: Path) -> None:
    """EFI: a panic, then a boot in which the backend registers only after the boot run."""
    machine = Machine(lab.kernel, lab.debian, "efi", tmp_path)
    crash = machine.boot(["panic"], expect_crash=True)
    check_crash_boot(crash, "efi")
    late_records(machine, crash)


def power_cuts(machine: Machine, archived: dict[str, str]) -> Boot:
    """The store holds an Oops (14 parts) and a 43-part panic (3000 marker lines compress
    well).  Three boots are cut (SIGKILL of QEMU: the power cord) while pstore-archiver.service
    archives, at points read from the guest's watcher (tests/qemu/guest/pstore-test-watch:
    records in the store and files in the archive, on every change): as soon as the run has
    written anything, then once it has begun unlinking, then once it has unlinked half of what
    was left.  The fourth boot runs to the
    end.  Nothing may be lost or doubled, every entry must be whole, the store empty; the
    fifth finds the records gone from the EFI variables."""
    cuts: list[tuple[str, Any]] = [
        ("first write", lambda p0, p: p.files > p0.files or p.store < p0.store),
        ("first unlink", lambda p0, p: p.store < p0.store),
        ("half unlinked", lambda p0, p: p.store <= p0.store // 2),
    ]
    original: dict[str, str] = {}
    boots = []
    for what, condition in cuts:

        def cut(lines: list[str], condition: Any = condition) -> bool:
            first, now = Progress.parse(lines[0]), Progress.parse(lines[-1])
            return bool(now.store > 0 and condition(first, now))

        boot = machine.boot([], cut=cut)
        boots.append(boot)
        store = survey(boot)
        if not original:
            check_erased(boot, archived)
            original = store
        assert store.items() <= original.items(), "the store has records it did not have"
        assert boot.killed_at, f"cut '{what}': the run ended before the cut\n{boot.tail()}"
        at = Progress.parse(boot.killed_at)
        print(f"power cut '{what}' at {boot.killed_at!r} ({len(store)} records at boot)")
        assert at.store > 0, boot.killed_at
    assert len(original) >= 50, f"expected a large store, got {len(original)} records"

    final = machine.boot(["report", "query"])
    for before, after in zip(boots, [*boots[1:], final]):
        # the kernel replays ext4's journal after each cut
        assert "recovery complete" in after["ext4"], after["ext4"]
        # and each cut fell inside the archiving: the run had started, and had not finished
        assert 0 < len(survey(after)) <= len(survey(before))
    assert len(survey(boots[-1])) < len(original), "no cut came after an unlink"
    check_power_cut_archive(final, original)
    return final


@dataclass(frozen=True)
class Progress:
    uptime: float
    store: int
    files: int

    @classmethod
    def parse(cls, line: str) -> Progress:
        match = re.fullmatch(r"@@ progress (\S+) store=(\d+) files=(\d+)", line.strip())
        assert match, line
        return cls(float(match.group(1)), int(match.group(2)), int(match.group(3)))


def check_power_cut_archive(final: Boot, original: dict[str, str]) -> None:
    """Every record of the store is in the archive byte-exact, exactly once; every entry has
    its manifest and all its records; the store is empty; list shows every entry."""
    assert sums(final["store"]) == {}, final["store"]
    files = archive(final)
    entries = manifests(final)
    placed: dict[str, list[str]] = {}
    for path, sha in files.items():
        entry, _, name = path.partition("/")
        if name in original:
            assert sha == original[name], f"{path} differs from the record"
            placed.setdefault(name, []).append(entry)
    lost = sorted(set(original) - set(placed))
    doubled = {name: where for name, where in placed.items() if len(where) > 1}
    assert not lost, f"lost: {lost}"
    assert not doubled, f"archived twice: {doubled}"
    directories = {path.split("/")[0] for path in files if not path.startswith(".")}
    assert directories == set(entries), "entries without a manifest (partial entries)"
    for entry_id, manifest in entries.items():
        assert all(f"{entry_id}/{n}" in files for n in names(manifest)), manifest
        assert manifest["complete"] and manifest["missing_parts"] == [], manifest
    big = {(m["reason"], m["count"]): m for m in entries.values() if set(names(m)) & set(original)}
    assert set(big) == {("Oops", 1), ("Panic", 2)}, sorted(big)
    # the panic's dump is the tail of the log: marker lines up to the kmsg_bytes limit
    # (6.12: about 980 of the 3000, in 40-odd parts)
    panic = big[("Panic", 2)]
    assert panic["markers"] > 100 and len(panic["records"]) >= 30, (panic["markers"], panic)
    messages = [m for m in journal(final) if m.get("MESSAGE_ID") == RUN_MESSAGE]
    assert messages and messages[-1]["PSTORE_RECORDS_LEFT"] == "0", messages
    for entry_id in entries:
        assert entry_id in final["list"], final["list"]


def names(manifest: dict[str, Any]) -> list[str]:
    return [r["name"] for r in manifest["records"]]


def late_records(machine: Machine, previous: Boot) -> None:
    """efi_pstore kept from loading at boot (modprobe.blacklist=, which modprobe@'s -b honours):
    the boot run finds an empty store and is skipped; pstore-test-late.service then loads the
    module by hand, and pstore-archiver.timer's run archives the records in the same boot.  The
    test's drop-in (hook timer-soon) shortens the timer's OnBootSec=10min to 60 s."""
    boot = machine.boot(
        ["late"], hooks=["timer-soon"], cmdline=["modprobe.blacklist=efi_pstore", "pt.late"]
    )
    check_erased(boot, survey(previous))
    assert survey(boot) == {}, "efi_pstore was loaded at boot"
    assert boot["survey-backend"].strip() in ("", "(null)"), boot["survey-backend"]
    loaded = sums(boot["late-load"])
    assert loaded and all(re.fullmatch(NAMES["efi"], n) for n in loaded), boot.tail()
    # the boot run was skipped (empty store); the timer's run archived them
    messages = journal(boot, "-late")
    assert any("ConditionDirectoryNotEmpty" in m.get("MESSAGE", "") for m in messages), messages
    ours = [m for m in messages if m.get("SYSLOG_IDENTIFIER") == "pstore-archiver"]
    crashes = [m for m in ours if m.get("MESSAGE_ID") == CRASH_MESSAGE]
    assert [(m["PSTORE_REASON"], m["PSTORE_COUNT"]) for m in crashes] == [("Panic", "1")]
    assert sorted(crashes[0]["PSTORE_RECORDS"].split()) == sorted(loaded)
    timer = dict(line.split("=", 1) for line in boot["timer-run"].splitlines() if "=" in line)
    assert timer["LastTriggerUSecMonotonic"] not in ("0", "n/a", ""), timer
    loaded_at = float(boot["late-load-time"].strip())
    unit = units(boot, "-late")["pstore-archiver.service"]
    started = int(unit["ExecMainStartTimestampMonotonic"])
    # started by the timer (OnBootSec=60s in the test's drop-in), after the load
    assert started / 1e6 > max(loaded_at, 60), (started, loaded_at, timer)
    files = archive(boot, "-late")
    entry = crashes[0]["PSTORE_ENTRY"]
    for name, sha in loaded.items():
        assert files[f"{entry}/{name}"] == sha
    assert sums(boot["store-late"]) == {}


def compare_with_systemd_pstore(lab: Lab, machine: Machine, ours: Boot, directory: Path) -> None:
    """The same guest image and the same NVRAM (copied after the panic), with systemd-pstore
    enabled and pstore-archiver masked: both tools' boot runs side by side (README table)."""
    other = Machine(lab.kernel, lab.debian, "efi", directory)
    other.restore(machine.directory / "panic-efivars.fd")  # crash_and_archive's snapshot
    boot = other.boot(["report", "timing"], hooks=["systemd-pstore"])
    check_systemd_pstore_run(ours, boot)


def check_systemd_pstore_run(ours: Boot, boot: Boot) -> None:
    """systemd-pstore archived the same records at boot; print both boot runs (README)."""
    unit = units(boot)["systemd-pstore.service"]
    assert (unit["Result"], unit["ExecMainStatus"], unit["ConditionResult"]) == (
        "success",
        "0",
        "yes",
    ), unit
    moved = [Path(p) for p in boot["systemd-pstore-dir"].split()]
    # every record moved, with a dmesg.txt per directory (257 groups the parts by the second
    # their ids carry: a dump that crosses a second is split in two directories)
    assert survey(boot) == survey(ours), "not the same records"
    assert sorted(p.name for p in moved if p.name != "dmesg.txt") == sorted(survey(ours)), moved
    directories = {p.parent for p in moved}
    assert {p.parent for p in moved if p.name == "dmesg.txt"} == directories, moved
    print(f"systemd-pstore put the {len(survey(boot))} records in {len(directories)} directories")
    assert units(boot)["pstore-archiver.service"]["LoadState"] == "masked"
    print(f"\nthe boot run on the same EFI panic ({len(survey(boot))} records), TCG, 1 vCPU:")
    rows = [boot_run(ours, "pstore-archiver.service"), boot_run(boot, "systemd-pstore.service")]
    print("\n".join(BOOT_RUN_HEADER + [" | ".join(("", *row, "")).strip() for row in rows]))
    start_up = ours["start-up"]
    assert len(re.findall(r"^\d+ ms: python3 -c ", start_up, re.MULTILINE)) == 2, start_up
    cold = ours["cold-start"]
    assert re.findall(r"^(cold|warm): \d+ ms, CPU", cold, re.MULTILINE) == ["cold", "warm"], cold
    print(f"after the boot, in the same guest:\n{start_up}")
    print(f"pstore-archiver run on the empty store, page cache dropped, then again:\n{cold}")


BOOT_RUN_HEADER = [
    "| unit | started (s after boot) | ran (s) | CPU (s) | waited (s) | memory peak"
    " | read from disk | on the critical chain | boot finished (kernel + userspace) |",
    "|---|---|---|---|---|---|---|---|---|",
]


def boot_run(boot: Boot, name: str) -> tuple[str, ...]:
    """NAME's boot run as the README's table shows it: from `systemctl show` (start and exit,
    CPUUsageNSec, MemoryPeak, IOReadBytes) and systemd-analyze.  "waited" is the time it ran
    but did not use the CPU: waiting for the one vCPU, which the rest of the boot shares,
    or for the disk."""
    props = units_of(boot, "accounting")[name]
    start = int(props["ExecMainStartTimestampMonotonic"]) / 1e6
    ran = int(props["ExecMainExitTimestampMonotonic"]) / 1e6 - start
    cpu = int(props["CPUUsageNSec"]) / 1e9 if props["CPUUsageNSec"].isdigit() else None
    chain = "yes" if name.removesuffix(".service") in boot["critical-chain"] else "no"
    finished = boot["analyze-time"].splitlines()[0].removeprefix("Startup finished in ").strip()
    return (
        name, f"{start:.1f}", f"{ran:.2f}", "n/a" if cpu is None else f"{cpu:.2f}",
        "n/a" if cpu is None else f"{ran - cpu:.2f}",
        mib(props["MemoryPeak"]), mib(props["IOReadBytes"]), chain, finished,
    )  # fmt: skip


def mib(value: str) -> str:
    """A byte count of `systemctl show` in MiB ("[not set]" without accounting: n/a)."""
    return f"{int(value) / (1 << 20):.1f} MiB" if value.isdigit() else "n/a"


def test_flatcar_like_host_sysext_merged_late_and_early(lab: Lab, tmp_path: Path) -> None:
    """The sysext image (PyInstaller bundle) on a host without Python that says it is Flatcar
    (tests/qemu_lab.py flatcar_image), systemd-pstore masked, ERST.  (a) merged late, by
    systemd-sysext.service after sysinit.target with ensure-sysext.service, as Flatcar before
    4628: the service's sysinit.target.wants link comes too late, but ensure-sysext restarts
    multi-user.target, whose link in the image runs it in the same boot, and the timer is
    upheld (not yet triggered: OnBootSec=10min).
    (b) merged in the initramfs before systemd loads a unit, as Flatcar from 4628: the unit
    runs at boot like on Debian.  In both, the previous boot's panic is archived in the boot."""
    image = qemu_lab.flatcar_image(lab.base, lab.kernel, lab.packages.sysext)
    machine = Machine(lab.kernel, image, "erst", tmp_path)
    first = machine.boot(["flatcar", "panic"], expect_crash=True)
    check_crash_boot(first, "erst")
    check_flatcar(first)

    late = machine.boot(["settle", "flatcar", "report", "panic"])
    check_flatcar(late)
    sysext = units_of(late, "sysext-units")
    merged_at = int(sysext["systemd-sysext.service"]["ActiveEnterTimestampMonotonic"])
    sysinit_at = int(late["sysinit-time"].strip())
    assert merged_at > sysinit_at, (merged_at, sysinit_at)  # the late merge
    ours = units(late)["pstore-archiver.service"]
    assert int(ours["ExecMainStartTimestampMonotonic"]) > merged_at, ours
    timer = sysext["pstore-archiver.timer"]
    assert (timer["ActiveState"], timer["LastTriggerUSecMonotonic"]) == ("active", "0"), timer
    check_archived_after_boot(late, survey(late))

    early = machine.boot(["flatcar", "report", "timing", "query"], hooks=["sysext-initrd"])
    check_flatcar(early)
    check_erased(early, survey(late))
    assert "initrd: systemd-sysext refresh: rc 0" in early.console, early.tail()
    assert units_of(early, "sysext-units")["systemd-sysext.service"]["LoadState"] == "masked"
    # enabled by the image's own sysinit.target.wants link, in /usr: "disabled" for systemctl
    entries = check_archived_at_boot(
        early, "erst", EXPECTED["panic"], lab.kernel.abi, enabled="disabled"
    )
    check_query(early, entries)
    check_not_on_critical_chain(early)


def check_flatcar(boot: Boot) -> None:
    assert "ID=flatcar" in boot["os-release"] and "SYSEXT_LEVEL=1.0" in boot["os-release"]
    assert boot["python"].strip() == "", f"the host has Python: {boot['python']}"
    assert "pstore-archiver" in boot["sysext-status"], boot["sysext-status"]
    assert boot["which"].split()[0] == "/usr/bin/pstore-archiver", boot["which"]


def units_of(boot: Boot, section: str) -> dict[str, dict[str, str]]:
    out = {}
    for block in boot[section].strip().split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        out[props["Id"]] = props
    return out


def check_archived_after_boot(boot: Boot, store: dict[str, str]) -> None:
    """A run later in the boot (not the boot run) archived the store: every record
    byte-exact in the archive, the store empty, systemd-pstore idle."""
    assert store, boot.tail()
    assert boot["settled"].split()[1:] == [], boot["settled"]
    files = archive(boot)
    for name, sha in store.items():
        (where,) = [p for p in files if p.endswith("/" + name)]
        assert files[where] == sha, where
    theirs = units(boot)["systemd-pstore.service"]
    assert (theirs["LoadState"], theirs["ExecMainStartTimestampMonotonic"]) == ("masked", "0")
    crashes = [m for m in journal(boot) if m.get("MESSAGE_ID") == CRASH_MESSAGE]
    assert [(m["PSTORE_REASON"], m["PSTORE_COUNT"]) for m in crashes] == [("Panic", "1")]
