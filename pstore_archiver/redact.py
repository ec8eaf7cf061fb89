"""Pure: take what identifies people and networks out of a kernel log before it leaves the
machine in a journal message (DESIGN §6 `journal.text = "redacted"`).

The archive always keeps the whole, unredacted log; only the copy in `PSTORE_TEXT` is
redacted.  What is replaced is what crash reporters scrub before upload (fleet-facts.md, "How
crash systems group"): e-mail addresses, MAC addresses, IPv4 and IPv6 addresses, and the
machine's own host name.  Each becomes a fixed marker, so the text keeps its shape.  Kernel
addresses, register dumps, timestamps and Rust paths (`core::fmt`) do not match.

Scanning a whole log with each pattern is slow (its leading lookbehind keeps the regular
expression engine from skipping ahead), so each pattern is tried only just before an anchor,
a character each address of its kind has (the `@` of an e-mail address, the `:` or `-` of a
MAC, the `.` of IPv4, the `:` of IPv6), which a search for that literal finds quickly.  The
result is exactly that of the pattern's `sub` over the whole text.
"""

from __future__ import annotations

import re
from functools import lru_cache

from pstore_archiver.typing_lite import NamedTuple

_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_HEX4 = r"[0-9A-Fa-f]{1,4}"
# The address patterns are strings, compiled where an anchor first finds a place for them
# (re caches them): most kernel logs hold no address, and these take 0.7 ms to compile.
_EMAIL = r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+"
# Six pairs of hex digits, all separated by ':' or all by '-'.
_MAC = (
    r"(?<![0-9A-Fa-f:-])[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}(?![0-9A-Fa-f:-])"
)
_IPV4 = rf"(?<![0-9.]){_OCTET}(?:\.{_OCTET}){{3}}(?![0-9]|\.[0-9])"
# Eight groups, or fewer around one "::"; a digit is required, so `abc::def` stays.
_IPV6 = (
    rf"(?<![\w:.])(?=[^\s]*[0-9])"
    rf"(?:(?:{_HEX4}:){{7}}{_HEX4}|(?:{_HEX4}(?::{_HEX4}){{0,6}})?::(?:{_HEX4}(?::{_HEX4}){{0,6}})?)"
    rf"(?![\w:])"
)


class _Address(NamedTuple):
    """A pattern, and where in a text it can match: `lead` characters, at most `reach` of
    them, then the first anchor of the match, which no `lead` character is."""

    pattern: str
    # Each starts with a literal, so that sre skips to it at C speed (a class like `[:-]`
    # first is checked one character at a time, several times slower).
    anchors: tuple[re.Pattern[str], ...]
    reach: int
    lead: str
    marker: str


def _mac_anchor(separator: str) -> re.Pattern[str]:
    """The first separator of a MAC address: two hex digits, with no hex digit, ':' or
    '-' before them, come before it."""
    return re.compile(
        rf"{separator}(?<=[0-9A-Fa-f]{{2}}{separator})(?<![0-9A-Fa-f:-]..{separator})"
        rf"(?=[0-9A-Fa-f]{{2}}{separator})"
    )


_DIGITS = "0123456789"
_HEX = f"{_DIGITS}abcdefABCDEF"
_ADDRESSES = (
    _Address(
        _EMAIL,
        (re.compile("@"),),
        64,
        f"{_HEX}ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ._%+-",
        "<email>",
    ),
    _Address(_MAC, (_mac_anchor(":"), _mac_anchor("-")), 2, _HEX, "<mac>"),
    _Address(
        _IPV4,
        (re.compile(r"\.(?<=[0-9]\.)(?=[0-9]{1,3}\.[0-9]{1,3}\.[0-9])"),),
        3,
        _DIGITS,
        "<ipv4>",
    ),
    # The first ':' of an IPv6 address: then the second of "::", or a group and a ':'.
    _Address(_IPV6, (re.compile(r":(?<!::)(?=:|[0-9A-Fa-f]{1,4}:)"),), 4, _HEX, "<ipv6>"),
)

# Names that identify no machine (an unset host name reads "(none)" in the kernel).
_ANONYMOUS_HOSTNAMES = frozenset({"", "localhost", "localhost.localdomain", "(none)"})


def redact_text(text: str, hostname: str | None = None) -> str:
    """The text with every e-mail, MAC, IPv4 and IPv6 address replaced by a marker, and
    the host name (as given and its first label, whole words, case as given) by
    `<hostname>`."""
    for address in _ADDRESSES:
        text = _replace(address, text)
    for name in _host_names(hostname):
        if name in text:
            text = _host_name_pattern(name).sub("<hostname>", text)
    return text


def _replace(address: _Address, text: str) -> str:
    """`address.pattern.sub(address.marker, text)`, with the pattern tried only where its
    next match can start: before each anchor, as far back as lead characters reach (at
    most `reach`, and not into the last match).  A later start before the same anchor
    would match the same e-mail address, which `sub` takes from the leftmost, and the
    other patterns' lookbehinds rule it out."""
    parts: list[str] = []
    done = 0
    for at in sorted(
        match.start() for anchor in address.anchors for match in anchor.finditer(text)
    ):
        if at < done:
            continue
        lead = text[max(done, at - address.reach) : at]
        start = at - len(lead) + len(lead.rstrip(address.lead))
        match = re.compile(address.pattern).match(text, start)  # its lookbehind sees text[:start]
        if match:
            parts += (text[done:start], address.marker)
            done = match.end()
    return "".join((*parts, text[done:])) if parts else text


@lru_cache(maxsize=16)
def _host_name_pattern(name: str) -> re.Pattern[str]:
    """The name as a whole word.  The check of the character before it comes after the
    name, so that the pattern starts with a literal, which sre searches for at C speed."""
    escaped = re.escape(name)
    return re.compile(rf"{escaped}(?<![\w.-]{escaped})(?![\w-]|\.\w)")


def _host_names(hostname: str | None) -> list[str]:
    """The full name first, then its first label: `node-a.example.com`, `node-a`."""
    if hostname is None or hostname in _ANONYMOUS_HOSTNAMES:
        return []
    label = hostname.split(".", 1)[0]
    return [hostname] if label in (hostname, "") else [hostname, label]
