"""The rq worker: runs the commands that reactions enqueued as jobs (`run_job`), with the
dependencies of the process that started it (`tillroll worker`, or a test)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from rq import SimpleWorker

from tillroll.commands.bus import BY_NAME, dispatch
from tillroll.commands.context import Principal
from tillroll.infra.jobs import refusals_are_final

if TYPE_CHECKING:
    from tillroll.bootstrap import Runtime

log = logging.getLogger(__name__)
WORKER = Principal(subject="system:worker", role="ops")

_runtime: Runtime | None = None
"""The runtime of this worker process. rq calls job functions by name with plain arguments,
so the worker's entry point (`work`) sets it once before it takes the first job."""


def run_job(command_type: str, body: str) -> Any:
    """A job: decode the command and run it like any other, as the worker."""
    if _runtime is None:
        raise RuntimeError("run_job is called by a worker started with tillroll.worker.work")
    command = msgspec.json.decode(body, type=BY_NAME[command_type], strict=True)
    result = dispatch(command, _runtime.command_context(WORKER))
    return msgspec.to_builtins(result)


def work(runtime: Runtime, queues: Sequence[str] = ("default",), *, burst: bool = False) -> bool:
    """Run jobs from the given queues (and the scheduled ones) until stopped, or until the
    queues are empty with `burst`. Jobs run in this process (rq's SimpleWorker): a forked
    work horse would inherit this process's pooled PostgreSQL connections."""
    global _runtime
    _runtime = runtime
    try:
        worker = SimpleWorker(
            [runtime.jobs.queue(name) for name in queues],
            connection=runtime.jobs.connection,
            serializer=runtime.jobs.queue().serializer,
            exception_handlers=[refusals_are_final],
        )
        return bool(worker.work(burst=burst, with_scheduler=True, logging_level="WARNING"))
    finally:
        _runtime = None
