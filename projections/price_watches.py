"""price_watches (SQL): each customer's watched products and targets, for GET /v1/me/watches.
Who is alerted of a drop is decided on the write side (aggregates/watches/watchers.py)."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.watches.watchers import ProductWatchers
from tillroll.projections.engine.model import SqlProjection
from tillroll.projections.storable import storable


class PriceWatches(SqlProjection):
    NAME = "price_watches"
    VERSION = 1
    TABLE = "price_watches"
    HANDLES = {ProductWatchers.Watched: "on_watched", ProductWatchers.Unwatched: "on_unwatched"}
    DDL = [
        """CREATE TABLE IF NOT EXISTS {table} (
            customer_id uuid NOT NULL,
            sku text NOT NULL,
            target_amount bigint,
            currency text NOT NULL,
            since timestamptz NOT NULL,
            position bigint NOT NULL,
            PRIMARY KEY (customer_id, sku)
        )""",
    ]

    def on_watched(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"INSERT INTO {self.table} (customer_id, sku, target_amount, currency, since, position)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (customer_id, sku) DO UPDATE"
            " SET target_amount = EXCLUDED.target_amount, position = EXCLUDED.position",
            (
                event.customer_id,
                storable(event.sku),
                event.target,
                event.currency,
                event.timestamp,
                position,
            ),
        )

    def on_unwatched(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"DELETE FROM {self.table} WHERE customer_id = %s AND sku = %s",
            (event.customer_id, storable(event.sku)),
        )
