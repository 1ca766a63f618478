"""Many shoppers, one scarce SKU: stock is never oversold, and the read models agree."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from tillroll.aggregates.errors import InsufficientStock
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import OrderLine
from tillroll.commands import bus
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ordering import PlaceOrder
from tillroll.queries import catalog as catalog_q
from tillroll.queries import inventory as inventory_q
from tillroll.queries.read_side import ReadSide

from tests.integration.workload import ADDRESS, create_product
from tillroll.bootstrap import Runtime


def _read_side(rt: Runtime) -> ReadSide:
    return ReadSide(rt.redis, rt.read_pool, rt.live_builds(), rt.store)


@pytest.fixture(params=["queued in process", "optimistic only"])
def contention(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Within a process, commands on one SKU queue for it; between processes (simulated by
    switching the queue off) only the version check stands between them and overselling."""
    if request.param == "optimistic only":
        monkeypatch.setattr(bus, "CONTENDED", {})
    return str(request.param)


def test_fifty_concurrent_orders_for_twenty_units_sell_exactly_twenty(
    runtime: Runtime, contention: str
) -> None:
    create_product(runtime.store, "SCARCE", 1000, 20)
    start = threading.Barrier(50)

    def shopper(_: int) -> str:
        customer = uuid.uuid4()
        ctx = CommandContext(runtime.store, principal=Principal(str(customer), "customer"))
        command = PlaceOrder(customer, [OrderLine("SCARCE", 1, Money(1000, "EUR"))], ADDRESS)
        start.wait()
        try:
            dispatch(command, ctx)
            return "ok"
        except InsufficientStock:
            return "short"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = list(pool.map(shopper, range(50)))

    assert outcomes.count("ok") == 20
    assert outcomes.count("short") == 30
    item = runtime.store.get(InventoryItem.create_id("SCARCE"))
    assert (item.on_hand, item.reserved, item.available) == (20, 20, 0)
    assert len(item.reservations) == 20

    runtime.runner.catch_up()
    read = _read_side(runtime)
    level = inventory_q.stock_level(read, "SCARCE")
    assert level is not None and (level.on_hand, level.reserved, level.available) == (20, 20, 0)
    card = catalog_q.product_card(read, "SCARCE")
    assert card is not None and card.available == 0 and not card.in_stock
    with runtime.read_pool.connection() as conn:
        row = conn.execute(
            "SELECT on_hand, reserved FROM product_search_b1 WHERE sku = 'SCARCE'"
        ).fetchone()
        orders = conn.execute("SELECT count(*) FROM customer_orders_b1").fetchone()
        reserved_rows = conn.execute(
            "SELECT count(*), sum(reserved_change) FROM inventory_ledger_b1"
            " WHERE sku = 'SCARCE' AND kind = 'reserved'"
        ).fetchone()
    assert row == (20, 20)
    assert orders == (20,)
    assert reserved_rows == (20, 20)


def test_concurrent_repeats_of_one_idempotency_key_place_one_order(runtime: Runtime) -> None:
    create_product(runtime.store, "MUG", 1200, 10)
    customer = uuid.uuid4()
    command = PlaceOrder(customer, [OrderLine("MUG", 2, Money(1200, "EUR"))], ADDRESS)
    start = threading.Barrier(8)

    def repeat(_: int) -> tuple[str, int]:
        ctx = CommandContext(runtime.store, principal=Principal(str(customer), "customer"))
        start.wait()
        result = dispatch(command, ctx, idempotency_key="checkout-42")
        return result.order_id, result.position

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = set(pool.map(repeat, range(8)))

    assert len(results) == 1
    item = runtime.store.get(InventoryItem.create_id("MUG"))
    assert item.reserved == 2
