"""Checkout under concurrency: many customers' carts for the last units of one SKU sell
exactly those units, each cart is checked out or stays open, and a repeated checkout (same
idempotency key) places one order."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from tillroll.aggregates.carts.cart import Cart, CartStatus
from tillroll.aggregates.errors import InsufficientStock
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.ordering.order import Order
from tillroll.commands import bus
from tillroll.commands.bus import dispatch
from tillroll.commands.carts import AddCartItem, CheckoutCart, OpenCart
from tillroll.commands.context import CommandContext, Principal

from tests.integration.workload import ADDRESS, create_product
from tillroll.bootstrap import Runtime


@pytest.fixture(params=["queued in process", "optimistic only"])
def contention(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """In a process, a cart's commands queue for it; between processes (simulated by
    switching the queue off) only the version check stands between them and overselling."""
    if request.param == "optimistic only":
        monkeypatch.setattr(bus, "CONTENDED", {})
    return str(request.param)


def _cart_with(runtime: Runtime, sku: str, quantity: int) -> tuple[CommandContext, uuid.UUID]:
    customer = uuid.uuid4()
    ctx = CommandContext(runtime.store, principal=Principal(str(customer), "customer"))
    cart_id = uuid.UUID(dispatch(OpenCart(customer), ctx).cart_id)
    dispatch(AddCartItem(cart_id, sku, quantity), ctx)
    return ctx, cart_id


def test_twenty_checkouts_for_the_last_ten_units_place_exactly_ten_orders(
    runtime: Runtime, contention: str
) -> None:
    create_product(runtime.store, "LAST", 1000, 10)
    carts = [_cart_with(runtime, "LAST", 1) for _ in range(20)]
    start = threading.Barrier(20)

    def checkout(cart: tuple[CommandContext, uuid.UUID]) -> str:
        ctx, cart_id = cart
        start.wait()
        try:
            return dispatch(CheckoutCart(cart_id, shipping_address=ADDRESS), ctx).order_id
        except InsufficientStock as short:
            assert short.sku == "LAST"
            return "409"

    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(checkout, carts))

    orders = [o for o in outcomes if o != "409"]
    assert len(orders) == 10 and outcomes.count("409") == 10
    item = runtime.store.get(InventoryItem.create_id("LAST"))
    assert (item.on_hand, item.reserved, item.available) == (10, 10, 0)  # 0 oversold
    assert sorted(str(o) for o in item.reservations) == sorted(uuid.UUID(o).hex for o in orders)
    statuses = [runtime.store.get(cart_id).status for _, cart_id in carts]
    # every cart that got an order was checked out with it; the others stay open
    assert statuses.count(CartStatus.CHECKED_OUT) == 10 and statuses.count(CartStatus.OPEN) == 10
    for (_, cart_id), outcome in zip(carts, outcomes, strict=True):
        cart: Cart = runtime.store.get(cart_id)
        assert (str(cart.order_id) if cart.order_id else "409") == outcome


def test_concurrent_repeats_of_one_checkout_key_place_one_order(runtime: Runtime) -> None:
    create_product(runtime.store, "MUG", 1200, 10)
    ctx, cart_id = _cart_with(runtime, "MUG", 2)
    start = threading.Barrier(8)

    def repeat(_: int) -> str:
        start.wait()
        command = CheckoutCart(cart_id, shipping_address=ADDRESS)
        return dispatch(command, ctx, idempotency_key="checkout-7").order_id

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = set(pool.map(repeat, range(8)))

    assert len(results) == 1
    order: Order = runtime.store.get(uuid.UUID(results.pop()))
    assert order.lines[0].quantity == 2
    assert runtime.store.get(InventoryItem.create_id("MUG")).reserved == 2
