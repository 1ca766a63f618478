"""The audit's raw reads of the event log: one stream's rows, pages of the whole log in
position order, and the verify scan (every row up to a position, in stream order).

A row is `(position, stream_id, version, topic, state, hash)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresDatastore
from psycopg.sql import SQL, Composed
from tillroll.infra.eventlog.recorder import RETRY

Row = tuple[int, UUID, int, str, bytes, bytes | None]
_COLUMNS = SQL("notification_id, originator_id, originator_version, topic, state, hash")


def _row(values: dict[str, Any]) -> Row:
    digest = values["hash"]
    return (
        values["notification_id"],
        values["originator_id"],
        values["originator_version"],
        values["topic"],
        bytes(values["state"]),
        bytes(digest) if digest is not None else None,
    )


class AuditReads:
    def __init__(self, datastore: PostgresDatastore, table: Composed) -> None:
        self.datastore = datastore
        self._stream = SQL(
            "SELECT {} FROM {} WHERE originator_id = %s AND originator_version > %s"
            " ORDER BY originator_version LIMIT %s"
        ).format(_COLUMNS, table)
        self._export = SQL(
            "SELECT {} FROM {} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(_COLUMNS, table)
        self._table = table

    @RETRY
    def stream_rows(self, stream_id: UUID, after_version: int, limit: int) -> list[Row]:
        """One page of a stream's rows, in version order."""
        with self.datastore.get_connection() as conn:
            rows = conn.execute(self._stream, (stream_id, after_version, limit)).fetchall()
        return [_row(r) for r in rows]

    @RETRY
    def export_rows(self, after: int, limit: int) -> list[Row]:
        """The rows after position `after` (any integer), in position order."""
        with self.datastore.get_connection() as conn:
            rows = conn.execute(self._export, (after, limit)).fetchall()
        return [_row(r) for r in rows]

    def verify_rows(self, up_to: int, stream_id: UUID | None = None) -> Iterator[Row]:
        """Every row at or below `up_to` (of one stream, or all), in (stream, version) order,
        streamed from one snapshot through a server-side cursor."""
        where = SQL("WHERE notification_id <= %s")
        params: list[Any] = [up_to]
        if stream_id is not None:
            where += SQL(" AND originator_id = %s")
            params.append(stream_id)
        query = SQL("SELECT {} FROM {} {} ORDER BY originator_id, originator_version").format(
            _COLUMNS, self._table, where
        )
        with (
            self.datastore.get_connection() as conn,
            conn.transaction(),
            conn.cursor(name="audit_verify") as cur,
        ):
            cur.itersize = 5000
            cur.execute(query, params)
            for values in cur:
                yield _row(values)
