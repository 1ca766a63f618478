"""Per-request plumbing shared by the controllers: who is asking, idempotency, positions."""

from __future__ import annotations

import functools
import re
import time
from typing import Annotated, Any, TypeVar

import anyio
import msgspec
from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from tillroll.aggregates.errors import InvalidValue
from tillroll.api.request_log import request_id_of
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ports import EventStorePort
from tillroll.queries.read_side import ReadModelBehind, ReadSide, RedisRead

T = TypeVar("T")

MinPosition = Annotated[
    int | None,
    QueryParameter(
        name="min_position",
        ge=0,
        description="Wait (bounded) until the read model has processed this log position.",
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size (1-100).")]
Cursor = Annotated[str | None, QueryParameter(max_length=512, description="Opaque cursor.")]
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY = 255


_BODY_TYPES: dict[object, tuple[Any, bool]] = {}


def _body_type(handler: Any) -> tuple[Any, bool]:
    """The body's type for a handler (None: it takes no body), and whether it may be left out."""
    if handler not in _BODY_TYPES:
        field = handler.parsed_fn_signature.parameters.get("data")
        if field is None:
            _BODY_TYPES[handler] = (None, True)
        else:
            _BODY_TYPES[handler] = (field.annotation, field.is_optional or field.has_default)
    return _BODY_TYPES[handler]


# C0 controls and DEL, except tab and newline: no text a shop keeps needs them, NUL cannot be
# stored in PostgreSQL text at all, and the others corrupt logs, CSV exports and e-mails.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
# How a JSON body can carry one: a \u00XX escape, a \b \f \r escape, or a raw DEL byte.
_CONTROL_IN_JSON = re.compile(rb"\\(?:u00[01][0-9a-fA-F]|u007[fF]|[bfr])|\x7f")


def _invalid(message: str, key: str) -> ValidationException:
    return ValidationException(message, extra=[{"message": message, "key": key}])


def _control_at(value: Any, path: str) -> str | None:
    """The path of the first text the decoded body keeps (a struct's fields, list items, map
    keys and values) that holds a control character; unknown fields were dropped already."""
    if isinstance(value, str):
        return path if _CONTROL.search(value) else None
    if isinstance(value, msgspec.Struct):
        for name in value.__struct_fields__:
            found = _control_at(getattr(value, name), f"{path}.{name}" if path else name)
            if found:
                return found
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            found = _control_at(key, path or "body") or _control_at(item, where)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _control_at(item, f"{path}[{i}]")
            if found:
                return found
    return None


def _check_query(request: Request) -> None:
    for name, value in request.query_params.items():
        if _CONTROL.search(value) or _CONTROL.search(name):
            raise InvalidValue(f"{name} must not contain control characters", field=name)


async def strict_body(request: Request) -> None:
    """Check what a client sends before Litestar's own, lenient, conversion: query parameters
    and the text a body keeps hold no control characters (a 422 naming the field), bodies decode
    strictly ("7" is not an integer and 1.0 is not a quantity), and a required body that is
    missing is named as such. Errors name the field (see api.errors)."""
    if request.scope.get("query_string"):
        _check_query(request)
    body_type, optional = _body_type(request.route_handler)
    if body_type is None:
        return
    raw = await request.body()
    if not raw.strip():
        if optional:
            return
        raise _invalid("this request needs a JSON body", "body")
    try:
        decoded = msgspec.json.decode(raw, type=body_type, strict=True)
    except msgspec.ValidationError as exc:
        raise _invalid(str(exc), "body") from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise _invalid(f"the body is not valid JSON: {exc}", "body") from None
    if _CONTROL_IN_JSON.search(raw):
        where = _control_at(decoded, "")
        if where is not None:
            raise InvalidValue(f"{where} must not contain control characters", field=where)


def request_id(request: Request) -> str:
    return request_id_of(request.scope)


def run_command(
    request: Request,
    store: EventStorePort,
    command: msgspec.Struct,
    principal: Principal | None = None,
) -> Any:
    """Run a command for the request's caller (or `principal`, on routes where the token is
    optional: api/carts.py)."""
    principal = principal or request.user
    assert isinstance(principal, Principal)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not 1 <= len(key) <= MAX_KEY:
        raise InvalidValue(f"must be 1-{MAX_KEY} characters", field=IDEMPOTENCY_HEADER)
    ctx = CommandContext(store, principal=principal, request_id=request_id(request))
    return dispatch(command, ctx, idempotency_key=key)


def command_response(result: Any, status_code: int = 200) -> Response[Any]:
    return Response(
        result, status_code=status_code, headers={"X-Log-Position": str(result.position)}
    )


async def read_redis(
    read: ReadSide, query: RedisRead[T], min_position: int | None
) -> tuple[int, T | None]:
    """A Redis read model's answer and position, on the event loop with the asyncio client
    (one pipelined round trip, no thread). With min_position it first waits, on the loop,
    for the read model's position to reach it; no thread is held while waiting."""
    if read.aredis is None:
        return await anyio.to_thread.run_sync(functools.partial(read.run, query, min_position))
    if not min_position:
        return await read.arun(query)
    position = await _wait_for_position(read, query.model, min_position)
    _, answer = await read.arun(query)  # read after the position: at least that new
    return position, answer


async def _wait_for_position(read: ReadSide, name: str, wanted: int) -> int:
    """ReadSide.wait_for, polling the position key with the asyncio client."""
    projection = read.live.cached(name) or await anyio.to_thread.run_sync(read.redis_model, name)
    deadline = time.monotonic() + read.wait_seconds
    delay, checked = 0.002, False
    while True:
        position = int(await read.aredis.get(projection.position_key) or 0)
        if position >= wanted:  # positions only grow: a plain comparison
            return position
        if not checked:  # behind: a position beyond the log's end is refused, not waited for
            await anyio.to_thread.run_sync(read.log.reached, position, wanted)
            checked = True
        if time.monotonic() >= deadline:
            raise ReadModelBehind(name, position, wanted)
        await anyio.sleep(delay)
        delay = min(delay * 2, 0.05)


def read_response(body: T, position: int) -> Response[T]:
    return Response(body, headers={"X-Read-Model-Position": str(position)})
