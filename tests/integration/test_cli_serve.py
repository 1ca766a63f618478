"""The embedded default end to end: `tillroll serve` with no configuration starts PostgreSQL
and valkey, seeds demo data, serves the API; other commands share its servers; Ctrl-C stops
everything; a restart finds the data again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLROLL_")}
    env.update(TILLROLL_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT))
    return env


def _get(url: str, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _servers_of(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            cwd = proc.info["cwd"] or ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if ("postgres" in cmdline and str(data_dir) in cmdline) or (
            "valkey" in cmdline and cwd.startswith(str(data_dir))
        ):
            found.append(proc)
    return found


@contextmanager
def serving(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tillroll.cli", "serve", "--port", str(port)],
        env=_env(data_dir),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"serve exited early:\n{proc.stdout.read() if proc.stdout else ''}")
        try:
            if _get(f"{base}/health")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        output = proc.stdout.read() if proc.stdout else ""
        pytest.fail(f"serve did not answer /health within 60 s:\n{output[-3000:]}")
    try:
        yield base, proc
    finally:
        if proc.poll() is None:  # the test failed while serve ran: leave nothing behind
            proc.kill()
            proc.wait(10)
            for server in _servers_of(data_dir):
                server.kill()


def _login(base: str, role: str) -> str:
    body = json.dumps({"email": f"{role}@example.com", "password": "tillroll-demo"}).encode()
    request = urllib.request.Request(
        f"{base}/v1/auth/login", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access_token"]


def test_serve_runs_the_embedded_default_and_ctrl_c_stops_it_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "shop"
    with serving(data_dir) as (base, proc):
        status, page = _get(f"{base}/v1/products?limit=100")
        assert status == 200
        assert "MUG-CLASSIC" in {item["sku"] for item in page["items"]}
        assert _get(f"{base}/schema/openapi.json")[1]["info"]["title"] == "tillroll"
        with urllib.request.urlopen(f"{base}/health", timeout=10) as response:
            assert response.headers.get("server") is None  # no software banner
            assert response.headers["x-content-type-options"] == "nosniff"
        token = _login(base, "staff")
        assert _get(f"{base}/v1/inventory/MUG-CLASSIC", token)[1]["on_hand"] == 40

        # Another command with the same data directory shares the running servers.
        status_run = subprocess.run(
            [sys.executable, "-m", "tillroll.cli", "projections", "status"],
            env=_env(data_dir),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert status_run.returncode == 0, status_run.stderr
        assert "product_cards" in status_run.stdout
        assert len({p.pid for p in _servers_of(data_dir) if "valkey" in p.name()}) == 1

        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        output = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode in (0, 130), output
    assert "demo accounts" in output and "/docs" in output
    deadline = time.monotonic() + 10
    while _servers_of(data_dir) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _servers_of(data_dir) == []

    # The data survives a restart, and demo data is not seeded twice.
    with serving(data_dir) as (base, proc):
        token = _login(base, "staff")
        assert _get(f"{base}/v1/inventory/MUG-CLASSIC", token)[1]["on_hand"] == 40
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert "seeded demo data" not in (proc.stdout.read() if proc.stdout else "")
    assert proc.returncode == 0


def _valkeys(data_dir: Path) -> list[psutil.Process]:
    return [p for p in _servers_of(data_dir) if "valkey" in p.name()]


def _eventually(check: Any, within: float = 30.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        try:
            found = check()
        except OSError:
            found = None
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def test_the_embedded_valkey_has_a_password_and_comes_back_when_killed(tmp_path: Path) -> None:
    data_dir = tmp_path / "shop"
    with serving(data_dir) as (base, _):
        assert _get(f"{base}/v1/products/MUG-CLASSIC")[0] == 200
        found = _valkeys(data_dir)
        assert len(found) == 1, [(p.pid, p.name(), p.cmdline(), p.status()) for p in found]
        (valkey,) = found
        port = json.loads((data_dir / "valkey" / "server.json").read_text())["port"]
        anonymous = redis.Redis(port=port)
        with pytest.raises(redis.exceptions.ResponseError, match="no permissions"):
            anonymous.get("anything")
        anonymous.close()

        valkey.kill()
        valkey.wait(10)
        back = _eventually(lambda: [p for p in _valkeys(data_dir) if p.pid != valkey.pid])
        assert back, "the embedded valkey was not restarted"
        # Its data came back with it (append-only file), and the API reconnected.
        assert _eventually(lambda: _get(f"{base}/v1/products/MUG-CLASSIC")[0] == 200)


def test_after_a_crash_of_serve_and_postgres_the_next_serve_starts_and_stops_everything(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "shop"
    with serving(data_dir) as (base, proc):
        token = _login(base, "staff")
        assert _get(f"{base}/v1/inventory/MUG-CLASSIC", token)[1]["on_hand"] == 40
        children = psutil.Process(proc.pid).children(recursive=True)
        postmaster = next(p for p in _servers_of(data_dir) if p.name() == "postgres")
        # A power cut of the API and the database at once: SIGKILL, no shutdown of either.
        proc.kill()
        for child in children:
            if "valkey" not in child.name() and "postgres" not in child.name():
                child.kill()
        postmaster.kill()
        proc.wait(10)
    assert _valkeys(data_dir), "the crash should leave valkey running (nobody stopped it)"

    # The next serve starts at once: it waits for PostgreSQL's crash recovery, adopts the
    # orphaned valkey, and its graceful stop stops both.
    with serving(data_dir) as (base, proc):
        token = _login(base, "staff")
        assert _get(f"{base}/v1/inventory/MUG-CLASSIC", token)[1]["on_hand"] == 40
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert _eventually(lambda: _servers_of(data_dir) == [], within=15), _servers_of(data_dir)
