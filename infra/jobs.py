"""Background jobs on rq: a job is a command (type name + JSON body) that the worker runs
later (`tillroll.worker.run_job`). Job ids are derived from their cause and enqueued with
`unique=True`, so a cause enqueues one job even if its reaction runs twice. Also what ops
read about them: queued, scheduled and failed jobs, and re-queueing a failed one."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Any

import msgspec
import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job
from rq.serializers import JSONSerializer
from tillroll.aggregates.errors import ConcurrencyConflict, DomainError, NotFound

JOB_FUNCTION = "tillroll.worker.run_job"
RESULT_TTL = 7 * 24 * 3600
"""Finished jobs stay this long (seconds): while a job is kept, its id cannot be enqueued
again, so this bounds how late a re-delivered cause is still recognised by rq alone."""
FAILURE_TTL = 30 * 24 * 3600
RETRY = Retry(max=3, interval=[10, 60, 300])
LISTED = 100
"""Jobs listed per state by `overview` (the counts are complete)."""


def rq_connection(url: str) -> redis.Redis:
    """rq's own client: no socket timeout, since a worker blocks on the queue for minutes."""
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


def refusals_are_final(
    job: Job,
    exc_type: type[BaseException] | None,
    exc_value: BaseException | None,
    traceback: TracebackType | None,
) -> bool:
    """A worker's exception handler (rq runs it before it decides on a retry): a domain
    refusal (not found, an illegal transition...) fails the same way on every attempt, so it
    goes to the failed registry now; anything else (a connection refused, a timeout, a
    version conflict that outlasted the bus's own retries) is retried with back-off."""
    if isinstance(exc_value, DomainError) and not isinstance(exc_value, ConcurrencyConflict):
        job.retries_left = 0
    return True  # let rq's default handling (retry or failed registry) go on


def _error_summary(job: Job) -> str:
    result = job.latest_result()
    text = (result.exc_string if result is not None else None) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def _when(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


class RqJobQueue:
    """Queues named `<prefix><name>` (so several shops can share one Redis)."""

    def __init__(self, connection: redis.Redis, prefix: str = "tr:", retry: Retry = RETRY) -> None:
        self.connection = connection
        self.prefix = prefix
        self.retry = retry
        """Retries of a job that fails on a transient error, with their back-off."""

    def queue(self, name: str = "default") -> Queue:
        return Queue(f"{self.prefix}{name}", connection=self.connection, serializer=JSONSerializer)

    def _job_options(self, command: msgspec.Struct, job_id: str) -> dict[str, Any]:
        body = msgspec.json.encode(command).decode()
        return {
            "args": (type(command).__name__, body),
            "job_id": job_id,
            "unique": True,
            "result_ttl": RESULT_TTL,
            "failure_ttl": FAILURE_TTL,
            "retry": self.retry,
            "description": f"{type(command).__name__} {body}",
        }

    def enqueue(self, command: msgspec.Struct, *, job_id: str, queue: str = "default") -> bool:
        options = self._job_options(command, job_id)
        try:
            self.queue(queue).enqueue_call(JOB_FUNCTION, **options)
        except DuplicateJobError:
            return False
        return True

    def schedule(
        self, command: msgspec.Struct, *, job_id: str, at: datetime, queue: str = "default"
    ) -> bool:
        options = self._job_options(command, job_id)
        try:
            self.queue(queue).enqueue_at(at, JOB_FUNCTION, **options)
        except DuplicateJobError:
            return False
        return True

    # -- what ops read and do ----------------------------------------------------------------
    def _fetch(self, ids: Sequence[str]) -> list[Job]:
        jobs = Job.fetch_many(list(ids), connection=self.connection, serializer=JSONSerializer)
        return [job for job in jobs if job is not None]

    def _row(self, job: Job, state: str, **extra: str) -> dict[str, str]:
        command = job.args[0] if job.args else job.func_name
        return {
            "id": job.id,
            "queue": job.origin.removeprefix(self.prefix),
            "command": str(command),
            "state": state,
            "enqueued_at": _when(job.enqueued_at),
            **extra,
        }

    def overview(self, names: Sequence[str] = ("default",), limit: int = LISTED) -> dict[str, Any]:
        """Counts of queued, scheduled and failed jobs, and the first `limit` of each."""
        counts = {"queued": 0, "scheduled": 0, "failed": 0}
        rows: dict[str, list[dict[str, str]]] = {"queued": [], "scheduled": [], "failed": []}
        for name in names:
            q = self.queue(name)
            counts["queued"] += q.count
            rows["queued"] += [self._row(j, "queued") for j in self._fetch(q.get_job_ids(0, limit))]
            scheduled = q.scheduled_job_registry
            counts["scheduled"] += scheduled.count
            for job in self._fetch(scheduled.get_job_ids(0, limit - 1)):
                at = _when(scheduled.get_scheduled_time(job))
                rows["scheduled"].append(self._row(job, "scheduled", run_at=at))
            counts["failed"] += q.failed_job_registry.count
            rows["failed"] += self.failed(name, limit)
        return {**counts, "jobs": {state: found[:limit] for state, found in rows.items()}}

    def failed(self, name: str = "default", limit: int = LISTED) -> list[dict[str, str]]:
        """Jobs that exhausted their retries (or were refused): id, command, error, when."""
        registry = self.queue(name).failed_job_registry
        return [
            self._row(job, "failed", error=_error_summary(job), failed_at=_when(job.ended_at))
            for job in self._fetch(registry.get_job_ids(0, limit - 1))
        ]

    def requeue(self, job_id: str, name: str = "default") -> None:
        """Put a failed job back on its queue (NotFound if no failed job has that id)."""
        registry = self.queue(name).failed_job_registry
        try:
            registry.requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation):
            raise NotFound(f"no failed job {job_id!r}", field="id") from None
