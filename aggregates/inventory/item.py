"""InventoryItem: the stock of one SKU. available = on_hand - reserved, never negative."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import Conflict, InsufficientStock, InvalidValue, NotFound
from tillroll.aggregates.flat import FlatState
from tillroll.aggregates.sku import check_sku


def _positive(quantity: int, field: str) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise InvalidValue(f"{field} must be a positive integer", field=field)


class InventoryItem(FlatState, Aggregate):
    """Long-lived (every order touches it), so the application snapshots it.

    Every event carries the sku, so read models need no lookup to place it."""

    @staticmethod
    def create_id(sku: str, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/inventory/{sku}")

    @classmethod
    def create(cls, sku: str) -> InventoryItem:
        return cls(sku=check_sku(sku))

    @event("Created")
    def __init__(self, sku: str) -> None:
        self.sku = sku
        self.on_hand = 0
        self.reserved = 0
        # order id (hex) -> quantity held for it
        self.reservations: dict[str, int] = {}

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def receive(self, quantity: int, note: str = "") -> None:
        _positive(quantity, "quantity")
        self._received(sku=self.sku, quantity=quantity, note=note)

    @event("StockReceived")
    def _received(self, sku: str, quantity: int, note: str) -> None:
        self.on_hand += quantity

    def adjust(self, delta: int, reason: str) -> None:
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise InvalidValue("delta must be a non-zero integer", field="delta")
        if not reason.strip():
            raise InvalidValue("reason must not be empty", field="reason")
        if self.on_hand + delta < self.reserved:
            raise Conflict(
                f"sku {self.sku!r}: on hand would fall to {self.on_hand + delta}, "
                f"below the {self.reserved} reserved",
                field="delta",
            )
        self._adjusted(sku=self.sku, delta=delta, reason=reason)

    @event("StockAdjusted")
    def _adjusted(self, sku: str, delta: int, reason: str) -> None:
        self.on_hand += delta

    def reserve(self, order_id: UUID, quantity: int) -> None:
        _positive(quantity, "quantity")
        if order_id.hex in self.reservations:
            raise Conflict(f"order {order_id} already holds stock of {self.sku!r}")
        if quantity > self.available:
            raise InsufficientStock(self.sku, quantity, self.available)
        self._reserved(sku=self.sku, order_id=order_id, quantity=quantity)

    @event("StockReserved")
    def _reserved(self, sku: str, order_id: UUID, quantity: int) -> None:
        self.reservations[order_id.hex] = quantity
        self.reserved += quantity

    def holds(self, order_id: UUID) -> bool:
        return order_id.hex in self.reservations

    def release(self, order_id: UUID, reason: str = "") -> None:
        quantity = self._held(order_id)
        self._released(sku=self.sku, order_id=order_id, quantity=quantity, reason=reason)

    @event("StockReleased")
    def _released(self, sku: str, order_id: UUID, quantity: int, reason: str) -> None:
        del self.reservations[order_id.hex]
        self.reserved -= quantity

    def commit(self, order_id: UUID) -> None:
        """Reserved stock leaves the building: on hand and reserved both fall."""
        quantity = self._held(order_id)
        self._committed(sku=self.sku, order_id=order_id, quantity=quantity)

    @event("StockCommitted")
    def _committed(self, sku: str, order_id: UUID, quantity: int) -> None:
        del self.reservations[order_id.hex]
        self.reserved -= quantity
        self.on_hand -= quantity
        commitments = self._commitments()
        commitments[order_id.hex] = commitments.get(order_id.hex, 0) + quantity

    def _commitments(self) -> dict[str, int]:
        """Order id (hex) -> quantity committed to it and not returned. Snapshots taken
        before returns existed lack it: it starts empty there."""
        return self.__dict__.setdefault("commitments", {})

    def committed_to(self, order_id: UUID) -> int:
        return self._commitments().get(order_id.hex, 0)

    def restock(self, order_id: UUID, quantity: int, reason: str = "") -> None:
        """Committed stock comes back (a paid order cancelled, a return received): on hand
        grows by what the order had taken, never by more."""
        _positive(quantity, "quantity")
        if quantity > self.committed_to(order_id):
            raise Conflict(
                f"order {order_id} took {self.committed_to(order_id)} of {self.sku!r}, "
                f"not {quantity}",
                field="quantity",
            )
        self._returned(sku=self.sku, order_id=order_id, quantity=quantity, reason=reason)

    @event("StockReturned")
    def _returned(self, sku: str, order_id: UUID, quantity: int, reason: str) -> None:
        self.on_hand += quantity
        commitments = self._commitments()
        commitments[order_id.hex] -= quantity
        if not commitments[order_id.hex]:
            del commitments[order_id.hex]

    def _held(self, order_id: UUID) -> int:
        try:
            return self.reservations[order_id.hex]
        except KeyError:
            raise NotFound(f"order {order_id} holds no stock of {self.sku!r}") from None
