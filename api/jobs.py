"""Ops route over the background jobs: what is queued, scheduled and failed (GET
/v1/ops/jobs). The jobs are reached through a port; the composition root passes rq's."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import ServiceUnavailableException
from litestar.params import Parameter
from tillroll.api.auth import OPS, roles


@runtime_checkable  # Litestar checks a dependency against its type
class JobsView(Protocol):
    def overview(self, names: Any = ..., limit: int = ...) -> Mapping[str, Any]:
        """Counts of queued, scheduled and failed jobs, and the first `limit` of each."""
        ...


class JobRow(msgspec.Struct):
    id: str
    queue: str
    command: str
    state: str
    enqueued_at: str = ""
    run_at: str = ""
    """Scheduled jobs: when they become due."""
    error: str = ""
    """Failed jobs: the last line of the error."""
    failed_at: str = ""


class JobLists(msgspec.Struct):
    queued: list[JobRow]
    scheduled: list[JobRow]
    failed: list[JobRow]


class JobsOverview(msgspec.Struct):
    queued: int
    scheduled: int
    failed: int
    jobs: JobLists


class JobsController(Controller):
    path = "/v1/ops/jobs"
    tags = ["ops"]
    guards = [roles(OPS)]

    @get("/", sync_to_thread=True)
    def jobs(
        self,
        jobs: NamedDependency[JobsView | None],
        limit: int = Parameter(default=100, ge=1, le=1000),
    ) -> JobsOverview:
        """Background jobs: how many are queued, scheduled (e.g. reservation expiries) and
        failed (retries exhausted or refused), with the first `limit` of each; retry a
        failed one with `tillroll jobs retry ID`."""
        if jobs is None:
            raise ServiceUnavailableException("no job queue is wired into this process")
        return msgspec.convert(jobs.overview(limit=limit), JobsOverview)
