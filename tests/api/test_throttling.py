"""Throttling: failed logins per account and per address, and a per-client request limit,
counted in Redis so that every process of a shop shares them; both let requests through
when Redis is down rather than closing the API."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient
from tillroll.infra.settings import Settings

from tests.api.conftest import Shop, assert_problem
from tests.conftest import DEMO_PASSWORD, open_accounts
from tillroll.bootstrap import Runtime, http_app


def _login(client: TestClient[Any], password: str, email: str = "customer@example.com") -> Any:
    return client.post("/v1/auth/login", json={"email": email, "password": password})


def test_wrong_passwords_are_throttled_per_account_with_retry_after(shop: Shop) -> None:
    statuses = [_login(shop.client, "wrong-password").status_code for _ in range(12)]
    assert statuses[:10] == [401] * 10
    refused = _login(shop.client, "wrong-password")
    body = assert_problem(refused, 429)
    assert int(refused.headers["retry-after"]) > 0
    assert "too many" in body["detail"]
    # Throttled means refused before the password is checked: the right one is refused too.
    assert _login(shop.client, DEMO_PASSWORD).status_code == 429
    # Other accounts are not locked by it.
    assert _login(shop.client, DEMO_PASSWORD, "staff@example.com").status_code == 200


def test_a_success_clears_the_account_count(shop: Shop) -> None:
    for _ in range(3):
        for _ in range(9):
            assert _login(shop.client, "wrong-password").status_code == 401
        assert _login(shop.client, DEMO_PASSWORD).status_code == 200


def test_failures_across_accounts_are_throttled_per_address(shop: Shop) -> None:
    statuses = [
        _login(shop.client, "wrong-password", f"nobody{i}@example.com").status_code
        for i in range(51)
    ]
    assert statuses[:50] == [401] * 50
    assert statuses[50] == 429


@pytest.fixture
def limited(settings: Settings) -> Iterator[list[TestClient[Any]]]:
    """Two apps (as two --workers processes) on one Redis, limited to 5 requests a minute."""
    runtime = Runtime.open(dataclasses.replace(settings, rate_limit="5/minute"))
    open_accounts(runtime)
    try:
        with TestClient(http_app(runtime)) as one, TestClient(http_app(runtime)) as two:
            yield [one, two]
    finally:
        runtime.close()


def test_the_request_limit_is_shared_by_processes_and_spares_the_probes(
    limited: list[TestClient[Any]],
) -> None:
    one, two = limited
    statuses = [client.get("/v1/products").status_code for client in (one, two, one, two, one)]
    assert statuses == [200] * 5
    refused = two.get("/v1/products")
    assert_problem(refused, 429)
    assert "retry-after" in {k.lower() for k in refused.headers}
    assert one.get("/health").status_code == 200
    assert one.get("/metrics").status_code == 200
    # The console's once-a-second poll is not counted either (it asks for a login, not 429).
    assert one.get("/console/ops/live").status_code == 401
