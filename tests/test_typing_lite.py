"""typing_lite.NamedTuple builds the class typing.NamedTuple builds, without `typing`."""

from __future__ import annotations

import typing

import pytest

from pstore_archiver import typing_lite


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
