"""Exactly-once projections: a runner that dies mid-batch resumes to the same read models
as a clean rebuild from the log."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from tillroll.infra.settings import Settings
from tillroll.projections.engine.apply import ProjectionFailed
from tillroll.projections.engine.model import Projection

from tests.conftest import child_env
from tests.integration.readmodels import clean_rebuild, dump
from tests.integration.workload import shop
from tillroll.bootstrap import Runtime

ROOT = Path(__file__).resolve().parents[2]


class Crash(Exception):
    pass


def _crash_after(projection: Projection, events: int) -> None:
    """Make the projection's handlers raise on the n-th event they see."""
    seen = {"n": 0}
    original = projection.handler

    def handler(event: Any) -> Any:
        found = original(event)
        if found is None:
            return None

        def wrapped(target: Any, ev: Any, position: int) -> None:
            seen["n"] += 1
            if seen["n"] == events:
                raise Crash(f"crash on event {events}")
            found(target, ev, position)

        return wrapped

    projection.handler = handler  # type: ignore[method-assign]


def test_runner_failing_mid_batch_resumes_to_the_same_models_as_a_clean_rebuild(
    settings: Settings,
) -> None:
    settings = dataclasses.replace(settings, projection_batch=50)
    rt = Runtime.open(settings)
    try:
        shop(rt.store, orders=150)
        for projection in rt.runner.projections:
            _crash_after(projection, 5)  # in the middle of the first batch (8+ events)
            with pytest.raises(ProjectionFailed) as failed:
                rt.runner.step(projection)
            assert isinstance(failed.value.cause, Crash)
            assert rt.runner.position(projection) == 0  # nothing of the batch was kept
            del projection.handler  # back to the class's handler
        rt.runner.catch_up()
        resumed = dump(rt)
    finally:
        rt.close()
    assert resumed == clean_rebuild(settings)
    assert len(resumed["customer_orders"]) > 50


def _env(settings: Settings) -> dict[str, str]:
    return child_env(settings, TILLROLL_PROJECTION_BATCH="5")


def test_runner_killed_with_sigkill_resumes_to_the_same_models_as_a_clean_rebuild(
    settings: Settings,
) -> None:
    rt = Runtime.open(settings)
    try:
        shop(rt.store, orders=300)
        head = rt.store.head()
    finally:
        rt.close()
    command = [sys.executable, "-m", "tillroll.cli", "projections", "run"]
    watcher = Runtime.open(settings)
    kills = 0
    try:
        for _ in range(3):
            proc = subprocess.Popen(command, env=_env(settings), cwd=ROOT)
            deadline = time.monotonic() + 60
            # Kill it while it is part-way through the log: some position past where it
            # started this time and short of the head.
            before = {p.key: watcher.runner.position(p) for p in watcher.runner.projections}
            while time.monotonic() < deadline and proc.poll() is None:
                positions = {p.key: watcher.runner.position(p) for p in watcher.runner.projections}
                if any(before[k] < v < head for k, v in positions.items()):
                    proc.send_signal(signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.01)
            proc.wait(10)
        interrupted = [
            p.NAME for p in watcher.runner.projections if watcher.runner.position(p) < head
        ]
    finally:
        if proc.poll() is None:
            proc.kill()
        watcher.close()
    assert kills == 3
    assert interrupted, "every kill came after the work: nothing was tested"
    subprocess.run([*command, "--once"], env=_env(settings), cwd=ROOT, check=True, timeout=120)

    rt = Runtime.open(settings)
    try:
        assert all(rt.runner.position(p) == head for p in rt.runner.projections)
        resumed = dump(rt)
    finally:
        rt.close()
    assert resumed == clean_rebuild(settings)
