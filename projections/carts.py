"""carts (Redis): each cart's owner, status, address and lines (quantity and the unit price
seen when added). Current prices and stock are not copied here: the cart query reads them
from product_cards when the cart is shown, so a price change never rewrites every cart.

Per cart three keys: '<id>' (a hash: customer_id, status, order_id, merged_into, address,
address_id, version, updated_at), '<id>:qty' (sku -> quantity) and '<id>:price'
(sku -> "amount currency")."""

from __future__ import annotations

import json
from typing import Any

from tillroll.aggregates.carts.cart import Cart, CartStatus
from tillroll.projections.engine.model import RedisProjection


def _price(money: Any) -> str:
    return f"{money.amount} {money.currency}"


class CartsView(RedisProjection):
    NAME = "carts"
    VERSION = 1
    HANDLES = {
        Cart.Opened: "on_opened",
        Cart.ItemAdded: "on_item_added",
        Cart.QuantityChanged: "on_quantity_changed",
        Cart.ItemRemoved: "on_item_removed",
        Cart.Cleared: "on_emptied",
        Cart.AddressApplied: "on_address_applied",
        Cart.Merged: "on_merged",
        Cart.MergedInto: "on_merged_into",
        Cart.CheckedOut: "on_checked_out",
        Cart.Reopened: "on_reopened",
    }

    def cart_key(self, cart_id: str) -> str:
        return f"{self.namespace}{cart_id}"

    def quantities_key(self, cart_id: str) -> str:
        return f"{self.namespace}{cart_id}:qty"

    def prices_key(self, cart_id: str) -> str:
        return f"{self.namespace}{cart_id}:price"

    def _touch(self, pipe: Any, event: Any, **fields: Any) -> str:
        cart_id = str(event.originator_id)
        pipe.hset(
            self.cart_key(cart_id),
            mapping={
                **fields,
                "version": event.originator_version,
                "updated_at": event.timestamp.isoformat(),
            },
        )
        return cart_id

    def on_opened(self, pipe: Any, event: Any, position: int) -> None:
        customer = "" if event.customer_id is None else str(event.customer_id)
        self._touch(pipe, event, customer_id=customer, status=CartStatus.OPEN)

    def on_item_added(self, pipe: Any, event: Any, position: int) -> None:
        cart_id = self._touch(pipe, event)
        pipe.hset(self.quantities_key(cart_id), event.sku, event.quantity)
        pipe.hset(self.prices_key(cart_id), event.sku, _price(event.unit_price))

    def on_quantity_changed(self, pipe: Any, event: Any, position: int) -> None:
        cart_id = self._touch(pipe, event)
        pipe.hset(self.quantities_key(cart_id), event.sku, event.quantity)

    def on_item_removed(self, pipe: Any, event: Any, position: int) -> None:
        cart_id = self._touch(pipe, event)
        pipe.hdel(self.quantities_key(cart_id), event.sku)
        pipe.hdel(self.prices_key(cart_id), event.sku)

    def on_emptied(self, pipe: Any, event: Any, position: int) -> None:
        cart_id = self._touch(pipe, event)
        pipe.delete(self.quantities_key(cart_id), self.prices_key(cart_id))

    def on_address_applied(self, pipe: Any, event: Any, position: int) -> None:
        address = event.address
        self._touch(
            pipe,
            event,
            address="" if address is None else json.dumps(_address(address), sort_keys=True),
            address_id="" if event.address_id is None else str(event.address_id),
        )

    def on_merged(self, pipe: Any, event: Any, position: int) -> None:
        cart_id = self._touch(pipe, event)
        for line in event.lines:
            pipe.hset(self.quantities_key(cart_id), line.sku, line.quantity)
            pipe.hset(self.prices_key(cart_id), line.sku, _price(line.unit_price))

    def on_merged_into(self, pipe: Any, event: Any, position: int) -> None:
        self._touch(pipe, event, status=CartStatus.MERGED, merged_into=str(event.cart_id))

    def on_checked_out(self, pipe: Any, event: Any, position: int) -> None:
        # The lines stay visible on the checked-out cart until it is reopened.
        self._touch(pipe, event, status=CartStatus.CHECKED_OUT, order_id=str(event.order_id))

    def on_reopened(self, pipe: Any, event: Any, position: int) -> None:
        cart_id = self._touch(pipe, event, status=CartStatus.OPEN, order_id="")
        pipe.delete(self.quantities_key(cart_id), self.prices_key(cart_id))


def _address(address: Any) -> dict[str, str]:
    return {
        "name": address.name,
        "line1": address.line1,
        "line2": address.line2,
        "city": address.city,
        "postal_code": address.postal_code,
        "country": address.country,
    }
