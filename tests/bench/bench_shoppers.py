"""Concurrent shoppers against `tillroll serve`, each with an account of its own: think for
about a second, then browse (70 %), look at the cart (20 %) or check out (10 %), for a fixed
time. Per-route latency and errors, then two checks that the shop stayed right under the
load: no SKU was oversold, and every stock read model equals its aggregate.

    python tests/bench/bench_shoppers.py --shoppers 400 --seconds 60 [--workers N]
    python tests/bench/bench_shoppers.py --quick      # 50 shoppers, 10 s, nothing written

`tillroll serve` (with `--workers`) runs in a child process over servers of its own
(embedded unless URLs are given); the shoppers run in this process on one asyncio loop, on
the same cores, with a keep-alive connection each (tests/bench/lean_client.py: plain HTTP/1.1
on asyncio streams, on uvloop when installed: ~160 µs of CPU a request with the shoppers'
own logic, measured at 684 requests/s, where the httpx generator took 0.6 of a core), and
the report gives the generator's own CPU next to the server's.

- **Accounts.** There is no registration route yet, so the customers are opened before the
  clock starts through the commands layer (`OpenAccount`, what `tillroll users create`
  runs) on the same database, and each logs in over HTTP (`POST /v1/auth/login`).
- **Browse** — a catalog search (`GET /v1/products` with a word, a category, a tag or a
  price bound, and a sort), then the card of one result (`GET /v1/products/{sku}`): the
  shopper now considers that SKU at the card's price.
- **Cart** — there are no cart routes yet (`/v1/carts` is in the contract, not in the API),
  so a cart step reads the stock level and the product card of the 1-3 SKUs the shopper is
  considering. The stock level route is staff-only: the cart step reads it with a staff
  token, as a cart service would on the shopper's behalf.
- **Checkout** — `POST /v1/orders` for 1-3 considered SKUs (1-2 units each, at the card's
  price) with an `Idempotency-Key`, then `GET /v1/orders/{id}?min_position=<position>`.
  Two SKUs have little stock, so some checkouts are refused with `409 Insufficient stock`:
  an expected business outcome, counted apart. Errors are 5xx, timeouts, connection errors,
  any other 4xx and a read that does not show the order just placed.

At the end: every InventoryItem's events are replayed from the event store and available
must be >= 0 after every one of them (never oversold); on hand must equal what was received
and reserved what the shoppers were sold; then, once the read models have caught up with the
head of the log, `GET /v1/inventory/{sku}` and the product card's `available` must equal the
aggregate for every SKU. Not part of the test suite. Prints the table and the checks and
appends them, with this command, to docs/BENCHMARKS.md under "## 400 shoppers" (unless
--no-write or --quick).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import psutil
from harness import Stocked, cpu_seconds
from lean_client import LeanClient, LeanResponse
from tillroll.aggregates.inventory.item import InventoryItem

from tillroll.bootstrap import Runtime

try:
    import uvloop

    LOOP = "uvloop"
    run_loop: Any = uvloop.run
except ImportError:  # the generator's loop only: the server's is uvicorn's choice
    LOOP = "asyncio"
    run_loop = asyncio.run

HEADING = "## 400 shoppers"
PASSWORD = "shopper-password"
SKUS = 60
LOW_STOCK = {"SHOP-007": 12, "SHOP-042": 12}
PLENTY = 100_000
TIMEOUT = 10.0
COLOURS = ["red", "blue", "green", "black", "white", "oak", "steel", "linen"]
THINGS = ["mug", "tee", "notebook", "bottle", "cap", "scarf", "lamp", "bag"]
CATEGORIES = ["kitchen", "apparel", "stationery", "outdoor", "home"]
TAGS = ["gift", "cotton", "recycled", "handmade", "sale", "new"]
OUT_OF_STOCK_TYPE = "insufficient-stock"

SEARCH = "GET /v1/products"
CARD = "GET /v1/products/{sku}"
STOCK = "GET /v1/inventory/{sku}"
PLACE = "POST /v1/orders"
ORDER = "GET /v1/orders/{id}?min_position"
ROUTES = [SEARCH, CARD, STOCK, PLACE, ORDER]


# -- the shop ------------------------------------------------------------------------------
def catalog() -> list[Stocked]:
    rng = random.Random(7)
    products = []
    for i in range(SKUS):
        sku = f"SHOP-{i:03d}"
        name = f"{rng.choice(COLOURS).title()} {rng.choice(THINGS)} {i}"
        products.append(
            Stocked(
                sku=sku,
                name=name,
                category=rng.choice(CATEGORIES),
                tags=tuple(rng.sample(TAGS, rng.randint(1, 2))),
                cents=rng.randrange(500, 5000, 10),
                stock=LOW_STOCK.get(sku, PLENTY),
                description=f"{name}, from the shoppers benchmark",
                note="bench opening stock",
            )
        )
    return products


def seed_shop(rt: Runtime, products: list[Stocked], shoppers: int) -> list[str]:
    """Products with stock, one staff account and a customer account per shopper."""
    harness.seed_products(rt.store, products)
    emails = [f"shopper{i:04d}@bench.example" for i in range(shoppers)]
    accounts = [("staff@bench.example", "staff")] + [(e, "customer") for e in emails]
    harness.open_accounts(rt.store, accounts, PASSWORD, rt.credentials)
    return emails


def log_in(base: str, emails: list[str]) -> list[str]:
    """A token for each account, four logins at a time (a password check costs ~50 ms)."""
    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(lambda email: harness.login(base, email, PASSWORD), emails))


# -- measuring -----------------------------------------------------------------------------
@dataclass
class RouteStats:
    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    out_of_stock: int = 0
    errors: Counter[str] = field(default_factory=Counter)


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Run:
    staff: dict[str, str]
    prices: dict[str, int]
    stop_at: float = 0.0
    routes: dict[str, RouteStats] = field(default_factory=lambda: defaultdict(RouteStats))
    actions: Counter[str] = field(default_factory=Counter)
    sold: Counter[str] = field(default_factory=Counter)
    placed: int = 0
    refused: int = 0
    unanswered: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)

    def error(self, route: str, kind: str, detail: str) -> None:
        self.routes[route].errors[kind] += 1
        self.samples.setdefault(f"{route} {kind}", detail[:300])

    async def call(
        self,
        client: LeanClient,
        route: str,
        method: str,
        url: str,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> LeanResponse | None:
        """One request; the response if it is a 2xx or an out-of-stock 409, else None (and
        the error counted against the route)."""
        stats = self.routes[route]
        stats.requests += 1
        started = time.perf_counter()
        try:
            response = await client.request(method, url, headers=headers, **kwargs)
        except TimeoutError as exc:
            self.unanswered[route] += 1
            self.error(route, "timeout", repr(exc))
            return None
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            self.unanswered[route] += 1
            self.error(route, type(exc).__name__, repr(exc))
            return None
        stats.latencies.append((time.perf_counter() - started) * 1000)
        if response.is_success:
            return response
        if route == PLACE and response.status_code == 409 and is_out_of_stock(response):
            stats.out_of_stock += 1
            return response
        self.error(route, str(response.status_code), response.text)
        return None


def is_out_of_stock(response: LeanResponse) -> bool:
    try:
        return str(response.json().get("type", "")).endswith("/" + OUT_OF_STOCK_TYPE)
    except ValueError:
        return False


async def loop_lag(stop_at: float, lags: list[float]) -> None:
    """How late the event loop wakes up: if this grows, the load generator is saturated and
    its latencies include its own queueing."""
    while time.perf_counter() < stop_at:
        before = time.perf_counter()
        await asyncio.sleep(0.05)
        lags.append((time.perf_counter() - before - 0.05) * 1000)


# -- a shopper -----------------------------------------------------------------------------
class Shopper:
    def __init__(self, run: Run, client: LeanClient, token: str, seed: int) -> None:
        self.run = run
        self.client = client
        self.auth = {"Authorization": f"Bearer {token}"}
        self.rng = random.Random(seed)
        self.considering: dict[str, int] = {}  # sku -> price on the card the shopper saw

    async def live(self) -> None:
        while True:
            await asyncio.sleep(self.rng.uniform(0.5, 1.5))
            if time.perf_counter() >= self.run.stop_at:
                return
            roll = self.rng.random()
            if roll < 0.7:
                self.run.actions["browse"] += 1
                await self.browse()
            elif roll < 0.9:
                self.run.actions["cart"] += 1
                await self.cart()
            else:
                self.run.actions["checkout"] += 1
                await self.checkout()

    async def call(self, route: str, method: str, url: str, **kwargs: Any) -> LeanResponse | None:
        return await self.run.call(self.client, route, method, url, **kwargs)

    def consider(self, sku: str, cents: int) -> None:
        self.considering.pop(sku, None)
        self.considering[sku] = cents
        while len(self.considering) > 3:
            del self.considering[next(iter(self.considering))]

    def picks(self) -> list[str]:
        """1-3 SKUs: the ones being considered, topped up from the catalog."""
        want = self.rng.randint(1, 3)
        skus = list(self.considering)[-want:]
        while len(skus) < want:
            sku = self.rng.choice(list(self.run.prices))
            if sku not in skus:
                skus.append(sku)
        return skus

    def search_params(self) -> dict[str, str]:
        rng = self.rng
        params = {"sort": rng.choice(["sku", "price", "-price", "name", "newest"])}
        kind = rng.randrange(5)
        if kind == 0:
            params["q"] = rng.choice(COLOURS + THINGS)
        elif kind == 1:
            params["category"] = rng.choice(CATEGORIES)
        elif kind == 2:
            params["tag"] = rng.choice(TAGS)
        elif kind == 3:
            params["max_price"] = str(rng.randrange(1000, 5000, 500))
            params["in_stock"] = "true"
        params["limit"] = str(rng.choice([10, 20]))
        return params

    async def card(self, sku: str) -> None:
        response = await self.call(CARD, "GET", f"/v1/products/{sku}")
        if response is not None:
            self.consider(sku, response.json()["price"]["amount"])

    async def browse(self) -> None:
        response = await self.call(SEARCH, "GET", "/v1/products", params=self.search_params())
        if response is None:
            return
        items = response.json()["items"]
        if items:
            await self.card(self.rng.choice(items)["sku"])

    async def cart(self) -> None:
        for sku in self.picks():
            await self.call(STOCK, "GET", f"/v1/inventory/{sku}", headers=self.run.staff)
            await self.card(sku)

    async def checkout(self) -> None:
        run = self.run
        lines = [
            (sku, self.rng.randint(1, 2), self.considering.get(sku, run.prices[sku]))
            for sku in self.picks()
        ]
        body = harness.order_body(lines)
        headers = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
        response = await self.call(PLACE, "POST", "/v1/orders", headers=headers, json=body)
        self.considering.clear()
        if response is None:
            return
        if response.status_code == 409:
            run.refused += 1
            return
        placed = response.json()
        run.placed += 1
        for sku, quantity, _ in lines:
            run.sold[sku] += quantity
        order = await self.call(
            ORDER,
            "GET",
            f"/v1/orders/{placed['order_id']}",
            headers=self.auth,
            params={"min_position": placed["position"]},
        )
        if order is None:
            return
        view = order.json()
        total = sum(q * c for _, q, c in lines)
        if view["status"] != "placed" or view["total"]["amount"] != total:
            run.error(ORDER, "wrong order", order.text)


# -- the end-of-run checks -----------------------------------------------------------------
@dataclass
class StockCheck:
    sku: str
    events: int
    on_hand: int
    reserved: int
    min_available: int
    problems: list[str]


def check_stock(rt: Runtime, product: Stocked, sold: int, exact: bool) -> StockCheck:
    """Replay the SKU's InventoryItem event by event: available must never fall below 0,
    reserved must equal the reservations held; the end state must match what was received
    and sold, and the repository's copy (snapshot + events) must match the replay."""
    item_id = InventoryItem.create_id(product.sku)
    item: Any = None
    events, min_available, problems = 0, product.stock, []
    for event in rt.store.app.events.get(item_id):
        item = event.mutate(item)
        events += 1
        min_available = min(min_available, item.available)
        if item.reserved != sum(item.reservations.values()):
            problems.append(f"version {item.version}: reserved != the reservations held")
    assert item is not None, f"no stock item for {product.sku}"
    if min_available < 0:
        problems.append(f"oversold: available fell to {min_available}")
    if item.on_hand != product.stock:
        problems.append(f"on hand {item.on_hand}, received {product.stock}")
    if item.reserved > item.on_hand:
        problems.append(f"reserved {item.reserved} > on hand {item.on_hand}")
    if item.reserved < sold or (exact and item.reserved != sold):
        problems.append(f"reserved {item.reserved}, orders answered 201 hold {sold}")
    stored = rt.store.get(item_id)
    if (stored.version, stored.on_hand, stored.reserved) != (
        item.version,
        item.on_hand,
        item.reserved,
    ):
        problems.append("the repository's copy differs from the replayed events")
    return StockCheck(product.sku, events, item.on_hand, item.reserved, min_available, problems)


async def check_read_models(
    client: LeanClient, staff: dict[str, str], checks: list[StockCheck], head: int
) -> tuple[list[str], float]:
    """Each SKU's stock level and card, read once they have reached the head of the log,
    must show the aggregate's figures. Returns the differences and the seconds waited."""
    started = time.perf_counter()

    async def caught_up(url: str, headers: dict[str, str] | None) -> LeanResponse:
        deadline = time.monotonic() + 60
        while True:
            response = await client.get(url, headers=headers, params={"min_position": head})
            if response.status_code != 503 or time.monotonic() > deadline:
                return response
            await asyncio.sleep(0.2)

    differences = []
    for check in checks:
        level = await caught_up(f"/v1/inventory/{check.sku}", staff)
        card = await caught_up(f"/v1/products/{check.sku}", None)
        if level.status_code != 200 or card.status_code != 200:
            differences.append(f"{check.sku}: {level.status_code} / {card.status_code}")
            continue
        want = {
            "on_hand": check.on_hand,
            "reserved": check.reserved,
            "available": check.on_hand - check.reserved,
        }
        got = {k: level.json()[k] for k in want}
        if got != want:
            differences.append(f"{check.sku}: stock_levels {got}, aggregate {want}")
        if card.json()["available"] != want["available"]:
            differences.append(
                f"{check.sku}: product card available {card.json()['available']},"
                f" aggregate {want['available']}"
            )
    return differences, time.perf_counter() - started


# -- the run -------------------------------------------------------------------------------
@dataclass
class Outcome:
    run: Run
    seconds: float
    lags: list[float]
    server_cores: float
    client_cores: float
    machine_busy: float
    checks: list[StockCheck]
    differences: list[str]
    catch_up_seconds: float
    head: int


async def shop(
    rt: Runtime,
    base: str,
    server_pid: int,
    products: list[Stocked],
    emails: list[str],
    seconds: float,
) -> Outcome:
    async with contextlib.AsyncExitStack() as stack:
        clients = [LeanClient(base, TIMEOUT) for _ in range(len(emails) + 1)]
        for one in clients:
            stack.push_async_callback(one.aclose)
        client = clients[-1]
        print(f"logging {len(emails)} shoppers in ...", file=sys.stderr)
        tokens = await asyncio.to_thread(log_in, base, ["staff@bench.example", *emails])
        run = Run(
            staff={"Authorization": f"Bearer {tokens[0]}"},
            prices={p.sku: p.cents for p in products},
        )
        shoppers = [Shopper(run, clients[i], token, i) for i, token in enumerate(tokens[1:])]
        print(f"{len(shoppers)} shoppers shopping for {seconds:g} s ...", file=sys.stderr)
        me = psutil.Process()
        server_cpu, client_cpu = cpu_seconds(server_pid), sum(me.cpu_times()[:2])
        machine = psutil.cpu_times()
        began = time.perf_counter()
        run.stop_at = began + seconds
        lags: list[float] = []
        monitor = asyncio.create_task(loop_lag(run.stop_at, lags))
        await asyncio.gather(*(s.live() for s in shoppers))
        elapsed = time.perf_counter() - began
        await monitor
        server_cores = (cpu_seconds(server_pid) - server_cpu) / elapsed
        client_cores = (sum(me.cpu_times()[:2]) - client_cpu) / elapsed
        now = psutil.cpu_times()
        idle = (now.idle + now.iowait) - (machine.idle + machine.iowait)
        busy = 1 - idle / (sum(now) - sum(machine))

        print("checking stock and read models ...", file=sys.stderr)
        # A checkout with no answer (or a 5xx) may have been placed: reserved >= sold then.
        exact = run.unanswered[PLACE] == 0 and not any(
            k.startswith("5") for k in run.routes[PLACE].errors
        )
        checks = [check_stock(rt, p, run.sold[p.sku], exact) for p in products]
        head = rt.store.head()
        differences, waited = await check_read_models(client, run.staff, checks, head)
    return Outcome(
        run, elapsed, lags, server_cores, client_cores, busy, checks, differences, waited, head
    )


def report(outcome: Outcome, command: str, shoppers: int, workers: int) -> str:
    run, seconds = outcome.run, outcome.seconds
    total = sum(s.requests for s in run.routes.values())
    errors = sum(sum(s.errors.values()) for s in run.routes.values())
    oversold = [c for c in outcome.checks if c.problems]
    low = ", ".join(
        f"{c.sku} {c.reserved}/{c.on_hand} reserved, min available {c.min_available}"
        for c in outcome.checks
        if c.sku in LOW_STOCK
    )
    lines = [
        harness.heading(f"{shoppers} shoppers, {seconds:.0f} s"),
        "",
        f"`{command}` — {harness.machine()},"
        f" {harness.server_stack()}, {workers} API worker(s); the shoppers (one {LOOP} loop, a"
        " keep-alive connection each, tests/bench/lean_client.py) run on the same cores: server"
        f" {outcome.server_cores:.2f} cores, load generator"
        f" {outcome.client_cores:.2f} cores, all cores {outcome.machine_busy:.0%} busy,"
        f" the generator's event-loop lag p99 {pct(outcome.lags, 99):.0f} ms."
        f" {SKUS} SKUs ({len(LOW_STOCK)} with {min(LOW_STOCK.values())} units), think time"
        " 0.5-1.5 s; actions: "
        + ", ".join(f"{k} {run.actions[k]:,}" for k in ("browse", "cart", "checkout"))
        + f". Checkouts: {run.placed:,} placed, {run.refused:,} refused out of stock (409,"
        " expected). There are no cart routes yet: a cart step reads the stock level (staff"
        " token, as a cart service would) and the card of the 1-3 SKUs being considered.",
        "",
        f"**{total:,} requests, {total / seconds:,.0f} requests/s, {errors:,} errors.**",
        "",
        "| route | requests | req/s | p50 ms | p95 ms | p99 ms | 409 out of stock | errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for route in ROUTES:
        s = run.routes[route]
        kinds = ", ".join(f"{k}: {n}" for k, n in s.errors.most_common())
        lines.append(
            f"| `{route}` | {s.requests:,} | {s.requests / seconds:,.1f} |"
            f" {pct(s.latencies, 50):.1f} | {pct(s.latencies, 95):.1f} |"
            f" {pct(s.latencies, 99):.1f} | {s.out_of_stock:,} |"
            f" {sum(s.errors.values()):,}{f' ({kinds})' if kinds else ''} |"
        )
    lines += [
        "",
        "- **Oversold:** "
        + (
            f"none — every event of all {len(outcome.checks)} stock items replayed,"
            " available never below 0, reserved = the reservations held, on hand = received,"
            " reserved = units in orders answered 201"
            + ("" if run.unanswered[PLACE] == 0 else " (or more: some went unanswered)")
            + f"; the repository's copies match the replay. Low-stock SKUs: {low}."
            if not oversold
            else "FAILED — " + "; ".join(f"{c.sku}: {', '.join(c.problems)}" for c in oversold)
        ),
        "- **Read models = aggregates:** "
        + (
            f"yes — `GET /v1/inventory/{{sku}}` and the product card's `available` for all"
            f" {len(outcome.checks)} SKUs at the head of the log (position {outcome.head}),"
            f" caught up and read in {outcome.catch_up_seconds:.1f} s."
            if not outcome.differences
            else f"NO, {len(outcome.differences)} differences: "
            + "; ".join(outcome.differences[:10])
        ),
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = harness.parser(__doc__)
    parser.add_argument("--shoppers", type=int, default=400, help="(default 400)")
    parser.add_argument("--seconds", type=float, default=60.0, help="(default 60)")
    parser.add_argument("--workers", type=int, default=1, help="API processes (default 1)")
    parser.add_argument("--quick", action="store_true", help="50 shoppers, 10 s, no write")
    args = parser.parse_args()
    shoppers, seconds = (50, 10.0) if args.quick else (args.shoppers, args.seconds)

    products = catalog()
    with contextlib.ExitStack() as stack:
        rt = stack.enter_context(harness.bench_runtime("shop", args))
        print(f"seeding {SKUS} products and {shoppers} accounts ...", file=sys.stderr)
        emails = seed_shop(rt, products, shoppers)
        # Outside the data directory, which the harness removes at the end.
        log_path = Path(tempfile.gettempdir()) / f"tillroll-shoppers-serve-{os.getpid()}.log"
        log = stack.enter_context(log_path.open("wb"))
        server = stack.enter_context(harness.tillroll_serve(rt.settings, args.workers, log))
        outcome = run_loop(shop(rt, server.base, server.pid, products, emails, seconds))

    command = "python tests/bench/bench_shoppers.py" + (
        " --quick"
        if args.quick
        else f" --shoppers {shoppers} --seconds {seconds:g}"
        + (f" --workers {args.workers}" if args.workers != 1 else "")
    )
    text = report(outcome, command, shoppers, args.workers)
    harness.publish(HEADING, text, not (args.no_write or args.quick))
    for kind, sample in outcome.run.samples.items():
        print(f"first {kind}: {sample}", file=sys.stderr)
    logged = [
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if "ERROR" in line or "Traceback" in line
    ]
    print(f"server log {log_path}: {len(logged)} ERROR/Traceback lines", file=sys.stderr)
    for line in logged[:5]:
        print(f"  {line}", file=sys.stderr)
    failed = any(c.problems for c in outcome.checks) or bool(outcome.differences)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
