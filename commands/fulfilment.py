"""After payment: ship (all or some lines), deliver, refund (staff), and returns (requested by
the customer, accepted and received by staff; received goods go back on the shelf)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import ItemCount, Order, return_order_id
from tillroll.commands.context import CommandContext
from tillroll.commands.ordering import OrderChanged, _result, load_order

Counts = Annotated[list[ItemCount], msgspec.Meta(min_length=1, max_length=100)]
Label = Annotated[str, msgspec.Meta(max_length=200)]


class Shipment(msgspec.Struct, frozen=True):
    """The body of POST /v1/orders/{id}/ship; without lines, everything left ships."""

    carrier: Label = ""
    tracking_number: Label = ""
    lines: Counts | None = None


class RefundBody(msgspec.Struct, frozen=True):
    """The body of POST /v1/orders/{id}/refund: minor units; none: all that is left."""

    amount: Annotated[int, msgspec.Meta(gt=0)] | None = None
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class ReturnBody(msgspec.Struct, frozen=True):
    """The body of POST /v1/orders/{id}/returns."""

    lines: Counts


class ShipOrder(msgspec.Struct, frozen=True):
    order_id: UUID
    carrier: Label = ""
    tracking_number: Label = ""
    lines: Counts | None = None


class DeliverOrder(msgspec.Struct, frozen=True):
    order_id: UUID


class RefundOrder(msgspec.Struct, frozen=True):
    order_id: UUID
    amount: int | None = None
    reason: str = ""


class RequestReturn(msgspec.Struct, frozen=True):
    order_id: UUID
    lines: Counts


class AcceptReturn(msgspec.Struct, frozen=True):
    return_id: str


class ReceiveReturn(msgspec.Struct, frozen=True):
    return_id: str


class RefundRequested(msgspec.Struct):
    order_id: str
    refund_id: str
    amount: Money
    refundable: Money
    """What is left to refund after this one."""
    position: int = 0


class ReturnChanged(msgspec.Struct):
    return_id: str
    order_id: str
    status: str
    refund_id: str | None = None
    position: int = 0


def ship_order(cmd: ShipOrder, ctx: CommandContext) -> OrderChanged:
    order = load_order(ctx, cmd.order_id)
    order.ship(cmd.carrier, cmd.tracking_number, list(cmd.lines) if cmd.lines else None)
    return ctx.save(_result(order), order)


def deliver_order(cmd: DeliverOrder, ctx: CommandContext) -> OrderChanged:
    order = load_order(ctx, cmd.order_id)
    order.deliver()
    return ctx.save(_result(order), order)


def refund_order(cmd: RefundOrder, ctx: CommandContext) -> RefundRequested:
    """Ask for a refund; a reaction sends it to the provider (commands/payments.py)."""
    order = load_order(ctx, cmd.order_id)
    currency = order.total.currency
    amount = None if cmd.amount is None else Money(cmd.amount, currency)
    refund_id = order.request_refund(amount, cmd.reason)
    result = RefundRequested(
        str(order.id), refund_id, Money(order.refunds[refund_id], currency), order.refundable
    )
    return ctx.save(result, order)


def request_return(cmd: RequestReturn, ctx: CommandContext) -> ReturnChanged:
    order = load_order(ctx, cmd.order_id)
    return_id = order.request_return(list(cmd.lines))
    return ctx.save(ReturnChanged(return_id, str(order.id), order.returns[return_id]), order)


def _order_of(ctx: CommandContext, return_id: str) -> Order:
    return load_order(ctx, return_order_id(return_id))


def accept_return(cmd: AcceptReturn, ctx: CommandContext) -> ReturnChanged:
    order = _order_of(ctx, cmd.return_id)
    order.accept_return(cmd.return_id)
    return ctx.save(ReturnChanged(cmd.return_id, str(order.id), "accepted"), order)


def receive_return(cmd: ReceiveReturn, ctx: CommandContext) -> ReturnChanged:
    """The goods are back: into stock, and their value is to be refunded, in one save."""
    order = _order_of(ctx, cmd.return_id)
    before = set(order.refunds)
    lines = order.receive_return(cmd.return_id)
    loaded = ctx.load_many([InventoryItem.create_id(count.sku) for count in lines])
    items = []
    for count in lines:
        item: InventoryItem = loaded[InventoryItem.create_id(count.sku)]
        item.restock(order.id, count.quantity, reason=f"return {cmd.return_id}")
        items.append(item)
    refund_id = next(iter(set(order.refunds) - before), None)
    result = ReturnChanged(cmd.return_id, str(order.id), "received", refund_id)
    return ctx.save(result, order, *items)
