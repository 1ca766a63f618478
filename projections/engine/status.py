"""How every read model and reaction is doing: live build, position, lag in events and
seconds, state, speed, the error that stopped it, and any rebuild under way."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from tillroll.projections.engine.catalogue import BUILDING, LIVE
from tillroll.projections.engine.runner import ProjectionRunner

CAUGHT_UP_SECONDS = 1.0
REACTION = "reaction"
"""The `target` of a reaction's row (it has no version or build: both are 0)."""


class RebuildProgress(msgspec.Struct):
    build: int
    position: int
    events_per_second: float | None


class ProjectionStatus(msgspec.Struct):
    name: str
    version: int
    target: str
    build: int
    state: str
    """running, catching up, rebuilding, failed, or unavailable (its store does not answer:
    position and lag are then -1 and `last_error` says why)"""
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    events_per_second: float | None
    last_error: str | None = None
    error_position: int | None = None
    rebuild: RebuildProgress | None = None


def _lag_seconds(
    runner: ProjectionRunner, position: int, head: int, topics: Sequence[str]
) -> float:
    """Age of the oldest event of these topics not yet applied."""
    log = runner.log
    if log.reached(position, head):
        return 0.0
    pending = log.read(position, 1, topics=topics)
    if not pending:
        return 0.0
    written = log.decode(pending[0]).timestamp
    return max(0.0, (datetime.now(UTC) - written).total_seconds())


UNAVAILABLE = "unavailable"


def _unavailable(name: str, live: Any, head: int, exc: Exception) -> ProjectionStatus:
    """A read model whose store (Redis) is down: still listed, with what is known."""
    return ProjectionStatus(
        name=name,
        version=live.version,
        target=live.target,
        build=live.build,
        state=UNAVAILABLE,
        position=-1,
        head=head,
        lag_events=-1,
        lag_seconds=-1.0,
        events_per_second=None,
        last_error=f"{live.target} unavailable: {type(exc).__name__}: {exc}"[:500],
    )


def _state(failed: bool, rebuilding: bool, lag_seconds: float) -> str:
    if failed:
        return "failed"
    if rebuilding:
        return "rebuilding"
    return "catching up" if lag_seconds > CAUGHT_UP_SECONDS else "running"


def collect_status(runner: ProjectionRunner) -> list[ProjectionStatus]:
    head = runner.log.head()
    out = []
    for name, cls in runner.classes.items():
        builds = runner.builds(name)
        live = next((b for b in builds if b.state == LIVE), None)
        if live is None:
            continue
        try:
            position = runner.position(runner.bind(live))
        except Exception as exc:  # its store is down; the others still report
            out.append(_unavailable(name, live, head, exc))
            continue
        lag_seconds = _lag_seconds(runner, position, head, cls.topics())
        building = next(
            (b for b in builds if b.state == BUILDING and b.version == cls.VERSION), None
        )
        failed = bool(live.last_error or (building is not None and building.last_error))
        rebuild = None
        if building is not None:
            try:
                at = runner.position(runner.bind(building))
            except Exception:
                at = -1
            rebuild = RebuildProgress(building.build, at, building.events_per_second)
        out.append(
            ProjectionStatus(
                name=name,
                version=live.version,
                target=live.target,
                build=live.build,
                state=_state(failed, building is not None, lag_seconds),
                position=position,
                head=head,
                lag_events=runner.log.count_after(position),
                lag_seconds=round(lag_seconds, 3),
                events_per_second=live.events_per_second,
                last_error=live.last_error or (building.last_error if building else None),
                error_position=live.error_position
                if live.last_error
                else (building.error_position if building else None),
                rebuild=rebuild,
            )
        )
    for row in runner.reactions.rows():
        topics = runner.reactions.by_name[row.name].topics()
        lag_seconds = _lag_seconds(runner, row.position, head, topics)
        out.append(
            ProjectionStatus(
                name=row.name,
                version=0,
                target=REACTION,
                build=0,
                state=_state(row.last_error is not None, False, lag_seconds),
                position=row.position,
                head=head,
                lag_events=runner.log.count_after(row.position),
                lag_seconds=round(lag_seconds, 3),
                events_per_second=None,
                last_error=row.last_error,
                error_position=row.error_position,
            )
        )
    return out
