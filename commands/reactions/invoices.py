"""Order paid → issue its invoice; a refund confirmed → issue its credit note. Run in the
follower's process (`Run`), once per event: the command is idempotent on its own (the
invoice's id comes from the order, a credit note is kept by refund id) and runs under an
idempotency key derived from the event's position.

Issued from the log rather than inside the payment command, so paying never waits on
numbering, and a crash between the payment and its numbering is repaired when the follower
resumes from its recorded position: the Paid event is delivered again and the invoice is
issued then, once, with the next number and no gap."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.ordering.order import Order
from tillroll.commands.invoicing import IssueCreditNote, IssueInvoice
from tillroll.commands.reactions.model import Reaction, Run


def _issue(event: Any) -> list[Run]:
    order_id = event.originator_id
    if isinstance(event, Order.Paid):
        return [Run(IssueInvoice(order_id, paid_at=event.timestamp))]
    if isinstance(event, Order.Refunded):
        amount = getattr(event, "amount", -1)  # -1: stored before amounts were, all of it
        command = IssueCreditNote(
            order_id,
            refund_id=str(getattr(event, "refund_id", "") or "refund-1"),
            amount=amount if isinstance(amount, int) else -1,
            refunded_at=event.timestamp,
            reason=str(getattr(event, "reason", "") or ""),
        )
        return [Run(command)]
    return []


REACTION = Reaction(name="invoices", follows=(Order.Paid, Order.Refunded), issue=_issue)
