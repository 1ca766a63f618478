"""Per-request plumbing shared by the controllers: who is asking, idempotency, positions."""

from __future__ import annotations

import functools
import time
from typing import Annotated, Any, TypeVar
from uuid import uuid4

import anyio
import msgspec
from litestar import Request, Response
from litestar.exceptions import ValidationException
from litestar.params import QueryParameter
from tillroll.aggregates.errors import InvalidValue
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


_BODY_TYPES: dict[object, Any] = {}


def _body_type(handler: Any) -> Any:
    if handler not in _BODY_TYPES:
        field = handler.parsed_fn_signature.parameters.get("data")
        _BODY_TYPES[handler] = None if field is None else field.annotation
    return _BODY_TYPES[handler]


async def strict_body(request: Request) -> None:
    """Decode JSON bodies strictly before Litestar's own, lenient, conversion: "7" is not an
    integer and 1.0 is not a quantity. Errors name the field (see api.errors)."""
    body_type = _body_type(request.route_handler)
    if body_type is None:
        return
    raw = await request.body()
    if not raw:
        return  # Litestar answers a missing body itself
    try:
        msgspec.json.decode(raw, type=body_type, strict=True)
    except msgspec.ValidationError as exc:
        raise ValidationException(str(exc), extra=[{"message": str(exc), "key": "body"}]) from None
    except msgspec.DecodeError as exc:
        raise ValidationException(
            "the body is not valid JSON", extra=[{"message": str(exc), "key": "body"}]
        ) from None


def request_id(request: Request) -> str:
    return request.headers.get("X-Request-ID") or uuid4().hex


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
