"""Options as data: one declarative table per owner drives the server's checks, ``hello`` and the GIMP dialog.

An :class:`Option` says what a value may be (kind, range or choices), its default, and the words a
person reads (label, unit, help). :func:`check_options` turns a request's options into complete,
checked values, so no owner validates by hand, and :meth:`Option.describe` is what ``hello`` sends,
so a client builds its widgets from the server's own table. Standard library only.

Kinds: ``bool``, ``int``, ``float`` (with ``minimum``/``maximum``), ``choice`` (one of ``choices``),
and ``custom``, whose ``parse`` callable checks and normalises values no table can describe (a point,
a colour, a comic style's parameter object) and raises :class:`OptionError` with a plain message.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

KINDS = ("bool", "int", "float", "choice", "custom")


class OptionError(ValueError):
    """An option has the wrong value; the message says which and what it may be."""


class OptionTypeError(OptionError, TypeError):
    """An option has the wrong type (a string where a number belongs): still an :class:`OptionError`."""


@dataclass(frozen=True)
class Choice:
    """One value of a ``choice`` option and the words shown for it."""

    value: str
    label: str
    help: str = ""


@dataclass(frozen=True)
class Option:
    name: str
    label: str
    kind: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Choice, ...] = ()
    unit: str = ""
    help: str = ""
    #: for ``custom``: value -> normalised value, raising OptionError; ``describe`` names it ``type``
    parse: Callable[[Any], Any] | None = None
    #: what a ``custom`` value looks like, for ``hello`` (e.g. "point [x, y] in image pixels")
    type_help: str = ""

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind
        assert self.kind != "custom" or self.parse is not None, f"{self.name}: custom options need parse"
        assert self.kind != "choice" or any(c.value == self.default for c in self.choices), self.name

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(c.value for c in self.choices)

    def check(self, value: Any) -> Any:
        """``value`` checked and normalised (an int-valued float for ``int``, a float for ``float``)."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise OptionTypeError(f"option '{self.name}' must be true or false")
            return value
        if self.kind == "choice":
            if not isinstance(value, str) or value not in self.values:
                raise OptionError(f"option '{self.name}' must be one of {', '.join(self.values)}, got {_show(value)}")
            return value
        if self.kind == "custom":
            assert self.parse is not None
            return self.parse(value)
        return self._number(value)

    def _number(self, value: Any) -> int | float:
        # a JSON true is an int in Python and an integer of 400 digits overflows float(): both are refused
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise OptionTypeError(f"option '{self.name}' must be a number{self._range()}, got {_show(value)}")
        if isinstance(value, float) and value != value:
            raise OptionError(f"option '{self.name}' must be a number{self._range()}, got NaN")
        if self.kind == "int":
            if isinstance(value, float):
                if not value.is_integer():
                    raise OptionError(f"option '{self.name}' must be a whole number{self._range()}, got {value!r}")
                value = int(value)
        else:
            try:
                value = float(value)
            except OverflowError:
                raise OptionError(f"option '{self.name}' is out of range{self._range()}") from None
        if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
            raise OptionError(f"option '{self.name}' must be{self._range()}, got {_show(value)}")
        return value

    def _range(self) -> str:
        if self.minimum is None and self.maximum is None:
            return ""
        unit = f" {self.unit}" if self.unit else ""
        return f" from {_number_text(self.minimum)} to {_number_text(self.maximum)}{unit}"

    def describe(self) -> dict[str, Any]:
        """JSON for ``hello``: everything a client needs to draw a widget and pre-check a value."""
        described: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.kind, "help": self.help}
        if self.kind != "custom" or _jsonable(self.default):
            described["default"] = self.default
        if self.minimum is not None:
            described["minimum"] = self.minimum
        if self.maximum is not None:
            described["maximum"] = self.maximum
        if self.unit:
            described["unit"] = self.unit
        if self.choices:
            described["choices"] = [{"value": c.value, "label": c.label, "help": c.help} for c in self.choices]
        if self.type_help:
            described["format"] = self.type_help
        return described


def check_options(table: Iterable[Option], given: Mapping[str, Any] | None, owner: str) -> dict[str, Any]:
    """Every option of ``table``, given values checked and the rest at their defaults.

    A key the table does not know is an error naming ``owner`` and the keys it does know: a
    misspelt option must not be silently ignored.
    """
    table = tuple(table)
    given = dict(given or {})
    known = {option.name for option in table}
    unknown = sorted(set(given) - known)
    if unknown:
        listing = ", ".join(sorted(known)) or "none"
        raise OptionError(f"{owner} does not know the option(s) {', '.join(map(_show, unknown))}; it knows {listing}")
    return {o.name: o.check(given[o.name]) if o.name in given else o.default for o in table}


def describe(table: Iterable[Option]) -> list[dict[str, Any]]:
    return [option.describe() for option in table]


def by_name(table: Iterable[Option]) -> dict[str, Option]:
    return {option.name: option for option in table}


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _number_text(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def _jsonable(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str, list, dict))
