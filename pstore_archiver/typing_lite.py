"""Pure: `TYPE_CHECKING` and `NamedTuple` without importing `typing` at run time.

Importing `typing` costs `run` about 3 ms of its start, and each `typing.NamedTuple` class
compiles every field's annotation into a ForwardRef (about 2 ms more for the run path's
classes).  Here `NamedTuple` builds the class `collections.namedtuple` builds, with the
same methods, but without compiling a `__new__` for each class (`namedtuple` evaluates
source text for it, about 35 us a class; the run path has some 35 classes): `tuple_new`
holds one for each number of fields, compiled when the package is installed; type checkers
see `typing.NamedTuple` itself, and mypy takes any `TYPE_CHECKING` as true.
"""

from __future__ import annotations

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    import sys
    from types import FunctionType

    from pstore_archiver import tuple_new

    try:
        from _collections import _tuplegetter  # what collections.namedtuple uses
    except ImportError:  # pragma: no cover - an interpreter without the C accelerator
        from operator import itemgetter

        def _tuplegetter(index, doc):
            return property(itemgetter(index), doc=doc)

    # What typing.NamedTuple refuses in a class body, and what it does not copy.
    _PROHIBITED = frozenset({
        "__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
        "_make", "_replace", "_asdict", "_source",
    })  # fmt: skip
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})
    _NEW_GLOBALS = {"_tuple_new": tuple.__new__}
    _NEW_CODE = {}  # by number of fields, above tuple_new's: a `__new__`, parameters _0, _1, ...

    def _new_code(fields):
        """The code of `def __new__(_cls, a, b): return tuple.__new__(_cls, (a, b))` for
        this number of fields: tuple_new's, compiled at install, or compiled here once."""
        written = getattr(tuple_new, f"new{len(fields)}", None)
        if written is not None:
            return written.__code__, written.__globals__
        code = _NEW_CODE.get(len(fields))
        if code is None:
            params = "".join(f"_{index}, " for index in range(len(fields)))
            source = f"def __new__(_cls, {params}): return _tuple_new(_cls, ({params}))"
            namespace = {}
            exec(source, _NEW_GLOBALS, namespace)
            code = _NEW_CODE[len(fields)] = namespace["__new__"].__code__
        return code, _NEW_GLOBALS

    def _new_method(name, fields, defaults):
        """`def __new__(_cls, x, y=0): return tuple.__new__(_cls, (x, y))`: one written for
        each number of fields, its parameters renamed to the fields."""
        code, globals_ = _new_code(fields)
        code = code.replace(co_name="__new__", co_varnames=("_cls", *fields))
        new = FunctionType(code, globals_, "__new__", tuple(defaults))
        new.__qualname__ = f"{name}.__new__"
        new.__doc__ = f"Create new instance of {name}({', '.join(fields)})"
        return new

    @classmethod
    def _make(cls, iterable):
        made = tuple.__new__(cls, iterable)
        if len(made) != len(cls._fields):
            raise TypeError(f"Expected {len(cls._fields)} arguments, got {len(made)}")
        return made

    _UNEXPECTED = TypeError if sys.version_info >= (3, 13) else ValueError  # as namedtuple's

    def _replace(self, /, **changes):
        replaced = self._make(map(changes.pop, self._fields, self))
        if changes:
            raise _UNEXPECTED(f"Got unexpected field names: {list(changes)!r}")
        return replaced

    def _repr(self):
        values = ", ".join(f"{field}={value!r}" for field, value in zip(self._fields, self))
        return f"{type(self).__name__}({values})"

    def _asdict(self):
        return dict(zip(self._fields, self))

    def _getnewargs(self):
        return tuple(self)

    def _named_tuple(name, fields, defaults, module):
        """The class `collections.namedtuple(name, fields, defaults=defaults)` makes."""
        namespace = {
            "__doc__": f"{name}({', '.join(fields)})",
            "__slots__": (),
            "_fields": tuple(fields),
            "_field_defaults": dict(zip(fields[len(fields) - len(defaults) :], defaults)),
            "__new__": _new_method(name, fields, defaults),
            "_make": _make,
            "_replace": _replace,
            "__repr__": _repr,
            "_asdict": _asdict,
            "__getnewargs__": _getnewargs,
            "__module__": module,
        }
        if sys.version_info >= (3, 10):
            namespace["__match_args__"] = tuple(fields)
        if sys.version_info >= (3, 13):
            namespace["__replace__"] = _replace
        for index, field in enumerate(fields):
            namespace[field] = _tuplegetter(index, f"Alias for field number {index}")
        return type(name, (tuple,), namespace)

    class _NamedTupleMeta(type):
        """`class P(NamedTuple): x: int; y: int = 0` gives `namedtuple("P", ["x", "y"],
        defaults=[0])` with the body's methods and docstring, as typing's does."""

        def __new__(cls, name, bases, namespace):
            fields = list(namespace.get("__annotations__", {}))
            defaults = [namespace[field] for field in fields if field in namespace]
            if any(field not in namespace for field in fields[len(fields) - len(defaults) :]):
                raise TypeError(f"{name}: a field without a default follows one with")
            made = _named_tuple(name, fields, defaults, namespace["__module__"])
            made.__annotations__ = dict(namespace.get("__annotations__", {}))
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{name}: cannot overwrite NamedTuple attribute {key}")
                if key not in _SPECIAL and key not in fields:
                    setattr(made, key, value)
            return made

    NamedTuple = type.__new__(_NamedTupleMeta, "NamedTuple", (), {})
