"""The event store: the eventsourcing library's PostgreSQL application, wired for tillroll.

The one place that chooses the recorder (infra/eventlog/: positions in commit order), adds
who-caused-it metadata to every stored event, and offers the log to its readers: the
command handlers (commands/ports.py), the projection runner (projections/runner.py:
EventLog) and the audit queries (queries/audit.py: AuditLog), each through its own port.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Mapper,
    Notification,
    StoredEvent,
    Transcoder,
    Transcoding,
)
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier
from tillroll.aggregates.errors import ConcurrencyConflict, InvalidValue, NotFound
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.aggregates.values import StoredValue, stored_values
from tillroll.infra.eventlog import schema as log_schema
from tillroll.infra.eventlog.audit_reads import AuditReads, Row
from tillroll.infra.eventlog.chain import GENESIS, link
from tillroll.infra.eventlog.encoding import META_KEY, TypedMapper
from tillroll.infra.eventlog.recorder import LogPage, StoredClaim, TillrollRecorder
from tillroll.infra.trusted_cache import TRUST_SECONDS, TrustedCache

APPLICATION_NAME = "Tillroll"
EVENTS_TABLE = "tillroll_events"
SNAPSHOT_EVERY = 100
AGGREGATE_CACHE = 10_000
_event_meta: ContextVar[Mapping[str, str] | None] = ContextVar("event_meta", default=None)


class StoredValueTranscoding(Transcoding):
    """Stores a value registered with `aggregates.values.stored_as`: a list of its field
    values, or an object of its fields in declaration order (the stored format)."""

    def __init__(self, value: StoredValue) -> None:
        self.value = value

    @property
    def type(self) -> type:  # type: ignore[override]
        return self.value.cls

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.value.name

    def encode(self, obj: Any) -> Any:
        if self.value.as_list:
            return [getattr(obj, f) for f in self.value.fields]
        return {f: getattr(obj, f) for f in self.value.fields}

    def decode(self, data: Any) -> Any:
        return self.value.cls(*data) if self.value.as_list else self.value.cls(**data)


class MetadataTranscoder(JSONTranscoder):
    """Writes the current command's metadata into each stored event's state, and hides it
    from the domain on the way back (the audit reader asks for it with decode_with_meta)."""

    def encode(self, obj: Any) -> bytes:
        meta = _event_meta.get()
        if meta is not None and isinstance(obj, dict):
            obj = {**obj, META_KEY: dict(meta)}
        return super().encode(obj)

    def decode(self, data: bytes) -> Any:
        obj = super().decode(data)
        if isinstance(obj, dict):
            obj.pop(META_KEY, None)
        return obj

    def decode_with_meta(self, data: bytes) -> dict[str, Any]:
        return super().decode(data)


class TillrollMapper(TypedMapper):
    """Typed states (infra/eventlog/encoding.py) carrying the current command's metadata."""

    def meta(self) -> Mapping[str, str] | None:
        return _event_meta.get()


def load(app: Application[UUID], aggregate_id: UUID, version: int | None = None) -> Any:
    """An aggregate through the application's repository; a missing one is NotFound."""
    try:
        return app.repository.get(aggregate_id, version=version)
    except AggregateNotFoundError:
        raise NotFound(f"{aggregate_id} not found") from None


class TillrollApplication(Application[UUID]):
    name = APPLICATION_NAME
    snapshotting_intervals = {InventoryItem: SNAPSHOT_EVERY}

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        # The library reloads the aggregate from the store up to the snapshot's version (a
        # query of up to SNAPSHOT_EVERY events, all decoded: 14 % of a place-order's CPU in
        # a profile); the aggregate just saved is a state at least that recent.
        take_snapshots(self, processing_event.events, processing_event.aggregates)

    def construct_mapper(self) -> Mapper[UUID]:
        return self.factory.mapper(
            transcoder=self.construct_transcoder(), mapper_class=TillrollMapper
        )

    def construct_transcoder(self) -> Transcoder:
        transcoder = MetadataTranscoder()
        self.register_transcodings(transcoder)
        for value in stored_values():
            transcoder.register(StoredValueTranscoding(value))
        return transcoder


def application_env(
    database_url: str, schema: str, pool_size: int, recorder: type = TillrollRecorder
) -> dict[str, str]:
    params = psycopg.conninfo.conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": get_topic(recorder),
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "localhost"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_SCHEMA": schema,
        # One connection kept when idle, up to pool_size under load (idle ones close after
        # the pool's 10 minutes): the connection budget counts the most, docs/DEPLOYMENT.md.
        "POSTGRES_POOL_SIZE": "1",
        "POSTGRES_MAX_OVERFLOW": str(max(1, pool_size - 1)),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "CREATE_TABLE": "y",
        # Loaded aggregates stay in memory and are brought up to date with one query for
        # the events since (the library's fast-forward); saves still check versions.
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE),
    }


class _Write(NamedTuple):
    events: Sequence[Any]
    meta: Mapping[str, str]


def to_stored_batch(app: Application[UUID], writes: Sequence[Any]) -> tuple[list[Any], list[int]]:
    """Several commands' events as stored events, each command's under its own metadata, in
    order; and where each command's events end in that list."""
    stored: list[Any] = []
    ends: list[int] = []
    for write in writes:
        token = _event_meta.set(write.meta)
        try:
            stored.extend(app.mapper.to_stored_event(event) for event in write.events)
        finally:
            _event_meta.reset(token)
        ends.append(len(stored))
    return stored, ends


def positions(ids: Sequence[int], ends: Sequence[int], head: Any) -> list[int]:
    """Each command's position: the largest id of its events (the head if it wrote none)."""
    out: list[int] = []
    start = 0
    for end in ends:
        out.append(max(ids[start:end]) if end > start else head())
        start = end
    return out


def take_snapshots(
    app: Application[UUID], events: Sequence[Any], aggregates: Mapping[UUID, Any]
) -> None:
    """A snapshot of every saved aggregate one of whose new events is a multiple of its
    interval (stock items: every 100th event), taken from the aggregate as saved."""
    intervals = app.snapshotting_intervals or {}
    taken: set[UUID] = set()
    for event in events:
        aggregate = aggregates.get(event.originator_id)
        interval = intervals.get(type(aggregate))
        if interval and event.originator_version % interval == 0 and aggregate.id not in taken:
            taken.add(aggregate.id)
            snapshot_class = getattr(type(aggregate), "Snapshot", app.snapshot_class)
            assert app.snapshots is not None and snapshot_class is not None
            app.snapshots.put([snapshot_class.take(aggregate)])


class EventStore:
    """What commands and the projection runner need of the event store, and nothing more."""

    def __init__(
        self,
        database_url: str,
        *,
        schema: str = "public",
        pool_size: int = 10,
        recorder: type[TillrollRecorder] = TillrollRecorder,
        trust_seconds: float = TRUST_SECONDS,
    ) -> None:
        if schema != "public":
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        self.database_url = database_url
        self.app = TillrollApplication(
            env=application_env(database_url, schema, pool_size, recorder)
        )
        recorder = self.app.recorder
        assert isinstance(recorder, TillrollRecorder)
        self.recorder: TillrollRecorder = recorder
        self.transcoder: MetadataTranscoder = self.app.mapper.transcoder  # type: ignore[assignment]
        self.channel = recorder.channel_name
        self.audit = AuditReads(recorder.datastore, recorder._table)
        self.cache = TrustedCache(self.app, self.recorder, trust_seconds)

    # -- write side -------------------------------------------------------------------
    # Commands load through the trusted cache (infra/trusted_cache.py): a warm command reads
    # nothing and appends once; a failed append distrusts what it saved.
    def get(self, aggregate_id: UUID, *, version: int | None = None) -> Any:
        """The aggregate as stored now (the library's cached load, brought up to date)."""
        return load(self.app, aggregate_id, version)

    def get_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Private copies of several aggregates (those that exist), from the trusted cache."""
        return self.cache.get_many(aggregate_ids)

    @property
    def trust_seconds(self) -> float:
        return self.cache.trust_seconds

    @trust_seconds.setter
    def trust_seconds(self, seconds: float) -> None:
        self.cache.trust_seconds = seconds

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def save(self, *aggregates: Any, meta: Mapping[str, str], claim: Any = None) -> int:
        """Save in one transaction; `claim` (scope, key, fingerprint, result) is the
        command's idempotency record, written with its events."""
        token = _event_meta.set(meta)
        try:
            kwargs = {"idempotency": claim} if claim is not None else {}
            recordings = self.app.save(*aggregates, **kwargs)
        except IntegrityError as exc:
            self.cache.distrust([a.id for a in aggregates])
            raise ConcurrencyConflict(
                "another command changed the same data at the same time", cause=str(exc)
            ) from exc
        finally:
            _event_meta.reset(token)
        now = time.monotonic()
        for aggregate in aggregates:  # saved as they are: the next load starts from here
            self.cache.keep(aggregate, now)
        ids = [r.notification.id for r in recordings]
        return max(ids) if ids else self.head()

    def save_batch(self, writes: Sequence[Any], aggregates: Sequence[Any]) -> list[int]:
        """Several commands' events in one append, each under its own metadata and with its
        own idempotency record (commands/ports.py: PendingWrite); each command's position."""
        stored, ends = to_stored_batch(self.app, writes)
        try:
            ids = self._append_batch(stored, ends, [w.claim for w in writes])
        except (IntegrityError, psycopg.IntegrityError) as exc:
            self.cache.distrust([a.id for a in aggregates])
            raise ConcurrencyConflict(
                "another command changed the same data at the same time", cause=str(exc)
            ) from exc
        now = time.monotonic()
        for aggregate in aggregates:
            self.cache.keep(aggregate, now)
        take_snapshots(
            self.app, [e for w in writes for e in w.events], {a.id: a for a in aggregates}
        )
        return positions(ids, ends, self.head)

    def _append_batch(
        self, stored: list[StoredEvent], ends: list[int], claims: list[Any]
    ) -> list[int]:
        """One statement when at most the last command carries an idempotency record (its
        position is the batch's largest id). Several records: the same statement without
        them, then one insert of all records at their own commands' positions, in one
        transaction (the recorder's list of claims would record them all at the batch's
        largest id), and the listeners woken after its commit."""
        keyed = [(end, claim) for end, claim in zip(ends, claims, strict=True) if claim]
        if not keyed or (len(keyed) == 1 and keyed[0][0] == len(stored)):
            kwargs = {"idempotency": keyed[0][1]} if keyed else {}
            return list(self.recorder.insert_events(stored, **kwargs) or [])
        table = log_schema.qualified(self.recorder.datastore.schema, log_schema.IDEMPOTENCY_TABLE)
        with self.recorder.datastore.get_connection() as conn, conn.transaction():
            ids = self.recorder.append(conn, stored, None, commits=False, notify=False)
            conn.execute(
                SQL(
                    "INSERT INTO {} (scope, key, fingerprint, result, position)"
                    " SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[],"
                    " %s::bigint[])"
                ).format(table),
                (
                    [c.scope for _, c in keyed],
                    [c.key for _, c in keyed],
                    [c.fingerprint for _, c in keyed],
                    [c.result for _, c in keyed],
                    [ids[end - 1] for end, _ in keyed],
                ),
            )
        self.recorder.notifier.poke()
        return ids

    def save_with(
        self,
        statements: Callable[[psycopg.Connection[Any]], None],
        *aggregates: Any,
        meta: Mapping[str, str],
    ) -> int:
        """Save the aggregates' new events and run `statements` (rows outside the log, e.g.
        a new account's credentials) in one transaction: both commit or neither does. A
        stale version or a clashing row fails it with ConcurrencyConflict."""
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        stored, _ = to_stored_batch(self.app, [_Write(events, meta)])
        try:
            with self.recorder.datastore.get_connection() as conn, conn.transaction():
                statements(conn)
                ids = self.recorder.append(conn, stored, None, commits=False, notify=False)
        except (IntegrityError, psycopg.IntegrityError) as exc:
            self.cache.distrust([a.id for a in aggregates])
            raise ConcurrencyConflict(
                "another command changed the same data at the same time", cause=str(exc)
            ) from exc
        self.recorder.notifier.poke()
        now = time.monotonic()
        for aggregate in aggregates:
            self.cache.keep(aggregate, now)
        return max(ids) if ids else self.head()

    def find_result(self, scope: str, key: str) -> StoredClaim | None:
        return self.recorder.select_claim(scope, key)

    # -- the log, in position order -----------------------------------------------------
    # A position is the notification id of an event. Ids are handed out in commit order
    # (docs/EVENT-LOG.md), so positions compare with `<` and any integer is a cursor.
    def head(self) -> int:
        """The largest visible position (0: the log is empty)."""
        return self.recorder.head()

    def read(
        self, after: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        return self.recorder.read_page(after, limit, stop=stop, topics=topics).events

    def page(
        self, after: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> LogPage:
        return self.recorder.read_page(after, limit, stop=stop, topics=topics)

    def reached(self, position: int, wanted: int) -> bool:
        """Has a reader at `position` read the event at `wanted`? A `wanted` beyond the
        head names no event any command has returned: refused, not waited for."""
        if position >= wanted:
            return True
        if wanted > self.head():
            raise InvalidValue(f"no event is stored at position {wanted}", field="min_position")
        return False

    def count_after(self, position: int) -> int:
        return self.recorder.count_after(position)

    def decode(self, notification: StoredEvent) -> Any:
        return self.app.mapper.to_domain_event(notification)

    # -- the audit's reads (queries/audit.py: AuditLog) -----------------------------------
    def stream_rows(self, stream_id: UUID, after_version: int, limit: int) -> list[Row]:
        return self.audit.stream_rows(stream_id, after_version, limit)

    def export_rows(self, after: int, limit: int) -> list[Row]:
        return self.audit.export_rows(after, limit)

    def verify_rows(self, up_to: int, stream_id: UUID | None = None) -> Iterator[Row]:
        return self.audit.verify_rows(up_to, stream_id)

    def link(
        self, previous: bytes | None, stream_id: UUID, version: int, topic: str, state: bytes
    ) -> bytes:
        """The chain hash of one event after `previous` (None: the stream's first)."""
        return link(GENESIS if previous is None else previous, stream_id, version, topic, state)

    def decode_with_meta(
        self, state: bytes, topic: str | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """A stored event's fields and the metadata of the command that caused it (values
        typed by the event's class when its topic is given)."""
        mapper: TypedMapper = self.app.mapper  # type: ignore[assignment]
        typed = mapper.decode_with_meta(topic, state)
        data = typed if typed is not None else self.transcoder.decode_with_meta(state)
        return data, data.pop(META_KEY, None) or {}

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self.recorder.datastore.get_connection() as conn:
            yield conn

    def close(self) -> None:
        self.app.close()
