from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from pstore_archiver import journal


@pytest.fixture(autouse=True)
def no_host_journal(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """In-process runs must not write into this machine's journal: point the socket
    path at nothing, so messages take the documented stderr fallback.  The tests that
    check journald itself run the program against a private journald (tests/journald.py)."""
    monkeypatch.setattr(journal, "JOURNAL_SOCKET", str(tmp_path / "no-journald-here"))
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    # The defaults, whatever /etc/pstore-archiver.toml of this machine says; the retention
    # tests set every limit themselves.
    config = tmp_path / "test-config.toml"
    config.write_text("# the tests' configuration: the defaults\n")
    monkeypatch.setenv("PSTORE_ARCHIVER_CONFIG", str(config))
    yield


# The longest tests first: under pytest-xdist (scripts/test runs one worker per core, each
# QEMU guest takes one core) the workers take tests in this order, so the long ones start
# at once and the quick ones fill the gaps.  Seconds under TCG, warm, on 2 cores.
LONG_TESTS = {  # test functions, or modules whose tests form one xdist group
    "test_efi_power_cuts_and_systemd_pstore": 330,
    "test_erst_and_the_package_life_cycle": 200,
    "test_flatcar_like_host_sysext_merged_late_and_early": 180,
    "test_ramoops": 150,
    "test_packaging.py": 150,  # the packages are built once, for all of them
    "test_efi_late_records": 120,
    "test_the_systemd_unit_archives_a_real_kernel_panic_at_boot": 60,
    "test_smoke_run_of_the_real_bench": 30,  # more when the wheel's venv is built first
}


def expected_seconds(item: pytest.Item) -> int:
    name = getattr(item, "originalname", item.name)
    return LONG_TESTS.get(name, LONG_TESTS.get(item.path.name, 0))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: -expected_seconds(item))  # stable: the rest keep their order


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, None]:
    """A QEMU test's image builds and boots, with their wall times (tests/qemu_lab.py), go
    with its report: under pytest-xdist they happen in a worker, the summary is printed by
    the controller."""
    outcome = yield
    report = outcome.get_result()
    qemu_lab = sys.modules.get("qemu_lab")
    if report.when == "teardown" and qemu_lab is not None:
        report.user_properties.append(("qemu-times", list(qemu_lab.TIMES)))
        qemu_lab.TIMES.clear()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The wall time of every guest image build and QEMU boot of the run."""
    times = [
        line
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, lines in getattr(report, "user_properties", ())
        if name == "qemu-times"
        for line in lines
    ]
    if times:
        terminalreporter.section("QEMU builds and boots (wall time)")
        for line in times:
            terminalreporter.write_line(line)
