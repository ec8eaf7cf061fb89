"""Pure parsing of pstore records: file names, dmesg headers, backend ids, compression.

No I/O here: functions take names and bytes.  Section numbers refer to
`kernel-pstore-format.md`.
"""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple

# §1.1: match the type names first (two contain a dash), keep the backend non-greedy and
# anchor the (possibly negative, §1.1 pre-4.12 %lld) id at the end.
_NAME = re.compile(
    r"(dmesg|mce|console|ftrace|rtas|powerpc-ofw|powerpc-common|pmsg|powerpc-opal|unknown|type[0-9]+)"
    r"-(.+?)-(-?[0-9]+)"
)
# §1.1, 3.x era: console and ftrace names without an id.
_OLD_NAME = re.compile(r"(console|ftrace)-([A-Za-z0-9_-]+)")
COMPRESSED_SUFFIX = ".enc.z"

# §2.1: "%s#%d Part%u\n"; vendor kernels may use other reason words.
_HEADER = re.compile(rb"([A-Za-z]+)#(-?[0-9]+) Part([0-9]+)\r?\n")
# §2.6: uncompressed pstore_blk dmesg starts with "%s: Total %d times\n".
_TOTAL = re.compile(rb"([A-Za-z]+): Total (-?[0-9]+) times\r?\n")

EFI_BACKENDS = frozenset({"efi", "efi_pstore"})
ERST_BACKEND = "erst"
MAX_ID = (1 << 64) - 1


class RecordName(NamedTuple):
    """What a pstore file name says: `<type>-<backend>-<id>[.enc.z]` (§1.1)."""

    name: str
    kind: str  # dmesg, console, ... or "unknown" when the name matches nothing
    backend: str | None
    id: int | None
    compressed: bool


def parse_record_name(name: str) -> RecordName:
    stem = name
    compressed = name.endswith(COMPRESSED_SUFFIX)
    if compressed:
        stem = name[: -len(COMPRESSED_SUFFIX)]
    match = _NAME.fullmatch(stem)
    if match:
        kind = "unknown" if match.group(1).startswith("type") else match.group(1)
        return RecordName(name, kind, match.group(2), int(match.group(3)), compressed)
    old = _OLD_NAME.fullmatch(stem)
    if old:
        return RecordName(name, old.group(1), old.group(2), None, compressed)
    return RecordName(name, "unknown", None, None, compressed)


class DumpHeader(NamedTuple):
    """The `Reason#count PartN` line of a dmesg part (§2.1), and where the body starts."""

    reason: str
    oopscount: int  # the `#count`: the kernel's oopscount, 1 for the first dump of a boot
    part: int
    body_offset: int
    total: int | None = None  # pstore_blk's "Reason: Total N times" (§2.6)


def parse_dmesg_header(text: bytes) -> DumpHeader | None:
    """The header of a dmesg part, or None.  Only the first line (or the line after a
    pstore_blk `Total` line) counts: a header inside the body is old log text (§8.16)."""
    offset = 0
    total = None
    total_match = _TOTAL.match(text)
    if total_match:
        total = int(total_match.group(2))
        offset = total_match.end()
    match = _HEADER.match(text, offset)
    if not match:
        return None
    reason = match.group(1).decode("ascii")
    return DumpHeader(reason, int(match.group(2)), int(match.group(3)), match.end(), total)


class EfiId(NamedTuple):
    """§6.1: id = (timestamp * 100 + part) * 1000 + count."""

    timestamp: int
    part: int
    oopscount: int


def decode_efi_id(record_id: int) -> EfiId:
    return EfiId(record_id // 100000, (record_id // 1000) % 100, record_id % 1000)


class ErstId(NamedTuple):
    """§6.2: the boot's CPER seed second and the sequence number within that boot."""

    seed_seconds: int
    sequence: int


def decode_erst_id(record_id: int) -> ErstId:
    value = record_id & MAX_ID  # a negative id is a u64 printed with %lld (§1.1)
    if value < 1 << 63:
        return ErstId(value >> 32, value & 0xFFFFFFFF)
    return ErstId((value & ~(1 << 63)) >> 24, value & 0xFFFFFF)


def decompress(data: bytes) -> bytes | None:
    """Decode an `.enc.z` record (§1.5): zlib-wrapped, then raw deflate.  None when
    neither yields a dmesg header; the caller keeps the original bytes either way.
    Trailing bytes (the ramoops ECC notice) are ignored."""
    for wbits in (zlib.MAX_WBITS, -zlib.MAX_WBITS):
        decoder = zlib.decompressobj(wbits)
        try:
            text = decoder.decompress(data)
        except zlib.error:
            continue
        if parse_dmesg_header(text) is not None:
            return text
    return None


class Record(NamedTuple):
    """One file of the store, with what its name and content say."""

    name: RecordName
    data: bytes  # the original bytes, as read
    mtime_ns: int
    text: bytes  # the decoded content: data, or its decompression
    decoded: bool  # text comes from decompressing an .enc.z record
    header: DumpHeader | None = None

    @property
    def body(self) -> bytes:
        """The text without the pstore header lines."""
        return self.text[self.header.body_offset :] if self.header else self.text


def parse_record(name: str, data: bytes, mtime_ns: int) -> Record:
    parsed = parse_record_name(name)
    text, decoded = data, False
    if parsed.compressed:
        plain = decompress(data)
        if plain is not None:
            text, decoded = plain, True
    header = parse_dmesg_header(text) if parsed.kind == "dmesg" else None
    return Record(parsed, data, mtime_ns, text, decoded, header)
