"""Commands trust the aggregate cache (infra/eventstore.py): a warm command reads nothing
before its append. A copy gone stale behind the process's back (another process wrote) is
caught by the append's version check and refreshed; an aggregate a command only reads (a
product's price) is refreshed once it has gone unconfirmed for the trust window."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from tillroll.aggregates.errors import ConcurrencyConflict, PriceMismatch
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import OrderLine
from tillroll.commands.bus import dispatch
from tillroll.commands.catalog import ChangePrice
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ordering import PlaceOrder
from tillroll.infra.eventstore import EventStore
from tillroll.infra.settings import Settings

from tests.integration.workload import ADDRESS, create_product


class Counted(EventStore):
    """An event store that counts its conflicts and its statements (round trips)."""

    conflicts = 0

    def save(self, *aggregates: Any, **kwargs: Any) -> int:
        try:
            return super().save(*aggregates, **kwargs)
        except ConcurrencyConflict:
            self.conflicts += 1
            raise


@pytest.fixture
def stores(settings: Settings) -> Iterator[tuple[Counted, Counted]]:
    """Two event stores on one log, as two processes would have."""
    url = settings.database_url or ""
    a = Counted(url, schema=settings.event_schema, pool_size=2, trust_seconds=60)
    b = Counted(url, schema=settings.event_schema, pool_size=2, trust_seconds=60)
    yield a, b
    a.close()
    b.close()


CUSTOMER = uuid.uuid4()
"""One customer for every order here: a warm order is one whose customer (and its Customer
aggregate, or its absence) the process has seen too, as its products and stock items."""


def place(store: EventStore, sku: str, cents: int) -> Any:
    customer = CUSTOMER
    command = PlaceOrder(customer, [OrderLine(sku, 1, Money(cents, "EUR"))], ADDRESS)
    return dispatch(command, CommandContext(store, principal=Principal(str(customer), "customer")))


def statements_during(store: EventStore, action: Any) -> int:
    """How many round trips the command made during `action`: waits on PostgreSQL in this
    thread (the event log's notifier wakes listeners from a thread of its own, after the
    commit: not a round trip of the command)."""
    counted = [0]
    real = psycopg.Connection.wait
    caller = threading.get_ident()

    def wait(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        if threading.get_ident() == caller:
            counted[0] += 1
        return real(self, *args, **kwargs)

    psycopg.Connection.wait = wait  # type: ignore[method-assign]
    try:
        action()
    finally:
        psycopg.Connection.wait = real  # type: ignore[method-assign]
    return counted[0]


def test_a_warm_order_reads_nothing_before_its_append(stores: tuple[Counted, Counted]) -> None:
    a, _ = stores
    create_product(a, "WARM", 700, 10)
    place(a, "WARM", 700)  # product and item now cached

    waits = statements_during(a, lambda: place(a, "WARM", 700))

    # The append and its commit: no read of the product or the stock item.
    assert waits <= 2


def test_a_stock_item_changed_by_another_process_is_caught_and_refreshed(
    stores: tuple[Counted, Counted],
) -> None:
    a, b = stores
    create_product(a, "SHARED", 700, 5)
    place(a, "SHARED", 700)  # a caches the item at 1 reserved
    place(b, "SHARED", 700)
    place(b, "SHARED", 700)  # behind a's back: 3 reserved

    place(a, "SHARED", 700)

    assert a.conflicts == 1  # its stale copy failed the version check once, then refreshed
    item_id = InventoryItem.create_id("SHARED")
    for store in (a, b):
        item = store.get(item_id)
        assert (item.reserved, item.available, len(item.reservations)) == (4, 1, 4)


def test_an_item_caught_stale_is_brought_up_to_date_before_use_for_a_while(
    stores: tuple[Counted, Counted],
) -> None:
    a, b = stores
    create_product(a, "BUSY", 700, 9)
    place(a, "BUSY", 700)
    place(b, "BUSY", 700)
    place(a, "BUSY", 700)  # caught stale once: now suspect
    assert a.conflicts == 1

    for _ in range(3):  # the other process keeps writing it
        place(b, "BUSY", 700)
        place(a, "BUSY", 700)

    assert a.conflicts == 1  # each of a's orders read the item's new events first
    assert a.get(InventoryItem.create_id("BUSY")).reserved == 9


def test_a_price_changed_by_another_process_is_seen_after_the_trust_window(
    stores: tuple[Counted, Counted],
) -> None:
    a, b = stores
    create_product(a, "PRICED", 700, 5)
    place(a, "PRICED", 700)  # a caches the product
    dispatch(ChangePrice("PRICED", Money(900, "EUR")), CommandContext(b))
    a.trust_seconds = 0.05
    time.sleep(0.1)  # the window itself is what is tested: no log position to wait for

    with pytest.raises(PriceMismatch):
        place(a, "PRICED", 700)
    assert place(a, "PRICED", 900).status == "placed"
