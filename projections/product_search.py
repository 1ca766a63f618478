"""product_search (SQL): the catalog as a searchable table (text, category, tag, price, stock)."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.catalog.product import Product
from tillroll.projections.engine.model import SqlProjection
from tillroll.projections.stock_counters import STOCK_DELTAS, stock_deltas


class ProductSearch(SqlProjection):
    NAME = "product_search"
    VERSION = 1
    TABLE = "product_search"
    HANDLES = {
        Product.Created: "on_created",
        Product.PriceChanged: "on_price_changed",
        **dict.fromkeys(STOCK_DELTAS, "on_stock_moved"),
    }
    DDL = [
        """CREATE TABLE IF NOT EXISTS {table} (
            sku text PRIMARY KEY,
            name text NOT NULL,
            description text NOT NULL,
            category text NOT NULL,
            tags text[] NOT NULL,
            price_amount bigint NOT NULL,
            currency text NOT NULL,
            on_hand bigint NOT NULL DEFAULT 0,
            reserved bigint NOT NULL DEFAULT 0,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            search tsvector GENERATED ALWAYS AS (
                to_tsvector('simple', name || ' ' || description || ' ' || category)
            ) STORED
        )""",
        "CREATE INDEX IF NOT EXISTS {table}_search_idx ON {table} USING gin (search)",
        "CREATE INDEX IF NOT EXISTS {table}_tags_idx ON {table} USING gin (tags)",
        "CREATE INDEX IF NOT EXISTS {table}_category_idx ON {table} (category, sku)",
        "CREATE INDEX IF NOT EXISTS {table}_price_idx ON {table} (price_amount, sku)",
    ]

    def on_created(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"INSERT INTO {self.table} (sku, name, description, category, tags, price_amount,"
            " currency, created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                event.sku,
                event.name,
                event.description,
                event.category,
                list(event.tags),
                event.price.amount,
                event.price.currency,
                event.timestamp,
                event.timestamp,
            ),
        )

    def on_price_changed(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"UPDATE {self.table} SET price_amount = %s, currency = %s, updated_at = %s"
            " WHERE sku = %s",
            (event.price.amount, event.price.currency, event.timestamp, event.sku),
        )

    def on_stock_moved(self, cur: Any, event: Any, position: int) -> None:
        cur.increment(
            f"UPDATE {self.table} SET on_hand = on_hand + %s, reserved = reserved + %s"
            " WHERE sku = %s",
            (event.sku,),
            stock_deltas(event),
        )
