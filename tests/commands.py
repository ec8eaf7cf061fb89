"""The one helper the tests run subprocesses through (STYLE 1.4): argv lists, a timeout
always, and on failure an error that names the command and shows what it printed."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence


class CommandError(RuntimeError):
    """A command could not run, timed out, or (with check) failed."""


def run_command(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    timeout: float,
    check: bool = True,
    env: Mapping[str, str] | None = None,
    error: type[CommandError] = CommandError,
) -> subprocess.CompletedProcess[str]:
    """Run argv with stdin from /dev/null, capturing text output.  A timeout, a failure to
    start, or (with check) a non-zero status raises `error`."""
    if isinstance(cmd, (str, bytes)):
        raise TypeError("cmd must be a sequence of arguments, not a string")
    argv = [os.fspath(c) for c in cmd]
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=None if env is None else dict(env),
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise error(
            f"{shlex.join(argv)} timed out after {timeout:g}s\n"
            f"stderr:\n{text_of(exc.stderr)}\nstdout:\n{text_of(exc.stdout)}"
        ) from exc
    except OSError as exc:
        raise error(f"cannot run {shlex.join(argv)}: {exc}") from exc
    if check and proc.returncode != 0:
        raise error(
            f"{shlex.join(argv)} exited with status {proc.returncode}\n"
            f"stderr:\n{proc.stderr}\nstdout:\n{proc.stdout}"
        )
    return proc


def text_of(data: object) -> str:
    """Captured output as text, whatever subprocess handed back (None, bytes, str)."""
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return str(data)
