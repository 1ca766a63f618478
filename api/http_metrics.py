"""HTTP request metrics for Prometheus, cheap enough for every request.

The same metric names and labels as Litestar's PrometheusMiddleware with `group_path=True`
(`litestar_requests_total`, `litestar_request_duration_seconds`,
`litestar_requests_in_progress`, `litestar_requests_error_total`; labels method, path
template, status code, app name), without its per-request costs: it built a Request and the
full URL for each call and looked every labelled child up again (four `labels()` calls, each
a lock and a tuple of strings). Here the children of a (method, route, status) are looked up
once and kept; a request costs two dict lookups, a gauge inc/dec and one observe."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

PREFIX = "litestar"
LABELS = ("method", "path", "status_code", "app_name")


class HttpMetrics:
    """The metrics of one registry, and their labelled children by route."""

    def __init__(self, app_name: str, registry: CollectorRegistry = REGISTRY) -> None:
        self.app_name = app_name
        self.requests = _reuse(
            registry, f"{PREFIX}_requests_total", Counter, "Total requests", LABELS
        )
        self.duration = _reuse(
            registry,
            f"{PREFIX}_request_duration_seconds",
            Histogram,
            "Request duration, in seconds",
            LABELS,
        )
        self.in_progress = _reuse(
            registry,
            f"{PREFIX}_requests_in_progress",
            Gauge,
            "Total requests currently in progress",
            LABELS,
            multiprocess_mode="livesum",  # with --workers: the sum over live processes
        )
        self.errors = _reuse(
            registry, f"{PREFIX}_requests_error_total", Counter, "Total errors in requests", LABELS
        )
        self._running: dict[tuple[str, str], Any] = {}
        self._done: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def running(self, method: str, path: str) -> Any:
        key = (method, path)
        child = self._running.get(key)
        if child is None:
            # Litestar's middleware labels the gauge with status 200 throughout.
            child = self.in_progress.labels(method, path, 200, self.app_name)
            self._running[key] = child
        return child

    def done(self, method: str, path: str, status: int) -> tuple[Any, Any, Any]:
        key = (method, path, status)
        children = self._done.get(key)
        if children is None:
            values = (method, path, status, self.app_name)
            error = self.errors.labels(*values) if status >= 500 else None
            children = (self.requests.labels(*values), self.duration.labels(*values), error)
            self._done[key] = children
        return children

    def middleware(self, app: Any) -> Any:
        """An ASGI middleware (Litestar wraps each route handler's app with it)."""

        async def measured(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            method = scope["method"]
            path = scope.get("path_template") or scope["path"]
            status = 200
            started = time.perf_counter()
            ended = 0.0

            async def send_measured(message: Any) -> None:
                nonlocal status, ended
                kind = message["type"]
                if kind == "http.response.start":
                    status = message["status"]
                elif kind == "http.response.body":
                    ended = time.perf_counter()
                await send(message)

            running = self.running(method, path)
            running.inc()
            try:
                await app(scope, receive, send_measured)
            finally:
                running.dec()
                requests, duration, error = self.done(method, path, status)
                requests.inc()
                duration.observe((ended or time.perf_counter()) - started)
                if error is not None:
                    error.inc()

        return measured


def _reuse(
    registry: CollectorRegistry, name: str, kind: type, doc: str, labels: Any, **options: Any
) -> Any:
    """The registry's metric of this name if an earlier app in this process made it (tests
    build many apps; a registry refuses a name twice), else a new one."""
    key = name.removesuffix("_total") if kind is Counter else name
    existing = registry._names_to_collectors.get(key)  # no public lookup by name
    if existing is not None:
        return existing
    return kind(name, doc, labels, registry=registry, **options)
