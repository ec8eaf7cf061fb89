"""Debian 12 (systemd 252, kernel 6.1) end to end: the unit as shipped, under the oldest
systemd the project supports, archives a real kernel panic at boot.

Boot 1 (busybox initramfs) writes marker lines to the kernel log and crashes (sysrq c); the
kernel's ERST backend dumps the log into the ERST NVRAM (a file on the host).  Boot 2 is a
Debian 12 minbase system with systemd as PID 1, packed as an initramfs (tests/qemu/build-guest),
that starts units/pstore-archiver.service as is, sandboxing and all, at boot; its journal
messages and the archived log are checked.  Boot 3 (busybox) proves the erase: the store is
empty.  The .deb needs pydantic >= 2, which Debian 12 lacks, so the package's code is copied
into the guest; the package itself is tested on Debian 13 (tests/test_qemu.py).  About 1 min
under TCG on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import qemu_lab

from pstore_archiver.journal import MessageId

pytestmark = [pytest.mark.qemu, pytest.mark.root]

HERE = Path(__file__).resolve().parent
BUILD_GUEST = HERE / "qemu" / "build-guest"
QEMU = "qemu-system-x86_64"
BOOT_TIMEOUT = 150  # seconds per boot; ~8 s with TCG on 2 cores
MARKER = "pstore-archiver-qemu-test marker"
PANIC = "Kernel panic - not syncing: sysrq triggered crash"
CRASH_MESSAGE = str(MessageId.dump_archived)
RUN_MESSAGE = str(MessageId.run_summary)


def build_guest() -> dict[str, Path]:
    """Run build-guest (see its header); it prints "name=path" lines."""
    if shutil.which(QEMU) is None:
        pytest.fail(f"{QEMU} missing: run ./scripts/setup")
    done = qemu_lab.timed("bookworm guest (tests/qemu/build-guest)")
    result = subprocess.run(
        [str(BUILD_GUEST)], capture_output=True, text=True, timeout=1800, check=False
    )
    done()
    assert result.returncode == 0, result.stderr
    lines = [line.split("=", 1) for line in result.stdout.splitlines() if "=" in line]
    return {name: Path(path) for name, path in lines}


def qemu(accel: str, kernel: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    cpu = "host" if accel == "kvm" else "max"
    command = [
        QEMU,
        "-accel", accel, "-cpu", cpu, "-m", "1024", "-smp", "1",
        "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
        "-kernel", str(kernel), *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def choose_accel(kernel: Path, tmp_path: Path) -> str:
    """KVM when a kernel boots under it (it is there but hangs in some nested setups)."""
    forced = os.environ.get("PSTORE_QEMU_ACCEL")
    if forced:
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    serial = tmp_path / "kvm-probe.log"
    # no initramfs: the kernel panics at once ("VFS: Unable to mount root fs"), and exits
    try:
        probe = qemu(
            "kvm",
            kernel,
            "-append", "console=ttyS0 panic=-1 loglevel=1",
            "-serial", f"file:{serial}",
            timeout=20,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return "tcg"
    log = serial.read_text(errors="replace") if serial.exists() else ""
    return "kvm" if probe.returncode == 0 and "Kernel panic" in log else "tcg"


class Guest:
    def __init__(self, kernel: Path, accel: str, directory: Path) -> None:
        self.kernel, self.accel, self.directory = kernel, accel, directory
        self.nvram = directory / "erst.bin"  # created by QEMU, kept across the boots

    def boot(self, initrd: Path, step: str, loglevel: int, extra: str = "") -> str:
        serial = self.directory / f"serial-{step}.log"
        start = time.monotonic()
        result = qemu(
            self.accel,
            self.kernel,
            "-initrd", str(initrd),
            "-object", "memory-backend-file,id=erstnvram,"
            f"mem-path={self.nvram},size=0x10000,share=on",
            "-device", "acpi-erst,memdev=erstnvram",
            "-append",
            f"console=ttyS0,115200 panic=-1 loglevel={loglevel} pstore_test={step} {extra}",
            "-serial", f"file:{serial}",
            timeout=BOOT_TIMEOUT,
        )  # fmt: skip
        qemu_lab.note(
            f"boot bookworm-{step} ({self.accel}): {time.monotonic() - start:.1f} s,"
            f" exit {result.returncode}"
        )
        log = serial.read_text(errors="replace").replace("\r\n", "\n")
        assert result.returncode == 0, f"{QEMU} failed: {result.stderr}\n{log[-3000:]}"
        assert f"@@ step {step}\n" in log, log[-3000:]
        assert "@@ backend erst\n" in log, log[-3000:]
        return log


def section(log: str, name: str) -> str:
    """The text between "@@ NAME" and "@@ end NAME" (see tests/qemu/init)."""
    match = re.search(rf"^@@ {re.escape(name)}\n(.*?)^@@ end {name.split()[0]}\n", log, re.S | re.M)
    assert match, f"no section {name!r} in:\n{log[-3000:]}"
    return match.group(1)


def listing(log: str, name: str) -> list[str]:
    return section(log, name).split()


def crash(guest: Guest, initrd: Path) -> None:
    """Boot 1: the console shows the panic; the store was empty before."""
    log = guest.boot(initrd, "panic", loglevel=6)
    assert listing(log, "store-before") == []
    assert PANIC in log
    assert "@@ done" not in log


def check_entry(entry: dict[str, Any], records: list[str]) -> None:
    assert re.fullmatch(r"\d{8}T\d{6}Z-erst-panic1", entry["id"]), entry
    assert (entry["backend"], entry["reason"], entry["count"]) == ("erst", "Panic", 1)
    assert entry["missing_parts"] == []
    assert sorted(entry["records"]) == sorted(records)


def check_log(log: str, entry_id: str) -> None:
    """dmesg.txt: oldest line first (the reassembled parts), the markers, then the panic."""
    assert listing(log, "entries") == [entry_id]
    dmesg = section(log, f"dmesg {entry_id}").splitlines()
    markers = [i for i, line in enumerate(dmesg) if MARKER in line]
    panics = [i for i, line in enumerate(dmesg) if PANIC in line]
    assert len(markers) == 5 and len(panics) == 1, dmesg[-40:]
    assert markers[-1] < panics[0] and len(dmesg) - panics[0] < 60, dmesg[-40:]
    assert dmesg[0].startswith("<") and "Linux version" in "\n".join(dmesg[:5]), dmesg[:5]
    assert listing(log, "store-after") == []


def check_erased(guest: Guest, initrd: Path) -> None:
    """Boot 3: the unlink really erased the records from the ERST NVRAM."""
    log = guest.boot(initrd, "list", loglevel=1)
    assert listing(log, "store-before") == []


def test_the_systemd_unit_archives_a_real_kernel_panic_at_boot(tmp_path: Path) -> None:
    paths = build_guest()
    guest = Guest(paths["kernel"], choose_accel(paths["kernel"], tmp_path), tmp_path)
    crash(guest, paths["initrd"])

    log = guest.boot(paths["systemd_initrd"], "systemd", loglevel=1, extra="systemd.show_status=0")
    unit = dict(line.split("=", 1) for line in section(log, "unit").splitlines())
    assert unit["ConditionResult"] == "yes", unit
    assert (unit["Result"], unit["ExecMainStatus"]) == ("success", "0"), unit
    journal = [json.loads(line) for line in section(log, "journal").splitlines() if line]
    ours = [m for m in journal if m.get("SYSLOG_IDENTIFIER") == "pstore-archiver"]
    crashes = [m for m in ours if m.get("MESSAGE_ID") == CRASH_MESSAGE]
    runs = [m for m in ours if m.get("MESSAGE_ID") == RUN_MESSAGE]
    assert len(crashes) == 1 and len(runs) == 1, ours
    (message,) = crashes
    records = message["PSTORE_RECORDS"].split()
    assert records and all(re.fullmatch(r"dmesg-erst-\d+", name) for name in records), records
    check_entry(
        {
            "id": message["PSTORE_ENTRY"],
            "backend": message["PSTORE_BACKEND"],
            "reason": message["PSTORE_REASON"],
            "count": int(message["PSTORE_COUNT"]),
            "missing_parts": [],
            "records": records,
        },
        records,
    )
    assert message["PSTORE_SUMMARY"] == PANIC
    assert message["_SYSTEMD_UNIT"] == "pstore-archiver.service"
    unlinked = (runs[0]["PSTORE_RECORDS_UNLINKED"], runs[0]["PSTORE_RECORDS_LEFT"])
    assert unlinked == (str(len(records)), "0"), runs
    check_log(log, message["PSTORE_ENTRY"])

    check_erased(guest, paths["initrd"])
