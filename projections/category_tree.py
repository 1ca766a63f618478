"""The category tree as SQL rows (slug, name, parent), written by the search read model
(product_search) into a table of its own: `GET /v1/categories` reads the tree from it, and a
category filter includes sub-categories at the search model's own position, never against a
tree that is ahead of or behind the products."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.catalog.category import CategoryTree
from tillroll.projections.storable import storable

CATEGORY_HANDLES: dict[type, str] = {
    CategoryTree.CategoryAdded: "on_category_added",
    CategoryTree.CategoryRenamed: "on_category_renamed",
    CategoryTree.CategoryMoved: "on_category_moved",
}

CATEGORY_DDL = [
    """CREATE TABLE IF NOT EXISTS {categories} (
        slug text PRIMARY KEY,
        name text NOT NULL,
        parent text NOT NULL,
        added_at timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS {categories}_parent_idx ON {categories} (parent, slug)",
]


class CategoryRows:
    """Writes the category events into the table named by `categories_table`."""

    @property
    def categories_table(self) -> str:
        raise NotImplementedError

    def on_category_added(self, cur: Any, event: Any, position: int) -> None:
        cur.insert(
            self.categories_table,
            ("slug", "name", "parent", "added_at"),
            (storable(event.slug), storable(event.name), storable(event.parent), event.timestamp),
        )

    def on_category_renamed(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"UPDATE {self.categories_table} SET name = %s WHERE slug = %s",
            (storable(event.name), storable(event.slug)),
        )

    def on_category_moved(self, cur: Any, event: Any, position: int) -> None:
        cur.execute(
            f"UPDATE {self.categories_table} SET parent = %s WHERE slug = %s",
            (storable(event.parent), storable(event.slug)),
        )
