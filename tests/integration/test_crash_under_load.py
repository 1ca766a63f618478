"""A power cut under load: `tillroll serve` (on its own embedded data directory), its
projection process and its PostgreSQL postmaster are killed with SIGKILL while client
threads place orders over HTTP; serve is started again on the same directory and the clients
go on, retrying every unanswered order with its Idempotency-Key. Afterwards every
acknowledged order is in the event log exactly once, no order is doubled, the stock's
reservations add up to the orders, and every read model equals a clean rebuild."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.infra.settings import Settings

from tests.conftest import DEMO_PASSWORD, ROOT, free_port, wait_healthy
from tests.integration.readmodels import clean_rebuild, dump
from tests.integration.test_cli_serve import _servers_of
from tillroll.bootstrap import Runtime

SKUS = ("CRASH-A", "CRASH-B")
STOCK = 100_000
CLIENTS = 3
BEFORE_KILL = 25
"""Orders acknowledged before the kill (so the crash lands mid-load, not at the start)."""
AFTER_RESTART = 25


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLROLL_")}
    env.update(
        TILLROLL_DATA_DIR=str(data_dir),
        TILLROLL_RATE_LIMIT="off",  # three clients from one address outrun 100/minute
        TILLROLL_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


@contextmanager
def serving(data_dir: Path, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`tillroll serve` on the embedded default (no job worker: nothing here needs one)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tillroll.cli", "serve", "--port", str(port), "--no-worker"],
        env=_env(data_dir),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base, timeout=90)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _kill_everything_but_valkey(proc: subprocess.Popen[bytes], data_dir: Path) -> None:
    """What a power cut does to the API, its projection process and the database at once
    (valkey is left running: serve adopts it on the next start)."""
    children = psutil.Process(proc.pid).children(recursive=True)
    postmaster = next(p for p in _servers_of(data_dir) if p.name() == "postgres")
    proc.kill()
    postmaster.kill()
    for child in children:
        if "valkey" not in child.name():
            child.kill()
    proc.wait(10)


class Shopper(threading.Thread):
    """Places orders one after another. An order whose answer never came (connection refused
    or reset, a 503) is sent again with the same Idempotency-Key until it is answered, as a
    frontend does; `acked` holds the order ids answered 201."""

    def __init__(self, base: list[str], token: str) -> None:
        super().__init__(daemon=True)
        self.base = base  # a one-item list: the restarted serve listens on another port
        self.token = token
        self.stop = threading.Event()
        self.acked: dict[str, str] = {}  # idempotency key -> order id
        self.refused: list[str] = []

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        body = {
            "lines": [
                {"sku": SKUS[0], "quantity": 1, "unit_price": {"amount": 1000, "currency": "EUR"}},
                {"sku": SKUS[1], "quantity": 2, "unit_price": {"amount": 1000, "currency": "EUR"}},
            ],
            "shipping_address": {
                "name": "Ada",
                "line1": "1 Main St",
                "city": "Berlin",
                "postal_code": "10115",
                "country": "DE",
            },
        }
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                key = uuid.uuid4().hex
                give_up = None
                while True:
                    try:
                        answer = client.post(
                            f"{self.base[0]}/v1/orders",
                            json=body,
                            headers={**headers, "Idempotency-Key": key},
                        )
                        if answer.status_code == 201:
                            self.acked[key] = answer.json()["order_id"]
                            break
                        if answer.status_code < 500:
                            self.refused.append(f"{answer.status_code} {answer.text}")
                            break
                    except httpx.HTTPError:
                        pass  # serve is down: the order's fate is unknown until retried
                    if self.stop.is_set():
                        # Stopping: finish the order in hand (bounded), do not start another.
                        give_up = give_up or time.monotonic() + 30
                        if time.monotonic() > give_up:
                            break
                    time.sleep(0.1)


def _login(base: str, email: str) -> str:
    answer = httpx.post(
        f"{base}/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _stock(base: str, staff: str) -> None:
    headers = {"Authorization": f"Bearer {staff}"}
    for sku in SKUS:
        product = {"sku": sku, "name": sku.title(), "price": {"amount": 1000, "currency": "EUR"}}
        assert httpx.post(f"{base}/v1/products", json=product, headers=headers).status_code == 201
        receipt = httpx.post(
            f"{base}/v1/inventory/{sku}/receipts", json={"quantity": STOCK}, headers=headers
        )
        assert receipt.status_code == 201, receipt.text


def _wait_acked(shoppers: list[Shopper], count: int, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while sum(len(s.acked) for s in shoppers) < count:
        refused = [r for s in shoppers for r in s.refused]
        assert not refused, refused[:3]
        assert time.monotonic() < deadline, f"fewer than {count} orders acknowledged"
        assert all(s.is_alive() for s in shoppers)
        time.sleep(0.05)


def _placed_orders(rt: Runtime) -> Counter[str]:
    """How many `Order.Placed` events each order id has in the log."""
    placed: Counter[str] = Counter()
    after = 0
    while True:
        page = rt.store.read(after, 1000)
        if not page:
            return placed
        for notification in page:
            if notification.topic.endswith("Order.Placed"):
                placed[str(notification.originator_id)] += 1
        after = page[-1].id


def _wait_caught_up(rt: Runtime, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while True:
        head = rt.store.head()
        behind = {
            p.NAME: rt.runner.position(p)
            for p in rt.runner.projections
            if rt.runner.position(p) < head
        }
        if not behind:
            return
        assert time.monotonic() < deadline, f"read models behind head {head}: {behind}"
        time.sleep(0.1)


def test_kill_9_of_serve_and_postgres_mid_load_loses_and_doubles_no_acknowledged_order(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "shop"
    log = tmp_path / "serve.log"
    base: list[str] = [""]
    shoppers: list[Shopper] = []
    try:
        with serving(data_dir, log) as (first, proc):
            base[0] = first
            _stock(first, _login(first, "staff@example.com"))
            token = _login(first, "customer@example.com")
            shoppers = [Shopper(base, token) for _ in range(CLIENTS)]
            for shopper in shoppers:
                shopper.start()
            _wait_acked(shoppers, BEFORE_KILL)
            _kill_everything_but_valkey(proc, data_dir)
        at_kill = sum(len(s.acked) for s in shoppers)

        # The same data directory again: serve waits for PostgreSQL's crash recovery and
        # adopts the valkey left running; the clients' retries reach it on its new port.
        with serving(data_dir, log) as (second, proc):
            base[0] = second
            _wait_acked(shoppers, at_kill + AFTER_RESTART)
            for shopper in shoppers:
                shopper.stop.set()
            for shopper in shoppers:
                shopper.join(40)
                assert not shopper.is_alive(), "a client could not finish its last order"

            rt = Runtime.open(Settings(data_dir=data_dir, demo=False))
            try:
                _wait_caught_up(rt)
                live = dump(rt)
                placed = _placed_orders(rt)
                items = [rt.store.get(InventoryItem.create_id(sku)) for sku in SKUS]
                rebuilt = clean_rebuild(rt.settings)
            finally:
                rt.close()
    finally:
        for shopper in shoppers:
            shopper.stop.set()

    acked = [order_id for s in shoppers for order_id in s.acked.values()]
    assert not [r for s in shoppers for r in s.refused], "orders refused"
    # Every acknowledged order is in the log exactly once, and the log holds no other order
    # (a retry with the same key that had become a second order would show up here).
    assert len(acked) == len(set(acked)) >= BEFORE_KILL + AFTER_RESTART
    assert {order_id: placed[order_id] for order_id in acked} == dict.fromkeys(acked, 1)
    assert set(placed) == set(acked)
    # Stock: every order reserved 1 of A and 2 of B, nothing else moved.
    assert [(item.on_hand, item.reserved) for item in items] == [
        (STOCK, len(acked)),
        (STOCK, 2 * len(acked)),
    ]
    assert live == rebuilt
    print(f"{len(acked)} orders acknowledged, {at_kill} before the kill")
