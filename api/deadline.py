"""A deadline on every answer: when PostgreSQL or Redis stalls, the client hears 503 with
`Retry-After` within the deadline instead of waiting as long as the stall lasts.

A stalled server (stopped, or a network partition) neither answers nor refuses: a query on an
open connection waits on its socket with no timeout the driver could enforce, and the
handler's thread cannot be cancelled. So the handler is not cancelled either: it keeps
running, detached, and whatever it answers later is dropped. Its command may still commit
when the server comes back; that is why the answer is 503 ("outcome unknown, retry"), and a
client that retries with the same `Idempotency-Key` gets the original result, never a second
order. Detached handlers hold their thread and pool connection until the server answers, so
a long outage fills the pools and the thread limiter; new requests then wait for those, and
meet the same deadline.

An answer that has started (a stream) is left alone: the deadline covers the wait before the
first byte."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import msgspec
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

_DETACHED: set[asyncio.Task[Any]] = set()
"""Handlers past their deadline, kept referenced until they finish."""


def _finished(task: asyncio.Task[Any]) -> None:
    _DETACHED.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.warning("a request finished after its deadline: %r", task.exception())


def _problem(seconds: float) -> tuple[Message, Message]:
    body = msgspec.json.encode(
        {
            "type": "https://tillroll.dev/problems/service-unavailable",
            "title": "Service unavailable",
            "status": 503,
            "detail": f"no answer within {seconds:g} s: a database is slow or unreachable; "
            "retry (with the same Idempotency-Key for a command)",
        }
    )
    start: Message = {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", b"2"),
        ],
    }
    return start, {"type": "http.response.body", "body": body, "more_body": False}


def deadline(seconds: float) -> Callable[[ASGIApp], ASGIApp]:
    """Route middleware: answer 503 when the handler has not started its answer in time."""

    def middleware_factory(app: ASGIApp) -> ASGIApp:
        if seconds <= 0:
            return app

        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            state = {"started": False, "expired": False}

            async def guarded_send(message: Message) -> None:
                if state["expired"]:
                    return
                if message["type"] == "http.response.start":
                    state["started"] = True
                await send(message)

            task = asyncio.ensure_future(app(scope, receive, guarded_send))
            done, _ = await asyncio.wait({task}, timeout=seconds)
            if done or state["started"]:
                await task
                return
            state["expired"] = True
            _DETACHED.add(task)
            task.add_done_callback(_finished)
            log.warning("no answer within %.1f s: %s %s", seconds, scope["method"], scope["path"])
            for message in _problem(seconds):
                await send(message)

        return middleware

    return middleware_factory
