"""product_cards (Redis): a product's card with its current prices (base and per tier),
images, attributes, archive state, available stock and rating (sum and count of the ratings
of its visible reviews); and the category tree (names and
parents) the card's breadcrumb is read from."""

from __future__ import annotations

import json
from typing import Any

from tillroll.aggregates.catalog.category import CategoryTree
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.reviews.review import Review
from tillroll.projections.engine.model import RedisProjection
from tillroll.projections.stock_counters import StockCountersMixin


def _images(images: list[Any]) -> str:
    return json.dumps([{"url": image.url, "alt": image.alt} for image in images])


class ProductCards(StockCountersMixin, RedisProjection):
    NAME = "product_cards"
    VERSION = 2
    HANDLES = {
        Product.Created: "on_created",
        Product.PriceChanged: "on_price_changed",
        Product.TierPriceSet: "on_tier_price_set",
        Product.ImagesChanged: "on_images_changed",
        Product.AttributesChanged: "on_attributes_changed",
        Product.Archived: "on_archived",
        CategoryTree.CategoryAdded: "on_category_added",
        CategoryTree.CategoryRenamed: "on_category_renamed",
        CategoryTree.CategoryMoved: "on_category_moved",
        Review.Written: "on_review_written",
        Review.Edited: "on_review_edited",
        Review.Hidden: "on_review_hidden",
        **StockCountersMixin.STOCK_HANDLES,
    }

    def card_key(self, sku: str) -> str:
        return f"{self.namespace}{sku}"

    stock_key = card_key

    # A move changes the breadcrumb of every product below it, so breadcrumbs are put
    # together when a card is read, from these two hashes (':' is never in a SKU).
    @property
    def category_names_key(self) -> str:
        return f"{self.namespace}tree:names"

    @property
    def category_parents_key(self) -> str:
        return f"{self.namespace}tree:parents"

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
                "images": _images(event.images),
                "attributes": json.dumps(event.attributes, sort_keys=True),
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

    def on_tier_price_set(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(
            self.card_key(event.sku),
            mapping={
                f"tier:{event.tier}": event.price.amount,
                "updated_at": event.timestamp.isoformat(),
            },
        )

    def on_images_changed(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(
            self.card_key(event.sku),
            mapping={"images": _images(event.images), "updated_at": event.timestamp.isoformat()},
        )

    def on_attributes_changed(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(
            self.card_key(event.sku),
            mapping={
                "attributes": json.dumps(event.attributes, sort_keys=True),
                "updated_at": event.timestamp.isoformat(),
            },
        )

    def on_archived(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(
            self.card_key(event.sku),
            mapping={"archived": 1, "updated_at": event.timestamp.isoformat()},
        )

    def on_category_added(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(self.category_names_key, event.slug, event.name)
        pipe.hset(self.category_parents_key, event.slug, event.parent)

    def on_category_renamed(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(self.category_names_key, event.slug, event.name)

    def on_category_moved(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(self.category_parents_key, event.slug, event.parent)

    # Ratings: counters only increments write (the batch sums them per field). A hidden
    # review leaves the average; an edit of a hidden one changes nothing.
    def on_review_written(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hincrby(self.card_key(event.sku), "rating_sum", event.rating)
        pipe.hincrby(self.card_key(event.sku), "rating_count", 1)

    def on_review_edited(self, pipe: Any, event: Any, position: int) -> None:
        if not event.hidden:
            delta = event.rating - event.previous_rating
            pipe.hincrby(self.card_key(event.sku), "rating_sum", delta)

    def on_review_hidden(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hincrby(self.card_key(event.sku), "rating_sum", -event.rating)
        pipe.hincrby(self.card_key(event.sku), "rating_count", -1)
