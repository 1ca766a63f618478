"""The Cart aggregate: a hypothesis state machine (quantities always 1..MAX_QUANTITY, one
line per SKU, a closed cart never changes, the total is the sum of the lines, replaying
the events gives the same cart) and the cart handlers' rules on the in-memory store."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from tillroll.aggregates.carts.cart import Cart, CartClosed, CartStatus, EmptyCart
from tillroll.aggregates.errors import InsufficientStock, InvalidValue, NotFound
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import MAX_LINES, MAX_QUANTITY, Address
from tillroll.commands.bus import dispatch
from tillroll.commands.carts import (
    AddCartItem,
    CheckoutCart,
    MergeCarts,
    NotSellable,
    OpenCart,
)
from tillroll.commands.catalog import ArchiveProduct, CreateProduct
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.inventory import ReceiveStock
from tillroll.infra.memory import MemoryEventStore

ADDRESS = Address("Ada", "1 Main St", "Berlin", "10115", "DE")
SKUS = st.sampled_from(["A", "B", "C", "D"])
QUANTITIES = st.integers(min_value=-2, max_value=MAX_QUANTITY + 2)
PRICES = {"A": 100, "B": 250, "C": 999, "D": 1}


def eur(cents: int) -> Money:
    return Money(cents, "EUR")


class CartMachine(RuleBasedStateMachine):
    """Random sequences of cart operations, valid or not, against a plain model."""

    def __init__(self) -> None:
        super().__init__()
        self.cart = Cart.for_customer(uuid.uuid4())
        self.model: dict[str, int] = {}
        self.status = CartStatus.OPEN
        self.log: list[Any] = []

    def _attempt(self, change: Any, *args: Any) -> bool:
        """Run a change; a refused one (closed cart, bad value) must leave no trace."""
        before = (dict(self.cart.lines), self.cart.status, self.cart.version)
        try:
            change(*args)
        except (CartClosed, InvalidValue):
            assert (dict(self.cart.lines), self.cart.status, self.cart.version) == before
            return False
        assert self.status == CartStatus.OPEN, "a closed cart accepted a change"
        return True

    @rule(sku=SKUS, quantity=QUANTITIES)
    def add(self, sku: str, quantity: int) -> None:
        if self._attempt(self.cart.add, sku, quantity, eur(PRICES[sku])):
            self.model[sku] = self.model.get(sku, 0) + quantity
        else:
            total = self.model.get(sku, 0) + quantity
            assert self.status != CartStatus.OPEN or not (quantity > 0 and total <= MAX_QUANTITY)

    @rule(sku=SKUS, quantity=QUANTITIES)
    def change(self, sku: str, quantity: int) -> None:
        if self._attempt(self.cart.change_quantity, sku, quantity):
            if quantity == 0:
                del self.model[sku]
            else:
                self.model[sku] = quantity

    @rule(sku=SKUS)
    def remove(self, sku: str) -> None:
        if self._attempt(self.cart.remove, sku):
            del self.model[sku]

    @rule()
    def clear(self) -> None:
        if self._attempt(self.cart.clear):
            self.model = {}

    @rule(lines=st.dictionaries(SKUS, st.integers(1, MAX_QUANTITY), max_size=4))
    def merge_guest(self, lines: dict[str, int]) -> None:
        guest = Cart.for_guest()
        for sku, quantity in lines.items():
            guest.add(sku, quantity, eur(PRICES[sku]))
        if self._attempt(self.cart.merge_from, guest):
            assert guest.status == CartStatus.MERGED and guest.merged_into == self.cart.id
            for sku, quantity in lines.items():
                self.model[sku] = min(MAX_QUANTITY, self.model.get(sku, 0) + quantity)
            with pytest.raises(CartClosed):
                guest.add("A", 1, eur(100))  # a merged guest cart takes no more changes
        else:
            assert guest.status == CartStatus.OPEN  # a refused merge closes nothing

    @rule()
    def check_out(self) -> None:
        try:
            self.cart.check_out(uuid.uuid4())
        except (CartClosed, EmptyCart):
            assert self.status != CartStatus.OPEN or not self.model
            return
        self.status = CartStatus.CHECKED_OUT

    @precondition(lambda self: self.status == CartStatus.CHECKED_OUT)
    @rule()
    def reopen(self) -> None:
        self.cart.reopen()
        self.status, self.model = CartStatus.OPEN, {}

    @invariant()
    def lines_match_the_model(self) -> None:
        assert self.cart.status == self.status
        assert {sku: line.quantity for sku, line in self.cart.lines.items()} == self.model

    @invariant()
    def every_quantity_is_positive_and_bounded(self) -> None:
        assert all(0 < line.quantity <= MAX_QUANTITY for line in self.cart.lines.values())
        assert len(self.cart.lines) <= MAX_LINES

    @invariant()
    def one_line_per_sku(self) -> None:
        skus = [line.sku for line in self.cart.lines.values()]
        assert len(skus) == len(set(skus)) and skus == list(self.cart.lines)

    @invariant()
    def the_total_is_the_sum_of_the_lines(self) -> None:
        expected = sum(PRICES[sku] * quantity for sku, quantity in self.model.items())
        total = self.cart.total()
        assert (total.amount if total else 0) == expected

    @invariant()
    def replaying_the_events_gives_the_same_cart(self) -> None:
        replayed = None
        for event in self._events():
            replayed = event.mutate(replayed)
        assert replayed is not None
        assert (replayed.lines, replayed.status) == (self.cart.lines, self.cart.status)

    def _events(self) -> list[Any]:
        self.log.extend(self.cart.collect_events())
        return self.log


CartMachine.TestCase.settings = settings(
    max_examples=100,
    stateful_step_count=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCartStateful = CartMachine.TestCase


# --- handlers, on the in-memory store ---------------------------------------------------------


@pytest.fixture
def store() -> MemoryEventStore:
    store = MemoryEventStore()
    ctx = CommandContext(store, principal=Principal("staff-1", "staff"))
    for sku, cents in PRICES.items():
        dispatch(CreateProduct(sku=sku, name=sku, price=eur(cents)), ctx)
        dispatch(ReceiveStock(sku, 5, "opening"), ctx)
    return store


def as_customer(store: MemoryEventStore) -> tuple[CommandContext, uuid.UUID]:
    customer = uuid.uuid4()
    return CommandContext(store, principal=Principal(str(customer), "customer")), customer


def test_another_customers_cart_is_not_found(store: MemoryEventStore) -> None:
    mine, me = as_customer(store)
    theirs, _ = as_customer(store)
    cart_id = uuid.UUID(dispatch(OpenCart(me), mine).cart_id)
    with pytest.raises(NotFound):
        dispatch(AddCartItem(cart_id, "A", 1), theirs)


def test_an_archived_product_is_refused_naming_sku(store: MemoryEventStore) -> None:
    dispatch(ArchiveProduct("A"), CommandContext(store))
    ctx, me = as_customer(store)
    cart_id = uuid.UUID(dispatch(OpenCart(me), ctx).cart_id)
    with pytest.raises(NotSellable) as refused:
        dispatch(AddCartItem(cart_id, "A", 1), ctx)
    assert refused.value.field == "sku"


def test_merge_saves_both_carts_in_one_save(store: MemoryEventStore) -> None:
    ctx, me = as_customer(store)
    guest_id = uuid.UUID(dispatch(OpenCart(), CommandContext(store)).cart_id)
    dispatch(AddCartItem(guest_id, "B", 2), CommandContext(store))
    result = dispatch(MergeCarts(guest_id, me), ctx)
    guest, mine = store.get(guest_id), store.get(uuid.UUID(result.cart_id))
    assert guest.status == CartStatus.MERGED and mine.lines["B"].quantity == 2
    assert result.created  # the customer had no cart yet


def test_a_short_checkout_leaves_the_cart_open_and_reserves_nothing(
    store: MemoryEventStore,
) -> None:
    ctx, me = as_customer(store)
    cart_id = uuid.UUID(dispatch(OpenCart(me), ctx).cart_id)
    dispatch(AddCartItem(cart_id, "A", 1), ctx)
    dispatch(AddCartItem(cart_id, "B", 6), ctx)
    with pytest.raises(InsufficientStock):
        dispatch(CheckoutCart(cart_id, shipping_address=ADDRESS), ctx)
    assert store.get(cart_id).status == CartStatus.OPEN
