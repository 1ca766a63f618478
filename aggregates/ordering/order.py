"""Order: lines, a shipping address and a lifecycle that only moves along legal transitions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import IllegalTransition, InvalidValue
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


class OrderStatus:
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"


S = OrderStatus
# The whole lifecycle, as data: from each status, the statuses it may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PLACED: frozenset({S.PAID, S.CANCELLED}),
    S.PAID: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset({S.REFUNDED}),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}


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


class Order(Aggregate):
    @classmethod
    def place(cls, customer_id: UUID, lines: list[OrderLine], shipping_address: Address) -> Order:
        total = check_lines(lines)
        return cls(
            customer_id=customer_id,
            lines=list(lines),
            shipping_address=shipping_address,
            total=total,
        )

    @event("Placed")
    def __init__(
        self,
        customer_id: UUID,
        lines: list[OrderLine],
        shipping_address: Address,
        total: Money,
    ) -> None:
        self.customer_id = customer_id
        self.lines = lines
        self.shipping_address = shipping_address
        self.total = total
        self.status = S.PLACED
        self.cancel_reason = ""

    def can_move_to(self, status: str) -> bool:
        return status in TRANSITIONS[self.status]

    def _require(self, status: str) -> None:
        if not self.can_move_to(status):
            raise IllegalTransition(
                f"order {self.id} is {self.status}; it cannot become {status}", field="status"
            )

    def cancel(self, reason: str, by: str) -> None:
        self._require(S.CANCELLED)
        self._cancelled(reason=reason, by=by)

    @event("Cancelled")
    def _cancelled(self, reason: str, by: str) -> None:
        self.status = S.CANCELLED
        self.cancel_reason = reason

    def mark_paid(self, payment_ref: str, amount: Money) -> None:
        self._require(S.PAID)
        if amount != self.total:
            raise InvalidValue(
                f"payment of {amount} does not match total {self.total}", field="amount"
            )
        self._paid(payment_ref=payment_ref, amount=amount)

    @event("Paid")
    def _paid(self, payment_ref: str, amount: Money) -> None:
        self.status = S.PAID

    def ship(self, carrier: str = "", tracking_code: str = "") -> None:
        self._require(S.SHIPPED)
        self._shipped(carrier=carrier, tracking_code=tracking_code)

    @event("Shipped")
    def _shipped(self, carrier: str, tracking_code: str) -> None:
        self.status = S.SHIPPED

    def deliver(self) -> None:
        self._require(S.DELIVERED)
        self._delivered()

    @event("Delivered")
    def _delivered(self) -> None:
        self.status = S.DELIVERED

    def refund(self, reason: str) -> None:
        self._require(S.REFUNDED)
        self._refunded(reason=reason)

    @event("Refunded")
    def _refunded(self, reason: str) -> None:
        self.status = S.REFUNDED
