"""Wiring: from settings to running parts (servers, event store, read stores, runner)."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path

import redis
from psycopg_pool import ConnectionPool

from tillroll.infra.embedded import EmbeddedServers, start_embedded
from tillroll.infra.eventstore import EventStore
from tillroll.infra.postgres import read_model_pool
from tillroll.infra.redis import redis_client
from tillroll.infra.settings import Settings
from tillroll.projections.engine.live_builds import LiveBuilds
from tillroll.projections.engine.runner import ProjectionRunner
from tillroll.projections.registry import PROJECTIONS

log = logging.getLogger(__name__)


def jwt_secret(settings: Settings) -> str:
    """The configured secret, or one kept in the data directory (embedded default only)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = Path(settings.data_dir) / "jwt-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Runtime:
    settings: Settings
    store: EventStore
    read_pool: ConnectionPool
    redis: redis.Redis
    runner: ProjectionRunner
    servers: EmbeddedServers = field(default_factory=EmbeddedServers)
    _closed: bool = False

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        servers = EmbeddedServers()
        if settings.database_url is None or settings.redis_url is None:
            servers = start_embedded(
                Path(settings.data_dir),
                need_postgres=settings.database_url is None,
                need_redis=settings.redis_url is None,
            )
            settings = settings.with_urls(
                settings.database_url or servers.database_url or "",
                settings.redis_url or servers.redis_url or "",
            )
        assert settings.database_url and settings.redis_url
        try:
            store = EventStore(
                settings.database_url, schema=settings.event_schema, pool_size=settings.pg_pool_size
            )
            read_pool = read_model_pool(
                settings.database_url, settings.read_schema, settings.pg_pool_size
            )
            client = redis_client(settings.redis_url)
            runner = ProjectionRunner(
                store,
                read_pool,
                client,
                PROJECTIONS,
                prefix=settings.redis_prefix,
                batch_size=settings.projection_batch,
                rebuild_batch=settings.projection_rebuild_batch,
            )
            runner.setup()
        except BaseException:
            servers.stop()
            raise
        return cls(settings, store, read_pool, client, runner, servers)

    def live_builds(self, ttl: float = 1.0) -> LiveBuilds:
        """Which build of each read model queries should read (cached for `ttl` seconds)."""
        return LiveBuilds(self.read_pool, PROJECTIONS, self.settings.redis_prefix, ttl)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.runner.stop()
        self.read_pool.close()
        self.redis.close()
        self.store.close()
        self.servers.stop()
