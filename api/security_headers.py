"""Security headers on every answer, errors and 404s included.

A `before_send` hook (not Litestar's `response_headers` or a middleware, which the answers
of routing errors and authentication failures bypass): it adds a few constant headers to
`http.response.start` and costs a list append.
- `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`:
  an API's answers are never to be sniffed into HTML, framed, or leak their URL onward.
- `Cache-Control: no-store` on the answer to any request that carried credentials (an
  `Authorization` header or a cookie), unless the route set its own: a shared cache must never
  keep one customer's order for the next.
- `Strict-Transport-Security` only when the request came over TLS (the scheme uvicorn
  reports, which honours `X-Forwarded-Proto` from trusted proxies): sent over plain HTTP it
  would be ignored, and sent by a development server it would pin a browser to HTTPS."""

from __future__ import annotations

from typing import Any

from litestar.types import Message, Scope

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
]
NO_STORE = (b"cache-control", b"no-store")
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def _credentialed(scope: Scope) -> bool:
    return any(name in (b"authorization", b"cookie") for name, _ in scope.get("headers", ()))


async def security_headers(message: Message, scope: Scope) -> None:
    """Litestar `before_send` hook: it sees the start of every answer the app sends, those of
    routing errors and authentication failures included, which route middleware does not."""
    if message["type"] != "http.response.start":
        return
    headers: list[Any] = list(message.get("headers", ()))
    if _credentialed(scope) and not any(name.lower() == b"cache-control" for name, _ in headers):
        headers.append(NO_STORE)
    headers.extend(ALWAYS)
    if scope.get("scheme") == "https":
        headers.append(HSTS)
    message["headers"] = headers  # type: ignore[typeddict-unknown-key]
