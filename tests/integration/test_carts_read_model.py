"""The carts read model: what each cart event leaves in Redis reads back as the aggregate
stands, and a rebuild from the log comes out identical to the live build."""

from __future__ import annotations

import uuid

from tillroll.aggregates.carts.cart import Cart
from tillroll.commands.bus import dispatch
from tillroll.commands.carts import (
    AddCartItem,
    ApplyCartAddress,
    ChangeCartItem,
    CheckoutCart,
    ClearCart,
    MergeCarts,
    OpenCart,
    RemoveCartItem,
)
from tillroll.commands.context import CommandContext, Principal
from tillroll.projections.engine.verify import verify
from tillroll.queries import carts as carts_q
from tillroll.queries.read_side import ReadSide

from tests.integration.workload import ADDRESS, create_product
from tillroll.bootstrap import Runtime


def _read(runtime: Runtime, cart_id: uuid.UUID) -> carts_q.CartDoc | None:
    read = ReadSide(runtime.redis, runtime.read_pool, runtime.live_builds(), runtime.store)
    return read.run(carts_q.cart_read(cart_id))[1]


def test_the_read_model_follows_every_cart_event_and_rebuilds_identically(
    runtime: Runtime,
) -> None:
    for sku in ("A", "B", "C"):
        create_product(runtime.store, sku, 100, 50)
    customer = uuid.uuid4()
    ctx = CommandContext(runtime.store, principal=Principal(str(customer), "customer"))
    guest_ctx = CommandContext(runtime.store, principal=Principal("guest:x", "guest"))
    mine = uuid.UUID(dispatch(OpenCart(customer), ctx).cart_id)
    guest = uuid.UUID(dispatch(OpenCart(), guest_ctx).cart_id)
    for sku in ("A", "B", "C"):
        dispatch(AddCartItem(mine, sku, 2), ctx)
    dispatch(ChangeCartItem(mine, "A", 5), ctx)
    dispatch(RemoveCartItem(mine, "B"), ctx)
    dispatch(ApplyCartAddress(mine, shipping_address=ADDRESS), ctx)
    dispatch(AddCartItem(guest, "B", 1), guest_ctx)
    dispatch(AddCartItem(guest, "C", 3), guest_ctx)
    dispatch(MergeCarts(guest, customer), ctx)
    runtime.runner.catch_up()

    doc = _read(runtime, mine)
    cart: Cart = runtime.store.get(mine)
    assert doc is not None and doc.customer_id == customer and doc.status == "open"
    assert doc.quantities == {sku: line.quantity for sku, line in cart.lines.items()}
    assert doc.quantities == {"A": 5, "B": 1, "C": 5}
    assert doc.shipping_address is not None and doc.shipping_address["city"] == "Berlin"
    closed = _read(runtime, guest)
    assert closed is not None and closed.status == "merged" and closed.merged_into == mine

    order_id = uuid.UUID(dispatch(CheckoutCart(mine), ctx).order_id)
    runtime.runner.catch_up()
    doc = _read(runtime, mine)
    assert doc is not None and (doc.status, doc.order_id) == ("checked_out", order_id)

    dispatch(OpenCart(customer), ctx)  # reopened, empty
    dispatch(AddCartItem(mine, "A", 1), ctx)
    dispatch(ClearCart(mine), ctx)
    runtime.runner.catch_up()
    doc = _read(runtime, mine)
    assert doc is not None and (doc.status, doc.order_id, doc.quantities) == ("open", None, {})

    assert verify(runtime.runner, "carts").ok
