"""product_cards (Redis): a product's card with its current price and available stock."""

from __future__ import annotations

import json
from typing import Any

from tillroll.aggregates.catalog.product import Product
from tillroll.projections.engine.model import RedisProjection
from tillroll.projections.stock_counters import StockCountersMixin


class ProductCards(StockCountersMixin, RedisProjection):
    NAME = "product_cards"
    VERSION = 1
    HANDLES = {
        Product.Created: "on_created",
        Product.PriceChanged: "on_price_changed",
        **StockCountersMixin.STOCK_HANDLES,
    }

    def card_key(self, sku: str) -> str:
        return f"{self.namespace}{sku}"

    stock_key = card_key

    def on_created(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(
            self.card_key(event.sku),
            mapping={
                "sku": event.sku,
                "name": event.name,
                "description": event.description,
                "category": event.category,
                "tags": json.dumps(event.tags),
                "price_amount": event.price.amount,
                "price_currency": event.price.currency,
                "updated_at": event.timestamp.isoformat(),
            },
        )

    def on_price_changed(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(
            self.card_key(event.sku),
            mapping={
                "price_amount": event.price.amount,
                "price_currency": event.price.currency,
                "updated_at": event.timestamp.isoformat(),
            },
        )
