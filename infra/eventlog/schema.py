"""The event log's schema and its migrations: what a store opened by any earlier tillroll
needs before this recorder can append to it.

Every process that opens the store runs `migrate` inside the library's create-table
transaction, one at a time (an advisory lock on the table's name), and each step does only
what is missing, so opening a current store costs a few catalogue lookups.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg
from psycopg.sql import SQL, Composed, Identifier
from tillroll.infra.eventlog import batch
from tillroll.infra.eventlog.chain import GENESIS, link

IDEMPOTENCY_TABLE = "tillroll_idempotency"


def qualified(schema: str, table: str) -> Composed:
    return SQL("{}.{}").format(Identifier(schema), Identifier(table))


def migrate(curs: psycopg.Cursor[Any], schema: str, table: str) -> None:
    """Bring the events table (and the idempotency table beside it) up to date, and
    (re)create the batch-append function (batch.py)."""
    curs.execute(
        "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"tillroll.schema.{schema}.{table}",)
    )
    curs.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s",
        (schema, table),
    )
    have = {row["column_name"] for row in curs.fetchall()}
    t = qualified(schema, table)
    if "hash" not in have:
        curs.execute(SQL("ALTER TABLE {} ADD COLUMN hash bytea").format(t))
    curs.execute(
        SQL("CREATE INDEX IF NOT EXISTS {} ON {} (originator_id) WHERE hash IS NULL").format(
            Identifier(f"{table}_unhashed_idx"), t
        )
    )
    curs.execute(
        SQL(
            "CREATE TABLE IF NOT EXISTS {} ("
            " scope text NOT NULL, key text NOT NULL, fingerprint text NOT NULL,"
            " result bytea NOT NULL, position bigint NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (scope, key))"
        ).format(qualified(schema, IDEMPOTENCY_TABLE))
    )
    if "xid" in have:
        renumber_in_log_order(curs, schema, table)
    chain_unhashed(curs, t)
    batch.create_function(curs, schema, table, IDEMPOTENCY_TABLE)


def renumber_in_log_order(curs: psycopg.Cursor[Any], schema: str, table: str) -> None:
    """Migration from the lock-free recorder, whose ids were not in visibility order (its
    readers walked `(xid, notification_id)`): give every row a new id in that order, above
    every old id, so the integers are the log order from now on; translate the positions
    the store keeps itself (idempotency records); drop `xid`, which marks the migration as
    done. Read models keep old positions of their own: they must be rebuilt (a reader that
    resumes from an old position re-reads the renumbered log, it never skips)."""
    t = qualified(schema, table)
    curs.execute(SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(t))
    curs.execute(
        SQL(
            "CREATE TEMPORARY TABLE tillroll_renumber ON COMMIT DROP AS"
            " SELECT notification_id AS old,"
            "  (SELECT coalesce(max(notification_id), 0) FROM {t})"
            "  + row_number() OVER (ORDER BY xid, notification_id) AS new"
            " FROM {t}"
        ).format(t=t)
    )
    # New ids are all above the old maximum: no update can collide with an id not yet moved.
    curs.execute(
        SQL(
            "UPDATE {t} AS e SET notification_id = r.new FROM tillroll_renumber AS r"
            " WHERE e.notification_id = r.old"
        ).format(t=t)
    )
    curs.execute(
        SQL(
            "UPDATE {c} AS c SET position = r.new FROM tillroll_renumber AS r"
            " WHERE c.position = r.old"
        ).format(c=qualified(schema, IDEMPOTENCY_TABLE))
    )
    curs.execute(SQL("ALTER TABLE {} DROP COLUMN xid").format(t))
    curs.execute(
        SQL(
            "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'),"
            " greatest((SELECT max(notification_id) FROM {t}), 1))"
        ).format(t=t),
        (f'"{schema}"."{table}"',),
    )


def chain_unhashed(curs: psycopg.Cursor[Any], t: Composed) -> None:
    """Chain the events stored before the hash column existed (once; the partial index
    answers "nothing to do" at once)."""
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
