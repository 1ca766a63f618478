"""What a reaction is: the events it follows and, for each, the commands it issues, either
now (`Run`) or later in the worker (`Enqueue`). Mostly data, like a read model.

Exactly once: the projection engine delivers each event to a reaction at least once (its
position is recorded after `react` returns, so a crash re-delivers the unrecorded tail), and
every effect is idempotent: a job is enqueued under a job id derived from its cause (rq
refuses a second job with that id), a command runs with an idempotency key derived from the
reaction and the event's position (the event store refuses to record it twice).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from eventsourcing.utils import get_topic
from tillroll.commands.bus import dispatch
from tillroll.commands.context import CommandContext, Principal
from tillroll.commands.ports import EventStorePort, JobQueue


@dataclass(frozen=True)
class Enqueue:
    """Run `command` in the worker, once per `job_id` (characters A-Z a-z 0-9 - _); not
    before `at` if given (rq's scheduler holds it until then)."""

    command: msgspec.Struct
    job_id: str
    queue: str = "default"
    at: datetime | None = None


@dataclass(frozen=True)
class Run:
    """Run `command` now, in the follower's process, once per event."""

    command: msgspec.Struct


Effect = Enqueue | Run


@dataclass(frozen=True)
class Reaction:
    name: str
    follows: tuple[type, ...]
    issue: Callable[[Any], Sequence[Effect]]
    """The effects of one followed event (none is fine)."""

    def topics(self) -> list[str]:
        return [get_topic(event_class) for event_class in self.follows]


class ActiveReaction:
    """A reaction bound to the ports its effects need: what the projection engine follows
    (`NAME`, `topics()`, `react(events)`)."""

    def __init__(self, reaction: Reaction, jobs: JobQueue, store: EventStorePort) -> None:
        self.reaction = reaction
        self.jobs = jobs
        self.store = store
        self.NAME = reaction.name
        self.principal = Principal(subject=f"system:reaction:{reaction.name}", role="ops")

    def topics(self) -> list[str]:
        return self.reaction.topics()

    def react(self, events: Sequence[tuple[int, Any]]) -> None:
        for position, event in events:
            if not isinstance(event, self.reaction.follows):
                continue
            for effect in self.reaction.issue(event):
                if isinstance(effect, Enqueue) and effect.at is not None:
                    self.jobs.schedule(
                        effect.command, job_id=effect.job_id, at=effect.at, queue=effect.queue
                    )
                elif isinstance(effect, Enqueue):
                    self.jobs.enqueue(effect.command, job_id=effect.job_id, queue=effect.queue)
                else:
                    ctx = CommandContext(self.store, principal=self.principal)
                    dispatch(effect.command, ctx, idempotency_key=f"{position}")
