"""price_history (SQL): every price a product has had, with the time it took effect."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.catalog.product import Product
from tillroll.projections.engine.model import SqlProjection


class PriceHistory(SqlProjection):
    NAME = "price_history"
    VERSION = 1
    TABLE = "price_history"
    HANDLES = {Product.Created: "on_price", Product.PriceChanged: "on_price"}
    DDL = [
        """CREATE TABLE IF NOT EXISTS {table} (
            sku text NOT NULL,
            position bigint NOT NULL,
            amount bigint NOT NULL,
            currency text NOT NULL,
            effective_at timestamptz NOT NULL,
            PRIMARY KEY (sku, position)
        )""",
    ]

    def on_price(self, cur: Any, event: Any, position: int) -> None:
        cur.insert(
            self.table,
            ("sku", "position", "amount", "currency", "effective_at"),
            (event.sku, position, event.price.amount, event.price.currency, event.timestamp),
        )
