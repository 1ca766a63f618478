"""Reactions (process managers) as consumers of the log, and where their positions are kept.

A reaction follows the log like a read model but has no builds and is never rebuilt: it is
handed the events of its topics and performs its effects (enqueue a job with a
deterministic id, issue a command) idempotently. Its position is written to
`reaction_positions` after `react` returns: delivery is at least once, and idempotent effects
make it exactly once in effect. A new reaction starts at the log's head (it does not replay
history); one that raises stops at its event, like a poisoned read model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tillroll.projections.engine.apply import ProjectionFailed
from tillroll.projections.engine.log import Page
from tillroll.projections.engine.stores import Stores

TABLE = "reaction_positions"
DDL = f"""CREATE TABLE IF NOT EXISTS {TABLE} (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    updated_at timestamptz,
    last_error text,
    error_position bigint
)"""


class Reaction(Protocol):
    """What the engine needs of a reaction (defined with the commands it issues)."""

    NAME: str

    def topics(self) -> list[str]: ...

    def react(self, events: Sequence[tuple[int, Any]]) -> None: ...


@dataclass(frozen=True)
class ReactionRow:
    name: str
    position: int
    updated_at: datetime | None
    last_error: str | None
    error_position: int | None


class Reactions:
    """The reactions this process runs: their positions, and delivering a page to one."""

    def __init__(self, stores: Stores, reactions: Sequence[Reaction]) -> None:
        self.stores = stores
        self.by_name: dict[str, Reaction] = {r.NAME: r for r in reactions}

    def setup(self, conn: Any) -> None:
        """The table, and a row at the log's head for each reaction seen the first time."""
        if not self.by_name:
            return
        conn.execute(DDL)
        head = self.stores.log.head()
        for name in self.by_name:
            conn.execute(
                f"INSERT INTO {TABLE} (name, position, updated_at) VALUES (%s, %s, now())"
                " ON CONFLICT (name) DO NOTHING",
                (name, head),
            )

    def rows(self) -> list[ReactionRow]:
        if not self.by_name:
            return []
        with self.stores.sql_pool.connection() as conn:
            rows = conn.execute(
                f"SELECT name, position, updated_at, last_error, error_position FROM {TABLE}"
                " WHERE name = ANY(%s) ORDER BY name",
                (list(self.by_name),),
            ).fetchall()
        return [ReactionRow(*row) for row in rows]

    def position(self, name: str) -> int:
        with self.stores.sql_pool.connection() as conn:
            row = conn.execute(f"SELECT position FROM {TABLE} WHERE name = %s", (name,)).fetchone()
        if row is None:
            raise LookupError(f"reaction {name} has no position (setup not run)")
        return int(row[0])

    def read(self, reaction: Reaction, position: int, limit: int) -> Page:
        log = self.stores.log
        return Page(log, position, log.page(position, limit, topics=reaction.topics()))

    def step(self, name: str, limit: int | None = None) -> int:
        """Read and deliver the reaction's next page; how many events it read (0: caught up)."""
        reaction = self.by_name[name]
        page = self.read(reaction, self.position(name), limit or self.stores.batch_size)
        if not page.moved:
            return 0
        self.deliver(reaction, page)
        return max(1, len(page.notifications))

    def deliver(
        self, reaction: Reaction, page: Page, deferred: list[tuple[str, int, int]] | None = None
    ) -> bool:
        """Hand the page's events of the reaction's topics to it, then record the page's end.
        False: another follower moved the position first. Raises ProjectionFailed.

        With `deferred`, a page delivered in one call is not recorded here: (name, after,
        end) is added to it, for `record_deferred` in the read models' transaction."""
        topics = set(reaction.topics())
        events: list[tuple[int, Any]] = []
        for index, notification in enumerate(page.notifications):
            if notification.topic in topics:
                try:
                    events.append((notification.id, page.decoded(index)))
                except Exception as exc:
                    # Deliver what comes before the event it cannot read, then stop there.
                    self._deliver_one_by_one(reaction, page.after, events)
                    raise ProjectionFailed(reaction.NAME, notification.id, exc) from exc
        after: int | None = page.after
        if events:
            try:
                reaction.react(events)
            except Exception:
                # Find the event it fails on, recording the ones before it as delivered: a
                # retry then starts there, and the error names that event.
                after = self._deliver_one_by_one(reaction, page.after, events)
        if after == page.after and deferred is not None:
            deferred.append((reaction.NAME, page.after, page.end))
            return True
        return after is not None and self._record(reaction.NAME, after, page.end)

    def _deliver_one_by_one(
        self, reaction: Reaction, after: int, events: Sequence[tuple[int, Any]]
    ) -> int | None:
        """Deliver and record event by event; the position reached (None: another follower
        moved it meanwhile). Raises ProjectionFailed at the event `react` fails on."""
        for position, event in events:
            try:
                reaction.react([(position, event)])
            except Exception as exc:
                raise ProjectionFailed(reaction.NAME, position, exc) from exc
            if not self._record(reaction.NAME, after, position):
                return None
            after = position
        return after

    def _record(self, name: str, after: int, position: int) -> bool:
        with self.stores.sql_pool.connection() as conn:
            return _move(conn, name, after, position)

    def record_deferred(self, conn: Any, deferred: Sequence[tuple[str, int, int]]) -> set[str]:
        """Record the positions `deliver` deferred, in the transaction of `conn`; the names
        whose position moved (the others were moved first by another follower)."""
        return {name for name, after, end in deferred if _move(conn, name, after, end)}

    def record_error(self, name: str, error: str, position: int | None) -> None:
        with self.stores.sql_pool.connection() as conn:
            conn.execute(
                f"UPDATE {TABLE} SET last_error = %s, error_position = %s, updated_at = now()"
                " WHERE name = %s",
                (error[:2000], position, name),
            )


def _move(conn: Any, name: str, after: int, position: int) -> bool:
    moved = conn.execute(
        f"UPDATE {TABLE} SET position = %s, updated_at = now(), last_error = NULL,"
        " error_position = NULL WHERE name = %s AND position = %s",
        (position, name, after),
    ).rowcount
    return moved == 1
