"""Value objects that events carry, registered where they are defined.

A value class says here, once, under which name the event log stores it; the event store
builds its transcodings from this registry, so a new value needs no second edit elsewhere.
The names are part of the stored format: never rename one."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T", bound=type)


@dataclass(frozen=True, slots=True)
class StoredValue:
    cls: type
    name: str
    fields: tuple[str, ...]
    as_list: bool
    """Stored as a list of field values (compact, for small values such as Money) rather
    than an object of named fields."""


STORED_VALUES: dict[type, StoredValue] = {}


def stored_as(name: str, *, as_list: bool = False) -> Callable[[T], T]:
    """Class decorator: events may carry this value; the log stores it under `name`."""

    def register(cls: T) -> T:
        taken = {value.name for value in STORED_VALUES.values() if value.cls is not cls}
        if name in taken:
            raise ValueError(f"the stored name {name!r} is taken")
        fields = tuple(getattr(cls, "__struct_fields__", ()))
        if not fields:
            raise TypeError(f"{cls.__name__} must be a msgspec.Struct with fields")
        STORED_VALUES[cls] = StoredValue(cls, name, fields, as_list)
        return cls

    return register


def stored_values() -> list[StoredValue]:
    """Every registered value. A value registers when its module is imported, so every
    module of the domain is imported first: none can be missed by an early caller."""
    import tillroll.aggregates as domain

    for module in pkgutil.walk_packages(domain.__path__, f"{domain.__name__}."):
        importlib.import_module(module.name)
    return list(STORED_VALUES.values())
