"""Customer queries: the profile and the saved addresses (customer_profiles, Redis)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import msgspec
from tillroll.aggregates.customers.customer import Customer
from tillroll.queries.read_side import RedisRead

MODEL = "customer_profiles"


class AddressView(msgspec.Struct):
    address_id: str
    name: str
    line1: str
    line2: str
    city: str
    postal_code: str
    country: str


class ProfileView(msgspec.Struct):
    customer_id: str
    email: str
    name: str
    tier: str
    default_shipping_address_id: str | None = None
    default_billing_address_id: str | None = None


class AddressList(msgspec.Struct):
    addresses: list[AddressView]
    default_shipping_address_id: str | None = None
    default_billing_address_id: str | None = None


_FIELDS = ["customer_id", "email", "name", "tier", "default_shipping", "default_billing"]


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode()


def profile_read(customer_id: UUID) -> RedisRead[ProfileView]:
    stream_id = Customer.create_id(customer_id)

    def plan(model: Any) -> list[tuple[str, tuple[Any, ...]]]:
        return [("hmget", (model.profile_key(stream_id), _FIELDS))]

    def parse(replies: list[Any]) -> ProfileView | None:
        cid, email, name, tier, shipping, billing = (_text(v) for v in replies[0])
        if cid is None:
            return None
        return ProfileView(cid, email or "", name or "", tier or "base", shipping, billing)

    return RedisRead(MODEL, plan, parse)


def addresses_read(customer_id: UUID) -> RedisRead[AddressList]:
    stream_id = Customer.create_id(customer_id)

    def plan(model: Any) -> list[tuple[str, tuple[Any, ...]]]:
        return [
            (
                "hmget",
                (
                    model.profile_key(stream_id),
                    ["customer_id", "default_shipping", "default_billing"],
                ),
            ),
            ("hgetall", (model.addresses_key(stream_id),)),
        ]

    def parse(replies: list[Any]) -> AddressList | None:
        (cid, shipping, billing), found = replies
        if cid is None:
            return None
        addresses = [
            AddressView(address_id=key.decode(), **json.loads(value))
            for key, value in sorted(found.items())
        ]
        return AddressList(addresses, _text(shipping), _text(billing))

    return RedisRead(MODEL, plan, parse)
