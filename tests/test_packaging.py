"""The three packages, built by `packaging/build all` once per session, and checked.

The .deb: its fields and generated Depends, contents, conffile, maintainer scripts,
trixie's lintian (run by the build, which fails on any error or warning), and a real
install, remove and purge with apt in a clean trixie chroot, dependencies from Debian.
The .rpm: `rpm -qp --requires`, `--scripts` and `-l`, and the preset applied by a real
`systemctl preset-all` beside Fedora's own presets.  The sysext: its metadata and links,
the newest glibc it needs, `systemd-dissect --validate`, and its binary archiving real
records after `systemd-sysext merge` into a root that has no Python, as on Flatcar.

The builds run in chroots cached under /var/tmp/pstore-archiver-build (packaging/build);
the checks that need Debian 13's tools run in a throw-away overlay of such a chroot
(`packaging/build run-in`).  Needs root (CI is root); the first run takes minutes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest
from stores import fixture_records, seed_erst_store, write_store

import pstore_archiver
from pstore_archiver import cli

# One xdist group: every test here uses the packages the session builds once (dist/).
pytestmark = [pytest.mark.packaging, pytest.mark.root, pytest.mark.xdist_group("packaging")]

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "packaging" / "build"
VERSION = pstore_archiver.__version__
UNITS = ("pstore-archiver.service", "pstore-archiver.timer")
# Every kind of record the real captures have: ERST, EFI (15 parts), ramoops.
STORE_FIXTURES = ("erst-oops-panic", "efi-panic", "ramoops-oops-panic")


def run(argv: Sequence[str | os.PathLike[str]], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([os.fspath(a) for a in argv], capture_output=True, text=True,
                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)  # fmt: skip


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return f"-> exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


@pytest.fixture(scope="session")
def built() -> dict[str, Path]:
    """{kind: path} of the artifacts, built once per session (cached chroots make it fast)."""
    if os.geteuid() != 0:
        pytest.skip("packaging/build needs root (debootstrap, overlays); CI is root")
    result = run([BUILD, "all"], timeout=3600)
    assert result.returncode == 0, describe(result)
    lines = result.stdout.strip().splitlines()
    artifacts = dict(line.split("=", 1) for line in lines[-4:])
    assert sorted(artifacts) == ["deb", "rpm", "srpm", "sysext"], describe(result)
    return {kind: Path(path) for kind, path in artifacts.items()}


def run_in(chroot: str, script: str, binds: dict[Path, str], timeout: float = 900) -> str:
    """Run a shell script in a throw-away overlay of a cached chroot; its output."""
    argv: list[str | os.PathLike[str]] = [BUILD, "run-in", chroot]
    for source, target in binds.items():
        argv += ["--bind", f"{source}:{target}"]
    result = run([*argv, "--", "sh", "-euxc", script], timeout=timeout)
    assert result.returncode == 0, describe(result)
    return result.stdout


def facts(output: str) -> dict[str, str]:
    """The `fact NAME=VALUE` lines a script printed."""
    return dict(re.findall(r"^fact (\w+)=(.*)$", output, re.M))


# --- the build itself ------------------------------------------------------------------------


def test_build_names_the_artifacts_as_promised(built: dict[str, Path]) -> None:
    dist = REPO / "dist"
    assert built == {
        "deb": dist / f"pstore-archiver_{VERSION}-1_all.deb",
        "rpm": dist / f"pstore-archiver-{VERSION}-1.noarch.rpm",
        "srpm": dist / f"pstore-archiver-{VERSION}-1.src.rpm",
        "sysext": dist / f"pstore-archiver-{VERSION}-x86-64.raw",
    }
    assert all(path.stat().st_size > 0 for path in built.values())


def test_the_version_has_one_source() -> None:
    """pyproject.toml says it; __version__ and the spec follow (the build rewrites all three
    in its copy of the tree for --version)."""
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(rf'^version = "{re.escape(VERSION)}"$', pyproject, re.M)
    spec = (REPO / "packaging" / "rpm" / "pstore-archiver.spec").read_text()
    assert re.search(rf"^Version: +{re.escape(VERSION)}$", spec, re.M)


def test_build_refuses_a_bad_version_and_an_unknown_kind() -> None:
    if os.geteuid() != 0:
        pytest.skip("packaging/build checks for root first")
    bad = run([BUILD, "--version", "1.0-rc1", "deb"], timeout=60)
    assert bad.returncode != 0 and "version '1.0-rc1'" in bad.stderr, describe(bad)
    unknown = run([BUILD, "tarball"], timeout=60)
    assert unknown.returncode == 2 and "usage:" in unknown.stderr, describe(unknown)


# --- the .deb --------------------------------------------------------------------------------


def deb_field(deb: Path, name: str) -> str:
    result = run(["dpkg-deb", "--field", deb, name], timeout=60)
    assert result.returncode == 0, describe(result)
    return result.stdout.strip()


def test_deb_fields_and_generated_depends(built: dict[str, Path]) -> None:
    deb = built["deb"]
    assert deb_field(deb, "Package") == "pstore-archiver"
    assert deb_field(deb, "Version") == f"{VERSION}-1"
    assert deb_field(deb, "Architecture") == "all"
    depends = [d.strip() for d in deb_field(deb, "Depends").split(",")]
    # dh_python3 read them from the wheel's metadata (pydantic>=2.0, systemd-python>=234).
    assert "python3-pydantic (>= 2)" in depends
    assert "python3-systemd" in depends
    assert any(d.startswith("python3:any") for d in depends)


def deb_contents(deb: Path) -> dict[str, str]:
    """Path -> link target ('' for other files) of everything in the package."""
    result = run(["dpkg-deb", "--contents", deb], timeout=60)
    assert result.returncode == 0, describe(result)
    contents = {}
    for line in result.stdout.splitlines():
        name = line.split(None, 5)[5]
        path, _, target = name.partition(" -> ")
        contents[path.removeprefix(".")] = target
    return contents


def test_deb_contents(built: dict[str, Path]) -> None:
    contents = deb_contents(built["deb"])
    for path in (
        "/usr/bin/pstore-archiver",
        "/usr/lib/python3/dist-packages/pstore_archiver/cli.py",
        "/usr/lib/systemd/system/pstore-archiver.service",
        "/usr/lib/systemd/system/pstore-archiver.timer",
        "/usr/lib/systemd/catalog/pstore-archiver.catalog",
        "/etc/pstore-archiver.toml",
        "/usr/share/man/man8/pstore-archiver.8.gz",
        "/usr/share/man/man5/pstore-archiver.toml.5.gz",
        "/usr/share/doc/pstore-archiver/copyright",
    ):
        assert path in contents, path
    # Nothing of the build or the test run slipped in.
    packages = {
        p.split("/")[5] for p in contents if p.startswith("/usr/lib/python3/dist-packages/")
    }
    assert packages == {"", "pstore_archiver", f"pstore_archiver-{VERSION}.dist-info"}
    assert not [p for p in contents if p.startswith("/lib/")]  # units in /usr/lib only


def deb_control(tmp_path: Path, deb: Path) -> Path:
    control = tmp_path / "control"
    result = run(["dpkg-deb", "--control", deb, control], timeout=60)
    assert result.returncode == 0, describe(result)
    return control


def test_deb_conffile_and_maintainer_scripts(built: dict[str, Path], tmp_path: Path) -> None:
    control = deb_control(tmp_path, built["deb"])
    assert (control / "conffiles").read_text().split() == ["/etc/pstore-archiver.toml"]
    postinst = (control / "postinst").read_text()
    postrm = (control / "postrm").read_text()
    # systemd-pstore masked on configure, unmasked on remove and purge (as tlp does).
    assert re.search(
        r'if \[ "\$1" = "configure" \].*\n\s+deb-systemd-helper mask systemd-pstore\.service',
        postinst,
    )
    assert re.search(
        r'"\$1" = "remove" \] \|\| \[ "\$1" = "purge" \].*\n(.*\n)*?'
        r"\s+deb-systemd-helper unmask systemd-pstore\.service",
        postrm,
    )
    # dh_installsystemd: both units enabled and started, and purged on purge.
    for unit in UNITS:
        assert f"deb-systemd-helper unmask '{unit}'" in postinst
        assert re.search(rf"deb-systemd-helper .*enable '{unit}'", postinst)
    assert re.search(r"deb-systemd-invoke \$_dh_action 'pstore-archiver\.service'", postinst)
    units = " ".join(f"'{unit}'" for unit in UNITS)
    assert f"deb-systemd-helper purge {units}" in postrm


def overridden_tags() -> set[str]:
    """The tags of packaging/debian's lintian overrides ("[package: ]tag [context]"), each
    of which must follow a comment that says why."""
    tags = set()
    for overrides in (REPO / "packaging" / "debian").rglob("*lintian-overrides"):
        lines = overrides.read_text().splitlines()
        for number, line in enumerate(lines):
            if line and not line.startswith("#"):
                assert number > 0 and lines[number - 1].startswith("#"), f"{overrides}: {line}"
                tags.add(re.sub(r"^\S+: ", "", line).split()[0])
    return tags


def test_lintian_reports_no_error_and_no_warning(built: dict[str, Path]) -> None:
    report = (REPO / "dist" / "logs" / "lintian.txt").read_text()
    assert not re.findall(r"^[EW]: .*$", report, re.M), report
    assert re.findall(r"^O: \S+: (\S+)", report, re.M) == sorted(overridden_tags())


INSTALL_SCRIPT = r"""
fact() { echo "fact $1=$2"; }
link() { readlink "$1" || echo none; }
apt-get update -q
apt-get install -y -q --no-install-recommends /dist/@DEB@
fact version "$(pstore-archiver --version)"
pstore-archiver --help >/dev/null && fact help ok
fact pstore_mask "$(link /etc/systemd/system/systemd-pstore.service)"
fact service_link "$(link /etc/systemd/system/sysinit.target.wants/pstore-archiver.service)"
fact timer_link "$(link /etc/systemd/system/timers.target.wants/pstore-archiver.timer)"
fact catalog "$(journalctl --list-catalog | grep -c 'pstore-archiver:' || true)"
fact pydantic "$(dpkg-query -W -f '${Version}' python3-pydantic)"
# A real run over real records, with a configuration file, so pydantic validates it.
cp -a /store-in /tmp/store
printf '[retention]\nkeep_free = 0\n' >/tmp/config.toml
pstore-archiver --config /tmp/config.toml config --check
pstore-archiver --config /tmp/config.toml --source /tmp/store run --json >/tmp/run.json
fact entries "$(ls /var/lib/pstore-archiver | wc -l)"
fact left "$(ls /tmp/store | wc -l)"
pstore-archiver --config /tmp/config.toml list >/dev/null && fact list ok

apt-get remove -y -q pstore-archiver
fact removed_pstore_mask "$(link /etc/systemd/system/systemd-pstore.service)"
fact removed_conffile "$(test -f /etc/pstore-archiver.toml && echo kept || echo gone)"
fact removed_catalog "$(journalctl --list-catalog | grep -c 'pstore-archiver:' || true)"
apt-get purge -y -q pstore-archiver
fact purged_conffile "$(test -f /etc/pstore-archiver.toml && echo kept || echo gone)"
fact purged_service_link "$(link /etc/systemd/system/sysinit.target.wants/pstore-archiver.service)"
fact purged_timer_link "$(link /etc/systemd/system/timers.target.wants/pstore-archiver.timer)"
fact purged_pstore_mask "$(link /etc/systemd/system/systemd-pstore.service)"
fact purged_archive "$(ls /var/lib/pstore-archiver | wc -l)"
fact helper_state "$(ls /var/lib/systemd/deb-systemd-helper-masked/ 2>/dev/null | wc -l)"
"""


def real_store(path: Path) -> Path:
    records = [r for name in STORE_FIXTURES for r in fixture_records(name)]
    return write_store(path, [*records, *seed_erst_store()])


def test_deb_installs_with_apt_in_clean_trixie_then_removes_and_purges(
    built: dict[str, Path], tmp_path: Path
) -> None:
    store = real_store(tmp_path / "store")
    output = run_in(
        "trixie-min",
        INSTALL_SCRIPT.replace("@DEB@", built["deb"].name),
        {built["deb"].parent: "/dist", store: "/store-in"},
    )
    found = facts(output)
    assert found["version"] == f"pstore-archiver {VERSION}"
    assert found["help"] == "ok"
    assert int(found["pydantic"].split(".")[0]) >= 2
    assert found["pstore_mask"] == "/dev/null"
    assert found["service_link"] == "/usr/lib/systemd/system/pstore-archiver.service"
    assert found["timer_link"] == "/usr/lib/systemd/system/pstore-archiver.timer"
    assert found["catalog"] == "7"  # systemd's trigger compiled the catalog
    assert int(found["entries"]) >= len(STORE_FIXTURES) and found["left"] == "0"
    assert found["list"] == "ok"
    assert found["removed_pstore_mask"] == "none"
    assert found["removed_conffile"] == "kept"
    assert found["removed_catalog"] == "0"
    assert found["purged_conffile"] == "gone"
    assert found["purged_service_link"] == found["purged_timer_link"] == "none"
    assert found["purged_pstore_mask"] == "none"
    assert found["purged_archive"] == found["entries"]  # crash records are the user's data
    assert found["helper_state"] == "0"


# --- the .rpm --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rpm_queries(built: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("rpm")
    rpm = built["rpm"].name
    script = f"""
        cd /out
        rpm -qp --qf '%{{NAME}} %{{VERSION}} %{{RELEASE}} %{{ARCH}}\\n' /dist/{rpm} >nvra
        rpm -qp --requires /dist/{rpm} >requires
        rpm -qp --scripts /dist/{rpm} >scripts
        rpm -qp -l /dist/{rpm} >list
        rpm -qp -c /dist/{rpm} >config
        rpm -qp -l /dist/{built["srpm"].name} >srpm-list
        rpm --root=/out/root --initdb
        rpm --root=/out/root --install --nodeps --noscripts --notriggers /dist/{rpm}
    """
    run_in("trixie", script, {built["rpm"].parent: "/dist", out: "/out"})
    return str(out)


def rpm_output(queries: str, name: str) -> list[str]:
    return (Path(queries) / name).read_text().splitlines()


def test_rpm_name_version_and_arch(rpm_queries: str) -> None:
    assert rpm_output(rpm_queries, "nvra") == [f"pstore-archiver {VERSION} 1 noarch"]
    assert f"pstore-archiver-{VERSION}.tar.gz" in rpm_output(rpm_queries, "srpm-list")
    assert "pstore-archiver.spec" in rpm_output(rpm_queries, "srpm-list")


def test_rpm_requires_as_fedora_generates_them(rpm_queries: str) -> None:
    requires = rpm_output(rpm_queries, "requires")
    assert [r for r in requires if re.fullmatch(r"python\(abi\) = 3\.\d+", r)]
    assert [r for r in requires if re.fullmatch(r"python3\.\d+dist\(pydantic\) >= 2", r)]
    assert [r for r in requires if re.fullmatch(r"python3\.\d+dist\(systemd-python\) >= 234", r)]
    assert not [r for r in requires if "tomli" in r]  # only for Python < 3.11
    assert "/usr/bin/python3" in requires  # the script's interpreter


def test_rpm_scriptlets(rpm_queries: str) -> None:
    scripts = "\n".join(rpm_output(rpm_queries, "scripts"))
    post, preun, postun = (
        scripts.split(f"{name} scriptlet")[1].split("scriptlet")[0]
        for name in ("postinstall", "preuninstall", "postuninstall")
    )
    units = " ".join(UNITS)
    assert f"systemd-update-helper install-system-units {units}" in post
    assert "preset systemd-pstore.service" in post
    assert f"systemd-update-helper remove-system-units {units}" in preun
    assert "systemd-update-helper mark-restart-system-units pstore-archiver.timer" in postun
    assert "preset systemd-pstore.service" in postun  # enabled again once removed


def test_rpm_files(rpm_queries: str) -> None:
    files = set(rpm_output(rpm_queries, "list"))
    for path in (
        "/usr/bin/pstore-archiver",
        "/usr/lib/systemd/system/pstore-archiver.service",
        "/usr/lib/systemd/system/pstore-archiver.timer",
        "/usr/lib/systemd/system-preset/80-pstore-archiver.preset",
        "/usr/lib/systemd/catalog/pstore-archiver.catalog",
        "/etc/pstore-archiver.toml",
        "/usr/share/man/man8/pstore-archiver.8.gz",
        "/usr/share/man/man5/pstore-archiver.toml.5.gz",
    ):
        assert path in files, path
    assert [f for f in files if re.fullmatch(r"/usr/lib/python3\.\d+/site-packages/"
                                             r"pstore_archiver/cli\.py", f)]  # fmt: skip
    assert rpm_output(rpm_queries, "config") == ["/etc/pstore-archiver.toml"]


def test_rpm_preset_enables_the_archiver_and_disables_systemd_pstore(
    rpm_queries: str, tmp_path: Path
) -> None:
    """The preset next to Fedora's own (90-systemd enables systemd-pstore, 99-default-disable
    disables the rest), applied by the real `systemctl preset-all`."""
    systemctl = shutil.which("systemctl")
    assert systemctl, "systemctl not found (Debian package: systemd)"
    root = tmp_path / "root"
    shutil.copytree(Path(rpm_queries) / "root" / "usr", root / "usr")
    system = root / "usr/lib/systemd/system"
    (system / "systemd-pstore.service").write_text(
        "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=sysinit.target\n"
    )
    presets = root / "usr/lib/systemd/system-preset"
    (presets / "90-systemd.preset").write_text("enable systemd-pstore.service\n")
    (presets / "99-default-disable.preset").write_text("disable *\n")
    (root / "etc").mkdir()
    result = run([systemctl, f"--root={root}", "preset-all"], timeout=60)
    assert result.returncode == 0, describe(result)
    links = root / "etc/systemd/system"  # links that point into `root`: not followed here
    assert (links / "sysinit.target.wants/pstore-archiver.service").is_symlink()
    assert (links / "timers.target.wants/pstore-archiver.timer").is_symlink()
    assert not (links / "sysinit.target.wants/systemd-pstore.service").is_symlink()
    # Without our preset, systemd-pstore would have been enabled: the check can fail.
    (presets / "80-pstore-archiver.preset").unlink()
    result = run([systemctl, f"--root={root}", "preset-all"], timeout=60)
    assert result.returncode == 0, describe(result)
    assert (links / "sysinit.target.wants/systemd-pstore.service").is_symlink()


# --- the Flatcar sysext ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sysext_tree(built: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sysext")
    run_in(
        "trixie",
        f"unsquashfs -no-xattrs -d /out/tree /dist/{built['sysext'].name} >/dev/null",
        {built["sysext"].parent: "/dist", out: "/out"},
    )
    return out / "tree"


def test_sysext_metadata(sysext_tree: Path) -> None:
    release = sysext_tree / "usr/lib/extension-release.d/extension-release.pstore-archiver"
    fields = dict(line.split("=", 1) for line in release.read_text().split())
    assert fields["ID"] == "flatcar"
    assert fields["SYSEXT_LEVEL"] == "1.0"
    assert fields["ARCHITECTURE"] == "x86-64"
    assert fields["SYSEXT_VERSION_ID"] == VERSION
    assert {p.name for p in sysext_tree.iterdir()} == {"usr"}  # a sysext carries /usr only


def test_sysext_contents_and_links(sysext_tree: Path) -> None:
    usr = sysext_tree / "usr"
    binary = usr / "bin/pstore-archiver"
    assert os.readlink(binary) == "../lib/pstore-archiver/pstore-archiver"
    assert binary.resolve().is_file() and os.access(binary.resolve(), os.X_OK)
    system = usr / "lib/systemd/system"
    for unit in UNITS:
        assert (system / unit).read_bytes() == (REPO / "units" / unit).read_bytes()
    catalog = usr / "lib/systemd/catalog/pstore-archiver.catalog"
    assert catalog.read_bytes() == (REPO / "units/pstore-archiver.catalog").read_bytes()
    for target in ("sysinit", "multi-user"):  # early merge (initrd), late merge (Flatcar < 4628)
        assert os.readlink(system / f"{target}.target.wants/pstore-archiver.service") == (
            "../pstore-archiver.service"
        )
    # The timer is upheld, never the oneshot (Upholds= would restart it each time it exits).
    assert os.readlink(system / "timers.target.upholds/pstore-archiver.timer") == (
        "../pstore-archiver.timer"
    )
    assert [p.name for p in system.glob("*.upholds/*")] == ["pstore-archiver.timer"]
    assert (usr / "share/man/man8/pstore-archiver.8.gz").is_file()
    assert (usr / "share/man/man5/pstore-archiver.toml.5.gz").is_file()
    assert not [p for p in usr.rglob("python3*") if p.parent.name == "bin"]


GLIBC = re.compile(rb"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?\x00")


def newest_glibc(tree: Path) -> tuple[int, ...]:
    """The newest GLIBC_x.y version named in any ELF file under `tree` (its .dynstr holds
    every version it needs; glibc itself is not bundled)."""
    newest: tuple[int, ...] = (0,)
    for path in tree.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.read_bytes()[:4] == b"\x7fELF":
            for match in GLIBC.finditer(path.read_bytes()):
                newest = max(newest, tuple(int(g) for g in match.groups() if g))
    return newest


def test_sysext_binary_needs_no_newer_glibc_than_flatcar_lts_has(sysext_tree: Path) -> None:
    newest = newest_glibc(sysext_tree / "usr/lib/pstore-archiver")
    assert (2, 17) <= newest <= (2, 36), newest  # bookworm's glibc; Flatcar LTS has 2.38


def test_glibc_scan_sees_a_newer_version(tmp_path: Path) -> None:
    (tmp_path / "lib.so").write_bytes(b"\x7fELF" + b"\x00GLIBC_2.2.5\x00GLIBC_2.41\x00")
    assert newest_glibc(tmp_path) == (2, 41)


SYSEXT_SCRIPT = r"""
fact() { echo "fact $1=$2"; }
root=/fake
systemd-dissect --validate /dist/@IMAGE@ && fact validate ok
# A root whose os-release says ID=flatcar, SYSEXT_LEVEL=1.0, with glibc and nothing else;
# systemd-sysext merges the image into it.
/sysext/fake-flatcar-root /dist/@IMAGE@ $root
fact merged "$(systemd-sysext --root=$root list --no-legend | awk '{print $1}')"
fact python "$(find $root -name 'python3*' -path '*/bin/*' | wc -l)"
fact libraries "$(find $root/usr/lib $root/usr/lib64 -maxdepth 2 -name '*.so*' \
    -not -path '*/pstore-archiver/*' | xargs -n1 basename | sort | tr '\n' ' ')"
mkdir $root/work
mount --bind /work $root/work
fact version "$(chroot $root /usr/bin/pstore-archiver --version)"
# Under MemoryDenyWriteExecute= as the unit sets it (the kernel's own MDWE, prctl
# PR_SET_MDWE=65 with PR_MDWE_REFUSE_EXEC_GAIN=1, inherited across execve).
mdwe() { python3 -c 'import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(65, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_MDWE): errno %d" % ctypes.get_errno())
os.execvp(sys.argv[1], sys.argv[1:])' "$@"; }
mdwe python3 -c 'import mmap; mmap.mmap(-1, 4096, prot=7)' 2>/dev/null || fact mdwe_active yes
printf '[retention]\nkeep_free = 0\n[journal]\nmax_attach = "8K"\n' >$root/config.toml
mdwe chroot $root /usr/bin/pstore-archiver --config /config.toml config --check
mdwe chroot $root /usr/bin/pstore-archiver --config /config.toml \
    --source /work/store --archive /work/archive run --json >/work/run.json
mdwe chroot $root /usr/bin/pstore-archiver --config /config.toml --archive /work/archive \
    list --json >/work/list.json
"""


def test_sysext_binary_archives_real_records_in_a_root_without_python(
    built: dict[str, Path], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    real_store(work / "store")
    expected_store = real_store(tmp_path / "expected-store")
    output = run_in(
        "trixie",
        SYSEXT_SCRIPT.replace("@IMAGE@", built["sysext"].name),
        {built["sysext"].parent: "/dist", work: "/work", REPO / "packaging/sysext": "/sysext"},
    )
    found = facts(output)
    assert found["python"] == "0"
    # glibc's libraries only (no libz, no libpython): everything else comes with the image.
    assert found["libraries"] and not re.search(r"libz|libpython|libssl", found["libraries"])
    assert found["validate"] == "ok"
    assert found["merged"] == "pstore-archiver"
    assert found["version"] == f"pstore-archiver {VERSION}"
    assert found["mdwe_active"] == "yes"
    assert list((work / "store").iterdir()) == []
    # The same store archived by this checkout's Python gives the same entries and logs.
    expected = tmp_path / "expected-archive"
    assert cli.main(["--source", str(expected_store), "--archive", str(expected), "run"]) == 0
    entries = sorted(p.name for p in (work / "archive").iterdir() if not p.name.startswith("."))
    assert entries == sorted(p.name for p in expected.iterdir() if not p.name.startswith("."))
    for entry in entries:
        for path in (expected / entry).iterdir():
            if path.name != "entry.json":
                assert (work / "archive" / entry / path.name).read_bytes() == path.read_bytes()
    listed = json.loads((work / "list.json").read_text())
    assert sorted(m["id"] for m in listed) == entries
