"""The event store: the eventsourcing library's PostgreSQL application, wired for tillroll.

The one place that chooses the recorder (the performance work replaces the library's
table lock here), adds who-caused-it metadata to every stored event, and keeps
idempotency records in the same transaction as the events they answer for.
"""

from __future__ import annotations

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
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier

from aggregates.errors import ConcurrencyConflict, NotFound
from aggregates.inventory.item import InventoryItem
from aggregates.money import Money
from aggregates.ordering.order import Address, OrderLine
from commands.ports import IdempotencyClaim, StoredResult
from infra.hashchain import GENESIS, link

APPLICATION_NAME = "Tillroll"
EVENTS_TABLE = "tillroll_events"
IDEMPOTENCY_TABLE = "tillroll_idempotency"
META_KEY = "__meta__"
SNAPSHOT_EVERY = 100
AGGREGATE_CACHE = 10_000

_event_meta: ContextVar[Mapping[str, str] | None] = ContextVar("event_meta", default=None)


class MoneyAsDict(Transcoding):
    type = Money
    name = "money"

    def encode(self, obj: Money) -> list[Any]:
        return [obj.amount, obj.currency]

    def decode(self, data: list[Any]) -> Money:
        return Money(data[0], data[1])


class OrderLineAsDict(Transcoding):
    type = OrderLine
    name = "order_line"

    def encode(self, obj: OrderLine) -> dict[str, Any]:
        return {"sku": obj.sku, "quantity": obj.quantity, "unit_price": obj.unit_price}

    def decode(self, data: dict[str, Any]) -> OrderLine:
        return OrderLine(**data)


class AddressAsDict(Transcoding):
    type = Address
    name = "address"

    def encode(self, obj: Address) -> dict[str, Any]:
        return {f: getattr(obj, f) for f in Address.__dataclass_fields__}

    def decode(self, data: dict[str, Any]) -> Address:
        return Address(**data)


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


class TillrollRecorder(PostgresApplicationRecorder):
    """The library's recorder plus a hash chain on every event (tamper evidence) and an
    idempotency record written in the events' transaction."""

    def __init__(self, datastore: Any, *, events_table_name: str = EVENTS_TABLE) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        schema = Identifier(self.datastore.schema)
        events = Identifier(events_table_name)
        self.sql_create_statements.append(
            SQL("ALTER TABLE {schema}.{events} ADD COLUMN IF NOT EXISTS hash bytea").format(
                schema=schema, events=events
            )
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE INDEX IF NOT EXISTS {index} ON {schema}.{events} (originator_id)"
                " WHERE hash IS NULL"
            ).format(
                index=Identifier(f"{events_table_name}_unhashed_idx"), schema=schema, events=events
            )
        )
        self._select_previous = SQL(
            "SELECT originator_id, hash FROM {schema}.{events}"
            " WHERE (originator_id, originator_version) IN"
            " (SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
        ).format(schema=schema, events=events)
        self._insert_chained = SQL(
            "INSERT INTO {schema}.{events} (originator_id, originator_version, topic, state, hash)"
            " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[], %s::bytea[])"
            " RETURNING notification_id"
        ).format(schema=schema, events=events)
        table = Identifier(IDEMPOTENCY_TABLE)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {schema}.{table} ("
                " scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL,"
                " result bytea NOT NULL, position bigint NOT NULL,"
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (scope, key))"
            ).format(schema=schema, table=table)
        )
        self._insert_claim = SQL(
            "INSERT INTO {schema}.{table} (scope, key, fingerprint, result, position)"
            " VALUES (%s, %s, %s, %s, %s)"
        ).format(schema=schema, table=table)
        self._select_claim = SQL(
            "SELECT fingerprint, result, position FROM {schema}.{table}"
            " WHERE scope = %s AND key = %s"
        ).format(schema=schema, table=table)

    def _insert_stored_events(
        self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        # Previous links first, before the table lock: they are committed rows that cannot
        # change (a competing writer of the same version fails on the primary key anyway).
        rows = self._chained_rows(curs, stored_events)
        self._lock_table(curs)
        self._notify_channel(curs)
        curs.execute(self._insert_chained, rows, prepare=True)

    def _chained_rows(
        self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent]
    ) -> tuple[list[Any], ...]:
        """Columns of the rows to insert, each event linked to the one before it."""
        firsts: dict[UUID, int] = {}
        for e in stored_events:
            firsts[e.originator_id] = min(
                firsts.get(e.originator_id, e.originator_version), e.originator_version
            )
        previous: dict[UUID, bytes] = {}
        wanted = [(i, v - 1) for i, v in firsts.items() if v > 1]
        if wanted:
            curs.execute(self._select_previous, ([i for i, _ in wanted], [v for _, v in wanted]))
            previous = {row["originator_id"]: bytes(row["hash"] or GENESIS) for row in curs}
        columns: tuple[list[Any], ...] = ([], [], [], [], [])
        # In the given order (the ids RETURNING gives back must match it); a stream's events
        # come in version order within one save.
        for e in stored_events:
            stream = UUID(str(e.originator_id))
            digest = link(
                previous.get(stream, GENESIS), stream, e.originator_version, e.topic, e.state
            )
            previous[stream] = digest
            for column, value in zip(
                columns, (stream, e.originator_version, e.topic, e.state, digest), strict=True
            ):
                column.append(value)
        return columns

    def _fetch_ids_after_insert_events(
        self, curs: psycopg.Cursor[Any], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        claim: IdempotencyClaim | None = kwargs.get("idempotency")
        if claim is not None and ids:
            curs.execute(
                self._insert_claim,
                (claim.scope, claim.key, claim.fingerprint, claim.result, max(ids)),
            )
        return ids

    def select_claim(self, scope: str, key: str) -> StoredResult | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_claim, (scope, key), prepare=True)
            row = curs.fetchone()
        if row is None:
            return None
        return StoredResult(row["fingerprint"], bytes(row["result"]), row["position"])


class TillrollApplication(Application[UUID]):
    name = APPLICATION_NAME
    snapshotting_intervals = {InventoryItem: SNAPSHOT_EVERY}

    def construct_transcoder(self) -> Transcoder:
        transcoder = MetadataTranscoder()
        self.register_transcodings(transcoder)
        for transcoding in (MoneyAsDict(), OrderLineAsDict(), AddressAsDict()):
            transcoder.register(transcoding)
        return transcoder


def application_env(database_url: str, schema: str, pool_size: int) -> dict[str, str]:
    params = psycopg.conninfo.conninfo_to_dict(database_url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "APPLICATION_RECORDER_TOPIC": get_topic(TillrollRecorder),
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

    def __init__(self, database_url: str, *, schema: str = "public", pool_size: int = 10) -> None:
        if schema != "public":
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))
        self.database_url = database_url
        self.app = TillrollApplication(env=application_env(database_url, schema, pool_size))
        recorder = self.app.recorder
        assert isinstance(recorder, TillrollRecorder)
        self.recorder: TillrollRecorder = recorder
        self.transcoder: MetadataTranscoder = self.app.mapper.transcoder  # type: ignore[assignment]
        self.channel = recorder.channel_name
        self._backfill_hashes()

    def _backfill_hashes(self) -> None:
        """Migration: chain the events stored before the hash column existed (done once)."""
        table = SQL("{}.{}").format(
            Identifier(self.recorder.datastore.schema), Identifier(EVENTS_TABLE)
        )
        with self.connection() as conn:
            unhashed = SQL("SELECT 1 FROM {} WHERE hash IS NULL LIMIT 1").format(table)
            if conn.execute(unhashed).fetchone() is None:
                return  # the usual case: a partial index answers at once
        with self.connection() as conn, conn.transaction():
            conn.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(table))
            rows = conn.execute(
                SQL(
                    "SELECT originator_id, originator_version, topic, state, hash FROM {t}"
                    " WHERE originator_id IN (SELECT originator_id FROM {t} WHERE hash IS NULL)"
                    " ORDER BY originator_id, originator_version"
                ).format(t=table)
            ).fetchall()
            previous: dict[UUID, bytes] = {}
            for row in rows:
                stream = row["originator_id"]
                digest = row["hash"]
                if digest is None:
                    digest = link(
                        previous.get(stream, GENESIS),
                        stream,
                        row["originator_version"],
                        row["topic"],
                        bytes(row["state"]),
                    )
                    conn.execute(
                        SQL(
                            "UPDATE {} SET hash = %s WHERE originator_id = %s"
                            " AND originator_version = %s"
                        ).format(table),
                        (digest, stream, row["originator_version"]),
                    )
                previous[stream] = bytes(digest)

    # -- write side -------------------------------------------------------------------
    def get(self, aggregate_id: UUID, *, version: int | None = None) -> Any:
        try:
            return self.app.repository.get(aggregate_id, version=version)
        except AggregateNotFoundError:
            raise NotFound(f"{aggregate_id} not found") from None

    def exists(self, aggregate_id: UUID) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def save(
        self, *aggregates: Any, meta: Mapping[str, str], claim: IdempotencyClaim | None = None
    ) -> int:
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
        return max((r.notification.id for r in recordings), default=self.head())

    def find_result(self, scope: str, key: str) -> StoredResult | None:
        return self.recorder.select_claim(scope, key)

    # -- the log ----------------------------------------------------------------------
    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def read(
        self, after: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> Sequence[Notification]:
        return self.recorder.select_notifications(
            start=after, limit=limit, stop=stop, topics=topics, inclusive_of_start=False
        )

    def decode(self, notification: StoredEvent) -> Any:
        return self.app.mapper.to_domain_event(notification)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self.recorder.datastore.get_connection() as conn:
            yield conn

    def close(self) -> None:
        self.app.close()
