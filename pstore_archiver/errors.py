"""The errors pstore-archiver reports to users; `cli.main` maps each to an exit code."""

from __future__ import annotations

import errno
import os


class ArchiverError(Exception):
    """A failure the user can act on: its text is one line naming the file, key or record."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:
        text = str(self.args[0])
        return f"{text} (hint: {self.hint})" if self.hint else text


class ConfigError(ArchiverError):
    """The configuration is invalid (exit 78)."""


class ArchiveUnwritable(ArchiverError):
    """The archive cannot be written: missing, read-only or full (exit 73)."""


class ArchiveUnreadable(ArchiverError):
    """The archive cannot be read by a query: not a directory, no permission (exit 1)."""


class LockHeld(ArchiverError):
    """Another run holds the archive lock (exit 75)."""


class StoreError(ArchiverError):
    """The source store cannot be read."""


class NothingFound(ArchiverError):
    """A query found nothing (exit 1)."""


class UsageError(ArchiverError):
    """The command line names something that does not exist or is ambiguous (exit 2)."""


def describe_os_error(error: OSError) -> str:
    """`No space left on device (ENOSPC)`: the text and the errno name, for one-line errors."""
    code = error.errno
    name = errno.errorcode.get(code, str(code)) if code is not None else "?"
    text = error.strerror or (os.strerror(code) if code is not None else str(error))
    return f"{text} ({name})"


class ignoring:
    """contextlib.suppress, without importing contextlib: about 0.6 ms of every start."""

    def __init__(self, *errors: type[BaseException]) -> None:
        self.errors = errors

    def __enter__(self) -> None:
        pass

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> bool:
        return kind is not None and issubclass(kind, self.errors)
