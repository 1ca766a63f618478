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
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from tillroll.api.audit import AuditController
from tillroll.api.auth import AuthController, jwt_auth
from tillroll.api.carts import CartsController
from tillroll.api.catalog import CatalogController
from tillroll.api.categories import CategoriesController
from tillroll.api.errors import exception_handlers
from tillroll.api.health import HealthController
from tillroll.api.http_metrics import HttpMetrics
from tillroll.api.inventory import InventoryController
from tillroll.api.ops import MetricsController, OpsController
from tillroll.api.orders import OrdersController
from tillroll.api.requests import strict_body
from tillroll.commands.ports import BaseTierForEveryone, CustomerTiers
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
    tiers: CustomerTiers = field(default_factory=BaseTierForEveryone)
    """Each customer's price tier, for carts and checkout (commands.ports.CustomerTiers)."""


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

    def provide_store() -> Any:
        return parts.store

    def provide_read() -> ReadSide:
        return read

    def provide_runner() -> Any:
        return parts.runner

    def provide_tiers() -> CustomerTiers:
        return parts.tiers

    return Litestar(
        route_handlers=[
            HealthController,
            AuthController,
            CatalogController,
            CategoriesController,
            InventoryController,
            OrdersController,
            CartsController,
            OpsController,
            AuditController,
            MetricsController,
        ],
        dependencies={
            "store": Provide(provide_store, sync_to_thread=False),
            "read": Provide(provide_read, sync_to_thread=False),
            "runner": Provide(provide_runner, sync_to_thread=False),
            "tiers": Provide(provide_tiers, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(),
        before_request=strict_body,
        # Same metric names as Litestar's PrometheusMiddleware, a fraction of its cost.
        middleware=[HttpMetrics("tillroll").middleware],
        on_app_init=[auth.on_app_init],
        lifespan=[async_redis_lifespan, *parts.lifespan],
        state=State({"jwt_auth": auth}),
        openapi_config=OpenAPIConfig(
            title="tillroll",
            version="0.1.0",
            description="Event-sourced commerce engine. Log in at POST /v1/auth/login, then "
            "send `Authorization: Bearer <token>`.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(
                security_schemes={
                    "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")
                }
            ),
        ),
    )
