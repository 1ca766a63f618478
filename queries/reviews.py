"""Review queries: a product's visible reviews, newest or most helpful first, in pages with
an opaque cursor (the sort key of the last row)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from tillroll.queries.read_side import Page, Position, ReadSide, decode_cursor, encode_cursor

SORT_PATTERN = r"^(newest|helpful)$(?!\n)"
Count = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
HelpfulCursor = tuple[Count, Position]


class ReviewView(msgspec.Struct):
    review_id: str
    sku: str
    author: str
    rating: int
    title: str
    text: str
    written_at: datetime
    edited_at: datetime | None
    helpful: int


def _view(row: tuple[Any, ...]) -> ReviewView:
    return ReviewView(str(row[0]), row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8])


COLUMNS = "review_id, sku, author, rating, title, body, written_at, edited_at, helpful, position"


def list_reviews(read: ReadSide, sku: str, sort: str, limit: int, cursor: str | None) -> Page:
    """Hidden reviews are left out. Newest: by when they were written (log position);
    helpful: by helpful votes, then newest. A page under `helpful` may shift while votes come
    in; the cursor still never repeats a (votes, position) pair within a walk."""
    table = read.sql_model("product_reviews").table
    where, params = "sku = %s AND NOT hidden", [sku]
    if sort == "helpful":
        order = "helpful DESC, position DESC"
        if cursor:
            helpful, position = decode_cursor(cursor, HelpfulCursor)
            where += " AND (helpful, position) < (%s, %s)"
            params += [helpful, position]
    else:
        order = "position DESC"
        if cursor:
            (position,) = decode_cursor(cursor, tuple[Position])
            where += " AND position < %s"
            params.append(position)
    with read.sql_pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM {table} WHERE {where} ORDER BY {order} LIMIT %s",
            (*params, limit + 1),
        ).fetchall()
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode_cursor([last[8], last[9]] if sort == "helpful" else [last[9]])
    return Page(items=[_view(row) for row in rows[:limit]], next_cursor=next_cursor)
