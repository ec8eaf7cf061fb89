"""json_lite gives what json gives, results and errors, without importing json."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest

from pstore_archiver import json_lite

NESTED = {
    "version": 1,
    "entries": {
        "20160818T021500Z-erst-oops1": {"manifest": {"records": [{"name": "dmesg-erst-1"}]}},
        "b": {"damaged": "entry.json: not a JSON document", "key": [1, 2, 3]},
    },
}
VALUES: list[Any] = [
    None, True, False, 0, -1, 2**64, 10**30, 1.5, -0.0, 1e300, 5e-324,
    float("nan"), float("inf"), float("-inf"),
    "", "plain", 'quote " and \\ backslash', "tab\tnew\nline\x00\x1f\x7f",
    "héllo wörld ✓ 😀", "\udcff\udc80 surrogate-escaped bytes", "\ud83d lone high",
    [], {}, [1, [2, [3, {}]]], (1, 2), {"a": None, "b": [True, 1.0]},
    {1: "int key", 2.5: "float key", False: "bool key", None: "null key"},
    NESTED,
]  # fmt: skip
TEXTS: list[bytes | str] = [
    b"{}", b" [1, 2] \n", b'{"a": {"b": [null, true, false, 1.5e3, -0]}}',
    json.dumps(NESTED).encode(), json.dumps(VALUES[:-2]).encode(),
    b"NaN", b"[Infinity, -Infinity]", b'"\\ud83d\\ude00 \\udcff"', b"\t\r\n 7 \t",
    "[1]", '"héllo"', "\ufeff[1]", '"héllo ✓ 😀"'.encode(),
    b"\xef\xbb\xbf[1]", "[1]".encode("utf-16"), "[1]".encode("utf-32"), b'"\xed\xb3\xbf"',
    b"", b" ", b"[1,]", b"{'a': 1}", b"[1] [2]", b"[1] x", b"nul", b'"\x01"', b'"abc',
    b"\xff\xfe\x00", b"01", b"-", b"1e", b'{"a" 1}', b"[" * 100_000, b"9" * 5000,
]  # fmt: skip


def outcome(call: Callable[[], Any]) -> tuple[str, str]:
    try:
        return "value", repr(call())
    except (TypeError, ValueError, RecursionError) as e:
        return type(e).__name__, str(e)


@pytest.mark.parametrize("text", TEXTS, ids=range(len(TEXTS)))
def test_loads_is_jsons(text: bytes | str) -> None:
    assert outcome(lambda: json_lite.loads(text)) == outcome(lambda: json.loads(text))


@pytest.mark.parametrize("text", [t for t in TEXTS if isinstance(t, bytes)])
def test_loads_utf8_says_which_texts_can_be_copied_into_another(text: bytes) -> None:
    """A text it calls plain UTF-8 reads back the same from inside a larger UTF-8 text."""
    assert outcome(lambda: json_lite.loads_utf8(text)[0]) == outcome(lambda: json.loads(text))
    if outcome(lambda: json.loads(text))[0] == "value" and json_lite.loads_utf8(text)[1]:
        assert repr(json.loads(b"[" + text + b"]")) == repr([json.loads(text)])


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ('{"a": "héllo"}'.encode(), True),
        ('{"a": "héllo"}'.encode("utf-8-sig"), False),
        ('{"a": 1}'.encode("utf-16"), False),
        ('{"a": 1}'.encode("utf-16-le"), False),  # no byte order mark: json still reads it
        ('{"a": 1}'.encode("utf-32-be"), False),
        (b'{"a": "\xed\xb3\xbf"}', False),  # a lone surrogate, as json reads it
    ],
)
def test_loads_utf8_tells_utf8_from_what_json_also_reads(text: bytes, plain: bool) -> None:
    assert json_lite.loads_utf8(text) == (json.loads(text), plain)


@pytest.mark.parametrize("value", VALUES, ids=range(len(VALUES)))
@pytest.mark.parametrize("ensure_ascii", [True, False])
@pytest.mark.parametrize("separators", [None, (",", ":")])
@pytest.mark.parametrize("indent", [None, 2])
def test_dumps_is_jsons(
    value: Any, ensure_ascii: bool, separators: tuple[str, str] | None, indent: int | None
) -> None:
    options: dict[str, Any] = {
        "ensure_ascii": ensure_ascii,
        "separators": separators,
        "indent": indent,
    }
    assert outcome(lambda: json_lite.dumps(value, **options)) == outcome(
        lambda: json.dumps(value, **options)
    )


def test_dumps_refuses_what_json_refuses() -> None:
    circular: list[Any] = []
    circular.append(circular)
    for value in (circular, {"a": object()}, {(1, 2): 3}, {1, 2}, b"bytes"):
        assert outcome(partial(json_lite.dumps, value)) == outcome(partial(json.dumps, value))


def test_without_the_c_accelerator_json_does_it_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(json_lite, "_json", None)
    monkeypatch.setattr(json_lite, "_scan", None)
    assert json_lite.loads(b'{"a": [1]}') == {"a": [1]}
    assert json_lite.dumps({"a": ["é"]}, ensure_ascii=False) == '{"a": ["é"]}'


def test_json_is_not_imported_for_what_json_lite_handles() -> None:
    code = (
        "import sys; from pstore_archiver import json_lite;"
        " json_lite.loads(json_lite.dumps({'a': [1, 'é', None]}).encode());"
        " json_lite.dumps('x'); print('json' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (result.stdout, result.stderr) == ("False\n", "")
