"""order_status (Redis): an order with its lines, total, current status and status history."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from aggregates.ordering.order import Order, OrderStatus
from projections.model import RedisProjection

STATUS_OF: dict[type, str] = {
    Order.Cancelled: OrderStatus.CANCELLED,
    Order.Paid: OrderStatus.PAID,
    Order.Shipped: OrderStatus.SHIPPED,
    Order.Delivered: OrderStatus.DELIVERED,
    Order.Refunded: OrderStatus.REFUNDED,
}


class OrderStatusView(RedisProjection):
    NAME = "order_status"
    VERSION = 1
    HANDLES = {Order.Placed: "on_placed", **dict.fromkeys(STATUS_OF, "on_status_changed")}

    def order_key(self, order_id: str) -> str:
        return f"{self.namespace}{order_id}"

    def history_key(self, order_id: str) -> str:
        return f"{self.namespace}{order_id}:history"

    def on_placed(self, pipe: Any, event: Any, position: int) -> None:
        order_id = str(event.originator_id)
        at = event.timestamp.isoformat()
        lines = [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": {
                    "amount": line.unit_price.amount,
                    "currency": line.unit_price.currency,
                },
            }
            for line in event.lines
        ]
        pipe.hset(
            self.order_key(order_id),
            mapping={
                "order_id": order_id,
                "customer_id": str(event.customer_id),
                "status": OrderStatus.PLACED,
                "total_amount": event.total.amount,
                "currency": event.total.currency,
                "lines": json.dumps(lines),
                "shipping_address": json.dumps(asdict(event.shipping_address)),
                "placed_at": at,
                "updated_at": at,
                "version": event.originator_version,
            },
        )
        pipe.rpush(
            self.history_key(order_id),
            json.dumps({"status": OrderStatus.PLACED, "at": at, "position": position}),
        )

    def on_status_changed(self, pipe: Any, event: Any, position: int) -> None:
        order_id = str(event.originator_id)
        status = STATUS_OF[type(event)]
        at = event.timestamp.isoformat()
        pipe.hset(
            self.order_key(order_id),
            mapping={"status": status, "updated_at": at, "version": event.originator_version},
        )
        entry = {"status": status, "at": at, "position": position}
        reason = getattr(event, "reason", "")
        if reason:
            entry["reason"] = reason
        pipe.rpush(self.history_key(order_id), json.dumps(entry))
