"""redact_text: what leaves the machine in PSTORE_TEXT (DESIGN §6 journal.text = "redacted")."""

from __future__ import annotations

import pytest
from stores import fixture_records

from pstore_archiver.redact import redact_text


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("virtio_net: eth0 52:54:00:12:34:56 up", "virtio_net: eth0 <mac> up"),
        ("bond0: slave 52-54-00-12-34-57", "bond0: slave <mac>"),
        ("nfs: server 192.168.1.10 not responding", "nfs: server <ipv4> not responding"),
        ("sshd from 10.0.0.255:22", "sshd from <ipv4>:22"),
        ("inet6 fe80::5054:ff:fe12:3456 scope link", "inet6 <ipv6> scope link"),
        ("lo ::1 2001:db8:0:0:0:0:0:1", "lo <ipv6> <ipv6>"),
        ("Linux version 6.1.0 (debian-kernel@lists.debian.org)", "Linux version 6.1.0 (<email>)"),
    ],
)
def test_addresses_become_markers(line: str, expected: str) -> None:
    assert redact_text(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "<4>[   12.345678] RIP: 0010:labcrash_init+0x5/0x1000 [labcrash]",
        "RSP: 0018:ffffb5a1c0197cf8 EFLAGS: 00010246",
        "Code: 00 00 00 48 89 e5 41 55 41 54",
        "CPU: 0 PID: 1 Comm: swapper/0 Tainted: G 6.1.0-56-amd64 #1 Debian 6.1.192-2",
        "BIOS 1.16.2-debian-1.16.2-1 04/01/2014 at 12:34:56",
        "rust: core::fmt::write abc::def cafe::",
        "not addresses: 999.1.1.1 1.2.3.4.5 v6.1.0 deadbeef::1",
    ],
)
def test_kernel_text_that_only_looks_alike_stays(line: str) -> None:
    assert redact_text(line) == line


def test_a_real_log_keeps_its_lines_and_loses_only_addresses() -> None:
    """The real ERST capture: same line count, and only e-mail markers differ."""
    text = b"".join(r.data for r in fixture_records("erst-oops-panic")).decode("utf-8", "replace")
    redacted = redact_text(text)
    assert len(redacted.splitlines()) == len(text.splitlines())
    changed = [(a, b) for a, b in zip(text.splitlines(), redacted.splitlines()) if a != b]
    assert changed and all("<email>" in b and "@" in a for a, b in changed)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("Hostname set to <node-a.example.com>.", "Hostname set to <<hostname>>."),
        ("node-a login: root", "<hostname> login: root"),
        ("node-a-2, my-node-a, node-a.other stay", "node-a-2, my-node-a, node-a.other stay"),
        ("mail root@node-a.example.com", "mail <email>"),
    ],
)
def test_the_host_name_becomes_a_marker(line: str, expected: str) -> None:
    assert redact_text(line, "node-a.example.com") == expected


@pytest.mark.parametrize("hostname", [None, "", "localhost", "(none)"])
def test_host_names_that_name_no_machine_are_left(hostname: str | None) -> None:
    line = "localhost (none) ready"
    assert redact_text(line, hostname) == line
