"""Pure: `TYPE_CHECKING` and `NamedTuple` without importing `typing` at run time.

Importing `typing` costs `run` about 3 ms of its start, and each `typing.NamedTuple` class
compiles every field's annotation into a ForwardRef (about 2 ms more for the run path's
classes).  Here `NamedTuple` builds the same class with `collections.namedtuple`; type
checkers see `typing.NamedTuple` itself, and mypy takes any `TYPE_CHECKING` as true.
"""

from __future__ import annotations

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    from collections import namedtuple

    # What typing.NamedTuple refuses in a class body, and what it does not copy.
    _PROHIBITED = frozenset({
        "__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
        "_make", "_replace", "_asdict", "_source",
    })  # fmt: skip
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})

    class _NamedTupleMeta(type):
        """`class P(NamedTuple): x: int; y: int = 0` gives `namedtuple("P", ["x", "y"],
        defaults=[0])` with the body's methods and docstring, as typing's does."""

        def __new__(cls, name, bases, namespace):
            fields = list(namespace.get("__annotations__", {}))
            defaults = [namespace[field] for field in fields if field in namespace]
            if any(field not in namespace for field in fields[len(fields) - len(defaults) :]):
                raise TypeError(f"{name}: a field without a default follows one with")
            made = namedtuple(name, fields, defaults=defaults, module=namespace["__module__"])
            made.__annotations__ = dict(namespace.get("__annotations__", {}))
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
                if key not in _SPECIAL and key not in fields:
                    setattr(made, key, value)
            return made

    NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})
