"""Projector failover: two `tillroll projections run` on one store, one active (a PostgreSQL
advisory lock), one on standby; kill -9 the active one and the standby takes over within
5 s, resuming from the recorded positions: the read models end equal to a clean rebuild."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tillroll.infra.settings import Settings

from tests.conftest import ROOT, child_env
from tests.integration.readmodels import clean_rebuild, dump
from tests.integration.workload import create_product, order
from tillroll.bootstrap import Runtime

TAKEOVER = 5.0


def _start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tillroll.cli", "projections", "run"],
        env=child_env(settings, TILLROLL_LOG_LEVEL="INFO"),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


@pytest.fixture
def two_projectors(
    runtime: Runtime, tmp_path: Path
) -> Iterator[list[tuple[subprocess.Popen[bytes], Path]]]:
    started = []
    try:
        for name in ("a", "b"):
            log = tmp_path / f"{name}.log"
            started.append((_start(runtime.settings, log), log))
            time.sleep(0.5)  # a first, so that the test knows which one becomes active
        yield started
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


def _said(log: Path, text: str, within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if text in log.read_text(errors="replace"):
            return True
        time.sleep(0.1)
    return False


def _position_reaches(runtime: Runtime, name: str, position: int, within: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < within:
        runner = runtime.runner
        live = runner.live(name)
        if live is not None and runner.position(runner.bind(live)) >= position:
            return time.monotonic() - started
        time.sleep(0.05)
    pytest.fail(f"{name} did not reach {position} within {within} s")


def test_the_standby_takes_over_within_five_seconds_with_nothing_lost_or_doubled(
    runtime: Runtime, two_projectors: list[tuple[subprocess.Popen[bytes], Path]]
) -> None:
    (active, active_log), (standby, standby_log) = two_projectors
    assert standby.poll() is None
    assert _said(active_log, "active: following"), active_log.read_text()
    assert _said(standby_log, "standby:"), standby_log.read_text()

    position = create_product(runtime.store, "FAILOVER", 1000, 100)
    customer = uuid.uuid4()
    for _ in range(5):
        order(runtime.store, customer, [("FAILOVER", 1, 1000)])
    _position_reaches(runtime, "stock_levels", position, 20)

    active.kill()
    active.wait(10)
    killed_at = time.monotonic()
    for _ in range(5):
        order(runtime.store, customer, [("FAILOVER", 1, 1000)])
    last = runtime.store.head()
    _position_reaches(runtime, "stock_levels", last, TAKEOVER + 10)
    took = time.monotonic() - killed_at
    assert took < TAKEOVER, f"the standby took {took:.1f} s to take over"
    assert _said(standby_log, "active: following", within=1)
    for name in ("order_status", "customer_orders", "product_search", "inventory_ledger"):
        _position_reaches(runtime, name, last, 10)
    assert dump(runtime) == clean_rebuild(runtime.settings)
