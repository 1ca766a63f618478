"""Stateful property tests: random command sequences against InventoryItem and Order.

Each machine keeps its own plain model, predicts for every command whether it succeeds or which
domain error it raises, and checks that failed commands change nothing and record no event, and
that replaying every recorded event rebuilds the same state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import project_aggregate
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    precondition,
    rule,
)
from tillroll.aggregates.errors import (
    Conflict,
    DomainError,
    IllegalTransition,
    InsufficientStock,
    InvalidValue,
    NotFound,
)
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import TRANSITIONS, Address, Order, OrderLine, OrderStatus

S = OrderStatus
MACHINE_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    database=None,  # leave no .hypothesis/ directory in the work tree
    suppress_health_check=[HealthCheck.too_slow],
)


def is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def expect_failure(call: Callable[[], object], expected: type[DomainError]) -> DomainError:
    with pytest.raises(DomainError) as err:
        call()
    assert type(err.value) is expected, f"expected {expected.__name__}, got {err.value!r}"
    return err.value


# --- inventory -------------------------------------------------------------------------------

SKU = "WIDGET-7"
small = st.integers(min_value=1, max_value=25)


def mostly(
    valid: st.SearchStrategy[Any], invalid: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """About three draws in four from `valid`, so that runs build up real stock."""
    return st.integers(min_value=0, max_value=3).flatmap(lambda k: invalid if k == 0 else valid)


quantities = mostly(
    small,
    st.one_of(
        st.integers(max_value=0),
        st.integers(min_value=10**6, max_value=10**15),
        st.booleans(),
        st.sampled_from([1.0, 2.5, "3", None]),
    ),
)
deltas = mostly(
    st.integers(min_value=-30, max_value=30),
    st.one_of(
        st.integers(min_value=-(10**15), max_value=10**15),
        st.booleans(),
        st.sampled_from([1.0, "2", None]),
    ),
)
reasons = mostly(st.sampled_from(["stocktake", "damaged"]), st.sampled_from(["", "   ", "\t"]))


@MACHINE_SETTINGS
class InventoryMachine(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        self.item = InventoryItem.create(SKU)
        self.log: list[Any] = list(self.item.collect_events())
        # the model: what the stock should be, in plain ints and dicts
        self.on_hand = 0
        self.held: dict[str, int] = {}

    @initialize(quantity=st.integers(min_value=0, max_value=60))
    def opening_stock(self, quantity: int) -> None:
        if quantity:
            self.receive(quantity)

    @property
    def model_reserved(self) -> int:
        return sum(self.held.values())

    def snapshot(self) -> tuple[int, int, dict[str, int], int]:
        item = self.item
        return item.on_hand, item.reserved, dict(item.reservations), item.version

    def succeed(self, call: Callable[[], object], event_name: str) -> None:
        call()
        new = self.item.collect_events()
        assert [type(e).__name__ for e in new] == [event_name]
        assert new[0].sku == SKU
        self.log.extend(new)

    def fail(self, call: Callable[[], object], expected: type[DomainError]) -> DomainError:
        before = self.snapshot()
        error = expect_failure(call, expected)
        assert self.snapshot() == before
        assert self.item.pending_events == []
        return error

    @rule(quantity=quantities)
    def receive(self, quantity: Any) -> None:
        if is_count(quantity) and quantity > 0:
            self.succeed(lambda: self.item.receive(quantity, note="delivery"), "StockReceived")
            self.on_hand += quantity
        else:
            error = self.fail(lambda: self.item.receive(quantity), InvalidValue)
            assert error.field == "quantity"

    @rule(delta=deltas, reason=reasons)
    def adjust(self, delta: Any, reason: str) -> None:
        call = lambda: self.item.adjust(delta, reason=reason)  # noqa: E731
        if not is_count(delta) or delta == 0:
            assert self.fail(call, InvalidValue).field == "delta"
        elif not reason.strip():
            assert self.fail(call, InvalidValue).field == "reason"
        elif self.on_hand + delta < self.model_reserved:
            assert self.fail(call, Conflict).field == "delta"
        else:
            self.succeed(call, "StockAdjusted")
            self.on_hand += delta

    @rule(target=orders, order_id=st.one_of(st.uuids(), orders), quantity=quantities)
    def reserve(self, order_id: UUID, quantity: Any) -> Any:
        call = lambda: self.item.reserve(order_id, quantity)  # noqa: E731
        available = self.on_hand - self.model_reserved
        if not (is_count(quantity) and quantity > 0):
            assert self.fail(call, InvalidValue).field == "quantity"
        elif order_id.hex in self.held:
            self.fail(call, Conflict)
        elif quantity > available:
            error = self.fail(call, InsufficientStock)
            assert isinstance(error, InsufficientStock)
            assert (error.sku, error.requested, error.available) == (SKU, quantity, available)
        else:
            self.succeed(call, "StockReserved")
            self.held[order_id.hex] = quantity
            return multiple(order_id)
        return multiple()

    @rule(offset=st.integers(min_value=-2, max_value=2))
    def adjust_to_the_edge(self, offset: int) -> None:
        """Aim on hand at exactly the reserved amount, give or take a unit."""
        self.adjust(self.model_reserved - self.on_hand + offset, reason="stocktake")

    @rule(target=orders, order_id=st.uuids(), offset=st.integers(min_value=-1, max_value=1))
    def reserve_at_the_edge(self, order_id: UUID, offset: int) -> Any:
        """Ask for exactly what is available, give or take a unit."""
        return self.reserve(order_id, self.on_hand - self.model_reserved + offset)

    @rule(order_id=mostly(orders, st.uuids()))
    def release(self, order_id: UUID) -> None:
        call = lambda: self.item.release(order_id, reason="cancelled")  # noqa: E731
        if order_id.hex in self.held:
            self.succeed(call, "StockReleased")
            assert self.log[-1].quantity == self.held.pop(order_id.hex)
        else:
            self.fail(call, NotFound)

    @rule(order_id=mostly(orders, st.uuids()))
    def commit(self, order_id: UUID) -> None:
        call = lambda: self.item.commit(order_id)  # noqa: E731
        if order_id.hex in self.held:
            self.succeed(call, "StockCommitted")
            quantity = self.held.pop(order_id.hex)
            assert self.log[-1].quantity == quantity
            self.on_hand -= quantity
        else:
            self.fail(call, NotFound)

    @invariant()
    def stock_is_never_oversold(self) -> None:
        item = self.item
        assert item.available >= 0
        assert 0 <= item.reserved <= item.on_hand
        assert item.reserved == sum(item.reservations.values())
        assert item.available == item.on_hand - item.reserved
        assert all(is_count(q) and q > 0 for q in item.reservations.values())

    @invariant()
    def aggregate_agrees_with_model(self) -> None:
        assert self.item.on_hand == self.on_hand
        assert self.item.reserved == self.model_reserved
        assert self.item.reservations == self.held
        assert all(self.item.holds(UUID(hex=h)) for h in self.held)

    @invariant()
    def replaying_events_rebuilds_state(self) -> None:
        copy = project_aggregate(None, self.log)
        assert isinstance(copy, InventoryItem)
        assert copy.id == self.item.id == InventoryItem.create_id(SKU)
        assert copy.version == len(self.log)
        assert (copy.on_hand, copy.reserved, copy.reservations, copy.version) == self.snapshot()


TestInventoryItemStateful = InventoryMachine.TestCase


# --- order -----------------------------------------------------------------------------------

TERMINAL = {S.CANCELLED, S.REFUNDED}
ALL_STATUSES = [S.PLACED, S.PAID, S.SHIPPED, S.DELIVERED, S.CANCELLED, S.REFUNDED]
CUSTOMER = UUID("00000000-0000-4000-8000-0000000000c1")
ADDRESS = Address(name="Ada", line1="1 Loop Rd", city="Berlin", postal_code="10115", country="DE")
LINES = [
    OrderLine("A", 2, Money(1250, "EUR")),
    OrderLine("B", 3, Money(333, "EUR")),
]
TOTAL = Money(2 * 1250 + 3 * 333, "EUR")
PAYMENTS = {
    "exact": TOTAL,
    "one cent short": Money(TOTAL.amount - 1, "EUR"),
    "one cent over": Money(TOTAL.amount + 1, "EUR"),
    "other currency": Money(TOTAL.amount, "USD"),
    "nothing": Money(0, "EUR"),
}


# the shortest legal way to each status, so runs also start deep in the lifecycle
PATH_TO = {
    S.PLACED: [],
    S.PAID: [S.PAID],
    S.SHIPPED: [S.PAID, S.SHIPPED],
    S.DELIVERED: [S.PAID, S.SHIPPED, S.DELIVERED],
    S.CANCELLED: [S.CANCELLED],
    S.REFUNDED: [S.PAID, S.SHIPPED, S.DELIVERED, S.REFUNDED],
}


@MACHINE_SETTINGS
class OrderMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.orders_finished = 0
        self.place()

    def place(self) -> None:
        self.order = Order.place(CUSTOMER, LINES, ADDRESS)
        self.log: list[Any] = list(self.order.collect_events())
        self.history = [S.PLACED]
        self.cancel_reason = ""

    def advance_to(self, status: str) -> None:
        steps = {
            S.PAID: lambda: self.mark_paid("exact"),
            S.SHIPPED: self.ship,
            S.DELIVERED: self.deliver,
            S.CANCELLED: lambda: self.cancel("changed mind"),
            S.REFUNDED: self.refund,
        }
        for step in PATH_TO[status]:
            steps[step]()
        assert self.history == [S.PLACED, *PATH_TO[status]]

    @initialize(start=st.sampled_from(ALL_STATUSES))
    def start_from(self, start: str) -> None:
        self.advance_to(start)

    @precondition(lambda self: self.order.status in TERMINAL)
    @rule(start=st.sampled_from(ALL_STATUSES))
    def place_another_order(self, start: str) -> None:
        self.orders_finished += 1
        self.place()
        self.advance_to(start)

    def attempt(
        self,
        target: str,
        call: Callable[[], object],
        event_name: str,
        *,
        valid_args: bool = True,
    ) -> bool:
        current = self.order.status
        assert current == self.history[-1]
        legal = target in TRANSITIONS[current]
        before = (self.order.status, self.order.version, self.order.cancel_reason)
        if legal and valid_args:
            call()
            new = self.order.collect_events()
            assert [type(e).__name__ for e in new] == [event_name]
            self.log.extend(new)
            self.history.append(target)
            assert self.order.status == target
            return True
        # the lifecycle is checked first, then the arguments
        error = expect_failure(call, IllegalTransition if not legal else InvalidValue)
        if not legal:
            assert error.field == "status"
        assert (self.order.status, self.order.version, self.order.cancel_reason) == before
        assert self.order.pending_events == []
        return False

    @rule(reason=st.sampled_from(["", "changed mind", "out of stock"]))
    def cancel(self, reason: str) -> None:
        if self.attempt(S.CANCELLED, lambda: self.order.cancel(reason, by="staff"), "Cancelled"):
            self.cancel_reason = reason

    @rule(payment=st.sampled_from(sorted(PAYMENTS)))
    def mark_paid(self, payment: str) -> None:
        amount = PAYMENTS[payment]
        self.attempt(
            S.PAID,
            lambda: self.order.mark_paid("pay_1", amount),
            "Paid",
            valid_args=amount == TOTAL,
        )

    @rule()
    def ship(self) -> None:
        self.attempt(S.SHIPPED, lambda: self.order.ship("DHL", "TRACK-1"), "Shipped")

    @rule()
    def deliver(self) -> None:
        self.attempt(S.DELIVERED, self.order.deliver, "Delivered")

    @rule()
    def refund(self) -> None:
        self.attempt(S.REFUNDED, lambda: self.order.refund("broken"), "Refunded")

    @rule(status=st.sampled_from(ALL_STATUSES))
    def can_move_to_follows_table(self, status: str) -> None:
        assert self.order.can_move_to(status) == (status in TRANSITIONS[self.order.status])

    @invariant()
    def status_only_moves_along_transitions(self) -> None:
        assert self.order.status in TRANSITIONS
        for before, after in zip(self.history, self.history[1:], strict=False):
            assert after in TRANSITIONS[before], f"{before} -> {after}"

    @invariant()
    def terminal_statuses_are_final(self) -> None:
        assert not TERMINAL.intersection(self.history[:-1])
        for status in TERMINAL:
            assert TRANSITIONS[status] == frozenset()

    @invariant()
    def order_content_never_changes(self) -> None:
        assert self.order.total == TOTAL
        assert self.order.lines == LINES
        assert self.order.cancel_reason == self.cancel_reason

    @invariant()
    def replaying_events_rebuilds_state(self) -> None:
        copy = project_aggregate(None, self.log)
        assert isinstance(copy, Order)
        assert (copy.id, copy.version) == (self.order.id, len(self.history))
        assert (copy.status, copy.total, copy.cancel_reason) == (
            self.order.status,
            TOTAL,
            self.cancel_reason,
        )


TestOrderStateful = OrderMachine.TestCase
