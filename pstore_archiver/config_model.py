"""The pydantic models that validate /etc/pstore-archiver.toml (DESIGN §6).

Imported only when there is a configuration file to validate: pydantic is the
slowest import of the package, and the boot run usually has no file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from pstore_archiver.units import parse_duration, parse_size

Size = Annotated[int, BeforeValidator(parse_size)]
Duration = Annotated[int, BeforeValidator(parse_duration)]
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)


class Source(BaseModel):
    model_config = _STRICT
    path: str = "/sys/fs/pstore"


class ArchiveSection(BaseModel):
    model_config = _STRICT
    path: str = "/var/lib/pstore-archiver"
    unlink: bool = True


class Retention(BaseModel):
    model_config = _STRICT
    max_entries: int = Field(default=0, ge=0)
    max_use: Size = 256 << 20
    keep_free: Size = 0
    max_age: Duration = 0
    keep_newest: int = Field(default=5, ge=0)


# The newest end of a log attached to a journal message is held in memory while the log is
# written: at most this much (journald keeps far larger fields, but no crash log needs it).
MAX_ATTACH_BYTES = 16 << 20


class Journal(BaseModel):
    model_config = _STRICT
    enabled: bool = True
    text: Literal["full", "redacted", "none"] = "redacted"
    max_attach: Size = Field(default=4 << 10, le=MAX_ATTACH_BYTES)


class ConfigModel(BaseModel):
    model_config = _STRICT
    source: Source = Source()
    archive: ArchiveSection = ArchiveSection()
    retention: Retention = Retention()
    journal: Journal = Journal()


Problem = tuple[tuple[Union[int, str], ...], str, Any]


def validate(raw: dict[str, Any]) -> ConfigModel | list[Problem]:
    """The validated model, or every problem as (location, message, input)."""
    try:
        return ConfigModel.model_validate(raw)
    except ValidationError as e:
        return [(tuple(err["loc"]), err["msg"], err.get("input")) for err in e.errors()]
