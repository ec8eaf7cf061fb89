"""Pure: text from records made safe for a terminal.

Anything a crashed kernel logged, including a process name any user chose (`Comm:`), can
reach `list`, `info`, `status` and the messages on stderr.  Control characters there
would be obeyed by the terminal (ESC sequences can move the cursor, retitle the window,
hide text), so they are shown as C escapes instead, as journalctl shows unprintable
fields: `\\x1b`, `\\n`, `\\t`.  Bytes that are not UTF-8 (Python's surrogate escapes in
file names) are shown as `\\xNN` too.
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls (a terminal may take U+009B as CSI), and surrogates.  Left
# to re's cache to compile on first use: compiling it took ~0.8 ms of every start, and a
# printable text (str.isprintable: none of these) never needs it.
_UNSAFE = "[\x00-\x1f\x7f-\x9f\ud800-\udfff]"
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape(text: str) -> str:
    """`text` with every control character (newlines and tabs too) escaped."""
    if text.isprintable():
        return text
    return re.sub(_UNSAFE, _escape_char, text)


def escape_line(text: str) -> str:
    """One line of a log for a terminal: as `escape`, but tabs are kept."""
    return "\t".join(escape(part) for part in text.split("\t"))
