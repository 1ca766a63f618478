"""ProductWatchers: the customers watching one product's price, each with an optional
target (minor units of the product's currency). One per SKU, so a price drop finds its
watchers by loading one stream."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import InvalidValue, NotFound

MAX_WATCHERS = 100_000


def alerts_for(watchers: dict[UUID, int | None], price: int, previous: int) -> list[UUID]:
    """Who hears of a price change: on a drop, every watcher without a target, and those
    whose target the new price reaches (at or below). A rise or an unchanged price: nobody."""
    if price >= previous:
        return []
    return [who for who, target in watchers.items() if target is None or price <= target]


class ProductWatchers(Aggregate):
    @staticmethod
    def create_id(sku: str, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/price-watchers/{sku}")

    @classmethod
    def start(cls, sku: str) -> ProductWatchers:
        return cls(sku=sku)

    @event("Started")
    def __init__(self, sku: str) -> None:
        self.sku = sku
        self.watchers: dict[UUID, int | None] = {}

    def watch(self, customer_id: UUID, target: int | None, currency: str) -> None:
        """Start watching, or change the target (None: any drop)."""
        if target is not None and target < 0:
            raise InvalidValue("a target price is not negative", field="target_price.amount")
        if customer_id not in self.watchers and len(self.watchers) >= MAX_WATCHERS:
            raise InvalidValue("this product has too many watchers", field="sku")
        if customer_id in self.watchers and self.watchers[customer_id] == target:
            return
        self._watched(sku=self.sku, customer_id=customer_id, target=target, currency=currency)

    @event("Watched")
    def _watched(self, sku: str, customer_id: UUID, target: int | None, currency: str) -> None:
        self.watchers = {**self.watchers, customer_id: target}

    def unwatch(self, customer_id: UUID) -> None:
        if customer_id not in self.watchers:
            raise NotFound(f"you are not watching {self.sku!r}", field="sku")
        self._unwatched(sku=self.sku, customer_id=customer_id)

    @event("Unwatched")
    def _unwatched(self, sku: str, customer_id: UUID) -> None:
        self.watchers = {k: v for k, v in self.watchers.items() if k != customer_id}
