"""Which build of each read model readers should read: the live one, cached for a moment."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from tillroll.projections.engine import catalogue
from tillroll.projections.engine.model import Projection


class LiveBuilds:
    """The live build of every read model, as projection instances, cached for a moment.

    Readers may see the old copy for up to `ttl` seconds after a switch; the engine keeps a
    retired copy for longer than that before dropping it.
    """

    def __init__(
        self,
        sql_pool: Any,
        classes: Sequence[type[Projection]],
        prefix: str,
        ttl: float = 1.0,
    ) -> None:
        self.sql_pool = sql_pool
        self.classes = {cls.NAME: cls for cls in classes}
        self.prefix = prefix
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cache: dict[str, Projection] = {}
        self._loaded_at = 0.0

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
        if found is None:
            found = self.refresh().get(name)
        if found is None:
            raise LookupError(f"read model {name} has no live build yet")
        return found
