"""Order placed → e-mail the customer a confirmation, from the worker, once per order."""

from __future__ import annotations

from tillroll.aggregates.ordering.order import Order
from tillroll.commands.notifications import SendOrderConfirmation
from tillroll.commands.reactions.model import Enqueue, Reaction


def _confirm(event: Order.Placed) -> list[Enqueue]:
    order_id = event.originator_id
    return [Enqueue(SendOrderConfirmation(order_id), job_id=f"order-confirmation-{order_id}")]


REACTION = Reaction(name="order_confirmation", follows=(Order.Placed,), issue=_confirm)
