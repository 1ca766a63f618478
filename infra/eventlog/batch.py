"""Several appends in one transaction, each all or nothing: the SQL the combiner sends.

One pipelined round trip: `BEGIN`; the append lock, in a statement of its own; the batch;
`COMMIT`. Under READ COMMITTED every statement takes a new snapshot, so the batch's
snapshot is taken after the lock was granted and sees every append committed before
(appends commit before they release the lock, and every append takes it). So the
statement's own check is exact: an append any of whose rows (stream, version) or
idempotency keys are stored already is left out whole and reported, the others are
inserted. Appends in one batch touch disjoint streams and keys (the combiner sees to it),
so they cannot collide with each other. Ids are drawn under the lock, in the order of the
rows given, so positions stay in commit order and each append's ids stay together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed


class Work(NamedTuple):
    """One append, ready to send: its rows (columns, the hash chain already linked) and its
    idempotency claims (objects with scope, key, fingerprint, result)."""

    columns: tuple[list[Any], ...]
    claims: Sequence[Any]


class Outcome(NamedTuple):
    ids: list[int]
    clash: str | None
    """What kept the append out: 'version' (a stream already has one of its versions) or
    'key' (one of its idempotency keys is claimed already); None: stored."""


class Statements:
    """The prepared SQL of a batch append to one events table."""

    def __init__(self, table: Composed, claims: Composed, lock: int) -> None:
        self.lock_key = lock
        self.lock = SQL("SELECT pg_advisory_xact_lock(%s)")
        self.insert = SQL(
            "WITH e AS (SELECT * FROM unnest("
            "  %s::int[], %s::uuid[], %s::bigint[], %s::text[], %s::bytea[], %s::bytea[])"
            "  WITH ORDINALITY AS e(a, id, version, topic, state, hash, n)),"
            " c AS (SELECT * FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[],"
            "  %s::bytea[]) AS c(a, scope, key, fingerprint, result)),"
            " clash AS ("
            "  SELECT e.a, 'version' AS what FROM e JOIN {t} AS s"
            "   ON s.originator_id = e.id AND s.originator_version = e.version"
            "  UNION SELECT c.a, 'key' FROM c JOIN {c} AS k"
            "   ON k.scope = c.scope AND k.key = c.key),"
            " new AS ("
            "  INSERT INTO {t} (originator_id, originator_version, topic, state, hash)"
            "  SELECT id, version, topic, state, hash FROM e"
            "  WHERE a NOT IN (SELECT a FROM clash) ORDER BY n"
            "  RETURNING originator_id, notification_id),"
            " placed AS (SELECT s.a, new.notification_id FROM new"
            "  JOIN (SELECT DISTINCT a, id FROM e) AS s ON s.id = new.originator_id),"
            " claimed AS ("
            "  INSERT INTO {c} (scope, key, fingerprint, result, position)"
            "  SELECT c.scope, c.key, c.fingerprint, c.result, p.position FROM c"
            "  JOIN (SELECT a, max(notification_id) AS position FROM placed GROUP BY a) AS p"
            "  USING (a))"
            " SELECT a, notification_id, NULL AS what FROM placed"
            " UNION ALL SELECT a, NULL, what FROM clash"
        ).format(t=table, c=claims)

    def send(self, conn: psycopg.Connection[Any], works: Sequence[Work]) -> list[Outcome]:
        """Send the batch on `conn` (in autocommit: this makes its own transaction) and
        commit it; one outcome per append, in order. Raises what the server raised (then
        nothing of the batch is stored)."""
        params = _params(works)
        with conn.pipeline() as pipeline:
            try:
                conn.execute("BEGIN")
                conn.execute(self.lock, (self.lock_key,), prepare=True)
                curs = conn.cursor(row_factory=tuple_row)
                curs.execute(self.insert, params, prepare=True)
                conn.execute("COMMIT")
                pipeline.sync()
                rows = curs.fetchall()
            except BaseException:
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    conn.execute("ROLLBACK")
                    pipeline.sync()
                raise
        ids: list[list[int]] = [[] for _ in works]
        clashes: list[str | None] = [None] * len(works)
        for a, notification_id, what in rows:
            if what is None:
                ids[a].append(notification_id)
            else:
                clashes[a] = clashes[a] or what
        return [
            Outcome(sorted(i) if c is None else [], c) for i, c in zip(ids, clashes, strict=True)
        ]


def _params(works: Sequence[Work]) -> tuple[list[Any], ...]:
    events: tuple[list[Any], ...] = ([], [], [], [], [], [])
    claims: tuple[list[Any], ...] = ([], [], [], [], [])
    for a, work in enumerate(works):
        events[0].extend([a] * len(work.columns[0]))
        for column, values in zip(events[1:], work.columns, strict=True):
            column.extend(values)
        for claim in work.claims:
            for column, value in zip(
                claims, (a, claim.scope, claim.key, claim.fingerprint, claim.result), strict=True
            ):
                column.append(value)
    return (*events, *claims)
