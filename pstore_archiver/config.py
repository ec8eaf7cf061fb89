"""Load /etc/pstore-archiver.toml and its drop-ins into a `Config` (DESIGN §6).

The files are merged key by key (later drop-ins win) and validated by the pydantic models
in `config_model`; the command-line overrides are applied after.  pydantic is the slowest
import of the package, so it is imported only when a file sets a key, and the validated
result is cached in $CACHE_DIRECTORY (systemd's CacheDirectory=) keyed by the files'
identity, so the boot run validates again only when a file changed.  Every problem names
the file and key.

The paths are checked whatever set them (a file, --source/--archive): neither may be
empty or hold a NUL byte, and the store and the archive may not be the same directory or
one inside the other (after resolving the symbolic links that exist), since a run would
then archive, and unlink, its own files.
"""

from __future__ import annotations

import os
import stat
import sys

from pstore_archiver import __version__, json_lite
from pstore_archiver.errors import ConfigError, describe_os_error, ignoring
from pstore_archiver.typing_lite import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

DEFAULT_PATH = "/etc/pstore-archiver.toml"
ENVIRONMENT_VARIABLE = "PSTORE_ARCHIVER_CONFIG"
DEFAULT_ORIGIN = "(default)"

# The newest end of a log attached to a journal message is held in memory while the log is
# written: at most this much (journald keeps far larger fields, but no crash log needs it).
MAX_ATTACH_BYTES = 16 << 20


class Setting(NamedTuple):
    """One key of the configuration: where it is, its default (as validated: bytes,
    seconds), how its value is read, the `Config` attribute it becomes, what it does.
    The pydantic models (config_model), DEFAULTS, Config, as_dict and config_from_dict
    follow from these rows; tests hold the shipped file and pstore-archiver.toml(5) to them."""

    section: str
    key: str
    default: Any
    kind: str  # "path", "flag", "count" (>= 0), "size" ("256M"), "duration" ("90d"), "choice"
    attribute: str
    help: str
    choices: tuple[str, ...] = ()
    maximum: int | None = None


SETTINGS = (
    Setting("source", "path", "/sys/fs/pstore", "path", "source_path", "the pstore file system"),
    Setting("archive", "path", "/var/lib/pstore-archiver", "path", "archive_path", "the archive"),
    Setting("archive", "unlink", True, "flag", "unlink", "free the store once archived"),
    Setting("retention", "max_entries", 0, "count", "max_entries", "entries kept at most"),
    Setting("retention", "max_use", 256 << 20, "size", "max_use_bytes", "bytes used at most"),
    Setting("retention", "keep_free", 0, "size", "keep_free_bytes", "free space to leave"),
    Setting("retention", "max_age", 0, "duration", "max_age_seconds", "age kept at most"),
    Setting("retention", "keep_newest", 5, "count", "keep_newest", "entries never removed"),
    Setting("journal", "enabled", True, "flag", "journal_enabled", "send to journald"),
    Setting(
        "journal",
        "text",
        "redacted",
        "choice",
        "journal_text",
        "the log in an entry's message",
        choices=("full", "redacted", "none"),
    ),
    Setting(
        "journal",
        "max_attach",
        4 << 10,
        "size",
        "max_attach_bytes",
        "the most of the log a message carries",
        maximum=MAX_ATTACH_BYTES,
    ),
)


def _defaults() -> dict[str, dict[str, Any]]:
    defaults: dict[str, dict[str, Any]] = {}
    for setting in SETTINGS:
        defaults.setdefault(setting.section, {})[setting.key] = setting.default
    return defaults


DEFAULTS = _defaults()


class Config(NamedTuple):
    """The effective configuration: one attribute per row of SETTINGS, and origins."""

    source_path: str
    archive_path: str
    unlink: bool
    max_entries: int
    max_use_bytes: int
    keep_free_bytes: int
    max_age_seconds: int
    keep_newest: int
    journal_enabled: bool
    journal_text: str  # "full", "redacted" or "none": the log in an entry's message
    max_attach_bytes: int
    origins: Mapping[str, str]  # "section.key" -> the file that set it

    def as_dict(self) -> dict[str, dict[str, Any]]:
        values: dict[str, dict[str, Any]] = {}
        for setting in SETTINGS:
            value = getattr(self, setting.attribute)
            section = values.setdefault(setting.section, {})
            section[setting.key] = str(value) if setting.kind == "path" else value
        return values


def config_from_dict(values: Mapping[str, Mapping[str, Any]], origins: Mapping[str, str]) -> Config:
    attributes = {setting.attribute: values[setting.section][setting.key] for setting in SETTINGS}
    return Config(**attributes, origins=dict(origins))


def main_config_path(explicit: str | None, environ: Mapping[str, str]) -> tuple[str, bool]:
    """The main file, and whether it was named (--config, $PSTORE_ARCHIVER_CONFIG): a
    named file must exist; the default one may not."""
    if explicit is not None:
        return explicit, True
    if environ.get(ENVIRONMENT_VARIABLE):
        return environ[ENVIRONMENT_VARIABLE], True
    return DEFAULT_PATH, False


def config_files(main: str) -> list[str]:
    """The main file (if it exists), then `<main>.d/*.toml` in lexical order (a link
    that leads nowhere is listed, and reported when it is read)."""
    files = [main] if os.path.lexists(main) else []
    drop_in_dir = f"{main}.d"
    try:
        names = sorted(os.listdir(drop_in_dir)) if os.path.isdir(drop_in_dir) else []
    except OSError as e:
        raise ConfigError(f"{drop_in_dir}: cannot list: {describe_os_error(e)}") from e
    files.extend(os.path.join(drop_in_dir, name) for name in names if name.endswith(".toml"))
    return files


# A configuration file is a few KiB.
MAX_FILE_BYTES = 1 << 20


def read_toml(path: str) -> dict[str, Any]:
    try:
        # O_NONBLOCK: a FIFO named as the configuration must not hang the boot
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ConfigError(f"{path}: not a regular file")
            data = os.read(fd, MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {describe_os_error(e)}") from e
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes: not a configuration")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}): TOML is UTF-8") from e
    sections = bare_sections(text)
    if sections is not None:
        return sections  # no key to read, and no TOML parser to import
    if sys.version_info >= (3, 11):  # imported here: only a run with a file needs it
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: {e}") from e
    except (ValueError, RecursionError) as e:  # e.g. a number too long for int()
        raise ConfigError(f"{path}: invalid TOML: {e}") from e
    return document


def bare_sections(text: str) -> dict[str, Any] | None:
    """The shipped file, every key commented out: comments, blank lines and `[section]`
    headers (each once, bare names), read as {section: {}}; None when there is anything
    else, for the TOML parser to read."""
    sections: dict[str, Any] = {}
    for line in text.splitlines():
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        if not (content.startswith("[") and content.endswith("]")):
            return None
        name = content[1:-1].strip()
        bare = name.replace("_", "").replace("-", "")
        if not (bare.isascii() and bare.isalnum()) or name in sections:
            return None
        sections[name] = {}
    return sections


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
    explicit: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Config:
    """The effective configuration; raises ConfigError naming the file and key."""
    main, named = main_config_path(None if explicit is None else os.fspath(explicit), environ)
    if "\0" in str(main):
        raise ConfigError(f"{str(main)!r}: a configuration file name cannot hold a NUL byte")
    if named and not os.path.lexists(main):
        how = "--config" if explicit is not None else f"${ENVIRONMENT_VARIABLE}"
        raise ConfigError(f"{main}: no such configuration file (named by {how})")
    files = config_files(main)
    cache = ValidatedCache(environ.get("CACHE_DIRECTORY"), files)
    cached = cache.load()
    config = None
    if cached is not None:
        values, origins = cached
        config = _config_or_none(values, origins, overrides)
    if config is None:
        raw, origins = merge([(str(path), read_toml(path)) for path in files])
        values = _validate(raw, origins) if _sets_a_key(raw) else DEFAULTS
        cache.store(values, origins)
        config = _config_or_none(values, origins, overrides)
        assert config is not None, "validated values make a configuration"
    check_paths(config)
    return config


def _config_or_none(
    values: Mapping[str, Mapping[str, Any]],
    origins: dict[str, str],
    overrides: Mapping[str, Mapping[str, Any]] | None,
) -> Config | None:
    """The configuration of validated (or cached) values with the command line's paths
    over them; None when cached values do not make one (a damaged cache)."""
    origins = dict(origins)
    if overrides:  # paths from argparse: nothing for pydantic to check
        values = {
            section: {**keys, **overrides.get(section, {})} for section, keys in values.items()
        }
        origins.update(
            {f"{s}.{k}": "(command line)" for s, keys in overrides.items() for k in keys}
        )
    all_origins = {f"{s}.{k}": DEFAULT_ORIGIN for s, keys in DEFAULTS.items() for k in keys}
    all_origins.update((key, str(file)) for key, file in origins.items() if "." in key)
    for section in ("source", "archive"):  # "" would be the working directory
        raw = values.get(section, {}).get("path")
        where = all_origins[f"{section}.path"]
        if raw == "":
            raise ConfigError(f"{where}: {section}.path is empty: expected a directory")
        if isinstance(raw, str) and "\0" in raw:
            raise ConfigError(f"{where}: {section}.path = {raw!r}: a path cannot hold a NUL byte")
    try:
        config = config_from_dict(values, all_origins)
    except (KeyError, TypeError, ValueError):
        return None
    if not all(isinstance(p, str) for p in (values["source"]["path"], values["archive"]["path"])):
        return None
    return config


def source_is_default(config: Config) -> bool:
    """The store is the default /sys/fs/pstore (missing there means no pstore: a notice)."""
    return config.source_path == str(DEFAULTS["source"]["path"])


def check_paths(config: Config) -> None:
    """Empty, NUL-holding, equal or nested store and archive paths (either way round,
    after resolving the symbolic links that exist) are configuration errors."""
    source, archive = config.source_path, config.archive_path
    check_distinct(
        f"source.path = {source!r} ({_from(config, 'source.path')})",
        source,
        f"archive.path = {archive!r} ({_from(config, 'archive.path')})",
        archive,
    )


def _from(config: Config, key: str) -> str:
    """Where a key was set, for a message: `command line`, `default`, `from FILE`."""
    origin = config.origins.get(key, DEFAULT_ORIGIN)
    return origin[1:-1] if origin.startswith("(") else f"from {origin}"


def check_distinct(what: str, path: str, other_what: str, other: str) -> None:
    """Two directories that must be neither the same nor one inside the other."""
    first, second = os.path.realpath(path), os.path.realpath(other)
    if first == second:
        raise ConfigError(f"{what} and {other_what} are the same directory ({first})")
    if os.path.commonpath([first, second]) == first:
        raise ConfigError(f"{other_what} is inside {what}")
    if os.path.commonpath([first, second]) == second:
        raise ConfigError(f"{what} is inside {other_what}")


class ValidatedCache:
    """The validated values of a set of files, reused while none of them changed."""

    NAME = "config.json"

    def __init__(self, directory: str | None, files: list[str]) -> None:
        self.path = os.path.join(directory.split(":")[0], self.NAME) if directory else None
        try:
            self.key = [_identity(path) for path in files]
        except OSError:  # a file that cannot be read: reading it reports why
            self.path = None
            self.key = []

    def load(self) -> tuple[dict[str, Any], dict[str, str]] | None:
        if self.path is None or not self.key:
            return None
        try:
            with open(self.path, "rb") as f:
                document = json_lite.loads(f.read())
            if document["key"] == self.key and document["version"] == __version__:
                values, origins = document["values"], document["origins"]
                if isinstance(values, dict) and isinstance(origins, dict):
                    return values, origins
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            pass
        return None

    def store(self, values: Mapping[str, Any], origins: Mapping[str, str]) -> None:
        if self.path is None or not self.key:
            return
        document = {"version": __version__, "key": self.key, "values": values, "origins": origins}
        # the program's own kind of temporary name: its prefix and 128 random bits
        name = f".pstore-archiver-tmp-{os.urandom(16).hex()}"
        temporary = os.path.join(os.path.dirname(self.path), name)
        try:
            with open(temporary, "w", encoding="utf-8") as f:
                f.write(json_lite.dumps(document))
            os.replace(temporary, self.path)
        except OSError:  # only a cache: the next run validates again
            with ignoring(OSError):
                os.unlink(temporary)


def _identity(path: str) -> list[Any]:
    info = os.stat(path)
    return [path, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]


def _sets_a_key(raw: Mapping[str, Any]) -> bool:
    """False when the files hold only known, empty sections (the shipped file, every key
    commented out): the defaults need no validation, and pydantic no import."""
    return any(section not in DEFAULTS or value != {} for section, value in raw.items())


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
