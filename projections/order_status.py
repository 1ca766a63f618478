"""order_status (Redis): an order with its lines, total, current status and status history.

One hash per order: 'doc' holds what never changes after placing (JSON, with when and at
which position it was placed), beside 'status', 'updated_at' and 'version'; the status
changes after placing are a list next to it."""

from __future__ import annotations

from typing import Any

import msgspec
from tillroll.aggregates.ordering.order import Order, OrderStatus
from tillroll.projections.engine.model import RedisProjection

STATUS_OF: dict[type, str] = {
    Order.Cancelled: OrderStatus.CANCELLED,
    Order.Paid: OrderStatus.PAID,
    Order.Shipped: OrderStatus.SHIPPED,
    Order.Delivered: OrderStatus.DELIVERED,
    Order.Refunded: OrderStatus.REFUNDED,
}
_encode = msgspec.json.Encoder().encode


class OrderStatusView(RedisProjection):
    NAME = "order_status"
    VERSION = 2  # 2: the 'placed' entry lives in the doc, not in the history list
    HANDLES = {Order.Placed: "on_placed", **dict.fromkeys(STATUS_OF, "on_status_changed")}

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
        status = STATUS_OF[type(event)]
        at = event.timestamp.isoformat()
        pipe.hset(
            self.order_key(order_id),
            mapping={"status": status, "updated_at": at, "version": event.originator_version},
        )
        entry: dict[str, Any] = {"status": status, "at": at, "position": position}
        reason = getattr(event, "reason", "")
        if reason:
            entry["reason"] = reason
        pipe.rpush(self.history_key(order_id), _encode(entry))
