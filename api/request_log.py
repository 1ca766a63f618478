"""Request ids and the access log.

Every request gets an id: the client's `X-Request-ID` when it is a sane one (1-128 of
A-Z a-z 0-9 . _ -), else a new one. It is bound to the logging context (structlog's
contextvars, which anyio carries into handler threads) so that every log line written while
the request runs names it, it goes into the metadata of every event the request's command
records (api/requests.py), and it is returned in `X-Request-ID` on every answer, errors and
404s included (a `before_send` hook, which sees those too). One access log line per request
(logger `tillroll.access`: method, route template, status, duration, request id); set that
logger's level to WARNING to turn it off."""

from __future__ import annotations

import logging
import re
import time
from typing import Any
from uuid import uuid4

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "tillroll.request_id"
HEADER = b"x-request-id"
_SANE = re.compile(rb"[A-Za-z0-9._-]{1,128}")
access = logging.getLogger("tillroll.access")


def _from_client(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == HEADER:
            return value.decode() if _SANE.fullmatch(value) else None
    return None


def request_id_of(scope: Any) -> str:
    """This request's id (made on first use when the middleware did not run)."""
    found = scope.get(SCOPE_KEY)
    if found is None:
        found = scope[SCOPE_KEY] = _from_client(scope) or uuid4().hex
    return found


def request_context(app: ASGIApp) -> ASGIApp:
    """Route middleware: the request's id in the logging context, and its access line."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, send_status)
        finally:
            if access.isEnabledFor(logging.INFO):
                access.info(
                    "%s %s %s %.1f ms",
                    scope["method"],
                    scope.get("path_template") or scope["path"],
                    status,
                    (time.perf_counter() - started) * 1000,
                    extra={
                        "method": scope["method"],
                        "route": scope.get("path_template") or scope["path"],
                        "status": status,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    },
                )
            structlog.contextvars.reset_contextvars(**tokens)

    return middleware


async def request_id_header(message: Message, scope: Scope) -> None:
    """`before_send` hook: X-Request-ID on every answer."""
    if message["type"] == "http.response.start":
        headers = list(message.get("headers", ()))
        headers.append((HEADER, request_id_of(scope).encode()))
        message["headers"] = headers  # type: ignore[typeddict-unknown-key]
