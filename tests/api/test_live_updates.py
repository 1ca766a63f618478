"""Server-Sent Events over real HTTP (uvicorn in a thread, one per module's test): a customer
follows their own order status changes and nothing of anyone else's; a reconnect with
Last-Event-ID replays what happened meanwhile; a product's stream shows available stock."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from tillroll.commands.bus import dispatch
from tillroll.commands.context import SYSTEM
from tillroll.commands.identity import OpenAccount

from tests.api.conftest import ADDRESS
from tests.conftest import DEMO_PASSWORD, free_port, open_accounts
from tillroll.bootstrap import Runtime, http_app

PRICE = {"amount": 900, "currency": "EUR"}


@pytest.fixture
def base(runtime: Runtime) -> Iterator[str]:
    """The app served by uvicorn on a free port (streams last 20 s here)."""
    open_accounts(runtime)
    dispatch(
        OpenAccount("other@example.com", "Other", "customer", DEMO_PASSWORD),
        runtime.command_context(SYSTEM),
    )
    runtime.settings = dataclasses.replace(runtime.settings, live_stream_seconds=20.0)
    port = free_port()
    config = uvicorn.Config(
        http_app(runtime, run_projections=True),
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def login(base: str, email: str) -> dict[str, str]:
    body = {"email": email, "password": DEMO_PASSWORD}
    token = httpx.post(f"{base}/v1/auth/login", json=body).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def place(base: str, headers: dict[str, str], sku: str, quantity: int = 1) -> str:
    body = {
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": PRICE}],
        "shipping_address": ADDRESS,
    }
    response = httpx.post(f"{base}/v1/orders", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return str(response.json()["order_id"])


def cancel(base: str, headers: dict[str, str], order_id: str) -> None:
    response = httpx.post(
        f"{base}/v1/orders/{order_id}/cancel", json={"reason": "changed mind"}, headers=headers
    )
    assert response.status_code == 200, response.text


class Events:
    """Reads one SSE response event by event (blocking, with the client's read timeout)."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        self.lines = response.iter_lines()

    def next(self) -> dict[str, Any]:
        """The next event or comment block, as {'id', 'event', 'data', 'comment'}."""
        found: dict[str, Any] = {}
        for line in self.lines:
            if not line:
                if found:
                    return found
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            found[name or "comment"] = json.loads(value) if name == "data" else value
        raise AssertionError("the stream ended")

    def until(self, done: Any) -> list[dict[str, Any]]:
        seen = []
        while not seen or not done(seen[-1]):
            seen.append(self.next())
        return seen


def test_a_customer_follows_own_orders_only_and_a_reconnect_replays(base: str) -> None:
    staff, mine, theirs = (
        login(base, email)
        for email in ("staff@example.com", "customer@example.com", "other@example.com")
    )
    product = {"sku": "LIVE-1", "name": "Live", "price": PRICE}
    assert httpx.post(f"{base}/v1/products", json=product, headers=staff).status_code == 201
    receipt = httpx.post(
        f"{base}/v1/inventory/LIVE-1/receipts", json={"quantity": 10}, headers=staff
    )
    assert receipt.status_code == 201
    timeout = httpx.Timeout(10.0)
    with (
        httpx.Client(timeout=timeout) as client,
        client.stream("GET", f"{base}/v1/me/orders/events", headers=mine) as orders,
        client.stream("GET", f"{base}/v1/products/LIVE-1/stock/events") as stock,
    ):
        events = Events(orders)
        assert events.next()["comment"] == "following"  # subscribed: what follows is live
        stock_events = Events(stock)
        assert stock_events.next()["comment"] == "following"
        assert stock_events.next()["data"] == {"sku": "LIVE-1", "available": 10}

        other_order = place(base, theirs, "LIVE-1")
        order_id = place(base, mine, "LIVE-1", 3)
        cancel(base, theirs, other_order)
        cancel(base, mine, order_id)
        seen = events.until(lambda e: e.get("data", {}).get("status") == "cancelled")
        updates = [e for e in seen if e.get("event") == "order"]
        assert [(e["data"]["order_id"], e["data"]["status"]) for e in updates] == [
            (order_id, "placed"),
            (order_id, "cancelled"),
        ]
        last_id = updates[-1]["id"]
        # available: 10, then 9 and 6 reserved, then given back (each in log order)
        stock_seen = stock_events.until(lambda e: e.get("data", {}).get("available") == 10)
        available = [e["data"]["available"] for e in stock_seen if e.get("event") == "stock"]
        assert available[0] in (9, 7) and available[-1] == 10

    # Disconnected: an order is placed and cancelled meanwhile.
    missed = place(base, mine, "LIVE-1")
    cancel(base, mine, missed)
    with (
        httpx.Client(timeout=timeout) as client,
        client.stream(
            "GET", f"{base}/v1/me/orders/events", headers={**mine, "Last-Event-ID": last_id}
        ) as orders,
    ):
        replayed = Events(orders).until(lambda e: e.get("data", {}).get("status") == "cancelled")
    updates = [e for e in replayed if e.get("event") == "order"]
    assert [(e["data"]["order_id"], e["data"]["status"]) for e in updates] == [
        (missed, "placed"),
        (missed, "cancelled"),
    ]
    assert all(int(e["id"].split("-")[0]) > int(last_id.split("-")[0]) for e in updates)
