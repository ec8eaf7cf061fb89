"""The build the benchmark measures: the checkout as users get it, never the editable install.

`install_checkout` copies the source tree (uncommitted changes included) to a scratch
directory, builds a wheel of it (`pip wheel --no-deps`, with SOURCE_DATE_EPOCH fixed so the
same code gives the same wheel, byte for byte) and installs that wheel, non-editable and with
its dependencies, into a venv of its own under CACHE_ROOT, named after the wheel's sha256 and
the interpreter: a new wheel gets a new venv, the same wheel reuses the one built before
(under a `flock`, so two benchmarks can share the cache).  The venv has no pip or setuptools:
nothing but the package and its dependencies is in its site-packages, so no `.pth` file runs at
start-up.  Making a venv removes those no run has used for UNUSED_DAYS.

`check_import_path` proves that the measured command imports the package from that venv and
nothing from the checkout: it runs the console script under `python -v` and reads where every
`pstore_archiver` module came from.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from commands import CommandError, run_command

CACHE_ROOT = Path("/var/tmp/pstore-archiver-bench")
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01, the oldest time a zip file can hold
BUILD_TIMEOUT = 600.0  # pip may fetch the build backend, and build systemd-python from source
# Never copied into the build tree: caches, build output, virtual environments, results.
SKIP = {".git", ".venv", ".venvs", "build", "dist", "results", "__pycache__"}
SKIP_SUFFIXES = (".egg-info", "_cache", ".pyc")
COMPLETE = ".complete"  # written last into a venv: it is whole and usable
UNUSED_DAYS = 2  # a venv no run used for this long is removed when another one is made


class InstallError(CommandError):
    """The wheel could not be built or installed: the message says which step and why."""


@dataclass(frozen=True)
class Install:
    """A pstore-archiver installation to measure."""

    venv: Path  # its bin/python and bin/pstore-archiver are what runs
    wheel: str  # the wheel's file name, or a description for the editable install
    sha256: str  # the wheel's sha256 ("" for the editable install)
    version: str
    editable: bool

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def script(self) -> Path:
        """The console script, as in /usr/bin/pstore-archiver (`ExecStart=` of the unit)."""
        return self.venv / "bin" / "pstore-archiver"

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "venv": str(self.venv)})

    @classmethod
    def from_json(cls, text: str) -> Install:
        data = json.loads(text)
        return cls(
            Path(data["venv"]),
            data["wheel"],
            data["sha256"],
            data["version"],
            bool(data["editable"]),
        )

    def describe(self) -> str:
        if self.editable:
            return f"{self.wheel}, version {self.version}, editable: YES (comparison only)"
        return (
            f"wheel {self.wheel} (sha256 {self.sha256[:16]}...), version {self.version}, "
            f"installed with its dependencies into {self.venv}, editable: no"
        )


def copy_source(repo: Path, target: Path) -> None:
    """The checkout's files as they are now (uncommitted changes too), without caches,
    build output, venvs or benchmark results."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP or n.endswith(SKIP_SUFFIXES)}

    shutil.copytree(repo, target, ignore=ignore, symlinks=True)


def build_wheel(repo: Path, pip_python: Path, scratch: Path) -> Path:
    """`pip wheel --no-deps` of a copy of the checkout; the wheel's path."""
    source, out = scratch / "source", scratch / "wheel"
    copy_source(repo, source)
    env = {
        **os.environ,
        "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    cmd = [str(pip_python), "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)]
    try:
        run_command(cmd, timeout=BUILD_TIMEOUT, env=env, error=InstallError)
    except CommandError as exc:
        raise InstallError(f"building the wheel failed: {exc}") from exc
    wheels = sorted(out.glob("pstore_archiver-*.whl"))
    if len(wheels) != 1:
        raise InstallError(f"pip wheel left {[w.name for w in wheels]} in {out}, not one wheel")
    return wheels[0]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def wheel_version(wheel: Path) -> str:
    """The version from the file name: {name}-{version}-{python}-{abi}-{platform}.whl."""
    return wheel.name.split("-")[1]


@contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def install_checkout(repo: Path, pip_python: Path, base_python: Path) -> Install:
    """The checkout, built as a wheel and installed (non-editable, with its dependencies)
    into a venv for base_python under CACHE_ROOT; reused when the wheel is the same."""
    CACHE_ROOT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="build-", dir=CACHE_ROOT) as scratch:
        wheel = build_wheel(repo, pip_python, Path(scratch))
        sha = sha256_of(wheel)
        interpreter = os.path.realpath(base_python)
        key = hashlib.sha256(f"{sha} {interpreter}".encode()).hexdigest()[:16]
        venv = CACHE_ROOT / f"venv-{key}"
        install = Install(venv, wheel.name, sha, wheel_version(wheel), editable=False)
        with locked(CACHE_ROOT / ".lock"):
            if (venv / COMPLETE).is_file():
                (venv / COMPLETE).touch()  # in use: see prune
            else:
                prune(time.time() - UNUSED_DAYS * 86400)
                make_venv(venv, wheel, pip_python, interpreter)
                (venv / COMPLETE).write_text(install.to_json() + "\n")
    return install


def prune(before: float) -> None:
    """Remove the venvs last used before that time (every change of the code, README
    included, makes a new wheel and so a new venv).  Called under the lock."""
    for old in CACHE_ROOT.glob("venv-*"):
        stamp = old / COMPLETE
        used = stamp.stat().st_mtime if stamp.exists() else old.stat().st_mtime
        if used < before:
            shutil.rmtree(old, ignore_errors=True)


def make_venv(venv: Path, wheel: Path, pip_python: Path, interpreter: str) -> None:
    """A venv without pip with the wheel and its dependencies installed by pip_python's pip
    (`pip --python`).  A venv cannot be moved (its scripts name their interpreter), so it
    is made in place; an unfinished one (no COMPLETE file) is removed first."""
    shutil.rmtree(venv, ignore_errors=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    steps = [
        [interpreter, "-m", "venv", "--without-pip", str(venv)],
        [
            str(pip_python),
            "-m",
            "pip",
            "--python",
            str(venv / "bin" / "python"),
            "install",
            "-q",
            "--no-warn-script-location",
            str(wheel),
        ],
    ]
    for cmd in steps:
        try:
            run_command(cmd, timeout=BUILD_TIMEOUT, env=env, error=InstallError)
        except CommandError as exc:
            shutil.rmtree(venv, ignore_errors=True)
            raise InstallError(f"installing the wheel failed: {exc}") from exc


def editable_install(repo: Path) -> Install:
    """The development venv's editable install (scripts/setup): for comparisons only."""
    venv = repo / ".venv"
    version = "?"
    for meta in (venv / "lib").glob("python*/site-packages/pstore_archiver-*.dist-info"):
        version = meta.name[len("pstore_archiver-") : -len(".dist-info")]
    return Install(venv, f"editable install of {repo} (pip install -e)", "", version, True)


# `python -v` prints "# code object from '/path/x.pyc'" or "# /path/x.pyc matches /path/x.py"
# for every module it loads from a file.
VERBOSE_PATH = re.compile(r"""(/[^\s'"]*/pstore_archiver/[^\s'"]*\.py)c?\b""")


def check_import_path(
    install: Install, argv: Sequence[str], env: Mapping[str, str], cwd: Path, repo: Path
) -> Path:
    """Run argv (the measured console script with arguments) under `python -v` and return
    the directory the package was imported from; raise InstallError unless every module of
    pstore_archiver came from there, inside the install's venv, and (for the installed
    build) nothing came from the checkout or through an editable finder."""
    cmd = [str(install.python), "-v", *argv]
    try:
        done = subprocess.run(
            cmd,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"cannot check the import path with {shlex.join(cmd)}: {exc}") from exc
    packages = set()
    for match in VERBOSE_PATH.finditer(done.stderr):
        parts = Path(match.group(1)).parts
        packages.add(Path(*parts[: parts.index("pstore_archiver") + 1]))
    if len(packages) != 1:
        raise InstallError(
            f"{shlex.join(cmd)} imported pstore_archiver from {sorted(map(str, packages))}, "
            f"not from exactly one place (exit {done.returncode}):\n{done.stderr[-2000:]}"
        )
    package = packages.pop()
    expected = repo if install.editable else install.venv
    if not package.is_relative_to(expected):
        raise InstallError(
            f"{shlex.join(cmd)} imported pstore_archiver from {package}, not from inside {expected}"
        )
    if not install.editable and ("__editable__" in done.stderr or str(repo) in done.stderr):
        raise InstallError(f"{shlex.join(cmd)} loaded something from the checkout {repo}")
    return package
