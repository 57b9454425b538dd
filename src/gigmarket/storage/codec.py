"""Aggregates to JSON and back, exactly, for the SQL adapters.

Orders, gigs and reviews are nested immutable attrs values. The SQL adapters
keep each one as a JSON document next to the few columns they query on
(id, state, version), so adding a field to an entity needs no new column.
The codec is driven by the classes' type annotations and knows the library's
value types: :class:`~gigmarket.money.Amount` is ``{"units": int,
"currency": str}`` and a ``Decimal`` its exact string (never a float), a
``datetime`` is an ISO 8601 string in UTC, a ``date`` an ISO date, an enum is
its value, a tuple is a list. Decoding rebuilds the same
object: ``decode(type(x), encode(x)) == x``.
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar, get_args, get_origin

import attrs

from gigmarket.errors import StorageError
from gigmarket.money import Amount

__all__ = ["decode", "encode", "format_instant", "parse_instant"]

T = TypeVar("T")

_INSTANT = "%Y-%m-%dT%H:%M:%S.%f+00:00"


def format_instant(moment: datetime) -> str:
    """A UTC instant as fixed-width ISO 8601 text, so that text order is time order."""
    return moment.astimezone(UTC).strftime(_INSTANT)


def parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def encode(value: object) -> Any:  # noqa: PLR0911 -- one return per kind of value
    """A JSON-able form of an attrs value (or of anything it contains)."""
    if isinstance(value, Amount):
        return {"units": value.units, "currency": value.currency}
    if isinstance(value, datetime):
        return format_instant(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    cls: Any = type(value)
    if attrs.has(cls):
        return {
            field.name: encode(getattr(value, field.name))
            for field in attrs.fields(cls)
            if field.init
        }
    if isinstance(value, tuple | list):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    if value is None or isinstance(value, bool | int | str):
        return value
    raise StorageError(f"cannot store a {type(value).__name__} as JSON")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def decode(kind: Any, data: Any) -> Any:  # noqa: PLR0911 -- one return per kind of type
    """Rebuild a value of type ``kind`` from :func:`encode`'s output."""
    origin = get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in get_args(kind) if arg is not type(None)]
        if data is None:
            return None
        return decode(options[0], data) if len(options) == 1 else _first_fit(options, data)
    if origin is tuple:
        args = get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(decode(args[0], item) for item in data)
        return tuple(decode(arg, item) for arg, item in zip(args, data, strict=True))
    if origin is dict:
        key_type, value_type = get_args(kind)
        return {decode(key_type, key): decode(value_type, item) for key, item in data.items()}
    if kind is Any or kind is object:
        return data
    leaf = _LEAVES.get(kind)
    if leaf is not None:
        return leaf(data)
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(data)
    if isinstance(kind, type) and attrs.has(kind):
        hints = _hints(kind)
        values = {
            field.name: decode(hints[field.name], data[field.name])
            for field in attrs.fields(kind)
            if field.init and field.name in data
        }
        return kind(**values)
    if kind in (int, str, bool) and isinstance(data, kind):
        return data
    raise StorageError(f"cannot read a {kind!r} from {type(data).__name__}")


_LEAVES: dict[Any, Callable[[Any], Any]] = {
    Amount: lambda data: Amount(units=data["units"], currency=data["currency"]),
    datetime: parse_instant,
    date: date.fromisoformat,
    Decimal: Decimal,
}
"""Value types stored as one JSON scalar or object, and how each is read back."""


def _first_fit(options: list[Any], data: Any) -> Any:
    for option in options:
        try:
            return decode(option, data)
        except (StorageError, TypeError, KeyError, ValueError):
            continue
    raise StorageError(f"no type of {options!r} fits the stored value")
