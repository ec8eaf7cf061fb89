"""analysis: the same results as the pre-optimisation reference (tests/reference_analysis.py).

Every field of the analysis is compared on every log under tests/data, on the logs of
tests/test_analysis.py, and on seeded random mutations of all of them: lines dropped,
duplicated, shuffled, joined, cut, given other prefixes or CRLF ends, crash lines put in.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import reference_analysis as reference
import test_analysis

from pstore_archiver import analysis

DATA = test_analysis.REAL.parent
PREFIXES = [
    "", "<4>", "<0>[    5.622639] ", "[    5.622639] ", "<6>[    1.000000][    T1] ",
    "<6>[12345.000001][   C12] ", "<4>[ 1.0]\t", "<12>  ", "[ 1.0][ T1]", "<4>[    5.6226391234] ",
    "<4>[    5.] ", "<4>[ T1] ", "<9999>", "[5.0]", "\t",
]  # fmt: skip
ODD_LINES = [
    "", " ", "\r", "\x85", "\u2028", "\u3000BUG: x", "\udcff", "x" * 1100 + " BUG: y",
    "<4>[" + " " * 1030 + "1.0] BUG: late", "\tWARNING: CPU: 0", "WARNING: a\nb:1 at f",
    "LABMARK Call Trace:", "Call Trace:  \r", "[Hardware Error]: x", "{12}[Hardware Error]: y",
    " ? f+0x1/0x2 (unreliable)", " f+0x1/0x2 [m 0123abcd]", " 0xffffffffc0a00000",
    " ffff: 0000", " </IRQ> </TASK>", "(f) from [<c0>] (g+0x1/0x2)", " .f.cold+0x1/0x2",
    " ..g+0x1/0x2", "  x from \t", " <TASK>\x85", " 0xffffffffc0a00000 \u3000",
]  # fmt: skip
MUTATIONS_PER_LOG = 12


def same(text: str) -> None:
    """Every field of both analyses."""
    ours, theirs = analysis.analyze_log(text), reference.analyze_log(text)
    assert ours._fields == theirs._fields
    assert tuple(ours) == tuple(theirs), text


def known_logs() -> dict[str, str]:
    """Every log under tests/data (real records raw, reassembled and concatenated, the
    hand-written ones) and the texts the tests of tests/test_analysis.py analyse."""
    logs: dict[str, str] = {}
    for path in sorted(DATA.glob("*/*/dmesg-*")) + sorted(DATA.glob("oops/*.txt")):
        logs[str(path.relative_to(DATA))] = path.read_text(encoding="utf-8", errors="replace")
    for case in sorted(path.name for path in test_analysis.REAL.iterdir() if path.is_dir()):
        parts = sorted((test_analysis.REAL / case).glob("dmesg-*"))
        logs[f"real/{case} concatenated"] = "".join(
            part.read_text(encoding="utf-8", errors="replace") for part in parts
        )
        for dump, text in test_analysis.reassemble(case).items():
            logs[f"real/{case}/{dump}"] = text
    for index, text in enumerate(texts_of_the_tests()):
        logs[f"test_analysis text {index}"] = text
    return logs


def texts_of_the_tests() -> Iterator[str]:
    """The texts of tests/test_analysis.py's parametrized and hypothesis-fed tests."""
    for test in vars(test_analysis).values():
        for mark in getattr(test, "pytestmark", []):
            if mark.name == "parametrize":
                for values in mark.args[1]:
                    yield from texts_in(values)
    yield test_analysis.OOPS_THEN
    yield "Kernel panic - not syncing: \x00\r\n\x85\u2028Call Trace:\n ? \n"  # their examples
    yield "CPU: 0 PID: 99999999999 Comm: a Not tainted 1\nBUG: x"
    yield "\n".join(test_analysis.FRAGMENTS)
    yield "\n".join(f"<4>[{i:5d}.{i:06d}] {x}" for i, x in enumerate(test_analysis.FRAGMENTS))
    yield from test_analysis.SHAPES.values()
    yield "BUG: start\nCall Trace:\n" + "".join(unit * 50 for unit in test_analysis.SHAPES.values())


def texts_in(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
        yield f"<4>[    1.000000] {value}\n"
    elif isinstance(value, list) and all(isinstance(x, str) for x in value):
        yield "\n".join(["<1>[ 1.0] BUG: a", "<4>[ 1.0] Call Trace:", *value])
        yield "\n".join(
            ["<1>[ 1.0] BUG: a", "<4>[ 1.0] Call Trace:"] + [f"<4>[ 1.0] {x}" for x in value]
        )
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from texts_in(item)


LOGS = known_logs()


def reprefix(line: str, rng: random.Random) -> str:
    return rng.choice(PREFIXES) + analysis.strip_prefix(line)


def mutate(lines: list[str], rng: random.Random) -> list[str]:
    """One random change to a run of a log's lines, or a cut."""
    if not lines:
        return [rng.choice(ODD_LINES)]
    i = rng.randrange(len(lines))
    j = min(len(lines), i + rng.randint(1, 8))
    run = lines[i:j]
    put_in = rng.choice(PREFIXES) + rng.choice([*test_analysis.FRAGMENTS, *ODD_LINES])
    changed = [
        [],  # dropped
        run + run,  # duplicated
        rng.sample(run, len(run)),  # shuffled
        ["".join(run)],  # joined into one line
        [reprefix(line, rng) for line in run],
        [line + "\r" for line in run],  # CRLF
        [put_in, *run],
    ]
    cut = [lines[i:], [*lines[:i], lines[i][: rng.randrange(len(lines[i]) + 1)]]]
    if rng.random() < 0.2:
        return rng.choice(cut)  # the head cut off, or the tail mid-line
    return [*lines[:i], *rng.choice(changed), *lines[j:]]


@pytest.mark.parametrize("name", sorted(LOGS))
def test_known_logs_and_their_mutations(name: str) -> None:
    rng = random.Random(name)
    for text in (LOGS[name], test_analysis.perturb(LOGS[name])):
        same(text)
        same(text.replace("\n", "\r\n"))
        for _ in range(MUTATIONS_PER_LOG):
            lines = text.split("\n")
            for _ in range(rng.randint(1, 3)):
                lines = mutate(lines, rng)
            same("\n".join(lines))


def test_strip_prefix() -> None:
    odd = [prefix + line for prefix in PREFIXES for line in ODD_LINES]
    for line in [*(x for text in LOGS.values() for x in text.split("\n")), *odd]:
        assert analysis.strip_prefix(line) == reference.strip_prefix(line), line


def test_entries() -> None:
    """analyze_entry: kinds, bytes that are not UTF-8, and the cut to ANALYSIS_BYTES."""
    big = ("<4>[ 1.0] " + "x" * 1000 + "\n").encode() * 1100
    for kind in ("dmesg", "console", "pmsg"):
        for data in (
            None,
            b"",
            b"BUG: \xff\xfe x\n",
            LOGS["oops/x86_64-warning.txt"].encode(),
            big,
        ):
            ours, theirs = analysis.analyze_entry(kind, data), reference.analyze_entry(kind, data)
            assert (ours, None if ours is None else ours._fields) == (
                theirs,
                None if theirs is None else theirs._fields,
            )
