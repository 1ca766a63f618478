"""Health signals of the processes that answer no HTTP: the projector writes a heartbeat
file (`tillroll projections health` reads it), and rq workers register themselves in Redis
(`tillroll jobs health` looks for this host's). Both are what compose's healthchecks run."""

from __future__ import annotations

import json
import os
import socket
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
