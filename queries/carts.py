"""Cart query (Redis): a cart's lines from the carts read model, each priced at read time
with the caller's tier price and the available stock from product_cards."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import msgspec
from tillroll.aggregates.catalog.attributes import BASE_TIER
from tillroll.aggregates.money import Money
from tillroll.queries.read_side import RedisRead


class CartLineView(msgspec.Struct):
    sku: str
    quantity: int
    added_price: Money
    """The unit price the shopper saw when adding the line."""
    unit_price: Money
    """The current price for the caller's tier: what checkout charges."""
    line_total: Money
    available: int
    price_changed: bool
    insufficient_stock: bool
    archived: bool = False


class CartView(msgspec.Struct):
    cart_id: UUID
    customer_id: UUID | None
    status: str
    lines: list[CartLineView]
    total: Money | None
    """At current prices; null for an empty cart (it has no currency yet)."""
    version: int
    shipping_address: dict[str, str] | None = None
    address_id: UUID | None = None
    order_id: UUID | None = None
    merged_into: UUID | None = None


class CartDoc(msgspec.Struct):
    """A cart as the carts read model holds it, before current prices are added."""

    cart_id: UUID
    customer_id: UUID | None
    status: str
    version: int
    quantities: dict[str, int]
    added_prices: dict[str, Money]
    shipping_address: dict[str, str] | None
    address_id: UUID | None
    order_id: UUID | None
    merged_into: UUID | None


def _money(raw: bytes) -> Money:
    amount, currency = raw.decode().split(" ")
    return Money(int(amount), currency)


def _uuid(raw: bytes | None) -> UUID | None:
    return UUID(raw.decode()) if raw else None


def cart_read(cart_id: UUID) -> RedisRead[CartDoc]:
    key = str(cart_id)

    def plan(model: Any) -> list[tuple[str, tuple[Any, ...]]]:
        return [
            ("hgetall", (model.cart_key(key),)),
            ("hgetall", (model.quantities_key(key),)),
            ("hgetall", (model.prices_key(key),)),
        ]

    def parse(replies: list[Any]) -> CartDoc | None:
        meta, quantities, prices = replies
        if b"status" not in meta:
            return None
        address = meta.get(b"address")
        return CartDoc(
            cart_id=cart_id,
            customer_id=_uuid(meta.get(b"customer_id")),
            status=meta[b"status"].decode(),
            version=int(meta[b"version"]),
            quantities={k.decode(): int(v) for k, v in quantities.items()},
            added_prices={k.decode(): _money(v) for k, v in prices.items()},
            shipping_address=json.loads(address) if address else None,
            address_id=_uuid(meta.get(b"address_id")),
            order_id=_uuid(meta.get(b"order_id")),
            merged_into=_uuid(meta.get(b"merged_into")),
        )

    return RedisRead("carts", plan, parse)


_CARD_FIELDS = ("price_amount", "price_currency", "on_hand", "reserved", "archived")


def prices_read(skus: list[str], tier: str) -> RedisRead[dict[str, tuple[Money, int, bool]]]:
    """Each SKU's current price for `tier` (the base price when the tier has none), its
    available stock and whether it is archived, from product_cards."""
    fields = [*_CARD_FIELDS, f"tier:{tier}"]

    def plan(model: Any) -> list[tuple[str, tuple[Any, ...]]]:
        return [("hmget", (model.card_key(sku), fields)) for sku in skus]

    def parse(replies: list[Any]) -> dict[str, tuple[Money, int, bool]]:
        found: dict[str, tuple[Money, int, bool]] = {}
        for sku, (amount, currency, on_hand, reserved, archived, tier_amount) in zip(
            skus, replies, strict=True
        ):
            if amount is None or currency is None:
                continue
            price = int(tier_amount if tier_amount is not None and tier != BASE_TIER else amount)
            available = int(on_hand or 0) - int(reserved or 0)
            found[sku] = (Money(price, currency.decode()), available, archived == b"1")
        return found

    return RedisRead("product_cards", plan, parse)


def cart_view(doc: CartDoc, current: dict[str, tuple[Money, int, bool]]) -> CartView:
    """The cart with today's prices and stock; a SKU without a card keeps its added price
    and shows nothing available."""
    lines: list[CartLineView] = []
    total: Money | None = None
    for sku in sorted(doc.quantities):
        quantity = doc.quantities[sku]
        added = doc.added_prices.get(sku)
        price, available, archived = current.get(sku, (added, 0, False))
        if added is None or price is None:
            continue  # a half-written line cannot be read (never: one MULTI/EXEC)
        line_total = price.times(quantity)
        total = line_total if total is None else total + line_total
        lines.append(
            CartLineView(
                sku=sku,
                quantity=quantity,
                added_price=added,
                unit_price=price,
                line_total=line_total,
                available=available,
                price_changed=price != added,
                insufficient_stock=available < quantity,
                archived=archived,
            )
        )
    return CartView(
        cart_id=doc.cart_id,
        customer_id=doc.customer_id,
        status=doc.status,
        lines=lines,
        total=total,
        version=doc.version,
        shipping_address=doc.shipping_address,
        address_id=doc.address_id,
        order_id=doc.order_id,
        merged_into=doc.merged_into,
    )
