"""Product: a sellable item addressed by its SKU, with a price history of its own."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import InvalidValue
from tillroll.aggregates.flat import FlatState
from tillroll.aggregates.money import MAX_PRICE, Money
from tillroll.aggregates.sku import check_sku


def _check_price(price: Money) -> None:
    if price.amount < 0:
        raise InvalidValue("price must not be negative", field="price.amount")
    if price.amount > MAX_PRICE:
        raise InvalidValue(f"price must be at most {MAX_PRICE}", field="price.amount")


class Product(FlatState, Aggregate):
    """One per SKU; its id is derived from the SKU so commands can load it without a lookup."""

    @staticmethod
    def create_id(sku: str, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/products/{sku}")

    @classmethod
    def create(
        cls,
        sku: str,
        name: str,
        price: Money,
        description: str = "",
        category: str = "",
        tags: list[str] | None = None,
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
        )

    @event("Created")
    def __init__(
        self,
        sku: str,
        name: str,
        description: str,
        category: str,
        tags: list[str],
        price: Money,
    ) -> None:
        self.sku = sku
        self.name = name
        self.description = description
        self.category = category
        self.tags = tags
        self.price = price

    def change_price(self, price: Money) -> None:
        _check_price(price)
        if price.currency != self.price.currency:
            raise InvalidValue(
                f"price currency must stay {self.price.currency}", field="price.currency"
            )
        if price == self.price:
            return
        self._price_changed(sku=self.sku, price=price, previous=self.price)

    @event("PriceChanged")
    def _price_changed(self, sku: str, price: Money, previous: Money) -> None:
        self.price = price
