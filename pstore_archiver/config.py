"""Load /etc/pstore-archiver.toml and its drop-ins into a `Config` (DESIGN §6).

The files are merged key by key (later drop-ins win) and validated by the pydantic models
in `config_model`; the command-line overrides are applied after.  pydantic is the slowest
import of the package, so it is imported only when a file sets a key, and the validated
result is cached in $CACHE_DIRECTORY (systemd's CacheDirectory=) keyed by the files'
identity, so the boot run validates again only when a file changed.  Every problem names
the file and key.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

from pstore_archiver import __version__
from pstore_archiver.errors import ConfigError

DEFAULT_PATH = Path("/etc/pstore-archiver.toml")
ENVIRONMENT_VARIABLE = "PSTORE_ARCHIVER_CONFIG"
DEFAULT_ORIGIN = "(default)"

DEFAULTS: dict[str, dict[str, Any]] = {
    "source": {"path": "/sys/fs/pstore"},
    "archive": {"path": "/var/lib/pstore-archiver", "unlink": True},
    "retention": {"max_entries": 0, "max_use": 256 << 20, "keep_free": 1 << 30, "max_age": 0},
    "journal": {"enabled": True, "attach_text": True, "max_attach": 64 << 10},
}


class Config(NamedTuple):
    source_path: Path
    archive_path: Path
    unlink: bool
    max_entries: int
    max_use_bytes: int
    keep_free_bytes: int
    max_age_seconds: int
    journal_enabled: bool
    attach_text: bool
    max_attach_bytes: int
    origins: Mapping[str, str]  # "section.key" -> the file that set it

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {
            "source": {"path": str(self.source_path)},
            "archive": {"path": str(self.archive_path), "unlink": self.unlink},
            "retention": {
                "max_entries": self.max_entries,
                "max_use": self.max_use_bytes,
                "keep_free": self.keep_free_bytes,
                "max_age": self.max_age_seconds,
            },
            "journal": {
                "enabled": self.journal_enabled,
                "attach_text": self.attach_text,
                "max_attach": self.max_attach_bytes,
            },
        }


def config_from_dict(values: Mapping[str, Mapping[str, Any]], origins: Mapping[str, str]) -> Config:
    return Config(
        source_path=Path(values["source"]["path"]),
        archive_path=Path(values["archive"]["path"]),
        unlink=values["archive"]["unlink"],
        max_entries=values["retention"]["max_entries"],
        max_use_bytes=values["retention"]["max_use"],
        keep_free_bytes=values["retention"]["keep_free"],
        max_age_seconds=values["retention"]["max_age"],
        journal_enabled=values["journal"]["enabled"],
        attach_text=values["journal"]["attach_text"],
        max_attach_bytes=values["journal"]["max_attach"],
        origins=dict(origins),
    )


def main_config_path(explicit: Path | None, environ: Mapping[str, str]) -> Path:
    if explicit is not None:
        return explicit
    if environ.get(ENVIRONMENT_VARIABLE):
        return Path(environ[ENVIRONMENT_VARIABLE])
    return DEFAULT_PATH


def config_files(main: Path) -> list[Path]:
    """The main file (if it exists), then `<main>.d/*.toml` in lexical order."""
    files = [main] if main.exists() else []
    drop_in_dir = Path(f"{main}.d")
    if drop_in_dir.is_dir():
        files.extend(sorted(p for p in drop_in_dir.iterdir() if p.suffix == ".toml"))
    return files


def read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # imported here: only a run with a file needs it
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            document: dict[str, Any] = tomllib.load(f)
            return document
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e


def merge(layers: list[tuple[str, dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge (origin, document) layers key by key; return the raw dict and key origins."""
    raw: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for origin, document in layers:
        for section, keys in document.items():
            origins.setdefault(section, origin)
            if not isinstance(keys, dict):
                raw[section] = keys  # validation reports it, naming this origin
                origins[section] = origin
                continue
            target = raw.setdefault(section, {})
            if not isinstance(target, dict):
                target = raw[section] = {}
            for key, value in keys.items():
                target[key] = value
                origins[f"{section}.{key}"] = origin
    return raw, origins


def load_config(
    explicit: Path | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Config:
    """The effective configuration; raises ConfigError naming the file and key."""
    main = main_config_path(explicit, environ)
    if explicit is not None and not main.exists():
        raise ConfigError(f"{main}: no such configuration file")
    files = config_files(main)
    cache = ValidatedCache(environ.get("CACHE_DIRECTORY"), files)
    cached = cache.load()
    if cached is not None:
        values, origins = cached
    else:
        raw, origins = merge([(str(path), read_toml(path)) for path in files])
        values = _validate(raw, origins) if raw else DEFAULTS
        cache.store(values, origins)
    if overrides:  # paths from argparse: nothing for pydantic to check
        values = {
            section: {**keys, **overrides.get(section, {})} for section, keys in values.items()
        }
        origins.update(
            {f"{s}.{k}": "(command line)" for s, keys in overrides.items() for k in keys}
        )
    all_origins = {f"{s}.{k}": DEFAULT_ORIGIN for s, keys in DEFAULTS.items() for k in keys}
    all_origins.update((key, file) for key, file in origins.items() if "." in key)
    return config_from_dict(values, all_origins)


class ValidatedCache:
    """The validated values of a set of files, reused while none of them changed."""

    NAME = "config.json"

    def __init__(self, directory: str | None, files: list[Path]) -> None:
        self.path = Path(directory.split(":")[0]) / self.NAME if directory else None
        self.key = [_identity(path) for path in files]

    def load(self) -> tuple[dict[str, Any], dict[str, str]] | None:
        if self.path is None or not self.key:
            return None
        try:
            with open(self.path, encoding="utf-8") as f:
                document = json.load(f)
            if document["key"] == self.key and document["version"] == __version__:
                return document["values"], document["origins"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return None

    def store(self, values: Mapping[str, Any], origins: Mapping[str, str]) -> None:
        if self.path is None or not self.key:
            return
        document = {"version": __version__, "key": self.key, "values": values, "origins": origins}
        temporary = self.path.with_name(f"{self.NAME}.{os.getpid()}")
        try:
            temporary.write_text(json.dumps(document), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:  # only a cache: the next run validates again
            with contextlib.suppress(OSError):
                temporary.unlink()


def _identity(path: Path) -> list[Any]:
    info = path.stat()
    return [str(path), info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _validate(raw: dict[str, Any], origins: Mapping[str, str]) -> dict[str, Any]:
    from pstore_archiver import config_model  # pydantic: only when there is input

    result = config_model.validate(raw)
    if isinstance(result, list):
        raise ConfigError(
            "\n".join(_describe(loc, msg, value, origins) for loc, msg, value in result)
        )
    return result.model_dump()


def _describe(loc: tuple[Any, ...], msg: str, value: Any, origins: Mapping[str, str]) -> str:
    key = ".".join(str(part) for part in loc)
    origin = origins.get(key) or origins.get(str(loc[0]) if loc else "") or "(configuration)"
    if msg == "Extra inputs are not permitted":
        msg = "unknown key" if len(loc) > 1 else "unknown section"
        known = DEFAULTS.get(str(loc[0])) if len(loc) > 1 else DEFAULTS
        msg += f" (expected one of: {', '.join(known or {})})"
        return f"{origin}: {key}: {msg}"
    msg = msg.removeprefix("Value error, ")
    return f"{origin}: {key}: {msg} (got {value!r})"
