"""Bestsellers and trending products, read from the bestsellers read model (Redis sorted sets
of units sold; what counts as sold is said in projections/bestsellers.py).

Trending compares the last 24 hours with the week before them, per product, in whole UTC
hours: with H the hour `now` falls in,

    recent   = units sold in hours H-23 … H          (the last 24 h, this hour so far included)
    baseline = units sold in hours H-191 … H-24, / 7  (the daily average of the 7 days before)
    growth   = (recent - baseline) / max(baseline, 1)

A product with no sales in the baseline week (a zero baseline) is measured against one unit
a day, so a new product that sold 5 in the last 24 h scores 5.0 instead of dividing by
zero. Only products sold in the last 24 h are listed, by growth, then recent units, then
SKU.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from tillroll.aggregates.money import Money
from tillroll.queries.product_search import ProductSummary, SearchPage
from tillroll.queries.read_side import ReadSide, decode_cursor, encode_cursor

BESTSELLING = "bestselling"
"""The product listing's sort by units sold (GET /v1/products?sort=bestselling)."""
RECENT_HOURS = 24
BASELINE_DAYS = 7


class Trending(msgspec.Struct):
    sku: str
    recent_units: int
    """Units sold in the last 24 h."""
    baseline_daily_units: float
    """Daily average of the 7 days before the last 24 h."""
    growth: float
    """(recent - baseline) / max(baseline, 1)."""


class TrendingList(msgspec.Struct):
    items: list[Trending]
    at: datetime
    """The moment the window ends at (its hour is included so far)."""


class UnitsSold(msgspec.Struct):
    sku: str
    units: int


class Leaderboard(msgspec.Struct):
    items: list[UnitsSold]
    day: str | None = None
    category: str | None = None


def growth(recent: int, baseline_daily: float) -> float:
    return (recent - baseline_daily) / max(baseline_daily, 1.0)


def hour_keys(model: Any, now: datetime, first: int, last: int) -> list[str]:
    """The hour sets of hours H-last … H-first (H: the hour of `now`)."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [
        model.hour_key((hour - timedelta(hours=back)).strftime("%Y-%m-%dT%H"))
        for back in range(first, last + 1)
    ]


def trending(read: ReadSide, now: datetime, limit: int) -> TrendingList:
    model = read.redis_model("bestsellers")
    recent_keys = hour_keys(model, now, 0, RECENT_HOURS - 1)
    baseline_keys = hour_keys(model, now, RECENT_HOURS, RECENT_HOURS * (BASELINE_DAYS + 1) - 1)
    with read.redis.pipeline(transaction=False) as pipe:
        pipe.zunion(recent_keys, withscores=True)
        pipe.zunion(baseline_keys, withscores=True)
        recent_raw, baseline_raw = pipe.execute()
    baseline = {sku.decode(): units for sku, units in baseline_raw}
    items = []
    for raw, units in recent_raw:
        sku = raw.decode()
        daily = baseline.get(sku, 0.0) / BASELINE_DAYS
        items.append(
            Trending(sku, int(units), round(daily, 4), round(growth(int(units), daily), 4))
        )
    items.sort(key=lambda t: (-t.growth, -t.recent_units, t.sku))
    return TrendingList(items=items[:limit], at=now)


def units_sold(read: ReadSide, day: str | None, category: str | None, limit: int) -> Leaderboard:
    """One leaderboard: all-time, of one UTC day, or of one category (all-time)."""
    model = read.redis_model("bestsellers")
    if day is not None:
        key = model.day_key(day)
    elif category is not None:
        key = model.category_key(category)
    else:
        key = model.all_time_key
    rows = read.redis.zrevrange(key, 0, limit - 1, withscores=True)
    items = [UnitsSold(sku.decode(), int(units)) for sku, units in rows]
    return Leaderboard(items=items, day=day, category=category)


def bestselling_products(
    read: ReadSide, category: str | None, limit: int, cursor: str | None
) -> SearchPage:
    """Products by units sold, most first (ties: by SKU), all-time; with `category`, that
    category and everything below it. Products never sold are not listed, nor archived ones
    (a page may then hold fewer than `limit`). The cursor is an offset into the ranking."""
    offset = decode_cursor(cursor, tuple[int])[0] if cursor else 0
    offset = max(offset, 0)
    model = read.redis_model("bestsellers")
    search = read.sql_model("product_search")
    keys = [model.all_time_key]
    if category is not None:
        with read.sql_pool.connection() as conn:
            slugs = conn.execute(
                f"WITH RECURSIVE sub(slug) AS (SELECT %s::text UNION SELECT c.slug"
                f" FROM {search.categories_table} c JOIN sub ON c.parent = sub.slug)"
                " SELECT slug FROM sub",
                (category,),
            ).fetchall()
        keys = [model.category_key(row[0]) for row in slugs]
    # The whole ranking is read and sorted here (one entry per product ever sold): Redis
    # orders ties by SKU descending only, and a category's ranking is a union anyway.
    union = read.redis.zunion(keys, withscores=True)
    ordered = sorted(((sku.decode(), units) for sku, units in union), key=_rank)
    ranking = ordered[offset : offset + limit + 1]
    skus = [sku for sku, _ in ranking[:limit]]
    with read.sql_pool.connection() as conn:
        rows = conn.execute(
            "SELECT sku, name, category, tags, price_amount, currency, on_hand - reserved,"
            f" attributes FROM {search.table} WHERE sku = ANY(%s) AND NOT archived",
            (skus,),
        ).fetchall()
    found = {
        r[0]: ProductSummary(r[0], r[1], r[2], list(r[3]), Money(r[4], r[5]), r[6], dict(r[7]))
        for r in rows
    }
    next_cursor = encode_cursor([offset + limit]) if len(ranking) > limit else None
    return SearchPage(items=[found[s] for s in skus if s in found], next_cursor=next_cursor)


def _rank(entry: tuple[str, float]) -> tuple[float, str]:
    return (-entry[1], entry[0])
