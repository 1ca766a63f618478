"""Place-order commands per second with 1, 8 and 32 concurrent clients, in-process and over
HTTP, next to raw PostgreSQL one-row INSERT commits per second at the same concurrency and
the same engine on the eventsourcing library's default recorder (table lock, several round
trips per save), all in one run on the same server.

    python tests/bench/bench_commands.py --seconds 10

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import psycopg  # noqa: E402
from eventsourcing.postgres import PostgresApplicationRecorder  # noqa: E402
from tillroll.aggregates.errors import Conflict  # noqa: E402
from tillroll.commands.bus import dispatch  # noqa: E402
from tillroll.commands.catalog import CreateProduct  # noqa: E402
from tillroll.commands.context import CommandContext, Principal  # noqa: E402
from tillroll.commands.identity import OpenAccount  # noqa: E402
from tillroll.commands.inventory import ReceiveStock  # noqa: E402
from tillroll.commands.messages import AddressIn, LineIn, MoneyIn  # noqa: E402
from tillroll.commands.ordering import PlaceOrder  # noqa: E402
from tillroll.infra.eventstore import EventStore  # noqa: E402
from tillroll.infra.recorder import TillrollRecorder  # noqa: E402

from tests.bench.harness import append_to_section, bench_settings  # noqa: E402
from tillroll.bootstrap import Runtime  # noqa: E402

SKUS = 200
CLIENTS = (1, 8, 32)
ADDRESS = AddressIn("Bench", "1 Main St", "Berlin", "10115", "DE")


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
    ctx = CommandContext(store)
    for sku, cents in prices.items():
        dispatch(CreateProduct(sku=sku, name=sku, price=MoneyIn(cents, "EUR")), ctx)
        dispatch(ReceiveStock(sku, 10**9), ctx)


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
            lines = [LineIn(s, q, MoneyIn(c, "EUR")) for s, q, c in order_lines(rng, prices)]
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
            body = {
                "lines": [
                    {"sku": s, "quantity": q, "unit_price": {"amount": c, "currency": "EUR"}}
                    for s, q, c in order_lines(rng, prices)
                ],
                "shipping_address": {
                    "name": "Bench",
                    "line1": "1 Main St",
                    "city": "Berlin",
                    "postal_code": "10115",
                    "country": "DE",
                },
            }
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(settings: Any, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLROLL_")}
    env.update(settings.as_env(), TILLROLL_DEMO="0", TILLROLL_LOG_LEVEL="WARNING")
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tillroll.cli", "serve", "--port", str(port)]
        + (["--workers", str(workers)] if workers > 1 else []),
        env=env,
        cwd=ROOT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("the API server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase (default 10)")
    parser.add_argument("--quick", action="store_true", help="2 s per phase, no write")
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--processes", type=int, default=2, help="engine processes for the spread phase (2)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="API processes of the HTTP phase (default 1)"
    )
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds

    rows: list[tuple[int, Phase, Phase, Phase, Phase, Phase]] = []
    stack = contextlib.ExitStack()
    settings = stack.enter_context(
        bench_settings(
            "cmd",
            getattr(args, "database_url", None),
            getattr(args, "redis_url", None),
            jwt_secret="bench-" + "x" * 40,
            pg_pool_size=max(CLIENTS) // 2,  # grows to twice that under load
            run_projections=False,
        )
    )
    rt = Runtime.open(settings)
    server = None
    try:
        url = settings.database_url or ""
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_raw")
            conn.execute(
                "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, payload bytea NOT NULL)"
            )
            pg_version = conn.execute("SHOW server_version").fetchone()[0]
        prices = {f"SKU-{i:03d}": 100 + i for i in range(SKUS)}
        ctx = CommandContext(rt.store)
        seed(rt.store, prices)
        library_schema = f"{settings.event_schema}_library"
        library = library_store(url, library_schema, 4)
        seed(library, prices)
        account = dispatch(
            OpenAccount("bench@example.com", "Bench", "customer", "bench-password"), ctx
        )
        port = free_port()
        server = start_server(settings, port, args.workers)
        base = f"http://127.0.0.1:{port}"
        token = httpx.post(
            f"{base}/v1/auth/login",
            json={"email": "bench@example.com", "password": "bench-password"},
        ).json()["access_token"]
        assert account.account_id
        # warm-up: connections, prepared statements, caches
        run_phase(4, 1.0, in_process_worker(rt.store, prices))
        run_phase(4, 1.0, in_process_worker(library, prices))
        library.close()
        run_phase(4, 1.0, http_worker(base, token, prices))
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
            http = run_phase(clients, seconds, http_worker(base, token, prices))
            rows.append((clients, raw, engine, spread, default, http))
            print(
                f"{clients:>2} clients: raw {raw.rate:,.0f}/s  in-process {engine.rate:,.0f}/s"
                f"  in {args.processes} processes {spread.rate:,.0f}/s"
                f"  library default {default.rate:,.0f}/s  http {http.rate:,.0f}/s",
                file=sys.stderr,
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(20)
        rt.close()
        stack.close()

    command = (
        "python tests/bench/bench_commands.py"
        + (" --quick" if args.quick else f" --seconds {seconds:g}")
        + (f" --workers {args.workers}" if args.workers != 1 else "")
        + (f" --processes {args.processes}" if args.processes != 2 else "")
    )
    lines = [
        f"### Place-order commands — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"`{command}` — {os.cpu_count()} cores, Python {platform.python_version()},"
        f" PostgreSQL {pg_version}; {SKUS} SKUs, orders of 1-3 lines; the load generator runs"
        " on the same 2 cores as the server.",
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
    print(table)
    if not (args.no_write or args.quick):
        append_to_section("## Writes: place-order", table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
