"""A flash sale over HTTP on the embedded default: one SKU with 1,000 units, 2,000 buyers at
once. Reports how fast the stock sold (orders/s) and the latencies, and checks the outcome:
exactly 1,000 sold, nothing oversold, every loser answered 409 (none 5xx), the stock level
and the product card equal to the aggregate afterwards.

    python tests/bench/bench_flash_sale.py [--buyers 2000 --units 1000 --in-flight 64 --workers N]

`tillroll serve` (default configuration: read models included) runs in a child process over
embedded PostgreSQL and valkey (or the URLs given); the buyers run in this process on one
event loop, IN_FLIGHT at a time, each with a keep-alive connection of its own
(tests/bench/lean_client.py) and a bearer token minted with the server's secret (opening
2,000 accounts would cost ~50 ms of password hashing each). The load generator's own CPU is
reported next to the server's. Not part of the test suite (the suite's
tests/api/test_flash_sale.py checks the same outcome); appends its table to
docs/BENCHMARKS.md under "## Flash sale" unless --no-write.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import harness
import psutil
from harness import Stocked
from lean_client import LeanClient
from litestar.security.jwt import Token
from tillroll.aggregates.inventory.item import InventoryItem

HEADING = "## Flash sale"
SKU = "FLASH-1"
CENTS = 1999

try:
    import uvloop

    LOOP = "uvloop"
    run_loop: Any = uvloop.run
except ImportError:
    LOOP = "asyncio"
    run_loop = asyncio.run


def mint(secret: str, role: str) -> str:
    token = Token(
        sub=str(uuid.uuid4()),
        exp=datetime.now(UTC) + timedelta(minutes=30),
        extras={"role": role, "email": f"{role}@bench.example"},
    )
    return token.encode(secret, "HS256")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q / 100))] if ordered else 0.0


async def sale(
    base: str, tokens: list[str], in_flight: int
) -> tuple[list[tuple[int, float, float]], float]:
    """Every buyer posts one order for one unit, `in_flight` at a time on as many keep-alive
    connections. (status, latency ms, answered at s) per buyer, and the sale's seconds."""
    body = harness.order_body([(SKU, 1, CENTS)])
    pending = iter(tokens)
    outcomes: list[tuple[int, float, float]] = []
    began = time.perf_counter()

    async def lane() -> None:
        client = LeanClient(base, timeout=60)
        try:
            for token in pending:
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
                started = time.perf_counter()
                try:
                    response = await client.request(
                        "POST", "/v1/orders", headers=headers, json=body
                    )
                    status = response.status_code
                except (OSError, TimeoutError, asyncio.IncompleteReadError):
                    status = 0
                now = time.perf_counter()
                outcomes.append((status, (now - started) * 1000, now - began))
        finally:
            await client.aclose()

    await asyncio.gather(*(lane() for _ in range(in_flight)))
    return outcomes, time.perf_counter() - began


async def read_caught_up(base: str, path: str, head: int, token: str | None) -> Any:
    client = LeanClient(base)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 60
    try:
        while True:
            response = await client.get(path, headers=headers, params={"min_position": head})
            if response.status_code != 503 or time.monotonic() > deadline:
                return response.json() if response.status_code == 200 else None
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()


async def read_both(base: str, head: int, staff: str) -> tuple[Any, Any]:
    """The stock level and the card, once both read models have reached `head`."""
    level, card = await asyncio.wait_for(
        asyncio.gather(
            read_caught_up(base, f"/v1/inventory/{SKU}", head, staff),
            read_caught_up(base, f"/v1/products/{SKU}", head, None),
        ),
        120,
    )
    return level, card


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--buyers", type=int, default=2000)
    parser.add_argument("--units", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=64, help="requests at once (64)")
    parser.add_argument("--workers", type=int, default=1, help="API processes (1)")
    args = parser.parse_args()

    with harness.bench_runtime("flash", args) as rt:
        harness.seed_products(rt.store, [Stocked(SKU, CENTS, args.units)])
        secret = rt.settings.jwt_secret or ""
        tokens = [mint(secret, "customer") for _ in range(args.buyers)]
        with harness.tillroll_serve(rt.settings, args.workers) as server:
            me = psutil.Process()
            server_cpu, own_cpu = harness.cpu_seconds(server.pid), sum(me.cpu_times()[:2])
            outcomes, seconds = run_loop(sale(server.base, tokens, args.in_flight))
            server_cores = (harness.cpu_seconds(server.pid) - server_cpu) / seconds
            own_cores = (sum(me.cpu_times()[:2]) - own_cpu) / seconds
            item: Any = None
            min_available = args.units
            for event in rt.store.app.events.get(InventoryItem.create_id(SKU)):
                item = event.mutate(item)
                min_available = min(min_available, item.available)
            head = rt.store.head()
            level, card = run_loop(read_both(server.base, head, mint(secret, "staff")))

    statuses = Counter(status for status, _, _ in outcomes)
    sold = statuses[201]
    last_sale = max((at for status, _, at in outcomes if status == 201), default=seconds)
    won = [ms for status, ms, _ in outcomes if status == 201]
    lost = [ms for status, ms, _ in outcomes if status == 409]
    every = [ms for _, ms, _ in outcomes]
    models_equal = check_read_models(level, card, item)
    ok = (
        sold == args.units
        and statuses[409] == args.buyers - args.units
        and min_available >= 0
        and item.reserved == sold
        and models_equal
    )
    command = (
        f"python tests/bench/bench_flash_sale.py --buyers {args.buyers} --units {args.units}"
        f" --in-flight {args.in_flight}"
        + (f" --workers {args.workers}" if args.workers != 1 else "")
    )
    lines = [
        harness.heading(f"Flash sale: {args.units:,} units, {args.buyers:,} buyers"),
        "",
        f"`{command}` — {harness.machine()}, {harness.server_stack()}, {args.workers} API"
        f" worker(s), read models running; {args.in_flight} requests in flight from one"
        f" {LOOP} loop on the same cores: server {server_cores:.2f} cores, load generator"
        f" {own_cores:.2f} cores.",
        "",
        "| sold | 409 | other | orders/s (until sold out) | requests/s | p50 / p99 ms, sold |"
        " p50 / p99 ms, 409 | p99 ms, all | oversold | read models = aggregate |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        f"| {sold:,} | {statuses[409]:,} | {sum(statuses.values()) - sold - statuses[409]:,} |"
        f" {sold / last_sale:,.0f} | {len(outcomes) / seconds:,.0f} |"
        f" {pct(won, 50):.0f} / {pct(won, 99):.0f} | {pct(lost, 50):.0f} / {pct(lost, 99):.0f} |"
        f" {pct(every, 99):.0f} | {'no' if min_available >= 0 else 'YES'}"
        f" (min available {min_available}) | {'yes' if models_equal else 'NO'} |",
        "",
    ]
    others = {s: n for s, n in statuses.items() if s not in (201, 409)}
    if others:
        lines.insert(-1, f"Other answers: {others} (0 = no answer).")
    harness.publish(HEADING, "\n".join(lines), ok and not args.no_write)
    if not ok:
        print("bench_flash_sale: the outcome is WRONG (see the table)", file=sys.stderr)
    return 0 if ok else 1


def check_read_models(level: Any, card: Any, item: Any) -> bool:
    """The stock level and the card at the head of the log show the aggregate's figures."""
    if level is None or card is None or item is None:
        return False
    want = (item.on_hand, item.reserved, item.available)
    return (level["on_hand"], level["reserved"], level["available"]) == want and card[
        "available"
    ] == item.available


if __name__ == "__main__":
    sys.exit(main())
