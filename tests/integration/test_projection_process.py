"""`tillroll serve` runs the projections in a child process of its own: an order placed over
HTTP is readable with `min_position`, a killed child is started again, and stopping serve
leaves no child behind."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from tillroll.infra.settings import Settings

from tests.conftest import DEMO_PASSWORD, child_env, open_accounts
from tests.integration.workload import create_product
from tillroll.bootstrap import Runtime

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _call(url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _projection_children(serve: subprocess.Popen[str]) -> list[psutil.Process]:
    try:
        children = psutil.Process(serve.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "projections run" in " ".join(child.cmdline()):
                found.append(child)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def _wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _order_and_read_it(base: str, token: str) -> None:
    line = {"sku": "KETTLE", "quantity": 1, "unit_price": {"amount": 2500, "currency": "EUR"}}
    address = {
        "name": "Ada",
        "line1": "1 Main St",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    }
    status, placed = _call(
        f"{base}/v1/orders", {"lines": [line], "shipping_address": address}, token
    )
    assert status == 201, placed
    url = f"{base}/v1/orders/{placed['order_id']}?min_position={placed['position']}"
    deadline = time.monotonic() + 60
    status, view = _call(url, token=token)
    while status == 503 and time.monotonic() < deadline:  # a child still starting: behind
        status, view = _call(url, token=token)
    assert status == 200, view
    assert view["status"] == "placed"


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_the_projections_in_a_supervised_child_process(
    settings: Settings, runtime: Runtime, workers: int
) -> None:
    open_accounts(runtime)
    create_product(runtime.store, "KETTLE", 2500, 100)
    port = _free_port()
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tillroll.cli",
            "serve",
            "--port",
            str(port),
            "--workers",
            f"{workers}",
        ],
        env=child_env(settings, TILLROLL_LOG_LEVEL="INFO"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    children: list[psutil.Process] = []
    try:

        def healthy() -> bool:
            if serve.poll() is not None:
                pytest.fail(f"serve exited early:\n{serve.stdout.read() if serve.stdout else ''}")
            try:
                return _call(f"{base}/health")[0] == 200
            except OSError:
                return False

        _wait_for("/health", healthy, 60)
        first = _wait_for("the projection process", lambda: _projection_children(serve))
        assert len(first) == 1
        children.extend(first)
        status, login = _call(
            f"{base}/v1/auth/login", {"email": "customer@example.com", "password": DEMO_PASSWORD}
        )
        assert status == 200, login
        token = login["access_token"]
        _order_and_read_it(base, token)

        first[0].kill()
        restarted = _wait_for(
            "a new projection process",
            lambda: [p for p in _projection_children(serve) if p.pid != first[0].pid],
        )
        assert len(restarted) == 1
        children.extend(restarted)
        _order_and_read_it(base, token)

        serve.send_signal(signal.SIGTERM)
        serve.wait(30)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait(10)
    output = serve.stdout.read() if serve.stdout else ""
    assert serve.returncode == 0, output
    assert "restarting it in" in output  # the child's end and restart are in serve's log
    _wait_for("no projection process left", lambda: not any(p.is_running() for p in children))
