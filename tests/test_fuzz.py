"""Property tests: the parsers and the grouping survive anything a store can hold.

Every counterexample hypothesis ever finds is kept as an @example (STYLE 6.3).
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from stores import efi_id, erst_id

from pstore_archiver.dumps import GAP_LINES, group, render_dmesg
from pstore_archiver.records import (
    MAX_PART,
    decode_efi_id,
    decode_erst_id,
    decompress,
    parse_dmesg_header,
    parse_record,
    parse_record_name,
)

TYPES = ["dmesg", "console", "pmsg", "ftrace", "mce", "rtas", "powerpc-ofw", "unknown", "type9"]
BACKENDS = ["erst", "efi", "efi_pstore", "ramoops", "pstore_blk", "pstore-blk", "nvram", "x-y_z"]
REASONS = ["Panic", "Oops", "Emergency", "Shutdown", "Restart", "Halt", "Poweroff", "Unknown"]

names = st.one_of(
    st.text(max_size=70),
    st.builds(
        lambda t, b, i, z: f"{t}-{b}-{i}{'.enc.z' if z else ''}",
        st.sampled_from(TYPES),
        st.sampled_from(BACKENDS),
        st.integers(-(2**63), 2**64 - 1),
        st.booleans(),
    ),
)


@given(names)
@example("dmesg--1")
@example("dmesg-erst--")
@example(".enc.z")
def test_any_name_parses_and_round_trips(name: str) -> None:
    parsed = parse_record_name(name)
    assert parsed.name == name
    if parsed.backend is not None and parsed.id is not None:
        suffix = ".enc.z" if parsed.compressed else ""
        assert name.endswith(f"-{parsed.id}{suffix}")


@given(st.binary(max_size=300))
@example(b"Panic#1 Part1\n")
@example(b"A: Total 1 times\nB#2 Part3\n")
def test_any_bytes_parse_as_a_header_or_none(data: bytes) -> None:
    header = parse_dmesg_header(data)
    if header is not None:
        assert 0 < header.body_offset <= len(data)
        assert data[header.body_offset - 1 : header.body_offset] == b"\n"


@given(st.sampled_from(REASONS), st.integers(-(2**31), 2**31 - 1), st.integers(1, MAX_PART))
def test_header_grammar_round_trips(reason: str, count: int, part: int) -> None:
    text = f"{reason}#{count} Part{part}\n".encode()
    header = parse_dmesg_header(text + b"body")
    assert header is not None
    assert (header.reason, header.oopscount, header.part, header.body_offset) == (
        reason,
        count,
        part,
        len(text),
    )


@given(st.integers(0, 2**40), st.integers(1, 99), st.integers(0, 999))
def test_efi_ids_round_trip(timestamp: int, part: int, count: int) -> None:
    decoded = decode_efi_id(efi_id(timestamp, part, count))
    assert (decoded.timestamp, decoded.part, decoded.oopscount) == (timestamp, part, count)


@given(st.integers(0, 2**31 - 1), st.integers(0, 2**32 - 1))
def test_erst_ids_round_trip(seed: int, sequence: int) -> None:
    decoded = decode_erst_id(erst_id(seed, sequence))
    assert (decoded.seed_seconds, decoded.sequence) == (seed, sequence)


@given(st.binary(max_size=2000))
def test_decompress_never_raises(data: bytes) -> None:
    result = decompress(data)
    assert result is None or parse_dmesg_header(result) is not None


@st.composite
def stores(draw: st.DrawFn) -> list[tuple[str, bytes, int]]:
    """Random stores: dumps of random backends cut into random subsets of their parts,
    several boots, other records, garbage, empty and huge records."""
    records: dict[str, tuple[str, bytes, int]] = {}
    for _ in range(draw(st.integers(0, 6))):
        backend = draw(st.sampled_from(["erst", "efi", "efi_pstore", "ramoops", "pstore_blk"]))
        reason, count = draw(st.sampled_from(REASONS)), draw(st.integers(1, 3))
        parts = draw(st.integers(1, 12))
        kept = draw(st.lists(st.integers(1, parts), unique=True, min_size=1))
        seconds = draw(st.integers(1_600_000_000, 1_800_000_000))
        for part in kept:
            body = draw(st.binary(max_size=40)) + b"\n"
            data = f"{reason}#{count} Part{part}\n".encode() + body
            if backend == "erst":
                name = f"dmesg-erst-{erst_id(seconds, part)}"
            elif backend.startswith("efi"):
                name = f"dmesg-{backend}-{efi_id(seconds + part // 5, part, count)}"
            else:
                name = f"dmesg-{backend}-{draw(st.integers(0, 20))}"
            records[name] = (name, data, seconds * 10**9)
    for _ in range(draw(st.integers(0, 4))):
        name = draw(names)
        if name and "/" not in name and name not in (".", ".."):
            size = draw(st.sampled_from([0, 1, 100, 70_000]))
            records[name] = (
                name,
                draw(st.binary(min_size=min(size, 50), max_size=50)) * max(1, size // 50),
                0,
            )
    return list(records.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stores(), st.randoms(use_true_random=False))
def test_grouping_keeps_every_record_once_in_any_listing_order(
    store: list[tuple[str, bytes, int]], rnd: random.Random
) -> None:
    records = [parse_record(name, data, mtime) for name, data, mtime in store]
    entries = group(records)
    assert sorted(r.name.name for e in entries for r in e.records) == sorted(n for n, _, _ in store)
    shuffled = list(records)
    rnd.shuffle(shuffled)
    assert group(shuffled) == entries
    for entry in entries:
        text = render_dmesg(entry) if entry.is_dump else b""
        assert entry.base_id and "/" not in entry.base_id
        if entry.is_dump:
            parts = [r.header.part for r in entry.records if r.header]
            assert parts == sorted(parts, reverse=True) and len(set(parts)) == len(parts)
            markers = text.count(b"[pstore-archiver: Part")
            gaps = [
                high - low - 1 for high, low in zip([*parts], [*parts[1:], 0]) if high - low - 1 > 0
            ]
            lines = sum(g if g <= GAP_LINES else 1 for g in gaps)
            assert markers >= lines  # bodies may hold marker-like text
            assert set(entry.missing_parts) == set(range(1, max(parts))) - set(parts)
