"""Every event of every aggregate survives the real transcoder, and values keep their
stored format: a value an event carries that is not registered (aggregates.values.stored_as)
fails here, not in a customer's request."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
import typing
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import pytest
import tillroll.aggregates as domain
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, Order, OrderLine
from tillroll.aggregates.values import STORED_VALUES, stored_values
from tillroll.infra.memory import MemoryApplication


def _aggregate_classes() -> list[type[Aggregate]]:
    for module in pkgutil.walk_packages(domain.__path__, f"{domain.__name__}."):
        importlib.import_module(module.name)
    found = {
        cls
        for module_name, module in sys.modules.items()
        if module_name.startswith(f"{domain.__name__}.")
        for cls in vars(module).values()
        if isinstance(cls, type) and issubclass(cls, Aggregate) and cls.__module__ == module_name
    }
    return sorted(found, key=lambda cls: cls.__qualname__)


def _event_classes() -> list[tuple[type[Aggregate], type[Aggregate.Event]]]:
    return [
        (aggregate, event)
        for aggregate in _aggregate_classes()
        for event in vars(aggregate).values()
        if isinstance(event, type) and issubclass(event, Aggregate.Event)
    ]


def _example(hint: Any) -> Any:
    """A value of this type: Meta examples where the type has them (a currency must be a
    real one), else something plain. A class nobody registered has no example: the failure
    names it."""
    metas = [m for m in typing.get_args(hint)[1:] if isinstance(m, msgspec.Meta)]
    if typing.get_origin(hint) is typing.Annotated:
        examples = [m.examples[0] for m in metas if m.examples]
        return examples[0] if examples else _example(typing.get_args(hint)[0])
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):  # an optional value: its non-None example
        return _example(next(arg for arg in args if arg is not type(None)))
    if origin is list:
        return [_example(args[0])]
    if origin is dict:
        return {_example(args[0]): _example(args[1])}
    plain = {str: "sample", int: 2, bool: True, UUID: uuid4()}
    if hint in plain:
        return plain[hint]
    if hint is datetime:
        return datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert hint in STORED_VALUES, (
        f"{hint!r} is carried by an event but not registered: decorate it with "
        "@stored_as(...) from tillroll.aggregates.values"
    )
    hints = typing.get_type_hints(hint, include_extras=True)
    return hint(**{name: _example(hints[name]) for name in STORED_VALUES[hint].fields})


def _event(aggregate: type[Aggregate], event_class: type[Aggregate.Event]) -> Any:
    hints = typing.get_type_hints(event_class, include_extras=True)
    special = {
        "originator_id": uuid4(),
        "originator_version": 1,
        "originator_topic": get_topic(aggregate),
    }
    return event_class(  # type: ignore[call-arg]
        **{
            f.name: special[f.name] if f.name in special else _example(hints[f.name])
            for f in fields(event_class)  # type: ignore[arg-type]
        }
    )


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return MemoryApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper


@pytest.fixture(scope="module")
def tagged_mapper(mapper: Mapper) -> Mapper:
    """The library's mapper over the store's transcoder: the tagged format, which the log
    already holds and which classes the typed format cannot rebuild are still written in."""
    return Mapper(transcoder=mapper.transcoder)


EVENTS = _event_classes()


def test_the_walk_finds_the_aggregates_and_their_events() -> None:
    names = {f"{a.__name__}.{e.__name__}" for a, e in EVENTS}
    assert {"Order.Placed", "Product.PriceChanged", "InventoryItem.StockReserved"} <= names
    assert {"Account", "InventoryItem", "Order", "Product"} <= {
        a.__name__ for a in _aggregate_classes()
    }


@pytest.mark.parametrize(
    ("aggregate", "event_class"), EVENTS, ids=[f"{a.__name__}.{e.__name__}" for a, e in EVENTS]
)
def test_every_event_round_trips_through_the_real_transcoder(
    mapper: Mapper, aggregate: type[Aggregate], event_class: type[Aggregate.Event]
) -> None:
    event = _event(aggregate, event_class)

    stored = mapper.to_stored_event(event)

    assert mapper.to_domain_event(stored) == event


def test_every_registered_value_is_a_transcoding_of_the_event_store(mapper: Mapper) -> None:
    registered = {value.name for value in stored_values()}
    assert {"money", "order_line", "address"} <= registered
    for value in stored_values():
        example = _example(value.cls)
        encoded = mapper.transcoder.encode({"value": example})
        assert mapper.transcoder.decode(encoded) == {"value": example}


# Bytes written by the hand-registered transcodings before values registered themselves:
# events already in the log must read back, and new ones must be written the same way.
PLACED_STATE = (
    b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-02T03:04:05.678901+00:00"},'
    b'"originator_topic":"tillroll.aggregates.ordering.order:Order",'
    b'"customer_id":{"_type_":"uuid_hex","_data_":"87654321432187654321876543218765"},'
    b'"lines":[{"_type_":"order_line","_data_":{"sku":"MUG","quantity":2,'
    b'"unit_price":{"_type_":"money","_data_":[1200,"EUR"]}}},'
    b'{"_type_":"order_line","_data_":{"sku":"PEN","quantity":1,'
    b'"unit_price":{"_type_":"money","_data_":[250,"EUR"]}}}],'
    b'"shipping_address":{"_type_":"address","_data_":{"name":"Ada","line1":"1 Main St",'
    b'"city":"Berlin","postal_code":"10115","country":"DE","line2":"Flat 2"}},'
    b'"total":{"_type_":"money","_data_":[2650,"EUR"]}}'
)
ORDER_ID = UUID("12345678-1234-5678-1234-567812345678")


def _placed() -> Any:
    return Order.Placed(  # type: ignore[call-arg]
        originator_id=ORDER_ID,
        originator_version=1,
        timestamp=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        originator_topic="tillroll.aggregates.ordering.order:Order",
        customer_id=UUID("87654321-4321-8765-4321-876543218765"),
        lines=[OrderLine("MUG", 2, Money(1200, "EUR")), OrderLine("PEN", 1, Money(250, "EUR"))],
        shipping_address=Address("Ada", "1 Main St", "Berlin", "10115", "DE", line2="Flat 2"),
        total=Money(2650, "EUR"),
    )


def test_a_placed_order_is_stored_in_the_format_the_log_already_holds(
    tagged_mapper: Mapper,
) -> None:
    assert tagged_mapper.to_stored_event(_placed()).state == PLACED_STATE


def test_a_placed_order_from_the_log_reads_back_as_values(mapper: Mapper) -> None:
    stored = StoredEvent(ORDER_ID, 1, get_topic(Order.Placed), PLACED_STATE)

    placed = mapper.to_domain_event(stored)

    assert placed == _placed()
    assert isinstance(placed.lines[0], OrderLine) and placed.total == Money(2650, "EUR")
