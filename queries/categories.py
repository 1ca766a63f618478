"""The category tree as the shop shows it, read from the search read model's copy of the
tree (so the tree and the category filter always agree)."""

from __future__ import annotations

import msgspec
from tillroll.queries.read_side import ReadSide


class CategoryNode(msgspec.Struct):
    slug: str
    name: str
    children: list[CategoryNode]


class CategoryTreeView(msgspec.Struct):
    items: list[CategoryNode]


def category_tree(read: ReadSide) -> CategoryTreeView:
    """Every category, nested under its parent; siblings by name, then slug."""
    model = read.sql_model("product_search")
    with read.sql_pool.connection() as conn:
        rows = conn.execute(
            f"SELECT slug, name, parent FROM {model.categories_table} ORDER BY name, slug"
        ).fetchall()
    nodes = {slug: CategoryNode(slug, name, []) for slug, name, _ in rows}
    top: list[CategoryNode] = []
    for slug, _, parent in rows:
        (nodes[parent].children if parent in nodes else top).append(nodes[slug])
    return CategoryTreeView(items=top)
