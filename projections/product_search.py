"""product_search (SQL): the catalog as a searchable table: a weighted full-text vector over
name, tags and category, attributes and description; price, stock, archive state; and its
own copy of the category tree, so a category filter includes sub-categories consistently."""

from __future__ import annotations

import json
from typing import Any, ClassVar

from tillroll.aggregates.catalog.product import Product
from tillroll.projections.category_tree import CATEGORY_DDL, CATEGORY_HANDLES, CategoryRows
from tillroll.projections.engine.model import SqlProjection
from tillroll.projections.stock_counters import STOCK_DELTAS, stock_deltas
from tillroll.projections.storable import storable, storable_list, storable_map

LANGUAGE = "english"
"""The text-search configuration: stemming ("mugs" finds "mug") and stop words. The
queries read it from here, so the vector and the query always stem alike."""


def search_vector(name: str, keywords: str, attributes: str, description: str) -> str:
    """SQL for the weighted vector, from four SQL expressions (columns or placeholders)."""
    parts = zip((name, keywords, attributes, description), "ABCD", strict=True)
    return " || ".join(
        f"setweight(to_tsvector('{LANGUAGE}', {expr}), '{weight}')" for expr, weight in parts
    )


ATTRIBUTE_TEXT = "coalesce((SELECT string_agg(value, ' ') FROM jsonb_each_text({})), '')"


class ProductSearch(CategoryRows, SqlProjection):
    NAME = "product_search"
    VERSION = 2
    TABLE = "product_search"
    HANDLES: ClassVar[dict[type, str]] = {
        Product.Created: "on_created",
        Product.PriceChanged: "on_price_changed",
        Product.AttributesChanged: "on_attributes_changed",
        Product.Archived: "on_archived",
        **dict.fromkeys(STOCK_DELTAS, "on_stock_moved"),
        **CATEGORY_HANDLES,
    }
    DDL = [
        """CREATE TABLE IF NOT EXISTS {table} (
            sku text PRIMARY KEY,
            name text NOT NULL,
            description text NOT NULL,
            category text NOT NULL,
            tags text[] NOT NULL,
            attributes jsonb NOT NULL,
            price_amount bigint NOT NULL,
            currency text NOT NULL,
            on_hand bigint NOT NULL DEFAULT 0,
            reserved bigint NOT NULL DEFAULT 0,
            archived boolean NOT NULL DEFAULT false,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            search tsvector NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS {table}_search_idx ON {table} USING gin (search)",
        "CREATE INDEX IF NOT EXISTS {table}_tags_idx ON {table} USING gin (tags)",
        "CREATE INDEX IF NOT EXISTS {table}_attributes_idx ON {table}"
        " USING gin (attributes jsonb_path_ops)",
        "CREATE INDEX IF NOT EXISTS {table}_category_idx ON {table} (category, sku)",
        "CREATE INDEX IF NOT EXISTS {table}_price_idx ON {table} (price_amount, sku)",
        "CREATE INDEX IF NOT EXISTS {table}_name_idx ON {table} (name, sku)",
        "CREATE INDEX IF NOT EXISTS {table}_created_idx ON {table} (created_at, sku)",
        *CATEGORY_DDL,
    ]

    @property
    def categories_table(self) -> str:
        # "<name>_b<build>" last, as every build's table is named (verify groups rows by it).
        return f"{self.TABLE}_categories_b{self.build}"

    @property
    def tables(self) -> list[str]:
        return [self.table, self.categories_table]

    def ddl(self) -> list[str]:
        return [
            statement.format(table=self.table, categories=self.categories_table)
            for statement in self.DDL
        ]

    def on_created(self, cur: Any, event: Any, position: int) -> None:
        tags = storable_list(event.tags)
        attributes = storable_map(event.attributes)
        category = storable(event.category)
        vector = search_vector("%s", "%s", "%s", "%s")
        cur.execute(
            f"INSERT INTO {self.table} (sku, name, description, category, tags, attributes,"
            " price_amount, currency, created_at, updated_at, search)"
            f" VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, {vector})",
            (
                event.sku,
                storable(event.name),
                storable(event.description),
                category,
                tags,
                json.dumps(attributes, sort_keys=True),
                event.price.amount,
                event.price.currency,
                event.timestamp,
                event.timestamp,
                storable(event.name),
                " ".join([*tags, category]),
                " ".join(attributes.values()),
                storable(event.description),
            ),
        )

    def on_price_changed(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"UPDATE {self.table} SET price_amount = %s, currency = %s, updated_at = %s"
            " WHERE sku = %s",
            (event.price.amount, event.price.currency, event.timestamp, event.sku),
        )

    def on_attributes_changed(self, cur: Any, event: Any, position: int) -> None:
        vector = search_vector(
            "name",
            "array_to_string(tags, ' ') || ' ' || category",
            ATTRIBUTE_TEXT.format("%s::jsonb"),
            "description",
        )
        attributes = json.dumps(storable_map(event.attributes), sort_keys=True)
        cur.execute(
            f"UPDATE {self.table} SET attributes = %s::jsonb, search = {vector},"
            " updated_at = %s WHERE sku = %s",
            (attributes, attributes, event.timestamp, event.sku),
        )

    def on_archived(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"UPDATE {self.table} SET archived = true, updated_at = %s WHERE sku = %s",
            (event.timestamp, event.sku),
        )

    def on_stock_moved(self, cur: Any, event: Any, position: int) -> None:
        cur.increment(
            f"UPDATE {self.table} SET on_hand = on_hand + %s, reserved = reserved + %s"
            " WHERE sku = %s",
            (event.sku,),
            stock_deltas(event),
        )
