"""Ordering commands: place an order (reserving all its stock atomically), cancel it."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import msgspec
from tillroll.aggregates.catalog.attributes import BASE_TIER
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.customers.customer import Customer
from tillroll.aggregates.errors import InsufficientStock, InvalidValue, NotFound, PriceMismatch
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, Lines, Order, OrderLine, check_lines
from tillroll.commands.context import CommandContext

CancelReason = Annotated[str, msgspec.Meta(max_length=500)]

# What a client sends; the customer (from the token) and the order id (from the path) are
# added by the API, so a client can never set them.


class OrderCreate(msgspec.Struct, frozen=True):
    """The body of POST /v1/orders: the address itself, or the id of a saved one."""

    lines: Lines
    shipping_address: Address | None = None
    address_id: UUID | None = None

    def __post_init__(self) -> None:
        # Decoding runs this: a 400 naming the field, worded as msgspec words its own.
        if self.shipping_address is None and self.address_id is None:
            raise ValueError("Object missing required field `shipping_address`")
        if self.shipping_address is not None and self.address_id is not None:
            raise ValueError(
                "give `shipping_address` or `address_id`, not both - at `$.address_id`"
            )


class Cancellation(msgspec.Struct, frozen=True):
    """The body of POST /v1/orders/{order_id}/cancel (optional)."""

    reason: CancelReason = ""


class PlaceOrder(msgspec.Struct, frozen=True, omit_defaults=True):
    # omit_defaults: an order with an address encodes (and fingerprints, for idempotency
    # keys) as it did before saved addresses existed.
    customer_id: UUID
    lines: Lines
    shipping_address: Address | None = None
    address_id: UUID | None = None
    """A saved address of the customer's, used when `shipping_address` is not given."""


class CancelOrder(msgspec.Struct, frozen=True):
    order_id: UUID
    reason: CancelReason = ""


class OrderChanged(msgspec.Struct):
    order_id: str
    status: str
    total: Money
    version: int
    position: int = 0


def _result(order: Order) -> OrderChanged:
    return OrderChanged(
        order_id=str(order.id),
        status=order.status,
        total=order.total,
        version=order.version,
    )


def place_order(cmd: PlaceOrder, ctx: CommandContext) -> OrderChanged:
    order, items = place_with_stock(
        ctx, cmd.customer_id, cmd.lines, cmd.shipping_address, cmd.address_id
    )
    return ctx.save(_result(order), order, *items)


def place_with_stock(
    ctx: CommandContext,
    customer_id: UUID,
    lines: list[OrderLine],
    shipping_address: Address | None,
    address_id: UUID | None = None,
    *,
    at_current_prices: bool = False,
) -> tuple[Order, list[InventoryItem]]:
    """The rules every new order passes, whoever places it (POST /v1/orders, a cart's
    checkout): known, orderable products, each line at the price of the customer's tier,
    the address given or one the customer saved, and every line's stock reserved. Returns
    the order and the stock items to save with it, in one save.

    `at_current_prices`: the lines take the tier's current price instead of being checked
    against it (a checkout whose shopper accepted the current prices)."""
    check_lines(lines)  # bad input costs no query
    # The customer (tier, saved addresses), every product (price check) and stock item of
    # the order in one load.
    wanted = [(Product.create_id(line.sku), InventoryItem.create_id(line.sku)) for line in lines]
    customer_stream = Customer.create_id(customer_id)
    loaded = ctx.load_many([customer_stream, *(i for pair in wanted for i in pair)])
    customer: Customer | None = loaded.get(customer_stream)
    tier = BASE_TIER if customer is None else customer.tier
    if at_current_prices:
        lines = [
            _at_price(line, loaded.get(product_id), tier)
            for line, (product_id, _) in zip(lines, wanted, strict=True)
        ]
    address = _shipping_address(shipping_address, address_id, customer)
    order = Order.place(customer_id, lines, address)
    items = []
    for i, (line, (product_id, item_id)) in enumerate(zip(order.lines, wanted, strict=True)):
        product: Product | None = loaded.get(product_id)
        if product is None:
            raise InvalidValue(f"unknown sku {line.sku!r}", field=f"lines[{i}].sku")
        product.check_orderable(field=f"lines[{i}].sku")
        price = product.price_for(tier)
        if price != line.unit_price:
            raise PriceMismatch(
                f"sku {line.sku!r} costs {price.amount} {price.currency}, "
                f"not {line.unit_price.amount} {line.unit_price.currency}",
                field=f"lines[{i}].unit_price",
                sku=line.sku,
                expected={"amount": price.amount, "currency": price.currency},
            )
        item: InventoryItem | None = loaded.get(item_id)
        if item is None:
            raise InsufficientStock(line.sku, line.quantity, 0)
        item.reserve(order.id, line.quantity)
        items.append(item)
    return order, items


def _at_price(line: OrderLine, product: Product | None, tier: str) -> OrderLine:
    if product is None:
        return line  # refused as an unknown sku below
    return msgspec.structs.replace(line, unit_price=product.price_for(tier))


def _shipping_address(
    shipping_address: Address | None, address_id: UUID | None, customer: Customer | None
) -> Address:
    if shipping_address is not None and address_id is None:
        return shipping_address
    if address_id is None or shipping_address is not None:
        raise InvalidValue("give either shipping_address or address_id", field="shipping_address")
    return saved_address_of(customer, address_id)


def saved_address_of(customer: Customer | None, address_id: UUID) -> Address:
    """A customer's saved address; anyone else's, or none, is not found."""
    if customer is None:
        raise NotFound(f"address {address_id} not found", field="address_id")
    return customer.address(address_id)


def load_order(ctx: CommandContext, order_id: UUID) -> Order:
    try:
        order: Order = ctx.load(order_id)
    except NotFound:
        raise NotFound(f"order {order_id} not found", field="order_id") from None
    if not isinstance(order, Order) or (
        ctx.principal.is_customer and order.customer_id != ctx.principal.customer_id
    ):
        # Someone else's order is indistinguishable from a missing one.
        raise NotFound(f"order {order_id} not found", field="order_id")
    return order


def cancel_with_stock(
    ctx: CommandContext, order: Order, reason: str, stock_reason: str = "order cancelled"
) -> list[InventoryItem]:
    """Cancel `order` and give its stock back (what it holds released, what it took put back
    on the shelf): the stock items to save with it. The one way an order is cancelled, by a
    customer, staff or a reservation that expired."""
    order.cancel(reason, by=ctx.principal.subject)
    loaded = ctx.load_many([InventoryItem.create_id(line.sku) for line in order.lines])
    held = [item for item in loaded.values() if item.holds(order.id)]
    for item in held:
        item.release(order.id, reason=stock_reason)
    # A paid order's stock was committed: it comes back on the shelf.
    taken = [item for item in loaded.values() if item.committed_to(order.id)]
    for item in taken:
        item.restock(order.id, item.committed_to(order.id), reason=stock_reason)
    return [*held, *taken]


def cancel_order(cmd: CancelOrder, ctx: CommandContext) -> OrderChanged:
    order = load_order(ctx, cmd.order_id)
    items = cancel_with_stock(ctx, order, cmd.reason)
    return ctx.save(_result(order), order, *items)
