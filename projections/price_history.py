"""price_history (SQL): every price a product has had, per tier, with the time it took effect.

Base-price rows (tier 'base') mean what they always meant; a tier's own prices are rows of
their own tier."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.catalog.attributes import BASE_TIER
from tillroll.aggregates.catalog.product import Product
from tillroll.projections.engine.model import SqlProjection


class PriceHistory(SqlProjection):
    NAME = "price_history"
    VERSION = 2
    TABLE = "price_history"
    HANDLES = {
        Product.Created: "on_price",
        Product.PriceChanged: "on_price",
        Product.TierPriceSet: "on_price",
    }
    DDL = [
        """CREATE TABLE IF NOT EXISTS {table} (
            sku text NOT NULL,
            position bigint NOT NULL,
            tier text NOT NULL,
            amount bigint NOT NULL,
            currency text NOT NULL,
            effective_at timestamptz NOT NULL,
            PRIMARY KEY (sku, position)
        )""",
        "CREATE INDEX IF NOT EXISTS {table}_tier_idx ON {table} (sku, tier, position)",
    ]

    def on_price(self, cur: Any, event: Any, position: int) -> None:
        cur.insert(
            self.table,
            ("sku", "position", "tier", "amount", "currency", "effective_at"),
            (
                event.sku,
                position,
                getattr(event, "tier", BASE_TIER),
                event.price.amount,
                event.price.currency,
                event.timestamp,
            ),
        )
