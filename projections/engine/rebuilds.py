"""Rebuilds without downtime: a new build is written beside the live one, reading the log in
large pages; once it has caught up with the head it becomes live in one transaction, and the
old build is dropped a grace period later."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from tillroll.projections.engine import catalogue
from tillroll.projections.engine.apply import Applier
from tillroll.projections.engine.builds import Builds
from tillroll.projections.engine.catalogue import BUILDING, LIVE, RETIRED
from tillroll.projections.engine.model import Projection
from tillroll.projections.engine.stores import Stores

log = logging.getLogger(__name__)

Progress = Callable[[Projection, int, int, float], None]


class Rebuilds:
    def __init__(self, stores: Stores, builds: Builds, applier: Applier) -> None:
        self.stores = stores
        self.builds = builds
        self.applier = applier

    def request(self, name: str) -> tuple[int, bool]:
        """Start a rebuild for the followers to carry out, unless one is under way:
        (its build, True if started now)."""
        under_way = [b for b in self.builds.active(name) if b.state == BUILDING]
        if under_way:
            return under_way[-1].build, False
        return self.builds.new(name).build, True

    def catch_up(self, names: Iterable[str] | None = None) -> None:
        """Bring every active build to the head; switch finished rebuilds live."""
        for name in names or list(self.stores.classes):
            for build in self.builds.active(name):
                projection = self.builds.bind(build)
                batch = self.stores.rebuild_batch if build.state == BUILDING else None
                while self.applier.step(projection, batch):
                    pass
            self.switch_if_caught_up(name)

    def switch_if_caught_up(self, name: str) -> bool:
        """Make a finished build live. True if it switched."""
        building = [b for b in self.builds.active(name) if b.state == BUILDING]
        if not building:
            return False
        build = building[-1]
        projection = self.builds.bind(build)
        log_ = self.stores.log
        if not log_.reached(self.applier.position(projection), log_.head()):
            return False
        with self.stores.sql_pool.connection() as conn, conn.transaction():
            catalogue.switch_live(conn, name, build.build)
            catalogue.notify(conn, name)
        log.info("read model %s: build %s is live", name, build.build)
        return True

    def rebuild(
        self, name: str, *, from_scratch: bool = False, progress: Progress | None = None
    ) -> Projection:
        """Build the read model anew beside the live one, then switch to it.

        Resumes a build already under way (its position is its own), unless from_scratch."""
        under_way = [b for b in self.builds.active(name) if b.state == BUILDING]
        if under_way and from_scratch:
            for build in under_way:
                self.builds.drop(self.builds.bind(build))
            under_way = []
        projection = self.builds.bind(under_way[-1]) if under_way else self.builds.new(name)
        started, done_before = time.perf_counter(), self.applier.position(projection)
        while True:
            moved = self.applier.step(projection, self.stores.rebuild_batch)
            if progress is not None:
                position = self.applier.position(projection)
                elapsed = time.perf_counter() - started
                rate = (position - done_before) / elapsed if elapsed > 0 else 0.0
                progress(projection, position, self.stores.log.head(), rate)
            if moved:
                continue
            # Keep the live build current too, then switch once the new one is at the head.
            for build in self.builds.active(name):
                if build.state == LIVE:
                    while self.applier.step(self.builds.bind(build)):
                        pass
            if self.switch_if_caught_up(name) or self._is_live(projection):
                return projection  # switched here, or by a follower in another process

    def _is_live(self, projection: Projection) -> bool:
        live = self.builds.live(projection.NAME)
        return live is not None and live.build == projection.build

    def retire_old(self, name: str, *, now: float | None = None) -> int:
        """Drop retired builds once the grace period is over; return how many."""
        now_ts = time.time() if now is None else now
        dropped = 0
        for build in self.builds.list(name):
            if build.state == RETIRED and build.retired_at is not None:
                if now_ts - build.retired_at.timestamp() >= self.stores.retire_after:
                    self.builds.drop(self.builds.bind(build))
                    dropped += 1
            elif build.version != self.stores.classes[name].VERSION and build.state == BUILDING:
                self.builds.drop(self.builds.bind(build))  # a version this code no longer has
                dropped += 1
        return dropped
