"""The pure parts of bench/fleet_top.py: the export stream it feeds systemd-journal-remote
and the machines' messages (re-sends included) that `top` must count once each."""

from __future__ import annotations

import importlib.util
import json
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pstore_archiver.cli import main


def load_bench() -> Any:
    path = Path(__file__).resolve().parent.parent / "bench" / "fleet_top.py"
    spec = importlib.util.spec_from_file_location("fleet_top", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


fleet_top = load_bench()


def test_export_entries_are_text_lines_or_sized_binary_values() -> None:
    entry = fleet_top.export_entry([("A", "one line"), ("B", "two\nlines")])
    assert entry == b"A=one line\nB\n" + struct.pack("<Q", 9) + b"two\nlines\n\n"


def test_a_machine_sends_its_share_of_messages_some_twice() -> None:
    shape = fleet_top.FleetShape(machines=3, messages=301, resend_every=10)
    log = fleet_top.LOG_SOURCE.read_bytes()[-8192:]
    counts = []
    for index in range(3):
        entries = list(fleet_top.machine_entries(shape, index, log))
        crashes = [e for e in entries if fleet_top.DUMP_ARCHIVED.encode() in e]
        assert (
            len(entries)
            == len(crashes) * (1 + shape.other_per_crash)
            - (len(crashes) - len(set(crashes))) * shape.other_per_crash
        )
        assert 0 < len(set(crashes)) < len(crashes)  # re-sent: the very same entry
        assert all(b"PSTORE_TEXT\n" in e for e in crashes)
        counts.append(len(crashes))
    assert counts == [101, 100, 100]


def test_crash_texts_differ_and_fit_the_default_attachment() -> None:
    log = fleet_top.LOG_SOURCE.read_bytes()[-8192:]
    first, second = fleet_top.crash_text(log, 1), fleet_top.crash_text(log, 2)
    assert first != second and len(first.encode()) <= 4096


@pytest.mark.skipif(
    not Path(fleet_top.JOURNAL_REMOTE).exists(), reason="systemd-journal-remote not installed"
)
def test_top_counts_a_generated_machine_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One machine's stream through systemd-journal-remote, as the bench makes its files:
    `top` counts each crash once although some were sent twice."""
    shape = fleet_top.FleetShape(machines=1, messages=40, signatures=3, resend_every=10)
    log = fleet_top.LOG_SOURCE.read_bytes()[-8192:]
    stream = b"".join(fleet_top.machine_entries(shape, 0, log))
    output = tmp_path / "remote-node-0000.journal"
    subprocess.run([fleet_top.JOURNAL_REMOTE, f"--output={output}", "-"], input=stream, check=True)
    entries = list(fleet_top.machine_entries(shape, 0, log))
    crashes = [e for e in entries if fleet_top.DUMP_ARCHIVED.encode() in e]
    assert len(crashes) == 40 and len(set(crashes)) == 37  # 3 re-sent
    capsys.readouterr()
    assert main(["top", "-D", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(row["crashes"] for row in rows) == 37
    assert {row["machines"] for row in rows} == {1}
