"""`tillroll jobs …`: what the background jobs are doing (list), which failed (failed) and
putting a failed one back on its queue (retry)."""

from __future__ import annotations

import argparse
import json
import sys

from tillroll.cli.console import open_runtime
from tillroll.cli.projections import ProjectionProcess
from tillroll.infra.settings import Settings

WORK = [sys.executable, "-m", "tillroll.cli", "worker"]


class WorkerProcess(ProjectionProcess):
    """`tillroll worker` beside `tillroll serve` on the embedded default, supervised like the
    projection process (restarted with back-off if it dies, stopped with serve); on SIGTERM
    rq finishes the job in hand, then the worker exits."""

    def __init__(self, env: dict[str, str]) -> None:
        super().__init__(env, command=WORK, label="worker")


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    jobs = sub.add_parser("jobs", help="background jobs: list, failed, retry, health")
    jobs_sub = jobs.add_subparsers(dest="action", required=True)
    jobs_sub.add_parser("health", help="exit 0 if an rq worker of this host is running, else 1")
    listing = jobs_sub.add_parser("list", help="queued, scheduled and failed counts per queue")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    failed = jobs_sub.add_parser("failed", help="failed jobs: id, command, error, when")
    failed.add_argument("--json", action="store_true", help="machine-readable output")
    retry = jobs_sub.add_parser("retry", help="put a failed job back on its queue")
    retry.add_argument("id")
    for parser in (listing, failed, retry):
        parser.add_argument("--queue", default="default", help="queue name (default)")
    jobs.set_defaults(func=cmd_jobs)


def cmd_health(settings: Settings) -> int:
    """A worker container's healthcheck (compose runs the lighter `python3 -m
    tillroll.health worker`, the same check): only Redis is asked."""
    from tillroll.health import check_worker, worker_health

    if settings.redis_url:
        ok, reason = check_worker(settings)
    else:  # the embedded default: its valkey, through a runtime on the data directory
        runtime = open_runtime(settings)
        try:
            ok, reason = worker_health(runtime.jobs.connection)
        finally:
            runtime.close()
    print(f"jobs: {reason}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "health":
        return cmd_health(settings)
    runtime = open_runtime(settings)
    try:
        jobs = runtime.jobs
        if args.action == "list":
            overview = jobs.overview([args.queue])
            if args.json:
                print(json.dumps(overview))
                return 0
            print(f"{'queue':<12} {'queued':>7} {'scheduled':>9} {'failed':>7}")
            print(
                f"{args.queue:<12} {overview['queued']:>7} {overview['scheduled']:>9}"
                f" {overview['failed']:>7}"
            )
            return 0
        if args.action == "failed":
            rows = jobs.failed(args.queue)
            if args.json:
                print(json.dumps(rows))
                return 0
            if not rows:
                print("no failed jobs")
            for row in rows:
                print(f"{row['id']}  {row['command']}  failed {row['failed_at'] or '-'}")
                print(f"    {row['error'] or '(no error recorded)'}")
            return 0
        # retry
        jobs.requeue(args.id, args.queue)
        print(f"{args.id}: back on queue {args.queue}")
        return 0
    finally:
        runtime.close()
