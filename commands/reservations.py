"""Reservation expiry: an order still unpaid when its payment time is up is cancelled and
its stock released. Scheduled by the reservation_expiry reaction when the order is placed."""

from __future__ import annotations

from uuid import UUID

import msgspec
from tillroll.aggregates.ordering.order import OrderStatus
from tillroll.commands.context import CommandContext
from tillroll.commands.ordering import cancel_with_stock, load_order

EXPIRY_REASON = "payment timeout: the reservation expired"


class ExpireReservation(msgspec.Struct, frozen=True):
    order_id: UUID


class ReservationExpiry(msgspec.Struct):
    order_id: str
    expired: bool
    """False: the order had moved on (paid, cancelled...) and was left alone."""
    status: str
    position: int = 0


def expire_reservation(cmd: ExpireReservation, ctx: CommandContext) -> ReservationExpiry:
    order = load_order(ctx, cmd.order_id)
    if order.status != OrderStatus.PLACED:
        return ReservationExpiry(str(order.id), expired=False, status=order.status)
    # The check and the cancellation are saved against the version just loaded: a payment
    # saved in between makes this save a version conflict, and the retry (commands/bus.py)
    # loads the paid order and leaves it alone.
    items = cancel_with_stock(ctx, order, EXPIRY_REASON, stock_reason="reservation expired")
    result = ReservationExpiry(str(order.id), expired=True, status=order.status)
    return ctx.save(result, order, *items)
