"""A flash sale on PostgreSQL: many threads order one SKU at once. Orders queued on its stock
item are saved in batches (commands/batching.py), and still exactly the stock is sold, every
loser gets a clean InsufficientStock, and each order keeps its own metadata, idempotency
record and position."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from psycopg.sql import SQL
from tillroll.aggregates.errors import InsufficientStock
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import OrderLine
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ordering import OrderChanged, PlaceOrder

from tests.integration.workload import ADDRESS, create_product
from tillroll.bootstrap import Runtime

BUYERS = 60
UNITS = 25


def flash_sale(rt: Runtime) -> list[tuple[PlaceOrder, str | None, Principal, Any]]:
    """Every buyer orders one unit at once; every other one sends an idempotency key."""
    create_product(rt.store, "FLASH", 500, UNITS)
    start = threading.Barrier(BUYERS)

    def buyer(i: int) -> tuple[PlaceOrder, str | None, Principal, Any]:
        customer = uuid.uuid4()
        who = Principal(str(customer), "customer")
        command = PlaceOrder(customer, [OrderLine("FLASH", 1, Money(500, "EUR"))], ADDRESS)
        key = f"checkout-{i}" if i % 2 else None
        ctx = CommandContext(rt.store, principal=who, request_id=f"request-{i}")
        start.wait()
        try:
            return command, key, who, dispatch(command, ctx, idempotency_key=key)
        except InsufficientStock as exc:
            return command, key, who, exc

    with ThreadPoolExecutor(max_workers=BUYERS) as pool:
        return list(pool.map(buyer, range(BUYERS)))


def test_a_flash_sale_sells_exactly_the_stock_in_batched_appends(runtime: Runtime) -> None:
    outcomes = flash_sale(runtime)

    placed = [o for *_, o in outcomes if isinstance(o, OrderChanged)]
    refused = [o for *_, o in outcomes if isinstance(o, InsufficientStock)]
    assert (len(placed), len(refused)) == (UNITS, BUYERS - UNITS)
    assert all((r.sku, r.requested, r.available) == ("FLASH", 1, 0) for r in refused)
    item_id = InventoryItem.create_id("FLASH")
    item = runtime.store.get(item_id)
    assert (item.on_hand, item.reserved, item.available) == (UNITS, UNITS, 0)
    table = runtime.store.recorder._table
    with runtime.store.connection() as conn:
        row = conn.execute(
            SQL(
                "SELECT count(*) AS events, count(DISTINCT xmin::text) AS appends FROM {}"
                " WHERE originator_id = %s AND originator_version > 2"
            ).format(table),
            (item_id,),
        ).fetchone()
    assert row is not None and row["events"] == UNITS
    assert row["appends"] < UNITS  # several orders' reservations per append


def test_each_order_of_a_batch_keeps_its_own_metadata_and_position(runtime: Runtime) -> None:
    outcomes = flash_sale(runtime)

    store = runtime.store
    item_id = InventoryItem.create_id("FLASH")
    reserved_by: dict[str, tuple[int, dict[str, Any]]] = {}
    for position, _, _, _, state, _ in store.stream_rows(item_id, 2, 1000):
        data, meta = store.decode_with_meta(state)
        reserved_by[uuid.UUID(str(data["order_id"])).hex] = (position, meta)
    for _command, _key, who, result in outcomes:
        if not isinstance(result, OrderChanged):
            continue
        order_id = uuid.UUID(result.order_id)
        [(placed_at, _, _, _, state, _)] = store.stream_rows(order_id, 0, 10)
        _, placed_meta = store.decode_with_meta(state)
        reserved_at, reserved_meta = reserved_by[order_id.hex]
        assert placed_meta["principal"] == reserved_meta["principal"] == who.subject
        assert placed_meta["request_id"] == reserved_meta["request_id"]
        assert result.position == max(placed_at, reserved_at)


def test_each_order_of_a_batch_keeps_its_own_idempotency_record(runtime: Runtime) -> None:
    outcomes = flash_sale(runtime)
    head = runtime.store.head()

    for command, key, who, result in outcomes:
        if key is None:
            continue
        again: Any
        try:
            again = dispatch(
                command, CommandContext(runtime.store, principal=who), idempotency_key=key
            )
        except InsufficientStock as exc:  # refused orders claimed nothing: they run again
            again = exc
        if isinstance(result, OrderChanged):
            assert again == result
        else:
            assert isinstance(again, InsufficientStock)
    assert runtime.store.head() == head
