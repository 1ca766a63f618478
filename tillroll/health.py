"""Health signals of the processes that answer no HTTP: the projector writes a heartbeat
file, and rq workers register themselves in Redis. `python3 -m tillroll.health projector`
and `... worker` judge them for compose's healthchecks; `tillroll projections health` and
`tillroll jobs health` say the same. This module imports only settings, Redis and rq (not
the app): a healthcheck runs every few seconds and must cost little (~0.2 s of CPU against
~1 s for `tillroll`)."""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tillroll.infra.settings import Settings

BEAT_EVERY = 1.0
"""How often `projections run` writes its heartbeat (active or standby)."""
LAG_EVERY = 5.0
"""How often the active projector measures its read models' lag for the heartbeat."""
STALE_AFTER = 15.0
"""A heartbeat older than this: the process is stuck or gone."""


def heartbeat_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "heartbeats"


class Heartbeat:
    """One projection process's heartbeat file (named by its pid, so that an active and a
    standby on one data directory do not share one), rewritten atomically."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / f"projector-{os.getpid()}.json"
        self.lag_seconds = 0.0
        self.failed: list[str] = []

    def beat(self, state: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "at": time.time(),
            "pid": os.getpid(),
            "state": state,
            "lag_seconds": self.lag_seconds,
            "failed": self.failed,
        }
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(body))
        partial.replace(self.path)

    def measure(self, rows: Sequence[Any]) -> None:
        """Keep the worst lag and the failed read models from projection status rows."""
        self.lag_seconds = max((r.lag_seconds for r in rows), default=0.0)
        self.failed = sorted(r.name for r in rows if r.state == "failed")


def _running(pid: int) -> bool:
    if pid <= 0:  # kill(0, ...) would signal this process group, not test a pid
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def projector_health(directory: Path, max_lag: float, now: float | None = None) -> tuple[bool, str]:
    """Healthy: a projection process runs here (its heartbeat file names a live pid), each
    one's heartbeat is younger than STALE_AFTER, and the active one has no failed read model
    and none lagging more than `max_lag` seconds. The reason, in one line."""
    now = time.time() if now is None else now
    beats = []
    for path in sorted(directory.glob("projector-*.json")):
        try:
            beat = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being replaced right now, or gone
        if _running(int(beat["pid"])):  # a killed process leaves its file behind
            beats.append(beat)
    if not beats:
        return False, f"no projection process is running here (no live heartbeat in {directory})"
    for beat in beats:
        age = now - float(beat["at"])
        if age > STALE_AFTER:
            return False, f"projection process {beat['pid']}: last heartbeat {age:.0f} s ago"
        if beat["state"] != "active":
            continue
        if beat["failed"]:
            return False, f"read models stopped by an error: {', '.join(beat['failed'])}"
        if beat["lag_seconds"] > max_lag:
            lag = beat["lag_seconds"]
            return False, f"read models lag {lag:.1f} s (more than {max_lag:g} s)"
    states = ", ".join(f"{b['state']} (pid {b['pid']})" for b in beats)
    return True, f"{states}; worst lag {max(b['lag_seconds'] for b in beats):.1f} s"


def worker_health(connection: Any, hostname: str | None = None) -> tuple[bool, str]:
    """Healthy: an rq worker registered in Redis from this host (a container's hostname is
    its own) whose process is alive here. rq removes a worker's key when it stops, and its
    key expires when its heartbeats stop."""
    from rq import Worker

    host = hostname or socket.gethostname()
    mine = [w for w in Worker.all(connection=connection) if w.hostname == host]
    for worker in mine:
        if _running(int(worker.pid or 0)):
            return True, f"worker {worker.name} (pid {worker.pid}) is {worker.get_state()}"
    if mine:
        return False, f"the workers registered from {host} are not running here"
    return False, f"no rq worker registered from {host}"


def check_projector(settings: Settings, max_lag: float | None = None) -> tuple[bool, str]:
    limit = settings.ready_max_lag_seconds if max_lag is None else max_lag
    return projector_health(heartbeat_dir(settings), limit)


def check_worker(settings: Settings) -> tuple[bool, str]:
    """Asks Redis only; an embedded default (no Redis URL) has no worker container."""
    import redis

    if not settings.redis_url:
        return (
            False,
            "TILLROLL_REDIS_URL is not set (the embedded default's worker is a child of serve)",
        )
    connection = redis.Redis.from_url(
        settings.redis_url, socket_connect_timeout=5, socket_timeout=5
    )
    try:
        return worker_health(connection)
    except redis.RedisError as exc:
        return False, f"Redis: {type(exc).__name__}: {exc}"
    finally:
        connection.close()


def main(argv: Sequence[str] | None = None) -> int:
    """`python3 -m tillroll.health projector|worker`: exit 0 healthy, 1 not, with one line."""
    parser = argparse.ArgumentParser(prog="python3 -m tillroll.health")
    parser.add_argument("process", choices=["projector", "worker"])
    parser.add_argument("--max-lag", type=float, default=None, help="seconds (projector)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"{args.process}: configuration: {exc}", file=sys.stderr)
        return 2
    if args.process == "projector":
        ok, reason = check_projector(settings, args.max_lag)
    else:
        ok, reason = check_worker(settings)
    print(f"{args.process}: {reason}", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
