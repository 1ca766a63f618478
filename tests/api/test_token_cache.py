"""Each bearer token is verified once per process, and a cached verdict never outlives the
token: past its `exp` it is refused like any expired token."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import Token
from tillroll.api.auth import VerifiedTokens

from tests.api.conftest import Shop
from tillroll.bootstrap import Runtime


def _token(secret: str, role: str, lifetime: float) -> tuple[str, Token]:
    token = Token(
        sub=str(uuid.uuid4()),
        exp=datetime.now(UTC) + timedelta(seconds=lifetime),
        extras={"role": role, "email": f"{role}@example.com"},
    )
    return token.encode(secret, "HS256"), token


def test_a_cached_token_is_refused_once_it_has_expired(runtime: Runtime, shop: Shop) -> None:
    assert runtime.settings.jwt_secret
    encoded, token = _token(runtime.settings.jwt_secret, "staff", 2)
    headers = {"Authorization": f"Bearer {encoded}"}
    assert shop.client.get("/v1/inventory/NOPE", headers=headers).status_code == 404  # let in
    assert shop.client.get("/v1/inventory/NOPE", headers=headers).status_code == 404  # cached

    time.sleep(max(0.0, token.exp.timestamp() - time.time()) + 0.2)

    assert shop.client.get("/v1/inventory/NOPE", headers=headers).status_code == 401


def test_the_cache_holds_at_most_its_size_and_forgets_the_oldest_first() -> None:
    cache = VerifiedTokens(size=2)
    now = time.time()
    results = []
    for i in range(3):
        encoded, token = _token("s" * 32, "customer", 60)
        results.append((encoded, AuthenticationResult(user=i, auth=token)))
        cache.put(encoded, results[-1][1])

    assert len(cache) == 2
    assert cache.get(results[0][0], now) is None
    assert cache.get(results[2][0], now) is results[2][1]
    assert cache.get(results[2][0], now + 61) is None  # past exp
