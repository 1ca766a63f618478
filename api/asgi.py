"""ASGI entry point for multi-process serving: each worker opens its own runtime from the
environment (the parent `tillroll serve` has resolved the URLs and runs the projections)."""

from __future__ import annotations

from litestar import Litestar

from api.app import create_app
from infra.runtime import Runtime
from infra.settings import Settings


def create() -> Litestar:
    runtime = Runtime.open(Settings.from_env())
    app = create_app(runtime, run_projections=False)
    app.on_shutdown.append(runtime.close)
    return app
