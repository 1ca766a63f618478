"""Catalog queries: product card with its breadcrumb (Redis), price history per tier (SQL);
the search lives in queries/product_search.py and is re-exported here."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec
from tillroll.aggregates.catalog.attributes import BASE_TIER
from tillroll.aggregates.money import Money
from tillroll.queries.product_search import (
    SORT_PATTERN,
    SORTS,
    Facets,
    ProductFilter,
    ProductSummary,
    SearchPage,
    search_products,
)
from tillroll.queries.read_side import (
    Page,
    PositionCursor,
    ReadSide,
    RedisRead,
    decode_cursor,
    encode_cursor,
)

__all__ = [
    "SORTS",
    "SORT_PATTERN",
    "Facets",
    "ProductFilter",
    "ProductSummary",
    "SearchPage",
    "search_products",
]


class Image(msgspec.Struct):
    url: str
    alt: str


class Crumb(msgspec.Struct):
    slug: str
    name: str


class RatingSummary(msgspec.Struct, frozen=True):
    average: float | None
    """The mean of the visible reviews' ratings (2 decimals); None without reviews."""
    count: int


class ProductCard(msgspec.Struct):
    sku: str
    name: str
    description: str
    category: str
    tags: list[str]
    price: Money
    available: int
    in_stock: bool
    tier_prices: dict[str, Money] = {}
    images: list[Image] = []
    attributes: dict[str, str] = {}
    archived: bool = False
    breadcrumb: list[Crumb] = []
    """From the top of the category tree down to the product's category; empty when the
    category is not in the tree."""
    rating: RatingSummary = RatingSummary(None, 0)


def breadcrumb(category: str, names: dict[str, str], parents: dict[str, str]) -> list[Crumb]:
    crumbs: list[Crumb] = []
    slug = category
    while slug in names and len(crumbs) <= len(names):
        crumbs.append(Crumb(slug, names[slug]))
        slug = parents.get(slug, "")
    return crumbs[::-1]


def _text(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


def _rating(fields: dict[str, str]) -> RatingSummary:
    count = int(fields.get("rating_count", 0))
    total = int(fields.get("rating_sum", 0))
    return RatingSummary(round(total / count, 2) if count > 0 else None, max(count, 0))


def card_read(sku: str) -> RedisRead[ProductCard]:
    def plan(model: Any) -> list[tuple[str, tuple[Any, ...]]]:
        return [
            ("hgetall", (model.card_key(sku),)),
            ("hgetall", (model.category_names_key,)),
            ("hgetall", (model.category_parents_key,)),
        ]

    def parse(replies: list[Any]) -> ProductCard | None:
        raw, names, parents = replies
        if b"name" not in raw:
            return None
        fields = _text(raw)
        available = int(fields.get("on_hand", 0)) - int(fields.get("reserved", 0))
        currency = fields["price_currency"]
        return ProductCard(
            sku=fields["sku"],
            name=fields["name"],
            description=fields["description"],
            category=fields["category"],
            tags=json.loads(fields["tags"]),
            price=Money(int(fields["price_amount"]), currency),
            available=available,
            in_stock=available > 0,
            tier_prices={
                key.removeprefix("tier:"): Money(int(value), currency)
                for key, value in sorted(fields.items())
                if key.startswith("tier:")
            },
            images=[Image(**image) for image in json.loads(fields.get("images", "[]"))],
            attributes=json.loads(fields.get("attributes", "{}")),
            archived=fields.get("archived") == "1",
            breadcrumb=breadcrumb(fields["category"], _text(names), _text(parents)),
            rating=_rating(fields),
        )

    return RedisRead("product_cards", plan, parse)


def product_card(read: ReadSide, sku: str) -> ProductCard | None:
    return read.run(card_read(sku))[1]


class PricePoint(msgspec.Struct):
    price: Money
    effective_at: datetime
    position: int
    tier: str = BASE_TIER


def price_history(
    read: ReadSide, sku: str, limit: int, cursor: str | None, tier: str = BASE_TIER
) -> Page:
    """One tier's prices (the base price by default), oldest first, by log position."""
    table = read.sql_model("price_history").table
    after = decode_cursor(cursor, PositionCursor)[0] if cursor else 0
    with read.sql_pool.connection() as conn:
        rows = conn.execute(
            f"SELECT position, amount, currency, effective_at FROM {table}"
            " WHERE sku = %s AND tier = %s AND position > %s ORDER BY position LIMIT %s",
            (sku, tier, after, limit + 1),
        ).fetchall()
    items = [PricePoint(Money(r[1], r[2]), r[3], r[0], tier) for r in rows[:limit]]
    next_cursor = encode_cursor([rows[limit - 1][0]]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)
