"""How every read model is doing: live build, position, lag in events and seconds, state,
speed, the error that stopped it, and any rebuild under way."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from tillroll.projections.builds import BUILDING, LIVE
from tillroll.projections.runner import ProjectionRunner

CAUGHT_UP_SECONDS = 1.0


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
    """running, catching up, rebuilding or failed"""
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    events_per_second: float | None
    last_error: str | None = None
    error_position: int | None = None
    rebuild: RebuildProgress | None = None


def collect_status(runner: ProjectionRunner) -> list[ProjectionStatus]:
    head = runner.log.head()
    now = datetime.now(UTC)
    out = []
    for name, cls in runner.classes.items():
        builds = runner.builds(name)
        live = next((b for b in builds if b.state == LIVE), None)
        if live is None:
            continue
        position = runner.position(runner.bind(live))
        lag_seconds = 0.0
        if not runner.log.reached(position, head):
            pending = runner.log.read(position, 1, topics=cls.topics())
            if pending:
                written = runner.log.decode(pending[0]).timestamp
                lag_seconds = max(0.0, (now - written).total_seconds())
        building = next(
            (b for b in builds if b.state == BUILDING and b.version == cls.VERSION), None
        )
        if live.last_error or (building is not None and building.last_error):
            state = "failed"
        elif building is not None:
            state = "rebuilding"
        elif lag_seconds > CAUGHT_UP_SECONDS:
            state = "catching up"
        else:
            state = "running"
        rebuild = None
        if building is not None:
            rebuild = RebuildProgress(
                building.build, runner.position(runner.bind(building)), building.events_per_second
            )
        out.append(
            ProjectionStatus(
                name=name,
                version=live.version,
                target=live.target,
                build=live.build,
                state=state,
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
    return out
