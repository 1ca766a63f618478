"""Product search over the product_search read model: full-text (stemmed, prefix for
type-ahead, ranked), filters (a category with its sub-categories, tag, attribute, price,
stock), facet counts of the whole result set, and keyset pages that stay stable while
products change."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Any

import msgspec
from tillroll.aggregates.money import Money
from tillroll.projections.product_search import LANGUAGE
from tillroll.queries.read_side import BadCursor, ReadSide, decode_cursor, encode_cursor

# sort name -> (SQL of the key, direction); every sort ends on sku in the same direction,
# so (key, sku) is a total order and a page starts strictly after the last one shown.
SORTS = {
    "relevance": ("ts_rank(search, {query})", "DESC"),
    "sku": ("sku", "ASC"),
    "price": ("price_amount", "ASC"),
    "-price": ("price_amount", "DESC"),
    "name": ("name", "ASC"),
    "newest": ("created_at", "DESC"),
}
SORT_PATTERN = r"^(relevance|sku|price|-price|name|newest)$(?!\n)"

PRICE_BANDS = (0, 1000, 2500, 5000, 10000, 25000)
"""Lower bounds of the price bands (minor units); the last band is open-ended."""

MAX_WORDS = 10
_WORD = re.compile(r"[^\W_]+")
_CURSOR_KEY = b"tillroll/product-search/cursor"


def band_label(amount: int) -> str:
    lows = [low for low in PRICE_BANDS if low <= amount]
    low = lows[-1] if lows else PRICE_BANDS[0]
    i = PRICE_BANDS.index(low)
    return f"{low}+" if i == len(PRICE_BANDS) - 1 else f"{low}-{PRICE_BANDS[i + 1] - 1}"


def _band_sql() -> str:
    cases = " ".join(
        f"WHEN price_amount >= {low} THEN '{band_label(low)}'" for low in reversed(PRICE_BANDS)
    )
    return f"CASE {cases} ELSE '{band_label(0)}' END"


def tsquery_text(q: str) -> str | None:
    """A to_tsquery() argument built from words only, so no user input is ever parsed as
    query syntax: every word must match, the last one as a prefix (type-ahead)."""
    words = [word.lower() for word in _WORD.findall(q)][:MAX_WORDS]
    if not words:
        return None
    return " & ".join([*words[:-1], f"{words[-1]}:*"])


class ProductFilter(msgspec.Struct, frozen=True):
    q: str | None = None
    category: str | None = None
    tag: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    min_price: int | None = None
    max_price: int | None = None
    in_stock: bool | None = None
    sort: str | None = None
    """None: by relevance when there is a text query, else by sku."""
    limit: int = 20
    cursor: str | None = None
    facets: bool = True

    @property
    def text(self) -> str | None:
        return tsquery_text(self.q) if self.q else None

    @property
    def order(self) -> str:
        sort = self.sort or ("relevance" if self.text else "sku")
        return "sku" if sort == "relevance" and not self.text else sort


class ProductSummary(msgspec.Struct):
    sku: str
    name: str
    category: str
    tags: list[str]
    price: Money
    available: int
    attributes: dict[str, str] = {}


class Facets(msgspec.Struct):
    """Counts over every product the search found (all pages), not only this page."""

    category: dict[str, int]
    tag: dict[str, int]
    attribute: dict[str, dict[str, int]]
    price_band: dict[str, int]


class SearchPage(msgspec.Struct):
    items: list[ProductSummary]
    next_cursor: str | None
    facets: Facets | None = None


def _where(f: ProductFilter, categories: str) -> tuple[list[str], list[Any]]:
    where, params = ["NOT archived"], []
    if f.text:
        where.append(f"search @@ to_tsquery('{LANGUAGE}', %s)")
        params.append(f.text)
    if f.category:
        # The category and everything below it; a category outside the tree (free text
        # from before the tree existed) still matches its own products.
        where.append(
            "category IN (WITH RECURSIVE sub(slug) AS (SELECT %s::text UNION"
            f" SELECT c.slug FROM {categories} c JOIN sub ON c.parent = sub.slug)"
            " SELECT slug FROM sub)"
        )
        params.append(f.category)
    if f.tag:
        where.append("tags @> ARRAY[%s]::text[]")
        params.append(f.tag)
    for name, value in f.attributes:
        where.append("attributes @> jsonb_build_object(%s::text, %s::text)")
        params.extend([name, value])
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
    return where, params


def _fingerprint(f: ProductFilter) -> str:
    """Ties a cursor to the search it came from: another search's cursor is refused."""
    scope = msgspec.structs.replace(f, cursor=None, limit=0, facets=False, sort=f.order)
    return hashlib.blake2b(msgspec.json.encode(scope), key=_CURSOR_KEY, digest_size=8).hexdigest()


def _seal(f: ProductFilter, value: Any, sku: str) -> str:
    body = msgspec.json.encode([value, sku])
    check = hashlib.blake2b(body + _fingerprint(f).encode(), key=_CURSOR_KEY, digest_size=8)
    return encode_cursor([value, sku, check.hexdigest()])


def _open(f: ProductFilter) -> tuple[Any, str]:
    """The (sort value, sku) a cursor carries, checked: a cursor that was edited, forged or
    made for another search is a BadCursor (400), never a query error."""
    assert f.cursor is not None
    value, sku, check = decode_cursor(f.cursor, tuple[Any, str, str])
    if not isinstance(sku, str) or not isinstance(check, str) or _seal(f, value, sku) != f.cursor:
        raise BadCursor("cursor is not one this search returned")
    order = f.order
    if order == "newest":
        try:
            return datetime.fromisoformat(value), sku
        except (TypeError, ValueError):
            raise BadCursor("cursor is not one this search returned") from None
    wanted = {"relevance": float, "price": int, "-price": int, "name": str, "sku": type(None)}
    kind = wanted[order]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BadCursor("cursor is not one this search returned")
    return value, sku


def search_products(read: ReadSide, f: ProductFilter) -> SearchPage:
    model = read.sql_model("product_search")
    table, categories = model.table, model.categories_table
    where, params = _where(f, categories)
    query = f"to_tsquery('{LANGUAGE}', %s)"
    key_sql, direction = SORTS[f.order]
    key_params: list[Any] = []
    if "{query}" in key_sql:
        key_sql = key_sql.format(query=query)
        key_params = [f.text]
    page_where, page_params = list(where), list(params)
    if f.cursor:
        value, sku = _open(f)
        op = ">" if direction == "ASC" else "<"
        if f.order == "sku":
            page_where.append(f"sku {op} %s")
            page_params.append(sku)
        else:
            cast = "::real" if f.order == "relevance" else ""
            page_where.append(f"({key_sql}, sku) {op} (%s{cast}, %s)")
            page_params.extend([*key_params, value, sku])
    sql = (
        "SELECT sku, name, category, tags, price_amount, currency, on_hand - reserved,"
        f" attributes, {key_sql} FROM {table} WHERE {' AND '.join(page_where)}"
        f" ORDER BY {key_sql} {direction}, sku {direction} LIMIT %s"
    )
    with read.sql_pool.connection() as conn:
        rows = conn.execute(sql, [*key_params, *page_params, *key_params, f.limit + 1]).fetchall()
        facets = _facets(conn, table, where, params) if f.facets else None
    items = [
        ProductSummary(r[0], r[1], r[2], list(r[3]), Money(r[4], r[5]), r[6], dict(r[7]))
        for r in rows[: f.limit]
    ]
    next_cursor = None
    if len(rows) > f.limit:
        last = rows[f.limit - 1]
        value = None if f.order == "sku" else last[8]
        if isinstance(value, datetime):
            value = value.isoformat()
        next_cursor = _seal(f, value, last[0])
    return SearchPage(items=items, next_cursor=next_cursor, facets=facets)


def _facets(conn: Any, table: str, where: list[str], params: list[Any]) -> Facets:
    """Every facet in one statement over the same filtered set as the results."""
    sql = (
        f"WITH r AS (SELECT category, tags, attributes, price_amount FROM {table}"
        f" WHERE {' AND '.join(where)})"
        " SELECT 'category', category, '', count(*) FROM r GROUP BY category"
        " UNION ALL SELECT 'tag', tag, '', count(*) FROM r, unnest(r.tags) AS tag GROUP BY tag"
        " UNION ALL SELECT 'attribute', a.key, a.value, count(*)"
        " FROM r, jsonb_each_text(r.attributes) AS a GROUP BY a.key, a.value"
        f" UNION ALL SELECT 'price_band', {_band_sql()}, '', count(*) FROM r GROUP BY 2"
    )
    facets = Facets(category={}, tag={}, attribute={}, price_band={})
    for kind, key, value, count in conn.execute(sql, params).fetchall():
        if kind == "attribute":
            facets.attribute.setdefault(key, {})[value] = count
        else:
            getattr(facets, kind)[key] = count
    return facets
