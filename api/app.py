"""The Litestar application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig
from tillroll.api.audit import AuditController
from tillroll.api.auth import AuthController, jwt_auth
from tillroll.api.catalog import CatalogController
from tillroll.api.errors import exception_handlers
from tillroll.api.health import HealthController
from tillroll.api.inventory import InventoryController
from tillroll.api.ops import MetricsController, OpsController
from tillroll.api.orders import OrdersController
from tillroll.api.requests import strict_body
from tillroll.infra.redis import async_redis_client
from tillroll.queries.read_side import ReadSide

from tillroll.bootstrap import Runtime, jwt_secret

log = logging.getLogger(__name__)


def create_app(runtime: Runtime, *, run_projections: bool | None = None) -> Litestar:
    """Build the HTTP app over an opened runtime. The runtime's owner closes it."""
    settings = runtime.settings
    auth = jwt_auth(jwt_secret(settings), settings.jwt_ttl_seconds)
    read = ReadSide(
        runtime.redis,
        runtime.read_pool,
        runtime.live_builds(),
        runtime.store,
        settings.read_wait_seconds,
    )
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

    @asynccontextmanager
    async def async_redis_lifespan(_: Litestar) -> AsyncIterator[None]:
        # Bound to the loop that serves requests, so made here rather than with the runtime.
        assert settings.redis_url is not None
        read.aredis = async_redis_client(settings.redis_url)
        try:
            yield
        finally:
            client, read.aredis = read.aredis, None
            await client.aclose()

    def provide_store() -> Any:
        return runtime.store

    def provide_read() -> ReadSide:
        return read

    def provide_runner() -> Any:
        return runtime.runner

    return Litestar(
        route_handlers=[
            HealthController,
            AuthController,
            CatalogController,
            InventoryController,
            OrdersController,
            OpsController,
            AuditController,
            MetricsController,
        ],
        dependencies={
            "store": Provide(provide_store, sync_to_thread=False),
            "read": Provide(provide_read, sync_to_thread=False),
            "runner": Provide(provide_runner, sync_to_thread=False),
        },
        exception_handlers=exception_handlers(),
        before_request=strict_body,
        middleware=[PrometheusConfig(app_name="tillroll", group_path=True).middleware],
        on_app_init=[auth.on_app_init],
        lifespan=[async_redis_lifespan, projections_lifespan],
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
