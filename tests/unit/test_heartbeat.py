"""`tillroll projections health` judges the projector's heartbeat files: fresh, from a live
process, and (when active) no failed read model and no lag past the threshold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tillroll.health import STALE_AFTER, projector_health


def _beat(directory: Path, pid: int, **fields: object) -> None:
    body = {"at": time.time(), "pid": pid, "state": "active", "lag_seconds": 0.0, "failed": []}
    body.update(fields)
    directory.mkdir(exist_ok=True)
    (directory / f"projector-{pid}.json").write_text(json.dumps(body))


def test_an_active_projector_that_is_current_is_healthy(tmp_path: Path) -> None:
    _beat(tmp_path, os.getpid(), lag_seconds=1.5)
    ok, reason = projector_health(tmp_path, max_lag=30)
    assert ok, reason


def test_a_standby_is_healthy_whatever_the_lag_it_last_saw(tmp_path: Path) -> None:
    _beat(tmp_path, os.getpid(), state="standby", lag_seconds=999.0)
    assert projector_health(tmp_path, max_lag=30)[0]


def test_lag_past_the_threshold_or_a_failed_read_model_is_unhealthy(tmp_path: Path) -> None:
    _beat(tmp_path, os.getpid(), lag_seconds=31.0)
    ok, reason = projector_health(tmp_path, max_lag=30)
    assert not ok and "lag 31.0 s" in reason
    _beat(tmp_path, os.getpid(), failed=["product_search"])
    ok, reason = projector_health(tmp_path, max_lag=30)
    assert not ok and "product_search" in reason


def test_a_stale_heartbeat_or_none_from_a_live_process_is_unhealthy(tmp_path: Path) -> None:
    assert not projector_health(tmp_path, max_lag=30)[0]  # nothing written yet
    _beat(tmp_path, os.getpid(), at=time.time() - STALE_AFTER - 1)
    assert not projector_health(tmp_path, max_lag=30)[0]
    (tmp_path / f"projector-{os.getpid()}.json").unlink()
    _beat(tmp_path, 2**22 + 12345)  # no such pid: a process killed with its file left behind
    ok, reason = projector_health(tmp_path, max_lag=30)
    assert not ok and "no projection process is running" in reason


def test_the_healthcheck_module_does_not_load_the_app() -> None:
    """Compose runs it every few seconds per container: it must stay cheap."""
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, tillroll.health; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "litestar" not in loaded and "tillroll.bootstrap" not in loaded
