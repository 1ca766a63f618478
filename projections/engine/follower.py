"""One follower per process: a thread that reads each page of the log once and hands it to
every consumer it runs (the live build of each read model, each reaction).

Each consumer applies only what lies after its own position and records its own position.
In the steady state they all stand at one position and share one page, decoded once. A
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
from tillroll.projections.engine.apply import Applier, ProjectionFailed
from tillroll.projections.engine.builds import Builds
from tillroll.projections.engine.catalogue import LIVE
from tillroll.projections.engine.log import Page
from tillroll.projections.engine.model import Projection
from tillroll.projections.engine.reactions import Reaction, Reactions
from tillroll.projections.engine.rebuilds import Rebuilds
from tillroll.projections.engine.stores import Stores

log = logging.getLogger(__name__)

HELD_POLL = 0.005
"""How soon to look again when committed events wait behind an open transaction: its end
sends no notification, so the follower polls until they are readable."""
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
            try:
                self._take_notes()
                moved, held = self.round()
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
            if not moved:
                self._wake.wait(self._idle_wait(held))

    def _idle_wait(self, held: bool) -> float:
        if held:
            return HELD_POLL
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
    def round(self) -> tuple[bool, bool]:
        """Feed every consumer that is due one page; (anything moved, events held back)."""
        now = time.monotonic()
        due = [c for c in self.consumers.values() if c.retry_at <= now]
        for consumer in due:
            if consumer.position is None:
                consumer.position = self._position(consumer)
        shared = Counter(c.position for c in due if c.live)
        cursor = shared.most_common(1)[0][0] if shared else None
        together = [c for c in due if c.live and c.position == cursor]
        apart = [c for c in due if c not in together]
        moved, held = False, False
        if cursor is not None:
            log_ = self.stores.log
            page = Page(
                log_, cursor, log_.page(cursor, self.stores.batch_size, topics=self._topics())
            )
            held = page.held
            if page.moved:
                for consumer in together:
                    moved = self._feed(consumer, page) or moved
        for consumer in apart:
            assert consumer.position is not None
            try:
                page = self._own_page(consumer, consumer.position)
            except Exception:  # e.g. a dependency down: this one backs off, the others go on
                log.exception("%s: could not read the log; retrying", consumer.key)
                self._back_off(consumer)
                continue
            held = held or page.held
            if page.moved:
                moved = self._feed(consumer, page) or moved
        return moved, held

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
        if consumer.projection is not None:
            return self.applier.read(consumer.projection, position, self.stores.batch_size)
        assert consumer.reaction is not None
        return self.reactions.read(consumer.reaction, position, self.stores.batch_size)

    def _feed(self, consumer: Consumer, page: Page) -> bool:
        """Apply one page to one consumer. True: its position moved (or another follower
        moved it first, so look again)."""
        try:
            if consumer.projection is not None:
                applied = self.applier.apply(consumer.projection, page)
            else:
                assert consumer.reaction is not None
                applied = self.reactions.deliver(consumer.reaction, page)
        except ProjectionFailed as failure:
            self._failed(consumer, failure)
            return False
        except LookupError:
            self._dirty = True  # dropped meanwhile (a rebuild started over): not an error
            return False
        consumer.position = page.end if applied else None
        consumer.backoff = FIRST_BACKOFF
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
