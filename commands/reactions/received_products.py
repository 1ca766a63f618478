"""Order delivered → record its SKUs on the customer (the verified-buyer rule of reviews,
commands/reviews.py), in the follower's process, once per delivery."""

from __future__ import annotations

from tillroll.aggregates.ordering.order import Order
from tillroll.commands.reactions.model import Reaction, Run
from tillroll.commands.reviews import RecordReceived


def _record(event: Order.Delivered) -> list[Run]:
    return [Run(RecordReceived(event.originator_id))]


REACTION = Reaction(name="received_products", follows=(Order.Delivered,), issue=_record)
