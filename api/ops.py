"""Ops routes: read-model status and lag, rebuilds without downtime, retries, metrics."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from tillroll.api.auth import OPS, roles
from tillroll.projections.builds import BUILDING
from tillroll.projections.registry import BY_NAME
from tillroll.projections.runner import ProjectionRunner
from tillroll.projections.status import ProjectionStatus, collect_status


class RebuildStarted(msgspec.Struct):
    name: str
    build: int
    state: str
    detail: str


def _known(name: str) -> None:
    if name not in BY_NAME:
        raise NotFoundException(f"no read model called {name!r}")


class OpsController(Controller):
    path = "/v1/ops/projections"
    tags = ["ops"]
    guards = [roles(OPS)]

    @get("/", sync_to_thread=True)
    def status(self, runner: NamedDependency[ProjectionRunner]) -> list[ProjectionStatus]:
        """Every read model: live version and build, position, lag (events and seconds),
        state (running, catching up, rebuilding, failed with its error), events/s."""
        return collect_status(runner)

    @post("/{name:str}/rebuild", sync_to_thread=True, status_code=202)
    def rebuild(
        self, name: FromPath[str], runner: NamedDependency[ProjectionRunner]
    ) -> RebuildStarted:
        """Start a rebuild beside the live copy; the projection runner builds it, then
        switches reads to it in one step. A rebuild already under way is reported, not
        restarted."""
        _known(name)
        under_way = [b for b in runner.active(name) if b.state == BUILDING]
        if under_way:
            build = under_way[-1].build
            return RebuildStarted(name, build, BUILDING, "a rebuild is already under way")
        projection = runner.new_build(name)
        return RebuildStarted(name, projection.build, BUILDING, "rebuild started")

    @post("/{name:str}/retry", sync_to_thread=True, status_code=202)
    def retry(
        self, name: FromPath[str], runner: NamedDependency[ProjectionRunner]
    ) -> dict[str, str]:
        """Retry a read model stopped by an error now, instead of after its back-off."""
        _known(name)
        runner.retry(name)
        return {"name": name, "detail": "runners woken"}


def projection_metrics(runner: NamedDependency[ProjectionRunner]) -> bytes:
    registry = CollectorRegistry()
    labels = ["name"]
    position = Gauge(
        "tillroll_projection_position", "Last log position applied", labels, registry=registry
    )
    lag = Gauge(
        "tillroll_projection_lag_events", "Events behind the log head", labels, registry=registry
    )
    lag_s = Gauge(
        "tillroll_projection_lag_seconds",
        "Age of the oldest unapplied event",
        labels,
        registry=registry,
    )
    failed = Gauge(
        "tillroll_projection_failed", "1 if stopped by an error", labels, registry=registry
    )
    rate = Gauge(
        "tillroll_projection_events_per_second",
        "Apply rate of the last batch",
        labels,
        registry=registry,
    )
    head = Gauge("tillroll_log_head", "Position of the newest event", registry=registry)
    rows = collect_status(runner)
    for row in rows:
        position.labels(row.name).set(row.position)
        lag.labels(row.name).set(row.lag_events)
        lag_s.labels(row.name).set(row.lag_seconds)
        failed.labels(row.name).set(1 if row.state == "failed" else 0)
        rate.labels(row.name).set(row.events_per_second or 0)
    head.set(rows[0].head if rows else 0)
    return generate_latest(registry)


class MetricsController(Controller):
    path = "/metrics"
    tags = ["ops"]
    opt: dict[str, Any] = {"public": True}

    @get("/", sync_to_thread=True, include_in_schema=True)
    def metrics(self, runner: NamedDependency[ProjectionRunner]) -> Response[bytes]:
        """Prometheus metrics: HTTP requests (per route) and read-model lag."""
        body = generate_latest(REGISTRY) + projection_metrics(runner)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
