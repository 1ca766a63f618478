"""A refund was asked for (staff, a cancelled paid order, a received return, a payment that
came too late) → the worker sends it to the payment provider, once per refund id."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.ordering.order import Order
from tillroll.commands.payments import IssueRefund
from tillroll.commands.reactions.model import Enqueue, Reaction


def _issue(event: Any) -> list[Enqueue]:
    refund_id = getattr(event, "refund_id", "")
    if not refund_id:  # a cancelled order that was never paid
        return []
    command = IssueRefund(event.originator_id, refund_id)
    return [Enqueue(command, job_id=f"refund-{refund_id}")]


REACTION = Reaction(name="refunds", follows=(Order.Cancelled, Order.RefundRequested), issue=_issue)
