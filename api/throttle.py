"""Throttling: a per-client request limit and a login throttle per account and per client
address, both counted in Redis (through Litestar's RedisStore and one INCR per count) so
that every `--workers` process shares the counts.

Both fail open: when Redis does not answer within a quarter of a second the request goes
through uncounted. A limiter is a guard against abuse, not a dependency; closing the whole
API because the counter store is down would turn a Redis outage into a full one (commands
need only PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from litestar.exceptions import TooManyRequestsException
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore
from litestar.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)
T = TypeVar("T")

PUBLIC_PROBES = ["/health", "/ready", "/metrics"]
"""Never limited: load balancers and scrapers poll these."""
UNLIMITED = {*PUBLIC_PROBES, "/console/ops/live"}
"""Not counted by the general request limit: the probes, and the console's ops view, which
polls once a second (60 of the default 100 a minute) and refuses anyone but ops."""


class FailOpenStore(Store):
    """Litestar's RedisStore, made on first use on the serving loop, whose failures and
    stalls (past `timeout`) read as "nothing stored" and "not stored"."""

    def __init__(self, make_client: Callable[[], Any], namespace: str, timeout: float = 0.25):
        self._make_client = make_client
        self._namespace = namespace
        self._timeout = timeout
        self._client: Any = None
        self._inner: RedisStore | None = None
        self._warned = 0.0

    def _store(self) -> RedisStore:
        if self._inner is None:
            self._client = self._make_client()
            self._inner = RedisStore(self._client, namespace=self._namespace)
        return self._inner

    async def _try(self, call: Callable[[RedisStore], Awaitable[T]], default: T) -> T:
        try:
            return await asyncio.wait_for(call(self._store()), self._timeout)
        except Exception as exc:
            now = time.monotonic()
            if now - self._warned > 10:  # one line per ten seconds, not one per request
                self._warned = now
                log.warning("throttling counts unavailable, letting requests through: %r", exc)
            return default

    async def set(
        self, key: str, value: str | bytes, expires_in: int | timedelta | None = None
    ) -> None:
        await self._try(lambda s: s.set(key, value, expires_in), None)

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        return await self._try(lambda s: s.get(key, renew_for), None)

    async def delete(self, key: str) -> None:
        await self._try(lambda s: s.delete(key), None)

    async def delete_all(self) -> None:
        await self._try(lambda s: s.delete_all(), None)

    async def exists(self, key: str) -> bool:
        return await self._try(lambda s: s.exists(key), False)

    async def expires_in(self, key: str) -> int | None:
        return await self._try(lambda s: s.expires_in(key), None)

    async def incr(self, key: str, window: int) -> int:
        """Count one more in a fixed window of `window` seconds (atomic: INCR, then EXPIRE
        on the first); 0 when Redis is unavailable."""

        async def count(_: RedisStore) -> int:
            name = f"{self._namespace}:{key}"  # RedisStore's own key for `key`
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, window, nx=True)
                value, _ = await pipe.execute()
            return int(value)

        return await self._try(count, 0)

    async def ttl(self, key: str) -> int:
        found = await self.expires_in(key)
        return max(1, found or 1)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = self._inner = None


SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def request_limit(rate: tuple[str, int], counts: FailOpenStore) -> Callable[[ASGIApp], ASGIApp]:
    """Route middleware: at most `rate` requests per client address in fixed windows,
    counted with one atomic INCR per request in Redis (shared by every process), 429 with
    Retry-After past it; the probes and /metrics are never limited.

    Not Litestar's RateLimitMiddleware, measured (tests/bench/bench_guards.py): it keeps a
    sliding log of every request's time in one JSON value per client, read and rewritten
    on each request (CPU and bytes grow with the limit: a card read went from 381 to 1,321
    µs of server CPU), and its read-then-write is not atomic between processes."""
    unit, limit = rate
    window = SECONDS[unit]

    def middleware_factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http" or scope["path"] in UNLIMITED:
                await app(scope, receive, send)
                return
            client = scope.get("client")
            now = int(time.time())
            start = now - now % window
            count = await counts.incr(f"rate:{client[0] if client else '-'}:{start}", window)
            if count > limit:
                retry = str(max(1, start + window - now))
                raise TooManyRequestsException(
                    f"more than {limit} requests per {unit}; try again later",
                    headers={"Retry-After": retry, "RateLimit-Limit": str(limit)},
                )
            await app(scope, receive, send)

        return middleware

    return middleware_factory


class LoginThrottle:
    """Failed logins counted per account and per client address in fixed windows; past a
    limit, logins are refused with 429 and Retry-After before the password is checked (the
    check costs ~50 ms of CPU on purpose, which a flood would turn against every other
    request). A success clears the account's count."""

    def __init__(
        self,
        store: FailOpenStore,
        *,
        per_account: int = 10,
        per_address: int = 50,
        window: int = 15 * 60,
    ) -> None:
        self.store = store
        self.per_account = per_account
        self.per_address = per_address
        self.window = window

    @staticmethod
    def _keys(email: str, address: str) -> tuple[str, str]:
        return f"login:account:{email.strip().lower()}", f"login:address:{address}"

    async def check(self, email: str, address: str) -> None:
        account, client = self._keys(email, address)
        for key, limit in ((account, self.per_account), (client, self.per_address)):
            count = await self.store.get(key)
            if count is not None and int(count) >= limit:
                retry = await self.store.ttl(key)
                raise TooManyRequestsException(
                    "too many failed logins; try again later",
                    headers={"Retry-After": str(retry)},
                )

    async def failed(self, email: str, address: str) -> None:
        for key in self._keys(email, address):
            await self.store.incr(key, self.window)

    async def succeeded(self, email: str, address: str) -> None:
        await self.store.delete(self._keys(email, address)[0])
