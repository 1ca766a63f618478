"""The event recorder: the eventsourcing library's PostgreSQL application recorder without
its table lock, appending in one round trip, read in an order no late commit can enter.

The library serialises writers with `LOCK TABLE … IN EXCLUSIVE MODE` so that notification
ids become visible in commit order. Here every row is stamped with the id of the
transaction that wrote it (`xid xid8 DEFAULT pg_current_xact_id()`), writers take no lock,
and readers walk the log in `(xid, notification_id)` order, only below the horizon
`pg_snapshot_xmin(pg_current_snapshot())`: every transaction with a smaller xid has ended,
so that prefix of the log is final and a cursor that has passed a row can never see a row
appear before it. docs/EVENT-LOG.md gives the argument in full.

A reader's position is still one integer, the notification id of the last row it read: the
row it names gives the `(xid, id)` pair. Also here: the per-stream hash chain (the previous
link comes from a cache of stream heads, or one indexed lookup) and the idempotency record,
written by the same statement as the events.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple
from uuid import UUID

import psycopg
from eventsourcing.persistence import IntegrityError, Notification, StoredEvent
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresSubscription,
)
from psycopg.rows import dict_row, tuple_row
from psycopg.sql import SQL, Composed, Identifier
from tillroll.infra.hashchain import GENESIS, link

IDEMPOTENCY_TABLE = "tillroll_idempotency"
HORIZON = "pg_snapshot_xmin(pg_current_snapshot())"
HELD_POLL_SECONDS = 0.005
"""How soon a reader looks again when committed events wait behind an open transaction."""


class LogKey(NamedTuple):
    """Where an event sits in log order."""

    xid: int
    position: int


START = LogKey(0, 0)
"""Before the first event (rows stored before the xid column existed have xid 0)."""


class UnknownPosition(LookupError):
    """A position that names no stored event."""


class LogPage(NamedTuple):
    events: list[Notification]
    end: int
    """The position to resume after: the last event of a full page, else the last event
    below the horizon (pages filtered by topic move past what they did not want)."""
    held: bool
    """Committed events exist beyond the horizon: an open transaction holds them back."""


class _Lru:
    """A small thread-safe LRU map (the values it holds never change once stored)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


class TillrollRecorder(PostgresApplicationRecorder):
    """Lock-free appends, `(xid, position)` reads, hash chain, idempotency records."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self._table = SQL("{}.{}").format(
            Identifier(datastore.schema), Identifier(events_table_name)
        )
        self._claims = SQL("{}.{}").format(
            Identifier(datastore.schema), Identifier(IDEMPOTENCY_TABLE)
        )
        # Stream heads (id -> (version, hash)) and log keys (position -> xid) are immutable
        # once committed, so caching them is safe; a stale head only costs a lookup.
        self._heads = _Lru(50_000)
        self._xids = _Lru(100_000)
        t = self._table
        self._insert = SQL(
            "WITH new AS ("
            " INSERT INTO {t} (originator_id, originator_version, topic, state, hash)"
            " SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[], %s::bytea[])"
            " RETURNING notification_id), "
            "claim AS ("
            " INSERT INTO {c} (scope, key, fingerprint, result, position)"
            " SELECT %s, %s, %s, %s, max(notification_id) FROM new HAVING %s)"
            " SELECT notification_id FROM new CROSS JOIN (SELECT pg_notify(%s, '')) AS woken"
            " ORDER BY notification_id"
        ).format(t=t, c=self._claims)
        self._select_previous = SQL(
            "SELECT originator_id, originator_version, hash FROM {t}"
            " WHERE (originator_id, originator_version) IN"
            " (SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
        ).format(t=t)
        self._select_streams_after = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state"
            " FROM unnest(%s::uuid[], %s::bigint[]) AS w(id, version)"
            " JOIN {t} AS e ON e.originator_id = w.id AND e.originator_version > w.version"
            " ORDER BY e.originator_id, e.originator_version"
        ).format(t=t)
        self._select_claim = SQL(
            "SELECT fingerprint, result, position FROM {c} WHERE scope = %s AND key = %s"
        ).format(c=self._claims)
        self._select_xids = SQL(
            "SELECT notification_id, xid::text::bigint AS xid FROM {t}"
            " WHERE notification_id = ANY(%s)"
        ).format(t=t)
        # Output names differ from the columns (`log_xid`), so ORDER BY uses the index.
        columns = SQL(
            "e.notification_id, e.originator_id, e.originator_version, e.topic, e.state,"
            " e.xid::text::bigint AS log_xid"
        )
        horizon = SQL("(SELECT " + HORIZON + ")")
        held = SQL(
            "(SELECT e.xid FROM {t} AS e WHERE e.xid >= {h} ORDER BY e.xid LIMIT 1) IS NOT NULL"
        ).format(t=t, h=horizon)
        # One statement, so one snapshot: the page and the head it is measured against
        # cannot disagree. `stop` bounds both (a scratch build stops at a given position).
        self._select_page = SQL(
            "(SELECT 0 AS kind, {cols}, false AS held FROM {t} AS e"
            "  WHERE e.xid < {h} AND (e.xid, e.notification_id) > (%(ax)s::text::xid8, %(ap)s)"
            "  AND (e.xid, e.notification_id) <= (%(sx)s::text::xid8, %(sp)s)"
            "  AND (%(topics)s::text[] IS NULL OR e.topic = ANY(%(topics)s::text[]))"
            "  ORDER BY e.xid, e.notification_id LIMIT %(limit)s) "
            "UNION ALL (SELECT 1, head.*, {held} FROM"
            " (SELECT 0) AS one LEFT JOIN (SELECT {cols} FROM {t} AS e"
            "  WHERE e.xid < {h} AND (e.xid, e.notification_id) <= (%(sx)s::text::xid8, %(sp)s)"
            "  ORDER BY e.xid DESC, e.notification_id DESC LIMIT 1) AS head ON true) "
            "ORDER BY kind, log_xid, notification_id"
        ).format(t=t, cols=columns, h=horizon, held=held)
        self._select_head = SQL(
            "SELECT (SELECT e.notification_id FROM {t} AS e WHERE e.xid < {h}"
            "  ORDER BY e.xid DESC, e.notification_id DESC LIMIT 1) AS head, {held} AS held"
        ).format(t=t, h=horizon, held=held)
        self._select_after = SQL(
            "SELECT count(*) AS n FROM {t}"
            " WHERE (xid, notification_id) > (%s::text::xid8, %s) AND xid < {h}"
        ).format(t=t, h=horizon)

    # -- schema and its migrations -----------------------------------------------------------
    def _create_table(self, curs: psycopg.Cursor[Any]) -> None:
        # Every process opening the store runs this; one at a time, and only what is missing.
        curs.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s))",
            (f"tillroll.schema.{self.datastore.schema}.{self.events_table_name}",),
        )
        super()._create_table(curs)
        for statement in self._migrations(curs):
            curs.execute(statement)
        self._chain_unhashed(curs)

    def _migrations(self, curs: psycopg.Cursor[Any]) -> Iterable[Composed | SQL]:
        curs.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = %s",
            (self.datastore.schema, self.events_table_name),
        )
        have = {row["column_name"] for row in curs.fetchall()}
        t, s = self._table, Identifier(self.datastore.schema)
        if "hash" not in have:
            yield SQL("ALTER TABLE {} ADD COLUMN hash bytea").format(t)
        if "xid" not in have:
            # Rows written under the table lock are in commit order already: they keep their
            # notification order at xid 0, before every later transaction. A constant default
            # adds the column without rewriting the table; new rows get their own xid.
            yield SQL("ALTER TABLE {} ADD COLUMN xid xid8 NOT NULL DEFAULT '0'").format(t)
            yield SQL("ALTER TABLE {} ALTER COLUMN xid SET DEFAULT pg_current_xact_id()").format(t)
        yield SQL("CREATE INDEX IF NOT EXISTS {} ON {} (xid, notification_id)").format(
            Identifier(f"{self.events_table_name}_log_order_idx"), t
        )
        yield SQL("CREATE INDEX IF NOT EXISTS {} ON {} (originator_id) WHERE hash IS NULL").format(
            Identifier(f"{self.events_table_name}_unhashed_idx"), t
        )
        yield SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} ("
            " scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL,"
            " result bytea NOT NULL, position bigint NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (scope, key))"
        ).format(s, Identifier(IDEMPOTENCY_TABLE))

    def _chain_unhashed(self, curs: psycopg.Cursor[Any]) -> None:
        """Migration: chain the events stored before the hash column existed (done once;
        the partial index answers "nothing to do" at once)."""
        t = self._table
        curs.execute(SQL("SELECT 1 FROM {} WHERE hash IS NULL LIMIT 1").format(t))
        if curs.fetchone() is None:
            return
        curs.execute(SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(t))
        curs.execute(
            SQL(
                "SELECT originator_id, originator_version, topic, state, hash FROM {t}"
                " WHERE originator_id IN (SELECT originator_id FROM {t} WHERE hash IS NULL)"
                " ORDER BY originator_id, originator_version"
            ).format(t=t)
        )
        previous: dict[UUID, bytes] = {}
        ids, versions, digests = [], [], []
        for row in curs.fetchall():
            stream, digest = row["originator_id"], row["hash"]
            if digest is None:
                digest = link(
                    previous.get(stream, GENESIS),
                    stream,
                    row["originator_version"],
                    row["topic"],
                    bytes(row["state"]),
                )
                ids.append(stream)
                versions.append(row["originator_version"])
                digests.append(digest)
            previous[stream] = bytes(digest)
        curs.execute(
            SQL(
                "UPDATE {} AS e SET hash = u.hash"
                " FROM unnest(%s::uuid[], %s::bigint[], %s::bytea[]) AS u(id, version, hash)"
                " WHERE e.originator_id = u.id AND e.originator_version = u.version"
            ).format(t),
            (ids, versions, digests),
        )

    # -- appending ---------------------------------------------------------------------------
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        """One statement, one round trip, no lock: the events, their idempotency record
        and the wake-up for listeners commit together (the connection is in autocommit)."""
        if not stored_events:
            return []
        with self.datastore.get_connection() as conn:
            return self.append(conn, stored_events, kwargs.get("idempotency"))

    def append(
        self, conn: psycopg.Connection[Any], stored_events: Sequence[StoredEvent], claim: Any = None
    ) -> list[int]:
        """Insert events (and an idempotency claim) with one statement on `conn`; commits
        only if `conn` is in autocommit (the tests drive transactions through this)."""
        columns = self._chained_rows(conn, stored_events)
        claim_values = (
            (claim.scope, claim.key, claim.fingerprint, claim.result, True)
            if claim is not None
            else (None, None, None, None, False)
        )
        try:
            with conn.cursor(row_factory=tuple_row) as curs:
                curs.execute(
                    self._insert, (*columns, *claim_values, self.channel_name), prepare=True
                )
                ids = [row[0] for row in curs.fetchall()]
        except (IntegrityError, psycopg.IntegrityError):
            for stream in set(columns[0]):
                self._heads.put(stream, None)
            raise
        if conn.autocommit:  # committed: these are the streams' heads now
            for stream, version, digest in zip(columns[0], columns[1], columns[4], strict=True):
                self._heads.put(stream, (version, digest))
        return ids

    def _chained_rows(
        self, conn: psycopg.Connection[Any], stored_events: Sequence[StoredEvent]
    ) -> tuple[list[Any], ...]:
        """Columns of the rows to insert, each event linked to the one before it in its
        stream (a competing writer of the same version fails on the primary key)."""
        previous: dict[UUID, bytes] = {}
        wanted: list[tuple[UUID, int]] = []
        for e in stored_events:
            stream = UUID(str(e.originator_id))
            if stream in previous or e.originator_version == 1:
                previous.setdefault(stream, GENESIS)
                continue
            head = self._heads.get(stream)
            if head is not None and head[0] == e.originator_version - 1:
                previous[stream] = head[1]
            else:
                wanted.append((stream, e.originator_version - 1))
                previous[stream] = GENESIS
        if wanted:
            with conn.cursor(row_factory=dict_row) as curs:
                curs.execute(
                    self._select_previous,
                    ([i for i, _ in wanted], [v for _, v in wanted]),
                    prepare=True,
                )
                for row in curs.fetchall():
                    previous[row["originator_id"]] = bytes(row["hash"] or GENESIS)
        columns: tuple[list[Any], ...] = ([], [], [], [], [])
        for e in stored_events:  # in the given order; a stream's events come in version order
            stream = UUID(str(e.originator_id))
            digest = link(previous[stream], stream, e.originator_version, e.topic, e.state)
            previous[stream] = digest
            for column, value in zip(
                columns, (stream, e.originator_version, e.topic, e.state, digest), strict=True
            ):
                column.append(value)
        return columns

    # -- reading streams ---------------------------------------------------------------------
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
    def log_keys(self, positions: Iterable[int]) -> dict[int, LogKey]:
        """The log-order key of each stored position (0 is the start)."""
        out: dict[int, LogKey] = {}
        missing = []
        for position in set(positions):
            xid = 0 if position <= 0 else self._xids.get(position)
            if xid is None:
                missing.append(position)
            else:
                out[position] = LogKey(xid, max(position, 0))
        if missing:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                curs.execute(self._select_xids, (missing,), prepare=True)
                for row in curs.fetchall():
                    self._xids.put(row["notification_id"], row["xid"])
                    out[row["notification_id"]] = LogKey(row["xid"], row["notification_id"])
        return out

    def log_key(self, position: int) -> LogKey:
        key = self.log_keys([position]).get(position)
        if key is None:
            raise UnknownPosition(f"no event is stored at position {position}")
        return key

    def read_page(
        self,
        after: int,
        limit: int,
        *,
        stop: int | None = None,
        topics: Sequence[str] = (),
    ) -> LogPage:
        """The next events after position `after` in log order, below the horizon."""
        return self._page(self.log_key(after), limit, stop, topics)

    def _page(self, after: LogKey, limit: int, stop: int | None, topics: Sequence[str]) -> LogPage:
        s = self.log_key(stop) if stop is not None else LogKey(2**62, 2**62)
        params = {
            "ax": str(after.xid),
            "ap": after.position,
            "sx": str(s.xid),
            "sp": s.position,
            "topics": list(topics) if topics else None,
            "limit": limit,
        }
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_page, params, prepare=True)
            rows = curs.fetchall()
        tail = rows.pop()
        events = []
        for row in rows:
            self._xids.put(row["notification_id"], row["log_xid"])
            events.append(
                Notification(
                    id=row["notification_id"],
                    originator_id=row["originator_id"],
                    originator_version=row["originator_version"],
                    topic=row["topic"],
                    state=bytes(row["state"]),
                )
            )
        if len(events) == limit:
            end = events[-1].id
        elif (
            tail["notification_id"] is not None
            and LogKey(tail["log_xid"], tail["notification_id"]) > after
        ):
            # Fewer than asked for: every event up to the head (same snapshot) was seen.
            self._xids.put(tail["notification_id"], tail["log_xid"])
            end = tail["notification_id"]
        else:
            end = after.position
        return LogPage(events, end, bool(tail["held"]))

    def head(self) -> tuple[int, bool]:
        """The position of the last readable event in log order (0: none), and whether
        committed events wait beyond the horizon."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_head, prepare=True)
            row = curs.fetchone()
        assert row is not None
        return int(row["head"] or 0), bool(row["held"])

    def count_after(self, position: int) -> int:
        """How many readable events come after `position` in log order."""
        key = self.log_key(position)
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_after, (str(key.xid), key.position))
            row = curs.fetchone()
        return int(row["n"]) if row else 0

    # -- the library's interfaces, in log order -------------------------------------------
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        key = self.log_key(start or 0)
        if inclusive_of_start and key.position > 0:
            key = LogKey(key.xid, key.position - 1)  # just before `start` in log order
        return self._page(key, limit, stop, topics).events

    def max_notification_id(self) -> int | None:
        """The position of the last readable event in log order (not the largest id)."""
        return self.head()[0] or None

    def subscribe(self, gt: int | None = None, topics: Sequence[str] = ()) -> LogSubscription:
        return LogSubscription(recorder=self, gt=gt, topics=topics)

    # -- idempotency -------------------------------------------------------------------------
    def select_claim(self, scope: str, key: str) -> tuple[str, bytes, int] | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._select_claim, (scope, key), prepare=True)
            row = curs.fetchone()
        if row is None:
            return None
        return row["fingerprint"], bytes(row["result"]), row["position"]


class LogSubscription(PostgresSubscription):
    """The library's LISTEN/NOTIFY subscription, also woken while committed events wait
    behind an open transaction (whose end sends no notification of its own)."""

    def _listen(self) -> None:
        recorder = self._recorder
        assert isinstance(recorder, TillrollRecorder)
        try:
            with recorder.datastore.get_connection() as conn:
                conn.execute(SQL("LISTEN {0}").format(Identifier(recorder.channel_name)))
                held = False
                while not self._has_been_stopped and not self._thread_error:
                    notified = False
                    for _ in conn.notifies(timeout=0.1, stop_after=1):
                        notified = True
                    # Events can only be held back after a commit, which notifies: look for
                    # them after a notification, and keep looking until they are readable.
                    if notified or held:
                        held = recorder.head()[1]
                        self._has_been_notified.set()
        except BaseException as e:
            if self._thread_error is None:
                self._thread_error = e
            self.stop()
