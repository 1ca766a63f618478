"""Inventory queries: stock level (Redis) and the stock ledger (SQL)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from tillroll.queries.read_side import Page, ReadSide, RedisRead, position_page


class StockLevel(msgspec.Struct):
    sku: str
    on_hand: int
    reserved: int
    available: int


def stock_read(sku: str) -> RedisRead[StockLevel]:
    def parse(replies: list[Any]) -> StockLevel | None:
        ((on_hand, reserved),) = replies
        if on_hand is None and reserved is None:
            return None
        on_hand_i, reserved_i = int(on_hand or 0), int(reserved or 0)
        return StockLevel(sku, on_hand_i, reserved_i, on_hand_i - reserved_i)

    return RedisRead(
        "stock_levels",
        lambda model: [("hmget", (model.stock_key(sku), ["on_hand", "reserved"]))],
        parse,
    )


def stock_level(read: ReadSide, sku: str) -> StockLevel | None:
    return read.run(stock_read(sku))[1]


class LedgerEntry(msgspec.Struct):
    position: int
    kind: str
    on_hand_change: int
    reserved_change: int
    order_id: UUID | None
    note: str
    at: datetime


def ledger(read: ReadSide, sku: str, limit: int, cursor: str | None) -> Page:
    return position_page(
        read,
        read.sql_model("inventory_ledger").table,
        "kind, on_hand_change, reserved_change, order_id, note, at",
        sku,
        limit,
        cursor,
        lambda r: LedgerEntry(*r),
    )
