"""The builds of the read models this code keeps: binding a catalogue row to its projection
class, creating a build with its tables, dropping one with its data."""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Identifier
from tillroll.projections.engine import catalogue
from tillroll.projections.engine.catalogue import BUILDING, LIVE, SCRATCH, Build
from tillroll.projections.engine.model import Projection, RedisProjection, SqlProjection
from tillroll.projections.engine.stores import Stores

SETUP_LOCK = "tillroll.projections.setup"


class Builds:
    def __init__(self, stores: Stores) -> None:
        self.stores = stores

    def bind(self, build: Build) -> Projection:
        return self.stores.classes[build.name](build.build, self.stores.prefix)

    def list(self, name: str | None = None) -> list[Build]:
        with self.stores.sql_pool.connection() as conn:
            return catalogue.list_builds(conn, name)

    def live(self, name: str) -> Build | None:
        return next((b for b in self.list(name) if b.state == LIVE), None)

    def live_projections(self) -> list[Projection]:
        """The live build of every read model."""
        found = {b.name: b for b in self.list() if b.state == LIVE}
        return [self.bind(found[name]) for name in self.stores.classes if name in found]

    def active(self, name: str, builds: list[Build] | None = None) -> list[Build]:
        """Builds this code maintains: the live one (if its version is the code's) and any
        build under way (live first: it has the older number)."""
        version = self.stores.classes[name].VERSION
        return [
            b
            for b in (self.list(name) if builds is None else builds)
            if b.name == name and b.version == version and b.state in (LIVE, BUILDING)
        ]

    def setup(self, conn: Any) -> None:
        """The catalogue and every active build's tables; a first build of each read model;
        a new build where the code's version differs from the live one (blue/green deploy).

        Only what is missing is created: DDL on a table in use (even `CREATE INDEX IF NOT
        EXISTS`) locks it, and every process runs this at start, next to running followers.
        The caller holds the setup lock (SETUP_LOCK) in the transaction of `conn`."""
        if conn.execute("SELECT to_regclass(%s)", (catalogue.TABLE,)).fetchone()[0] is None:
            catalogue.ensure_table(conn)
        created = []
        for name, cls in self.stores.classes.items():
            existing = catalogue.list_builds(conn, name)
            live = next((b for b in existing if b.state == LIVE), None)
            if live is None:
                created.append(catalogue.create_build(conn, cls, LIVE))
            elif live.version != cls.VERSION and not any(
                b.state == BUILDING and b.version == cls.VERSION for b in existing
            ):
                created.append(catalogue.create_build(conn, cls, BUILDING))
        for build in created:
            self._create_tables(conn, self.bind(build))

    def _create_tables(self, conn: Any, projection: Projection) -> None:
        if isinstance(projection, SqlProjection):
            for statement in projection.ddl():
                conn.execute(statement)

    def new(self, name: str, state: str = BUILDING) -> Projection:
        """Start an empty build beside the live one (its tables are created at once)."""
        cls = self.stores.classes[name]
        with self.stores.sql_pool.connection() as conn, conn.transaction():
            build = catalogue.create_build(conn, cls, state)
            projection = self.bind(build)
            self._create_tables(conn, projection)
            catalogue.notify(conn, name)
        return projection

    def drop(self, projection: Projection) -> None:
        """Delete a build's data and its catalogue row."""
        if isinstance(projection, RedisProjection):
            client = self.stores.redis
            batch: list[bytes] = []
            for key in client.scan_iter(match=f"{projection.namespace}*", count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch.clear()
            if batch:
                client.unlink(*batch)
        with self.stores.sql_pool.connection() as conn, conn.transaction():
            if isinstance(projection, SqlProjection):
                for table in projection.tables:
                    conn.execute(SQL("DROP TABLE IF EXISTS {}").format(Identifier(table)))
            catalogue.delete_build(conn, projection.NAME, projection.build)

    def drop_scratch(self, name: str) -> None:
        for build in self.list(name):
            if build.state == SCRATCH:
                self.drop(self.bind(build))
