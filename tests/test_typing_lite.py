"""typing_lite.NamedTuple builds the class typing.NamedTuple builds, without `typing`."""

from __future__ import annotations

import copy
import inspect
import pickle
import types
import typing
from collections.abc import Callable
from typing import Any

import pytest

from pstore_archiver import tuple_new, typing_lite
from pstore_archiver.records import RecordName, parse_record_name


def point_class(base: type) -> type:
    class Point(base):  # type: ignore[misc]
        """A point."""

        x: int
        y: int = 0

        def norm(self) -> int:
            return abs(self.x) + abs(self.y)

    return Point


def test_named_tuple_is_typings_class() -> None:
    lite, real = point_class(typing_lite.NamedTuple), point_class(typing.NamedTuple)
    for cls in (lite, real):
        point = cls(3, -4)
        assert (point, point.x, point.y, point.norm(), cls(1)) == ((3, -4), 3, -4, 7, (1, 0))
        assert (repr(point), point._replace(y=1), point._asdict()) == (
            "Point(x=3, y=-4)",
            (3, 1),
            {"x": 3, "y": -4},
        )
    names = ("_fields", "_field_defaults", "__doc__", "__module__", "__qualname__")
    assert [getattr(lite, name) for name in names] == [getattr(real, name) for name in names]
    # typing compiles each annotation into a ForwardRef: the cost typing_lite skips
    assert lite.__annotations__ == {"x": "int", "y": "int"}
    assert list(real.__annotations__) == ["x", "y"]
    assert lite.__mro__[1:] == (tuple, object)


def test_a_field_without_default_cannot_follow_one_with() -> None:
    with pytest.raises(TypeError, match="Late"):

        class Late(typing_lite.NamedTuple):
            x: int = 0
            y: int  # type: ignore[misc]  # mypy refuses it too


def test_named_tuple_methods_cannot_be_replaced() -> None:
    with pytest.raises(AttributeError, match="_replace"):

        class Replaced(typing_lite.NamedTuple):
            x: int

            def _replace(self) -> None:  # type: ignore[misc]  # mypy refuses it too
                pass


def make_classes(fields: int, defaults: int) -> tuple[Any, Any]:
    """The same class from typing_lite.NamedTuple and typing.NamedTuple."""
    names = [f"f{index}" for index in range(fields)]
    body: dict[str, Any] = {"__annotations__": dict.fromkeys(names, "int"), "__module__": __name__}
    body.update({name: -index for index, name in enumerate(names) if index >= fields - defaults})
    lite, real = (
        types.new_class("Many", (base,), {}, lambda namespace: namespace.update(body))
        for base in (typing_lite.NamedTuple, typing.NamedTuple)
    )
    return lite, real


def outcome(call: Callable[[Any], object], cls: Any) -> object:
    try:
        return call(cls)
    except (TypeError, ValueError) as e:
        return type(e)


@pytest.mark.parametrize(
    ("fields", "defaults"), [(0, 0), (1, 0), (1, 1), (3, 2), (25, 3), (26, 0), (30, 2)]
)
def test_named_tuple_behaves_as_typings_with_any_number_of_fields(
    fields: int, defaults: int
) -> None:
    """`__new__` is tuple_new's for this number of fields (26 and 30: compiled here once)
    and renamed: each class still has its own signature, defaults, errors and methods."""
    lite, real = make_classes(fields, defaults)
    args = list(range(100, 100 + fields))
    keywords = {f"f{index}": value for index, value in enumerate(args)}
    first = dict(list(keywords.items())[:1])
    calls: list[Callable[[Any], object]] = [
        lambda cls: cls(*args),
        lambda cls: cls(**keywords),
        lambda cls: cls(*args[: fields - defaults]),
        lambda cls: cls(*args, 1),
        lambda cls: cls(*args[:-1]),
        lambda cls: cls(*args, **first),
        lambda cls: cls(nope=1),
        lambda cls: repr(cls(*args)),
        lambda cls: cls(*args)._asdict(),
        lambda cls: cls(*args)._replace(**first),
        lambda cls: cls(*args)._replace(nope=1),
        lambda cls: cls._make(args),
        lambda cls: cls._make([*args, 1]),
        lambda cls: cls(*args).__getnewargs__(),
        lambda cls: (cls._fields, cls._field_defaults, getattr(cls, "__match_args__", None)),
        lambda cls: sorted(name for name in dir(cls) if not name.startswith("__")),
        lambda cls: hasattr(cls, "__replace__"),
        lambda cls: [
            (p.name, p.default, p.kind) for p in inspect.signature(cls).parameters.values()
        ],
        lambda cls: cls.__new__.__defaults__,
        lambda cls: [getattr(cls(*args), f"f{index}") for index in range(fields)],
        lambda cls: copy.copy(cls(*args)),
    ]
    for number, call in enumerate(calls):
        assert outcome(call, lite) == outcome(call, real), number


def test_named_tuple_pickles() -> None:
    name = parse_record_name("dmesg-erst-6319986351055831041")
    again = pickle.loads(pickle.dumps(name))
    assert (again, type(again)) == (name, RecordName)


def test_tuple_new_has_a_new_for_each_number_of_fields_up_to_25() -> None:
    """Each `new<N>` takes N values after the class and makes the tuple of them, in order."""
    written = sorted(int(name[3:]) for name in vars(tuple_new) if name.startswith("new"))
    assert written == list(range(26))
    for fields in written:
        new = getattr(tuple_new, f"new{fields}")
        values = tuple(range(fields))
        assert new.__code__.co_argcount == fields + 1
        assert (new(tuple, *values), type(new(tuple, *values))) == (values, tuple)
