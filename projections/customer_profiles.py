"""customer_profiles (Redis): each customer's profile (e-mail, name, tier, default address
ids) as one hash, and their saved addresses as another (address id -> JSON)."""

from __future__ import annotations

import json
from typing import Any

from tillroll.aggregates.customers.customer import Customer
from tillroll.aggregates.identity.account import Account
from tillroll.projections.engine.model import RedisProjection


def _address(address: Any) -> str:
    # JSON escapes NUL and every control character: any text an event carries is stored.
    return json.dumps(
        {
            "name": address.name,
            "line1": address.line1,
            "line2": address.line2,
            "city": address.city,
            "postal_code": address.postal_code,
            "country": address.country,
        }
    )


class CustomerProfiles(RedisProjection):
    NAME = "customer_profiles"
    VERSION = 1
    HANDLES = {
        Account.Registered: "on_account",
        Account.Opened: "on_account",
        Customer.Registered: "on_registered",
        Customer.Renamed: "on_renamed",
        Customer.TierSet: "on_tier_set",
        Customer.AddressAdded: "on_address_saved",
        Customer.AddressChanged: "on_address_saved",
        Customer.AddressRemoved: "on_address_removed",
        Customer.DefaultAddressChosen: "on_default_chosen",
    }

    # Keys are by the Customer stream's id (Customer.create_id(customer_id)): every
    # Customer event carries it, and a query derives it from the customer id.
    def profile_key(self, stream_id: Any) -> str:
        return f"{self.namespace}{stream_id}"

    def addresses_key(self, stream_id: Any) -> str:
        return f"{self.namespace}{stream_id}:addresses"

    def on_account(self, pipe: Any, event: Any, position: int) -> None:
        # The account's id is the customer's id; its e-mail shows on the profile. Accounts
        # of other roles leave a hash no customer query reads (no "customer" field).
        stream_id = Customer.create_id(event.originator_id)
        pipe.hset(self.profile_key(stream_id), "email", event.email)

    def on_registered(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(
            self.profile_key(event.originator_id),
            mapping={"customer_id": str(event.customer_id), "name": event.name, "tier": "base"},
        )

    def on_renamed(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(self.profile_key(event.originator_id), "name", event.name)

    def on_tier_set(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(self.profile_key(event.originator_id), "tier", event.tier)

    def on_address_saved(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(
            self.addresses_key(event.originator_id), str(event.address_id), _address(event.address)
        )

    def on_address_removed(self, pipe: Any, event: Any, position: int) -> None:
        address_id = str(event.address_id)
        pipe.hdel(self.addresses_key(event.originator_id), address_id)
        # The aggregate clears a default that named the removed address; so does this.
        pipe.eval(_CLEAR_DEFAULTS, 1, self.profile_key(event.originator_id), address_id)

    def on_default_chosen(self, pipe: Any, event: Any, position: int) -> None:
        pipe.hset(
            self.profile_key(event.originator_id),
            f"default_{event.kind}",
            str(event.address_id),
        )


_CLEAR_DEFAULTS = """
for _, field in ipairs({"default_shipping", "default_billing"}) do
  if redis.call("HGET", KEYS[1], field) == ARGV[1] then redis.call("HDEL", KEYS[1], field) end
end
return 0
"""
