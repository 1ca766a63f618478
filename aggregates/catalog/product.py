"""Product: a sellable item addressed by its SKU, with its prices (base and per customer
tier), images, attributes, and whether it is archived (no longer sold)."""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.catalog.attributes import (
    BASE_TIER,
    ProductImage,
    check_attributes,
    check_images,
    check_tier,
)
from tillroll.aggregates.errors import Conflict, InvalidValue
from tillroll.aggregates.flat import FlatState
from tillroll.aggregates.money import MAX_PRICE, Money
from tillroll.aggregates.sku import check_sku


class ProductArchived(Conflict):
    title = "Product archived"

    def __init__(self, sku: str, field: str = "sku") -> None:
        super().__init__(f"sku {sku!r} is archived and can no longer be sold", field=field, sku=sku)
        self.sku = sku


def _check_price(price: Money, field: str = "price") -> None:
    if price.amount < 0:
        raise InvalidValue("price must not be negative", field=f"{field}.amount")
    if price.amount > MAX_PRICE:
        raise InvalidValue(f"price must be at most {MAX_PRICE}", field=f"{field}.amount")


class Product(FlatState, Aggregate):
    """One per SKU; its id is derived from the SKU so commands can load it without a lookup."""

    @staticmethod
    def create_id(sku: str, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/products/{sku}")

    class Created(Aggregate.Created):
        # Version 2 added images and attributes; version 1 events load with neither.
        class_version = 2
        sku: str
        name: str
        description: str
        category: str
        tags: list[str]
        price: Money
        images: list[ProductImage]
        attributes: dict[str, str]

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["images"] = []
            state["attributes"] = {}

    @classmethod
    def create(
        cls,
        sku: str,
        name: str,
        price: Money,
        description: str = "",
        category: str = "",
        tags: list[str] | None = None,
        images: list[ProductImage] | None = None,
        attributes: dict[str, str] | None = None,
    ) -> Product:
        check_sku(sku)
        if not name.strip():
            raise InvalidValue("name must not be empty", field="name")
        _check_price(price)
        return cls(
            sku=sku,
            name=name,
            description=description,
            category=category,
            tags=sorted(set(tags or [])),
            price=price,
            images=check_images(images or []),
            attributes=check_attributes(attributes or {}),
        )

    @event(Created)
    def __init__(
        self,
        sku: str,
        name: str,
        description: str,
        category: str,
        tags: list[str],
        price: Money,
        images: list[ProductImage],
        attributes: dict[str, str],
    ) -> None:
        self.sku = sku
        self.name = name
        self.description = description
        self.category = category
        self.tags = tags
        self.price = price
        self.images = images
        self.attributes = attributes
        self.tier_prices: dict[str, Money] = {}
        self.archived = False

    def price_for(self, tier: str) -> Money:
        """What a customer of this tier pays: the tier's price, else the base price."""
        return self.tier_prices.get(tier, self.price)

    def check_orderable(self, field: str = "sku") -> None:
        """Orders (and carts) call this: an archived product is not sold any more."""
        if self.archived:
            raise ProductArchived(self.sku, field=field)

    def change_price(self, price: Money) -> None:
        self._check_currency(price)
        if price == self.price:
            return
        self._price_changed(sku=self.sku, price=price, previous=self.price)

    @event("PriceChanged")
    def _price_changed(self, sku: str, price: Money, previous: Money) -> None:
        self.price = price

    def set_tier_price(self, tier: str, price: Money) -> None:
        if tier == BASE_TIER:
            self.change_price(price)
            return
        check_tier(tier)
        self._check_currency(price)
        if self.tier_prices.get(tier) == price:
            return
        self._tier_price_set(sku=self.sku, tier=tier, price=price)

    @event("TierPriceSet")
    def _tier_price_set(self, sku: str, tier: str, price: Money) -> None:
        self.tier_prices = {**self.tier_prices, tier: price}

    def change_images(self, images: list[ProductImage]) -> None:
        images = check_images(images)
        if images != self.images:
            self._images_changed(sku=self.sku, images=images)

    @event("ImagesChanged")
    def _images_changed(self, sku: str, images: list[ProductImage]) -> None:
        self.images = images

    def change_attributes(self, attributes: dict[str, str]) -> None:
        attributes = check_attributes(attributes)
        if attributes != self.attributes:
            self._attributes_changed(sku=self.sku, attributes=attributes)

    @event("AttributesChanged")
    def _attributes_changed(self, sku: str, attributes: dict[str, str]) -> None:
        self.attributes = attributes

    def archive(self) -> None:
        """Stop selling the product; it stays in old orders and visible to staff."""
        if not self.archived:
            self._archived(sku=self.sku)

    @event("Archived")
    def _archived(self, sku: str) -> None:
        self.archived = True

    def _check_currency(self, price: Money) -> None:
        _check_price(price)
        if price.currency != self.price.currency:
            raise InvalidValue(
                f"price currency must stay {self.price.currency}", field="price.currency"
            )
