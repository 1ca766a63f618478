"""Appends of one process share a transaction (and so a WAL flush), each keeping its own
outcome; several idempotency claims ride on one append; listeners are woken from outside
the appends' transactions.

The batches are forced: the test holds the append lock, so the first append waits on it
with the statement in flight while the others queue behind it; when the lock is released,
the next leader sends every queued append in one transaction. Rows of one transaction
share their `xmin`.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from psycopg.sql import SQL, Identifier
from tillroll.commands.ports import IdempotencyClaim
from tillroll.infra.eventlog.recorder import TillrollRecorder

from tests.integration.test_log_order import last_id_drawn
from tillroll.bootstrap import Runtime

WAIT = 15.0


def event(stream: uuid.UUID | None = None, version: int = 1) -> StoredEvent:
    return StoredEvent(stream or uuid.uuid4(), version, "test.Event", b'{"n": 1}')


def claim(key: str, scope: str = "group-commit") -> IdempotencyClaim:
    return IdempotencyClaim(scope=scope, key=key, fingerprint="f", result=b"r")


class Call:
    """`insert_events` in a thread; its ids or its error."""

    def __init__(self, recorder: TillrollRecorder, events: list[StoredEvent], **kwargs: Any):
        self.ids: list[int] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(recorder, events, kwargs), daemon=True
        )
        self._thread.start()

    def _run(self, recorder: TillrollRecorder, events: list[StoredEvent], kwargs: Any) -> None:
        try:
            self.ids = list(recorder.insert_events(events, **kwargs) or [])
        except BaseException as exc:
            self.error = exc

    def join(self) -> Call:
        self._thread.join(WAIT)
        assert not self._thread.is_alive()
        return self


def wait_until(done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline
        time.sleep(0.005)


@contextmanager
def append_lock_held(rt: Runtime) -> Iterator[None]:
    """Hold the log's append lock in a transaction of the test's own."""
    assert rt.settings.database_url
    with psycopg.connect(rt.settings.database_url) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (rt.store.recorder.append_lock,))
        yield
        conn.rollback()


def batched(rt: Runtime, first: list[StoredEvent], queued: list[tuple[list[Any], dict]]):
    """Append `first` (and, while more leaders may send, one new stream per leader) while
    the lock is held: they wait, on the wire. Queue the others behind them, then release:
    (first call, queued calls)."""
    recorder = rt.store.recorder
    with append_lock_held(rt):
        leaders = [Call(recorder, first)]
        wait_until(lambda: recorder.combiner.waiting == 0)  # its batch is on the wire
        for _ in range(recorder.combiner.leaders - 1):
            leaders.append(Call(recorder, [event()]))
            wait_until(lambda: recorder.combiner.waiting == 0)
        time.sleep(0.05)
        calls = [Call(recorder, events, **kwargs) for events, kwargs in queued]
        wait_until(lambda: recorder.combiner.waiting == len(queued))
    for leader in leaders[1:]:
        assert leader.join().error is None
    return leaders[0].join(), [c.join() for c in calls]


def xmins(rt: Runtime, ids: list[int]) -> set[int]:
    table = SQL("{}.tillroll_events").format(Identifier(rt.settings.event_schema))
    with rt.store.connection() as conn:
        rows = conn.execute(
            SQL("SELECT xmin::text::bigint AS x FROM {} WHERE notification_id = ANY(%s)").format(
                table
            ),
            (ids,),
        ).fetchall()
    return {r["x"] for r in rows}


def test_appends_waiting_together_commit_in_one_transaction(runtime: Runtime) -> None:
    leader, calls = batched(runtime, [event()], [([event(), event()], {}) for _ in range(6)])
    assert leader.error is None and all(c.error is None for c in calls)
    ids = [i for c in calls for i in c.ids]
    assert len(ids) == 12
    assert len(xmins(runtime, ids)) == 1  # one transaction, one commit, one flush
    assert min(ids) > max(leader.ids)  # drawn after the leaders' commits
    for c in calls:  # each append's ids together and in its order
        assert c.ids == list(range(c.ids[0], c.ids[0] + 2))


def test_a_conflict_fails_only_its_own_append_in_a_batch(runtime: Runtime) -> None:
    recorder = runtime.store.recorder
    taken = uuid.uuid4()
    recorder.insert_events([event(taken)], idempotency=claim("used"))
    base = runtime.store.head()
    leader, (ok, clash, claimed, ok_claim) = batched(
        runtime,
        [event()],
        [
            ([event()], {}),
            ([event(), event(taken, 1)], {}),  # version 1 of `taken` is stored already
            ([event()], {"idempotency": claim("used")}),  # this key is claimed already
            ([event()], {"idempotency": claim("fresh")}),
        ],
    )
    assert isinstance(clash.error, IntegrityError)
    assert isinstance(claimed.error, IntegrityError)
    assert leader.error is None and ok.error is None and ok_claim.error is None
    assert len(xmins(runtime, ok.ids + ok_claim.ids)) == 1  # stored together
    stored = [n.id for n in runtime.store.read(base, 100)]
    others = len(stored) - len(leader.ids + ok.ids + ok_claim.ids)  # the other leaders'
    assert others == recorder.combiner.leaders - 1
    assert set(leader.ids + ok.ids + ok_claim.ids) <= set(stored)
    found = runtime.store.find_result("group-commit", "fresh")
    assert found is not None and found.position == ok_claim.ids[-1]
    used = runtime.store.find_result("group-commit", "used")
    assert used is not None and used.position <= base  # the first claim stands


def test_a_statement_that_fails_is_retried_append_by_append(runtime: Runtime) -> None:
    """Two rows of one version in one append fail the batch's statement itself (not a
    clash its check looks for): the others are sent again alone and stored."""
    stream = uuid.uuid4()
    base = runtime.store.head()
    leader, (ok, bad, other) = batched(
        runtime,
        [event()],
        [([event()], {}), ([event(), event(stream), event(stream)], {}), ([event()], {})],
    )
    assert isinstance(bad.error, IntegrityError)
    assert leader.error is None and ok.error is None and other.error is None
    stored = [n.id for n in runtime.store.read(base, 100)]
    assert (
        len(stored)
        == len(leader.ids + ok.ids + other.ids) + runtime.store.recorder.combiner.leaders - 1
    )
    assert set(leader.ids + ok.ids + other.ids) <= set(stored)
    assert runtime.store.recorder.insert_events([event(stream)])  # nothing of it was stored


def test_a_clash_found_under_the_lock_draws_no_id(runtime: Runtime) -> None:
    """Two batches wait for the lock with the same version of one stream: the second's
    check runs on a snapshot taken after the first committed, so it leaves the append out
    before drawing an id (a snapshot from before the lock would let it draw one and fail
    on the primary key)."""
    recorder = runtime.store.recorder
    recorder.combiner.leaders = 2
    stream = uuid.uuid4()
    with append_lock_held(runtime):
        first = Call(recorder, [event(stream)])
        wait_until(lambda: recorder.combiner.waiting == 0)
        second = Call(recorder, [event(stream)])  # not with the first: the same stream
        wait_until(lambda: recorder.combiner.waiting == 0)  # on the wire too
        time.sleep(0.05)
        drawn = last_id_drawn(runtime)
    outcomes = [first.join().error, second.join().error]
    assert outcomes.count(None) == 1
    assert any(isinstance(e, IntegrityError) for e in outcomes)
    assert last_id_drawn(runtime) == drawn + 1


def test_one_append_carries_several_idempotency_claims_all_or_nothing(runtime: Runtime) -> None:
    recorder = runtime.store.recorder
    ids = recorder.insert_events([event(), event()], idempotency=[claim("a"), claim("b")])
    assert ids
    for key in ("a", "b"):
        found = runtime.store.find_result("group-commit", key)
        assert found is not None and found.position == max(ids)
    head = runtime.store.head()
    with pytest.raises(IntegrityError):
        recorder.insert_events([event()], idempotency=[claim("c"), claim("b")])
    assert runtime.store.find_result("group-commit", "c") is None
    assert runtime.store.head() == head
    with pytest.raises(IntegrityError):  # the same key twice in one append
        recorder.insert_events([event()], idempotency=[claim("d"), claim("d")])
    assert runtime.store.find_result("group-commit", "d") is None


def test_listeners_are_woken_from_outside_the_appends_transaction(runtime: Runtime) -> None:
    """The notification comes from the notifier's own connection, after the commit, and
    a burst of appends sends far fewer notifications than it has appends."""
    recorder = runtime.store.recorder
    assert runtime.settings.database_url
    with psycopg.connect(runtime.settings.database_url, autocommit=True) as listener:
        listener.execute(SQL("LISTEN {}").format(Identifier(recorder.channel_name)))
        sent = recorder.notifier.sent
        threads = [
            threading.Thread(target=lambda: [recorder.insert_events([event()]) for _ in range(25)])
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        notes = list(listener.notifies(timeout=2.0, stop_after=1))
        assert notes, "no listener was woken"
        sender = listener.execute(
            "SELECT application_name FROM pg_stat_activity WHERE pid = %s", (notes[0].pid,)
        ).fetchone()
    assert sender == ("tillroll log notifier",)
    wait_until(lambda: recorder.notifier.sent > sent)
    assert recorder.notifier.sent - sent < 200
