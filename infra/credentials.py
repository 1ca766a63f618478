"""Credentials and sessions in PostgreSQL, outside the event log (DESIGN rule 9): password
hashes (`credentials`) and refresh tokens (`refresh_tokens`, stored as SHA-256 digests).
Both live beside the events table, so a new account's hash commits with its events."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID, uuid4

import psycopg
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed
from tillroll.aggregates.errors import Unauthorized
from tillroll.infra.eventlog.schema import qualified
from tillroll.infra.eventstore import EventStore

REFRESH_TTL = timedelta(days=30)
TOKEN_BYTES = 32

_DDL = [
    """CREATE TABLE IF NOT EXISTS {credentials} (
        account_id uuid PRIMARY KEY,
        password_hash text NOT NULL,
        updated timestamptz NOT NULL DEFAULT now()
    )""",
    """CREATE TABLE IF NOT EXISTS {tokens} (
        id uuid PRIMARY KEY,
        token_hash bytea NOT NULL UNIQUE,
        family uuid NOT NULL,
        account uuid NOT NULL,
        issued timestamptz NOT NULL DEFAULT now(),
        expires timestamptz NOT NULL,
        rotated_at timestamptz,
        revoked_at timestamptz
    )""",
    "CREATE INDEX IF NOT EXISTS {tokens_family} ON {tokens} (family)",
    "CREATE INDEX IF NOT EXISTS {tokens_account} ON {tokens} (account)",
]


def _digest(token: str) -> bytes:
    # The token is 256 random bits: a fast hash is enough (nothing to brute-force), and a
    # stolen table holds nothing a client could present.
    return hashlib.sha256(token.encode()).digest()


def _one(conn: psycopg.Connection[Any], statement: Composed, params: tuple[Any, ...]) -> Any:
    with conn.cursor(row_factory=tuple_row) as curs:
        curs.execute(statement, params)
        return curs.fetchone()


class PostgresCredentials:
    """commands.ports.CredentialStore and SessionStore over the event store's database."""

    def __init__(self, store: EventStore, refresh_ttl: timedelta = REFRESH_TTL) -> None:
        self.store = store
        self.refresh_ttl = refresh_ttl
        schema = store.recorder.datastore.schema
        self.credentials = qualified(schema, "credentials")
        self.tokens = qualified(schema, "refresh_tokens")
        self._names = {
            "credentials": self.credentials,
            "tokens": self.tokens,
            "tokens_family": SQL("refresh_tokens_family_idx"),
            "tokens_account": SQL("refresh_tokens_account_idx"),
        }

    def _sql(self, text: str) -> Composed:
        return SQL(text).format(**self._names)

    def setup(self) -> None:
        """Create the tables (idempotent)."""
        with self.store.connection() as conn, conn.transaction():
            for statement in _DDL:
                conn.execute(self._sql(statement))

    # -- credentials -------------------------------------------------------------------
    def password_hash(self, account_id: UUID) -> str | None:
        with self.store.connection() as conn:
            row = _one(
                conn,
                self._sql("SELECT password_hash FROM {credentials} WHERE account_id = %s"),
                (account_id,),
            )
        return None if row is None else row[0]

    def save_account(
        self, account_id: UUID, password_hash: str, *aggregates: Any, meta: Any
    ) -> int:
        def insert(conn: psycopg.Connection[Any]) -> None:
            conn.execute(
                self._sql("INSERT INTO {credentials} (account_id, password_hash) VALUES (%s, %s)"),
                (account_id, password_hash),
            )

        return self.store.save_with(insert, *aggregates, meta=meta)

    def adopt(self, account_id: UUID, password_hash: str) -> None:
        with self.store.connection() as conn, conn.transaction():
            conn.execute(
                self._sql(
                    "INSERT INTO {credentials} (account_id, password_hash) VALUES (%s, %s)"
                    " ON CONFLICT (account_id) DO NOTHING"
                ),
                (account_id, password_hash),
            )

    def change(self, account_id: UUID, password_hash: str) -> None:
        with self.store.connection() as conn, conn.transaction():
            conn.execute(
                self._sql(
                    "INSERT INTO {credentials} (account_id, password_hash) VALUES (%s, %s)"
                    " ON CONFLICT (account_id) DO UPDATE"
                    " SET password_hash = excluded.password_hash, updated = now()"
                ),
                (account_id, password_hash),
            )
            conn.execute(
                self._sql(
                    "UPDATE {tokens} SET revoked_at = now()"
                    " WHERE account = %s AND revoked_at IS NULL"
                ),
                (account_id,),
            )

    # -- sessions ----------------------------------------------------------------------
    def _insert_token(self, conn: psycopg.Connection[Any], account: UUID, family: UUID) -> str:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        conn.execute(
            self._sql(
                "INSERT INTO {tokens} (id, token_hash, family, account, expires)"
                " VALUES (%s, %s, %s, %s, now() + %s)"
            ),
            (uuid4(), _digest(token), family, account, self.refresh_ttl),
        )
        return token

    def issue(self, account_id: UUID) -> str:
        with self.store.connection() as conn, conn.transaction():
            return self._insert_token(conn, account_id, uuid4())

    def rotate(self, token: str) -> tuple[UUID, str]:
        reused = False
        with self.store.connection() as conn, conn.transaction():
            # FOR UPDATE: two processes presenting the same token take turns; the second
            # sees it rotated and treats it as reuse.
            row = _one(
                conn,
                self._sql(
                    "SELECT family, account, rotated_at IS NOT NULL, revoked_at IS NOT NULL,"
                    " expires <= now() FROM {tokens} WHERE token_hash = %s FOR UPDATE"
                ),
                (_digest(token),),
            )
            if row is None:
                raise Unauthorized("the refresh token is not valid")
            family, account, rotated, revoked, expired = row
            if rotated or revoked:
                reused = rotated and not revoked
                conn.execute(
                    self._sql(
                        "UPDATE {tokens} SET revoked_at = now()"
                        " WHERE family = %s AND revoked_at IS NULL"
                    ),
                    (family,),
                )
            elif not expired:
                conn.execute(
                    self._sql("UPDATE {tokens} SET rotated_at = now() WHERE token_hash = %s"),
                    (_digest(token),),
                )
                return account, self._insert_token(conn, account, family)
        if reused:
            raise Unauthorized(
                "the refresh token was used before: every token of its session is revoked"
            )
        raise Unauthorized("the refresh token is not valid")

    def revoke(self, token: str) -> None:
        with self.store.connection() as conn, conn.transaction():
            conn.execute(
                self._sql(
                    "UPDATE {tokens} SET revoked_at = now() WHERE revoked_at IS NULL AND family ="
                    " (SELECT family FROM {tokens} WHERE token_hash = %s)"
                ),
                (_digest(token),),
            )
