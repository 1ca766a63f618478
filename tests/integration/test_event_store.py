"""The event store as tillroll wires it: metadata on every event, snapshots of stock items,
idempotency records that live and die with the events they answer for."""

from __future__ import annotations

import uuid

import pytest
from tillroll.aggregates.errors import InsufficientStock
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import OrderLine
from tillroll.commands.bus import IdempotencyKeyReused, dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.inventory import ReceiveStock
from tillroll.commands.ordering import PlaceOrder
from tillroll.infra.eventstore import SNAPSHOT_EVERY

from tests.integration.workload import ADDRESS, create_product
from tillroll.bootstrap import Runtime


def test_every_stored_event_names_its_principal_and_request(runtime: Runtime) -> None:
    create_product(runtime.store, "PEN", 250, 10)
    customer = uuid.uuid4()
    ctx = CommandContext(
        runtime.store, principal=Principal(str(customer), "customer"), request_id="req-123"
    )
    dispatch(PlaceOrder(customer, [OrderLine("PEN", 1, Money(250, "EUR"))], ADDRESS), ctx)

    notifications = runtime.store.read(0, 100)
    metas = [runtime.store.transcoder.decode_with_meta(n.state)["__meta__"] for n in notifications]
    assert all(meta["principal"] and meta["request_id"] for meta in metas)
    order_metas = [m for m, n in zip(metas, notifications, strict=True) if "Order" in n.topic]
    assert order_metas == [
        {"principal": str(customer), "role": "customer", "request_id": "req-123"}
    ]
    # The domain never sees the metadata.
    assert not hasattr(runtime.store.decode(notifications[-1]), "__meta__")


def test_a_busy_stock_item_is_snapshotted_and_loads_the_same(runtime: Runtime) -> None:
    create_product(runtime.store, "BOLT", 10, 1)
    ctx = CommandContext(runtime.store)
    for _ in range(SNAPSHOT_EVERY + 5):
        dispatch(ReceiveStock("BOLT", 1), ctx)
    item_id = InventoryItem.create_id("BOLT")
    snapshots = runtime.store.app.snapshots
    assert snapshots is not None
    taken = list(snapshots.get(item_id, desc=True, limit=1))
    assert taken and taken[0].originator_version == SNAPSHOT_EVERY
    item = runtime.store.get(item_id)
    assert item.on_hand == 1 + SNAPSHOT_EVERY + 5
    assert item.version == 2 + SNAPSHOT_EVERY + 5


def test_a_failed_command_leaves_no_idempotency_record(runtime: Runtime) -> None:
    create_product(runtime.store, "RARE", 100, 1)
    customer = uuid.uuid4()
    ctx = CommandContext(runtime.store, principal=Principal(str(customer), "customer"))
    too_many = PlaceOrder(customer, [OrderLine("RARE", 2, Money(100, "EUR"))], ADDRESS)
    with pytest.raises(InsufficientStock):
        dispatch(too_many, ctx, idempotency_key="k")
    assert runtime.store.find_result(str(customer), "k") is None

    just_one = PlaceOrder(customer, [OrderLine("RARE", 1, Money(100, "EUR"))], ADDRESS)
    first = dispatch(just_one, ctx, idempotency_key="k")
    head = runtime.store.head()
    again = dispatch(just_one, ctx, idempotency_key="k")
    assert (again.order_id, again.position) == (first.order_id, first.position)
    assert runtime.store.head() == head  # nothing written by the repeat
    with pytest.raises(IdempotencyKeyReused):
        dispatch(too_many, ctx, idempotency_key="k")
