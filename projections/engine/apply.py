"""Applying one batch of the log to one build, with its position, atomically.

An SQL build writes its rows and its catalogue row in one transaction (the row locked FOR
UPDATE, so two followers never apply the same batch); a Redis build writes its keys and its
position in one MULTI/EXEC under WATCH. A batch is applied whole or not at all: a follower
killed anywhere resumes without losing or doubling an event.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from tillroll.projections.engine import catalogue
from tillroll.projections.engine.batches import RedisBatch, SqlBatch
from tillroll.projections.engine.log import Page
from tillroll.projections.engine.model import Projection, RedisProjection, SqlProjection
from tillroll.projections.engine.stores import Stores


class ProjectionFailed(Exception):
    """A consumer (a read model's build or a reaction) raised on one event; the batch was not
    applied."""

    def __init__(self, key: str, position: int, cause: BaseException) -> None:
        super().__init__(f"{key} failed on the event at position {position}: {cause!r}")
        self.key = key
        self.position = position
        self.cause = cause


class Applier:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def position(self, projection: Projection) -> int:
        if isinstance(projection, RedisProjection):
            return int(self.stores.redis.get(projection.position_key) or 0)
        with self.stores.sql_pool.connection() as conn:
            return catalogue.position(conn, projection.NAME, projection.build)

    def read(
        self, projection: Projection, position: int, limit: int, stop: int | None = None
    ) -> Page:
        """The build's own next page: only its event types (it moves past the others)."""
        log = self.stores.log
        return Page(log, position, log.page(position, limit, stop=stop, topics=projection.topics()))

    def step(
        self, projection: Projection, limit: int | None = None, stop: int | None = None
    ) -> int:
        """Read and apply the build's next batch (up to position `stop`, if given); return how
        many events it read (at least 1 if the position moved or another follower moved it
        first; 0: caught up)."""
        # Read the log before opening the write transaction: while that transaction is open
        # its xid holds back every reader's horizon (docs/EVENT-LOG.md).
        limit = limit or self.stores.batch_size
        page = self.read(projection, self.position(projection), limit, stop)
        if not page.moved:
            return 0
        self.apply(projection, page)
        return max(1, len(page.notifications))

    def apply(self, projection: Projection, page: Page) -> bool:
        """Apply `page` if the build is still where the page starts. False: another follower
        moved it first (nothing written; look again). Raises ProjectionFailed."""
        started = time.perf_counter()
        if isinstance(projection, SqlProjection):
            return self._apply_sql(projection, page, started)
        assert isinstance(projection, RedisProjection)
        return self._apply_redis(projection, page, started)

    def _handle(self, projection: Projection, target: Any, page: Page) -> None:
        for index, notification in enumerate(page.notifications):
            try:
                event = page.decoded(index)
                handler = projection.handler(event)
                if handler is not None:
                    handler(target, event, notification.id)
            except Exception as exc:
                raise ProjectionFailed(projection.key, notification.id, exc) from exc

    def _apply_sql(self, projection: SqlProjection, page: Page, started: float) -> bool:
        batch = SqlBatch()
        self._handle(projection, batch, page)
        name, build = projection.NAME, projection.build
        with self.stores.sql_pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            # Derived data: a crash may lose the newest commits, rows and position together,
            # and they are applied again from the older position. Not waiting for the WAL
            # flush keeps live following fast (docs: FIELD-NOTES, synchronous_commit).
            conn.execute("SET LOCAL synchronous_commit = off")
            if catalogue.lock_position(conn, name, build) != page.after:
                return False
            batch.flush(cur)
            catalogue.set_position(conn, name, build, page.end, _rate(page, started))
        return True

    def _apply_redis(self, projection: RedisProjection, page: Page, started: float) -> bool:
        key = projection.position_key
        with self.stores.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                if int(pipe.get(key) or 0) != page.after:
                    return False
                pipe.multi()
                batch = RedisBatch(pipe)
                self._handle(projection, batch, page)
                batch.flush()
                pipe.set(key, page.end)
                pipe.execute()
            except redis.WatchError:
                return False
        # Mirrored for status; Redis holds the truth.
        with self.stores.sql_pool.connection() as conn:
            catalogue.set_position(
                conn, projection.NAME, projection.build, page.end, _rate(page, started)
            )
        return True


def _rate(page: Page, started: float) -> float | None:
    elapsed = time.perf_counter() - started
    count = len(page.notifications)
    return count / elapsed if count and elapsed > 0 else None
