"""What operators read about the read models and reactions: status and lag, and which names
exist."""

from __future__ import annotations

from tillroll.projections.engine.runner import ProjectionRunner
from tillroll.projections.engine.status import ProjectionStatus, RebuildProgress, collect_status
from tillroll.projections.registry import BY_NAME

__all__ = ["ProjectionStatus", "RebuildProgress", "projection_status", "read_model_known"]


def projection_status(runner: ProjectionRunner) -> list[ProjectionStatus]:
    """Every read model and reaction: position, lag (events and seconds), state, errors."""
    return collect_status(runner)


def read_model_known(name: str) -> bool:
    return name in BY_NAME
