"""A stalled PostgreSQL or valkey (SIGSTOP: the server neither answers nor refuses) never
hangs a request: what needs the stalled server answers 503 problem+json with Retry-After
within the deadline, what does not keeps answering, /ready names the server, everything
recovers on its own when it returns, and no acknowledged order is lost or doubled."""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import psycopg
import pytest
import redis
from litestar.testing import TestClient
from tillroll.infra.embedded import EmbeddedServers, start_embedded
from tillroll.infra.settings import Settings

from tests.api.conftest import Shop
from tests.conftest import open_accounts
from tillroll.bootstrap import Runtime, http_app

DEADLINE = 2.0
SLACK = 1.0  # a busy two-core machine's scheduling, on top of the deadline


@pytest.fixture
def own_servers(tmp_path: Path) -> Iterator[EmbeddedServers]:
    """Servers of this test's own: it stops them, so not the session's shared ones."""
    servers = start_embedded(tmp_path / "outage", need_postgres=True, need_redis=True)
    yield servers
    servers.stop()


@pytest.fixture
def shop(own_servers: EmbeddedServers, settings: Settings) -> Iterator[Shop]:
    assert own_servers.database_url and own_servers.redis_url
    settings = dataclasses.replace(
        settings,
        database_url=own_servers.database_url,
        redis_url=own_servers.redis_url,
        request_deadline_seconds=DEADLINE,
        read_wait_seconds=1.0,
    )
    runtime = Runtime.open(settings)
    try:
        open_accounts(runtime)
        with TestClient(http_app(runtime, run_projections=True)) as client:
            yield Shop(client)
    finally:
        runtime.close()


def _postgres_processes(url: str) -> list[psutil.Process]:
    with psycopg.connect(url) as conn:
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]  # type: ignore[index]
    postmaster = next(
        p for p in psutil.process_iter(["cmdline"]) if data_dir in " ".join(p.info["cmdline"] or [])
    )
    return [postmaster, *postmaster.children(recursive=True)]


def _valkey_processes(url: str) -> list[psutil.Process]:
    client = redis.Redis.from_url(url)
    try:
        return [psutil.Process(int(client.info("server")["process_id"]))]
    finally:
        client.close()


@contextmanager
def stopped(processes: list[psutil.Process], at_most: float = 30.0) -> Iterator[None]:
    """The processes stopped for the block, and never longer than `at_most` seconds: a request
    that hangs (the bug this file is about) fails the test instead of hanging it."""

    def resume() -> None:
        for process in processes:
            os.kill(process.pid, signal.SIGCONT)

    for process in processes:
        os.kill(process.pid, signal.SIGSTOP)
    safety = threading.Timer(at_most, resume)
    safety.start()
    try:
        yield
    finally:
        safety.cancel()
        resume()


def _timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def _unavailable(response: Any, took: float) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0
    assert took < DEADLINE + SLACK, took


def _order_body(sku: str) -> dict[str, Any]:
    from tests.api.conftest import ADDRESS

    line = {"sku": sku, "quantity": 1, "unit_price": {"amount": 1000, "currency": "EUR"}}
    return {"lines": [line], "shipping_address": ADDRESS}


def _recovers(call: Any, status: int, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        response = call()
        if response.status_code == status or time.monotonic() > deadline:
            assert response.status_code == status, response.text
            return response
        time.sleep(0.2)


def test_a_stalled_postgres_answers_503_in_time_and_recovers(
    shop: Shop, own_servers: EmbeddedServers
) -> None:
    shop.product("OUT-1", stock=100)
    acknowledged = [shop.order([("OUT-1", 1, 1000)]).json()["order_id"] for _ in range(3)]
    # The card must be in Redis before PostgreSQL stops (the read model may still be behind).
    card = _recovers(lambda: shop.get("/v1/products/OUT-1", min_position=0), 200)
    assert card.status_code == 200
    key = uuid.uuid4().hex

    assert own_servers.database_url
    with stopped(_postgres_processes(own_servers.database_url)):
        _unavailable(
            *_timed(
                lambda: shop.post(
                    "/v1/orders", "customer", _order_body("OUT-1"), **{"Idempotency-Key": key}
                )
            )
        )
        _unavailable(*_timed(lambda: shop.get("/v1/orders", "staff")))
        ready, took = _timed(lambda: shop.client.get("/ready"))
        assert ready.status_code == 503 and took < DEADLINE + SLACK
        assert ready.json()["postgres"]["ok"] is False
        assert ready.json()["redis"]["ok"] is True
        # What needs only Redis keeps answering.
        card, took = _timed(lambda: shop.get("/v1/products/OUT-1"))
        assert card.status_code == 200, (card.text, took)
        assert took < DEADLINE + SLACK
        assert shop.client.get("/health").status_code == 200

    _recovers(lambda: shop.client.get("/ready"), 200)
    retried = _recovers(
        lambda: shop.post(
            "/v1/orders", "customer", _order_body("OUT-1"), **{"Idempotency-Key": key}
        ),
        201,
    )
    again = shop.post("/v1/orders", "customer", _order_body("OUT-1"), **{"Idempotency-Key": key})
    assert again.json()["order_id"] == retried.json()["order_id"]
    listed = _recovers(
        lambda: shop.get("/v1/orders", "staff", min_position=again.json()["position"], limit=100),
        200,
    )
    ids = [item["order_id"] for item in listed.json()["items"]]
    assert sorted(ids) == sorted({*acknowledged, retried.json()["order_id"]})
    assert len(ids) == len(set(ids))


def test_a_stalled_valkey_answers_503_in_time_and_recovers(
    shop: Shop, own_servers: EmbeddedServers
) -> None:
    position = shop.product("OUT-2", stock=100)
    assert shop.get("/v1/products/OUT-2", min_position=position).status_code == 200

    assert own_servers.redis_url
    with stopped(_valkey_processes(own_servers.redis_url)):
        _unavailable(*_timed(lambda: shop.get("/v1/products/OUT-2")))
        ready, took = _timed(lambda: shop.client.get("/ready"))
        assert ready.status_code == 503 and took < DEADLINE + SLACK
        assert ready.json()["redis"]["ok"] is False
        # Commands need only PostgreSQL.
        placed, took = _timed(lambda: shop.order([("OUT-2", 1, 1000)]))
        assert placed.status_code == 201, placed.text

    _recovers(lambda: shop.client.get("/ready"), 200)
    card = _recovers(
        lambda: shop.get("/v1/products/OUT-2", min_position=placed.json()["position"]), 200
    )
    assert card.json()["available"] == 99


def test_metrics_and_ops_status_stay_readable_while_valkey_is_down(
    shop: Shop, own_servers: EmbeddedServers
) -> None:
    shop.product("OUT-3", stock=1)
    assert own_servers.redis_url
    for process in _valkey_processes(own_servers.redis_url):
        process.kill()
        process.wait(10)

    metrics, took = _timed(lambda: shop.client.get("/metrics"))
    assert metrics.status_code == 200 and took < DEADLINE + SLACK
    assert "tillroll_log_head" in metrics.text
    status = shop.get("/v1/ops/projections", "ops")
    assert status.status_code == 200, status.text
    states = {row["name"]: row["state"] for row in status.json()}
    assert states["product_cards"] == "unavailable"
    assert states["product_search"] != "unavailable"  # SQL read models still report
    assert "product_cards" in {row["name"] for row in status.json() if row["last_error"]}
    ready = shop.client.get("/ready")
    assert ready.status_code == 503 and ready.json()["redis"]["ok"] is False
