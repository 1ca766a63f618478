"""customer_orders (SQL): every order as a row, for order history per customer and for staff."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.ordering.order import Order, OrderStatus
from tillroll.projections.engine.model import SqlProjection
from tillroll.projections.order_status import STATUS_OF, status_after

COLUMNS = (
    "order_id",
    "customer_id",
    "status",
    "total_amount",
    "currency",
    "line_count",
    "item_count",
    "placed_at",
    "updated_at",
)


class CustomerOrders(SqlProjection):
    NAME = "customer_orders"
    VERSION = 1
    TABLE = "customer_orders"
    HANDLES = {Order.Placed: "on_placed", **dict.fromkeys(STATUS_OF, "on_status_changed")}
    DDL = [
        """CREATE TABLE IF NOT EXISTS {table} (
            order_id uuid PRIMARY KEY,
            customer_id uuid NOT NULL,
            status text NOT NULL,
            total_amount bigint NOT NULL,
            currency text NOT NULL,
            line_count int NOT NULL,
            item_count int NOT NULL,
            placed_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS {table}_customer_idx"
        " ON {table} (customer_id, placed_at DESC, order_id DESC)",
        "CREATE INDEX IF NOT EXISTS {table}_placed_idx ON {table} (placed_at DESC, order_id DESC)",
        "CREATE INDEX IF NOT EXISTS {table}_status_idx ON {table} (status, placed_at DESC)",
    ]

    def on_placed(self, cur: Any, event: Any, position: int) -> None:
        cur.insert(
            self.table,
            COLUMNS,
            (
                event.originator_id,
                event.customer_id,
                OrderStatus.PLACED,
                event.total.amount,
                event.total.currency,
                len(event.lines),
                sum(line.quantity for line in event.lines),
                event.timestamp,
                event.timestamp,
            ),
        )

    def on_status_changed(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"UPDATE {self.table} SET status = %s, updated_at = %s WHERE order_id = %s",
            (status_after(event), event.timestamp, event.originator_id),
        )
