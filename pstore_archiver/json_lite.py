"""Pure: `json.loads` and `json.dumps` without importing `json` at run time.

Importing `json` costs every run about 1.9 ms: its decoder and encoder compile six regular
expressions that only their pure-Python fallbacks use.  What `json.loads` and `json.dumps`
run is CPython's C scanner and encoder, in `_json`; here they are called with the settings
json's defaults give them.  Whatever they refuse, an error above all, is handed to `json`
itself, so every result and every error is json's own.
"""

from __future__ import annotations

from pstore_archiver.typing_lite import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

try:
    import _json
except ImportError:  # pragma: no cover - an interpreter without the C accelerator
    _json = None  # type: ignore[assignment]

# What the JSON grammar takes as white space around a value (json.decoder.WHITESPACE).
_SPACE = " \t\n\r"
_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": -float("inf")}


class _DecoderDefaults:
    """The attributes `_json.make_scanner` reads from a `json.JSONDecoder()`."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


# (typeshed types the argument as a scanner; json.JSONDecoder passes itself)
_scan = None if _json is None else _json.make_scanner(_DecoderDefaults())  # type: ignore[arg-type]


def loads(document: bytes | str) -> Any:
    """`json.loads(document)`."""
    return _decode(document)[0]


def loads_utf8(document: bytes) -> tuple[Any, bool]:
    """`json.loads(document)`, and whether the document is JSON text in UTF-8 as it is,
    which can be copied into another UTF-8 JSON text (json also reads UTF-16 and UTF-32,
    and UTF-8 after a byte order mark)."""
    return _decode(document)


def _decode(document: bytes | str) -> tuple[Any, bool]:
    """The value, and whether the C scanner read it as UTF-8 text as it is; anything else
    goes to json, which decodes UTF-16 and lone surrogates, and says what is wrong."""
    if _scan is not None:
        try:
            text = document.decode() if isinstance(document, bytes) else document
            value, end = _scan(text, len(text) - len(text.lstrip(_SPACE)))
            if not text[end:].strip(_SPACE):
                return value, True
        except (UnicodeDecodeError, StopIteration, ValueError, RecursionError):
            pass
    import json

    return json.loads(document), False


def dumps(
    value: Any,
    ensure_ascii: bool = True,
    separators: tuple[str, str] | None = None,
    indent: int | None = None,
) -> str:
    """`json.dumps(value, ensure_ascii=..., separators=..., indent=...)`."""
    if _json is None or indent is not None:  # the C encoder writes no indentation
        import json

        return json.dumps(value, ensure_ascii=ensure_ascii, separators=separators, indent=indent)
    quote = _json.encode_basestring_ascii if ensure_ascii else _json.encode_basestring
    if isinstance(value, str):
        return quote(value)
    item_separator, key_separator = separators or (", ", ": ")
    encode = _json.make_encoder(
        {}, _unserializable, quote, None, key_separator, item_separator, False, False, True
    )
    return "".join(encode(value, 0))


def _unserializable(value: object) -> None:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
