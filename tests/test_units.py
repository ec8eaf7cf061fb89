"""The systemd units and the journal catalog (DESIGN §7, §8), checked by systemd's own tools.

`systemd-analyze verify` loads the units the way PID 1 would; `journalctl --update-catalog`
compiles the catalog the way a package install does.  Each check has a twin that feeds it a
deliberately broken copy, to show that the check can fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pstore_archiver.journal import Field, FieldName, MessageId, MessageIdHex, constants

ROOT = Path(__file__).resolve().parent.parent
UNITS = ROOT / "units"
SERVICE = UNITS / "pstore-archiver.service"
TIMER = UNITS / "pstore-archiver.timer"
CATALOG = UNITS / "pstore-archiver.catalog"
EXEC_START = "/usr/bin/pstore-archiver run"


# The fields each catalog entry substitutes (@FIELD@).  journalctl prints the bare field name
# for a field the message lacks, so the service must send every field listed here with the
# message, and the catalog must use no other.
CATALOG_FIELDS: dict[MessageIdHex, frozenset[FieldName]] = {
    MessageId.dump_archived: frozenset(
        {Field.entry, Field.reason, Field.oopscount, Field.backend, Field.archive_path}
    ),
    MessageId.record_archived: frozenset(
        {Field.entry, Field.kind, Field.backend, Field.archive_path}
    ),
    MessageId.run_summary: frozenset(
        {
            Field.entries_created,
            Field.records_archived,
            Field.records_unlinked,
            Field.records_left,
            Field.bytes_freed,
        }
    ),
    MessageId.records_kept: frozenset({Field.error}),
    MessageId.record_returned: frozenset({Field.entry}),
    MessageId.entry_removed: frozenset({Field.entry}),
    MessageId.no_backend: frozenset(),
}


def run(
    argv: Sequence[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command without raising; the caller reads returncode and output."""
    return subprocess.run(
        list(argv), capture_output=True, text=True, check=False, timeout=120, env=env
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"$ {' '.join(map(str, result.args))}\n-> exit {result.returncode}\n"
        f"stdout:\n{result.stdout}stderr:\n{result.stderr}"
    )


# --- unit files -------------------------------------------------------------------------------

UnitFile = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> UnitFile:
    """Sections -> keys -> every assigned value, in order (systemd.syntax(7), no line
    continuations: the tests reject them so that this small parser stays right)."""
    unit: UnitFile = {}
    section: dict[str, list[str]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        assert not line.endswith("\\"), f"line {number}: continuation lines are not used here"
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"line {number}: {line!r} is outside any section"
        key, sep, value = line.partition("=")
        assert sep, f"line {number}: {line!r} is not key=value"
        section.setdefault(key.strip(), []).append(value.strip())
    return unit


def words(unit: UnitFile, section: str, key: str) -> list[str]:
    """A list setting such as After=: the words of all assignments, an empty one resetting."""
    result: list[str] = []
    for value in unit.get(section, {}).get(key, []):
        result = [*result, *value.split()] if value else []
    return result


def last(unit: UnitFile, section: str, key: str) -> str | None:
    values = unit.get(section, {}).get(key)
    return values[-1] if values else None


def test_service_has_what_design_8_asks_for() -> None:
    unit = parse_unit(SERVICE.read_text())
    assert last(unit, "Unit", "Description")
    assert words(unit, "Unit", "Documentation")
    assert last(unit, "Unit", "DefaultDependencies") == "no"
    assert {"local-fs.target", "modprobe@efi_pstore.service"} <= set(words(unit, "Unit", "After"))
    assert "modprobe@efi_pstore.service" in words(unit, "Unit", "Wants")
    # Requires= would fail us whenever the module is missing; Wants= is the point.
    assert not words(unit, "Unit", "Requires")
    assert {"shutdown.target", "systemd-pstore.service"} <= set(words(unit, "Unit", "Conflicts"))
    assert {"systemd-pstore.service", "shutdown.target"} <= set(words(unit, "Unit", "Before"))
    assert last(unit, "Unit", "ConditionDirectoryNotEmpty") == "/sys/fs/pstore"
    assert last(unit, "Unit", "ConditionVirtualization") == "!container"

    assert last(unit, "Service", "Type") == "oneshot"
    # RemainAfterExit=yes would keep the unit active and the timer could not start it again.
    assert last(unit, "Service", "RemainAfterExit") in (None, "no")
    assert unit["Service"]["ExecStart"] == [EXEC_START]
    assert last(unit, "Service", "StateDirectory") == "pstore-archiver"
    assert last(unit, "Service", "StateDirectoryMode") == "0700"
    timeout = last(unit, "Service", "TimeoutStartSec")
    assert timeout is not None and timeout not in ("0", "infinity")

    assert words(unit, "Install", "WantedBy") == ["sysinit.target"]


def test_service_may_write_to_the_store_and_the_archive_only() -> None:
    unit = parse_unit(SERVICE.read_text())
    service = unit["Service"]
    assert last(unit, "Service", "ProtectSystem") == "strict"
    # StateDirectory= is writable under ProtectSystem=strict; the store is the one other path,
    # besides the cache of the validated configuration (CacheDirectory=, no records in it).
    assert [p.lstrip("-") for p in words(unit, "Service", "ReadWritePaths")] == ["/sys/fs/pstore"]
    assert last(unit, "Service", "CacheDirectory") == "pstore-archiver"
    for key in (
        "BindPaths",
        "RuntimeDirectory",
        "LogsDirectory",
        "ConfigurationDirectory",
        "ReadWriteDirectories",
    ):
        assert key not in service, f"{key}= would open another writable path"
    for key in (
        "ProtectHome",
        "PrivateTmp",
        "PrivateNetwork",
        "PrivateDevices",
        "NoNewPrivileges",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectKernelLogs",
        "ProtectControlGroups",
        "ProtectClock",
        "ProtectHostname",
        "RestrictNamespaces",
        "RestrictRealtime",
        "RestrictSUIDSGID",
        "LockPersonality",
        "MemoryDenyWriteExecute",
    ):
        assert last(unit, "Service", key) == "yes", key
    assert words(unit, "Service", "RestrictAddressFamilies") == ["AF_UNIX"]
    assert last(unit, "Service", "CapabilityBoundingSet") == ""
    assert "AmbientCapabilities" not in service
    assert last(unit, "Service", "SystemCallArchitectures") == "native"
    assert service["SystemCallFilter"][0] == "@system-service"
    assert last(unit, "Service", "UMask") == "0077"
    assert "User" not in service and "DynamicUser" not in service  # root owns the store


def test_exec_start_names_the_installed_script() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    script = Path(EXEC_START.split()[0]).name
    assert re.search(rf'^{re.escape(script)}\s*=\s*"pstore_archiver\.cli:main"', pyproject, re.M)


def test_timer_runs_the_service_after_boot_and_daily() -> None:
    unit = parse_unit(TIMER.read_text())
    assert last(unit, "Timer", "Unit") in (None, SERVICE.name)
    assert last(unit, "Timer", "OnBootSec")
    assert last(unit, "Timer", "OnCalendar") == "daily"
    assert words(unit, "Install", "WantedBy") == ["timers.target"]


def test_unit_parser_sees_resets_and_repeats() -> None:
    unit = parse_unit("[Unit]\nAfter=a b\nAfter=c\n# After=x\n[Service]\nAfter=\nAfter=d\n")
    assert words(unit, "Unit", "After") == ["a", "b", "c"]
    assert words(unit, "Service", "After") == ["d"]


# --- systemd-analyze verify -------------------------------------------------------------------


def stand_in_executable() -> Path:
    """An existing executable for ExecStart=: verify refuses a unit whose binary is missing,
    and /usr/bin/pstore-archiver exists only once the package is installed."""
    script = Path(sys.executable).parent / "pstore-archiver"
    return script if script.is_file() else Path(sys.executable)


def copy_units(directory: Path, edits: dict[str, tuple[str, str]] | None = None) -> list[Path]:
    """Both units in `directory` (the timer needs its service beside it), ExecStart= pointed
    at an existing executable; `edits` maps a file name to one (old, new) text replacement."""
    copies = []
    for source in (SERVICE, TIMER):
        text = source.read_text()
        if source == SERVICE:
            assert text.count(EXEC_START) == 1
            text = text.replace(EXEC_START, f"{stand_in_executable()} run")
        old, new = (edits or {}).get(source.name, ("", ""))
        if old:
            assert text.count(old) == 1, f"{old!r} is not in {source.name} exactly once"
            text = text.replace(old, new)
        copy = directory / source.name
        copy.write_text(text)
        copies.append(copy)
    return copies


@dataclass(frozen=True)
class Verdict:
    result: subprocess.CompletedProcess[str]
    ours: list[str]  # output lines that are about our units

    @property
    def clean(self) -> bool:
        return self.result.returncode == 0 and not self.ours


def verify(systemd_analyze: str, units: list[Path]) -> Verdict:
    """`systemd-analyze verify` on our units, strict about them and only them.

    Without --recursive-errors, verify exits 0 even when it warns, so a misspelt key would
    pass.  With =no it fails on warnings about the named units and not on those about the
    units they pull in (the system's local-fs.target, modprobe@.service, ...).  The man page
    named in Documentation= is looked up with man(1) in the repository's man/ (MANPATH), as
    it will be once installed.  Any output line that names one of our units also counts, in
    case a warning ever stops setting the exit code; other lines are about system units we
    do not own and only show in the failure text.
    """
    result = run(
        [systemd_analyze, "verify", "--recursive-errors=no", *map(str, units)],
        env={**os.environ, "MANPATH": str(ROOT / "man")},
    )
    names = {u.name for u in units} | {str(u.parent) for u in units}
    ours = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if any(name in line for name in names)
    ]
    return Verdict(result, ours)


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    """The systemd-analyze to run, or a skip that says why there is none."""
    path = shutil.which("systemd-analyze")
    if path is None:
        pytest.skip("systemd-analyze not found (Debian package: systemd)")
    match = re.match(r"systemd (\d+)", run([path, "--version"]).stdout)
    assert match, f"{path} --version printed no version"
    if int(match.group(1)) < 250:
        pytest.skip(f"systemd {match.group(1)}: verify --recursive-errors= needs 250 or later")
    return path


def test_systemd_analyze_verify_accepts_the_units(systemd_analyze: str, tmp_path: Path) -> None:
    verdict = verify(systemd_analyze, copy_units(tmp_path))
    assert verdict.clean, describe(verdict.result)


@pytest.mark.parametrize(
    "unit, old, new",
    [
        ("pstore-archiver.service", "ProtectHome=yes", "ProtectHomme=yes"),  # unknown key
        ("pstore-archiver.service", "ProtectSystem=strict", "ProtectSystem=stricter"),  # bad value
        ("pstore-archiver.service", "TimeoutStartSec=2min", "TimeoutStartSec=2mins"),
        ("pstore-archiver.timer", "OnBootSec=10min", "OnBootSec=tenmin"),
        ("pstore-archiver.timer", "OnCalendar=daily", "OnCalendar=dayly"),
        # a man page that does not exist
        ("pstore-archiver.service", "man:pstore-archiver(8)", "man:pstore-archiver(7)"),
    ],
)
def test_systemd_analyze_verify_rejects_a_broken_unit(
    systemd_analyze: str, tmp_path: Path, unit: str, old: str, new: str
) -> None:
    verdict = verify(systemd_analyze, copy_units(tmp_path, {unit: (old, new)}))
    # Both signals must fire: the exit status and a line that blames the broken file.
    assert verdict.result.returncode != 0, describe(verdict.result)
    assert any(unit in line for line in verdict.ours), describe(verdict.result)


# --- the journal catalog ----------------------------------------------------------------------

HEADER = re.compile(r"-- (?P<id>[0-9a-f]{32})(?: (?P<lang>\S+))?")
VARIABLE = re.compile(r"@([A-Za-z0-9_]+)@")


@dataclass
class CatalogEntry:
    id: str
    name: str | None  # from the "# MessageId.<name>" comment just above the entry
    headers: dict[str, str] = field(default_factory=dict)
    body_lines: list[str] = field(default_factory=list)

    @property
    def body(self) -> str:
        return "\n".join(self.body_lines).strip("\n")


def parse_catalog(text: str) -> list[CatalogEntry]:
    """The catalog as journalctl reads it (src/libsystemd/sd-journal/catalog.c), plus the
    checks journalctl leaves out: it takes a malformed "-- " line after the first entry as
    body text, and drops "#" lines from bodies without a word."""
    entries: list[CatalogEntry] = []
    lines = text.splitlines()
    name: str | None = None
    in_headers = False
    for number, line in enumerate(lines, 1):
        if line.startswith(("#", ";")):
            before = lines[number - 2] if number > 1 else ""
            after = next((a for a in lines[number:] if not a.startswith(("#", ";"))), "")
            assert before == "" or before.startswith(("#", ";")), (
                f"line {number}: a comment inside an entry would vanish from its text"
            )
            assert after == "" or after.startswith("-- "), (
                f"line {number}: a comment inside an entry would vanish from its text"
            )
            found = re.fullmatch(r"# MessageId\.(\w+)", line)
            name = found.group(1) if found else name
            continue
        if line.startswith("--"):
            header = HEADER.fullmatch(line)
            assert header, f"line {number}: {line!r} is not '-- <32 hex digits>'"
            assert header.group("lang") is None, f"line {number}: translations live elsewhere"
            entries.append(CatalogEntry(header.group("id"), name))
            name, in_headers = None, True
            continue
        if not entries:
            assert not line, f"line {number}: text before the first entry"
        elif in_headers and line:
            key, sep, value = line.partition(": ")
            assert sep and re.fullmatch(r"[A-Za-z-]+", key), (
                f"line {number}: {line!r} is not a 'Key: value' header"
            )
            entries[-1].headers[key] = value
        else:
            in_headers = False
            entries[-1].body_lines.append(line)
    return entries


def catalog() -> list[CatalogEntry]:
    return parse_catalog(CATALOG.read_text())


def test_catalog_has_one_entry_per_message_id() -> None:
    ids = Counter(entry.id for entry in catalog())
    assert {i: n for i, n in ids.items() if n != 1} == {}
    assert sorted(ids) == sorted(constants(MessageId).values())


def test_catalog_entries_are_labelled_with_their_message_id_name() -> None:
    assert {entry.id: entry.name for entry in catalog()} == {
        value: name for name, value in constants(MessageId).items()
    }


def test_catalog_entries_have_subject_origin_and_body() -> None:
    for entry in catalog():
        assert set(entry.headers) == {"Subject", "Defined-By"}, entry.id
        assert entry.headers["Defined-By"] == "pstore-archiver", entry.id
        assert entry.headers["Subject"].strip(), entry.id
        assert len(entry.body.split()) > 20, f"{entry.id}: say what happened and what to do"


def test_catalog_uses_the_fields_its_messages_carry() -> None:
    used = {
        entry.id: set(VARIABLE.findall("\n".join([*entry.headers.values(), entry.body])))
        for entry in catalog()
    }
    assert used == {m: set(fields) for m, fields in CATALOG_FIELDS.items()}


def test_catalog_tells_what_to_run() -> None:
    text = {entry.id: entry.body for entry in catalog()}
    for message in (MessageId.dump_archived, MessageId.record_archived):
        assert "pstore-archiver info @PSTORE_ENTRY@" in text[message]
        assert "pstore-archiver dump @PSTORE_ENTRY@" in text[message]
    assert "pstore-archiver status" in text[MessageId.records_kept]
    assert "pstore-archiver list" in text[MessageId.run_summary]
    assert "/sys/module/pstore/parameters/backend" in text[MessageId.no_backend]
    assert "(null)" in text[MessageId.no_backend]


@pytest.mark.parametrize(
    "old, new, blamed",
    [
        (
            "-- b0aebd4f71ca4c539118ff413eb261df",
            "-- b0aebd4f71ca4c539118ff413eb261dZ",
            "is not '-- <32 hex digits>'",
        ),
        (
            "\nThe persistent storage backend",
            "\n# The persistent storage backend",
            "a comment inside an entry",
        ),
        (
            "Defined-By: pstore-archiver\n",
            "Defined-By: pstore-archiver\nNo colon\n",
            "'No colon' is not a 'Key: value' header",
        ),
    ],
)
def test_catalog_parser_rejects_what_journalctl_would_take_silently(
    old: str, new: str, blamed: str
) -> None:
    text = CATALOG.read_text()
    assert old in text
    with pytest.raises(AssertionError, match=re.escape(blamed)):
        parse_catalog(text.replace(old, new, 1))


@pytest.fixture(scope="module")
def journalctl() -> str:
    """The journalctl to run, or a skip that says why there is none."""
    path = shutil.which("journalctl")
    if path is None:
        pytest.skip("journalctl not found (Debian package: systemd)")
    return path


def update_catalog(journalctl: str, root: Path, text: str) -> subprocess.CompletedProcess[str]:
    """Install `text` as a package would and compile the catalog database under `root`."""
    installed = root / "usr/lib/systemd/catalog" / CATALOG.name
    installed.parent.mkdir(parents=True)
    installed.write_text(text)
    return run([journalctl, f"--root={root}", "--update-catalog"])


def test_journalctl_compiles_the_catalog_and_lists_every_subject(
    journalctl: str, tmp_path: Path
) -> None:
    compiled = update_catalog(journalctl, tmp_path, CATALOG.read_text())
    assert compiled.returncode == 0 and not compiled.stderr, describe(compiled)
    listed = run([journalctl, f"--root={tmp_path}", "--list-catalog"])
    assert listed.returncode == 0, describe(listed)
    assert sorted(listed.stdout.splitlines()) == sorted(
        f"{entry.id} pstore-archiver: {entry.headers['Subject']}" for entry in catalog()
    )


def test_journalctl_shows_the_entry_text_as_written(journalctl: str, tmp_path: Path) -> None:
    compiled = update_catalog(journalctl, tmp_path, CATALOG.read_text())
    assert compiled.returncode == 0, describe(compiled)
    for entry in catalog():
        dumped = run([journalctl, f"--root={tmp_path}", "--dump-catalog", entry.id])
        assert dumped.returncode == 0, describe(dumped)
        assert entry.body in dumped.stdout, entry.id


def test_journalctl_rejects_a_broken_catalog(journalctl: str, tmp_path: Path) -> None:
    first = catalog()[0].id
    broken = CATALOG.read_text().replace(f"-- {first}", f"-- {first[:-1]}Z", 1)
    compiled = update_catalog(journalctl, tmp_path, broken)
    assert compiled.returncode != 0, describe(compiled)
    listed = run([journalctl, f"--root={tmp_path}", "--list-catalog"])
    assert first not in listed.stdout, describe(listed)
