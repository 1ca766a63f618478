"""Payment commands: start (or resume) an order's payment, apply the payment provider's news
(webhooks), and issue a requested refund through the provider. The provider is a port
(commands.ports.PaymentsPort): Stripe, or the built-in test-mode provider."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Order
from tillroll.commands.context import CommandContext
from tillroll.commands.ordering import load_order
from tillroll.commands.ports import PaymentsPort

PAYMENT_SUCCEEDED = "payment_intent.succeeded"
PAYMENT_FAILED = "payment_intent.payment_failed"
CHARGE_REFUNDED = "charge.refunded"
HANDLED = frozenset({PAYMENT_SUCCEEDED, PAYMENT_FAILED, CHARGE_REFUNDED})


class StartPayment(msgspec.Struct, frozen=True):
    order_id: UUID


class PaymentView(msgspec.Struct):
    """The body of POST /v1/orders/{id}/payment: what a frontend needs to confirm the
    payment with Stripe.js."""

    payment_intent_id: str
    client_secret: str
    status: str
    position: int = 0


class ApplyPaymentEvent(msgspec.Struct, frozen=True):
    """A verified provider event, reduced to what the order needs. Run with the event id as
    idempotency key: a replayed event is acknowledged and changes nothing."""

    event_id: str
    kind: str
    order_id: UUID | None
    intent_id: str
    amount: int = 0
    currency: str = ""
    failure: str = ""


class PaymentEventApplied(msgspec.Struct):
    event_id: str
    outcome: str
    """'paid', 'payment_failed', 'refunded', 'refund_requested' or 'ignored'."""
    position: int = 0


class IssueRefund(msgspec.Struct, frozen=True):
    """Run in the worker: send a requested refund to the provider (idempotency key: its
    refund id) and record it when the provider confirms it."""

    order_id: UUID
    refund_id: str


class RefundIssued(msgspec.Struct):
    refund_id: str
    status: str
    position: int = 0


def _payments(ctx: CommandContext) -> PaymentsPort:
    if ctx.payments is None:
        raise RuntimeError("no payment provider is wired into this process")
    return ctx.payments


def start_payment(cmd: StartPayment, ctx: CommandContext) -> PaymentView:
    """Create the order's payment intent, or hand back the one it has. Amount and currency
    come from the order; a retry (or a twin request) gets the same intent, since the
    provider's idempotency key is derived from the order and its attempt."""
    payments = _payments(ctx)
    order = load_order(ctx, cmd.order_id)
    if order.payment_intent:
        intent = payments.get_intent(order.payment_intent)
        return PaymentView(intent.id, intent.client_secret, intent.status, order_position(ctx))
    order.check_payable()  # before the provider is asked
    total = order.total
    intent = payments.create_intent(order.id, total.amount, total.currency, order.payment_key)
    order.start_payment(intent.id)
    return ctx.save(PaymentView(intent.id, intent.client_secret, intent.status), order)


def order_position(ctx: CommandContext) -> int:
    head = getattr(ctx.store, "head", None)
    return int(head()) if callable(head) else 0


def apply_payment_event(cmd: ApplyPaymentEvent, ctx: CommandContext) -> PaymentEventApplied:
    if cmd.kind not in HANDLED or cmd.order_id is None:
        return PaymentEventApplied(cmd.event_id, "ignored")
    order = ctx.load_many([cmd.order_id]).get(cmd.order_id)
    if not isinstance(order, Order):
        return PaymentEventApplied(cmd.event_id, "ignored")
    changed: list[Any] = [order]
    outcome = "ignored"
    if cmd.kind == PAYMENT_SUCCEEDED:
        if order.payment_succeeded(cmd.intent_id, Money(cmd.amount, cmd.currency.upper())):
            changed += _commit_stock(ctx, order)
            outcome = "paid"
        elif order.pending_events:
            outcome = "refund_requested"  # paid too late, or twice: given back
    elif cmd.kind == PAYMENT_FAILED:
        if order.payment_failed(cmd.intent_id, cmd.failure):
            outcome = "payment_failed"
    else:
        currency = order.total.currency
        for refund in _payments(ctx).refunds_of(cmd.intent_id):
            if refund.status == "succeeded" and order.record_refund(
                refund.refund_id, Money(refund.amount, currency), reason="confirmed by Stripe"
            ):
                outcome = "refunded"
    return ctx.save(PaymentEventApplied(cmd.event_id, outcome), *changed)


def _commit_stock(ctx: CommandContext, order: Order) -> list[InventoryItem]:
    """Paying commits the reservation: the order's stock leaves `reserved` for good."""
    loaded = ctx.load_many([InventoryItem.create_id(line.sku) for line in order.lines])
    items = [item for item in loaded.values() if item.holds(order.id)]
    for item in items:
        item.commit(order.id)
    return items


def issue_refund(cmd: IssueRefund, ctx: CommandContext) -> RefundIssued:
    order: Order = ctx.load(cmd.order_id)
    if cmd.refund_id in order.refunded:
        return RefundIssued(cmd.refund_id, "succeeded", order_position(ctx))
    amount = order.refunds[cmd.refund_id]
    refund = _payments(ctx).refund(order.refund_refs[cmd.refund_id], amount, cmd.refund_id)
    if refund.status != "succeeded":
        # Pending at the provider: its charge.refunded webhook records it later.
        return RefundIssued(cmd.refund_id, refund.status, order_position(ctx))
    order.record_refund(cmd.refund_id, Money(amount, order.total.currency), reason="refund")
    return ctx.save(RefundIssued(cmd.refund_id, refund.status), order)
