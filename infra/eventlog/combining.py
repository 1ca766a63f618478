"""Flat combining: the concurrent appends of one process, sent as one statement.

Appends hold the log's lock through their commit, so two transactions never share a WAL
flush; what can share one is a single transaction carrying several appends. A caller that
finds no statement in flight becomes the leader: it takes every waiting append whose keys
(streams, idempotency keys) do not overlap those already taken, hands the batch to `send`,
which gives each append its own outcome, and goes on while appends wait; after a few
batches, once its own append is done, it hands the lead to the oldest waiter, so no caller
serves others for long. No thread of its own: while a leader's statement is on the wire,
the others queue.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from typing import Any


class Pending:
    """One caller's append, waiting for a leader (or leading)."""

    __slots__ = ("_wake", "done", "error", "ids", "keys", "lead", "work")

    def __init__(self, work: Any, keys: frozenset[Hashable]) -> None:
        self.work = work
        self.keys = keys
        self.ids: list[int] = []
        self.error: BaseException | None = None
        self.done = False
        self.lead = False
        self._wake = threading.Lock()
        self._wake.acquire()  # released when done, or when the lead is handed over

    def succeed(self, ids: list[int]) -> None:
        self.ids, self.done = ids, True

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True

    def outcome(self) -> list[int]:
        if self.error is not None:
            raise self.error
        return self.ids


class Combiner:
    """Runs `send(batch)` for batches of disjoint appends, at most `leaders` at a time."""

    def __init__(
        self,
        send: Callable[[Sequence[Pending]], None],
        *,
        limit: int = 100,
        leaders: int = 1,
        rounds: int = 4,
    ) -> None:
        self._send = send
        self.limit = limit
        """The most appends one batch takes (1: every append alone)."""
        self.leaders = leaders
        """Batches in flight at once. With two, the next batch already waits for the lock
        in the server while the one before commits, so the lock passes on without a round
        trip to this process; but batches are smaller, and each commits (and flushes)
        alone: measured slower here (tests/bench/bench_append.py, row c2 against c)."""
        self.rounds = rounds
        """Batches a leader sends before it hands the lead on (once its own is done)."""
        self._mutex = threading.Lock()
        self._queue: list[Pending] = []
        self._leading = 0

    @property
    def waiting(self) -> int:
        """Appends queued for the next batch (not those on the wire)."""
        with self._mutex:
            return len(self._queue)

    def submit(self, pending: Pending) -> list[int]:
        """Append, alone or with others; the ids of this append's events, or its error."""
        with self._mutex:
            self._queue.append(pending)
            lead = self._leading < self.leaders
            if lead:
                self._leading += 1
        if not lead:
            pending._wake.acquire()  # done, or the lead handed over
            if not pending.lead:
                return pending.outcome()
            with self._mutex:  # out of the queue while the lead was handed over
                self._queue.insert(0, pending)
        self._lead(pending)
        return pending.outcome()

    def _lead(self, own: Pending) -> None:
        rounds = 0
        while True:
            with self._mutex:
                batch = self._take()
                if not batch:  # own is in another leader's batch, on the wire
                    self._leading -= 1
                    break
            self._run(batch, own)
            rounds += 1
            with self._mutex:
                if not self._queue:
                    self._leading -= 1
                    break
                if own.done and rounds >= self.rounds:
                    successor = self._queue.pop(0)  # nobody takes it until it leads
                    successor.lead = True
                    successor._wake.release()
                    return
        if not own.done:
            own._wake.acquire()

    def _run(self, batch: list[Pending], own: Pending) -> None:
        try:
            self._send(batch)
        except BaseException as exc:  # a bug in send: no caller may wait forever
            for p in batch:
                if not p.done:
                    p.fail(exc)
        for p in batch:
            if not p.done:  # pragma: no cover - send answers every append
                p.fail(RuntimeError("append left without an outcome"))
            if p is not own:
                p._wake.release()

    def _take(self) -> list[Pending]:
        """The oldest waiting appends that touch no key twice (caller holds the mutex)."""
        taken: list[Pending] = []
        keys: set[Hashable] = set()
        left: list[Pending] = []
        for p in self._queue:
            if len(taken) < self.limit and keys.isdisjoint(p.keys):
                taken.append(p)
                keys |= p.keys
            else:
                left.append(p)
        self._queue = left
        return taken
