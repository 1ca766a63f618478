"""What the read models of issue 15 cost the projection follower: each one applied over the
same log in following-size batches (events/s and µs per event it handles, next to older
Redis and SQL read models), and live following with all of them running.

    python tests/bench/bench_live_updates.py --events 20000 --samples 200

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import statistics
import sys
import time

import bench_rebuild
import harness
from bench_rebuild import live_latency
from tillroll.projections.registry import BY_NAME, PROJECTIONS

import tillroll.bootstrap as bootstrap
from tillroll.bootstrap import Runtime

MODELS = (
    "stock_levels",
    "order_status",
    "customer_orders",
    "live_updates",
    "bestsellers",
    "sales_report",
)


NEW = ("live_updates", "bestsellers", "sales_report")
BEFORE = tuple(cls for cls in PROJECTIONS if cls.NAME not in NEW)


def keep(classes: tuple[type, ...]) -> None:
    """The read models the next runtime opened keeps (and live following waits for)."""
    bootstrap.PROJECTIONS = classes  # type: ignore[attr-defined]
    bench_rebuild.PROJECTIONS = classes  # type: ignore[attr-defined]


def following(settings: object, classes: tuple[type, ...], samples: int) -> list[float]:
    keep(classes)
    rt = Runtime.open(settings)  # type: ignore[arg-type]
    try:
        rt.runner.catch_up()
        return live_latency(rt, samples)
    finally:
        rt.close()
        keep(PROJECTIONS)


def redis_cpu(rt: object) -> float:
    info = rt.redis.info("cpu")  # type: ignore[attr-defined]
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def apply_all(rt: object, name: str, batch: int) -> tuple[float, int, float, float]:
    """Seconds to apply the whole log to a new build of `name`, `batch` events a step (the
    follower's batch); how many events of its types it applied; the CPU seconds this
    process (the follower's side) and the Redis server spent on it."""
    runner = rt.runner  # type: ignore[attr-defined]
    projection = runner.new_build(name)
    topics = set(BY_NAME[name].topics())
    handled = sum(
        1
        for n in rt.store.read(0, 10**9)  # type: ignore[attr-defined]
        if n.topic in topics
    )
    started, cpu, redis_before = time.perf_counter(), time.process_time(), redis_cpu(rt)
    while runner.step(projection, batch):
        pass
    elapsed = time.perf_counter() - started
    cpu, redis_used = time.process_time() - cpu, redis_cpu(rt) - redis_before
    runner.drop(projection)
    return elapsed, handled, cpu, redis_used


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--samples", type=int, default=200, help="live-following samples")
    args = parser.parse_args()

    with harness.bench_settings("live", args) as settings:
        rt = Runtime.open(settings)
        try:
            harness.seed_log(rt, args.events)
            head = rt.store.head()
            rt.runner.catch_up()
            batch = rt.settings.projection_batch
            rows = []
            for name in MODELS:
                elapsed, handled, cpu, redis_used = apply_all(rt, name, batch)
                rows.append((name, BY_NAME[name].TARGET, elapsed, handled, cpu, redis_used))
                print(f"{name}: {elapsed:.2f} s", file=sys.stderr)
        finally:
            rt.close()
        # Live following without the new read models, with them, and without them again
        # (the machine is shared: the two runs without bracket the one with).
        runs = [
            ("without " + ", ".join(NEW), following(settings, BEFORE, args.samples)),
            ("with every read model", following(settings, PROJECTIONS, args.samples)),
            ("without them again", following(settings, BEFORE, args.samples)),
        ]

    command = (
        f"python tests/bench/bench_live_updates.py --events {args.events} --samples {args.samples}"
    )
    lines = [
        harness.heading("What the insight read models cost the follower"),
        "",
        f"`{command}` — {harness.machine()}, a log of {head:,} events (orders reserving stock:"
        f" every order is a Placed and two StockReserved), applied {batch} events a step.",
        "",
        "| read model | target | s for the log | events handled | wall µs / event |"
        " follower CPU µs / event | Redis CPU µs / event |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, target, elapsed, handled, cpu, redis_used in rows:
        per = 1e6 / handled if handled else 0.0
        lines.append(
            f"| {name} | {target} | {elapsed:.2f} | {handled:,} | {elapsed * per:.0f}"
            f" | {cpu * per:.0f} | {redis_used * per:.0f} |"
        )
    lines += [
        "",
        f"Live following, {args.samples} single commands (stock received) at ~40/s each, time"
        " from commit until every read model kept has applied it:",
        "",
        "| read models | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, latencies in runs:
        q = statistics.quantiles(latencies, n=100)
        lines.append(
            f"| {label} | {statistics.median(latencies):.1f} | {q[94]:.1f} | {q[98]:.1f}"
            f" | {max(latencies):.1f} |"
        )
    lines.append("")
    harness.publish("## Live updates and insights", "\n".join(lines), not args.no_write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
