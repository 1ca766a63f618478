"""How long a hot SKU's stock item takes to load once it has 100,000 events: from its latest
snapshot plus the events after it (a process that has not seen it yet), and from the
in-process cache brought up to date with one query (every later command). The baseline is
a quiet item (two events), loaded the same ways in the same run.

    python tests/bench/bench_hot_sku.py --events 100000

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import harness
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.infra.eventstore import EventStore

BATCH = 500


def write_history(store: EventStore, sku: str, events: int) -> InventoryItem:
    """Stock received once, then reserve/commit pairs (orders shipping), saved in batches."""
    item = InventoryItem.create(sku)
    item.receive(10**9)
    store.app.save(item)
    while item.version < events:
        for _ in range(BATCH // 2):
            order = uuid.uuid4()
            item.reserve(order, 1)
            item.commit(order)
        store.app.save(item)
        print(f"\r{sku}: {item.version:,}/{events:,} events", end="", file=sys.stderr)
    print(file=sys.stderr)
    return item


def timed(load: Callable[[], object], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        load()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()

    rows = []
    with harness.bench_settings("hot", args) as settings:
        url = settings.database_url or ""
        writer = EventStore(url, schema=settings.event_schema)
        hot = write_history(writer, "HOT", args.events)
        cold = write_history(writer, "QUIET", 1)
        writer.close()
        for item in (cold, hot):

            def fresh_load(item_id: uuid.UUID = item.id) -> object:
                store = EventStore(url, schema=settings.event_schema, pool_size=1)
                try:
                    started = time.perf_counter()
                    store.get_many([item_id])
                    return time.perf_counter() - started
                finally:
                    store.close()

            # Time only the load, not opening the store: a fresh store per sample.
            samples = [fresh_load() * 1000 for _ in range(args.repeat)]  # type: ignore[operator]
            snapshot_ms = (statistics.median(samples), max(samples))
            store = EventStore(url, schema=settings.event_schema, pool_size=2)
            store.get_many([item.id])  # now cached
            cached_ms = timed(lambda i=item.id, s=store: s.get_many([i]), args.repeat * 10)
            loaded = store.get_many([item.id])[item.id]
            assert loaded.version == item.version and loaded.on_hand == item.on_hand
            store.close()
            rows.append((item.sku, item.version, snapshot_ms, cached_ms))

    command = f"python tests/bench/bench_hot_sku.py --events {args.events}"
    lines = [
        harness.heading("A hot SKU's stock item"),
        "",
        f"`{command}` — {os.cpu_count()} cores; snapshots every 100 events; median and max"
        " of the load alone (a first load opens a new store each time).",
        "",
        "| item | events | first load in a process (snapshot + events since), ms |"
        " cached and brought up to date (one query), ms |",
        "| --- | ---: | ---: | ---: |",
    ]
    for sku, version, (s50, smax), (c50, cmax) in rows:
        lines.append(
            f"| {sku} | {version:,} | {s50:.2f} (max {smax:.2f}) | {c50:.2f} (max {cmax:.2f}) |"
        )
    (_, _, (cold_first, _), _), (_, _, (hot_first, _), _) = rows
    lines += ["", f"Hot ÷ quiet item, first load: {hot_first / cold_first:.2f}.", ""]
    table = "\n".join(lines)
    harness.publish("## A hot SKU", table, not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
