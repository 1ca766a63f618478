"""No reader skips an event committed late, with writers that take no lock.

The interleavings are forced with transactions held open by hand: positions (notification
ids) handed out in one order, transaction ids in another, commits in a third. Every reader
(the projection runner, the library's subscription, the audit export, the raw page walk)
must process every committed event once, in the same order, and never a rolled-back one.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from eventsourcing.persistence import StoredEvent
from psycopg.sql import SQL, Identifier
from tillroll.aggregates.inventory.item import InventoryItem
from tillroll.infra.settings import Settings
from tillroll.queries.audit import export

from tillroll.bootstrap import Runtime

WAIT = 15.0


def stock_events(rt: Runtime, sku: str, quantity: int) -> list[StoredEvent]:
    """A new InventoryItem's events (created, stock received), ready to store."""
    item = InventoryItem.create(sku)
    item.receive(quantity)
    return [rt.store.app.mapper.to_stored_event(e) for e in item.collect_events()]


@contextmanager
def open_transaction(rt: Runtime) -> Iterator[psycopg.Connection[Any]]:
    """A connection whose transaction the test commits or rolls back itself."""
    assert rt.settings.database_url
    with psycopg.connect(rt.settings.database_url) as conn:
        yield conn


def walk(rt: Runtime, after: int, until: int) -> list[int]:
    """Page through the log from `after` until `until` events were read (other tests'
    open transactions may hold the horizon back for a moment)."""
    seen: list[int] = []
    deadline = time.monotonic() + WAIT
    while len(seen) < until and time.monotonic() < deadline:
        page = rt.store.page(after, 100)
        seen += [n.id for n in page.events]
        after = page.end
        if not page.events:
            time.sleep(0.01)
    return seen


class Subscriber:
    """The eventsourcing library's own subscription, reading in a thread."""

    def __init__(self, rt: Runtime, gt: int) -> None:
        self.seen: list[int] = []
        self._subscription = rt.store.recorder.subscribe(gt=gt)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with self._subscription as subscription:
            for notification in subscription:
                self.seen.append(notification.id)

    def wait_for(self, count: int) -> list[int]:
        deadline = time.monotonic() + WAIT
        while len(self.seen) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.seen)

    def stop(self) -> None:
        self._subscription.stop()
        self._thread.join(5)


def ledger(rt: Runtime) -> list[tuple[int, str]]:
    """(position, sku) of every row the SQL read model inventory_ledger holds."""
    table = rt.runner.live("inventory_ledger")
    assert table is not None
    with rt.read_pool.connection() as conn:
        rows = conn.execute(
            f"SELECT position, sku FROM inventory_ledger_b{table.build} ORDER BY position"
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def catch_up_until(rt: Runtime, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        rt.runner.catch_up()
        if done():
            return
        time.sleep(0.01)


def assert_every_reader_sees(rt: Runtime, after: int, subscriber: Subscriber, order: list[int]):
    assert walk(rt, after, len(order)) == order
    assert subscriber.wait_for(len(order)) == order
    assert [e.position for e in export(rt.store, after)] == order
    received = [order[i] for i in range(1, len(order), 2)]  # each item: created, received
    catch_up_until(rt, lambda: len(ledger(rt)) >= len(received))
    assert sorted(p for p, _ in ledger(rt)) == sorted(received)  # each once


def test_a_transaction_that_commits_after_a_later_position_is_not_skipped(
    runtime: Runtime,
) -> None:
    """A takes positions 1-2, B takes 3-4 and commits first; a reader reads in between;
    then A commits."""
    base = runtime.store.head()
    subscriber = Subscriber(runtime, base)
    try:
        with open_transaction(runtime) as a, open_transaction(runtime) as b:
            ids_a = runtime.store.recorder.append(a, stock_events(runtime, "A-SKU", 1))
            ids_b = runtime.store.recorder.append(b, stock_events(runtime, "B-SKU", 2))
            b.commit()
            assert max(ids_a) < min(ids_b)

            page = runtime.store.page(base, 100)
            assert page.events == [] and page.held  # B waits behind A
            runtime.runner.catch_up()
            assert ledger(runtime) == []
            assert list(export(runtime.store, base)) == []
            a.commit()
        assert_every_reader_sees(runtime, base, subscriber, ids_a + ids_b)
    finally:
        subscriber.stop()


def test_a_transaction_with_the_earlier_xid_and_the_later_position_comes_first(
    runtime: Runtime,
) -> None:
    """B takes its transaction id before A, but its positions after A's; A commits first."""
    base = runtime.store.head()
    subscriber = Subscriber(runtime, base)
    try:
        with open_transaction(runtime) as a, open_transaction(runtime) as b:
            b.execute("SELECT pg_current_xact_id()")  # B's xid is now older than A's
            ids_a = runtime.store.recorder.append(a, stock_events(runtime, "A-SKU", 1))
            ids_b = runtime.store.recorder.append(b, stock_events(runtime, "B-SKU", 2))
            a.commit()
            assert max(ids_a) < min(ids_b)

            assert runtime.store.page(base, 100).events == []  # A waits behind B
            runtime.runner.catch_up()
            assert ledger(runtime) == []
            b.commit()
        # One agreed order, transaction order: B's events, then A's.
        assert_every_reader_sees(runtime, base, subscriber, ids_b + ids_a)
        assert runtime.store.reached(ids_a[-1], ids_b[-1])
        assert not runtime.store.reached(ids_b[-1], ids_a[-1])
    finally:
        subscriber.stop()


def test_a_rolled_back_transaction_is_never_read(runtime: Runtime) -> None:
    base = runtime.store.head()
    with open_transaction(runtime) as a:
        runtime.store.recorder.append(a, stock_events(runtime, "GONE", 1))
        a.rollback()
    ids = runtime.store.recorder.insert_events(stock_events(runtime, "KEPT", 1))
    assert walk(runtime, base, 2) == list(ids)


@pytest.mark.parametrize("seed", [7])
def test_concurrent_writers_and_a_live_subscriber_see_each_commit_once(
    runtime: Runtime, seed: int
) -> None:
    """Writers that take their xid early or late, pause anywhere and roll back a fifth of
    their transactions; a live subscription and a page walker follow the whole time."""
    writers, transactions = 6, 25
    base = runtime.store.head()
    subscriber = Subscriber(runtime, base)
    committed: list[list[int]] = []
    rolled_back: list[int] = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        rng = random.Random(seed * 100 + worker)
        with open_transaction(runtime) as conn:
            for n in range(transactions):
                if rng.random() < 0.5:
                    conn.execute("SELECT pg_current_xact_id()")
                time.sleep(rng.uniform(0, 0.003))
                events = []
                for k in range(rng.randint(1, 2)):
                    events += stock_events(runtime, f"W{worker}-{n}-{k}", rng.randint(1, 9))
                ids = runtime.store.recorder.append(conn, events)
                time.sleep(rng.uniform(0, 0.003))
                if rng.random() < 0.2:
                    conn.rollback()
                    with lock:
                        rolled_back.extend(ids)
                else:
                    conn.commit()
                    with lock:
                        committed.append(ids)

    walked: list[int] = []
    stop = threading.Event()

    def follow() -> None:
        after = base
        while not stop.is_set():
            page = runtime.store.page(after, 50)
            walked.extend(n.id for n in page.events)
            after = page.end
            if not page.events:
                time.sleep(0.002)

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        expected = sorted(i for ids in committed for i in ids)
        seen = subscriber.wait_for(len(expected))
        deadline = time.monotonic() + WAIT
        while len(walked) < len(expected) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        follower.join(5)
        subscriber.stop()
    assert len(seen) == len(set(seen)), "an event was delivered twice"
    assert sorted(seen) == expected, "a committed event was missed or a rolled-back one seen"
    assert not set(seen) & set(rolled_back)
    assert walked == seen  # the same order
    assert [e.position for e in export(runtime.store, base)] == seen
    # A transaction's events stay together, in position order.
    where = {position: i for i, position in enumerate(seen)}
    for ids in committed:
        assert [where[i] for i in ids] == list(range(where[ids[0]], where[ids[0]] + len(ids)))


def test_events_stored_before_the_xid_column_stay_readable_and_come_first(
    settings: Settings,
) -> None:
    """The migration: a table written by the locking recorder (no xid column) keeps its
    order at xid 0, before everything written afterwards."""
    rt = Runtime.open(settings)
    try:
        old = [rt.store.recorder.insert_events(stock_events(rt, f"OLD-{i}", 1)) for i in range(3)]
        with rt.store.connection() as conn:
            conn.execute(
                SQL("ALTER TABLE {}.tillroll_events DROP COLUMN xid").format(
                    Identifier(settings.event_schema)
                )
            )
    finally:
        rt.close()
    rt = Runtime.open(settings)  # migrates
    try:
        new = rt.store.recorder.insert_events(stock_events(rt, "NEW", 1))
        order = [i for ids in old for i in ids] + list(new)
        assert walk(rt, 0, len(order)) == order
        assert rt.store.log_keys([order[0]])[order[0]].xid == 0
        assert rt.store.reached(new[-1], order[0])
    finally:
        rt.close()
