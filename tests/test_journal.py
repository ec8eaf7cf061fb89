"""Journal messages (DESIGN §7), read back from a real systemd-journald with journalctl."""

from __future__ import annotations

import io
import json
import random
import re
import sys
from pathlib import Path

import pytest
from journald import require_journald, run_with_journald, run_without_journald
from stores import copy_fixture, seed_erst_store, write_store

from pstore_archiver.journal import (
    Field,
    MessageId,
    Sink,
    constants,
    cut_to_newest,
    dump_priority,
    send_entry_archived,
)
from pstore_archiver.manifest import Manifest
from pstore_archiver.service import read_os_release

ARCHIVER = [sys.executable, "-m", "pstore_archiver"]


def test_every_field_name_is_one_journald_keeps() -> None:
    names = [*constants(Field).values(), "MESSAGE_ID", "SYSLOG_IDENTIFIER"]
    assert [n for n in names if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,63}", n)] == []


def test_message_ids_are_distinct_128_bit_ids() -> None:
    ids = list(constants(MessageId).values())
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)


@pytest.mark.parametrize(
    "reason, priority",
    [("Panic", 2), ("Oops", 3), ("Emergency", 3), ("Shutdown", 5), ("Restart", 5), (None, 5)],
)
def test_dump_priority(reason: str | None, priority: int) -> None:
    assert dump_priority(reason) == priority


def test_cut_to_newest_keeps_whole_newest_lines_and_says_so() -> None:
    text = b"".join(f"line {i}\n".encode() for i in range(1000))
    cut = cut_to_newest(text, 100)
    assert cut.startswith(b"[pstore-archiver: cut to the newest ")
    assert cut.endswith(b"line 999\n")
    body = cut.split(b"\n", 1)[1]
    assert len(cut) <= 100 and body.startswith(b"line ")
    assert cut_to_newest(b"short\n", 100) == b"short\n"


def test_cut_to_newest_of_a_short_tail_keeps_its_whole_lines() -> None:
    """The newest end of a longer log, shorter than the room: every line after the
    first (which may have been cut) is kept, not a slice from a wrapped-around index."""
    tail = b"a" * 5 + b"\n" + b"b" * 20 + b"\n"  # 27 bytes; room for 45 after the note
    cut = cut_to_newest(tail, 100, total_bytes=5000)
    assert cut == b"[pstore-archiver: cut to the newest 21 of 5000 bytes]\n" + b"b" * 20 + b"\n"


def test_cut_to_newest_never_starts_inside_a_character_nor_goes_over() -> None:
    text = "ü" * 3000  # no newline: the cut lands wherever it must
    for limit in (4096, 101, 20):
        cut = cut_to_newest(text.encode(), limit)
        assert len(cut) <= limit
        cut.decode("utf-8")  # raises if a character was cut in two


def test_pstore_text_is_at_most_4096_bytes_whatever_redaction_adds() -> None:
    """`::1` becomes `<ipv6>`, an invalid byte U+FFFD: the text grows after the cut."""
    log = b"".join(b"<6>[ %d.0] lo ::1 \xff\xfe a@b.c\n" % i for i in range(2000))
    for mode in ("redacted", "full"):
        text = Sink(text=mode).attachment(log, len(log))
        assert text is not None and len(text) <= 4096 and text.endswith(b"\n")
        assert text.startswith(b"[pstore-archiver: cut to the newest ")
        assert (b"<ipv6>" in text) == (mode == "redacted")


DUMP_MANIFEST = Manifest.from_json(
    {
        "schema": 1,
        "id": "20261126T193604Z-erst-oops1",
        "kind": "dmesg",
        "backend": "erst",
        "reason": "Oops",
        "count": 1,
        "crash_time": "2026-11-26T19:36:04.000000Z",
        "records": [{"name": "dmesg-erst-1", "part": 1, "size": 1, "sha256": "0" * 64}],
        "summary": "BUG: at node-a.example.com from 10.1.2.3",
        "function": "labcrash_init",
        "process": "insmod",
        "signature": "kernel-labcrash_init-897d0f9a",
        "hostname": "node-a.example.com",
    },
    "(a test's manifest)",
)
TRACE = tuple(f"frame_{i}" for i in range(20))


def sent_fields(mode: str) -> dict[str, str]:
    sent: list[tuple[str, ...]] = []
    sink = Sink(sendv=lambda *lines: sent.append(lines), text=mode)
    text = sink.attachment(b"node-a says hi from 10.1.2.3\n", 29, "node-a.example.com")
    send_entry_archived(sink, DUMP_MANIFEST, "/archive/x", text, TRACE)
    [lines] = sent
    return dict(line.split("=", 1) for line in lines)


@pytest.mark.parametrize("mode", ["full", "redacted", "none"])
def test_what_leaves_the_machine_per_journal_text(mode: str) -> None:
    """The summary and process travel like the text: as they are with "full", redacted
    with "redacted" (in MESSAGE too), not at all with "none", which leaves the signature,
    function and frames (the top 16 of the call trace)."""
    fields = sent_fields(mode)
    assert fields["PSTORE_FRAMES"] == " ".join(TRACE[:16])
    assert fields["PSTORE_SIGNATURE"] == "kernel-labcrash_init-897d0f9a"
    assert fields["PSTORE_FUNCTION"] == "labcrash_init"
    if mode == "none":
        assert not {"PSTORE_SUMMARY", "PSTORE_PROCESS", "PSTORE_TEXT"} & set(fields)
        assert fields["MESSAGE"].endswith("as 20261126T193604Z-erst-oops1")
    elif mode == "redacted":
        assert fields["PSTORE_SUMMARY"] == "BUG: at <hostname> from <ipv4>"
        assert fields["PSTORE_TEXT"] == "<hostname> says hi from <ipv4>\n"
        assert fields["MESSAGE"].endswith(": BUG: at <hostname> from <ipv4>")
    else:
        assert fields["PSTORE_SUMMARY"] == DUMP_MANIFEST.summary
        assert fields["PSTORE_TEXT"] == "node-a says hi from 10.1.2.3\n"


def test_sink_uses_the_given_sender_and_falls_back_when_it_refuses() -> None:
    sent: list[tuple[str, ...]] = []
    Sink(sendv=lambda *lines: sent.append(lines)).send(
        MessageId.dump_archived, 2, "hello", {Field.entry: "x"}
    )
    assert sent == [
        (
            "MESSAGE=hello",
            "MESSAGE_ID=c060af52e3f04cf3bfa23f0f29a38cb5",
            "PRIORITY=2",
            "SYSLOG_IDENTIFIER=pstore-archiver",
            "PSTORE_ENTRY=x",
        )
    ]

    def refuse(*lines: str) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    stream = io.StringIO()
    Sink(sendv=refuse, stream=stream).send(MessageId.run_summary, 6, "summary", {})
    assert "journal unavailable (Connection refused)" in stream.getvalue()
    assert "<6>pstore-archiver: summary\n    MESSAGE_ID=762ec154cf524fe1866dda6363ba036e" in (
        stream.getvalue()
    )


@pytest.mark.root
def test_run_logs_structured_messages_to_a_real_journald(tmp_path: Path) -> None:
    require_journald()
    store, archive = tmp_path / "pstore", tmp_path / "archive"
    copy_fixture("erst-oops-panic", store)
    write_store(store, seed_erst_store())
    (store / "console-ramoops-0").write_bytes(b"console text\n")
    config = tmp_path / "pstore-archiver.toml"
    config.write_text('[journal]\nmax_attach = "8K"\n')
    argv = ["--config", str(config), "--source", str(store), "--archive", str(archive), "run"]
    result = run_with_journald([*ARCHIVER, *argv], tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr

    dumps = result.query(f"MESSAGE_ID={MessageId.dump_archived}")
    assert sorted(e["PSTORE_ENTRY"] for e in dumps) == [
        "20160818T021500Z-erst-oops1",
        "20160818T021500Z-erst-panic2",
        "20261126T193604Z-erst-oops1",
        "20261126T193604Z-erst-panic2",
    ]
    [panic] = result.query(
        f"MESSAGE_ID={MessageId.dump_archived}",
        "PSTORE_REASON=Panic",
        "PSTORE_ENTRY=20261126T193604Z-erst-panic2",
    )
    assert panic["PRIORITY"] == "2"
    assert panic["SYSLOG_IDENTIFIER"] == "pstore-archiver"
    assert panic["MESSAGE"] == (
        "Kernel Panic#2 from erst archived as 20261126T193604Z-erst-panic2: "
        "Kernel panic - not syncing: sysrq triggered crash"
    )
    assert panic["PSTORE_BACKEND"] == "erst" and panic["PSTORE_COUNT"] == "2"
    assert panic["PSTORE_PARTS"] == "2"
    assert (
        panic["PSTORE_RECORDS"] == "dmesg-erst-7712566249095430148 dmesg-erst-7712566249095430147"
    )
    assert panic["PSTORE_ARCHIVE_PATH"] == str(archive / "20261126T193604Z-erst-panic2")
    assert panic["PSTORE_CRASH_TIMESTAMP"] == "1795721764000000"
    # This panic came after an Oops in the same boot: the kernel printed no second trace.
    assert "PSTORE_FUNCTION" not in panic
    assert panic["PSTORE_SIGNATURE"] == "kernel-panic-sysrq_triggered_crash-ce01363d"
    assert panic["PSTORE_KERNEL_RELEASE"] == "6.1.0-56-amd64"
    text = (archive / "20261126T193604Z-erst-panic2" / "dmesg.txt").read_text()
    assert panic["PSTORE_TEXT"].startswith("[pstore-archiver: cut to the newest ")
    assert text.endswith(panic["PSTORE_TEXT"].split("\n", 1)[1])
    assert 7 * 1024 < len(panic["PSTORE_TEXT"]) <= 8 * 1024 + 100

    [oops] = result.query("PSTORE_REASON=Oops", "PSTORE_ENTRY=20261126T193604Z-erst-oops1")
    assert oops["PRIORITY"] == "3"
    assert (oops["PSTORE_FUNCTION"], oops["PSTORE_PROCESS"]) == ("labcrash_init", "insmod")
    assert (
        oops["PSTORE_SUMMARY"] == "BUG: kernel NULL pointer dereference, address: 0000000000000000"
    )
    assert oops["PSTORE_SIGNATURE"].startswith("kernel-labcrash_init-")
    assert oops["PSTORE_SIGNATURE_VERSION"] == "2"
    assert oops["PSTORE_TAINT"] == "OE"  # labcrash.ko: out of tree, unsigned
    assert oops["PSTORE_OS_RELEASE"] == read_os_release()
    manifests = [
        json.loads((archive / e["PSTORE_ENTRY"] / "entry.json").read_text()) for e in dumps
    ]
    assert sorted(e["PSTORE_CRASH_ID"] for e in dumps) == sorted(m["crash_id"] for m in manifests)
    assert len({e["PSTORE_CRASH_ID"] for e in dumps}) == 4
    assert all(re.fullmatch(r"[0-9a-f]{32}", e["PSTORE_CRASH_ID"]) for e in dumps)
    [console] = result.query(f"MESSAGE_ID={MessageId.record_archived}")
    assert console["PRIORITY"] == "6" and console["PSTORE_KIND"] == "console"
    assert "PSTORE_TEXT" not in console

    [summary] = result.query(f"MESSAGE_ID={MessageId.run_summary}")
    assert summary["PRIORITY"] == "6"
    assert (summary["PSTORE_ENTRIES_CREATED"], summary["PSTORE_RECORDS_LEFT"]) == ("5", "0")
    assert result.query("PSTORE_REASON=Shutdown") == []


@pytest.mark.root
def test_without_journald_the_messages_go_to_stderr(tmp_path: Path) -> None:
    require_journald()
    store = tmp_path / "pstore"
    for stale in (False, True):
        copy_fixture("erst-panic", store)
        argv = [
            *ARCHIVER,
            "--source",
            str(store),
            "--archive",
            str(tmp_path / f"archive-{stale}"),
            "run",
        ]
        result = run_without_journald(argv, tmp_path=tmp_path, stale_socket=stale)
        assert result.returncode == 0, result.stderr
        assert "<2>pstore-archiver: Kernel Panic#1 from erst archived as " in result.stderr
        assert "MESSAGE_ID=c060af52e3f04cf3bfa23f0f29a38cb5" in result.stderr
        assert ("journal unavailable" in result.stderr) == stale
        assert list(store.iterdir()) == []


NETWORK_LOG = (
    b"<6>[    1.000000] e1000e 0000:00:19.0 eth0: 52:54:00:12:34:56\n"
    b"<6>[    2.000000] nfs: server 192.168.7.20 not responding, mail root@example.com\n"
    b"<0>[    3.000000] Kernel panic - not syncing: sysrq triggered crash\n"
)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "redacted",
            b"<6>[    1.000000] e1000e 0000:00:19.0 eth0: <mac>\n"
            b"<6>[    2.000000] nfs: server <ipv4> not responding, mail <email>\n"
            b"<0>[    3.000000] Kernel panic - not syncing: sysrq triggered crash\n",
        ),
        ("full", NETWORK_LOG),
        ("none", None),
    ],
)
def test_the_attached_text_is_cut_and_redacted_as_configured(
    mode: str, expected: bytes | None
) -> None:
    sink = Sink(text=mode, max_attach_bytes=4096)
    assert sink.attachment(NETWORK_LOG, len(NETWORK_LOG)) == expected
    cut = Sink(text=mode, max_attach_bytes=80).attachment(NETWORK_LOG, len(NETWORK_LOG))
    if expected is None:
        assert cut is None
    else:
        assert cut is not None and cut.startswith(b"[pstore-archiver: cut to the newest ")
        assert cut.endswith(b"sysrq triggered crash\n")


@pytest.mark.root
@pytest.mark.parametrize("mode", ["redacted", "full", "none"])
def test_journal_text_setting_against_a_real_journald(tmp_path: Path, mode: str) -> None:
    """The archive keeps the whole log whatever leaves the machine in PSTORE_TEXT."""
    require_journald()
    store, archive = tmp_path / "pstore", tmp_path / "archive"
    store.mkdir()
    (store / "dmesg-ramoops-0").write_bytes(b"Panic#1 Part1\n" + NETWORK_LOG)
    config = tmp_path / "pstore-archiver.toml"
    config.write_text(f'[journal]\ntext = "{mode}"\n')
    argv = ["--config", str(config), "--source", str(store), "--archive", str(archive), "run"]
    result = run_with_journald([*ARCHIVER, *argv], tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    [entry] = result.query(f"MESSAGE_ID={MessageId.dump_archived}")
    [log] = archive.glob("*/dmesg.txt")
    assert log.read_bytes() == NETWORK_LOG
    if mode == "none":
        assert "PSTORE_TEXT" not in entry
    else:
        attached = entry["PSTORE_TEXT"].encode()
        assert (attached == NETWORK_LOG) == (mode == "full")
        assert (b"192.168.7.20" in attached) == (mode == "full")
        assert (b"<ipv4>" in attached) == (mode == "redacted")


BOOT_PATH_PROBE = """
import sys
from pstore_archiver.cli import main
code = main(sys.argv[1:])
print(" ".join(sorted(sys.modules)))
sys.exit(code)
"""


@pytest.mark.root
def test_the_boot_run_imports_nothing_heavy_to_talk_to_journald(tmp_path: Path) -> None:
    """The run at boot sends through python-systemd's C module: `systemd.journal` (and
    with it logging, uuid, traceback, the reader) and pydantic stay unimported."""
    require_journald()
    store, archive = tmp_path / "pstore", tmp_path / "archive"
    copy_fixture("erst-panic", store)
    argv = [sys.executable, "-c", BOOT_PATH_PROBE, "--source", str(store)]
    result = run_with_journald([*argv, "--archive", str(archive), "run"], tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert len(result.query(f"MESSAGE_ID={MessageId.dump_archived}")) == 1
    imported = set(result.stdout.split())
    assert "systemd._journal" in imported
    assert imported & {"systemd.journal", "logging", "pydantic", "uuid"} == set()


def reference_attachment(
    sink: Sink, log_tail: bytes, total_bytes: int, hostname: str | None
) -> bytes | None:
    """Sink.attachment as it was: it redacted twice the attachment's size every time."""
    if sink.text == "none":
        return None
    window = log_tail[-2 * sink.max_attach_bytes :]
    text = sink.shared_text(window.decode("utf-8", "replace"), hostname).encode()
    whole = len(window) == total_bytes
    return cut_to_newest(text, sink.max_attach_bytes, None if whole else total_bytes)


ATTACHED_LINES = [
    *(line + b"\n" for line in NETWORK_LOG.splitlines()),
    b"<6>[   1.5] " + b"long.local.part.of.an.address@" * 9 + b"example.com shrinks\n",
    b"<6>[   1.6] a a a a a a a a a a a grows with host name a\n",
    b"<6>[   1.7] fe80::1 \xff\xfe\xe2\x82 " + "h\u00e9".encode() * 20 + b"\n",
    b"<6>[   1.8] " + b"x" * 300 + b" one long line\n",
    b"ab\n",  # with "cdefghijklmnop ab\n": the host name with a line break below
    b"cdefghijklmnop ab\n",
    b"\n",
]


def test_the_attachment_is_what_redacting_twice_its_size_gave() -> None:
    """Sink.attachment redacts only the newest lines when they are enough; whatever the
    lines, the host name, the limit and where the tail starts, the text is the same."""
    rng = random.Random(4096)
    for _ in range(400):
        lines = rng.sample(ATTACHED_LINES, rng.randint(1, len(ATTACHED_LINES)))
        log = b"".join(rng.choices(lines, k=rng.randint(0, 40)))
        log_tail = log[rng.randint(0, len(log)) :] if rng.random() < 0.3 else log
        hostname = rng.choice([None, "a", "node-a.example.com", "ab\ncdefghijklmnop"])
        for mode in ("redacted", "full"):
            sink = Sink(text=mode, max_attach_bytes=rng.choice([20, 80, 200, 333, 600]))
            expected = reference_attachment(sink, log_tail, len(log), hostname)
            assert sink.attachment(log_tail, len(log), hostname) == expected


def test_a_host_name_with_a_line_break_is_redacted_across_it() -> None:
    """Such a name (the kernel takes any 64 bytes) spans lines, so the newest lines alone
    would keep the part of it that ends the line above them."""
    log = b"cdefghijklmnop ab\n" * 2 + b"zz\nab\n"
    sink = Sink(max_attach_bytes=20)
    assert sink.attachment(log, len(log), "ab\ncdefghijklmnop") == b"<hostname> ab\nzz\nab\n"
