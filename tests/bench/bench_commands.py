"""Place-order commands per second with 1, 8 and 32 concurrent clients — in-process, in
several processes and over HTTP, with the read models running as they run in production —
next to raw PostgreSQL one-row INSERT commits, the bare append (one event, one new stream)
and the same engine on the eventsourcing library's default recorder, all in one run on the
same server. Every row also reports what it cost physically, per operation: transactions
committed, WAL fsyncs and WAL bytes (PostgreSQL's own counters), and CPU milliseconds split
between the API (or in-process engine), the projection process and PostgreSQL.

    python tests/bench/bench_commands.py --seconds 5
    python tests/bench/bench_commands.py --quick               # 2 s a phase, 8 clients, no write
    python tests/bench/bench_commands.py --clients 8 32 --seconds 3

Rows, per client count:
- **raw INSERT** — one-row autocommit INSERTs of 300 bytes on plain connections.
- **append (tillroll)** / **append (library default)** — one event in one new stream per
  save (`Product.create`), in schemas of their own; no read model follows them.
- **place-order in-process** — the command handler called in this process on a store of
  its own, while `tillroll projections run` keeps the read models up to date in a process
  of its own; **in N processes** the same from N processes.
- **place-order, library default** — the same command on the library's recorder (its own
  schema; no read models).
- **place-order HTTP** — `tillroll serve` in its default configuration (read models
  included); **HTTP --no-projections** the same without them; **HTTP hot SKU** every order
  for the same SKU (the others spread over SKUS SKUs), same client count.

Orders are one line, one unit, at the catalogue price. A phase's throughput is measured over
its `--seconds`; it then waits until every read model has applied the log's head, and its
CPU is taken from the start of the load to that point, ÷ the orders of the load.

**How the counters are read.** PostgreSQL flushes a backend's statistics to shared memory
at most once a second, and a backend that turns idle less than a second after its last
flush keeps its counts for another 10 s; exiting flushes them. So every phase runs on
connections and processes of its own (a fresh store, a `tillroll serve` or `tillroll
projections run` started for the phase), and the counters are read before it starts and
after every one of its backends has exited (`harness.settled_counters`). Start-up, warm-up
orders (counted as orders) and the catch-up probe are inside that window: the same
lifecycle run with no load (a baseline per kind of row, taken first) is subtracted.

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md (unless --no-write).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import harness
import httpx
import psycopg
from eventsourcing.postgres import PostgresApplicationRecorder
from harness import Counters, Stocked, tillroll_serve
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.errors import Conflict
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, OrderLine
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ordering import PlaceOrder
from tillroll.infra.eventlog.recorder import TillrollRecorder
from tillroll.infra.eventstore import EventStore
from tillroll.infra.settings import Settings
from tillroll.queries.ops import projection_status

from tillroll.bootstrap import Runtime

SKUS = 50
HOT = "SKU-000"
CLIENTS = (1, 8, 32)
ADDRESS = Address(**harness.ADDRESS)
WARM = 1.0
"""Seconds of warm-up load (4 clients) before a phase's clock starts."""

Worker = Callable[[int], Callable[[], str]]


@dataclass
class Phase:
    ok: int = 0
    conflicts: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    warm_ok: int = 0
    """Orders placed warming up inside the load (the multi-process phase's own)."""
    cpu: float | None = None
    """CPU seconds of the load's engine processes, when they measure it themselves."""

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else 0.0
        return statistics.quantiles(self.latencies, n=100)[int(q) - 1]


def run_phase(clients: int, seconds: float, make_worker: Worker) -> Phase:
    """Each client loops calling its worker ('ok', 'conflict' or 'error') until time is up."""
    phase = Phase()
    if seconds <= 0:
        return phase
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


def seed(store: EventStore, prices: dict[str, int]) -> None:
    harness.seed_products(store, (Stocked(sku, cents, 10**9) for sku, cents in prices.items()))


# -- workers -------------------------------------------------------------------------------
@contextlib.contextmanager
def raw_insert_worker(url: str) -> Iterator[Worker]:
    payload = os.urandom(300)
    connections: list[psycopg.Connection[Any]] = []

    def make(_: int) -> Callable[[], str]:
        conn = psycopg.connect(url, autocommit=True)
        connections.append(conn)
        sql = "INSERT INTO bench_raw (payload) VALUES (%s)"

        def work() -> str:
            conn.execute(sql, (payload,), prepare=True)
            return "ok"

        return work

    try:
        yield make
    finally:
        for conn in connections:
            conn.close()


class LibraryDefaultRecorder(TillrollRecorder):
    """Tillroll's recorder with the library's own append path put back: `LOCK TABLE … IN
    EXCLUSIVE MODE`, NOTIFY and the composite-type INSERT, pipelined in one transaction.
    Only the append differs (no hash chain, no idempotency record): everything else in the
    command path is the same code."""

    insert_events = PostgresApplicationRecorder.insert_events  # type: ignore[assignment]
    _insert_stored_events = PostgresApplicationRecorder._insert_stored_events
    _fetch_ids_after_insert_events = PostgresApplicationRecorder._fetch_ids_after_insert_events


def append_worker(store: EventStore) -> Worker:
    """One event (ProductCreated) in one new stream per save."""

    def make(i: int) -> Callable[[], str]:
        price = Money(100, "EUR")

        def work() -> str:
            sku = f"A{i}-{uuid.uuid4().hex[:20]}"
            try:
                store.save(Product.create(sku, sku, price), meta={})
                return "ok"
            except Conflict:
                return "conflict"
            except Exception:
                return "error"

        return work

    return make


def in_process_worker(store: EventStore, skus: list[str], prices: dict[str, int]) -> Worker:
    def make(i: int) -> Callable[[], str]:
        rng = random.Random(i)
        customer = uuid.uuid4()
        principal = Principal(str(customer), "customer")

        def work() -> str:
            sku = rng.choice(skus)
            lines = [OrderLine(sku, 1, Money(prices[sku], "EUR"))]
            try:
                dispatch(PlaceOrder(customer, lines, ADDRESS), CommandContext(store, principal))
                return "ok"
            except Conflict:
                return "conflict"
            except Exception:
                return "error"

        return work

    return make


@contextlib.contextmanager
def http_worker(base: str, token: str, skus: list[str], prices: dict[str, int]) -> Iterator[Worker]:
    clients: list[httpx.Client] = []

    def make(i: int) -> Callable[[], str]:
        rng = random.Random(1000 + i)
        client = httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        clients.append(client)

        def work() -> str:
            sku = rng.choice(skus)
            body = harness.order_body([(sku, 1, prices[sku])])
            try:
                status = client.post("/v1/orders", json=body).status_code
            except httpx.HTTPError:
                return "error"
            return "ok" if status == 201 else "conflict" if status == 409 else "error"

        return work

    try:
        yield make
    finally:
        for client in clients:
            client.close()


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
        warm = run_phase(min(clients, 4), 0.5, in_process_worker(store, sorted(prices), prices))
        barrier.wait()
        cpu = harness.own_cpu()
        phase = run_phase(clients, seconds, in_process_worker(store, sorted(prices), prices))
        cpu = harness.own_cpu() - cpu
        results.put(
            (phase.ok, phase.conflicts, phase.errors, phase.seconds, phase.latencies, warm.ok, cpu)
        )
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
        ok, conflicts, errors, took, latencies, warm, cpu = results.get(timeout=seconds + 120)
        phase.warm_ok += warm
        phase.cpu = (phase.cpu or 0.0) + cpu
        phase.ok += ok
        phase.conflicts += conflicts
        phase.errors += errors
        phase.seconds = max(phase.seconds, took)
        phase.latencies += latencies
    for child in children:
        child.join()
    return phase


# -- one measured phase --------------------------------------------------------------------
@dataclass
class Row:
    clients: int
    label: str
    kind: str
    phase: Phase
    counters: Counters | None = None
    """Over the phase's whole lifecycle, its kind's baseline subtracted."""
    ops: int = 0
    """Successful operations in that window (warm-up included)."""
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds over the load and the catch-up, by group."""
    catch_up: float = 0.0

    def per_op(self, value: float | None) -> float | None:
        return None if value is None or not self.ops else value / self.ops


@dataclass
class Setup:
    """What a phase runs on: the processes it started (CPU groups: pids whose trees count)
    and the load's worker factory; `in_process` counts this process as the engine."""

    worker: Worker
    warm_worker: Worker | None = None
    groups: dict[str, list[int]] = field(default_factory=dict)
    in_process: bool = False
    follow: Settings | None = None
    """Settings of the read models to wait for after the load (None: none follow)."""


def tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process tree, split into the projection process(es) (a command line
    naming `projections`) and the rest (the API)."""
    import psutil

    found = {"api": 0.0, "projections": 0.0}
    with contextlib.suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                group = "projections" if "projections" in " ".join(proc.cmdline()) else "api"
                found[group] += times.user + times.system
    return found


def cpu_now(setup: Setup, postmaster: Any) -> dict[str, float]:
    totals = {"api": 0.0, "projections": 0.0, "postgres": 0.0}
    if setup.in_process:
        totals["api"] += harness.own_cpu()
    for group, pids in setup.groups.items():
        for pid in pids:
            for name, seconds in tree_cpu(pid).items():
                totals[group if name == "api" else name] += seconds
    if postmaster is not None:
        totals["postgres"] = harness.postgres_cpu(postmaster)
    return totals


def wait_caught_up(settings: Settings, timeout: float = 60.0) -> float:
    """Seconds until every read model has applied the head of the log, read through a
    runtime of its own (closed afterwards, so its statistics are flushed)."""
    started = time.monotonic()
    rt = Runtime.open(settings)
    try:
        while time.monotonic() - started < timeout:
            rows = projection_status(rt.runner)
            if all(row.lag_events == 0 or row.state == "failed" for row in rows):
                break
            time.sleep(0.1)
    finally:
        rt.close()
    return time.monotonic() - started


def measure(
    url: str,
    clients: int,
    label: str,
    kind: str,
    seconds: float,
    start: Callable[[contextlib.ExitStack], Setup],
    baseline: Counters | None,
    load: Callable[[Setup], Phase] | None = None,
) -> Row:
    """One phase: counters settled before; start what it runs on; warm up; the load; wait
    for the read models; CPU over load + catch-up; stop everything; counters settled after."""
    postmaster = harness.postmaster_of(url)
    before = harness.settled_counters(url)
    row = Row(clients, label, kind, Phase())
    warm = Phase()
    with contextlib.ExitStack() as stack:
        setup = start(stack)
        if seconds > 0 and load is None:
            warm = run_phase(min(clients, 4), WARM, setup.warm_worker or setup.worker)
        cpu_before = cpu_now(setup, postmaster)
        if load is not None and seconds > 0:
            row.phase = load(setup)
        else:
            row.phase = run_phase(clients, seconds, setup.worker)
        if setup.follow is not None:
            row.catch_up = wait_caught_up(setup.follow)
        cpu_after = cpu_now(setup, postmaster)
        row.cpu = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
        if row.phase.cpu is not None:  # not their start-up (imports), which ours would count
            row.cpu["api"] = row.phase.cpu
    used = harness.settled_counters(url) - before
    row.counters = used - baseline if baseline is not None else used
    row.ops = warm.ok + row.phase.warm_ok + row.phase.ok
    return row


# -- the run -------------------------------------------------------------------------------
@dataclass
class Bench:
    settings: Settings
    url: str
    prices: dict[str, int]
    token: str
    workers: int
    processes: int
    append_schema: str
    library_schema: str
    baselines: dict[str, Counters] = field(default_factory=dict)
    only: set[str] | None = None

    @property
    def skus(self) -> list[str]:
        return sorted(self.prices)

    def kinds(self, clients: int) -> dict[str, tuple[str, Callable[[contextlib.ExitStack], Setup]]]:
        """Every kind of row: (label, how to start it) for this many clients."""
        s, url, prices, skus = self.settings, self.url, self.prices, self.skus
        pool = max(2, clients)

        def store(stack: contextlib.ExitStack, schema: str, library: bool = False) -> EventStore:
            recorder = LibraryDefaultRecorder if library else TillrollRecorder
            found = EventStore(url, schema=schema, pool_size=pool, recorder=recorder)
            stack.callback(found.close)
            return found

        def projections(stack: contextlib.ExitStack) -> int:
            proc = subprocess.Popen(
                harness.tillroll_cli("projections", "run"), env=harness.clean_env(s)
            )
            stack.callback(harness.stop, proc)
            return proc.pid

        def raw(stack: contextlib.ExitStack) -> Setup:
            return Setup(stack.enter_context(raw_insert_worker(url)), in_process=True)

        def append(stack: contextlib.ExitStack) -> Setup:
            return Setup(append_worker(store(stack, self.append_schema)), in_process=True)

        def append_library(stack: contextlib.ExitStack) -> Setup:
            found = store(stack, self.library_schema + "_append", library=True)
            return Setup(append_worker(found), in_process=True)

        def in_process(stack: contextlib.ExitStack) -> Setup:
            pid = projections(stack)
            worker = in_process_worker(store(stack, s.event_schema), skus, prices)
            return Setup(worker, groups={"projections": [pid]}, in_process=True, follow=s)

        def spread(stack: contextlib.ExitStack) -> Setup:
            pid = projections(stack)
            return Setup(lambda _: lambda: "error", groups={"projections": [pid]}, follow=s)

        def library(stack: contextlib.ExitStack) -> Setup:
            found = store(stack, self.library_schema, library=True)
            return Setup(in_process_worker(found, skus, prices), in_process=True)

        def http(hot: bool = False, follow: bool = True) -> Callable[[contextlib.ExitStack], Setup]:
            def start(stack: contextlib.ExitStack) -> Setup:
                served_settings = s if follow else replace(s, run_projections=False)
                served = stack.enter_context(tillroll_serve(served_settings, self.workers))
                chosen = [HOT] if hot else skus
                worker = stack.enter_context(http_worker(served.base, self.token, chosen, prices))
                warm = stack.enter_context(http_worker(served.base, self.token, skus, prices))
                return Setup(
                    worker, warm, groups={"api": [served.pid]}, follow=s if follow else None
                )

            return start

        found: dict[str, tuple[str, Callable[[contextlib.ExitStack], Setup]]] = {
            "raw": ("raw one-row INSERT commits", raw),
            "append": ("append (1 event, new stream), tillroll", append),
            "append-library": ("append (1 event, new stream), library default", append_library),
            "in-process": ("place-order in-process + projection process", in_process),
        }
        if self.processes > 1:
            found["spread"] = (f"place-order in {self.processes} processes + projections", spread)
        found |= {
            "library": ("place-order on the library's default recorder", library),
            "http": (f"place-order HTTP, {SKUS} SKUs", http()),
            "http-hot": ("place-order HTTP, one hot SKU", http(hot=True)),
            "http-noproj": (f"place-order HTTP --no-projections, {SKUS} SKUs", http(follow=False)),
        }
        return {k: v for k, v in found.items() if self.only is None or k in self.only}

    def baseline(self) -> None:
        """Each kind's lifecycle with no load: what start-up, stop and probing cost."""
        for kind, (label, start) in self.kinds(4).items():
            if kind == "http-hot" and "http" in self.baselines:
                continue
            row = measure(self.url, 4, label, kind, 0, start, None)
            assert row.counters is not None
            self.baselines[kind] = row.counters
            print(f"baseline {kind}: {row.counters}", file=sys.stderr)
        if "http" in self.baselines:
            self.baselines["http-hot"] = self.baselines["http"]

    def rows(self, clients: int, seconds: float) -> list[Row]:
        found = []
        for kind, (label, start) in self.kinds(clients).items():
            if kind == "spread":
                row = self.spread_row(clients, label, seconds, start)
            else:
                row = measure(
                    self.url, clients, label, kind, seconds, start, self.baselines.get(kind)
                )
            found.append(row)
            print(
                f"{clients:>2} clients, {label}: {row.phase.rate:,.0f}/s,"
                f" {fmt_counters(row)}, catch-up {row.catch_up:.1f}s",
                file=sys.stderr,
            )
        return found

    def spread_row(
        self,
        clients: int,
        label: str,
        seconds: float,
        start: Callable[[contextlib.ExitStack], Setup],
    ) -> Row:
        """The engine in several processes; each warms its own caches for 0.5 s (not counted
        as orders, so its per-order counters are a little high)."""

        def load(_: Setup) -> Phase:
            return processes_phase(
                self.url,
                self.settings.event_schema,
                self.prices,
                clients,
                seconds,
                self.processes,
            )

        baseline = self.baselines.get("spread")
        return measure(self.url, clients, label, "spread", seconds, start, baseline, load)


def fmt_counters(row: Row) -> str:
    c = row.counters
    if c is None or not row.ops:
        return "no counters"
    return (
        f"{c.commits / row.ops:.2f} commits, {c.wal_fsyncs / row.ops:.2f} WAL fsyncs,"
        f" {c.wal_bytes / row.ops:,.0f} WAL bytes per op"
    )


def ms(value: float | None) -> str:
    return "—" if value is None else f"{value * 1000:.2f}"


def report(rows: list[Row], command: str, pg_version: str, bench: Bench) -> str:
    raw = {row.clients: row.phase.rate for row in rows if row.kind == "raw"}
    by = {(row.clients, row.kind): row for row in rows}
    lines = [
        harness.heading("Place-order commands, with physical counters"),
        "",
        f"`{command}` — {harness.machine()}, PostgreSQL {pg_version},"
        f" {harness.server_stack()}, {bench.workers} API worker(s); {SKUS} SKUs, orders of one"
        " line; the load generator runs on the same 2 cores as the servers. Counters per"
        " successful operation over the phase's lifecycle (warm-up orders included, the"
        " no-load baseline subtracted); CPU per operation over the load and the read models'"
        " catch-up (`catch-up s`: after the load, until every read model applied the head).",
        "",
        "| clients | row | ops/s | ÷ raw | p50 / p99 ms | conflicts / errors |"
        " commits/op | WAL fsyncs/op | WAL bytes/op | CPU ms/op API (or engine) |"
        " projections | PostgreSQL | catch-up s |",
        "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
        " ---: |",
    ]
    for row in rows:
        p, c, ops = row.phase, row.counters, max(row.ops, 1)
        ratio = p.rate / raw[row.clients] if raw.get(row.clients) else 0.0
        counters = (
            f"{c.commits / ops:.2f} | {c.wal_fsyncs / ops:.2f} | {c.wal_bytes / ops:,.0f}"
            if c is not None
            else "— | — | —"
        )
        per = max(p.ok, 1)
        cpu = " | ".join(
            ms(row.cpu.get(k, 0.0) / per) if row.cpu.get(k) else "—"
            for k in ("api", "projections", "postgres")
        )
        lines.append(
            f"| {row.clients} | {row.label} | {p.rate:,.0f} | {ratio:.2f} |"
            f" {p.pct(50):.1f} / {p.pct(99):.1f} | {p.conflicts} / {p.errors} | {counters} |"
            f" {cpu} | {row.catch_up:.1f} |"
        )
    lines += ["", "Ratios, same run:", ""]
    for clients in sorted({row.clients for row in rows}):

        def rate(kind: str, clients: int = clients) -> float:
            found = by.get((clients, kind))
            return found.phase.rate if found else 0.0

        def div(a: float, b: float) -> str:
            return f"{a / b:.2f}" if b else "—"

        lines.append(
            f"- {clients} clients: HTTP with read models ÷ --no-projections"
            f" {div(rate('http'), rate('http-noproj'))}; hot SKU ÷ {SKUS} SKUs"
            f" {div(rate('http-hot'), rate('http'))}; append ÷ raw"
            f" {div(rate('append'), rate('raw'))}; in-process ÷ raw"
            f" {div(rate('in-process'), rate('raw'))}; in-process ÷ library default"
            f" {div(rate('in-process'), rate('library'))}; HTTP ÷ raw"
            f" {div(rate('http'), rate('raw'))}."
        )
    lines.append("")
    return "\n".join(lines)


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase (default 5)")
    parser.add_argument("--quick", action="store_true", help="2 s per phase, 8 clients, no write")
    parser.add_argument("--clients", type=int, nargs="+", default=None, help="(1 8 32)")
    parser.add_argument("--only", nargs="+", default=None, help="only these kinds of row")
    parser.add_argument(
        "--processes", type=int, default=2, help="engine processes for the spread row (2; 1: none)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="API processes of the HTTP rows (default 1)"
    )
    args = parser.parse_args()
    seconds = 2.0 if args.quick else args.seconds
    counts = args.clients or ([8] if args.quick else list(CLIENTS))

    rows: list[Row] = []
    with harness.bench_settings("cmd", args, pg_pool_size=max(counts) // 2) as settings:
        url = settings.database_url or ""
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS bench_raw")
            conn.execute(
                "CREATE TABLE bench_raw (id bigserial PRIMARY KEY, payload bytea NOT NULL)"
            )
        pg_version = harness.server_version(url)
        prices = {f"SKU-{i:03d}": 100 + i for i in range(SKUS)}
        library_schema = f"{settings.event_schema}_library"
        with contextlib.closing(Runtime.open(settings)) as rt:
            seed(rt.store, prices)
            harness.open_accounts(
                rt.store, [("bench@example.com", "customer")], "bench-password", rt.credentials
            )
        library = EventStore(url, schema=library_schema, recorder=LibraryDefaultRecorder)
        seed(library, prices)
        library.close()
        with tillroll_serve(settings) as served:
            token = harness.login(served.base, "bench@example.com", "bench-password")
        bench = Bench(
            settings,
            url,
            prices,
            token,
            args.workers,
            args.processes,
            f"{settings.event_schema}_append",
            library_schema,
        )
        for schema in (bench.append_schema, library_schema + "_append"):
            EventStore(url, schema=schema).close()  # tables in place before the baselines
        bench.only = {"raw", *args.only} if args.only else None
        bench.baseline()
        for clients in counts:
            rows += bench.rows(clients, seconds)

    command = (
        "python tests/bench/bench_commands.py"
        + (" --quick" if args.quick else f" --seconds {seconds:g}")
        + (f" --clients {' '.join(map(str, counts))}" if args.clients else "")
        + (f" --workers {args.workers}" if args.workers != 1 else "")
        + (f" --processes {args.processes}" if args.processes != 2 else "")
    )
    table = report(rows, command, pg_version, bench)
    harness.publish("## Writes: place-order", table, not (args.no_write or args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
