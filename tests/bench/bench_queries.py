"""Reads per second of the Redis read models over HTTP — product card, stock level, order
status — next to a bare Litestar route returning a constant msgspec Struct, served by the
same uvicorn in the same configuration, all in one run on the same machine.

    python tests/bench/bench_queries.py --seconds 10 [--workers N]

`tillroll serve` runs in a child process over servers of its own (embedded unless URLs are
given); the bare app is this module, served by `--serve-bare` exactly as `tillroll serve`
serves the API: `uvicorn.run` of the app object with one worker, the import-string factory
with `--workers N` (same host, log level, HTTP protocol class, no access log). Load comes
from `wrk -t2 -c64 --latency`, one route at a time after a one-second warm-up; the stock
level and the order are read with a staff and the owning customer's token, the product card
anonymously. Every route is checked for a 200 before it is measured, and any non-2xx answer
or socket error under load is reported as an error (the figures are then not written). Two
reference rows split the gap: the bare route with `sync_to_thread=True` (the thread hop
every tillroll read handler takes) and tillroll's own `GET /health` (its middleware, no
I/O). With several workers the table also shows how the CPU was split between them: wrk's
keep-alive connections stay with the worker that accepted them, and uvicorn's workers share
one listening socket, so one worker may end up with all of them.

Not part of the test suite. Prints a table and appends it, with this command, to
docs/BENCHMARKS.md under "## Queries (Redis read models) vs a bare Litestar route" (unless
--no-write). Needs `wrk` on the PATH (Debian: `apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import httpx
import msgspec
from harness import Served, Stocked, cpu_by_process, login
from litestar import Litestar, get
from tillroll.infra.settings import Settings

from tillroll.bootstrap import Runtime
from tillroll.cli import NO_DELAY_HTTP

HEADING = "## Queries (Redis read models) vs a bare Litestar route"
CONNECTIONS = 64
THREADS = 2
PASSWORD = "bench-password"


# -- the bare app --------------------------------------------------------------------------
class Constant(msgspec.Struct):
    sku: str
    name: str
    price: int
    currency: str
    available: int
    in_stock: bool


CONSTANT = Constant("BARE-1", "A constant", 1999, "EUR", 42, True)


@get("/constant")
async def constant() -> Constant:
    return CONSTANT


@get("/constant-sync", sync_to_thread=True)
def constant_sync() -> Constant:
    return CONSTANT


def bare_app() -> Litestar:
    """A Litestar app with no middleware, no auth and no dependencies."""
    return Litestar(route_handlers=[constant, constant_sync])


def serve_bare(port: int, workers: int) -> int:
    """Serve the bare app the way tillroll/cli `cmd_serve` serves tillroll's."""
    import uvicorn

    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "log_level": "warning",
        "access_log": False,
        "http": NO_DELAY_HTTP,  # the HTTP protocol `tillroll serve` gives uvicorn
    }
    if workers <= 1:
        uvicorn.run(bare_app(), **options)
    else:
        # The workers import it by name: this folder is on their sys.path as it is on ours.
        uvicorn.run("bench_queries:bare_app", factory=True, workers=workers, **options)
    return 0


def read_until_caught_up(
    url: str, position: int, headers: dict[str, str] | None = None, timeout: float = 60
) -> httpx.Response:
    """GET url?min_position=position, again while the read model answers 503 (behind)."""
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, params={"min_position": position}, headers=headers, timeout=30)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


# -- wrk -----------------------------------------------------------------------------------
_TO_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_TIME = r"([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)"


def to_ms(value: str, unit: str) -> float:
    return float(value) * _TO_MS[unit]


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rate: float
    p50: float
    p99: float
    non_2xx: int
    socket_errors: int
    cpu_us_per_request: float = 0.0
    worker_shares: list[float] = field(default_factory=list)
    """Busiest first: each child process's share of the serving CPU (with --workers N)."""

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def parse_wrk(output: str) -> WrkResult:
    """Parse `wrk --latency` output; times come as us, ms, s (m, h) and are turned into ms."""
    percentiles = {
        float(m.group(1)): to_ms(m.group(2), m.group(3))
        for m in re.finditer(rf"^\s*([0-9.]+)%\s+{_TIME}\s*$", output, re.MULTILINE)
    }
    total = re.search(rf"^\s*([0-9]+) requests in {_TIME}", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    if total is None or rate is None or 50.0 not in percentiles or 99.0 not in percentiles:
        raise RuntimeError(f"could not parse wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+([0-9]+)", output)
    sockets = re.search(
        r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)",
        output,
    )
    return WrkResult(
        requests=int(total.group(1)),
        seconds=to_ms(total.group(2), total.group(3)) / 1000,
        rate=float(rate.group(1)),
        p50=percentiles[50.0],
        p99=percentiles[99.0],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
    )


def run_wrk(url: str, seconds: float, headers: dict[str, str], server_pid: int) -> WrkResult:
    argv = ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s"]
    argv += ["--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    before = cpu_by_process(server_pid)
    done = subprocess.run([*argv, url], capture_output=True, text=True, check=False)
    used = {p: t - before.get(p, 0.0) for p, t in cpu_by_process(server_pid).items()}
    cpu = sum(used.values())
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    result = parse_wrk(done.stdout)
    result.cpu_us_per_request = cpu / max(result.requests, 1) * 1e6
    workers = sorted((t for p, t in used.items() if p != server_pid), reverse=True)
    result.worker_shares = [t / cpu for t in workers] if cpu else []
    return result


@dataclass
class Target:
    label: str
    url: str
    headers: dict[str, str]
    pid: int
    bare: bool = False


def check_target(target: Target) -> None:
    """One request first: the route must answer 200 with these headers, or nothing is timed."""
    response = httpx.get(target.url, headers=target.headers, timeout=10)
    if response.status_code != 200:
        raise RuntimeError(
            f"{target.label}: {response.status_code} before the load, not 200: {response.text}"
        )


# -- seeding -------------------------------------------------------------------------------
@dataclass
class Seeded:
    sku: str
    staff_token: str
    customer_token: str
    order_id: str


def seed(rt: Runtime, base: str) -> Seeded:
    """20 products with stock, a staff and a customer account, and one order over HTTP; then
    wait until every read model the routes use has caught up with it."""
    prices = {f"QRY-{i:03d}": 500 + i for i in range(20)}
    harness.seed_products(
        rt.store,
        (
            Stocked(
                sku,
                cents,
                1000,
                name=f"Query bench product {sku}",
                description="A product for the query benchmark",
                category="bench",
                tags=("bench", "query"),
                note="bench stock",
            )
            for sku, cents in prices.items()
        ),
    )
    accounts = [("staff@bench.example", "staff"), ("shopper@bench.example", "customer")]
    harness.open_accounts(rt.store, accounts, PASSWORD, rt.credentials)
    staff = login(base, "staff@bench.example", PASSWORD)
    customer = login(base, "shopper@bench.example", PASSWORD)
    sku = "QRY-007"
    response = httpx.post(
        f"{base}/v1/orders",
        headers={"Authorization": f"Bearer {customer}", "Idempotency-Key": uuid.uuid4().hex},
        json=harness.order_body([(sku, 2, prices[sku])]),
        timeout=30,
    )
    if response.status_code != 201:
        raise RuntimeError(f"placing the order: {response.status_code} {response.text}")
    order_id: str = response.json()["order_id"]
    head = rt.store.head()
    for path, token in (
        (f"/v1/products/{sku}", None),
        (f"/v1/inventory/{sku}", staff),
        (f"/v1/orders/{order_id}", customer),
    ):
        headers = {"Authorization": f"Bearer {token}"} if token else None
        caught = read_until_caught_up(base + path, head, headers)
        if caught.status_code != 200:
            raise RuntimeError(f"{path} did not catch up: {caught.status_code} {caught.text}")
    return Seeded(sku, staff, customer, order_id)


# -- the report ----------------------------------------------------------------------------
def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"wrk\s+(\S+)", done.stdout + done.stderr)
    return found.group(1) if found else "?"


@dataclass
class Servers:
    rt: Runtime
    tillroll: Served
    bare: Served


@contextlib.contextmanager
def servers(settings: Settings, workers: int) -> Iterator[Servers]:
    """The runtime (for seeding), tillroll serve and the bare app; all stopped on the way out."""
    with contextlib.ExitStack() as stack:
        rt = Runtime.open(settings)
        stack.callback(rt.close)
        served = stack.enter_context(harness.tillroll_serve(settings, workers))
        port = harness.free_port()
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve-bare", "--port", str(port)]
        argv += ["--workers", str(workers)]
        bare = stack.enter_context(
            harness.child_server(argv, port, "/constant", harness.clean_env())
        )
        yield Servers(rt, served, bare)


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--seconds", type=float, default=10.0, help="per route (default 10)")
    parser.add_argument("--workers", type=int, default=1, help="API processes (default 1)")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        return serve_bare(args.port, args.workers)
    if shutil.which("wrk") is None:
        print("bench_queries: wrk is not on the PATH (apt-get install wrk)", file=sys.stderr)
        return 2

    rows: list[tuple[Target, WrkResult]] = []
    with (
        harness.bench_settings("qry", args) as settings,
        servers(settings, args.workers) as up,
    ):
        base, pid = up.tillroll.base, up.tillroll.pid
        bare_base, bare_pid = up.bare.base, up.bare.pid
        seeded = seed(up.rt, base)
        staff = {"Authorization": f"Bearer {seeded.staff_token}"}
        customer = {"Authorization": f"Bearer {seeded.customer_token}"}
        targets = [
            Target("bare Litestar route (async)", f"{bare_base}/constant", {}, bare_pid, True),
            Target("*bare route, sync_to_thread*", f"{bare_base}/constant-sync", {}, bare_pid),
            Target("*tillroll `GET /health`*", f"{base}/health", {}, pid),
            Target("`GET /v1/products/{sku}` (card)", f"{base}/v1/products/{seeded.sku}", {}, pid),
            Target(
                "`GET /v1/inventory/{sku}` (stock, staff)",
                f"{base}/v1/inventory/{seeded.sku}",
                staff,
                pid,
            ),
            Target(
                "`GET /v1/orders/{id}` (order, owner)",
                f"{base}/v1/orders/{seeded.order_id}",
                customer,
                pid,
            ),
        ]
        for target in targets:
            check_target(target)
            run_wrk(target.url, 1, target.headers, target.pid)  # warm-up
            result = run_wrk(target.url, args.seconds, target.headers, target.pid)
            rows.append((target, result))
            print(
                f"{target.label}: {result.rate:,.0f} req/s  p50 {result.p50:.2f} ms"
                f"  p99 {result.p99:.2f} ms  errors {result.errors}",
                file=sys.stderr,
            )

    bare = next(result for target, result in rows if target.bare)
    split = args.workers > 1
    errors = sum(result.errors for _, result in rows)
    command = f"python tests/bench/bench_queries.py --seconds {args.seconds:g}" + (
        f" --workers {args.workers}" if args.workers != 1 else ""
    )
    lines = [
        harness.heading("Queries"),
        "",
        f"`{command}` — {harness.machine()},"
        f" {harness.server_stack()}, {args.workers} API worker(s) for both apps; wrk {wrk_version()}"
        f" `-t{THREADS} -c{CONNECTIONS} -d{max(1, round(args.seconds))}s --latency`, one route"
        " at a time, on the same cores as the servers. Server CPU is the serving processes'"
        " user + system time over the run ÷ requests.",
        "",
        "| route | req/s | p50 ms | p99 ms | ÷ bare req/s | server CPU µs/req | errors |"
        + (" CPU split between the workers |" if split else ""),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |" + (" ---: |" if split else ""),
    ]
    for target, result in rows:
        shares = " / ".join(f"{share:.0%}" for share in result.worker_shares[: args.workers])
        lines.append(
            f"| {target.label} | {result.rate:,.0f} | {result.p50:.2f} | {result.p99:.2f} |"
            f" {result.rate / bare.rate:.2f} | {result.cpu_us_per_request:,.0f} |"
            f" {result.errors} |" + (f" {shares} |" if split else "")
        )
    lines.append("")
    table = "\n".join(lines)
    harness.publish(HEADING, table, not (args.no_write or errors))
    if errors:
        print(
            f"bench_queries: {errors} non-2xx responses or socket errors under load; these"
            " figures are not valid and were not written",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
