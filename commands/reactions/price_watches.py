"""A product's price dropped → the worker e-mails its watchers, once per drop (the job id
names the product and the PriceChanged event's version). A rise enqueues nothing."""

from __future__ import annotations

from typing import Any

from tillroll.aggregates.catalog.product import Product
from tillroll.commands.price_watches import SendPriceDropAlerts
from tillroll.commands.reactions.model import Enqueue, Reaction


def _alert(event: Any) -> list[Enqueue]:
    if (
        event.price.currency != event.previous.currency
        or event.price.amount >= event.previous.amount
    ):
        return []
    command = SendPriceDropAlerts(
        event.sku, event.originator_version, price=event.price, previous=event.previous
    )
    job_id = f"price-drop-{event.originator_id.hex}-{event.originator_version}"
    return [Enqueue(command, job_id=job_id)]


REACTION = Reaction(name="price_watches", follows=(Product.PriceChanged,), issue=_alert)
