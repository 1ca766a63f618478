"""PostgreSQL connections for the read side: a pool whose search_path is the read-model schema."""

from __future__ import annotations

import psycopg
from psycopg.sql import SQL, Identifier
from psycopg_pool import ConnectionPool


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
