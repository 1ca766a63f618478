"""Ops routes: read-model status and lag, rebuilds without downtime, retries, metrics."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from prometheus_client import REGISTRY, CollectorRegistry, Gauge, generate_latest, multiprocess
from tillroll.api.auth import OPS, roles
from tillroll.queries.ops import ProjectionStatus, projection_status, read_model_known

BUILDING = "building"


@runtime_checkable  # Litestar checks a dependency against its type
class ProjectionActions(Protocol):
    """What ops may ask of the projection engine (the composition root passes the engine)."""

    def request_rebuild(self, name: str) -> tuple[int, bool]:
        """Start a rebuild beside the live copy unless one is under way: (its build, True if
        started now)."""
        ...

    def retry(self, name: str) -> None:
        """Wake a read model or reaction stopped by an error now."""
        ...

    def names(self) -> list[str]:
        """Every read model and reaction the engine runs."""
        ...


class RebuildStarted(msgspec.Struct):
    name: str
    build: int
    state: str
    detail: str


def _known(name: str) -> None:
    if not read_model_known(name):
        raise NotFoundException(f"no read model called {name!r}")


class OpsController(Controller):
    path = "/v1/ops/projections"
    tags = ["ops"]
    guards = [roles(OPS)]

    @get("/", sync_to_thread=True)
    def status(self, runner: NamedDependency[ProjectionActions]) -> list[ProjectionStatus]:
        """Every read model: live version and build, position, lag (events and seconds),
        state (running, catching up, rebuilding, failed with its error), events/s; and every
        reaction (target `reaction`): position, lag, state, error."""
        return projection_status(runner)

    @post("/{name:str}/rebuild", sync_to_thread=True, status_code=202)
    def rebuild(
        self, name: FromPath[str], runner: NamedDependency[ProjectionActions]
    ) -> RebuildStarted:
        """Start a rebuild beside the live copy; the projection runner builds it, then
        switches reads to it in one step. A rebuild already under way is reported, not
        restarted."""
        _known(name)
        build, started = runner.request_rebuild(name)
        if not started:
            return RebuildStarted(name, build, BUILDING, "a rebuild is already under way")
        return RebuildStarted(name, build, BUILDING, "rebuild started")

    @post("/{name:str}/retry", sync_to_thread=True, status_code=202)
    def retry(
        self, name: FromPath[str], runner: NamedDependency[ProjectionActions]
    ) -> dict[str, str]:
        """Retry a read model or reaction stopped by an error now, instead of after its
        back-off."""
        if name not in runner.names():
            raise NotFoundException(f"no read model called {name!r}")
        runner.retry(name)
        return {"name": name, "detail": "runners woken"}


def projection_metrics(runner: NamedDependency[ProjectionActions]) -> bytes:
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
    rows = projection_status(runner)
    for row in rows:
        if row.state == "unavailable":  # its store is down: no numbers rather than wrong ones
            failed.labels(row.name).set(0)
            continue
        position.labels(row.name).set(row.position)
        lag.labels(row.name).set(row.lag_events)
        lag_s.labels(row.name).set(row.lag_seconds)
        failed.labels(row.name).set(1 if row.state == "failed" else 0)
        rate.labels(row.name).set(row.events_per_second or 0)
    head.set(rows[0].head if rows else 0)
    return generate_latest(registry)


def http_registry(multiprocess_dir: str | None) -> CollectorRegistry:
    """This process's metrics, or, when several processes serve (`PROMETHEUS_MULTIPROC_DIR`,
    set by `serve --workers N`), every process's metrics merged from their files: a scrape
    reaches one worker, and must count the requests all of them served."""
    if multiprocess_dir is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=multiprocess_dir)
    return registry


class MetricsController(Controller):
    path = "/metrics"
    tags = ["ops"]
    opt: dict[str, Any] = {"public": True}

    @get("/", sync_to_thread=True, include_in_schema=True, media_type="text/plain; version=0.0.4")
    def metrics(
        self, runner: NamedDependency[ProjectionActions], request: Request
    ) -> Response[bytes]:
        """Prometheus metrics: HTTP requests (per route, summed over every `--workers`
        process) and read-model lag."""
        body = generate_latest(http_registry(request.app.state.metrics_dir))
        body += projection_metrics(runner)
        return Response(body)
