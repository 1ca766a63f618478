"""Place-order commands per second with 1, 8 and 32 concurrent clients, in-process and over
HTTP, next to raw PostgreSQL one-row INSERT commits per second at the same concurrency and
the same engine on the eventsourcing library's default recorder (table lock, several round
trips per save), all in one run on the same server.

    python tests/bench/bench_commands.py --seconds 10

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import harness
import httpx
import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from harness import Stocked, tillroll_serve
from tillroll.aggregates.errors import Conflict
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, OrderLine
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ordering import PlaceOrder
from tillroll.infra.eventlog.recorder import TillrollRecorder
from tillroll.infra.eventstore import EventStore

SKUS = 200
CLIENTS = (1, 8, 32)
ADDRESS = Address(**harness.ADDRESS)


@dataclass
class Phase:
    ok: int = 0
    conflicts: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100)[int(q) - 1]


def run_phase(
    clients: int, seconds: float, make_worker: Callable[[int], Callable[[], str]]
) -> Phase:
    """Each client loops calling its worker ('ok', 'conflict' or 'error') until time is up."""
    phase = Phase()
    lock = threading.Lock()
    workers = [make_worker(i) for i in range(clients)]
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def loop(work: Callable[[], str]) -> None:
        local = Phase()
        start.wait()
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            outcome = work()
            elapsed = (time.perf_counter() - t0) * 1000
            if outcome == "ok":
                local.ok += 1
                local.latencies.append(elapsed)
            elif outcome == "conflict":
                local.conflicts += 1
            else:
                local.errors += 1
        with lock:
            phase.ok += local.ok
            phase.conflicts += local.conflicts
            phase.errors += local.errors
            phase.latencies += local.latencies

    threads = [threading.Thread(target=loop, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    began = time.perf_counter()
    stop_at[0] = began + seconds
    start.wait()
    for t in threads:
        t.join()
    phase.seconds = time.perf_counter() - began
    return phase


RAW_CONNECTIONS: list[psycopg.Connection[Any]] = []


def close_raw_connections() -> None:
    while RAW_CONNECTIONS:
        RAW_CONNECTIONS.pop().close()


def library_store(url: str, schema: str, clients: int) -> EventStore:
    """An event store on the library's default recorder, in a schema of its own."""
    return EventStore(
        url, schema=schema, pool_size=max(1, clients // 2), recorder=LibraryDefaultRecorder
    )


def raw_insert_worker(url: str) -> Callable[[int], Callable[[], str]]:
    payload = os.urandom(300)

    def make(_: int) -> Callable[[], str]:
        conn = psycopg.connect(url, autocommit=True)
        RAW_CONNECTIONS.append(conn)
        sql = "INSERT INTO bench_raw (payload) VALUES (%s)"

        def work() -> str:
            conn.execute(sql, (payload,), prepare=True)
            return "ok"

        return work

    return make


class LibraryDefaultRecorder(TillrollRecorder):
    """Tillroll's recorder with the library's own append path put back: `LOCK TABLE … IN
    EXCLUSIVE MODE`, NOTIFY and the composite-type INSERT, pipelined in one transaction.
    Only the append differs (no hash chain, no idempotency record): everything else in the
    command path is the same code."""

    insert_events = PostgresApplicationRecorder.insert_events  # type: ignore[assignment]
    _insert_stored_events = PostgresApplicationRecorder._insert_stored_events
    _fetch_ids_after_insert_events = PostgresApplicationRecorder._fetch_ids_after_insert_events


def seed(store: EventStore, prices: dict[str, int]) -> None:
    harness.seed_products(store, (Stocked(sku, cents, 10**9) for sku, cents in prices.items()))


def order_lines(rng: random.Random, prices: dict[str, int]) -> list[tuple[str, int, int]]:
    skus = rng.sample(sorted(prices), rng.randint(1, 3))
    return [(sku, 1, prices[sku]) for sku in skus]


def in_process_worker(
    store: EventStore, prices: dict[str, int]
) -> Callable[[int], Callable[[], str]]:
    def make(i: int) -> Callable[[], str]:
        rng = random.Random(i)
        customer = uuid.uuid4()
        principal = Principal(str(customer), "customer")

        def work() -> str:
            lines = [OrderLine(s, q, Money(c, "EUR")) for s, q, c in order_lines(rng, prices)]
            try:
                dispatch(PlaceOrder(customer, lines, ADDRESS), CommandContext(store, principal))
                return "ok"
            except Conflict:
                return "conflict"
            except Exception:
                return "error"

        return work

    return make


def http_worker(
    base: str, token: str, prices: dict[str, int]
) -> Callable[[int], Callable[[], str]]:
    def make(i: int) -> Callable[[], str]:
        rng = random.Random(1000 + i)
        client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

        def work() -> str:
            body = harness.order_body(order_lines(rng, prices))
            status = client.post("/v1/orders", json=body).status_code
            return "ok" if status == 201 else "conflict" if status == 409 else "error"

        return work

    return make


def _process_phase(
    url: str,
    schema: str,
    prices: dict[str, int],
    clients: int,
    seconds: float,
    barrier: Any,
    results: Any,
) -> None:
    """One process of a multi-process phase: its own store (pools, caches), its clients."""
    store = EventStore(url, schema=schema, pool_size=max(2, clients))
    try:
        run_phase(min(clients, 4), 0.5, in_process_worker(store, prices))  # warm caches
        barrier.wait()
        phase = run_phase(clients, seconds, in_process_worker(store, prices))
        results.put((phase.ok, phase.conflicts, phase.errors, phase.seconds, phase.latencies))
    finally:
        store.close()


def processes_phase(
    url: str, schema: str, prices: dict[str, int], clients: int, seconds: float, processes: int
) -> Phase:
    """The engine in several processes (as `tillroll serve --workers N` runs it), clients
    spread over them; one Python process is bound to one core by the GIL."""
    ctx = multiprocessing.get_context("spawn")
    count = max(1, min(processes, clients))
    barrier, results = ctx.Barrier(count), ctx.Queue()
    shares = [clients // count + (1 if i < clients % count else 0) for i in range(count)]
    children = [
        ctx.Process(
            target=_process_phase, args=(url, schema, prices, share, seconds, barrier, results)
        )
        for share in shares
    ]
    for child in children:
        child.start()
    phase = Phase()
    for _ in children:
        ok, conflicts, errors, took, latencies = results.get(timeout=seconds + 120)
        phase.ok += ok
        phase.conflicts += conflicts
        phase.errors += errors
        phase.seconds = max(phase.seconds, took)
        phase.latencies += latencies
    for child in children:
        child.join()
    return phase


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (default 10)")
    parser.add_argument("--quick", action="store_true", help="2 s per phase, no write")
    parser.add_argument(
        "--processes", type=int, default=2, help="engine processes for the spread phase (2)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="API processes of the HTTP phase (default 1)"
    )
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds

    rows: list[tuple[int, Phase, Phase, Phase, Phase, Phase]] = []
    with contextlib.ExitStack() as stack:
        rt = stack.enter_context(
            harness.bench_runtime(
                "cmd",
                args,
                pg_pool_size=max(CLIENTS) // 2,  # grows to twice that under load
                run_projections=False,
            )
        )
        settings = rt.settings
        url = settings.database_url or ""
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_raw")
            conn.execute(
                "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, payload bytea NOT NULL)"
            )
        pg_version = harness.server_version(url)
        prices = {f"SKU-{i:03d}": 100 + i for i in range(SKUS)}
        seed(rt.store, prices)
        library_schema = f"{settings.event_schema}_library"
        library = library_store(url, library_schema, 4)
        seed(library, prices)
        harness.open_accounts(rt.store, [("bench@example.com", "customer")], "bench-password")
        server = stack.enter_context(tillroll_serve(settings, args.workers))
        token = harness.login(server.base, "bench@example.com", "bench-password")
        # warm-up: connections, prepared statements, caches
        run_phase(4, 1.0, in_process_worker(rt.store, prices))
        run_phase(4, 1.0, in_process_worker(library, prices))
        library.close()
        run_phase(4, 1.0, http_worker(server.base, token, prices))
        for clients in CLIENTS:
            # Connections stay within the server's limit: each phase closes what it opened.
            raw = run_phase(clients, seconds, raw_insert_worker(url))
            close_raw_connections()
            engine = run_phase(clients, seconds, in_process_worker(rt.store, prices))
            spread = processes_phase(
                url, settings.event_schema, prices, clients, seconds, args.processes
            )
            library = library_store(url, library_schema, clients)
            run_phase(min(clients, 4), 0.5, in_process_worker(library, prices))  # its caches
            default = run_phase(clients, seconds, in_process_worker(library, prices))
            library.close()
            http = run_phase(clients, seconds, http_worker(server.base, token, prices))
            rows.append((clients, raw, engine, spread, default, http))
            print(
                f"{clients:>2} clients: raw {raw.rate:,.0f}/s  in-process {engine.rate:,.0f}/s"
                f"  in {args.processes} processes {spread.rate:,.0f}/s"
                f"  library default {default.rate:,.0f}/s  http {http.rate:,.0f}/s",
                file=sys.stderr,
            )

    command = (
        "python tests/bench/bench_commands.py"
        + (" --quick" if args.quick else f" --seconds {seconds:g}")
        + (f" --workers {args.workers}" if args.workers != 1 else "")
        + (f" --processes {args.processes}" if args.processes != 2 else "")
    )
    lines = [
        harness.heading("Place-order commands"),
        "",
        f"`{command}` — {harness.machine()}, PostgreSQL {pg_version}; {SKUS} SKUs, orders of"
        " 1-3 lines; the load generator runs on the same 2 cores as the server.",
        "",
        "| clients | raw INSERT commits/s | place-order in-process/s | ÷ raw | p50 / p99 ms |"
        f" in {args.processes} processes/s | ÷ raw |"
        " on the library's default recorder/s | tillroll ÷ default |"
        " place-order HTTP/s | ÷ raw | p50 / p99 ms | conflicts / errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        " ---: |",
    ]
    for clients, raw, engine, spread, default, http in rows:
        phases = (engine, spread, default, http)
        lines.append(
            f"| {clients} | {raw.rate:,.0f} | {engine.rate:,.0f} | {engine.rate / raw.rate:.2f} |"
            f" {engine.pct(50):.1f} / {engine.pct(99):.1f} |"
            f" {spread.rate:,.0f} | {spread.rate / raw.rate:.2f} | {default.rate:,.0f} |"
            f" {engine.rate / max(default.rate, 1e-9):.1f} | {http.rate:,.0f} |"
            f" {http.rate / raw.rate:.2f} | {http.pct(50):.1f} / {http.pct(99):.1f} |"
            f" {sum(p.conflicts for p in phases)} / {sum(p.errors for p in phases)} |"
        )
    lines.append("")
    table = "\n".join(lines)
    harness.publish("## Writes: place-order", table, not (args.no_write or args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
