"""Customer: the profile, saved addresses (with the default shipping and billing choice) and
price tier of one customer account. Credentials are not here: they never enter the log."""

from __future__ import annotations

from typing import Annotated
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.catalog.attributes import BASE_TIER, TIERS
from tillroll.aggregates.errors import Conflict, InvalidValue, NotFound
from tillroll.aggregates.ordering.order import Address

MAX_ADDRESSES = 20
ADDRESS_KINDS = ("shipping", "billing")
CUSTOMER_TIERS = (BASE_TIER, *TIERS)
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


def check_name(name: str) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 200 or any(ord(c) < 32 for c in name):
        raise InvalidValue("name must be 1-200 printable characters", field="name")
    return name


class Customer(Aggregate):
    """The public customer id is the account's id (the token's subject); the stream's id is
    derived from it, since the Account's own stream already has the account's id."""

    @staticmethod
    def create_id(customer_id: UUID, **_: object) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/customers/{customer_id}")

    @classmethod
    def register(cls, customer_id: UUID, name: str) -> Customer:
        return cls(customer_id=customer_id, name=check_name(name))

    @event("Registered")
    def __init__(self, customer_id: UUID, name: str) -> None:
        self.customer_id = customer_id
        self.name = name
        self.tier = BASE_TIER
        self.addresses: dict[UUID, Address] = {}
        self.default_shipping: UUID | None = None
        self.default_billing: UUID | None = None
        self.received: frozenset[str] = frozenset()
        """SKUs delivered to the customer (who may review them)."""

    # -- profile -----------------------------------------------------------------------
    def rename(self, name: str) -> None:
        name = check_name(name)
        if name != self.name:
            self._renamed(name)

    @event("Renamed")
    def _renamed(self, name: str) -> None:
        self.name = name

    def set_tier(self, tier: str) -> None:
        if tier not in CUSTOMER_TIERS:
            raise InvalidValue(f"tier must be one of {', '.join(CUSTOMER_TIERS)}", field="tier")
        if tier != self.tier:
            self._tier_set(tier)

    @event("TierSet")
    def _tier_set(self, tier: str) -> None:
        self.tier = tier

    # -- products received (the verified-buyer rule of reviews) ------------------------
    def record_received(self, skus: list[str]) -> None:
        new = sorted(set(skus) - self.received)
        if new:
            self._products_received(new)

    @event("ProductsReceived")
    def _products_received(self, skus: list[str]) -> None:
        self.received = self.received | frozenset(skus)

    def has_received(self, sku: str) -> bool:
        return sku in self.received

    # -- addresses ---------------------------------------------------------------------
    def address(self, address_id: UUID) -> Address:
        try:
            return self.addresses[address_id]
        except KeyError:
            raise NotFound(f"address {address_id} not found", field="address_id") from None

    def add_address(self, address_id: UUID, address: Address) -> None:
        if address_id in self.addresses:
            raise Conflict(f"address {address_id} exists already", field="address_id")
        if len(self.addresses) >= MAX_ADDRESSES:
            raise Conflict(f"a customer keeps at most {MAX_ADDRESSES} addresses", field="address")
        self._address_added(address_id, address)

    @event("AddressAdded")
    def _address_added(self, address_id: UUID, address: Address) -> None:
        self.addresses[address_id] = address

    def change_address(self, address_id: UUID, address: Address) -> None:
        if self.address(address_id) != address:
            self._address_changed(address_id, address)

    @event("AddressChanged")
    def _address_changed(self, address_id: UUID, address: Address) -> None:
        self.addresses[address_id] = address

    def remove_address(self, address_id: UUID) -> None:
        self.address(address_id)
        self._address_removed(address_id)

    @event("AddressRemoved")
    def _address_removed(self, address_id: UUID) -> None:
        # A default that pointed here is cleared: a default always names a saved address.
        del self.addresses[address_id]
        if self.default_shipping == address_id:
            self.default_shipping = None
        if self.default_billing == address_id:
            self.default_billing = None

    def choose_default(self, address_id: UUID, kind: str) -> None:
        if kind not in ADDRESS_KINDS:
            raise InvalidValue("kind must be shipping or billing", field="kind")
        self.address(address_id)
        if self.default_of(kind) != address_id:
            self._default_chosen(address_id, kind)

    @event("DefaultAddressChosen")
    def _default_chosen(self, address_id: UUID, kind: str) -> None:
        if kind == "shipping":
            self.default_shipping = address_id
        else:
            self.default_billing = address_id

    def default_of(self, kind: str) -> UUID | None:
        return self.default_shipping if kind == "shipping" else self.default_billing
