"""A small, repeatable shop workload written through the real command handlers."""

from __future__ import annotations

import random
import uuid

from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.customers.customer import Customer
from tillroll.aggregates.errors import DomainError
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, OrderLine
from tillroll.commands.bus import dispatch
from tillroll.commands.carts import (
    AddCartItem,
    ApplyCartAddress,
    ChangeCartItem,
    CheckoutCart,
    ClearCart,
    MergeCarts,
    OpenCart,
    RemoveCartItem,
)
from tillroll.commands.catalog import ChangePrice, CreateProduct
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.customers import AddAddress, ChooseDefaultAddress
from tillroll.commands.fulfilment import DeliverOrder, ShipOrder
from tillroll.commands.inventory import AdjustStock, ReceiveStock
from tillroll.commands.ordering import CancelOrder, PlaceOrder
from tillroll.commands.payments import PAYMENT_SUCCEEDED, ApplyPaymentEvent
from tillroll.commands.price_watches import StopWatching, WatchPrice
from tillroll.commands.reviews import (
    EditReview,
    HideReview,
    RecordReceived,
    VoteHelpful,
    WriteReview,
)
from tillroll.infra.eventstore import EventStore

ADDRESS = Address("Ada", "1 Main St", "Berlin", "10115", "DE")


def create_product(store: EventStore, sku: str, cents: int, stock: int) -> int:
    ctx = CommandContext(store)
    position = dispatch(CreateProduct(sku=sku, name=sku.title(), price=Money(cents, "EUR")), ctx)
    if stock:
        position = dispatch(ReceiveStock(sku, stock, "opening"), ctx)
    return position.position


def order(store: EventStore, customer: uuid.UUID, lines: list[tuple[str, int, int]]) -> str:
    ctx = CommandContext(store, principal=Principal(str(customer), "customer"))
    result = dispatch(
        PlaceOrder(
            customer_id=customer,
            lines=[OrderLine(sku, qty, Money(cents, "EUR")) for sku, qty, cents in lines],
            shipping_address=ADDRESS,
        ),
        ctx,
    )
    return result.order_id


def add_customer(store: EventStore, customer_id: uuid.UUID) -> None:
    """A Customer (as registration creates it) with one address, its default shipping one."""
    store.save(Customer.register(customer_id, "Ada"), meta={})
    ctx = CommandContext(store, principal=Principal(str(customer_id), "customer"))
    added = dispatch(AddAddress(customer_id, ADDRESS), ctx)
    dispatch(ChooseDefaultAddress(customer_id, uuid.UUID(added.address_id), "shipping"), ctx)


def shop(store: EventStore, *, orders: int, seed: int = 7) -> None:
    """Products, receipts, price changes, orders and cancellations, in a seeded random mix."""
    rng = random.Random(seed)
    prices = {f"SKU-{i}": 500 + 100 * i for i in range(8)}
    for sku, cents in prices.items():
        create_product(store, sku, cents, 50)
    customers = [uuid.uuid4() for _ in range(5)]
    for customer in customers:  # each with a profile and a default address
        add_customer(store, customer)
    placed: list[tuple[uuid.UUID, str]] = []
    staff = CommandContext(store, principal=Principal("staff-1", "staff"))
    for _ in range(orders):
        roll = rng.random()
        try:
            if roll < 0.6:
                skus = rng.sample(sorted(prices), rng.randint(1, 3))
                customer = rng.choice(customers)
                lines = [(sku, rng.randint(1, 3), prices[sku]) for sku in skus]
                placed.append((customer, order(store, customer, lines)))
            elif roll < 0.75 and placed:
                customer, order_id = placed.pop(rng.randrange(len(placed)))
                dispatch(CancelOrder(uuid.UUID(order_id), "changed mind"), staff)
            elif roll < 0.85:
                sku = rng.choice(sorted(prices))
                prices[sku] += 10
                dispatch(ChangePrice(sku, Money(prices[sku], "EUR")), staff)
            elif roll < 0.95:
                dispatch(ReceiveStock(rng.choice(sorted(prices)), rng.randint(1, 20)), staff)
            else:
                dispatch(AdjustStock(rng.choice(sorted(prices)), -1, "breakage"), staff)
        except DomainError:
            pass  # out of stock or below reserved: part of a shop's day
    carts(store, sorted(prices))
    after_sale(store, customers[:2], sorted(prices)[0])


def carts(store: EventStore, skus: list[str]) -> None:
    """A guest cart merged into a customer's cart, lines changed and removed, a checkout and
    a cart started afresh: every kind of cart event, after the seeded mix (whose random
    sequence it leaves alone)."""
    customer = uuid.uuid4()
    ctx = CommandContext(store, principal=Principal(str(customer), "customer"))
    guest = CommandContext(store, principal=Principal("guest:workload", "guest"))
    mine = uuid.UUID(dispatch(OpenCart(customer), ctx).cart_id)
    theirs = uuid.UUID(dispatch(OpenCart(), guest).cart_id)
    for sku in skus[:3]:
        dispatch(AddCartItem(mine, sku, 1), ctx)
        dispatch(AddCartItem(theirs, sku, 2), guest)
    dispatch(ChangeCartItem(mine, skus[0], 3), ctx)
    dispatch(RemoveCartItem(mine, skus[1]), ctx)
    dispatch(ApplyCartAddress(mine, shipping_address=ADDRESS), ctx)
    dispatch(MergeCarts(theirs, customer), ctx)
    try:
        dispatch(CheckoutCart(mine, accept_current_prices=True), ctx)
    except DomainError:
        return  # out of stock: the cart stays open
    dispatch(OpenCart(customer), ctx)
    dispatch(AddCartItem(mine, skus[0], 1), ctx)
    dispatch(ClearCart(mine), ctx)


def after_sale(store: EventStore, customers: list[uuid.UUID], sku: str) -> None:
    """Two customers receive `sku` (paid, shipped, delivered), review it (one edits, one is
    voted helpful, one is hidden) and watch prices: every review and watch event, at least
    five of each read model's (tests/integration/test_exactly_once.py fails one mid-batch),
    after the seeded mix (whose random sequence it leaves alone)."""
    staff = CommandContext(store, principal=Principal("staff-1", "staff"))
    reviews = []
    for n, customer in enumerate(customers):
        ctx = CommandContext(store, principal=Principal(str(customer), "customer"))
        try:
            order_id = uuid.UUID(order(store, customer, [(sku, 1, _price(store, sku))]))
        except DomainError:
            return  # out of stock after the mix: no after-sale today
        total = store.get(order_id).total
        paid = ApplyPaymentEvent(
            f"evt_workload_{order_id.hex}",
            PAYMENT_SUCCEEDED,
            order_id,
            f"pi_workload_{order_id.hex}",
            total.amount,
            total.currency,
        )
        dispatch(paid, staff)
        dispatch(ShipOrder(order_id), staff)
        dispatch(DeliverOrder(order_id), staff)
        dispatch(RecordReceived(order_id), staff)  # as the reaction does (it is idempotent)
        reviews.append(dispatch(WriteReview(sku, customer, 2 + 2 * n, f"Title {n}"), ctx))
        dispatch(WatchPrice(customer, sku, Money(100, "EUR") if n else None), ctx)
    first, second = customers
    dispatch(EditReview(sku, first, 3, "Edited"), CommandContext(store))
    dispatch(VoteHelpful(uuid.UUID(reviews[0].review_id), second), CommandContext(store))
    dispatch(HideReview(uuid.UUID(reviews[1].review_id), "off topic"), staff)
    dispatch(WatchPrice(first, sku, Money(150, "EUR")), CommandContext(store))  # a target
    dispatch(StopWatching(second, sku), CommandContext(store))
    dispatch(WatchPrice(second, sku, Money(120, "EUR")), CommandContext(store))  # again


def _price(store: EventStore, sku: str) -> int:
    return int(store.get(Product.create_id(sku)).price.amount)
