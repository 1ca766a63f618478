"""Inventory commands: stock received, stock counted and corrected."""

from __future__ import annotations

import msgspec
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.errors import NotFound
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.sku import check_sku
from tillroll.commands.context import CommandContext


class ReceiveStock(msgspec.Struct, frozen=True):
    sku: str
    quantity: int
    note: str = ""


class AdjustStock(msgspec.Struct, frozen=True):
    sku: str
    delta: int
    reason: str


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
