"""Reactions (process managers): each follows some events of the log and issues commands or
jobs, exactly once. One module per reaction; this list is what the engine follows."""

from __future__ import annotations

from tillroll.commands.reactions import order_confirmation, refunds
from tillroll.commands.reactions.model import ActiveReaction, Enqueue, Reaction, Run

REACTIONS: tuple[Reaction, ...] = (order_confirmation.REACTION, refunds.REACTION)

__all__ = ["REACTIONS", "ActiveReaction", "Enqueue", "Reaction", "Run"]
