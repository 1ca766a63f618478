"""The heads of recently written streams (last version and hash) and the linking of new
events to them: the hash chain's input for an append, without a query when the head is
known. Heads are immutable once committed, so caching them is safe; a stale or missing head
only costs a lookup."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import DataError, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed
from tillroll.infra.eventlog.chain import GENESIS, link


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


class StreamHeads:
    """Stream id -> (version, hash) of its last event, for the last 50,000 streams written."""

    def __init__(self, datastore: PostgresDatastore, table: Composed, size: int = 50_000) -> None:
        self.datastore = datastore
        self._cache = _Lru(size)
        self._select_previous = SQL(
            "SELECT originator_id, originator_version, hash FROM {t}"
            " WHERE (originator_id, originator_version) IN"
            " (SELECT * FROM unnest(%s::uuid[], %s::bigint[]))"
        ).format(t=table)

    def remember(self, columns: tuple[list[Any], ...]) -> None:
        """These rows committed: their streams' heads now."""
        for stream, version, digest in zip(columns[0], columns[1], columns[4], strict=True):
            self._cache.put(stream, (version, digest))

    def forget(self, streams: Sequence[UUID]) -> None:
        """Unknown heads now (a failed or uncounted write): the next link looks them up."""
        for stream in set(streams):
            self._cache.put(stream, None)

    def link(
        self, conn: psycopg.Connection[Any] | None, stored_events: Sequence[StoredEvent]
    ) -> tuple[list[Any], ...]:
        """Columns of the rows to insert, each event linked to the one before it in its
        stream (a competing writer of the same version fails on the primary key)."""
        previous: dict[UUID, bytes] = {}
        wanted: list[tuple[UUID, int]] = []
        streams = [stream_id(e.originator_id) for e in stored_events]
        for stream, e in zip(streams, stored_events, strict=True):
            if stream in previous or e.originator_version == 1:
                previous.setdefault(stream, GENESIS)
                continue
            head = self._cache.get(stream)
            if head is not None and head[0] == e.originator_version - 1:
                previous[stream] = head[1]
            else:
                wanted.append((stream, e.originator_version - 1))
                previous[stream] = GENESIS
        if wanted:
            with (
                nullcontext(conn) if conn is not None else self.datastore.get_connection() as c,
                c.cursor(row_factory=dict_row) as curs,
            ):
                curs.execute(
                    self._select_previous,
                    ([i for i, _ in wanted], [v for _, v in wanted]),
                    prepare=True,
                )
                for row in curs.fetchall():
                    previous[row["originator_id"]] = bytes(row["hash"] or GENESIS)
        columns: tuple[list[Any], ...] = ([], [], [], [], [])
        for stream, e in zip(streams, stored_events, strict=True):  # a stream's in order
            digest = link(previous[stream], stream, e.originator_version, e.topic, e.state)
            previous[stream] = digest
            for column, value in zip(
                columns, (stream, e.originator_version, e.topic, e.state, digest), strict=True
            ):
                column.append(value)
        return columns


def stream_id(originator_id: Any) -> UUID:
    if isinstance(originator_id, UUID):
        return originator_id
    try:
        return UUID(str(originator_id))
    except ValueError:
        raise DataError(
            f"originator id {originator_id!r} is not a UUID (TillrollRecorder stores UUIDs only)"
        ) from None
