"""Reactions (process managers): each follows some events of the log and issues commands or
jobs, exactly once. One module per reaction; `reactions()` is what the engine follows."""

from __future__ import annotations

from tillroll.commands.reactions import (
    invoices,
    order_confirmation,
    order_mail,
    price_watches,
    received_products,
    refunds,
    reservation_expiry,
)
from tillroll.commands.reactions.model import ActiveReaction, Enqueue, Reaction, Run


def reactions(
    payment_timeout: float = reservation_expiry.DEFAULT_PAYMENT_TIMEOUT,
) -> tuple[Reaction, ...]:
    """Every reaction, with the settings some of them take."""
    return (
        order_confirmation.REACTION,
        order_mail.REACTION,
        refunds.REACTION,
        reservation_expiry.reaction(payment_timeout),
        invoices.REACTION,
        received_products.REACTION,
        price_watches.REACTION,
    )


REACTIONS: tuple[Reaction, ...] = reactions()
"""The reactions with default settings (their names, the events they follow)."""

__all__ = ["REACTIONS", "ActiveReaction", "Enqueue", "Reaction", "Run", "reactions"]
