"""Order placed → when its payment time is up, expire its reservation (cancel it and release
its stock unless it was paid meanwhile): a job rq's scheduler holds until then."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tillroll.aggregates.ordering.order import Order
from tillroll.commands.reactions.model import Enqueue, Reaction
from tillroll.commands.reservations import ExpireReservation

DEFAULT_PAYMENT_TIMEOUT = 30 * 60.0


def reaction(payment_timeout: float = DEFAULT_PAYMENT_TIMEOUT) -> Reaction:
    """The reaction for a payment timeout of `payment_timeout` seconds."""
    after = timedelta(seconds=payment_timeout)

    def _expire(event: Any) -> list[Enqueue]:
        order_id = event.originator_id
        # From the event's own time, so a re-delivered event schedules the same moment.
        return [
            Enqueue(
                ExpireReservation(order_id),
                job_id=f"reservation-expiry-{order_id}",
                at=event.timestamp + after,
            )
        ]

    return Reaction(name="reservation_expiry", follows=(Order.Placed,), issue=_expire)
