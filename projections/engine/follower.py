"""One follower per process: a thread that reads each page of the log once and hands it to
every consumer it runs (the live build of each read model, each reaction).

Each consumer applies only what lies after its own position and records its own position.
In the steady state they all stand at one position and share one page, decoded once and
applied in few commits: every SQL read model in one transaction, every Redis read model in
one MULTI/EXEC, the reactions' positions in the SQL one (apply.py). Under load the follower
reads at most once per COALESCE seconds, so a page carries many commands' events. A
consumer elsewhere (behind after an error, a build under way, one another process moved)
reads its own pages until it stands with the others again. An event a consumer cannot
apply stops that consumer at that event (recorded with the error, retried with back-off,
woken at once by `retry`); the others go on. Wake-ups come from one LISTEN connection on
the event store's channel and the catalogue's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

import psycopg
from psycopg.sql import SQL, Identifier
from tillroll.projections.engine import catalogue
from tillroll.projections.engine.apply import Applier, Outcome, ProjectionFailed
from tillroll.projections.engine.builds import Builds
from tillroll.projections.engine.catalogue import LIVE
from tillroll.projections.engine.log import Page
from tillroll.projections.engine.model import Projection
from tillroll.projections.engine.reactions import Reaction, Reactions
from tillroll.projections.engine.rebuilds import Rebuilds
from tillroll.projections.engine.stores import Stores

log = logging.getLogger(__name__)

COALESCE = 0.025
"""The shortest time between two reads of a shared page while events keep coming: a wake-up
right after a read waits out the rest, so the events of many commands share one page and
one commit per store. A follower woken after a quiet spell reads at once. Measured: at 32
writers, 0.17 read-side commits per order at 25 ms against 0.37 at 10 ms; live following
at ~40 commands/s stays far below 100 ms at p99 (docs/EVENT-LOG.md)."""
IDLE_POLL = 1.0
REFRESH_EVERY = 5.0
"""How often the follower looks at the catalogue unasked (a notification makes it look at
once): builds started or switched elsewhere, retired builds to drop."""
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 30.0


@dataclass(eq=False)
class Consumer:
    """One thing the follower feeds: a build of a read model, or a reaction."""

    name: str
    projection: Projection | None = None
    reaction: Reaction | None = None
    live: bool = True
    """False: a build under way, which always reads its own pages."""
    position: int | None = None
    """Where it stands, as last seen (None: read it again)."""
    retry_at: float = 0.0
    backoff: float = FIRST_BACKOFF
    narrow_until: int | None = None
    """Set when its store refused a batch: it reads one event at a time until it is past
    that position, so the error names the event."""

    @property
    def key(self) -> str:
        return self.projection.key if self.projection is not None else f"reaction:{self.name}"


class Follower:
    def __init__(
        self,
        stores: Stores,
        builds: Builds,
        applier: Applier,
        rebuilds: Rebuilds,
        reactions: Reactions,
    ) -> None:
        self.stores = stores
        self.builds = builds
        self.applier = applier
        self.rebuilds = rebuilds
        self.reactions = reactions
        self.consumers: dict[str, Consumer] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._retry: set[str] = set()
        self._dirty = True
        self._refreshed_at = 0.0
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._read_at = 0.0
        self._full = False

    # -- running ------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping.clear()
        self._dirty = True
        for target, name in ((self._follow, "projection-follower"), (self._listen, "log-listener")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def stopping(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for `stop`; True if it was called."""
        return self._stopping.wait(timeout)

    def wake(self, name: str | None = None) -> None:
        """Look now; with a name, also retry that consumer now if an error stopped it."""
        with self._lock:
            self._dirty = True
            if name is not None:
                self._retry.add(name)
        self._wake.set()

    def _follow(self) -> None:
        backoff = FIRST_BACKOFF
        while not self._stopping.is_set():
            self._wake.clear()
            wait = self._read_at + COALESCE - time.monotonic()
            if wait > 0 and not self._full:
                self._stopping.wait(wait)
            try:
                self._take_notes()
                moved = self.round()
                if not moved:
                    for name in {c.name for c in self.consumers.values() if not c.live}:
                        if self.rebuilds.switch_if_caught_up(name):
                            self._dirty = True
                backoff = FIRST_BACKOFF
            except Exception:  # a dependency down: retry with back-off
                log.exception("projection follower error; retrying in %.1fs", backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                self._dirty = True
                continue
            # A page that was not full is all there was when it was read: what was committed
            # since then has notified, and set _wake again (it is cleared before the read).
            if not self._full:
                self._wake.wait(self._idle_wait())

    def _idle_wait(self) -> float:
        now = time.monotonic()
        waits = [c.retry_at - now for c in self.consumers.values() if c.retry_at > now]
        return max(0.0, min([IDLE_POLL, *waits]))

    def _take_notes(self) -> None:
        """Apply what notifications asked for: retries now, a fresh look at the catalogue."""
        with self._lock:
            retry, self._retry = self._retry, set()
            dirty, self._dirty = self._dirty, False
        for consumer in self.consumers.values():
            if consumer.name in retry:
                consumer.retry_at, consumer.backoff = 0.0, FIRST_BACKOFF
        if dirty or time.monotonic() - self._refreshed_at >= REFRESH_EVERY:
            self.refresh()

    def refresh(self) -> None:
        """Which consumers to run: the active builds in the catalogue, and every reaction.
        What is known of those still there (position, back-off) is kept."""
        builds = self.builds.list()
        found: dict[str, Consumer] = {}
        for name in self.stores.classes:
            for build in self.builds.active(name, builds):
                projection = self.builds.bind(build)
                consumer = self.consumers.get(projection.key) or Consumer(name, projection)
                consumer.live = build.state == LIVE
                found[projection.key] = consumer
        for name, reaction in self.reactions.by_name.items():
            key = f"reaction:{name}"
            found[key] = self.consumers.get(key) or Consumer(name, reaction=reaction)
        self.consumers = found
        self._refreshed_at = time.monotonic()
        for name in self.stores.classes:
            if any(b.name == name and b.state != LIVE for b in builds):
                self.rebuilds.retire_old(name)

    # -- one round ------------------------------------------------------------------------
    def round(self) -> bool:
        """Feed every consumer that is due one page; True if anything moved."""
        now = time.monotonic()
        due = [c for c in self.consumers.values() if c.retry_at <= now]
        for consumer in due:
            if consumer.position is None:
                consumer.position = self._position(consumer)
        sharing = [c for c in due if c.live and c.narrow_until is None]
        shared = Counter(c.position for c in sharing)
        cursor = shared.most_common(1)[0][0] if shared else None
        together = [c for c in sharing if c.position == cursor]
        apart = [c for c in due if c not in together]
        moved = False
        self._full = False
        if cursor is not None:
            log_ = self.stores.log
            self._read_at = time.monotonic()
            page = Page(
                log_, cursor, log_.page(cursor, self.stores.batch_size, topics=self._topics())
            )
            self._full = len(page.notifications) >= self.stores.batch_size
            if page.moved:
                moved = self._feed_together(together, page)
        for consumer in apart:
            assert consumer.position is not None
            try:
                page = self._own_page(consumer, consumer.position)
            except Exception:  # e.g. a dependency down: this one backs off, the others go on
                log.exception("%s: could not read the log; retrying", consumer.key)
                self._back_off(consumer)
                continue
            limit = 1 if consumer.narrow_until is not None else self.stores.batch_size
            self._full = self._full or len(page.notifications) >= limit
            if page.moved:
                moved = self._feed(consumer, page) or moved
        return moved

    def _topics(self) -> list[str]:
        """Every topic some consumer follows (a page filtered by them ends at the head, so
        consumers that read their own pages meet the others there)."""
        topics = {t for cls in self.stores.classes.values() for t in cls.topics()}
        topics.update(t for r in self.reactions.by_name.values() for t in r.topics())
        return sorted(topics)

    def _position(self, consumer: Consumer) -> int:
        if consumer.projection is not None:
            return self.applier.position(consumer.projection)
        return self.reactions.position(consumer.name)

    def _own_page(self, consumer: Consumer, position: int) -> Page:
        if consumer.narrow_until is not None and self.stores.log.reached(
            position, consumer.narrow_until
        ):
            consumer.narrow_until = None
        limit = 1 if consumer.narrow_until is not None else self.stores.batch_size
        if consumer.projection is not None:
            return self.applier.read(consumer.projection, position, limit)
        assert consumer.reaction is not None
        return self.reactions.read(consumer.reaction, position, self.stores.batch_size)

    def _feed_together(self, together: list[Consumer], page: Page) -> bool:
        """Apply one page to every consumer standing where it starts, in one commit per
        store. True if any position moved (or another follower moved one first)."""
        deferred: list[tuple[str, int, int]] = []
        outcomes: dict[str, Outcome] = {}
        for consumer in together:
            if consumer.reaction is not None:
                # Its effects first, its position in the read models' transaction below.
                try:
                    outcomes[consumer.key] = self.reactions.deliver(
                        consumer.reaction, page, deferred
                    )
                except ProjectionFailed as failure:
                    outcomes[consumer.key] = failure
        recorded: set[str] = set()

        def record_reactions(conn: object) -> None:
            recorded.update(self.reactions.record_deferred(conn, deferred))

        projections = [c.projection for c in together if c.projection is not None]
        outcomes.update(
            self.applier.apply_many(page, projections, record_reactions if deferred else None)
        )
        for name, _, _ in deferred:
            outcomes[f"reaction:{name}"] = name in recorded
        return any([self._settle(c, outcomes[c.key], page) for c in together])

    def _feed(self, consumer: Consumer, page: Page) -> bool:
        """Apply one page to one consumer. True: its position moved (or another follower
        moved it first, so look again)."""
        outcome: Outcome
        try:
            if consumer.projection is not None:
                outcome = self.applier.apply_many(page, [consumer.projection])[consumer.key]
            else:
                assert consumer.reaction is not None
                outcome = self.reactions.deliver(consumer.reaction, page)
        except ProjectionFailed as failure:
            outcome = failure
        return self._settle(consumer, outcome, page)

    def _settle(self, consumer: Consumer, outcome: Outcome, page: Page) -> bool:
        """Note what became of a consumer's page. True: its position moved (or another
        follower moved it first, so look again)."""
        if isinstance(outcome, ProjectionFailed):
            if isinstance(outcome.cause, psycopg.Error) and len(page.notifications) > 1:
                consumer.narrow_until = page.end
            self._failed(consumer, outcome)
            return False
        if isinstance(outcome, Exception):
            self._dirty = True  # dropped meanwhile (a rebuild started over): not an error
            self._wake.set()
            return False
        consumer.position = page.end if outcome else None
        consumer.backoff = FIRST_BACKOFF
        if not outcome:
            self._wake.set()  # another follower moved it first: look again at once
        return True

    def _back_off(self, consumer: Consumer) -> None:
        consumer.position = None
        consumer.retry_at = time.monotonic() + consumer.backoff
        consumer.backoff = min(consumer.backoff * 2, MAX_BACKOFF)

    def _failed(self, consumer: Consumer, failure: ProjectionFailed) -> None:
        log.error("%s stopped: %s", consumer.key, failure)
        self._back_off(consumer)
        error = repr(failure.cause)
        try:
            if consumer.projection is not None:
                with self.stores.sql_pool.connection() as conn:
                    catalogue.record_error(
                        conn, consumer.name, consumer.projection.build, error, failure.position
                    )
            else:
                self.reactions.record_error(consumer.name, error, failure.position)
        except psycopg.Error:
            log.exception("could not record the failure of %s", consumer.key)

    # -- wake-ups -------------------------------------------------------------------------
    def _listen(self) -> None:
        """The process's one LISTEN connection: new events on the event store's channel;
        builds started or switched and retries asked for on the catalogue's."""
        while not self._stopping.is_set():
            try:
                with psycopg.connect(self.stores.log.database_url, autocommit=True) as conn:
                    conn.execute(SQL("LISTEN {}").format(Identifier(self.stores.log.channel)))
                    conn.execute(SQL("LISTEN {}").format(Identifier(catalogue.CHANNEL)))
                    self.wake()  # anything missed while not listening
                    while not self._stopping.is_set():
                        for note in conn.notifies(timeout=0.5, stop_after=1):
                            if note.channel == catalogue.CHANNEL:
                                self.wake(note.payload)
                            else:
                                self._wake.set()
            except psycopg.Error:
                log.warning("event log listener lost its connection; reconnecting")
                self._stopping.wait(1.0)
