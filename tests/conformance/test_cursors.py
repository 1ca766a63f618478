"""Any integer is a valid cursor: in the gap a failed write leaves, past the end, zero and
below. Every reader returns what lies after it and none raises."""

from __future__ import annotations

import threading

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.system import NotificationLogReader
from tillroll.aggregates.errors import InvalidValue
from tillroll.queries.audit import export

from tests.integration.test_log_order import stock_events
from tillroll.bootstrap import Runtime


def gapped_log(rt: Runtime) -> tuple[list[int], int]:
    """Two events, a version conflict (which consumes ids), two more: (ids, an id in the gap).

    The conflict is an append on a connection of its own, which draws its id before the
    primary key refuses it; `insert_events` checks for conflicts under the append lock
    before drawing ids, so its conflicts leave no gap (a rolled-back transaction still
    does)."""
    first = list(rt.store.recorder.insert_events(stock_events(rt, "ONE", 1)))
    stream = rt.store.read(0, 1)[0].originator_id
    with pytest.raises(IntegrityError), rt.store.connection() as conn:
        rt.store.recorder.append(conn, [StoredEvent(stream, 1, "conflict", b"{}")])
    second = list(rt.store.recorder.insert_events(stock_events(rt, "TWO", 1)))
    assert min(second) - max(first) == 2  # one id was drawn by the failed write
    return first + second, max(first) + 1


def subscribed(rt: Runtime, gt: int, count: int) -> list[int]:
    seen: list[int] = []
    subscription = rt.store.recorder.subscribe(gt=gt)

    def run() -> None:
        with subscription:
            for n in subscription:
                seen.append(n.id)
                if len(seen) == count:
                    subscription.stop()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(1.0 if count == 0 else 10.0)
    subscription.stop()
    thread.join(5)
    return seen


def test_every_reader_resumes_from_any_integer(runtime: Runtime) -> None:
    ids, gap = gapped_log(runtime)
    head = max(ids)
    after = {c: [i for i in ids if i > c] for c in (gap, head + 1000, 0, -5, ids[0])}
    recorder = runtime.store.recorder
    for cursor, expected in after.items():
        got = recorder.select_notifications(start=cursor, limit=10, inclusive_of_start=False)
        assert [n.id for n in got] == expected
        assert [n.id for n in recorder.select_notifications(start=cursor + 1, limit=10)] == expected
        assert subscribed(runtime, cursor, len(expected)) == expected
        page = runtime.store.page(cursor, 10)
        assert [n.id for n in page.events] == expected and page.end == max(cursor, head)
        assert [e.position for e in export(runtime.store, cursor)] == expected
    assert recorder.max_notification_id() == head
    assert runtime.store.count_after(gap) == 2


def test_the_library_log_reader_reads_a_full_section_and_the_one_after(runtime: Runtime) -> None:
    for i in range(4):
        runtime.store.recorder.insert_events(stock_events(runtime, f"S{i}", 1))
    head = runtime.store.head()
    reader = NotificationLogReader(runtime.store.app.notification_log, section_size=head)
    assert [n.id for n in reader.read(start=1)] == list(range(1, head + 1))
    assert list(reader.read(start=head + 1)) == []  # "last id + 1": the section after


def test_read_your_writes_accepts_a_position_in_a_gap_and_refuses_one_past_the_head(
    runtime: Runtime,
) -> None:
    ids, gap = gapped_log(runtime)
    assert runtime.store.reached(gap, gap) and runtime.store.reached(gap + 1, gap)
    assert not runtime.store.reached(gap - 1, gap)
    assert runtime.store.reached(0, 0) and runtime.store.reached(max(ids), -3)
    with pytest.raises(InvalidValue):
        runtime.store.reached(max(ids), max(ids) + 1)  # no command returned it: 422


def test_a_text_originator_id_is_refused_with_the_library_error(runtime: Runtime) -> None:
    from eventsourcing.persistence import DataError

    with pytest.raises(DataError):
        runtime.store.recorder.insert_events([StoredEvent("not-a-uuid", 1, "t", b"{}")])
    assert runtime.store.recorder.insert_events([]) is None  # as the library's recorder
