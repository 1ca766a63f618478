"""PostgreSQL connections for the read side (a pool whose search_path is the read-model
schema) and the lock that serialises every process's start-up DDL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool

STARTUP_LOCK = 0x7469_6C6C_726F_6C6C  # "tillroll": one key for every schema on the server


@contextmanager
def startup_lock(database_url: str) -> Iterator[None]:
    """Hold a session advisory lock while this process creates what is missing.

    `CREATE ... IF NOT EXISTS` is not safe against itself: two processes creating the same
    table at once both pass the check and one fails on the catalogue's unique index
    (`pg_type_typname_nsp_index`) or with "tuple concurrently updated". A compose stack's
    api, projector and worker start at the same instant on an empty database, so the DDL
    takes turns; it is idempotent and quick, so the second process waits milliseconds and
    then finds everything there. The wait is bounded (a stuck holder gives a clear error)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SET lock_timeout = '60s'")
        conn.execute("SELECT pg_advisory_lock(%s)", (STARTUP_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (STARTUP_LOCK,))


def ensure_schema(database_url: str, schema: str) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA IF NOT EXISTS {}").format(Identifier(schema)))


def read_model_pool(database_url: str, schema: str, size: int) -> ConnectionPool:
    ensure_schema(database_url, schema)

    def configure(conn: psycopg.Connection) -> None:
        conn.execute(SQL("SET search_path TO {}").format(Identifier(schema)))
        conn.commit()

    pool = ConnectionPool(
        database_url,
        min_size=1,
        max_size=max(2, size),
        configure=configure,
        open=False,
        name=f"read-models-{schema}",
    )
    pool.open(wait=True, timeout=30)
    return pool
