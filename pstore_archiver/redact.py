"""Pure: take what identifies people and networks out of a kernel log before it leaves the
machine in a journal message (DESIGN §6 `journal.text = "redacted"`).

The archive always keeps the whole, unredacted log; only the copy in `PSTORE_TEXT` is
redacted.  What is replaced is what crash reporters scrub before upload (fleet-facts.md, "How
crash systems group"): e-mail addresses, MAC addresses, IPv4 and IPv6 addresses, and the
machine's own host name.  Each becomes a fixed marker, so the text keeps its shape.  Kernel
addresses, register dumps, timestamps and Rust paths (`core::fmt`) do not match.
"""

from __future__ import annotations

import re

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX4 = r"[0-9A-Fa-f]{1,4}"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
# Six pairs of hex digits, all separated by ':' or all by '-'.
_MAC = re.compile(
    r"(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}(?![0-9A-Fa-f:-])"
)
_IPV4 = re.compile(rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])")
# Eight groups, or fewer around one "::"; a digit is required, so `abc::def` stays.
_IPV6 = re.compile(
    rf"(?<![\w:.])(?=[^\s]*[0-9])"
    rf"(?:(?:{_HEX4}:){{7}}{_HEX4}|(?:{_HEX4}(?::{_HEX4}){{0,6}})?::(?:{_HEX4}(?::{_HEX4}){{0,6}})?)"
    rf"(?![\w:])"
)
_REPLACEMENTS = ((_EMAIL, "<email>"), (_MAC, "<mac>"), (_IPV4, "<ipv4>"), (_IPV6, "<ipv6>"))


# Names that identify no machine (an unset host name reads "(none)" in the kernel).
_ANONYMOUS_HOSTNAMES = frozenset({"", "localhost", "localhost.localdomain", "(none)"})


def redact_text(text: str, hostname: str | None = None) -> str:
    """The text with every e-mail, MAC, IPv4 and IPv6 address replaced by a marker, and
    the host name (as given and its first label, whole words, case as given) by
    `<hostname>`."""
    for pattern, marker in _REPLACEMENTS:
        text = pattern.sub(marker, text)
    for name in _host_names(hostname):
        text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-]|\.\w)", "<hostname>", text)
    return text


def _host_names(hostname: str | None) -> list[str]:
    """The full name first, then its first label: `node-a.example.com`, `node-a`."""
    if hostname is None or hostname in _ANONYMOUS_HOSTNAMES:
        return []
    label = hostname.split(".", 1)[0]
    return [hostname] if label in (hostname, "") else [hostname, label]
