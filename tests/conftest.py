from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The wall time of every guest image build and QEMU boot of the run (tests/qemu_lab.py)."""
    qemu_lab = sys.modules.get("qemu_lab")
    times: list[str] = getattr(qemu_lab, "TIMES", [])
    if times:
        terminalreporter.section("QEMU builds and boots (wall time)")
        for line in times:
            terminalreporter.write_line(line)
