"""The ops view of the console: every read model and reaction with its lag, rebuild / retry /
verify, the background jobs with a retry for a failed one, and /ready at a glance. The page
polls one fragment (`/console/ops/live`) every second; the buttons post back and answer with
a message. The same ports as the JSON ops routes (api/ops.py, api/jobs.py, api/health.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import anyio
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ServiceUnavailableException
from litestar.params import FromPath
from litestar.response import Template
from tillroll.api.auth import OPS, roles
from tillroll.api.console.session import HTML, principal_of
from tillroll.api.health import LogHead, readiness
from tillroll.api.ops import ProjectionActions
from tillroll.queries.ops import projection_status, read_model_known, verify_read_model
from tillroll.queries.read_side import ReadSide

POLL = "1s"
"""How often the page refreshes its figures (the issue: at most one second old)."""
REACTION = "reaction"


@runtime_checkable
class JobActions(Protocol):
    """What the ops view needs of the background jobs (rq's queue in infra/jobs.py)."""

    def overview(self, names: Any = ..., limit: int = ...) -> Mapping[str, Any]: ...

    def requeue(self, job_id: str, name: str = ...) -> None: ...


def _jobs(jobs: JobActions | None) -> Mapping[str, Any] | None:
    return None if jobs is None else jobs.overview(limit=20)


async def live_context(
    request: Request, runner: Any, jobs: Any, store: LogHead, read: ReadSide, payments: Any
) -> Any:
    rows = await anyio.to_thread.run_sync(projection_status, runner)
    overview = await anyio.to_thread.run_sync(_jobs, jobs)
    limit = float(request.app.state.get("ready_max_lag", 30.0))  # as /ready judges it
    ready = await readiness(store, read, payments, limit)
    return {
        "models": [row for row in rows if row.target != REACTION],
        "reactions": [row for row in rows if row.target == REACTION],
        "jobs": overview,
        "ready": ready,
        "max_lag": max(ready.lag.values(), default=0),
        "poll": POLL,
    }


def _message(text: str, ok: bool = True, **extra: Any) -> Template:
    # `refresh`: the page fetches its figures at once rather than at the next tick.
    return Template(
        media_type=HTML,
        template_name="message.html",
        context={"text": text, "ok": ok, **extra},
        headers={"HX-Trigger": "refresh"},
    )


class OpsConsole(Controller):
    path = "/ops"
    guards = [roles(OPS)]
    include_in_schema = False

    @get("/")
    async def page(
        self,
        request: Request,
        runner: NamedDependency[Any],
        jobs: NamedDependency[Any],
        store: NamedDependency[Any],
        read: NamedDependency[ReadSide],
        payments: NamedDependency[Any],
    ) -> Template:
        """The ops view, with its figures as of now."""
        context = await live_context(request, runner, jobs, store, read, payments)
        return Template(
            media_type=HTML,
            template_name="ops.html",
            context={**context, "user": principal_of(request), "view": "ops"},
        )

    @get("/live")
    async def live(
        self,
        request: Request,
        runner: NamedDependency[Any],
        jobs: NamedDependency[Any],
        store: NamedDependency[Any],
        read: NamedDependency[ReadSide],
        payments: NamedDependency[Any],
    ) -> Template:
        """The figures alone, which the page polls."""
        context = await live_context(request, runner, jobs, store, read, payments)
        return Template(media_type=HTML, template_name="ops_live.html", context=context)

    @post("/projections/{name:str}/rebuild", sync_to_thread=True, status_code=200)
    def rebuild(self, name: FromPath[str], runner: NamedDependency[ProjectionActions]) -> Template:
        """Start a rebuild beside the live copy (as POST /v1/ops/projections/{name}/rebuild);
        the live figures show its progress."""
        if not read_model_known(name):
            raise NotFoundException(f"no read model called {name!r}")
        build, started = runner.request_rebuild(name)
        if not started:
            return _message(f"{name}: build {build} is already being rebuilt")
        return _message(f"{name}: rebuild started as build {build}")

    @post("/projections/{name:str}/retry", sync_to_thread=True, status_code=200)
    def retry(self, name: FromPath[str], runner: NamedDependency[ProjectionActions]) -> Template:
        """Wake a read model or reaction stopped by an error now, instead of after its
        back-off."""
        if name not in runner.names():
            raise NotFoundException(f"no read model called {name!r}")
        runner.retry(name)
        return _message(f"{name}: woken to retry")

    @post("/projections/{name:str}/verify", sync_to_thread=True, status_code=200)
    def verify(self, name: FromPath[str], runner: NamedDependency[Any]) -> Template:
        """Rebuild the read model into a scratch copy up to the live one's position and
        compare them (`tillroll projections verify`)."""
        if not read_model_known(name):
            raise NotFoundException(f"no read model called {name!r}")
        result = verify_read_model(runner, name)
        if result.ok:
            text = (
                f"{name}: identical to a rebuild from the log ({result.items} "
                f"item{'' if result.items == 1 else 's'} at position {result.position})"
            )
            return _message(text)
        text = f"{name}: differs from a rebuild in {len(result.differences)} items"
        return _message(text, ok=False, differences=result.differences[:10])

    @post("/jobs/{job_id:str}/retry", sync_to_thread=True, status_code=200)
    def retry_job(self, job_id: FromPath[str], jobs: NamedDependency[Any]) -> Template:
        """Put a failed job back on its queue (`tillroll jobs retry ID`)."""
        if jobs is None:
            raise ServiceUnavailableException("no job queue is wired into this process")
        actions: JobActions = jobs
        actions.requeue(job_id)
        return _message(f"job {job_id}: back on its queue")
