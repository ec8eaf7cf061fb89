"""Pure parsing of pstore records: file names, dmesg headers, backend ids, compression.

No I/O here: functions take names and bytes.  Section numbers refer to
`kernel-pstore-format.md`.
"""

from __future__ import annotations

import re

from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

# CPython's own SHA-256, same interface as hashlib's: hashlib would load OpenSSL, a tenth
# of the boot run's imports.
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from hashlib import sha256
else:
    try:
        from _sha2 import sha256  # Python 3.12 and later
    except ImportError:
        try:
            from _sha256 import sha256  # Python < 3.12
        except ImportError:  # pragma: no cover - an interpreter built without it
            from hashlib import sha256
sha256_hash = sha256  # for the modules whose own variables are named sha256

# The patterns here are strings, compiled where first used (re caches them): a run that
# finds no record compiles none.
# §1.1: match the type names first (two contain a dash), keep the backend non-greedy and
# anchor the (possibly negative, §1.1 pre-4.12 %lld) id at the end: a u64, at most 20 digits.
_NAME = (
    r"(dmesg|mce|console|ftrace|rtas|powerpc-ofw|powerpc-common|pmsg|powerpc-opal|unknown|type[0-9]+)"
    r"-(.+?)-(-?[0-9]{1,20})"
)
# §1.1, 3.x era: console and ftrace names without an id.
_OLD_NAME = r"(console|ftrace)-([A-Za-z0-9_-]+)"
COMPRESSED_SUFFIX = ".enc.z"

# §2.1: "%s#%d Part%u\n"; vendor kernels may use other reason words (the kernel's are at
# most 9 letters).  The numbers are bounded before they are parsed: `count` is a C int
# (%d), `part` is checked against MAX_PART below.
_HEADER = rb"([A-Za-z]{1,32})#(-?[0-9]{1,10}) Part([0-9]{1,10})\r?\n"
# §2.6: uncompressed pstore_blk dmesg starts with "%s: Total %d times\n".
_TOTAL = rb"([A-Za-z]{1,32}): Total (-?[0-9]{1,10}) times\r?\n"
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

# The highest part number a kernel can write.  Parts start at 1 (§2.3, §6.1); ramoops,
# pstore_blk and nvram keep only Part1 (§2.3, §3.3-3.5); EFI encodes the part in two
# decimal digits of the id (§1.4, §6.1), so it overflows past 99; an ERST part is one record
# of the firmware's error log, which holds kilobytes to a few MiB (§3.2, §4 "File sizes"),
# and a part holds at least one whole printk record (§2.3, §2.4).  The most parts seen from
# a real kernel were 43 (EFI, 1 KiB variables).  A header claiming more than this is not
# one a kernel wrote: the record is archived as it is, as a record without a header.
MAX_PART = 10_000

EFI_BACKENDS = frozenset({"efi", "efi_pstore"})
ERST_BACKEND = "erst"
MAX_ID = (1 << 64) - 1
MIN_ID = -(1 << 63)

# How much of a record's text is kept beside it for parsing: the header lines (§2.1, §2.6)
# are well under 128 bytes.
HEAD_BYTES = 4096
# §1.5 (cause 3), §2.3: the kernel decompresses a record into a buffer of at most 3 x its
# record buffer (>= 6.6; x100/45 before), and the stored record is no larger than that
# buffer.  Backend buffers are 1 KiB (EFI) to 64 KiB (pstore_blk) by default (§4 "File
# sizes"), so the decoded text of an `.enc.z` record is cut at 3 x max(record size, 1 MiB),
# generously above any of them, and never beyond 16 MiB, §4's safety limit for a record.
DECODE_FLOOR_BYTES = 1 << 20
DECODE_FACTOR = 3
DECODE_MAX_BYTES = 16 << 20


def decode_cap_bytes(size: int) -> int:
    """The most decoded text kept for an `.enc.z` record of `size` bytes (§1.5, §2.3, §4)."""
    return min(DECODE_FACTOR * max(size, DECODE_FLOOR_BYTES), DECODE_MAX_BYTES)


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
    match = re.fullmatch(_NAME, stem)
    if match and MIN_ID <= int(match.group(3)) <= MAX_ID:
        kind = "unknown" if match.group(1).startswith("type") else match.group(1)
        return RecordName(name, kind, match.group(2), int(match.group(3)), compressed)
    old = re.fullmatch(_OLD_NAME, stem)
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
    pstore_blk `Total` line) counts: a header inside the body is old log text (§8.16).
    A count outside a C int or a part outside 1..MAX_PART is no header (see MAX_PART)."""
    offset = 0
    total = None
    total_match = re.match(_TOTAL, text)
    if total_match:
        total = int(total_match.group(2))
        if not INT_MIN <= total <= INT_MAX:
            return None
        offset = total_match.end()
    match = re.compile(_HEADER).match(text, offset)
    if not match:
        return None
    count, part = int(match.group(2)), int(match.group(3))
    if not (INT_MIN <= count <= INT_MAX and 1 <= part <= MAX_PART):
        return None
    reason = match.group(1).decode("ascii")
    return DumpHeader(reason, count, part, match.end(), total)


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


class Decoding:
    """Decode an `.enc.z` record (§1.5) as its bytes stream past: zlib-wrapped and raw
    deflate side by side, each cut at the cap.  `result()` says which one yielded a dmesg
    header; the caller keeps the original bytes either way.  Trailing bytes after the
    stream (the ramoops ECC notice) are ignored."""

    _WBITS = (15, -15)  # zlib.MAX_WBITS: zlib-wrapped, raw deflate

    def __init__(self, cap_bytes: int) -> None:
        import zlib  # here: only a compressed record pays for loading it (0.3 ms)

        self.cap_bytes = cap_bytes
        self._decoders = {w: zlib.decompressobj(w) for w in self._WBITS}
        self._heads = {w: b"" for w in self._WBITS}
        self._sizes = {w: 0 for w in self._WBITS}
        self._cut: set[int] = set()

    def feed(self, chunk: bytes) -> None:
        import zlib

        for wbits, decoder in list(self._decoders.items()):
            data = chunk
            while data and wbits not in self._cut and not decoder.eof:
                left = self.cap_bytes - self._sizes[wbits]
                if left <= 0:
                    self._cut.add(wbits)  # the cap is reached: the rest is not decoded
                    break
                try:
                    text = decoder.decompress(data, min(left, DECODE_CHUNK))
                except zlib.error:
                    del self._decoders[wbits]
                    break
                self._sizes[wbits] += len(text)
                if len(self._heads[wbits]) < HEAD_BYTES:
                    self._heads[wbits] += text[: HEAD_BYTES - len(self._heads[wbits])]
                data = decoder.unconsumed_tail
                if not text and data:
                    break  # pragma: no cover - zlib always makes progress with room left
                if data and self._sizes[wbits] >= self.cap_bytes:
                    self._cut.add(wbits)

    def result(self) -> Decoded | None:
        for wbits in self._WBITS:
            if wbits in self._decoders and parse_dmesg_header(self._heads[wbits]) is not None:
                return Decoded(wbits, self._heads[wbits], wbits in self._cut)
        return None


class Decoded(NamedTuple):
    """How an `.enc.z` record decodes: its window bits, the start of the text, and
    whether the text was cut at the cap."""

    wbits: int
    head: bytes
    truncated: bool


def decode_chunks(chunks: Iterable[bytes], wbits: int, cap_bytes: int) -> Iterator[bytes]:
    """The decoded text of a record, in pieces of at most DECODE_CHUNK bytes, cut at
    `cap_bytes`; what `Decoding` found to work.  Stops quietly at an error, as the
    decoding that chose `wbits` saw none before the cap."""
    import zlib

    decoder = zlib.decompressobj(wbits)
    left = cap_bytes
    for chunk in chunks:
        data = chunk
        while data and left > 0 and not decoder.eof:
            try:
                text = decoder.decompress(data, min(left, DECODE_CHUNK))
            except zlib.error:
                return
            data = decoder.unconsumed_tail
            left -= len(text)
            if not text:
                break  # the input is used up (or zlib is stuck): the next chunk
            yield text
        if left <= 0 or decoder.eof:
            return


DECODE_CHUNK = 1 << 20


def decompress(data: bytes) -> bytes | None:
    """The decoded text of an `.enc.z` record's bytes (cut at the cap), or None when
    neither zlib-wrapped nor raw deflate yields a dmesg header (§1.5)."""
    decoding = Decoding(decode_cap_bytes(len(data)))
    decoding.feed(data)
    decoded = decoding.result()
    if decoded is None:
        return None
    return b"".join(decode_chunks([data], decoded.wbits, decoding.cap_bytes))


class Record(NamedTuple):
    """One file of a store, with what its name and content say.  Only small records
    carry their bytes (`data`); the others are streamed from where they are."""

    name: RecordName
    mtime_ns: int
    size: int  # bytes read, to EOF
    sha256: str
    header: DumpHeader | None
    head: bytes  # the start of the text: the bytes, or their decoding (HEAD_BYTES)
    decoding: int | None = None  # the window bits that decode an `.enc.z` record
    text_cap: int = 0  # where the decoded text is cut (decode_cap_bytes of the size)
    truncated: bool = False  # the decoded text reached text_cap: the rest is not decoded
    data: bytes | None = None  # the original bytes, when held in memory
    origin: str = ""  # where the record was found, relative to its source

    @property
    def decoded(self) -> bool:
        """The text comes from decompressing an `.enc.z` record."""
        return self.decoding is not None

    @property
    def text(self) -> bytes:
        """The decoded content of a record held in memory: data, or its decompression."""
        if self.data is None:
            raise ValueError(f"{self.name.name}: the bytes are not held in memory")
        if self.decoding is None:
            return self.data
        return b"".join(decode_chunks([self.data], self.decoding, self.text_cap))

    @property
    def body(self) -> bytes:
        """The text without the pstore header lines."""
        return self.text[self.header.body_offset :] if self.header else self.text


class RecordReader:
    """Takes a record's bytes as they are read and makes its `Record`: size, sha256, the
    start of its text and, for `.enc.z`, how it decodes; the bytes themselves are kept
    only while they stay within `hold_bytes`.  `size_hint` (the file's st_size) sets
    the cap of an `.enc.z` record's decoded text before its bytes are read."""

    def __init__(self, name: str, hold_bytes: int, size_hint: int) -> None:
        self.parsed = parse_record_name(name)
        self.hold_bytes = hold_bytes
        self.size = 0
        self._hash = sha256()
        self._head = b""
        self._held: list[bytes] | None = []
        self._decoding = None
        if self.parsed.compressed:
            self._decoding = Decoding(decode_cap_bytes(size_hint))

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        self._hash.update(chunk)
        if len(self._head) < HEAD_BYTES:
            self._head += chunk[: HEAD_BYTES - len(self._head)]
        if self._held is not None:
            if self.size <= self.hold_bytes:
                self._held.append(chunk)
            else:
                self._held = None
        if self._decoding is not None:
            self._decoding.feed(chunk)

    def finish(self, mtime_ns: int, origin: str = "") -> Record:
        decoding = self._decoding
        decoded = decoding.result() if decoding is not None else None
        head = decoded.head if decoded is not None else self._head
        header = parse_dmesg_header(head) if self.parsed.kind == "dmesg" else None
        return Record(
            name=self.parsed,
            mtime_ns=mtime_ns,
            size=self.size,
            sha256=self._hash.hexdigest(),
            header=header,
            head=head,
            decoding=decoded.wbits if decoded is not None else None,
            text_cap=decoding.cap_bytes if decoding is not None and decoded is not None else 0,
            truncated=decoded.truncated if decoded is not None else False,
            data=b"".join(self._held) if self._held is not None else None,
            origin=origin,
        )


def parse_record(name: str, data: bytes, mtime_ns: int, origin: str = "") -> Record:
    """The record of a file's whole content, held in memory."""
    reader = RecordReader(name, len(data), len(data))
    reader.feed(data)
    return reader.finish(mtime_ns, origin)
