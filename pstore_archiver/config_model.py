"""The pydantic models that validate /etc/pstore-archiver.toml (DESIGN §6), one field per
row of `config.SETTINGS`.

Imported only when there is a configuration file to validate: pydantic is the
slowest import of the package, and the boot run usually has no file.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from pstore_archiver.config import SETTINGS, Setting
from pstore_archiver.units import parse_duration, parse_size

Size = Annotated[int, BeforeValidator(parse_size)]
Duration = Annotated[int, BeforeValidator(parse_duration)]
_STRICT = ConfigDict(extra="forbid", frozen=True, strict=True)
_TYPES: dict[str, Any] = {
    "path": str,
    "flag": bool,
    "count": int,
    "size": Size,
    "duration": Duration,
}


def _field(setting: Setting) -> tuple[Any, Any]:
    """The annotation and default of one setting's pydantic field."""
    kind = Literal[setting.choices] if setting.kind == "choice" else _TYPES[setting.kind]
    minimum = 0 if setting.kind == "count" else None
    field = Field(default=setting.default, ge=minimum, le=setting.maximum, description=setting.help)
    return kind, field


def _section_model(section: str) -> type[BaseModel]:
    fields = {s.key: _field(s) for s in SETTINGS if s.section == section}
    return create_model(section.title(), __config__=_STRICT, **fields)  # type: ignore[call-overload,no-any-return]


def _config_model() -> type[BaseModel]:
    sections = {s.section: _section_model(s.section) for s in SETTINGS}
    fields = {name: (model, model()) for name, model in sections.items()}
    return create_model("ConfigModel", __config__=_STRICT, **fields)  # type: ignore[call-overload,no-any-return]


ConfigModel = _config_model()
Problem = tuple[tuple[Union[int, str], ...], str, Any]


def validate(raw: dict[str, Any]) -> BaseModel | list[Problem]:
    """The validated model, or every problem as (location, message, input)."""
    try:
        return ConfigModel.model_validate(raw)
    except ValidationError as e:
        return [(tuple(err["loc"]), err["msg"], err.get("input")) for err in e.errors()]
