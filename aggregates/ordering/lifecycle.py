"""The order's lifecycle as data: its statuses, the legal moves between them, and returns'
statuses."""

from __future__ import annotations

from uuid import UUID

from tillroll.aggregates.errors import InvalidValue


class OrderStatus:
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    PARTIALLY_SHIPPED = "partially_shipped"


S = OrderStatus
# The whole lifecycle, as data: from each status, the statuses it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PLACED: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}
# Partial shipments: a side path between paid and shipped. Kept apart from TRANSITIONS (the
# order's milestones, which tests and docs enumerate) and merged with it in LIFECYCLE.
SHIPMENT_STEPS: dict[str, frozenset[str]] = {
    S.PAID: frozenset({S.PARTIALLY_SHIPPED}),
    S.PARTIALLY_SHIPPED: frozenset({S.PARTIALLY_SHIPPED, S.SHIPPED}),
}
LIFECYCLE: dict[str, frozenset[str]] = {
    status: TRANSITIONS.get(status, frozenset()) | SHIPMENT_STEPS.get(status, frozenset())
    for status in {*TRANSITIONS, *SHIPMENT_STEPS}
}


REFUNDABLE = frozenset({S.SHIPPED, S.PARTIALLY_SHIPPED, S.DELIVERED})
"""Where staff may refund part or all of the payment; a paid order before shipment is cancelled
instead (which refunds it), so stock never leaves unpaid."""


class ReturnStatus:
    REQUESTED = "requested"
    ACCEPTED = "accepted"
    RECEIVED = "received"


def return_order_id(return_id: str) -> UUID:
    """The order a return belongs to: a return id is `<order id>-r<n>`."""
    order_part, sep, number = return_id.rpartition("-r")
    try:
        if not sep or not number.isdigit():
            raise ValueError(return_id)
        return UUID(order_part)
    except ValueError:
        raise InvalidValue(f"not a return id: {return_id!r}", field="return_id") from None
