"""Inventory commands: stock received, stock counted and corrected."""

from __future__ import annotations

from typing import Annotated

import msgspec
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.errors import NotFound
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.sku import Sku, check_sku
from tillroll.commands.context import CommandContext

MAX_MOVEMENT = 1_000_000
Received = Annotated[int, msgspec.Meta(gt=0, le=MAX_MOVEMENT)]
Delta = Annotated[int, msgspec.Meta(ge=-MAX_MOVEMENT, le=MAX_MOVEMENT)]
Note = Annotated[str, msgspec.Meta(max_length=500)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500)]

# A client sends the body of a command; the sku comes from the path. The fields and their
# constraints are the command's own (the same aliases), so the two cannot drift apart.


class Receipt(msgspec.Struct, frozen=True):
    """The body of POST /v1/inventory/{sku}/receipts."""

    quantity: Received
    note: Note = ""


class Adjustment(msgspec.Struct, frozen=True):
    """The body of POST /v1/inventory/{sku}/adjustments."""

    delta: Delta
    reason: Reason


class ReceiveStock(msgspec.Struct, frozen=True):
    sku: Sku
    quantity: Received
    note: Note = ""


class AdjustStock(msgspec.Struct, frozen=True):
    sku: Sku
    delta: Delta
    reason: Reason


class StockChanged(msgspec.Struct):
    sku: str
    on_hand: int
    reserved: int
    available: int
    version: int
    position: int = 0


def _result(item: InventoryItem) -> StockChanged:
    return StockChanged(
        sku=item.sku,
        on_hand=item.on_hand,
        reserved=item.reserved,
        available=item.available,
        version=item.version,
    )


def load_item(ctx: CommandContext, sku: str) -> InventoryItem:
    try:
        return ctx.load(InventoryItem.create_id(check_sku(sku)))
    except NotFound:
        raise NotFound(f"no stock has been recorded for {sku!r}", field="sku") from None


def receive_stock(cmd: ReceiveStock, ctx: CommandContext) -> StockChanged:
    try:
        item = ctx.load(InventoryItem.create_id(check_sku(cmd.sku)))
    except NotFound:
        if not ctx.store.exists(Product.create_id(cmd.sku)):
            raise NotFound(f"product {cmd.sku!r} does not exist", field="sku") from None
        item = InventoryItem.create(cmd.sku)
    item.receive(cmd.quantity, cmd.note)
    return ctx.save(_result(item), item)


def adjust_stock(cmd: AdjustStock, ctx: CommandContext) -> StockChanged:
    item = load_item(ctx, cmd.sku)
    item.adjust(cmd.delta, cmd.reason)
    return ctx.save(_result(item), item)
