"""Cart: lines a shopper collects before checkout, owned by a customer or by a guest who
holds its unguessable id. Checked out or merged, a cart takes no more changes."""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event
from tillroll.aggregates.errors import Conflict, InvalidValue
from tillroll.aggregates.flat import FlatState
from tillroll.aggregates.money import MAX_PRICE, Money
from tillroll.aggregates.ordering.order import MAX_LINES, MAX_QUANTITY, Address, OrderLine
from tillroll.aggregates.sku import check_sku

CartLine = OrderLine
"""A cart line is an order line in waiting: sku, quantity and the unit price the shopper
saw when adding it."""


class CartStatus:
    OPEN = "open"
    CHECKED_OUT = "checked_out"
    MERGED = "merged"


class CartClosed(Conflict):
    title = "Cart closed"


class EmptyCart(InvalidValue):
    title = "Empty cart"


def _check_quantity(quantity: int, field: str = "quantity") -> int:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidValue("quantity must be an integer", field=field)
    if not 0 < quantity <= MAX_QUANTITY:
        raise InvalidValue(f"quantity must be between 1 and {MAX_QUANTITY}", field=field)
    return quantity


class Cart(FlatState, Aggregate):
    """A customer has one cart (its id derived from theirs, reopened after each checkout);
    a guest cart has a random id, which is the guest's only key to it."""

    @staticmethod
    def customer_cart_id(customer_id: UUID) -> UUID:
        return uuid5(NAMESPACE_URL, f"/tillroll/carts/customer/{customer_id}")

    @staticmethod
    def create_id(customer_id: UUID | None, **_: object) -> UUID:
        # A guest cart's uuid4 (122 random bits) is the guest's capability to use it.
        return uuid4() if customer_id is None else Cart.customer_cart_id(customer_id)

    @classmethod
    def for_customer(cls, customer_id: UUID) -> Cart:
        return cls(customer_id=customer_id)

    @classmethod
    def for_guest(cls) -> Cart:
        return cls(customer_id=None)

    class Opened(Aggregate.Created):
        customer_id: UUID | None

    @event(Opened)
    def __init__(self, customer_id: UUID | None) -> None:
        self.customer_id = customer_id
        self.lines: dict[str, CartLine] = {}
        self.status = CartStatus.OPEN
        self.address: Address | None = None
        self.address_id: UUID | None = None
        self.order_id: UUID | None = None
        self.merged_into: UUID | None = None

    # -- reading ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status == CartStatus.OPEN

    @property
    def is_guest(self) -> bool:
        return self.customer_id is None

    @property
    def currency(self) -> str | None:
        for line in self.lines.values():
            return line.unit_price.currency
        return None

    def total(self) -> Money | None:
        """The lines at the prices seen when added (the read model shows current prices)."""
        currency = self.currency
        if currency is None:
            return None
        total = Money.zero(currency)
        for line in self.lines.values():
            total = total + line.total
        return total

    def _require_open(self) -> None:
        if not self.is_open:
            raise CartClosed(f"cart {self.id} is {self.status}; it takes no more changes")

    # -- changing --------------------------------------------------------------------------

    def add(self, sku: str, quantity: int, unit_price: Money) -> None:
        """Add a product; adding a SKU already in the cart adds to its quantity."""
        self._require_open()
        check_sku(sku)
        _check_quantity(quantity)
        if unit_price.amount < 0 or unit_price.amount > MAX_PRICE:
            raise InvalidValue(f"unit price must be 0-{MAX_PRICE}", field="unit_price")
        current = self.lines.get(sku)
        if current is None and len(self.lines) >= MAX_LINES:
            raise InvalidValue(f"a cart has at most {MAX_LINES} lines", field="sku")
        if self.currency not in (None, unit_price.currency):
            raise InvalidValue(
                f"sku {sku!r} is priced in {unit_price.currency}; the cart is in {self.currency}",
                field="sku",
            )
        total = quantity + (current.quantity if current else 0)
        _check_quantity(total)
        self._item_added(sku=sku, added=quantity, quantity=total, unit_price=unit_price)

    @event("ItemAdded")
    def _item_added(self, sku: str, added: int, quantity: int, unit_price: Money) -> None:
        # `quantity` is the line's quantity after the add, so a read model can set it
        # without reading; the line keeps the price of its latest add.
        self.lines = {**self.lines, sku: CartLine(sku, quantity, unit_price)}

    def change_quantity(self, sku: str, quantity: int) -> None:
        """Set a line's quantity; 0 removes the line."""
        self._require_open()
        if sku not in self.lines:
            raise InvalidValue(f"sku {sku!r} is not in the cart", field="sku")
        if quantity == 0:
            self.remove(sku)
            return
        _check_quantity(quantity)
        if quantity != self.lines[sku].quantity:
            self._quantity_changed(sku=sku, quantity=quantity)

    @event("QuantityChanged")
    def _quantity_changed(self, sku: str, quantity: int) -> None:
        line = self.lines[sku]
        self.lines = {**self.lines, sku: CartLine(sku, quantity, line.unit_price)}

    def remove(self, sku: str) -> None:
        self._require_open()
        if sku not in self.lines:
            raise InvalidValue(f"sku {sku!r} is not in the cart", field="sku")
        self._item_removed(sku=sku)

    @event("ItemRemoved")
    def _item_removed(self, sku: str) -> None:
        self.lines = {k: v for k, v in self.lines.items() if k != sku}

    def clear(self) -> None:
        self._require_open()
        if self.lines:
            self._cleared()

    @event("Cleared")
    def _cleared(self) -> None:
        self.lines = {}

    def apply_address(self, address: Address | None = None, address_id: UUID | None = None) -> None:
        """Ship to this address, or to the customer's saved address `address_id`."""
        self._require_open()
        if (address is None) == (address_id is None):
            raise InvalidValue(
                "give either a shipping_address or an address_id", field="shipping_address"
            )
        if address_id is not None and self.is_guest:
            raise InvalidValue("a guest has no saved addresses", field="address_id")
        if (address, address_id) != (self.address, self.address_id):
            self._address_applied(address=address, address_id=address_id)

    @event("AddressApplied")
    def _address_applied(self, address: Address | None, address_id: UUID | None) -> None:
        self.address = address
        self.address_id = address_id

    def merge_from(self, guest: Cart) -> list[str]:
        """Take a guest cart's lines (quantities add, capped at MAX_QUANTITY) and close it.
        Returns the SKUs that did not fit (the cart already had MAX_LINES lines)."""
        self._require_open()
        if not guest.is_guest:
            raise InvalidValue("only a guest cart can be merged", field="cart_id")
        guest._require_open()
        if guest.id == self.id:
            raise InvalidValue("a cart cannot be merged into itself", field="cart_id")
        merged: list[CartLine] = []
        dropped: list[str] = []
        count = len(self.lines)
        for sku, line in guest.lines.items():
            current = self.lines.get(sku)
            if current is None and count >= MAX_LINES:
                dropped.append(sku)
                continue
            if self.currency not in (None, line.unit_price.currency):
                dropped.append(sku)
                continue
            if current is None:
                count += 1
                merged.append(line)
            else:
                quantity = min(MAX_QUANTITY, current.quantity + line.quantity)
                merged.append(CartLine(sku, quantity, current.unit_price))
        self._merged(from_cart_id=guest.id, lines=merged)
        guest._merged_into(cart_id=self.id)
        return dropped

    @event("Merged")
    def _merged(self, from_cart_id: UUID, lines: list[CartLine]) -> None:
        # `lines` are the merged lines as they now stand in this cart.
        self.lines = {**self.lines, **{line.sku: line for line in lines}}

    @event("MergedInto")
    def _merged_into(self, cart_id: UUID) -> None:
        self.status = CartStatus.MERGED
        self.merged_into = cart_id

    def order_lines(self) -> list[CartLine]:
        """The lines to order, for checkout: an open cart with at least one line."""
        self._require_open()
        if not self.lines:
            raise EmptyCart("the cart has no lines", field="lines")
        return list(self.lines.values())

    def check_out(self, order_id: UUID) -> None:
        self._require_open()
        if not self.lines:
            raise EmptyCart("the cart has no lines", field="lines")
        self._checked_out(order_id=order_id)

    @event("CheckedOut")
    def _checked_out(self, order_id: UUID) -> None:
        self.status = CartStatus.CHECKED_OUT
        self.order_id = order_id

    def reopen(self) -> None:
        """A customer's cart starts afresh after a checkout (guest carts are never
        reopened: a guest asks for a new one)."""
        if self.status != CartStatus.CHECKED_OUT or self.is_guest:
            raise CartClosed(f"cart {self.id} is {self.status}; it cannot be reopened")
        self._reopened()

    @event("Reopened")
    def _reopened(self) -> None:
        self.status = CartStatus.OPEN
        self.lines = {}
        self.order_id = None
