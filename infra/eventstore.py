"""The event store: the eventsourcing library's PostgreSQL application, wired for tillroll.

The one place that chooses the recorder (infra/eventlog/: positions in commit order), adds
who-caused-it metadata to every stored event, and offers the log to its readers: the
command handlers (commands/ports.py), the projection runner (projections/runner.py:
EventLog) and the audit queries (queries/audit.py: AuditLog), each through its own port.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
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
from tillroll.infra.eventlog.audit_reads import AuditReads, Row
from tillroll.infra.eventlog.chain import GENESIS, link
from tillroll.infra.eventlog.recorder import LogPage, StoredClaim, TillrollRecorder

APPLICATION_NAME = "Tillroll"
EVENTS_TABLE = "tillroll_events"
META_KEY = "__meta__"
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


class TillrollApplication(Application[UUID]):
    name = APPLICATION_NAME
    snapshotting_intervals = {InventoryItem: SNAPSHOT_EVERY}

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
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": str(pool_size),
        "POSTGRES_CONNECT_TIMEOUT": "10",
        "CREATE_TABLE": "y",
        # Loaded aggregates stay in memory and are brought up to date with one query for
        # the events since (the library's fast-forward); saves still check versions.
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE),
    }


class EventStore:
    """What commands and the projection runner need of the event store, and nothing more."""

    def __init__(
        self,
        database_url: str,
        *,
        schema: str = "public",
        pool_size: int = 10,
        recorder: type[TillrollRecorder] = TillrollRecorder,
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

    # -- write side -------------------------------------------------------------------
    def get(self, aggregate_id: UUID, *, version: int | None = None) -> Any:
        try:
            return self.app.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"{aggregate_id} not found") from None

    def get_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Current copies of several aggregates (those that exist): the cached ones brought
        up to date with one query for all their new events, the others loaded one by one
        (snapshot + events since) and cached."""
        repository = self.app.repository
        cached: dict[UUID, Any] = {}
        found: dict[UUID, Any] = {}
        for aggregate_id in dict.fromkeys(aggregate_ids):
            try:
                cached[aggregate_id] = repository.cache.get(aggregate_id)
            except KeyError:
                try:
                    found[aggregate_id] = repository.get(aggregate_id)
                except AggregateNotFoundError:
                    continue
        if cached:
            newer = self.recorder.select_events_after(
                [(i, aggregate.version) for i, aggregate in cached.items()]
            )
            for aggregate_id, aggregate in cached.items():
                current = copy.deepcopy(aggregate)
                for stored in newer.get(aggregate_id, ()):
                    current = self.app.mapper.to_domain_event(stored).mutate(current)
                found[aggregate_id] = current
        return found

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
            raise ConcurrencyConflict(
                "another command changed the same data at the same time", cause=str(exc)
            ) from exc
        finally:
            _event_meta.reset(token)
        cache = self.app.repository.cache
        for aggregate in aggregates:  # saved as they are: the next load starts from here
            cache.put(aggregate.id, aggregate)
        ids = [r.notification.id for r in recordings]
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

    def decode_with_meta(self, state: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
        """A stored event's fields and the metadata of the command that caused it."""
        data = self.transcoder.decode_with_meta(state)
        return data, data.pop(META_KEY, None) or {}

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self.recorder.datastore.get_connection() as conn:
            yield conn

    def close(self) -> None:
        self.app.close()
