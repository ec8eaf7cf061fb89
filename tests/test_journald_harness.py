"""Tests of the private-journald test helper in tests/journald.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import journald
import pytest
from journald import (
    JournaldHarnessError,
    journald_available,
    require_journald,
    run_with_journald,
    run_without_journald,
)

MESSAGE_ID = "c060af52e3f04cf3bfa23f0f29a38cb5"
HOST_PATHS = (
    "/run/systemd/journal",
    "/run/systemd/journal/socket",
    "/run/log/journal",
    "/dev/log",
    "/etc/machine-id",
    "/etc/systemd/journald.conf",
)


def py(code: str) -> list[str]:
    """argv running code with this interpreter (the venv's, which has systemd-python)."""
    return [sys.executable, "-c", textwrap.dedent(code)]


def host_state() -> dict[str, object]:
    state: dict[str, object] = {}
    for path in HOST_PATHS:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            state[path] = None
        else:
            state[path] = (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns)
    return state


@pytest.fixture
def journald_ok() -> None:
    require_journald()


def test_journald_available_gives_none_or_reason() -> None:
    reason = journald_available()
    assert reason is None or (isinstance(reason, str) and reason)
    if os.geteuid() != 0:
        assert reason is not None and "root" in reason


@pytest.fixture
def fresh_availability() -> Iterator[None]:
    journald_available.cache_clear()
    yield
    journald_available.cache_clear()


def test_journald_available_explains_non_root(
    fresh_availability: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert journald_available() == (
        "private journald needs root (mount namespaces, tmpfs and bind mounts)"
    )


def test_journald_available_explains_missing_journald(
    fresh_availability: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(journald, "JOURNALD", "/nonexistent/systemd-journald")
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    reason = journald_available()
    assert reason is not None and "/nonexistent/systemd-journald" in reason


@pytest.mark.root
def test_sendv_fields_come_back_intact(journald_ok: None, tmp_path: Path) -> None:
    big = "".join(f"line {i:05d}: pstore ✓ text\n" for i in range(2500))[: 64 * 1024]
    assert len(big.encode()) >= 64 * 1024 - 4
    run = run_with_journald(
        py(f"""
            from systemd import journal
            journal.sendv('MESSAGE=hello', 'MESSAGE_ID={MESSAGE_ID}', 'PRIORITY=2',
                          'PSTORE_REASON=Panic', 'SYSLOG_IDENTIFIER=pstore-archiver',
                          'PSTORE_TEXT=' + {big!r})
            print('sent')
        """),
        tmp_path=tmp_path,
    )
    assert (run.returncode, run.stdout, run.stderr) == (0, "sent\n", "")

    found = run.query(f"MESSAGE_ID={MESSAGE_ID}")
    assert len(found) == 1
    entry = found[0]
    assert entry["MESSAGE"] == "hello"
    assert entry["PRIORITY"] == "2"
    assert entry["PSTORE_REASON"] == "Panic"
    assert entry["SYSLOG_IDENTIFIER"] == "pstore-archiver"
    assert entry["_TRANSPORT"] == "journal"
    assert entry["PSTORE_TEXT"] == big
    assert [e for e in run.entries if e.get("MESSAGE_ID") == MESSAGE_ID] == found

    assert run.query("PSTORE_REASON=Oops") == []
    assert run.query("PSTORE_REASON=Panic", "PRIORITY=2") == found
    assert run.query("SYSLOG_IDENTIFIER=pstore-archiver", "PRIORITY=3") == []
    # journald shut down cleanly (SIGTERM), so its last word is in the journal.
    assert run.entries[-1]["MESSAGE"] == "Journal stopped"
    assert list(run.journal_dir.glob("*/system.journal"))


@pytest.mark.root
def test_all_transports_and_standard_paths(journald_ok: None, tmp_path: Path) -> None:
    argv = py("""
        import os, sys, syslog
        from systemd import journal
        assert os.readlink('/dev/log') == '/run/systemd/journal/dev-log'
        for name in ('socket', 'stdout', 'dev-log'):
            assert os.path.exists('/run/systemd/journal/' + name), name
        syslog.openlog('harness-syslog')
        syslog.syslog(syslog.LOG_ERR, 'via /dev/log')
        journal.stream('harness-stream').write('via stdout stream\\n')
        journal.send('via native', HARNESS='native')
        print('out'); print('err', file=sys.stderr)
        raise SystemExit(3)
    """)
    run = run_with_journald(argv, tmp_path=tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (3, "out\n", "err\n")
    [syslog_entry] = run.query("SYSLOG_IDENTIFIER=harness-syslog")
    assert syslog_entry["_TRANSPORT"] == "syslog"
    assert syslog_entry["MESSAGE"] == "via /dev/log"
    assert syslog_entry["PRIORITY"] == "3"
    [stream_entry] = run.query("SYSLOG_IDENTIFIER=harness-stream")
    assert stream_entry["_TRANSPORT"] == "stdout"
    assert stream_entry["MESSAGE"] == "via stdout stream"
    [native_entry] = run.query("HARNESS=native")
    assert native_entry["_TRANSPORT"] == "journal"
    assert native_entry["MESSAGE"] == "via native"


@pytest.mark.root
def test_no_rate_limit(journald_ok: None, tmp_path: Path) -> None:
    # More than journald's default burst (10000 per 30 s) from one process.
    run = run_with_journald(
        py("""
            from systemd import journal
            for i in range(10500):
                journal.sendv('MESSAGE=m%d' % i, 'HARNESS_FLOOD=1')
        """),
        tmp_path=tmp_path,
    )
    assert run.returncode == 0
    flood = run.query("HARNESS_FLOOD=1")
    assert len(flood) == 10500
    assert [e["MESSAGE"] for e in flood[:2]] == ["m0", "m1"]
    assert not run.query("MESSAGE_ID=a596d6fe7bfa4994828e72309e95d61e")  # "suppressed"


@pytest.mark.root
def test_env_machine_id_and_separate_runs(journald_ok: None, tmp_path: Path) -> None:
    machine_id = uuid.uuid4().hex
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HARNESS_VAR": "from-env"}
    first = run_with_journald(
        ["sh", "-c", 'echo "$HARNESS_VAR"; cat /etc/machine-id; logger -t harness "$HARNESS_VAR"'],
        env=env,
        tmp_path=tmp_path,
        machine_id=machine_id,
    )
    assert first.stdout == f"from-env\n{machine_id}\n"
    assert (first.journal_dir / machine_id / "system.journal").exists()
    [entry] = first.query("SYSLOG_IDENTIFIER=harness")
    assert entry["MESSAGE"] == "from-env"
    assert entry["_MACHINE_ID"] == machine_id

    second = run_with_journald(["true"], tmp_path=tmp_path)
    assert second.journal_dir != first.journal_dir
    assert second.query("SYSLOG_IDENTIFIER=harness") == []
    assert len(first.query("SYSLOG_IDENTIFIER=harness")) == 1


@pytest.mark.root
def test_host_is_left_alone(journald_ok: None, tmp_path: Path) -> None:
    before = host_state()
    run_with_journald(["true"], tmp_path=tmp_path)
    run_without_journald(["true"], tmp_path=tmp_path, stale_socket=True)
    assert host_state() == before


@pytest.mark.root
def test_timeout_kills_command(journald_ok: None, tmp_path: Path) -> None:
    marker = f"harness-sleeper-{uuid.uuid4().hex}"
    with pytest.raises(subprocess.TimeoutExpired) as info:
        run_with_journald(
            py(f"import sys, time; print('{marker}', flush=True); time.sleep(60)"),
            tmp_path=tmp_path,
            timeout=0.5,
        )
    assert info.value.output == f"{marker}\n"
    leftovers = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                leftovers.append(pid)
        except OSError:
            pass
    assert leftovers == []


@pytest.mark.root
def test_harness_errors_are_explained(journald_ok: None, tmp_path: Path) -> None:
    with pytest.raises(JournaldHarnessError, match="no-such-program-xyz"):
        run_with_journald(["no-such-program-xyz"], tmp_path=tmp_path)
    with pytest.raises(TypeError):
        run_with_journald("true", tmp_path=tmp_path)


@pytest.mark.root
def test_without_journald_has_no_socket(journald_ok: None, tmp_path: Path) -> None:
    proc = run_without_journald(
        ["test", "!", "-e", "/run/systemd/journal/socket"], tmp_path=tmp_path
    )
    assert proc.returncode == 0, proc
    proc = run_without_journald(
        py("""
            import os
            from systemd import journal
            journal.sendv('MESSAGE=nobody listens', 'PRIORITY=2')
            assert os.listdir('/run/systemd/journal') == []
            assert not os.path.exists('/dev/log')
            print('sent silently')
        """),
        tmp_path=tmp_path,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "sent silently\n", "")


@pytest.mark.root
def test_without_journald_stale_socket(journald_ok: None, tmp_path: Path) -> None:
    proc = run_without_journald(
        py("""
            import stat, os
            from systemd import journal
            assert stat.S_ISSOCK(os.stat('/run/systemd/journal/socket').st_mode)
            try:
                journal.sendv('MESSAGE=nobody listens')
            except ConnectionRefusedError:
                print('refused')
        """),
        tmp_path=tmp_path,
        stale_socket=True,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "refused\n", "")


@pytest.mark.skipif(shutil.which("journalctl") is None, reason="no journalctl")
def test_query_needs_journal_files(tmp_path: Path) -> None:
    from journald import read_journal

    with pytest.raises(JournaldHarnessError, match="no journal files"):
        read_journal(tmp_path)
