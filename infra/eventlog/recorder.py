"""The event recorder: the eventsourcing library's PostgreSQL application recorder, appending
in one round trip with the hash chain and the idempotency records, positions in commit order.

An append first takes a transaction-level advisory lock on the events table and only then
draws notification ids; the lock is held until the transaction ends, after its commit is
visible. Concurrent appends of one process share that transaction (combining.py, batch.py),
each with its own outcome; listeners are woken after the commit (notifier.py). So ids are
handed out in commit order: a reader whose snapshot sees id N sees every smaller id that
will ever commit, and a plain `notification_id > cursor ORDER BY notification_id` walk
never skips an event (the argument in full: docs/EVENT-LOG.md). Reads are therefore the
library's own (`select_notifications`, `max_notification_id`, `subscribe`); what is added
here is the append, one page read that also tells a follower where to resume, and the
idempotency lookup. Every writer of the table must append through this class: an insert
that draws an id without the lock would break the order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from eventsourcing.persistence import (
    IntegrityError,
    InterfaceError,
    Notification,
    OperationalError,
    PersistenceError,
    ProgrammingError,
    StoredEvent,
    Tracking,
)
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresProcessRecorder,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL
from tillroll.infra.eventlog import batch, schema
from tillroll.infra.eventlog.combining import Combiner, Pending
from tillroll.infra.eventlog.heads import StreamHeads, stream_id
from tillroll.infra.eventlog.notifier import Notifier

RETRY = retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
"""The library's retry on a lost connection, as it decorates its own recorder's methods."""


class LogPage(NamedTuple):
    events: list[Notification]
    end: int
    """The position to resume after: the last event of a full page, else the head of the log
    as the same statement saw it (a page filtered by topic moves past what it skipped)."""
    held: bool = False
    """Always False: no committed event ever waits behind an open transaction any more."""


def append_lock_key(schema_name: str, table: str) -> int:
    """The advisory lock every append to one events table takes (a stable signed 64-bit)."""
    digest = hashlib.sha256(f"tillroll.append.{schema_name}.{table}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class StoredClaim(NamedTuple):
    """What a command's idempotency record holds (commands/ports.py: StoredResult)."""

    fingerprint: str
    result: bytes
    position: int


class TillrollRecorder(PostgresApplicationRecorder):
    """One-statement appends under the append lock; hash chain; idempotency records.

    Originator ids must be UUIDs (`ORIGINATOR_ID_TYPE=uuid`, the library's default): the
    hash chain encodes them as 16 bytes. A text originator id is refused with the library's
    `DataError`, and a datastore configured for text ids with `ProgrammingError`."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str, **kwargs: Any
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name, **kwargs)
        if datastore.originator_id_type != "uuid":
            raise ProgrammingError("TillrollRecorder stores UUID originator ids only")
        self._table = schema.qualified(datastore.schema, events_table_name)
        self._claims = schema.qualified(datastore.schema, schema.IDEMPOTENCY_TABLE)
        self.append_lock = append_lock_key(datastore.schema, events_table_name)
        self._heads = StreamHeads(datastore, self._table)
        t = self._table
        # The lock is taken in the FROM list's first item, before the INSERT evaluates the
        # rows and their `nextval` defaults (tests/integration/test_log_order.py checks
        # that a blocked append has drawn no id). Unique checks do not use the statement's
        # snapshot, so they see every row committed while this append waited.
        # The append on a connection whose transaction the caller ends (the tests drive
        # interleavings through it, and the process recorder adds its tracking row): one
        # statement. The lock is taken in the FROM list's first item, before the INSERT
        # evaluates the rows and their `nextval` defaults (tests/integration/
        # test_log_order.py checks that a blocked append has drawn no id). Unique checks do
        # not use the statement's snapshot, so they see every row committed while this
        # append waited. Only when the caller commits does it notify in the transaction:
        # nothing else could announce a commit this recorder does not see.
        single = (
            "WITH new AS ("
            " INSERT INTO {t} (originator_id, originator_version, topic, state, hash)"
            " SELECT u.* FROM (SELECT pg_advisory_xact_lock(%s)) AS locked,"
            "  unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[], %s::bytea[]) AS u"
            " RETURNING notification_id), "
            "claim AS ("
            " INSERT INTO {c} (scope, key, fingerprint, result, position)"
            " SELECT c.*, (SELECT max(notification_id) FROM new)"
            " FROM unnest(%s::text[], %s::text[], %s::text[], %s::bytea[]) AS c)"
        )
        self._insert_quiet = SQL(single + " SELECT notification_id FROM new").format(
            t=t, c=self._claims
        )
        self._insert_notifying = SQL(
            single + " SELECT notification_id FROM new"
            " CROSS JOIN (SELECT pg_notify(%s, '')) AS woken"
        ).format(t=t, c=self._claims)
        self._batch = batch.Statements(datastore.schema, events_table_name, self.append_lock)
        self.combiner = Combiner(self._send_batch)
        self.notifier = Notifier(self._connect, self.channel_name)
        self._select_streams_after = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state"
            " FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, version)"
            " JOIN {t} AS e ON e.originator_id = w.id AND e.originator_version > w.version"
            " ORDER BY e.originator_id, e.originator_version"
        ).format(t=t)
        self._select_claim = SQL(
            "SELECT fingerprint, result, position FROM {c} WHERE scope = %s AND key = %s"
        ).format(c=self._claims)
        # One statement, so one snapshot: the page and the head it is measured against
        # cannot disagree. `stop` bounds both (a scratch build stops at a given position).
        self._select_page = SQL(
            "SELECT h.head, e.* FROM"
            " (SELECT max(notification_id) AS head FROM {t}"
            "  WHERE notification_id <= %(stop)s) AS h"
            " LEFT JOIN LATERAL (SELECT notification_id, originator_id, originator_version,"
            "  topic, state FROM {t}"
            "  WHERE notification_id > %(after)s AND notification_id <= %(stop)s"
            "  AND (%(topics)s::text[] IS NULL OR topic = ANY(%(topics)s::text[]))"
            "  ORDER BY notification_id LIMIT %(limit)s) AS e ON true"
            " ORDER BY e.notification_id"
        ).format(t=t)
        self._count_after = SQL("SELECT count(*) AS n FROM {t} WHERE notification_id > %s").format(
            t=t
        )

    # -- schema and its migrations -----------------------------------------------------------
    def _create_table(self, curs: psycopg.Cursor[Any]) -> None:
        super()._create_table(curs)
        schema.migrate(curs, self.datastore.schema, self.events_table_name)

    # -- appending ---------------------------------------------------------------------------
    @RETRY
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Append all or nothing: the events and their idempotency records (keyword
        `idempotency`: one claim or a list of claims) in one transaction, shared with the
        other appends of this process waiting at the same moment (combining.py), in one
        round trip. A version conflict or a claimed key fails this append only (the
        library's `IntegrityError`). Listeners are woken after the commit (notifier.py). A
        process recorder (TillrollProcessRecorder) also records `tracking` in the same
        transaction, alone; this recorder ignores it, as the library's application recorder
        does."""
        tracking: Tracking | None = kwargs.get("tracking")
        if not isinstance(self, PostgresTrackingRecorder):
            tracking = None
        claims = _claims(kwargs.get("idempotency"))
        if not stored_events and tracking is None:
            return None
        if tracking is not None:
            return self._insert_tracked(stored_events, claims, tracking)
        columns = self._heads.link(None, stored_events)  # before the batch, in this thread
        keys = frozenset([*columns[0], *(("claim", c.scope, c.key) for c in claims)])
        pending = Pending(batch.Work(columns, claims), keys)
        return self.combiner.submit(pending)

    def _send_batch(self, pendings: Sequence[Pending]) -> None:
        """The combiner's leader: one transaction for the batch, each append its outcome.
        If the statement itself fails (not a clash it checks for: say two events of one
        append with the same version), each append is sent again alone, so that only the
        guilty one fails; a lost connection fails them all (each caller retries)."""
        works = [p.work for p in pendings]
        try:
            with self.datastore.get_connection() as conn:
                outcomes = self._batch.send(conn, works)
        except (InterfaceError, OperationalError) as exc:
            for p in pendings:
                p.fail(exc)
            return
        except PersistenceError as exc:  # as the datastore translated it
            if len(pendings) > 1:
                for p in pendings:
                    self._send_batch([p])
                return
            self._heads.forget(works[0].columns[0])
            pendings[0].fail(exc)
            return
        stored = False
        for p, outcome in zip(pendings, outcomes, strict=True):
            columns = p.work.columns
            if outcome.clash is None:
                self._heads.remember(columns)
                p.succeed(outcome.ids)
                stored = True
            else:
                self._heads.forget(columns[0])
                p.fail(IntegrityError(_clash_message(outcome.clash, p.work)))
        if stored:
            self.notifier.poke()

    def _insert_tracked(
        self, stored_events: Sequence[StoredEvent], claims: list[Any], tracking: Tracking
    ) -> Sequence[int] | None:
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor() as curs,
        ):
            self._insert_tracking(curs, tracking)
            if not stored_events:  # the library records tracking alone, and returns None
                return None
            ids = self.append(conn, stored_events, claims, commits=False, notify=False)
        self._heads.forget([stream_id(e.originator_id) for e in stored_events])  # no digests here
        self.notifier.poke()
        return ids

    def append(
        self,
        conn: psycopg.Connection[Any],
        stored_events: Sequence[StoredEvent],
        claim: Any = None,
        *,
        commits: bool | None = None,
        notify: bool | None = None,
    ) -> list[int]:
        """Insert events (and idempotency claims, one or a list: scope, key, fingerprint,
        result) with one statement on `conn`, alone. It commits only if `conn` is in
        autocommit; otherwise the append lock is held until the caller's transaction ends
        (the tests drive transactions through this), and the statement notifies listeners
        itself (`notify`: True by default when the caller commits)."""
        commits = conn.autocommit if commits is None else commits
        notify = not commits if notify is None else notify
        columns = self._heads.link(conn, stored_events)
        claims = _claims(claim)
        params: tuple[Any, ...] = (
            self.append_lock,
            *columns,
            [c.scope for c in claims],
            [c.key for c in claims],
            [c.fingerprint for c in claims],
            [c.result for c in claims],
        )
        statement = self._insert_notifying if notify else self._insert_quiet
        if notify:
            params = (*params, self.channel_name)
        try:
            with conn.cursor(row_factory=tuple_row) as curs:
                curs.execute(statement, params, prepare=True)
                ids = sorted(row[0] for row in curs.fetchall())
        except (IntegrityError, psycopg.IntegrityError):
            self._heads.forget(columns[0])
            raise
        if commits:
            self._heads.remember(columns)
            if not notify:
                self.notifier.poke()
        return ids

    def _connect(self) -> psycopg.Connection[Any]:
        """A connection of the notifier's own, outside the pool (as the pool would open)."""
        pool = self.datastore.pool
        kwargs = {k: v for k, v in (pool.kwargs or {}).items() if k != "row_factory"}
        if pool.get_password_func is not None:
            kwargs["password"] = pool.get_password_func()
        return psycopg.connect(autocommit=True, application_name="tillroll log notifier", **kwargs)

    # -- reading streams ---------------------------------------------------------------------
    @RETRY
    def select_events_after(
        self, streams: Sequence[tuple[UUID, int]]
    ) -> dict[UUID, list[StoredEvent]]:
        """Each stream's events after the given version, for several streams in one query."""
        out: dict[UUID, list[StoredEvent]] = {}
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                self._select_streams_after,
                ([i for i, _ in streams], [v for _, v in streams]),
                prepare=True,
            )
            for row in curs.fetchall():
                out.setdefault(row["originator_id"], []).append(
                    StoredEvent(
                        originator_id=row["originator_id"],
                        originator_version=row["originator_version"],
                        topic=row["topic"],
                        state=bytes(row["state"]),
                    )
                )
        return out

    # -- reading in log order ----------------------------------------------------------------
    @RETRY
    def read_page(
        self, after: int, limit: int, *, stop: int | None = None, topics: Sequence[str] = ()
    ) -> LogPage:
        """The next events after position `after` (any integer), up to `stop`."""
        params = {
            "after": after,
            "stop": 2**63 - 1 if stop is None else stop,
            "topics": list(topics) if topics else None,
            "limit": limit,
        }
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_page, params, prepare=True)
            rows = curs.fetchall()
        events = [
            Notification(
                id=row["notification_id"],
                originator_id=row["originator_id"],
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
            for row in rows
            if row["notification_id"] is not None
        ]
        # Fewer than asked for: every event up to the head (same snapshot) was seen.
        end = events[-1].id if len(events) == limit else max(after, rows[0]["head"] or 0)
        return LogPage(events, end)

    def head(self) -> int:
        """The largest visible position (0: the log is empty)."""
        return self.max_notification_id() or 0

    @RETRY
    def count_after(self, position: int) -> int:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._count_after, (position,), prepare=True)
            row = curs.fetchone()
        return int(row["n"]) if row else 0

    # -- idempotency -------------------------------------------------------------------------
    @RETRY
    def select_claim(self, scope: str, key: str) -> StoredClaim | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_claim, (scope, key), prepare=True)
            row = curs.fetchone()
        if row is None:
            return None
        return StoredClaim(row["fingerprint"], bytes(row["result"]), row["position"])


class TillrollProcessRecorder(TillrollRecorder, PostgresProcessRecorder):
    """The library's process recorder composed on ours: `insert_events(..., tracking=...)`
    records the tracking row in the same transaction as the events."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        events_table_name: str = "stored_events",
        tracking_table_name: str = "notification_tracking",
    ) -> None:
        super().__init__(
            datastore, events_table_name=events_table_name, tracking_table_name=tracking_table_name
        )


def _claims(idempotency: Any) -> list[Any]:
    """The `idempotency` keyword as a list: None, one claim, or a list of claims."""
    if idempotency is None:
        return []
    if isinstance(idempotency, (list, tuple)):
        return list(idempotency)
    return [idempotency]


def _clash_message(what: str, work: batch.Work) -> str:
    if what == "key":
        keys = ", ".join(repr(c.key) for c in work.claims)
        return f"idempotency key already claimed (one of {keys})"
    return "version conflict: a stream already has one of these versions"
