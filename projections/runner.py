"""The one projection runner: follows the event log and feeds every read model's builds.

Each batch is applied and its position recorded atomically: an SQL build in one transaction
with its row in projection_builds (locked FOR UPDATE, so two runners never apply the same
batch), a Redis build in one MULTI/EXEC guarded by WATCH on its position key. A runner
killed anywhere resumes without losing or doubling an event.

A rebuild writes a new build beside the live one, reading the log in large pages; once it
has caught up with the head it becomes live in one transaction, and the old build is
dropped a grace period later. An event a projection cannot apply stops that projection at
that event (recorded with the error, retried with back-off); the others go on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import psycopg
import redis
from psycopg.sql import SQL, Identifier
from tillroll.projections import builds as catalog
from tillroll.projections.batches import RedisBatch, SqlBatch
from tillroll.projections.builds import BUILDING, LIVE, RETIRED, SCRATCH, Build
from tillroll.projections.model import Projection, RedisProjection, SqlProjection

log = logging.getLogger(__name__)

DEFAULT_BATCH = 500
REBUILD_BATCH = 5000
RETIRE_AFTER = 60.0
HELD_POLL = 0.005
"""How soon to look again when committed events wait behind an open transaction: its end
sends no notification, so the runner polls until they are readable."""


class LogPage(Protocol):
    events: Sequence[Any]
    end: int
    held: bool


class EventLog(Protocol):
    """The event store as a log. Positions are integers in log order (docs/EVENT-LOG.md)."""

    database_url: str
    channel: str

    def head(self) -> int: ...

    def read(
        self, after: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Any]: ...

    def page(
        self, after: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> LogPage: ...

    def reached(self, position: int, wanted: int) -> bool: ...

    def count_after(self, position: int) -> int: ...

    def decode(self, notification: Any) -> Any: ...


class ProjectionFailed(Exception):
    """A projection's handler raised on one event; the batch was not applied."""

    def __init__(self, key: str, position: int, cause: BaseException) -> None:
        super().__init__(f"{key} failed on the event at position {position}: {cause!r}")
        self.key = key
        self.position = position
        self.cause = cause


class ProjectionRunner:
    def __init__(
        self,
        log_: EventLog,
        sql_pool: Any,
        redis_client: redis.Redis,
        classes: Sequence[type[Projection]],
        *,
        prefix: str = "tr:",
        batch_size: int = DEFAULT_BATCH,
        rebuild_batch: int = REBUILD_BATCH,
        retire_after: float = RETIRE_AFTER,
    ) -> None:
        self.log = log_
        self.sql_pool = sql_pool
        self.redis = redis_client
        self.classes = {cls.NAME: cls for cls in classes}
        self.prefix = prefix
        self.batch_size = batch_size
        self.rebuild_batch = rebuild_batch
        self.retire_after = retire_after
        self._wake = {name: threading.Event() for name in self.classes}
        self._held: dict[str, bool] = {}  # per build: its last page saw events held back
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- the catalog --------------------------------------------------------------------
    def bind(self, build: Build) -> Projection:
        return self.classes[build.name](build.build, self.prefix)

    def builds(self, name: str | None = None) -> list[Build]:
        with self.sql_pool.connection() as conn:
            return catalog.list_builds(conn, name)

    def live(self, name: str) -> Build | None:
        return next((b for b in self.builds(name) if b.state == LIVE), None)

    @property
    def projections(self) -> list[Projection]:
        """The live build of every read model."""
        found = {b.name: b for b in self.builds() if b.state == LIVE}
        return [self.bind(found[name]) for name in self.classes if name in found]

    def active(self, name: str) -> list[Build]:
        """Builds this code maintains: the live one (if its version is the code's) and any
        build under way."""
        cls = self.classes[name]
        return [
            b for b in self.builds(name) if b.version == cls.VERSION and b.state in (LIVE, BUILDING)
        ]

    def setup(self) -> None:
        """Tables for the catalog and every active build; a first build of each read model;
        a new build where the code's version differs from the live one (blue/green deploy).

        Only what is missing is created: DDL on a table in use (even `CREATE INDEX IF NOT
        EXISTS`) locks it, and every process runs this at start, next to running runners."""
        with self.sql_pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('tillroll.projections.setup'))")
            if conn.execute("SELECT to_regclass(%s)", (catalog.TABLE,)).fetchone()[0] is None:
                catalog.ensure_table(conn)
            created = []
            for name, cls in self.classes.items():
                existing = catalog.list_builds(conn, name)
                live = next((b for b in existing if b.state == LIVE), None)
                if live is None:
                    created.append(catalog.create_build(conn, cls, LIVE))
                elif live.version != cls.VERSION and not any(
                    b.state == BUILDING and b.version == cls.VERSION for b in existing
                ):
                    created.append(catalog.create_build(conn, cls, BUILDING))
            for build in created:
                self._create_tables(conn, self.bind(build))

    def _create_tables(self, conn: Any, projection: Projection) -> None:
        if isinstance(projection, SqlProjection):
            for statement in projection.ddl():
                conn.execute(statement)

    def new_build(self, name: str, state: str = BUILDING) -> Projection:
        """Start an empty build beside the live one (its tables are created at once)."""
        cls = self.classes[name]
        with self.sql_pool.connection() as conn, conn.transaction():
            build = catalog.create_build(conn, cls, state)
            projection = self.bind(build)
            self._create_tables(conn, projection)
            catalog.notify(conn, name)
        return projection

    def drop(self, projection: Projection) -> None:
        """Delete a build's data and its catalog row."""
        if isinstance(projection, RedisProjection):
            batch: list[bytes] = []
            for key in self.redis.scan_iter(match=f"{projection.namespace}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self.redis.unlink(*batch)
                    batch.clear()
            if batch:
                self.redis.unlink(*batch)
        with self.sql_pool.connection() as conn, conn.transaction():
            if isinstance(projection, SqlProjection):
                for table in projection.tables:
                    conn.execute(SQL("DROP TABLE IF EXISTS {}").format(Identifier(table)))
            catalog.delete_build(conn, projection.NAME, projection.build)

    # -- one batch ----------------------------------------------------------------------
    def step(
        self, projection: Projection, limit: int | None = None, stop: int | None = None
    ) -> int:
        """Apply the next batch (up to position `stop`, if given); return how many events it
        read (at least 1 if the position moved; 0: caught up)."""
        limit = limit or self.batch_size
        if isinstance(projection, SqlProjection):
            return self._step_sql(projection, limit, stop)
        assert isinstance(projection, RedisProjection)
        return self._step_redis(projection, limit, stop)

    def _batch(
        self, projection: Projection, position: int, limit: int, stop: int | None
    ) -> tuple[list[Any], int]:
        """The next events in log order and the position to record after them (past the
        events of other topics too, when the page was not full)."""
        page = self.log.page(position, limit, stop=stop, topics=projection.topics())
        self._held[projection.key] = page.held
        return list(page.events), page.end

    def _apply(self, projection: Projection, target: Any, notifications: Iterable[Any]) -> None:
        for notification in notifications:
            try:
                event = self.log.decode(notification)
                handler = projection.handler(event)
                if handler is not None:
                    handler(target, event, notification.id)
            except Exception as exc:
                raise ProjectionFailed(projection.key, notification.id, exc) from exc

    def _step_sql(self, projection: SqlProjection, limit: int, stop: int | None) -> int:
        started = time.perf_counter()
        with self.sql_pool.connection() as conn:
            # Read the log before opening the write transaction (keeps it short).
            position = self.position_in(conn, projection)
            conn.commit()
            notifications, new_position = self._batch(projection, position, limit, stop)
            if new_position == position:
                return 0
            batch = SqlBatch()
            self._apply(projection, batch, notifications)
            with conn.transaction(), conn.cursor() as cur:
                if catalog.lock_position(conn, projection.NAME, projection.build) != position:
                    return 1  # another runner applied this batch first: look again
                batch.flush(cur)
                catalog.set_position(
                    conn,
                    projection.NAME,
                    projection.build,
                    new_position,
                    _rate(notifications, started),
                )
        return max(1, len(notifications))

    def _step_redis(self, projection: RedisProjection, limit: int, stop: int | None) -> int:
        started = time.perf_counter()
        key = projection.position_key
        with self.redis.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(key)
                position = int(pipe.get(key) or 0)
                notifications, new_position = self._batch(projection, position, limit, stop)
                if new_position == position:
                    return 0
                pipe.multi()
                batch = RedisBatch(pipe)
                self._apply(projection, batch, notifications)
                batch.flush()
                pipe.set(key, new_position)
                pipe.execute()
            except redis.WatchError:
                return 1  # another runner moved it first: look again
        with self.sql_pool.connection() as conn:  # mirrored for status; Redis holds the truth
            catalog.set_position(
                conn, projection.NAME, projection.build, new_position, _rate(notifications, started)
            )
        return max(1, len(notifications))

    # -- positions, catching up, rebuilding ---------------------------------------------
    def position(self, projection: Projection) -> int:
        if isinstance(projection, RedisProjection):
            return int(self.redis.get(projection.position_key) or 0)
        with self.sql_pool.connection() as conn:
            return self.position_in(conn, projection)

    def position_in(self, conn: Any, projection: Projection) -> int:
        row = conn.execute(
            f"SELECT position FROM {catalog.TABLE} WHERE name = %s AND build = %s",
            (projection.NAME, projection.build),
        ).fetchone()
        return int(row[0]) if row else 0

    def catch_up(self, names: Iterable[str] | None = None) -> None:
        """Bring every active build to the head; switch finished rebuilds live."""
        for name in names or list(self.classes):
            for build in self.active(name):
                projection = self.bind(build)
                limit = self.rebuild_batch if build.state == BUILDING else self.batch_size
                while self.step(projection, limit):
                    pass
            self.switch_if_caught_up(name)

    def switch_if_caught_up(self, name: str) -> bool:
        """Make a finished build live. True if it switched."""
        building = [b for b in self.active(name) if b.state == BUILDING]
        if not building:
            return False
        build = building[-1]
        projection = self.bind(build)
        if not self.log.reached(self.position(projection), self.log.head()):
            return False
        with self.sql_pool.connection() as conn, conn.transaction():
            catalog.switch_live(conn, name, build.build)
            catalog.notify(conn, name)
        log.info("read model %s: build %s is live", name, build.build)
        return True

    def rebuild(
        self,
        name: str,
        *,
        from_scratch: bool = False,
        progress: Callable[[Projection, int, int, float], None] | None = None,
    ) -> Projection:
        """Build the read model anew beside the live one, then switch to it.

        Resumes a build already under way (its position is its own), unless from_scratch."""
        under_way = [b for b in self.active(name) if b.state == BUILDING]
        if under_way and from_scratch:
            for build in under_way:
                self.drop(self.bind(build))
            under_way = []
        projection = self.bind(under_way[-1]) if under_way else self.new_build(name)
        started, done_before = time.perf_counter(), self.position(projection)
        while True:
            moved = self.step(projection, self.rebuild_batch)
            if progress is not None:
                position = self.position(projection)
                elapsed = time.perf_counter() - started
                rate = (position - done_before) / elapsed if elapsed > 0 else 0.0
                progress(projection, position, self.log.head(), rate)
            if moved:
                continue
            # Keep the live build current too, then switch once the new one is at the head.
            for build in self.active(name):
                if build.state == LIVE:
                    while self.step(self.bind(build)):
                        pass
            if self.switch_if_caught_up(name) or self._is_live(projection):
                return projection  # switched here, or by a runner in another process

    def _is_live(self, projection: Projection) -> bool:
        live = self.live(projection.NAME)
        return live is not None and live.build == projection.build

    def retire_old(self, name: str, *, now: float | None = None) -> int:
        """Drop retired builds once the grace period is over; return how many."""
        now_ts = time.time() if now is None else now
        dropped = 0
        for build in self.builds(name):
            if build.state == RETIRED and build.retired_at is not None:
                if now_ts - build.retired_at.timestamp() >= self.retire_after:
                    self.drop(self.bind(build))
                    dropped += 1
            elif build.version != self.classes[name].VERSION and build.state == BUILDING:
                self.drop(self.bind(build))  # a rebuild of a version this code no longer has
                dropped += 1
        return dropped

    def drop_scratch(self, name: str) -> None:
        for build in self.builds(name):
            if build.state == SCRATCH:
                self.drop(self.bind(build))

    def retry(self, name: str) -> None:
        """Wake the runners of a stopped read model now rather than after their back-off."""
        with self.sql_pool.connection() as conn:
            catalog.notify(conn, name)

    # -- running in the background ------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        for name in self.classes:
            thread = threading.Thread(
                target=self._follow, args=(name,), name=f"projection-{name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        listener = threading.Thread(target=self._listen, name="projection-listener", daemon=True)
        listener.start()
        self._threads.append(listener)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        for wake in self._wake.values():
            wake.set()
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

    def _follow(self, name: str) -> None:
        wake = self._wake[name]
        backoff = 0.5
        while not self._stopping.is_set():
            wake.clear()
            moved = 0
            held = False
            try:
                # The live build first (older number). A build under way advances in the
                # same small steps, so the live one is never more than a step behind.
                for build in self.active(name):
                    projection = self.bind(build)
                    try:
                        moved += self.step(projection, self.batch_size)
                    except LookupError:
                        continue  # dropped meanwhile (a rebuild started over): not an error
                    held = held or self._held.get(projection.key, False)
                if not moved:
                    self.switch_if_caught_up(name)
                    self.retire_old(name)
                backoff = 0.5
            except ProjectionFailed as failure:
                self._record_failure(name, failure)
                woken = wake.wait(backoff)  # `retry` wakes it early
                backoff = 0.5 if woken else min(backoff * 2, 30.0)
                continue
            except Exception:  # a dependency down: retry with back-off
                log.exception("read model %s: runner error; retrying in %.1fs", name, backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if not moved:
                wake.wait(HELD_POLL if held else 1.0)

    def _record_failure(self, name: str, failure: ProjectionFailed) -> None:
        log.error("read model %s stopped: %s", name, failure)
        build = int(failure.key.rsplit(":b", 1)[1])
        try:
            with self.sql_pool.connection() as conn:
                catalog.record_error(conn, name, build, repr(failure.cause), failure.position)
        except psycopg.Error:
            log.exception("could not record the failure of %s", name)

    def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.log.database_url, autocommit=True) as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(self.log.channel)))
                    conn.execute(SQL("LISTEN {}").format(Identifier(catalog.CHANNEL)))
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=1):
                            if note.channel == catalog.CHANNEL and note.payload in self._wake:
                                self._wake[note.payload].set()
                            else:
                                for wake in self._wake.values():
                                    wake.set()
            except psycopg.Error:
                log.warning("event log listener lost its connection; reconnecting")
                self._stopping.wait(1.0)


def _rate(notifications: Sequence[Any], started: float) -> float | None:
    elapsed = time.perf_counter() - started
    return len(notifications) / elapsed if notifications and elapsed > 0 else None
