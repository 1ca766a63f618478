"""Events stored before partial shipments, partial refunds and refunds on cancel existed
carry fewer fields; they still replay, meaning what they meant then."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.application import project_aggregate
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, Order, OrderLine

ADDRESS = Address("Ada", "1 Main St", "Berlin", "10115", "DE")


def placed() -> Order:
    lines = [OrderLine("A", 2, Money(1000, "EUR")), OrderLine("B", 1, Money(500, "EUR"))]
    return Order.place(UUID(int=1), lines, ADDRESS)


def as_stored_before(event: object, *fields: str) -> object:
    for name in fields:
        del event.__dict__[name]
    return event


def test_an_old_shipped_without_lines_ships_every_line() -> None:
    order = placed()
    order.mark_paid("pi_1", order.total)
    order.ship("DHL", "T1")
    events = order.collect_events()
    as_stored_before(events[-1], "lines")

    copy = project_aggregate(None, events)

    assert copy.status == "shipped" and copy.shipped == {"A": 2, "B": 1}


def test_an_old_refunded_without_amount_refunds_everything() -> None:
    order = placed()
    order.mark_paid("pi_1", order.total)
    order.ship()
    order.deliver()
    order.refund("broken")
    events = order.collect_events()
    as_stored_before(events[-1], "refund_id", "amount", "status")

    copy = project_aggregate(None, events)

    assert copy.status == "refunded" and copy.refunded_total == Money(2500, "EUR")


def test_an_old_cancelled_without_refund_fields_cancels() -> None:
    order = placed()
    order.cancel("changed mind", by="customer")
    events = order.collect_events()
    as_stored_before(events[-1], "refund_id", "refund_amount")

    copy = project_aggregate(None, events)

    assert copy.status == "cancelled" and copy.refunds == {}
