"""records.py: file names, headers, ids and compression (kernel-pstore-format.md §1, §2, §6)."""

from __future__ import annotations

import zlib

import pytest

from pstore_archiver.records import (
    decode_efi_id,
    decode_erst_id,
    decompress,
    parse_dmesg_header,
    parse_record,
    parse_record_name,
)


@pytest.mark.parametrize(
    "name, kind, backend, record_id, compressed",
    [
        ("dmesg-erst-6319986351055831041", "dmesg", "erst", 6319986351055831041, False),
        ("dmesg-efi-179572159001001", "dmesg", "efi", 179572159001001, False),
        ("dmesg-efi_pstore-179572159001001", "dmesg", "efi_pstore", 179572159001001, False),
        ("console-ramoops-0", "console", "ramoops", 0, False),
        ("pmsg-ramoops-0", "pmsg", "ramoops", 0, False),
        ("ftrace-ramoops-0", "ftrace", "ramoops", 0, False),
        ("dmesg-pstore_blk-3", "dmesg", "pstore_blk", 3, False),
        ("dmesg-pstore-blk-3", "dmesg", "pstore-blk", 3, False),  # the documented spelling
        ("mce-erst-7", "mce", "erst", 7, False),
        ("rtas-nvram-4", "rtas", "nvram", 4, False),
        ("powerpc-ofw-nvram-5", "powerpc-ofw", "nvram", 5, False),
        ("powerpc-common-nvram-6", "powerpc-common", "nvram", 6, False),
        ("powerpc-opal-nvram-8", "powerpc-opal", "nvram", 8, False),
        ("unknown-erst-12", "unknown", "erst", 12, False),
        ("type42-erst-12", "unknown", "erst", 12, False),
        ("dmesg-erst--8070450532247928831", "dmesg", "erst", -8070450532247928831, False),
        ("dmesg-efi-143994262108001.enc.z", "dmesg", "efi", 143994262108001, True),
        ("dmesg-ramoops-12345678901234567890", "dmesg", "ramoops", 12345678901234567890, False),
        ("console-ramoops", "console", "ramoops", None, False),  # 3.x names had no id
        ("something-else", "unknown", None, None, False),
        ("dmesg-erst", "unknown", None, None, False),
        ("", "unknown", None, None, False),
    ],
)
def test_parse_record_name(
    name: str, kind: str, backend: str | None, record_id: int | None, compressed: bool
) -> None:
    parsed = parse_record_name(name)
    assert (parsed.kind, parsed.backend, parsed.id, parsed.compressed) == (
        kind,
        backend,
        record_id,
        compressed,
    )
    assert parsed.name == name


@pytest.mark.parametrize(
    "text, expected",
    [
        (b"Panic#1 Part1\n<0>x\n", ("Panic", 1, 1, 14, None)),
        (b"Oops#12 Part15\nbody", ("Oops", 12, 15, 15, None)),
        (b"Shutdown#1 Part2\n", ("Shutdown", 1, 2, 17, None)),
        (b"Restart#-1 Part1\n", ("Restart", -1, 1, 17, None)),
        (b"Panic: Total 16 times\nPanic#1 Part1\nbody\n", ("Panic", 1, 1, 36, 16)),
        (b"Panic#1 Part1\r\nbody", ("Panic", 1, 1, 15, None)),
    ],
)
def test_parse_dmesg_header(text: bytes, expected: tuple[str, int, int, int, int | None]) -> None:
    header = parse_dmesg_header(text)
    assert header is not None
    assert (
        header.reason,
        header.oopscount,
        header.part,
        header.body_offset,
        header.total,
    ) == expected


@pytest.mark.parametrize(
    "text",
    [
        b"",
        b"<6>[    0.000000] Linux version\n",
        b"Panic#1 Part1",  # no newline: not a whole header line
        b"\nPanic#1 Part1\n",  # only the first line counts
        b"Panic#x Part1\n",
        b"\xff\xfe binary",
        b"Panic: Total 3 times\n<6> no header after it\n",
    ],
)
def test_no_dmesg_header(text: bytes) -> None:
    assert parse_dmesg_header(text) is None


@pytest.mark.parametrize(
    "record_id, timestamp, part, count",
    [
        (155741337601001, 1557413376, 1, 1),
        (155741337610001, 1557413376, 10, 1),
        (143994262108001, 1439942621, 8, 1),
        (179572190915001, 1795721909, 15, 1),
    ],
)
def test_decode_efi_id(record_id: int, timestamp: int, part: int, count: int) -> None:
    decoded = decode_efi_id(record_id)
    assert (decoded.timestamp, decoded.part, decoded.oopscount) == (timestamp, part, count)


@pytest.mark.parametrize(
    "record_id, seed, sequence",
    [
        (6992696633267847169, 1628114058, 1),
        (6319986351055831045, 1471486490, 5),
        (6953966727021461507, 1619096549, 3),
        (7712566249095430148, 1795721764, 4),  # the real ERST capture: seed = crash second
        ((1 << 63) | (2**31 << 24) | 7, 2**31, 7),  # y2038 encoding
    ],
)
def test_decode_erst_id(record_id: int, seed: int, sequence: int) -> None:
    decoded = decode_erst_id(record_id)
    assert (decoded.seed_seconds, decoded.sequence) == (seed, sequence)


def test_negative_erst_id_is_the_u64_printed_signed() -> None:
    unsigned = (1 << 63) | (2**31 << 24) | 7
    assert decode_erst_id(unsigned - (1 << 64)) == decode_erst_id(unsigned)


TEXT = b"Panic#1 Part1\n<0>[    1.000000] Kernel panic - not syncing: test\n"


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize(
    "data",
    [
        zlib.compress(TEXT),  # <= 4.16: zlib wrapper
        _raw_deflate(TEXT),  # crypto deflate and >= 6.6
        _raw_deflate(TEXT) + b"\nECC: No errors detected\n",  # ramoops ECC notice after it
    ],
)
def test_decompress(data: bytes) -> None:
    assert decompress(data) == TEXT


def test_decompress_window_12_with_wrapper() -> None:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 12, 4)  # the 4.x pstore zlib settings
    data = compressor.compress(TEXT) + compressor.flush()
    assert data[:2] == b"\x48\x89"
    assert decompress(data) == TEXT


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x78\x9c\x00", zlib.compress(b"no header\n")])
def test_decompress_gives_up_on_what_is_not_a_dump(data: bytes) -> None:
    assert decompress(data) is None


def test_parse_record_decodes_enc_z_and_keeps_the_original() -> None:
    data = _raw_deflate(TEXT)
    record = parse_record("dmesg-efi-155741337601001.enc.z", data, 5)
    assert record.data == data
    assert record.decoded and record.text == TEXT
    assert record.header is not None and record.header.reason == "Panic"
    assert record.body == TEXT[len("Panic#1 Part1\n") :]


def test_parse_record_keeps_undecodable_enc_z_as_it_is() -> None:
    record = parse_record("dmesg-efi-155741337601001.enc.z", b"\x01\x02", 5)
    assert not record.decoded and record.text == b"\x01\x02" and record.header is None


def test_header_is_only_read_for_dmesg_records() -> None:
    record = parse_record("console-ramoops-0", b"Panic#1 Part1\nconsole\n", 0)
    assert record.header is None and record.body == b"Panic#1 Part1\nconsole\n"
