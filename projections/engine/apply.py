"""Applying one page of the log to read-model builds, with their positions, atomically.

Every SQL build fed the same page writes its rows and its catalogue row in one PostgreSQL
transaction (the rows locked FOR UPDATE, so two followers never apply the same page; a
savepoint per build, so one build's failing statement leaves the others to commit). Every
Redis build fed the page writes its keys and its position in one MULTI/EXEC under WATCH on
every position key involved. A build's share of a page is applied whole or not at all: a
follower killed anywhere resumes without losing or doubling an event.

Read-model transactions do not wait for their WAL flush (`synchronous_commit = off`): a
crash can only lose their newest commits, rows and positions together, which are applied
again from the older position (docs/EVENT-LOG.md, "Read models off the commit path").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
import redis
from tillroll.projections.engine import catalogue
from tillroll.projections.engine.batches import RedisBatch, SqlBatch
from tillroll.projections.engine.log import Page
from tillroll.projections.engine.model import Projection, RedisProjection, SqlProjection
from tillroll.projections.engine.stores import Stores

Outcome = bool | Exception
"""What became of one build's share of a page: True applied; False another follower moved
its position first (nothing written; look again); ProjectionFailed (it stops there);
LookupError (the build was dropped meanwhile)."""

AlsoInTransaction = Callable[[Any], None]
"""Further writes for the read models' transaction (a reaction's position), given its
connection."""


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
        moved it first (nothing written; look again). Raises ProjectionFailed, LookupError."""
        outcome = self.apply_many(page, [projection])[projection.key]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def apply_many(
        self,
        page: Page,
        projections: Sequence[Projection],
        also: AlsoInTransaction | None = None,
    ) -> dict[str, Outcome]:
        """Apply `page` to every build that still stands where it starts: the Redis builds
        in one MULTI/EXEC, then the SQL builds (with `also`, and the Redis positions
        mirrored for status) in one transaction. The outcome of each build, by key."""
        started = time.perf_counter()
        outcomes: dict[str, Outcome] = {}
        sql: list[tuple[SqlProjection, SqlBatch]] = []
        queued: list[tuple[RedisProjection, RedisBatch]] = []
        # Every handler runs in Python before anything is sent: one that raises is left out.
        for projection in projections:
            try:
                if isinstance(projection, SqlProjection):
                    sql.append((projection, _handled(projection, SqlBatch(), page)))
                else:
                    assert isinstance(projection, RedisProjection)
                    queued.append((projection, _handled(projection, RedisBatch(), page)))
            except ProjectionFailed as failure:
                outcomes[projection.key] = failure
        mirrored = self._apply_redis(queued, page, outcomes) if queued else []
        if sql or mirrored or also is not None:
            self._apply_sql(sql, mirrored, also, page, started, outcomes)
        return outcomes

    def _apply_redis(
        self,
        queued: list[tuple[RedisProjection, RedisBatch]],
        page: Page,
        outcomes: dict[str, Outcome],
    ) -> list[RedisProjection]:
        """One MULTI/EXEC for every Redis build still at `page.after`; the builds applied."""
        keys = [projection.position_key for projection, _ in queued]
        with self.stores.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(*keys)
                current = pipe.mget(keys)
                ready = []
                for (projection, batch), position in zip(queued, current, strict=True):
                    if int(position or 0) == page.after:
                        ready.append((projection, batch))
                    else:
                        outcomes[projection.key] = False
                if not ready:
                    return []
                pipe.multi()
                for projection, batch in ready:
                    batch.replay(pipe)
                    pipe.set(projection.position_key, page.end)
                pipe.execute()
            except redis.WatchError:
                for projection, _ in queued:
                    outcomes[projection.key] = False  # another follower moved one: look again
                return []
        for projection, _ in ready:
            outcomes[projection.key] = True
        return [projection for projection, _ in ready]

    def _apply_sql(
        self,
        sql: list[tuple[SqlProjection, SqlBatch]],
        mirrored: list[RedisProjection],
        also: AlsoInTransaction | None,
        page: Page,
        started: float,
        outcomes: dict[str, Outcome],
    ) -> None:
        with self.stores.sql_pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            # Derived data: a crash may lose the newest commits, rows and position together,
            # and they are applied again from the older position. Not waiting for the WAL
            # flush keeps the read side off the commands' flushes (docs/EVENT-LOG.md).
            conn.execute("SET LOCAL synchronous_commit = off")
            locked = catalogue.lock_positions(conn, [(p.NAME, p.build) for p, _ in sql])
            done: list[Projection] = []
            for projection, batch in sql:
                position = locked.get((projection.NAME, projection.build))
                if position is None:
                    outcomes[projection.key] = LookupError(f"build {projection.key} is gone")
                    continue
                if position != page.after:
                    outcomes[projection.key] = False
                    continue
                try:
                    with conn.transaction():  # a savepoint: a failing build leaves alone
                        batch.flush(cur)
                except psycopg.Error as exc:
                    outcomes[projection.key] = ProjectionFailed(
                        projection.key, _first_handled(projection, page), exc
                    )
                    continue
                done.append(projection)
            rate = _rate(page, started)
            catalogue.set_positions(
                conn, [(p.NAME, p.build) for p in (*done, *mirrored)], page.end, rate
            )
            if also is not None:
                also(conn)
        for projection in done:
            outcomes[projection.key] = True


def _handled(projection: Projection, target: Any, page: Page) -> Any:
    """`target` (a batch) with the build's writes for every event of the page queued."""
    for index, notification in enumerate(page.notifications):
        try:
            event = page.decoded(index)
            handler = projection.handler(event)
            if handler is not None:
                handler(target, event, notification.id)
        except Exception as exc:
            raise ProjectionFailed(projection.key, notification.id, exc) from exc
    return target


def _first_handled(projection: Projection, page: Page) -> int:
    """Where a batch the store refused is reported to stop: its first event of the build's
    topics (the follower then feeds the build one event at a time, and finds the event)."""
    topics = set(projection.topics())
    found = (n.id for n in page.notifications if n.topic in topics)
    return next(found, page.end)


def _rate(page: Page, started: float) -> float | None:
    elapsed = time.perf_counter() - started
    count = len(page.notifications)
    return count / elapsed if count and elapsed > 0 else None
