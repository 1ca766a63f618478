"""Catalog queries: product card (Redis), product search and price history (SQL)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import msgspec
from tillroll.aggregates.money import Money
from tillroll.queries.read_side import (
    Page,
    ReadSide,
    RedisRead,
    decode_cursor,
    encode_cursor,
    position_page,
)


class ProductCard(msgspec.Struct):
    sku: str
    name: str
    description: str
    category: str
    tags: list[str]
    price: Money
    available: int
    in_stock: bool


def card_read(sku: str) -> RedisRead[ProductCard]:
    def parse(replies: list[Any]) -> ProductCard | None:
        (raw,) = replies
        if b"name" not in raw:
            return None
        fields = {k.decode(): v.decode() for k, v in raw.items()}
        available = int(fields.get("on_hand", 0)) - int(fields.get("reserved", 0))
        return ProductCard(
            sku=fields["sku"],
            name=fields["name"],
            description=fields["description"],
            category=fields["category"],
            tags=json.loads(fields["tags"]),
            price=Money(int(fields["price_amount"]), fields["price_currency"]),
            available=available,
            in_stock=available > 0,
        )

    return RedisRead("product_cards", lambda model: [("hgetall", (model.card_key(sku),))], parse)


def product_card(read: ReadSide, sku: str) -> ProductCard | None:
    return read.run(card_read(sku))[1]


class ProductSummary(msgspec.Struct):
    sku: str
    name: str
    category: str
    tags: list[str]
    price: Money
    available: int


SORTS = {
    # name -> (ORDER BY column, direction)
    "sku": ("sku", "ASC"),
    "price": ("price_amount", "ASC"),
    "-price": ("price_amount", "DESC"),
    "name": ("name", "ASC"),
    "newest": ("created_at", "DESC"),
}


class ProductFilter(msgspec.Struct, frozen=True):
    q: str | None = None
    category: str | None = None
    tag: str | None = None
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    sort: str = "sku"
    limit: int = 20
    cursor: str | None = None


def search_products(read: ReadSide, f: ProductFilter) -> Page:
    table = read.sql_model("product_search").table
    column, direction = SORTS[f.sort]
    where, params = [], []
    if f.q:
        where.append("search @@ plainto_tsquery('simple', %s)")
        params.append(f.q)
    if f.category:
        where.append("category = %s")
        params.append(f.category)
    if f.tag:
        where.append("tags @> ARRAY[%s]::text[]")
        params.append(f.tag)
    if f.min_price is not None:
        where.append("price_amount >= %s")
        params.append(f.min_price)
    if f.max_price is not None:
        where.append("price_amount <= %s")
        params.append(f.max_price)
    if f.in_stock is True:
        where.append("on_hand - reserved > 0")
    elif f.in_stock is False:
        where.append("on_hand - reserved <= 0")
    if f.cursor:
        last_value, last_sku = decode_cursor(f.cursor, 2)
        op = ">" if direction == "ASC" else "<"
        if column == "sku":
            where.append(f"sku {op} %s")
            params.append(last_sku)
        else:
            where.append(f"({column}, sku) {op} (%s, %s)")
            params.extend([last_value, last_sku])
    order = f"{column} {direction}, sku {direction}" if column != "sku" else f"sku {direction}"
    sql = (
        f"SELECT sku, name, category, tags, price_amount, currency, on_hand - reserved,"
        f" {column} FROM {table}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + f" ORDER BY {order} LIMIT %s"
    )
    params.append(f.limit + 1)
    with read.sql_pool.connection() as conn:
        rows = conn.execute(sql, params).fetchall()
    items = [
        ProductSummary(r[0], r[1], r[2], list(r[3]), Money(r[4], r[5]), r[6])
        for r in rows[: f.limit]
    ]
    next_cursor = None
    if len(rows) > f.limit:
        last = rows[f.limit - 1]
        sort_value = last[7].isoformat() if isinstance(last[7], datetime) else last[7]
        next_cursor = encode_cursor([sort_value, last[0]])
    return Page(items=items, next_cursor=next_cursor)


class PricePoint(msgspec.Struct):
    price: Money
    effective_at: datetime
    position: int


def price_history(read: ReadSide, sku: str, limit: int, cursor: str | None) -> Page:
    return position_page(
        read,
        read.sql_model("price_history").table,
        "amount, currency, effective_at",
        sku,
        limit,
        cursor,
        lambda r: PricePoint(Money(r[1], r[2]), r[3], r[0]),
    )
