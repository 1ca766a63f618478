"""Rebuild speed per read model next to the raw speed of reading the log, and the latency of
live following, measured in one run on the same servers.

    python tests/bench/bench_rebuild.py --events 200000

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time

import harness
from harness import LOG_SKUS, read_rate
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext
from tillroll.commands.inventory import ReceiveStock
from tillroll.projections.registry import PROJECTIONS

from tillroll.bootstrap import Runtime

HOLD_BACK_MODEL = "customer_orders"
REBUILD_BATCH_NOTE = "batches of TILLROLL_PROJECTION_REBUILD_BATCH events"


def live_latency(rt: Runtime, samples: int, rebuilding: str | None = None) -> list[float]:
    """Write one small command at a time; time until every live read model has applied it.
    With `rebuilding`, that read model is rebuilt over and over meanwhile: its batch
    transactions hold back the horizon every reader of the log waits behind."""
    read = rt.live_builds(ttl=0)
    rt.runner.start()
    time.sleep(1.0)
    latencies = []
    stop = threading.Event()

    def rebuild_loop() -> None:
        # In another process, as `tillroll projections rebuild` would run: what is measured
        # is the horizon its write transactions hold back, not this process's GIL.
        assert rebuilding is not None
        rebuild = harness.tillroll_cli("projections", "rebuild", rebuilding, "--from-scratch")
        env = harness.clean_env(rt.settings)
        while not stop.is_set():
            subprocess.run(rebuild, env=env, check=True, capture_output=True)

    background = threading.Thread(target=rebuild_loop, daemon=True)
    if rebuilding:
        background.start()
        time.sleep(2.0)
    try:
        for k in range(samples):
            result = dispatch(ReceiveStock(f"SKU-{k % LOG_SKUS:04d}", 1), CommandContext(rt.store))
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
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=300, help="live-following samples")
    args = parser.parse_args()

    with harness.bench_runtime("rebuild", args) as rt:
        harness.seed_log(rt, args.events)
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
        pg_version = harness.server_version(rt.settings.database_url or "")
        rebuild_batch = rt.settings.projection_rebuild_batch

    q = statistics.quantiles(latencies, n=100)
    qd = statistics.quantiles(during, n=100)
    command = f"python tests/bench/bench_rebuild.py --events {args.events} --samples {args.samples}"
    lines = [
        harness.heading("Rebuild and live following"),
        "",
        f"`{command}` — {harness.machine()}, PostgreSQL {pg_version}, log of {head:,} events"
        " (orders reserving stock).",
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
    harness.publish("## Rebuilds and live following", table, not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
