"""One table from errors to RFC 9457 problem+json responses. Nothing a client sends is a 500."""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.exceptions import ValidationException as LitestarValidation
from tillroll.aggregates.errors import (
    BadSignature,
    Conflict,
    DomainError,
    NotFound,
    RuleViolation,
    Unauthorized,
)
from tillroll.queries.read_side import BadCursor, ReadModelBehind

log = logging.getLogger(__name__)

PROBLEM = "application/problem+json"
TYPE_BASE = "https://tillroll.dev/problems/"

# domain error class -> HTTP status; the most specific class listed first wins.
STATUS_OF: list[tuple[type[DomainError], int]] = [
    (BadSignature, 400),
    (Unauthorized, 401),
    (NotFound, 404),
    (Conflict, 409),
    (RuleViolation, 422),
    (DomainError, 422),
]


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def problem(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> Response[dict[str, Any]]:
    body = {"type": TYPE_BASE + _slug(title), "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return Response(body, status_code=status, media_type=PROBLEM, headers=headers)


def domain_error(_: Request, exc: DomainError) -> Response[dict[str, Any]]:
    status = next(code for cls, code in STATUS_OF if isinstance(exc, cls))
    extra = {k: v for k, v in exc.extra.items() if k != "cause"}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem(status, exc.title, exc.detail, headers=headers, field=exc.field, **extra)


_AT = re.compile(r"at `\$\.?([^`]*)`")
# msgspec names a bad dict key "at `key` in `$.x`" and a bad dict value "at `$.x[...]`":
# both are the field x (which key it was is not in the message).
_KEY_IN = re.compile(r"at `key` in `\$\.?([^`]*)`")
_MISSING = re.compile(r"missing required field `([^`]*)`")


def _field_of(error: dict[str, Any]) -> str | None:
    message = str(error.get("message", ""))
    at = _KEY_IN.search(message) or _AT.search(message)
    path = at.group(1).replace("[...]", "") if at else ""
    missing = _MISSING.search(message)
    if missing:
        return f"{path}.{missing.group(1)}" if path else missing.group(1)
    if path:
        return path
    key = error.get("key")
    return str(key) if key and key != "data" else None


def validation_error(_: Request, exc: LitestarValidation) -> Response[dict[str, Any]]:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            errors.append({"field": _field_of(item), "message": item.get("message")})
    fields = [e["field"] for e in errors if e["field"]]
    detail = "; ".join(str(e["message"]) for e in errors) or str(exc.detail)
    return problem(
        400,
        "Invalid request",
        detail,
        field=fields[0] if fields else None,
        errors=errors or None,
    )


def http_error(_: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    headers = dict(exc.headers or {})
    if isinstance(exc, NotAuthorizedException):
        headers.setdefault("WWW-Authenticate", "Bearer")
        return problem(401, "Unauthorized", exc.detail or "missing or invalid token", headers)
    if isinstance(exc, PermissionDeniedException):
        return problem(403, "Forbidden", exc.detail or "your role may not do this", headers)
    if exc.status_code == 429 and "Retry-After" not in headers:
        # Litestar's rate limiter says when the window resets in RateLimit-Reset (seconds);
        # Retry-After is what clients and proxies honour.
        reset = {k.lower(): v for k, v in headers.items()}.get("ratelimit-reset", "1")
        headers["Retry-After"] = str(max(1, int(reset))) if str(reset).isdigit() else "1"
    title = {404: "Not found", 405: "Method not allowed", 429: "Too many requests"}.get(
        exc.status_code, "HTTP error"
    )
    return problem(exc.status_code, title, str(exc.detail), headers or None)


def read_model_behind(_: Request, exc: ReadModelBehind) -> Response[dict[str, Any]]:
    return problem(
        503,
        "Read model behind",
        str(exc),
        headers={"Retry-After": "1", "X-Read-Model-Position": str(exc.position)},
        read_model=exc.name,
        position=exc.position,
        min_position=exc.wanted,
    )


def bad_cursor(_: Request, exc: BadCursor) -> Response[dict[str, Any]]:
    return problem(400, "Invalid request", str(exc), field="cursor")


def unexpected(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "the server failed; the error was logged")


def dependency_down(_: Request, exc: Exception) -> Response[dict[str, Any]]:
    log.error("dependency unavailable: %s", exc)
    return problem(
        503,
        "Service unavailable",
        "a database is unavailable; nothing was changed",
        headers={"Retry-After": "2"},
    )


def exception_handlers() -> dict[Any, Any]:
    import psycopg
    import psycopg_pool
    import redis
    from eventsourcing.persistence import OperationalError

    return {
        DomainError: domain_error,
        LitestarValidation: validation_error,
        HTTPException: http_error,
        ReadModelBehind: read_model_behind,
        BadCursor: bad_cursor,
        psycopg.OperationalError: dependency_down,
        psycopg_pool.PoolTimeout: dependency_down,
        OperationalError: dependency_down,
        redis.ConnectionError: dependency_down,
        redis.TimeoutError: dependency_down,
        Exception: unexpected,
    }
