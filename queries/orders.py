"""Order queries: one order with its status history (Redis), order lists (SQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import OrderLine
from tillroll.queries.read_side import Page, ReadSide, RedisRead, decode_cursor, encode_cursor

OrdersCursor = tuple[Annotated[datetime, msgspec.Meta(tz=True)], UUID]
"""(placed_at, order_id) of the last order of a page."""


class OrderLineView(OrderLine, frozen=True):
    """A line as the order was placed, with its total worked out for display."""

    line_total: Money


class ItemCountView(msgspec.Struct):
    sku: str
    quantity: int


class StatusChange(msgspec.Struct, omit_defaults=True):
    """A status the order took, or a step of its life that left the status as it was
    (payment_failed, refund_requested, return_requested/accepted/received, ...)."""

    status: str
    at: datetime
    position: int
    reason: str | None = None
    carrier: str | None = None
    tracking_code: str | None = None
    refund_id: str | None = None
    return_id: str | None = None
    intent_id: str | None = None
    amount: int | None = None
    """Minor units of the order's currency (refunds, payments)."""
    lines: list[ItemCountView] | None = None


class OrderView(msgspec.Struct):
    order_id: UUID
    customer_id: UUID
    status: str
    lines: list[OrderLineView]
    total: Money
    shipping_address: dict[str, str]
    placed_at: datetime
    updated_at: datetime
    status_history: list[StatusChange]


class _OrderDoc(msgspec.Struct):
    order_id: UUID
    customer_id: UUID
    total: Money
    # Lines stay plain here: decoding them as OrderLine would re-check today's input rules
    # (patterns, bounds) against orders stored before those rules, and fail on read.
    lines: list[dict[str, Any]]
    shipping_address: dict[str, str]
    placed_at: datetime
    position: int


def _line_view(line: dict[str, Any]) -> OrderLineView:
    unit_price = Money(**line["unit_price"])
    quantity = line["quantity"]
    return OrderLineView(line["sku"], quantity, unit_price, unit_price.times(quantity))


def order_read(order_id: UUID) -> RedisRead[OrderView]:
    key = str(order_id)

    def plan(model: Any) -> list[tuple[str, tuple[Any, ...]]]:
        return [
            ("hmget", (model.order_key(key), ["doc", "status", "updated_at"])),
            ("lrange", (model.history_key(key), 0, -1)),
        ]

    def parse(replies: list[Any]) -> OrderView | None:
        (doc_raw, status, updated_at), history = replies
        if doc_raw is None or status is None:
            return None
        doc = msgspec.json.decode(doc_raw, type=_OrderDoc)
        return OrderView(
            order_id=doc.order_id,
            customer_id=doc.customer_id,
            status=status.decode(),
            lines=[_line_view(line) for line in doc.lines],
            total=doc.total,
            shipping_address=doc.shipping_address,
            placed_at=doc.placed_at,
            updated_at=datetime.fromisoformat(updated_at.decode()),
            status_history=[StatusChange("placed", doc.placed_at, doc.position)]
            + [msgspec.json.decode(h, type=StatusChange) for h in history],
        )

    return RedisRead("order_status", plan, parse)


def order_view(read: ReadSide, order_id: UUID) -> OrderView | None:
    return read.run(order_read(order_id))[1]


class OrderSummary(msgspec.Struct):
    order_id: UUID
    customer_id: UUID
    status: str
    total: Money
    line_count: int
    item_count: int
    placed_at: datetime
    updated_at: datetime


class OrderFilter(msgspec.Struct, frozen=True):
    customer_id: UUID | None = None
    status: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 20
    cursor: str | None = None


def list_orders(read: ReadSide, f: OrderFilter) -> Page:
    table = read.sql_model("customer_orders").table
    where, params = [], []
    if f.customer_id is not None:
        where.append("customer_id = %s")
        params.append(f.customer_id)
    if f.status:
        where.append("status = %s")
        params.append(f.status)
    if f.since:
        where.append("placed_at >= %s")
        params.append(f.since)
    if f.until:
        where.append("placed_at < %s")
        params.append(f.until)
    if f.cursor:
        placed_at, order_id = decode_cursor(f.cursor, OrdersCursor)
        where.append("(placed_at, order_id) < (%s::timestamptz, %s::uuid)")
        params.extend([placed_at, order_id])
    sql = (
        f"SELECT order_id, customer_id, status, total_amount, currency, line_count, item_count,"
        f" placed_at, updated_at FROM {table}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + " ORDER BY placed_at DESC, order_id DESC LIMIT %s"
    )
    params.append(f.limit + 1)
    with read.sql_pool.connection() as conn:
        rows = conn.execute(sql, params).fetchall()
    items = [
        OrderSummary(r[0], r[1], r[2], Money(r[3], r[4]), r[5], r[6], r[7], r[8])
        for r in rows[: f.limit]
    ]
    next_cursor = None
    if len(rows) > f.limit:
        last = rows[f.limit - 1]
        next_cursor = encode_cursor([last[7].isoformat(), str(last[0])])
    return Page(items=items, next_cursor=next_cursor)
