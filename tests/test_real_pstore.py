"""Against the kernel's own pstore file system, mounted in a private mount namespace.

This machine's kernel has pstore but (here, and in CI) no backend registered, so the
mounted store is empty: what this checks is how we recognise a real pstore mount and
report a missing backend, not archiving (the captures in tests/data/real do that).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pstore_archiver.journal import MessageId
from pstore_archiver.store import read_backend

pytestmark = pytest.mark.root


def in_pstore_namespace(mount_point: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m pstore_archiver ARGV` where a real pstore is mounted on mount_point."""
    if os.geteuid() != 0 or not Path("/sys/module/pstore").exists():
        pytest.skip("needs root and a kernel with pstore (/sys/module/pstore)")
    mount_point.mkdir(exist_ok=True)
    script = 'mount -t pstore pstore "$0" || exit 125; shift; exec "$@"'
    command = [sys.executable, "-m", "pstore_archiver", *argv]
    result = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            str(mount_point),
            "--",
            *command,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode == 125:
        pytest.skip(f"cannot mount pstore here: {result.stderr.strip()}")
    return result


def test_status_recognises_a_real_pstore_mount(tmp_path: Path) -> None:
    store = tmp_path / "pstore"
    result = in_pstore_namespace(
        store, "--source", str(store), "--archive", str(tmp_path / "a"), "status", "--json"
    )
    status = json.loads(result.stdout)
    assert status["store"]["filesystem"] == "pstore"
    assert status["backend"] == read_backend()
    assert result.returncode == (0 if status["backend"] and not status["store"]["records"] else 1)
    text = in_pstore_namespace(store, "--source", str(store), "status").stdout
    assert f"Store:   {store} (pstore mounted)" in text


def test_run_on_a_real_pstore_without_backend_says_so(tmp_path: Path) -> None:
    if read_backend() is not None:
        pytest.skip(f"this kernel has a pstore backend ({read_backend()}); nothing to report")
    store = tmp_path / "pstore"
    result = in_pstore_namespace(
        store, "--source", str(store), "--archive", str(tmp_path / "a"), "run"
    )
    assert result.returncode == 0, result.stderr
    assert f"MESSAGE_ID={MessageId.no_backend}" in result.stderr
    assert "no pstore backend is registered" in result.stderr
    assert "nothing to archive" in result.stdout


def test_a_plain_directory_is_not_taken_for_pstore(tmp_path: Path) -> None:
    store = tmp_path / "pstore"
    store.mkdir()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pstore_archiver",
            "--source",
            str(store),
            "--archive",
            str(tmp_path / "a"),
            "run",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert MessageId.no_backend not in result.stderr
