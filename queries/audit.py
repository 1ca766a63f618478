"""Audit queries: one stream's history, its state at a version or a time, the global log as
an export, and verification of the hash chains. These read the event store on purpose,
through the AuditLog port below (infra's AuditLog provides it)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent
from tillroll.aggregates.errors import NotFound

EXPORT_PAGE = 1000

Row = tuple[int, UUID, int, str, bytes, bytes | None]
"""One stored event as the log keeps it: position, stream id, version, topic, state, hash."""


@runtime_checkable
class AuditLog(Protocol):
    """What the audit queries need of the event log (runtime-checkable: the API validates
    its dependencies against their declared types)."""

    def head(self) -> int: ...

    def get(self, aggregate_id: UUID, *, version: int | None = None) -> Any: ...

    def decode(self, notification: StoredEvent) -> Any: ...

    def decode_with_meta(
        self, state: bytes, topic: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def stream_rows(self, stream_id: UUID, after_version: int, limit: int) -> list[Row]: ...

    def export_rows(self, after: int, limit: int) -> list[Row]: ...

    def verify_rows(self, up_to: int, stream_id: UUID | None = None) -> Iterator[Row]: ...

    def link(
        self, previous: bytes | None, stream_id: UUID, version: int, topic: str, state: bytes
    ) -> bytes:
        """The chain hash of one event after `previous` (None: the stream's first)."""
        ...


class AuditEvent(msgspec.Struct):
    """One stored event, in the stable export format (also one NDJSON line)."""

    position: int
    stream_id: UUID
    version: int
    type: str
    time: datetime | None
    data: dict[str, Any]
    metadata: dict[str, Any]
    hash: str | None


class AggregateState(msgspec.Struct):
    stream_id: UUID
    type: str
    version: int
    at: datetime | None
    state: dict[str, Any]


SECRET_FIELDS = frozenset({"password_hash"})
"""Fields no audit answer shows. Early `Account.Opened` events carried the account's password
hash; credentials now live outside the log, but those events stay as stored (the hash chain
covers their bytes), so every audit path shows the field as REDACTED instead (docs/AUDIT.md)."""
REDACTED = "[redacted]"


def redact(value: Any) -> Any:
    """`value` (decoded builtins) with every SECRET_FIELDS entry replaced, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if k in SECRET_FIELDS else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


def _short_type(topic: str) -> str:
    return topic.split(":", 1)[-1]


def to_event(store: AuditLog, row: Row) -> AuditEvent:
    position, stream_id, version, topic, state, digest = row
    try:
        data, meta = store.decode_with_meta(bytes(state), topic)
        when = data.pop("timestamp", None)
        data.pop("originator_topic", None)
    except (ValueError, TypeError):  # a damaged row is still exported as stored, to investigate
        data, meta, when = {"undecodable_state_hex": bytes(state).hex()}, {}, None
    return AuditEvent(
        position=position,
        stream_id=stream_id,
        version=version,
        type=_short_type(topic),
        time=when,
        data=redact(msgspec.to_builtins(data)),
        metadata=msgspec.to_builtins(meta),
        hash=bytes(digest).hex() if digest is not None else None,
    )


def history(
    store: AuditLog, stream_id: UUID, *, after_version: int = 0, limit: int = 1000
) -> list[AuditEvent]:
    return [to_event(store, row) for row in store.stream_rows(stream_id, after_version, limit)]


def version_at(store: AuditLog, stream_id: UUID, at: datetime) -> int:
    """The stream's version as it stood at time `at` (0: it did not exist yet)."""
    version, after = 0, 0
    while True:
        page = history(store, stream_id, after_version=after, limit=1000)
        for event in page:
            if event.time is not None and event.time > at:
                return version
            version = event.version
        if len(page) < 1000:
            return version
        after = page[-1].version


def state_at(
    store: AuditLog, stream_id: UUID, *, version: int | None = None, at: datetime | None = None
) -> AggregateState:
    if at is not None:
        version = version_at(store, stream_id, at)
        if version == 0:
            raise NotFound(f"{stream_id} did not exist at {at.isoformat()}", field="at")
    aggregate = store.get(stream_id, version=version)
    return AggregateState(
        stream_id=stream_id,
        type=type(aggregate).__qualname__,
        version=aggregate.version,
        at=aggregate.modified_on,
        state=render_state(aggregate),
    )


def render_state(aggregate: Any) -> dict[str, Any]:
    state = {
        key.lstrip("_"): value
        for key, value in vars(aggregate).items()
        if key not in ("_pending_events", "_id", "_version")
    }
    return redact(msgspec.to_builtins(state))


def replay(store: AuditLog, stream_id: UUID) -> Iterator[tuple[AuditEvent, dict[str, Any]]]:
    """Each event of the stream with the aggregate's state right after it."""
    aggregate = None
    after = 0
    while True:
        rows = store.stream_rows(stream_id, after, 1000)
        if not rows and aggregate is None:
            raise NotFound(f"{stream_id} not found")
        for values in rows:
            event = store.decode(StoredEvent(values[1], values[2], values[3], bytes(values[4])))
            aggregate = event.mutate(aggregate)
            yield to_event(store, values), render_state(aggregate)
            after = values[2]
        if len(rows) < 1000:
            return


def export(store: AuditLog, after: int = 0, limit: int | None = None) -> Iterator[AuditEvent]:
    """The global log after position `after` (any integer), in position order, in pages,
    in constant memory. Positions are handed out in commit order, so an export resumed
    from its last position never misses an event committed late."""
    sent = 0
    while limit is None or sent < limit:
        page = EXPORT_PAGE if limit is None else min(EXPORT_PAGE, limit - sent)
        rows = store.export_rows(after, page)
        for row in rows:
            yield to_event(store, row)
        sent += len(rows)
        if len(rows) < page:
            return
        after = rows[-1][0]


# -- verification --------------------------------------------------------------------------
class Break(msgspec.Struct):
    stream_id: UUID
    version: int
    position: int | None
    problem: str


class VerifyReport(msgspec.Struct):
    ok: bool
    streams: int
    events: int
    first_break: Break | None
    breaks: int
    head_digest: str
    position: int


def verify(
    store: AuditLog,
    *,
    stream_id: UUID | None = None,
    up_to: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Recompute every chain (or one stream's) from the stored rows, streaming them in
    (stream, version) order; report the first broken link. Also returns a digest of every
    stream's head, which an anchor taken earlier can be compared with."""
    up_to = store.head() if up_to is None else up_to
    events = streams = breaks = 0
    first: Break | None = None
    heads = hashlib.sha256()
    current: UUID | None = None
    previous: bytes | None = None
    expected, last = 1, (None, 0, b"")

    def close_stream() -> None:
        if current is not None:
            heads.update(current.bytes + last[1].to_bytes(8, "big") + last[2])

    for position, stream, version, topic, state, digest in store.verify_rows(up_to, stream_id):
        if stream != current:
            close_stream()
            current, previous, expected = stream, None, 1
            streams += 1
        problem = None
        if version != expected:
            problem = (
                f"version {expected} is missing (deleted or renumbered)"
                if version > expected
                else f"version {version} appears out of order"
            )
        recomputed = store.link(previous, stream, version, topic, bytes(state))
        if problem is None and (digest is None or bytes(digest) != recomputed):
            problem = "stored event was altered (its hash does not match its content)"
        if problem is not None:
            breaks += 1
            if first is None:
                first = Break(
                    stream, expected if version > expected else version, position, problem
                )
        previous = bytes(digest) if digest is not None else recomputed
        expected = version + 1
        last = (stream, version, previous)
        events += 1
        if progress is not None and events % 5000 == 0:
            progress(events, 0)
    close_stream()
    return VerifyReport(
        ok=first is None,
        streams=streams,
        events=events,
        first_break=first,
        breaks=breaks,
        head_digest=heads.hexdigest(),
        position=up_to,
    )


class Anchor(msgspec.Struct):
    """A digest of every stream's head at one position: export it and keep it elsewhere;
    a later verify against it proves the history up to there was not rewritten."""

    position: int
    taken_at: datetime
    streams: int
    events: int
    head_digest: str
