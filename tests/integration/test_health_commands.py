"""The healthchecks of the processes that serve no HTTP (compose runs them):
`tillroll projections health` from the projector's heartbeat, `tillroll jobs health` from
the rq worker's registration in Redis. Each says healthy while its process runs, and not
once it is gone."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
from tillroll.infra.settings import Settings

from tests.conftest import ROOT, child_env
from tillroll.health import heartbeat_dir, projector_health, worker_health


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tillroll.cli", *args],
        env=child_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _healthcheck(settings: Settings, process: str) -> subprocess.CompletedProcess[str]:
    """What compose runs: the light module, not the whole CLI."""
    return subprocess.run(
        [sys.executable, "-m", "tillroll.health", process],
        env=child_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _start(settings: Settings, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tillroll.cli", *args],
        env=child_env(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _until(check: Callable[[], tuple[bool, str]], wanted: bool, within: float = 30.0) -> str:
    deadline = time.monotonic() + within
    while True:
        ok, reason = check()
        if ok == wanted:
            return reason
        assert time.monotonic() < deadline, reason
        time.sleep(0.1)


def test_projections_health_follows_the_projection_process(settings: Settings) -> None:
    beats = heartbeat_dir(settings)
    assert not projector_health(beats, 30)[0]
    proc = _start(settings, "projections", "run")
    try:
        _until(lambda: projector_health(beats, 30), True)
        done = _cli(settings, "projections", "health")
        assert done.returncode == 0, done.stderr
        assert "active" in done.stdout
        assert _healthcheck(settings, "projector").returncode == 0
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        reason = _until(lambda: projector_health(beats, 30), False)
        assert "no projection process is running" in reason
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_jobs_health_follows_the_worker(settings: Settings, tmp_path: Path) -> None:
    assert settings.redis_url
    connection = redis.Redis.from_url(settings.redis_url)
    assert not worker_health(connection)[0]
    proc = _start(settings, "worker")
    try:
        _until(lambda: worker_health(connection), True)
        done = _cli(settings, "jobs", "health")
        assert done.returncode == 0, done.stderr
        assert _healthcheck(settings, "worker").returncode == 0
        proc.send_signal(signal.SIGTERM)  # rq unregisters the worker as it stops
        proc.wait(30)
        assert not worker_health(connection)[0]
        assert _healthcheck(settings, "worker").returncode == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        connection.close()
