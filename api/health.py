"""Liveness, readiness (PostgreSQL, Redis, projection lag) and the /docs shortcut."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

import anyio
import msgspec
from litestar import Controller, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.response import Redirect
from tillroll.api.payments import payments_mode
from tillroll.queries.read_side import ReadSide


@runtime_checkable
class LogHead(Protocol):
    """What readiness needs of the event store: where the log ends, and when the first
    event a read model has not applied yet was recorded."""

    def head(self) -> int: ...

    def read(self, after: int, limit: int, *, topics: Sequence[str] = ()) -> Sequence[Any]: ...

    def decode(self, notification: Any) -> Any: ...


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


class Lag(msgspec.Struct):
    events: dict[str, int]
    seconds: dict[str, float]


def _lags(read: ReadSide, log: LogHead, head: int) -> Lag:
    """Each read model's lag in events and in seconds (the age of the oldest event of its
    topics it has not applied); -1 where its store does not answer."""
    lag = Lag({}, {})
    now = datetime.now(UTC)
    for name in read.names():
        try:
            position = read.position(name)
            lag.events[name] = max(0, head - position)
            pending = log.read(position, 1, topics=read.topics(name)) if position < head else ()
            written = log.decode(pending[0]).timestamp if pending else now
            lag.seconds[name] = round(max(0.0, (now - written).total_seconds()), 3)
        except Exception:
            lag.events[name] = -1
            lag.seconds[name] = -1.0
    return lag


class Readiness(msgspec.Struct):
    status: str
    postgres: Check
    redis: Check
    head: int
    lag: dict[str, int]
    """Events each read model has still to apply."""
    lag_seconds: dict[str, float] = {}
    """Age of the oldest event each read model has still to apply (0: caught up)."""
    max_lag_seconds: float = 0.0
    """Past this lag (TILLROLL_READY_MAX_LAG) a read model makes the process not ready."""
    payments: str = ""
    """'stripe', or 'test-mode ...' when the built-in provider stands in for Stripe."""


async def readiness(
    store: LogHead, read: ReadSide, payments: Any, max_lag_seconds: float = 30.0
) -> Readiness:
    """PostgreSQL and Redis probed (each within a second) and every read model's lag, in
    events and in seconds: what /ready answers and the ops console shows. Not ready when a
    dependency is down or a read model lags more than `max_lag_seconds` behind the log."""
    lag = Lag({}, {})
    lag_check = Check(True)
    postgres, head = await _probe(store.head)
    redis_check, _ = await _probe(read.redis.ping)
    if postgres.ok and redis_check.ok:
        lag_check, lags = await _probe(lambda: _lags(read, store, head))
        lag = lags or lag
    ok = (
        postgres.ok
        and redis_check.ok
        and lag_check.ok
        and all(0 <= behind <= max_lag_seconds for behind in lag.seconds.values())
    )
    return Readiness(
        "ready" if ok else "not ready",
        postgres,
        redis_check,
        head or 0,
        lag.events,
        lag.seconds,
        max_lag_seconds,
        payments_mode(payments),
    )


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
        state: State,
    ) -> Response[Readiness]:
        """Readiness: PostgreSQL and Redis answer (each within a second) and no read model
        lags more than TILLROLL_READY_MAX_LAG seconds (30 by default) behind the log. A
        stalled dependency is named, not waited for; the lags are in the body."""
        limit = float(state.get("ready_max_lag", 30.0))
        body = await readiness(store, read, payments, limit)
        return Response(body, status_code=200 if body.status == "ready" else 503)

    @get("/docs", include_in_schema=False)
    async def docs(self) -> Redirect:
        return Redirect("/schema/swagger")

    @get("/", include_in_schema=False)
    async def root(self) -> dict[str, Any]:
        return {"name": "tillroll", "docs": "/docs", "openapi": "/schema/openapi.json"}
