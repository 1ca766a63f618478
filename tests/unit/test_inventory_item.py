"""InventoryItem: stock of one SKU; available = on_hand - reserved and never negative."""

from __future__ import annotations

from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from tillroll.aggregates.errors import Conflict, InsufficientStock, InvalidValue, NotFound
from tillroll.aggregates.inventory.item import InventoryItem

SKU = "MUG-BLUE-01"
ORDER_A = UUID("00000000-0000-4000-8000-00000000000a")
ORDER_B = UUID("00000000-0000-4000-8000-00000000000b")


def make_item(on_hand: int = 0) -> InventoryItem:
    item = InventoryItem.create(SKU)
    if on_hand:
        item.receive(on_hand)
    return item


def state(item: InventoryItem) -> tuple[int, int, dict[str, int], int]:
    return item.on_hand, item.reserved, dict(item.reservations), item.version


def event_names(item: InventoryItem) -> list[str]:
    return [type(e).__name__ for e in item.pending_events]


# --- creation and identity -------------------------------------------------------------------


def test_new_item_is_empty_when_created() -> None:
    item = InventoryItem.create(SKU)

    assert (item.sku, item.on_hand, item.reserved, item.available) == (SKU, 0, 0, 0)
    assert item.reservations == {}
    assert event_names(item) == ["Created"]


def test_item_id_is_derived_from_sku_when_created() -> None:
    item = InventoryItem.create(SKU)

    assert item.id == InventoryItem.create_id(SKU)
    assert InventoryItem.create(SKU).id == item.id
    assert InventoryItem.create("MUG-RED-01").id != item.id


@pytest.mark.parametrize("sku", ["", "has space", "x" * 65, "slash/no", None])
def test_create_raises_invalid_value_on_sku_when_sku_is_malformed(sku: object) -> None:
    with pytest.raises(InvalidValue) as err:
        InventoryItem.create(sku)  # type: ignore[arg-type]

    assert err.value.field == "sku"


# --- receive ---------------------------------------------------------------------------------


def test_receive_raises_on_hand_and_available_when_stock_arrives() -> None:
    item = make_item()

    item.receive(7, note="PO-1")
    item.receive(5)

    assert (item.on_hand, item.reserved, item.available) == (12, 0, 12)
    received = item.pending_events[-2]
    assert type(received).__name__ == "StockReceived"
    assert (received.sku, received.quantity, received.note) == (SKU, 7, "PO-1")


@pytest.mark.parametrize("quantity", [0, -1, -100, True, False, 1.0, "3", None])
def test_receive_raises_invalid_value_on_quantity_when_quantity_is_not_positive_int(
    quantity: object,
) -> None:
    item = make_item(4)
    before = state(item)

    with pytest.raises(InvalidValue) as err:
        item.receive(quantity)  # type: ignore[arg-type]

    assert err.value.field == "quantity"
    assert state(item) == before


# --- reserve ---------------------------------------------------------------------------------


def test_reserve_reduces_available_but_not_on_hand_when_stock_suffices() -> None:
    item = make_item(10)

    item.reserve(ORDER_A, 3)

    assert (item.on_hand, item.reserved, item.available) == (10, 3, 7)
    assert item.reservations == {ORDER_A.hex: 3}
    assert item.holds(ORDER_A)
    assert not item.holds(ORDER_B)
    reserved = item.pending_events[-1]
    assert type(reserved).__name__ == "StockReserved"
    assert (reserved.sku, reserved.order_id, reserved.quantity) == (SKU, ORDER_A, 3)


def test_reserve_takes_everything_available_when_quantity_equals_available() -> None:
    item = make_item(5)
    item.reserve(ORDER_A, 2)

    item.reserve(ORDER_B, 3)

    assert (item.on_hand, item.reserved, item.available) == (5, 5, 0)


def test_reserve_raises_insufficient_stock_naming_sku_requested_available_when_short() -> None:
    item = make_item(5)
    item.reserve(ORDER_A, 2)
    before = state(item)

    with pytest.raises(InsufficientStock) as err:
        item.reserve(ORDER_B, 4)

    assert (err.value.sku, err.value.requested, err.value.available) == (SKU, 4, 3)
    assert err.value.extra == {"sku": SKU, "requested": 4, "available": 3}
    assert err.value.field == "sku"
    assert isinstance(err.value, Conflict)
    assert state(item) == before


def test_reserve_raises_conflict_when_same_order_reserves_twice() -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 2)
    before = state(item)

    with pytest.raises(Conflict) as err:
        item.reserve(ORDER_A, 1)

    assert type(err.value) is Conflict
    assert state(item) == before
    assert item.reservations == {ORDER_A.hex: 2}


@pytest.mark.parametrize("quantity", [0, -3, True, False, 2.5, "1"])
def test_reserve_raises_invalid_value_on_quantity_when_quantity_is_not_positive_int(
    quantity: object,
) -> None:
    item = make_item(10)
    before = state(item)

    with pytest.raises(InvalidValue) as err:
        item.reserve(ORDER_A, quantity)  # type: ignore[arg-type]

    assert err.value.field == "quantity"
    assert state(item) == before


# --- release and commit ----------------------------------------------------------------------


def test_release_restores_available_when_order_gives_stock_back() -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 4)
    item.reserve(ORDER_B, 1)

    item.release(ORDER_A, reason="cancelled")

    assert (item.on_hand, item.reserved, item.available) == (10, 1, 9)
    assert item.reservations == {ORDER_B.hex: 1}
    released = item.pending_events[-1]
    assert type(released).__name__ == "StockReleased"
    assert (released.order_id, released.quantity, released.reason) == (ORDER_A, 4, "cancelled")


def test_release_lets_the_same_order_reserve_again_when_it_was_released() -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 4)
    item.release(ORDER_A)

    item.reserve(ORDER_A, 6)

    assert item.reservations == {ORDER_A.hex: 6}
    assert item.available == 4


def test_commit_lowers_on_hand_and_reserved_when_order_ships() -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 4)
    item.reserve(ORDER_B, 1)

    item.commit(ORDER_A)

    assert (item.on_hand, item.reserved, item.available) == (6, 1, 5)
    assert item.reservations == {ORDER_B.hex: 1}
    committed = item.pending_events[-1]
    assert type(committed).__name__ == "StockCommitted"
    assert (committed.order_id, committed.quantity) == (ORDER_A, 4)


@pytest.mark.parametrize("action", ["release", "commit"])
def test_release_or_commit_raises_not_found_when_order_holds_nothing(action: str) -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 4)
    before = state(item)

    with pytest.raises(NotFound):
        getattr(item, action)(ORDER_B)

    assert state(item) == before


@pytest.mark.parametrize("action", ["release", "commit"])
def test_release_or_commit_raises_not_found_when_order_was_already_settled(action: str) -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 4)
    getattr(item, action)(ORDER_A)
    before = state(item)

    with pytest.raises(NotFound):
        getattr(item, action)(ORDER_A)

    assert state(item) == before


# --- adjust ----------------------------------------------------------------------------------


def test_adjust_changes_on_hand_when_count_differs() -> None:
    item = make_item(10)

    item.adjust(-3, reason="damaged")
    item.adjust(+5, reason="found")

    assert (item.on_hand, item.reserved) == (12, 0)
    adjusted = item.pending_events[-2]
    assert type(adjusted).__name__ == "StockAdjusted"
    assert (adjusted.sku, adjusted.delta, adjusted.reason) == (SKU, -3, "damaged")


def test_adjust_may_bring_on_hand_down_to_reserved_when_exactly_reserved_remains() -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 4)

    item.adjust(-6, reason="stocktake")

    assert (item.on_hand, item.reserved, item.available) == (4, 4, 0)


def test_adjust_raises_conflict_on_delta_when_on_hand_would_fall_below_reserved() -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 4)
    before = state(item)

    with pytest.raises(Conflict) as err:
        item.adjust(-7, reason="stocktake")

    assert type(err.value) is Conflict
    assert err.value.field == "delta"
    assert state(item) == before


def test_adjust_raises_conflict_when_on_hand_would_go_negative() -> None:
    item = make_item(2)

    with pytest.raises(Conflict):
        item.adjust(-3, reason="stocktake")

    assert item.on_hand == 2


@pytest.mark.parametrize("delta", [0, True, False, 1.0, "2", None])
def test_adjust_raises_invalid_value_on_delta_when_delta_is_not_nonzero_int(
    delta: object,
) -> None:
    item = make_item(10)
    before = state(item)

    with pytest.raises(InvalidValue) as err:
        item.adjust(delta, reason="stocktake")  # type: ignore[arg-type]

    assert err.value.field == "delta"
    assert state(item) == before


@pytest.mark.parametrize("reason", ["", "   ", "\n\t"])
def test_adjust_raises_invalid_value_on_reason_when_reason_is_blank(reason: str) -> None:
    item = make_item(10)
    before = state(item)

    with pytest.raises(InvalidValue) as err:
        item.adjust(1, reason=reason)

    assert err.value.field == "reason"
    assert state(item) == before


# --- events ----------------------------------------------------------------------------------


def test_failed_commands_record_no_event_when_a_rule_is_broken() -> None:
    item = make_item(3)
    item.reserve(ORDER_A, 1)
    item.collect_events()

    for attempt in (
        lambda: item.receive(0),
        lambda: item.reserve(ORDER_B, 99),
        lambda: item.reserve(ORDER_A, 1),
        lambda: item.release(ORDER_B),
        lambda: item.commit(ORDER_B),
        lambda: item.adjust(-3, reason="x"),
    ):
        with pytest.raises((InvalidValue, Conflict, NotFound)):
            attempt()

    assert item.collect_events() == []
    assert item.version == 3


def test_every_event_carries_the_sku_when_recorded() -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 2)
    item.reserve(ORDER_B, 2)
    item.release(ORDER_A)
    item.commit(ORDER_B)
    item.adjust(-1, reason="damaged")

    events = item.collect_events()

    assert [type(e).__name__ for e in events] == [
        "Created",
        "StockReceived",
        "StockReserved",
        "StockReserved",
        "StockReleased",
        "StockCommitted",
        "StockAdjusted",
    ]
    assert all(e.sku == SKU for e in events)
    assert [e.originator_version for e in events] == list(range(1, 8))
    assert all(e.originator_id == item.id for e in events)


def test_replaying_collected_events_reproduces_state_when_rebuilt() -> None:
    item = make_item(10)
    item.reserve(ORDER_A, 2)
    item.reserve(ORDER_B, 3)
    item.commit(ORDER_A)
    item.adjust(+4, reason="found")
    item.receive(1)

    copy = project_aggregate(None, item.collect_events())

    assert isinstance(copy, InventoryItem)
    assert (copy.id, copy.sku, copy.version) == (item.id, SKU, item.version)
    assert (copy.on_hand, copy.reserved, copy.reservations) == (13, 3, {ORDER_B.hex: 3})
    assert (copy.on_hand, copy.reserved, copy.reservations) == (
        item.on_hand,
        item.reserved,
        item.reservations,
    )
    assert copy.reservations is not item.reservations
