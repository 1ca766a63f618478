"""Which build of each read model readers should read: the live one, cached for a moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from tillroll.projections.engine import catalogue
from tillroll.projections.engine.model import Projection


class LiveBuilds:
    """The live build of every read model, as projection instances, cached for a moment.

    Readers may see the old copy for up to `ttl` seconds after a switch; the engine keeps a
    retired copy for longer than that before dropping it.

    When PostgreSQL is slow or unreachable, a reader does not wait for it: the refresh runs in
    a thread of its own (one at a time), the reader waits `refresh_wait` for it and otherwise
    reads the copy it has, up to `max_stale` old (kept below the engine's 60 s grace period
    for retired copies, so a stale copy is never one already dropped). Redis-backed reads so
    keep answering through a PostgreSQL outage.
    """

    def __init__(
        self,
        sql_pool: Any,
        classes: Sequence[type[Projection]],
        prefix: str,
        ttl: float = 1.0,
        *,
        refresh_wait: float = 0.2,
        max_stale: float = 30.0,
    ) -> None:
        self.sql_pool = sql_pool
        self.classes = {cls.NAME: cls for cls in classes}
        self.prefix = prefix
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, Projection] = {}
        self._loaded_at = 0.0
        self.refresh_wait = refresh_wait
        self.max_stale = max_stale
        self._pending: Future[dict[str, Projection]] | None = None

    def refresh(self) -> dict[str, Projection]:
        with self.sql_pool.connection() as conn:
            rows = catalogue.live_builds(conn)
        cache = {
            name: self.classes[name](build, self.prefix)
            for name, build in rows
            if name in self.classes
        }
        with self._lock:
            self._cache = cache
            self._loaded_at = time.monotonic()
        return cache

    def cached(self, name: str) -> Projection | None:
        """The live build if the cache is fresh, without touching the database."""
        with self._lock:
            fresh = time.monotonic() - self._loaded_at < self.ttl
            return self._cache.get(name) if fresh else None

    def get(self, name: str) -> Projection:
        found = self.cached(name)
        if found is not None:
            return found
        with self._lock:
            stale = self._cache.get(name)
            usable = stale is not None and time.monotonic() - self._loaded_at < self.max_stale
            pending = self._pending
            if pending is None or pending.done():
                pending = self._pending = self._refresh_in_background()
        try:
            found = pending.result(timeout=self.refresh_wait if usable else None).get(name)
        except Exception:
            if not usable:
                raise
            found = stale
        if found is None:
            raise LookupError(f"read model {name} has no live build yet")
        return found

    def _refresh_in_background(self) -> Future[dict[str, Projection]]:
        future: Future[dict[str, Projection]] = Future()

        def run() -> None:
            try:
                future.set_result(self.refresh())
            except BaseException as exc:
                future.set_exception(exc)

        # A daemon thread, not an executor's: one stuck on a stalled server must not hold up
        # the process's exit.
        threading.Thread(target=run, name="live-builds-refresh", daemon=True).start()
        return future
