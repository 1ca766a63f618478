"""Per-request plumbing shared by the controllers: who is asking, idempotency, positions."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar
from uuid import uuid4

import msgspec
from litestar import Request, Response
from litestar.params import Parameter

from aggregates.errors import InvalidValue
from commands.bus import dispatch
from commands.context import CommandContext, Principal
from infra.eventstore import EventStore

T = TypeVar("T")

MinPosition = Annotated[
    int | None,
    Parameter(
        query="min_position",
        ge=0,
        description="Wait (bounded) until the read model has processed this log position.",
    ),
]
Limit = Annotated[int, Parameter(ge=1, le=100, description="Page size (1-100).")]
Cursor = Annotated[str | None, Parameter(max_length=512, description="Opaque cursor.")]
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY = 255


def request_id(request: Request) -> str:
    return request.headers.get("X-Request-ID") or uuid4().hex


def run_command(request: Request, store: EventStore, command: msgspec.Struct) -> Any:
    principal = request.user
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


def read_response(body: T, position: int) -> Response[T]:
    return Response(body, headers={"X-Read-Model-Position": str(position)})
