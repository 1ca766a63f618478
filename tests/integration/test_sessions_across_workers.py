"""Refresh-token rotation and reuse detection hold across processes: two `tillroll serve
--workers 2` servers on one database, every request on a new connection, tokens used on
the other server than the one that issued them. Sessions live in PostgreSQL, not memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tillroll.infra.embedded import EmbeddedServers

from tests.conftest import (
    DEMO_PASSWORD,
    fresh_settings,
    open_accounts,
    serving,
)
from tillroll.bootstrap import Runtime


@pytest.fixture(scope="module")
def two_servers(
    servers: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Started once for the module's tests, both at once (start-up DDL takes turns)."""
    runtime = Runtime.open(fresh_settings(servers, tmp_path_factory.mktemp("sessions")))
    open_accounts(runtime)
    try:
        with serving(runtime.settings, 2, "--workers", "2") as (one, two):
            yield one, two
    finally:
        runtime.close()


def post(base: str, path: str, body: dict[str, Any]) -> httpx.Response:
    # A new connection each time: the kernel picks either worker of that server.
    return httpx.post(f"{base}{path}", json=body, headers={"Connection": "close"}, timeout=30)


def test_rotation_and_reuse_detection_hold_across_servers_and_workers(
    two_servers: tuple[str, str],
) -> None:
    a, b = two_servers
    login = post(a, "/v1/auth/login", {"email": "customer@example.com", "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    tokens = [login.json()["refresh_token"]]
    for i in range(6):  # rotate alternately on each server: each sees the others' rotations
        response = post((b, a)[i % 2], "/v1/auth/refresh", {"refresh_token": tokens[-1]})
        assert response.status_code == 200, response.text
        tokens.append(response.json()["refresh_token"])
    for base in (a, b):  # every rotated token is dead on both servers
        assert post(base, "/v1/auth/refresh", {"refresh_token": tokens[2]}).status_code == 401
    # That reuse revoked the family: the newest token is dead too, wherever it is sent.
    for base in (a, b):
        assert post(base, "/v1/auth/refresh", {"refresh_token": tokens[-1]}).status_code == 401
    # Another login is a new family and works.
    again = post(b, "/v1/auth/login", {"email": "customer@example.com", "password": DEMO_PASSWORD})
    fresh = post(a, "/v1/auth/refresh", {"refresh_token": again.json()["refresh_token"]})
    assert fresh.status_code == 200, fresh.text


def test_logout_on_one_server_ends_the_session_on_the_other(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    login = post(a, "/v1/auth/login", {"email": "customer@example.com", "password": DEMO_PASSWORD})
    token = login.json()["refresh_token"]
    assert post(b, "/v1/auth/logout", {"refresh_token": token}).status_code == 204
    assert post(a, "/v1/auth/refresh", {"refresh_token": token}).status_code == 401
