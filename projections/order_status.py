"""order_status (Redis): an order with its lines, total, current status and status history.

One hash per order: 'doc' holds what never changes after placing (JSON, with when and at
which position it was placed), beside 'status', 'updated_at' and 'version'; the status
changes after placing are a list next to it."""

from __future__ import annotations

from typing import Any

import msgspec
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Order, OrderStatus
from tillroll.projections.engine.model import RedisProjection

STATUS_OF: dict[type, str] = {
    Order.Cancelled: OrderStatus.CANCELLED,
    Order.Paid: OrderStatus.PAID,
    Order.PartiallyShipped: OrderStatus.PARTIALLY_SHIPPED,
    Order.Shipped: OrderStatus.SHIPPED,
    Order.Delivered: OrderStatus.DELIVERED,
    Order.Refunded: OrderStatus.REFUNDED,
}
"""Events that set the order's status (a Refunded carries the status it leaves: a partial
refund leaves it as it was)."""

FACTS: dict[type, str] = {
    Order.PaymentFailed: "payment_failed",
    Order.ExtraPaymentReceived: "extra_payment_received",
    Order.RefundRequested: "refund_requested",
    Order.ReturnRequested: "return_requested",
    Order.ReturnAccepted: "return_accepted",
    Order.ReturnReceived: "return_received",
}
"""Events of the order's life that leave its status as it is: in the history under these
names, so the history shows every step."""

DETAILS = ("reason", "carrier", "tracking_code", "refund_id", "return_id", "intent_id")


def status_after(event: Any) -> str:
    """The status an order has after a status-setting event."""
    if isinstance(event, Order.Refunded):
        return getattr(event, "status", OrderStatus.REFUNDED)
    return STATUS_OF[type(event)]


_encode = msgspec.json.Encoder().encode


class OrderStatusView(RedisProjection):
    NAME = "order_status"
    VERSION = 2  # 2: the 'placed' entry lives in the doc, not in the history list
    HANDLES = {
        Order.Placed: "on_placed",
        **dict.fromkeys(STATUS_OF, "on_status_changed"),
        **dict.fromkeys(FACTS, "on_fact"),
    }

    def order_key(self, order_id: str) -> str:
        return f"{self.namespace}{order_id}"

    def history_key(self, order_id: str) -> str:
        return f"{self.namespace}{order_id}:history"

    def on_placed(self, pipe: Any, event: Any, position: int) -> None:
        order_id = str(event.originator_id)
        at = event.timestamp.isoformat()
        address = event.shipping_address
        doc = {
            "order_id": order_id,
            "customer_id": str(event.customer_id),
            # Money and OrderLine are Structs: they encode as {"amount", "currency"} and
            # {"sku", "quantity", "unit_price"}, the doc's shape.
            "total": event.total,
            "lines": event.lines,
            "shipping_address": {
                "name": address.name,
                "line1": address.line1,
                "line2": address.line2,
                "city": address.city,
                "postal_code": address.postal_code,
                "country": address.country,
            },
            "placed_at": at,
            "position": position,  # the first status change, read back from here
        }
        pipe.hset(
            self.order_key(order_id),
            mapping={
                "doc": _encode(doc),
                "status": OrderStatus.PLACED,
                "updated_at": at,
                "version": event.originator_version,
            },
        )

    def on_status_changed(self, pipe: Any, event: Any, position: int) -> None:
        order_id = str(event.originator_id)
        status = status_after(event)
        at = event.timestamp.isoformat()
        pipe.hset(
            self.order_key(order_id),
            mapping={"status": status, "updated_at": at, "version": event.originator_version},
        )
        # A refund of part of the payment leaves the status as it was; the history says what
        # happened.
        shown = status
        if isinstance(event, Order.Refunded) and status != OrderStatus.REFUNDED:
            shown = "partially_refunded"
        pipe.rpush(self.history_key(order_id), _encode(_entry(shown, event, position)))

    def on_fact(self, pipe: Any, event: Any, position: int) -> None:
        order_id = str(event.originator_id)
        at = event.timestamp.isoformat()
        pipe.hset(
            self.order_key(order_id),
            mapping={"updated_at": at, "version": event.originator_version},
        )
        entry = _entry(FACTS[type(event)], event, position)
        pipe.rpush(self.history_key(order_id), _encode(entry))


def _entry(status: str, event: Any, position: int) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "status": status,
        "at": event.timestamp.isoformat(),
        "position": position,
    }
    for name in DETAILS:
        value = getattr(event, name, "")
        if value:
            entry[name] = value
    amount = getattr(event, "amount", None)
    if isinstance(amount, Money):
        amount = amount.amount
    if isinstance(event, Order.Cancelled):
        amount = getattr(event, "refund_amount", 0) or None
    if isinstance(amount, int) and amount >= 0:
        entry["amount"] = amount  # minor units of the order's currency
    lines = getattr(event, "lines", None)
    if lines and not isinstance(event, Order.Placed):
        entry["lines"] = [{"sku": c.sku, "quantity": c.quantity} for c in lines]
    return entry
