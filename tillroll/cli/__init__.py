"""The `tillroll` command line: serve, projections, audit, migrate, seed, users, worker,
jobs."""

from __future__ import annotations

import argparse
import getpass
import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from tillroll.aggregates.errors import DomainError
from tillroll.cli import jobs as jobs_cli
from tillroll.cli.audit import cmd_audit
from tillroll.cli.console import CliError, log, open_runtime, seed_if_asked
from tillroll.cli.projections import cmd_projections
from tillroll.infra.embedded import EmbeddedServerError
from tillroll.infra.settings import Settings, SettingsError
from tillroll.logs import configure_logging

STARTUP_WAIT = 30.0
"""How long serve waits at start for the projection process to bring the read models to the
log's head before it serves anyway (they then report their lag)."""
NO_DELAY_HTTP = "tillroll.asgi:NoDelayHTTP"
"""uvicorn's HTTP protocol with TCP_NODELAY set (see api/asgi.py)."""


# -- serve ---------------------------------------------------------------------------------
SHUTDOWN_GRACE = 5
"""Seconds a stopping server waits for answers under way (requests end in 2 s; streams not)."""


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from tillroll.bootstrap import http_app
    from tillroll.cli.projections import ProjectionProcess, wait_caught_up

    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    if args.no_projections:
        settings = replace(settings, run_projections=False)
    run_worker = settings.embedded and not args.no_worker  # decided before servers resolve
    runtime = open_runtime(settings)
    runtime.servers.supervise()  # a dead embedded valkey comes back on its own
    projections: ProjectionProcess | None = None
    worker: jobs_cli.WorkerProcess | None = None
    try:
        seed_if_asked(runtime)
        if run_worker:
            # The embedded default runs everything from one command: the jobs too.
            worker = jobs_cli.WorkerProcess({**os.environ, **runtime.settings.as_env()})
            worker.start()
        if settings.run_projections:
            # A process of their own (`tillroll projections run`), on the servers this one
            # resolved (the embedded ones included), so they do not share the API's GIL.
            projections = ProjectionProcess({**os.environ, **runtime.settings.as_env()})
            projections.start()
            wait_caught_up(runtime, STARTUP_WAIT)
        base = f"http://{settings.host}:{settings.port}"
        print(f"tillroll is serving {base}  (API docs: {base}/docs)", file=sys.stderr)
        if runtime.payments is not None and runtime.payments.mode == "test":
            print(
                "payments: TEST MODE (built-in provider, no real money; "
                f"pay with POST {base}/v1/dev/payments/<intent>/succeed)",
                file=sys.stderr,
            )
        options: dict[str, Any] = {
            "host": settings.host,
            "port": settings.port,
            "log_level": settings.log_level.lower(),
            "access_log": False,
            "http": NO_DELAY_HTTP,
            "server_header": False,  # no software banner for scanners to match
            "log_config": None,  # keep ours (tillroll/logs.py): uvicorn's loggers propagate
            # Open Server-Sent Events streams would hold a shutdown for minutes: they are cut
            # after this, and their clients reconnect elsewhere with Last-Event-ID.
            "timeout_graceful_shutdown": SHUTDOWN_GRACE,
        }
        if args.workers <= 1:
            uvicorn.run(http_app(runtime, run_projections=False), **options)
            return 0
        # Several API processes over the same servers, counting HTTP metrics in files that
        # /metrics merges (prometheus_client's multiprocess mode; it reads this variable when
        # the workers import it, and wants a directory emptied of an earlier run's files).
        # This process only supervises from here on: its pools would hold connections
        # of the budget that the API processes need (docs/DEPLOYMENT.md).
        runtime.release_postgres()
        metrics_dir = Path(settings.data_dir).resolve() / "prometheus-multiproc"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ.update(
            runtime.settings.as_env(),
            TILLROLL_PROJECTIONS="0",
            PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
        )
        uvicorn.run("tillroll.asgi:create", factory=True, workers=args.workers, **options)
        return 0
    finally:
        if worker is not None:
            worker.stop()
        if projections is not None:
            projections.stop()
        runtime.close()


# -- migrate / seed / users / worker -------------------------------------------------------
def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    runtime = open_runtime(settings)  # opening creates every table (idempotent)
    runtime.close()
    print("event store and read-model tables are in place", file=sys.stderr)
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from tillroll.seed import seed_demo

    runtime = open_runtime(settings)
    try:
        if not seed_demo(runtime.store, runtime.credentials):
            raise CliError("the store already holds events; demo data is only seeded when empty")
        print("seeded demo data", file=sys.stderr)
        return 0
    finally:
        runtime.close()


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    from tillroll.commands.bus import dispatch
    from tillroll.commands.context import Principal
    from tillroll.commands.identity import OpenAccount

    password = os.environ.get("TILLROLL_NEW_PASSWORD") or (
        getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    )
    runtime = open_runtime(settings)
    try:
        ctx = runtime.command_context(Principal("system:cli", "ops"))
        result = dispatch(
            OpenAccount(args.email, args.name or args.email, args.role, password), ctx
        )
        print(f"{result.account_id} {result.email} {result.role}")
        return 0
    finally:
        runtime.close()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from tillroll.worker import work

    runtime = open_runtime(settings)
    try:
        work(runtime, args.queues, burst=args.burst)
        return 0
    finally:
        runtime.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tillroll",
        description="Event-sourced commerce engine. With no TILLROLL_DATABASE_URL / "
        "TILLROLL_REDIS_URL it runs embedded PostgreSQL and valkey under TILLROLL_DATA_DIR.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the HTTP API (and follow projections)")
    serve.add_argument("--host", default=None, help="default 127.0.0.1 (TILLROLL_HOST)")
    serve.add_argument("--port", type=int, default=None, help="default 8000 (TILLROLL_PORT)")
    serve.add_argument("--workers", type=int, default=1, help="API processes (default 1)")
    serve.add_argument(
        "--no-projections",
        action="store_true",
        help="do not run the projections (by default a child process runs them)",
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="do not run a job worker (by default the embedded default runs one as a child)",
    )
    serve.set_defaults(func=cmd_serve)

    proj = sub.add_parser(
        "projections", help="read models: list, status, rebuild, verify, retry, run"
    )
    proj_sub = proj.add_subparsers(dest="action", required=True)
    proj_sub.add_parser("list", help="every read model with its version, target and events")
    status = proj_sub.add_parser("status", help="position, lag, state and speed of each")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    rebuild = proj_sub.add_parser(
        "rebuild", help="rebuild beside the live copy, then switch to it (no downtime)"
    )
    rebuild.add_argument("name")
    rebuild.add_argument(
        "--from-scratch", action="store_true", help="discard a half-done rebuild first"
    )
    verify = proj_sub.add_parser(
        "verify", help="rebuild into a scratch copy and compare it with the live one"
    )
    verify.add_argument("name")
    verify.add_argument("--show", type=int, default=20, help="differences to print (20)")
    retry = proj_sub.add_parser("retry", help="retry a read model stopped by an error now")
    retry.add_argument("name")
    health = proj_sub.add_parser(
        "health", help="exit 0 if this host's projection process is alive and current, else 1"
    )
    health.add_argument(
        "--max-lag", type=float, default=None, help="seconds (default TILLROLL_READY_MAX_LAG)"
    )
    run = proj_sub.add_parser("run", help="follow the log and keep the read models up to date")
    run.add_argument("--once", action="store_true", help="catch up to the head, then exit")
    proj.set_defaults(func=cmd_projections)

    audit = sub.add_parser("audit", help="history, time travel, export and tamper evidence")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    history = audit_sub.add_parser("history", help="every event of one aggregate, in order")
    history.add_argument("id")
    state = audit_sub.add_parser("state", help="an aggregate as it was at a version or time")
    state.add_argument("id")
    state.add_argument("--at", help="ISO 8601 time (UTC if no offset)")
    state.add_argument("--version", type=int)
    replay = audit_sub.add_parser("replay", help="the aggregate's state after each event")
    replay.add_argument("id")
    export = audit_sub.add_parser("export", help="the log as NDJSON on stdout")
    export.add_argument("--after", type=int, default=0, help="start after this position")
    verify_audit = audit_sub.add_parser("verify", help="recompute every hash chain")
    verify_audit.add_argument("id", nargs="?", help="only this stream")
    verify_audit.add_argument("--anchor", help="an anchor file from `tillroll audit anchor`")
    audit_sub.add_parser("anchor", help="digest of every stream's head, to keep elsewhere")
    audit.set_defaults(func=cmd_audit)

    sub.add_parser("migrate", help="create the event store and read-model tables").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("seed", help="seed demo data into an empty store").set_defaults(func=cmd_seed)

    users = sub.add_parser("users", help="accounts")
    users_sub = users.add_subparsers(dest="action", required=True)
    create = users_sub.add_parser(
        "create", help="open an account; password from TILLROLL_NEW_PASSWORD, a prompt or stdin"
    )
    create.add_argument("email")
    create.add_argument("--role", required=True, choices=["customer", "staff", "auditor", "ops"])
    create.add_argument("--name", default=None)
    users.set_defaults(func=cmd_users)

    worker = sub.add_parser("worker", help="run an rq worker for background jobs")
    worker.add_argument("queues", nargs="*", default=["default"])
    worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    worker.set_defaults(func=cmd_worker)
    jobs_cli.add_parser(sub)
    return parser


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # uvicorn re-raises the SIGTERM it caught once it has shut down; exiting through
    # SystemExit runs the finally blocks that stop the embedded servers.
    raise SystemExit(0)


PROCESS_KINDS = {"serve": "api", "worker": "worker", "migrate": "migrate"}
"""What `pg_stat_activity.application_name` calls each command's connections (the others:
`tillroll-cli`), so that a connection budget can be measured per process kind."""


def process_kind(args: argparse.Namespace) -> str:
    if args.command == "projections" and args.action == "run":
        return "projector"
    return PROCESS_KINDS.get(args.command, "cli")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # libpq names every connection this process opens after PGAPPNAME (the pools included,
    # which take no per-connection options from us); children set their own.
    os.environ["PGAPPNAME"] = f"tillroll-{process_kind(args)}"
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"tillroll: configuration: {exc}", file=sys.stderr)
        return 2
    settings = settings.for_process(process_kind(args))
    configure_logging(settings)
    func: Callable[[Settings, argparse.Namespace], int] = args.func
    started = time.monotonic()
    try:
        return func(settings, args)
    except KeyboardInterrupt:
        return 130
    except (CliError, DomainError, EmbeddedServerError) as exc:
        print(f"tillroll: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a dependency down, a bad URL: one line, not a traceback
        log.debug("failed after %.1fs", time.monotonic() - started, exc_info=True)
        print(f"tillroll: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
