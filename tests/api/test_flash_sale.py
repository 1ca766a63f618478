"""A flash sale over real HTTP: one SKU with 1,000 units, 2,000 buyers at once. Exactly the
stock is sold, nobody gets a unit that is not there, every loser is told 409, and the read
models end equal to the aggregate.

It drives a real `tillroll serve` (a child process, as a user runs it: uvicorn, its thread
pool, the read models wherever the default runs them) over sockets, 64 buyers in flight at
a time, rather than Litestar's test client: the test client runs the app on one portal
thread inside the test's own process, so it would share the GIL with the load and could
not show what the serving stack does under real concurrency (a 5xx from a saturated pool,
a keep-alive race). The servers are the session's embedded PostgreSQL and valkey (the same
code path as the embedded default; only the URLs differ), so the child starts in seconds.

The buyers' bearer tokens are minted with the server's own secret, one per buyer: opening
2,000 accounts would cost ~50 ms of password hashing each, and a customer's orders need
only the token's subject and role.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar.security.jwt import Token
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.infra.settings import Settings

from tests.conftest import serving
from tests.integration.workload import ADDRESS, create_product
from tillroll.bootstrap import Runtime

SKU = "FLASH-1"
UNITS = 1_000
BUYERS = 2_000
IN_FLIGHT = 64
CENTS = 1999


def mint(settings: Settings, role: str) -> str:
    """A bearer token as POST /v1/auth/login would issue it (HS256 on the server's secret)."""
    assert settings.jwt_secret
    token = Token(
        sub=str(uuid.uuid4()),
        exp=datetime.now(UTC) + timedelta(minutes=10),
        extras={"role": role, "email": f"{role}@example.com"},
    )
    return token.encode(settings.jwt_secret, "HS256")


@pytest.fixture
def served(runtime: Runtime) -> Iterator[str]:
    """`tillroll serve` (the default configuration) on this test's schemas and key prefix."""
    with serving(runtime.settings) as (base,):
        yield base


async def buy_all(base: str, tokens: list[str]) -> list[tuple[int, str]]:
    """Every buyer posts one order for one unit; IN_FLIGHT at a time. (status, body)."""
    body = {
        "lines": [{"sku": SKU, "quantity": 1, "unit_price": {"amount": CENTS, "currency": "EUR"}}],
        "shipping_address": {
            "name": ADDRESS.name,
            "line1": ADDRESS.line1,
            "city": ADDRESS.city,
            "postal_code": ADDRESS.postal_code,
            "country": ADDRESS.country,
        },
    }
    gate = asyncio.Semaphore(IN_FLIGHT)
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=IN_FLIGHT)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

        async def buy(token: str) -> tuple[int, str]:
            # As a real client does: a dropped connection (a keep-alive connection closed by
            # the server as it was reused, seen under load as httpx.ReadError) is retried
            # with the same Idempotency-Key, so the retry can never buy a second unit.
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
            async with gate:
                for attempt in range(3):
                    try:
                        response = await client.post("/v1/orders", json=body, headers=headers)
                    except httpx.TransportError:
                        if attempt == 2:
                            raise
                        continue
                    return response.status_code, response.text
            raise AssertionError("unreachable")

        return await asyncio.gather(*(buy(token) for token in tokens))


def read_when_caught_up(base: str, path: str, position: int, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(
            base + path, params={"min_position": position}, headers=headers, timeout=30
        )
        if response.status_code != 503 or time.monotonic() > deadline:
            assert response.status_code == 200, response.text
            return response.json()


def test_a_flash_sale_sells_exactly_the_stock_and_tells_every_loser_409(
    runtime: Runtime, served: str
) -> None:
    create_product(runtime.store, SKU, CENTS, UNITS)
    tokens = [mint(runtime.settings, "customer") for _ in range(BUYERS)]

    outcomes = asyncio.run(buy_all(served, tokens))

    statuses = Counter(status for status, _ in outcomes)
    assert statuses == {201: UNITS, 409: BUYERS - UNITS}, (
        statuses,
        [text for status, text in outcomes if status not in (201, 409)][:3],
    )
    assert all("stock" in text.lower() for status, text in outcomes if status == 409)
    item = runtime.store.get(InventoryItem.create_id(SKU))
    assert (item.on_hand, item.reserved, item.available) == (UNITS, UNITS, 0)
    assert len(item.reservations) == UNITS

    head = runtime.store.head()
    staff = mint(runtime.settings, "staff")
    level = read_when_caught_up(served, f"/v1/inventory/{SKU}", head, staff)
    card = read_when_caught_up(served, f"/v1/products/{SKU}", head, None)
    assert (level["on_hand"], level["reserved"], level["available"]) == (UNITS, UNITS, 0)
    assert (card["available"], card["in_stock"]) == (0, False)
