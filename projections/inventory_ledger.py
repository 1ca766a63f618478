"""inventory_ledger (SQL): every stock movement with its cause, one row per event."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.projections.engine.model import SqlProjection
from tillroll.projections.stock_counters import STOCK_DELTAS, stock_deltas

KIND_OF: dict[type, str] = {
    InventoryItem.StockReceived: "received",
    InventoryItem.StockAdjusted: "adjusted",
    InventoryItem.StockReserved: "reserved",
    InventoryItem.StockReleased: "released",
    InventoryItem.StockCommitted: "committed",
    InventoryItem.StockReturned: "returned",
}
assert set(KIND_OF) == set(STOCK_DELTAS)


COLUMNS = ("position", "sku", "kind", "on_hand_change", "reserved_change", "order_id", "note", "at")


class InventoryLedger(SqlProjection):
    NAME = "inventory_ledger"
    VERSION = 1
    TABLE = "inventory_ledger"
    HANDLES = dict.fromkeys(KIND_OF, "on_stock_moved")
    DDL = [
        """CREATE TABLE IF NOT EXISTS {table} (
            position bigint PRIMARY KEY,
            sku text NOT NULL,
            kind text NOT NULL,
            on_hand_change bigint NOT NULL,
            reserved_change bigint NOT NULL,
            order_id uuid,
            note text NOT NULL,
            at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS {table}_sku_idx ON {table} (sku, position)",
    ]

    def on_stock_moved(self, cur: Any, event: Any, position: int) -> None:
        on_hand, reserved = stock_deltas(event)
        note = getattr(event, "note", None) or getattr(event, "reason", None) or ""
        cur.insert(
            self.table,
            COLUMNS,
            (
                position,
                event.sku,
                KIND_OF[type(event)],
                on_hand,
                reserved,
                getattr(event, "order_id", None),
                note,
                event.timestamp,
            ),
        )
