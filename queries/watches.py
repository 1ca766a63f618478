"""Price-watch queries: a customer's watched products and targets."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from tillroll.aggregates.money import Money
from tillroll.queries.read_side import ReadSide


class WatchView(msgspec.Struct):
    sku: str
    target_price: Money | None
    since: datetime


def list_watches(read: ReadSide, customer_id: UUID) -> list[WatchView]:
    table = read.sql_model("price_watches").table
    with read.sql_pool.connection() as conn:
        rows = conn.execute(
            f"SELECT sku, target_amount, currency, since FROM {table}"
            " WHERE customer_id = %s ORDER BY sku LIMIT 1000",
            (customer_id,),
        ).fetchall()
    return [
        WatchView(sku, None if amount is None else Money(amount, currency), since)
        for sku, amount, currency, since in rows
    ]
