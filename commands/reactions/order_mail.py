"""Order paid, shipped, refunded or a return received → e-mail the customer a receipt, a
shipment notice, a refund notice or a return confirmation, from the worker, once per cause
(the job id names the order and the event)."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.ordering.order import Order
from tillroll.commands.notifications import (
    SendPaymentReceipt,
    SendRefundNotice,
    SendReturnReceived,
    SendShipmentNotice,
)
from tillroll.commands.reactions.model import Enqueue, Reaction

# The events' class names are the contract; their fields may grow (partial shipments and
# refunds), so the optional details are read with a default.


def _mail(event: Any) -> list[Enqueue]:
    order_id = event.originator_id
    version = event.originator_version
    if isinstance(event, Order.Paid):
        command: Any = SendPaymentReceipt(
            order_id,
            payment_ref=str(getattr(event, "payment_ref", "") or ""),
            amount=getattr(event, "amount", None),
        )
        return [Enqueue(command, job_id=f"receipt-{order_id}")]
    if isinstance(event, Order.Shipped):
        tracking = getattr(event, "tracking_number", None) or getattr(event, "tracking_code", "")
        command = SendShipmentNotice(
            order_id, version, carrier=str(getattr(event, "carrier", "") or ""), tracking=tracking
        )
        return [Enqueue(command, job_id=f"shipment-{order_id}-{version}")]
    if isinstance(event, Order.ReturnReceived):
        lines = [(line.sku, line.quantity) for line in event.lines]
        command = SendReturnReceived(order_id, version, lines=lines)
        return [Enqueue(command, job_id=f"return-{order_id}-{version}")]
    if isinstance(event, Order.Refunded):
        amount = getattr(event, "amount", -1)  # minor units; -1: stored before amounts were
        command = SendRefundNotice(
            order_id,
            version,
            amount=amount if isinstance(amount, int) and amount >= 0 else None,
            reason=str(getattr(event, "reason", "") or ""),
        )
        return [Enqueue(command, job_id=f"refund-{order_id}-{version}")]
    return []


REACTION = Reaction(
    name="order_mail",
    follows=(Order.Paid, Order.Shipped, Order.Refunded, Order.ReturnReceived),
    issue=_mail,
)
