"""Rebuild speed per read model next to the raw speed of reading the log, and the latency of
live following, measured in one run on the same servers.

    python tests/bench/bench_rebuild.py --events 200000

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tillroll.aggregates.catalog.product import Product  # noqa: E402
from tillroll.aggregates.inventory.item import InventoryItem  # noqa: E402
from tillroll.aggregates.money import Money  # noqa: E402
from tillroll.aggregates.ordering.order import Address, Order, OrderLine  # noqa: E402
from tillroll.projections.registry import PROJECTIONS  # noqa: E402

from tests.bench.harness import append_to_section, bench_settings  # noqa: E402
from tillroll.bootstrap import Runtime  # noqa: E402

ADDRESS = Address("Bench", "1 Main St", "Berlin", "10115", "DE")
SKUS = 200


HOLD_BACK_MODEL = "customer_orders"
REBUILD_BATCH_NOTE = "batches of TILLROLL_PROJECTION_REBUILD_BATCH events"


def seed(rt: Runtime, events: int) -> None:
    """A shop's log: products, stock, and orders that reserve it (about 3 events an order),
    saved 40 orders a transaction so seeding is fast."""
    app = rt.store.app
    products = [
        Product.create(f"SKU-{i:04d}", f"Item {i}", Money(100 + i, "EUR")) for i in range(SKUS)
    ]
    items = [InventoryItem.create(p.sku) for p in products]
    for item in items:
        item.receive(10**9, "bench stock")
    app.save(*products, *items)
    by_sku = {item.sku: item for item in items}  # the only writer: keep them current in memory
    written = rt.store.head()
    i = 0
    while written < events:
        orders, touched = [], {}
        for _ in range(40):
            a, b = products[i % SKUS], products[(i * 7 + 3) % SKUS]
            i += 1
            lines = [OrderLine(a.sku, 1, a.price)] + (
                [OrderLine(b.sku, 2, b.price)] if a is not b else []
            )
            order = Order.place(uuid.uuid4(), lines, ADDRESS)
            for line in lines:
                item = by_sku[line.sku]
                item.reserve(order.id, line.quantity)
                touched[line.sku] = item
            orders.append(order)
        app.save(*orders, *touched.values())
        written = rt.store.head()
        print(f"\rseeding: {written:,}/{events:,} events", end="", file=sys.stderr)
    print(file=sys.stderr)
    with rt.store.connection() as conn:
        # A bulk-loaded table has no planner statistics until autovacuum gets to it; a real
        # shop's log has them. Without this the first read measures a bad plan.
        conn.execute(f"ANALYZE {rt.settings.event_schema}.tillroll_events")


def read_rate(rt: Runtime, decode: bool) -> float:
    position, count = 0, 0
    started = time.perf_counter()
    while True:
        page = rt.store.page(position, 5000)
        if not page.events:
            break
        if decode:
            for n in page.events:
                rt.store.decode(n)
        count += len(page.events)
        position = page.end
    return count / (time.perf_counter() - started)


def live_latency(rt: Runtime, samples: int, rebuilding: str | None = None) -> list[float]:
    """Write one small command at a time; time until every live read model has applied it.
    With `rebuilding`, that read model is rebuilt over and over meanwhile: its batch
    transactions hold back the horizon every reader of the log waits behind."""
    from tillroll.commands.bus import dispatch
    from tillroll.commands.context import CommandContext
    from tillroll.commands.inventory import ReceiveStock

    read = rt.live_builds(ttl=0)
    rt.runner.start()
    time.sleep(1.0)
    latencies = []
    stop = threading.Event()

    def rebuild_loop() -> None:
        # In another process, as `tillroll projections rebuild` would run: what is measured
        # is the horizon its write transactions hold back, not this process's GIL.
        assert rebuilding is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("TILLROLL_")}
        env.update(rt.settings.as_env(), TILLROLL_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
        while not stop.is_set():
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tillroll.cli",
                    "projections",
                    "rebuild",
                    rebuilding,
                    "--from-scratch",
                ],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
            )

    background = threading.Thread(target=rebuild_loop, daemon=True)
    if rebuilding:
        background.start()
        time.sleep(2.0)
    try:
        for k in range(samples):
            result = dispatch(ReceiveStock(f"SKU-{k % SKUS:04d}", 1), CommandContext(rt.store))
            started = time.perf_counter()
            pending = {cls.NAME for cls in PROJECTIONS}
            while pending:
                for name in list(pending):
                    projection = read.get(name)  # the live build (a rebuild may switch it)
                    if rt.store.reached(rt.runner.position(projection), result.position):
                        pending.discard(name)
                if pending:
                    time.sleep(0.0005)
                if time.perf_counter() - started > 5:
                    raise RuntimeError(f"read models {sorted(pending)} did not follow in 5 s")
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)  # light load: about 40 commands a second
    finally:
        stop.set()
        if rebuilding:
            background.join()
        rt.runner.stop()
    return latencies


def rebuild_batch_seconds(rt: Runtime, name: str) -> list[float]:
    """How long each write transaction of a rebuild stays open, batch by batch."""
    projection = rt.runner.new_build(name)
    held = []
    while True:
        started = time.perf_counter()
        moved = rt.runner.step(projection, rt.runner.rebuild_batch)
        if not moved:
            break
        held.append(time.perf_counter() - started)
    rt.runner.drop(projection)
    return held


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=300, help="live-following samples")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    stack = contextlib.ExitStack()
    settings = stack.enter_context(
        bench_settings(
            "rebuild", getattr(args, "database_url", None), getattr(args, "redis_url", None)
        )
    )
    rt = Runtime.open(settings)
    try:
        seed(rt, args.events)
        head = rt.store.head()
        # The live builds follow the log first, as they would in a running shop; a rebuild
        # then only builds its new copy (and keeps the live one current).
        rt.runner.catch_up()
        raw = read_rate(rt, decode=False)
        decoded = read_rate(rt, decode=True)
        rows = []
        for cls in PROJECTIONS:
            started = time.perf_counter()
            built = rt.runner.rebuild(cls.NAME)
            elapsed = time.perf_counter() - started
            assert rt.runner.position(built) == head
            rate = head / elapsed
            rows.append((cls.NAME, cls.TARGET, elapsed, rate, rate / raw))
            print(f"{cls.NAME}: {elapsed:.1f} s, {rate:,.0f} events/s", file=sys.stderr)
        latencies = live_latency(rt, args.samples)
        during = live_latency(rt, args.samples, rebuilding=HOLD_BACK_MODEL)
        batches = rebuild_batch_seconds(rt, HOLD_BACK_MODEL)
        with rt.read_pool.connection() as conn:
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
    finally:
        rt.close()
        stack.close()

    q = statistics.quantiles(latencies, n=100)
    qd = statistics.quantiles(during, n=100)
    rebuild_batch = settings.projection_rebuild_batch
    command = f"python tests/bench/bench_rebuild.py --events {args.events} --samples {args.samples}"
    lines = [
        f"### Rebuild and live following — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`{command}` — {os.cpu_count()} cores, Python {platform.python_version()},"
        f" PostgreSQL {pg_version}, log of {head:,} events (orders reserving stock).",
        "",
        "| read model | target | rebuild s | events/s | ÷ raw log read |",
        "| --- | --- | ---: | ---: | ---: |",
        f"| *raw log read (select_notifications, pages of 5,000)* | | | {raw:,.0f} | 1.00 |",
        f"| *log read + decode to domain events* | | | {decoded:,.0f} | {decoded / raw:.2f} |",
    ]
    for name, target, elapsed, rate, ratio in rows:
        lines.append(f"| {name} | {target} | {elapsed:.1f} | {rate:,.0f} | {ratio:.2f} |")
    lines += [
        "",
        "Events/s counts log positions covered per second (a read model reads only its own",
        "event types, so a model that handles few types covers the log faster).",
        "",
        f"Live following, {len(latencies)} single commands at ~40/s, time from the command's",
        "commit until **every** read model has applied it (LISTEN/NOTIFY wake-up):",
        f"p50 {statistics.median(latencies):.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms,"
        f" max {max(latencies):.1f} ms.",
        "",
        f"The same while `{HOLD_BACK_MODEL}` (SQL) is rebuilt over and over beside its live",
        f"build ({REBUILD_BATCH_NOTE}): p50 {statistics.median(during):.1f} ms,"
        f" p95 {qd[94]:.1f} ms, p99 {qd[98]:.1f} ms, max {max(during):.1f} ms. A rebuild step"
        f" (read {rebuild_batch:,} events, apply, write) takes p50"
        f" {statistics.median(batches) * 1000:.0f} ms, max {max(batches) * 1000:.0f} ms;"
        " only its write transaction holds the horizon back (the page is read before it"
        " opens).",
        "",
    ]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        append_to_section("## Rebuilds and live following", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
