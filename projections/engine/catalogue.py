"""The build catalogue (`projection_builds`): which copy of each read model is live, which is
being built beside it, how far each has got, and the error that stopped one.

The only module that reads or writes a build's row. SQL builds record their position here,
in the same transaction as their rows; Redis builds record it in Redis with their keys (and
mirror it here for status).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tillroll.projections.engine.model import Projection

TABLE = "projection_builds"
BUILDING, LIVE, RETIRED, SCRATCH = "building", "live", "retired", "scratch"
CHANNEL = "tillroll_projections"

DDL = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        name text NOT NULL,
        build int NOT NULL,
        version int NOT NULL,
        target text NOT NULL,
        state text NOT NULL CHECK (state IN ('building', 'live', 'retired', 'scratch')),
        position bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now(),
        live_at timestamptz,
        retired_at timestamptz,
        last_error text,
        error_position bigint,
        events_per_second double precision,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (name, build)
    )""",
    f"CREATE UNIQUE INDEX IF NOT EXISTS {TABLE}_one_live ON {TABLE} (name) WHERE state = 'live'",
]

COLUMNS = (
    "name, build, version, target, state, position, created_at, live_at, retired_at,"
    " last_error, error_position, events_per_second"
)


@dataclass(frozen=True)
class Build:
    name: str
    build: int
    version: int
    target: str
    state: str
    position: int
    created_at: datetime
    live_at: datetime | None
    retired_at: datetime | None
    last_error: str | None
    error_position: int | None
    events_per_second: float | None


def ensure_table(conn: Any) -> None:
    for statement in DDL:
        conn.execute(statement)


def list_builds(conn: Any, name: str | None = None) -> list[Build]:
    where, params = ("WHERE name = %s", (name,)) if name else ("", ())
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM {TABLE} {where} ORDER BY name, build", params
    ).fetchall()
    return [Build(*row) for row in rows]


def create_build(conn: Any, cls: type[Projection], state: str) -> Build:
    """A new, empty build of the read model (locks the name's rows so numbers never clash)."""
    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{TABLE}:{cls.NAME}",))
    row = conn.execute(
        f"INSERT INTO {TABLE} (name, build, version, target, state, live_at)"
        f" SELECT %s, coalesce(max(build), 0) + 1, %s, %s, %s,"
        f" CASE WHEN %s = 'live' THEN now() END FROM {TABLE} WHERE name = %s"
        f" RETURNING {COLUMNS}",
        (cls.NAME, cls.VERSION, cls.TARGET, state, state, cls.NAME),
    ).fetchone()
    return Build(*row)


def switch_live(conn: Any, name: str, build: int) -> None:
    """Make `build` the live copy and retire the one it replaces, in one transaction."""
    conn.execute(
        f"UPDATE {TABLE} SET state = 'retired', retired_at = now(), updated_at = now()"
        " WHERE name = %s AND state = 'live'",
        (name,),
    )
    conn.execute(
        f"UPDATE {TABLE} SET state = 'live', live_at = now(), updated_at = now()"
        " WHERE name = %s AND build = %s",
        (name, build),
    )


def position(conn: Any, name: str, build: int) -> int:
    """A build's recorded position (0 if it has no row)."""
    row = conn.execute(
        f"SELECT position FROM {TABLE} WHERE name = %s AND build = %s", (name, build)
    ).fetchone()
    return int(row[0]) if row else 0


def live_builds(conn: Any) -> list[tuple[str, int]]:
    """(name, build) of every live build."""
    rows = conn.execute(f"SELECT name, build FROM {TABLE} WHERE state = 'live'").fetchall()
    return [(name, build) for name, build in rows]


def lock_position(conn: Any, name: str, build: int) -> int:
    row = conn.execute(
        f"SELECT position FROM {TABLE} WHERE name = %s AND build = %s FOR UPDATE", (name, build)
    ).fetchone()
    if row is None:
        raise LookupError(f"build {name}:b{build} no longer exists")
    return int(row[0])


def lock_positions(conn: Any, builds: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Lock the rows of several builds in one statement, always in one order (two followers
    locking overlapping sets never deadlock); {(name, build): position} of those found."""
    if not builds:
        return {}
    rows = conn.execute(
        f"SELECT name, build, position FROM {TABLE}"
        " WHERE (name, build) IN (SELECT * FROM unnest(%s::text[], %s::int[]))"
        " ORDER BY name, build FOR UPDATE",
        ([name for name, _ in builds], [build for _, build in builds]),
    ).fetchall()
    return {(name, build): int(position) for name, build, position in rows}


def set_positions(
    conn: Any, builds: list[tuple[str, int]], position: int, rate: float | None
) -> None:
    """Record one position for several builds (that applied the same page) in one statement."""
    if not builds:
        return
    conn.execute(
        f"UPDATE {TABLE} SET position = %s, events_per_second = coalesce(%s, events_per_second),"
        " last_error = NULL, error_position = NULL, updated_at = now()"
        " WHERE (name, build) IN (SELECT * FROM unnest(%s::text[], %s::int[]))",
        (position, rate, [name for name, _ in builds], [build for _, build in builds]),
    )


def set_position(conn: Any, name: str, build: int, position: int, rate: float | None) -> None:
    conn.execute(
        f"UPDATE {TABLE} SET position = %s, events_per_second = coalesce(%s, events_per_second),"
        " last_error = NULL, error_position = NULL, updated_at = now()"
        " WHERE name = %s AND build = %s",
        (position, rate, name, build),
    )


def record_error(conn: Any, name: str, build: int, error: str, position: int | None) -> None:
    conn.execute(
        f"UPDATE {TABLE} SET last_error = %s, error_position = %s, updated_at = now()"
        " WHERE name = %s AND build = %s",
        (error[:2000], position, name, build),
    )


def delete_build(conn: Any, name: str, build: int) -> None:
    conn.execute(f"DELETE FROM {TABLE} WHERE name = %s AND build = %s", (name, build))


def notify(conn: Any, name: str) -> None:
    """Wake the followers in every process (they LISTEN on CHANNEL)."""
    conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, name))
