"""Several appends in one transaction, each all or nothing: the SQL the combiner sends.

One statement, one round trip, in its own transaction: a call of the table's batch-append
function (created by schema.migrate), which takes the append lock and only then runs the
batch's query. Under READ COMMITTED each statement of a volatile function takes a new
snapshot, so the query's snapshot is taken after the lock was granted and sees every
append committed before (appends commit before they release the lock, and every append
takes it). So the query's own check is exact: an append any of whose rows (stream, version) or
idempotency keys are stored already is left out whole and reported, the others are
inserted. Appends in one batch touch disjoint streams and keys (the combiner sees to it),
so they cannot collide with each other. Ids are drawn under the lock, in the order of the
rows given, so positions stay in commit order and each append's ids stay together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, NamedTuple

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Identifier


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


def function_name(table: str) -> str:
    """The batch-append function of one events table (a name short enough for any table)."""
    return "tillroll_append_" + hashlib.sha256(table.encode()).hexdigest()[:16]


def create_function(curs: psycopg.Cursor[Any], schema: str, table: str, claims: str) -> None:
    """(Re)create the table's batch-append function: a schema step (schema.migrate)."""
    qualify = SQL("{}.{}").format
    curs.execute(
        SQL(
            "CREATE OR REPLACE FUNCTION {fn}(p_lock bigint,"
            " p_a int[], p_id uuid[], p_version bigint[], p_topic text[], p_state bytea[],"
            " p_hash bytea[], p_ca int[], p_scope text[], p_key text[], p_fingerprint text[],"
            " p_result bytea[])"
            " RETURNS TABLE (r_a int, r_id bigint, r_what text) LANGUAGE plpgsql VOLATILE"
            " AS $body$ BEGIN"
            # The lock first; the query after it takes its snapshot only then (READ
            # COMMITTED, a volatile function: a new snapshot for each statement).
            " PERFORM pg_advisory_xact_lock(p_lock);"
            " RETURN QUERY WITH e AS (SELECT * FROM unnest(p_a, p_id, p_version, p_topic,"
            "  p_state, p_hash) WITH ORDINALITY AS e(a, id, version, topic, state, hash, n)),"
            " c AS (SELECT * FROM unnest(p_ca, p_scope, p_key, p_fingerprint, p_result)"
            "  AS c(a, scope, key, fingerprint, result)),"
            " clash AS ("
            "  SELECT e.a, 'version'::text AS what FROM e JOIN {t} AS s"
            "   ON s.originator_id = e.id AND s.originator_version = e.version"
            "  UNION SELECT c.a, 'key' FROM c JOIN {c} AS k"
            "   ON k.scope = c.scope AND k.key = c.key),"
            " new AS ("
            "  INSERT INTO {t} (originator_id, originator_version, topic, state, hash)"
            "  SELECT e.id, e.version, e.topic, e.state, e.hash FROM e"
            "  WHERE e.a NOT IN (SELECT clash.a FROM clash) ORDER BY e.n"
            "  RETURNING originator_id, notification_id),"
            " placed AS (SELECT s.a, new.notification_id FROM new"
            "  JOIN (SELECT DISTINCT e.a, e.id FROM e) AS s ON s.id = new.originator_id),"
            " claimed AS ("
            "  INSERT INTO {c} (scope, key, fingerprint, result, position)"
            "  SELECT c.scope, c.key, c.fingerprint, c.result, p.position FROM c"
            "  JOIN (SELECT placed.a, max(placed.notification_id) AS position FROM placed"
            "   GROUP BY placed.a) AS p USING (a))"
            " SELECT placed.a, placed.notification_id, NULL::text FROM placed"
            " UNION ALL SELECT clash.a, NULL::bigint, clash.what FROM clash;"
            " END $body$"
        ).format(
            fn=qualify(Identifier(schema), Identifier(function_name(table))),
            t=qualify(Identifier(schema), Identifier(table)),
            c=qualify(Identifier(schema), Identifier(claims)),
        )
    )


class Statements:
    """The prepared call of a batch append to one events table."""

    def __init__(self, schema: str, table: str, lock: int) -> None:
        self.lock_key = lock
        self.call = SQL(
            "SELECT * FROM {}.{}(%s, %s::int[], %s::uuid[], %s::bigint[], %s::text[],"
            " %s::bytea[], %s::bytea[], %s::int[], %s::text[], %s::text[], %s::text[],"
            " %s::bytea[])"
        ).format(Identifier(schema), Identifier(function_name(table)))

    def send(self, conn: psycopg.Connection[Any], works: Sequence[Work]) -> list[Outcome]:
        """Send the batch on `conn` (in autocommit: one statement, its own transaction) and
        commit it; one outcome per append, in order. Raises what the server raised (then
        nothing of the batch is stored)."""
        with conn.cursor(row_factory=tuple_row) as curs:
            curs.execute(self.call, (self.lock_key, *_params(works)), prepare=True)
            rows = curs.fetchall()
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
