"""What every benchmark shares: real servers (embedded unless URLs are given) and settings in
schemas and a key prefix of their own, a `tillroll serve` child on a free port, logging in,
seeding products, stock, accounts and a shop's log, the command line's common options, and
the section writer for docs/BENCHMARKS.md.

A script run as `python tests/bench/bench_x.py` has this folder on `sys.path`, so it reads
`import harness`; tillroll itself comes from the virtualenv (`pip install -e .`). Benchmarks
import this module and never each other.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import importlib.util
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import httpx
import psutil
import psycopg
from tillroll.aggregates.catalog.product import Product
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.money import Money
from tillroll.aggregates.ordering.order import Address, Order, OrderLine
from tillroll.commands.bus import dispatch
from tillroll.commands.catalog import CreateProduct
from tillroll.commands.context import CommandContext
from tillroll.commands.identity import OpenAccount
from tillroll.commands.inventory import ReceiveStock
from tillroll.commands.ports import CredentialStore, EventStorePort
from tillroll.infra.embedded import start_embedded
from tillroll.infra.settings import Settings

from tillroll.bootstrap import Runtime

BENCHMARKS = Path(__file__).resolve().parents[2] / "docs" / "BENCHMARKS.md"
JWT_SECRET = "bench-" + "x" * 40
ADDRESS = {
    "name": "Bench",
    "line1": "1 Main St",
    "city": "Berlin",
    "postal_code": "10115",
    "country": "DE",
}
"""The shipping address of every order a benchmark places over HTTP."""


# -- the command line and the report --------------------------------------------------------
def parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every benchmark takes: external servers instead of embedded ones, and
    --no-write to print the table without filing it in docs/BENCHMARKS.md."""
    found = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    found.add_argument("--database-url", help="PostgreSQL to use (default: an embedded one)")
    found.add_argument("--redis-url", help="Redis-protocol server (default: an embedded valkey)")
    found.add_argument("--no-write", action="store_true", help="print, do not file the table")
    return found


def heading(title: str) -> str:
    """A table's own heading: what it measured and when."""
    return f"### {title} — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def machine() -> str:
    return f"{os.cpu_count()} cores, Python {platform.python_version()}"


def server_stack() -> str:
    """What serves HTTP here: uvicorn picks uvloop and httptools only when installed."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    versions = {p: importlib.metadata.version(p) for p in ("uvicorn", "litestar")}
    return f"uvicorn {versions['uvicorn']} ({loop}, {http}), Litestar {versions['litestar']}"


def publish(section: str, table: str, write: bool) -> None:
    """Print the table; with `write`, file it under its `## ` section of BENCHMARKS.md."""
    print(table)
    if write:
        append_to_section(section, table)


def append_to_section(heading: str, text: str, path: Path = BENCHMARKS) -> None:
    """Add `text` at the end of the `## ` section called `heading`; the section is created at
    the end of the file if there is none yet."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        path.write_text("".join(lines).rstrip("\n") + f"\n\n{heading}\n\n{text.rstrip()}\n")
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    before = "".join(lines[:end]).rstrip("\n") + f"\n\n{text.rstrip()}\n"
    after = "".join(lines[end:])
    path.write_text(before + (f"\n{after}" if after else ""))


# -- servers -------------------------------------------------------------------------------
@contextlib.contextmanager
def bench_settings(name: str, args: argparse.Namespace, **overrides: Any) -> Iterator[Settings]:
    """Settings on the servers `args` names, embedded ones for those it does not (stopped on
    the way out), in schemas and a key prefix no other run uses."""
    data_dir = Path(tempfile.mkdtemp(prefix="tillroll-bench-"))
    database_url, redis_url = args.database_url, args.redis_url
    servers = None
    if not (database_url and redis_url):
        servers = start_embedded(data_dir, need_postgres=not database_url, need_redis=not redis_url)
    ns = f"bench_{name}_{int(time.time())}"
    settings = Settings(
        database_url=database_url or servers.database_url,  # type: ignore[union-attr]
        redis_url=redis_url or servers.redis_url,  # type: ignore[union-attr]
        data_dir=data_dir,
        event_schema=f"{ns}_events",
        read_schema=f"{ns}_read",
        redis_prefix=f"{ns}:",
        jwt_secret=JWT_SECRET,
        rate_limit="off",  # the load generators are one client address
        access_log=False,  # as a benchmark of the engine, not of a log sink
    )
    try:
        yield replace(settings, **overrides)
    finally:
        if servers is not None:
            servers.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@contextlib.contextmanager
def bench_runtime(name: str, args: argparse.Namespace, **overrides: Any) -> Iterator[Runtime]:
    """The composition root opened on `bench_settings`; closed, and the servers stopped, on
    the way out."""
    with bench_settings(name, args, **overrides) as settings:
        rt = Runtime.open(settings)
        try:
            yield rt
        finally:
            rt.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(settings: Settings | None = None) -> dict[str, str]:
    """This process's environment without its TILLROLL_* variables; with `settings`, theirs,
    quiet and without demo data (what a tillroll child process of a benchmark runs on)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLROLL_")}
    if settings is not None:
        env.update(settings.as_env(), TILLROLL_DEMO="0", TILLROLL_LOG_LEVEL="WARNING")
    return env


def tillroll_cli(*words: str) -> list[str]:
    """The argv of `tillroll <words>` run by this interpreter."""
    return [sys.executable, "-m", "tillroll.cli", *words]


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    base: str

    @property
    def pid(self) -> int:
        return self.proc.pid


@contextlib.contextmanager
def child_server(
    argv: list[str], port: int, path: str, env: dict[str, str], log: IO[bytes] | None = None
) -> Iterator[Served]:
    """A server in a child process, once `path` answers 200 on `port`; stopped on the way out.
    Its output goes to `log` if given."""
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
    served = Served(proc, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[1:]} exited with {proc.returncode} before answering")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(served.base + path, timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[1:]} did not start")
            time.sleep(0.2)
        yield served
    finally:
        stop(proc)


def tillroll_serve(
    settings: Settings, workers: int = 1, log: IO[bytes] | None = None
) -> contextlib.AbstractContextManager[Served]:
    """`tillroll serve --workers N` on these settings, on a free port."""
    port = free_port()
    argv = tillroll_cli("serve", "--port", str(port), "--workers", str(workers))
    return child_server(argv, port, "/health", clean_env(settings), log)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_by_process(pid: int) -> dict[int, float]:
    """User + system CPU seconds of a process and of each of its children (uvicorn workers)."""
    found: dict[int, float] = {}
    with contextlib.suppress(psutil.NoSuchProcess):
        parent = psutil.Process(pid)
        for proc in [parent, *parent.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                found[proc.pid] = times.user + times.system
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and all its children."""
    return sum(cpu_by_process(pid).values())


# -- PostgreSQL ----------------------------------------------------------------------------
def server_version(url: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        version: str = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        return version


# -- physical counters ---------------------------------------------------------------------
# PostgreSQL's cumulative statistics are kept per backend and flushed to shared memory at
# most once a second; a backend that turns idle less than a second after its last flush
# holds its counts back for another 10 s (PGSTAT_IDLE_INTERVAL), and exiting flushes them.
# So the counters of a load are read only after every connection the load opened is closed
# and its backend has exited (`wait_backends_gone`): each benchmark phase runs on
# connections of its own (a fresh store, a `tillroll serve` or `tillroll projections run`
# started for the phase and stopped after it), never on ones that outlive the phase.
_WAL_FSYNCS = {
    # PostgreSQL 18 counts WAL fsyncs in pg_stat_io; before, pg_stat_wal.wal_sync.
    True: "SELECT coalesce(sum(fsyncs), 0)::bigint FROM pg_stat_io WHERE object = 'wal'",
    False: "SELECT wal_sync FROM pg_stat_wal",
}


@dataclass(frozen=True)
class Counters:
    """PostgreSQL's own counters and CPU at one moment (cumulative; subtract two)."""

    commits: int
    """pg_stat_database.xact_commit of the database."""
    wal_fsyncs: int
    wal_bytes: int
    pg_cpu: float | None
    """CPU seconds of the postmaster and all its children, exited ones included (None if
    the server is not on this machine)."""

    def __sub__(self, other: Counters) -> Counters:
        cpu = None if self.pg_cpu is None or other.pg_cpu is None else self.pg_cpu - other.pg_cpu
        return Counters(
            self.commits - other.commits,
            self.wal_fsyncs - other.wal_fsyncs,
            self.wal_bytes - other.wal_bytes,
            cpu,
        )


def _postmaster(conn: psycopg.Connection[Any]) -> psutil.Process | None:
    pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    try:
        backend = psutil.Process(pid)
        parent = backend.parent()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None  # a server on another machine
    return parent if parent is not None and "postgres" in parent.name() else None


def postgres_cpu(postmaster: psutil.Process) -> float:
    """User + system CPU of the postmaster, its live children, and the children it has
    already reaped (backends of closed connections): psutil's children_* times."""
    times = postmaster.cpu_times()
    total = times.user + times.system + times.children_user + times.children_system
    for child in postmaster.children():
        with contextlib.suppress(psutil.NoSuchProcess):
            t = child.cpu_times()
            total += t.user + t.system
    return total


def postmaster_of(url: str) -> psutil.Process | None:
    """The server's postmaster if it runs on this machine (for its CPU)."""
    with psycopg.connect(url, autocommit=True) as conn:
        return _postmaster(conn)


def read_counters(url: str) -> Counters:
    """The counters now, on a connection opened for the purpose (its own commit, one, is
    flushed when it closes and is counted in the next reading)."""
    with psycopg.connect(url, autocommit=True) as conn:
        v18 = conn.info.server_version >= 180000
        commits = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()[0]  # type: ignore[index]
        fsyncs = conn.execute(_WAL_FSYNCS[v18]).fetchone()[0]  # type: ignore[index]
        wal_bytes = conn.execute("SELECT wal_bytes FROM pg_stat_wal").fetchone()[0]  # type: ignore[index]
        postmaster = _postmaster(conn)
        cpu = postgres_cpu(postmaster) if postmaster is not None else None
    return Counters(int(commits), int(fsyncs or 0), int(wal_bytes), cpu)


def wait_backends_gone(url: str, timeout: float = 15.0) -> int:
    """Wait until no client backend but this reader's is connected to the database (their
    statistics are flushed on exit); return how many were still there at the timeout."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while True:
            left: int = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()[0]  # type: ignore[index]
            if not left or time.monotonic() > deadline:
                return left
            time.sleep(0.05)


def settled_counters(url: str) -> Counters:
    """`read_counters` once the load's backends have gone (see the note above); raises if
    a connection is still open, since its counts would land in a later reading."""
    left = wait_backends_gone(url)
    if left:
        raise RuntimeError(f"{left} connections still open: their statistics are not flushed")
    # The WAL writer and checkpointer report on their own cycle (walwriter: each loop).
    time.sleep(0.3)
    return read_counters(url)


def own_cpu() -> float:
    """This process's CPU seconds (all threads), and that of the children it has waited for
    (the processes of a multi-process phase, once joined)."""
    times = psutil.Process().cpu_times()
    return times.user + times.system + times.children_user + times.children_system


# -- seeding -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stocked:
    """A product to create with its opening stock."""

    sku: str
    cents: int
    stock: int
    name: str = ""
    """The SKU if empty."""
    description: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    note: str = ""
    """The stock receipt's note."""


def seed_products(store: EventStorePort, products: Iterable[Stocked]) -> None:
    """Create each product and receive its stock through the commands layer."""
    ctx = CommandContext(store)
    for p in products:
        price = Money(p.cents, "EUR")
        dispatch(
            CreateProduct(p.sku, p.name or p.sku, price, p.description, p.category, list(p.tags)),
            ctx,
        )
        dispatch(ReceiveStock(p.sku, p.stock, p.note), ctx)


def open_accounts(
    store: EventStorePort,
    accounts: Iterable[tuple[str, str]],
    password: str,
    credentials: CredentialStore | None = None,
) -> None:
    """Open (email, role) accounts with one password, on as many threads as there are cores:
    a password hash costs ~50 ms of CPU."""
    ctx = CommandContext(store, credentials=credentials)

    def open_one(account: tuple[str, str]) -> None:
        email, role = account
        dispatch(OpenAccount(email, email.split("@")[0], role, password), ctx)

    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        list(pool.map(open_one, accounts))


def login(base: str, email: str, password: str) -> str:
    """A bearer token from `POST /v1/auth/login`."""
    response = httpx.post(
        f"{base}/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )
    if response.status_code != 200:
        raise RuntimeError(f"login as {email}: {response.status_code} {response.text}")
    token: str = response.json()["access_token"]
    return token


def order_body(lines: Iterable[tuple[str, int, int]]) -> dict[str, Any]:
    """The JSON of `POST /v1/orders` for (sku, quantity, unit cents) lines, in EUR."""
    return {
        "lines": [
            {"sku": s, "quantity": q, "unit_price": {"amount": c, "currency": "EUR"}}
            for s, q, c in lines
        ],
        "shipping_address": ADDRESS,
    }


LOG_SKUS = 200


def seed_log(rt: Runtime, events: int) -> None:
    """A shop's log of about `events` events: products, stock, and orders that reserve it
    (about 3 events an order), saved 40 orders a transaction so seeding is fast."""
    app = rt.store.app
    products = [
        Product.create(f"SKU-{i:04d}", f"Item {i}", Money(100 + i, "EUR")) for i in range(LOG_SKUS)
    ]
    items = [InventoryItem.create(p.sku) for p in products]
    for item in items:
        item.receive(10**9, "bench stock")
    app.save(*products, *items)
    by_sku = {item.sku: item for item in items}  # the only writer: keep them current in memory
    address = Address("Bench", "1 Main St", "Berlin", "10115", "DE")
    written = rt.store.head()
    i = 0
    while written < events:
        orders, touched = [], {}
        for _ in range(40):
            a, b = products[i % LOG_SKUS], products[(i * 7 + 3) % LOG_SKUS]
            i += 1
            lines = [OrderLine(a.sku, 1, a.price)] + (
                [OrderLine(b.sku, 2, b.price)] if a is not b else []
            )
            order = Order.place(uuid.uuid4(), lines, address)
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
    """Events per second reading the whole log in pages of 5,000 (and decoding them)."""
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
