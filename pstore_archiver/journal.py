"""Structured messages to journald (DESIGN §7), or to stderr when there is no journald.

Every fact is sent once, after the thing it describes is durable.  Field names live in
`Field`, message ids in `MessageId`; `units/pstore-archiver.catalog` explains each id.
"""

from __future__ import annotations

import os
import sys

from pstore_archiver.terminal import escape
from pstore_archiver.typing_lite import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Callable, NewType, TextIO

    from pstore_archiver.manifest import Manifest

    FieldName = NewType("FieldName", str)
    MessageIdHex = NewType("MessageIdHex", str)
    Fields = Mapping[FieldName, str]
else:
    FieldName = MessageIdHex = str

IDENTIFIER = "pstore-archiver"
JOURNAL_SOCKET = "/run/systemd/journal/socket"


# `MessageId` and `Field` hold plain strings, which mypy tells apart from any other string
# by their types; not enums, whose classes cost every start of `run` 0.7 ms.


class MessageId:
    dump_archived = MessageIdHex("c060af52e3f04cf3bfa23f0f29a38cb5")
    record_archived = MessageIdHex("b0aebd4f71ca4c539118ff413eb261df")
    run_summary = MessageIdHex("762ec154cf524fe1866dda6363ba036e")
    records_kept = MessageIdHex("7049c7b0a99a4102b66d9626ecbe0c0a")
    record_returned = MessageIdHex("b01d3d22e0e04838ab32249b70516a78")
    entry_removed = MessageIdHex("308fe928aeb845cea98d106fe29212ce")
    no_backend = MessageIdHex("d6cd2ca7c7284a5dad7fe0227e215e10")


class Field:
    entry = FieldName("PSTORE_ENTRY")
    kind = FieldName("PSTORE_KIND")
    backend = FieldName("PSTORE_BACKEND")
    reason = FieldName("PSTORE_REASON")
    oopscount = FieldName("PSTORE_COUNT")
    parts = FieldName("PSTORE_PARTS")
    missing_parts = FieldName("PSTORE_MISSING_PARTS")
    records = FieldName("PSTORE_RECORDS")
    archive_path = FieldName("PSTORE_ARCHIVE_PATH")
    crash_timestamp = FieldName("PSTORE_CRASH_TIMESTAMP")
    summary = FieldName("PSTORE_SUMMARY")
    function = FieldName("PSTORE_FUNCTION")
    frames = FieldName("PSTORE_FRAMES")
    process = FieldName("PSTORE_PROCESS")
    kernel_release = FieldName("PSTORE_KERNEL_RELEASE")
    signature = FieldName("PSTORE_SIGNATURE")
    signature_version = FieldName("PSTORE_SIGNATURE_VERSION")
    crash_id = FieldName("PSTORE_CRASH_ID")
    taint = FieldName("PSTORE_TAINT")
    os_release = FieldName("PSTORE_OS_RELEASE")
    imported_from = FieldName("PSTORE_IMPORTED_FROM")
    text = FieldName("PSTORE_TEXT")
    # run summary counters
    entries_created = FieldName("PSTORE_ENTRIES_CREATED")
    records_archived = FieldName("PSTORE_RECORDS_ARCHIVED")
    records_unlinked = FieldName("PSTORE_RECORDS_UNLINKED")
    records_left = FieldName("PSTORE_RECORDS_LEFT")
    bytes_freed = FieldName("PSTORE_BYTES_FREED")
    error = FieldName("PSTORE_ERROR")


def constants(namespace: type) -> dict[str, str]:
    """`MessageId`'s or `Field`'s constants by their names."""
    return {name: value for name, value in vars(namespace).items() if not name.startswith("_")}


if TYPE_CHECKING:
    SendV = Callable[..., None]


class Sink:
    """Where structured messages go: journald when its socket exists, else stderr."""

    def __init__(
        self,
        sendv: SendV | None = None,
        stream: TextIO | None = None,
        socket_path: str | None = None,
        use_journal: bool = True,
        text: str = "redacted",
        max_attach_bytes: int = 4 << 10,
    ) -> None:
        self._sendv = sendv
        self._stream = stream or sys.stderr
        self._socket_path = socket_path
        self.use_journal = use_journal
        self.text = text  # journal.text: "full", "redacted" or "none" (DESIGN §6)
        self.max_attach_bytes = max_attach_bytes
        self.sent: int = 0

    def send(self, message_id: MessageIdHex, priority: int, message: str, fields: Fields) -> None:
        lines = [
            f"MESSAGE={message}",
            f"MESSAGE_ID={message_id}",
            f"PRIORITY={priority}",
            f"SYSLOG_IDENTIFIER={IDENTIFIER}",
            *(f"{name}={value}" for name, value in fields.items()),
        ]
        sendv = (self._sendv or self._journal_sendv()) if self.use_journal else None
        if sendv is not None:
            try:
                sendv(*lines)
                self.sent += 1
                return
            except OSError as e:
                # A stale socket (journald stopped) refuses; the message still must go somewhere.
                self._write(
                    f"{IDENTIFIER}: journal unavailable ({e.strerror}); message follows on stderr\n"
                )
        self._write_stderr(message_id, priority, message, fields)
        self.sent += 1

    def attachment(
        self, log_tail: bytes, total_bytes: int, hostname: str | None = None
    ) -> bytes | None:
        """What an entry's message carries of its log (`PSTORE_TEXT`): at most
        `max_attach` bytes of UTF-8, its newest end, redacted unless `journal.text =
        "full"`; None for "none".  `log_tail` is the newest end of a log of `total_bytes`."""
        if self.text == "none":
            return None
        window = log_tail[-2 * self.max_attach_bytes :]  # redaction changes the length
        if len(window) == total_bytes:  # the whole log: a note would give its redacted length
            return cut_to_newest(self._shared_bytes(window, hostname), self.max_attach_bytes)
        text = self._shared_newest_lines(window, hostname) or self._shared_bytes(window, hostname)
        return cut_to_newest(text, self.max_attach_bytes, total_bytes)

    def _shared_newest_lines(self, window: bytes, hostname: str | None) -> bytes | None:
        """The shared text of the window's newest lines, some 5/4 of an attachment: enough
        when it is longer than one (cut_to_newest keeps less of it), else None.

        No redaction spans a line break (unless the host name has one), and none tells one
        from the start of the text, so this is the newest end of the window's shared text:
        the attachment is the same."""
        skip = len(window) - self.max_attach_bytes * 5 // 4
        start = window.find(b"\n", skip) + 1 if skip > 0 else 0
        if start == 0 or "\n" in (hostname or ""):
            return None
        text = self._shared_bytes(window[start:], hostname)
        return text if len(text) > self.max_attach_bytes else None

    def _shared_bytes(self, log: bytes, hostname: str | None) -> bytes:
        return self.shared_text(log.decode("utf-8", "replace"), hostname).encode()

    def shared_text(self, text: str, hostname: str | None) -> str:
        """Text that leaves the machine (the log, the summary), as `journal.text` says."""
        if self.text != "redacted":
            return text
        from pstore_archiver.redact import redact_text

        return redact_text(text, hostname)

    def _journal_sendv(self) -> SendV | None:
        # sd_journal_sendv() reports success when no journald listens (the message is
        # lost), so look for the socket first, as DESIGN §7 asks.
        if not os.path.exists(self._socket_path or JOURNAL_SOCKET):
            return None
        send = _import_sendv()

        def sendv(*lines: str) -> None:
            # bytes: a file name that is not UTF-8 goes to journald as the bytes it is
            send(*(line.encode("utf-8", "surrogateescape") for line in lines))

        return sendv

    def _write_stderr(
        self, message_id: MessageIdHex, priority: int, message: str, fields: Fields
    ) -> None:
        lines = [
            f"<{priority}>{IDENTIFIER}: {escape(message)}",
            f"    MESSAGE_ID={message_id}",
        ]
        lines.extend(
            f"    {name}={escape(value)}"
            for name, value in fields.items()
            if name != Field.text  # the log itself is in the archive; keep stderr readable
        )
        self._write("".join(line + "\n" for line in lines))

    def _write(self, text: str) -> None:
        try:
            self._stream.write(text)
            self._stream.flush()
        except (BrokenPipeError, ValueError):  # stderr closed or a broken pipe: nowhere left
            pass


def _import_sendv() -> Callable[..., None]:
    """python-systemd's sendv, from its C module: `systemd.journal` re-exports it, but
    importing that module also imports logging, uuid, traceback and the journal reader,
    which is most of the boot run's start-up time (bench/RESULTS.md)."""
    try:
        from systemd._journal import sendv
    except ImportError:  # pragma: no cover - a python-systemd that moved it
        from systemd.journal import sendv
    return sendv  # type: ignore[no-any-return]


def dump_priority(reason: str | None) -> int:
    """DESIGN §7: 2 for Panic, 3 for Oops/Emergency, 5 otherwise."""
    return {"Panic": 2, "Oops": 3, "Emergency": 3}.get(reason or "", 5)


def cut_to_newest(text: bytes, max_bytes: int, total_bytes: int | None = None) -> bytes:
    """The newest end of a log, whole lines, saying that it was cut: at most max_bytes in
    all, note included.  `text` may itself be the newest end of a log of `total_bytes`."""
    total = len(text) if total_bytes is None else total_bytes
    if total <= max_bytes and len(text) == total:
        return text
    room = max_bytes - len(_cut_note(max_bytes, total))  # the note with the most digits
    if room <= 0:
        return _from_a_character(text[max(0, len(text) - max_bytes) :])
    tail = text[max(0, len(text) - room) :]
    newline = tail.find(b"\n")
    if 0 <= newline < len(tail) - 1:
        tail = tail[newline + 1 :]
    return _cut_note(len(_from_a_character(tail)), total) + _from_a_character(tail)


def _cut_note(kept: int, total: int) -> bytes:
    return f"[pstore-archiver: cut to the newest {kept} of {total} bytes]\n".encode()


def _from_a_character(text: bytes) -> bytes:
    """text without the rest of a UTF-8 character cut at its start."""
    return text.lstrip(bytes(range(0x80, 0xC0)))


MAX_FRAMES = 16  # as ABRT's kernel-oops hash; the call trace's top


def entry_fields(
    manifest: Manifest, entry_path: str, frames: Sequence[str] = ()
) -> dict[FieldName, str]:
    parts = [r.part for r in manifest.records if r.part is not None]
    values: dict[FieldName, object] = {
        Field.entry: manifest.entry_id,
        Field.kind: manifest.kind,
        Field.backend: manifest.backend,
        Field.reason: manifest.reason,
        Field.oopscount: manifest.oopscount,
        Field.parts: len(parts) if parts else None,
        Field.missing_parts: _missing_text(manifest),
        Field.records: " ".join(r.name for r in manifest.records),
        Field.archive_path: entry_path,
        Field.crash_timestamp: manifest.crash_time_ns // 1000,
        Field.summary: manifest.summary,
        Field.function: manifest.function,
        Field.frames: " ".join(frames[:MAX_FRAMES]) or None,
        Field.process: manifest.process,
        Field.kernel_release: manifest.kernel_release,
        Field.signature: manifest.signature,
        Field.signature_version: _signature_version() if manifest.signature else None,
        Field.crash_id: manifest.crash_id,
        Field.taint: manifest.tainted,
        Field.os_release: manifest.os_release,
        Field.imported_from: manifest.imported_from,
    }
    return {name: str(value) for name, value in values.items() if value is not None}


def _shared_summary(sink: Sink, manifest: Manifest, fields: dict[FieldName, str]) -> str:
    """The summary as it may leave the machine (in PSTORE_SUMMARY and MESSAGE): redacted
    with the log, and with "none" neither it nor the process, only the signature, function
    and frames (as ABRT's uReport)."""
    if sink.text == "none":
        fields.pop(Field.summary, None)
        fields.pop(Field.process, None)
        return ""
    for name in (Field.summary, Field.process):
        if name in fields:
            fields[name] = sink.shared_text(fields[name], manifest.hostname)
    return fields.get(Field.summary, "")


def _signature_version() -> str:
    from pstore_archiver.analysis import SIGNATURE_VERSION  # imported only where a log was

    return SIGNATURE_VERSION


def _missing_text(manifest: Manifest) -> str | None:
    """`3 5`: the missing part numbers; a long list ends `... (N missing)`."""
    listed = [str(p) for p in manifest.missing_parts]
    if manifest.missing_count > len(listed):
        listed.append(f"... ({manifest.missing_count} missing)")
    return " ".join(listed) or None


def send_entry_archived(
    sink: Sink,
    manifest: Manifest,
    entry_path: str,
    text: bytes | None,
    frames: Sequence[str] = (),
) -> None:
    fields = entry_fields(manifest, entry_path, frames)
    summary = _shared_summary(sink, manifest, fields)
    if text is not None:
        fields[Field.text] = text.decode("utf-8", errors="replace")
    tail = f": {summary}" if summary else ""
    if manifest.imported_from:
        tail = f" (imported from {manifest.imported_from}){tail}"
    if manifest.reason is not None:
        what = f"Kernel {manifest.reason}#{manifest.oopscount} from {manifest.backend}"
        message = f"{what} archived as {manifest.entry_id}{tail}"
        sink.send(MessageId.dump_archived, dump_priority(manifest.reason), message, fields)
    else:
        what = f"{manifest.kind} record {fields[Field.records]}"
        message = f"{what} from {manifest.backend} archived as {manifest.entry_id}{tail}"
        sink.send(MessageId.record_archived, 6, message, fields)
