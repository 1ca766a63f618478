"""Point the library's test cases at the session's embedded PostgreSQL: every test gets a
schema of its own, and the environment variables the library reads name it.

`TILLROLL_CONFORMANCE_RECORDER=library` runs the same cases against the library's own
recorders, as a control: a failure there is the harness's, not ours.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from eventsourcing.postgres import (
    PostgresApplicationRecorder,
    PostgresDatastore,
    PostgresProcessRecorder,
)
from eventsourcing.utils import get_topic
from psycopg.sql import SQL, Identifier
from tillroll.infra.embedded import EmbeddedServers
from tillroll.infra.eventlog.recorder import TillrollProcessRecorder, TillrollRecorder

CONTROL = os.environ.get("TILLROLL_CONFORMANCE_RECORDER") == "library"
APPLICATION_RECORDER: type[PostgresApplicationRecorder] = (
    PostgresApplicationRecorder if CONTROL else TillrollRecorder
)
PROCESS_RECORDER: type[PostgresProcessRecorder] = (
    PostgresProcessRecorder if CONTROL else TillrollProcessRecorder
)


class Postgres:
    """Where the session's PostgreSQL is, and a fresh schema for one test."""

    def __init__(self, database_url: str, schema: str) -> None:
        params = psycopg.conninfo.conninfo_to_dict(database_url)
        self.database_url = database_url
        self.dbname = str(params.get("dbname") or "postgres")
        self.host = str(params.get("host") or "localhost")
        self.port = str(params.get("port") or "5432")
        self.user = str(params.get("user") or "postgres")
        self.password = str(params.get("password") or "")
        self.schema = schema

    def env(self, prefix: str = "") -> dict[str, str]:
        """The library's settings for this database and schema, with our recorders."""
        values = {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "CREATE_TABLE": "y",
            "POSTGRES_DBNAME": self.dbname,
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": self.port,
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD": self.password,
            "POSTGRES_SCHEMA": self.schema,
            "APPLICATION_RECORDER_TOPIC": get_topic(APPLICATION_RECORDER),
            "PROCESS_RECORDER_TOPIC": get_topic(PROCESS_RECORDER),
        }
        return {prefix + key: value for key, value in values.items()}

    def datastore(self, *, pool_size: int = 1, **kwargs: Any) -> PostgresDatastore:
        return PostgresDatastore(
            self.dbname,
            self.host,
            self.port,
            self.user,
            self.password,
            pool_size=pool_size,
            schema=self.schema,
            **kwargs,
        )

    def close_all_connections(self) -> None:
        """As the library's `pg_close_all_connections`: every other client is cut off."""
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
                " AND datname = current_database()"
            )


@pytest.fixture(autouse=True)
def postgres(request: pytest.FixtureRequest, servers: EmbeddedServers) -> Iterator[Postgres]:
    assert servers.database_url
    pg = Postgres(servers.database_url, f"conf_{uuid.uuid4().hex[:12]}")
    with psycopg.connect(servers.database_url, autocommit=True) as conn:
        conn.execute(SQL("CREATE SCHEMA {}").format(Identifier(pg.schema)))
    if request.cls is not None:
        request.cls.pg = pg
    saved = dict(os.environ)
    os.environ.update(pg.env())  # the library's application cases read os.environ
    try:
        yield pg
    finally:
        os.environ.clear()
        os.environ.update(saved)
        with psycopg.connect(servers.database_url, autocommit=True) as conn:
            conn.execute(SQL("DROP SCHEMA {} CASCADE").format(Identifier(pg.schema)))
