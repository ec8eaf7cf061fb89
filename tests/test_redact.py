"""redact_text: what leaves the machine in PSTORE_TEXT (DESIGN §6 journal.text = "redacted")."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from stores import fixture_records

from pstore_archiver.redact import redact_text

REAL = Path(__file__).parent / "data" / "real"

ADDRESS_CASES = [
    ("virtio_net: eth0 52:54:00:12:34:56 up", "virtio_net: eth0 <mac> up"),
    ("bond0: slave 52-54-00-12-34-57", "bond0: slave <mac>"),
    ("nfs: server 192.168.1.10 not responding", "nfs: server <ipv4> not responding"),
    ("sshd from 10.0.0.255:22", "sshd from <ipv4>:22"),
    ("inet6 fe80::5054:ff:fe12:3456 scope link", "inet6 <ipv6> scope link"),
    ("lo ::1 2001:db8:0:0:0:0:0:1", "lo <ipv6> <ipv6>"),
    ("Linux version 6.1.0 (debian-kernel@lists.debian.org)", "Linux version 6.1.0 (<email>)"),
]


@pytest.mark.parametrize(("line", "expected"), ADDRESS_CASES)
def test_addresses_become_markers(line: str, expected: str) -> None:
    assert redact_text(line) == expected


LOOK_ALIKES = [
    "<4>[   12.345678] RIP: 0010:labcrash_init+0x5/0x1000 [labcrash]",
    "RSP: 0018:ffffb5a1c0197cf8 EFLAGS: 00010246",
    "Code: 00 00 00 48 89 e5 41 55 41 54",
    "CPU: 0 PID: 1 Comm: swapper/0 Tainted: G 6.1.0-56-amd64 #1 Debian 6.1.192-2",
    "BIOS 1.16.2-debian-1.16.2-1 04/01/2014 at 12:34:56",
    "rust: core::fmt::write abc::def cafe::",
    "not addresses: 999.1.1.1 1.2.3.4.5 v6.1.0 deadbeef::1",
]


@pytest.mark.parametrize("line", LOOK_ALIKES)
def test_kernel_text_that_only_looks_alike_stays(line: str) -> None:
    assert redact_text(line) == line


def test_a_real_log_keeps_its_lines_and_loses_only_addresses() -> None:
    """The real ERST capture: same line count, and only e-mail markers differ."""
    text = b"".join(r.data for r in fixture_records("erst-oops-panic")).decode("utf-8", "replace")
    redacted = redact_text(text)
    assert len(redacted.splitlines()) == len(text.splitlines())
    changed = [(a, b) for a, b in zip(text.splitlines(), redacted.splitlines()) if a != b]
    assert changed and all("<email>" in b and "@" in a for a, b in changed)


HOST_NAME_CASES = [
    ("Hostname set to <node-a.example.com>.", "Hostname set to <<hostname>>."),
    ("node-a login: root", "<hostname> login: root"),
    ("node-a-2, my-node-a, node-a.other stay", "node-a-2, my-node-a, node-a.other stay"),
    ("mail root@node-a.example.com", "mail <email>"),
]


@pytest.mark.parametrize(("line", "expected"), HOST_NAME_CASES)
def test_the_host_name_becomes_a_marker(line: str, expected: str) -> None:
    assert redact_text(line, "node-a.example.com") == expected


@pytest.mark.parametrize("hostname", [None, "", "localhost", "(none)"])
def test_host_names_that_name_no_machine_are_left(hostname: str | None) -> None:
    line = "localhost (none) ready"
    assert redact_text(line, hostname) == line


# The regular-expression implementation redact_text replaced (it ran each pattern's `sub`
# over the whole text, several times slower): the reference the fast one must equal.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX4 = r"[0-9A-Fa-f]{1,4}"
REFERENCE_PATTERNS = (
    (r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+", "<email>"),
    (
        r"(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}"
        r"(?![0-9A-Fa-f:-])",
        "<mac>",
    ),
    (rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])", "<ipv4>"),
    (
        rf"(?<![\w:.])(?=[^\s]*[0-9])"
        rf"(?:(?:{_HEX4}:){{7}}{_HEX4}|(?:{_HEX4}(?::{_HEX4}){{0,6}})?::"
        rf"(?:{_HEX4}(?::{_HEX4}){{0,6}})?)(?![\w:])",
        "<ipv6>",
    ),
)


def reference_redact(text: str, hostname: str | None = None) -> str:
    for pattern, marker in REFERENCE_PATTERNS:
        text = re.sub(pattern, marker, text)
    names: list[str] = []
    if hostname not in (None, "", "localhost", "localhost.localdomain", "(none)"):
        assert hostname is not None
        label = hostname.split(".", 1)[0]
        names = [hostname] if label in (hostname, "") else [hostname, label]
    for name in names:
        text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-]|\.\w)", "<hostname>", text)
    return text


HOSTNAMES = [None, "", "localhost", "node-a.example.com", "node-a", "ab", "a.b", "10.0.0.1",
             "x-1.y", ".lead", "Web(1)+.lab", "fe80::1", "n\u00e9ud.lan"]  # fmt: skip


@pytest.mark.parametrize("fixture", sorted(p.name for p in REAL.iterdir() if p.is_dir()))
def test_real_logs_are_redacted_as_by_the_reference(fixture: str) -> None:
    text = b"".join(r.data for r in fixture_records(fixture)).decode("utf-8", "replace")
    for hostname in ("node-a.example.com", "localhost", "(none)", None):
        assert redact_text(text, hostname) == reference_redact(text, hostname)


def test_the_cases_above_are_redacted_as_by_the_reference() -> None:
    lines = [*ADDRESS_CASES, *LOOK_ALIKES, *HOST_NAME_CASES]
    for line in [line if isinstance(line, str) else line[0] for line in lines]:
        for hostname in HOSTNAMES:
            assert redact_text(line, hostname) == reference_redact(line, hostname), line


def test_random_and_adversarial_text_is_redacted_as_by_the_reference() -> None:
    rng = random.Random(20240611)
    for _ in range(3000):
        hostname = rng.choice(HOSTNAMES)
        text = random_text(rng, hostname)
        assert redact_text(text, hostname) == reference_redact(text, hostname), (text, hostname)


def random_text(rng: random.Random, hostname: str | None) -> str:
    """Address-like tokens, near-misses, host names and loose characters, glued together
    with separators or none, so that matches touch, overlap and sit at the edges."""
    makers = [random_ipv4, random_ipv6, random_mac, random_email, random_chars]
    pieces = []
    for _ in range(rng.randint(0, 12)):
        if hostname and rng.random() < 0.15:
            pieces.append(rng.choice([hostname, hostname.split(".")[0], hostname.upper()]))
        else:
            pieces.append(mutated(rng, rng.choice(makers)(rng)))
        pieces.append(rng.choice(["", "", " ", "\n", ".", "-", ":", "@", "_", "<", "/", "\t"]))
    return "".join(pieces)


def mutated(rng: random.Random, token: str) -> str:
    """Now and then, one character of the token changed, added or taken away."""
    if not token or rng.random() < 0.7:
        return token
    at = rng.randrange(len(token))
    return token[:at] + rng.choice(["", rng.choice(ALPHABET)]) + token[at + rng.choice([0, 1]) :]


ALPHABET = "0123456789abcdefABCDEFgxz:::---...@@ \n_%+é٣"


def random_chars(rng: random.Random) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 20)))


def random_octet(rng: random.Random) -> str:
    return rng.choice([str(rng.randint(0, 255)), str(rng.randint(0, 999)), "0", "00", "01",
                       "255", "256", "25", rng.choice("0123456789")])  # fmt: skip


def random_ipv4(rng: random.Random) -> str:
    return ".".join(random_octet(rng) for _ in range(rng.choice([3, 4, 4, 4, 5])))


def random_group(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdefABCDEFg") for _ in range(rng.randint(0, 5)))


def random_ipv6(rng: random.Random) -> str:
    groups = [random_group(rng) for _ in range(rng.randint(1, 9))]
    if rng.random() < 0.6:
        groups.insert(rng.randint(0, len(groups)), "")  # a "::"
    return ":".join(groups)


def random_mac(rng: random.Random) -> str:
    separator = rng.choice(":-")
    pairs = (f"{rng.randrange(256):02{rng.choice('xX')}}" for _ in range(rng.choice([5, 6, 6, 7])))
    return separator.join(pairs)


def random_email(rng: random.Random) -> str:
    local = "".join(rng.choice("aZ9._%+-") for _ in range(rng.choice([1, 5, 64, 65, 70])))
    labels = ["".join(rng.choice("aZ9-") for _ in range(rng.choice([1, 4, 63, 64])))
              for _ in range(rng.randint(1, 3))]  # fmt: skip
    return local + rng.choice(["@", "@@", ""]) + ".".join(labels)
