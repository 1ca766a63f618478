"""The Litestar application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from tillroll.api.audit import AuditController
from tillroll.api.auth import AuthController, jwt_auth
from tillroll.api.carts import CartsController
from tillroll.api.catalog import CatalogController
from tillroll.api.categories import CategoriesController
from tillroll.api.console import console_router, template_config
from tillroll.api.customers import CustomersController, MeController
from tillroll.api.deadline import deadline
from tillroll.api.errors import exception_handlers
from tillroll.api.fulfilment import FulfilmentController
from tillroll.api.health import HealthController
from tillroll.api.http_metrics import HttpMetrics
from tillroll.api.insights import InsightsController
from tillroll.api.inventory import InventoryController
from tillroll.api.invoices import InvoicesController
from tillroll.api.jobs import JobsController
from tillroll.api.live import LiveController
from tillroll.api.openapi_docs import assets_router, document_errors, swagger_plugin
from tillroll.api.ops import MetricsController, OpsController
from tillroll.api.orders import OrdersController
from tillroll.api.payments import PaymentsController
from tillroll.api.reports import ReportsController
from tillroll.api.request_log import request_context, request_id_header
from tillroll.api.requests import strict_body
from tillroll.api.reviews import ReviewsController
from tillroll.api.security_headers import security_headers
from tillroll.api.throttle import FailOpenStore, LoginThrottle, request_limit
from tillroll.api.watches import WatchesController
from tillroll.commands.ports import BaseTierForEveryone, CustomerTiers
from tillroll.queries.live import LiveFeed
from tillroll.queries.read_side import ReadSide

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AppParts:
    """What the HTTP app is built from; the composition root (tillroll/bootstrap.py) makes
    them. The app holds no connection of its own and closes nothing it was given."""

    store: Any
    """The event store, as the commands' port (commands.ports.EventStorePort)."""
    read: ReadSide
    runner: Any
    """The projection engine, for the ops routes (rebuild, retry)."""
    jwt_secret: str
    jwt_ttl_seconds: int
    async_redis: Callable[[], Any]
    """Makes an asyncio Redis client; called on the serving event loop, which it binds to."""
    lifespan: Sequence[Callable[[Litestar], AbstractAsyncContextManager[None]]] = ()
    request_deadline: float = 2.0
    """Seconds before an answer that has not started becomes a 503 (api/deadline.py)."""
    rate_limit: tuple[Any, int] | None = ("minute", 100)
    """Requests per client address (api/throttle.py), or None for no limit."""
    metrics_dir: str | None = None
    """PROMETHEUS_MULTIPROC_DIR when several processes serve (api/ops.py: http_registry)."""
    throttle_namespace: str = "tr:throttle"
    """Where in Redis the throttles count (shared by every process of one shop)."""
    jobs: Any = None
    """The background jobs, for ops (api.jobs.JobsView); None: GET /v1/ops/jobs is a 503."""
    payments: Any = None
    """The payment provider (commands.ports.PaymentsPort): Stripe or the test-mode one."""
    credentials: Any = None
    """Password hashes and sessions (commands.ports.CredentialStore and SessionStore)."""
    tiers: CustomerTiers = field(default_factory=BaseTierForEveryone)
    """Each customer's price tier, for carts and checkout (commands.ports.CustomerTiers)."""
    ready_max_lag: float = 30.0
    """Seconds a read model may lag behind the log before /ready says not ready."""
    live_stream_seconds: float = 300.0
    """How long a Server-Sent Events stream lasts before the client reconnects (api/live.py)."""


def create_app(parts: AppParts) -> Litestar:
    """Build the HTTP app from its parts."""
    auth = jwt_auth(parts.jwt_secret, parts.jwt_ttl_seconds)
    read = parts.read

    @asynccontextmanager
    async def async_redis_lifespan(_: Litestar) -> AsyncIterator[None]:
        read.aredis = parts.async_redis()
        try:
            yield
        finally:
            client, read.aredis = read.aredis, None
            await client.aclose()

    live = LiveFeed(read)

    @asynccontextmanager
    async def live_lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await live.close()  # before the asyncio client it listens on is closed

    counts = FailOpenStore(parts.async_redis, namespace=parts.throttle_namespace)

    @asynccontextmanager
    async def counts_lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await counts.close()

    def outermost_limit(config: Any) -> Any:
        # After the JWT config has put its middleware first: a flood is refused before its
        # tokens are checked.
        if parts.rate_limit is not None:
            config.middleware.insert(0, request_limit(parts.rate_limit, counts))
        return config

    def provide_store() -> Any:
        return parts.store

    def provide_read() -> ReadSide:
        return read

    def provide_runner() -> Any:
        return parts.runner

    def provide_jobs() -> Any:
        return parts.jobs

    def provide_payments() -> Any:
        return parts.payments

    def provide_credentials() -> Any:
        return parts.credentials

    def provide_tiers() -> CustomerTiers:
        return parts.tiers

    def provide_live() -> LiveFeed:
        return live

    def provide_stream_seconds() -> float:
        return parts.live_stream_seconds

    app = Litestar(
        route_handlers=[
            assets_router(),
            HealthController,
            AuthController,
            CatalogController,
            CategoriesController,
            InventoryController,
            OrdersController,
            PaymentsController,
            FulfilmentController,
            CartsController,
            OpsController,
            AuditController,
            MetricsController,
            JobsController,
            MeController,
            CustomersController,
            console_router(parts.jwt_secret),
            InvoicesController,
            ReviewsController,
            WatchesController,
            InsightsController,
            ReportsController,
            LiveController,
        ],
        dependencies={
            "store": Provide(provide_store, sync_to_thread=False),
            "read": Provide(provide_read, sync_to_thread=False),
            "runner": Provide(provide_runner, sync_to_thread=False),
            "jobs": Provide(provide_jobs, sync_to_thread=False),
            "payments": Provide(provide_payments, sync_to_thread=False),
            "credentials": Provide(provide_credentials, sync_to_thread=False),
            "tiers": Provide(provide_tiers, sync_to_thread=False),
            "live": Provide(provide_live, sync_to_thread=False),
            "stream_seconds": Provide(provide_stream_seconds, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(),
        template_config=template_config(),
        before_request=strict_body,
        # Same metric names as Litestar's PrometheusMiddleware, a fraction of its cost.
        middleware=[
            request_context,
            HttpMetrics("tillroll").middleware,
            deadline(parts.request_deadline),
        ],
        before_send=[security_headers, request_id_header],
        # Logging is the process's (tillroll/logs.py: structlog, JSON on request); Litestar's
        # own config would replace its handlers at start-up with a queue of its own.
        logging_config=None,
        on_app_init=[auth.on_app_init, outermost_limit],
        stores={"throttle": counts},
        lifespan=[async_redis_lifespan, live_lifespan, counts_lifespan, *parts.lifespan],
        state=State(
            {
                "jwt_auth": auth,
                "login_throttle": LoginThrottle(counts),
                "metrics_dir": parts.metrics_dir,
                "ready_max_lag": parts.ready_max_lag,
            }
        ),
        openapi_config=OpenAPIConfig(
            title="tillroll",
            version="0.1.0",
            description="Event-sourced commerce engine. Log in at POST /v1/auth/login, then "
            "send `Authorization: Bearer <token>`.",
            path="/schema",
            render_plugins=[swagger_plugin()],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
    )
    document_errors(app)
    return app
