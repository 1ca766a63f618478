"""Notification commands: e-mails to customers, sent by the worker once per cause.

Each message's Message-ID is derived from its cause (the order for a confirmation or a
receipt; the order and the event's version for a shipment, a refund or a return, of which an
order may have several), so a mailer can refuse a second delivery and a reader can recognise
a duplicate."""

from __future__ import annotations

from uuid import UUID

import msgspec
from tillroll.aggregates.errors import NotFound
from tillroll.aggregates.identity.account import Account
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Order
from tillroll.commands import mail_templates
from tillroll.commands.context import CommandContext
from tillroll.commands.mail_templates import MailTemplate
from tillroll.commands.ports import OutgoingMail


class SendOrderConfirmation(msgspec.Struct, frozen=True):
    order_id: UUID


class SendPaymentReceipt(msgspec.Struct, frozen=True):
    order_id: UUID
    payment_ref: str = ""
    amount: Money | None = None
    """The amount paid, as the payment event recorded it (None: the order's total)."""


class SendShipmentNotice(msgspec.Struct, frozen=True):
    order_id: UUID
    shipment: int
    """The version of the order's Shipped event: one notice per shipment."""
    carrier: str = ""
    tracking: str = ""


class SendRefundNotice(msgspec.Struct, frozen=True):
    order_id: UUID
    refund: int
    """The version of the order's Refunded event: one notice per refund."""
    amount: int | None = None
    """The amount refunded, in minor units of the order's currency (as the Refunded event
    carries it); None: the order's total, a full refund."""
    reason: str = ""


class SendReturnReceived(msgspec.Struct, frozen=True):
    order_id: UUID
    received: int
    """The version of the order's ReturnReceived event: one message per return."""
    lines: list[tuple[str, int]] = []
    """(sku, quantity) received; empty: the order's lines."""


class MailSent(msgspec.Struct):
    message_id: str
    delivered: bool
    """False: this message had been delivered before (a repeated job), nothing was sent."""
    position: int = 0


def _amount(minor: int, currency: str) -> str:
    return f"{minor // 100}.{minor % 100:02d} {currency}"


def _money(money: Money) -> str:
    return _amount(money.amount, money.currency)


def _order_lines(order: Order) -> str:
    return "\n".join(
        f"  {line.quantity} x {line.sku}  "
        f"{_amount(line.unit_price.amount * line.quantity, line.unit_price.currency)}"
        for line in order.lines
    )


def _compose(
    template: MailTemplate,
    message_id: str,
    order: Order,
    account: Account,
    **values: str,
) -> OutgoingMail:
    subject, text, html = template.render(
        {
            "name": account.name,
            "order_id": str(order.id),
            "order_ref": str(order.id)[:8],
            "lines": _order_lines(order),
            "total": _money(order.total),
            **values,
        }
    )
    return OutgoingMail(
        message_id=message_id,
        to=account.email,
        subject=subject,
        text=text,
        html=html,
        headers={"X-Tillroll-Order": str(order.id)},
    )


def order_confirmation(order: Order, account: Account) -> OutgoingMail:
    return _compose(
        mail_templates.CONFIRMATION, f"<order-confirmation.{order.id}@tillroll>", order, account
    )


def _customer(ctx: CommandContext, order_id: UUID) -> tuple[Order, Account]:
    order = ctx.load(order_id)
    if not isinstance(order, Order):
        raise NotFound(f"order {order_id} not found", field="order_id")
    account = ctx.load(order.customer_id)
    return order, account


def _send(ctx: CommandContext, mail: OutgoingMail) -> MailSent:
    if ctx.mail is None:
        raise RuntimeError("no mailer is wired into this process")
    return MailSent(message_id=mail.message_id, delivered=ctx.mail.send(mail))


def send_order_confirmation(cmd: SendOrderConfirmation, ctx: CommandContext) -> MailSent:
    order, account = _customer(ctx, cmd.order_id)
    return _send(ctx, order_confirmation(order, account))


def send_payment_receipt(cmd: SendPaymentReceipt, ctx: CommandContext) -> MailSent:
    order, account = _customer(ctx, cmd.order_id)
    mail = _compose(
        mail_templates.RECEIPT,
        f"<receipt.{order.id}@tillroll>",
        order,
        account,
        amount=_money(cmd.amount or order.total),
        payment_ref=cmd.payment_ref or "-",
    )
    return _send(ctx, mail)


def send_shipment_notice(cmd: SendShipmentNotice, ctx: CommandContext) -> MailSent:
    order, account = _customer(ctx, cmd.order_id)
    mail = _compose(
        mail_templates.SHIPMENT,
        f"<shipment.{order.id}.{cmd.shipment}@tillroll>",
        order,
        account,
        carrier=cmd.carrier or "-",
        tracking=cmd.tracking or "-",
    )
    return _send(ctx, mail)


def send_refund_notice(cmd: SendRefundNotice, ctx: CommandContext) -> MailSent:
    order, account = _customer(ctx, cmd.order_id)
    currency = order.total.currency
    refunded = order.total if cmd.amount is None else Money(cmd.amount, currency)
    mail = _compose(
        mail_templates.REFUND,
        f"<refund.{order.id}.{cmd.refund}@tillroll>",
        order,
        account,
        amount=_money(refunded),
        reason=cmd.reason or "-",
    )
    return _send(ctx, mail)


def send_return_received(cmd: SendReturnReceived, ctx: CommandContext) -> MailSent:
    order, account = _customer(ctx, cmd.order_id)
    lines = (
        "\n".join(f"  {quantity} x {sku}" for sku, quantity in cmd.lines)
        if cmd.lines
        else _order_lines(order)
    )
    mail = _compose(
        mail_templates.RETURN,
        f"<return.{order.id}.{cmd.received}@tillroll>",
        order,
        account,
        lines=lines,
    )
    return _send(ctx, mail)
