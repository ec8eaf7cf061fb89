"""errors.ignoring: contextlib.suppress without contextlib, so it must behave the same."""

from __future__ import annotations

import pytest

from pstore_archiver.errors import ignoring


def test_ignoring_swallows_the_named_errors_and_their_subclasses() -> None:
    with ignoring(OSError):
        raise FileNotFoundError("gone")
    with ignoring(KeyError, OSError):
        raise PermissionError("no")


def test_ignoring_lets_other_errors_through() -> None:
    with pytest.raises(ValueError), ignoring(OSError):
        raise ValueError("not an OSError")


def test_ignoring_runs_the_body_when_nothing_is_raised() -> None:
    ran = []
    with ignoring(OSError):
        ran.append(1)
    assert ran == [1]
