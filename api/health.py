"""Liveness, readiness (PostgreSQL, Redis, projection lag) and the /docs shortcut."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import anyio
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


PROBE_SECONDS = 1.0
"""How long readiness waits for each dependency: a stalled one is reported, not waited for."""


async def _probe(call: Callable[[], Any]) -> tuple[Check, Any]:
    """Run a blocking check in a thread, abandoned (left to finish alone) past PROBE_SECONDS."""
    try:
        with anyio.fail_after(PROBE_SECONDS):
            value = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
    except TimeoutError:
        return Check(False, f"no answer within {PROBE_SECONDS:g} s"), None
    except Exception as exc:
        return Check(False, type(exc).__name__), None
    return Check(True), value


def _lags(read: ReadSide, head: int) -> dict[str, int]:
    lag = {}
    for name in read.names():
        try:
            lag[name] = max(0, head - read.position(name))
        except Exception:
            lag[name] = -1
    return lag


class Readiness(msgspec.Struct):
    status: str
    postgres: Check
    redis: Check
    head: int
    lag: dict[str, int]
    payments: str = ""
    """'stripe', or 'test-mode ...' when the built-in provider stands in for Stripe."""


async def readiness(store: LogHead, read: ReadSide, payments: Any) -> Readiness:
    """PostgreSQL and Redis probed (each within a second) and every read model's lag: what
    /ready answers and the ops console shows."""
    lag: dict[str, int] = {}
    lag_check = Check(True)
    postgres, head = await _probe(store.head)
    redis_check, _ = await _probe(read.redis.ping)
    if postgres.ok and redis_check.ok:
        lag_check, lags = await _probe(lambda: _lags(read, head))
        lag = lags or {}
    ok = (
        postgres.ok
        and redis_check.ok
        and lag_check.ok
        and all(0 <= behind <= MAX_READY_LAG for behind in lag.values())
    )
    status = "ready" if ok else "not ready"
    return Readiness(status, postgres, redis_check, head or 0, lag, payments_mode(payments))


class HealthController(Controller):
    tags = ["health"]
    opt = {"public": True}

    @get("/health")
    async def health(self, payments: NamedDependency[Any]) -> Response[dict[str, str]]:
        """Liveness: the process answers. `X-Tillroll-Payments` says which payment provider
        runs (`test-mode ...` for the built-in one)."""
        return Response({"status": "ok"}, headers={"X-Tillroll-Payments": payments_mode(payments)})

    @get("/ready")
    async def ready(
        self,
        store: NamedDependency[LogHead],
        read: NamedDependency[ReadSide],
        payments: NamedDependency[Any],
    ) -> Response[Readiness]:
        """Readiness: PostgreSQL and Redis answer (each within a second) and no read model is
        far behind. A stalled dependency is named, not waited for."""
        body = await readiness(store, read, payments)
        return Response(body, status_code=200 if body.status == "ready" else 503)

    @get("/docs", include_in_schema=False)
    async def docs(self) -> Redirect:
        return Redirect("/schema/swagger")

    @get("/", include_in_schema=False)
    async def root(self) -> dict[str, Any]:
        return {"name": "tillroll", "docs": "/docs", "openapi": "/schema/openapi.json"}
