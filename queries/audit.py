"""Audit queries: one stream's history, its state at a version or a time, the global log as
an export, and verification of the hash chains. These read the event store on purpose."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier
from tillroll.aggregates.errors import InvalidValue, NotFound
from tillroll.infra.eventstore import EVENTS_TABLE, META_KEY, EventStore
from tillroll.infra.hashchain import GENESIS, link
from tillroll.infra.recorder import HORIZON, LogKey, UnknownPosition

EXPORT_PAGE = 1000


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


def _table(store: EventStore) -> SQL | Any:
    return SQL("{}.{}").format(
        Identifier(store.recorder.datastore.schema), Identifier(EVENTS_TABLE)
    )


def _short_type(topic: str) -> str:
    return topic.split(":", 1)[-1]


def to_event(store: EventStore, row: tuple[Any, ...]) -> AuditEvent:
    position, stream_id, version, topic, state, digest = row
    try:
        data = store.transcoder.decode_with_meta(bytes(state))
        meta = data.pop(META_KEY, {}) or {}
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
        data=msgspec.to_builtins(data),
        metadata=msgspec.to_builtins(meta),
        hash=bytes(digest).hex() if digest is not None else None,
    )


_COLUMNS = SQL("notification_id, originator_id, originator_version, topic, state, hash")


def _stream_rows(
    store: EventStore, stream_id: UUID, after_version: int, limit: int
) -> list[tuple[Any, ...]]:
    """One page of a stream's stored rows (_COLUMNS), in version order."""
    with store.connection() as conn:
        rows = conn.execute(
            SQL(
                "SELECT {} FROM {} WHERE originator_id = %s AND originator_version > %s"
                " ORDER BY originator_version LIMIT %s"
            ).format(_COLUMNS, _table(store)),
            (stream_id, after_version, limit),
        ).fetchall()
    return [tuple(r.values()) for r in rows]


def history(
    store: EventStore, stream_id: UUID, *, after_version: int = 0, limit: int = 1000
) -> list[AuditEvent]:
    return [to_event(store, row) for row in _stream_rows(store, stream_id, after_version, limit)]


def version_at(store: EventStore, stream_id: UUID, at: datetime) -> int:
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
    store: EventStore, stream_id: UUID, *, version: int | None = None, at: datetime | None = None
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
    return msgspec.to_builtins(state)


def replay(store: EventStore, stream_id: UUID) -> Iterator[tuple[AuditEvent, dict[str, Any]]]:
    """Each event of the stream with the aggregate's state right after it."""
    aggregate = None
    after = 0
    while True:
        rows = _stream_rows(store, stream_id, after, 1000)
        if not rows and aggregate is None:
            raise NotFound(f"{stream_id} not found")
        for values in rows:
            event = store.decode(StoredEvent(values[1], values[2], values[3], bytes(values[4])))
            aggregate = event.mutate(aggregate)
            yield to_event(store, values), render_state(aggregate)
            after = values[2]
        if len(rows) < 1000:
            return


def export(store: EventStore, after: int = 0, limit: int | None = None) -> Iterator[AuditEvent]:
    """The global log after position `after`, in log order, in pages, in constant memory.
    Only the final prefix of the log is exported (below the horizon of open transactions),
    so an export resumed from its last position never misses an event committed late."""
    try:
        key = store.recorder.log_key(after)
    except UnknownPosition:
        raise InvalidValue(f"no event is stored at position {after}", field="after") from None
    sent = 0
    while limit is None or sent < limit:
        page = EXPORT_PAGE if limit is None else min(EXPORT_PAGE, limit - sent)
        with store.connection() as conn:
            rows = conn.execute(
                SQL(
                    "SELECT {}, xid::text::bigint AS xid FROM {} WHERE xid < {}"
                    " AND (xid, notification_id) > (%s::text::xid8, %s)"
                    " ORDER BY xid, notification_id LIMIT %s"
                ).format(_COLUMNS, _table(store), SQL("(SELECT " + HORIZON + ")")),
                (str(key.xid), key.position, page),
            ).fetchall()
        for row in rows:
            yield to_event(store, tuple(row.values())[:6])
        sent += len(rows)
        if len(rows) < page:
            return
        key = LogKey(rows[-1]["xid"], rows[-1]["notification_id"])


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
    store: EventStore,
    *,
    stream_id: UUID | None = None,
    up_to: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyReport:
    """Recompute every chain (or one stream's) from the stored rows, streaming them in
    (stream, version) order; report the first broken link. Also returns a digest of every
    stream's head, which an anchor taken earlier can be compared with."""
    up_to = store.head() if up_to is None else up_to
    key = store.recorder.log_key(up_to)
    where = SQL("WHERE (xid, notification_id) <= (%s::text::xid8, %s)")
    params: list[Any] = [str(key.xid), key.position]
    if stream_id is not None:
        where += SQL(" AND originator_id = %s")
        params.append(stream_id)
    query = SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state, hash"
        " FROM {} {} ORDER BY originator_id, originator_version"
    ).format(_table(store), where)
    events = streams = breaks = 0
    first: Break | None = None
    heads = hashlib.sha256()
    current: UUID | None = None
    previous, expected, last = GENESIS, 1, (None, 0, GENESIS)

    def close_stream() -> None:
        if current is not None:
            heads.update(current.bytes + last[1].to_bytes(8, "big") + last[2])

    with store.connection() as conn, conn.transaction(), conn.cursor(name="audit_verify") as cur:
        cur.itersize = 5000
        cur.execute(query, params)
        for position, stream, version, topic, state, digest in (tuple(r.values()) for r in cur):
            if stream != current:
                close_stream()
                current, previous, expected = stream, GENESIS, 1
                streams += 1
            problem = None
            if version != expected:
                problem = (
                    f"version {expected} is missing (deleted or renumbered)"
                    if version > expected
                    else f"version {version} appears out of order"
                )
            recomputed = link(previous, stream, version, topic, bytes(state))
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
