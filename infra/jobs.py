"""Background jobs on rq: a job is a command (type name + JSON body) that the worker runs
later (`tillroll.worker.run_job`). Job ids are derived from their cause and enqueued with
`unique=True`, so a cause enqueues one job even if its reaction runs twice."""

from __future__ import annotations

import msgspec
import redis
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.serializers import JSONSerializer

JOB_FUNCTION = "tillroll.worker.run_job"
RESULT_TTL = 7 * 24 * 3600
"""Finished jobs stay this long (seconds): while a job is kept, its id cannot be enqueued
again, so this bounds how late a re-delivered cause is still recognised by rq alone."""
FAILURE_TTL = 30 * 24 * 3600
RETRY = Retry(max=3, interval=[10, 60, 300])


def rq_connection(url: str) -> redis.Redis:
    """rq's own client: no socket timeout, since a worker blocks on the queue for minutes."""
    return redis.Redis.from_url(url, socket_connect_timeout=5, health_check_interval=30)


class RqJobQueue:
    """Queues named `<prefix><name>` (so several shops can share one Redis)."""

    def __init__(self, connection: redis.Redis, prefix: str = "tr:") -> None:
        self.connection = connection
        self.prefix = prefix

    def queue(self, name: str = "default") -> Queue:
        return Queue(f"{self.prefix}{name}", connection=self.connection, serializer=JSONSerializer)

    def enqueue(self, command: msgspec.Struct, *, job_id: str, queue: str = "default") -> bool:
        body = msgspec.json.encode(command).decode()
        try:
            self.queue(queue).enqueue_call(
                JOB_FUNCTION,
                args=(type(command).__name__, body),
                job_id=job_id,
                unique=True,
                result_ttl=RESULT_TTL,
                failure_ttl=FAILURE_TTL,
                retry=RETRY,
                description=f"{type(command).__name__} {body}",
            )
        except DuplicateJobError:
            return False
        return True
