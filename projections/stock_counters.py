"""Stock movements as Redis counter increments, shared by the read models that show stock."""

from __future__ import annotations

from typing import Any, ClassVar

from tillroll.aggregates.inventory.item import InventoryItem

# event class -> (on_hand change, reserved change) as functions of the event
STOCK_DELTAS: dict[type, tuple[str, int, int]] = {
    InventoryItem.StockReceived: ("quantity", 1, 0),
    InventoryItem.StockAdjusted: ("delta", 1, 0),
    InventoryItem.StockReserved: ("quantity", 0, 1),
    InventoryItem.StockReleased: ("quantity", 0, -1),
    InventoryItem.StockCommitted: ("quantity", -1, -1),
    InventoryItem.StockReturned: ("quantity", 1, 0),
}


def stock_deltas(event: Any) -> tuple[int, int]:
    """(on_hand change, reserved change) of one stock event."""
    attribute, on_hand_sign, reserved_sign = STOCK_DELTAS[type(event)]
    amount = getattr(event, attribute)
    return on_hand_sign * amount, reserved_sign * amount


class StockCountersMixin:
    """Keeps 'on_hand' and 'reserved' fields of the hash at self.stock_key(sku)."""

    STOCK_HANDLES: ClassVar[dict[type, str]] = {cls: "on_stock_moved" for cls in STOCK_DELTAS}

    def stock_key(self, sku: str) -> str:
        raise NotImplementedError

    def on_stock_moved(self, pipe: Any, event: Any, position: int) -> None:
        on_hand, reserved = stock_deltas(event)
        key = self.stock_key(event.sku)
        if on_hand:
            pipe.hincrby(key, "on_hand", on_hand)
        if reserved:
            pipe.hincrby(key, "reserved", reserved)
