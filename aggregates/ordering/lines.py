"""What an order is made of: its lines, its shipping address, counts of a sku (shipments,
returns), and the rules of a well-formed order."""

from __future__ import annotations

from typing import Annotated

import msgspec
from tillroll.aggregates.errors import InvalidValue
from tillroll.aggregates.money import MAX_PRICE, Money
from tillroll.aggregates.sku import Sku, check_sku
from tillroll.aggregates.values import stored_as

MAX_LINES = 100
MAX_QUANTITY = 10_000

# The constraints below are checked when a request body is decoded (a 400 naming the
# field); the domain checks its own rules again in `check_lines` (a 422), whoever calls.
Quantity = Annotated[int, msgspec.Meta(gt=0, le=MAX_QUANTITY)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# `(?!\n)`: Python's `$` also matches before a final newline.
Country = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z]{2}$(?!\n)", description="ISO 3166-1 alpha-2")
]


@stored_as("order_line")
class OrderLine(msgspec.Struct, frozen=True):
    """A line as the customer sends it, as the order keeps it and as Placed stores it."""

    sku: Sku
    quantity: Quantity
    unit_price: Money

    @property
    def total(self) -> Money:
        return self.unit_price.times(self.quantity)


Lines = Annotated[list[OrderLine], msgspec.Meta(min_length=1, max_length=MAX_LINES)]


@stored_as("address")
class Address(msgspec.Struct, frozen=True):
    name: Text
    line1: Text
    city: Text
    postal_code: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    country: Country
    line2: Annotated[str, msgspec.Meta(max_length=200)] = ""


@stored_as("item_count")
class ItemCount(msgspec.Struct, frozen=True):
    """So many of one sku: a shipment's or a return's line."""

    sku: Sku
    quantity: Quantity


def check_lines(lines: list[OrderLine]) -> Money:
    """Validate lines and return their total; every rule about a well-formed order lives here."""
    if not lines:
        raise InvalidValue("an order needs at least one line", field="lines")
    if len(lines) > MAX_LINES:
        raise InvalidValue(f"an order has at most {MAX_LINES} lines", field="lines")
    seen: set[str] = set()
    currency = lines[0].unit_price.currency
    total = Money.zero(currency)
    for i, line in enumerate(lines):
        try:
            check_sku(line.sku)
        except InvalidValue as exc:
            raise InvalidValue(exc.detail, field=f"lines[{i}].sku") from None
        if line.sku in seen:
            raise InvalidValue(f"sku {line.sku!r} appears twice", field=f"lines[{i}].sku")
        seen.add(line.sku)
        quantity = line.quantity
        if (
            isinstance(quantity, bool)
            or not isinstance(quantity, int)
            or not 0 < quantity <= MAX_QUANTITY
        ):
            raise InvalidValue(
                f"quantity must be between 1 and {MAX_QUANTITY}", field=f"lines[{i}].quantity"
            )
        if line.unit_price.amount < 0:
            raise InvalidValue("unit price must not be negative", field=f"lines[{i}].unit_price")
        if line.unit_price.amount > MAX_PRICE:
            raise InvalidValue(
                f"unit price must be at most {MAX_PRICE}", field=f"lines[{i}].unit_price"
            )
        if line.unit_price.currency != currency:
            raise InvalidValue(
                "all lines must share one currency", field=f"lines[{i}].unit_price.currency"
            )
        total = total + line.total
    return total


def check_counts(lines: list[ItemCount], limits: dict[str, int], verb: str) -> None:
    if not lines:
        raise InvalidValue("name at least one line", field="lines")
    seen: set[str] = set()
    for i, count in enumerate(lines):
        if count.sku in seen:
            raise InvalidValue(f"sku {count.sku!r} appears twice", field=f"lines[{i}].sku")
        seen.add(count.sku)
        if count.quantity <= 0 or count.quantity > limits.get(count.sku, 0):
            raise InvalidValue(
                f"sku {count.sku!r}: at most {limits.get(count.sku, 0)} can be {verb}",
                field=f"lines[{i}].quantity",
            )
