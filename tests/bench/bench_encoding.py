"""What the event encoding costs per order: CPU microseconds spent turning a place-order's
events into stored bytes (the mapper's to_stored_event, transcoder or typed codec included)
and back (to_domain_event, as every read model and replay does), with the library's tagged
JSON transcoder (how events were written before the typed encoding) and with the typed
msgspec encoding (infra/eventlog/encoding.py), in one run, rounds interleaved.

    python tests/bench/bench_encoding.py                 # 3 rounds of 1,000 orders per encoding
    python tests/bench/bench_encoding.py --orders 300 --rounds 2 --no-write

One client, in process, on a store (schema) of its own per encoding: the loop thread's CPU
per order (time.thread_time) is the command path's own Python work; the encoding's share is
measured by timing every call of the mapper's two methods on that thread. Decoding is timed
by reading each store's whole log back after the rounds.

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md under "Typed encoding" (unless --no-write).
"""

from __future__ import annotations

import contextlib
import random
import statistics
import sys
import time
import timeit
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import harness
from eventsourcing.persistence import Mapper
from harness import Stocked
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, Order, OrderLine
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ordering import PlaceOrder
from tillroll.infra.eventstore import EventStore, TillrollApplication

SKUS = 50
ADDRESS = Address(**harness.ADDRESS)


@dataclass
class Timed:
    """Thread CPU nanoseconds and calls of one wrapped method."""

    ns: int = 0
    calls: int = 0

    def wrap(self, method: Callable[[Any], Any]) -> Callable[[Any], Any]:
        def timed(arg: Any) -> Any:
            start = time.thread_time_ns()
            try:
                return method(arg)
            finally:
                self.ns += time.thread_time_ns() - start
                self.calls += 1

        return timed


@dataclass
class Encoding:
    label: str
    store: EventStore
    encode: Timed = field(default_factory=Timed)
    decode: Timed = field(default_factory=Timed)
    orders: int = 0
    cpu_ns: int = 0
    wall: float = 0.0
    replay_ns: int = 0
    replay_orders: int = 0
    rates: list[float] = field(default_factory=list)


def use_mapper(store: EventStore, mapper: Mapper) -> None:
    """Every holder of the application's mapper gets this one."""
    app = store.app
    app.mapper = mapper
    app.events.mapper = mapper
    if app.snapshots is not None:
        app.snapshots.mapper = mapper


def instrument(enc: Encoding) -> None:
    mapper = enc.store.app.mapper
    mapper.to_stored_event = enc.encode.wrap(mapper.to_stored_event)  # type: ignore[method-assign]
    mapper.to_domain_event = enc.decode.wrap(mapper.to_domain_event)  # type: ignore[method-assign]


def place_orders(enc: Encoding, orders: int, prices: dict[str, int], seed: int) -> None:
    rng = random.Random(seed)
    customer = uuid.uuid4()
    ctx = CommandContext(enc.store, Principal(str(customer), "customer"))
    skus = sorted(prices)
    start_cpu, start = time.thread_time_ns(), time.perf_counter()
    for _ in range(orders):
        sku = rng.choice(skus)
        dispatch(PlaceOrder(customer, [OrderLine(sku, 1, Money(prices[sku], "EUR"))], ADDRESS), ctx)
    wall = time.perf_counter() - start
    enc.cpu_ns += time.thread_time_ns() - start_cpu
    enc.wall += wall
    enc.orders += orders
    enc.rates.append(orders / wall)


def replay(enc: Encoding, orders: int) -> None:
    """Decode every event of the store's log (seeding included) with its own mapper."""
    mapper = enc.store.app.mapper
    after, ns = 0, 0
    while True:
        page = enc.store.read(after, 500)
        if not page:
            break
        start = time.thread_time_ns()
        for notification in page:
            mapper.to_domain_event(notification)
        ns += time.thread_time_ns() - start
        after = page[-1].id
    enc.replay_ns, enc.replay_orders = ns, orders


def micro() -> list[str]:
    """Per event of a place-order's kinds, without a database: the best of 5 repeats of
    2,000 calls (the least disturbed by whatever else the machine runs)."""
    typed = TillrollApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).mapper
    tagged = Mapper(transcoder=typed.transcoder)
    product = Product.create("SKU-1", "Item", Money(1200, "EUR"))
    item = InventoryItem.create("SKU-1")
    item.receive(10**9, "bench stock")
    order = Order.place(uuid.uuid4(), [OrderLine("SKU-1", 2, Money(1200, "EUR"))], ADDRESS)
    item.reserve(order.id, 2)
    events = [e for a in (product, item, order) for e in a.collect_events()]

    def best(call: Callable[[], Any]) -> float:
        return min(timeit.repeat(call, number=2000, repeat=5)) / 2000 * 1e6

    lines = [
        "",
        "| event (micro, µs per call) | encode tagged | encode typed | decode tagged"
        " | decode typed | bytes tagged | bytes typed |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for event in events:
        old, new = tagged.to_stored_event(event), typed.to_stored_event(event)
        lines.append(
            f"| {type(event).__qualname__} | {best(lambda: tagged.to_stored_event(event)):.1f}"  # noqa: B023
            f" | {best(lambda: typed.to_stored_event(event)):.1f}"  # noqa: B023
            f" | {best(lambda: tagged.to_domain_event(old)):.1f}"  # noqa: B023
            f" | {best(lambda: typed.to_domain_event(new)):.1f}"  # noqa: B023
            f" | {len(old.state)} | {len(new.state)} |"
        )
    return lines


def us(ns: float, per: int) -> str:
    return f"{ns / per / 1000:,.1f}" if per else "-"


def report(encodings: list[Encoding], command: str) -> str:
    lines = [
        harness.heading("Typed encoding: CPU per place-order, tagged JSON vs typed msgspec"),
        "",
        f"`{command}` — {harness.machine()}; one client in process, rounds interleaved.",
        "",
        "| encoding | orders/s (median of rounds) | command thread CPU µs / order"
        " | encode µs / order | encode share | decode µs / order (replay) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for enc in encodings:
        share = enc.encode.ns / enc.cpu_ns if enc.cpu_ns else 0.0
        lines.append(
            f"| {enc.label} | {statistics.median(enc.rates):,.0f} | {us(enc.cpu_ns, enc.orders)}"
            f" | {us(enc.encode.ns, enc.orders)} ({enc.encode.calls / max(enc.orders, 1):.0f} events)"
            f" | {share:.1%}"
            f" | {us(enc.replay_ns, enc.replay_orders)} |"
        )
    lines += [*micro(), ""]
    return "\n".join(lines)


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--orders", type=int, default=1000, help="per round and encoding")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    prices = {f"SKU-{i:03d}": 100 + i for i in range(SKUS)}
    with harness.bench_settings("enc", args) as settings, contextlib.ExitStack() as stack:
        url = settings.database_url or ""
        encodings = []
        for label in ("tagged JSON (before)", "typed msgspec (now)"):
            schema = f"{settings.event_schema}_{len(encodings)}"
            store = EventStore(url, schema=schema, pool_size=2)
            stack.callback(store.close)
            if label.startswith("tagged"):
                use_mapper(store, Mapper(transcoder=store.app.mapper.transcoder))
            harness.seed_products(store, (Stocked(s, c, 10**9) for s, c in prices.items()))
            encodings.append(Encoding(label, store))
        for enc in encodings:  # warm: caches filled, connections open
            place_orders(enc, 50, prices, seed=0)
            enc.orders = enc.cpu_ns = 0
            enc.wall, enc.rates = 0.0, []
            instrument(enc)
        for round_ in range(args.rounds):
            for enc in encodings if round_ % 2 == 0 else encodings[::-1]:
                place_orders(enc, args.orders, prices, seed=round_)
        for enc in encodings:
            replay(enc, enc.orders + 50)
    command = f"python tests/bench/bench_encoding.py --orders {args.orders} --rounds {args.rounds}"
    harness.publish("## Typed encoding", report(encodings, command), not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
