"""Commands on one hot stock item, run as a batch (commands/batching.py) on the in-memory
event store: one append for all, and each command its own result, error, idempotency record
and position."""

from __future__ import annotations

import threading
import time
from typing import Any
from uuid import UUID

import pytest
from tillroll.aggregates.errors import InsufficientStock
from tillroll.aggregates.ordering.order import OrderLine
from tillroll.commands import batching, bus
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ordering import OrderChanged, PlaceOrder
from tillroll.infra.memory import MemoryEventStore

from tests.unit.test_handlers import ADDRESS, customer, eur, shelve, stock


class CountingStore(MemoryEventStore):
    """Counts appends, and can hold the first one until told to go on (so that other
    commands queue behind it)."""

    def __init__(self) -> None:
        super().__init__()
        self.appends: list[int] = []  # commands per append
        self.hold_first = threading.Event()
        self.holding = threading.Event()
        self.hold_first.set()

    def save(self, *aggregates: Any, **kwargs: Any) -> int:
        if not self.appends:
            self.holding.set()
            self.hold_first.wait(5)
        self.appends.append(1)
        return super().save(*aggregates, **kwargs)

    def save_batch(self, writes: Any, aggregates: Any) -> list[int]:
        self.appends.append(len(writes))
        return super().save_batch(writes, aggregates)


def order(who: Principal, *lines: tuple[str, int]) -> PlaceOrder:
    prices = {"MUG": 1200, "PEN": 300}
    items = [OrderLine(sku, quantity, eur(prices[sku])) for sku, quantity in lines]
    return PlaceOrder(who.customer_id, items, ADDRESS)


def ticket(store: MemoryEventStore, command: PlaceOrder, key: str | None = None) -> batching.Ticket:
    """A queued command as the bus makes it (commands.bus.dispatch)."""
    scope = str(command.customer_id)
    ctx = CommandContext(store, principal=Principal(scope, "customer"))
    if key is not None:
        ctx.claim_scope, ctx.claim_key = scope, key
        ctx.claim_fingerprint = bus.fingerprint(command)
    return batching.Ticket(command, ctx, bus._QUEUE.stripes(["MUG"]))


@pytest.fixture
def store() -> CountingStore:
    store = CountingStore()
    shelve(store, "MUG", 1200, 3)
    shelve(store, "PEN", 300, 1)
    store.appends.clear()
    return store


def test_a_batch_saves_every_order_in_one_append_each_with_its_own_result(
    store: CountingStore,
) -> None:
    tickets = [ticket(store, order(customer(), ("MUG", 1))) for _ in range(3)]

    batching.run_batch(tickets, bus.HANDLERS)

    assert store.appends == [3]
    results = [t.result for t in tickets]
    assert all(isinstance(r, OrderChanged) and r.status == "placed" for r in results)
    assert len({r.order_id for r in results}) == 3
    item = stock(store, "MUG")
    assert (item.reserved, item.available, item.version) == (3, 0, 5)
    assert sorted(item.reservations) == sorted(UUID(r.order_id).hex for r in results)


def test_each_order_of_a_batch_answers_with_the_position_of_its_own_events(
    store: CountingStore,
) -> None:
    tickets = [ticket(store, order(customer(), ("MUG", 1))) for _ in range(3)]

    batching.run_batch(tickets, bus.HANDLERS)

    positions = [t.result.position for t in tickets]
    notifications = store.recorder.select_notifications(start=1, limit=100)
    for t in tickets:
        order_id = UUID(t.result.order_id)
        own = [
            n.id
            for n in notifications
            if n.originator_id == order_id
            or getattr(store.app.mapper.to_domain_event(n), "order_id", None) == order_id
        ]
        assert len(own) == 2 and t.result.position == max(own)
    assert positions == sorted(positions) and positions[-1] == store.head()


def test_an_order_the_stock_no_longer_covers_fails_alone(store: CountingStore) -> None:
    tickets = [ticket(store, order(customer(), ("MUG", 2))) for _ in range(3)]

    batching.run_batch(tickets, bus.HANDLERS)

    assert tickets[0].result.status == "placed"
    assert isinstance(tickets[1].error, InsufficientStock) and tickets[1].result is None
    assert tickets[2].error is not None and tickets[2].error.detail == tickets[1].error.detail
    assert store.appends == [1] and stock(store, "MUG").reserved == 2


def test_a_failed_order_leaves_no_trace_for_the_orders_after_it(store: CountingStore) -> None:
    """The second order reserves MUG, then finds PEN short: its MUG reservation must not
    reach the third order, nor the store."""
    first = ticket(store, order(customer(), ("PEN", 1)))
    failing = ticket(store, order(customer(), ("MUG", 2), ("PEN", 1)))
    third = ticket(store, order(customer(), ("MUG", 3)))

    batching.run_batch([first, failing, third], bus.HANDLERS)

    assert isinstance(failing.error, InsufficientStock) and failing.error.sku == "PEN"
    assert third.result is not None and third.result.status == "placed"
    mug = stock(store, "MUG")
    assert (mug.reserved, mug.version) == (3, 3)  # created, received, one reservation
    assert list(mug.reservations) == [UUID(third.result.order_id).hex]


def test_every_order_of_a_batch_keeps_its_own_idempotency_record(store: CountingStore) -> None:
    buyers = [customer() for _ in range(3)]
    commands = [order(b, ("MUG", 1)) for b in buyers]
    tickets = [ticket(store, c, key="checkout") for c in commands]

    batching.run_batch(tickets, bus.HANDLERS)
    head = store.head()
    again = [
        dispatch(c, CommandContext(store, principal=b), idempotency_key="checkout")
        for c, b in zip(commands, buyers, strict=True)
    ]

    assert again == [t.result for t in tickets] and store.head() == head
    assert stock(store, "MUG").reserved == 3


def test_a_failed_order_of_a_batch_claims_no_idempotency_key(store: CountingStore) -> None:
    buyer = customer()
    tickets = [
        ticket(store, order(customer(), ("MUG", 3))),
        ticket(store, order(buyer, ("MUG", 1)), key="k"),
    ]

    batching.run_batch(tickets, bus.HANDLERS)

    assert isinstance(tickets[1].error, InsufficientStock)
    assert store.find_result(buyer.subject, "k") is None


def queue_behind_a_running_order(
    store: CountingStore, commands: list[tuple[Principal, PlaceOrder, str | None]]
) -> list[Any]:
    """Place one order and hold it in its append; meanwhile dispatch `commands` from threads
    of their own (they queue for MUG); then let it go. Each command's result or error."""
    store.hold_first.clear()
    outcomes: list[Any] = [None] * len(commands)

    def shop(i: int) -> None:
        who, command, key = commands[i]
        try:
            outcomes[i] = dispatch(command, CommandContext(store, who), idempotency_key=key)
        except InsufficientStock as exc:
            outcomes[i] = exc

    first = customer()
    running = threading.Thread(
        target=dispatch, args=(order(first, ("MUG", 1)), CommandContext(store, first))
    )
    running.start()
    assert store.holding.wait(5)  # the first order is in its append, holding MUG
    queued = [threading.Thread(target=shop, args=(i,)) for i in range(len(commands))]
    for t in queued:
        t.start()
    deadline = time.monotonic() + 5
    while len(bus._QUEUE._queued) < len(commands) and time.monotonic() < deadline:
        time.sleep(0.001)
    store.hold_first.set()
    for t in [running, *queued]:
        t.join(5)
    return outcomes


def test_orders_queued_behind_a_running_one_are_saved_together(store: CountingStore) -> None:
    buyers = [customer() for _ in range(4)]
    outcomes = queue_behind_a_running_order(
        store, [(b, order(b, ("MUG", 1)), None) for b in buyers]
    )

    # The first alone; then the four queued behind it in one go: the two the stock still
    # covers in one append, the other two refused.
    assert store.appends == [1, 2]
    placed = [o for o in outcomes if isinstance(o, OrderChanged)]
    short = [o for o in outcomes if isinstance(o, InsufficientStock)]
    assert (len(placed), len(short)) == (2, 2)
    assert stock(store, "MUG").reserved == 3


def test_repeats_of_one_key_queued_together_place_one_order(store: CountingStore) -> None:
    buyer = customer()
    command = order(buyer, ("MUG", 1))
    outcomes = queue_behind_a_running_order(store, [(buyer, command, "k")] * 4)

    assert all(isinstance(o, OrderChanged) for o in outcomes)
    assert len(set(map(str, outcomes))) == 1
    assert stock(store, "MUG").reserved == 2
