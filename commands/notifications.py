"""Notification commands: e-mails to customers, sent by the worker once per cause."""

from __future__ import annotations

from uuid import UUID

import msgspec
from tillroll.aggregates.errors import NotFound
from tillroll.aggregates.identity.account import Account
from tillroll.aggregates.ordering.order import Order
from tillroll.commands.context import CommandContext
from tillroll.commands.ports import OutgoingMail


class SendOrderConfirmation(msgspec.Struct, frozen=True):
    order_id: UUID


class MailSent(msgspec.Struct):
    message_id: str
    delivered: bool
    """False: this message had been delivered before (a repeated job), nothing was sent."""
    position: int = 0


def _amount(minor: int, currency: str) -> str:
    return f"{minor // 100}.{minor % 100:02d} {currency}"


def order_confirmation(order: Order, account: Account) -> OutgoingMail:
    lines = "\n".join(
        f"  {line.quantity} x {line.sku}  "
        f"{_amount(line.unit_price.amount * line.quantity, line.unit_price.currency)}"
        for line in order.lines
    )
    return OutgoingMail(
        message_id=f"<order-confirmation.{order.id}@tillroll>",
        to=account.email,
        subject=f"Your order {str(order.id)[:8]} is confirmed",
        text=(
            f"Hello {account.name},\n\nthank you for your order {order.id}.\n\n{lines}\n\n"
            f"Total: {_amount(order.total.amount, order.total.currency)}\n"
        ),
        headers={"X-Tillroll-Order": str(order.id)},
    )


def send_order_confirmation(cmd: SendOrderConfirmation, ctx: CommandContext) -> MailSent:
    if ctx.mail is None:
        raise RuntimeError("no mailer is wired into this process")
    order = ctx.load(cmd.order_id)
    if not isinstance(order, Order):
        raise NotFound(f"order {cmd.order_id} not found", field="order_id")
    account = ctx.load(order.customer_id)
    mail = order_confirmation(order, account)
    return MailSent(message_id=mail.message_id, delivered=ctx.mail.send(mail))
