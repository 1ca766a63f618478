"""One active projection process per shop, any number on standby.

`tillroll projections run` takes a PostgreSQL session advisory lock (keyed by the shop's
event and read-model schemas) on a connection of its own before it follows the log. A second
process on the same store waits for the lock; when the active one dies (kill -9 included) its
connection closes, PostgreSQL releases the lock, and the standby takes over within its poll
interval, resuming from the positions the read models recorded atomically with their rows:
nothing is lost or applied twice.

The active process checks its lock connection every second: if that connection is gone (a
PostgreSQL restart), it no longer knows it is alone, so it stops and exits non-zero for its
supervisor (serve, compose) to start it again, as a standby if another took over."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable

import psycopg

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


def lock_key(event_schema: str, read_schema: str) -> int:
    """A stable signed 64-bit key for this shop's projections."""
    digest = hashlib.blake2b(
        f"tillroll projections {event_schema} {read_schema}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


class ProjectionLock:
    def __init__(self, database_url: str, key: int) -> None:
        self.database_url = database_url
        self.key = key
        self.conn: psycopg.Connection | None = None

    def acquire(
        self,
        stopping: threading.Event,
        on_wait: Callable[[], None],
        tick: Callable[[], None] = lambda: None,
    ) -> bool:
        """Block until this process holds the lock (True) or `stopping` is set (False);
        `on_wait` once when it has to wait, `tick` at every poll (the heartbeat)."""
        said = False
        while not stopping.is_set():
            try:
                if self.conn is None or self.conn.closed:
                    self.conn = psycopg.connect(
                        self.database_url,
                        autocommit=True,
                        application_name="tillroll projections lock",
                        connect_timeout=5,
                    )
                row = self.conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
                if row and row[0]:
                    return True
            except psycopg.OperationalError as exc:
                log.warning("projection lock: %s", exc)
                self._drop()
            if not said:
                on_wait()
                said = True
            tick()
            stopping.wait(POLL_SECONDS)
        return False

    def held(self) -> bool:
        """Is the lock's connection still there? (The lock lives exactly as long.)"""
        try:
            assert self.conn is not None
            self.conn.execute("SELECT 1")
            return True
        except (psycopg.Error, AssertionError):
            return False

    def _drop(self) -> None:
        if self.conn is not None:
            try:
                self.conn.close()
            finally:
                self.conn = None

    def release(self) -> None:
        self._drop()  # closing the session releases its advisory locks
