"""Commands on hot aggregates, taken together: whoever gets a stock item's lock first runs
every command queued for it against the same loaded aggregates and saves them in one append.

Commands that write the same aggregates (a SKU's stock item, mostly: commands/bus.py
CONTENDED) queue for them in a process instead of racing on the version check. The first to
hold the locks drains the queue (every waiting command whose aggregates it holds), runs each
handler on private copies of the batch's current state, adopts a command's copies only if it
succeeds (so a failed command leaves no trace), and saves every command's events in one
append, each under its own metadata and idempotency record (commands/ports.py:
PendingWrite). Each caller gets its own result and position, or its own error.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import msgspec
from tillroll.commands.context import CommandContext
from tillroll.commands.ports import EventStorePort, IdempotencyClaim, PendingWrite

MAX_BATCH = 64
"""Commands in one append at most; the rest wait for the next batch."""


@dataclass(eq=False)
class Ticket:
    """One caller's command waiting to run, and, once it has, its outcome."""

    command: msgspec.Struct
    ctx: CommandContext
    stripes: frozenset[int]
    result: Any = None
    error: BaseException | None = None
    done: bool = False
    twin: bool = False
    """A command with the same idempotency key was in an earlier batch: replay first."""
    wake: threading.Event = field(default_factory=threading.Event)
    """Set when the ticket is done, or when its caller is handed the lead."""

    @property
    def claim_key(self) -> tuple[str, str] | None:
        if self.ctx.claim_key is None:
            return None
        return (self.ctx.claim_scope or "", self.ctx.claim_key)

    def finish(self, result: Any = None, error: BaseException | None = None) -> None:
        self.result, self.error, self.done = result, error, True
        self.wake.set()


class Queue:
    """Who holds which contended keys (as stripes: a key maps to one of a fixed number), and
    the commands waiting for them.

    A caller whose stripes are free takes them and leads; otherwise it queues and sleeps until
    a leader has run its command, or hands it the lead. A leader runs every queued command
    whose stripes it holds; when it lets go, the oldest waiting commands whose stripes are
    now free are handed the lead. Each waiting thread is woken once (no convoy through a lock
    that every finished caller would have to pass in turn)."""

    def __init__(self, stripes: int = 1024) -> None:
        self._count = stripes
        self._busy: set[int] = set()
        self._queued: list[Ticket] = []
        self._mutex = threading.Lock()

    def stripes(self, keys: Sequence[str]) -> frozenset[int]:
        return frozenset(hash(key) % self._count for key in keys)

    def run(self, ticket: Ticket, lead: Callable[[Callable[[], list[Ticket]]], None]) -> None:
        """Return once `ticket` is done: by another leader, or by `lead`, which is given a
        function that takes the waiting tickets this caller may run (its own first)."""
        with self._mutex:
            leading = not ticket.stripes & self._busy
            if leading:
                self._busy |= ticket.stripes
            else:
                self._queued.append(ticket)
        if not leading:
            ticket.wake.wait()
            if ticket.done:
                return
        taken: list[Ticket] = [ticket]
        first = [True]

        def take() -> list[Ticket]:
            more = self._take(ticket)
            taken.extend(more)
            if first[0]:
                first[0] = False
                return [ticket, *more]
            return more

        try:
            lead(take)
        finally:
            self._release(ticket.stripes)
            for left in taken:  # a leader that failed to finish them must not strand them
                if not left.done:
                    left.finish(error=RuntimeError("the command was not run"))

    def _take(self, leader: Ticket) -> list[Ticket]:
        """Queued tickets whose stripes the leader holds, oldest first, one per idempotency
        key (a twin waits for the next batch, which replays it)."""
        taken: list[Ticket] = []
        keys: set[tuple[str, str]] = set()
        if leader.claim_key is not None:
            keys.add(leader.claim_key)
        with self._mutex:
            for ticket in list(self._queued):
                if len(taken) == MAX_BATCH - 1:
                    break
                if not ticket.stripes <= leader.stripes or ticket.ctx.store is not leader.ctx.store:
                    continue
                key = ticket.claim_key
                if key is not None and key in keys:
                    ticket.twin = True
                    continue
                if key is not None:
                    keys.add(key)
                self._queued.remove(ticket)
                taken.append(ticket)
        return taken

    def _release(self, stripes: frozenset[int]) -> None:
        """Let go of `stripes`; hand the lead to the oldest waiters whose stripes are free."""
        with self._mutex:
            self._busy -= stripes
            for ticket in list(self._queued):
                if not ticket.stripes & self._busy:
                    self._busy |= ticket.stripes
                    self._queued.remove(ticket)
                    ticket.wake.set()


class Batch:
    """The aggregates a batch of commands shares, and what each successful command wrote."""

    def __init__(self, store: EventStorePort) -> None:
        self.store = store
        self.current: dict[UUID, Any] = {}
        """The batch's state of each aggregate: as loaded, plus the adopted commands."""
        self._missing: set[UUID] = set()
        self.writes: list[PendingWrite] = []
        self.tickets: list[Ticket] = []

    def load(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        """Private copies of the batch's state: a command changes them freely, and only a
        command that saves has its changes adopted."""
        wanted = [i for i in aggregate_ids if i not in self.current and i not in self._missing]
        if wanted:
            found = self.store.get_many(wanted)
            self.current.update(found)
            self._missing.update(i for i in wanted if i not in found)
        return {i: copy.deepcopy(self.current[i]) for i in aggregate_ids if i in self.current}

    def adopt(
        self,
        ticket: Ticket,
        aggregates: Sequence[Any],
        meta: Mapping[str, str],
        claim: IdempotencyClaim | None,
    ) -> None:
        events: list[Any] = []
        for aggregate in aggregates:
            events.extend(aggregate.collect_events())
            self.current[aggregate.id] = aggregate
            self._missing.discard(aggregate.id)
        self.writes.append(PendingWrite(events, dict(meta), claim))
        self.tickets.append(ticket)

    def save(self) -> None:
        """One append for every adopted command; each ticket learns its position."""
        if not self.writes:
            return
        saved = [self.current[i] for i in dict.fromkeys(self._written())]
        positions = self.store.save_batch(self.writes, saved)
        for ticket, position in zip(self.tickets, positions, strict=True):
            ticket.finish(msgspec.structs.replace(ticket.result, position=position))

    def _written(self) -> Iterator[UUID]:
        for write in self.writes:
            for event in write.events:
                yield event.originator_id


class BatchView:
    """The event store as one command of a batch sees it (commands/ports.py:
    EventStorePort): loads come from the batch, a save is adopted into it."""

    def __init__(self, batch: Batch, ticket: Ticket) -> None:
        self.batch, self.ticket = batch, ticket

    def get(self, aggregate_id: UUID, *, version: int | None = None) -> Any:
        if version is not None:
            return self.batch.store.get(aggregate_id, version=version)
        found = self.batch.load([aggregate_id])
        if aggregate_id not in found:
            return self.batch.store.get(aggregate_id)  # raises NotFound as the store does
        return found[aggregate_id]

    def get_many(self, aggregate_ids: Sequence[UUID]) -> dict[UUID, Any]:
        return self.batch.load(aggregate_ids)

    def exists(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self.batch.current or self.batch.store.exists(aggregate_id)

    def save(
        self, *aggregates: Any, meta: Mapping[str, str], claim: IdempotencyClaim | None = None
    ) -> int:
        self.batch.adopt(self.ticket, aggregates, meta, claim)
        return 0  # the position is known after the batch's append

    def save_batch(self, writes: Sequence[PendingWrite], aggregates: Sequence[Any]) -> list[int]:
        raise NotImplementedError("a command of a batch saves once, through save()")

    def find_result(self, scope: str, key: str) -> Any:
        return self.batch.store.find_result(scope, key)


def run_batch(
    tickets: Sequence[Ticket], handlers: Mapping[type, Callable[[Any, CommandContext], Any]]
) -> None:
    """Run every ticket's handler on the batch's shared state and save the successful ones in
    one append. A handler's error is its ticket's alone; a conflict of the append (another
    process wrote the same aggregates) propagates, with no ticket finished."""
    store = tickets[0].ctx.store
    batch = Batch(store)
    for ticket in tickets:
        ticket.result, ticket.error = None, None  # a retry starts afresh
        view = BatchView(batch, ticket)
        try:
            ticket.result = handlers[type(ticket.command)](
                ticket.command, replace(ticket.ctx, store=view)
            )
        except Exception as exc:  # the caller's own error, raised in its thread
            ticket.error = exc
    batch.save()
    for ticket in tickets:
        if not ticket.done:
            # Failed, or succeeded without saving anything: its outcome stands as it is.
            ticket.finish(ticket.result, ticket.error)
