"""The one projection runner: follows the event log and feeds every read model.

Each batch is applied and its position recorded atomically: SQL read models in one
transaction with their row in projection_positions (locked FOR UPDATE, so two runners
never apply the same batch), Redis read models in one MULTI/EXEC guarded by WATCH on
their position key. A runner killed anywhere therefore resumes without losing or
doubling an event. New events wake the runner through LISTEN/NOTIFY; it also polls
once a second in case a notification is lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any, Protocol

import psycopg
import redis
from psycopg.sql import SQL, Identifier

from projections.model import POSITIONS_TABLE, Projection, RedisProjection, SqlProjection

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500


class EventLog(Protocol):
    database_url: str
    channel: str

    def head(self) -> int: ...

    def read(
        self, after: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Any]: ...

    def decode(self, notification: Any) -> Any: ...


class ProjectionState:
    def __init__(self) -> None:
        self.wake = threading.Event()
        self.last_error: str | None = None
        self.events_applied = 0


class ProjectionRunner:
    def __init__(
        self,
        log_: EventLog,
        sql_pool: Any,
        redis_client: redis.Redis,
        projections: Sequence[Projection],
        *,
        batch_size: int = DEFAULT_BATCH,
    ) -> None:
        self.log = log_
        self.sql_pool = sql_pool
        self.redis = redis_client
        self.projections = list(projections)
        self.batch_size = batch_size
        self.state = {p.key: ProjectionState() for p in self.projections}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- set-up -------------------------------------------------------------------------
    def setup(self) -> None:
        """Create the positions table and every SQL read model's tables (idempotent)."""
        with self.sql_pool.connection() as conn, conn.transaction():
            # One set-up at a time across processes: DDL races make duplicate-type errors.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('tillroll.projections.setup'))")
            conn.execute(
                SQL(
                    "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY,"
                    " position bigint NOT NULL DEFAULT 0,"
                    " updated_at timestamptz NOT NULL DEFAULT now())"
                ).format(Identifier(POSITIONS_TABLE))
            )
            for p in self.projections:
                if isinstance(p, SqlProjection):
                    for statement in p.ddl():
                        conn.execute(statement)  # type: ignore[arg-type]
                    conn.execute(
                        SQL("INSERT INTO {} (name) VALUES (%s) ON CONFLICT DO NOTHING").format(
                            Identifier(POSITIONS_TABLE)
                        ),
                        (p.key,),
                    )

    # -- one batch ----------------------------------------------------------------------
    def step(self, projection: Projection) -> int:
        """Apply the next batch; return how far the position moved (0: caught up)."""
        if isinstance(projection, SqlProjection):
            return self._step_sql(projection)
        assert isinstance(projection, RedisProjection)
        return self._step_redis(projection)

    def _batch(self, projection: Projection, position: int) -> tuple[list[Any], int]:
        head = self.log.head()
        if head <= position:
            return [], position
        notifications = list(
            self.log.read(position, self.batch_size, stop=head, topics=projection.topics())
        )
        # Fewer than a full batch means every event up to head was seen.
        if len(notifications) == self.batch_size:
            return notifications, notifications[-1].id
        return notifications, head

    def _apply(self, projection: Projection, target: Any, notifications: list[Any]) -> None:
        for notification in notifications:
            event = self.log.decode(notification)
            handler = projection.handler(event)
            if handler is not None:
                handler(target, event, notification.id)

    def _step_sql(self, projection: SqlProjection) -> int:
        with self.sql_pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute(
                SQL("SELECT position FROM {} WHERE name = %s FOR UPDATE").format(
                    Identifier(POSITIONS_TABLE)
                ),
                (projection.key,),
            )
            row = cur.fetchone()
            position = row[0] if row else 0
            notifications, new_position = self._batch(projection, position)
            if new_position == position:
                return 0
            self._apply(projection, cur, notifications)
            cur.execute(
                SQL("UPDATE {} SET position = %s, updated_at = now() WHERE name = %s").format(
                    Identifier(POSITIONS_TABLE)
                ),
                (new_position, projection.key),
            )
        self.state[projection.key].events_applied += len(notifications)
        return new_position - position

    def _step_redis(self, projection: RedisProjection) -> int:
        key = projection.position_key
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                position = int(pipe.get(key) or 0)
                notifications, new_position = self._batch(projection, position)
                if new_position == position:
                    return 0
                pipe.multi()
                self._apply(projection, pipe, notifications)
                pipe.set(key, new_position)
                pipe.execute()
            except redis.WatchError:
                return 1  # another runner moved it first: look again
        self.state[projection.key].events_applied += len(notifications)
        return new_position - position

    # -- positions ----------------------------------------------------------------------
    def position(self, projection: Projection) -> int:
        if isinstance(projection, SqlProjection):
            with self.sql_pool.connection() as conn:
                row = conn.execute(
                    SQL("SELECT position FROM {} WHERE name = %s").format(
                        Identifier(POSITIONS_TABLE)
                    ),
                    (projection.key,),
                ).fetchone()
            return row[0] if row else 0
        assert isinstance(projection, RedisProjection)
        return int(self.redis.get(projection.position_key) or 0)

    def catch_up(self, projections: Sequence[Projection] | None = None) -> None:
        """Apply batches until every projection has reached the log's head."""
        for projection in projections or self.projections:
            while self.step(projection):
                pass

    # -- running in the background ------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        for p in self.projections:
            thread = threading.Thread(target=self._follow, args=(p,), name=f"projection-{p.key}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        listener = threading.Thread(target=self._listen, name="projection-listener", daemon=True)
        listener.start()
        self._threads.append(listener)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        for state in self.state.values():
            state.wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def run_forever(self) -> None:
        self.start()
        try:
            while not self._stopping.wait(1.0):
                pass
        finally:
            self.stop()

    def _follow(self, projection: Projection) -> None:
        state = self.state[projection.key]
        backoff = 0.5
        while not self._stopping.is_set():
            state.wake.clear()
            try:
                moved = self.step(projection)
                state.last_error = None
                backoff = 0.5
            except Exception as exc:  # a poison event or a dependency down: stop here, retry
                state.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("projection %s failed; retrying in %.1fs", projection.key, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not moved:
                state.wake.wait(1.0)

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.log.database_url, autocommit=True) as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(self.log.channel)))
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            for state in self.state.values():
                                state.wake.set()
            except psycopg.Error:
                log.warning("event log listener lost its connection; reconnecting")
                self._stopping.wait(1.0)
