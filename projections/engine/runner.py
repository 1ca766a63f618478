"""The engine behind one face: the composition root, the CLI, the ops routes and the tests
hold a ProjectionRunner, which hands each call to the part that does that job (builds,
applying a batch, rebuilds, the follower, reactions)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import redis
from tillroll.projections.engine.apply import Applier, ProjectionFailed
from tillroll.projections.engine.builds import SETUP_LOCK, Builds
from tillroll.projections.engine.catalogue import BUILDING, Build, notify
from tillroll.projections.engine.follower import Follower
from tillroll.projections.engine.log import EventLog
from tillroll.projections.engine.model import Projection
from tillroll.projections.engine.reactions import Reaction, Reactions
from tillroll.projections.engine.rebuilds import Rebuilds
from tillroll.projections.engine.stores import DEFAULT_BATCH, REBUILD_BATCH, RETIRE_AFTER, Stores

__all__ = ["ProjectionFailed", "ProjectionRunner"]


def _shared(field: str) -> property:
    """An attribute kept in the shared Stores, so every part sees a change at once."""
    return property(
        lambda self: getattr(self.stores, field),
        lambda self, value: setattr(self.stores, field, value),
    )


class ProjectionRunner:
    log = _shared("log")
    sql_pool = _shared("sql_pool")
    redis = _shared("redis")
    classes = _shared("classes")
    prefix = _shared("prefix")
    batch_size = _shared("batch_size")
    rebuild_batch = _shared("rebuild_batch")
    retire_after = _shared("retire_after")

    def __init__(
        self,
        log_: EventLog,
        sql_pool: Any,
        redis_client: redis.Redis,
        classes: Sequence[type[Projection]],
        *,
        reactions: Sequence[Reaction] = (),
        prefix: str = "tr:",
        batch_size: int = DEFAULT_BATCH,
        rebuild_batch: int = REBUILD_BATCH,
        retire_after: float = RETIRE_AFTER,
    ) -> None:
        self.stores = Stores(
            log_,
            sql_pool,
            redis_client,
            {cls.NAME: cls for cls in classes},
            prefix,
            batch_size,
            rebuild_batch,
            retire_after,
        )
        self.build_set = Builds(self.stores)
        self.applier = Applier(self.stores)
        self.rebuilds = Rebuilds(self.stores, self.build_set, self.applier)
        self.reactions = Reactions(self.stores, reactions)
        self.follower = Follower(
            self.stores, self.build_set, self.applier, self.rebuilds, self.reactions
        )

    def setup(self) -> None:
        """The catalogue, the builds this code needs, and the reactions' positions."""
        with self.sql_pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (SETUP_LOCK,))
            self.build_set.setup(conn)
            self.reactions.setup(conn)

    # -- builds ---------------------------------------------------------------------------
    def bind(self, build: Build) -> Projection:
        return self.build_set.bind(build)

    def builds(self, name: str | None = None) -> list[Build]:
        return self.build_set.list(name)

    def live(self, name: str) -> Build | None:
        return self.build_set.live(name)

    @property
    def projections(self) -> list[Projection]:
        """The live build of every read model."""
        return self.build_set.live_projections()

    def active(self, name: str) -> list[Build]:
        return self.build_set.active(name)

    def new_build(self, name: str, state: str = BUILDING) -> Projection:
        return self.build_set.new(name, state)

    def drop(self, projection: Projection) -> None:
        self.build_set.drop(projection)

    def drop_scratch(self, name: str) -> None:
        self.build_set.drop_scratch(name)

    # -- batches and positions --------------------------------------------------------------
    def step(
        self, projection: Projection, limit: int | None = None, stop: int | None = None
    ) -> int:
        return self.applier.step(projection, limit, stop)

    def position(self, projection: Projection) -> int:
        return self.applier.position(projection)

    # -- rebuilds -------------------------------------------------------------------------
    def catch_up(self, names: Iterable[str] | None = None) -> None:
        """Every active build and (unless names are given) every reaction at the head."""
        self.rebuilds.catch_up(names)
        if names is None:
            for name in self.reactions.by_name:
                while self.reactions.step(name):
                    pass

    def switch_if_caught_up(self, name: str) -> bool:
        return self.rebuilds.switch_if_caught_up(name)

    def rebuild(
        self,
        name: str,
        *,
        from_scratch: bool = False,
        progress: Callable[[Projection, int, int, float], None] | None = None,
    ) -> Projection:
        return self.rebuilds.rebuild(name, from_scratch=from_scratch, progress=progress)

    def request_rebuild(self, name: str) -> tuple[int, bool]:
        return self.rebuilds.request(name)

    def retire_old(self, name: str, *, now: float | None = None) -> int:
        return self.rebuilds.retire_old(name, now=now)

    # -- following in the background --------------------------------------------------------
    def names(self) -> list[str]:
        """Every read model and reaction this engine runs."""
        return [*self.classes, *self.reactions.by_name]

    def retry(self, name: str) -> None:
        """Wake the followers of a stopped read model or reaction (in every process) now
        rather than after their back-off."""
        with self.sql_pool.connection() as conn:
            notify(conn, name)

    def start(self) -> None:
        self.follower.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.follower.stop(timeout)

    def run_forever(self) -> None:
        self.start()
        try:
            while not self.follower.stopping(1.0):
                pass
        finally:
            self.stop()
