"""`tillroll projections …`: list, status, rebuild, verify, retry, run; and the projection
process `tillroll serve` keeps beside the API."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import signal
import subprocess
import sys
import threading
import time

from tillroll.bootstrap import Runtime
from tillroll.cli.console import CliError, Progress, open_runtime
from tillroll.infra.settings import Settings

log = logging.getLogger("tillroll.projections")

RUN = [sys.executable, "-m", "tillroll.cli", "projections", "run"]
FIRST_RESTART, MAX_RESTART = 1.0, 30.0
STEADY = 60.0
"""A child that ran this long before it died starts again after FIRST_RESTART."""


class ProjectionProcess:
    """`tillroll projections run` in a child process, so the projections do not share the
    API's GIL: restarted with back-off if it dies, stopped with `stop`. Its output goes to
    the parent's own stdout and stderr (serve's log)."""

    def __init__(
        self, env: dict[str, str], command: list[str] = RUN, label: str = "projections"
    ) -> None:
        self.env = env
        self.command = command
        self.label = label
        self.proc: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name=label, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _supervise(self) -> None:
        backoff = FIRST_RESTART
        while True:
            with self._lock:
                if self._stopping.is_set():
                    return
                # Its own session: a terminal's Ctrl-C reaches serve, which stops the child
                # itself (so the child is not restarted while serve shuts down).
                self.proc = subprocess.Popen(
                    self.command, env=self.env, start_new_session=True, preexec_fn=_die_with_parent
                )
            started = time.monotonic()
            log.info("%s run in process %s", self.label, self.proc.pid)
            code = self.proc.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= STEADY:
                backoff = FIRST_RESTART
            log.warning(
                "the %s process exited with code %s; restarting it in %.0f s",
                self.label,
                code,
                backoff,
            )
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, MAX_RESTART)
            self.restarts += 1

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping.set()
            proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # `projections run` stops its follower and closes on SIGTERM
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread.is_alive():
            self._thread.join(timeout)


def wait_caught_up(runtime: Runtime, timeout: float) -> bool:
    """Wait (up to `timeout` seconds) until every live read model has reached the log's head
    as it is now: serve answers with the data it already holds (the demo data it just
    seeded) rather than with read models a starting child has not filled yet."""
    runner, log_ = runtime.runner, runtime.store
    head = log_.head()
    deadline = time.monotonic() + timeout
    while True:
        if all(log_.reached(runner.position(p), head) for p in runner.projections):
            return True
        if time.monotonic() >= deadline:
            log.warning("read models still catching up after %.0f s; serving anyway", timeout)
            return False
        time.sleep(0.05)


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the thread that started it ends, so a
    serve killed outright leaves no projection process behind."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


LOST_LOCK = 3
"""Exit status of `projections run` when it lost its lock (its supervisor starts it again)."""


def _run_active(runtime: Runtime) -> int:
    """Follow the log while this process holds the shop's projection lock (failover.py),
    writing a heartbeat for `projections health` meanwhile (heartbeat.py)."""
    from tillroll.cli.failover import ProjectionLock, lock_key
    from tillroll.health import LAG_EVERY, Heartbeat, heartbeat_dir
    from tillroll.projections.engine.status import collect_status

    settings = runtime.settings
    assert settings.database_url or runtime.servers.database_url
    lock = ProjectionLock(
        settings.database_url or runtime.servers.database_url or "",
        lock_key(settings.event_schema, settings.read_schema),
    )
    heartbeat = Heartbeat(heartbeat_dir(settings))
    stopping = threading.Event()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            if not lock.acquire(stopping, _say_standby, tick=lambda: heartbeat.beat("standby")):
                return 0
            print("active: following the event log (Ctrl-C to stop)", file=sys.stderr, flush=True)
            runner = runtime.runner
            runner.start()
            measured = 0.0
            try:
                while True:
                    if time.monotonic() - measured >= LAG_EVERY:
                        with contextlib.suppress(Exception):  # a store down: the last numbers
                            heartbeat.measure(collect_status(runner))
                        measured = time.monotonic()
                    heartbeat.beat("active")
                    if runner.follower.stopping(1.0):
                        break
                    if not lock.held():
                        print("lost the projection lock; stopping", file=sys.stderr, flush=True)
                        return LOST_LOCK
            finally:
                runner.stop()
        return 0
    finally:
        lock.release()
        heartbeat.path.unlink(missing_ok=True)


STANDBY = "standby: another projection process is active on this store; waiting to take over"


def _say_standby() -> None:
    print(STANDBY, file=sys.stderr, flush=True)


def _status_table(runtime: Runtime, as_json: bool) -> None:
    import msgspec

    from tillroll.projections.engine.status import collect_status

    rows = collect_status(runtime.runner)
    if as_json:
        print(msgspec.json.encode(rows).decode())
        return
    print(f"log head: {runtime.store.head()}")
    print(
        f"{'name':<19} {'ver':>3} {'build':>5} {'target':<8} {'state':<12} {'position':>9}"
        f" {'lag':>7} {'lag s':>7} {'ev/s':>9}"
    )
    for r in rows:
        rate = f"{r.events_per_second:,.0f}" if r.events_per_second else "-"
        print(
            f"{r.name:<19} {r.version:>3} {r.build:>5} {r.target:<8} {r.state:<12}"
            f" {r.position:>9} {r.lag_events:>7} {r.lag_seconds:>7.1f} {rate:>9}"
        )
        if r.rebuild is not None:
            print(f"{'':<19} rebuilding into build {r.rebuild.build}: at {r.rebuild.position}")
        if r.last_error:
            print(f"{'':<19} stopped at position {r.error_position}: {r.last_error}")


def cmd_projections(settings: Settings, args: argparse.Namespace) -> int:
    from tillroll.projections.registry import PROJECTIONS, projection_class

    if args.action == "list":
        print(f"{'name':<17} {'version':>7}  {'target':<6} events")
        for cls in PROJECTIONS:
            print(
                f"{cls.NAME:<17} {cls.VERSION:>7}  {cls.TARGET:<6} {', '.join(cls.event_names())}"
            )
        return 0
    if args.action == "health":
        from tillroll.health import check_projector

        ok, reason = check_projector(settings, args.max_lag)
        print(f"projections: {reason}", file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    name = getattr(args, "name", None)
    if name is not None:
        try:
            projection_class(name)
        except KeyError as exc:
            raise CliError(str(exc.args[0])) from None
    runtime = open_runtime(settings)
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
            from tillroll.projections.engine.verify import verify

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
            return _run_active(runtime)
        raise CliError(f"unknown action {args.action}")
    finally:
        runtime.close()
