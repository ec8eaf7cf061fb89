"""The Debian build the benchmark measures: the .deb's files run by the system's python3.

`build_deb` runs `packaging/build deb` (a cached trixie chroot; prints `deb=PATH` last);
`unpack` extracts a .deb with `dpkg -x` into a cache directory named after its sha256 and
byte-compiles the package with the system's python3, as the package's postinst
(py3compile) does.  Inside the benchmark's private mount namespace, `lay_out` puts the
package where the .deb puts it: a read-only overlay of the extracted dist-packages over
/usr/lib/python3/dist-packages, so the system's /usr/bin/python3 finds pstore_archiver on its
own sys.path, with no PYTHONPATH, next to the distribution's python3-systemd.  The measured
command is the .deb's /usr/bin/pstore-archiver (its `#!/usr/bin/python3` line starts the
system's interpreter); the floor is `/usr/bin/python3 -c pass`.  The host's Debian release
(12 or 13) decides the interpreter and python3-systemd: what a user of that host would run.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from commands import CommandError, run_command
from installed import sha256_of

SYSTEM_PYTHON = Path("/usr/bin/python3")
DIST_PACKAGES = Path("/usr/lib/python3/dist-packages")
CACHE_ROOT = Path("/var/tmp/pstore-archiver-bench")
BUILD_TIMEOUT = 1800.0  # a first build debootstraps the trixie chroot


class DebianError(CommandError):
    """The .deb could not be built, unpacked or laid out: the message says which and why."""


@dataclass(frozen=True)
class DebianBuild:
    deb: Path
    sha256: str
    root: Path  # the .deb's files, extracted (root/usr/bin/pstore-archiver, ...)

    @property
    def script(self) -> Path:
        return self.root / "usr" / "bin" / "pstore-archiver"

    @property
    def python(self) -> Path:
        return SYSTEM_PYTHON

    @property
    def dist_packages(self) -> Path:
        return self.root / DIST_PACKAGES.relative_to("/")

    def describe(self) -> str:
        return (
            f"{self.deb.name} (sha256 {self.sha256[:16]}...), unpacked with dpkg -x and laid "
            f"over {DIST_PACKAGES}; run by {SYSTEM_PYTHON} -> {os.path.realpath(SYSTEM_PYTHON)}"
        )


def build_deb(repo: Path) -> Path:
    """`packaging/build deb` of the checkout, into a directory of the cache; the .deb."""
    dist = CACHE_ROOT / "deb-dist"
    env = {**os.environ, "PSTORE_ARCHIVER_DIST": str(dist), "DEB_BUILD_OPTIONS": "nocheck"}
    try:
        done = run_command(
            [str(repo / "packaging" / "build"), "deb"],
            timeout=BUILD_TIMEOUT,
            env=env,
            error=DebianError,
        )
    except CommandError as exc:
        raise DebianError(f"packaging/build deb failed: {exc}") from exc
    return deb_from_output(done.stdout)


def deb_from_output(output: str) -> Path:
    """The path of the `deb=PATH` line packaging/build prints last."""
    for line in reversed(output.splitlines()):
        if line.startswith("deb="):
            return Path(line[len("deb=") :])
    raise DebianError(f"packaging/build printed no deb=PATH line:\n{output[-1000:]}")


def unpack(deb: Path) -> DebianBuild:
    """dpkg -x the .deb into the cache (once per .deb) and byte-compile it as its postinst
    would; a read-only package would otherwise be compiled again at every start."""
    sha = sha256_of(deb)
    root = CACHE_ROOT / f"deb-{sha[:16]}"
    build = DebianBuild(deb, sha, root)
    done = root / ".complete"
    if done.exists():
        return build
    steps = [
        ["rm", "-rf", str(root)],
        ["dpkg", "-x", str(deb), str(root)],
        [str(SYSTEM_PYTHON), "-m", "compileall", "-q", str(build.dist_packages)],
    ]
    for cmd in steps:
        try:
            run_command(cmd, timeout=300, error=DebianError)
        except CommandError as exc:
            raise DebianError(f"unpacking {deb} failed: {exc}") from exc
    if not build.script.is_file():
        raise DebianError(f"{deb} has no usr/bin/pstore-archiver")
    done.write_text(sha + "\n")
    return build


def lay_out(build: DebianBuild) -> None:
    """In this private mount namespace: the .deb's dist-packages over the system's, as a
    read-only overlay, as if the package were installed.  The system's python3-systemd
    must be installed (scripts/setup installs it)."""
    if not SYSTEM_PYTHON.exists():
        raise DebianError(f"{SYSTEM_PYTHON} is missing: apt-get install python3")
    check = [str(SYSTEM_PYTHON), "-c", "import systemd._journal"]
    if subprocess.run(check, capture_output=True, check=False).returncode != 0:
        raise DebianError(
            "the system's python3 cannot import systemd: apt-get install python3-systemd"
        )
    lower = f"lowerdir={build.dist_packages}:{DIST_PACKAGES}"
    cmd = ["mount", "-t", "overlay", "-o", lower, "overlay", str(DIST_PACKAGES)]
    try:
        run_command(cmd, timeout=60, error=DebianError)
    except CommandError as exc:
        raise DebianError(f"laying out the .deb over {DIST_PACKAGES} failed: {exc}") from exc
    check_layout()


WHERE_FROM = (
    "import pstore_archiver, systemd; print(pstore_archiver.__file__); print(systemd.__file__)"
)


def check_layout() -> None:
    """The system's python3 imports pstore_archiver and python-systemd from dist-packages:
    the .deb's files and the distribution's python3-systemd, nothing else."""
    done = subprocess.run(
        [str(SYSTEM_PYTHON), "-c", WHERE_FROM], capture_output=True, text=True, check=False
    )
    found = [Path(line).parent.parent for line in done.stdout.split()]
    if done.returncode != 0 or found != [DIST_PACKAGES, DIST_PACKAGES]:
        raise DebianError(
            f"{SYSTEM_PYTHON} imports pstore_archiver and systemd from {done.stdout.split()}, "
            f"not both from {DIST_PACKAGES}: {done.stderr[-500:]}"
        )
