"""Liveness, readiness (PostgreSQL, Redis, projection lag) and the /docs shortcut."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.response import Redirect
from tillroll.api.payments import payments_mode
from tillroll.queries.read_side import ReadSide

MAX_READY_LAG = 1000


@runtime_checkable
class LogHead(Protocol):
    """What readiness needs of the event store: where the log ends."""

    def head(self) -> int: ...


class Check(msgspec.Struct):
    ok: bool
    detail: str = ""


class Readiness(msgspec.Struct):
    status: str
    postgres: Check
    redis: Check
    head: int
    lag: dict[str, int]
    payments: str = ""
    """'stripe', or 'test-mode ...' when the built-in provider stands in for Stripe."""


class HealthController(Controller):
    tags = ["health"]
    opt = {"public": True}

    @get("/health")
    async def health(self, payments: NamedDependency[Any]) -> Response[dict[str, str]]:
        """Liveness: the process answers. `X-Tillroll-Payments` says which payment provider
        runs (`test-mode ...` for the built-in one)."""
        return Response({"status": "ok"}, headers={"X-Tillroll-Payments": payments_mode(payments)})

    @get("/ready", sync_to_thread=True)
    def ready(
        self,
        store: NamedDependency[LogHead],
        read: NamedDependency[ReadSide],
        payments: NamedDependency[Any],
    ) -> Response[Readiness]:
        """Readiness: PostgreSQL and Redis answer and no read model is far behind."""
        head, lag = 0, {}
        try:
            head = store.head()
            postgres = Check(True)
        except Exception as exc:
            postgres = Check(False, type(exc).__name__)
        try:
            read.redis.ping()
            redis_check = Check(True)
        except Exception as exc:
            redis_check = Check(False, type(exc).__name__)
        if postgres.ok and redis_check.ok:
            for name in read.names():
                try:
                    lag[name] = max(0, head - read.position(name))
                except Exception:
                    lag[name] = -1
        ok = (
            postgres.ok
            and redis_check.ok
            and all(0 <= behind <= MAX_READY_LAG for behind in lag.values())
        )
        status = "ready" if ok else "not ready"
        body = Readiness(status, postgres, redis_check, head, lag, payments_mode(payments))
        return Response(body, status_code=200 if ok else 503)

    @get("/docs", include_in_schema=False)
    async def docs(self) -> Redirect:
        return Redirect("/schema/swagger")

    @get("/", include_in_schema=False)
    async def root(self) -> dict[str, Any]:
        return {"name": "tillroll", "docs": "/docs", "openapi": "/schema/openapi.json"}
