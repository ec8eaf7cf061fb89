"""The QEMU lab of the end-to-end tests: guest images built from Debian packages, cached, and
a machine that boots them with a real pstore backend.

Images (under PSTORE_QEMU_CACHE, default /var/tmp/pstore-archiver-qemu; each keyed on its
inputs and built under a lock, so that two runs may share the cache):

* ``trixie-base-KEY/``: ``debootstrap --variant=minbase`` of Debian 13 with systemd, udev and
  kmod (no Python), with its apt lists.
* ``kernel-ABI/``: Debian 13's kernel (the ``linux-image-amd64`` of those lists), its modules,
  the initramfs (busybox, the modules that mount the root, tests/qemu/initrd-init) and
  ``labcrash.ko`` built against the matching headers package in a throw-away chroot.
* ``debian-KEY.img``: ext4 image of the base with the kernel's modules, the ``.deb`` installed
  by apt (its dependencies from Debian) and the test units of tests/qemu/guest.
* ``flatcar-KEY.img``: the base without Python, an os-release that says ``ID=flatcar`` and
  ``SYSEXT_LEVEL=1.0``, the sysext image in /var/lib/extensions, systemd-pstore masked.

A machine is a copy of an image plus the backend's persistent store: the ERST NVRAM file, the
OVMF variable store, or the guest RAM in a file (ramoops in reserved RAM).  QEMU runs with KVM
when a probe boot works, else TCG (PSTORE_QEMU_ACCEL=kvm|tcg forces one).  The guest prints
what the tests read on its second serial port (the test channel), the kernel console goes to the
first; both are kept in the test's directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from commands import run_command

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
QEMU_FILES = HERE / "qemu"
GUEST_FILES = QEMU_FILES / "guest"
QEMU = "qemu-system-x86_64"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
SUITE = "trixie"
BASE_PACKAGES = "systemd,systemd-sysv,udev,kmod"
# what the initramfs loads (with their dependencies) to mount the root and merge a sysext
INITRD_MODULES = (
    "virtio_pci",
    "virtio_blk",
    "crc32c_generic",
    "ext4",
    "loop",
    "squashfs",
    "erofs",
    "overlay",
)
GUEST_UNITS_MASKED = (
    "getty@tty1.service",
    "serial-getty@ttyS0.service",
    "serial-getty@ttyS1.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "fstrim.timer",
    "e2scrub_all.timer",
    "systemd-timesyncd.service",
    "getty-static.service",
    "systemd-binfmt.service",
    "proc-sys-fs-binfmt_misc.automount",
)
BOOT_TIMEOUT = 420.0  # seconds per boot: ~20-35 s under TCG on 2 idle cores
RAM = "1024"
# One vCPU: with two, Debian 13's kernel under TCG (QEMU 7.2) now and then oopses on an int3
# left by a code patch on the other vCPU ("Oops: int3" in kfree at boot, seen here).
SMP = "1"


def cache_dir() -> Path:
    return Path(os.environ.get("PSTORE_QEMU_CACHE", "/var/tmp/pstore-archiver-qemu"))


def mirror() -> str:
    return os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")


def digest(*parts: bytes | str | Path) -> str:
    """A short hash of strings, bytes, files and directory trees (names and contents)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            files = sorted(p for p in part.rglob("*") if p.is_file()) if part.is_dir() else [part]
            for f in files:
                h.update(str(f.relative_to(part) if part.is_dir() else f.name).encode())
                h.update(f.read_bytes())
        else:
            h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:16]


@contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold the cache's lock NAME (builds of the same thing by two runs wait for each other)."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def sh(*argv: str | Path, timeout: float = 600, env: dict[str, str] | None = None) -> str:
    return run_command(argv, timeout=timeout, env=env).stdout


def chroot(root: Path, script: str, timeout: float = 900) -> str:
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "DEBIAN_FRONTEND": "noninteractive",
        "LC_ALL": "C.UTF-8",
        "HOME": "/root",
    }
    return sh("chroot", root, "/bin/sh", "-ec", script, timeout=timeout, env=env)


# every build step and boot, with its wall time: tests/conftest.py prints them at the end of
# the run (pytest keeps a passing test's output to itself)
TIMES: list[str] = []


def note(line: str) -> None:
    TIMES.append(line)
    print(f"qemu-lab: {line}", flush=True)


def timed(what: str) -> Callable[[], None]:
    start = time.monotonic()

    def done() -> None:
        note(f"{what}: {time.monotonic() - start:.1f} s")

    return done


# --- images -----------------------------------------------------------------------------------


def trixie_base() -> Path:
    """debootstrap minbase of Debian 13 with systemd (no Python), with apt lists."""
    cache = cache_dir()
    path = cache / f"trixie-base-{digest(SUITE, BASE_PACKAGES, mirror(), 'base-2')}"
    with locked("base"):
        if path.is_dir():
            return path
        done = timed(f"debootstrap {SUITE}")
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        sh(
            "debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}",
            SUITE, tmp, mirror(), timeout=1800,
        )  # fmt: skip
        chroot(tmp, "apt-get update -qq; rm -rf /usr/share/doc/* /usr/share/man/*")
        tmp.rename(path)
        done()
        return path


@dataclass(frozen=True)
class Kernel:
    abi: str
    root: Path  # kernel-ABI/ in the cache

    @property
    def vmlinuz(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.root / "initrd.cpio.gz"

    @property
    def modules(self) -> Path:
        return self.root / "lib" / "modules" / self.abi  # with modules.dep (depmod -b)

    @property
    def labcrash(self) -> Path:
        return self.root / "labcrash.ko"


def kernel(base: Path) -> Kernel:
    """Debian 13's kernel: vmlinuz, modules, our initramfs and labcrash.ko."""
    depends = chroot(base, "apt-cache depends linux-image-amd64")
    match = re.search(r"Depends: linux-image-(\S+-amd64)\b", depends)
    assert match, f"no kernel in the {SUITE} lists:\n{depends}"
    abi = match.group(1)
    root = cache_dir() / f"kernel-{abi}"
    initrd_key = digest(QEMU_FILES / "initrd-init", Path("/bin/busybox"), *INITRD_MODULES)
    with locked("kernel"):
        if not (root / "vmlinuz").exists():
            done = timed(f"kernel {abi}")
            tmp = root.with_name(root.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            chroot(base, f"cd /tmp && apt-get download -q linux-image-{abi}")
            (deb,) = (base / "tmp").glob(f"linux-image-{abi}_*.deb")
            sh("dpkg-deb", "-x", deb, tmp / "pkg")
            deb.unlink()
            shutil.copy(tmp / "pkg" / "boot" / f"vmlinuz-{abi}", tmp / "vmlinuz")
            (tmp / "lib" / "modules").mkdir(parents=True)
            (tmp / "pkg" / "usr" / "lib" / "modules" / abi).rename(tmp / "lib" / "modules" / abi)
            shutil.rmtree(tmp / "pkg")
            sh("depmod", "-b", tmp, abi)
            build_labcrash(base, abi, tmp / "labcrash.ko")
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
            done()
        k = Kernel(abi, root)
        stamp = root / "initrd.key"
        if not stamp.exists() or stamp.read_text() != initrd_key:
            build_initrd(k)
            stamp.write_text(initrd_key)
        return k


def build_labcrash(base: Path, abi: str, out: Path) -> None:
    """tests/qemu/labcrash (an Oops without a panic) built against linux-headers-ABI in a
    throw-away copy of the base (gcc of the release that built the kernel)."""
    builder = out.parent / "builder"
    shutil.rmtree(builder, ignore_errors=True)
    sh("cp", "-a", base, builder)
    try:
        shutil.copytree(QEMU_FILES / "labcrash", builder / "tmp" / "labcrash")
        chroot(
            builder,
            "apt-get install -y -qq --no-install-recommends make gcc"
            f" linux-headers-{abi} >/dev/null;"
            f"make -s -C /usr/src/linux-headers-{abi} M=/tmp/labcrash modules",
            timeout=1800,
        )
        shutil.copy(builder / "tmp" / "labcrash" / "labcrash.ko", out)
    finally:
        shutil.rmtree(builder, ignore_errors=True)


def build_initrd(k: Kernel) -> None:
    """busybox, INITRD_MODULES with their dependencies (decompressed, in load order), /init."""
    work = k.root / "initrd.tmp"
    shutil.rmtree(work, ignore_errors=True)
    for d in ("bin", "modules", "proc", "sys", "dev", "sysroot"):
        (work / d).mkdir(parents=True)
    shutil.copy("/bin/busybox", work / "bin" / "busybox")
    shutil.copy(QEMU_FILES / "initrd-init", work / "init")
    (work / "init").chmod(0o755)
    moddir = k.modules
    builtin = (moddir / "modules.builtin").read_text()
    deps: dict[str, list[str]] = {}
    for line in (moddir / "modules.dep").read_text().splitlines():
        name, _, rest = line.partition(":")
        deps[name] = rest.split()
    by_name = {Path(p).name.split(".ko")[0].replace("-", "_"): p for p in deps}
    order: list[str] = []

    def add(path: str) -> None:
        for dep in deps[path]:
            add(dep)
        if path not in order:
            order.append(path)

    for name in INITRD_MODULES:
        if name in by_name:
            add(by_name[name])
        else:
            assert f"/{name}.ko" in builtin, f"module {name} neither built in nor in {moddir}"
    names = []
    for path in order:
        plain = Path(path).name.split(".ko")[0] + ".ko"
        data = (moddir / path).read_bytes()
        tool = {".xz": "xz", ".zst": "zstd"}.get(Path(path).suffix)
        if tool:
            data = subprocess.run([tool, "-dc"], input=data, capture_output=True, check=True).stdout
        (work / "modules" / plain).write_bytes(data)
        names.append(plain)
    (work / "modules.load").write_text("\n".join(names) + "\n")
    pack_cpio(work, k.initrd)
    shutil.rmtree(work)


def pack_cpio(directory: Path, out: Path) -> None:
    tmp = out.with_name(out.name + ".tmp")
    script = (
        f"cd {directory} && find . | LC_ALL=C sort | "
        f"cpio -o -H newc --quiet --reproducible | gzip -n -1 >{tmp}"
    )
    sh("sh", "-ec", script)
    tmp.rename(out)


def install_test_files(tree: Path, k: Kernel) -> None:
    """The test driver, its units (enabled) and labcrash.ko; the kernel's modules; masks of
    units that only slow the boot (gettys, apt timers); a fixed machine id."""
    shutil.copytree(k.modules, tree / "usr" / "lib" / "modules" / k.abi, dirs_exist_ok=True)
    lib = tree / "usr" / "local" / "lib" / "pstore-test"
    lib.mkdir(parents=True, exist_ok=True)
    shutil.copy(k.labcrash, lib / "labcrash.ko")
    sbin = tree / "usr" / "local" / "sbin"
    sbin.mkdir(parents=True, exist_ok=True)
    for script in ("pstore-test", "pstore-test-watch"):
        shutil.copy(GUEST_FILES / script, sbin / script)
        (sbin / script).chmod(0o755)
    etc = tree / "etc" / "systemd" / "system"
    for unit, target in (
        ("pstore-test.service", "multi-user.target"),
        ("pstore-test-watch.service", "sysinit.target"),
        ("pstore-test-late.service", "multi-user.target"),
    ):
        shutil.copy(GUEST_FILES / unit, etc / unit)
        wants = etc / f"{target}.wants"
        wants.mkdir(exist_ok=True)
        (wants / unit).unlink(missing_ok=True)
        (wants / unit).symlink_to(f"../{unit}")
    for unit in GUEST_UNITS_MASKED:
        (etc / unit).unlink(missing_ok=True)
        (etc / unit).symlink_to("/dev/null")
    # the boot runs' bytes read from disk (the timing step; off by default in systemd)
    conf = tree / "etc" / "systemd" / "system.conf.d"
    conf.mkdir(exist_ok=True)
    (conf / "pstore-test.conf").write_text("[Manager]\nDefaultIOAccounting=yes\n")
    (tree / "etc" / "fstab").write_text("/dev/vda / ext4 rw 0 1\n")
    (tree / "etc" / "hostname").write_text("pstore-test\n")
    (tree / "etc" / "machine-id").write_text(hashlib.md5(str(tree).encode()).hexdigest() + "\n")
    chroot(tree, f"depmod {k.abi}")


def deb_digest(deb: Path) -> str:
    """The digest of a .deb's control data and files (not of its timestamps).  Unpacked in
    a directory of its own: another test process may be doing the same (pytest-xdist)."""
    work = Path(tempfile.mkdtemp(prefix="deb-digest-", dir=cache_dir()))
    try:
        sh("dpkg-deb", "-R", deb, work / "tree")
        return digest(work / "tree")
    finally:
        shutil.rmtree(work)


def make_ext4(tree: Path, image: Path, size: str = "4G") -> None:
    """An ext4 image of TREE (mkfs.ext4 -d: no loop device).  4G, sparse: more free space than
    retention's keep_free (1G by default), so nothing is vacuumed."""
    tmp = image.with_name(image.name + ".tmp")
    tmp.unlink(missing_ok=True)
    sh("mkfs.ext4", "-q", "-F", "-L", "root", "-d", tree, tmp, size)
    tmp.rename(image)


def build_image(kind: str, key: str, base: Path, k: Kernel, setup: Callable[[Path], None]) -> Path:
    """CACHE/KIND-KEY.img: an ext4 image of a copy of BASE with the kernel's modules and the
    test files, changed by SETUP(tree); built once (older images of KIND are removed)."""
    image = cache_dir() / f"{kind}-{key}.img"
    with locked(kind):
        if image.exists():
            return image
        done = timed(f"{kind} image")
        tree = cache_dir() / f"{kind}-tree.tmp"
        shutil.rmtree(tree, ignore_errors=True)
        sh("cp", "-a", base, tree)
        try:
            setup(tree)
            install_test_files(tree, k)
            for old in cache_dir().glob(f"{kind}-*.img"):
                old.unlink()
            make_ext4(tree, image)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        done()
        return image


def debian_image(base: Path, k: Kernel, deb: Path, next_deb: Path) -> Path:
    """Debian 13 with the .deb installed by apt; NEXT_DEB (a higher version) is left in
    /var/tmp for the upgrade of the life-cycle test."""

    def setup(tree: Path) -> None:
        shutil.copy(deb, tree / "tmp" / "pstore-archiver.deb")
        shutil.copy(next_deb, tree / "var" / "tmp" / "pstore-archiver-next.deb")
        chroot(
            tree,
            "apt-get install -y -q --no-install-recommends /tmp/pstore-archiver.deb"
            " >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }; rm /tmp/pstore-archiver.deb",
        )

    key = digest(base.name, k.abi, deb_digest(deb), deb_digest(next_deb), GUEST_FILES, "debian-2")
    return build_image("debian", key, base, k, setup)


FLATCAR_OS_RELEASE = """\
NAME="Flatcar Container Linux by Kinvolk"
ID=flatcar
ID_LIKE=coreos
VERSION=4593.2.5
VERSION_ID=4593.2.5
BUILD_ID=pstore-archiver-test
SYSEXT_LEVEL=1.0
PRETTY_NAME="Flatcar Container Linux by Kinvolk 4593.2.5 (stand-in: a Debian 13 base)"
"""

# Flatcar before 4628: systemd-sysext.service merges after sysinit.target, and
# ensure-sysext.service then reloads the units and restarts the targets that start them.
FLATCAR_LATE_SYSEXT = """\
# Test guest only: systemd-sysext.service ordered as on Flatcar stable before 4628 (after
# sysinit.target) instead of Debian's Before=sysinit.target.
[Unit]
Description=Merge System Extension Images into /usr/ and /opt/ (late, as Flatcar before 4628)
ConditionCapability=CAP_SYS_ADMIN
ConditionDirectoryNotEmpty=|/etc/extensions
ConditionDirectoryNotEmpty=|/run/extensions
ConditionDirectoryNotEmpty=|/var/lib/extensions
DefaultDependencies=no
After=local-fs.target sysinit.target
Conflicts=shutdown.target
Before=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=systemd-sysext refresh
ExecReload=systemd-sysext refresh
ExecStop=systemd-sysext unmerge

[Install]
WantedBy=sysinit.target
"""

FLATCAR_ENSURE_SYSEXT = """\
# Test guest only: Flatcar's ensure-sysext.service (bound to systemd-sysext.service): load the
# units the extensions brought and start what the targets want or uphold.
[Unit]
BindsTo=systemd-sysext.service
After=systemd-sysext.service
DefaultDependencies=no
ConditionDirectoryNotEmpty=|/etc/extensions
ConditionDirectoryNotEmpty=|/run/extensions
ConditionDirectoryNotEmpty=|/var/lib/extensions

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=systemctl daemon-reload
ExecStart=systemctl restart --no-block sockets.target timers.target multi-user.target

[Install]
WantedBy=sysinit.target
"""


def flatcar_image(base: Path, k: Kernel, sysext: Path) -> Path:
    """A Flatcar-like host: the Debian 13 base (which has no Python), an os-release that says
    ID=flatcar and SYSEXT_LEVEL=1.0, the sysext in /var/lib/extensions, systemd-pstore masked
    (as Flatcar users do from Ignition), systemd-sysext.service merging late as Flatcar before
    4628 did.  The initramfs hook sysext-initrd merges early instead, as Flatcar from 4628."""

    def setup(tree: Path) -> None:
        python = [p for p in tree.rglob("*python3*") if "share" not in p.parts]
        assert not python, f"the base has Python: {python[:5]}"
        (tree / "etc" / "os-release").unlink(missing_ok=True)
        (tree / "usr" / "lib" / "os-release").write_text(FLATCAR_OS_RELEASE)
        (tree / "etc" / "os-release").symlink_to("../usr/lib/os-release")
        extensions = tree / "var" / "lib" / "extensions"
        extensions.mkdir(parents=True)
        shutil.copy(sysext, extensions / "pstore-archiver.raw")
        etc = tree / "etc" / "systemd" / "system"
        (etc / "systemd-pstore.service").symlink_to("/dev/null")
        (etc / "systemd-sysext.service").write_text(FLATCAR_LATE_SYSEXT)
        (etc / "ensure-sysext.service").write_text(FLATCAR_ENSURE_SYSEXT)
        for unit in ("systemd-sysext.service", "ensure-sysext.service"):
            (etc / "sysinit.target.wants" / unit).symlink_to(f"../{unit}")

    key = digest(base.name, k.abi, sysext, GUEST_FILES, FLATCAR_LATE_SYSEXT, "flatcar-2")
    return build_image("flatcar", key, base, k, setup)


# --- machines ---------------------------------------------------------------------------------

_accel: str | None = None


def accel(k: Kernel, directory: Path) -> str:
    """kvm when a kernel boots under it within 20 s (on some nested hosts /dev/kvm works but a
    stock kernel barely moves), else tcg; PSTORE_QEMU_ACCEL forces one."""
    global _accel
    forced = os.environ.get("PSTORE_QEMU_ACCEL")
    if forced:
        return forced
    if _accel is not None:
        return _accel
    _accel = "tcg"
    if os.access("/dev/kvm", os.R_OK | os.W_OK):
        serial = directory / "kvm-probe.log"
        # no initramfs: the kernel panics at once ("VFS: Unable to mount root fs"), and exits
        command = [
            QEMU, "-accel", "kvm", "-cpu", "host", "-m", "512", "-nodefaults", "-display", "none",
            "-no-reboot", "-kernel", str(k.vmlinuz), "-serial", f"file:{serial}",
            "-append", "console=ttyS0 panic=-1 loglevel=1",
        ]  # fmt: skip
        try:
            probe = subprocess.run(command, capture_output=True, timeout=20, check=False)
            log = serial.read_text(errors="replace") if serial.exists() else ""
            if probe.returncode == 0 and "Kernel panic" in log:
                _accel = "kvm"
        except subprocess.TimeoutExpired:
            pass
    note(f"accelerator {_accel}")
    return _accel


@dataclass
class Boot:
    """What one boot printed: the test channel's sections and the kernel console."""

    name: str
    channel: str
    console: str
    seconds: float
    killed_at: str | None = None  # the progress line after which the power was cut
    sections: dict[str, str] = field(default_factory=dict)
    rcs: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for match in re.finditer(r"^@@ (\S+)\n(.*?)^@@ end \1\n", self.channel, re.S | re.M):
            body = match.group(2)
            rc = re.search(r"^@@ rc (\d+)\n\Z", body, re.M)
            if rc:
                self.rcs[match.group(1)] = int(rc.group(1))
                body = body[: rc.start()]
            self.sections[match.group(1)] = body

    def __getitem__(self, name: str) -> str:
        assert name in self.sections, f"{self.name}: no section {name!r}\n{self.tail()}"
        return self.sections[name]

    def tail(self) -> str:
        return (
            f"--- test channel ({self.name}) ---\n{self.channel[-4000:]}\n"
            f"--- console ({self.name}) ---\n{self.console[-4000:]}"
        )


class Machine:
    """One guest: a copy of IMAGE, the backend's persistent store, booted one QEMU at a time."""

    def __init__(self, k: Kernel, image: Path, backend: str, directory: Path) -> None:
        assert backend in ("erst", "efi", "ramoops"), backend
        self.kernel, self.backend, self.directory = k, backend, directory
        self.disk = directory / "root.img"
        directory.mkdir(parents=True, exist_ok=True)
        sh("cp", "--sparse=always", image, self.disk)
        self.accel = accel(k, directory)
        self.boots = 0
        self.nvram = directory / "erst.bin"
        self.vars = directory / "efivars.fd"
        self.ram = directory / "guest-ram.bin"
        if backend == "efi":
            shutil.copy(OVMF_VARS, self.vars)

    def backend_args(self) -> tuple[list[str], list[str]]:
        """QEMU arguments and kernel command line for the backend (real-kernel-lab.md)."""
        if self.backend == "erst":
            return [
                "-object", f"memory-backend-file,id=erstnvram,mem-path={self.nvram},"
                "size=0x10000,share=on",
                "-device", "acpi-erst,memdev=erstnvram",
            ], []  # fmt: skip
        if self.backend == "efi":
            return [
                "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                "-drive", f"if=pflash,format=raw,unit=1,file={self.vars}",
            ], []  # fmt: skip
        return [
            "-object", f"memory-backend-file,id=ram,size={RAM}M,mem-path={self.ram},share=on",
            "-machine", "memory-backend=ram",
        ], [
            "memmap=1M$0x18000000", "ramoops.mem_address=0x18000000",
            "ramoops.mem_size=0x100000", "ramoops.record_size=0x4000",
            "ramoops.console_size=0", "ramoops.pmsg_size=0", "ramoops.ftrace_size=0",
            "ramoops.ecc=0",
        ]  # fmt: skip

    def snapshot(self, name: str) -> Path:
        """Copy the backend's store as it is now (to boot another guest on the same records)."""
        source = {"erst": self.nvram, "efi": self.vars, "ramoops": self.ram}[self.backend]
        target = self.directory / f"{name}-{source.name}"
        sh("cp", "--sparse=always", source, target)
        return target

    def restore(self, snapshot: Path) -> None:
        source = {"erst": self.nvram, "efi": self.vars, "ramoops": self.ram}[self.backend]
        sh("cp", "--sparse=always", snapshot, source)

    def boot(
        self,
        steps: Sequence[str],
        *,
        hooks: Sequence[str] = (),
        cmdline: Sequence[str] = (),
        cut: Callable[[list[str]], bool] | None = None,
        expect_crash: bool | None = None,
    ) -> Boot:
        """Boot once and run STEPS in the guest (see tests/qemu/guest/pstore-test).  With CUT,
        the guest's watcher runs (pt.watch) and QEMU is SIGKILLed as soon as CUT(progress
        lines so far) is true: the power cord, not a shutdown."""
        self.boots += 1
        name = f"{self.backend}-{self.boots}"
        console = self.directory / f"console-{self.boots}.log"
        channel = self.directory / f"test-{self.boots}.log"
        args, backend_cmdline = self.backend_args()
        params = [
            "console=ttyS0,115200", "panic=-1", "printk.devkmsg=on", "loglevel=4",
            "systemd.show_status=0", "rootwait", *backend_cmdline,
            f"pt.steps={','.join(steps) or 'none'}", *cmdline,
        ]  # fmt: skip
        if hooks:
            params.append(f"pt.hook={','.join(hooks)}")
        params.append("pt.watch")  # the survey: the store before pstore-archiver runs
        if cut is not None:
            params.append("pt.cut")
        cpu = "host" if self.accel == "kvm" else "max"
        command = [
            QEMU, "-accel", self.accel, "-cpu", cpu, "-m", RAM, "-smp", SMP,
            "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
            "-kernel", str(self.kernel.vmlinuz), "-initrd", str(self.kernel.initrd),
            "-drive", f"file={self.disk},format=raw,if=virtio",
            "-serial", f"file:{console}", "-serial", f"file:{channel}",
            *args, "-append", " ".join(params),
        ]  # fmt: skip
        (self.directory / f"qemu-{self.boots}.cmd").write_text(" ".join(command) + "\n")
        start = time.monotonic()
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        killed_at = None
        try:
            while process.poll() is None:
                if time.monotonic() - start > BOOT_TIMEOUT:
                    process.kill()
                    process.wait()
                    raise AssertionError(
                        f"boot {name} timed out after {BOOT_TIMEOUT:g} s\n"
                        + Boot(name, read(channel), read(console), 0).tail()
                    )
                if cut is not None and killed_at is None:
                    # whole lines only: the last one may still be being written
                    progress = re.findall(r"^(@@ progress [^\n]*)\n", read(channel), re.M)
                    if progress and cut(progress):
                        process.send_signal(signal.SIGKILL)
                        killed_at = progress[-1]
                        process.wait()
                        break
                time.sleep(0.01 if cut is not None else 0.2)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        seconds = time.monotonic() - start
        output = process.stdout.read().decode(errors="replace") if process.stdout else ""
        boot = Boot(name, read(channel), read(console), seconds, killed_at)
        how = f"power cut after {killed_at!r}" if killed_at else f"exit {process.returncode}"
        note(f"boot {name} ({self.accel}, {','.join(steps) or 'no steps'}): {seconds:.1f} s, {how}")
        if killed_at is None:
            assert process.returncode == 0, f"{QEMU} failed: {output}\n{boot.tail()}"
            crashed = "@@ crashing" in boot.channel
            if expect_crash is not None:
                assert crashed == expect_crash, boot.tail()
            if not crashed:
                assert "@@ done" in boot.channel, f"{name}: the steps did not finish\n{boot.tail()}"
        return boot


def read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").replace("\r\n", "\n")
    except FileNotFoundError:
        return ""


# --- the package ------------------------------------------------------------------------------

PACKAGE_INPUTS = (
    "pstore_archiver", "units", "conf", "man", "packaging", "pyproject.toml", "README.md",
)  # fmt: skip


@dataclass(frozen=True)
class Packages:
    deb: Path
    next_deb: Path  # the same tree built as a higher version, for the upgrade
    sysext: Path


def packages() -> Packages:
    """``packaging/build deb sysext`` and ``packaging/build --version NEXT deb`` of this
    checkout (DEB_BUILD_OPTIONS=nocheck: the suite runs on its own), cached under the digest
    of what goes into them."""
    inputs = [REPO / name for name in PACKAGE_INPUTS]
    directory = cache_dir() / f"packages-{digest(*inputs, 'packages-1')}"
    with locked("packages"):
        if not directory.is_dir():
            done = timed("packaging/build deb sysext; packaging/build --version 99.0 deb")
            tmp = directory.with_name(directory.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            # its own output directory: tests/test_packaging.py may be building into dist/
            # at the same time (pytest-xdist)
            env = {
                **os.environ,
                "DEB_BUILD_OPTIONS": "nocheck",
                "PSTORE_ARCHIVER_DIST": str(tmp / "dist"),
            }
            env.pop("PSTORE_ARCHIVER_VERSION", None)
            built: dict[str, Path] = {}
            for argv, names in (
                (["deb", "sysext"], {"deb": "deb", "sysext": "sysext"}),
                (["--version", "99.0", "deb"], {"deb": "next_deb"}),
            ):
                out = sh(REPO / "packaging" / "build", *argv, timeout=3600, env=env)
                for line in out.splitlines():
                    kind, _, path = line.partition("=")
                    if kind in names and path.startswith("/"):
                        target = tmp / Path(path).name
                        shutil.copy(path, target)
                        built[names[kind]] = target
            assert set(built) == {"deb", "next_deb", "sysext"}, built
            for old in cache_dir().glob("packages-*"):
                if old != tmp:
                    shutil.rmtree(old, ignore_errors=True)
            tmp.rename(directory)
            done()
        (deb,) = (p for p in directory.glob("*.deb") if "_99.0" not in p.name)
        (next_deb,) = directory.glob("*_99.0*.deb")
        (sysext,) = directory.glob("*.raw")
        return Packages(deb, next_deb, sysext)
