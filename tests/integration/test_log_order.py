"""No reader skips an event committed late.

The interleavings are forced with transactions held open by hand: transaction ids taken in
one order, appends attempted in another, commits in a third. An append holds the log's
append lock until its transaction ends, so a second writer waits (in a thread) and its ids
come after the first's. Every reader (the projection runner, the library's subscription,
the audit export, the raw page walk) must process every committed event once, in the same
order, and never a rolled-back one.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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


class Background:
    """An append in a thread, on its own connection and transaction: it blocks while another
    transaction holds the append lock."""

    def __init__(self, rt: Runtime, conn: psycopg.Connection[Any], events: list[StoredEvent]):
        self.ids: list[int] = []
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(rt, conn, events), daemon=True)
        self._thread.start()

    def _run(self, rt: Runtime, conn: psycopg.Connection[Any], events: Sequence[StoredEvent]):
        try:
            self.ids = rt.store.recorder.append(conn, events)
        except BaseException as exc:  # pragma: no cover - reported by result()
            self.error = exc

    def finished(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def result(self) -> list[int]:
        assert self.finished(WAIT) and self.error is None, self.error
        return self.ids


def last_id_drawn(rt: Runtime) -> int:
    """The sequence's last value: what any append, committed or not, has drawn."""
    with rt.store.connection() as conn:
        row = conn.execute(
            "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'notification_id')) AS v",
            (f'"{rt.settings.event_schema}".tillroll_events',),
        ).fetchone()
    assert row is not None
    return int(row["v"] or 0)


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
    """A takes positions 1-2 and holds its transaction open; B tries to append meanwhile
    and waits; a reader reads in between; then A commits, and B after it."""
    base = runtime.store.head()
    subscriber = Subscriber(runtime, base)
    try:
        # B's connection closes last: A's end releases the lock a blocked B waits for.
        with open_transaction(runtime) as b, open_transaction(runtime) as a:
            ids_a = runtime.store.recorder.append(a, stock_events(runtime, "A-SKU", 1))
            blocked = Background(runtime, b, stock_events(runtime, "B-SKU", 2))
            assert not blocked.finished(0.3)  # B waits for A's append lock ...
            assert last_id_drawn(runtime) == max(ids_a)  # ... before drawing any id

            page = runtime.store.page(base, 100)
            assert page.events == [] and not page.held  # nothing committed, nothing held
            runtime.runner.catch_up()
            assert ledger(runtime) == []
            assert list(export(runtime.store, base)) == []
            a.commit()
            ids_b = blocked.result()
            b.commit()
            assert max(ids_a) < min(ids_b)
        assert_every_reader_sees(runtime, base, subscriber, ids_a + ids_b)
    finally:
        subscriber.stop()


def test_a_transaction_with_the_earlier_xid_and_the_later_position_comes_second(
    runtime: Runtime,
) -> None:
    """B takes its transaction id before A, but appends after A (and waits for A's commit):
    positions follow commits, not transaction ids."""
    base = runtime.store.head()
    subscriber = Subscriber(runtime, base)
    try:
        # B's connection closes last: A's end releases the lock a blocked B waits for.
        with open_transaction(runtime) as b, open_transaction(runtime) as a:
            b.execute("SELECT pg_current_xact_id()")  # B's xid is now older than A's
            ids_a = runtime.store.recorder.append(a, stock_events(runtime, "A-SKU", 1))
            blocked = Background(runtime, b, stock_events(runtime, "B-SKU", 2))
            assert not blocked.finished(0.3)
            a.commit()
            ids_b = blocked.result()
            assert max(ids_a) < min(ids_b)

            assert [n.id for n in runtime.store.page(base, 100).events] == ids_a
            runtime.runner.catch_up()
            b.commit()
        # One agreed order, commit order: A's events, then B's.
        assert_every_reader_sees(runtime, base, subscriber, ids_a + ids_b)
        assert runtime.store.reached(ids_b[-1], ids_a[-1])
        assert not runtime.store.reached(ids_a[-1], ids_b[-1])
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


def test_a_store_written_in_xid_order_is_renumbered_in_that_order_when_it_opens(
    settings: Settings,
) -> None:
    """The migration from the lock-free recorder: its rows carry `xid` and its readers
    walked `(xid, id)`. On open, ids are renumbered in that order (above every old id), the
    idempotency record follows its events, and the log reads in the old order."""
    rt = Runtime.open(settings)
    table = SQL("{}.tillroll_events").format(Identifier(settings.event_schema))
    try:
        old = [
            list(rt.store.recorder.insert_events(stock_events(rt, f"OLD-{i}", 1))) for i in range(3)
        ]
        claimed = old[0]
        with rt.store.connection() as conn:
            conn.execute(
                SQL("ALTER TABLE {} ADD COLUMN xid xid8 NOT NULL DEFAULT '0'").format(table)
            )
            # The first command's transaction committed last: in (xid, id) order it comes last.
            conn.execute(
                SQL("UPDATE {} SET xid = '900' WHERE notification_id = ANY(%s)").format(table),
                (claimed,),
            )
            conn.execute(
                SQL(
                    "INSERT INTO {}.tillroll_idempotency (scope, key, fingerprint, result, position)"
                    " VALUES ('s', 'k', 'f', 'r', %s)"
                ).format(Identifier(settings.event_schema)),
                (max(claimed),),
            )
        old_max = max(i for ids in old for i in ids)
        streams = {
            tuple(ids): n.originator_id for ids in old for n in rt.store.read(min(ids) - 1, 1)
        }
    finally:
        rt.close()
    rt = Runtime.open(settings)  # migrates
    try:
        new = list(rt.store.recorder.insert_events(stock_events(rt, "NEW", 1)))
        read = rt.store.read(0, 100)
        in_order = [streams[tuple(old[1])], streams[tuple(old[2])], streams[tuple(old[0])]]
        assert list(dict.fromkeys(n.originator_id for n in read))[:3] == in_order
        assert [n.id for n in read] == list(range(old_max + 1, old_max + 7)) + new
        found = rt.store.find_result("s", "k")
        assert found is not None and found.position == old_max + 6  # the claim followed
        assert rt.store.reached(new[-1], read[0].id)
    finally:
        rt.close()
