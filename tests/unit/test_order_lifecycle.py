"""Stateful property test of the whole order lifecycle, through the real command handlers on
the in-memory event store, with the order's stock items and a payment provider in memory:
payments that succeed, fail, arrive twice or too late; cancel, partial shipments, delivery,
refunds and returns in any order. Whatever happens: nothing ships unpaid, refunds never
exceed payments, and stock is conserved."""

from __future__ import annotations

import itertools
from typing import Any
from uuid import UUID, uuid4

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from tillroll.aggregates.errors import DomainError
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import (
    LIFECYCLE,
    Address,
    ItemCount,
    Order,
    OrderLine,
    OrderStatus,
)
from tillroll.commands.bus import dispatch
from tillroll.commands.catalog import CreateProduct
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.fulfilment import (
    AcceptReturn,
    DeliverOrder,
    ReceiveReturn,
    RefundOrder,
    RequestReturn,
    ShipOrder,
)
from tillroll.commands.inventory import ReceiveStock
from tillroll.commands.ordering import CancelOrder, PlaceOrder
from tillroll.commands.payments import (
    PAYMENT_FAILED,
    PAYMENT_SUCCEEDED,
    ApplyPaymentEvent,
    IssueRefund,
    StartPayment,
)
from tillroll.infra.memory import MemoryEventStore

S = OrderStatus
STAFF = Principal(subject="staff-1", role="staff")
CUSTOMER = Principal(subject=str(UUID(int=7)), role="customer")
STRIPE = Principal(subject="stripe", role="ops")
ON_SHELF = 10
PRICES = {"A": 1000, "B": 250}
ORDERED = {"A": 3, "B": 2}
TOTAL = sum(PRICES[s] * q for s, q in ORDERED.items())


class MemoryProvider:
    """A payment provider in memory that honours idempotency keys like Stripe."""

    mode = "test"

    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.by_key: dict[str, str] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1)

    def create_intent(self, order_id: UUID, amount: int, currency: str, key: str) -> Any:
        if key not in self.by_key:
            intent_id = f"pi_{next(self.ids)}"
            self.by_key[key] = intent_id
            self.intents[intent_id] = {
                "id": intent_id,
                "client_secret": f"{intent_id}_secret",
                "status": "requires_payment_method",
                "amount": amount,
                "currency": currency,
            }
        return self.get_intent(self.by_key[key])

    def get_intent(self, intent_id: str) -> Any:
        return _Obj(self.intents[intent_id])

    def refund(self, intent_id: str, amount: int, refund_id: str) -> Any:
        if refund_id not in self.refunds:
            intent = self.intents[intent_id]
            already = sum(r["amount"] for r in self.refunds.values() if r["intent"] == intent_id)
            assert intent["status"] == "succeeded" and already + amount <= intent["amount"]
            self.refunds[refund_id] = {
                "id": f"re_{next(self.ids)}",
                "refund_id": refund_id,
                "status": "succeeded",
                "amount": amount,
                "intent": intent_id,
            }
        return _Obj(self.refunds[refund_id])

    def refunds_of(self, intent_id: str) -> list[Any]:
        return [_Obj(r) for r in self.refunds.values() if r["intent"] == intent_id]

    def verify(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        raise NotImplementedError


class _Obj:
    def __init__(self, fields: dict[str, Any]) -> None:
        self.__dict__.update(fields)


@settings(
    max_examples=75,
    stateful_step_count=35,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.store = MemoryEventStore()
        self.provider = MemoryProvider()
        for sku, price in PRICES.items():
            dispatch(CreateProduct(sku, sku, Money(price, "EUR")), self.ctx(STAFF))
            dispatch(ReceiveStock(sku, ON_SHELF), self.ctx(STAFF))
        lines = [OrderLine(s, q, Money(PRICES[s], "EUR")) for s, q in ORDERED.items()]
        address = Address("Ada", "1 Main St", "Berlin", "10115", "DE")
        placed = dispatch(PlaceOrder(CUSTOMER.customer_id, lines, address), self.ctx(CUSTOMER))
        self.order_id = UUID(placed.order_id)
        self.statuses = [S.PLACED]
        self.events: list[ApplyPaymentEvent] = []
        self.received: dict[str, int] = dict.fromkeys(PRICES, 0)

    @initialize(
        start=st.sampled_from([S.PLACED, S.PAID, S.PARTIALLY_SHIPPED, S.DELIVERED, "returning"])
    )
    def start_from(self, start: str) -> None:
        """Runs also start deep in the lifecycle, reached through the same handlers."""
        if start == S.PLACED:
            return
        self.start_payment()
        self.settle_current_intent(succeed=True)
        if start == S.PAID:
            return
        self.run(ShipOrder(self.order_id, "DHL", "T0", [ItemCount("A", 1)]))
        if start in {S.DELIVERED, "returning"}:
            self.run(ShipOrder(self.order_id, "DHL", "T1"))
            self.deliver()
        if start == "returning":
            self.run(RequestReturn(self.order_id, [ItemCount("A", 2)]), CUSTOMER)
            assert self.order.returns
            return
        assert self.order.status == start

    def ctx(self, who: Principal) -> CommandContext:
        return CommandContext(self.store, principal=who, payments=self.provider)

    @property
    def order(self) -> Order:
        return self.store.get(self.order_id)

    def item(self, sku: str) -> InventoryItem:
        return self.store.get(InventoryItem.create_id(sku))

    def run(self, command: Any, who: Principal = STAFF, key: str | None = None) -> Any:
        version = self.order.version
        try:
            result = dispatch(command, self.ctx(who), idempotency_key=key)
        except DomainError:
            assert self.order.version == version  # a refused command changes nothing
            return None
        if self.order.status != self.statuses[-1]:
            self.statuses.append(self.order.status)
        return result

    # --- payment ---------------------------------------------------------------------------

    @rule()
    def start_payment(self) -> None:
        self.run(StartPayment(self.order_id), CUSTOMER)

    def _settle(self, intent_id: str, kind: str) -> None:
        intent = self.provider.intents[intent_id]
        if kind == PAYMENT_SUCCEEDED:
            intent["status"] = "succeeded"
        event = ApplyPaymentEvent(
            f"evt_{uuid4().hex}", kind, self.order_id, intent_id, intent["amount"], "eur"
        )
        self.events.append(event)
        self.run(event, STRIPE, key=event.event_id)

    @rule(succeed=st.booleans())
    def settle_current_intent(self, succeed: bool) -> None:
        intent_id = self.order.payment_intent
        if intent_id:
            self._settle(intent_id, PAYMENT_SUCCEEDED if succeed else PAYMENT_FAILED)

    @rule()
    def a_stray_payment_succeeds(self) -> None:
        """Another intent for the order is paid (a second tab, a late retry)."""
        intent = self.provider.create_intent(self.order_id, TOTAL, "EUR", uuid4().hex)
        self._settle(intent.id, PAYMENT_SUCCEEDED)

    @rule(data=st.data())
    def stripe_repeats_an_event(self, data: st.DataObject) -> None:
        if self.events:
            event = data.draw(st.sampled_from(self.events))
            before = (self.order.version, self.item("A").version, self.item("B").version)
            self.run(event, STRIPE, key=event.event_id)
            after = (self.order.version, self.item("A").version, self.item("B").version)
            assert after == before

    # --- the order's life ------------------------------------------------------------------

    @rule(now=st.integers(0, 3))
    def cancel(self, now: int) -> None:
        if now == 0:  # now and then, or few runs would get past it
            self.run(CancelOrder(self.order_id, "changed mind"), CUSTOMER)

    @rule(data=st.data())
    def ship(self, data: st.DataObject) -> None:
        left = self.order.unshipped()
        if left and data.draw(st.booleans()):
            sku = data.draw(st.sampled_from(sorted(left)))
            quantity = data.draw(st.integers(1, left[sku]))
            self.run(ShipOrder(self.order_id, "DHL", "T1", [ItemCount(sku, quantity)]))
        else:
            self.run(ShipOrder(self.order_id, "DHL", "T1"))

    @rule()
    def deliver(self) -> None:
        self.run(DeliverOrder(self.order_id))

    @rule(amount=st.one_of(st.none(), st.integers(1, TOTAL + 100)))
    def refund(self, amount: int | None) -> None:
        self.run(RefundOrder(self.order_id, amount, "goodwill"))

    @rule()
    def issue_requested_refunds(self) -> None:
        order = self.order
        for refund_id in sorted(set(order.refunds) - set(order.refunded)):
            self.run(IssueRefund(self.order_id, refund_id))

    @rule(data=st.data())
    def request_return(self, data: st.DataObject) -> None:
        returnable = self.order.returnable() or {"A": 1}
        sku = data.draw(st.sampled_from(sorted(returnable)))
        quantity = data.draw(st.integers(1, returnable[sku]))
        self.run(RequestReturn(self.order_id, [ItemCount(sku, quantity)]), CUSTOMER)

    @rule(data=st.data(), in_order=st.integers(0, 4))
    def handle_return(self, data: st.DataObject, in_order: int) -> None:
        """Staff accept, then receive, a return (and now and then try it the wrong way)."""
        order = self.order
        if not order.returns:
            return
        return_id = data.draw(st.sampled_from(sorted(order.returns)))
        if not in_order:  # receive before accepting, or accept twice: refused
            if order.returns[return_id] == "requested":
                self.receive(return_id)
            else:
                self.run(AcceptReturn(return_id))
            return
        if order.returns[return_id] == "requested":
            self.run(AcceptReturn(return_id))
        self.receive(return_id)

    def receive(self, return_id: str) -> None:
        if self.run(ReceiveReturn(return_id)) is not None:
            for count in self.order.return_lines[return_id]:
                self.received[count.sku] += count.quantity

    # --- what must always hold ---------------------------------------------------------------

    @invariant()
    def nothing_ships_unpaid(self) -> None:
        order = self.order
        if any(order.shipped.values()):
            assert order.payment_ref and order.payments[order.payment_ref] == TOTAL
            assert S.PAID in self.statuses

    @invariant()
    def refunds_never_exceed_payments(self) -> None:
        order = self.order
        assert 0 <= sum(order.refunds.values()) <= sum(order.payments.values())
        for refund_id, amount in order.refunded.items():
            assert order.refunds[refund_id] == amount
        for intent_id, paid in order.payments.items():
            given_back = sum(r.amount for r in self.provider.refunds_of(intent_id))
            assert given_back <= paid
        assert sum(r["amount"] for r in self.provider.refunds.values()) == sum(
            order.refunded.values()
        )

    @invariant()
    def money_taken_for_a_cancelled_order_is_all_given_back(self) -> None:
        order = self.order
        if order.status == S.CANCELLED:
            assert sum(order.refunds.values()) == sum(order.payments.values())

    @invariant()
    def stock_is_conserved(self) -> None:
        order = self.order
        for sku, ordered in ORDERED.items():
            item = self.item(sku)
            assert item.on_hand + sum(item._commitments().values()) == ON_SHELF
            assert 0 <= item.reserved <= item.on_hand
            if order.status == S.PLACED:
                assert item.reservations[order.id.hex] == ordered
            else:
                assert not item.holds(order.id)
            expected = 0 if order.status == S.CANCELLED else ordered - self.received[sku]
            if order.status != S.PLACED:
                assert item.committed_to(order.id) == expected

    @invariant()
    def status_moves_along_the_lifecycle(self) -> None:
        for before, after in itertools.pairwise(self.statuses):
            assert after in LIFECYCLE[before], f"{before} -> {after}"


TestOrderLifecycle = LifecycleMachine.TestCase
