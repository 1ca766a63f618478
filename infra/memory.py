"""An event store in memory: the same application, mapper and transcoder as the PostgreSQL
one over the eventsourcing library's POPO persistence, for fast tests of command handlers.

It implements the commands' port (commands.ports.EventStorePort) with the same guarantees
that handlers rely on: a save is atomic across aggregates, a stale version fails it as a
ConcurrencyConflict, and an idempotency claim is written with the events or not at all."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import ApplicationRecorder, IntegrityError, StoredEvent
from eventsourcing.popo import POPOApplicationRecorder
from tillroll.aggregates.errors import ConcurrencyConflict
from tillroll.infra.eventlog.recorder import StoredClaim
from tillroll.infra.eventstore import (
    TillrollApplication,
    load,
    positions,
    take_snapshots,
    to_stored_batch,
)


class MemoryRecorder(POPOApplicationRecorder):
    """The library's in-memory recorder, keeping idempotency claims beside the events: a
    claim already taken fails the insert like a version clash does (the PostgreSQL
    recorder's unique key), so a twin request falls back to the first one's result."""

    def __init__(self) -> None:
        super().__init__()
        self._claims: dict[tuple[str, str], StoredClaim] = {}

    def _assert_uniqueness(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._assert_uniqueness(stored_events)
        claims = _claims(kwargs.get("idempotency"), len(stored_events))
        keys = [(claim.scope, claim.key) for claim, _ in claims]
        if any(key in self._claims for key in keys) or len(set(keys)) < len(keys):
            raise IntegrityError("an idempotency key is already claimed")

    def _update_table(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._update_table(stored_events)
        if ids:
            for claim, end in _claims(kwargs.get("idempotency"), len(stored_events)):
                position = max(ids[:end]) if end else max(ids)
                self._claims[claim.scope, claim.key] = StoredClaim(
                    claim.fingerprint, claim.result, position
                )
        return ids

    def select_claim(self, scope: str, key: str) -> StoredClaim | None:
        with self._database_lock:
            return self._claims.get((scope, key))


def _claims(idempotency: Any, count: int) -> list[tuple[Any, int]]:
    """Idempotency records and where their command's events end: one record (for all the
    events), or a list of (record, end) pairs from a batched append."""
    if idempotency is None:
        return []
    if isinstance(idempotency, list):
        return list(idempotency)
    return [(idempotency, count)]


class MemoryApplication(TillrollApplication):
    def construct_recorder(self) -> ApplicationRecorder:
        return MemoryRecorder()


class MemoryEventStore:
    """EventStorePort in memory. Nothing is cached: every load replays the stream, so a
    handler never sees another handler's unsaved changes."""

    def __init__(self) -> None:
        self.app = MemoryApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        recorder = self.app.recorder
        assert isinstance(recorder, MemoryRecorder)
        self.recorder = recorder

    def get(self, aggregate_id: UUID, *, version: int | None = None) -> Any:
        return load(self.app, aggregate_id, version)

    def get_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        found: dict[UUID, Any] = {}
        for aggregate_id in dict.fromkeys(aggregate_ids):
            try:
                found[aggregate_id] = self.app.repository.get(aggregate_id)
            except AggregateNotFoundError:
                continue
        return found

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def save(self, *aggregates: Any, meta: Mapping[str, str], claim: Any | None = None) -> int:
        # `meta` (who caused it) is for auditors; the PostgreSQL store writes it into each
        # event's state, and no handler reads it back, so it is not kept here.
        kwargs = {"idempotency": claim} if claim is not None else {}
        try:
            recordings = self.app.save(*aggregates, **kwargs)
        except IntegrityError as exc:
            raise ConcurrencyConflict(
                "another command changed the same data at the same time", cause=str(exc)
            ) from exc
        ids = [r.notification.id for r in recordings]
        return max(ids) if ids else self.head()

    def save_batch(self, writes: Sequence[Any], aggregates: Sequence[Any]) -> list[int]:
        """Several commands' events in one atomic insert, each command's idempotency record
        at its own position (commands/ports.py: PendingWrite)."""
        stored, ends = to_stored_batch(self.app, writes)
        claims = [(w.claim, end) for w, end in zip(writes, ends, strict=True) if w.claim]
        try:
            ids = self.recorder.insert_events(stored, idempotency=claims) or []
        except IntegrityError as exc:
            raise ConcurrencyConflict(
                "another command changed the same data at the same time", cause=str(exc)
            ) from exc
        take_snapshots(
            self.app, [e for w in writes for e in w.events], {a.id: a for a in aggregates}
        )
        return positions(ids, ends, self.head)

    def find_result(self, scope: str, key: str) -> StoredClaim | None:
        return self.recorder.select_claim(scope, key)

    def head(self) -> int:
        """The position of the last event (0: the store is empty)."""
        return self.recorder.max_notification_id() or 0
