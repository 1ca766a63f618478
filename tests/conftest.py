"""Shared fixtures: one real embedded PostgreSQL and valkey per test session; each test gets
its own event-store schema, read-model schema and Redis key prefix."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tillroll.commands.bus import dispatch
from tillroll.commands.context import SYSTEM
from tillroll.commands.identity import OpenAccount
from tillroll.infra.embedded import EmbeddedServers, start_embedded
from tillroll.infra.settings import Settings

from tillroll.bootstrap import Runtime

_counter = itertools.count()
DEMO_PASSWORD = "tillroll-demo"


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    """Real servers: external ones when TILLROLL_TEST_DATABASE_URL/REDIS_URL are set."""
    db_url = os.environ.get("TILLROLL_TEST_DATABASE_URL")
    redis_url = os.environ.get("TILLROLL_TEST_REDIS_URL")
    data_dir = tmp_path_factory.mktemp("embedded")
    started = start_embedded(data_dir, need_postgres=not db_url, need_redis=not redis_url)
    started.database_url = db_url or started.database_url
    started.redis_url = redis_url or started.redis_url
    yield started
    started.stop()


def fresh_settings(servers: EmbeddedServers, data_dir: Path) -> Settings:
    """Settings on the session's servers with schemas and a Redis prefix of their own."""
    ns = f"t{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
    assert servers.database_url and servers.redis_url
    return Settings(
        database_url=servers.database_url,
        redis_url=servers.redis_url,
        data_dir=data_dir,
        jwt_secret="test-secret-" + "x" * 32,
        event_schema=f"{ns}_events",
        read_schema=f"{ns}_read",
        redis_prefix=f"{ns}:",
        pg_pool_size=4,
        read_wait_seconds=5.0,
        # Tests share two cores with other tests' servers: a slow answer is not an outage
        # here. The outage tests set their own deadline.
        request_deadline_seconds=30.0,
        rate_limit="off",  # one test client sends more than a shopper; tests of it set their own
        # The test client reads a whole answer: a Server-Sent Events stream must end soon.
        live_stream_seconds=0.5,
    )


@pytest.fixture
def settings(servers: EmbeddedServers, tmp_path: Path) -> Settings:
    return fresh_settings(servers, tmp_path)


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = Runtime.open(settings)
    yield rt
    rt.close()


ROOT = Path(__file__).resolve().parents[1]


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Environment for a tillroll child process that uses this test's servers and schemas."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILLROLL_")}
    env.update(settings.as_env(), TILLROLL_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    env.update(extra)
    return env


def open_accounts(rt: Runtime) -> None:
    for role in ("customer", "staff", "auditor", "ops"):
        dispatch(
            OpenAccount(f"{role}@example.com", role.title(), role, DEMO_PASSWORD),
            rt.command_context(SYSTEM),
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (for a child server)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(proc: subprocess.Popen[bytes], base: str, timeout: float = 60.0) -> None:
    """Return once the child `tillroll serve` at `base` answers /health; fail the test with
    its stderr if it exits first, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode() if proc.stderr else ""
            pytest.fail(f"tillroll serve exited with {proc.returncode}:\n{err}")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"tillroll serve did not answer /health within {timeout:g} s")
        time.sleep(0.2)


@contextmanager
def serving(
    settings: Settings, count: int = 1, *args: str, timeout: float = 90.0
) -> Iterator[list[str]]:
    """`count` child `tillroll serve` processes (extra CLI `args`, e.g. `--workers 2`) on this
    test's servers and schemas, all started at once (start-up DDL takes turns), their base
    URLs once each answers /health; terminated (killed past 20 s) on the way out."""
    procs: list[subprocess.Popen[bytes]] = []
    bases: list[str] = []
    try:
        for _ in range(count):
            port = free_port()
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "tillroll.cli", "serve", "--port", str(port), *args],
                    env=child_env(settings, TILLROLL_DEMO="0"),
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for proc, base in zip(procs, bases, strict=True):
            wait_healthy(proc, base, timeout)
        yield bases
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
