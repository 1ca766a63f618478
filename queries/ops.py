"""What operators read about the read models and reactions: status and lag, and which names
exist; and a read model compared with a rebuild of it."""

from __future__ import annotations

from tillroll.projections.engine.runner import ProjectionRunner
from tillroll.projections.engine.status import ProjectionStatus, RebuildProgress, collect_status
from tillroll.projections.engine.verify import VerifyResult, verify
from tillroll.projections.registry import BY_NAME

__all__ = [
    "ProjectionStatus",
    "RebuildProgress",
    "VerifyResult",
    "projection_status",
    "read_model_known",
    "verify_read_model",
]


def projection_status(runner: ProjectionRunner) -> list[ProjectionStatus]:
    """Every read model and reaction: position, lag (events and seconds), state, errors."""
    return collect_status(runner)


def read_model_known(name: str) -> bool:
    return name in BY_NAME


def verify_read_model(runner: ProjectionRunner, name: str) -> VerifyResult:
    """Rebuild `name` into a scratch build up to the live build's position and compare the
    two (what `tillroll projections verify` runs); the live build is not touched."""
    return verify(runner, name)
