"""Cart commands: open a cart (a customer's, or a guest's), change its lines and address,
merge a guest cart into a customer's, and check it out into an order in one atomic save."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from tillroll.aggregates.carts.cart import Cart, CartStatus
from tillroll.aggregates.catalog.attributes import BASE_TIER
from tillroll.aggregates.catalog.product import Product, ProductArchived
from tillroll.aggregates.customers.customer import Customer
from tillroll.aggregates.errors import Conflict, InvalidValue, NotFound, RuleViolation
from tillroll.aggregates.ordering.order import MAX_QUANTITY, Address, Quantity
from tillroll.aggregates.sku import Sku
from tillroll.commands.context import SYSTEM, CommandContext, Principal
from tillroll.commands.ordering import OrderChanged, _result, place_with_stock, saved_address_of

QuantityOrZero = Annotated[int, msgspec.Meta(ge=0, le=MAX_QUANTITY)]

# Bodies, as clients send them; the cart id (path), the customer (token) and the tier
# (CustomerTiers) are added by the API.


class CartItemAdd(msgspec.Struct, frozen=True):
    """The body of POST /v1/carts/{cart_id}/items."""

    sku: Sku
    quantity: Quantity


class CartItemChange(msgspec.Struct, frozen=True):
    """The body of PATCH /v1/carts/{cart_id}/items/{sku}: 0 removes the line."""

    quantity: QuantityOrZero


class CartAddress(msgspec.Struct, frozen=True, omit_defaults=True):
    """The body of PUT /v1/carts/{cart_id}/address: one of the two."""

    shipping_address: Address | None = None
    address_id: UUID | None = None


class CheckoutRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """The body of POST /v1/carts/{cart_id}/checkout. Without an address, the one applied to
    the cart is used. A line whose price changed since it was added is a 422 (with the new
    price) unless `accept_current_prices` is true."""

    shipping_address: Address | None = None
    address_id: UUID | None = None
    accept_current_prices: bool = False


# Commands.


class OpenCart(msgspec.Struct, frozen=True, omit_defaults=True):
    """A customer's open cart (created or reopened if need be), or a new guest cart."""

    customer_id: UUID | None = None


class AddCartItem(msgspec.Struct, frozen=True, omit_defaults=True):
    cart_id: UUID
    sku: Sku
    quantity: Quantity
    tier: str = BASE_TIER
    """The shopper's tier: the line keeps the price they were shown."""


class ChangeCartItem(msgspec.Struct, frozen=True):
    cart_id: UUID
    sku: Sku
    quantity: QuantityOrZero


class RemoveCartItem(msgspec.Struct, frozen=True):
    cart_id: UUID
    sku: Sku


class ClearCart(msgspec.Struct, frozen=True):
    cart_id: UUID


class ApplyCartAddress(msgspec.Struct, frozen=True, omit_defaults=True):
    cart_id: UUID
    shipping_address: Address | None = None
    address_id: UUID | None = None


class MergeCarts(msgspec.Struct, frozen=True):
    """Merge a guest cart into the customer's cart (the API on request, login later)."""

    guest_cart_id: UUID
    customer_id: UUID


class CheckoutCart(msgspec.Struct, frozen=True, omit_defaults=True):
    cart_id: UUID
    shipping_address: Address | None = None
    address_id: UUID | None = None
    accept_current_prices: bool = False
    """The tier's price is the customer's, read with the order's other aggregates."""


class NotSellable(RuleViolation):
    """Adding an archived product to a cart: a 422 naming `sku` (an order of one is a
    409, ProductArchived: there the order's state clashes; here the request is refused)."""

    title = "Product not sellable"


class CartChanged(msgspec.Struct):
    cart_id: str
    status: str
    version: int
    created: bool = False
    dropped: list[str] = []
    """SKUs of a merged guest cart that did not fit (the cart was full)."""
    position: int = 0


def _changed(cart: Cart, created: bool = False, dropped: list[str] | None = None) -> CartChanged:
    return CartChanged(
        cart_id=str(cart.id),
        status=cart.status,
        version=cart.version,
        created=created,
        dropped=dropped or [],
    )


def may_use(principal: Principal, cart: Cart) -> bool:
    """A guest cart is anyone's who holds its id; a customer's cart is theirs alone (the
    system, e.g. a merge at login, acts for them)."""
    if cart.customer_id is None or principal == SYSTEM:
        return True
    return principal.is_customer and principal.customer_id == cart.customer_id


def load_cart(ctx: CommandContext, cart_id: UUID) -> Cart:
    found = ctx.load_many([cart_id]).get(cart_id)
    if not isinstance(found, Cart) or not may_use(ctx.principal, found):
        # Someone else's cart is indistinguishable from a missing one.
        raise NotFound(f"cart {cart_id} not found", field="cart_id")
    return found


def open_cart(cmd: OpenCart, ctx: CommandContext) -> CartChanged:
    if cmd.customer_id is None:
        cart = Cart.for_guest()
        return ctx.save(_changed(cart, created=True), cart)
    cart_id = Cart.customer_cart_id(cmd.customer_id)
    cart = ctx.load_many([cart_id]).get(cart_id)
    if cart is None:
        cart = Cart.for_customer(cmd.customer_id)
        return ctx.save(_changed(cart, created=True), cart)
    if cart.status == CartStatus.CHECKED_OUT:
        cart.reopen()
        return ctx.save(_changed(cart, created=True), cart)
    return _changed(cart)  # open already: nothing to write


def add_cart_item(cmd: AddCartItem, ctx: CommandContext) -> CartChanged:
    cart = load_cart(ctx, cmd.cart_id)
    product = ctx.load_many([Product.create_id(cmd.sku)]).get(Product.create_id(cmd.sku))
    if not isinstance(product, Product):
        raise InvalidValue(f"unknown sku {cmd.sku!r}", field="sku")
    try:
        product.check_orderable(field="sku")
    except ProductArchived as exc:
        raise NotSellable(exc.detail, field="sku", sku=cmd.sku) from None
    cart.add(cmd.sku, cmd.quantity, product.price_for(cmd.tier))
    return ctx.save(_changed(cart), cart)


def change_cart_item(cmd: ChangeCartItem, ctx: CommandContext) -> CartChanged:
    cart = load_cart(ctx, cmd.cart_id)
    cart.change_quantity(cmd.sku, cmd.quantity)
    return ctx.save(_changed(cart), cart)


def remove_cart_item(cmd: RemoveCartItem, ctx: CommandContext) -> CartChanged:
    cart = load_cart(ctx, cmd.cart_id)
    cart.remove(cmd.sku)
    return ctx.save(_changed(cart), cart)


def clear_cart(cmd: ClearCart, ctx: CommandContext) -> CartChanged:
    cart = load_cart(ctx, cmd.cart_id)
    cart.clear()
    return ctx.save(_changed(cart), cart)


def apply_cart_address(cmd: ApplyCartAddress, ctx: CommandContext) -> CartChanged:
    cart = load_cart(ctx, cmd.cart_id)
    if cmd.address_id is not None and cart.customer_id is not None:
        saved_address(ctx, cart.customer_id, cmd.address_id)  # it must exist now
    cart.apply_address(cmd.shipping_address, cmd.address_id)
    return ctx.save(_changed(cart), cart)


def merge_carts(cmd: MergeCarts, ctx: CommandContext) -> CartChanged:
    if ctx.principal.is_customer and ctx.principal.customer_id != cmd.customer_id:
        raise NotFound(f"cart {cmd.guest_cart_id} not found", field="cart_id")
    guest = ctx.load_many([cmd.guest_cart_id]).get(cmd.guest_cart_id)
    if not isinstance(guest, Cart) or not guest.is_guest:
        # A customer's cart is never merged: it is someone's, so it is not found.
        raise NotFound(f"cart {cmd.guest_cart_id} not found", field="cart_id")
    cart_id = Cart.customer_cart_id(cmd.customer_id)
    cart = ctx.load_many([cart_id]).get(cart_id)
    created = cart is None
    if cart is None:
        cart = Cart.for_customer(cmd.customer_id)
    elif cart.status == CartStatus.CHECKED_OUT:
        cart.reopen()
        created = True
    dropped = cart.merge_from(guest)
    return ctx.save(_changed(cart, created=created, dropped=dropped), cart, guest)


def checkout_cart(cmd: CheckoutCart, ctx: CommandContext) -> OrderChanged:
    """The cart becomes an order under place_order's rules; the order, its stock
    reservations and the cart's checkout are one save."""
    cart = load_cart(ctx, cmd.cart_id)
    if cart.customer_id is None:
        raise Conflict(
            "a guest cart is checked out once merged into a customer's cart "
            "(POST /v1/carts/{cart_id}/merge)",
            field="cart_id",
        )
    lines = cart.order_lines()
    address, address_id = _shipping_address(cart, cmd)
    order, items = place_with_stock(
        ctx,
        cart.customer_id,
        lines,
        address,
        address_id,
        at_current_prices=cmd.accept_current_prices,
    )
    cart.check_out(order.id)
    return ctx.save(_result(order), order, cart, *items)


def _shipping_address(cart: Cart, cmd: CheckoutCart) -> tuple[Address | None, UUID | None]:
    """The checkout's address, or the id of a saved one (resolved with the customer's other
    data in place_with_stock's one load): the body's, else the one applied to the cart."""
    if cmd.shipping_address is not None and cmd.address_id is not None:
        raise InvalidValue(
            "give either a shipping_address or an address_id", field="shipping_address"
        )
    if cmd.shipping_address is not None:
        return cmd.shipping_address, None
    address_id = cmd.address_id or cart.address_id
    if address_id is not None:
        return None, address_id
    if cart.address is not None:
        return cart.address, None
    raise InvalidValue("the cart has no shipping address", field="shipping_address")


def saved_address(ctx: CommandContext, customer_id: UUID, address_id: UUID) -> Address:
    """One of the customer's saved addresses (anyone else's, or an unknown id: not found)."""
    stream = Customer.create_id(customer_id)
    return saved_address_of(ctx.load_many([stream]).get(stream), address_id)
