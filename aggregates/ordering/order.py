"""Order: lines, a shipping address and a lifecycle that only moves along legal transitions:
placed -> paid -> (partially_)shipped -> delivered, cancel before shipment, refunds that never
exceed what was paid, and returns of delivered lines."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import Conflict, IllegalTransition, InvalidValue, NotFound
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.lifecycle import (
    LIFECYCLE,
    REFUNDABLE,
    SHIPMENT_STEPS,
    TRANSITIONS,
    OrderStatus,
    ReturnStatus,
    return_order_id,
)
from tillroll.aggregates.ordering.lines import (
    MAX_LINES,
    MAX_QUANTITY,
    Address,
    Country,
    ItemCount,
    Lines,
    OrderLine,
    Quantity,
    Text,
    check_counts,
    check_lines,
)

# What this module has always offered, now kept beside it.
__all__ = [
    "LIFECYCLE",
    "MAX_LINES",
    "MAX_QUANTITY",
    "REFUNDABLE",
    "SHIPMENT_STEPS",
    "TRANSITIONS",
    "Address",
    "Country",
    "ItemCount",
    "Lines",
    "Order",
    "OrderLine",
    "OrderStatus",
    "Quantity",
    "ReturnStatus",
    "Text",
    "check_lines",
    "return_order_id",
]

S = OrderStatus


class Order(Aggregate):
    @classmethod
    def place(cls, customer_id: UUID, lines: list[OrderLine], shipping_address: Address) -> Order:
        total = check_lines(lines)
        return cls(
            customer_id=customer_id,
            lines=list(lines),
            shipping_address=shipping_address,
            total=total,
        )

    @event("Placed")
    def __init__(
        self,
        customer_id: UUID,
        lines: list[OrderLine],
        shipping_address: Address,
        total: Money,
    ) -> None:
        self.customer_id = customer_id
        self.lines = lines
        self.shipping_address = shipping_address
        self.total = total
        self.status = S.PLACED
        self.cancel_reason = ""
        self.payment_attempt = 1
        self.payment_intent = ""
        """The current attempt's payment intent (none yet, or the last one failed)."""
        self.payment_ref = ""
        """The payment that paid the order."""
        self.payments: dict[str, int] = {}
        """Every payment received (intent id -> minor units), the order's own and extra ones."""
        self.refunds: dict[str, int] = {}
        """Refunds requested or confirmed (refund id -> minor units): their sum <= paid."""
        self.refund_refs: dict[str, str] = {}
        """Which payment each requested refund gives back."""
        self.refunded: dict[str, int] = {}
        """Refunds the payment provider confirmed."""
        self.shipped: dict[str, int] = {}
        self.returns: dict[str, str] = {}
        self.return_lines: dict[str, list[ItemCount]] = {}

    # --- the lifecycle -------------------------------------------------------------------

    def can_move_to(self, status: str) -> bool:
        return status in LIFECYCLE.get(self.status, frozenset())

    def _require(self, status: str) -> None:
        if not self.can_move_to(status):
            raise IllegalTransition(
                f"order {self.id} is {self.status}; it cannot become {status}",
                field="status",
                current_status=self.status,
            )

    def cancel(self, reason: str, by: str) -> None:
        """Before shipment only. A paid order's payment is refunded in the same event."""
        self._require(S.CANCELLED)
        left = self.refundable
        if left.amount > 0:
            self._cancelled(
                reason=reason, by=by, refund_id=self._next_refund_id(), refund_amount=left.amount
            )
        else:
            self._cancelled(reason=reason, by=by)

    @event("Cancelled")
    def _cancelled(self, reason: str, by: str, refund_id: str = "", refund_amount: int = 0) -> None:
        # refund_amount: minor units of the order's currency (0: nothing was paid).
        self.status = S.CANCELLED
        self.cancel_reason = reason
        if refund_id and refund_amount:
            self.refunds[refund_id] = refund_amount
            self.refund_refs[refund_id] = self.payment_ref

    # --- payment -------------------------------------------------------------------------

    @property
    def payment_key(self) -> str:
        """The idempotency key of this attempt's payment intent: a retry gets the same one."""
        return f"tillroll-order-{self.id}-attempt-{self.payment_attempt}"

    @property
    def paid_total(self) -> Money:
        return Money(sum(self.payments.values()), self.total.currency)

    def check_payable(self) -> None:
        self._require(S.PAID)

    def start_payment(self, intent_id: str) -> None:
        self._require(S.PAID)
        if intent_id != self.payment_intent:
            self._payment_started(intent_id=intent_id, attempt=self.payment_attempt)

    @event("PaymentStarted")
    def _payment_started(self, intent_id: str, attempt: int) -> None:
        self.payment_intent = intent_id

    def payment_failed(self, intent_id: str, reason: str) -> bool:
        """A failed attempt: the next one gets a new intent. Stale news is ignored."""
        if self.status != S.PLACED or intent_id != self.payment_intent:
            return False
        self._payment_failed(intent_id=intent_id, reason=reason[:500], attempt=self.payment_attempt)
        return True

    @event("PaymentFailed")
    def _payment_failed(self, intent_id: str, reason: str, attempt: int) -> None:
        self.payment_attempt = attempt + 1
        self.payment_intent = ""

    def payment_succeeded(self, intent_id: str, amount: Money) -> bool:
        """Money arrived. True if it paid the order; a payment the order cannot take (it was
        cancelled meanwhile, or paid by another intent) is recorded and refunded."""
        if intent_id in self.payments:
            return False  # news of a payment already recorded
        if amount.currency != self.total.currency:
            raise InvalidValue(f"payment in {amount.currency}, order in {self.total.currency}")
        if self.status == S.PLACED and amount == self.total:
            self.mark_paid(intent_id, amount)
            return True
        self._extra_payment(payment_ref=intent_id, amount=amount)
        self._refund_requested(
            refund_id=self._next_refund_id(),
            amount=amount,
            reason=f"payment received while the order was {self.status}",
            payment_ref=intent_id,
        )
        return False

    @event("ExtraPaymentReceived")
    def _extra_payment(self, payment_ref: str, amount: Money) -> None:
        self.payments[payment_ref] = amount.amount

    def mark_paid(self, payment_ref: str, amount: Money) -> None:
        self._require(S.PAID)
        if amount != self.total:
            raise InvalidValue(
                f"payment of {amount} does not match total {self.total}", field="amount"
            )
        self._paid(payment_ref=payment_ref, amount=amount)

    @event("Paid")
    def _paid(self, payment_ref: str, amount: Money) -> None:
        self.status = S.PAID
        self.payment_ref = payment_ref
        self.payments[payment_ref] = amount.amount

    # --- shipping ------------------------------------------------------------------------

    def unshipped(self) -> dict[str, int]:
        return {
            line.sku: line.quantity - self.shipped.get(line.sku, 0)
            for line in self.lines
            if line.quantity > self.shipped.get(line.sku, 0)
        }

    def ship(
        self, carrier: str = "", tracking_code: str = "", lines: list[ItemCount] | None = None
    ) -> None:
        """Ship the given lines (default: all that is left). Shipping only some of them
        leaves the order partially shipped."""
        if self.status not in SHIPMENT_STEPS:
            self._require(S.SHIPPED)
        left = self.unshipped()
        if lines is None:
            lines = [ItemCount(sku, quantity) for sku, quantity in left.items()]
        check_counts(lines, left, "shipped")
        if all(left[c.sku] == c.quantity for c in lines) and len(lines) == len(left):
            self._shipped(carrier=carrier, tracking_code=tracking_code, lines=lines)
        else:
            self._partially_shipped(carrier=carrier, tracking_code=tracking_code, lines=lines)

    @event("PartiallyShipped")
    def _partially_shipped(self, carrier: str, tracking_code: str, lines: list[ItemCount]) -> None:
        self.status = S.PARTIALLY_SHIPPED
        for count in lines:
            self.shipped[count.sku] = self.shipped.get(count.sku, 0) + count.quantity

    @event("Shipped")
    def _shipped(
        self,
        carrier: str,
        tracking_code: str,
        lines: list[ItemCount] = [],  # noqa: B006 (never mutated)
    ) -> None:
        # Stored before partial shipments existed, a Shipped carries no lines: all of them.
        self.status = S.SHIPPED
        self.shipped = {line.sku: line.quantity for line in self.lines}

    def deliver(self) -> None:
        self._require(S.DELIVERED)
        self._delivered()

    @event("Delivered")
    def _delivered(self) -> None:
        self.status = S.DELIVERED

    # --- refunds -------------------------------------------------------------------------

    @property
    def refundable(self) -> Money:
        """What was paid and is not yet refunded or asked to be."""
        return Money(sum(self.payments.values()) - sum(self.refunds.values()), self.total.currency)

    @property
    def refunded_total(self) -> Money:
        return Money(sum(self.refunded.values()), self.total.currency)

    def _next_refund_id(self) -> str:
        return f"{self.id.hex}-refund-{len(self.refunds) + 1}"

    def request_refund(self, amount: Money | None, reason: str) -> str:
        """Ask for part (or, without an amount, all that is left) of the payment back."""
        if self.status not in REFUNDABLE:
            raise IllegalTransition(
                f"order {self.id} is {self.status}; refunds follow shipment "
                "(cancel a paid order instead)",
                field="status",
                current_status=self.status,
            )
        left = self.refundable
        if amount is None:
            amount = left
        if amount.currency != left.currency or amount.amount <= 0:
            raise InvalidValue(f"a refund is a positive amount in {left.currency}", field="amount")
        if amount.amount > left.amount:
            raise Conflict(
                f"order {self.id}: at most {left.amount} {left.currency} is left to refund",
                field="amount",
                refundable=left.amount,
            )
        refund_id = self._next_refund_id()
        self._refund_requested(
            refund_id=refund_id, amount=amount, reason=reason, payment_ref=self.payment_ref
        )
        return refund_id

    @event("RefundRequested")
    def _refund_requested(
        self, refund_id: str, amount: Money, reason: str, payment_ref: str
    ) -> None:
        self.refunds[refund_id] = amount.amount
        self.refund_refs[refund_id] = payment_ref

    def record_refund(self, refund_id: str, amount: Money, reason: str = "") -> bool:
        """The provider confirmed a refund; False if it was recorded before. A refund made
        elsewhere (the Stripe dashboard) is recorded too, within what was paid."""
        if refund_id in self.refunded:
            return False
        if refund_id not in self.refunds and amount.amount > self.refundable.amount:
            raise Conflict(f"refund {refund_id} exceeds what was paid", field="amount")
        confirmed = self.refunded_total.amount + amount.amount
        full = confirmed >= self.paid_total.amount
        status = S.REFUNDED if full and self.status == S.DELIVERED else self.status
        self._refunded(reason=reason, refund_id=refund_id, amount=amount.amount, status=status)
        return True

    def refund(self, reason: str) -> None:
        """A delivered order settled in full: whatever is left of its payment is refunded."""
        self._require(S.REFUNDED)
        left = self.refundable
        self._refunded(
            reason=reason, refund_id=self._next_refund_id(), amount=left.amount, status=S.REFUNDED
        )

    @event("Refunded")
    def _refunded(
        self,
        reason: str,
        refund_id: str = "",
        amount: int = -1,
        status: str = S.REFUNDED,
    ) -> None:
        # amount: minor units of the order's currency. Stored before partial refunds
        # existed, a Refunded has none: it refunded everything, at once.
        if amount < 0:
            amount = self.refundable.amount
        refund_id = refund_id or "refund-1"
        self.refunds.setdefault(refund_id, amount)
        self.refunded[refund_id] = amount
        self.status = status

    # --- returns -------------------------------------------------------------------------

    def returnable(self) -> dict[str, int]:
        returning: dict[str, int] = {}
        for lines in self.return_lines.values():
            for count in lines:
                returning[count.sku] = returning.get(count.sku, 0) + count.quantity
        return {
            sku: quantity - returning.get(sku, 0)
            for sku, quantity in self.shipped.items()
            if quantity > returning.get(sku, 0)
        }

    def request_return(self, lines: list[ItemCount]) -> str:
        if self.status != S.DELIVERED:
            raise IllegalTransition(
                f"order {self.id} is {self.status}; only delivered lines can be returned",
                field="status",
                current_status=self.status,
            )
        check_counts(lines, self.returnable(), "returned")
        return_id = f"{self.id}-r{len(self.returns) + 1}"
        self._return_requested(return_id=return_id, lines=lines)
        return return_id

    @event("ReturnRequested")
    def _return_requested(self, return_id: str, lines: list[ItemCount]) -> None:
        self.returns[return_id] = ReturnStatus.REQUESTED
        self.return_lines[return_id] = list(lines)

    def _require_return(self, return_id: str, status: str, target: str) -> None:
        current = self.returns.get(return_id)
        if current is None:
            raise NotFound(f"return {return_id} not found", field="return_id")
        if current != status:
            raise IllegalTransition(
                f"return {return_id} is {current}; it cannot become {target}",
                field="status",
                current_status=current,
            )

    def accept_return(self, return_id: str) -> None:
        self._require_return(return_id, ReturnStatus.REQUESTED, ReturnStatus.ACCEPTED)
        self._return_accepted(return_id=return_id)

    @event("ReturnAccepted")
    def _return_accepted(self, return_id: str) -> None:
        self.returns[return_id] = ReturnStatus.ACCEPTED

    def receive_return(self, return_id: str) -> list[ItemCount]:
        """The goods are back: the lines' value (within what is left) is to be refunded.
        Returns the lines, for the stock to take them back in the same save."""
        self._require_return(return_id, ReturnStatus.ACCEPTED, ReturnStatus.RECEIVED)
        lines = self.return_lines[return_id]
        self._return_received(return_id=return_id, lines=lines)
        prices = {line.sku: line.unit_price.amount for line in self.lines}
        value = sum(prices[count.sku] * count.quantity for count in lines)
        amount = min(value, self.refundable.amount)
        if amount > 0:
            self._refund_requested(
                refund_id=self._next_refund_id(),
                amount=Money(amount, self.total.currency),
                reason=f"return {return_id}",
                payment_ref=self.payment_ref,
            )
        return lines

    @event("ReturnReceived")
    def _return_received(self, return_id: str, lines: list[ItemCount]) -> None:
        self.returns[return_id] = ReturnStatus.RECEIVED
