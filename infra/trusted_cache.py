"""The aggregate cache commands load through: trusted without a query while the store has
recently confirmed it, so a warm command reads nothing and only appends.

Staleness of an aggregate a command writes is caught by the append's version check (the
primary key on stream and version): the failed append distrusts what it saved, and the
retry brings it up to date with one query for all their new events. An aggregate a command
only reads (a product's price) is brought up to date once it has gone unconfirmed for
TRUST_SECONDS, which bounds how late a change made by another process is seen.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from tillroll.infra.eventlog.recorder import TillrollRecorder

TRUST_SECONDS = 1.0
"""How long a cached aggregate is used without asking the store for newer events, counted
from when the store last confirmed it (loaded it, brought it up to date, or accepted our
save of it). Staleness of an aggregate a command writes is caught by the append's version
check anyway; this bounds it for aggregates a command only reads (a product's price, changed
by another process)."""
SUSPECT_SECONDS = 5.0
"""How long an aggregate whose cached copy failed an append stays distrusted: each command
brings it up to date first (one query) rather than failing the append again. Aggregates
that other processes write too (a SKU ordered through every API worker) settle there; in a
single process nothing is ever suspect."""

SIZE = 10_000
"""Aggregates whose confirmation times are kept (the application's cache holds as many)."""


class TrustedCache:
    """Confirmation times over the application's own aggregate cache."""

    def __init__(
        self, app: Application[UUID], recorder: TillrollRecorder, trust_seconds: float
    ) -> None:
        self.app, self.recorder, self.trust_seconds = app, recorder, trust_seconds
        self._confirmed: dict[UUID, float] = {}
        self._suspect: dict[UUID, float] = {}
        self._absent: dict[UUID, float] = {}
        """Aggregates the store did not have, and when it said so: trusted as absent for as
        long as a cached one is trusted (a warm order of a customer without a Customer
        aggregate reads nothing)."""
        self._lock = threading.Lock()

    def get_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Private copies of several aggregates (those that exist): cached ones confirmed
        within TRUST_SECONDS as they are (no query), older cached ones brought up to date
        with one query for all their new events, the others loaded (snapshot + events
        since) and cached."""
        repository = self.app.repository
        now = time.monotonic()
        trusted_since = now - self.trust_seconds
        found: dict[UUID, Any] = {}
        unconfirmed: dict[UUID, Any] = {}
        for aggregate_id in dict.fromkeys(aggregate_ids):
            try:
                cached = repository.cache.get(aggregate_id)
            except KeyError:
                if self._absent.get(aggregate_id, -1.0) >= trusted_since and (
                    not self._suspect or self._suspect.get(aggregate_id, 0.0) < now
                ):
                    continue
                try:
                    found[aggregate_id] = repository.get(aggregate_id)
                except AggregateNotFoundError:
                    if len(self._absent) > 2 * SIZE:  # bounded: forgetting costs a query
                        self._absent.clear()
                    self._absent[aggregate_id] = now
                    continue
                self._absent.pop(aggregate_id, None)
                self.confirm(aggregate_id, now)
                continue
            if self._confirmed.get(aggregate_id, -1.0) >= trusted_since and (
                not self._suspect or self._suspect.get(aggregate_id, 0.0) < now
            ):
                found[aggregate_id] = copy.deepcopy(cached)
            else:
                unconfirmed[aggregate_id] = cached
        if unconfirmed:
            newer = self.recorder.select_events_after(
                [(i, aggregate.version) for i, aggregate in unconfirmed.items()]
            )
            for aggregate_id, aggregate in unconfirmed.items():
                current = copy.deepcopy(aggregate)
                events = newer.get(aggregate_id)
                if not events:
                    self.confirm(aggregate_id, now)
                    found[aggregate_id] = current
                    continue
                for stored in events:
                    current = self.app.mapper.to_domain_event(stored).mutate(current)
                self.keep(current, now)  # the cache keeps this one, the caller a copy
                found[aggregate_id] = copy.deepcopy(current)
        return found

    def confirm(self, aggregate_id: UUID, now: float) -> None:
        if len(self._confirmed) > 2 * SIZE:  # bounded: forgetting costs a query
            self._confirmed.clear()
        self._confirmed[aggregate_id] = now

    def keep(self, aggregate: Any, now: float) -> None:
        """Keep `aggregate` (no pending events) as the cached copy, unless a newer one is
        there already (a slower thread finishing after a faster one)."""
        cache = self.app.repository.cache
        with self._lock:
            try:
                cached = cache.get(aggregate.id)
            except KeyError:
                cached = None
            self._absent.pop(aggregate.id, None)
            if cached is None or cached.version <= aggregate.version:
                cache.put(aggregate.id, aggregate)
                self.confirm(aggregate.id, now)

    def distrust(self, aggregate_ids: Sequence[UUID]) -> None:
        """A save of these failed: bring them up to date before the next command uses them,
        and keep doing so for a while (another process writes them too)."""
        until = time.monotonic() + SUSPECT_SECONDS
        if len(self._suspect) > SIZE:
            self._suspect.clear()
        for aggregate_id in aggregate_ids:
            self._absent.pop(aggregate_id, None)
            self._confirmed.pop(aggregate_id, None)
            self._suspect[aggregate_id] = until
