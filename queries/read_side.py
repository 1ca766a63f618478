"""What every query needs: the read stores, the read models' names, and read-your-writes."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Protocol, TypeVar

import msgspec
import redis
from tillroll.projections.engine import catalogue
from tillroll.projections.engine.live_builds import LiveBuilds
from tillroll.projections.engine.model import RedisProjection, SqlProjection

T = TypeVar("T")


class ReadModelBehind(Exception):
    """The read model has not reached the position the caller asked for."""

    def __init__(self, name: str, position: int, wanted: int) -> None:
        super().__init__(f"read model {name} is at position {position}, not yet {wanted}")
        self.name = name
        self.position = position
        self.wanted = wanted


class BadCursor(ValueError):
    pass


class LogOrder(Protocol):
    def reached(self, position: int, wanted: int) -> bool:
        """Has a reader at `position` read the event at `wanted`?"""
        ...


@dataclass(frozen=True)
class RedisRead(Generic[T]):
    """One read of a Redis read model, split so it can run on a blocking or an asyncio
    client: `plan` names the commands for the live build (method name and arguments),
    `parse` turns their replies into the answer."""

    model: str
    plan: Callable[[Any], list[tuple[str, tuple[Any, ...]]]]
    parse: Callable[[list[Any]], T | None]


POSITION_TTL = 0.05
"""How long the asyncio path reuses a read model's position for the response header. A
position read earlier is still true ("at least this far"), only less recent."""


@dataclass
class ReadSide:
    redis: redis.Redis
    sql_pool: Any
    live: LiveBuilds
    log: LogOrder
    wait_seconds: float = 2.0
    aredis: Any = None
    """An asyncio client, bound to the serving event loop by the app's lifespan."""
    _positions: dict[str, tuple[float, int]] = field(default_factory=dict)

    def run(self, query: RedisRead[T], min_position: int | None = None) -> tuple[int, T | None]:
        """(the model's position, the answer), after waiting for min_position if given.
        The position is read before the answer, in one pipelined round trip."""
        if min_position:
            self.wait_for(query.model, min_position)
        projection = self.redis_model(query.model)
        with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(projection.position_key)
            for method, args in query.plan(projection):
                getattr(pipe, method)(*args)
            position, *replies = pipe.execute()
        return int(position or 0), query.parse(replies)

    async def arun(self, query: RedisRead[T]) -> tuple[int, T | None]:
        """`run` without min_position, on the asyncio client: no thread; one command, or
        one pipeline; the position at most POSITION_TTL old."""
        # The live-build cache refreshes from PostgreSQL once a second: not on the loop.
        projection = self.live.cached(query.model) or await asyncio.to_thread(
            self.redis_model, query.model
        )
        position = await self._recent_position(projection)
        commands = query.plan(projection)
        if len(commands) == 1:
            method, args = commands[0]
            replies = [await getattr(self.aredis, method)(*args)]
        else:
            async with self.aredis.pipeline(transaction=False) as pipe:
                for method, args in commands:
                    getattr(pipe, method)(*args)
                replies = await pipe.execute()
        return position, query.parse(replies)

    async def _recent_position(self, projection: Any) -> int:
        now = time.monotonic()
        cached = self._positions.get(projection.position_key)
        if cached is not None and now - cached[0] < POSITION_TTL:
            return cached[1]
        position = int(await self.aredis.get(projection.position_key) or 0)
        self._positions[projection.position_key] = (now, position)
        return position

    def redis_model(self, name: str) -> Any:
        projection = self.live.get(name)
        assert isinstance(projection, RedisProjection)
        return projection

    def sql_model(self, name: str) -> Any:
        projection = self.live.get(name)
        assert isinstance(projection, SqlProjection)
        return projection

    def names(self) -> list[str]:
        return list(self.live.classes)

    def topics(self, name: str) -> list[str]:
        """The event topics a read model follows."""
        return list(self.live.classes[name].topics())

    def position(self, name: str) -> int:
        projection = self.live.get(name)
        if isinstance(projection, RedisProjection):
            return int(self.redis.get(projection.position_key) or 0)
        with self.sql_pool.connection() as conn:
            return catalogue.position(conn, name, projection.build)

    def wait_for(self, name: str, min_position: int | None) -> int:
        """Block until the read model has processed min_position (bounded); return its position."""
        position = self.position(name)
        if not min_position or self.log.reached(position, min_position):
            return position
        deadline = time.monotonic() + self.wait_seconds
        delay = 0.002
        while time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            position = self.position(name)
            if self.log.reached(position, min_position):
                return position
        raise ReadModelBehind(name, position, min_position)


class Page(msgspec.Struct):
    items: list[Any]
    next_cursor: str | None


def position_page(
    read: ReadSide,
    table: str,
    columns: str,
    sku: str,
    limit: int,
    cursor: str | None,
    make: Callable[[tuple[Any, ...]], Any],
) -> Page:
    """One page of a per-SKU history table keyed by log position (first column selected)."""
    after = decode_cursor(cursor, PositionCursor)[0] if cursor else 0
    with read.sql_pool.connection() as conn:
        rows = conn.execute(
            f"SELECT position, {columns} FROM {table}"
            " WHERE sku = %s AND position > %s ORDER BY position LIMIT %s",
            (sku, after, limit + 1),
        ).fetchall()
    items = [make(row) for row in rows[:limit]]
    next_cursor = encode_cursor([rows[limit - 1][0]]) if len(rows) > limit else None
    return Page(items=items, next_cursor=next_cursor)


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(values)).decode().rstrip("=")


Position = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
PositionCursor = tuple[Position]
"""A cursor of pages keyed by log position."""


def decode_cursor(cursor: str, shape: Any) -> Any:
    """The values a cursor carries, decoded into `shape` (a tuple type): a cursor that was
    edited into other types, lengths or ranges is a BadCursor (400), never a query error."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return msgspec.json.decode(raw, type=shape, strict=True)
    except (ValueError, msgspec.DecodeError):
        raise BadCursor("cursor is not one this API returned") from None
