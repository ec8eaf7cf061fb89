"""What Fedora's %pyproject macros do, done with Debian's tools (see macros.debian-shim).

usage: pyproject-shim.py buildrequires
       pyproject-shim.py wheel WHEELDIR
       pyproject-shim.py install WHEELDIR BUILDROOT SITELIB BINDIR
       pyproject-shim.py save-files BUILDROOT SITELIB FILELIST MODULE...
       pyproject-shim.py check-import BUILDROOT SITELIB FILELIST
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path


def buildrequires() -> None:
    # The build backend; the runtime requirements are read from the wheel by rpm's
    # dependency generator on Fedora.
    print("python3dist(setuptools) >= 61")


def wheel(wheeldir: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--wheel-dir", wheeldir, "."],
        check=True,
    )  # fmt: skip


def install(wheeldir: str, buildroot: str, sitelib: str, bindir: str) -> None:
    from installer import install as install_wheel
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    (wheel_path,) = Path(wheeldir).glob("*.whl")
    lib = buildroot + sitelib
    destination = SchemeDictionaryDestination(
        {"purelib": lib, "platlib": lib, "scripts": buildroot + bindir,
         "data": buildroot + "/usr", "headers": buildroot + "/usr/include"},
        interpreter="/usr/bin/python3",
        script_kind="posix",
    )  # fmt: skip
    with WheelFile.open(wheel_path) as source:
        install_wheel(source, destination, {"INSTALLER": b"rpm\n"})
    for record in Path(lib).glob("*.dist-info/RECORD"):
        record.unlink()  # as Fedora's %pyproject_install does


def save_files(buildroot: str, sitelib: str, filelist: str, *modules: str) -> None:
    lib = Path(buildroot + sitelib)
    lines = [f"{sitelib}/{m}/" for m in modules]
    lines += [f"{sitelib}/{p.name}/" for p in lib.glob("*.dist-info")]
    Path(filelist).write_text("\n".join(lines) + "\n")


def check_import(buildroot: str, sitelib: str, filelist: str) -> None:
    sys.path.insert(0, buildroot + sitelib)
    for line in Path(filelist).read_text().split():
        package = Path(buildroot + line)
        if package.name.endswith(".dist-info"):
            continue
        for module in sorted(package.rglob("*.py")):
            name = ".".join(module.relative_to(buildroot + sitelib).with_suffix("").parts)
            if name.endswith(".__main__"):
                continue  # it would run the program
            importlib.import_module(name.removesuffix(".__init__"))
            print(f"imported {name}")


if __name__ == "__main__":
    commands = {
        "buildrequires": buildrequires,
        "wheel": wheel,
        "install": install,
        "save-files": save_files,
        "check-import": check_import,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    os.umask(0o022)
    commands[sys.argv[1]](*sys.argv[2:])
