"""Request ids, structured logs and metrics, as an operator sees them: an id on every answer
(the client's when sane), in the log lines of its request and in the metadata of the events
it recorded; JSON log lines; and `serve --workers 2` counting every worker's requests in one
/metrics."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tillroll.infra.settings import Settings

from tests.api.conftest import Shop
from tests.conftest import ROOT, child_env, open_accounts
from tillroll.bootstrap import Runtime
from tillroll.logs import configure_logging


def test_every_answer_carries_a_request_id_and_a_sane_client_one_is_kept(shop: Shop) -> None:
    for response in (
        shop.client.get("/health"),
        shop.client.get("/no/such/route"),
        shop.client.get("/v1/orders"),  # 401
        shop.get("/v1/products"),
    ):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
    kept = shop.client.get("/health", headers={"X-Request-ID": "shop-frontend.42_a"})
    assert kept.headers["x-request-id"] == "shop-frontend.42_a"
    replaced = shop.client.get("/health", headers={"X-Request-ID": "bad id\twith<tags>"})
    assert replaced.headers["x-request-id"] != "bad id\twith<tags>"


def test_the_request_id_is_in_the_events_metadata_and_the_log_lines(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="tillroll.access"):
        created = shop.post(
            "/v1/products",
            "staff",
            {"sku": "RID-1", "name": "Rid", "price": {"amount": 100, "currency": "EUR"}},
            **{"X-Request-ID": "trace-me-123"},
        )
    assert created.status_code == 201
    assert created.headers["x-request-id"] == "trace-me-123"
    lines = [r for r in caplog.records if r.name == "tillroll.access"]
    assert any(
        getattr(r, "route", None) == "/v1/products" and getattr(r, "status", None) == 201
        for r in lines
    ), [r.__dict__ for r in lines]
    events = shop.get("/v1/audit/events", "auditor", after=0, limit=1000).json()
    items = events["items"] if isinstance(events, dict) else events
    mine = [e for e in items if e["metadata"].get("request_id") == "trace-me-123"]
    assert mine and all(e["type"].startswith("Product") for e in mine)


def test_json_logs_carry_the_request_context(
    settings: Settings, capfd: pytest.CaptureFixture[str]
) -> None:
    import structlog

    root, access = logging.getLogger(), logging.getLogger("tillroll.access")
    levels = (root.level, access.level)
    configure_logging(dataclasses.replace(settings, log_json=True, access_log=True))
    try:
        structlog.contextvars.bind_contextvars(request_id="abc123")
        logging.getLogger("tillroll.access").info(
            "GET /x 200", extra={"route": "/x", "status": 200, "duration_ms": 1.5}
        )
    finally:
        structlog.contextvars.clear_contextvars()
        root.handlers.clear()
        root.setLevel(levels[0])
        access.setLevel(levels[1])
    line = json.loads(capfd.readouterr().err.strip().splitlines()[-1])
    assert line["request_id"] == "abc123"
    assert (line["route"], line["status"], line["level"]) == ("/x", 200, "info")
    assert line["timestamp"].endswith("Z") or "+00:00" in line["timestamp"]


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


def _count(metrics: str, route: str) -> float:
    total = 0.0
    for line in metrics.splitlines():
        if line.startswith("litestar_requests_total{") and f'path="{route}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_count_the_requests_of_every_worker(runtime: Runtime, tmp_path: Path) -> None:
    open_accounts(runtime)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tillroll.cli", "serve", "--port", str(port), "--workers", "2"],
        env=child_env(runtime.settings, TILLROLL_DATA_DIR=str(tmp_path)),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{base}/health")[0] == 200:
                    break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail((tmp_path / "serve.log").read_text())
                time.sleep(0.2)
        for _ in range(40):  # new connections: both workers take some
            assert _get(f"{base}/v1/products")[0] == 200
        counts = {_count(_get(f"{base}/metrics")[1], "/v1/products") for _ in range(6)}
        assert counts == {40.0}, counts
    finally:
        proc.terminate()
        proc.wait(30)
