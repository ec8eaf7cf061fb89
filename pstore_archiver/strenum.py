"""A str-valued enum whose str() is its value (enum.StrEnum is Python 3.11+)."""

from __future__ import annotations

import enum


class StrEnum(str, enum.Enum):
    def __str__(self) -> str:
        return str(self.value)
